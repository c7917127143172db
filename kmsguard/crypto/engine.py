"""KMS semantics on one key: state and usage checks, limits, material versions, the ciphertext blob,
and each cryptographic operation. Pure (no I/O, no clock, no global state): randomness comes from
the ``Drbg`` passed in, time from the ``now`` passed in.

Failures are ``KmsFailure(code, message)``; the boto3-shaped facade turns them into botocore
``ClientError``s. Messages name ARNs, algorithms and sizes, never bytes of material or plaintext.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from kmsguard.crypto import blob, primitives
from kmsguard.crypto.errors import state_error
from kmsguard.crypto.keys import KeyMaterial, KmsKey, Secret
from kmsguard.crypto.primitives import Drbg, IntegrityError, SignatureScheme
from kmsguard.crypto.specs import (
    ENCRYPT_DECRYPT,
    GENERATE_VERIFY_MAC,
    MAC_HASHES,
    OAEP_HASHES,
    SIGN_VERIFY,
    SIGNING_SCHEMES,
    SYMMETRIC_DEFAULT,
    KeySpecInfo,
)

PLAINTEXT_MAX_BYTES = 4096  # KMS API Reference, "Encrypt", Plaintext: 1 to 4096 bytes
CIPHERTEXT_MAX_BYTES = 6144  # KMS API Reference, "Decrypt", CiphertextBlob: 1 to 6144 bytes
# KMS API Reference, "RotateKeyOnDemand": "a maximum of 25 times per KMS key".
ON_DEMAND_ROTATION_LIMIT = 25


CONTEXT_ONLY_SYMMETRIC = (
    "EncryptionContext is supported only on operations with symmetric encryption KMS keys."
)
INCORRECT_KEY = "The key ID in the request does not identify a KMS key that can perform this operation."


class KmsFailure(Exception):
    """An AWS error answer: ``code`` (``"DisabledException"``) and ``message``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


# -- identifiers -------------------------------------------------------------------------------------


def new_key_id(drbg: Drbg) -> str:
    """A UUID version 4 string, as KMS key ids are."""
    import uuid

    return str(uuid.UUID(bytes=drbg.random_bytes(16, b"key-id"), version=4))


def new_hex_id(drbg: Drbg, label: bytes) -> str:
    """64 hex characters: the shape of AWS's KeyMaterialId and GrantId."""
    return drbg.random_bytes(32, label).hex()


