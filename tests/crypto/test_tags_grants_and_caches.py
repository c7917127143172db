"""Tags and descriptions after creation, grant names and grant operations, and the authorization
caches LocalKMS keeps for speed: every change to a key, its policy, its grants or its aliases must
be seen by the very next call."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError, ParamValidationError

from kmsguard.crypto import LocalKMS

from .conftest import ACCOUNT, error_code

ROLE = f"arn:aws:iam::{ACCOUNT}:role/app"
ALLOW_ALL = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}


def _policy(*statements: dict) -> str:
    admin = {
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
        "Action": "kms:*",
        "Resource": "*",
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [admin, *statements]})


# -- tags and description -----------------------------------------------------------------------------


def test_tag_untag_and_list(kms):
    # source: KMS API Reference, "TagResource" (an existing tag key's value is replaced),
    # "UntagResource", "ListResourceTags".
    key_id = kms.create_key(Tags=[{"TagKey": "team", "TagValue": "a"}])["KeyMetadata"]["KeyId"]
    kms.tag_resource(
        KeyId=key_id, Tags=[{"TagKey": "team", "TagValue": "b"}, {"TagKey": "env", "TagValue": "prod"}]
    )
    tags = kms.list_resource_tags(KeyId=key_id)
    assert tags["Tags"] == [{"TagKey": "env", "TagValue": "prod"}, {"TagKey": "team", "TagValue": "b"}]
    assert tags["Truncated"] is False
    kms.untag_resource(KeyId=key_id, TagKeys=["env"])
    assert kms.list_resource_tags(KeyId=key_id)["Tags"] == [{"TagKey": "team", "TagValue": "b"}]


def test_reserved_tag_prefix_is_a_tag_exception(kms):
    # source: KMS API Reference, "TagResource": tag keys beginning with "aws:" are reserved (TagException).
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    with pytest.raises(ClientError) as excinfo:
        kms.tag_resource(KeyId=key_id, Tags=[{"TagKey": "aws:owner", "TagValue": "x"}])
    assert error_code(excinfo) == "TagException"


def test_tags_added_later_are_seen_by_aws_resource_tag_conditions(kms):
    # source: KMS Developer Guide, "ABAC for AWS KMS" (aws:ResourceTag/tag-key is the key's tags at
    # request time): tagging the key changes the next authorization.
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    by_tag = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "kms:Encrypt",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:ResourceTag/team": "payments"}},
            }
        ],
    }
    role = kms.as_principal(ROLE, identity_policies=[by_tag])
    with pytest.raises(ClientError) as excinfo:
        role.encrypt(KeyId=key_id, Plaintext=b"p")
    assert error_code(excinfo) == "AccessDeniedException"
    kms.tag_resource(KeyId=key_id, Tags=[{"TagKey": "team", "TagValue": "payments"}])
    assert role.encrypt(KeyId=key_id, Plaintext=b"p")["KeyId"].endswith(key_id)
    kms.untag_resource(KeyId=key_id, TagKeys=["team"])
    with pytest.raises(ClientError):
        role.encrypt(KeyId=key_id, Plaintext=b"p")


def test_update_key_description(kms):
    # source: KMS API Reference, "UpdateKeyDescription"; "Key states": not on a key pending deletion.
    key_id = kms.create_key(Description="old")["KeyMetadata"]["KeyId"]
    kms.update_key_description(KeyId=key_id, Description="new")
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["Description"] == "new"
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    with pytest.raises(ClientError) as excinfo:
        kms.update_key_description(KeyId=key_id, Description="newer")
    assert error_code(excinfo) == "KMSInvalidStateException"


# -- grants ---------------------------------------------------------------------------------------------


def test_grant_name_makes_create_grant_idempotent(kms):
    # source: KMS API Reference, "CreateGrant", Name: "if the grant already exists, the original
    # GrantId is returned ... the returned grant token is unique with every CreateGrant request ...
    # All grant tokens for the same grant ID can be used interchangeably."
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    request = {"KeyId": key_id, "GranteePrincipal": ROLE, "Operations": ["Encrypt"], "Name": "app"}
    first = kms.create_grant(**request)
    second = kms.create_grant(**request)
    assert first["GrantId"] == second["GrantId"]
    assert first["GrantToken"] != second["GrantToken"]
    assert len(kms.list_grants(KeyId=key_id)["Grants"]) == 1
    # The second token authorizes like the first, and retires the grant.
    grantee = kms.as_principal(ROLE)
    assert grantee.encrypt(KeyId=key_id, Plaintext=b"p", GrantTokens=[second["GrantToken"]])
    kms.retire_grant(GrantToken=second["GrantToken"])
    assert kms.list_grants(KeyId=key_id)["Grants"] == []


def test_same_name_other_parameters_is_another_grant(kms):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    first = kms.create_grant(KeyId=key_id, GranteePrincipal=ROLE, Operations=["Encrypt"], Name="app")
    other = kms.create_grant(KeyId=key_id, GranteePrincipal=ROLE, Operations=["Decrypt"], Name="app")
    unnamed = [
        kms.create_grant(KeyId=key_id, GranteePrincipal=ROLE, Operations=["Encrypt"]) for _ in range(2)
    ]
    ids = {first["GrantId"], other["GrantId"], *(g["GrantId"] for g in unnamed)}
    assert len(ids) == 4


@pytest.mark.parametrize(
    ("create", "operations"),
    [
        ({}, ["Sign"]),
        ({"KeySpec": "RSA_2048", "KeyUsage": "ENCRYPT_DECRYPT"}, ["GenerateDataKey"]),
        ({"KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY"}, ["Decrypt"]),
        ({"KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC"}, ["Encrypt"]),
        ({"KeySpec": "ECC_NIST_P256", "KeyUsage": "KEY_AGREEMENT"}, ["Sign"]),
    ],
)
def test_grant_operations_must_fit_the_key(create, operations):
    # source: KMS API Reference, "CreateGrant", Operations: "you cannot create a grant for a symmetric
    # encryption KMS key that allows the Sign operation, or a grant for an asymmetric KMS key that
    # allows the GenerateDataKey operation. If you try, KMS returns a ValidationError exception";
    # KMS Developer Guide, "Grants in AWS KMS", "Grant operations".
    kms = LocalKMS()
    key_id = kms.create_key(**create)["KeyMetadata"]["KeyId"]
    with pytest.raises(ClientError) as excinfo:
        kms.create_grant(KeyId=key_id, GranteePrincipal=ROLE, Operations=operations)
    assert error_code(excinfo) == "ValidationException"


def test_grant_operations_that_fit_are_accepted():
    kms = LocalKMS()
    agreement = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="KEY_AGREEMENT")["KeyMetadata"]["KeyId"]
    answer = kms.create_grant(
        KeyId=agreement,
        GranteePrincipal=ROLE,
        Operations=["DeriveSharedSecret", "GetPublicKey", "DescribeKey"],
    )
    assert len(answer["GrantId"]) == 64


# -- caches: every change is seen by the next call --------------------------------------------------------


def test_policy_change_is_seen_by_the_next_call(kms):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    role = kms.as_principal(ROLE, identity_policies=[ALLOW_ALL])
    blob = role.encrypt(KeyId=key_id, Plaintext=b"p")["CiphertextBlob"]
    assert role.decrypt(CiphertextBlob=blob)["Plaintext"] == b"p"  # answer remembered
    deny = {"Effect": "Deny", "Principal": {"AWS": ROLE}, "Action": "kms:Decrypt", "Resource": "*"}
    kms.put_key_policy(KeyId=key_id, Policy=_policy(deny))
    with pytest.raises(ClientError) as excinfo:
        role.decrypt(CiphertextBlob=blob)
    assert error_code(excinfo) == "AccessDeniedException"


def test_grant_and_revocation_are_seen_by_the_next_call(kms):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    grantee = kms.as_principal(ROLE)
    with pytest.raises(ClientError):
        grantee.encrypt(KeyId=key_id, Plaintext=b"p")
    grant = kms.create_grant(KeyId=key_id, GranteePrincipal=ROLE, Operations=["Encrypt"])
    assert grantee.encrypt(KeyId=key_id, Plaintext=b"p")
    kms.revoke_grant(KeyId=key_id, GrantId=grant["GrantId"])
    with pytest.raises(ClientError) as excinfo:
        grantee.encrypt(KeyId=key_id, Plaintext=b"p")
    assert error_code(excinfo) == "AccessDeniedException"


def test_alias_change_is_seen_by_resource_alias_conditions(kms):
    # source: KMS Developer Guide, "kms:ResourceAliases": the aliases associated with the key.
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    by_alias = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "kms:Encrypt",
                "Resource": "*",
                "Condition": {"ForAnyValue:StringEquals": {"kms:ResourceAliases": "alias/app"}},
            }
        ],
    }
    role = kms.as_principal(ROLE, identity_policies=[by_alias])
    with pytest.raises(ClientError):
        role.encrypt(KeyId=key_id, Plaintext=b"p")
    kms.create_alias(AliasName="alias/app", TargetKeyId=key_id)
    assert role.encrypt(KeyId=key_id, Plaintext=b"p")


def test_different_encryption_contexts_are_authorized_separately(kms):
    policy = _policy(
        {
            "Effect": "Allow",
            "Principal": {"AWS": ROLE},
            "Action": "kms:Encrypt",
            "Resource": "*",
            "Condition": {"StringEquals": {"kms:EncryptionContext:tenant": "a"}},
        }
    )
    key_id = kms.create_key(Policy=policy)["KeyMetadata"]["KeyId"]
    role = kms.as_principal(ROLE)
    assert role.encrypt(KeyId=key_id, Plaintext=b"p", EncryptionContext={"tenant": "a"})
    with pytest.raises(ClientError) as excinfo:
        role.encrypt(KeyId=key_id, Plaintext=b"p", EncryptionContext={"tenant": "b"})
    assert error_code(excinfo) == "AccessDeniedException"
    assert role.encrypt(KeyId=key_id, Plaintext=b"p", EncryptionContext={"tenant": "a"})


def test_client_side_validation_still_reports_as_botocore(kms):
    # The fast path vouches only for requests botocore would accept; anything else is botocore's.
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    with pytest.raises(ParamValidationError) as excinfo:
        kms.encrypt(KeyId=key_id, Plaintext=b"p", EncryptionContext={"n": 1})
    assert "Invalid type for parameter EncryptionContext.n" in str(excinfo.value)
    with pytest.raises(ParamValidationError) as excinfo:
        kms.encrypt(KeyId=key_id, Plaintext=b"p", Unknown="x")
    assert "Unknown parameter in input" in str(excinfo.value)
    with pytest.raises(ParamValidationError):
        kms.encrypt(Plaintext=b"p")
