"""The JSON report, for scripts: every finding (suppressed ones too, marked), input errors, and a
summary. Its shape is documented as a JSON Schema in ``kmsguard/data/findings.schema.json``;
``version`` changes whenever a field changes meaning or disappears.
"""

from __future__ import annotations

import json
from typing import Any

from kmsguard.findings import Finding, InputError, Suppression, Witness
from kmsguard.report import (
    TOOL_INFORMATION_URI,
    TOOL_NAME,
    ReportInput,
    ReportSummary,
    sorted_errors,
    sorted_findings,
    summarize,
)

JSON_REPORT_VERSION = 1
SCHEMA_RESOURCE = "data/findings.schema.json"  # inside the kmsguard package


def render_json(report: ReportInput) -> str:
    return json.dumps(build_json(report), indent=2) + "\n"


def build_json(report: ReportInput) -> dict[str, Any]:
    return {
        "version": JSON_REPORT_VERSION,
        "tool": {"name": TOOL_NAME, "version": report.tool_version, "information_uri": TOOL_INFORMATION_URI},
        "findings": [finding_to_json(f) for f in sorted_findings(report.findings)],
        "errors": [error_to_json(e) for e in sorted_errors(report.errors)],
        "summary": summary_to_json(summarize(report)),
    }


def finding_to_json(finding: Finding) -> dict[str, Any]:
    span = finding.span
    return {
        "rule_id": finding.rule_id,
        "title": finding.title,
        "severity": finding.severity.value,
        "category": finding.category,
        "message": finding.message,
        "path": span.path,
        "line": max(span.line, 0),
        "column": _known(span.col),
        "end_line": _known(span.end_line),
        "end_column": _known(span.end_col),
        "resource": finding.resource,
        "fingerprint": finding.fingerprint,
        "unresolved": list(finding.unresolved),
        "remediation": finding.remediation,
        "help_uri": finding.help_uri,
        "suppressed": _suppression_to_json(finding.suppressed_by),
        "witness": witness_to_json(finding.witness),
    }


def witness_to_json(witness: Witness | None) -> dict[str, Any] | None:
    """The request behind a finding; empty strings where the question did not say."""
    if witness is None:
        return None
    return {
        "text": witness.text,
        "principal": witness.principal,
        "action": witness.action,
        "resource": witness.resource,
        "context": dict(witness.context),
        "note": witness.note,
    }


def error_to_json(error: InputError) -> dict[str, Any]:
    return {"path": error.path, "line": max(error.line, 0), "message": error.message}


def summary_to_json(summary: ReportSummary) -> dict[str, Any]:
    return {
        "findings": summary.findings,
        "suppressed": summary.suppressed,
        "errors": summary.errors,
        "files_checked": summary.files_checked,
        "by_severity": {severity.value: count for severity, count in summary.by_severity.items()},
    }


def findings_schema() -> dict[str, Any]:
    """The JSON Schema of this report (shipped as package data)."""
    from importlib.resources import files

    schema: dict[str, Any] = json.loads(
        files("kmsguard").joinpath(SCHEMA_RESOURCE).read_text(encoding="utf-8")
    )
    return schema


def _suppression_to_json(suppression: Suppression | None) -> dict[str, Any] | None:
    if suppression is None:
        return None
    return {
        "reason": suppression.reason,
        "path": suppression.path,
        "line": suppression.line,
        "rule_ids": list(suppression.rule_ids),
    }


def _known(position: int) -> int | None:
    """Spans use 0 for "not known"; JSON says so with null rather than a fake position."""
    return position if position > 0 else None
