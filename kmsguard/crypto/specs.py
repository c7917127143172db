"""Key specs, the key usages each allows, and the algorithms of each (spec, usage).

Source: KMS Developer Guide, "Key spec reference" (symmetric, RSA, ECC, HMAC key specs and their
algorithms) and KMS API Reference, "CreateKey", KeyUsage ("For asymmetric KMS keys with NIST-standard
elliptic curve key pairs, specify SIGN_VERIFY or KEY_AGREEMENT. For ... ECC_SECG_P256K1 key pairs,
specify SIGN_VERIFY"). The names themselves are botocore's enums (``KeySpec``, ``KeyUsageType``,
``EncryptionAlgorithmSpec``...); tests check every name here is one of them.

ECC_NIST_EDWARDS25519 (Ed25519, RFC 8032) and ML_DSA_44/65/87 (FIPS 204) are emulated with
``cryptography``'s implementations; where a library lacks an algorithm (Ed25519ph, the
ED25519_PH_SHA_512 signing algorithm; ML-DSA when ``cryptography`` is older than 45) the operation
is rejected with a clear error. Key specs botocore lists but kmsguard does not emulate (SM2: China
Regions only; ML-KEM) are rejected, never emulated approximately.
"""

from __future__ import annotations

from dataclasses import dataclass

ENCRYPT_DECRYPT = "ENCRYPT_DECRYPT"
SIGN_VERIFY = "SIGN_VERIFY"
GENERATE_VERIFY_MAC = "GENERATE_VERIFY_MAC"
KEY_AGREEMENT = "KEY_AGREEMENT"

SYMMETRIC_DEFAULT = "SYMMETRIC_DEFAULT"


@dataclass(frozen=True)
class KeySpecInfo:
    name: str
    family: str  # "AES" | "RSA" | "ECC" | "ED25519" | "MLDSA" | "HMAC"
    usages: tuple[str, ...]  # the first is the default when CreateKey omits KeyUsage (only AES has one)
    size_bits: int  # AES / HMAC key length, RSA modulus length, ECC field size
    curve: str | None = None  # primitives curve name for ECC; the parameter set ("44") for ML-DSA
    encryption_algorithms: tuple[str, ...] = ()
    signing_algorithms: tuple[str, ...] = ()
    mac_algorithms: tuple[str, ...] = ()
    key_agreement_algorithms: tuple[str, ...] = ()

    @property
    def symmetric(self) -> bool:
        return self.family in ("AES", "HMAC")

    def algorithms_for(self, usage: str) -> dict[str, list[str]]:
        """The DescribeKey / GetPublicKey algorithm lists for a key of this spec and usage."""
        found: dict[str, list[str]] = {}
        if usage == ENCRYPT_DECRYPT:
            found["EncryptionAlgorithms"] = list(self.encryption_algorithms)
        elif usage == SIGN_VERIFY:
            found["SigningAlgorithms"] = list(self.signing_algorithms)
        elif usage == GENERATE_VERIFY_MAC:
            found["MacAlgorithms"] = list(self.mac_algorithms)
        elif usage == KEY_AGREEMENT:
            found["KeyAgreementAlgorithms"] = list(self.key_agreement_algorithms)
        return found


_RSA_SIGNING = (
    "RSASSA_PSS_SHA_256",
    "RSASSA_PSS_SHA_384",
    "RSASSA_PSS_SHA_512",
    "RSASSA_PKCS1_V1_5_SHA_256",
    "RSASSA_PKCS1_V1_5_SHA_384",
    "RSASSA_PKCS1_V1_5_SHA_512",
)
_RSA_ENCRYPTION = ("RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256")


def _rsa(bits: int) -> KeySpecInfo:
    return KeySpecInfo(
        f"RSA_{bits}",
        "RSA",
        (ENCRYPT_DECRYPT, SIGN_VERIFY),
        bits,
        encryption_algorithms=_RSA_ENCRYPTION,
        signing_algorithms=_RSA_SIGNING,
    )


def _ecc(name: str, curve: str, bits: int, signing: str, agreement: bool) -> KeySpecInfo:
    return KeySpecInfo(
        name,
        "ECC",
        (SIGN_VERIFY, KEY_AGREEMENT) if agreement else (SIGN_VERIFY,),
        bits,
        curve=curve,
        signing_algorithms=(signing,),
        key_agreement_algorithms=("ECDH",) if agreement else (),
    )


