"""Validity rules KMS109-KMS113: unknown actions, condition keys the actions never send, operator /
type mismatches, set operators misused, Sids IAM rejects. Each expectation is derived from the AWS
documentation cited next to it, not from a run."""

from __future__ import annotations

from typing import Any

import pytest

from kmsguard.load.policy_builder import build_policy
from kmsguard.model import Inventory, PolicyKind, Source, Span, StandalonePolicy, Unknown
from kmsguard.rules_engine import load_packs
from kmsguard.rules_engine.predicates import NAMED_TESTS, Subject
from kmsguard.rules_engine.runtime import run_rule
from kmsguard.rules_engine.validity_tests import (
    closest_kms_action,
    covered_kms_actions,
    matches_when_absent,
    matching_kms_actions,
)

APP = {"AWS": "arn:aws:iam::111122223333:role/app"}
FILE = "key-policy.json"


def _policy(statement: dict[str, Any], kind: PolicyKind = PolicyKind.KEY):
    document = {"Version": "2012-10-17", "Statement": [statement]}
    policy, diagnostics = build_policy(document, kind, resource=FILE, span=Span(FILE, 1))
    assert diagnostics == [], diagnostics
    return policy


def _key_statement(**elements: Any) -> dict[str, Any]:
    return {"Sid": "Users", "Effect": "Allow", "Principal": APP, "Resource": "*", **elements}


def _subject(statement: dict[str, Any], kind: PolicyKind = PolicyKind.KEY) -> Subject:
    stmt = _policy(statement, kind).statements[0]
    subject_kind = "key_policy_statement" if kind is PolicyKind.KEY else "identity_policy_statement"
    return Subject(subject_kind, stmt, FILE, stmt.span, fields={"statement": stmt.label})


def _test(name: str, statement: dict[str, Any], kind: PolicyKind = PolicyKind.KEY):
    return NAMED_TESTS[name](_subject(statement, kind))


def _rule(rule_id: str):
    return next(r for r in load_packs()[0].rules if r.id == rule_id)


def _findings(rule_id: str, statement: dict[str, Any], kind: PolicyKind = PolicyKind.KEY):
    policy = _policy(statement, kind)
    inventory = Inventory(policies=(StandalonePolicy(FILE, Source.POLICY_FILE, policy, Span(FILE, 1)),))
    return run_rule(_rule(rule_id), inventory)


# --- KMS109 unknown action -------------------------------------------------------------------
# source: Service Authorization Reference, "Actions defined by AWS Key Management Service"; IAM
# User Guide, "IAM JSON policy elements: Action" (action names are case-insensitive; * and ?).


def test_misspelt_action_is_flagged_with_the_closest_name():
    result = _test("unknown_kms_action", _key_statement(Action=["kms:Decrpyt", "kms:Encrypt"]))
    assert result.truth.is_true
    assert '"kms:Decrpyt" is not a KMS action (did you mean kms:Decrypt?)' in result.fields["value"]
    assert "kms:Encrypt" not in result.fields["value"]


def test_reencrypt_is_an_operation_not_an_action():
    # source: KMS API Reference, "ReEncrypt", Required permissions: kms:ReEncryptFrom and kms:ReEncryptTo.
    result = _test("unknown_kms_action", _key_statement(Action="kms:ReEncrypt"))
    assert result.truth.is_true
    assert "kms:ReEncryptFrom, kms:ReEncryptTo or kms:ReEncrypt*" in result.fields["value"]


def test_wildcard_that_matches_no_action_is_flagged():
    result = _test("unknown_kms_action", _key_statement(Action="kms:Foo*"))
    assert result.truth.is_true
    assert '"kms:Foo*" matches no KMS action' in result.fields["value"]


