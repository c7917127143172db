"""KMS semantics on one key: state and usage checks, limits, material versions, the ciphertext blob,
and each cryptographic operation. Pure (no I/O, no clock, no global state): randomness comes from
the ``Drbg`` passed in, time from the ``now`` passed in.

Failures are ``KmsFailure(code, message)``; the boto3-shaped facade turns them into botocore
``ClientError``s. Messages name ARNs, algorithms and sizes, never bytes of material or plaintext.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import datetime

from kmsguard.crypto import blob, primitives
from kmsguard.crypto.blob import canonical_context
from kmsguard.crypto.errors import state_error
from kmsguard.crypto.keys import KeyMaterial, KmsKey, Secret
from kmsguard.crypto.primitives import (
    AES_GCM_OPEN_ERRORS,
    Drbg,
    IntegrityError,
    SignatureScheme,
    aes_gcm_cipher,
)
from kmsguard.crypto.specs import (
    DATA_KEY_PAIR_SPECS,
    ENCRYPT_DECRYPT,
    EXTERNAL_MU_BYTES,
    GENERATE_VERIFY_MAC,
    KEY_AGREEMENT,
    MAC_HASHES,
    MESSAGE_TYPES,
    OAEP_HASHES,
    SIGN_VERIFY,
    SIGNING_SCHEMES,
    SYMMETRIC_DEFAULT,
    WRAPPING_ALGORITHMS,
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


class RequestIds:
    """ResponseMetadata.RequestId values: UUID version 4 strings (RFC 9562 section 5.4: version
    nibble 4, variant bits 10) whose first 80 bits are drawn once from the DRBG and whose last 48
    bits count up from a DRBG offset. A request id protects nothing and only has to be unique within
    a run; drawing and formatting 128 random bits per request costs a sixth of the AES-GCM of 4 KB,
    and even formatting the 48-bit counter costs more than one string concatenation (see
    ``_counting_ids``). Seeded runs stay reproducible. ``next()`` answers the next id."""

    __slots__ = ("next",)

    def __init__(self, drbg: Drbg) -> None:
        h = drbg.random_bytes(16, b"request-ids").hex()
        variant = "89ab"[int(h[16], 16) & 3]
        prefix = f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{variant}{h[17:20]}-"
        self.next: Callable[[], str] = _counting_ids(prefix, (int(h[20:], 16) + 1) & _COUNTER_MASK).__next__

    def __repr__(self) -> str:
        return "RequestIds()"


_COUNTER_MASK = 0xFFFFFFFFFFFF  # 48 bits: the last 12 hex digits of the UUID
_HEX_BYTES = tuple(f"{value:02x}" for value in range(256))


def _counting_ids(prefix: str, first: int) -> Iterator[str]:
    """``prefix`` followed by a 48-bit counter in 12 hex digits, from ``first`` up, wrapping to 0
    after ``0xffffffffffff``. The first 8 digits are formatted once per 65536 ids, the next 2 once
    per 256, and each id is one concatenation with the last 2 from a table."""
    high, middle, low = first >> 16, (first >> 8) & 0xFF, first & 0xFF
    while True:
        head = f"{prefix}{high:08x}"
        for middle_hex in _HEX_BYTES[middle:]:
            head_and_middle = head + middle_hex
            for low_hex in _HEX_BYTES[low:]:
                yield head_and_middle + low_hex
            low = 0
        middle = 0
        high = (high + 1) & 0xFFFFFFFF


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
    elif info.family == "ED25519":
        value = primitives.generate_ed25519(drbg)
    elif info.family == "MLDSA":
        assert info.curve is not None
        try:
            value = primitives.generate_ml_dsa(info.curve, drbg)
        except primitives.PrimitiveUnavailable as missing:
            raise KmsFailure("UnsupportedOperationException", f"KeySpec {info.name}: {missing}.") from None
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
    if key.usage != ENCRYPT_DECRYPT:
        require_usage(operation, key, ENCRYPT_DECRYPT)
    algorithm = algorithm or SYMMETRIC_DEFAULT  # API Reference, "Encrypt", EncryptionAlgorithm default
    if algorithm not in key.info.encryption_algorithms:
        raise _algorithm_error(key, algorithm)
    if key.spec == SYMMETRIC_DEFAULT:
        material, header_prefix, cipher = key.sealing
        nonce = drbg.random_bytes(blob.NONCE_BYTES, b"nonce")
        header = header_prefix + nonce
        # ``aes_gcm_seal``, called on the material's keyed cipher directly; the associated data is
        # the header and the canonical context (``blob.associated_data``).
        sealed = cipher.encrypt(nonce, plaintext, header + canonical_context(context))
        return header + sealed, algorithm, material.material_id
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
        return blob.parse_blob(ciphertext)[0]
    except blob.BlobFormatError:
        raise KmsFailure("InvalidCiphertextException", "") from None


def decrypt(
    key: KmsKey,
    ciphertext: bytes,
    context: Mapping[str, str] | None,
    algorithm: str | None,
    operation: str = "Decrypt",
) -> tuple[bytes, str, str | None]:
    """(plaintext, algorithm, material id or None). Any mismatch -- wrong key, wrong or missing
    encryption context, tampering -- is ``InvalidCiphertextException`` with no detail, as AWS answers."""
    if key.usage != ENCRYPT_DECRYPT:
        require_usage(operation, key, ENCRYPT_DECRYPT)
    algorithm = algorithm or SYMMETRIC_DEFAULT
    if algorithm not in key.info.encryption_algorithms:
        raise _algorithm_error(key, algorithm)
    if key.spec == SYMMETRIC_DEFAULT:
        try:
            key_arn, material_id, header_end = blob.parse_blob(ciphertext)
        except blob.BlobFormatError:
            raise KmsFailure("InvalidCiphertextException", "") from None
        if key_arn != key.arn and not names_key(key, key_arn):
            # API Reference, "IncorrectKeyException": the KeyId must identify the key that encrypted.
            raise KmsFailure("IncorrectKeyException", INCORRECT_KEY)
        material = key.materials_by_id.get(material_id)
        if material is None or material.pending_rotation:
            raise KmsFailure("InvalidCiphertextException", "")
        secret = material.secret
        if secret is None:
            # Imported material deleted or expired while the key is still usable (another material
            # is current): this ciphertext needs that material reimported. The code is AWS's for an
            # unusable key; the exact answer for this case is not documented (an assumption).
            raise KmsFailure("KMSInvalidStateException", f"{key.arn} is pending import.")
        header = ciphertext[:header_end]
        try:  # ``aes_gcm_open``, called on the material's keyed cipher directly
            plaintext = secret.derived(aes_gcm_cipher).decrypt(
                header[-blob.NONCE_BYTES :], ciphertext[header_end:], header + canonical_context(context)
            )
        except AES_GCM_OPEN_ERRORS:
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
    if message_type not in MESSAGE_TYPES[family]:
        # API Reference, "Sign", MessageType: which message types each algorithm takes (the error
        # code is an assumption: AWS documents the rule, not the answer).
        raise _validation(f"MessageType {message_type} is not valid for signing algorithm {algorithm}.")
    if message_type == "DIGEST" and len(message) != primitives.hash_length(hash_name):
        # API Reference, "Sign", MessageType: "When the value of MessageType is DIGEST, the length of
        # the Message value must match the length of hashed messages for the specified signing
        # algorithm."
        raise _validation(f"Digest is invalid length for algorithm {algorithm}.")
    if message_type == "EXTERNAL_MU" and len(message) != EXTERNAL_MU_BYTES:
        # API Reference, "Sign", MessageType: "When the value of MessageType is EXTERNAL_MU the
        # length of the Message value must be 64 bytes."
        raise _validation(f"External mu must be {EXTERNAL_MU_BYTES} bytes for algorithm {algorithm}.")
    if family == "ED25519PH":
        # Ed25519ph (RFC 8032 section 5.1, phflag = 1) is not in cryptography; kmsguard does not
        # write signature primitives of its own, so this algorithm is refused, never approximated.
        raise KmsFailure(
            "UnsupportedOperationException",
            f"kmsguard does not emulate the signing algorithm {algorithm} (Ed25519ph).",
        )
    return SignatureScheme(family, hash_name)


def sign(key: KmsKey, message: bytes, message_type: str, algorithm: str) -> bytes:
    scheme = _signing_scheme("Sign", key, algorithm, message, message_type)
    return primitives.sign(key.current_material.secret.reveal(), scheme, message, message_type != "RAW")


def verify(key: KmsKey, message: bytes, message_type: str, signature: bytes, algorithm: str) -> None:
    """Returns when the signature is valid; ``KMSInvalidSignatureException`` otherwise (API
    Reference, "Verify": a failed verification is an exception, not ``SignatureValid: false``)."""
    scheme = _signing_scheme("Verify", key, algorithm, message, message_type)
    public_key = key.current_material.secret.reveal().public_key()
    if not primitives.signature_valid(public_key, scheme, message, signature, message_type != "RAW"):
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


def require_rotatable(key: KmsKey, on_demand: bool = False) -> None:
    """API Reference, "EnableKeyRotation" / "RotateKeyOnDemand": "supported only on symmetric
    encryption KMS keys"; not asymmetric, HMAC or custom key store keys, and automatic rotation not
    for imported material -- but on-demand rotation (and so ListKeyRotations) is, for symmetric keys
    with imported material ("RotateKeyOnDemand": "you must have already imported new key material")."""
    origins = ("AWS_KMS", "EXTERNAL") if on_demand else ("AWS_KMS",)
    if key.spec != SYMMETRIC_DEFAULT or key.origin not in origins:
        raise KmsFailure(
            "UnsupportedOperationException",
            f"{key.arn} key spec is {key.spec} and origin is {key.origin}, "
            "which is not valid for this operation.",
        )


def require_not_replica(operation: str, key: KmsKey) -> None:
    """API Reference, "EnableKeyRotation" / "RotateKeyOnDemand": "You cannot enable automatic
    rotation of ... a replica key" / rotation of a multi-Region key is done on its primary key, and
    the rotation is shared with the replicas."""
    if key.multi_region_type == "REPLICA":
        raise KmsFailure(
            "UnsupportedOperationException",
            f"{key.arn} is a multi-Region replica key; {operation} is done on the primary key.",
        )


def rotate(key: KmsKey, drbg: Drbg, now: datetime, rotation_type: str) -> KmsKey:
    """A new current material version; every earlier version stays to decrypt old ciphertexts."""
    material = new_material(key.info, drbg, now, rotation_type)
    return key.with_changes(materials=(*key.materials, material))


def imported_material_id(key_id: str, value: object) -> str:
    """The KeyMaterialId of imported material: KMS "assigns a unique identifier to the key material
    based on the KMS key ID and the imported key material" (API Reference, "ImportKeyMaterial",
    KeyMaterialId) -- here the keyed fingerprint, so the same material always gets the same id in a
    key and its related multi-Region keys, and different material a different one."""
    return material_fingerprint(key_id, value).hex()


def on_demand_rotations(key: KmsKey) -> int:
    return sum(1 for material in key.materials if material.rotation_type == "ON_DEMAND")


# -- multi-Region keys --------------------------------------------------------------------------------------


def names_key(key: KmsKey, arn: str) -> bool:
    """Whether a ciphertext naming ``arn`` belongs to ``key``: the same ARN, or, for a multi-Region
    key, a related key's ARN (same partition, account and key id in another Region). KMS Developer
    Guide, "Multi-Region keys in AWS KMS": related keys share key id and material, so a ciphertext
    from one decrypts under any of them."""
    if arn == key.arn:
        return True
    if not key.multi_region:
        return False
    mine, theirs = key.arn.split(":"), arn.split(":")
    return (
        len(theirs) == 6
        and theirs[0] == mine[0]
        and theirs[1] == mine[1]
        and theirs[2] == "kms"
        and theirs[4] == mine[4]
        and theirs[5] == mine[5]
    )


# -- key agreement ------------------------------------------------------------------------------------------


def derive_shared_secret(key: KmsKey, algorithm: str, peer_public_key: bytes) -> bytes:
    """ECDH between the key's private key and the peer's DER SubjectPublicKeyInfo (API Reference,
    "DeriveSharedSecret": both key pairs "must be on the same elliptic curve")."""
    require_usage("DeriveSharedSecret", key, KEY_AGREEMENT)
    if algorithm not in key.info.key_agreement_algorithms:
        raise _algorithm_error(key, algorithm)
    try:
        peer = primitives.load_public_key_der(peer_public_key)
    except primitives.KeyFormatError:
        # The API Reference names ValidationException for a public key that is not DER SPKI (the
        # AWS CLI v1 double-encoding case).
        raise _validation("PublicKey is not a DER-encoded X.509 SubjectPublicKeyInfo.") from None
    private_key = key.current_material.secret.reveal()
    if primitives.curve_name(peer) != key.info.curve:
        # Same-curve rule (API Reference, "DeriveSharedSecret"); the error code is an assumption.
        raise _validation(f"PublicKey is not on the curve of key spec {key.spec}.")
    return primitives.ecdh(private_key, peer)


# -- data key pairs -----------------------------------------------------------------------------------------


def data_key_pair(spec: str, drbg: Drbg) -> tuple[bytes, bytes]:
    """(DER PKCS #8 private key, DER SubjectPublicKeyInfo public key) of a new key pair (API
    Reference, "GenerateDataKeyPair": "The public key is a DER-encoded X.509 SubjectPublicKeyInfo
    ... The private key is a DER-encoded PKCS8 PrivateKeyInfo")."""
    if spec not in DATA_KEY_PAIR_SPECS:
        raise KmsFailure("UnsupportedOperationException", f"kmsguard does not emulate KeyPairSpec {spec}.")
    family, size_or_curve = DATA_KEY_PAIR_SPECS[spec]
    private_key = primitives.generate_key_pair(family, size_or_curve, drbg)
    return primitives.private_key_pkcs8(private_key), primitives.public_key_der(private_key)


# -- imported key material ----------------------------------------------------------------------------------


def unwrap_key_material(wrapping_key: Secret, algorithm: str, wrapped: bytes) -> bytes:
    """The key material an ImportKeyMaterial request carries, or ``InvalidCiphertextException``."""
    how, hash_name = WRAPPING_ALGORITHMS[algorithm]
    private_key = wrapping_key.reveal()
    try:
        if how == "OAEP":
            return primitives.rsa_oaep_decrypt(private_key, wrapped, hash_name)
        return primitives.rsa_aes_key_unwrap(private_key, wrapped, hash_name)
    except IntegrityError:
        raise KmsFailure(
            "InvalidCiphertextException", "The encrypted key material could not be decrypted."
        ) from None


# KMS Developer Guide, "Importing key material", "Requirements for imported key material": symmetric
# encryption keys take 256-bit material; HMAC keys take material of the spec's length or more (up
# to 64 bytes), which kmsguard accepts as stated.
_HMAC_MATERIAL_BYTES = {
    "HMAC_224": (28, 64),
    "HMAC_256": (32, 64),
    "HMAC_384": (48, 128),
    "HMAC_512": (64, 128),
}


def imported_material_value(key: KmsKey, algorithm: str, material: bytes) -> object:
    """The key's material from imported bytes, checked against its key spec, or
    ``IncorrectKeyMaterialException`` (API Reference, "ImportKeyMaterial")."""
    info = key.info
    wrong = KmsFailure("IncorrectKeyMaterialException", f"The key material does not fit key spec {key.spec}.")
    if info.family == "AES":
        if len(material) != 32:
            raise wrong
        return material
    if info.family == "HMAC":
        low, high = _HMAC_MATERIAL_BYTES[key.spec]
        if not low <= len(material) <= high:
            raise wrong
        return material
    try:
        private_key = primitives.load_private_key_pkcs8(material)
    except primitives.KeyFormatError:
        raise wrong from None
    if info.family == "RSA":
        from cryptography.hazmat.primitives.asymmetric import rsa

        if WRAPPING_ALGORITHMS[algorithm][0] == "OAEP":
            # "Select a wrapping algorithm": RSAES_OAEP_* are for all types "except RSA key material".
            raise KmsFailure(
                "ValidationException",
                f"RSA key material cannot be imported with {algorithm}; use RSA_AES_KEY_WRAP.",
            )
        if not isinstance(private_key, rsa.RSAPrivateKey) or private_key.key_size != info.size_bits:
            raise wrong
        return private_key
    if info.family == "ECC":
        if primitives.curve_name(private_key) != info.curve:
            raise wrong
        return private_key
    if info.family == "ED25519":
        from cryptography.hazmat.primitives.asymmetric import ed25519

        if not isinstance(private_key, ed25519.Ed25519PrivateKey):
            raise wrong
        return private_key
    raise KmsFailure("UnsupportedOperationException", f"kmsguard does not import {key.spec} key material.")


def material_fingerprint(key_id: str, value: object) -> bytes:
    """A keyed digest identifying imported material (to tell a reimport of the same material from
    other material) without keeping the material: HMAC-SHA-256 keyed by the key id."""
    if isinstance(value, bytes):
        encoded = value
    else:
        encoded = primitives.private_key_pkcs8(value)
    return primitives.hmac_compute(key_id.encode("utf-8"), "SHA_256", encoded)
