"""kmsguard's symmetric ciphertext blob, and the canonical encoding of an encryption context.

This is kmsguard's own format (this docstring is its specification), deliberately not
AWS's: a blob from ``LocalKMS`` never decrypts in AWS and the reverse. Layout (integers big-endian):

    magic      4 bytes   b"KGCT"
    version    1 byte    1
    arn_len    2 bytes   length of the key ARN
    key_arn    arn_len   UTF-8
    mid_len    1 byte    length of the material id
    material   mid_len   ASCII hex: which key material version (rotation) encrypted it
    nonce      12 bytes  AES-GCM IV
    sealed     rest      AES-256-GCM ciphertext || 16-byte tag

The GCM associated data is the header (everything before ``sealed``) followed by the canonical
encoding of the encryption context, so changing the key ARN, the material id or any context pair
makes decryption fail.

Canonical encryption context: the pairs sorted by the UTF-8 bytes of their keys, then
``u32 count`` and, for each pair, ``u32 len(key) key u32 len(value) value`` (UTF-8). Every field is
length-prefixed, so ``{"ab": "c"}`` and ``{"a": "bc"}`` encode differently (moto concatenates keys
and values, so these collide there); order of insertion does not matter, case does (KMS Developer
Guide, "Encryption context": "an exact, case-sensitive match").
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass

MAGIC = b"KGCT"
VERSION = 1
NONCE_BYTES = 12
TAG_BYTES = 16
_MAX_ARN = 0xFFFF
_MAX_MATERIAL_ID = 0xFF


class BlobFormatError(ValueError):
    """Not a kmsguard ciphertext blob (or a truncated one). Says nothing about the bytes."""


@dataclass(frozen=True)
class CiphertextHeader:
    key_arn: str
    material_id: str
    nonce: bytes

    def encode(self) -> bytes:
        arn = self.key_arn.encode("utf-8")
        material = self.material_id.encode("ascii")
        if len(arn) > _MAX_ARN or len(material) > _MAX_MATERIAL_ID or len(self.nonce) != NONCE_BYTES:
            raise ValueError("header field out of range")
        return b"".join(
            (
                MAGIC,
                bytes([VERSION]),
                struct.pack(">H", len(arn)),
                arn,
                bytes([len(material)]),
                material,
                self.nonce,
            )
        )


def canonical_context(context: Mapping[str, str] | None) -> bytes:
    """The unambiguous byte encoding of an encryption context (see the module docstring)."""
    pairs = sorted(
        ((key.encode("utf-8"), value.encode("utf-8")) for key, value in (context or {}).items()),
        key=lambda pair: pair[0],
    )
    parts = [struct.pack(">I", len(pairs))]
    for key, value in pairs:
        parts.append(struct.pack(">I", len(key)) + key + struct.pack(">I", len(value)) + value)
    return b"".join(parts)


def associated_data(header: bytes, context: Mapping[str, str] | None) -> bytes:
    return header + canonical_context(context)


def split_blob(blob: bytes) -> tuple[CiphertextHeader, bytes, bytes]:
    """(header, the header's bytes, sealed part), or ``BlobFormatError``."""
    view = memoryview(blob)
    if len(view) < len(MAGIC) + 1 + 2 or bytes(view[:4]) != MAGIC or view[4] != VERSION:
        raise BlobFormatError("not a kmsguard ciphertext")
    at = 5
    (arn_len,) = struct.unpack(">H", view[at : at + 2])
    at += 2
    arn_end = at + arn_len
    if arn_end + 1 > len(view):
        raise BlobFormatError("truncated ciphertext")
    try:
        key_arn = bytes(view[at:arn_end]).decode("utf-8")
    except UnicodeDecodeError:
        raise BlobFormatError("bad key ARN") from None
    material_len = view[arn_end]
    at = arn_end + 1
    material_end = at + material_len
    nonce_end = material_end + NONCE_BYTES
    if nonce_end + TAG_BYTES > len(view):
        raise BlobFormatError("truncated ciphertext")
    try:
        material_id = bytes(view[at:material_end]).decode("ascii")
    except UnicodeDecodeError:
        raise BlobFormatError("bad material id") from None
    header = CiphertextHeader(key_arn, material_id, bytes(view[material_end:nonce_end]))
    return header, bytes(view[:nonce_end]), bytes(view[nonce_end:])
