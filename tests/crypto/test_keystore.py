"""The on-disk keystore: scrypt-derived key, AES-256-GCM over the whole file, mode 0600, atomic
writes, and refusal of any modified file."""

from __future__ import annotations

import os
import stat

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from kmsguard.crypto import keystore
from kmsguard.crypto.keys import Secret

FAST = 10  # scrypt N = 2^10 keeps the tests fast; the default is OWASP's 2^17
ENTRIES = {"key-1": b"\x01" * 32, "key-2": b"\x02" * 48}


def test_round_trip_returns_secrets(tmp_path):
    path = tmp_path / "keys.kgks"
    keystore.save(path, {**ENTRIES, "wrapped": Secret(b"\x03" * 16)}, "correct horse", log2_n=FAST)
    loaded = keystore.load(path, "correct horse")
    assert {name: secret.reveal() for name, secret in loaded.items()} == {**ENTRIES, "wrapped": b"\x03" * 16}
    assert "\\x01" not in repr(loaded) and "<redacted>" in repr(loaded)


def test_file_mode_is_0600_and_no_temporary_file_is_left(tmp_path):
    path = tmp_path / "keys.kgks"
    old_umask = os.umask(0)  # even with a permissive umask
    try:
        keystore.save(path, ENTRIES, "pw", log2_n=FAST)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keys.kgks"]


def test_save_replaces_an_existing_file_atomically(tmp_path):
    path = tmp_path / "keys.kgks"
    keystore.save(path, {"a": b"old"}, "pw", log2_n=FAST)
    keystore.save(path, {"a": b"new"}, "pw", log2_n=FAST)
    assert keystore.load(path, "pw")["a"].reveal() == b"new"


def test_file_is_independently_decryptable_with_the_documented_layout(tmp_path):
    # The layout in the module docstring, checked with cryptography directly: scrypt (RFC 7914) over
    # the passphrase and salt, AES-256-GCM with the 34-byte header as associated data.
    path = tmp_path / "keys.kgks"
    keystore.save(path, {"a": b"secret"}, "pw", log2_n=FAST)
    data = path.read_bytes()
    assert data[:4] == b"KGKS" and data[4] == 1 and data[5] == FAST
    salt, nonce = data[8:24], data[24:36]
    key = Scrypt(salt=salt, length=32, n=2**FAST, r=data[6], p=data[7]).derive(b"pw")
    payload = AESGCM(key).decrypt(nonce, data[36:], data[:36])
    assert payload == b'{"entries":{"a":"c2VjcmV0"}}'  # base64("secret")


def test_wrong_passphrase_is_refused(tmp_path):
    path = tmp_path / "keys.kgks"
    keystore.save(path, ENTRIES, "right", log2_n=FAST)
    with pytest.raises(keystore.KeystoreError) as excinfo:
        keystore.load(path, "wrong")
    assert "right" not in str(excinfo.value) and "wrong passphrase" in str(excinfo.value)


@pytest.mark.parametrize("offset", [0, 4, 5, 6, 7, 8, 23, 24, 35, 36, -17, -1])
def test_any_modified_byte_is_refused(tmp_path, offset):
    # Header bytes (magic, version, scrypt parameters, salt, nonce), ciphertext and tag are all
    # authenticated: flipping one bit anywhere makes the file unreadable.
    path = tmp_path / "keys.kgks"
    keystore.save(path, ENTRIES, "pw", log2_n=FAST)
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(keystore.KeystoreError):
        keystore.load(path, "pw")


def test_truncated_and_missing_files_are_refused(tmp_path):
    path = tmp_path / "keys.kgks"
    keystore.save(path, ENTRIES, "pw", log2_n=FAST)
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(keystore.KeystoreError):
        keystore.load(path, "pw")
    with pytest.raises(keystore.KeystoreError):
        keystore.load(tmp_path / "absent", "pw")


def test_forged_cost_parameter_is_refused_before_deriving(tmp_path):
    path = tmp_path / "keys.kgks"
    keystore.save(path, ENTRIES, "pw", log2_n=FAST)
    data = bytearray(path.read_bytes())
    data[5] = 40  # N = 2^40 would exhaust memory
    path.write_bytes(bytes(data))
    with pytest.raises(keystore.KeystoreError, match="out of range"):
        keystore.load(path, "pw")


def test_each_save_uses_a_fresh_salt_and_nonce(tmp_path):
    first = keystore.seal(ENTRIES, "pw", log2_n=FAST)
    second = keystore.seal(ENTRIES, "pw", log2_n=FAST)
    assert first[8:36] != second[8:36]
