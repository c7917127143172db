"""Differential test: kmsguard's simulator against @cloud-copilot/iam-simulate on generated cases.

Both simulators decide every generated case (>= 5,000, seeded); every disagreement must be
explained by a filter of known_differences.py (each with the AWS documentation that shows which
side is right), or the test fails and prints the first unexplained cases in CASE format.

The peer is installed with ``npm ci`` from the committed lockfile when node_modules is missing (CI
reaches the npm registry). Without node / npm the peer tests fail with the reason -- a skip would
hide that the comparison did not run; the tests of the generator, the translation and the filters
run offline.
"""

from __future__ import annotations

import collections
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from tests.differential import iam_simulate
from tests.differential.generate import DEFAULT_COUNT, DEFAULT_SEED, KEY_ACCOUNT, KEY_ARN, generate_cases
from tests.differential.known_differences import (
    CROSS_ACCOUNT_OPERATIONS,
    KNOWN_DIFFERENCES,
    explain,
    grant_allows,
)

SHOWN_DISAGREEMENTS = 5
DENIALS = ("ExplicitDeny", "ImplicitDeny")


@dataclass(frozen=True)
class Compared:
    case: Mapping[str, Any]
    kmsguard: str
    peer: iam_simulate.PeerDecision
    kmsguard_trace: tuple[str, ...]


def kmsguard_decision(case: Mapping[str, Any], index: int) -> tuple[str, tuple[str, ...]]:
    """kmsguard's label and trace for a CASE dict, through the same parser as ``kmsguard simulate``."""
    from kmsguard.authz.case import evaluate_case, parse_case

    decision = evaluate_case(parse_case(case, "<generated>", index))
    trace = tuple(
        f"{entry.source} {entry.statement} {entry.effect} matched={entry.matched}: {entry.reason}"
        for entry in decision.trace
    )
    return decision.label, trace


def disagree(kmsguard: str, peer: str) -> bool:
    """Allow vs not-Allow; explicit vs implicit deny where both report a deny."""
    if (kmsguard == "Allow") != (peer == "Allow"):
        return True
    return kmsguard in DENIALS and peer in DENIALS and kmsguard != peer


def show(compared: Compared) -> str:
    return "\n".join(
        [
            f"--- {compared.case['id']}: kmsguard {compared.kmsguard}, iam-simulate {compared.peer.label}",
            json.dumps(compared.case, indent=1),
            f"iam-simulate decisive statements: {list(compared.peer.statements)}",
            "kmsguard trace:",
            *(f"  {line}" for line in compared.kmsguard_trace),
        ]
    )


@pytest.fixture(scope="module")
def cases() -> list[dict[str, Any]]:
    return generate_cases(DEFAULT_SEED, DEFAULT_COUNT)


@pytest.fixture(scope="module")
def peer_decisions(cases: list[dict[str, Any]]) -> list[iam_simulate.PeerDecision]:
    try:
        iam_simulate.ensure_installed()
    except iam_simulate.PeerUnavailable as missing:
        pytest.fail(f"the peer simulator is needed for the differential test: {missing}")
    return iam_simulate.run_batch([iam_simulate.to_simulation(case) for case in cases])


@pytest.fixture(scope="module")
def compared(cases: list[dict[str, Any]], peer_decisions: list[iam_simulate.PeerDecision]) -> list[Compared]:
    results = []
    for index, (case, peer) in enumerate(zip(cases, peer_decisions, strict=True)):
        label, trace = kmsguard_decision(case, index)
        results.append(Compared(case, label, peer, trace))
    return results


# --- the differential test ---------------------------------------------------------------------


def test_every_disagreement_is_a_known_difference(compared: list[Compared]) -> None:
    assert len(compared) >= 5000
    unexplained = [
        c
        for c in compared
        if disagree(c.kmsguard, c.peer.label) and explain(c.case, c.kmsguard, c.peer.label) is None
    ]
    if unexplained:
        shown = "\n".join(show(c) for c in unexplained[:SHOWN_DISAGREEMENTS])
        pytest.fail(
            f"{len(unexplained)} of {len(compared)} cases disagree without a known difference:\n{shown}"
        )