@pytest.mark.parametrize(
    "action", ["kms:decrypt", "KMS:Decrypt", "kms:ReEncrypt*", "kms:Get*", "kms:*", "*", "kms:Describe?ey"]
)
def test_valid_names_and_matching_wildcards_pass(action):
    assert _test("unknown_kms_action", _key_statement(Action=action)).truth.is_false


def test_not_action_entries_are_checked_too():
    statement = {
        "Sid": "Deny",
        "Effect": "Deny",
        "Principal": APP,
        "Resource": "*",
        "NotAction": "kms:Decyrpt",
    }
    assert _test("unknown_kms_action", statement).truth.is_true


def test_other_services_actions_are_left_to_kms107():
    assert _test(
        "unknown_kms_action", _key_statement(Action=["s3:GetObject", "km:CreateGrant"])
    ).truth.is_false


def test_identity_policy_statements_are_checked_the_same_way():
    statement = {"Effect": "Allow", "Action": "kms:GenerateDataKeys", "Resource": "*"}
    result = _test("unknown_kms_action", statement, PolicyKind.IDENTITY)
    assert result.truth.is_true and "kms:GenerateDataKey" in result.fields["value"]


POLICY_TEXT = """{
  "Version": "2012-10-17",
  "Statement": [{
    "Sid": "Users", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/app"},
    "Resource": "*",
    "Action": [
      "kms:Encrypt",
      "kms:Decrpyt"
    ]
  }]
}"""


def test_unknown_action_finding_points_at_the_action_and_names_the_statement():
    policy, diagnostics = build_policy(POLICY_TEXT, PolicyKind.KEY, resource=FILE, span=Span(FILE, 1))
    assert diagnostics == []
    inventory = Inventory(policies=(StandalonePolicy(FILE, Source.POLICY_FILE, policy, Span(FILE, 1)),))
    findings = run_rule(_rule("KMS109"), inventory)
    assert len(findings) == 1
    assert findings[0].message.startswith('statement "Users" of key-policy.json: "kms:Decrpyt"')
    assert "use the exact action name" in findings[0].message
    assert (findings[0].span.path, findings[0].span.line) == (FILE, 8)  # the line of "kms:Decrpyt"


def test_action_matching_is_case_insensitive_and_expands_wildcards():
    assert matching_kms_actions("KMS:decrypt") == ("Decrypt",)
    assert set(matching_kms_actions("kms:ReEncrypt*")) == {"ReEncryptFrom", "ReEncryptTo"}
    assert matching_kms_actions("s3:*") == ()
    assert closest_kms_action("kms:ScheduleKeyDeleton") == "kms:ScheduleKeyDeletion"


# --- KMS110 condition key never sent ----------------------------------------------------------
# source: KMS Developer Guide, "AWS KMS condition keys" (the API operations each key applies to) and
# the Service Authorization Reference; IAM User Guide, "Condition operators": a key absent from the
# request makes a clause false, except negated operators and ...IfExists (true) and Null.


def test_encryption_context_on_create_key_makes_an_allow_dead():
    statement = _key_statement(
        Action="kms:CreateKey", Condition={"StringEquals": {"kms:EncryptionContext:app": "a"}}
    )
    result = _test("condition_key_never_sent", statement)
    assert result.truth.is_true
    assert "kms:CreateKey does not send kms:EncryptionContext:app" in result.fields["detail"]
    assert "this Allow never applies" in result.fields["detail"]


def test_grant_operations_on_decrypt_makes_a_deny_toothless():
    statement = {
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": "kms:Decrypt",
        "Resource": "*",
        "Condition": {"ForAnyValue:StringEquals": {"kms:GrantOperations": "Decrypt"}},
    }
    result = _test("condition_key_never_sent", statement)
    assert result.truth.is_true and "this Deny never applies (it denies nothing)" in result.fields["detail"]


