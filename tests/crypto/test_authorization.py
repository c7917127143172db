"""Every LocalKMS call is authorized by the simulator before any cryptography."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from kmsguard.crypto import LocalKMS

from .conftest import ACCOUNT, OTHER_ACCOUNT, error_code, error_message

ROLE = f"arn:aws:iam::{ACCOUNT}:role/app"
PRODUCER = f"arn:aws:iam::{ACCOUNT}:role/producer"
CONSUMER = f"arn:aws:iam::{ACCOUNT}:role/consumer"
OUTSIDER = f"arn:aws:iam::{ACCOUNT}:role/outsider"


def _allow(actions: list[str], resource: str = "*") -> dict:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": actions, "Resource": resource}],
    }


def test_role_without_identity_policy_is_denied_under_the_default_key_policy(kms):
    # source: KMS Developer Guide, "Default key policy": the statement for the account enables IAM
    # policies; a role with none has no permission.
    key = kms.create_key()["KeyMetadata"]
    role = kms.as_principal(ROLE)
    with pytest.raises(ClientError) as excinfo:
        role.encrypt(KeyId=key["KeyId"], Plaintext=b"p")
    assert error_code(excinfo) == "AccessDeniedException"
    assert error_message(excinfo) == (
        f"User: {ROLE} is not authorized to perform: kms:Encrypt on resource: {key['Arn']} "
        "because no identity-based policy allows the kms:Encrypt action"
    )
    allowed = kms.as_principal(ROLE, identity_policies=[_allow(["kms:Encrypt"])])
    assert allowed.encrypt(KeyId=key["KeyId"], Plaintext=b"p")["KeyId"] == key["Arn"]


def test_authorization_comes_before_key_state(kms):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.disable_key(KeyId=key_id)
    with pytest.raises(ClientError) as excinfo:
        kms.as_principal(ROLE).encrypt(KeyId=key_id, Plaintext=b"p")
    assert error_code(excinfo) == "AccessDeniedException"


def test_producer_consumer_scenario_from_the_issue(kms):
    # The key policy lets the producer encrypt and the consumer decrypt only under {tenant: b}
    # (KMS Developer Guide, "kms:EncryptionContext:context-key").
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Admin",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                "Sid": "Produce",
                "Effect": "Allow",
                "Principal": {"AWS": PRODUCER},
                "Action": "kms:Encrypt",
                "Resource": "*",
            },
            {
                "Sid": "Consume",
                "Effect": "Allow",
                "Principal": {"AWS": CONSUMER},
                "Action": "kms:Decrypt",
                "Resource": "*",
                "Condition": {"StringEquals": {"kms:EncryptionContext:tenant": "b"}},
            },
        ],
    }
    key_id = kms.create_key(Policy=json.dumps(policy))["KeyMetadata"]["KeyId"]
    blob = kms.as_principal(PRODUCER).encrypt(
        KeyId=key_id, Plaintext=b"data", EncryptionContext={"tenant": "a"}
    )["CiphertextBlob"]
    consumer = kms.as_principal(CONSUMER)
    # With {tenant: a} the policy does not allow the consumer at all...
    with pytest.raises(ClientError) as excinfo:
        consumer.decrypt(CiphertextBlob=blob, EncryptionContext={"tenant": "a"})
    assert error_code(excinfo) == "AccessDeniedException"
    # ...with {tenant: b} the policy allows, and the bound context makes the decryption fail.
    with pytest.raises(ClientError) as excinfo:
        consumer.decrypt(CiphertextBlob=blob, EncryptionContext={"tenant": "b"})
    assert error_code(excinfo) == "InvalidCiphertextException"
    with pytest.raises(ClientError) as excinfo:
        kms.as_principal(OUTSIDER).decrypt(CiphertextBlob=blob, EncryptionContext={"tenant": "a"})
    assert error_code(excinfo) == "AccessDeniedException"


def test_explicit_deny_message(kms):
    policy = {
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
    key = kms.create_key(Policy=json.dumps(policy))["KeyMetadata"]
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"p")["CiphertextBlob"]
    role = kms.as_principal(ROLE, identity_policies=[_allow(["kms:*"])])
    with pytest.raises(ClientError) as excinfo:
        role.decrypt(CiphertextBlob=blob)
    assert error_message(excinfo).endswith("with an explicit deny in a resource-based policy")


def test_enforce_policies_false_turns_authorization_off(clock):
    kms = LocalKMS(seed=9, clock=clock, enforce_policies=False)
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    assert kms.as_principal(ROLE).encrypt(KeyId=key_id, Plaintext=b"p")["CiphertextBlob"]


def test_dry_run_still_authorizes(kms):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    with pytest.raises(ClientError) as excinfo:
        kms.as_principal(ROLE).encrypt(KeyId=key_id, Plaintext=b"p", DryRun=True)
    assert error_code(excinfo) == "AccessDeniedException"


def test_cross_account_needs_the_key_arn_and_both_policies(kms):
    # source: KMS Developer Guide, "Allowing users in other accounts to use a KMS key": the key
    # policy must allow the other account and its IAM policy must allow the user; KMS API
    # Reference, "Encrypt", KeyId: "To specify a KMS key in a different AWS account, you must use
    # the key ARN or alias ARN".
    other_role = f"arn:aws:iam::{OTHER_ACCOUNT}:role/partner"
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{OTHER_ACCOUNT}:root"},
                "Action": "kms:Encrypt",
                "Resource": "*",
            },
        ],
    }
    key = kms.create_key(Policy=json.dumps(policy))["KeyMetadata"]
    partner = kms.as_principal(other_role, identity_policies=[_allow(["kms:Encrypt"], key["Arn"])])
    assert partner.encrypt(KeyId=key["Arn"], Plaintext=b"p")["KeyId"] == key["Arn"]
    with pytest.raises(kms.exceptions.NotFoundException):
        partner.encrypt(KeyId=key["KeyId"], Plaintext=b"p")
    with pytest.raises(ClientError) as excinfo:
        kms.as_principal(other_role).encrypt(KeyId=key["Arn"], Plaintext=b"p")
    assert error_code(excinfo) == "AccessDeniedException"


def test_put_key_policy_lockout_safety_check(kms):
    # source: KMS API Reference, "PutKeyPolicy", BypassPolicyLockoutSafetyCheck: the new policy must
    # allow the caller to make a subsequent PutKeyPolicy request, unless bypassed.
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    locked = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": ROLE}, "Action": "kms:Decrypt", "Resource": "*"}
        ],
    }
    with pytest.raises(kms.exceptions.MalformedPolicyDocumentException) as excinfo:
        kms.put_key_policy(KeyId=key_id, PolicyName="default", Policy=json.dumps(locked))
    assert (
        error_message(excinfo)
        == "The new key policy will not allow you to update the key policy in the future."
    )
    kms.put_key_policy(
        KeyId=key_id, PolicyName="default", Policy=json.dumps(locked), BypassPolicyLockoutSafetyCheck=True
    )
    for call in (lambda: kms.get_key_policy(KeyId=key_id), lambda: kms.encrypt(KeyId=key_id, Plaintext=b"p")):
        with pytest.raises(ClientError) as excinfo:
            call()  # the account's root user is locked out now
        assert error_code(excinfo) == "AccessDeniedException"


def test_malformed_policy_is_rejected(kms):
    with pytest.raises(kms.exceptions.MalformedPolicyDocumentException):
        kms.create_key(Policy='{"Statement": [{"Effect": "Maybe", "Action": "kms:*", "Resource": "*"}]}')


def test_grant_with_encryption_context_constraint(kms):
    # source: KMS Developer Guide, "Grant constraints": EncryptionContextEquals allows the operation
    # only with exactly that encryption context.
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    blob_a = kms.encrypt(KeyId=key_id, Plaintext=b"a", EncryptionContext={"tenant": "a"})["CiphertextBlob"]
    blob_b = kms.encrypt(KeyId=key_id, Plaintext=b"b", EncryptionContext={"tenant": "b"})["CiphertextBlob"]
    grant = kms.create_grant(
        KeyId=key_id,
        GranteePrincipal=ROLE,
        Operations=["Decrypt"],
        Constraints={"EncryptionContextEquals": {"tenant": "a"}},
    )
    role = kms.as_principal(ROLE)
    assert role.decrypt(CiphertextBlob=blob_a, EncryptionContext={"tenant": "a"})["Plaintext"] == b"a"
    with pytest.raises(ClientError) as excinfo:
        role.decrypt(CiphertextBlob=blob_b, EncryptionContext={"tenant": "b"})
    assert error_code(excinfo) == "AccessDeniedException"
    listed = kms.list_grants(KeyId=key_id)["Grants"]
    assert [g["GrantId"] for g in listed] == [grant["GrantId"]]
    kms.retire_grant(GrantToken=grant["GrantToken"])
    assert kms.list_grants(KeyId=key_id)["Grants"] == []
    with pytest.raises(ClientError) as excinfo:
        role.decrypt(CiphertextBlob=blob_a, EncryptionContext={"tenant": "a"})
    assert error_code(excinfo) == "AccessDeniedException"


def test_revoke_grant(kms):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    grant_id = kms.create_grant(KeyId=key_id, GranteePrincipal=ROLE, Operations=["Encrypt"])["GrantId"]
    assert kms.as_principal(ROLE).encrypt(KeyId=key_id, Plaintext=b"p")
    kms.revoke_grant(KeyId=key_id, GrantId=grant_id)
    with pytest.raises(ClientError):
        kms.as_principal(ROLE).encrypt(KeyId=key_id, Plaintext=b"p")
