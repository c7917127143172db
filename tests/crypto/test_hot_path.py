"""What the per-call fast path remembers (issue 6, "Speed") must never change an answer: a context
dict changed after a call, a key rotated after a call, request ids across their counter's carries."""

from __future__ import annotations

import itertools
import re

import pytest
from botocore.exceptions import ClientError, ParamValidationError

from kmsguard.crypto import engine
from kmsguard.crypto.primitives import Drbg

from .conftest import error_code

# RFC 9562 section 5.4: version 4 UUID -- version nibble 4, variant bits 10 (8, 9, a or b).
UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def test_a_context_dict_changed_after_a_call_is_checked_again(kms):
    # botocore's ParamValidator: EncryptionContext is a map of string to string; the fast path
    # remembers the last dict it accepted, so the same dict object changed in place must be checked
    # as if it were new.
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    context = {"tenant": "a"}
    kms.encrypt(KeyId=key_id, Plaintext=b"p", EncryptionContext=context)
    context["tenant"] = 7
    with pytest.raises(ParamValidationError) as excinfo:
        kms.encrypt(KeyId=key_id, Plaintext=b"p", EncryptionContext=context)
    assert "Invalid type for parameter EncryptionContext.tenant" in str(excinfo.value)


def test_a_context_dict_changed_after_a_call_binds_its_new_pairs(kms):
    # source: KMS Developer Guide, "Encryption context": decryption needs the exact context used to
    # encrypt. The same dict object, changed in place, is a different context.
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    context = {"tenant": "a"}
    blob_a = kms.encrypt(KeyId=key_id, Plaintext=b"for a", EncryptionContext=context)["CiphertextBlob"]
    context["tenant"] = "b"
    blob_b = kms.encrypt(KeyId=key_id, Plaintext=b"for b", EncryptionContext=context)["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob_b, EncryptionContext=context)["Plaintext"] == b"for b"
    with pytest.raises(ClientError) as excinfo:
        kms.decrypt(CiphertextBlob=blob_a, EncryptionContext=context)
    assert error_code(excinfo) == "InvalidCiphertextException"
    context["tenant"] = "a"
    assert kms.decrypt(CiphertextBlob=blob_a, EncryptionContext=context)["Plaintext"] == b"for a"


def test_each_material_version_decrypts_its_own_ciphertexts(kms):
    # source: KMS Developer Guide, "Rotating AWS KMS keys": new ciphertexts use the new material and
    # every earlier material still decrypts what it encrypted. The material each Encrypt uses is
    # remembered per key instance; a rotation must be seen by the very next call.
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    blobs = []
    for round_number in range(3):
        if round_number:
            kms.rotate_key_on_demand(KeyId=key_id)
        encrypted = kms.encrypt(KeyId=key_id, Plaintext=f"round {round_number}".encode())
        blobs.append(encrypted["CiphertextBlob"])
    material_ids = [kms.decrypt(CiphertextBlob=b)["KeyMaterialId"] for b in blobs]
    assert len(set(material_ids)) == 3
    assert material_ids[-1] == kms.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"]
    for round_number, ciphertext in enumerate(blobs):
        assert kms.decrypt(CiphertextBlob=ciphertext)["Plaintext"] == f"round {round_number}".encode()


def test_request_ids_stay_unique_uuid4_strings_across_counter_carries():
    # 70 000 consecutive ids cross at least one carry of every counter digit group (256 and 65 536).
    request_ids = engine.RequestIds(Drbg(b"carries"))
    ids = [request_ids.next() for _ in range(70_000)]
    assert len(set(ids)) == len(ids)
    assert all(UUID4.match(i) for i in ids)
    assert len({i[:24] for i in ids}) == 1  # the random part is drawn once
    counters = [int(i[24:], 16) for i in ids]
    assert all(b - a == 1 for a, b in itertools.pairwise(counters))


def test_request_id_counter_wraps_after_48_bits():
    ids = engine._counting_ids("p-", 0xFFFF_FFFF_FEFE)
    values = [next(ids) for _ in range(0x103)]
    assert values[0] == "p-fffffffffefe"
    assert values[0x101] == "p-ffffffffffff"
    assert values[0x102] == "p-000000000000"


def test_seeded_request_ids_are_reproducible():
    first = engine.RequestIds(Drbg(b"seed"))
    second = engine.RequestIds(Drbg(b"seed"))
    assert [first.next() for _ in range(300)] == [second.next() for _ in range(300)]