def new_material(info: KeySpecInfo, drbg: Drbg, now: datetime, rotation_type: str | None) -> KeyMaterial:
    if info.family == "AES":
        value: object = drbg.random_bytes(32, b"aes-key")  # AES-256 (KMS: SYMMETRIC_DEFAULT)
    elif info.family == "HMAC":
        value = drbg.random_bytes(info.size_bits // 8, b"hmac-key")
    elif info.family == "RSA":
        value = primitives.generate_rsa(info.size_bits, drbg)
    else:
        assert info.curve is not None
        value = primitives.generate_ec(info.curve, drbg)
    return KeyMaterial(new_hex_id(drbg, b"material-id"), Secret(value), now, rotation_type)


# -- checks ---------------------------------------------------------------------------------------------


def require_state(operation: str, key: KmsKey) -> None:
    """KMS Developer Guide, "Key states of AWS KMS keys": the error the key's state gives."""
    rejected = state_error(operation, key.state)
    if rejected is not None:
        code, template = rejected
        raise KmsFailure(code, template.format(arn=key.arn))


def require_usage(operation: str, key: KmsKey, usage: str) -> None:
    """API Reference, "InvalidKeyUsageException": the KeyUsage must fit the operation."""
    if key.usage != usage:
        raise KmsFailure(
            "InvalidKeyUsageException",
            f"{key.arn} key usage is {key.usage} which is not valid for {operation}.",
        )


def require_symmetric_encryption(operation: str, key: KmsKey) -> None:
    """Data keys, ciphertexts with an encryption context and rotation exist only for symmetric
    encryption keys (API Reference, "GenerateDataKey": "You cannot use an asymmetric KMS key")."""
    require_usage(operation, key, ENCRYPT_DECRYPT)
    if key.spec != SYMMETRIC_DEFAULT:
        raise KmsFailure(
            "InvalidKeyUsageException",
            f"{key.arn} key spec is {key.spec} which is not valid for {operation}.",
        )


def _algorithm_error(key: KmsKey, algorithm: str) -> KmsFailure:
    return KmsFailure(
        "InvalidKeyUsageException",
        f"{key.arn} key spec is {key.spec} which does not support the algorithm {algorithm}.",
    )


def _validation(message: str) -> KmsFailure:
    return KmsFailure("ValidationException", message)


# -- encryption -----------------------------------------------------------------------------------------


def encrypt(
    key: KmsKey,
    plaintext: bytes,
    context: Mapping[str, str] | None,
    algorithm: str | None,
    drbg: Drbg,
    operation: str = "Encrypt",
) -> tuple[bytes, str, str | None]:
    """(ciphertext blob, algorithm, material id or None for asymmetric keys)."""
    require_usage(operation, key, ENCRYPT_DECRYPT)
    algorithm = algorithm or SYMMETRIC_DEFAULT  # API Reference, "Encrypt", EncryptionAlgorithm default
    if algorithm not in key.info.encryption_algorithms:
        raise _algorithm_error(key, algorithm)
    if key.spec == SYMMETRIC_DEFAULT:
        material = key.current_material
        header = blob.CiphertextHeader(
            key.arn, material.material_id, drbg.random_bytes(blob.NONCE_BYTES, b"nonce")
        )
        header_bytes = header.encode()
        sealed = primitives.aes_gcm_seal(
            material.secret.reveal(), header.nonce, plaintext, blob.associated_data(header_bytes, context)
        )
        return header_bytes + sealed, algorithm, material.material_id
    if context:
        # API Reference, "Encrypt", EncryptionContext: "An encryption context is supported only on
        # operations with symmetric encryption KMS keys." (The error code is an assumption.)
        raise _validation(
            "EncryptionContext is supported only on operations with symmetric encryption KMS keys."
        )
    hash_name = OAEP_HASHES[algorithm]
    limit = primitives.rsa_oaep_max_plaintext(key.info.size_bits, hash_name)
    if len(plaintext) > limit:
        # API Reference, "Encrypt": maximum plaintext per RSA key spec and algorithm.
        raise _validation(
            f"Plaintext is {len(plaintext)} bytes; {algorithm} with {key.spec} "
            f"encrypts at most {limit} bytes."
        )
    private_key = key.current_material.secret.reveal()
    return primitives.rsa_oaep_encrypt(private_key.public_key(), plaintext, hash_name), algorithm, None


def symmetric_blob_key_arn(ciphertext: bytes) -> str:
    """The key ARN a kmsguard ciphertext names, or ``InvalidCiphertextException``."""
    try:
        header, _, _ = blob.split_blob(ciphertext)
    except blob.BlobFormatError:
        raise KmsFailure("InvalidCiphertextException", "") from None
    return header.key_arn


def decrypt(
    key: KmsKey,
    ciphertext: bytes,
    context: Mapping[str, str] | None,
    algorithm: str | None,
    operation: str = "Decrypt",
) -> tuple[bytes, str, str | None]:
    """(plaintext, algorithm, material id or None). Any mismatch -- wrong key, wrong or missing
    encryption context, tampering -- is ``InvalidCiphertextException`` with no detail, as AWS answers."""
    require_usage(operation, key, ENCRYPT_DECRYPT)
    algorithm = algorithm or SYMMETRIC_DEFAULT
    if algorithm not in key.info.encryption_algorithms:
        raise _algorithm_error(key, algorithm)
    if key.spec == SYMMETRIC_DEFAULT:
        try:
            header, header_bytes, sealed = blob.split_blob(ciphertext)
        except blob.BlobFormatError:
            raise KmsFailure("InvalidCiphertextException", "") from None
        if header.key_arn != key.arn:
            # API Reference, "IncorrectKeyException": the KeyId must identify the key that encrypted.
            raise KmsFailure("IncorrectKeyException", INCORRECT_KEY)
        material = key.material(header.material_id)
        if material is None:
            raise KmsFailure("InvalidCiphertextException", "")
        try:
            plaintext = primitives.aes_gcm_open(
                material.secret.reveal(), header.nonce, sealed, blob.associated_data(header_bytes, context)
            )
        except IntegrityError:
            raise KmsFailure("InvalidCiphertextException", "") from None
        return plaintext, algorithm, material.material_id
    if context:
        raise _validation(
            "EncryptionContext is supported only on operations with symmetric encryption KMS keys."
        )
    try:
        plaintext = primitives.rsa_oaep_decrypt(
            key.current_material.secret.reveal(), ciphertext, OAEP_HASHES[algorithm]
        )
    except IntegrityError:
        raise KmsFailure("InvalidCiphertextException", "") from None
    return plaintext, algorithm, None


# -- signatures -----------------------------------------------------------------------------------------


def _signing_scheme(
    operation: str, key: KmsKey, algorithm: str, message: bytes, message_type: str
) -> SignatureScheme:
    require_usage(operation, key, SIGN_VERIFY)
    if algorithm not in key.info.signing_algorithms:
        raise _algorithm_error(key, algorithm)
    family, hash_name = SIGNING_SCHEMES[algorithm]
    if message_type == "DIGEST" and len(message) != primitives.hash_length(hash_name):
        # API Reference, "Sign", MessageType: "When the value of MessageType is DIGEST, the length of
        # the Message value must match the length of hashed messages for the specified signing
        # algorithm."
        raise _validation(f"Digest is invalid length for algorithm {algorithm}.")
    if message_type not in ("RAW", "DIGEST"):
        raise _validation(f"MessageType {message_type} is not valid for key spec {key.spec}.")
    return SignatureScheme(family, hash_name)


def sign(key: KmsKey, message: bytes, message_type: str, algorithm: str) -> bytes:
    scheme = _signing_scheme("Sign", key, algorithm, message, message_type)
    return primitives.sign(key.current_material.secret.reveal(), scheme, message, message_type == "DIGEST")


def verify(key: KmsKey, message: bytes, message_type: str, signature: bytes, algorithm: str) -> None:
    """Returns when the signature is valid; ``KMSInvalidSignatureException`` otherwise (API
    Reference, "Verify": a failed verification is an exception, not ``SignatureValid: false``)."""
    scheme = _signing_scheme("Verify", key, algorithm, message, message_type)
    public_key = key.current_material.secret.reveal().public_key()
    if not primitives.signature_valid(public_key, scheme, message, signature, message_type == "DIGEST"):
        raise KmsFailure("KMSInvalidSignatureException", "")


# -- MACs -------------------------------------------------------------------------------------------------


def _mac_hash(operation: str, key: KmsKey, algorithm: str) -> str:
    require_usage(operation, key, GENERATE_VERIFY_MAC)
    if algorithm not in key.info.mac_algorithms:
        raise _algorithm_error(key, algorithm)
    return MAC_HASHES[algorithm]


def generate_mac(key: KmsKey, message: bytes, algorithm: str) -> bytes:
    hash_name = _mac_hash("GenerateMac", key, algorithm)
    return primitives.hmac_compute(key.current_material.secret.reveal(), hash_name, message)


def verify_mac(key: KmsKey, message: bytes, mac: bytes, algorithm: str) -> None:
    """``KMSInvalidMacException`` when the MAC does not verify (API Reference, "VerifyMac")."""
    hash_name = _mac_hash("VerifyMac", key, algorithm)
    if not primitives.hmac_matches(key.current_material.secret.reveal(), hash_name, message, mac):
        raise KmsFailure("KMSInvalidMacException", "")


# -- public keys --------------------------------------------------------------------------------------------


def public_key(key: KmsKey) -> bytes:
    if key.info.symmetric:
        # API Reference, "GetPublicKey": only asymmetric keys have a public key.
        raise KmsFailure(
            "UnsupportedOperationException", f"{key.arn} key spec is {key.spec} which has no public key."
        )
    return primitives.public_key_der(key.current_material.secret.reveal())


# -- rotation ---------------------------------------------------------------------------------------------


def require_rotatable(key: KmsKey) -> None:
    """API Reference, "EnableKeyRotation" / "RotateKeyOnDemand": "supported only on symmetric
    encryption KMS keys"; not asymmetric, HMAC, imported-material or custom key store keys."""
    if key.spec != SYMMETRIC_DEFAULT or key.origin != "AWS_KMS":
        raise KmsFailure(
            "UnsupportedOperationException",
            f"{key.arn} key spec is {key.spec} and origin is {key.origin}, "
            "which is not valid for this operation.",
        )


def rotate(key: KmsKey, drbg: Drbg, now: datetime, rotation_type: str) -> KmsKey:
    """A new current material version; every earlier version stays to decrypt old ciphertexts."""
    material = new_material(key.info, drbg, now, rotation_type)
    return key.with_changes(materials=(*key.materials, material))


def on_demand_rotations(key: KmsKey) -> int:
    return sum(1 for material in key.materials if material.rotation_type == "ON_DEMAND")
