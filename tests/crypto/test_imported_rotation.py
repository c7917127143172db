"""Imported key material: new material, re-import, on-demand rotation and deletion by material id.

Sources: KMS API Reference, "ImportKeyMaterial" (ImportType, KeyMaterialId, KeyMaterialDescription),
"RotateKeyOnDemand", "ListKeyRotations" / "RotationsListEntry" and "DeleteImportedKeyMaterial".
The client side (wrapping the material) is done with ``cryptography`` in the helpers imported below.
"""

from __future__ import annotations

import os

import pytest
from botocore.exceptions import ClientError

from kmsguard.crypto import LocalKMS

from .conftest import Clock, error_code
from .test_import_and_agreement import _import


@pytest.fixture
def kms(clock: Clock) -> LocalKMS:
    return LocalKMS(clock=clock)  # unseeded: OpenSSL generates the RSA wrapping keys quickly


def _external_key(kms: LocalKMS, **options) -> tuple[str, bytes, str]:
    key_id = kms.create_key(Origin="EXTERNAL", **options)["KeyMetadata"]["KeyId"]
    first = os.urandom(32)
    first_id = _import(kms, key_id, first)["KeyMaterialId"]
    return key_id, first, first_id


def _rotations(kms: LocalKMS, key_id: str, **options) -> dict[str, dict]:
    return {r["KeyMaterialId"]: r for r in kms.list_key_rotations(KeyId=key_id, **options)["Rotations"]}


def test_new_material_waits_for_rotation_then_becomes_current(kms, clock):
    # source: KMS API Reference, "ImportKeyMaterial": "You can import multiple key materials into
    # symmetric encryption keys and rotate the key material on demand using RotateKeyOnDemand";
    # "RotationsListEntry", KeyMaterialState: "PENDING_ROTATION identifies key material that has been
    # imported for on-demand key rotation but the rotation hasn't completed"; "KMS uses CURRENT key
    # material for both encryption and decryption and NON_CURRENT key material only for decryption".
    key_id, _, first_id = _external_key(kms)
    old_blob = kms.encrypt(KeyId=key_id, Plaintext=b"before")["CiphertextBlob"]
    new_id = _import(
        kms, key_id, os.urandom(32), ImportType="NEW_KEY_MATERIAL", KeyMaterialDescription="2026 material"
    )["KeyMaterialId"]
    assert new_id != first_id
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"] == first_id
    # "ListKeyRotations", IncludeKeyMaterial: ROTATIONS_ONLY (default) lists rotations only;
    # ALL_KEY_MATERIAL adds "the first key material and any imported key material pending rotation".
    assert kms.list_key_rotations(KeyId=key_id)["Rotations"] == []
    listed = _rotations(kms, key_id, IncludeKeyMaterial="ALL_KEY_MATERIAL")
    assert listed[first_id]["KeyMaterialState"] == "CURRENT"
    assert listed[new_id]["KeyMaterialState"] == "PENDING_ROTATION"
    assert listed[new_id]["ImportState"] == "IMPORTED"
    assert listed[new_id]["KeyMaterialDescription"] == "2026 material"
    # "RotationDate ... RotationType: This field is not present for the first key material or an
    # imported key material in PENDING_ROTATION state."
    assert "RotationDate" not in listed[first_id] and "RotationType" not in listed[new_id]
    assert kms.encrypt(KeyId=key_id, Plaintext=b"x")["KeyId"].endswith(key_id)
    assert kms.decrypt(CiphertextBlob=old_blob)["KeyMaterialId"] == first_id

    clock.advance(1)
    kms.rotate_key_on_demand(KeyId=key_id)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"] == new_id
    rotated = _rotations(kms, key_id)
    assert list(rotated) == [new_id]
    assert (rotated[new_id]["RotationType"], rotated[new_id]["RotationDate"]) == ("ON_DEMAND", clock.now)
    assert rotated[new_id]["KeyMaterialState"] == "CURRENT"
    assert _rotations(kms, key_id, IncludeKeyMaterial="ALL_KEY_MATERIAL")[first_id]["KeyMaterialState"] == (
        "NON_CURRENT"
    )
    new_blob = kms.encrypt(KeyId=key_id, Plaintext=b"after")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=new_blob)["KeyMaterialId"] == new_id
    assert kms.decrypt(CiphertextBlob=old_blob)["Plaintext"] == b"before"


