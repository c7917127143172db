"""Key material and plaintext never appear in repr, str or error messages."""

from __future__ import annotations

import base64
import pickle

import pytest
from botocore.exceptions import ClientError

from kmsguard.crypto.keys import Secret


def _forms(secret: bytes) -> list[str]:
    return [secret.hex(), secret.hex().upper(), base64.b64encode(secret).decode(), repr(secret)[2:-1]]


def _assert_absent(text: str, secrets: list[bytes]) -> None:
    for secret in secrets:
        for form in _forms(secret):
            assert form not in text


def test_reprs_and_errors_carry_no_material_or_plaintext(kms):
    plaintext = b"TOP-SECRET-PLAINTEXT-0123456789"
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=plaintext, EncryptionContext={"t": "a"})["CiphertextBlob"]
    store = kms._store
    key = store.keys[key_id]
    material = key.current_material.secret.reveal()
    assert isinstance(material, bytes) and len(material) == 32
    secrets = [plaintext, material]

    texts = [
        repr(kms),
        str(kms),
        repr(key),
        str(key),
        repr(key.current_material),
        repr(store),
        repr(store.drbg),
    ]
    failures: list[ClientError] = []
    for attempt in (
        lambda: kms.decrypt(CiphertextBlob=blob, EncryptionContext={"t": "b"}),
        lambda: kms.decrypt(CiphertextBlob=blob[:-3]),
        lambda: kms.decrypt(CiphertextBlob=blob, KeyId=kms.create_key()["KeyMetadata"]["KeyId"]),
        lambda: kms.as_principal("arn:aws:iam::111122223333:role/x").decrypt(CiphertextBlob=blob),
        lambda: kms.decrypt(CiphertextBlob=blob + b"\x00" * 6200),
    ):
        with pytest.raises(ClientError) as excinfo:
            attempt()
        failures.append(excinfo.value)
    texts += [str(f) for f in failures] + [repr(f) for f in failures] + [repr(f.response) for f in failures]
    for text in texts:
        _assert_absent(text, secrets)


def test_secret_refuses_pickling():
    with pytest.raises(TypeError):
        pickle.dumps(Secret(b"k" * 32))
    assert "k" * 8 not in repr(Secret(b"k" * 32))