def _ml_dsa(level: str) -> KeySpecInfo:
    # KMS Developer Guide, "Key spec reference", "ML-DSA key specs": SIGN_VERIFY only, signing
    # algorithm ML_DSA_SHAKE_256; FIPS 204 parameter sets ML-DSA-44/65/87.
    return KeySpecInfo(
        f"ML_DSA_{level}", "MLDSA", (SIGN_VERIFY,), 0, curve=level, signing_algorithms=("ML_DSA_SHAKE_256",)
    )


def _hmac(bits: int) -> KeySpecInfo:
    return KeySpecInfo(
        f"HMAC_{bits}", "HMAC", (GENERATE_VERIFY_MAC,), bits, mac_algorithms=(f"HMAC_SHA_{bits}",)
    )


KEY_SPECS: dict[str, KeySpecInfo] = {
    info.name: info
    for info in (
        KeySpecInfo(
            SYMMETRIC_DEFAULT, "AES", (ENCRYPT_DECRYPT,), 256, encryption_algorithms=(SYMMETRIC_DEFAULT,)
        ),
        _rsa(2048),
        _rsa(3072),
        _rsa(4096),
        _ecc("ECC_NIST_P256", "P256", 256, "ECDSA_SHA_256", agreement=True),
        _ecc("ECC_NIST_P384", "P384", 384, "ECDSA_SHA_384", agreement=True),
        _ecc("ECC_NIST_P521", "P521", 521, "ECDSA_SHA_512", agreement=True),
        _ecc("ECC_SECG_P256K1", "SECP256K1", 256, "ECDSA_SHA_256", agreement=False),
        # KMS Developer Guide, "Key spec reference", "ECC key specs": ECC_NIST_EDWARDS25519 is for
        # signing only, with ED25519_SHA_512 (pure Ed25519) and ED25519_PH_SHA_512 (Ed25519ph).
        KeySpecInfo(
            "ECC_NIST_EDWARDS25519",
            "ED25519",
            (SIGN_VERIFY,),
            256,
            signing_algorithms=("ED25519_SHA_512", "ED25519_PH_SHA_512"),
        ),
        _ml_dsa("44"),
        _ml_dsa("65"),
        _ml_dsa("87"),
        _hmac(224),
        _hmac(256),
        _hmac(384),
        _hmac(512),
    )
}

# Key specs AWS has that kmsguard does not emulate, and why (the error message says so).
NOT_EMULATED: dict[str, str] = {
    "SM2": "SM2 keys exist only in China Regions and kmsguard does not emulate SM2",
    "ML_KEM_512": "kmsguard does not emulate ML-KEM keys",
    "ML_KEM_768": "kmsguard does not emulate ML-KEM keys",
    "ML_KEM_1024": "kmsguard does not emulate ML-KEM keys",
}

# Data key specs of GenerateDataKey (KMS API Reference, "GenerateDataKey", KeySpec): bytes.
DATA_KEY_BYTES = {"AES_128": 16, "AES_256": 32}

# Signing algorithm -> (primitive family, hash). KMS API Reference, "Sign", MessageType: "Signing
# algorithms that end in SHA_256 use the SHA_256 hashing algorithm" (likewise 384, 512).
SIGNING_SCHEMES: dict[str, tuple[str, str]] = {
    **{name: ("PSS", name[-7:]) for name in _RSA_SIGNING if "PSS" in name},
    **{name: ("PKCS1", name[-7:]) for name in _RSA_SIGNING if "PKCS1" in name},
    "ECDSA_SHA_256": ("ECDSA", "SHA_256"),
    "ECDSA_SHA_384": ("ECDSA", "SHA_384"),
    "ECDSA_SHA_512": ("ECDSA", "SHA_512"),
    # RFC 8032 section 5.1: Ed25519 hashes with SHA-512 inside the algorithm; Ed25519ph prehashes.
    "ED25519_SHA_512": ("ED25519", "SHA_512"),
    "ED25519_PH_SHA_512": ("ED25519PH", "SHA_512"),
    # FIPS 204: ML-DSA hashes with SHAKE256 inside the algorithm (no separate digest length).
    "ML_DSA_SHAKE_256": ("MLDSA", "SHAKE_256"),
}

# Message types each signing family accepts (KMS API Reference, "Sign", MessageType): "ED25519_SHA_512
# signing algorithm requires KMS MessageType:RAW", "ED25519_PH_SHA_512 ... requires
# MessageType:DIGEST", EXTERNAL_MU is "the 64-byte representative mu used in ML-DSA signing".
MESSAGE_TYPES: dict[str, tuple[str, ...]] = {
    "PSS": ("RAW", "DIGEST"),
    "PKCS1": ("RAW", "DIGEST"),
    "ECDSA": ("RAW", "DIGEST"),
    "ED25519": ("RAW",),
    "ED25519PH": ("DIGEST",),
    "MLDSA": ("RAW", "EXTERNAL_MU"),
}
EXTERNAL_MU_BYTES = 64  # API Reference, "Sign": "the length of the Message value must be 64 bytes"

