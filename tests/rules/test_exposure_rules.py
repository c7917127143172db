"""Pattern-level exposure rules of key policies, KMS021-KMS024: service principals without a source
condition, kms:ViaService on "*" without kms:CallerAccount, CreateGrant for non-administrators,
Allow with NotPrincipal. Expectations come from the AWS documentation cited next to them."""

from __future__ import annotations

from typing import Any

import pytest

from kmsguard.load.policy_builder import build_policy
from kmsguard.model import Inventory, PolicyKind, Source, Span, StandalonePolicy, Unknown
from kmsguard.rules_engine import load_packs
from kmsguard.rules_engine.logic import all_of
from kmsguard.rules_engine.predicates import NAMED_TESTS, Subject
from kmsguard.rules_engine.runtime import evaluate_predicate, run_rule

FILE = "key-policy.json"
APP = {"AWS": "arn:aws:iam::111122223333:role/app"}


def _statement(statement: dict[str, Any]):
    document = {"Version": "2012-10-17", "Statement": [statement]}
    policy, diagnostics = build_policy(document, PolicyKind.KEY, resource=FILE, span=Span(FILE, 1))
    assert diagnostics == [], diagnostics
    return policy


def _subject(statement: dict[str, Any]) -> Subject:
    stmt = _statement(statement).statements[0]
    return Subject("key_policy_statement", stmt, FILE, stmt.span, fields={"statement": stmt.label})


def _test(name: str, statement: dict[str, Any]):
    return NAMED_TESTS[name](_subject(statement))


def _rule(rule_id: str):
    return next(r for r in load_packs()[0].rules if r.id == rule_id)


def _findings(rule_id: str, statement: dict[str, Any]):
    policy = _statement(statement)
    inventory = Inventory(policies=(StandalonePolicy(FILE, Source.POLICY_FILE, policy, Span(FILE, 1)),))
    return run_rule(_rule(rule_id), inventory)


def _service(service: str, condition: dict[str, Any] | None = None, effect: str = "Allow") -> dict[str, Any]:
    statement = {
        "Sid": "Service",
        "Effect": effect,
        "Principal": {"Service": service},
        "Action": ["kms:GenerateDataKey*", "kms:Decrypt"],
        "Resource": "*",
    }
    if condition:
        statement["Condition"] = condition
    return statement


# --- KMS021 confused deputy -------------------------------------------------------------------
# source: KMS Developer Guide, "Permissions for AWS services in key policies", "Using aws:SourceArn
# or aws:SourceAccount condition keys" ("When the principal in a key policy statement is an AWS
# service principal, we strongly recommend that you use the aws:SourceArn or aws:SourceAccount
# global condition keys"), and "Using encryption context condition keys"; IAM User Guide, "The
# confused deputy problem".


@pytest.mark.parametrize(
    "service",
    [
        "cloudtrail.amazonaws.com",
        "logs.eu-west-1.amazonaws.com",
        "delivery.logs.amazonaws.com",
        "config.amazonaws.com",
    ],
)
def test_documented_service_without_source_condition_is_flagged(service):
    assert _test("service_principal_without_source", _service(service)).truth.is_true


@pytest.mark.parametrize(
    "condition",
    [
        {"StringEquals": {"aws:SourceArn": "arn:aws:cloudtrail:us-east-1:111122223333:trail/main"}},
        {"ArnLike": {"aws:SourceArn": "arn:aws:cloudtrail:*:111122223333:trail/*"}},
        {"StringEquals": {"aws:SourceAccount": "111122223333"}},
        {
            "StringLike": {
                "kms:EncryptionContext:aws:cloudtrail:arn": "arn:aws:cloudtrail:*:111122223333:trail/*"
            }
        },
        {
            "StringEquals": {
                "kms:ViaService": "s3.us-east-1.amazonaws.com",
                "kms:CallerAccount": "111122223333",
            }
        },
    ],
)
def test_source_conditions_clear_the_service_statement(condition):
    assert _test(
        "service_principal_without_source", _service("cloudtrail.amazonaws.com", condition)
    ).truth.is_false


