"""Grants (kmsguard.authz.grants) and how decide() uses them."""

from __future__ import annotations

from typing import Any

import pytest

from kmsguard.authz.evaluate import decide, decide_create_grant, parse_caller
from kmsguard.authz.grants import (
    at_least_as_strict,
    check_grant,
    constraints_allow,
    request_encryption_context,
    retire_right,
)
from kmsguard.authz.principals import PrincipalMatch
from kmsguard.authz.types import AuthzInputs, Caller, Request
from kmsguard.load.policy_builder import build_policy
from kmsguard.model import Grant, GrantConstraints, Policy, PolicyKind, Source
from kmsguard.model.values import Unknown

A = "111122223333"
B = "444455556666"
KEY = f"arn:aws:kms:us-east-1:{A}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ROOT_A = f"arn:aws:iam::{A}:root"
APP_ROLE = f"arn:aws:iam::{A}:role/app"
APP_SESSION = f"arn:aws:sts::{A}:assumed-role/app/worker-1"
B_SESSION = f"arn:aws:sts::{B}:assumed-role/partner/s"
B_ROLE = f"arn:aws:iam::{B}:role/partner"


def grant(
    grantee: Any = APP_ROLE,
    operations: Any = ("Decrypt",),
    *,
    equals: Any = None,
    subset: Any = None,
    retiring: Any = None,
    tokens: tuple[str, ...] = (),
    name: str = "g",
) -> Grant:
    constraints = None
    if equals is not None or subset is not None:
        constraints = GrantConstraints(equals, subset)
    return Grant(
        address=name,
        key=KEY,
        grantee=grantee,
        operations=operations,
        source=Source.ACCOUNT,
        constraints=constraints,
        retiring_principal=retiring,
        name=name,
        grant_tokens=tokens,
    )


def key_policy(*statements: dict[str, Any]) -> Policy:
    built, problems = build_policy(
        {"Version": "2012-10-17", "Statement": list(statements)}, PolicyKind.KEY, resource="t"
    )
    assert not problems and isinstance(built, Policy)
    return built


# A key policy that allows nothing to the app role: access can only come from a grant.
ADMIN_ONLY = key_policy(
    {
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{A}:role/admin"},
        "Action": "kms:*",
        "Resource": "*",
    }
)


def request(
    action: str = "kms:Decrypt", caller: str | Caller = APP_SESSION, account: str = A, **context: str
) -> Request:
    who = caller if isinstance(caller, Caller) else parse_caller(caller)
    ctx = {f"kms:EncryptionContext:{k}": v for k, v in context.items()}
    return Request(action, who, KEY, account, ctx)


def check(g: Grant, req: Request, operation: str = "Decrypt", takes_ec: bool = True) -> bool | None:
    return check_grant(g, req, operation, takes_ec).allowed


# --- Grantee and operations ------------------------------------------------------------------------
# source: KMS Developer Guide, "Grant concepts": grantee principal, grant operations.


def test_grant_to_role_applies_to_its_sessions() -> None:
    assert check(grant(APP_ROLE), request()) is True


def test_grant_to_other_principal_does_not_apply() -> None:
    assert check(grant(f"arn:aws:iam::{A}:role/other"), request()) is False


def test_operation_must_be_in_grant() -> None:
    assert check(grant(operations=("Encrypt",)), request()) is False


def test_grant_to_account_needs_iam() -> None:
    # assumption (KMS Developer Guide, "Grant concepts", grantee principal may be an account): like a
    # key policy statement for the account, the account's IAM policies decide.
    verdict = check_grant(grant(ROOT_A), request(), "Decrypt", True)
    assert verdict.allowed is True and verdict.needs_iam


def test_symbolic_operations_are_unresolved() -> None:
    assert check(grant(operations=Unknown("var.ops")), request()) is None


# --- Constraints ------------------------------------------------------------------------------------
# source: KMS API Reference, "GrantConstraints": EncryptionContextEquals requires exactly the pairs,
# EncryptionContextSubset requires them among the request's pairs; "in a grant constraint, the key in
# each key-value pair is not case sensitive, but the value is case sensitive".


@pytest.mark.parametrize(
    ("constraint", "context", "expected"),
    [
        ({"tenant": "a"}, {"tenant": "a"}, True),
        ({"tenant": "a"}, {"tenant": "a", "env": "prod"}, False),
        ({"tenant": "a"}, {}, False),
        ({"tenant": "a"}, {"tenant": "A"}, False),  # values are case sensitive
        ({"tenant": "a"}, {"Tenant": "a"}, True),  # keys are not
    ],
)
def test_encryption_context_equals(
    constraint: dict[str, str], context: dict[str, str], expected: bool
) -> None:
    assert check(grant(equals=constraint), request(**context)) is expected


