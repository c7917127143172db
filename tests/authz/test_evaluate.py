"""The decision engine (kmsguard.authz.evaluate): key policy, IAM, cross-account, principal types,
boundaries, session policies, SCPs, RCPs, two authorizations, key policy validation, symbolic values.

Every expected decision cites the AWS documentation it comes from; where the docs are silent the
comment says "assumption" and names what the engine does."""

from __future__ import annotations

from typing import Any

import pytest

from kmsguard.authz.evaluate import (
    decide,
    decide_pair,
    decide_reencrypt,
    parse_caller,
    validate_key_policy,
)
from kmsguard.authz.types import AuthzInputs, Caller, Outcome, Request
from kmsguard.load.policy_builder import build_policy
from kmsguard.model import Condition, Policy, PolicyKind, Principal, PrincipalType, Statement
from kmsguard.model.values import ResourceRef, Template, Unknown

A = "111122223333"  # the key's account
B = "444455556666"  # another account
KEY = f"arn:aws:kms:us-east-1:{A}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
KEY_B = f"arn:aws:kms:us-east-1:{B}:key/0987dcba-09fe-87dc-65ba-ab0987654321"
ROOT_A = f"arn:aws:iam::{A}:root"
APP_ROLE = f"arn:aws:iam::{A}:role/app"
APP_SESSION = f"arn:aws:sts::{A}:assumed-role/app/worker-1"
BOB = f"arn:aws:iam::{A}:user/bob"
B_ROLE = f"arn:aws:iam::{B}:role/partner"
B_SESSION = f"arn:aws:sts::{B}:assumed-role/partner/s"


def policy(kind: PolicyKind, *statements: dict[str, Any]) -> Policy:
    built, problems = build_policy(
        {"Version": "2012-10-17", "Statement": list(statements)}, kind, resource="test"
    )
    assert not problems, problems
    assert isinstance(built, Policy)
    return built


def key_policy(*statements: dict[str, Any]) -> Policy:
    return policy(PolicyKind.KEY, *statements)


def identity(*statements: dict[str, Any]) -> Policy:
    return policy(PolicyKind.IDENTITY, *statements)


def allow(principal: Any, action: Any = "kms:*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Principal": principal, "Action": action, "Resource": "*", **extra}


def deny(principal: Any, action: Any = "kms:*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Principal": principal, "Action": action, "Resource": "*", **extra}


def iam_allow(action: Any = "kms:*", resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


# source: KMS Developer Guide, "Default key policy", "Allows access to the AWS account and enables
# IAM policies".
DEFAULT = key_policy(allow({"AWS": ROOT_A}))
IAM_DECRYPT = identity(iam_allow("kms:Decrypt", KEY))


def ask(
    inputs: AuthzInputs,
    caller: str | Caller,
    action: str = "kms:Decrypt",
    *,
    resource: str = KEY,
    account: str = A,
    context: dict[str, Any] | None = None,
) -> str:
    who = caller if isinstance(caller, Caller) else parse_caller(caller)
    return decide(inputs, Request(action, who, resource, account, context or {})).label


# --- The key policy is required; the account principal delegates to IAM -------------------------


def test_default_policy_and_iam_allow() -> None:
    # source: KMS Developer Guide, "Default key policy": the statement for the account "allows IAM
    # policies ... to allow access to the KMS key".
    assert ask(AuthzInputs(DEFAULT, (IAM_DECRYPT,)), APP_SESSION) == "Allow"


def test_default_policy_without_iam_policy_denies() -> None:
    # source: KMS Developer Guide, "Default key policy": the account statement "does not give any
    # principal permission"; IAM policies must allow.
    assert ask(AuthzInputs(DEFAULT), APP_SESSION) == "ImplicitDeny"


def test_iam_allow_without_key_policy_allow_denies() -> None:
    # source: KMS Developer Guide, "KMS key access and permissions": "To use an IAM policy to allow
    # access to a KMS key, the key policy must explicitly allow it."
    only_admins = key_policy(allow({"AWS": f"arn:aws:iam::{A}:role/admin"}))
    assert ask(AuthzInputs(only_admins, (IAM_DECRYPT,)), APP_SESSION) == "ImplicitDeny"


def test_iam_allow_counts_only_for_actions_the_account_statement_covers() -> None:
    # source: KMS Developer Guide, "Key policies in AWS KMS": IAM policies are effective only as far
    # as the key policy statement for the account allows them.
    describe_only = key_policy(allow({"AWS": ROOT_A}, "kms:DescribeKey"))
    assert ask(AuthzInputs(describe_only, (IAM_DECRYPT,)), APP_SESSION) == "ImplicitDeny"


def test_account_written_as_bare_id_is_the_account_principal() -> None:
    # source: IAM User Guide, "AWS JSON policy elements: Principal", "AWS account principals": an
    # account id is the same principal as arn:aws:iam::id:root.
    bare = key_policy(allow({"AWS": A}))
    assert ask(AuthzInputs(bare, (IAM_DECRYPT,)), APP_SESSION) == "Allow"
    assert ask(AuthzInputs(bare), APP_SESSION) == "ImplicitDeny"


def test_key_policy_naming_the_role_allows_without_iam() -> None:
    # source: KMS Developer Guide, "Key policies in AWS KMS": a key policy alone can give access to
    # principals of the key's account; IAM User Guide, "Principal", "IAM role principals": a role
    # ARN applies to its sessions.
    assert ask(AuthzInputs(key_policy(allow({"AWS": APP_ROLE}))), APP_SESSION) == "Allow"


def test_key_policy_naming_the_session_allows() -> None:
    # source: IAM User Guide, "Principal", "Role session principals".
    assert ask(AuthzInputs(key_policy(allow({"AWS": APP_SESSION}))), APP_SESSION) == "Allow"
    other_session = f"arn:aws:sts::{A}:assumed-role/app/other"
    assert ask(AuthzInputs(key_policy(allow({"AWS": other_session}))), APP_SESSION) == "ImplicitDeny"


def test_key_policy_naming_the_user_allows() -> None:
    # source: IAM User Guide, "Principal", "IAM user principals".
    assert ask(AuthzInputs(key_policy(allow({"AWS": BOB}))), BOB) == "Allow"
    assert ask(AuthzInputs(key_policy(allow({"AWS": BOB}))), f"arn:aws:iam::{A}:user/alice") == "ImplicitDeny"


def test_root_user_allowed_by_the_account_statement() -> None:
    # source: KMS Developer Guide, "Default key policy": the account statement gives the root user
    # access; the root user needs no IAM policy ("How AWS enforcement code logic evaluates
    # requests": the root user has full access unless denied).
    assert ask(AuthzInputs(DEFAULT), ROOT_A, "kms:PutKeyPolicy") == "Allow"


def test_root_user_not_allowed_without_an_account_statement() -> None:
    # source: KMS Developer Guide, "Default key policy": "Unlike other AWS resource policies, a KMS
    # key policy does not automatically give permission to the account or any of its identities."
    assert ask(AuthzInputs(key_policy(allow({"AWS": APP_ROLE}))), ROOT_A) == "ImplicitDeny"


def test_no_key_policy_statement_at_all() -> None:
    # source: KMS Developer Guide, "KMS key access and permissions": no principal has permission to a
    # KMS key unless it is provided explicitly.
    empty = key_policy(deny({"AWS": B_ROLE}))
    assert ask(AuthzInputs(empty, (IAM_DECRYPT,)), APP_SESSION) == "ImplicitDeny"


# --- Principal "*" -----------------------------------------------------------------------------------


def test_wildcard_principal_allows_same_account_without_iam() -> None:
    # source: IAM User Guide, "Principal", "All principals"; issue 3: Principal "*" allows every
    # principal of the key's account without IAM.
    assert ask(AuthzInputs(key_policy(allow("*", "kms:Decrypt"))), APP_SESSION) == "Allow"


def test_wildcard_principal_cross_account_needs_iam_in_caller_account() -> None:
    # source: IAM User Guide, "Cross-account policy evaluation logic": the resource-based policy and
    # the identity-based policy in the requester's account must both allow.
    wild = key_policy(allow("*", "kms:Decrypt"))
    assert ask(AuthzInputs(wild), B_SESSION) == "ImplicitDeny"
    assert ask(AuthzInputs(wild, (IAM_DECRYPT,)), B_SESSION) == "Allow"


# --- Explicit deny wins ------------------------------------------------------------------------


def test_key_policy_deny_overrides_allow() -> None:
    # source: IAM User Guide, "The difference between explicit and implicit denies": "the Deny
    # statement trumps the Allow statement".
    kp = key_policy(allow({"AWS": APP_ROLE}), deny({"AWS": APP_ROLE}, "kms:Decrypt"))
    assert ask(AuthzInputs(kp), APP_SESSION) == "ExplicitDeny"
    assert ask(AuthzInputs(kp), APP_SESSION, "kms:Encrypt") == "Allow"


def test_identity_policy_deny_overrides_key_policy_allow() -> None:
    # source: IAM User Guide, "How AWS enforcement code logic evaluates requests": an explicit deny
    # in any policy -- identity-based policies included -- is final.
    denied = identity({"Effect": "Deny", "Action": "kms:Decrypt", "Resource": "*"})
    assert ask(AuthzInputs(key_policy(allow({"AWS": APP_ROLE})), (denied,)), APP_SESSION) == "ExplicitDeny"


# --- Action and Resource matching --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action_pattern", "action", "expected"),
    [
        ("KMS:decrypt", "kms:Decrypt", "Allow"),  # action names are case-insensitive
        ("kms:Gen*", "kms:GenerateDataKey", "Allow"),
        ("kms:Gen*", "kms:Decrypt", "ImplicitDeny"),
        ("kms:Describe?ey", "kms:DescribeKey", "Allow"),
        ("kms:Describe?ey", "kms:Decrypt", "ImplicitDeny"),
        ("*", "kms:Sign", "Allow"),
    ],
)
def test_action_matching(action_pattern: str, action: str, expected: str) -> None:
    # source: IAM User Guide, "IAM JSON policy elements: Action": action names are case-insensitive
    # and may use * and ? wildcards.
    assert (
        ask(AuthzInputs(key_policy(allow({"AWS": APP_ROLE}, action_pattern))), APP_SESSION, action)
        == expected
    )


