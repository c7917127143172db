"""Key specs, the key usages each allows, and the algorithms of each (spec, usage).

Source: KMS Developer Guide, "Key spec reference" (symmetric, RSA, ECC, HMAC key specs and their
algorithms) and KMS API Reference, "CreateKey", KeyUsage ("For asymmetric KMS keys with NIST-standard
elliptic curve key pairs, specify SIGN_VERIFY or KEY_AGREEMENT. For ... ECC_SECG_P256K1 key pairs,
specify SIGN_VERIFY"). The names themselves are botocore's enums (``KeySpec``, ``KeyUsageType``,
``EncryptionAlgorithmSpec``...); tests check every name here is one of them.

Key specs botocore lists but kmsguard does not emulate (SM2: China Regions only; ML-DSA and ML-KEM;
ECC_NIST_EDWARDS25519 in this increment) are rejected, never emulated approximately.
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
    family: str  # "AES" | "RSA" | "ECC" | "HMAC"
    usages: tuple[str, ...]  # the first is the default when CreateKey omits KeyUsage (only AES has one)
    size_bits: int  # AES / HMAC key length, RSA modulus length, ECC field size
    curve: str | None = None  # primitives curve name for ECC
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
        _hmac(224),
        _hmac(256),
        _hmac(384),
        _hmac(512),
    )
}

# Key specs AWS has that kmsguard does not emulate, and why (the error message says so).
NOT_EMULATED: dict[str, str] = {
    "SM2": "SM2 keys exist only in China Regions and kmsguard does not emulate SM2",
    "ECC_NIST_EDWARDS25519": "kmsguard does not emulate Ed25519 keys yet",
    "ML_DSA_44": "kmsguard does not emulate ML-DSA keys yet",
    "ML_DSA_65": "kmsguard does not emulate ML-DSA keys yet",
    "ML_DSA_87": "kmsguard does not emulate ML-DSA keys yet",
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
}

# RSAES_OAEP_SHA_1 -> SHA_1 (the OAEP hash and MGF1 hash).
OAEP_HASHES = {"RSAES_OAEP_SHA_1": "SHA_1", "RSAES_OAEP_SHA_256": "SHA_256"}

# HMAC_SHA_256 -> SHA_256.
MAC_HASHES = {f"HMAC_SHA_{bits}": f"SHA_{bits}" for bits in (224, 256, 384, 512)}
