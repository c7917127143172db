"""ECC_NIST_EDWARDS25519 and ML-DSA keys: signatures checked independently with ``cryptography``
against the public key GetPublicKey returns."""

from __future__ import annotations

import hashlib

import pytest
from botocore.exceptions import ClientError
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, mldsa

from kmsguard.crypto import LocalKMS
from kmsguard.crypto.errors import service_model

from .conftest import error_code


@pytest.fixture(scope="module")
def signer() -> tuple[LocalKMS, dict[str, str]]:
    kms = LocalKMS()
    keys = {
        spec: kms.create_key(KeySpec=spec, KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
        for spec in ("ECC_NIST_EDWARDS25519", "ML_DSA_44", "ML_DSA_65", "ML_DSA_87")
    }
    return kms, keys


def _public(kms: LocalKMS, key_id: str):
    return serialization.load_der_public_key(kms.get_public_key(KeyId=key_id)["PublicKey"])


def test_new_signing_algorithm_names_are_botocores():
    enum = set(service_model().shape_for("SigningAlgorithmSpec").enum)
    assert {"ED25519_SHA_512", "ED25519_PH_SHA_512", "ML_DSA_SHAKE_256"} <= enum


def test_ed25519_key_describes_both_algorithms_and_signs_raw_messages(signer):
    # source: KMS Developer Guide, "Key spec reference", ECC key specs: ECC_NIST_EDWARDS25519 is a
    # signing key with ED25519_SHA_512 and ED25519_PH_SHA_512.
    kms, keys = signer
    key_id = keys["ECC_NIST_EDWARDS25519"]
    metadata = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert metadata["SigningAlgorithms"] == ["ED25519_SHA_512", "ED25519_PH_SHA_512"]
    public = _public(kms, key_id)
    assert isinstance(public, ed25519.Ed25519PublicKey)
    message = b"release v1.2.3"
    signature = kms.sign(KeyId=key_id, Message=message, SigningAlgorithm="ED25519_SHA_512")["Signature"]
    assert len(signature) == 64  # RFC 8032 section 5.1.6: a 64-byte signature
    public.verify(signature, message)  # pure Ed25519 over the message itself
    assert kms.verify(KeyId=key_id, Message=message, Signature=signature, SigningAlgorithm="ED25519_SHA_512")[
        "SignatureValid"
    ]
    with pytest.raises(InvalidSignature):
        public.verify(signature, message + b"!")


def test_ed25519_message_type_rules(signer):
    # source: KMS API Reference, "Sign", MessageType: "ED25519_SHA_512 signing algorithm requires KMS
    # MessageType:RAW"; "ED25519_PH_SHA_512 signing algorithm requires KMS MessageType:DIGEST".
    kms, keys = signer
    key_id = keys["ECC_NIST_EDWARDS25519"]
    digest = hashlib.sha512(b"m").digest()
    with pytest.raises(ClientError) as excinfo:
        kms.sign(KeyId=key_id, Message=digest, MessageType="DIGEST", SigningAlgorithm="ED25519_SHA_512")
    assert error_code(excinfo) == "ValidationException"
    with pytest.raises(ClientError) as excinfo:
        kms.sign(KeyId=key_id, Message=b"m", MessageType="RAW", SigningAlgorithm="ED25519_PH_SHA_512")
    assert error_code(excinfo) == "ValidationException"


def test_ed25519ph_is_refused_not_approximated(signer):
    # cryptography has no Ed25519ph (RFC 8032 phflag = 1); kmsguard writes no primitive of its own.
    kms, keys = signer
    with pytest.raises(ClientError) as excinfo:
        kms.sign(
            KeyId=keys["ECC_NIST_EDWARDS25519"],
            Message=hashlib.sha512(b"m").digest(),
            MessageType="DIGEST",
            SigningAlgorithm="ED25519_PH_SHA_512",
        )
    assert error_code(excinfo) == "UnsupportedOperationException"
    assert "Ed25519ph" in excinfo.value.response["Error"]["Message"]


def test_ed25519_keys_cannot_do_key_agreement():
    # source: KMS Developer Guide, "Key spec reference": Ed25519 keys are for signing only.
    with pytest.raises(ClientError) as excinfo:
        LocalKMS().create_key(KeySpec="ECC_NIST_EDWARDS25519", KeyUsage="KEY_AGREEMENT")
    assert error_code(excinfo) == "ValidationException"


@pytest.mark.parametrize(
    ("spec", "public_class", "signature_bytes"),
    [
        # FIPS 204, Table 2: signature sizes 2420, 3309 and 4627 bytes.
        ("ML_DSA_44", mldsa.MLDSA44PublicKey, 2420),
        ("ML_DSA_65", mldsa.MLDSA65PublicKey, 3309),
        ("ML_DSA_87", mldsa.MLDSA87PublicKey, 4627),
    ],
)
def test_ml_dsa_signs_raw_messages(signer, spec, public_class, signature_bytes):
    # source: KMS Developer Guide, "Key spec reference", ML-DSA key specs: SIGN_VERIFY with
    # ML_DSA_SHAKE_256.
    kms, keys = signer
    key_id = keys[spec]
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["SigningAlgorithms"] == ["ML_DSA_SHAKE_256"]
    public = _public(kms, key_id)
    assert isinstance(public, public_class)
    message = b"firmware image"
    signature = kms.sign(KeyId=key_id, Message=message, SigningAlgorithm="ML_DSA_SHAKE_256")["Signature"]
    assert len(signature) == signature_bytes
    public.verify(signature, message)  # pure ML-DSA, empty context
    with pytest.raises(InvalidSignature):
        public.verify(signature, b"other")


def test_ml_dsa_external_mu(signer):
    # source: KMS API Reference, "Sign", MessageType: EXTERNAL_MU is "the 64-byte representative mu used
    # in ML-DSA signing as defined in NIST FIPS 204 Section 6.2"; its length must be 64 bytes.
    kms, keys = signer
    key_id = keys["ML_DSA_44"]
    public = _public(kms, key_id)
    hasher = mldsa.MLDSAMuHasher(public)
    hasher.update(b"streamed message")
    mu = hasher.finalize()
    signature = kms.sign(
        KeyId=key_id, Message=mu, MessageType="EXTERNAL_MU", SigningAlgorithm="ML_DSA_SHAKE_256"
    )["Signature"]
    public.verify(signature, b"streamed message")  # mu computed outside = the same signature input
    with pytest.raises(ClientError) as excinfo:
        kms.sign(
            KeyId=key_id, Message=mu[:32], MessageType="EXTERNAL_MU", SigningAlgorithm="ML_DSA_SHAKE_256"
        )
    assert error_code(excinfo) == "ValidationException"
    with pytest.raises(ClientError) as excinfo:
        kms.sign(KeyId=key_id, Message=mu, MessageType="DIGEST", SigningAlgorithm="ML_DSA_SHAKE_256")
    assert error_code(excinfo) == "ValidationException"


def test_external_mu_is_only_for_ml_dsa(signer):
    kms = LocalKMS()
    key_id = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    with pytest.raises(ClientError) as excinfo:
        kms.sign(KeyId=key_id, Message=b"m" * 64, MessageType="EXTERNAL_MU", SigningAlgorithm="ECDSA_SHA_256")
    assert error_code(excinfo) == "ValidationException"


def test_ml_dsa_verify_failure_is_an_exception(signer):
    # source: KMS API Reference, "Verify": a signature that does not verify is
    # KMSInvalidSignatureException, not SignatureValid false.
    kms, keys = signer
    key_id = keys["ML_DSA_65"]
    signature = kms.sign(KeyId=key_id, Message=b"a", SigningAlgorithm="ML_DSA_SHAKE_256")["Signature"]
    with pytest.raises(ClientError) as excinfo:
        kms.verify(KeyId=key_id, Message=b"b", Signature=signature, SigningAlgorithm="ML_DSA_SHAKE_256")
    assert error_code(excinfo) == "KMSInvalidSignatureException"


def test_seeded_runs_make_the_same_new_keys():
    def public_keys(seed: int) -> list[bytes]:
        kms = LocalKMS(seed=seed)
        out = []
        for spec in ("ECC_NIST_EDWARDS25519", "ML_DSA_44"):
            key_id = kms.create_key(KeySpec=spec, KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
            out.append(kms.get_public_key(KeyId=key_id)["PublicKey"])
        return out

    assert public_keys(7) == public_keys(7)
    assert public_keys(7) != public_keys(8)


def test_new_tables_use_botocores_names():
    # The names in specs.py are botocore's enums (DataKeyPairSpec, AlgorithmSpec, WrappingKeySpec,
    # GrantOperation, KeyAgreementAlgorithmSpec), so a typo cannot hide behind a validation error.
    from kmsguard.crypto import specs

    model = service_model()
    assert set(specs.DATA_KEY_PAIR_SPECS) <= set(model.shape_for("DataKeyPairSpec").enum)
    assert set(specs.WRAPPING_ALGORITHMS) <= set(model.shape_for("AlgorithmSpec").enum)
    assert set(specs.WRAPPING_KEY_SPECS) <= set(model.shape_for("WrappingKeySpec").enum)
    granted = set().union(*specs.GRANT_OPERATIONS.values())
    assert granted <= set(model.shape_for("GrantOperation").enum)
    assert "ECDH" in model.shape_for("KeyAgreementAlgorithmSpec").enum
    assert set(specs.MESSAGE_TYPES["MLDSA"]) | set(specs.MESSAGE_TYPES["PSS"]) <= set(
        model.shape_for("MessageType").enum
    )


def test_ed25519ph_verify_is_refused_too_and_digest_length_is_checked_first(signer):
    # source: KMS API Reference, "Verify" / "Sign", MessageType: "ED25519_PH_SHA_512 signing
    # algorithm requires KMS MessageType:DIGEST"; "the length of the Message value must match the
    # length of hashed messages for the specified signing algorithm" (SHA_512: 64 bytes). The
    # signature itself (Ed25519ph, FIPS 186-5 section 7.8.1) is not in cryptography, so Verify
    # is refused as Sign is -- never answered with a pure-Ed25519 result.
    kms, keys = signer
    key_id = keys["ECC_NIST_EDWARDS25519"]
    with pytest.raises(ClientError) as excinfo:
        kms.verify(
            KeyId=key_id,
            Message=hashlib.sha512(b"m").digest(),
            MessageType="DIGEST",
            Signature=b"\x00" * 64,
            SigningAlgorithm="ED25519_PH_SHA_512",
        )
    assert error_code(excinfo) == "UnsupportedOperationException"
    with pytest.raises(ClientError) as excinfo:
        kms.sign(
            KeyId=key_id,
            Message=hashlib.sha256(b"m").digest(),  # 32 bytes, not SHA-512's 64
            MessageType="DIGEST",
            SigningAlgorithm="ED25519_PH_SHA_512",
        )
    assert error_code(excinfo) == "ValidationException"


def test_cryptography_still_has_no_ed25519ph():
    # The reason ED25519_PH_SHA_512 is refused: cryptography's Ed25519 API signs PureEdDSA only
    # (RFC 8032 section 5.1, no phflag / context). If a prehash API appears, emulate it instead.
    assert not any(
        "ph" in name.lower() for name in dir(ed25519.Ed25519PrivateKey) if not name.startswith("_")
    )