def test_not_action() -> None:
    # source: IAM User Guide, "IAM JSON policy elements: NotAction": the statement applies to every
    # action except those listed.
    kp = key_policy(
        {"Effect": "Allow", "Principal": {"AWS": APP_ROLE}, "NotAction": "kms:Decrypt", "Resource": "*"}
    )
    assert ask(AuthzInputs(kp), APP_SESSION, "kms:Decrypt") == "ImplicitDeny"
    assert ask(AuthzInputs(kp), APP_SESSION, "kms:Encrypt") == "Allow"


def test_statement_without_action_covers_nothing() -> None:
    # source: IAM User Guide, "Grammar of the IAM JSON policy language": a statement needs Action or
    # NotAction (the policy builder reports it); a malformed statement must not grant anything.
    kp = Policy(
        PolicyKind.KEY,
        (
            Statement(
                sid=None, effect="Allow", principals=(Principal(PrincipalType.AWS, "*"),), resources=("*",)
            ),
        ),
    )
    assert ask(AuthzInputs(kp), APP_SESSION) == "ImplicitDeny"


def test_identity_policy_resource_must_match_the_key() -> None:
    # source: IAM User Guide, "IAM JSON policy elements: Resource".
    other = identity(iam_allow("kms:Decrypt", KEY_B))
    assert ask(AuthzInputs(DEFAULT, (other,)), APP_SESSION) == "ImplicitDeny"


def test_resource_wildcards_per_arn_segment() -> None:
    # source: IAM User Guide, "IAM JSON policy elements: Resource": wildcards within ARN segments.
    any_key_of_a = identity(iam_allow("kms:Decrypt", f"arn:aws:kms:*:{A}:key/*"))
    assert ask(AuthzInputs(DEFAULT, (any_key_of_a,)), APP_SESSION) == "Allow"
    keys_of_b = identity(iam_allow("kms:Decrypt", f"arn:aws:kms:*:{B}:key/*"))
    assert ask(AuthzInputs(DEFAULT, (keys_of_b,)), APP_SESSION) == "ImplicitDeny"


def test_not_resource() -> None:
    # source: IAM User Guide, "IAM JSON policy elements: NotResource".
    all_but_key = identity({"Effect": "Allow", "Action": "kms:Decrypt", "NotResource": KEY})
    assert ask(AuthzInputs(DEFAULT, (all_but_key,)), APP_SESSION) == "ImplicitDeny"
    all_but_b = identity({"Effect": "Allow", "Action": "kms:Decrypt", "NotResource": KEY_B})
    assert ask(AuthzInputs(DEFAULT, (all_but_b,)), APP_SESSION) == "Allow"


