"""Small pure functions over ``cryptography``: the only place kmsguard touches cipher, signature and
MAC primitives. Nothing here knows about KMS (keys, states, blobs, errors); ``engine.py`` does.

Randomness comes from a ``Drbg``: ``os.urandom`` when unseeded, or, when seeded (tests,
reproducible scenarios), HKDF-SHA256 (RFC 5869, from ``cryptography``) expanded over the seed with
a running counter, so a seeded run produces the same key ids, key material and nonces every time.

Asymmetric key generation follows the same rule: unseeded keys come from OpenSSL; seeded RSA keys
are built from probable primes drawn from the DRBG (Miller-Rabin, FIPS 186-5 appendix B.3 /
C.3 style) because OpenSSL's generator cannot be seeded, and seeded EC keys take a DRBG scalar
reduced into [1, n-1] (FIPS 186-5 appendix A.2.1, "extra random bits").
"""

from __future__ import annotations

import hmac as _hmac
import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

GCM_NONCE_BYTES = 12  # NIST SP 800-38D, 5.2.1.1: 96-bit IVs are the recommended length
GCM_TAG_BYTES = 16
RSA_PUBLIC_EXPONENT = 65537

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "SHA_1": hashes.SHA1,
    "SHA_224": hashes.SHA224,
    "SHA_256": hashes.SHA256,
    "SHA_384": hashes.SHA384,
    "SHA_512": hashes.SHA512,
}

# Curve name (KMS key spec suffix) -> (cryptography curve, group order n). The orders are the
# published domain parameters (FIPS 186-5 / SP 800-186 section 3.2 for P-256/384/521; SEC 2 v2
# section 2.4.1 for secp256k1); tests check each one against the library's group arithmetic.
_CURVES: dict[str, tuple[type[ec.EllipticCurve], int]] = {
    "P256": (
        ec.SECP256R1,
        0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    ),
    "P384": (
        ec.SECP384R1,
        0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973,
    ),
    "P521": (
        ec.SECP521R1,
        int(
            "01FF"
            + "FFFFFFFF" * 7
            + "FFFFFFFA51868783BF2F966B7FCC0148F709A5D03BB5C9B8899C47AEBB6FB71E91386409",
            16,
        ),
    ),
    "SECP256K1": (
        ec.SECP256K1,
        0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141,
    ),
}


class IntegrityError(Exception):
    """Authenticated decryption failed (wrong key, wrong associated data, or tampering). Carries no
    detail on purpose: nothing about the inputs may leak through it."""


# -- randomness -------------------------------------------------------------------------------------


class Drbg:
    """Random bytes: ``os.urandom`` when ``seed`` is None, otherwise a deterministic stream.

    The seeded stream is HKDF-Expand(SHA-256, PRK = SHA-256(seed)) with info = label || counter, one
    counter value per request, so outputs never repeat and a run is reproducible. Never used for
    anything but the engine's own keys, ids and nonces; its state is not exposed."""

    __slots__ = ("_counter", "_prk")

    def __init__(self, seed: bytes | None) -> None:
        self._prk = None if seed is None else digest("SHA_256", b"kmsguard drbg v1\x00" + seed)
        self._counter = 0

    @property
    def seeded(self) -> bool:
        return self._prk is not None

    def random_bytes(self, length: int, label: bytes = b"") -> bytes:
        if length <= 0:
            return b""
        if self._prk is None:
            return os.urandom(length)
        self._counter += 1
        info = label + b"\x00" + self._counter.to_bytes(8, "big")
        out = b""
        while len(out) < length:  # HKDF-Expand yields at most 255 * 32 bytes per call
            take = min(length - len(out), 255 * 32)
            out += HKDFExpand(hashes.SHA256(), take, info + len(out).to_bytes(4, "big")).derive(self._prk)
        return out

    def __repr__(self) -> str:
        return f"Drbg(seeded={self.seeded})"


# -- hashing and MACs -------------------------------------------------------------------------------


