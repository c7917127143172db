"""GitHub Actions workflow commands.

source: GitHub Docs, "Workflow commands for GitHub Actions", sections "Setting an error message",
"Setting a warning message", "Setting a notice message" (``::error file={name},line={line},
endLine={endLine},title={title}::{message}``); the escaping is the one @actions/core applies
(actions/toolkit, packages/core/src/command.ts: escapeData encodes %, \\r, \\n; escapeProperty
also encodes : and ,).
"""

from __future__ import annotations

import pytest

from kmsguard.findings import Severity
from kmsguard.report import ReportInput, render
from kmsguard.report.github import escape_data, escape_property


@pytest.mark.parametrize(
    ("severity", "command"),
    [
        (Severity.CRITICAL, "error"),
        (Severity.HIGH, "error"),
        (Severity.MEDIUM, "warning"),
        (Severity.LOW, "notice"),
        (Severity.INFO, "notice"),
    ],
)
def test_one_command_per_finding_with_level_from_severity(make_finding, severity, command):
    output = render("github", ReportInput([make_finding(severity=severity)]))
    assert output == (
        f"::{command} file=main.tf,line=4,col=38,title=KMS001 Key policy open to everyone"
        "::Key policy allows kms:* to every principal\n"
    )


def test_end_position_is_given_when_known(make_finding):
    output = render("github", ReportInput([make_finding(end_line=5, end_col=3)]))
    assert output.startswith("::error file=main.tf,line=4,col=38,endLine=5,endColumn=3,title=")


def test_message_escaping(make_finding):
    finding = make_finding(message="100% open,\r\nsee: docs")
    output = render("github", ReportInput([finding]))
    assert output.endswith("::100%25 open,%0D%0Asee: docs\n")


def test_property_escaping(make_finding):
    finding = make_finding(path="stacks/a,b:c%.yaml", title="Open: to, all")
    output = render("github", ReportInput([finding]))
    assert output.startswith(
        "::error file=stacks/a%2Cb%3Ac%25.yaml,line=4,col=38,title=KMS001 Open%3A to%2C all::"
    )


def test_a_message_cannot_start_a_command_of_its_own(make_finding):
    # A value quoted from the input in a message must not become a new workflow command.
    finding = make_finding(message='principal "x"\n::add-mask::oops\n::stop-commands::t')
    output = render("github", ReportInput([finding]))
    assert output.count("\n") == 1 and output.startswith("::error ")
    assert output.endswith('::principal "x"%0A::add-mask::oops%0A::stop-commands::t\n')


def test_escape_functions():
    assert escape_data("a%b\rc\nd:e,f") == "a%25b%0Dc%0Ad:e,f"
    assert escape_property("a%b\rc\nd:e,f") == "a%25b%0Dc%0Ad%3Ae%2Cf"


def test_suppressed_findings_are_not_annotated_and_errors_are(mixed_report):
    lines = render("github", mixed_report).splitlines()
    title = "title=kmsguard%3A input error"
    assert lines[0] == f"::error file=broken.yaml,line=3,{title}::mapping values are not allowed here"
    assert lines[1] == f"::error file=gone.tf,{title}::cannot read: No such file or directory"
    assert not any("placeholder description" in line for line in lines)
    assert len(lines) == 2 + 4


def test_finding_without_a_line_names_the_file_only(make_finding):
    output = render("github", ReportInput([make_finding(line=0, col=0, severity=Severity.MEDIUM)]))
    assert output.startswith("::warning file=main.tf,title=")