def test_key_policy_resource_star_means_this_key() -> None:
    # source: KMS Developer Guide, "Key policies in AWS KMS": in a key policy "*" means "this KMS
    # key"; a specific key ARN of another key does not match.
    other_key = key_policy(
        {"Effect": "Allow", "Principal": {"AWS": APP_ROLE}, "Action": "kms:*", "Resource": KEY_B}
    )
    assert ask(AuthzInputs(other_key), APP_SESSION) == "ImplicitDeny"


# --- Cross-account -----------------------------------------------------------------------------------


def test_cross_account_needs_key_policy_and_identity_policy() -> None:
    # source: KMS Developer Guide, "Allowing users in other accounts to use a KMS key": the key
    # policy must allow the external account (or its principals) and IAM policies in the external
    # account must delegate the permission.
    kp = key_policy(allow({"AWS": f"arn:aws:iam::{B}:root"}, "kms:Decrypt"))
    assert ask(AuthzInputs(kp), B_SESSION) == "ImplicitDeny"
    assert ask(AuthzInputs(kp, (IAM_DECRYPT,)), B_SESSION) == "Allow"


def test_cross_account_role_named_in_key_policy_still_needs_iam() -> None:
    # source: IAM User Guide, "Cross-account policy evaluation logic": both sides must allow, even
    # when the resource policy names the role.
    kp = key_policy(allow({"AWS": B_ROLE}, "kms:Decrypt"))
    assert ask(AuthzInputs(kp), B_SESSION) == "ImplicitDeny"
    assert ask(AuthzInputs(kp, (IAM_DECRYPT,)), B_SESSION) == "Allow"


def test_cross_account_key_policy_for_own_account_only() -> None:
    # source: KMS Developer Guide, "Allowing users in other accounts to use a KMS key".
    assert ask(AuthzInputs(DEFAULT, (IAM_DECRYPT,)), B_SESSION) == "ImplicitDeny"


@pytest.mark.parametrize("action", ["kms:ScheduleKeyDeletion", "kms:PutKeyPolicy", "kms:DisableKey"])
def test_non_cross_account_operations_fail_even_with_kms_star(action: str) -> None:
    # source: KMS API Reference, ScheduleKeyDeletion / PutKeyPolicy / DisableKey: "Cross-account use:
    # No. You cannot perform this operation on a KMS key in a different AWS account."; KMS Developer
    # Guide, "Allowing users in other accounts to use a KMS key": cross-account permissions are
    # effective only for the listed operations -- the allows do not count (an implicit deny).
    kp = key_policy(allow({"AWS": f"arn:aws:iam::{B}:root"}), allow({"AWS": ROOT_A}))
    iam = identity(iam_allow())
    assert ask(AuthzInputs(kp, (iam,)), B_SESSION, action) == "ImplicitDeny"
    # The same request from the key's own account is allowed, so the operation is what blocks it.
    assert ask(AuthzInputs(kp, (iam,)), f"arn:aws:sts::{A}:assumed-role/x/s", action) == "Allow"


def test_explicit_deny_still_shows_for_non_cross_account_operations() -> None:
    # source: IAM User Guide, "The difference between explicit and implicit denies".
    kp = key_policy(allow({"AWS": f"arn:aws:iam::{B}:root"}), deny("*", "kms:PutKeyPolicy"))
    assert ask(AuthzInputs(kp, (identity(iam_allow()),)), B_SESSION, "kms:PutKeyPolicy") == "ExplicitDeny"


def test_key_id_from_another_account_is_not_found() -> None:
    # source: KMS API Reference, "Decrypt", KeyId: "To specify a KMS key in a different AWS account,
    # you must use the key ARN or alias ARN"; a key id resolves in the caller's account
    # (NotFoundException, hashicorp/terraform-provider-aws#30272).
    kp = key_policy(allow({"AWS": f"arn:aws:iam::{B}:root"}))
    label = ask(AuthzInputs(kp, (IAM_DECRYPT,)), B_SESSION, resource="1234abcd-12ab-34cd-56ef-1234567890ab")
    assert label == "Error:NotFoundException"


def test_cross_account_root_user_needs_no_iam_policy() -> None:
    # source: IAM User Guide, "How AWS enforcement code logic evaluates requests": the root user has
    # full access in its own account, so only the key policy side remains.
    kp = key_policy(allow({"AWS": f"arn:aws:iam::{B}:root"}, "kms:Decrypt"))
    assert ask(AuthzInputs(kp), f"arn:aws:iam::{B}:root") == "Allow"


def test_unknown_kms_operation_is_an_error() -> None:
    # source: KMS API Reference, "Common Errors": UnknownOperationException.
    assert ask(AuthzInputs(DEFAULT), ROOT_A, "kms:MakeCoffee") == "Error:UnknownOperationException"


# --- Principal types ------------------------------------------------------------------------------------


def test_service_principal_needs_a_service_statement() -> None:
    # source: KMS Developer Guide, "Key policies in AWS KMS" and IAM User Guide, "Principal", "AWS
    # service principals": a service acting on its own behalf is allowed by the key policy alone; the
    # account principal does not name it.
    logs = "logs.us-east-1.amazonaws.com"
    service_stmt = key_policy(allow({"Service": logs}, ["kms:Encrypt*", "kms:GenerateDataKey*"]))
    assert ask(AuthzInputs(service_stmt), logs, "kms:GenerateDataKey") == "Allow"
    assert ask(AuthzInputs(DEFAULT, (identity(iam_allow()),)), logs, "kms:GenerateDataKey") == "ImplicitDeny"
    assert ask(AuthzInputs(service_stmt), "s3.amazonaws.com", "kms:GenerateDataKey") == "ImplicitDeny"


def test_service_principal_with_source_account_condition() -> None:
    # source: IAM User Guide, "AWS global condition context keys", aws:SourceAccount: sent when a
    # service principal acts on behalf of a resource.
    logs = "logs.us-east-1.amazonaws.com"
    kp = key_policy(
        allow({"Service": logs}, "kms:Encrypt", Condition={"StringEquals": {"aws:SourceAccount": A}})
    )
    assert ask(AuthzInputs(kp), logs, "kms:Encrypt", context={"aws:SourceAccount": A}) == "Allow"
    assert ask(AuthzInputs(kp), logs, "kms:Encrypt", context={"aws:SourceAccount": B}) == "ImplicitDeny"
    assert ask(AuthzInputs(kp), logs, "kms:Encrypt") == "ImplicitDeny"


