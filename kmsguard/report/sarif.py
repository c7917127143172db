"""SARIF 2.1.0 for code-scanning UIs (GitHub code scanning, Azure DevOps, IDE viewers).

Follows the OASIS SARIF 2.1.0 standard and GitHub's documented subset ("SARIF support for code
scanning"): every rule has short and full descriptions, help text and markdown, tags and a
``security-severity``; every result has a ruleId, a message, one physical location with a region,
and a partial fingerprint that survives edits which only move lines.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from kmsguard.findings import Finding, InputError, Severity
from kmsguard.report import (
    TOOL_INFORMATION_URI,
    TOOL_NAME,
    ReportInput,
    RuleInfo,
    SourceIndex,
    rule_catalogue,
    sorted_errors,
    sorted_findings,
)

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
SOURCE_ROOT = "%SRCROOT%"
FINGERPRINT_KEY = "kmsguard/v1"

# GitHub maps security-severity > 9.0 to critical, 7.0-8.9 high, 4.0-6.9 medium, 0.1-3.9 low and
# 0.0 to "no security severity" (docs: "SARIF support for code scanning", reportingDescriptor).
SECURITY_SEVERITY = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
    Severity.INFO: "0.0",
}
LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}

# An RFC 3986 scheme followed by ":" (an ARN of live data, a file: URI); one letter is a Windows
# drive ("C:\\..."), not a scheme.
_URI_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:")
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:/")
_URI_SAFE = "/:@!$&'()*+,;=-._~"
_STRAY_PERCENT = re.compile("%(?![0-9A-Fa-f]{2})")


def render_sarif(report: ReportInput) -> str:
    return json.dumps(build_sarif(report), indent=2) + "\n"


def build_sarif(report: ReportInput) -> dict[str, Any]:
    rules = rule_catalogue(report)
    index_of = {rule.id: index for index, rule in enumerate(rules)}
    sources = SourceIndex(report.sources)
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": TOOL_NAME,
                "version": report.tool_version,
                "informationUri": TOOL_INFORMATION_URI,
                "rules": [reporting_descriptor(rule) for rule in rules],
            }
        },
        "invocations": [invocation(report.errors)],
        "results": [result(f, index_of[f.rule_id], sources) for f in sorted_findings(report.findings)],
        # Loaders count columns in characters of the decoded text.
        "columnKind": "unicodeCodePoints",
    }
    return {"$schema": SARIF_SCHEMA_URI, "version": SARIF_VERSION, "runs": [run]}


def reporting_descriptor(rule: RuleInfo) -> dict[str, Any]:
    # GitHub rejects empty strings for its required fields, so every text falls back to the title.
    title = rule.title or rule.id
    description = rule.description or title
    help_text = description + (f"\n\nRemediation: {rule.remediation}" if rule.remediation else "")
    help_markdown = description + (f"\n\n**Remediation:** {rule.remediation}" if rule.remediation else "")
    if rule.help_uri:
        help_markdown += f"\n\n[More information]({rule.help_uri})"
    descriptor: dict[str, Any] = {
        "id": rule.id,
        "name": _pascal_case(title),
        "shortDescription": {"text": title},
        "fullDescription": {"text": description},
        "help": {"text": help_text, "markdown": help_markdown},
    }
    if rule.help_uri:
        descriptor["helpUri"] = rule.help_uri
    descriptor["defaultConfiguration"] = {"level": LEVEL[rule.severity]}
    tags = [rule.category, "security"] if rule.category and rule.category != "security" else ["security"]
    descriptor["properties"] = {
        "tags": tags,
        "precision": "very-high",
        "security-severity": SECURITY_SEVERITY[rule.severity],
    }
    return descriptor


def result(finding: Finding, rule_index: int, sources: SourceIndex) -> dict[str, Any]:
    location: dict[str, Any] = {"physicalLocation": physical_location(finding, sources)}
    if finding.resource:
        location["logicalLocations"] = [{"name": finding.resource, "kind": "resource"}]
    sarif_result: dict[str, Any] = {
        "ruleId": finding.rule_id,
        "ruleIndex": rule_index,
        "level": LEVEL[finding.severity],
        "message": {"text": finding.message or finding.title or finding.rule_id},
        "locations": [location],
        "partialFingerprints": {FINGERPRINT_KEY: finding.fingerprint},
    }
    if finding.suppressed_by is not None:
        suppression = finding.suppressed_by
        sarif_result["suppressions"] = [
            {
                "kind": "inSource",
                "status": "accepted",
                "justification": suppression.reason,
                "location": {
                    "physicalLocation": {
                        "artifactLocation": artifact_location(suppression.path),
                        "region": {"startLine": max(suppression.line, 1)},
                    }
                },
            }
        ]
    if finding.unresolved:
        sarif_result["properties"] = {"unresolved": list(finding.unresolved)}
    return sarif_result


def physical_location(finding: Finding, sources: SourceIndex) -> dict[str, Any]:
    return {"artifactLocation": artifact_location(finding.span.path), "region": region(finding, sources)}


def region(finding: Finding, sources: SourceIndex) -> dict[str, Any]:
    """Every result gets a region (GitHub needs one to place the alert). A span of line 0 (the
    whole source) is shown at line 1. An end the span does not know is taken from the source line
    when available; otherwise it is left out, which SARIF defines as "to the end of the line"."""
    span = finding.span
    start_line = max(span.line, 1)
    start_column = max(span.col, 1)
    known_end = span.line > 0 and span.end_line >= span.line and span.end_col > 0
    if known_end and (span.end_line > span.line or span.end_col > start_column):
        return {
            "startLine": start_line,
            "startColumn": start_column,
            "endLine": span.end_line,
            "endColumn": span.end_col,
        }
    sarif_region: dict[str, Any] = {"startLine": start_line, "startColumn": start_column}
    text = sources.line(span.path, start_line)
    if text is not None and len(text) + 1 > start_column:
        sarif_region["endLine"] = start_line
        sarif_region["endColumn"] = len(text) + 1
    return sarif_region


def artifact_location(path: str) -> dict[str, Any]:
    """A relative path becomes a URI relative to %SRCROOT% (GitHub resolves it against the
    repository root); an absolute path becomes a file: URI; an ARN or other URI stays as is."""
    posix = path.replace("\\", "/")
    if _URI_SCHEME.match(posix) and not _WINDOWS_DRIVE.match(posix):
        # Already a URI: keep its valid percent-escapes, encode anything else.
        return {"uri": _STRAY_PERCENT.sub("%25", quote(posix, safe=_URI_SAFE + "%"))}
    if posix.startswith("/") or _WINDOWS_DRIVE.match(posix):
        absolute = posix if posix.startswith("/") else "/" + posix
        return {"uri": "file://" + quote(absolute, safe=_URI_SAFE)}
    while posix.startswith("./"):
        posix = posix[2:]
    # ":" is encoded in relative references: "a:b" would otherwise read as scheme "a".
    return {"uri": quote(posix, safe=_URI_SAFE.replace(":", "")), "uriBaseId": SOURCE_ROOT}


def invocation(errors: Sequence[InputError]) -> dict[str, Any]:
    """Input errors as tool execution notifications; any of them makes the run unsuccessful."""
    notifications = [_notification(error) for error in sorted_errors(errors)]
    run_invocation: dict[str, Any] = {"executionSuccessful": not notifications}
    if notifications:
        run_invocation["toolExecutionNotifications"] = notifications
    return run_invocation


def _notification(error: InputError) -> dict[str, Any]:
    location: dict[str, Any] = {"artifactLocation": artifact_location(error.path)}
    if error.line > 0:
        location["region"] = {"startLine": error.line}
    return {
        "level": "error",
        "message": {"text": error.message},
        "locations": [{"physicalLocation": location}],
        "descriptor": {"id": "input-error"},
    }


def _pascal_case(title: str) -> str:
    """``Key policy allows public access`` -> ``KeyPolicyAllowsPublicAccess`` (SARIF recommends
    a readable identifier for ``name``; GitHub shows it to filter by rule)."""
    words = re.findall(r"[A-Za-z0-9]+", title)
    return "".join(word[:1].upper() + word[1:] for word in words)[:255] or "Rule"
