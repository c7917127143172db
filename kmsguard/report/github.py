"""GitHub Actions workflow commands: one annotation per unsuppressed finding, shown on the pull
request's changed lines without uploading SARIF.

    ::error file=main.tf,line=12,col=5,title=KMS001 Public key policy::Key policy allows ...

Escaping follows GitHub's "Workflow commands for GitHub Actions" (as implemented by
@actions/core): in the message ``%``, ``\\r`` and ``\\n`` are percent-encoded; in properties also
``:`` and ``,``. Encoding the line breaks is also what stops a message quoting input text from
starting a workflow command of its own on a new line.
"""

from __future__ import annotations

from kmsguard.findings import Finding, InputError, Severity
from kmsguard.report import ReportInput, active_findings, sorted_errors

COMMAND = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "notice",
    Severity.INFO: "notice",
}
INPUT_ERROR_TITLE = "kmsguard: input error"


def render_github(report: ReportInput) -> str:
    lines = [error_command(e) for e in sorted_errors(report.errors)]
    lines += [finding_command(f) for f in active_findings(report)]
    return "".join(line + "\n" for line in lines)


def finding_command(finding: Finding) -> str:
    span = finding.span
    properties = {"file": span.path}
    if span.line > 0:
        properties["line"] = str(span.line)
        if span.col > 0:
            properties["col"] = str(span.col)
        if span.end_line >= span.line:
            properties["endLine"] = str(span.end_line)
            if span.end_col > 0 and (span.end_line > span.line or span.end_col > span.col):
                properties["endColumn"] = str(span.end_col)
    properties["title"] = f"{finding.rule_id} {finding.title}".strip()
    return workflow_command(COMMAND[finding.severity], properties, finding.message)


def error_command(error: InputError) -> str:
    properties = {"file": error.path}
    if error.line > 0:
        properties["line"] = str(error.line)
    properties["title"] = INPUT_ERROR_TITLE
    return workflow_command("error", properties, error.message)


def workflow_command(command: str, properties: dict[str, str], message: str) -> str:
    rendered = ",".join(f"{name}={escape_property(value)}" for name, value in properties.items())
    return (
        f"::{command} {rendered}::{escape_data(message)}"
        if rendered
        else f"::{command}::{escape_data(message)}"
    )


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")