def test_anonymous_kms_request_is_rejected_before_any_policy() -> None:
    # source: KMS API Reference, "Common Errors", MissingAuthenticationToken; IAM User Guide, "Signing
    # AWS API requests": every KMS request must be signed, so even Principal "*" does not admit an
    # anonymous caller.
    assert (
        ask(AuthzInputs(key_policy(allow("*", "kms:Decrypt"))), "anonymous")
        == "Error:MissingAuthenticationToken"
    )


def test_anonymous_caller_matches_only_wildcard_outside_kms() -> None:
    # source: IAM User Guide, "Principal", "All principals": "*" includes anonymous users; nothing
    # else names them and they have no IAM policies (a generic, non-KMS action is evaluated).
    s3 = policy(PolicyKind.KEY, allow("*", "s3:GetObject"))
    named = policy(PolicyKind.KEY, allow({"AWS": ROOT_A}, "s3:GetObject"))
    obj = "arn:aws:s3:::bucket/key"
    assert ask(AuthzInputs(s3), "anonymous", "s3:GetObject", resource=obj) == "Allow"
    assert ask(
        AuthzInputs(named, (identity(iam_allow("s3:*")),)), "anonymous", "s3:GetObject", resource=obj
    ) == ("ImplicitDeny")


def test_federated_user_named_directly() -> None:
    # source: IAM User Guide, "Principal", "AWS STS federated user principals".
    fed = f"arn:aws:sts::{A}:federated-user/carol"
    assert ask(AuthzInputs(key_policy(allow({"AWS": fed}))), fed) == "Allow"


def test_federated_principal_type_does_not_name_kms_callers() -> None:
    # source: IAM User Guide, "Principal", "Federated web identity principals": the Federated type
    # is for role trust policies; the KMS caller is the resulting role session.
    kp = key_policy(allow({"Federated": "cognito-identity.amazonaws.com"}))
    assert ask(AuthzInputs(kp), APP_SESSION) == "ImplicitDeny"


# --- Permissions boundaries and session policies -------------------------------------------------------

BOUNDARY_S3_ONLY = policy(PolicyKind.BOUNDARY, {"Effect": "Allow", "Action": "s3:*", "Resource": "*"})
BOUNDARY_KMS = policy(PolicyKind.BOUNDARY, {"Effect": "Allow", "Action": "kms:*", "Resource": "*"})
SESSION_S3_ONLY = policy(PolicyKind.SESSION, {"Effect": "Allow", "Action": "s3:*", "Resource": "*"})


def test_boundary_does_not_limit_key_policy_naming_the_user() -> None:
    # source: IAM User Guide, "Permissions boundaries for IAM entities", "Evaluating effective
    # permissions with boundaries": within the same account, resource-based policies that grant
    # permissions to an IAM user ARN are not limited by an implicit deny in a permissions boundary.
    inputs = AuthzInputs(key_policy(allow({"AWS": BOB})), permission_boundary=BOUNDARY_S3_ONLY)
    assert ask(inputs, BOB) == "Allow"


def test_boundary_limits_key_policy_naming_the_role() -> None:
    # source: IAM User Guide, "Permissions boundaries for IAM entities": resource-based policies that
    # grant permissions to an IAM role ARN are limited by an implicit deny in a permissions boundary.
    inputs = AuthzInputs(key_policy(allow({"AWS": APP_ROLE})), permission_boundary=BOUNDARY_S3_ONLY)
    assert ask(inputs, APP_SESSION) == "ImplicitDeny"
    within = AuthzInputs(key_policy(allow({"AWS": APP_ROLE})), permission_boundary=BOUNDARY_KMS)
    assert ask(within, APP_SESSION) == "Allow"


def test_boundary_does_not_limit_key_policy_naming_the_session() -> None:
    # source: IAM User Guide, "Policy evaluation logic": resource-based policies that grant
    # permissions to a role session ARN grant them directly to the session; they are not limited by
    # an implicit deny in a permissions boundary or session policy.
    inputs = AuthzInputs(key_policy(allow({"AWS": APP_SESSION})), permission_boundary=BOUNDARY_S3_ONLY)
    assert ask(inputs, APP_SESSION) == "Allow"


def test_boundary_limits_the_iam_path() -> None:
    # source: IAM User Guide, "Permissions boundaries for IAM entities": the entity can perform only
    # the actions allowed by both its identity-based policies and its permissions boundary.
    inputs = AuthzInputs(DEFAULT, (IAM_DECRYPT,), permission_boundary=BOUNDARY_S3_ONLY)
    assert ask(inputs, APP_SESSION) == "ImplicitDeny"
    assert ask(AuthzInputs(DEFAULT, (IAM_DECRYPT,), permission_boundary=BOUNDARY_KMS), APP_SESSION) == "Allow"


def test_boundary_explicit_deny_wins_over_direct_grant() -> None:
    # source: IAM User Guide, "How AWS enforcement code logic evaluates requests": permissions
    # boundaries are among the policies searched for an explicit deny.
    boundary = policy(
        PolicyKind.BOUNDARY,
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Effect": "Deny", "Action": "kms:Decrypt", "Resource": "*"},
    )
    inputs = AuthzInputs(key_policy(allow({"AWS": APP_SESSION})), permission_boundary=boundary)
    assert ask(inputs, APP_SESSION) == "ExplicitDeny"


def test_not_principal_deny_always_denies_principals_with_a_boundary() -> None:
    # source: IAM User Guide, "Permissions boundaries for IAM entities": "The NotPrincipal element with
    # a Deny effect will always deny any IAM principal that has a permissions boundary policy
    # attached, regardless of the values specified in the NotPrincipal element."
    kp = key_policy(
        allow({"AWS": BOB}),
        {"Effect": "Deny", "NotPrincipal": {"AWS": [BOB, ROOT_A]}, "Action": "kms:*", "Resource": "*"},
    )
    assert ask(AuthzInputs(kp), BOB) == "Allow"
    assert ask(AuthzInputs(kp, permission_boundary=BOUNDARY_KMS), BOB) == "ExplicitDeny"


