"""Condition evaluation (kmsguard.authz.conditions): every operator family, missing keys, IfExists,
Null, set operators, policy variables, symbolic values, and the context a caller implies."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from kmsguard.authz.conditions import (
    ConditionOutcome,
    UnresolvedContextValue,
    caller_context,
    evaluate_conditions,
    request_context,
)
from kmsguard.authz.types import Caller, ContextValue, PrincipalKind, Request
from kmsguard.model.policy import Condition
from kmsguard.model.values import ResourceRef, Template, Unknown

A = "111122223333"
B = "444455556666"


def clause(operator: str, key: Any, *values: Any) -> Condition:
    return Condition(operator, key, tuple(values))


def holds(operator: str, key: str, values: Any, context: Mapping[str, ContextValue]) -> bool | None:
    vals = values if isinstance(values, (tuple, Unknown)) else (values,)
    return evaluate_conditions((Condition(operator, key, vals),), context).matched


# --- String operators ----------------------------------------------------------------------------
# source: IAM User Guide, "IAM JSON policy elements: Condition operators", "String condition
# operators": StringEquals "Exact matching, case sensitive"; StringNotEquals "Negated matching";
# StringEqualsIgnoreCase "Exact matching, ignoring case"; StringLike case-sensitive with * and ?;
# StringNotLike "Negated case-sensitive matching".


@pytest.mark.parametrize(
    ("operator", "policy", "value", "expected"),
    [
        ("StringEquals", "johndoe", "johndoe", True),
        ("StringEquals", "johndoe", "JohnDoe", False),
        ("StringEquals", "john*", "johndoe", False),  # no wildcards in StringEquals
        ("StringEquals", "john*", "john*", True),
        ("StringNotEquals", "johndoe", "JohnDoe", True),
        ("StringNotEquals", "johndoe", "johndoe", False),
        ("StringEqualsIgnoreCase", "johndoe", "JohnDoe", True),
        ("StringEqualsIgnoreCase", "johndoe", "janedoe", False),
        ("StringNotEqualsIgnoreCase", "johndoe", "JOHNDOE", False),
        ("StringNotEqualsIgnoreCase", "johndoe", "jane", True),
        ("StringLike", "john*", "johndoe", True),
        ("StringLike", "john*", "Johndoe", False),
        ("StringLike", "j?hn", "john", True),
        ("StringNotLike", "john*", "johndoe", False),
        ("StringNotLike", "john*", "jane", True),
    ],
)
def test_string_operators(operator: str, policy: str, value: str, expected: bool) -> None:
    assert holds(operator, "aws:username", policy, {"aws:username": value}) is expected


# --- Missing keys ---------------------------------------------------------------------------------
# source: IAM User Guide, "Condition operators", Important: "If the key that you specify in a policy
# condition is not present in the request context, the values do not match and the condition is
# false. If the policy condition requires that the key is not matched, such as StringNotLike or
# ArnNotLike, and the right key is not present, the condition is true. This logic applies to all
# condition operators except ...IfExists and Null check."

POSITIVE_OPERATORS = [
    ("StringEquals", "x"),
    ("StringEqualsIgnoreCase", "x"),
    ("StringLike", "*"),
    ("NumericEquals", "1"),
    ("NumericLessThan", "1"),
    ("NumericGreaterThanEquals", "0"),
    ("DateEquals", "2020-01-01T00:00:00Z"),
    ("DateGreaterThan", "2020-01-01T00:00:00Z"),
    ("Bool", "true"),
    ("BinaryEquals", "QmluYXJ5"),
    ("IpAddress", "0.0.0.0/0"),
    ("ArnEquals", "arn:*:*:*:*:*"),
    ("ArnLike", "arn:*:*:*:*:*"),
]
NEGATED_OPERATORS = [
    ("StringNotEquals", "x"),
    ("StringNotEqualsIgnoreCase", "x"),
    ("StringNotLike", "*"),
    ("NumericNotEquals", "1"),
    ("DateNotEquals", "2020-01-01T00:00:00Z"),
    ("NotIpAddress", "0.0.0.0/0"),
    ("ArnNotEquals", "arn:*:*:*:*:*"),
    ("ArnNotLike", "arn:*:*:*:*:*"),
]


@pytest.mark.parametrize(("operator", "value"), POSITIVE_OPERATORS)
def test_positive_operator_is_false_on_missing_key(operator: str, value: str) -> None:
    assert holds(operator, "aws:SomeKey", value, {}) is False


@pytest.mark.parametrize(("operator", "value"), NEGATED_OPERATORS)
def test_negated_operator_is_true_on_missing_key(operator: str, value: str) -> None:
    assert holds(operator, "aws:SomeKey", value, {}) is True


# --- IfExists -------------------------------------------------------------------------------------
# source: IAM User Guide, "Condition operators", "...IfExists condition operators": "If the policy key
# is present in the context of the request, process the key as specified in the policy. If the key is
# not present, evaluate the condition element as true."


@pytest.mark.parametrize(("operator", "value"), POSITIVE_OPERATORS + NEGATED_OPERATORS)
def test_if_exists_is_true_on_missing_key(operator: str, value: str) -> None:
    assert holds(operator + "IfExists", "aws:SomeKey", value, {}) is True


def test_if_exists_evaluates_a_present_key() -> None:
    assert holds("StringLikeIfExists", "ec2:InstanceType", ("t1.*", "t2.*"), {"ec2:instancetype": "t2.micro"})
    assert not holds(
        "StringLikeIfExists", "ec2:InstanceType", ("t1.*", "t2.*"), {"ec2:instancetype": "m5.large"}
    )


def test_negated_if_exists_on_present_matching_key_is_false() -> None:
    assert holds("StringNotEqualsIfExists", "kms:CallerAccount", A, {"kms:calleraccount": A}) is False


# --- Null -----------------------------------------------------------------------------------------
# source: IAM User Guide, "Condition operators", "Condition operator to check existence of condition
# keys": "use either true (the key doesn't exist -- it is null) or false (the key exists and its value
# is not null)".


@pytest.mark.parametrize(
    ("policy", "context", "expected"),
    [
        ("true", {}, True),
        ("true", {"aws:tokenissuetime": "2020-01-01T00:00:00Z"}, False),
        ("false", {"aws:tokenissuetime": "2020-01-01T00:00:00Z"}, True),
        ("false", {}, False),
        (True, {}, True),  # a JSON boolean is its string form
        (False, {"aws:tokenissuetime": "x"}, True),
        ("TRUE", {}, True),
        # source: "IAM JSON policy elements: Condition", "The request context": an empty string in
        # the request "is null".
        ("true", {"aws:tokenissuetime": ""}, True),
    ],
)
def test_null(policy: Any, context: dict[str, ContextValue], expected: bool) -> None:
    assert holds("Null", "aws:TokenIssueTime", policy, context) is expected


# --- Several values, several keys -----------------------------------------------------------------
# source: IAM User Guide, "Creating a condition with multiple keys or values", "Evaluation logic for
# conditions with multiple keys or values": several operators or keys are ANDed; several values of one
# key are ORed; "When multiple values are listed in a policy for negated matching condition operators
# such as StringNotEquals and DateNotEquals, the effective permissions work like a logical AND".


def test_values_are_ored() -> None:
    assert holds("StringEquals", "aws:PrincipalAccount", (A, B), {"aws:principalaccount": B})
    assert not holds("StringEquals", "aws:PrincipalAccount", (A, B), {"aws:principalaccount": "999"})


def test_negated_values_are_nor() -> None:
    values = (A, B)
    assert holds("StringNotEquals", "aws:PrincipalAccount", values, {"aws:principalaccount": "999"}) is True
    assert holds("StringNotEquals", "aws:PrincipalAccount", values, {"aws:principalaccount": A}) is False
    assert holds("StringNotEquals", "aws:PrincipalAccount", values, {"aws:principalaccount": B}) is False


def test_negated_like_values_are_nor() -> None:
    assert not holds("StringNotLike", "aws:username", ("a*", "b*"), {"aws:username": "bob"})
    assert holds("StringNotLike", "aws:username", ("a*", "b*"), {"aws:username": "carol"})


DOC_BLOCK = (
    clause("StringEqualsIgnoreCase", "aws:PrincipalTag/department", "finance", "hr", "legal"),
    clause("StringEqualsIgnoreCase", "aws:PrincipalTag/role", "audit", "security"),
    clause("StringEquals", "aws:PrincipalAccount", "123456789012"),
)


def test_documented_block_all_true() -> None:
    ctx = {
        "aws:principaltag/department": "HR",
        "aws:principaltag/role": "audit",
        "aws:principalaccount": "123456789012",
    }
    assert evaluate_conditions(DOC_BLOCK, ctx).matched is True


def test_documented_block_one_key_false_fails_the_block() -> None:
    ctx = {
        "aws:principaltag/department": "HR",
        "aws:principaltag/role": "developer",
        "aws:principalaccount": "123456789012",
    }
    outcome = evaluate_conditions(DOC_BLOCK, ctx)
    assert outcome.matched is False
    assert "aws:PrincipalTag/role" in outcome.reason and "'developer'" in outcome.reason


def test_documented_block_missing_tag_fails_the_block() -> None:
    ctx = {"aws:principaltag/role": "audit", "aws:principalaccount": "123456789012"}
    assert evaluate_conditions(DOC_BLOCK, ctx).matched is False


def test_no_conditions_hold() -> None:
    # source: IAM User Guide, "IAM JSON policy elements: Condition": "The Condition element is
    # optional" -- a statement without one applies to every request it otherwise matches.
    assert evaluate_conditions((), {}).matched is True


# --- Numeric --------------------------------------------------------------------------------------
# source: IAM User Guide, "Condition operators", "Numeric condition operators" ("an integer or decimal
# value"); "Grammar of the IAM JSON policy language": quotation marks are optional for numbers.


@pytest.mark.parametrize(
    ("operator", "policy", "value", "expected"),
    [
        ("NumericEquals", "10", "10", True),
        ("NumericEquals", "10", "10.0", True),  # compared as numbers, not strings
        ("NumericEquals", 10, "10", True),  # a JSON number
        ("NumericNotEquals", "10", "11", True),
        ("NumericNotEquals", "10", "10", False),
        ("NumericLessThan", "10", "9", True),
        ("NumericLessThan", "10", "10", False),
        ("NumericLessThanEquals", "10", "10", True),
        ("NumericLessThanEquals", 3600, "3601", False),
        ("NumericGreaterThan", "1.5", "1.51", True),
        ("NumericGreaterThanEquals", "-2", "-2", True),
        ("NumericGreaterThan", "10", "abc", False),  # not a number: nothing to compare
        ("NumericEquals", "ten", "10", False),
    ],
)
def test_numeric(operator: str, policy: Any, value: str, expected: bool) -> None:
    assert holds(operator, "s3:max-keys", policy, {"s3:max-keys": value}) is expected


def test_numeric_policy_variable_is_literal() -> None:
    # source: "Condition operators", Numeric: "You can not use a policy variable with the Numeric
    # condition operator" -- the text is not a number, so it never compares.
    ctx = {"s3:max-keys": "10", "aws:principaltag/limit": "10"}
    assert holds("NumericEquals", "s3:max-keys", "${aws:PrincipalTag/limit}", ctx) is False


# --- Dates ----------------------------------------------------------------------------------------
# source: IAM User Guide, "Condition operators", "Date condition operators": values in "one of the W3C
# implementations of the ISO 8601 date formats or in epoch (UNIX) time".


@pytest.mark.parametrize(
    ("operator", "policy", "value", "expected"),
    [
        ("DateGreaterThan", "2020-01-01T00:00:01Z", "2020-06-01T00:00:00Z", True),
        ("DateGreaterThan", "2020-01-01T00:00:01Z", "2019-12-31T23:59:59Z", False),
        ("DateLessThan", "2026-01-01T00:00:00Z", "2025-12-31T23:59:59Z", True),
        ("DateLessThanEquals", "2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z", True),
        ("DateGreaterThanEquals", "2026-01-01", "2026-01-01T00:00:00Z", True),  # date only: midnight
        ("DateEquals", "2026-01-01T01:00:00+01:00", "2026-01-01T00:00:00Z", True),  # same instant
        ("DateNotEquals", "2026-01-01T00:00:00Z", "2026-01-01T00:00:01Z", True),
        ("DateLessThan", "1767225600", "2025-12-31T23:59:59Z", True),  # epoch policy value
        ("DateGreaterThan", "2026-01-01T00:00:00Z", "1767225601", True),  # epoch request value
        ("DateEquals", 1767225600, "2026-01-01T00:00:00Z", True),  # JSON number epoch
        ("DateLessThan", "2026-01-01T00:00:00.500Z", "2026-01-01T00:00:00.250Z", True),
        ("DateLessThan", "not a date", "2026-01-01T00:00:00Z", False),
    ],
)
def test_dates(operator: str, policy: Any, value: str, expected: bool) -> None:
    assert holds(operator, "aws:CurrentTime", policy, {"aws:currenttime": value}) is expected


# --- Bool, Binary ---------------------------------------------------------------------------------
# source: IAM User Guide, "Condition operators", "Boolean condition operators" (compare to "true" or
# "false"; policy variables allowed) and "Binary condition operators" (BinaryEquals "compares the value
# of the specified key byte for byte against a base-64 encoded representation of the binary value").


@pytest.mark.parametrize(
    ("policy", "value", "expected"),
    [
        ("true", "true", True),
        ("false", "true", False),
        (True, "true", True),  # a JSON boolean is compared as "true"
        (False, "false", True),
        ("true", "True", True),
        ("true", "yes", False),
    ],
)
def test_bool(policy: Any, value: str, expected: bool) -> None:
    assert holds("Bool", "aws:SecureTransport", policy, {"aws:securetransport": value}) is expected


def test_bool_with_policy_variable() -> None:
    ctx = {"aws:securetransport": "true", "aws:principaltag/tls": "true"}
    assert holds("Bool", "aws:SecureTransport", "${aws:PrincipalTag/tls}", ctx) is True


def test_binary_equals() -> None:
    ctx = {"k": "QmluYXJ5VmFsdWVJbkJhc2U2NA=="}
    assert holds("BinaryEquals", "k", "QmluYXJ5VmFsdWVJbkJhc2U2NA==", ctx) is True
    assert holds("BinaryEquals", "k", "T3RoZXI=", ctx) is False
    assert holds("BinaryEquals", "k", "not base64!", ctx) is False


# --- IP addresses ---------------------------------------------------------------------------------
# source: IAM User Guide, "Condition operators", "IP address condition operators": "standard CIDR
# format (for example, 203.0.113.0/24 or 2001:DB8:1234:5678::/64). If you specify an IP address without
# the associated routing prefix, IAM uses the default prefix value of /32."


@pytest.mark.parametrize(
    ("operator", "policy", "value", "expected"),
    [
        ("IpAddress", "203.0.113.0/24", "203.0.113.7", True),
        ("IpAddress", "203.0.113.0/24", "203.0.114.7", False),
        ("IpAddress", "203.0.113.7", "203.0.113.7", True),  # no prefix: /32
        ("IpAddress", "203.0.113.7", "203.0.113.8", False),
        ("IpAddress", "2001:DB8:1234:5678::/64", "2001:db8:1234:5678::1", True),
        ("IpAddress", "2001:DB8:1234:5678::/64", "2001:db8:1234:5679::1", False),
        ("IpAddress", "203.0.113.0/24", "2001:db8::1", False),  # other address family
        ("NotIpAddress", "203.0.113.0/24", "198.51.100.1", True),
        ("NotIpAddress", "203.0.113.0/24", "203.0.113.1", False),
        ("IpAddress", "not-an-ip", "203.0.113.1", False),
    ],
)
def test_ip_address(operator: str, policy: str, value: str, expected: bool) -> None:
    assert holds(operator, "aws:SourceIp", policy, {"aws:sourceip": value}) is expected


def test_ip_address_mixed_v4_v6_list() -> None:
    values = ("203.0.113.0/24", "2001:DB8:1234:5678::/64")
    assert holds("IpAddress", "aws:SourceIp", values, {"aws:sourceip": "2001:db8:1234:5678::9"})
    assert holds("IpAddress", "aws:SourceIp", values, {"aws:sourceip": "203.0.113.9"})


# --- ARN operators --------------------------------------------------------------------------------
# source: IAM User Guide, "Condition operators", "Amazon Resource Name (ARN) condition operators":
# ArnEquals and ArnLike "behave identically"; ArnNotEquals and ArnNotLike are their negation; "You can
# use a policy variable with the ARN condition operator".

ROLE = f"arn:aws:iam::{A}:role/app-web"


@pytest.mark.parametrize(
    ("operator", "policy", "expected"),
    [
        ("ArnEquals", f"arn:aws:iam::{A}:role/app-*", True),  # wildcards in ArnEquals too
        ("ArnLike", f"arn:aws:iam::{A}:role/app-*", True),
        ("ArnLike", "arn:aws:iam::*:role/other", False),
        ("ArnNotEquals", f"arn:aws:iam::{A}:role/app-*", False),
        ("ArnNotLike", "arn:aws:iam::*:role/other", True),
        ("ArnLike", f"arn:aws:iam::{A}:role/APP-*", False),  # case-sensitive
    ],
)
def test_arn_operators(operator: str, policy: str, expected: bool) -> None:
    assert holds(operator, "aws:PrincipalArn", policy, {"aws:principalarn": ROLE}) is expected


def test_arn_equals_with_policy_variable() -> None:
    # source: IAM User Guide, "Variables and tags", "Condition element": ARN operators "include
    # ArnEquals and ArnLike" among the operators that take policy variables.
    ctx = {"aws:sourcearn": f"arn:aws:sns:us-east-1:{A}:alerts", "aws:principalaccount": A}
    assert holds("ArnEquals", "aws:SourceArn", "arn:aws:sns:*:${aws:PrincipalAccount}:alerts", ctx)
    ctx_b = {**ctx, "aws:principalaccount": B}
    assert not holds("ArnEquals", "aws:SourceArn", "arn:aws:sns:*:${aws:PrincipalAccount}:alerts", ctx_b)


# --- Set operators --------------------------------------------------------------------------------
# source: IAM User Guide, "Creating a condition with multiple keys or values", "Using multiple keys and
# values": ForAllValues "returns true if every key value in the request matches at least one value in
# the policy. It also returns true if there are no keys in the request, or if the key values resolve to
# a null data set, such as an empty string"; ForAnyValue "returns true if any one of the key values in
# the request matches any one of the condition values in the policy. For no matching key or a null
# dataset, the condition returns false."

ATTRS = ("PostDateTime", "Message", "Tags")


@pytest.mark.parametrize(
    ("operator", "request_values", "expected"),
    [
        ("ForAllValues:StringEquals", ("Message", "Tags"), True),
        ("ForAllValues:StringEquals", ("PostDateTime", "UserName"), False),  # the documented example
        ("ForAllValues:StringEquals", (), True),  # empty set
        ("ForAllValues:StringEquals", "", True),  # "a null data set, such as an empty string"
        ("ForAnyValue:StringEquals", ("UserName", "Message", "PostDateTime"), True),
        ("ForAnyValue:StringEquals", ("UserName",), False),
        ("ForAnyValue:StringEquals", (), False),
        ("ForAnyValue:StringEquals", "", False),
        ("ForAllValues:StringLike", ("Post*", "Tags"), False),  # request values are not patterns
        ("ForAnyValue:StringLike", ("Messages",), False),
    ],
)
def test_set_operators(operator: str, request_values: ContextValue, expected: bool) -> None:
    ctx = {"dynamodb:attributes": request_values}
    assert holds(operator, "dynamodb:Attributes", ATTRS, ctx) is expected


def test_for_all_values_true_when_key_missing() -> None:
    assert holds("ForAllValues:StringEquals", "dynamodb:Attributes", ATTRS, {}) is True


def test_for_any_value_false_when_key_missing() -> None:
    assert holds("ForAnyValue:StringEquals", "dynamodb:Attributes", ATTRS, {}) is False


def test_for_any_value_negated_operator_false_when_key_missing() -> None:
    # The ForAnyValue rule ("For no matching key ... the condition returns false") applies to the
    # negated operators as well: there is no request value that could be "not equal".
    assert holds("ForAnyValue:StringNotEquals", "aws:TagKeys", "secret", {}) is False


def test_for_all_values_negated_operator() -> None:
    # Every request value must be none of the policy values.
    ctx = {"aws:tagkeys": ("team", "env")}
    assert holds("ForAllValues:StringNotEquals", "aws:TagKeys", ("secret", "owner"), ctx) is True
    ctx = {"aws:tagkeys": ("team", "secret")}
    assert holds("ForAllValues:StringNotEquals", "aws:TagKeys", ("secret", "owner"), ctx) is False


def test_for_any_value_negated_operator() -> None:
    ctx = {"aws:tagkeys": ("secret", "env")}
    assert holds("ForAnyValue:StringNotEquals", "aws:TagKeys", "secret", ctx) is True
    ctx = {"aws:tagkeys": ("secret",)}
    assert holds("ForAnyValue:StringNotEquals", "aws:TagKeys", "secret", ctx) is False


def test_kms_grant_operations_for_all_values() -> None:
    # source: KMS Developer Guide, "AWS KMS condition keys", "kms:GrantOperations" (multivalued), used
    # with ForAllValues to limit the operations of a grant.
    allowed = ("Decrypt", "Encrypt")
    assert holds(
        "ForAllValues:StringEquals", "kms:GrantOperations", allowed, {"kms:grantoperations": ("Decrypt",)}
    )
    assert not holds(
        "ForAllValues:StringEquals",
        "kms:GrantOperations",
        allowed,
        {"kms:grantoperations": ("Decrypt", "RetireGrant")},
    )


def test_set_operator_on_single_valued_key_treats_it_as_a_set_of_one() -> None:
    # source: KMS Developer Guide, "AWS KMS condition keys", "kms:EncryptionContext:context-key": with
    # ForAllValues on this single-valued key "the condition allows requests with no encryption context
    # and requests with encryption context pairs that are not specified in the policy condition".
    op, key = "ForAllValues:StringEquals", "kms:EncryptionContext:Department"
    assert holds(op, key, "IT", {}) is True  # no encryption context: allowed (the trap)
    assert holds(op, key, "IT", {"kms:encryptioncontext:stage": "Restricted"}) is True
    assert holds(op, key, "IT", {"kms:encryptioncontext:department": "IT"}) is True
    assert holds(op, key, "IT", {"kms:encryptioncontext:department": "HR"}) is False
    assert holds("ForAnyValue:StringEquals", key, "IT", {"kms:encryptioncontext:department": "IT"}) is True


def test_multivalued_key_without_set_operator_does_not_match() -> None:
    # source: IAM User Guide, "Single-valued vs. multivalued context keys": "Multivalued context keys
    # require a condition set operator"; observed behaviour: boogy/iam-policy-validator#161 (StringEquals
    # on aws:CalledVia with several services denied, ForAnyValue:StringEquals allowed) and
    # @cloud-copilot/iam-simulate ("Set operator is required for a multi-value key").
    ctx = {"aws:calledvia": ("athena.amazonaws.com", "dataexchange.amazonaws.com")}
    assert holds("StringEquals", "aws:CalledVia", "athena.amazonaws.com", ctx) is False
    assert holds("ForAnyValue:StringEquals", "aws:CalledVia", "athena.amazonaws.com", ctx) is True
    outcome = evaluate_conditions((clause("StringEquals", "aws:CalledVia", "athena.amazonaws.com"),), ctx)
    assert "ForAnyValue" in outcome.reason


def test_org_paths_for_any_value_string_like() -> None:
    # source: IAM User Guide, "AWS global condition context keys", "aws:PrincipalOrgPaths" (multivalued;
    # "When you include a wildcard, you must use the StringLike condition operator").
    ctx = {"aws:principalorgpaths": ("o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/ou-ab12-22222222/",)}
    pattern = "o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/*"
    assert holds("ForAnyValue:StringLike", "aws:PrincipalOrgPaths", pattern, ctx) is True
    assert holds("ForAnyValue:StringLike", "aws:PrincipalOrgPaths", "o-zzz/*", ctx) is False


# --- Key and value case ---------------------------------------------------------------------------
# source: IAM User Guide, "IAM JSON policy elements: Condition": "Condition key names are not
# case-sensitive ... Case-sensitivity of condition key values depends on the condition operator".


def test_condition_key_name_is_case_insensitive() -> None:
    assert holds("StringEquals", "AWS:PrincipalAccount", A, {"aws:principalaccount": A}) is True
    assert holds("StringEquals", "Kms:CallerAccount", A, {"kms:calleraccount": A}) is True


def test_condition_value_is_case_sensitive() -> None:
    assert holds("StringEquals", "aws:username", "johndoe", {"aws:username": "JohnDoe"}) is False


def test_principal_tag_key_case_insensitive() -> None:
    # source: "IAM JSON policy elements: Condition": "if you specify "aws:ResourceTag/TagKey1": "Value1"
    # ... the condition matches a resource tag key named either TagKey1 or tagkey1".
    caller = Caller(PrincipalKind.USER, f"arn:aws:iam::{A}:user/u", A, tags={"TagKey1": "Value1"})
    ctx = request_context(Request("kms:Decrypt", caller, "k", A))
    assert holds("StringEquals", "aws:PrincipalTag/tagkey1", "Value1", ctx) is True


def test_encryption_context_key_case_insensitive_value_case_sensitive() -> None:
    # source: KMS Developer Guide, "AWS KMS condition keys", "Case sensitivity of the encryption context
    # condition": "the condition key, which consists of the kms:EncryptionContext: prefix and the
    # context-key replacement, is not case sensitive ... The case sensitivity of the value ... is
    # determined by the policy condition operator".
    caller = Caller(PrincipalKind.USER, f"arn:aws:iam::{A}:user/u", A)
    req = Request("kms:Decrypt", caller, "k", A, context={"kms:EncryptionContext:AppName": "ExampleApp"})
    ctx = request_context(req)
    assert holds("StringEquals", "kms:EncryptionContext:Appname", "ExampleApp", ctx) is True
    assert holds("StringEquals", "KMS:ENCRYPTIONCONTEXT:APPNAME", "ExampleApp", ctx) is True
    assert holds("StringEquals", "kms:EncryptionContext:AppName", "exampleapp", ctx) is False
    assert holds("StringEqualsIgnoreCase", "kms:EncryptionContext:AppName", "exampleapp", ctx) is True


def test_encryption_context_keys_values_case_sensitive() -> None:
    # source: same section: "To require a case-sensitive encryption context key, use the
    # kms:EncryptionContextKeys policy condition with a case-sensitive condition operator".
    ctx = {"kms:encryptioncontextkeys": ("Appname",)}
    assert holds("ForAnyValue:StringEquals", "kms:EncryptionContextKeys", "AppName", ctx) is False
    assert holds("ForAnyValue:StringEquals", "kms:EncryptionContextKeys", "Appname", ctx) is True


def test_request_keys_differing_only_by_case_are_unresolved() -> None:
    # source: "IAM JSON policy elements: Condition": for keys that differ only by case "the key name
    # matches both tags, but only one value matches. This can result in unexpected condition failures."
    caller = Caller(PrincipalKind.USER, f"arn:aws:iam::{A}:user/u", A)
    req = Request(
        "kms:Decrypt",
        caller,
        "k",
        A,
        context={"kms:EncryptionContext:Dept": "IT", "kms:encryptioncontext:dept": "HR"},
    )
    outcome = evaluate_conditions(
        (clause("StringEquals", "kms:EncryptionContext:Dept", "IT"),), request_context(req)
    )
    assert outcome.matched is None and outcome.depends_on


# --- Policy variables in conditions ---------------------------------------------------------------
# source: IAM User Guide, "IAM policy elements: Variables and tags": variables in string and ARN
# conditions; "Policy variables with no value": "Condition operators like StringEquals or StringLike do
# not match ... Inverted condition operators like StringNotEquals or StringNotLike do match against a
# null value"; "Specifying default values".


def test_username_variable_in_string_like() -> None:
    ctx = {"s3:prefix": "alice/reports", "aws:username": "alice"}
    assert holds("StringLike", "s3:prefix", "${aws:username}/*", ctx) is True
    assert holds("StringLike", "s3:prefix", "${aws:username}/*", {**ctx, "aws:username": "bob"}) is False


def test_principal_tag_variable_equals() -> None:
    ctx = {"kms:encryptioncontext:team": "blue", "aws:principaltag/team": "blue"}
    assert holds("StringEquals", "kms:EncryptionContext:team", "${aws:PrincipalTag/team}", ctx) is True


def test_variable_without_value_positive_operator_false() -> None:
    ctx = {"s3:existingobjecttag/team": "blue"}
    assert holds("StringEquals", "s3:ExistingObjectTag/Team", "${aws:PrincipalTag/Team}", ctx) is False
    assert holds("StringLike", "s3:ExistingObjectTag/Team", "${aws:PrincipalTag/Team}*", ctx) is False


def test_variable_without_value_negated_operator_true() -> None:
    ctx = {"s3:existingobjecttag/team": "blue"}
    assert holds("StringNotEquals", "s3:ExistingObjectTag/Team", "${aws:PrincipalTag/Team}", ctx) is True


def test_variable_default_value() -> None:
    ctx = {"kms:encryptioncontext:team": "none"}
    assert holds("StringEquals", "kms:EncryptionContext:team", "${aws:PrincipalTag/team, 'none'}", ctx)


def test_special_variables_are_literal_characters_in_like() -> None:
    # source: "Variables and tags", "Special characters": ${*} "use where you need an * (asterisk)".
    assert holds("StringLike", "k", "a${*}", {"k": "a*"}) is True
    assert holds("StringLike", "k", "a${*}", {"k": "abc"}) is False
    assert holds("StringLike", "k", "a${?}", {"k": "a?"}) is True
    assert holds("StringLike", "k", "a${?}", {"k": "ab"}) is False


def test_variables_literal_in_old_policy_version() -> None:
    # source: "Variables and tags": without Version 2012-10-17 "variables like ${aws:username} are
    # treated as literal strings in the policy".
    block = (clause("StringEquals", "k", "${aws:username}"),)
    assert (
        evaluate_conditions(block, {"k": "alice", "aws:username": "alice"}, policy_variables=False).matched
        is False
    )
    assert evaluate_conditions(block, {"k": "${aws:username}"}, policy_variables=False).matched is True
    assert evaluate_conditions(block, {"k": "alice", "aws:username": "alice"}).matched is True


def test_variable_value_is_not_a_wildcard() -> None:
    # assumption (documentation silent; @cloud-copilot/iam-simulate agrees): a '*' inside a
    # substituted value is a literal character.
    ctx = {"k": "anything", "aws:principaltag/p": "*"}
    assert holds("StringLike", "k", "${aws:PrincipalTag/p}", ctx) is False


# --- JSON booleans and numbers as strings ---------------------------------------------------------
# source: IAM User Guide, "Grammar of the IAM JSON policy language": "Quotation marks are optional for
# numeric and Boolean values" -- the value is the same with or without them.


def test_json_boolean_in_string_operator() -> None:
    assert holds("StringEquals", "aws:MultiFactorAuthPresent", True, {"aws:multifactorauthpresent": "true"})


def test_json_number_in_string_operator() -> None:
    assert holds("StringEquals", "kms:CallerAccount", 111122223333, {"kms:calleraccount": A})


# --- Symbolic values ------------------------------------------------------------------------------
# The simulator's contract (kmsguard/authz/types.py, Outcome.UNRESOLVED): a decision that depends on
# values not known statically says which; a clause decided without them is decided (False AND x is
# False; a missing key decides positive and negated operators before any value is read).

ACCOUNT = Unknown("AWS::AccountId")


def test_unknown_value_is_unresolved() -> None:
    outcome = evaluate_conditions(
        (clause("StringEquals", "kms:CallerAccount", ACCOUNT),), {"kms:calleraccount": A}
    )
    assert outcome.matched is None
    assert outcome.depends_on == ("AWS::AccountId",)


def test_known_match_decides_despite_unknown_sibling_value() -> None:
    block = (clause("StringEquals", "kms:CallerAccount", A, ACCOUNT),)
    assert evaluate_conditions(block, {"kms:calleraccount": A}).matched is True


def test_negated_with_known_match_is_false_despite_unknown() -> None:
    block = (clause("StringNotEquals", "kms:CallerAccount", A, ACCOUNT),)
    assert evaluate_conditions(block, {"kms:calleraccount": A}).matched is False


def test_false_and_unresolved_is_false() -> None:
    block = (
        clause("StringEquals", "kms:CallerAccount", ACCOUNT),
        clause("StringEquals", "kms:ViaService", "s3.us-east-1.amazonaws.com"),
    )
    ctx = {"kms:calleraccount": A, "kms:viaservice": "ec2.us-east-1.amazonaws.com"}
    assert evaluate_conditions(block, ctx).matched is False


def test_true_and_unresolved_is_unresolved() -> None:
    block = (
        clause("StringEquals", "kms:CallerAccount", ACCOUNT),
        clause("StringEquals", "kms:ViaService", "s3.us-east-1.amazonaws.com"),
    )
    ctx = {"kms:calleraccount": A, "kms:viaservice": "s3.us-east-1.amazonaws.com"}
    outcome = evaluate_conditions(block, ctx)
    assert outcome.matched is None and outcome.depends_on == ("AWS::AccountId",)


def test_missing_key_decides_before_unknown_values() -> None:
    whole = Unknown("var.accounts")
    assert holds("StringEquals", "kms:CallerAccount", whole, {}) is False
    assert holds("StringNotEquals", "kms:CallerAccount", whole, {}) is True
    assert holds("ForAllValues:StringEquals", "kms:GrantOperations", whole, {}) is True
    assert evaluate_conditions((Condition("StringEquals", "k", whole),), {"k": "v"}).depends_on == (
        "var.accounts",
    )


def test_template_that_cannot_match_is_false() -> None:
    role = Template(("arn:aws:iam::", ACCOUNT, ":role/admin"))
    ctx = {"aws:principalarn": f"arn:aws:iam::{A}:role/app"}
    assert holds("ArnEquals", "aws:PrincipalArn", role, ctx) is False
    assert holds("StringEquals", "aws:PrincipalArn", role, ctx) is False
    ctx = {"aws:principalarn": f"arn:aws:iam::{A}:role/admin"}
    assert holds("ArnEquals", "aws:PrincipalArn", role, ctx) is None


def test_resource_ref_value_is_unresolved() -> None:
    ref = ResourceRef("aws_iam_role.app", "arn")
    outcome = evaluate_conditions((clause("ArnEquals", "aws:PrincipalArn", ref),), {"aws:principalarn": "x"})
    assert outcome.matched is None and outcome.depends_on == ("aws_iam_role.app.arn",)


def test_unknown_condition_block() -> None:
    outcome = evaluate_conditions(Unknown("local.conditions"), {})
    assert outcome == ConditionOutcome(None, outcome.reason, ("local.conditions",))


def test_symbolic_condition_key_is_unresolved() -> None:
    block = (Condition("StringEquals", Unknown("var.key"), ("x",)),)
    assert evaluate_conditions(block, {"k": "x"}).matched is None


def test_numeric_template_is_unresolved() -> None:
    value = Template(("1", Unknown("var.n")))
    assert holds("NumericLessThan", "s3:max-keys", value, {"s3:max-keys": "5"}) is None


# --- Reasons --------------------------------------------------------------------------------------


def test_reason_names_operator_key_and_values() -> None:
    outcome = evaluate_conditions((clause("StringEquals", "kms:CallerAccount", A),), {"kms:calleraccount": B})
    assert outcome.reason == f"StringEquals kms:CallerAccount: '{B}' is not '{A}'"


def test_reason_for_missing_key() -> None:
    outcome = evaluate_conditions((clause("StringEquals", "kms:ViaService", "s3.amazonaws.com"),), {})
    assert (
        outcome.matched is False
        and "kms:ViaService" in outcome.reason
        and "not in the request" in outcome.reason
    )


def test_reason_for_failed_negated_operator_names_the_value_matched() -> None:
    outcome = evaluate_conditions(
        (clause("StringNotEquals", "aws:PrincipalAccount", "1", A),), {"aws:principalaccount": A}
    )
    assert outcome.matched is False and f"'{A}'" in outcome.reason and "StringNotEquals" in outcome.reason


def test_unknown_operator_never_matches() -> None:
    # source: IAM User Guide, "Condition operators" lists every operator; anything else makes the
    # policy invalid (kmsguard's policy builder reports it), so it grants nothing here.
    outcome = evaluate_conditions((clause("StringSortOf", "k", "v"),), {"k": "v"})
    assert outcome.matched is False and "unknown condition operator" in outcome.reason


# --- The context a caller implies -----------------------------------------------------------------
# source: IAM User Guide, "AWS global condition context keys" (one section per key) and "IAM policy
# elements: Variables and tags", "Principal key values" (aws:username, aws:userid, aws:PrincipalType);
# KMS Developer Guide, "AWS KMS condition keys", "kms:CallerAccount".


def test_assumed_role_context() -> None:
    caller = Caller(
        PrincipalKind.ASSUMED_ROLE,
        f"arn:aws:iam::{A}:role/app",
        A,
        session_arn=f"arn:aws:sts::{A}:assumed-role/app/session-1",
        tags={"Team": "blue"},
        org_id="o-a1b2c3d4e5",
        org_paths=("o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/",),
        userid="AROAEXAMPLE:session-1",
    )
    ctx = caller_context(caller, B)
    # "For IAM roles, the request context returns the ARN of the role, not the ARN of the user that
    # assumed the role" (aws:PrincipalArn).
    assert ctx["aws:principalarn"] == f"arn:aws:iam::{A}:role/app"
    assert ctx["aws:principalaccount"] == A
    assert ctx["aws:principaltype"] == "AssumedRole"
    assert ctx["aws:userid"] == "AROAEXAMPLE:session-1"
    assert ctx["aws:principalorgid"] == "o-a1b2c3d4e5"
    assert ctx["aws:principalorgpaths"] == ("o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/",)
    assert ctx["aws:principaltag/team"] == "blue"
    assert ctx["aws:principalisawsservice"] == "false"
    assert ctx["kms:calleraccount"] == A
    assert ctx["aws:resourceaccount"] == B
    assert "aws:username" not in ctx  # "requests that are made using ... IAM roles do not include this key"


def test_assumed_role_without_unique_id_has_unresolved_userid() -> None:
    caller = Caller(
        PrincipalKind.ASSUMED_ROLE, f"arn:aws:iam::{A}:role/app", A, f"arn:aws:sts::{A}:assumed-role/app/s"
    )
    ctx = caller_context(caller, A)
    assert isinstance(ctx["aws:userid"], UnresolvedContextValue)
    assert holds("StringLike", "aws:userid", "AROA*", ctx) is None


def test_iam_user_context() -> None:
    caller = Caller(PrincipalKind.USER, f"arn:aws:iam::{A}:user/division/alice", A, userid="AIDAEXAMPLE")
    ctx = caller_context(caller, A)
    assert ctx["aws:username"] == "alice"  # the friendly name
    assert ctx["aws:userid"] == "AIDAEXAMPLE"
    assert ctx["aws:principaltype"] == "User"
    assert ctx["aws:principalarn"] == f"arn:aws:iam::{A}:user/division/alice"


def test_root_user_context() -> None:
    ctx = caller_context(Caller(PrincipalKind.ROOT, f"arn:aws:iam::{A}:root", A), A)
    assert ctx["aws:principaltype"] == "Account"
    assert ctx["aws:userid"] == A  # the account id
    assert ctx["aws:principalarn"] == f"arn:aws:iam::{A}:root"
    assert "aws:username" not in ctx


def test_federated_user_context() -> None:
    arn = f"arn:aws:sts::{A}:federated-user/Jean"
    ctx = caller_context(Caller(PrincipalKind.FEDERATED_USER, arn, A, session_arn=arn), A)
    assert ctx["aws:principaltype"] == "FederatedUser"
    assert ctx["aws:userid"] == f"{A}:Jean"  # account:caller-specified-name
    assert ctx["aws:principalarn"] == arn


def test_service_principal_context() -> None:
    caller = Caller(PrincipalKind.SERVICE, "s3.amazonaws.com", None, service="s3.amazonaws.com")
    ctx = caller_context(caller, A)
    assert ctx["aws:principalisawsservice"] == "true"
    assert ctx["aws:principalservicename"] == "s3.amazonaws.com"
    assert "aws:principalarn" not in ctx and "kms:calleraccount" not in ctx


def test_anonymous_context() -> None:
    ctx = caller_context(Caller(PrincipalKind.ANONYMOUS, "*", None), A)
    assert ctx["aws:principalaccount"] == "anonymous"  # "the request context returns anonymous"
    assert ctx["aws:principaltype"] == "Anonymous"
    assert "aws:principalarn" not in ctx  # "Anonymous requests do not include this key"
    assert "aws:principalisawsservice" not in ctx


def test_request_context_request_keys_win_and_are_lower_cased() -> None:
    caller = Caller(PrincipalKind.USER, f"arn:aws:iam::{A}:user/u", A)
    req = Request("kms:Decrypt", caller, "k", A, context={"kms:CallerAccount": B, "kms:ViaService": "s3.x"})
    ctx = request_context(req)
    assert ctx["kms:calleraccount"] == B
    assert ctx["kms:viaservice"] == "s3.x"


def test_caller_context_is_a_fresh_dict() -> None:
    caller = Caller(PrincipalKind.ROOT, f"arn:aws:iam::{A}:root", A)
    first = caller_context(caller, A)
    first["kms:calleraccount"] = "tampered"
    assert caller_context(caller, A)["kms:calleraccount"] == A
