"""The report for people: compiler-style lines an editor can jump to, with the source line.

    main.tf:12:5: KMS001 [high] Key policy allows kms:* to every principal
       12 |     Principal = "*"
          |     ^

Text that comes from the input (messages quoting values, source lines) is shown with control
characters and bidirectional-override characters escaped: a file under review must not be able
to move the terminal cursor, recolour the report or reorder what the reviewer reads.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from kmsguard.findings import Finding, InputError, Severity
from kmsguard.report import (
    ReportInput,
    ReportSummary,
    SourceIndex,
    active_findings,
    sorted_errors,
    summarize,
)

Paint = Callable[[str, str], str]

# SGR codes per severity: the most severe stand out most.
_SEVERITY_STYLE = {
    Severity.CRITICAL: "1;35",
    Severity.HIGH: "1;31",
    Severity.MEDIUM: "33",
    Severity.LOW: "36",
    Severity.INFO: "2",
}
_BOLD, _ERROR, _CARET, _DIM = "1", "1;31", "1;32", "2"

# C0/C1 controls except tab, DEL, and the Unicode bidi embedding/override/isolate controls
# ("Trojan Source", CVE-2021-42574).
_UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")

# Longest source line shown whole; longer lines (minified JSON policies) are cut around the column.
MAX_SOURCE_WIDTH = 160
_CONTEXT_BEFORE = 60
_ELLIPSIS = "..."


def _plain(_style: str, text: str) -> str:
    return text


def _ansi(style: str, text: str) -> str:
    return f"\x1b[{style}m{text}\x1b[0m"


def render_text(report: ReportInput, *, color: bool = False) -> str:
    paint = _ansi if color else _plain
    blocks: list[str] = [format_error(error, paint) for error in sorted_errors(report.errors)]
    sources = SourceIndex(report.sources)
    blocks.extend("\n".join(format_finding(f, sources, paint)) for f in active_findings(report))
    blocks.append(paint(_BOLD, format_summary(summarize(report))))
    return "\n\n".join(blocks) + "\n"


def format_finding(finding: Finding, sources: SourceIndex, paint: Paint = _plain) -> list[str]:
    """The lines of one finding's block: header, source excerpt, then notes."""
    severity = paint(_SEVERITY_STYLE[finding.severity], f"[{finding.severity.value}]")
    header = f"{printable(str(finding.span))}: {paint(_BOLD, finding.rule_id)} {severity} "
    lines = [header + printable(finding.message)]
    lines.extend(_excerpt(finding, sources, paint))
    if finding.unresolved:
        unresolved = ", ".join(printable(ref) for ref in finding.unresolved)
        lines.append(f"  note: depends on values not known statically: {unresolved}")
    if finding.remediation:
        # Remediation is prose wrapped in the pack file: one line here, like the header.
        remediation = " ".join(finding.remediation.split())
        lines.append(f"  help: {printable(remediation)}")
    return lines


def format_error(error: InputError, paint: Paint = _plain) -> str:
    where = f"{error.path}:{error.line}" if error.line > 0 else error.path
    return f"{printable(where)}: {paint(_ERROR, 'error:')} {printable(error.message)}"


def format_summary(summary: ReportSummary) -> str:
    """``3 findings (1 critical, 2 high), 1 suppressed, 4 files checked``."""
    if summary.findings:
        counts = ", ".join(f"{n} {sev.value}" for sev, n in summary.by_severity.items() if n)
        parts = [f"{_plural(summary.findings, 'finding')} ({counts})"]
    else:
        parts = ["no findings"]
    parts.append(f"{summary.suppressed} suppressed")
    parts.append(f"{_plural(summary.files_checked, 'file')} checked")
    if summary.errors:
        parts.append(_plural(summary.errors, "input error"))
    return ", ".join(parts)


def printable(text: str) -> str:
    """``text`` with every unsafe character written as a visible escape (``\\x1b``, ``\\u202e``)."""
    return _UNSAFE.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _excerpt(finding: Finding, sources: SourceIndex, paint: Paint) -> list[str]:
    """The source line, with a caret under the column when the column is known."""
    span = finding.span
    line = sources.line(span.path, span.line)
    if line is None:
        return []
    shown, caret_at = _window(line, span.col)
    number = str(span.line)
    gutter = " " * (len(number) + 2)
    lines = [f"{' ' * 2}{paint(_DIM, number + ' |')} {shown}"]
    if caret_at is not None:
        lines.append(f"{gutter} {paint(_DIM, '|')} {caret_at}{paint(_CARET, '^')}")
    return lines


def _window(line: str, col: int) -> tuple[str, str | None]:
    """(the part of ``line`` to show, the padding that puts a caret under ``col``, or None when
    the column is unknown). Padding copies tabs so the caret lines up however tabs render."""
    line = line.rstrip()
    start = 0
    if len(line) > MAX_SOURCE_WIDTH:
        index = max(col - 1, 0)
        start = max(0, min(index - _CONTEXT_BEFORE, len(line) - MAX_SOURCE_WIDTH))
    visible = line[start : start + MAX_SOURCE_WIDTH]
    prefix = _ELLIPSIS if start > 0 else ""
    suffix = _ELLIPSIS if start + MAX_SOURCE_WIDTH < len(line) else ""
    shown = prefix + printable(visible) + suffix
    if col <= 0:
        return shown, None
    # A column past the end of the line (the file changed, or the span ends the line) gets the
    # caret right after the last character.
    before_caret = prefix + printable(visible[: min(col - 1 - start, len(visible))])
    return shown, "".join(ch if ch == "\t" else " " for ch in before_caret)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
