"""The prover's decision for a concrete request equals the simulator's (issue 4, point 4).

The symbolic request is fixed to a generated request (``encode.fix_request``); the encoding must
then decide it -- allowed, explicitly denied, or an error -- exactly as ``decide`` does. Policies
and requests come from the simulator's differential generator (``tests/differential/generate.py``),
without grants, SCPs, RCPs, boundaries and session policies, which this increment does not encode.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
import z3
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmsguard.authz.case import parse_case
from kmsguard.authz.evaluate import decide
from kmsguard.authz.types import AuthzInputs, Outcome
from kmsguard.prove.encode import Kind, encode, fix_request
from kmsguard.prove.questions import public
from tests.differential import generate

CONFORMANCE = Path(__file__).resolve().parents[1] / "conformance" / "cases"
OUT_OF_SCOPE = ("grants", "scps", "rcps", "permission_boundary", "session_policy")


def _case(seed: int) -> Any:
    raw = generate.generate_case(random.Random(seed), seed)
    for name in OUT_OF_SCOPE:
        raw.pop(name, None)
    return parse_case(raw, f"generated-{seed}")


def _forced(solver: z3.Solver, formula: z3.BoolRef) -> bool | None:
    """The value of ``formula`` under the solver's (fixing) constraints; None when the opaque
    atoms (what the encoding does not model) leave it open."""
    can_hold = solver.check(formula) == z3.sat
    can_fail = solver.check(z3.Not(formula)) == z3.sat
    assert can_hold or can_fail
    return None if can_hold and can_fail else can_hold


def _prover_outcome(case: Any) -> Outcome | None:
    """The prover's outcome for the case's request; None when it depends on opaque atoms (the
    encoding then has some: a request the encoding models exactly is always decided)."""
    request = case.request
    lists = {k: len(v) for k, v in request.context.items() if not isinstance(v, str)}
    enc = encode(
        case.inputs.key_policy,
        request.resource,
        request.resource_account,
        Kind[request.caller.kind.name],
        identity_policies=case.inputs.identity_policies,
        list_bounds=lists,
    )
    solver = z3.Solver()
    solver.add(*fix_request(enc.request, request), *enc.values)
    facts = [_forced(solver, f) for f in (enc.error, enc.explicit_deny, enc.allowed)]
    if None in facts:
        assert enc.opaque, "a request the encoding models exactly is undecided"
        return None
    error, explicit_deny, allowed = facts
    if error:
        return Outcome.ERROR
    if explicit_deny:
        return Outcome.EXPLICIT_DENY
    return Outcome.ALLOW if allowed else Outcome.IMPLICIT_DENY


def _check(seed: int) -> None:
    case = _case(seed)
    expected = decide(AuthzInputs(case.inputs.key_policy, case.inputs.identity_policies), case.request)
    assert expected.outcome is not Outcome.UNRESOLVED  # the generator has no IaC unknowns
    # The generator's policies use no value the encoding leaves opaque (no binary, IPv6...).
    assert _prover_outcome(case) is expected.outcome, (seed, expected.trace)


def _conformance_cases() -> list[Any]:
    """The simulator's conformance cases that this increment's encoding covers: a key policy and
    identity policies only, one authorization on a key's ARN."""
    from kmsguard.authz import kms_actions
    from kmsguard.authz.case import load_case_file
    from kmsguard.prove.encode import key_actions

    covered = {info.name for info in key_actions()}
    selected = []
    for path in sorted(CONFORMANCE.glob("*.json")):
        for case in load_case_file(str(path)):
            inputs, request = case.inputs, case.request
            info = kms_actions.action_info(request.action)
            if (
                inputs.grants
                or inputs.scps
                or inputs.rcps
                or inputs.permission_boundary
                or inputs.session_policy
                or case.second
                or case.new_key_policy
                or case.new_grant
                or inputs.key_policy is None
                or info is None
                or info.name not in covered
                or not request.resource.startswith("arn:")
                or ":alias/" in request.resource
            ):
                continue
            selected.append(case)
    return selected


def test_prover_decides_the_conformance_cases_like_the_simulator() -> None:
    """The documented cases (each with its AWS source) that the encoding covers: the prover's
    outcome is the simulator's, except where opaque atoms leave it open (binary values, IPv6
    ranges, variables in a Resource element)."""
    cases = _conformance_cases()
    assert len(cases) > 200
    undecided = []
    for case in cases:
        expected = decide(AuthzInputs(case.inputs.key_policy, case.inputs.identity_policies), case.request)
        if expected.outcome is Outcome.UNRESOLVED:
            continue
        got = _prover_outcome(case)
        if got is None:
            undecided.append(case.id)
            continue
        assert got is expected.outcome, (case.id, expected.trace)
    assert len(undecided) <= 6, undecided


@pytest.mark.parametrize("block", range(4))
def test_prover_decides_generated_requests_like_the_simulator(block: int) -> None:
    """A fixed sweep over 4 x 60 generated cases (the same on every run)."""
    for seed in range(block * 60, block * 60 + 60):
        _check(seed)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=10_000, max_value=2**31))
def test_prover_decides_random_requests_like_the_simulator(seed: int) -> None:
    _check(seed)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=0, max_value=2**31))
def test_no_public_access_means_no_stranger_request_is_allowed(seed: int) -> None:
    """If ``public`` proves "no", no request of a principal of an account the policy never names
    (the generator's STRANGER_ACCOUNT) is allowed, whatever its own account's IAM allows."""
    raw = generate.generate_case(random.Random(seed), seed)
    request = raw["request"]
    request["principal"] = f"arn:aws:iam::{generate.STRANGER_ACCOUNT}:role/stranger"
    # A stranger's organisation is not the one the policies name.
    context = request["context"]
    context.pop("aws:PrincipalOrgPaths", None)
    if "aws:PrincipalOrgID" in context:
        context["aws:PrincipalOrgID"] = generate.OTHER_ORG_ID
    raw["identity_policies"] = [
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}
    ]
    for name in OUT_OF_SCOPE:
        raw.pop(name, None)
    case = parse_case(raw, f"generated-{seed}")
    assert case.inputs.key_policy is not None
    answer = public(case.inputs.key_policy, key_account=generate.KEY_ACCOUNT, key_arn=generate.KEY_ARN)
    decision = decide(case.inputs, case.request)
    if answer.answer == "no":
        assert not decision.allowed, (seed, decision.trace)
    if decision.allowed:
        assert answer.answer == "yes"
