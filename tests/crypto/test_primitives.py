"""The primitive layer against published test vectors, and its own small contracts."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from kmsguard.crypto import primitives
from kmsguard.crypto.primitives import Drbg, IntegrityError

# source: McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)" (the NIST-submitted spec),
# Appendix B, Test Cases 13, 14 and 16 (AES-256, 96-bit IV).
GCM_VECTORS = [
    ("00" * 32, "00" * 12, "", "", "", "530f8afbc74536b9a963b4f1c4cb738b"),
    (
        "00" * 32,
        "00" * 12,
        "00" * 16,
        "",
        "cea7403d4d606b6e074ec5d3baf39d18",
        "d0d1c8a799996bf0265b98b5d48ab919",
    ),
    (
        "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
        "cafebabefacedbaddecaf888",
        "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
        "feedfacedeadbeeffeedfacedeadbeefabaddad2",
        "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
        "76fc6ece0f4e1768cddf8853bb2d551b",
    ),
]


@pytest.mark.parametrize(("key", "iv", "plaintext", "aad", "ciphertext", "tag"), GCM_VECTORS)
def test_aes_gcm_matches_published_vectors(key, iv, plaintext, aad, ciphertext, tag):
    sealed = primitives.aes_gcm_seal(
        bytes.fromhex(key), bytes.fromhex(iv), bytes.fromhex(plaintext), bytes.fromhex(aad)
    )
    assert sealed.hex() == ciphertext + tag
    opened = primitives.aes_gcm_open(bytes.fromhex(key), bytes.fromhex(iv), sealed, bytes.fromhex(aad))
    assert opened == bytes.fromhex(plaintext)


def test_aes_gcm_rejects_changed_aad_and_ciphertext():
    key, iv, plaintext, aad, _, _ = GCM_VECTORS[2]
    sealed = primitives.aes_gcm_seal(
        bytes.fromhex(key), bytes.fromhex(iv), bytes.fromhex(plaintext), bytes.fromhex(aad)
    )
    with pytest.raises(IntegrityError):
        primitives.aes_gcm_open(bytes.fromhex(key), bytes.fromhex(iv), sealed, bytes.fromhex(aad) + b"x")
    flipped = bytes([sealed[0] ^ 1]) + sealed[1:]
    with pytest.raises(IntegrityError):
        primitives.aes_gcm_open(bytes.fromhex(key), bytes.fromhex(iv), flipped, bytes.fromhex(aad))


# source: RFC 4231, "Identifiers and Test Vectors for HMAC-SHA-224, HMAC-SHA-256, HMAC-SHA-384, and
# HMAC-SHA-512", section 4.2 (Test Case 1) and 4.3 (Test Case 2).
RFC4231 = [
    (b"\x0b" * 20, b"Hi There", "SHA_224", "896fb1128abbdf196832107cd49df33f47b4b1169912ba4f53684b22"),
    (
        b"\x0b" * 20,
        b"Hi There",
        "SHA_256",
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
    ),
    (
        b"\x0b" * 20,
        b"Hi There",
        "SHA_384",
        "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6",
    ),
    (
        b"\x0b" * 20,
        b"Hi There",
        "SHA_512",
        "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde"
        "daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854",
    ),
    (
        b"Jefe",
        b"what do ya want for nothing?",
        "SHA_256",
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
    ),
    (
        b"Jefe",
        b"what do ya want for nothing?",
        "SHA_512",
        "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
        "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
    ),
]


@pytest.mark.parametrize(("key", "data", "hash_name", "expected"), RFC4231)
def test_hmac_matches_rfc4231(key, data, hash_name, expected):
    assert primitives.hmac_compute(key, hash_name, data).hex() == expected
    assert primitives.hmac_matches(key, hash_name, data, bytes.fromhex(expected))
    assert not primitives.hmac_matches(key, hash_name, data + b"!", bytes.fromhex(expected))


# source: KMS API Reference, "Encrypt": "RSA_2048: RSAES_OAEP_SHA_1: 214 bytes, RSAES_OAEP_SHA_256:
# 190 bytes; RSA_3072: 342 / 318; RSA_4096: 470 / 446".
@pytest.mark.parametrize(
    ("bits", "hash_name", "aws_maximum"),
    [
        (2048, "SHA_1", 214),
        (2048, "SHA_256", 190),
        (3072, "SHA_1", 342),
        (3072, "SHA_256", 318),
        (4096, "SHA_1", 470),
        (4096, "SHA_256", 446),
    ],
)
def test_oaep_maximum_matches_aws_table(bits, hash_name, aws_maximum):
    assert primitives.rsa_oaep_max_plaintext(bits, hash_name) == aws_maximum


@pytest.mark.parametrize("curve", ["P256", "P384", "P521", "SECP256K1"])
def test_curve_orders_are_the_group_orders(curve):
    # (n-1)*G = -G: same x coordinate as G, and n-1 is accepted as a private scalar.
    curve_class = primitives._CURVES[curve][0]
    order = primitives.curve_order(curve)
    generator = ec.derive_private_key(1, curve_class()).public_key().public_numbers()
    minus_generator = ec.derive_private_key(order - 1, curve_class()).public_key().public_numbers()
    assert minus_generator.x == generator.x
    assert minus_generator.y != generator.y


def test_seeded_drbg_is_deterministic_and_unseeded_is_not():
    first, second = Drbg(b"seed"), Drbg(b"seed")
    assert [first.random_bytes(40) for _ in range(3)] == [second.random_bytes(40) for _ in range(3)]
    assert Drbg(b"seed").random_bytes(32) != Drbg(b"other").random_bytes(32)
    assert Drbg(None).random_bytes(32) != Drbg(None).random_bytes(32)
    assert len(Drbg(b"s").random_bytes(9000)) == 9000


def test_miller_rabin_on_known_primes_and_composites():
    stream = Drbg(b"mr")
    for prime in (2, 3, 97, 2**127 - 1, 2**521 - 1):
        assert primitives.is_probable_prime(prime, stream)
    # 561 and 1105 are Carmichael numbers (they fool the Fermat test, not Miller-Rabin).
    for composite in (1, 4, 561, 1105, (2**61 - 1) * (2**89 - 1)):
        assert not primitives.is_probable_prime(composite, stream)


def test_seeded_rsa_keys_are_reproducible_and_work():
    first = primitives.generate_rsa(2048, Drbg(b"rsa-seed"))
    again = primitives.generate_rsa(2048, Drbg(b"rsa-seed"))
    assert first.private_numbers() == again.private_numbers()
    assert first.key_size == 2048
    secret = b"x" * 190
    sealed = primitives.rsa_oaep_encrypt(first.public_key(), secret, "SHA_256")
    assert primitives.rsa_oaep_decrypt(first, sealed, "SHA_256") == secret
    with pytest.raises(IntegrityError):
        primitives.rsa_oaep_decrypt(first, sealed, "SHA_1")