def test_generated_requests_both_allow_and_deny(compared: list[Compared]) -> None:
    """A comparison where everything is denied proves nothing: the generated conditions and
    contexts must make each simulator allow and deny, explicitly and implicitly, in bulk."""
    peer_labels = collections.Counter(c.peer.label for c in compared)
    kmsguard_labels = collections.Counter(c.kmsguard for c in compared)
    for labels in (peer_labels, kmsguard_labels):
        assert labels["Allow"] >= 0.1 * len(compared), labels
        assert labels["ExplicitDeny"] >= 0.05 * len(compared), labels
        assert labels["ImplicitDeny"] >= 0.2 * len(compared), labels


def test_known_differences_are_exercised(compared: list[Compared]) -> None:
    """Each documented difference still occurs (else its filter is stale and must go), and none
    explains more than it should: a filter never matches a case where both sides agree."""
    seen = collections.Counter()
    for c in compared:
        difference = explain(c.case, c.kmsguard, c.peer.label)
        if difference is not None:
            assert disagree(c.kmsguard, c.peer.label), (difference.category, c.case["id"])
            seen[difference.category] += 1
    assert set(seen) == {d.category for d in KNOWN_DIFFERENCES}, seen


def test_run_simulation_drops_encryption_context_keys(
    cases: list[dict[str, Any]], peer_decisions: list[iam_simulate.PeerDecision]
) -> None:
    """The gap of iam-simulate's validating entry point, measured: it ignores every
    kms:EncryptionContext:<k> key, which is why the comparison uses its engine directly."""
    with_context = [
        peer
        for case, peer in zip(cases, peer_decisions, strict=True)
        if any(key.startswith("kms:EncryptionContext:") for key in case["request"]["context"])
    ]
    assert with_context
    assert all(any(key.startswith("kms:EncryptionContext:") for key in p.ignored_keys) for p in with_context)
    assert any(p.api_label != p.label for p in with_context)


# --- offline: generator, translation, filters ----------------------------------------------------


def test_generator_is_reproducible_and_seeded() -> None:
    assert generate_cases(7, 50) == generate_cases(7, 50)
    assert generate_cases(7, 50) != generate_cases(8, 50)


def test_generator_covers_the_documented_variations() -> None:
    cases = generate_cases(DEFAULT_SEED, DEFAULT_COUNT)
    assert len(cases) >= 5000
    principals = {c["request"]["principal"] for c in cases}
    assert "anonymous" in principals and "s3.amazonaws.com" in principals
    assert any(p.endswith(":root") for p in principals)
    assert any(":assumed-role/" in p for p in principals)
    statements = [s for c in cases for s in c["key_policy"]["Statement"]]
    assert any("NotAction" in s for s in statements)
    assert any(s.get("Principal") == "*" for s in statements)
    assert any(s["Effect"] == "Deny" for s in statements)
    operators = {op for s in statements for op in s.get("Condition", {})}
    for family in ("StringLike", "ArnLike", "Bool", "Null", "IpAddress", "NumericLessThan", "DateLessThan"):
        assert family in operators
    assert any(op.startswith("ForAllValues:") for op in operators)
    assert any(op.endswith("IfExists") for op in operators)
    accounts = {
        c["request"]["principal"].split(":")[4] for c in cases if c["request"]["principal"].startswith("arn:")
    }
    assert KEY_ACCOUNT in accounts and len(accounts) >= 3
    for field in ("identity_policies", "grants", "scps", "rcps", "permission_boundary", "session_policy"):
        assert any(c[field] for c in cases), field


def test_implied_context_of_a_role_session_names_the_role() -> None:
    # source: IAM User Guide, "AWS global condition context keys", aws:PrincipalArn: for an assumed
    # role session, the ARN of the role (not of the session); kms:CallerAccount: KMS Developer
    # Guide, "AWS KMS condition keys", kms:CallerAccount.
    context = iam_simulate.implied_context("arn:aws:sts::444455556666:assumed-role/partner/job-7")
    assert context["aws:PrincipalArn"] == "arn:aws:iam::444455556666:role/partner"
    assert context["kms:CallerAccount"] == "444455556666"
    assert "aws:username" not in context
    assert iam_simulate.implied_context("arn:aws:iam::111122223333:user/alice")["aws:username"] == "alice"
    assert iam_simulate.implied_context("anonymous") == {}


