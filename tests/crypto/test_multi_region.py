"""Multi-Region keys: CreateKey(MultiRegion=True), ReplicateKey, UpdatePrimaryRegion, and related keys
decrypting each other's ciphertexts (KMS Developer Guide, "Multi-Region keys in AWS KMS")."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from botocore.exceptions import ClientError

from kmsguard.crypto import LocalKMS

from .conftest import ACCOUNT, error_code

ROLE = f"arn:aws:iam::{ACCOUNT}:role/app"


@pytest.fixture
def primary(kms: LocalKMS) -> tuple[LocalKMS, str]:
    return kms, kms.create_key(MultiRegion=True, Description="orders")["KeyMetadata"]["KeyId"]


def test_multi_region_key_id_and_configuration(primary):
    # source: KMS Developer Guide, "Multi-Region keys in AWS KMS", "Multi-Region key identifiers":
    # the key id begins with "mrk-"; KMS API Reference, "MultiRegionConfiguration".
    kms, key_id = primary
    assert re.fullmatch(r"mrk-[0-9a-f]{32}", key_id)
    metadata = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert metadata["MultiRegion"] is True
    assert metadata["MultiRegionConfiguration"] == {
        "MultiRegionKeyType": "PRIMARY",
        "PrimaryKey": {"Arn": metadata["Arn"], "Region": "us-east-1"},
        "ReplicaKeys": [],
    }


def test_replica_shares_id_and_material_and_decrypts_both_ways(primary):
    # source: KMS API Reference, "ReplicateKey": related keys "have the same key ID, key material ...
    # you can use them interchangeably to encrypt data in one AWS Region and decrypt it in a different
    # AWS Region".
    kms, key_id = primary
    answer = kms.replicate_key(KeyId=key_id, ReplicaRegion="eu-west-1")
    replica_arn = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/{key_id}"
    assert answer["ReplicaKeyMetadata"]["Arn"] == replica_arn
    assert answer["ReplicaKeyMetadata"]["MultiRegionConfiguration"]["MultiRegionKeyType"] == "REPLICA"
    assert answer["ReplicaKeyMetadata"]["KeyState"] == "Enabled"
    europe = kms.in_region("eu-west-1")
    context = {"order": "42"}
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"in the US", EncryptionContext=context)["CiphertextBlob"]
    assert europe.decrypt(CiphertextBlob=blob, EncryptionContext=context)["Plaintext"] == b"in the US"
    decrypted = europe.decrypt(CiphertextBlob=blob, EncryptionContext=context, KeyId=replica_arn)
    assert decrypted["KeyId"] == replica_arn
    back = europe.encrypt(KeyId=key_id, Plaintext=b"in Europe")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=back)["Plaintext"] == b"in Europe"
    # The primary now lists its replica.
    replicas = kms.describe_key(KeyId=key_id)["KeyMetadata"]["MultiRegionConfiguration"]["ReplicaKeys"]
    assert replicas == [{"Arn": replica_arn, "Region": "eu-west-1"}]


def test_single_region_keys_do_not_cross_regions(kms):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"x")["CiphertextBlob"]
    with pytest.raises(ClientError) as excinfo:
        kms.in_region("eu-west-1").decrypt(CiphertextBlob=blob)
    assert error_code(excinfo) == "InvalidCiphertextException"
    with pytest.raises(ClientError) as excinfo:
        kms.replicate_key(KeyId=key_id, ReplicaRegion="eu-west-1")
    assert error_code(excinfo) == "UnsupportedOperationException"


def test_replicate_rules(primary):
    # source: KMS API Reference, "ReplicateKey": one replica per Region (AlreadyExistsException), and
    # only a primary key can be replicated.
    kms, key_id = primary
    kms.replicate_key(KeyId=key_id, ReplicaRegion="eu-west-1")
    with pytest.raises(ClientError) as excinfo:
        kms.replicate_key(KeyId=key_id, ReplicaRegion="eu-west-1")
    assert error_code(excinfo) == "AlreadyExistsException"
    with pytest.raises(ClientError) as excinfo:
        kms.in_region("eu-west-1").replicate_key(KeyId=key_id, ReplicaRegion="ap-south-1")
    assert error_code(excinfo) == "UnsupportedOperationException"


def test_rotation_is_shared_and_done_on_the_primary(primary):
    # source: KMS API Reference, "ReplicateKey": "automatic key rotation status" is a shared property;
    # "EnableKeyRotation": not on a replica key.
    kms, key_id = primary
    kms.replicate_key(KeyId=key_id, ReplicaRegion="eu-west-1")
    europe = kms.in_region("eu-west-1")
    with pytest.raises(ClientError) as excinfo:
        europe.enable_key_rotation(KeyId=key_id)
    assert error_code(excinfo) == "UnsupportedOperationException"
    kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=90)
    assert europe.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is True
    kms.rotate_key_on_demand(KeyId=key_id)
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"after rotation")
    answer = europe.decrypt(CiphertextBlob=blob["CiphertextBlob"])
    assert answer["Plaintext"] == b"after rotation"
    assert answer["KeyMaterialId"] == kms.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"]


def test_replica_has_its_own_key_policy_and_state(primary):
    # source: KMS API Reference, "ReplicateKey": "All other properties of a replica key can differ,
    # including its key policy, tags, aliases, and key state."
    kms, key_id = primary
    deny_role = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                "Action": "kms:*",
                "Resource": "*",
            },
            {"Effect": "Deny", "Principal": {"AWS": ROLE}, "Action": "kms:Decrypt", "Resource": "*"},
        ],
    }
    kms.replicate_key(KeyId=key_id, ReplicaRegion="eu-west-1", Policy=json.dumps(deny_role))
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"x")["CiphertextBlob"]
    allow = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}
    role = kms.as_principal(ROLE, identity_policies=[allow])
    assert role.decrypt(CiphertextBlob=blob)["Plaintext"] == b"x"
    with pytest.raises(ClientError) as excinfo:
        role.in_region("eu-west-1").decrypt(CiphertextBlob=blob)
    assert error_code(excinfo) == "AccessDeniedException"
    kms.in_region("eu-west-1").disable_key(KeyId=key_id)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"


def test_replicate_needs_create_key_in_the_replica_region(primary):
    # source: KMS API Reference, "ReplicateKey", "Required permissions": kms:ReplicateKey on the
    # primary key and kms:CreateKey in an IAM policy in the replica Region.
    kms, key_id = primary
    only_replicate = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "kms:ReplicateKey", "Resource": "*"}],
    }
    with pytest.raises(ClientError) as excinfo:
        kms.as_principal(ROLE, identity_policies=[only_replicate]).replicate_key(
            KeyId=key_id, ReplicaRegion="eu-west-1"
        )
    assert error_code(excinfo) == "AccessDeniedException"
    assert "kms:CreateKey" in excinfo.value.response["Error"]["Message"]


def test_update_primary_region_swaps_roles(primary):
    # source: KMS API Reference, "UpdatePrimaryRegion": the replica in the Region becomes the primary
    # and the former primary a replica; the Region must already have a replica.
    kms, key_id = primary
    with pytest.raises(ClientError) as excinfo:
        kms.update_primary_region(KeyId=key_id, PrimaryRegion="eu-west-1")
    assert error_code(excinfo) == "NotFoundException"
    kms.replicate_key(KeyId=key_id, ReplicaRegion="eu-west-1")
    kms.update_primary_region(KeyId=key_id, PrimaryRegion="eu-west-1")
    europe = kms.in_region("eu-west-1")
    assert europe.describe_key(KeyId=key_id)["KeyMetadata"]["MultiRegionConfiguration"][
        "MultiRegionKeyType"
    ] == ("PRIMARY")
    us = kms.describe_key(KeyId=key_id)["KeyMetadata"]["MultiRegionConfiguration"]
    assert us["MultiRegionKeyType"] == "REPLICA"
    assert us["PrimaryKey"]["Region"] == "eu-west-1"
    with pytest.raises(ClientError) as excinfo:
        kms.rotate_key_on_demand(KeyId=key_id)  # now a replica
    assert error_code(excinfo) == "UnsupportedOperationException"
    europe.rotate_key_on_demand(KeyId=key_id)
    blob = europe.encrypt(KeyId=key_id, Plaintext=b"new primary")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"new primary"


def test_imported_multi_region_replica_starts_without_material(kms):
    # source: KMS API Reference, "ReplicateKey": "If you replicate a multi-Region primary key with
    # imported key material, the replica key is created with no key material."
    key_id = kms.create_key(MultiRegion=True, Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    answer = kms.replicate_key(KeyId=key_id, ReplicaRegion="eu-west-1")
    assert answer["ReplicaKeyMetadata"]["KeyState"] == "PendingImport"


def test_regions_are_separate_for_single_region_things(kms):
    kms.create_key(Description="only in us-east-1")
    assert kms.in_region("eu-west-1").list_keys()["Keys"] == []
    assert LocalKMS().in_region("eu-west-1").region == "eu-west-1"


# -- deleting multi-Region keys -------------------------------------------------------------------------


def test_primary_with_replicas_waits_in_pending_replica_deletion(primary, clock):
    # source: KMS Developer Guide, "Deleting multi-Region keys" ("To delete a primary key, you must
    # first delete all of its replica keys"); KMS API Reference, "ScheduleKeyDeletion": the primary
    # "key state changes to PendingReplicaDeletion and it cannot be replicated or used in
    # cryptographic operations ... When the last of its replicas keys is deleted (not just
    # scheduled), the key state of the primary key changes to PendingDeletion and its waiting period
    # (PendingWindowInDays) begins"; DeletionDate "does not appear" while it has replicas;
    # "KeyMetadata", PendingDeletionWindowInDays: "present only when the KeyState of the KMS key is
    # PendingReplicaDeletion".
    kms, key_id = primary
    kms.replicate_key(KeyId=key_id, ReplicaRegion="eu-west-1")
    europe = kms.in_region("eu-west-1")
    answer = kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    assert answer["KeyState"] == "PendingReplicaDeletion"
    assert answer["PendingWindowInDays"] == 7 and "DeletionDate" not in answer
    metadata = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert (metadata["KeyState"], metadata["PendingDeletionWindowInDays"]) == ("PendingReplicaDeletion", 7)
    assert "DeletionDate" not in metadata
    for call in (
        lambda: kms.encrypt(KeyId=key_id, Plaintext=b"p"),
        lambda: kms.replicate_key(KeyId=key_id, ReplicaRegion="ap-south-1"),
        lambda: kms.schedule_key_deletion(KeyId=key_id),
    ):
        with pytest.raises(ClientError) as excinfo:
            call()
        assert error_code(excinfo) == "KMSInvalidStateException"
    assert europe.encrypt(KeyId=key_id, Plaintext=b"replica still works")["KeyId"].startswith(
        "arn:aws:kms:eu-west-1:"
    )

    clock.advance(60)  # "This status can continue indefinitely": nothing happens while replicas exist
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingReplicaDeletion"
    europe.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=10)
    replica_deleted_at = clock.now + timedelta(days=10)
    clock.advance(10)  # the replica is deleted now: the primary's 7-day waiting period begins
    metadata = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert metadata["KeyState"] == "PendingDeletion"
    assert metadata["DeletionDate"] == replica_deleted_at + timedelta(days=7)
    assert "PendingDeletionWindowInDays" not in metadata
    clock.advance(7)
    with pytest.raises(ClientError) as excinfo:
        kms.describe_key(KeyId=key_id)
    assert error_code(excinfo) == "NotFoundException"


def test_cancelling_pending_replica_deletion_leaves_the_primary_disabled(primary):
    # source: KMS Developer Guide, "Deleting AWS KMS keys", "Canceling key deletion": the key becomes
    # Disabled; "Deleting multi-Region keys": kms:CancelKeyDeletion cancels the scheduled deletion of
    # a multi-Region key.
    kms, key_id = primary
    kms.replicate_key(KeyId=key_id, ReplicaRegion="eu-west-1")
    kms.schedule_key_deletion(KeyId=key_id)
    kms.cancel_key_deletion(KeyId=key_id)
    metadata = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert metadata["KeyState"] == "Disabled"
    assert "PendingDeletionWindowInDays" not in metadata


def test_primary_without_replicas_is_scheduled_like_any_key(primary, clock):
    # source: KMS API Reference, "ScheduleKeyDeletion", PendingWindowInDays: "If the KMS key is a
    # multi-Region primary key with replica keys, the waiting period begins when the last of its
    # replica keys is deleted. Otherwise, the waiting period begins immediately."
    kms, key_id = primary
    answer = kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    assert answer["KeyState"] == "PendingDeletion"
    assert answer["DeletionDate"] == clock.now + timedelta(days=7)