def test_import_type_defaults_and_rules(kms):
    # source: KMS API Reference, "ImportKeyMaterial", ImportType: NEW_KEY_MATERIAL is the default
    # until material was imported, EXISTING_KEY_MATERIAL after; KeyMaterialId: "You cannot specify a
    # key material ID with ImportType set to NEW_KEY_MATERIAL"; "IncorrectKeyMaterialException": "it
    # is not the same key material that was previously imported or KMS expected new key material but
    # the key material being imported is already associated with the KMS key".
    key_id, first, first_id = _external_key(kms)
    for material, extra in (
        (os.urandom(32), {}),  # default EXISTING: other material is refused
        (first, {"ImportType": "NEW_KEY_MATERIAL"}),  # already associated
        (first, {"ImportType": "EXISTING_KEY_MATERIAL", "KeyMaterialId": "0" * 64}),  # wrong id
    ):
        with pytest.raises(ClientError) as excinfo:
            _import(kms, key_id, material, **extra)
        assert error_code(excinfo) == "IncorrectKeyMaterialException", extra
    with pytest.raises(ClientError) as excinfo:
        _import(kms, key_id, os.urandom(32), ImportType="NEW_KEY_MATERIAL", KeyMaterialId=first_id)
    assert error_code(excinfo) == "ValidationException"
    again = _import(kms, key_id, first, ImportType="EXISTING_KEY_MATERIAL", KeyMaterialId=first_id)
    assert again["KeyMaterialId"] == first_id  # the id is a function of the key and the material


def test_same_material_in_two_keys_gets_two_ids(kms):
    # source: KMS API Reference, "ImportKeyMaterial", KeyMaterialId: "KMS assigns a unique identifier
    # to the key material based on the KMS key ID and the imported key material".
    material = os.urandom(32)
    ids = set()
    for _ in range(2):
        key_id = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
        ids.add(_import(kms, key_id, material)["KeyMaterialId"])
    assert len(ids) == 2


