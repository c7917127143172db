"""The witness request on findings (Finding.witness), as the rule runtime reads it from a prover
question's fields."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kmsguard.check import CheckOptions, run_check
from kmsguard.findings import Witness
from kmsguard.load.policy_builder import build_policy
from kmsguard.model import Policy, PolicyKind, Span
from kmsguard.rules_engine.runtime import parse_witness_text, witness_from_fields

DEMO = Path(__file__).resolve().parents[2] / "fixtures" / "demo"
FIXTURE = Path(__file__).parent / "html_fixture"


def _as_questions_write_it(case: dict[str, Any], needs_identity_policy: bool = False) -> str:
    """The witness text kmsguard.rules_engine.questions writes for a prover answer (the producer
    the runtime parses), for a policy that spells its condition keys as ``case`` does."""
    from kmsguard.prove.questions import ProofResult
    from kmsguard.rules_engine.questions import _witness_text

    conditions = {"StringEquals": {name: "x" for name in case.get("context", {})}}
    doc = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*", "Condition": conditions}
        ],
    }
    policy, _ = build_policy(doc, PolicyKind.KEY, resource="k", span=Span("k.json", 1))
    assert isinstance(policy, Policy)
    result = ProofResult("yes", None, (), "", case, needs_identity_policy)
    return _witness_text(result, policy)


def test_a_request_without_context_is_read_into_principal_and_action():
    text = _as_questions_write_it({"principal": "arn:aws:iam::999999999999:root", "action": "kms:Decrypt"})
    assert parse_witness_text(text) == Witness(
        text=text, principal="arn:aws:iam::999999999999:root", action="kms:Decrypt"
    )


def test_request_context_entries_are_read_in_order_list_values_whole():
    case = {
        "principal": "arn:aws:iam::999999999999:root",
        "action": "kms:GenerateDataKey",
        "context": {
            "aws:PrincipalOrgID": "o-a1b2c3d4e5",
            "kms:EncryptionContextKeys": ["tenant", "team"],
            "kms:ViaService": "s3.us-east-1.amazonaws.com",
        },
    }
    witness = parse_witness_text(_as_questions_write_it(case))
    assert witness.principal == "arn:aws:iam::999999999999:root"
    assert witness.action == "kms:GenerateDataKey"
    assert witness.context == (
        ("aws:PrincipalOrgID", "o-a1b2c3d4e5"),
        ("kms:EncryptionContextKeys", "[tenant, team]"),
        ("kms:ViaService", "s3.us-east-1.amazonaws.com"),
    )


def test_what_else_the_request_needs_is_kept_as_a_note():
    case = {"principal": "arn:aws:iam::111122223333:role/example-role", "action": "kms:Decrypt"}
    witness = parse_witness_text(_as_questions_write_it(case, needs_identity_policy=True))
    assert (witness.principal, witness.action) == (
        "arn:aws:iam::111122223333:role/example-role",
        "kms:Decrypt",
    )
    assert witness.note == "its own account's IAM policy allowing"


def test_two_requests_of_one_caller():
    case = {
        "principal": "arn:aws:iam::111122223333:role/admin",
        "requests": [{"action": "kms:PutKeyPolicy"}, {"action": "kms:Decrypt"}],
    }
    witness = parse_witness_text(_as_questions_write_it(case))
    assert (witness.principal, witness.action) == (
        "arn:aws:iam::111122223333:role/admin",
        "kms:PutKeyPolicy and kms:Decrypt",
    )


def test_a_text_in_no_known_form_is_kept_whole_and_nothing_is_guessed():
    assert parse_witness_text("a request the prover described differently") == Witness(
        text="a request the prover described differently"
    )
    # "with" followed by something that is not key=value pairs: not read into parts either.
    odd = "arn:aws:iam::1:root calling kms:Decrypt with a context nobody wrote"
    assert parse_witness_text(odd) == Witness(text=odd)


@pytest.mark.parametrize("fields", [{}, {"witness": ""}, {"evidence": ""}, {"witness": None}])
def test_no_witness_without_a_witness_text(fields):
    assert witness_from_fields(fields) is None


def test_a_structured_request_is_taken_as_given():
    fields = {
        "witness": "the stranger calling kms:Decrypt",
        "witness_request": {
            "principal": "arn:aws:iam::999999999999:root",
            "action": "kms:Decrypt",
            "resource": "arn:aws:kms:us-east-1:111122223333:key/k",
            "context": {"aws:SecureTransport": True, "kms:EncryptionContextKeys": ["a", "b"]},
        },
    }
    assert witness_from_fields(fields) == Witness(
        text="the stranger calling kms:Decrypt",
        principal="arn:aws:iam::999999999999:root",
        action="kms:Decrypt",
        resource="arn:aws:kms:us-east-1:111122223333:key/k",
        context=(("aws:SecureTransport", "true"), ("kms:EncryptionContextKeys", "[a, b]")),
    )


@pytest.mark.parametrize("path", [DEMO, FIXTURE], ids=["demo", "html_fixture"])
def test_findings_of_a_run_carry_the_witness_their_message_quotes(path):
    result = run_check(CheckOptions(paths=(str(path),)))
    witnessed = [f for f in [*result.findings, *result.suppressed] if f.witness is not None]
    assert witnessed
    for finding in witnessed:
        assert finding.witness is not None
        # The prover rules' messages end their evidence with ": e.g. <witness>".
        assert f"e.g. {finding.witness.text}" in finding.message
        assert finding.witness.principal and finding.witness.action
    # Rules without a prover question have none.
    assert all(f.witness is None for f in result.findings if "e.g. " not in f.message)