@pytest.mark.parametrize(
    "condition",
    [
        # IfExists holds when the key is absent (IAM User Guide, "...IfExists condition operators").
        {"StringEqualsIfExists": {"aws:SourceAccount": "111122223333"}},
        # A negated operator admits every other account.
        {"StringNotEquals": {"aws:SourceAccount": "444455556666"}},
        # Only a wildcard: restricts nothing.
        {"StringLike": {"aws:SourceArn": "*"}},
        # kms:ViaService alone says through which service, not for whom.
        {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}},
    ],
)
def test_conditions_that_do_not_pin_the_source_still_flag(condition):
    assert _test(
        "service_principal_without_source", _service("cloudtrail.amazonaws.com", condition)
    ).truth.is_true


def test_eventbridge_is_not_asked_for_source_keys():
    # source: Amazon SNS Developer Guide, "Enable compatibility between event sources from AWS
    # services and encrypted topics": EventBridge's requests to KMS do not carry aws:SourceAccount
    # / aws:SourceArn, so the rule must not demand them.
    assert _test("service_principal_without_source", _service("events.amazonaws.com")).truth.is_false


def test_deny_and_account_principals_are_not_service_statements():
    assert _test(
        "service_principal_without_source", _service("cloudtrail.amazonaws.com", effect="Deny")
    ).truth.is_false
    statement = {"Effect": "Allow", "Principal": APP, "Action": "kms:Decrypt", "Resource": "*"}
    assert _test("service_principal_without_source", statement).truth.is_false


def test_source_account_from_a_variable_is_unresolved():
    stmt = _statement(
        _service("cloudtrail.amazonaws.com", {"StringEquals": {"aws:SourceAccount": "x"}})
    ).statements[0]
    cond = stmt.conditions[0]
    unknown = type(cond)(cond.operator, cond.key, (Unknown("var.account"),), cond.span)
    replaced = type(stmt)(**{**{n: getattr(stmt, n) for n in stmt.__slots__}, "conditions": (unknown,)})
    result = NAMED_TESTS["service_principal_without_source"](
        Subject("key_policy_statement", replaced, FILE, stmt.span)
    )
    assert result.truth.is_unresolved and result.truth.depends_on == ("var.account",)


def test_confused_deputy_message_names_the_principal_and_the_guide():
    (finding,) = _findings("KMS021", _service("cloudtrail.amazonaws.com"))
    assert 'service principal "cloudtrail.amazonaws.com"' in finding.message
    assert (
        "confused deputy" in finding.message
        and "Configure AWS KMS key policies for CloudTrail" in finding.message
    )


# --- KMS022 kms:ViaService on "*" -------------------------------------------------------------
# source: KMS Developer Guide, "kms:CallerAccount" (the AWS managed key policy pairs
# "kms:CallerAccount" with "kms:ViaService" on {"AWS": "*"}) and "kms:ViaService".


