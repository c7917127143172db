"""The bundled demo (fixtures/demo) end to end: the findings its README promises, and no others.

Each expectation is derived from the demo's source and the rule definitions, not from a run."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "fixtures" / "demo"


@pytest.fixture(scope="module")
def report():
    proc = subprocess.run(
        [sys.executable, "-m", "kmsguard", "check", str(DEMO), "--format", "json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr == ""
    return json.loads(proc.stdout)


def _found(report, suffix):
    return sorted(
        (f["rule_id"], f["resource"])
        for f in report["findings"]
        if f["path"].endswith(suffix) and not f["suppressed"]
    )


def test_terraform_findings(report):
    assert _found(report, "terraform/main.tf") == [
        ("KMS001", "aws_kms_key.logs"),
        ("KMS002", "aws_kms_key.partner"),  # policy from a variable without a value: unresolved
        ("KMS002", "aws_kms_key.shared"),
        ("KMS003", "aws_kms_key.shared"),
        # The log group's kms_key_id is aws_kms_key.logs.arn, the key that does not rotate.
        ("KMS031", "aws_cloudwatch_log_group.app"),
        # aws_kms_key.logs has no policy, so AWS's default (the account root only): CloudWatch Logs'
        # principal logs.<region>.amazonaws.com is not allowed and creating the log group fails.
        ("KMS040", "aws_cloudwatch_log_group.app"),
        ("KMS100", "aws_kms_key.reports"),  # "Effect": "allow" in a heredoc policy
    ]
    unresolved = [f for f in report["findings"] if f["resource"] == "aws_kms_key.partner"]
    assert unresolved[0]["unresolved"] == ["var.partner_key_policy"]
    # The open statement lives in a data "aws_iam_policy_document" in policies.tf, applied to
    # aws_kms_key.uploads by aws_kms_key_policy.
    # aws_kms_key.uploads: that open statement is its whole policy, so nobody may call
    # kms:PutKeyPolicy (KMS027). aws_kms_key.org_shared lets the organisation var.org_id in: other
    # accounts than the key's own (KMS025; --org-id would trust them).
    assert _found(report, "terraform/policies.tf") == [
        ("KMS002", "aws_kms_key.uploads"),
        ("KMS025", "aws_kms_key.org_shared"),
        ("KMS027", "aws_kms_key.uploads"),
    ]
    # The module's default is true, but the caller passes var.payments_rotation = false.
    assert _found(report, "terraform/modules/key/main.tf") == [("KMS001", "module.payments.aws_kms_key.this")]


def test_cloudformation_findings(report):
    assert _found(report, "cloudformation/app.yaml") == [
        ("KMS001", "DataKey"),
        ("KMS002", "PublicKey"),  # StringEqualsIfExists restricts nothing
        # The Partner statement (!If Share, PartnerAccount defaults to 444455556666) lets another
        # account in; unresolved, since the simulator cannot tell that account from AppRole's.
        ("KMS025", "DataKey"),
        # Both encrypt with DataKey (EnableKeyRotation: false): the bucket by !GetAtt DataKey.Arn,
        # the queue through !Ref DataKeyAlias.
        ("KMS031", "Bucket"),
        ("KMS031", "Queue"),
        ("KMS900", ""),  # the UnexplainedKey suppression has no reason
    ]


def test_policy_file_findings(report):
    found = _found(report, "policies/shared-key-policy.json")
    assert sorted(rule for rule, _ in found) == ["KMS002", "KMS002", "KMS101", "KMS103"]
    # Not public (aws:PrincipalOrgID), but open to the organisation's other accounts (KMS025).
    assert _found(report, "policies/org-key-policy.json") == [
        ("KMS025", str(DEMO / "policies" / "org-key-policy.json") + "#KeyPolicy")
    ]


def test_plan_findings(report):
    # deletion_window_in_days = 7 in the plan: below kms-core's minimum of 14 days.
    assert _found(report, "plan/plan.json") == [
        ("KMS001", "aws_kms_key.reports"),
        ("KMS005", "aws_kms_key.reports"),
    ]


def test_suppressed_findings_are_kept_with_their_reason(report):
    suppressed = sorted((f["rule_id"], f["resource"]) for f in report["findings"] if f["suppressed"])
    assert suppressed == [("KMS001", "LegacyKey"), ("KMS001", "aws_kms_key.legacy")]


def test_no_errors(report):
    assert report["errors"] == []
