"""Sign / Verify / GenerateMac / VerifyMac / GetPublicKey through LocalKMS. Signatures are checked
independently with ``cryptography`` against the public key GetPublicKey returns."""

from __future__ import annotations

import hashlib

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding

from kmsguard.crypto import LocalKMS

from .conftest import error_code

_HASH = {
    "SHA_256": (hashes.SHA256(), hashlib.sha256),
    "SHA_384": (hashes.SHA384(), hashlib.sha384),
    "SHA_512": (hashes.SHA512(), hashlib.sha512),
}


@pytest.fixture(scope="module")
def signer():
    kms = LocalKMS()  # unseeded: fast OpenSSL key generation
    keys = {
        spec: kms.create_key(KeySpec=spec, KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
        for spec in ("RSA_2048", "ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521", "ECC_SECG_P256K1")
    }
    return kms, keys


# source: KMS Developer Guide, "Key spec reference" (signing algorithms per key spec); KMS API
# Reference, "Sign", MessageType (RAW is hashed by KMS, DIGEST is not).
CASES = [
    ("RSA_2048", "RSASSA_PSS_SHA_256"),
    ("RSA_2048", "RSASSA_PSS_SHA_512"),
    ("RSA_2048", "RSASSA_PKCS1_V1_5_SHA_256"),
    ("RSA_2048", "RSASSA_PKCS1_V1_5_SHA_384"),
    ("ECC_NIST_P256", "ECDSA_SHA_256"),
    ("ECC_NIST_P384", "ECDSA_SHA_384"),
    ("ECC_NIST_P521", "ECDSA_SHA_512"),
    ("ECC_SECG_P256K1", "ECDSA_SHA_256"),
]


def _independent_verify(der: bytes, algorithm: str, message: bytes, signature: bytes) -> None:
    public_key = serialization.load_der_public_key(der)
    hash_algorithm = _HASH[algorithm[-7:]][0]
    if algorithm.startswith("ECDSA"):
        public_key.verify(signature, message, ec.ECDSA(hash_algorithm))
    elif "PSS" in algorithm:
        # "Key spec reference": PSS with MGF1 of the same hash and a salt as long as the hash.
        public_key.verify(
            signature,
            message,
            padding.PSS(padding.MGF1(hash_algorithm), hash_algorithm.digest_size),
            hash_algorithm,
        )
    else:
        public_key.verify(signature, message, padding.PKCS1v15(), hash_algorithm)


@pytest.mark.parametrize(("spec", "algorithm"), CASES)
def test_raw_and_digest_signatures_verify_independently(signer, spec, algorithm):
    kms, keys = signer
    der = kms.get_public_key(KeyId=keys[spec])["PublicKey"]
    message = b"release v1.2.3"
    raw = kms.sign(KeyId=keys[spec], Message=message, SigningAlgorithm=algorithm)["Signature"]
    _independent_verify(der, algorithm, message, raw)
    digest = _HASH[algorithm[-7:]][1](message).digest()
    pre = kms.sign(KeyId=keys[spec], Message=digest, MessageType="DIGEST", SigningAlgorithm=algorithm)[
        "Signature"
    ]
    _independent_verify(der, algorithm, message, pre)
    assert kms.verify(KeyId=keys[spec], Message=message, Signature=pre, SigningAlgorithm=algorithm)[
        "SignatureValid"
    ]


def test_wrong_digest_length_is_rejected(signer):
    # source: KMS API Reference, "Sign", MessageType: with DIGEST "the length of the Message value
    # must match the length of hashed messages for the specified signing algorithm".
    kms, keys = signer
    with pytest.raises(ClientError) as excinfo:
        kms.sign(
            KeyId=keys["ECC_NIST_P256"],
            Message=b"\x00" * 48,
            MessageType="DIGEST",
            SigningAlgorithm="ECDSA_SHA_256",
        )
    assert error_code(excinfo) == "ValidationException"


def test_bad_signature_raises_instead_of_false(signer):
    # source: KMS API Reference, "Verify": a signature that does not verify raises
    # KMSInvalidSignatureException.
    kms, keys = signer
    signature = kms.sign(KeyId=keys["ECC_NIST_P256"], Message=b"m", SigningAlgorithm="ECDSA_SHA_256")[
        "Signature"
    ]
    with pytest.raises(kms.exceptions.KMSInvalidSignatureException):
        kms.verify(
            KeyId=keys["ECC_NIST_P256"], Message=b"n", Signature=signature, SigningAlgorithm="ECDSA_SHA_256"
        )


@pytest.mark.parametrize(
    ("spec", "algorithm"), [("ECC_NIST_P256", "ECDSA_SHA_384"), ("RSA_2048", "ECDSA_SHA_256")]
)
def test_algorithm_must_fit_the_key_spec(signer, spec, algorithm):
    # source: KMS API Reference, "InvalidKeyUsageException": "The ... signing algorithm specified for
    # the operation is incompatible with the type of key material in the KMS key (KeySpec)".
    kms, keys = signer
    with pytest.raises(kms.exceptions.InvalidKeyUsageException):
        kms.sign(KeyId=keys[spec], Message=b"m", SigningAlgorithm=algorithm)


def test_key_usage_must_fit_the_operation(kms):
    encrypt_key = kms.create_key()["KeyMetadata"]["KeyId"]
    with pytest.raises(kms.exceptions.InvalidKeyUsageException):
        kms.sign(KeyId=encrypt_key, Message=b"m", SigningAlgorithm="ECDSA_SHA_256")
    with pytest.raises(kms.exceptions.InvalidKeyUsageException):
        kms.generate_mac(KeyId=encrypt_key, Message=b"m", MacAlgorithm="HMAC_SHA_256")
    with pytest.raises(ClientError) as excinfo:
        kms.get_public_key(KeyId=encrypt_key)
    assert error_code(excinfo) == "UnsupportedOperationException"


@pytest.mark.parametrize("bits", [224, 256, 384, 512])
def test_mac_round_trip(kms, bits):
    key_id = kms.create_key(KeySpec=f"HMAC_{bits}", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["KeyId"]
    algorithm = f"HMAC_SHA_{bits}"
    mac = kms.generate_mac(KeyId=key_id, Message=b"msg", MacAlgorithm=algorithm)["Mac"]
    assert len(mac) == bits // 8
    assert kms.generate_mac(KeyId=key_id, Message=b"msg", MacAlgorithm=algorithm)["Mac"] == mac
    assert kms.verify_mac(KeyId=key_id, Message=b"msg", Mac=mac, MacAlgorithm=algorithm)["MacValid"] is True
    # source: KMS API Reference, "VerifyMac": a MAC that does not verify raises KMSInvalidMacException.
    with pytest.raises(kms.exceptions.KMSInvalidMacException):
        kms.verify_mac(KeyId=key_id, Message=b"msG", Mac=mac, MacAlgorithm=algorithm)


def test_mac_algorithm_must_fit_the_key(kms):
    key_id = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["KeyId"]
    with pytest.raises(kms.exceptions.InvalidKeyUsageException):
        kms.generate_mac(KeyId=key_id, Message=b"m", MacAlgorithm="HMAC_SHA_512")