@pytest.mark.parametrize(
    "operator",
    ["StringNotEquals", "StringEqualsIfExists", "ForAllValues:StringEquals", "ArnNotLike"],
)
def test_clauses_that_hold_without_the_key_restrict_nothing(operator):
    statement = _key_statement(Action="kms:Decrypt", Condition={operator: {"kms:GranteePrincipal": "x"}})
    result = _test("condition_key_never_sent", statement)
    assert result.truth.is_true
    assert "always holds, so it restricts nothing: the Allow applies without it" in result.fields["detail"]


def test_null_true_always_holds_and_null_false_never_does():
    # source: IAM User Guide, "Condition operator to check existence of condition keys" (Null).
    always = _key_statement(Action="kms:Decrypt", Condition={"Null": {"kms:GrantOperations": "true"}})
    never = _key_statement(Action="kms:Decrypt", Condition={"Null": {"kms:GrantOperations": "false"}})
    assert "always holds" in _test("condition_key_never_sent", always).fields["detail"]
    assert "never applies" in _test("condition_key_never_sent", never).fields["detail"]


def test_a_key_one_of_the_actions_sends_is_not_flagged():
    # kms:EncryptionContext:<key> applies to CreateGrant (grant constraints) and Decrypt.
    for actions in (["kms:CreateGrant"], ["kms:Decrypt", "kms:DescribeKey"], ["kms:*"]):
        statement = _key_statement(
            Action=actions, Condition={"StringEquals": {"kms:EncryptionContext:a": "b"}}
        )
        assert _test("condition_key_never_sent", statement).truth.is_false, actions


def test_global_and_unknown_keys_are_never_judged():
    statement = _key_statement(
        Action="kms:CreateKey",
        Condition={
            "IpAddress": {"aws:SourceIp": "10.0.0.0/8"},
            "StringEquals": {"kms:EncryptionContex": "x"},
        },
    )
    assert _test("condition_key_never_sent", statement).truth.is_false


def test_symbolic_action_makes_the_answer_unresolved():
    policy = _policy(
        _key_statement(Action=["kms:CreateKey"], Condition={"StringEquals": {"kms:EncryptionContext:a": "b"}})
    )
    stmt = policy.statements[0]
    with_unknown = type(stmt)(**{**_fields(stmt), "actions": ("kms:CreateKey", Unknown("var.action"))})
    result = NAMED_TESTS["condition_key_never_sent"](
        Subject("key_policy_statement", with_unknown, FILE, stmt.span)
    )
    assert result.truth.is_unresolved and result.truth.depends_on == ("var.action",)


def _fields(stmt) -> dict[str, Any]:
    return {name: getattr(stmt, name) for name in stmt.__slots__}


def test_not_action_covers_every_other_kms_action():
    stmt = _policy(
        {"Effect": "Allow", "Principal": APP, "Resource": "*", "NotAction": ["kms:Decrypt", "kms:Encrypt"]}
    ).statements[0]
    covered = covered_kms_actions(stmt)
    assert covered is not None and "Decrypt" not in covered.actions and "PutKeyPolicy" in covered.actions


def test_matches_when_absent_follows_operator_semantics():
    conditions = (
        _policy(
            _key_statement(
                Action="kms:Decrypt",
                Condition={
                    "StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"},
                    "ForAnyValue:StringLike": {"kms:ResourceAliases": "alias/app*"},
                    "NumericNotEquals": {"kms:RotationPeriodInDays": "90"},
                },
            )
        )
        .statements[0]
        .conditions
    )
    by_key = {c.key: matches_when_absent(c) for c in conditions}
    assert by_key == {"kms:ViaService": False, "kms:ResourceAliases": False, "kms:RotationPeriodInDays": True}


def test_never_sent_finding_says_what_to_do():
    statement = _key_statement(
        Action="kms:Decrypt", Condition={"ForAnyValue:StringEquals": {"kms:GrantOperations": "Decrypt"}}
    )
    (finding,) = _findings("KMS110", statement)
    assert 'condition "ForAnyValue:StringEquals" on kms:GrantOperations' in finding.message
    assert finding.message.endswith(
        "move the condition to a statement whose actions send the key, or remove it"
    )


