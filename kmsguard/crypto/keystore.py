"""An optional on-disk keystore: named secrets (key material) sealed under a passphrase.

File layout (integers big-endian), all of it authenticated:

    magic      4 bytes   b"KGKS"
    version    1 byte    1
    log2_n     1 byte    scrypt cost N = 2**log2_n (RFC 7914), r and p below
    r          1 byte
    p          1 byte
    salt       16 bytes  random, per write
    nonce      12 bytes  random, per write
    sealed     rest      AES-256-GCM(payload) || 16-byte tag, associated data = every byte above

The AES key is scrypt(passphrase, salt, N, r, p) (RFC 7914; ``cryptography``'s Scrypt). Because
the header is the associated data and the payload is sealed, changing any byte of the file -- a
cost parameter, the salt, the nonce, the ciphertext or the tag -- makes ``load`` refuse the file. The
payload is canonical JSON: ``{"entries": {name: base64(secret)}}``.

Writes are atomic: a new file is created next to the target with mode 0600 (``O_EXCL``), written,
flushed and fsynced, then renamed over the target with ``os.replace`` and the directory fsynced, so
a crash leaves either the old file or the new one, never a mixture. Nothing here logs, and
``KeystoreError`` messages never contain secrets, passphrases or file bytes.
"""

from __future__ import annotations

import base64
import json
import os
import struct
from collections.abc import Mapping
from pathlib import Path

from kmsguard.crypto.keys import Secret

MAGIC = b"KGKS"
VERSION = 1
SALT_BYTES = 16
NONCE_BYTES = 12
# OWASP Password Storage Cheat Sheet, scrypt: N=2^17, r=8, p=1 (128 MiB). Reading accepts at most
# 2^20 so a forged header cannot make ``load`` allocate without bound before the tag is checked.
DEFAULT_LOG2_N = 17
MAX_LOG2_N = 20
DEFAULT_R = 8
DEFAULT_P = 1
_HEADER = struct.Struct(">4sBBBB16s12s")


class KeystoreError(Exception):
    """A keystore that cannot be read: wrong passphrase, tampering, truncation or a bad format."""


def _derive(passphrase: str | bytes, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    secret = passphrase.encode("utf-8") if isinstance(passphrase, str) else passphrase
    return Scrypt(salt=salt, length=32, n=2**log2_n, r=r, p=p).derive(secret)


def _payload(entries: Mapping[str, bytes | Secret]) -> bytes:
    encoded = {}
    for name, value in entries.items():
        raw = value.reveal() if isinstance(value, Secret) else value
        if not isinstance(raw, bytes):
            raise TypeError(f"keystore entry {name!r} is not bytes")
        encoded[name] = base64.b64encode(raw).decode("ascii")
    return json.dumps({"entries": encoded}, sort_keys=True, separators=(",", ":")).encode("utf-8")


def seal(
    entries: Mapping[str, bytes | Secret],
    passphrase: str | bytes,
    *,
    log2_n: int = DEFAULT_LOG2_N,
    r: int = DEFAULT_R,
    p: int = DEFAULT_P,
) -> bytes:
    """The keystore file's bytes for ``entries`` (name -> secret bytes)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    if not 1 <= log2_n <= MAX_LOG2_N or not 1 <= r <= 255 or not 1 <= p <= 255:
        raise ValueError("scrypt parameters out of range")
    salt, nonce = os.urandom(SALT_BYTES), os.urandom(NONCE_BYTES)
    header = _HEADER.pack(MAGIC, VERSION, log2_n, r, p, salt, nonce)
    key = _derive(passphrase, salt, log2_n, r, p)
    return header + AESGCM(key).encrypt(nonce, _payload(entries), header)


def open_sealed(data: bytes, passphrase: str | bytes) -> dict[str, Secret]:
    """The entries of a keystore file's bytes, each as a ``Secret``; ``KeystoreError`` otherwise."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    if len(data) < _HEADER.size + 16:
        raise KeystoreError("not a kmsguard keystore (too short)")
    magic, version, log2_n, r, p, salt, nonce = _HEADER.unpack_from(data)
    if magic != MAGIC or version != VERSION:
        raise KeystoreError("not a kmsguard keystore (bad magic or version)")
    if not 1 <= log2_n <= MAX_LOG2_N or r == 0 or p == 0:
        raise KeystoreError("keystore header is out of range (tampered?)")
    header = data[: _HEADER.size]
    key = _derive(passphrase, salt, log2_n, r, p)
    try:
        payload = AESGCM(key).decrypt(nonce, data[_HEADER.size :], header)
    except InvalidTag:
        raise KeystoreError("wrong passphrase, or the keystore file was modified") from None
    try:
        entries = json.loads(payload)["entries"]
        return {str(name): Secret(base64.b64decode(value, validate=True)) for name, value in entries.items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        raise KeystoreError("keystore payload is not readable") from None


def save(
    path: str | os.PathLike[str],
    entries: Mapping[str, bytes | Secret],
    passphrase: str | bytes,
    *,
    log2_n: int = DEFAULT_LOG2_N,
) -> None:
    """Write the keystore atomically (see the module docstring), file mode 0600."""
    target = Path(path)
    data = seal(entries, passphrase, log2_n=log2_n)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o600)  # O_CREAT's mode is filtered by the umask; 0600 exactly
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync_directory(target.parent)


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable (POSIX: the directory entry lives in the directory)."""
    try:
        handle = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass  # some filesystems do not fsync directories; the file itself is already synced
    finally:
        os.close(handle)


def load(path: str | os.PathLike[str], passphrase: str | bytes) -> dict[str, Secret]:
    """The entries of the keystore at ``path``; ``KeystoreError`` for a wrong passphrase or any
    modification of the file."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise KeystoreError(f"cannot read keystore: {error.strerror}") from None
    return open_sealed(data, passphrase)
