"""The conformance suite: every case in ``cases/*.json`` is a request with the decision AWS
documents for it (``expected``) and where it says so (``source``). The expected decisions come
from the AWS documentation, never from running kmsguard; a case kmsguard gets wrong fails, unless
the case file records it as a ``known_gap`` (then it is a strict xfail).

The format is described in README.md next to this file."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from kmsguard.authz.case import Case, CaseError, decision_to_text, evaluate_case, load_case_file

CASES_DIR = Path(__file__).parent / "cases"
MINIMUM_CASES = 150


def _load_all() -> tuple[list[Case], list[str]]:
    cases: list[Case] = []
    errors: list[str] = []
    for path in sorted(CASES_DIR.glob("*.json")):
        try:
            cases.extend(load_case_file(str(path)))
        except CaseError as err:
            errors.append(str(err))
    return cases, errors


ALL_CASES, LOAD_ERRORS = _load_all()


def _params() -> list[object]:
    params = []
    for case in ALL_CASES:
        marks = []
        if case.expected is not None and case.expected.known_gap:
            marks.append(pytest.mark.xfail(strict=True, reason=case.expected.known_gap))
        params.append(pytest.param(case, id=case.id, marks=marks))
    return params


def test_every_case_file_loads() -> None:
    assert not LOAD_ERRORS, "\n".join(LOAD_ERRORS)


def test_suite_size_and_sources() -> None:
    assert len(ALL_CASES) >= MINIMUM_CASES
    for case in ALL_CASES:
        assert case.expected is not None, f"{case.path}:{case.line}: case {case.id} has no expected decision"
        assert case.expected.source.strip(), f"{case.path}:{case.line}: case {case.id} has no source"


def test_case_ids_are_unique_across_files() -> None:
    counts = Counter(case.id for case in ALL_CASES)
    assert [case_id for case_id, n in counts.items() if n > 1] == []


def test_every_outcome_is_exercised() -> None:
    labels = {case.expected.label.split(":", 1)[0] for case in ALL_CASES if case.expected}
    assert {"Allow", "ExplicitDeny", "ImplicitDeny", "Error"} <= labels


@pytest.mark.parametrize("case", _params())
def test_conformance(case: Case) -> None:
    assert case.expected is not None
    decision = evaluate_case(case)
    assert decision.label == case.expected.label, (
        f"{case.path}:{case.line}: {case.id}: {case.description}\n"
        f"expected {case.expected.label} ({case.expected.source}), got {decision.label}\n"
        + decision_to_text(decision)
    )