# --- KMS111 operator / type mismatch ----------------------------------------------------------
# source: IAM User Guide, "AWS global condition context keys" ("Works with ... operators" for each
# key) and "Condition operators"; KMS Developer Guide, "AWS KMS condition keys" (Condition type).


@pytest.mark.parametrize(
    ("operator", "key"),
    [
        ("NumericEquals", "kms:CallerAccount"),  # String key
        ("DateGreaterThan", "kms:ViaService"),  # String key
        ("Bool", "aws:PrincipalOrgID"),  # String key
        ("StringEquals", "aws:SecureTransport"),  # Boolean: "Works with Boolean operators"
        ("IpAddress", "aws:SourceVpc"),  # String, not an IP address
        ("StringLike", "aws:SourceIp"),  # IP address: "Works with IP address operators"
        ("StringEquals", "aws:MultiFactorAuthAge"),  # Numeric
        ("ArnLike", "kms:ViaService"),  # String, not an ARN
    ],
)
def test_operator_of_another_type_is_flagged(operator, key):
    result = _test(
        "operator_type_mismatch", _key_statement(Action="kms:Decrypt", Condition={operator: {key: "1"}})
    )
    assert result.truth.is_true, (operator, key)


@pytest.mark.parametrize(
    ("operator", "key"),
    [
        ("StringEquals", "aws:SourceArn"),  # "Works with ARN operators and string operators"
        ("ArnLike", "aws:PrincipalArn"),
        ("NumericLessThan", "aws:EpochTime"),  # "Works with date operators or numeric operators"
        ("NumericLessThanEquals", "kms:ValidTo"),  # KMS Developer Guide, "kms:ValidTo" example
        ("Bool", "kms:GrantIsForAWSResource"),
        ("Null", "aws:SourceIp"),
        ("StringEqualsIfExists", "kms:CallerAccount"),
        ("ForAnyValue:StringLike", "kms:ResourceAliases"),
        ("NumericEquals", "ec2:Attribute/x"),  # unknown to the data: not judged
    ],
)
def test_documented_operator_types_pass(operator, key):
    result = _test(
        "operator_type_mismatch", _key_statement(Action="kms:Decrypt", Condition={operator: {key: "1"}})
    )
    assert result.truth.is_false, (operator, key)


def test_mismatch_message_names_the_type_and_the_operator_to_use():
    statement = _key_statement(Action="kms:Decrypt", Condition={"NumericEquals": {"kms:CallerAccount": "1"}})
    detail = _test("operator_type_mismatch", statement).fields["detail"]
    assert "kms:CallerAccount is of type String" in detail and "use StringEquals" in detail


# --- KMS112 set operators ---------------------------------------------------------------------
# source: KMS Developer Guide, "AWS KMS condition keys", "Using set operators with condition keys"
# and "kms:EncryptionContext:context-key" (OverlyPermissiveCondition), "kms:EncryptionContextKeys";
# IAM User Guide, "Access Analyzer policy check reference", "ForAllValues with single valued key".


def test_for_all_values_on_an_encryption_context_key_is_rejected_by_kms():
    statement = _key_statement(
        Action="kms:Decrypt", Condition={"ForAllValues:StringEquals": {"kms:EncryptionContext:app": "a"}}
    )
    result = _test("set_operator_misuse", statement)
    assert result.truth.is_true and "OverlyPermissiveCondition" in result.fields["detail"]


def test_for_any_value_on_an_encryption_context_key_is_flagged():
    statement = _key_statement(
        Action="kms:Decrypt", Condition={"ForAnyValue:StringEquals": {"kms:EncryptionContext:app": "a"}}
    )
    assert _test("set_operator_misuse", statement).truth.is_true