@pytest.mark.parametrize(
    ("constraint", "context", "expected"),
    [
        ({"tenant": "a"}, {"tenant": "a"}, True),
        ({"tenant": "a"}, {"tenant": "a", "env": "prod"}, True),
        ({"tenant": "a"}, {"env": "prod"}, False),
        ({"tenant": "a", "env": "prod"}, {"tenant": "a"}, False),
    ],
)
def test_encryption_context_subset(
    constraint: dict[str, str], context: dict[str, str], expected: bool
) -> None:
    assert check(grant(subset=constraint), request(**context)) is expected


def test_constraints_do_not_apply_to_operations_without_encryption_context() -> None:
    # source: KMS API Reference, "GrantConstraints": "Grant constraints are not applied to operations
    # that do not support an encryption context, such as ... DescribeKey or RetireGrant."
    g = grant(operations=("DescribeKey",), equals={"tenant": "a"})
    assert check(g, request("kms:DescribeKey"), "DescribeKey", takes_ec=False) is True


def test_unknown_constraint_is_unresolved() -> None:
    assert constraints_allow(GrantConstraints(Unknown("var.ctx"), None), {"tenant": "a"})[0] is None


def test_request_encryption_context_keeps_key_case() -> None:
    ctx = request_encryption_context({"kms:EncryptionContext:Tenant": "a", "kms:EncryptionContextKeys": "x"})
    assert ctx == {"Tenant": "a"}


# --- CreateGrant from a grant ----------------------------------------------------------------------
# source: KMS API Reference, "CreateGrant", Constraints: grants created with a grant's CreateGrant
# permission must have "an equally strict or stricter encryption context constraint"; KMS Developer
# Guide, "Controlling access to grants": principals who get CreateGrant from a grant have more
# limited grant permissions (no operation the parent grant lacks).


def test_derived_grant_operations_must_be_within_parent() -> None:
    parent = grant(operations=("Decrypt", "CreateGrant"))
    ok = Request("kms:CreateGrant", parse_caller(APP_SESSION), KEY, A, {"kms:GrantOperations": ("Decrypt",)})
    wider = Request(
        "kms:CreateGrant", parse_caller(APP_SESSION), KEY, A, {"kms:GrantOperations": ("Decrypt", "Encrypt")}
    )
    assert check(parent, ok, "CreateGrant", False) is True
    assert check(parent, wider, "CreateGrant", False) is False


def test_derived_grant_must_keep_parent_constraint() -> None:
    parent = grant(operations=("Decrypt", "CreateGrant"), subset={"tenant": "a"})
    no_constraint = Request(
        "kms:CreateGrant", parse_caller(APP_SESSION), KEY, A, {"kms:GrantOperations": "Decrypt"}
    )
    assert check(parent, no_constraint, "CreateGrant", False) is False
    inputs = AuthzInputs(ADMIN_ONLY, grants=(parent,))
    stricter = grant(operations=("Decrypt",), subset={"tenant": "a", "env": "prod"})
    looser = grant(operations=("Decrypt",), subset={"env": "prod"})
    assert decide_create_grant(inputs, no_constraint, stricter).label == "Allow"
    assert decide_create_grant(inputs, no_constraint, looser).label == "ImplicitDeny"


@pytest.mark.parametrize(
    ("child", "parent", "expected"),
    [
        (GrantConstraints({"t": "a"}, None), GrantConstraints({"t": "a"}, None), True),
        (GrantConstraints(None, {"t": "a"}), GrantConstraints({"t": "a"}, None), False),
        (GrantConstraints({"t": "a", "e": "p"}, None), GrantConstraints(None, {"t": "a"}), True),
        (GrantConstraints(None, {"T": "a"}), GrantConstraints(None, {"t": "a"}), True),  # keys fold case
        (None, GrantConstraints(None, {"t": "a"}), False),
    ],
)
def test_at_least_as_strict(child: GrantConstraints | None, parent: GrantConstraints, expected: bool) -> None:
    assert at_least_as_strict(child, parent) is expected


# --- Retiring ------------------------------------------------------------------------------------------
# source: KMS Developer Guide, "Retiring and revoking grants": a grant can be retired by its retiring
# principal, by its grantee if the grant includes RetireGrant, and by the account it was created in.


def test_retiring_principal_may_retire() -> None:
    why, match = retire_right(grant(retiring=B_ROLE), parse_caller(B_SESSION), A)
    assert why == "retiring principal" and match is PrincipalMatch.ROLE