def test_on_demand_rotation_of_imported_key_needs_pending_material(kms):
    # source: KMS API Reference, "RotateKeyOnDemand": "you must have already imported new key
    # material and that key material's state should be PENDING_ROTATION" (the error code for a key
    # without such material is not documented: kmsguard answers KMSInvalidStateException); on-demand
    # rotation "is supported only on symmetric encryption KMS keys".
    key_id, _, _ = _external_key(kms)
    with pytest.raises(ClientError) as excinfo:
        kms.rotate_key_on_demand(KeyId=key_id)
    assert error_code(excinfo) == "KMSInvalidStateException"
    hmac_key = kms.create_key(Origin="EXTERNAL", KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")
    with pytest.raises(ClientError) as excinfo:
        kms.rotate_key_on_demand(KeyId=hmac_key["KeyMetadata"]["KeyId"])
    assert error_code(excinfo) == "UnsupportedOperationException"


def test_import_type_is_only_for_symmetric_keys(kms):
    # source: KMS API Reference, "ImportKeyMaterial", ImportType / KeyMaterialDescription: "only
    # usable with symmetric encryption keys" (the error code is kmsguard's assumption).
    key_id = kms.create_key(Origin="EXTERNAL", KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")[
        "KeyMetadata"
    ]["KeyId"]
    with pytest.raises(ClientError) as excinfo:
        _import(kms, key_id, os.urandom(32), ImportType="NEW_KEY_MATERIAL")
    assert error_code(excinfo) == "ValidationException"


def test_delete_one_material_by_id_and_reimport_it(kms):
    # source: KMS API Reference, "DeleteImportedKeyMaterial", KeyMaterialId: "Identifies the imported
    # key material you are deleting. If no KeyMaterialId is specified, KMS deletes the current key
    # material"; the key "changes to PendingImport"; "ImportKeyMaterial": "you will need to import
    # all of the key materials associated with the KMS key to change its state to Enabled";
    # "RotationsListEntry", ImportState: IMPORTED or PENDING_IMPORT.
    key_id, first, first_id = _external_key(kms)
    second = os.urandom(32)
    second_id = _import(kms, key_id, second, ImportType="NEW_KEY_MATERIAL")["KeyMaterialId"]
    kms.rotate_key_on_demand(KeyId=key_id)
    old_state = kms.delete_imported_key_material(KeyId=key_id, KeyMaterialId=first_id)
    assert old_state["KeyMaterialId"] == first_id
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingImport"
    listed = _rotations(kms, key_id, IncludeKeyMaterial="ALL_KEY_MATERIAL")
    assert (listed[first_id]["ImportState"], listed[second_id]["ImportState"]) == (
        "PENDING_IMPORT",
        "IMPORTED",
    )
    _import(kms, key_id, first, KeyMaterialId=first_id)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
    # Without KeyMaterialId, the current material (the second one) is deleted.
    assert kms.delete_imported_key_material(KeyId=key_id)["KeyMaterialId"] == second_id
    with pytest.raises(ClientError) as excinfo:
        kms.delete_imported_key_material(KeyId=key_id, KeyMaterialId="f" * 64)
    assert error_code(excinfo) == "NotFoundException"  # kmsguard's assumption: no documented code


def test_multi_region_new_material_goes_through_every_replica_first(kms):
    # source: KMS API Reference, "ImportKeyMaterial": for multi-Region keys, "Call ImportKeyMaterial
    # on the primary Region key with the ImportType set to NEW_KEY_MATERIAL. Call ImportKeyMaterial
    # on the replica Region key with the ImportType set to EXISTING_KEY_MATERIAL using the same key
    # material ... You must do this for every replica Region key before you can perform the
    # RotateKeyOnDemand operation on the primary Region key"; "You cannot directly import new key
    # material into the replica Region keys"; "RotationsListEntry", KeyMaterialState
    # PENDING_MULTI_REGION_IMPORT_AND_ROTATION.
    key_id, first, _ = _external_key(kms, MultiRegion=True)
    kms.replicate_key(KeyId=key_id, ReplicaRegion="eu-west-1")
    europe = kms.in_region("eu-west-1")
    with pytest.raises(ClientError) as excinfo:
        _import(europe, key_id, os.urandom(32))
    assert error_code(excinfo) == "IncorrectKeyMaterialException"
    _import(europe, key_id, first)
    assert europe.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"

    second = os.urandom(32)
    second_id = _import(kms, key_id, second, ImportType="NEW_KEY_MATERIAL")["KeyMaterialId"]
    listed = _rotations(kms, key_id, IncludeKeyMaterial="ALL_KEY_MATERIAL")
    assert listed[second_id]["KeyMaterialState"] == "PENDING_MULTI_REGION_IMPORT_AND_ROTATION"
    with pytest.raises(ClientError) as excinfo:
        kms.rotate_key_on_demand(KeyId=key_id)
    assert error_code(excinfo) == "KMSInvalidStateException"
    _import(europe, key_id, second, ImportType="EXISTING_KEY_MATERIAL")
    assert _rotations(kms, key_id, IncludeKeyMaterial="ALL_KEY_MATERIAL")[second_id]["KeyMaterialState"] == (
        "PENDING_ROTATION"
    )
    kms.rotate_key_on_demand(KeyId=key_id)
    # Related multi-Region keys share the rotation: the replica encrypts with the new material and
    # either Region decrypts the other's ciphertext.
    blob = europe.encrypt(KeyId=key_id, Plaintext=b"from europe")["CiphertextBlob"]
    answer = kms.decrypt(CiphertextBlob=blob)
    assert (answer["Plaintext"], answer["KeyMaterialId"]) == (b"from europe", second_id)


def test_rotation_status_of_imported_key_is_false_and_answered(kms):
    # source: KMS API Reference, "GetKeyRotationStatus": "You cannot enable automatic rotation of ...
    # KMS keys with imported key material" and "You can perform on-demand (RotateKeyOnDemand)
    # rotation ... You can use GetKeyRotationStatus to identify the date and time that an in progress
    # on-demand rotation was initiated" -- so the operation answers for a symmetric key with imported
    # material, with KeyRotationEnabled false (the earlier edition of the page: "The key rotation
    # status for these CMKs is always false"). "EnableKeyRotation" still refuses such keys.
    key_id, _, _ = _external_key(kms)
    status = kms.get_key_rotation_status(KeyId=key_id)
    assert status["KeyRotationEnabled"] is False
    assert status["KeyId"].endswith(f":key/{key_id}")
    assert "RotationPeriodInDays" not in status and "NextRotationDate" not in status
    with pytest.raises(ClientError) as excinfo:
        kms.enable_key_rotation(KeyId=key_id)
    assert error_code(excinfo) == "UnsupportedOperationException"
    _import(kms, key_id, os.urandom(32), ImportType="NEW_KEY_MATERIAL")
    kms.rotate_key_on_demand(KeyId=key_id)
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is False
    # Keys that cannot rotate at all (asymmetric, HMAC) are still refused.
    hmac_key = kms.create_key(Origin="EXTERNAL", KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")
    with pytest.raises(ClientError) as excinfo:
        kms.get_key_rotation_status(KeyId=hmac_key["KeyMetadata"]["KeyId"])
    assert error_code(excinfo) == "UnsupportedOperationException"
