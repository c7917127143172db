"""Findings built by hand (no loaders), shared by the report tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from kmsguard.findings import Finding, InputError, Severity, Suppression
from kmsguard.model.span import Span
from kmsguard.report import ReportInput, RuleInfo

FindingFactory = Callable[..., Finding]

MAIN_TF = (
    'resource "aws_kms_key" "main" {\n'
    '  description = "app key"\n'
    "  policy = jsonencode({\n"
    '    Statement = [{ Effect = "Allow", Principal = "*", Action = "kms:*" }]\n'
    "  })\n"
    '  admin_password = "hunter2-not-in-any-finding"\n'
    "}\n"
)


def build_finding(
    rule_id: str = "KMS001",
    *,
    path: str = "main.tf",
    line: int = 4,
    col: int = 38,
    end_line: int = 0,
    end_col: int = 0,
    severity: Severity = Severity.HIGH,
    message: str = "Key policy allows kms:* to every principal",
    title: str = "Key policy open to everyone",
    category: str = "exposure",
    resource: str = "aws_kms_key.main",
    suppressed_reason: str | None = None,
    **extra: Any,
) -> Finding:
    suppression = None
    if suppressed_reason is not None:
        suppression = Suppression(path, max(line - 1, 1), (rule_id,), suppressed_reason, 1, 100)
    return Finding(
        rule_id=rule_id,
        title=title,
        severity=severity,
        category=category,
        message=message,
        span=Span(path, line, col, end_line, end_col),
        resource=resource,
        suppressed_by=suppression,
        **extra,
    )


def build_rule(rule_id: str = "KMS001", severity: Severity = Severity.HIGH, **extra: str) -> RuleInfo:
    fields = {
        "title": "Key policy open to everyone",
        "category": "exposure",
        "description": "A key policy statement allows a wildcard principal without conditions.",
        "remediation": "Name the principals, or add an aws:PrincipalOrgID condition.",
        "help_uri": "https://docs.aws.amazon.com/kms/latest/developerguide/key-policies.html",
    }
    fields.update(extra)
    return RuleInfo(id=rule_id, severity=severity, **fields)


@pytest.fixture
def make_finding() -> FindingFactory:
    return build_finding


@pytest.fixture
def make_rule() -> Callable[..., RuleInfo]:
    return build_rule


@pytest.fixture
def mixed_report() -> ReportInput:
    """Every kind of thing a report shows: severities, a suppressed finding, an unresolved value,
    a live-account finding without a line, a rule that is not in the rule list, input errors."""
    findings = [
        build_finding(
            "KMS001",
            end_line=4,
            end_col=53,
            remediation="Name the principals.",
            help_uri="https://docs.aws.amazon.com/kms/latest/developerguide/key-policies.html",
        ),
        build_finding(
            "KMS002",
            line=3,
            col=3,
            severity=Severity.MEDIUM,
            title="Rotation disabled",
            category="rotation",
            message="enable_key_rotation is not set",
            unresolved=("var.rotation",),
        ),
        build_finding(
            "KMS003",
            line=2,
            col=3,
            severity=Severity.LOW,
            title="No description",
            category="hygiene",
            message="key has a placeholder description",
            suppressed_reason="legacy key, tracked in JIRA-1",
        ),
        build_finding(
            "KMS010",
            path="arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            line=0,
            col=0,
            severity=Severity.CRITICAL,
            title="Key reachable from outside the organisation",
            message="any AWS account can call kms:Decrypt",
            resource="arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        ),
        build_finding(
            "KMS900",
            path="other.yaml",
            line=7,
            col=0,
            severity=Severity.INFO,
            title="",
            category="validity",
            message="suppression has no reason",
            resource="",
        ),
    ]
    rules = [
        build_rule("KMS001"),
        build_rule("KMS002", Severity.MEDIUM, title="Rotation disabled", category="rotation"),
        build_rule("KMS003", Severity.LOW, title="No description", category="hygiene"),
        build_rule("KMS010", Severity.CRITICAL, title="Key reachable from outside the organisation"),
        build_rule("KMS020", Severity.MEDIUM, title="Grant without constraints", category="grant"),
    ]
    return ReportInput(
        findings=findings,
        rules=rules,
        sources={"main.tf": MAIN_TF},
        errors=[
            InputError("broken.yaml", 3, "mapping values are not allowed here"),
            InputError("gone.tf", 0, "cannot read: No such file or directory"),
        ],
        files_checked=["main.tf", "other.yaml", "clean.tf", "broken.yaml", "gone.tf"],
        tool_version="1.2.3",
    )