def hash_length(hash_name: str) -> int:
    return _HASHES[hash_name].digest_size


def digest(hash_name: str, data: bytes) -> bytes:
    hasher = hashes.Hash(_HASHES[hash_name]())
    hasher.update(data)
    return hasher.finalize()


def hmac_compute(key: bytes, hash_name: str, message: bytes) -> bytes:
    """HMAC (RFC 2104 / FIPS 198-1) with SHA-224/256/384/512."""
    from cryptography.hazmat.primitives import hmac

    mac = hmac.HMAC(key, _HASHES[hash_name]())
    mac.update(message)
    return mac.finalize()


def hmac_matches(key: bytes, hash_name: str, message: bytes, tag: bytes) -> bool:
    return _hmac.compare_digest(hmac_compute(key, hash_name, message), tag)


# -- AES-GCM ------------------------------------------------------------------------------------------


def aes_gcm_cipher(key: bytes) -> AESGCM:
    """A keyed AES-GCM object, to reuse across calls with the same key. The engine's per-call path
    calls it directly -- ``.encrypt(nonce, plaintext, aad)`` is ``aes_gcm_seal``, ``.decrypt`` is
    ``aes_gcm_open`` raising one of ``AES_GCM_OPEN_ERRORS`` instead of ``IntegrityError`` -- to save
    a Python call per operation."""
    return AESGCM(key)


# What a keyed AES-GCM object's ``decrypt`` raises for a tag that does not verify (``InvalidTag``) or
# a malformed input (``ValueError``): both are "not authentic" to the callers.
AES_GCM_OPEN_ERRORS = (InvalidTag, ValueError)