def test_session_policy_limits_role_arn_but_not_session_arn() -> None:
    # source: IAM User Guide, "Session policies": a resource-based policy that specifies the session
    # ARN grants permissions "in addition to the permissions that are granted by the session
    # policies"; one that specifies the role ARN is limited by the session policy ("Policy evaluation
    # logic", IAM roles).
    by_role = AuthzInputs(key_policy(allow({"AWS": APP_ROLE})), session_policy=SESSION_S3_ONLY)
    assert ask(by_role, APP_SESSION) == "ImplicitDeny"
    by_session = AuthzInputs(key_policy(allow({"AWS": APP_SESSION})), session_policy=SESSION_S3_ONLY)
    assert ask(by_session, APP_SESSION) == "Allow"


def test_session_policy_limits_the_iam_path() -> None:
    # source: IAM User Guide, "Session policies": the session's permissions are the intersection of
    # the identity-based policies and the session policies.
    inputs = AuthzInputs(DEFAULT, (IAM_DECRYPT,), session_policy=SESSION_S3_ONLY)
    assert ask(inputs, APP_SESSION) == "ImplicitDeny"


def test_boundary_limits_cross_account_access() -> None:
    # source: IAM User Guide, "Cross-account policy evaluation logic": the identity side is evaluated
    # with its boundary as in a single account.
    kp = key_policy(allow({"AWS": B_SESSION}, "kms:Decrypt"))
    assert (
        ask(AuthzInputs(kp, (IAM_DECRYPT,), permission_boundary=BOUNDARY_S3_ONLY), B_SESSION)
        == "ImplicitDeny"
    )


# --- SCPs and RCPs ----------------------------------------------------------------------------------------