def _via_service(extra: dict[str, str] | None = None, principal: Any = "*") -> dict[str, Any]:
    return {
        "Sid": "ViaS3",
        "Effect": "Allow",
        "Principal": principal,
        "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
        "Resource": "*",
        "Condition": {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com", **(extra or {})}},
    }


def _rule_truth(rule_id: str, statement: dict[str, Any]):
    """The rule's pattern predicates (its named tests), as the runtime evaluates them."""
    subject = _subject(statement)
    results = [evaluate_predicate(p, subject) for p in _rule(rule_id).when if p.test is not None]
    return all_of([r.truth for r in results])


def test_via_service_on_wildcard_without_caller_account_is_flagged():
    assert _rule_truth("KMS022", _via_service()).is_true
    (finding,) = _findings("KMS022", _via_service())
    assert "s3.us-east-1.amazonaws.com" in finding.message and "kms:CallerAccount" in finding.message


@pytest.mark.parametrize(
    "extra", [{"kms:CallerAccount": "111122223333"}, {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}]
)
def test_caller_pinned_down_passes(extra):
    assert _rule_truth("KMS022", _via_service(extra)).is_false


def test_named_principal_with_via_service_is_not_kms022():
    assert _rule_truth("KMS022", _via_service(principal=APP)).is_false


# --- KMS023 CreateGrant for non-administrators ------------------------------------------------
# source: KMS Developer Guide, "Default key policy" ("Allows key users to use the KMS key with AWS
# services": CreateGrant/ListGrants/RevokeGrant with "Bool": {"kms:GrantIsForAWSResource": true})
# and "kms:GrantIsForAWSResource".


def _users(actions: Any, condition: dict[str, Any] | None = None) -> dict[str, Any]:
    statement = {"Sid": "KeyUsers", "Effect": "Allow", "Principal": APP, "Action": actions, "Resource": "*"}
    if condition:
        statement["Condition"] = condition
    return statement


@pytest.mark.parametrize("actions", [["kms:Decrypt", "kms:CreateGrant"], "kms:Create*", ["kms:*Grant*"]])
def test_create_grant_for_key_users_without_condition_is_flagged(actions):
    assert _test("create_grant_for_non_admins", _users(actions)).truth.is_true


@pytest.mark.parametrize(
    "condition",
    [
        {"Bool": {"kms:GrantIsForAWSResource": "true"}},
        {"Bool": {"kms:GrantIsForAWSResource": True}},
        {"StringEquals": {"kms:ViaService": "rds.us-east-1.amazonaws.com"}},
    ],
)
def test_create_grant_for_aws_resources_passes(condition):
    assert _test("create_grant_for_non_admins", _users(["kms:CreateGrant"], condition)).truth.is_false


def test_grant_is_for_aws_resource_false_or_if_exists_does_not_count():
    for condition in (
        {"Bool": {"kms:GrantIsForAWSResource": "false"}},
        {"BoolIfExists": {"kms:GrantIsForAWSResource": "true"}},
    ):
        assert _test("create_grant_for_non_admins", _users(["kms:CreateGrant"], condition)).truth.is_true


def test_administrator_statements_are_not_flagged():
    # The default key policy's root statement (kms:*) and key administrators' statement (Create*,
    # Put*, ScheduleKeyDeletion...) include CreateGrant.
    root = {
        "Sid": "Root",
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
        "Action": "kms:*",
        "Resource": "*",
    }
    admins = _users(["kms:Create*", "kms:Describe*", "kms:Put*", "kms:Disable*", "kms:ScheduleKeyDeletion"])
    assert _test("create_grant_for_non_admins", root).truth.is_false
    assert _test("create_grant_for_non_admins", admins).truth.is_false


def test_statement_without_create_grant_is_not_flagged():
    assert _test("create_grant_for_non_admins", _users(["kms:Decrypt", "kms:ListGrants"])).truth.is_false


def test_symbolic_action_leaves_create_grant_unresolved():
    stmt = _statement(_users(["kms:Decrypt"])).statements[0]
    replaced = type(stmt)(
        **{**{n: getattr(stmt, n) for n in stmt.__slots__}, "actions": ("kms:Decrypt", Unknown("var.extra"))}
    )
    result = NAMED_TESTS["create_grant_for_non_admins"](
        Subject("key_policy_statement", replaced, FILE, stmt.span)
    )
    assert result.truth.is_unresolved and result.truth.depends_on == ("var.extra",)


def test_create_grant_message_names_the_principal_and_the_condition():
    (finding,) = _findings("KMS023", _users(["kms:Decrypt", "kms:CreateGrant"]))
    assert "arn:aws:iam::111122223333:role/app" in finding.message
    assert '"Bool": {"kms:GrantIsForAWSResource": "true"}' in finding.message


# --- KMS024 Allow with NotPrincipal -----------------------------------------------------------
# source: IAM User Guide, "AWS JSON policy elements: NotPrincipal" (Allow with NotPrincipal allows
# every principal not listed, and is strongly discouraged).

NOT_ADMIN = {
    "Sid": "NotAdmin",
    "Effect": "Allow",
    "NotPrincipal": {"AWS": "arn:aws:iam::111122223333:role/admin"},
    "Action": "kms:Decrypt",
    "Resource": "*",
}


def test_allow_with_not_principal_is_kms024():
    (finding,) = _findings("KMS024", NOT_ADMIN)
    assert "every principal except arn:aws:iam::111122223333:role/admin" in finding.message


def test_deny_with_not_principal_is_not_flagged():
    assert _test("allow_with_not_principal", {**NOT_ADMIN, "Effect": "Deny"}).truth.is_false


def test_not_principal_is_flagged_even_when_a_condition_makes_it_not_public():
    # KMS002 (public access) no longer applies once aws:PrincipalOrgID pins the caller down; the
    # NotPrincipal construct is still reported by KMS024.
    restricted = {**NOT_ADMIN, "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}}}
    assert _rule_truth("KMS002", restricted).is_false
    assert _rule_truth("KMS024", restricted).is_true
    assert _rule_truth("KMS002", NOT_ADMIN).is_true  # open to every account: KMS002 too
