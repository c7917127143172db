"""``no_new_access`` / ``equivalent`` / ``new_access`` on pairs of hand-written key policies.

Each expected answer follows from AWS's documented behaviour (cited per test); every witness is
decided here again by the simulator under both policies, from its CASE-format form.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
import z3

from kmsguard.authz.case import evaluate_case, parse_case
from kmsguard.authz.types import Outcome
from kmsguard.load.policy_builder import build_policy
from kmsguard.model import Policy, PolicyKind
from kmsguard.model.policy import Principal, PrincipalType
from kmsguard.model.values import Unknown
from kmsguard.prove import compare
from kmsguard.prove.compare import equivalent, new_access, no_new_access
from kmsguard.prove.questions import ProverError

KEY_ACCOUNT = "111122223333"
ORG = "o-abc123example"
KEY_ARN = f"arn:aws:kms:us-east-1:{KEY_ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"

ROOT = {
    "Sid": "Root",
    "Effect": "Allow",
    "Principal": {"AWS": f"arn:aws:iam::{KEY_ACCOUNT}:root"},
    "Action": "kms:*",
    "Resource": "*",
}
ORG_DECRYPT = {
    "Sid": "Organisation",
    "Effect": "Allow",
    "Principal": "*",
    "Action": "kms:Decrypt",
    "Resource": "*",
    "Condition": {"StringEquals": {"aws:PrincipalOrgID": ORG}},
}


def _document(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def _policy(*statements: dict[str, Any]) -> Policy:
    policy, diagnostics = build_policy(_document(*statements), PolicyKind.KEY, resource="test")
    assert not diagnostics and isinstance(policy, Policy)
    return policy


def _decided(request: dict[str, Any], statements: tuple[dict[str, Any], ...], with_iam: bool) -> Outcome:
    case: dict[str, Any] = {"key_policy": _document(*statements), "request": request}
    if with_iam:
        case["identity_policies"] = [_document({"Effect": "Allow", "Action": "kms:*", "Resource": "*"})]
    return evaluate_case(parse_case(case, "witness")).outcome


def _args() -> dict[str, Any]:
    return {"key_account": KEY_ACCOUNT, "key_arn": KEY_ARN}


def test_the_same_policy_is_equivalent_and_grants_nothing_new() -> None:
    old, new = _policy(ROOT, ORG_DECRYPT), _policy(ROOT, ORG_DECRYPT)
    assert no_new_access(old, new, **_args()).answer == "yes"
    result = equivalent(old, new, **_args())
    assert result.answer == "yes" and result.witness is None and result.to_json()["witness"] is None


def test_reordered_and_split_statements_are_equivalent() -> None:
    # source: IAM User Guide, "Policy evaluation logic": the order of statements does not matter;
    # an Action list is the union of its actions.
    both = {**ORG_DECRYPT, "Action": ["kms:Decrypt", "kms:DescribeKey"]}
    split = [
        {**ORG_DECRYPT, "Sid": f"Org{i}", "Action": a}
        for i, a in enumerate(["kms:DescribeKey", "kms:Decrypt"])
    ]
    old = _policy(ROOT, both)
    new = _policy(*split, ROOT)
    assert equivalent(old, new, **_args()).answer == "yes"


def test_if_exists_widens_the_policy() -> None:
    # source: IAM User Guide, "Condition operators", "...IfExists condition operators": a request
    # without the key matches, so callers outside any organisation get in.
    widened = {**ORG_DECRYPT, "Condition": {"StringEqualsIfExists": {"aws:PrincipalOrgID": ORG}}}
    result = no_new_access(_policy(ROOT, ORG_DECRYPT), _policy(ROOT, widened), **_args())
    assert result.answer == "no" and isinstance(result.witness_case, dict)
    witness = result.witness_case
    assert "aws:principalorgid" not in witness["context"]
    # The simulator: the new policy allows the witness, the old one does not.
    assert _decided(witness, (ROOT, widened), result.needs_identity_policy) is Outcome.ALLOW
    assert _decided(witness, (ROOT, ORG_DECRYPT), result.needs_identity_policy) is not Outcome.ALLOW
    # The other way round nothing is new: the change only widens.
    assert no_new_access(_policy(ROOT, widened), _policy(ROOT, ORG_DECRYPT), **_args()).answer == "yes"


def test_equivalent_says_which_way_a_policy_differs() -> None:
    old, new = _policy(ROOT, ORG_DECRYPT), _policy(ROOT)
    result = equivalent(old, new, **_args())
    assert result.answer == "no" and "allows less" in result.explanation
    assert isinstance(result.witness_case, dict)
    assert _decided(result.witness_case, (ROOT, ORG_DECRYPT), result.needs_identity_policy) is Outcome.ALLOW
    assert _decided(result.witness_case, (ROOT,), result.needs_identity_policy) is not Outcome.ALLOW
    assert "allows more" in equivalent(new, old, **_args()).explanation


def test_naming_a_role_directly_is_new_access_without_iam() -> None:
    # source: KMS Developer Guide, "Default key policy": with the account statement alone an IAM
    # principal needs an identity policy; a key policy naming the role lets it in by itself.
    role = f"arn:aws:iam::{KEY_ACCOUNT}:role/App"
    named = {
        "Sid": "App",
        "Effect": "Allow",
        "Principal": {"AWS": role},
        "Action": "kms:Decrypt",
        "Resource": "*",
    }
    result = new_access(_policy(ROOT), _policy(ROOT, named), **_args())
    assert result.answer == "yes" and result.witness is not None and not result.needs_identity_policy
    assert result.witness.caller.arn == role
    assert isinstance(result.witness_case, dict)
    assert _decided(result.witness_case, (ROOT,), False) is not Outcome.ALLOW


def test_actions_narrow_the_comparison() -> None:
    old, new = _policy(ROOT), _policy(ROOT, ORG_DECRYPT)
    assert no_new_access(old, new, ["kms:Encrypt"], **_args()).answer == "yes"
    assert no_new_access(old, new, ["kms:Decrypt"], **_args()).answer == "no"


def test_an_unknown_principal_makes_the_answer_unknown() -> None:
    old = _policy(ROOT)
    base = _policy(ROOT, {**ORG_DECRYPT, "Condition": {}})
    symbolic = replace(base.statements[1], principals=(Principal(PrincipalType.AWS, Unknown("var.reader")),))
    new = replace(base, statements=(base.statements[0], symbolic))
    result = no_new_access(old, new, **_args())
    assert result.answer == "unknown" and "var.reader" in result.depends_on


def test_timeout_is_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    class GivingUp(z3.Solver):
        def check(self, *assumptions: Any) -> z3.CheckSatResult:
            return z3.unknown

        def reason_unknown(self) -> str:
            return "timeout"

    monkeypatch.setattr(compare.z3, "Solver", GivingUp)
    for ask in (no_new_access, equivalent):
        result = ask(_policy(ROOT), _policy(ROOT, ORG_DECRYPT), **_args())
        assert result.answer == "unknown" and "solver: timeout" in result.depends_on


def test_a_witness_the_simulator_rejects_is_an_internal_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from kmsguard.prove import questions

    real = questions.decide

    def sees_no_difference(inputs: Any, request: Any) -> Any:
        return real(replace(inputs, key_policy=_policy(ROOT, ORG_DECRYPT)), request)

    monkeypatch.setattr(questions, "decide", sees_no_difference)
    with pytest.raises(ProverError):
        new_access(_policy(ROOT), _policy(ROOT, ORG_DECRYPT), **_args())