def aes_gcm_seal(key: bytes | AESGCM, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """AES-GCM (NIST SP 800-38D): ciphertext followed by the 16-byte tag. ``key``: the key bytes or
    an ``aes_gcm_cipher`` of them."""
    cipher = key if isinstance(key, AESGCM) else AESGCM(key)
    return cipher.encrypt(nonce, plaintext, aad)


def aes_gcm_open(key: bytes | AESGCM, nonce: bytes, sealed: bytes, aad: bytes) -> bytes:
    """The plaintext, or ``IntegrityError`` when the tag does not verify."""
    cipher = key if isinstance(key, AESGCM) else AESGCM(key)
    try:
        return cipher.decrypt(nonce, sealed, aad)
    except AES_GCM_OPEN_ERRORS:
        raise IntegrityError() from None


# -- key generation -----------------------------------------------------------------------------------


def generate_rsa(bits: int, drbg: Drbg) -> rsa.RSAPrivateKey:
    if not drbg.seeded:
        return rsa.generate_private_key(RSA_PUBLIC_EXPONENT, bits)
    return _seeded_rsa(drbg.random_bytes(32, b"rsa"), bits)


@lru_cache(maxsize=64)
def _seeded_rsa(seed: bytes, bits: int) -> rsa.RSAPrivateKey:
    """A deterministic RSA key: two probable primes of bits/2 bits drawn from a DRBG on ``seed``.
    Cached: seeded runs (tests) create the same keys many times, and prime search in Python is slow."""
    stream = Drbg(seed)
    half = bits // 2
    while True:
        p = _random_prime(half, stream)
        q = _random_prime(half, stream)
        n = p * q
        if p != q and n.bit_length() == bits:
            break
    lam = (p - 1) * (q - 1) // _gcd(p - 1, q - 1)
    d = pow(RSA_PUBLIC_EXPONENT, -1, lam)
    numbers = rsa.RSAPrivateNumbers(
        p=p,
        q=q,
        d=d,
        dmp1=rsa.rsa_crt_dmp1(d, p),
        dmq1=rsa.rsa_crt_dmq1(d, q),
        iqmp=rsa.rsa_crt_iqmp(p, q),
        public_numbers=rsa.RSAPublicNumbers(RSA_PUBLIC_EXPONENT, n),
    )
    return numbers.private_key()


def _gcd(a: int, b: int) -> int:
    while b:
        a, b = b, a % b
    return a


@lru_cache(maxsize=1)
def _small_primes() -> tuple[int, ...]:
    limit = 2000
    sieve = bytearray([1]) * limit
    sieve[0:2] = b"\x00\x00"
    for i in range(2, int(limit**0.5) + 1):
        if sieve[i]:
            sieve[i * i :: i] = bytearray(len(sieve[i * i :: i]))
    return tuple(i for i in range(3, limit) if sieve[i])


def _random_prime(bits: int, stream: Drbg) -> int:
    """A probable prime with the top two bits set (so p*q has exactly 2*bits bits) and
    gcd(p-1, e) = 1."""
    while True:
        candidate = int.from_bytes(stream.random_bytes(bits // 8, b"candidate"), "big")
        candidate |= (3 << (bits - 2)) | 1
        if any(candidate % small == 0 for small in _small_primes()):
            continue
        if (candidate - 1) % RSA_PUBLIC_EXPONENT == 0:
            continue
        if is_probable_prime(candidate, stream):
            return candidate


def is_probable_prime(n: int, stream: Drbg, rounds: int = 8) -> bool:
    """Miller-Rabin with random bases (FIPS 186-5 appendix B.3). For random candidates of 1024 bits
    and more, FIPS 186-5 Table B.1 asks for at most 5 rounds (error below 2^-100); 8 are used."""
    if n < 4:
        return n in (2, 3)
    if n % 2 == 0:
        return False
    d, s = n - 1, 0
    while d % 2 == 0:
        d //= 2
        s += 1
    width = (n.bit_length() + 7) // 8 + 8
    for _ in range(rounds):
        base = 2 + int.from_bytes(stream.random_bytes(width, b"witness"), "big") % (n - 3)
        x = pow(base, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def curve_order(curve: str) -> int:
    return _CURVES[curve][1]


def generate_ec(curve: str, drbg: Drbg) -> ec.EllipticCurvePrivateKey:
    curve_class, order = _CURVES[curve]
    if not drbg.seeded:
        return ec.generate_private_key(curve_class())
    width = (order.bit_length() + 7) // 8 + 8  # 64 extra bits make the bias negligible
    scalar = int.from_bytes(drbg.random_bytes(width, b"ec"), "big") % (order - 1) + 1
    return ec.derive_private_key(scalar, curve_class())


class PrimitiveUnavailable(Exception):
    """The installed ``cryptography`` lacks an algorithm (the message says which)."""


def generate_ed25519(drbg: Drbg) -> ed25519.Ed25519PrivateKey:
    """An Ed25519 key (RFC 8032 section 5.1.5: the private key is 32 random bytes)."""
    if not drbg.seeded:
        return ed25519.Ed25519PrivateKey.generate()
    return ed25519.Ed25519PrivateKey.from_private_bytes(drbg.random_bytes(32, b"ed25519"))


def _ml_dsa_class(level: str) -> Any:
    try:
        from cryptography.hazmat.primitives.asymmetric import mldsa
    except ImportError:
        raise PrimitiveUnavailable("ML-DSA needs cryptography >= 45 (FIPS 204 support)") from None
    return getattr(mldsa, f"MLDSA{level}PrivateKey")


def ml_dsa_available() -> bool:
    try:
        _ml_dsa_class("44")
    except PrimitiveUnavailable:
        return False
    return True


def generate_ml_dsa(level: str, drbg: Drbg) -> Any:
    """An ML-DSA-44/65/87 key (FIPS 204 ML-DSA.KeyGen: from a 32-byte seed xi)."""
    key_class = _ml_dsa_class(level)
    if not drbg.seeded:
        return key_class.generate()
    return key_class.from_seed_bytes(drbg.random_bytes(32, b"ml-dsa"))


def public_key_der(private_key: Any) -> bytes:
    """The DER-encoded X.509 SubjectPublicKeyInfo (RFC 5280), as GetPublicKey returns it."""
    return private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


# -- RSA-OAEP -------------------------------------------------------------------------------------------


def _oaep(hash_name: str) -> padding.OAEP:
    algorithm = _HASHES[hash_name]()
    return padding.OAEP(mgf=padding.MGF1(algorithm), algorithm=algorithm, label=None)


def rsa_oaep_max_plaintext(modulus_bits: int, hash_name: str) -> int:
    """RFC 8017 section 7.1.1: mLen <= k - 2*hLen - 2 (k: modulus length in bytes)."""
    return modulus_bits // 8 - 2 * hash_length(hash_name) - 2


def rsa_oaep_encrypt(public_key: rsa.RSAPublicKey, plaintext: bytes, hash_name: str) -> bytes:
    return public_key.encrypt(plaintext, _oaep(hash_name))


def rsa_oaep_decrypt(private_key: rsa.RSAPrivateKey, ciphertext: bytes, hash_name: str) -> bytes:
    try:
        return private_key.decrypt(ciphertext, _oaep(hash_name))
    except ValueError:
        raise IntegrityError() from None


# -- signatures -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignatureScheme:
    """How one KMS signing algorithm signs: ``RSASSA_PSS_SHA_256`` -> ("PSS", "SHA_256")."""

    family: str  # "PSS" | "PKCS1" | "ECDSA" | "ED25519" | "MLDSA"
    hash_name: str


def _rsa_padding(scheme: SignatureScheme) -> padding.AsymmetricPadding:
    if scheme.family == "PSS":
        # Salt length = hash length (KMS Developer Guide, "Key spec reference", RSA signing
        # algorithms: PSS with SHA-256 for the digest and MGF1 "along with a 256-bit salt", etc.).
        return padding.PSS(
            mgf=padding.MGF1(_HASHES[scheme.hash_name]()), salt_length=padding.PSS.DIGEST_LENGTH
        )
    return padding.PKCS1v15()


def sign(private_key: Any, scheme: SignatureScheme, data: bytes, prehashed: bool) -> bytes:
    """An RSA signature, a DER-encoded ECDSA signature (RFC 3279 Ecdsa-Sig-Value), a 64-byte Ed25519
    signature (RFC 8032) or an ML-DSA signature (FIPS 204, empty context). ``prehashed``: ``data``
    is already the digest (KMS MessageType DIGEST), or for ML-DSA the 64-byte mu (EXTERNAL_MU)."""
    if scheme.family == "ED25519":
        return private_key.sign(data)  # type: ignore[no-any-return]
    if scheme.family == "MLDSA":
        return private_key.sign_mu(data) if prehashed else private_key.sign(data)  # type: ignore[no-any-return]
    algorithm: hashes.HashAlgorithm | utils.Prehashed = _HASHES[scheme.hash_name]()
    if prehashed:
        algorithm = utils.Prehashed(algorithm)  # type: ignore[arg-type]
    if scheme.family == "ECDSA":
        assert isinstance(private_key, ec.EllipticCurvePrivateKey)
        return private_key.sign(data, ec.ECDSA(algorithm))
    assert isinstance(private_key, rsa.RSAPrivateKey)
    return private_key.sign(data, _rsa_padding(scheme), algorithm)


def signature_valid(
    public_key: Any, scheme: SignatureScheme, data: bytes, signature: bytes, prehashed: bool
) -> bool:
    try:
        if scheme.family == "ED25519":
            public_key.verify(signature, data)
            return True
        if scheme.family == "MLDSA":
            if prehashed:
                public_key.verify_mu(signature, data)
            else:
                public_key.verify(signature, data)
            return True
    except (InvalidSignature, ValueError):
        return False
    algorithm: hashes.HashAlgorithm | utils.Prehashed = _HASHES[scheme.hash_name]()
    if prehashed:
        algorithm = utils.Prehashed(algorithm)  # type: ignore[arg-type]
    try:
        if scheme.family == "ECDSA":
            assert isinstance(public_key, ec.EllipticCurvePublicKey)
            public_key.verify(signature, data, ec.ECDSA(algorithm))
        else:
            assert isinstance(public_key, rsa.RSAPublicKey)
            public_key.verify(signature, data, _rsa_padding(scheme), algorithm)
    except (InvalidSignature, ValueError):
        return False
    return True


# -- key agreement ----------------------------------------------------------------------------------------


class KeyFormatError(ValueError):
    """Bytes that are not a key of the expected kind (says nothing about the bytes)."""


def load_public_key_der(der: bytes) -> Any:
    """A DER SubjectPublicKeyInfo (RFC 5280) as a ``cryptography`` public key, or ``KeyFormatError``."""
    try:
        return serialization.load_der_public_key(der)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise KeyFormatError("not a DER SubjectPublicKeyInfo") from None


def curve_name(key: Any) -> str | None:
    """The primitives curve name (``P256``...) of an EC key, or None for other keys."""
    if not isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        return None
    for name, (curve_class, _) in _CURVES.items():
        if isinstance(key.curve, curve_class):
            return name
    return None


def ecdh(private_key: ec.EllipticCurvePrivateKey, peer: ec.EllipticCurvePublicKey) -> bytes:
    """The raw ECDH shared secret (NIST SP 800-56A rev. 3, 5.7.1.2, the ECC CDH primitive: the
    x-coordinate of the product; the NIST and SECG curves KMS uses have cofactor 1)."""
    return private_key.exchange(ec.ECDH(), peer)


# -- private key encodings (data key pairs, imported key material) ----------------------------------------


def private_key_pkcs8(private_key: Any) -> bytes:
    """The DER PKCS #8 PrivateKeyInfo (RFC 5958) of a private key, as GenerateDataKeyPair returns it."""
    return private_key.private_bytes(  # type: ignore[no-any-return]
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def load_private_key_pkcs8(der: bytes) -> Any:
    try:
        return serialization.load_der_private_key(der, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise KeyFormatError("not a DER PKCS #8 private key") from None


def generate_key_pair(family: str, size_or_curve: int | str, drbg: Drbg) -> Any:
    """A private key of an RSA modulus size or a curve name (``ED25519`` for Ed25519)."""
    if family == "RSA":
        assert isinstance(size_or_curve, int)
        return generate_rsa(size_or_curve, drbg)
    if family == "ED25519":
        return generate_ed25519(drbg)
    assert isinstance(size_or_curve, str)
    return generate_ec(size_or_curve, drbg)


# -- key wrapping (importing key material) --------------------------------------------------------------


def rsa_aes_key_unwrap(private_key: rsa.RSAPrivateKey, wrapped: bytes, hash_name: str) -> bytes:
    """PKCS #11 CKM_RSA_AES_KEY_WRAP, as KMS's RSA_AES_KEY_WRAP_SHA_* wrapping algorithms use it (KMS
    Developer Guide, "Importing key material", "Select a wrapping algorithm"): an ephemeral AES key
    encrypted with RSA-OAEP, followed by the key material wrapped with that AES key using AES Key
    Wrap with Padding (RFC 5649). ``IntegrityError`` on any failure."""
    from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap_with_padding

    modulus_bytes = (private_key.key_size + 7) // 8
    if len(wrapped) <= modulus_bytes:
        raise IntegrityError()
    aes_key = rsa_oaep_decrypt(private_key, wrapped[:modulus_bytes], hash_name)
    try:
        return aes_key_unwrap_with_padding(aes_key, wrapped[modulus_bytes:])
    except (InvalidUnwrap, ValueError):
        raise IntegrityError() from None


def rsa_aes_key_wrap(public_key: rsa.RSAPublicKey, material: bytes, hash_name: str, drbg: Drbg) -> bytes:
    """The client side of ``rsa_aes_key_unwrap`` (tests and scenarios wrap material with it)."""
    from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding

    aes_key = drbg.random_bytes(32, b"wrap-key")
    return rsa_oaep_encrypt(public_key, aes_key, hash_name) + aes_key_wrap_with_padding(aes_key, material)
