"""The simulator's conformance suite (``tests/conformance/cases``, each case with its AWS source)
run through the prover with every input the case gives: grants, SCPs, RCPs, boundaries, session
policies, AWS managed keys, RetireGrant, CreateGrant with the new grant, alias operations and
operations on no key, and both halves of two-step operations (``decide_pair``).

Only the PutKeyPolicy / CreateKey policy validation cases (``new_key_policy``: a check of the
submitted document, not an authorization) are left out. The prover must reach the simulator's
outcome, except where opaque atoms leave it open (binary values, IPv6 ranges, policy variables in
a Resource element).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kmsguard.authz.case import Case, load_case_file
from kmsguard.authz.evaluate import decide, decide_create_grant, decide_pair
from kmsguard.authz.types import Outcome
from tests.prove.full_support import prover_outcome

CONFORMANCE = Path(__file__).resolve().parents[1] / "conformance" / "cases"
# The cases whose outcome the encoding leaves to opaque atoms (what it does not model exactly).
OPAQUE = frozenset({"op-binaryequals", "op-binaryequals-mismatch", "op-ip-v6", "var-in-resource"})


def _cases() -> list[Case]:
    return [
        case
        for path in sorted(CONFORMANCE.glob("*.json"))
        for case in load_case_file(str(path))
        if case.new_key_policy is None and case.new_key_policy_problem is None
    ]


def _pair_outcome(first: Outcome | None, second: Outcome | None) -> Outcome | None:
    """``decide_pair``: an error, else an explicit deny, else an implicit deny, of either half."""
    halves = (first, second)
    for wanted in (Outcome.ERROR, Outcome.EXPLICIT_DENY, Outcome.IMPLICIT_DENY):
        if wanted in halves:
            return wanted
    return None if None in halves else Outcome.ALLOW


def _outcomes(case: Case) -> tuple[Outcome, Outcome | None]:
    """(the simulator's outcome, the prover's)."""
    if case.second is not None:
        expected = decide_pair((case.inputs, case.request), (case.second.inputs, case.second.request))
        first, _ = prover_outcome(case.inputs, case.request)
        second, _ = prover_outcome(case.second.inputs, case.second.request)
        return expected.outcome, _pair_outcome(first, second)
    if case.new_grant is not None:
        expected = decide_create_grant(case.inputs, case.request, case.new_grant)
        return expected.outcome, prover_outcome(case.inputs, case.request, case.new_grant)[0]
    return decide(case.inputs, case.request).outcome, prover_outcome(case.inputs, case.request)[0]


CASES = _cases()


def test_the_suite_covers_every_input_the_prover_now_encodes() -> None:
    def count(test: object) -> int:
        return sum(1 for case in CASES if test(case))  # type: ignore[operator]

    assert len(CASES) >= 300
    assert count(lambda c: c.inputs.grants) >= 20
    assert count(lambda c: c.inputs.scps) >= 10
    assert count(lambda c: c.inputs.rcps) >= 5
    assert count(lambda c: c.inputs.permission_boundary is not None) >= 5
    assert count(lambda c: c.inputs.session_policy is not None) >= 5
    assert count(lambda c: c.request.action.lower() == "kms:retiregrant") >= 3
    assert count(lambda c: c.new_grant is not None) >= 3
    assert count(lambda c: c.second is not None) >= 5


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_prover_reaches_the_simulators_outcome(case: Case) -> None:
    expected, got = _outcomes(case)
    assert expected is not Outcome.UNRESOLVED  # the suite is concrete
    if case.id in OPAQUE:
        assert got is None or got is expected
        return
    assert got is expected, (case.id, case.path)
