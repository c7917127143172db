"""Reports: findings as text for people, JSON, SARIF 2.1.0, JUnit XML, GitHub annotations or HTML.

Each format lives in its own module and is imported only when asked for, so the pre-commit path
(text) never pays for XML or the other formats. This module holds what every format shares: the
input they all render, and the ordering and counting they must agree on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kmsguard import __version__
from kmsguard.findings import Finding, InputError, Severity

if TYPE_CHECKING:
    from kmsguard.model import Inventory

TOOL_NAME = "kmsguard"
# Placeholder until the project has a public home; SARIF's driver.informationUri must be a URI.
TOOL_INFORMATION_URI = "https://github.com/kmsguard/kmsguard"

FORMATS = ("text", "json", "sarif", "junit", "github", "html")

# Most severe first: the order summaries list severities in.
SEVERITIES_DESCENDING: tuple[Severity, ...] = tuple(sorted(Severity, key=lambda s: s.rank, reverse=True))


@dataclass(frozen=True)
class RuleInfo:
    """Metadata of a rule, as the rule runtime knows it."""

    id: str
    title: str
    severity: Severity
    category: str
    description: str
    remediation: str
    help_uri: str

    @classmethod
    def from_finding(cls, finding: Finding) -> RuleInfo:
        """Describe a rule known only from one of its findings (a loader diagnostic such as
        KMS900 that no rule pack lists), so every result still has a descriptor."""
        return cls(
            id=finding.rule_id,
            title=finding.title or finding.rule_id,
            severity=finding.severity,
            category=finding.category,
            description=finding.title or finding.rule_id,
            remediation=finding.remediation,
            help_uri=finding.help_uri,
        )


@dataclass(frozen=True)
class ReportInput:
    """Everything one run produced; formats only read it."""

    findings: Sequence[Finding] = ()  # unsuppressed and suppressed (Finding.suppressed_by)
    rules: Sequence[RuleInfo] = ()  # every rule that ran
    sources: Mapping[str, str] = field(default_factory=dict)  # path -> file text, for source lines
    errors: Sequence[InputError] = ()  # inputs that could not be read
    files_checked: Sequence[str] = ()
    tool_version: str = __version__
    # What was checked or collected: the HTML report shows each key's policy and blast radius
    # from it. Other formats do not read it.
    inventory: Inventory | None = None


@dataclass(frozen=True)
class ReportSummary:
    findings: int  # unsuppressed
    suppressed: int
    files_checked: int
    errors: int
    by_severity: Mapping[Severity, int]  # unsuppressed findings, every severity, most severe first


def render(fmt: str, report: ReportInput, *, color: bool = False) -> str:
    """Render ``report`` in format ``fmt`` (one of ``FORMATS``). ``color`` only affects text."""
    if fmt == "text":
        from kmsguard.report.text import render_text

        return render_text(report, color=color)
    if fmt == "json":
        from kmsguard.report.json_report import render_json

        return render_json(report)
    if fmt == "sarif":
        from kmsguard.report.sarif import render_sarif

        return render_sarif(report)
    if fmt == "junit":
        from kmsguard.report.junit import render_junit

        return render_junit(report)
    if fmt == "github":
        from kmsguard.report.github import render_github

        return render_github(report)
    if fmt == "html":
        from kmsguard.report.html import render_html

        return render_html(report)
    raise ValueError(f"unknown report format {fmt!r} (choose from {', '.join(FORMATS)})")


def sorted_findings(findings: Sequence[Finding]) -> list[Finding]:
    """Findings in report order: path, line, column, rule; message breaks the remaining ties so
    the output never depends on the order rules ran in."""
    return sorted(findings, key=lambda f: (*f.sort_key, f.resource, f.message))


def active_findings(report: ReportInput) -> list[Finding]:
    return sorted_findings([f for f in report.findings if f.suppressed_by is None])


def suppressed_findings(report: ReportInput) -> list[Finding]:
    return sorted_findings([f for f in report.findings if f.suppressed_by is not None])


def sorted_errors(errors: Sequence[InputError]) -> list[InputError]:
    return sorted(errors, key=lambda e: (e.path, e.line, e.message))


def summarize(report: ReportInput) -> ReportSummary:
    active = active_findings(report)
    by_severity = {severity: 0 for severity in SEVERITIES_DESCENDING}
    for finding in active:
        by_severity[finding.severity] += 1
    return ReportSummary(
        findings=len(active),
        suppressed=len(report.findings) - len(active),
        files_checked=len(report.files_checked),
        errors=len(report.errors),
        by_severity=by_severity,
    )


def rule_catalogue(report: ReportInput) -> list[RuleInfo]:
    """Every rule that ran, once each in the given order, then any rule that produced a finding
    without being listed (described from its first finding), by id."""
    catalogue: dict[str, RuleInfo] = {}
    for rule in report.rules:
        catalogue.setdefault(rule.id, rule)
    unlisted: dict[str, RuleInfo] = {}
    for finding in sorted_findings(report.findings):
        if finding.rule_id not in catalogue and finding.rule_id not in unlisted:
            unlisted[finding.rule_id] = RuleInfo.from_finding(finding)
    return [*catalogue.values(), *(unlisted[rule_id] for rule_id in sorted(unlisted))]


class SourceIndex:
    """The lines of each source text, split once on first use (a file with many findings is not
    re-split per finding)."""

    def __init__(self, sources: Mapping[str, str]) -> None:
        self._sources = sources
        self._lines: dict[str, list[str]] = {}

    def line(self, path: str, line: int) -> str | None:
        """Line ``line`` (1-based) of ``path`` without its line ending, or None when unknown."""
        lines = self._split(path)
        if lines is None or not 1 <= line <= len(lines):
            return None
        return lines[line - 1]

    def _split(self, path: str) -> list[str] | None:
        if path not in self._lines:
            text = self._sources.get(path)
            if text is None:
                return None
            # Loaders count lines on "\n" only (str.splitlines would also split on \x0c, \u2028...
            # and shift every later line number); a CRLF file keeps its "\r", dropped here.
            self._lines[path] = [line.removesuffix("\r") for line in text.split("\n")]
        return self._lines[path]
