"""The simulator's caches (kmsguard.authz.evaluate, conditions, types) never change an answer.

``decide`` compiles each policy once, plans each (inputs, caller, action, resource) once, memoises a
policy's verdict by the values of the context keys its conditions read, and computes each request's
context once. These tests check that none of that leaks between different inputs: another policy
object (even one that reuses a cached id, or has the same content), another caller, other context
values, an unresolved context value that compares equal to an empty list, and a request rebuilt with
``dataclasses.replace``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from kmsguard.authz import evaluate
from kmsguard.authz.case import load_case_file
from kmsguard.authz.conditions import UnresolvedContextValue, request_context
from kmsguard.authz.evaluate import decide, parse_caller
from kmsguard.authz.types import AuthzInputs, Caller, Outcome, Request
from kmsguard.load.policy_builder import build_policy
from kmsguard.model import Policy, PolicyKind

A = "111122223333"
B = "444455556666"
KEY = f"arn:aws:kms:us-east-1:{A}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ROOT_A = f"arn:aws:iam::{A}:root"
APP_ROLE = f"arn:aws:iam::{A}:role/app"
APP_SESSION = f"arn:aws:sts::{A}:assumed-role/app/worker-1"
ORG = "o-exampleorgid"
CONFORMANCE = Path(__file__).resolve().parents[1] / "conformance" / "cases"


def policy(kind: PolicyKind, *statements: dict[str, Any]) -> Policy:
    built, problems = build_policy(
        {"Version": "2012-10-17", "Statement": list(statements)}, kind, resource="test"
    )
    assert not problems, problems
    assert isinstance(built, Policy)
    return built


def statement(effect: str, principal: Any = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"Effect": effect, "Action": "kms:Decrypt", "Resource": "*", **extra}
    if principal is not None:
        body["Principal"] = principal
    return body


def request(caller: Caller, context: dict[str, Any] | None = None) -> Request:
    return Request("kms:Decrypt", caller, KEY, A, context or {})


def test_a_stale_compiled_policy_under_a_reused_id_is_not_used() -> None:
    # A compiled policy is cached by id(policy); should another object ever carry a cached id, the
    # entry must be recognised as another policy's. The stale entry is planted by hand: the cache
    # holds its policies, so CPython cannot actually reuse their ids while they are cached.
    # source: KMS Developer Guide, "Key policies in AWS KMS": a key policy statement naming the
    # caller allows it; IAM User Guide, "Policy evaluation logic": an explicit deny wins.
    allowing = policy(PolicyKind.KEY, statement("Allow", {"AWS": APP_ROLE}))
    denying = policy(PolicyKind.KEY, statement("Allow", {"AWS": APP_ROLE}), statement("Deny", "*"))
    caller = parse_caller(APP_SESSION)
    assert decide(AuthzInputs(allowing), request(caller)).outcome is Outcome.ALLOW
    stale = evaluate._CACHE[(id(allowing), "key policy")]
    evaluate._CACHE[(id(denying), "key policy")] = stale
    try:
        assert decide(AuthzInputs(denying), request(caller)).outcome is Outcome.EXPLICIT_DENY
    finally:
        evaluate._CACHE.pop((id(denying), "key policy"), None)


def test_a_stale_plan_under_a_reused_inputs_id_is_not_used() -> None:
    # The decision plan is cached by id(inputs) and the caller's principal fields; a plan made for
    # another inputs object must be ignored. source: KMS Developer Guide, "Default key policy": the
    # account statement alone gives a role session nothing; "Key policies in AWS KMS": a statement
    # naming the role allows its sessions.
    default = AuthzInputs(policy(PolicyKind.KEY, statement("Allow", {"AWS": ROOT_A})))
    naming = AuthzInputs(policy(PolicyKind.KEY, statement("Allow", {"AWS": APP_ROLE})))
    session = parse_caller(APP_SESSION)
    assert decide(naming, request(session)).outcome is Outcome.ALLOW
    key = (id(naming), session._principal_key, "kms:Decrypt", KEY, A)
    assert key in evaluate._PLANS
    evaluate._PLANS[key] = evaluate._plan_decision(default, request(session))
    try:
        assert decide(naming, request(session)).outcome is Outcome.ALLOW
        assert decide(default, request(session)).outcome is Outcome.IMPLICIT_DENY
    finally:
        evaluate._PLANS.pop(key, None)


def test_equal_callers_share_answers_and_other_principals_do_not() -> None:
    # Caches are keyed by what a caller is, not by the object: an equal caller built again gets the
    # same decision, and a caller that differs only in kind or ARN gets its own. source: IAM User
    # Guide, "AWS JSON policy elements: Principal", "Role session principals": a session ARN names
    # that session only.
    named = AuthzInputs(
        policy(PolicyKind.KEY, statement("Allow", {"AWS": f"arn:aws:sts::{A}:assumed-role/app/worker-1"}))
    )
    first = decide(named, request(parse_caller(APP_SESSION)))
    again = decide(named, request(parse_caller(APP_SESSION)))
    other_session = decide(named, request(parse_caller(f"arn:aws:sts::{A}:assumed-role/app/worker-2")))
    assert first.outcome is Outcome.ALLOW
    assert again == first
    assert other_session.outcome is Outcome.IMPLICIT_DENY


def test_policies_with_the_same_sids_but_other_content_are_not_confused() -> None:
    # Two policy objects whose statements carry the same Sid and shape, one with a condition that
    # fails. source: IAM User Guide, "IAM JSON policy elements: Condition operators", "String
    # condition operators": StringEquals compares the request value with the policy value.
    caller = parse_caller(APP_SESSION, org_id=ORG)
    plain = policy(PolicyKind.KEY, statement("Allow", {"AWS": APP_ROLE}, Sid="Use"))
    fenced = policy(
        PolicyKind.KEY,
        statement(
            "Allow",
            {"AWS": APP_ROLE},
            Sid="Use",
            Condition={"StringEquals": {"aws:PrincipalOrgID": "o-other"}},
        ),
    )
    for _ in range(2):  # the second round reads the memoised verdicts
        assert decide(AuthzInputs(plain), request(caller)).outcome is Outcome.ALLOW
        assert decide(AuthzInputs(fenced), request(caller)).outcome is Outcome.IMPLICIT_DENY


def test_verdicts_are_memoised_by_the_values_their_conditions_read() -> None:
    # source: IAM User Guide, "IAM JSON policy elements: Condition operators", "String condition
    # operators"; KMS Developer Guide, "AWS KMS condition keys", "kms:EncryptionContext:context-key".
    caller = parse_caller(APP_SESSION)
    tenant = policy(
        PolicyKind.KEY,
        statement(
            "Allow", {"AWS": APP_ROLE}, Condition={"StringEquals": {"kms:EncryptionContext:tenant": "a"}}
        ),
    )
    inputs = AuthzInputs(tenant)
    answers = []
    for value in ("a", "b", "a", "b"):
        decision = decide(inputs, request(caller, {"kms:EncryptionContext:tenant": value}))
        answers.append(decision.outcome)
    assert answers == [Outcome.ALLOW, Outcome.IMPLICIT_DENY, Outcome.ALLOW, Outcome.IMPLICIT_DENY]


def test_verdicts_are_not_shared_between_callers_with_different_tags() -> None:
    # Two callers with the same ARN and different principal tags are different callers.
    # source: IAM User Guide, "IAM policy elements: Variables and tags": ${aws:PrincipalTag/team} is
    # the caller's tag value.
    team = policy(
        PolicyKind.KEY,
        statement(
            "Allow",
            {"AWS": APP_ROLE},
            Condition={"StringEquals": {"kms:EncryptionContext:team": "${aws:PrincipalTag/team}"}},
        ),
    )
    inputs = AuthzInputs(team)
    red = parse_caller(APP_SESSION, tags={"team": "red"})
    blue = parse_caller(APP_SESSION, tags={"team": "blue"})
    context = {"kms:EncryptionContext:team": "red"}
    for _ in range(2):
        assert decide(inputs, request(red, context)).outcome is Outcome.ALLOW
        assert decide(inputs, request(blue, context)).outcome is Outcome.IMPLICIT_DENY


def test_an_unresolved_value_is_not_mistaken_for_an_empty_list() -> None:
    # An unresolved aws:userid (a role session whose role id is not given) is an empty-tuple subclass;
    # a request that sends aws:userid as an empty list must not share its memoised verdict.
    # source: IAM User Guide, "IAM JSON policy elements: Condition operators", "...IfExists condition
    # operators": true when the key is not present; "Creating a condition with multiple keys or
    # values": an empty multivalued key is not present (an assumption the engine documents).
    ifexists = policy(
        PolicyKind.KEY,
        statement("Allow", {"AWS": APP_ROLE}, Condition={"StringEqualsIfExists": {"aws:userid": "AROAX:s"}}),
    )
    inputs = AuthzInputs(ifexists)
    caller = parse_caller(APP_SESSION)
    unresolved = request(caller)
    assert type(unresolved._condition_context[0]["aws:userid"]) is UnresolvedContextValue
    empty = request(caller, {"aws:userid": []})
    assert decide(inputs, empty).outcome is Outcome.ALLOW
    assert decide(inputs, unresolved).outcome is Outcome.UNRESOLVED
    assert decide(inputs, empty).outcome is Outcome.ALLOW


def test_a_request_rebuilt_with_replace_gets_its_own_context() -> None:
    caller = parse_caller(APP_SESSION, org_id=ORG)
    first = request(caller, {"kms:EncryptionContext:tenant": "a"})
    assert first._condition_context[0] == request_context(first)
    second = dataclasses.replace(first, context={"kms:EncryptionContext:tenant": "b"}, resource_account=B)
    context = second._condition_context[0]
    assert context == request_context(second)
    assert context["kms:encryptioncontext:tenant"] == "b"
    assert context["aws:resourceaccount"] == B
    assert first._condition_context[0]["kms:encryptioncontext:tenant"] == "a"
    assert "_condition_context" not in {f.name for f in dataclasses.fields(Request)}
    assert first == dataclasses.replace(first)  # the cached context is not part of equality


def test_one_policy_object_in_two_roles_is_traced_under_each_name() -> None:
    # The same Policy object as an identity policy and as the permissions boundary: each role keeps
    # its own trace source. source: IAM User Guide, "Permissions boundaries for IAM entities": an
    # action must be allowed by both the identity policy and the boundary.
    iam = policy(PolicyKind.IDENTITY, statement("Allow"))
    key = policy(PolicyKind.KEY, statement("Allow", {"AWS": ROOT_A}))
    decision = decide(AuthzInputs(key, (iam,), permission_boundary=iam), request(parse_caller(APP_SESSION)))
    assert decision.outcome is Outcome.ALLOW
    sources = [entry.source for entry in decision.trace]
    assert "identity policy #1" in sources
    assert "permissions boundary" in sources


def test_conformance_cases_decide_the_same_cold_warm_and_on_copies() -> None:
    # Every conformance case, decided on first sight, again (memoised), and on freshly parsed copies
    # of the same case files (other objects with the same content): the same decision and trace.
    first = [case for path in sorted(CONFORMANCE.glob("*.json")) for case in load_case_file(str(path))]
    copies = [case for path in sorted(CONFORMANCE.glob("*.json")) for case in load_case_file(str(path))]
    assert len(first) >= 150
    cold = [decide(case.inputs, case.request) for case in first]
    warm = [decide(case.inputs, case.request) for case in first]
    other = [decide(case.inputs, case.request) for case in copies]
    assert cold == warm
    assert cold == other
    mixed = [decide(case.inputs, copy.request) for case, copy in zip(first, copies, strict=True)]
    assert mixed == cold