# RSAES_OAEP_SHA_1 -> SHA_1 (the OAEP hash and MGF1 hash).
OAEP_HASHES = {"RSAES_OAEP_SHA_1": "SHA_1", "RSAES_OAEP_SHA_256": "SHA_256"}

# HMAC_SHA_256 -> SHA_256.
MAC_HASHES = {f"HMAC_SHA_{bits}": f"SHA_{bits}" for bits in (224, 256, 384, 512)}

# GenerateDataKeyPair KeyPairSpec -> (primitives family, RSA modulus bits or curve name). KMS API
# Reference, "GenerateDataKeyPair", KeyPairSpec (botocore enum DataKeyPairSpec); SM2 (China Regions)
# and ML-KEM are not emulated.
DATA_KEY_PAIR_SPECS: dict[str, tuple[str, int | str]] = {
    "RSA_2048": ("RSA", 2048),
    "RSA_3072": ("RSA", 3072),
    "RSA_4096": ("RSA", 4096),
    "ECC_NIST_P256": ("ECC", "P256"),
    "ECC_NIST_P384": ("ECC", "P384"),
    "ECC_NIST_P521": ("ECC", "P521"),
    "ECC_SECG_P256K1": ("ECC", "SECP256K1"),
    "ECC_NIST_EDWARDS25519": ("ED25519", "ED25519"),
}

# Operations a grant may allow, per kind of key (KMS Developer Guide, "Grants in AWS KMS", "Grant
# operations": "the operation must be supported on the KMS key"; KMS API Reference, "CreateGrant",
# Operations: otherwise "KMS returns a ValidationError exception").
_GRANT_ALWAYS = ("CreateGrant", "DescribeKey", "RetireGrant")
GRANT_OPERATIONS: dict[str, frozenset[str]] = {
    "SYMMETRIC_ENCRYPT_DECRYPT": frozenset(
        (
            *_GRANT_ALWAYS,
            "Decrypt",
            "Encrypt",
            "GenerateDataKey",
            "GenerateDataKeyPair",
            "GenerateDataKeyPairWithoutPlaintext",
            "GenerateDataKeyWithoutPlaintext",
            "ReEncryptFrom",
            "ReEncryptTo",
        )
    ),
    "ASYMMETRIC_ENCRYPT_DECRYPT": frozenset(
        (*_GRANT_ALWAYS, "Decrypt", "Encrypt", "GetPublicKey", "ReEncryptFrom", "ReEncryptTo")
    ),
    "SIGN_VERIFY": frozenset((*_GRANT_ALWAYS, "GetPublicKey", "Sign", "Verify")),
    "GENERATE_VERIFY_MAC": frozenset((*_GRANT_ALWAYS, "GenerateMac", "VerifyMac")),
    "KEY_AGREEMENT": frozenset((*_GRANT_ALWAYS, "DeriveSharedSecret", "GetPublicKey")),
}


def grant_operations_for(spec: str, usage: str) -> frozenset[str]:
    if usage == ENCRYPT_DECRYPT:
        kind = "SYMMETRIC_ENCRYPT_DECRYPT" if spec == SYMMETRIC_DEFAULT else "ASYMMETRIC_ENCRYPT_DECRYPT"
        return GRANT_OPERATIONS[kind]
    return GRANT_OPERATIONS[usage]


# GetParametersForImport WrappingAlgorithm -> (how, OAEP hash). KMS Developer Guide, "Importing key
# material", "Select a wrapping algorithm": RSAES_OAEP_* encrypt the material directly (not for RSA
# private keys); RSA_AES_KEY_WRAP_* wrap it under an ephemeral AES key (CKM_RSA_AES_KEY_WRAP).
# RSAES_PKCS1_V1_5 is no longer supported by KMS (since October 10, 2023); SM2PKE is China-only.
WRAPPING_ALGORITHMS: dict[str, tuple[str, str]] = {
    "RSAES_OAEP_SHA_1": ("OAEP", "SHA_1"),
    "RSAES_OAEP_SHA_256": ("OAEP", "SHA_256"),
    "RSA_AES_KEY_WRAP_SHA_1": ("RSA_AES", "SHA_1"),
    "RSA_AES_KEY_WRAP_SHA_256": ("RSA_AES", "SHA_256"),
}
WRAPPING_KEY_SPECS = {"RSA_2048": 2048, "RSA_3072": 3072, "RSA_4096": 4096}