def test_grantee_needs_retire_grant_operation() -> None:
    without = retire_right(grant(B_ROLE, ("Decrypt",)), parse_caller(B_SESSION), A)
    with_op = retire_right(grant(B_ROLE, ("Decrypt", "RetireGrant")), parse_caller(B_SESSION), A)
    assert without == ("", PrincipalMatch.NONE)
    assert with_op[0] == "grantee"


def test_grantee_not_known_statically_may_be_the_caller() -> None:
    # A grant that includes RetireGrant may be retired by its grantee; a grantee from a variable may
    # be the caller, so the right is unresolved -- not "no right" (found by the prover's
    # consistency sweep). The key's account keeps its right whatever the grantee is.
    symbolic = grant(Unknown("var.grantee"), ("Decrypt", "RetireGrant"))
    assert retire_right(symbolic, parse_caller(B_SESSION), A) == ("grantee", None)
    assert retire_right(symbolic, parse_caller(ROOT_A), A) == ("account", PrincipalMatch.ACCOUNT)
    inputs = AuthzInputs(ADMIN_ONLY, grants=(symbolic,))
    assert decide(inputs, request("kms:RetireGrant", B_SESSION, A)).label == "Unresolved"


def test_retire_via_decide() -> None:
    g = grant(B_ROLE, ("Decrypt",), retiring=B_ROLE)
    inputs = AuthzInputs(ADMIN_ONLY, grants=(g,))
    # cross-account: RetireGrant is a cross-account operation (KMS API Reference, "RetireGrant").
    assert decide(inputs, request("kms:RetireGrant", B_SESSION, A)).label == "Allow"
    assert decide(inputs, request("kms:RetireGrant", APP_SESSION, A)).label == "ImplicitDeny"
    # the key's account root user may retire any grant of the key (assumption: the account the grant
    # was created in is the key's account).
    assert decide(inputs, request("kms:RetireGrant", ROOT_A, A)).label == "Allow"


def test_revoke_grant_needs_policy_not_grant() -> None:
    # source: KMS Developer Guide, "Retiring and revoking grants": RevokeGrant "is controlled through
    # key policies and IAM policies"; "Controlling access to grants": RevokeGrant cannot come from a
    # grant.
    g = grant(APP_ROLE, ("Decrypt", "RetireGrant"))
    assert decide(AuthzInputs(ADMIN_ONLY, grants=(g,)), request("kms:RevokeGrant")).label == "ImplicitDeny"


# --- Grants in decide() --------------------------------------------------------------------------------


def test_grant_allows_without_key_policy_allow() -> None:
    # source: KMS Developer Guide, "Grants in AWS KMS": a grant allows the grantee to use the key in
    # the grant's operations without a key policy or IAM policy statement.
    inputs = AuthzInputs(ADMIN_ONLY, grants=(grant(),))
    assert decide(inputs, request()).label == "Allow"
    assert decide(inputs, request("kms:Encrypt")).label == "ImplicitDeny"


def test_key_policy_deny_overrides_grant() -> None:
    # source: IAM User Guide, "How AWS enforcement code logic evaluates requests": an explicit deny in
    # any policy is final; grants only allow (KMS Developer Guide, "Grants in AWS KMS").
    denying = key_policy(
        {"Effect": "Allow", "Principal": {"AWS": ROOT_A}, "Action": "kms:*", "Resource": "*"},
        {"Effect": "Deny", "Principal": {"AWS": APP_ROLE}, "Action": "kms:Decrypt", "Resource": "*"},
    )
    assert decide(AuthzInputs(denying, grants=(grant(),)), request()).label == "ExplicitDeny"


def test_cross_account_grant() -> None:
    # source: KMS Developer Guide, "Grant concepts": the grantee principal can be in a different
    # account from the key; the grant alone allows (assumption: no IAM policy needed in the grantee's
    # account, as the grant names the principal itself).
    inputs = AuthzInputs(ADMIN_ONLY, grants=(grant(B_ROLE),))
    assert decide(inputs, request(caller=B_SESSION)).label == "Allow"


def test_grant_with_constraint_in_decide() -> None:
    # source: KMS API Reference, "GrantConstraints".
    inputs = AuthzInputs(ADMIN_ONLY, grants=(grant(equals={"tenant": "a"}),))
    assert decide(inputs, request(tenant="a")).label == "Allow"
    assert decide(inputs, request(tenant="b")).label == "ImplicitDeny"


def test_grant_trace_names_the_grant() -> None:
    # source: issue 3, point 2: the trace says which grant allowed.
    decision = decide(AuthzInputs(ADMIN_ONLY, grants=(grant(name="app-decrypt"),)), request())
    assert any(t.source == "grant app-decrypt" and t.matched for t in decision.trace)
