"""What every format shares: start-up cost, and nothing leaking into a report."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kmsguard.report import FORMATS, ReportInput, render

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_importing_reports_loads_no_format_module_and_nothing_heavy():
    # The pre-commit path imports kmsguard.report; formats are imported by render() when used.
    code = (
        "import sys, kmsguard.report, kmsguard.baseline;"
        "from kmsguard.report import render, ReportInput; render('text', ReportInput());"
        "heavy = ['xml.etree.ElementTree', 'jsonschema', 'kmsguard.report.sarif', 'kmsguard.report.junit',"
        " 'kmsguard.report.json_report', 'kmsguard.report.github', 'hcl2', 'cfnlint', 'boto3', 'z3'];"
        "print(','.join(m for m in heavy if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO_ROOT
    )
    assert result.stdout.strip() == ""


@pytest.mark.parametrize("fmt", FORMATS)
def test_source_text_outside_the_finding_never_reaches_a_report(fmt, mixed_report):
    # MAIN_TF line 6 holds a password; no finding points there, so no report may contain it.
    assert "hunter2" in mixed_report.sources["main.tf"]
    assert "hunter2" not in render(fmt, mixed_report)


@pytest.mark.parametrize("fmt", FORMATS)
def test_rendering_twice_gives_the_same_bytes(fmt, mixed_report):
    assert render(fmt, mixed_report) == render(fmt, mixed_report)


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_ends_with_a_newline(fmt, mixed_report):
    assert render(fmt, mixed_report).endswith("\n")


def test_github_format_of_an_empty_report_is_empty():
    assert render("github", ReportInput()) == ""
