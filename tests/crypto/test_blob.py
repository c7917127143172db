"""kmsguard's ciphertext blob and canonical encryption context (format: kmsguard/crypto/blob.py)."""

from __future__ import annotations

import pytest

from kmsguard.crypto import blob


def test_context_encoding_is_unambiguous():
    # The moto bug the issue names: concatenation makes {ab: c} and {a: bc} the same bytes.
    assert blob.canonical_context({"ab": "c"}) != blob.canonical_context({"a": "bc"})
    assert blob.canonical_context({"a": "b", "c": ""}) != blob.canonical_context({"a": "b\x00\x00\x00\x01c"})


def test_context_encoding_ignores_order_and_keeps_case():
    # source: KMS Developer Guide, "Encryption context": the same pairs in any order; an exact,
    # case-sensitive match.
    assert blob.canonical_context({"x": "1", "y": "2"}) == blob.canonical_context({"y": "2", "x": "1"})
    assert blob.canonical_context({"Tenant": "a"}) != blob.canonical_context({"tenant": "a"})
    assert blob.canonical_context(None) == blob.canonical_context({})


def test_header_round_trip():
    header = blob.CiphertextHeader("arn:aws:kms:us-east-1:111122223333:key/k", "ab" * 32, b"\x01" * 12)
    encoded = header.encode()
    parsed, header_bytes, sealed = blob.split_blob(encoded + b"\x00" * 20)
    assert parsed == header
    assert header_bytes == encoded
    assert sealed == b"\x00" * 20
    assert encoded.startswith(b"KGCT\x01")


@pytest.mark.parametrize("data", [b"", b"KGCT", b"AWS\x01" + b"\x00" * 80, b"KGCT\x02" + b"\x00" * 80])
def test_foreign_or_truncated_blobs_are_rejected(data):
    with pytest.raises(blob.BlobFormatError):
        blob.split_blob(data)


def test_truncated_after_header_is_rejected():
    header = blob.CiphertextHeader("arn:aws:kms:us-east-1:111122223333:key/k", "ab", b"\x01" * 12).encode()
    with pytest.raises(blob.BlobFormatError):
        blob.split_blob(header + b"\x00" * 15)  # shorter than a GCM tag


def test_parse_blob_locates_the_header_of_each_blob():
    # Two blobs in a row whose headers differ: the remembered last parse must not answer for the other.
    first = blob.CiphertextHeader("arn:aws:kms:us-east-1:111122223333:key/k1", "aa", b"\x01" * 12).encode()
    second = blob.CiphertextHeader("arn:aws:kms:us-east-1:111122223333:key/k22", "bb", b"\x02" * 12).encode()
    for header, arn, material_id in ((first, "k1", "aa"), (second, "k22", "bb"), (first, "k1", "aa")):
        data = header + b"\x00" * 16
        key_arn, found_material, end = blob.parse_blob(data)
        assert key_arn.endswith(f":key/{arn}") and found_material == material_id
        assert end == len(header)  # 4 + 1 + 2 + len(arn) + 1 + len(material id) + 12
        parsed, header_bytes, sealed = blob.split_blob(data)
        assert (parsed.key_arn, parsed.material_id, header_bytes, sealed) == (
            key_arn,
            material_id,
            header,
            b"\x00" * 16,
        )
        assert parsed.nonce == header[-12:]