FULL_ACCESS = policy(PolicyKind.SCP, {"Effect": "Allow", "Action": "*", "Resource": "*"})
S3_ONLY = policy(PolicyKind.SCP, {"Effect": "Allow", "Action": "s3:*", "Resource": "*"})
DENY_DECRYPT = policy(PolicyKind.SCP, {"Effect": "Deny", "Action": "kms:Decrypt", "Resource": "*"})
RCP_FULL = policy(PolicyKind.RCP, {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"})
RCP_ORG_ONLY = policy(
    PolicyKind.RCP,
    {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "kms:*",
        "Resource": "*",
        "Condition": {
            "StringNotEqualsIfExists": {"aws:PrincipalOrgID": "o-abc"},
            "Bool": {"aws:PrincipalIsAWSService": "false"},
        },
    },
)


def test_every_scp_level_must_allow() -> None:
    # source: AWS Organizations User Guide, "SCP evaluation": a permission must be allowed at every
    # level from the root to the account.
    direct = key_policy(allow({"AWS": APP_ROLE}))
    assert ask(AuthzInputs(direct, scps=((FULL_ACCESS,), (FULL_ACCESS,))), APP_SESSION) == "Allow"
    assert ask(AuthzInputs(direct, scps=((FULL_ACCESS,), (S3_ONLY,))), APP_SESSION) == "ImplicitDeny"


def test_scp_deny() -> None:
    # source: AWS Organizations User Guide, "SCP evaluation": an explicit Deny in an SCP applies.
    direct = key_policy(allow({"AWS": APP_ROLE}))
    assert ask(AuthzInputs(direct, scps=((FULL_ACCESS, DENY_DECRYPT),)), APP_SESSION) == "ExplicitDeny"


def test_scp_applies_to_member_account_root_user() -> None:
    # source: AWS Organizations User Guide, "Service control policies (SCPs)": SCPs affect the root
    # user of member accounts.
    assert ask(AuthzInputs(DEFAULT, scps=((S3_ONLY,),)), ROOT_A) == "ImplicitDeny"


def test_scp_does_not_apply_to_service_linked_roles() -> None:
    # source: AWS Organizations User Guide, "Service control policies (SCPs)": "SCPs don't affect
    # service-linked roles."
    slr = parse_caller(
        f"arn:aws:sts::{A}:assumed-role/AWSServiceRoleForX/s",
        role_arn=f"arn:aws:iam::{A}:role/aws-service-role/x.amazonaws.com/AWSServiceRoleForX",
    )
    kp = key_policy(allow({"AWS": slr.arn}))
    assert ask(AuthzInputs(kp, scps=((S3_ONLY,),)), slr) == "Allow"


def test_scp_does_not_apply_to_service_principals() -> None:
    # source: AWS Organizations User Guide, "SCPs": SCPs limit IAM users and roles of member
    # accounts; a service principal is neither.
    svc = "cloudtrail.amazonaws.com"
    kp = key_policy(allow({"Service": svc}, "kms:GenerateDataKey*"))
    assert ask(AuthzInputs(kp, scps=((S3_ONLY,),)), svc, "kms:GenerateDataKey") == "Allow"


def test_rcp_denies_principals_outside_the_organisation() -> None:
    # source: KMS Developer Guide, "Resource control policies in AWS KMS" (the RCPEnforceIdentity-
    # Perimeter example).
    kp = key_policy(allow({"AWS": f"arn:aws:iam::{B}:root"}, "kms:Decrypt"))
    inputs = AuthzInputs(kp, (IAM_DECRYPT,), rcps=((RCP_FULL, RCP_ORG_ONLY),))
    outsider = parse_caller(B_SESSION, org_id="o-other")
    insider = parse_caller(B_SESSION, org_id="o-abc")
    assert ask(inputs, outsider) == "ExplicitDeny"
    assert ask(inputs, insider) == "Allow"


def test_rcp_level_without_allow_denies() -> None:
    # source: AWS Organizations User Guide, "RCP evaluation": as for SCPs, every level must allow
    # (in AWS the managed RCPFullAWSAccess does so at every level; AuthzInputs lists it).
    inputs = AuthzInputs(key_policy(allow({"AWS": APP_ROLE})), rcps=((RCP_FULL,), ()))
    assert ask(inputs, APP_SESSION) == "ImplicitDeny"
    assert ask(
        AuthzInputs(key_policy(allow({"AWS": APP_ROLE})), rcps=((RCP_FULL,), (RCP_FULL,))), APP_SESSION
    ) == ("Allow")


def test_rcp_applies_to_service_principals() -> None:
    # source: KMS Developer Guide, "Resource control policies in AWS KMS": the second example RCP limits
    # AWS service principals to requests from the organization (aws:SourceAccount / aws:SourceOrgID).
    svc = "logs.us-east-1.amazonaws.com"
    rcp = policy(
        PolicyKind.RCP,
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": "kms:*",
            "Resource": "*",
            "Condition": {
                "StringNotEqualsIfExists": {"aws:SourceOrgID": "o-abc"},
                "Bool": {"aws:PrincipalIsAWSService": "true"},
            },
        },
    )
    inputs = AuthzInputs(key_policy(allow({"Service": svc}, "kms:Encrypt")), rcps=((RCP_FULL, rcp),))
    assert ask(inputs, svc, "kms:Encrypt", context={"aws:SourceOrgID": "o-abc"}) == "Allow"
    assert ask(inputs, svc, "kms:Encrypt", context={"aws:SourceOrgID": "o-other"}) == "ExplicitDeny"


def test_rcp_does_not_apply_to_aws_managed_keys() -> None:
    # source: KMS Developer Guide, "Resource control policies in AWS KMS": "Resource control policies
    # in your organization do not apply to AWS managed keys."
    kp = key_policy(allow({"AWS": f"arn:aws:iam::{B}:root"}, "kms:Decrypt"))
    outsider = parse_caller(B_SESSION, org_id="o-other")
    inputs = AuthzInputs(kp, (IAM_DECRYPT,), rcps=((RCP_FULL, RCP_ORG_ONLY),), key_manager="AWS")
    assert ask(inputs, outsider) == "Allow"


def test_scps_do_not_limit_the_key_owner_for_cross_account_callers() -> None:
    # source: AWS Organizations User Guide, "SCPs": SCPs apply to principals of the accounts they are
    # attached to -- the inputs carry the caller's SCPs; the key's account limits through RCPs.
    kp = key_policy(allow({"AWS": f"arn:aws:iam::{B}:root"}, "kms:Decrypt"))
    assert ask(AuthzInputs(kp, (IAM_DECRYPT,), scps=((FULL_ACCESS,),)), B_SESSION) == "Allow"


# --- Conditions in decisions ----------------------------------------------------------------------------


def test_via_service_condition() -> None:
    # source: KMS Developer Guide, "kms:ViaService": allows use only in requests made by the named
    # service on the principal's behalf; a request without the key does not match StringEquals.
    kp = key_policy(
        allow(
            {"AWS": APP_ROLE},
            "kms:Decrypt",
            Condition={"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}},
        )
    )
    assert ask(AuthzInputs(kp), APP_SESSION) == "ImplicitDeny"
    assert (
        ask(AuthzInputs(kp), APP_SESSION, context={"kms:ViaService": "s3.us-east-1.amazonaws.com"}) == "Allow"
    )


def test_caller_account_condition() -> None:
    # source: KMS Developer Guide, "kms:CallerAccount": the account of the caller.
    kp = key_policy(allow("*", "kms:Decrypt", Condition={"StringEquals": {"kms:CallerAccount": A}}))
    assert ask(AuthzInputs(kp), APP_SESSION) == "Allow"
    assert ask(AuthzInputs(kp, (IAM_DECRYPT,)), B_SESSION) == "ImplicitDeny"


def test_encryption_context_condition_key_name_case_insensitive() -> None:
    # source: KMS Developer Guide, "kms:EncryptionContext:context-key": the condition key name is not
    # case sensitive; the value is.
    kp = key_policy(
        allow(
            {"AWS": APP_ROLE},
            "kms:Decrypt",
            Condition={"StringEquals": {"kms:EncryptionContext:Tenant": "a"}},
        )
    )
    assert ask(AuthzInputs(kp), APP_SESSION, context={"kms:EncryptionContext:tenant": "a"}) == "Allow"
    assert ask(AuthzInputs(kp), APP_SESSION, context={"kms:EncryptionContext:tenant": "A"}) == "ImplicitDeny"


def test_policy_variable_in_condition_follows_each_caller() -> None:
    # source: IAM User Guide, "IAM policy elements: Variables and tags": ${aws:PrincipalTag/team} is
    # replaced by the caller's tag. The same policy object, request context and action, asked for two
    # callers with different tags, must give each its own answer (results are memoised per policy).
    kp = key_policy(
        allow(
            {"AWS": APP_ROLE},
            "kms:Decrypt",
            Condition={"StringEquals": {"kms:EncryptionContext:tenant": "${aws:PrincipalTag/team}"}},
        )
    )
    blue = parse_caller(APP_SESSION, tags={"team": "blue"})
    red = parse_caller(APP_SESSION, tags={"team": "red"})
    context = {"kms:EncryptionContext:tenant": "blue"}
    for _ in range(2):  # the second round is answered from the memo
        assert ask(AuthzInputs(kp), blue, context=context) == "Allow"
        assert ask(AuthzInputs(kp), red, context=context) == "ImplicitDeny"


def test_repeated_requests_keep_their_own_context() -> None:
    # source: KMS Developer Guide, "kms:ViaService". One policy, one caller object, the context
    # changing between requests: memoised results must follow the context.
    kp = key_policy(
        allow(
            {"AWS": APP_ROLE},
            "kms:Decrypt",
            Condition={"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}},
        )
    )
    caller = parse_caller(APP_SESSION)
    for via, expected in [
        ("s3.us-east-1.amazonaws.com", "Allow"),
        ("ec2.us-east-1.amazonaws.com", "ImplicitDeny"),
    ] * 2:
        assert ask(AuthzInputs(kp), caller, context={"kms:ViaService": via}) == expected


def test_deny_with_negated_condition_on_missing_key() -> None:
    # source: IAM User Guide, "Condition operators": negated operators match when the key is absent,
    # so a Deny with StringNotEquals on a missing aws:PrincipalOrgID applies.
    kp = key_policy(
        allow({"AWS": APP_ROLE}),
        deny("*", Condition={"StringNotEquals": {"aws:PrincipalOrgID": "o-abc"}}),
    )
    assert ask(AuthzInputs(kp), APP_SESSION) == "ExplicitDeny"
    assert ask(AuthzInputs(kp), parse_caller(APP_SESSION, org_id="o-abc")) == "Allow"


# --- Trace ----------------------------------------------------------------------------------------------


def test_trace_has_one_entry_per_statement_and_the_rule() -> None:
    # source: issue 3, point 2 (the reason): every statement considered and the deciding rule.
    kp = key_policy(
        {**allow({"AWS": APP_ROLE}, "kms:Encrypt"), "Sid": "EncryptOnly"},
        {**allow({"AWS": ROOT_A}), "Sid": "Root"},
    )
    decision = decide(
        AuthzInputs(kp, (IAM_DECRYPT,)), Request("kms:Decrypt", parse_caller(APP_SESSION), KEY, A)
    )
    sources = [(t.source, t.statement, t.matched) for t in decision.trace]
    assert sources[:3] == [
        ("key policy", "EncryptOnly", False),
        ("key policy", "Root", True),
        ("identity policy #1", "#1", True),
    ]
    assert decision.trace[-1].source == "rule"
    assert "delegates to IAM" in decision.trace[-1].reason


def test_trace_names_the_failing_condition() -> None:
    # source: issue 3, point 2: "which condition failed and on what value".
    kp = key_policy(
        allow({"AWS": APP_ROLE}, "kms:Decrypt", Condition={"StringEquals": {"kms:CallerAccount": B}})
    )
    decision = decide(AuthzInputs(kp), Request("kms:Decrypt", parse_caller(APP_SESSION), KEY, A))
    failed = next(t for t in decision.trace if t.source == "key policy")
    assert not failed.matched
    assert "kms:CallerAccount" in failed.reason and A in failed.reason


# --- Symbolic (IaC) values -----------------------------------------------------------------------------


def _stmt(
    effect: Any, principals: Any, actions: Any = ("kms:*",), conditions: Any = (), index: int = 0
) -> Statement:
    return Statement(
        sid=None,
        effect=effect,
        principals=principals,
        actions=actions,
        resources=("*",),
        conditions=conditions,
        index=index,
    )


def test_unknown_principal_is_unresolved() -> None:
    # source: DESIGN.md, "What correct means": a value that cannot be known is never guessed.
    unknown = Unknown("var.key_users")
    kp = Policy(PolicyKind.KEY, (_stmt("Allow", (Principal(PrincipalType.AWS, unknown),)),))
    decision = decide(AuthzInputs(kp), Request("kms:Decrypt", parse_caller(APP_SESSION), KEY, A))
    assert decision.outcome is Outcome.UNRESOLVED
    assert "var.key_users" in " ".join(decision.depends_on)


def test_definite_explicit_deny_wins_over_unknowns() -> None:
    # source: IAM User Guide, "The difference between explicit and implicit denies": whatever the
    # unknown statement says, the explicit deny decides.
    kp = Policy(
        PolicyKind.KEY,
        (
            _stmt("Allow", (Principal(PrincipalType.AWS, Unknown("var.users")),)),
            _stmt("Deny", (Principal(PrincipalType.AWS, "*"),), ("kms:Decrypt",), index=1),
        ),
    )
    decision = decide(AuthzInputs(kp), Request("kms:Decrypt", parse_caller(APP_SESSION), KEY, A))
    assert decision.outcome is Outcome.EXPLICIT_DENY


def test_template_principal_that_cannot_name_the_caller() -> None:
    # source: IAM User Guide, "Principal": a principal ARN names one account; a template whose literal
    # account differs cannot name the caller whatever its unknown parts are.
    other = Template(("arn:", Unknown("AWS::Partition"), f":iam::{B}:root"))
    kp = Policy(PolicyKind.KEY, (_stmt("Allow", (Principal(PrincipalType.AWS, other),)),))
    decision = decide(
        AuthzInputs(kp, (IAM_DECRYPT,)), Request("kms:Decrypt", parse_caller(APP_SESSION), KEY, A)
    )
    assert decision.outcome is Outcome.IMPLICIT_DENY


def test_unknown_condition_value_is_unresolved() -> None:
    # source: DESIGN.md, "never guessed"; IAM User Guide, "Condition": the outcome depends on the value.
    cond = (Condition("StringEquals", "aws:PrincipalOrgID", Unknown("var.org_id")),)
    kp = Policy(PolicyKind.KEY, (_stmt("Allow", (Principal(PrincipalType.AWS, APP_ROLE),), conditions=cond),))
    decision = decide(
        AuthzInputs(kp), Request("kms:Decrypt", parse_caller(APP_SESSION, org_id="o-1"), KEY, A)
    )
    assert decision.outcome is Outcome.UNRESOLVED
    assert decision.depends_on


def test_identity_policy_resource_reference_is_unresolved() -> None:
    # source: DESIGN.md, "never guessed": an identity policy whose Resource is another resource's ARN
    # (aws_kms_key.other.arn) may or may not be this key.
    ref = ResourceRef("aws_kms_key.other", "arn")
    ident = Policy(
        PolicyKind.IDENTITY,
        (Statement(sid=None, effect="Allow", actions=("kms:Decrypt",), resources=(ref,), index=0),),
    )
    decision = decide(
        AuthzInputs(DEFAULT, (ident,)), Request("kms:Decrypt", parse_caller(APP_SESSION), KEY, A)
    )
    assert decision.outcome is Outcome.UNRESOLVED
    assert any("aws_kms_key.other" in d for d in decision.depends_on)


def test_unknown_that_cannot_change_the_outcome_is_not_reported() -> None:
    # source: IAM User Guide, "Policy evaluation logic": without a key policy allow nothing is allowed,
    # whatever an unknown identity-policy resource is.
    ident = Policy(
        PolicyKind.IDENTITY,
        (
            Statement(
                sid=None,
                effect="Allow",
                actions=("kms:Decrypt",),
                resources=(ResourceRef("aws_kms_key.other", "arn"),),
                index=0,
            ),
        ),
    )
    only_admin = key_policy(allow({"AWS": f"arn:aws:iam::{A}:role/admin"}))
    decision = decide(
        AuthzInputs(only_admin, (ident,)), Request("kms:Decrypt", parse_caller(APP_SESSION), KEY, A)
    )
    assert decision.outcome is Outcome.IMPLICIT_DENY
    assert decision.depends_on == ()


def test_unknown_key_policy_is_unresolved() -> None:
    # source: KMS Developer Guide, "Key policies in AWS KMS": every key has a key policy; when it is
    # not known, the decision is not known either.
    decision = decide(
        AuthzInputs(None, (IAM_DECRYPT,)), Request("kms:Decrypt", parse_caller(APP_SESSION), KEY, A)
    )
    assert decision.outcome is Outcome.UNRESOLVED


# --- Two authorizations ----------------------------------------------------------------------------------


def test_reencrypt_needs_both_keys() -> None:
    # source: KMS API Reference, "ReEncrypt", Required permissions: kms:ReEncryptFrom on the source
    # key and kms:ReEncryptTo on the destination key.
    source = AuthzInputs(key_policy(allow({"AWS": APP_ROLE}, "kms:ReEncryptFrom")))
    dest_ok = AuthzInputs(key_policy(allow({"AWS": APP_ROLE}, "kms:ReEncrypt*")))
    dest_no = AuthzInputs(key_policy(allow({"AWS": APP_ROLE}, "kms:ReEncryptFrom")))
    request = Request("kms:ReEncrypt", parse_caller(APP_SESSION), KEY, A)
    other_key = f"arn:aws:kms:us-east-1:{A}:key/other"
    assert decide_reencrypt(source, dest_ok, request, other_key, A).label == "Allow"
    assert decide_reencrypt(source, dest_no, request, other_key, A).label == "ImplicitDeny"


def test_alias_operation_needs_alias_and_key() -> None:
    # source: KMS Developer Guide, "Controlling access to aliases": CreateAlias needs kms:CreateAlias
    # on the alias (IAM policy) and on the key (key policy).
    alias = f"arn:aws:kms:us-east-1:{A}:alias/app"
    caller = parse_caller(APP_SESSION)
    on_key = (
        AuthzInputs(DEFAULT, (identity(iam_allow("kms:CreateAlias", KEY)),)),
        Request("kms:CreateAlias", caller, KEY, A),
    )
    no_alias = (
        AuthzInputs(DEFAULT, (identity(iam_allow("kms:CreateAlias", KEY)),)),
        Request("kms:CreateAlias", caller, alias, A),
    )
    both = (
        AuthzInputs(DEFAULT, (identity(iam_allow("kms:CreateAlias")),)),
        Request("kms:CreateAlias", caller, alias, A),
    )
    assert decide_pair(on_key, no_alias).label == "ImplicitDeny"
    assert decide_pair(both, on_key).label == "Allow"


def test_create_key_is_authorized_by_iam_alone() -> None:
    # source: KMS API Reference, "CreateKey", Required permissions: "kms:CreateKey (IAM policy)" --
    # there is no key policy yet.
    iam = identity(iam_allow("kms:CreateKey"))
    assert ask(AuthzInputs(None, (iam,)), APP_SESSION, "kms:CreateKey") == "Allow"
    assert ask(AuthzInputs(None), APP_SESSION, "kms:CreateKey") == "ImplicitDeny"
    assert ask(
        AuthzInputs(None, (iam,), permission_boundary=BOUNDARY_S3_ONLY), APP_SESSION, "kms:CreateKey"
    ) == ("ImplicitDeny")


def test_alias_resource_ignores_the_key_policy() -> None:
    # source: KMS Developer Guide, "Controlling access to aliases": permission on the alias is given
    # in an IAM policy; aliases have no resource-based policy.
    alias = f"arn:aws:kms:us-east-1:{A}:alias/app"
    assert ask(
        AuthzInputs(key_policy(allow({"AWS": APP_ROLE}))), APP_SESSION, "kms:CreateAlias", resource=alias
    ) == ("ImplicitDeny")


# --- Key policy validation -------------------------------------------------------------------------------


def test_lockout_check_rejects_policy_without_put_key_policy_for_caller() -> None:
    # source: KMS API Reference, "PutKeyPolicy", BypassPolicyLockoutSafetyCheck: the policy must allow
    # the principal making the request to make a subsequent PutKeyPolicy request.
    locked = key_policy(allow({"AWS": APP_ROLE}, "kms:Decrypt"))
    decision = validate_key_policy(locked, parse_caller(APP_SESSION))
    assert decision is not None and decision.label == "Error:MalformedPolicyDocumentException"
    assert validate_key_policy(locked, parse_caller(APP_SESSION), bypass_lockout_check=True) is None


def test_lockout_check_accepts_default_policy() -> None:
    # source: KMS Developer Guide, "Default key policy": the account statement keeps the key
    # manageable through IAM (assumption: KMS counts it for the lockout check).
    assert validate_key_policy(DEFAULT, parse_caller(APP_SESSION)) is None
    assert validate_key_policy(DEFAULT, parse_caller(ROOT_A)) is None


def test_lockout_check_sees_deny() -> None:
    # source: KMS API Reference, "PutKeyPolicy": the caller must be allowed; a Deny removes it.
    kp = key_policy(allow({"AWS": ROOT_A}), deny({"AWS": APP_ROLE}, "kms:PutKeyPolicy"))
    decision = validate_key_policy(kp, parse_caller(APP_SESSION))
    assert decision is not None and decision.error_code == "MalformedPolicyDocumentException"


def test_lockout_check_with_the_callers_iam_policies() -> None:
    # source: KMS API Reference, "PutKeyPolicy", BypassPolicyLockoutSafetyCheck: the subsequent
    # PutKeyPolicy request must be allowed -- with the inputs known, it is decided in full: the account
    # statement helps only if an identity policy allows kms:PutKeyPolicy.
    admin = parse_caller(APP_SESSION)
    without_iam = validate_key_policy(DEFAULT, admin, inputs=AuthzInputs(None))
    assert without_iam is not None and without_iam.error_code == "MalformedPolicyDocumentException"
    with_iam = AuthzInputs(None, (identity(iam_allow("kms:PutKeyPolicy")),))
    assert validate_key_policy(DEFAULT, admin, inputs=with_iam) is None


def test_for_all_values_on_encryption_context_is_rejected() -> None:
    # source: KMS Developer Guide, "AWS KMS condition keys", "Using set operators with condition
    # keys": KMS rejects an Allow statement using ForAllValues with kms:EncryptionContext:context-key
    # (OverlyPermissiveCondition).
    kp = key_policy(
        allow({"AWS": ROOT_A}),
        allow(
            {"AWS": APP_ROLE},
            "kms:Decrypt",
            Condition={"ForAllValues:StringEquals": {"kms:EncryptionContext:tenant": "a"}},
        ),
    )
    decision = validate_key_policy(kp, parse_caller(ROOT_A))
    assert decision is not None and "OverlyPermissiveCondition" in decision.trace[-1].reason


def test_for_any_value_and_deny_statements_are_accepted() -> None:
    # source: KMS Developer Guide, "AWS KMS condition keys": the rejection is for ForAllValues in
    # Allow statements only.
    kp = key_policy(
        allow({"AWS": ROOT_A}),
        allow(
            {"AWS": APP_ROLE},
            "kms:Decrypt",
            Condition={"ForAnyValue:StringEquals": {"kms:EncryptionContext:tenant": "a"}},
        ),
        deny(
            "*", "kms:Decrypt", Condition={"ForAllValues:StringEquals": {"kms:EncryptionContext:tenant": "a"}}
        ),
    )
    assert validate_key_policy(kp, parse_caller(ROOT_A)) is None