def test_translation_keeps_the_case_context_over_implied_keys() -> None:
    case = {
        "key_policy": {"Version": "2012-10-17", "Statement": []},
        "identity_policies": [],
        "grants": [{"grantee_principal": "x", "operations": ["Decrypt"]}],
        "scps": [],
        "rcps": [],
        "permission_boundary": None,
        "session_policy": None,
        "request": {
            "action": "kms:Decrypt",
            "principal": "arn:aws:iam::111122223333:role/app",
            "resource": KEY_ARN,
            "resource_account": KEY_ACCOUNT,
            "context": {"kms:CallerAccount": "999999999999"},
        },
    }
    simulation = iam_simulate.to_simulation(case)
    assert simulation["request"]["contextVariables"]["kms:CallerAccount"] == "999999999999"
    assert (
        simulation["request"]["contextVariables"]["aws:PrincipalArn"] == "arn:aws:iam::111122223333:role/app"
    )
    assert "permissionBoundaryPolicies" not in simulation and "sessionPolicy" not in simulation


def _grant_case(constraints: dict[str, Any] | None, context: dict[str, str]) -> dict[str, Any]:
    grant: dict[str, Any] = {
        "grantee_principal": "arn:aws:iam::111122223333:role/app",
        "operations": ["Decrypt"],
    }
    if constraints is not None:
        grant["constraints"] = constraints
    return {
        "grants": [grant],
        "request": {
            "action": "kms:Decrypt",
            "principal": "arn:aws:sts::111122223333:assumed-role/app/s",
            "resource": KEY_ARN,
            "resource_account": KEY_ACCOUNT,
            "context": context,
        },
    }


def test_grant_filter_applies_constraints_case_sensitively() -> None:
    # source: KMS Developer Guide, "Grant constraints": EncryptionContextEquals / Subset are
    # case-sensitive; Subset allows extra pairs, Equals does not.
    tenant_a = {"kms:EncryptionContext:tenant": "a"}
    assert grant_allows(_grant_case(None, {}))
    assert grant_allows(_grant_case({"EncryptionContextEquals": {"tenant": "a"}}, tenant_a))
    assert not grant_allows(
        _grant_case({"EncryptionContextEquals": {"tenant": "a"}}, {"kms:EncryptionContext:tenant": "A"})
    )
    both = {**tenant_a, "kms:EncryptionContext:app": "x"}
    assert not grant_allows(_grant_case({"EncryptionContextEquals": {"tenant": "a"}}, both))
    assert grant_allows(_grant_case({"EncryptionContextSubset": {"tenant": "a"}}, both))
    assert not grant_allows(_grant_case({"EncryptionContextSubset": {"tenant": "a"}}, {}))


def categories(case: Mapping[str, Any], kmsguard: str, peer: str) -> str | None:
    difference = explain(case, kmsguard, peer)
    return None if difference is None else difference.category


def test_filters_match_only_their_shape() -> None:
    cross = {
        "request": {
            "action": "kms:ScheduleKeyDeletion",
            "principal": "arn:aws:iam::444455556666:role/partner",
            "resource_account": KEY_ACCOUNT,
        }
    }
    same = {"request": {**cross["request"], "principal": "arn:aws:iam::111122223333:role/app"}}
    decrypt = {"request": {**cross["request"], "action": "kms:Decrypt"}}
    assert categories(cross, "ImplicitDeny", "Allow") == "cross-account-operation"
    assert categories(same, "ImplicitDeny", "Allow") is None
    assert categories(decrypt, "ImplicitDeny", "Allow") is None
    assert categories(cross, "Allow", "ImplicitDeny") is None  # the other direction is a bug
    root = {"request": {**same["request"], "principal": "arn:aws:iam::111122223333:root"}}
    foreign_root = {"request": {**same["request"], "principal": "arn:aws:iam::444455556666:root"}}
    assert categories(root, "Allow", "ImplicitDeny") == "root-user"
    assert categories(foreign_root, "Allow", "ImplicitDeny") is None
    assert "decrypt" in CROSS_ACCOUNT_OPERATIONS and "schedulekeydeletion" not in CROSS_ACCOUNT_OPERATIONS
