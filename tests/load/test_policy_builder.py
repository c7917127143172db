"""The policy builder: normalisation and the IAM policy grammar, each expectation from AWS docs.

Pages cited below (IAM User Guide unless said otherwise):
* "AWS JSON policy elements: Principal"          -- PRINCIPAL
* "IAM JSON policy elements: Effect"             -- EFFECT
* "IAM JSON policy elements: Sid"                -- SID
* "IAM JSON policy elements: Condition operators" -- OPERATORS
* "Grammar of the IAM JSON policy language"      -- GRAMMAR
* KMS Developer Guide, "Create a key policy", section "Key policy format" -- KMS FORMAT
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from kmsguard.load.policy_builder import (
    KEY_POLICY_MAX_BYTES,
    RULE_CONDITION,
    RULE_DUPLICATE_SID,
    RULE_GRAMMAR,
    RULE_NOT_JSON,
    RULE_SIZE,
    build_policy,
    valid_operator,
)
from kmsguard.model import Policy, PolicyKind, PrincipalType, Unknown
from kmsguard.model.span import Span
from kmsguard.model.values import ResourceRef

ROOT = "arn:aws:iam::111122223333:root"


def statement(**elements: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}
    base.update(elements)
    return {k: v for k, v in base.items() if v is not None}


def build(*statements: dict[str, Any], kind: PolicyKind = PolicyKind.KEY, **kw: Any) -> tuple[Any, list]:
    document = {"Version": "2012-10-17", "Statement": list(statements)}
    return build_policy(document, kind, resource="test", **kw)


def build_ok(*statements: dict[str, Any], kind: PolicyKind = PolicyKind.KEY) -> Policy:
    policy, diagnostics = build(*statements, kind=kind)
    assert diagnostics == [], diagnostics
    assert isinstance(policy, Policy)
    return policy


def messages(diagnostics: list) -> list[str]:
    return [d.message for d in diagnostics]


def line_of(text: str, needle: str) -> int:
    return next(i + 1 for i, line in enumerate(text.splitlines()) if needle in line)


# -- principal normalisation ----------------------------------------------------------------


def test_star_principal_equals_aws_star() -> None:
    # source: PRINCIPAL, "All principals": "Principal": "*" and "Principal": {"AWS": "*"} are
    # equivalent.
    star = build_ok(statement(Principal="*")).statements[0].principals
    aws_star = build_ok(statement(Principal={"AWS": "*"})).statements[0].principals
    assert (
        [(p.type, p.value) for p in star]
        == [(p.type, p.value) for p in aws_star]
        == [(PrincipalType.AWS, "*")]
    )
    assert star[0].is_wildcard and aws_star[0].is_wildcard


def test_bare_account_id_is_the_account_root_arn() -> None:
    # source: PRINCIPAL, "AWS account principals": "AWS": "123456789012" and
    # "AWS": "arn:aws:iam::123456789012:root" are the same principal.
    (principal,) = build_ok(statement(Principal={"AWS": "111122223333"})).statements[0].principals
    assert principal.value == ROOT
    assert principal.raw == "111122223333"
    assert principal.is_account_root and principal.account() == "111122223333"


def test_account_root_uses_the_partition() -> None:
    policy, _ = build(statement(Principal={"AWS": "111122223333"}), partition="aws-us-gov")
    assert policy.statements[0].principals[0].value == "arn:aws-us-gov:iam::111122223333:root"


@pytest.mark.parametrize(
    "pattern", ["arn:aws:iam::*:root", "arn:aws:iam::111122223333:role/app-*", "1111222233?3"]
)
def test_wildcard_inside_a_principal_arn_is_a_grammar_error(pattern: str) -> None:
    # source: PRINCIPAL, "Specifying a principal": "You cannot use a wildcard to match part of a
    # principal name or ARN." Only "*" alone is a wildcard principal.
    _, diagnostics = build(statement(Principal={"AWS": pattern}))
    assert [d.rule_id for d in diagnostics] == [RULE_GRAMMAR]
    assert "cannot be a pattern" in diagnostics[0].message
    assert build_ok(statement(Principal={"AWS": "*"})).statements[0].principals[0].is_wildcard


def test_account_id_like_strings_that_are_not_twelve_digits_are_kept() -> None:
    (principal,) = build_ok(statement(Principal={"AWS": "11112222333"})).statements[0].principals
    assert principal.value == "11112222333"


@pytest.mark.parametrize(
    ("ptype", "value", "expected_type"),
    [
        # source: PRINCIPAL, "AWS service principals".
        ("Service", "logs.eu-west-1.amazonaws.com", PrincipalType.SERVICE),
        # source: PRINCIPAL, "Federated user principals" / "OIDC / SAML federated principals".
        ("Federated", "cognito-identity.amazonaws.com", PrincipalType.FEDERATED),
        # source: PRINCIPAL, "Canonical user principals".
        (
            "CanonicalUser",
            "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be",
            PrincipalType.CANONICAL_USER,
        ),
    ],
)
def test_service_federated_and_canonical_principals(
    ptype: str, value: str, expected_type: PrincipalType
) -> None:
    (principal,) = build_ok(statement(Principal={ptype: value})).statements[0].principals
    assert principal.type is expected_type and principal.value == value


def test_twelve_digit_service_value_is_not_turned_into_a_root_arn() -> None:
    # Only AWS principals take the account-id shorthand (PRINCIPAL, "AWS account principals").
    (principal,) = build_ok(statement(Principal={"Federated": "111122223333"})).statements[0].principals
    assert principal.value == "111122223333"


def test_single_string_equals_one_item_list() -> None:
    # source: PRINCIPAL -- each principal type takes a string or an array of strings;
    # GRAMMAR: <principal_id_string> or [<principal_id_string>, ...]; same for Action/Resource.
    single = build_ok(statement(Principal={"AWS": ROOT}, Action="kms:Encrypt", Resource="*")).statements[0]
    listed = build_ok(
        statement(Principal={"AWS": [ROOT]}, Action=["kms:Encrypt"], Resource=["*"])
    ).statements[0]
    assert [(p.type, p.value) for p in single.principals] == [(p.type, p.value) for p in listed.principals]
    assert single.actions == listed.actions == ("kms:Encrypt",)
    assert single.resources == listed.resources == ("*",)


def test_several_types_and_values_in_one_principal() -> None:
    principals = (
        build_ok(
            statement(
                Principal={"AWS": [ROOT, "arn:aws:iam::111122223333:role/app"], "Service": "s3.amazonaws.com"}
            )
        )
        .statements[0]
        .principals
    )
    assert sorted((p.type.value, p.value) for p in principals) == sorted(
        [("AWS", ROOT), ("AWS", "arn:aws:iam::111122223333:role/app"), ("Service", "s3.amazonaws.com")]
    )


def test_principal_string_other_than_star_is_an_error() -> None:
    # source: GRAMMAR: <principal_map> = "*" | { <principal_map_entry>, ... }.
    policy, diagnostics = build(statement(Principal=ROOT))
    assert [d.rule_id for d in diagnostics] == [RULE_GRAMMAR]
    assert 'must be "*" or an object' in diagnostics[0].message
    assert policy.statements[0].principals == ()


def test_unknown_principal_type_is_an_error() -> None:
    # source: PRINCIPAL: principal types are AWS, Service, Federated and CanonicalUser.
    _, diagnostics = build(statement(Principal={"Aws": ROOT}))
    assert messages(diagnostics) == [
        'unknown principal type "Aws" (AWS, Service, Federated or CanonicalUser)'
    ]


def test_symbolic_principal_is_kept_not_dropped() -> None:
    ref = ResourceRef("aws_iam_role.app", "arn")
    (principal,) = build_ok(statement(Principal={"AWS": ref})).statements[0].principals
    assert principal.value == ref


# -- Effect ---------------------------------------------------------------------------------------


def test_missing_effect() -> None:
    # source: EFFECT: "The Effect element is required".
    policy, diagnostics = build(statement(Principal="*", Effect=None))
    assert messages(diagnostics) == ["statement has no Effect"]
    assert isinstance(policy.statements[0].effect, Unknown)
    assert not policy.statements[0].is_allow and not policy.statements[0].is_deny


@pytest.mark.parametrize("effect", ["allow", "ALLOW", "deny", "Permit"])
def test_effect_is_case_sensitive(effect: str) -> None:
    # source: EFFECT: "Valid values for Effect are Allow and Deny. The Effect value is case
    # sensitive."
    policy, diagnostics = build(statement(Principal="*", Effect=effect))
    assert [d.rule_id for d in diagnostics] == [RULE_GRAMMAR]
    assert f'not "{effect}"' in diagnostics[0].message
    assert isinstance(policy.statements[0].effect, Unknown)


# -- Action / NotAction, Resource ------------------------------------------------------------------


def test_both_action_and_not_action() -> None:
    # source: GRAMMAR: <action_block> = ("Action" | "NotAction") : ... -- one or the other.
    _, diagnostics = build(statement(Principal="*", NotAction="kms:Encrypt"))
    assert messages(diagnostics) == ["statement has both Action and NotAction"]


def test_neither_action_nor_not_action() -> None:
    _, diagnostics = build(statement(Principal="*", Action=None))
    assert messages(diagnostics) == ["statement has neither Action nor NotAction"]


def test_action_without_service_prefix() -> None:
    # source: IAM User Guide, "IAM JSON policy elements: Action": actions are "service:action".
    _, diagnostics = build(statement(Principal="*", Action="Decrypt"))
    assert messages(diagnostics) == ['"Decrypt" is not an action (expected "service:Action" or "*")']


def test_both_resource_and_not_resource_and_missing_resource() -> None:
    # source: GRAMMAR: <resource_block> = ("Resource" | "NotResource") : ...; KMS Developer
    # Guide, "Elements in a key policy": Resource is required in a key policy statement.
    _, both = build(statement(Principal="*", NotResource="*"))
    _, neither = build(statement(Principal="*", Resource=None))
    assert messages(both) == ["statement has both Resource and NotResource"]
    assert messages(neither) == ["statement has neither Resource nor NotResource"]


def test_trust_policy_statement_needs_no_resource() -> None:
    # source: IAM User Guide, "IAM JSON policy elements: Resource": a role trust policy does not
    # include Resource.
    build_ok(
        statement(Principal={"Service": "ec2.amazonaws.com"}, Action="sts:AssumeRole", Resource=None),
        kind=PolicyKind.TRUST,
    )


def test_empty_action_list_and_non_string_entries() -> None:
    _, empty = build(statement(Principal="*", Action=[]))
    _, numbers = build(statement(Principal="*", Action=["kms:Decrypt", 7]))
    assert messages(empty) == ["Action is an empty list"]
    assert messages(numbers) == ["Action entries must be strings, not a number"]


# -- unknown elements -------------------------------------------------------------------------------


def test_unknown_statement_element_with_case_hint() -> None:
    # source: GRAMMAR: a statement holds Sid, Effect, Principal/NotPrincipal, Action/NotAction,
    # Resource/NotResource and Condition only; element names are case sensitive.
    _, diagnostics = build(statement(Principal="*", action="kms:Encrypt"))
    assert messages(diagnostics) == ['unknown statement element "action" (did you mean "Action"?)']


def test_unknown_statement_element_without_hint() -> None:
    _, diagnostics = build(statement(Principal="*", Comment="why"))
    assert messages(diagnostics) == ['unknown statement element "Comment"']


def test_unknown_top_level_element() -> None:
    # source: GRAMMAR: <policy> = { <version_block>? <id_block>? <statement_block> }.
    document = {"Version": "2012-10-17", "Statements": [statement(Principal="*")]}
    _, diagnostics = build_policy(document, PolicyKind.KEY, resource="t")
    assert 'unknown policy element "Statements" (allowed: Version, Id, Statement)' in messages(diagnostics)
    assert "policy has no Statement element" in messages(diagnostics)


def test_bad_version() -> None:
    # source: IAM User Guide, "IAM JSON policy elements: Version": 2012-10-17 or 2008-10-17.
    _, diagnostics = build_policy(
        {"Version": "2021-01-01", "Statement": []}, PolicyKind.IDENTITY, resource="t"
    )
    assert messages(diagnostics) == ['Version must be "2012-10-17" or "2008-10-17", not "2021-01-01"']


def test_single_statement_object_is_accepted() -> None:
    # source: GRAMMAR: <statement_block> = "Statement" : [ <statement>, ... ] | <statement>.
    policy, diagnostics = build_policy(
        {"Version": "2012-10-17", "Statement": statement(Principal="*")}, PolicyKind.KEY, resource="t"
    )
    assert diagnostics == [] and len(policy.statements) == 1


def test_statement_that_is_not_an_object_and_document_that_is_not_an_object() -> None:
    _, diagnostics = build_policy({"Statement": ["x"]}, PolicyKind.KEY, resource="t")
    assert messages(diagnostics) == ["a statement must be a JSON object"]
    policy, diagnostics = build_policy(["x"], PolicyKind.KEY, resource="t")
    assert isinstance(policy, Unknown) and messages(diagnostics) == [
        "a policy document must be a JSON object"
    ]


def test_policy_text_that_is_not_json() -> None:
    policy, diagnostics = build_policy('{"Statement": [', PolicyKind.KEY, resource="t", span=Span("f.tf", 3))
    assert isinstance(policy, Unknown)
    assert [d.rule_id for d in diagnostics] == [RULE_NOT_JSON]
    assert diagnostics[0].span.line == 3


# -- conditions --------------------------------------------------------------------------------------


def test_bad_operator() -> None:
    # source: OPERATORS: the operator names listed there are the only ones.
    _, diagnostics = build(statement(Principal="*", Condition={"StringEqual": {"kms:ViaService": "x"}}))
    assert [(d.rule_id, d.message) for d in diagnostics] == [
        (RULE_CONDITION, "unknown condition operator 'StringEqual'")
    ]


def test_null_has_no_if_exists() -> None:
    # source: OPERATORS, "...IfExists condition operators": "You can add IfExists to the end of
    # any condition operator name except the Null condition".
    _, diagnostics = build(
        statement(Principal="*", Condition={"NullIfExists": {"aws:TokenIssueTime": "true"}})
    )
    assert [(d.rule_id, d.message) for d in diagnostics] == [
        (RULE_CONDITION, "the Null operator has no IfExists form")
    ]
    assert valid_operator("StringLikeIfExists") is None
    assert valid_operator("ForAllValues:StringLikeIfExists") is None


def test_set_operator_prefix() -> None:
    # source: IAM User Guide, "Single-valued vs. multivalued context keys": the set operators
    # are ForAllValues and ForAnyValue.
    assert valid_operator("ForAnyValue:StringEquals") is None
    assert valid_operator("ForSomeValues:StringEquals") == (
        "unknown set operator 'ForSomeValues' (ForAnyValue or ForAllValues)"
    )


def test_condition_parts_are_parsed() -> None:
    (condition,) = (
        build_ok(
            statement(
                Principal="*",
                Condition={"ForAnyValue:StringLikeIfExists": {"kms:EncryptionContextKeys": ["a", "b"]}},
            )
        )
        .statements[0]
        .conditions
    )
    assert condition.base_operator == "StringLike"
    assert condition.if_exists and condition.set_qualifier == "ForAnyValue"
    assert condition.values == ("a", "b")


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        # source: GRAMMAR: <condition_block> = "Condition" : { <condition_map> }.
        (["StringEquals"], "Condition must be an object of operators"),
        # source: GRAMMAR: <condition_map> = { <condition_type_string> : { <condition_key_string>
        # : <condition_value_list> }, ... }.
        (
            {"StringEquals": "kms:ViaService"},
            'the value of "StringEquals" must be an object of condition keys',
        ),
        # source: GRAMMAR: <condition_value_list> = [<condition_value>, ...] | <condition_value>;
        # <condition_value> = ("string" | "number" | "Boolean").
        (
            {"StringEquals": {"kms:ViaService": {"a": "b"}}},
            'the value of "kms:ViaService" must be a string or a list, not an object',
        ),
        (
            {"StringEquals": {"kms:ViaService": ["a", ["b"]]}},
            'values of "kms:ViaService" must be strings, numbers or booleans',
        ),
        (
            {"StringEquals": {"kms:ViaService": None}},
            'values of "kms:ViaService" must be strings, numbers or booleans',
        ),
        (
            {"StringEquals": {"kms:ViaService": ["a", None]}},
            'values of "kms:ViaService" must be strings, numbers or booleans',
        ),
    ],
)
def test_bad_condition_value_shapes(condition: Any, message: str) -> None:
    policy, diagnostics = build(statement(Principal="*", Condition=condition))
    assert [(d.rule_id, d.message) for d in diagnostics] == [(RULE_CONDITION, message)]
    for cond in policy.statements[0].conditions:
        assert None not in cond.values and all(not isinstance(v, (dict, list)) for v in cond.values)


def test_condition_values_of_all_scalar_types_are_kept() -> None:
    (b, n) = (
        build_ok(
            statement(
                Principal="*", Condition={"Bool": {"aws:SecureTransport": False}, "NumericLessThan": {"k": 3}}
            )
        )
        .statements[0]
        .conditions
    )
    assert b.values == (False,) and n.values == (3,)


# -- Sid -------------------------------------------------------------------------------------------


def test_duplicate_sid() -> None:
    # source: SID: "In IAM, the Sid value must be unique within a JSON policy."
    text = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                statement(Sid="A", Principal="*"),
                statement(Sid="B", Principal="*"),
                statement(Sid="A", Principal="*"),
            ],
        },
        indent=2,
    )
    policy, diagnostics = build_policy(text, PolicyKind.KEY, resource="t", span=Span("p.json", 1, 1))
    (diag,) = diagnostics
    assert diag.rule_id == RULE_DUPLICATE_SID
    assert diag.span.line == policy.statements[2].span.line
    assert "is also used by statement #1" in diag.message
    assert diag.context == "sid:A#2"


def test_non_string_sid() -> None:
    _, diagnostics = build(statement(Principal="*", Sid=3))
    assert messages(diagnostics) == ["Sid must be a string"]


# -- size ------------------------------------------------------------------------------------------


def _key_policy_text(size: int) -> str:
    body = json.dumps({"Version": "2012-10-17", "Statement": [statement(Principal="*")]})
    return body + " " * (size - len(body))


def test_key_policy_over_32_kb() -> None:
    # source: KMS FORMAT: a key policy document is "Up to 32 kilobytes (32,768 bytes)".
    assert KEY_POLICY_MAX_BYTES == 32_768
    over = _key_policy_text(32_769)
    _, diagnostics = build_policy(over, PolicyKind.KEY, resource="t", span=Span("k.json", 1))
    assert [d.rule_id for d in diagnostics] == [RULE_SIZE]
    assert "32769 bytes" in diagnostics[0].message
    _, at_limit = build_policy(_key_policy_text(32_768), PolicyKind.KEY, resource="t", span=Span("k.json", 1))
    assert at_limit == []


def test_key_policy_size_of_a_decoded_document_is_its_compact_json() -> None:
    # A decoded document (CloudFormation, HCL) has no text: its size is the compact JSON AWS
    # would receive. Pad a Sid so the compact form is one byte over.
    base = {"Version": "2012-10-17", "Statement": [statement(Principal="*", Sid="")]}
    compact = len(json.dumps(base, separators=(",", ":")).encode())
    base["Statement"][0]["Sid"] = "x" * (32_769 - compact)
    policy, diagnostics = build_policy(base, PolicyKind.KEY, resource="t")
    assert policy.size_bytes == 32_769
    assert [d.rule_id for d in diagnostics] == [RULE_SIZE]
    _, identity = build_policy(base, PolicyKind.IDENTITY, resource="t")
    assert RULE_SIZE not in [d.rule_id for d in identity]


# -- Principal and policy kinds ------------------------------------------------------------------


def test_principal_in_an_identity_policy() -> None:
    # source: PRINCIPAL: "You cannot use the Principal element in an identity-based policy."
    text = json.dumps(
        {"Version": "2012-10-17", "Statement": [statement(Principal="*")]},
        indent=2,
    )
    _, diagnostics = build_policy(text, PolicyKind.IDENTITY, resource="t", span=Span("i.json", 1))
    assert messages(diagnostics) == ["Principal is not allowed in an identity policy"]
    assert diagnostics[0].span.line == line_of(text, '"Principal"')


def test_key_policy_statement_without_principal() -> None:
    # source: KMS Developer Guide, "Elements in a key policy": Principal is required.
    _, diagnostics = build(statement())
    assert messages(diagnostics) == ["a key policy statement needs a Principal or NotPrincipal"]


def test_unknown_kind_accepts_principal_or_not() -> None:
    build_ok(statement(Principal="*"), kind=PolicyKind.UNKNOWN)
    build_ok(statement(), kind=PolicyKind.UNKNOWN)


def test_principal_and_not_principal_together() -> None:
    # source: GRAMMAR: <principal_block> = ("Principal" | "NotPrincipal") : ...
    _, diagnostics = build(statement(Principal="*", NotPrincipal={"AWS": ROOT}))
    assert messages(diagnostics) == ["statement has both Principal and NotPrincipal"]


# -- line numbers of each diagnostic ---------------------------------------------------------------

BAD_POLICY = """{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "One",
      "Effect": "allow",
      "Principal": {"Aws": "*"},
      "Action": "kms:Decrypt",
      "Resource": "*",
      "Condition": {
        "StringEqual": {"kms:ViaService": "s3.amazonaws.com"},
        "StringEquals": {"kms:CallerAccount": {"bad": 1}}
      }
    },
    {
      "Sid": "One",
      "Effect": "Allow",
      "Principal": "*",
      "Action": "kms:Decrypt",
      "NotAction": "kms:Encrypt",
      "Resourcee": "*"
    }
  ]
}"""


def test_line_of_each_diagnostic_in_a_policy_string_embedded_at_line_10() -> None:
    # The policy is the content of a string that starts on line 10 of the enclosing file (a
    # Terraform heredoc): every diagnostic must be shifted by 9 lines.
    offset = 9
    _, diagnostics = build_policy(
        BAD_POLICY, PolicyKind.KEY, resource="t", span=Span("main.tf", offset + 1, 3)
    )
    found = {(d.rule_id, d.message.split(" (")[0].split(",")[0]): d.span.line - offset for d in diagnostics}
    second_open = next(
        i + 1 for i, line in enumerate(BAD_POLICY.splitlines()) if i + 1 > 14 and line.strip() == "{"
    )
    expected = {
        (RULE_GRAMMAR, 'Effect must be "Allow" or "Deny"'): line_of(BAD_POLICY, '"allow"'),
        (RULE_GRAMMAR, 'unknown principal type "Aws"'): line_of(BAD_POLICY, '"Aws"'),
        (RULE_CONDITION, "unknown condition operator 'StringEqual'"): line_of(BAD_POLICY, '"StringEqual"'),
        (RULE_CONDITION, 'the value of "kms:CallerAccount" must be a string or a list'): line_of(
            BAD_POLICY, "kms:CallerAccount"
        ),
        (RULE_GRAMMAR, 'unknown statement element "Resourcee"'): line_of(BAD_POLICY, '"Resourcee"'),
        (RULE_GRAMMAR, "statement has both Action and NotAction"): second_open,
        (RULE_GRAMMAR, "statement has neither Resource nor NotResource"): second_open,
        (RULE_DUPLICATE_SID, 'Sid "One" is also used by statement #1'): second_open,
    }
    assert found == expected
    assert len(diagnostics) == len(expected)
    assert all(d.span.path == "main.tf" and d.resource == "t" for d in diagnostics)


def test_elements_that_may_be_null_are_not_both_present() -> None:
    # A Terraform dynamic statement (`not_actions = statement.value.not_actions`) has unknown values
    # that may be null: only elements known to be written count for "both X and NotX".
    # source: IAM User Guide, "Grammar of the IAM JSON policy language" (Action or NotAction).
    doc = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
                "Action": Unknown("statement.value.actions"),
                "NotAction": Unknown("statement.value.not_actions"),
                "Resource": "*",
            }
        ],
    }
    _, diagnostics = build_policy(doc, PolicyKind.KEY, resource="t")
    assert diagnostics == []
