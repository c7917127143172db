"""The CASE format: parsing into the simulator's inputs, one-line errors with positions, and how
``evaluate_case`` composes the simulator's calls (two-step operations, CreateGrant through a grant,
new key policies)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kmsguard.authz import case as case_module
from kmsguard.authz import evaluate
from kmsguard.authz.case import (
    CaseError,
    decision_to_json,
    decision_to_text,
    evaluate_case,
    load_case_file,
    parse_case_text,
)
from kmsguard.authz.types import Decision, Outcome, PrincipalKind, TraceEntry
from kmsguard.model import PolicyKind

A = "111122223333"
KEY = f"arn:aws:kms:us-east-1:{A}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
KEY2 = f"arn:aws:kms:us-east-1:{A}:key/0987dcba-09fe-87dc-65ba-ab0987654321"
ROLE = f"arn:aws:iam::{A}:role/app"


def _policy(effect: str = "Allow", principal: Any = None, action: str = "kms:Decrypt") -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": effect, "Action": action, "Resource": "*"}
    if principal is not None:
        statement["Principal"] = {"AWS": principal}
    return {"Version": "2012-10-17", "Statement": [statement]}


def _case(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "c1",
        "key_policy": _policy(principal=ROLE),
        "request": {"action": "kms:Decrypt", "principal": ROLE, "resource": KEY},
    }
    base.update(overrides)
    return base


def _parse(document: Any, path: str = "case.json") -> list[case_module.Case]:
    return parse_case_text(json.dumps(document, indent=2), path)


# -- parsing ------------------------------------------------------------------------------------


def test_fields_reach_the_simulator_inputs() -> None:
    (case,) = _parse(
        _case(
            identity_policies=[_policy(), _policy(action="kms:Encrypt")],
            scps=[[_policy(action="*")], [_policy(action="kms:*")]],
            rcps=[_policy(principal="*", action="*")],
            permission_boundary=_policy(action="kms:*"),
            session_policy=_policy(),
            key_manager="AWS",
            grants=[
                {
                    "name": "g",
                    "grantee_principal": ROLE,
                    "operations": ["Decrypt"],
                    "constraints": {"EncryptionContextSubset": {"tenant": "a"}},
                    "retiring_principal": f"arn:aws:iam::{A}:role/other",
                }
            ],
        )
    )
    inputs = case.inputs
    assert inputs.key_policy is not None and inputs.key_policy.kind is PolicyKind.KEY
    assert [p.kind for p in inputs.identity_policies] == [PolicyKind.IDENTITY] * 2
    assert len(inputs.scps) == 2 and inputs.scps[0][0].kind is PolicyKind.SCP
    assert len(inputs.rcps) == 1 and inputs.rcps[0][0].kind is PolicyKind.RCP
    assert inputs.permission_boundary is not None and inputs.permission_boundary.kind is PolicyKind.BOUNDARY
    assert inputs.session_policy is not None and inputs.session_policy.kind is PolicyKind.SESSION
    assert inputs.key_manager == "AWS"
    (grant,) = inputs.grants
    assert grant.grantee == ROLE and grant.operations == ("Decrypt",) and grant.key == KEY
    assert grant.constraints is not None
    assert grant.constraints.encryption_context_subset == {"tenant": "a"}
    assert grant.constraints.encryption_context_equals is None
    assert grant.retiring_principal == f"arn:aws:iam::{A}:role/other"


def test_request_fields_and_caller_attributes() -> None:
    (case,) = _parse(
        _case(
            request={
                "action": "kms:Decrypt",
                "principal": f"arn:aws:sts::{A}:assumed-role/app/s1",
                "resource": KEY,
                "context": {"aws:SecureTransport": True, "kms:X": 30, "kms:GrantOperations": ["Decrypt"]},
                "principal_tags": {"team": "red"},
                "principal_org_id": "o-a1b2c3d4e5",
                "principal_org_paths": ["o-a1b2c3d4e5/r-ab12/"],
                "source_ip": "203.0.113.5",
                "grant_tokens": ["token"],
            }
        )
    )
    request = case.request
    assert request.resource_account == A  # taken from the key ARN
    assert request.caller.kind is PrincipalKind.ASSUMED_ROLE
    assert dict(request.caller.tags) == {"team": "red"}
    assert request.caller.org_id == "o-a1b2c3d4e5"
    assert request.caller.org_paths == ("o-a1b2c3d4e5/r-ab12/",)
    # Booleans and numbers become the strings AWS sends; lists are multivalued keys.
    assert request.context["aws:SecureTransport"] == "true"
    assert request.context["kms:X"] == "30"
    assert request.context["kms:GrantOperations"] == ("Decrypt",)
    assert request.context["aws:SourceIp"] == "203.0.113.5"
    assert request.grant_tokens == ("token",)


def test_expectation_and_list_files(tmp_path: Any) -> None:
    path = tmp_path / "cases.json"
    path.write_text(
        json.dumps(
            [
                _case(id="a", expected="Allow", source='IAM User Guide, "Policy evaluation logic"'),
                _case(id="b", expected="Error:MalformedPolicyDocumentException", source="x", known_gap="#12"),
            ]
        )
    )
    first, second = load_case_file(str(path))
    assert first.expected is not None and first.expected.label == "Allow"
    assert second.expected is not None and second.expected.known_gap == "#12"
    assert second.expected.label == "Error:MalformedPolicyDocumentException"


def test_second_authorization_inherits_the_caller_and_context() -> None:
    (case,) = _parse(
        _case(
            request={
                "action": "kms:ReEncryptFrom",
                "principal": ROLE,
                "resource": KEY,
                "context": {"k": "v"},
            },
            second={"action": "kms:ReEncryptTo", "resource": KEY2, "key_policy": _policy(principal=ROLE)},
        )
    )
    assert case.second is not None
    second = case.second.request
    assert (second.action, second.resource, second.resource_account) == ("kms:ReEncryptTo", KEY2, A)
    assert second.caller == case.request.caller
    assert second.context == {"k": "v"}
    assert case.second.inputs.key_policy is not None
    assert case.second.inputs.key_policy is not case.inputs.key_policy


def test_new_key_policy_grammar_problem_is_kept_not_raised() -> None:
    bad = {"Version": "2012-10-17", "Statement": [{"Effect": "Permit", "Action": "kms:*", "Resource": "*"}]}
    (case,) = _parse(
        _case(
            request={"action": "kms:PutKeyPolicy", "principal": ROLE, "resource": KEY, "new_key_policy": bad}
        )
    )
    assert case.new_key_policy_problem is not None and "Effect" in case.new_key_policy_problem


@pytest.mark.parametrize(
    ("document", "line", "fragment"),
    [
        ('{"request": {"action": "kms:Decrypt",\n "principal": }}', 2, "not valid JSON"),
        ('{"key_policy": null,\n "reqest": {}}', 2, 'unknown case field "reqest"'),
        ('{"id": "x"}', 1, 'missing "request"'),
        ('{"request": {"action": "kms:Decrypt", "principal": "nobody"}}', 1, "principal 'nobody'"),
        (
            '{"request": {"action": "Decrypt", "principal": "arn:aws:iam::111122223333:role/app",\n'
            ' "resource": "*", "resource_account": "1"}}',
            1,
            "kms:Operation",
        ),
        (
            '{"request": {"action": "kms:Decrypt", "principal": "arn:aws:iam::111122223333:role/app"}}',
            1,
            'missing "resource_account"',
        ),
        (
            '{"key_policy": {"Version": "2012-10-17",\n "Statement": [{"Effect": "Allow",\n'
            ' "Action": "kms:*", "Resource": "*"}]},\n'
            ' "request": {"action": "kms:Decrypt", "principal": "111122223333",'
            ' "resource_account": "111122223333"}}',
            2,
            "key_policy",
        ),
        (
            '{"request": {"action": "kms:Decrypt", "principal": "111122223333", "resource_account": "1"},\n'
            ' "expected": "Allowed", "source": "x"}',
            2,
            '"expected" must be',
        ),
        (
            '{"request": {"action": "kms:Decrypt", "principal": "111122223333", "resource_account": "1"},\n'
            ' "expected": "Allow"}',
            1,
            'needs a "source"',
        ),
        (
            '{"grants": [{"grantee_principal": "111122223333"}],\n "request": {"action": "kms:Decrypt",'
            ' "principal": "111122223333", "resource_account": "1"}}',
            1,
            '"operations"',
        ),
        (
            '{"scps": [{"Version": "2012-10-17", "Statement": []}, []],\n'
            ' "request": {"action": "kms:Decrypt", "principal": "111122223333", "resource_account": "1"}}',
            1,
            "mixes",
        ),
        ('{"id": "a", "id": "b",\n "request": {}}', 1, 'duplicate key "id"'),
        (
            '{"request": {"action": "kms:Decrypt", "principal": "111122223333", "resource_account": "1",\n'
            ' "context": {"k": {"nested": 1}}}}',
            2,
            'context key "k"',
        ),
    ],
)
def test_errors_are_one_line_with_position(document: str, line: int, fragment: str) -> None:
    with pytest.raises(CaseError) as caught:
        parse_case_text(document, "bad.json")
    message = str(caught.value)
    assert message.startswith(f"bad.json:{line}: "), message
    assert fragment in message
    assert "\n" not in message


def test_duplicate_case_ids_are_reported() -> None:
    with pytest.raises(CaseError, match='case id "same"'):
        _parse([_case(id="same"), _case(id="same")])


def test_unreadable_file(tmp_path: Any) -> None:
    with pytest.raises(CaseError, match="cannot read"):
        load_case_file(str(tmp_path / "missing.json"))


# -- evaluate_case: which simulator call, and how results combine ------------------------------

ALLOW = Decision(Outcome.ALLOW, trace=(TraceEntry("key policy", "S", "Allow", True, "matched"),))
DENY = Decision(Outcome.IMPLICIT_DENY, trace=(TraceEntry("rule", "", "", True, "nothing allows"),))


class _Recorder:
    def __init__(self, monkeypatch: pytest.MonkeyPatch, decision: Decision = ALLOW) -> None:
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        self.decision = decision
        self.rejection: Decision | None = None
        for name in ("decide", "decide_pair", "decide_create_grant", "validate_key_policy"):
            monkeypatch.setattr(evaluate, name, self._make(name))

    def _make(self, name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, args, kwargs))
            return self.rejection if name == "validate_key_policy" else self.decision

        return call

    @property
    def names(self) -> list[str]:
        return [name for name, _, _ in self.calls]


def test_plain_case_calls_decide(monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = _Recorder(monkeypatch)
    (case,) = _parse(_case())
    assert evaluate_case(case) is ALLOW
    assert recorder.names == ["decide"]


def test_two_step_case_calls_decide_pair(monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = _Recorder(monkeypatch)
    (case,) = _parse(
        _case(
            request={"action": "kms:ReEncryptFrom", "principal": ROLE, "resource": KEY},
            second={"action": "kms:ReEncryptTo", "resource": KEY2},
        )
    )
    evaluate_case(case)
    ((name, args, _),) = recorder.calls
    assert name == "decide_pair"
    assert args[0][1].resource == KEY and args[1][1].resource == KEY2


def test_create_grant_with_new_grant(monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = _Recorder(monkeypatch)
    (case,) = _parse(
        _case(
            request={
                "action": "kms:CreateGrant",
                "principal": ROLE,
                "resource": KEY,
                "new_grant": {"grantee_principal": ROLE, "operations": ["Decrypt"]},
            }
        )
    )
    evaluate_case(case)
    ((name, args, _),) = recorder.calls
    assert name == "decide_create_grant"
    assert args[2].operations == ("Decrypt",)


def _put(policy: Any, bypass: bool | None = None) -> case_module.Case:
    request: dict[str, Any] = {"action": "kms:PutKeyPolicy", "principal": ROLE, "resource": KEY}
    request["new_key_policy"] = policy
    if bypass is not None:
        request["bypass_policy_lockout_safety_check"] = bypass
    (case,) = _parse(_case(request=request))
    return case


def test_new_key_policy_checked_after_authorization(monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = _Recorder(monkeypatch)
    assert evaluate_case(_put(_policy(principal=ROLE), bypass=True)) is ALLOW
    assert recorder.names == ["decide", "validate_key_policy"]
    _, args, kwargs = recorder.calls[1]
    assert args[2] is True  # bypass flag passed on
    assert kwargs["key_arn"] == KEY


def test_unauthorized_put_key_policy_skips_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = _Recorder(monkeypatch, decision=DENY)
    assert evaluate_case(_put(_policy(principal=ROLE))) is DENY
    assert recorder.names == ["decide"]


def test_validation_rejection_keeps_both_traces(monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = _Recorder(monkeypatch)
    recorder.rejection = Decision(
        Outcome.ERROR, "MalformedPolicyDocumentException", (TraceEntry("rule", "", "", True, "lockout"),)
    )
    decision = evaluate_case(_put(_policy(principal=ROLE)))
    assert decision.label == "Error:MalformedPolicyDocumentException"
    assert [entry.reason for entry in decision.trace] == ["matched", "lockout"]


def test_malformed_new_policy_is_an_error_decision(monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = _Recorder(monkeypatch)
    bad = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}
    decision = evaluate_case(_put(bad))
    # KMS API Reference, "PutKeyPolicy", "Errors": MalformedPolicyDocumentException; a key policy
    # statement needs a Principal (KMS Developer Guide, "Key policies in AWS KMS").
    assert decision.label == "Error:MalformedPolicyDocumentException"
    assert "Principal" in decision.trace[-1].reason
    assert recorder.names == ["decide"]


def test_create_key_validation_has_no_key_arn(monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = _Recorder(monkeypatch)
    (case,) = _parse(
        _case(
            key_policy=None,
            request={
                "action": "kms:CreateKey",
                "principal": ROLE,
                "resource": "*",
                "resource_account": A,
                "new_key_policy": _policy(principal=ROLE),
            },
        )
    )
    evaluate_case(case)
    assert recorder.names == ["decide", "validate_key_policy"]
    assert recorder.calls[1][2]["key_arn"] is None


# -- output -------------------------------------------------------------------------------------


def test_json_and_text_output() -> None:
    decision = Decision(
        Outcome.EXPLICIT_DENY,
        trace=(
            TraceEntry("key policy", "DenyAll", "Deny", True, "matched"),
            TraceEntry("identity policy #1", "#1", "Allow", False, "action does not match"),
        ),
    )
    shaped = decision_to_json(decision)
    assert shaped["decision"] == "ExplicitDeny"
    assert shaped["trace"][0] == {
        "source": "key policy",
        "statement": "DenyAll",
        "effect": "Deny",
        "matched": True,
        "reason": "matched",
    }
    assert "depends_on" not in shaped
    text = decision_to_text(decision)
    assert text.splitlines() == [
        "  + key policy DenyAll [Deny]: matched",
        "  - identity policy #1 #1 [Allow]: action does not match",
        "decision: ExplicitDeny",
    ]


def test_unresolved_output_names_what_it_depends_on() -> None:
    decision = Decision(Outcome.UNRESOLVED, depends_on=("aws:PrincipalOrgID",))
    assert decision_to_json(decision)["depends_on"] == ["aws:PrincipalOrgID"]
    assert "depends on: aws:PrincipalOrgID" in decision_to_text(decision)


def test_error_label() -> None:
    assert (
        decision_to_json(Decision(Outcome.ERROR, "NotFoundException"))["decision"]
        == "Error:NotFoundException"
    )