def test_for_all_values_on_a_single_valued_key_is_flagged():
    statement = _key_statement(
        Action="kms:Decrypt", Condition={"ForAllValues:StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}}
    )
    result = _test("set_operator_misuse", statement)
    assert result.truth.is_true and 'use "StringEquals"' in result.fields["detail"]


def test_set_operators_on_multivalued_keys_pass():
    statement = _key_statement(
        Action="kms:Decrypt",
        Condition={
            "ForAllValues:StringLike": {"kms:ResourceAliases": "alias/app-*"},
            "ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": "o-a1b2c3d4e5/*"},
        },
    )
    assert _test("set_operator_misuse", statement).truth.is_false


def test_encryption_context_keys_alone_allows_requests_without_context():
    statement = _key_statement(
        Action="kms:Decrypt", Condition={"ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["app"]}}
    )
    result = _test("set_operator_misuse", statement)
    assert result.truth.is_true and "no encryption context" in result.fields["detail"]


@pytest.mark.parametrize(
    "companion",
    [
        {"StringEquals": {"kms:EncryptionContext:app": "billing"}},
        {"Null": {"kms:EncryptionContextKeys": "false"}},
        {"ForAnyValue:StringEquals": {"kms:EncryptionContextKeys": "app"}},
    ],
)
def test_encryption_context_keys_with_a_required_context_pass(companion):
    statement = _key_statement(
        Action="kms:Decrypt",
        Condition={"ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["app"]}, **companion},
    )
    assert _test("set_operator_misuse", statement).truth.is_false


def test_encryption_context_keys_trap_concerns_allow_only():
    # A Deny that matches more requests (those without context) denies more, not less.
    statement = {
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": "kms:Decrypt",
        "Resource": "*",
        "Condition": {"ForAllValues:StringNotEquals": {"kms:EncryptionContextKeys": ["app"]}},
    }
    assert _test("set_operator_misuse", statement).truth.is_false


# --- KMS113 Sid -------------------------------------------------------------------------------
# source: IAM User Guide, "IAM JSON policy elements: Sid" ("supports ASCII uppercase letters (A-Z),
# lowercase letters (a-z), and numbers (0-9)"); KMS Developer Guide, "Key policies in AWS KMS",
# key policy format ("The Sid element in a key policy statement can include spaces"; only printable
# ASCII and Latin-1 characters, tab, line feed, carriage return); cfn-lint issue #708.


@pytest.mark.parametrize("sid", ["Allow use of the key", "kms-decrypt", "kms_decrypt", "Décrypt"])
def test_identity_policy_sid_must_be_alphanumeric(sid):
    statement = {"Sid": sid, "Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}
    result = _test("invalid_sid", statement, PolicyKind.IDENTITY)
    assert result.truth.is_true and "MalformedPolicyDocument" in result.fields["detail"]


def test_identity_policy_alphanumeric_sid_passes():
    statement = {"Sid": "AllowDecrypt2", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}
    assert _test("invalid_sid", statement, PolicyKind.IDENTITY).truth.is_false


@pytest.mark.parametrize("sid", ["Allow use of the key", "Enable IAM User Permissions", "Clé (admin) #1"])
def test_key_policy_sid_may_contain_spaces_and_latin1(sid):
    assert _test("invalid_sid", _key_statement(Sid=sid, Action="kms:Decrypt")).truth.is_false


def test_key_policy_sid_outside_latin1_is_flagged():
    result = _test("invalid_sid", _key_statement(Sid="Allow use \u2013 admins", Action="kms:Decrypt"))
    assert result.truth.is_true and "'\u2013'" in result.fields["detail"]


def test_sid_finding_on_an_identity_policy_file():
    statement = {"Sid": "Allow use of the key", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}
    (finding,) = _findings("KMS113", statement, PolicyKind.IDENTITY)
    assert finding.message.startswith('statement "Allow use of the key" of key-policy.json has Sid')
    assert finding.message.endswith("rename it")
