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
from functools import lru_cache
from typing import NamedTuple

MAGIC = b"KGCT"
VERSION = 1
NONCE_BYTES = 12
TAG_BYTES = 16
_MAX_ARN = 0xFFFF
_MAX_MATERIAL_ID = 0xFF


_MAGIC_AND_VERSION = MAGIC + bytes([VERSION])
_U32 = struct.Struct(">I").pack
_EMPTY_CONTEXT = _U32(0)


class BlobFormatError(ValueError):
    """Not a kmsguard ciphertext blob (or a truncated one). Says nothing about the bytes."""


class CiphertextHeader(NamedTuple):
    """The header fields of a blob (a tuple: built on every decrypt, so cheap to construct)."""

    key_arn: str
    material_id: str
    nonce: bytes

    def encode(self) -> bytes:
        if len(self.nonce) != NONCE_BYTES:
            raise ValueError("header field out of range")
        return header_prefix(self.key_arn, self.material_id) + self.nonce


@lru_cache(maxsize=4096)
def header_prefix(key_arn: str, material_id: str) -> bytes:
    """The header up to the nonce: the same for every ciphertext of one key material version."""
    arn = key_arn.encode("utf-8")
    material = material_id.encode("ascii")
    if len(arn) > _MAX_ARN or len(material) > _MAX_MATERIAL_ID:
        raise ValueError("header field out of range")
    return b"".join(
        (MAGIC, bytes([VERSION]), struct.pack(">H", len(arn)), arn, bytes([len(material)]), material)
    )


# Recent encodings, keyed by the context's pairs in insertion order (callers reuse contexts; the
# encoding costs as much as the AES-GCM of a 4 KB message). Bounded; holds no key material.
_CANONICAL_CACHE: dict[tuple[tuple[str, str], ...], bytes] = {}
_CANONICAL_CACHE_SIZE = 1024


def canonical_context(context: Mapping[str, str] | None) -> bytes:
    """The unambiguous byte encoding of an encryption context (see the module docstring)."""
    global _last_context
    if not context:
        return _EMPTY_CONTEXT
    last = _last_context
    # The same dict object as the previous call, unchanged (compared with a snapshot): skip hashing.
    if last is not None and last[0] is context and last[1] == context:
        return last[2]
    pairs_key = tuple(context.items())
    found = _CANONICAL_CACHE.get(pairs_key)
    if found is None:
        if len(_CANONICAL_CACHE) >= _CANONICAL_CACHE_SIZE:
            _CANONICAL_CACHE.clear()
        found = _CANONICAL_CACHE[pairs_key] = _encode_context(context)
    _last_context = (context, dict(context), found)
    return found


_last_context: tuple[Mapping[str, str], dict[str, str], bytes] | None = None


def _encode_context(context: Mapping[str, str]) -> bytes:
    pairs = sorted((key.encode("utf-8"), value.encode("utf-8")) for key, value in context.items())
    parts = [_U32(len(pairs))]
    for key, value in pairs:  # keys are unique, so sorting the pairs sorts by key bytes
        parts += (_U32(len(key)), key, _U32(len(value)), value)
    return b"".join(parts)


def associated_data(header: bytes, context: Mapping[str, str] | None) -> bytes:
    return header + canonical_context(context)


# The last blob parsed: Decrypt reads a blob's header to find the key, then again to decrypt it.
# Matched by identity (bytes are immutable), so no hashing of the blob; holds one ciphertext, no key
# material or plaintext.
_last_parsed: tuple[bytes, tuple[str, str, int]] | None = None

# Decoded (key ARN, material id) by the header bytes that encode them (everything before the
# nonce): every ciphertext of one key material version has the same ones. Bounded; public data.
_PREFIXES: dict[bytes, tuple[str, str]] = {}
_PREFIXES_SIZE = 1024

_new_header = tuple.__new__  # builds a CiphertextHeader without its Python-level ``__new__``


def parse_blob(blob: bytes) -> tuple[str, str, int]:
    """(key ARN, material id, length of the header): the nonce is ``blob[end - 12 : end]``, the
    sealed part ``blob[end:]``. ``BlobFormatError`` when ``blob`` is not a kmsguard ciphertext."""
    global _last_parsed
    last = _last_parsed
    if last is not None and last[0] is blob:
        return last[1]
    parsed = _parse_blob(blob)
    _last_parsed = (blob, parsed)
    return parsed


def split_blob(blob: bytes) -> tuple[CiphertextHeader, bytes, bytes]:
    """(header, the header's bytes, sealed part), or ``BlobFormatError``."""
    key_arn, material_id, end = parse_blob(blob)
    header = _new_header(CiphertextHeader, (key_arn, material_id, blob[end - NONCE_BYTES : end]))
    return header, blob[:end], blob[end:]


def _parse_blob(blob: bytes) -> tuple[str, str, int]:
    size = len(blob)
    if size < 7 or blob[:5] != _MAGIC_AND_VERSION:
        raise BlobFormatError("not a kmsguard ciphertext")
    arn_end = 7 + ((blob[5] << 8) | blob[6])
    if arn_end + 1 > size:
        raise BlobFormatError("truncated ciphertext")
    material_end = arn_end + 1 + blob[arn_end]
    nonce_end = material_end + NONCE_BYTES
    if nonce_end + TAG_BYTES > size:
        raise BlobFormatError("truncated ciphertext")
    prefix = blob[:material_end]
    names = _PREFIXES.get(prefix)
    if names is None:
        try:
            names = (blob[7:arn_end].decode("utf-8"), blob[arn_end + 1 : material_end].decode("ascii"))
        except UnicodeDecodeError:
            raise BlobFormatError("bad key ARN or material id") from None
        if len(_PREFIXES) >= _PREFIXES_SIZE:
            _PREFIXES.clear()
        _PREFIXES[prefix] = names
    return names[0], names[1], nonce_end
