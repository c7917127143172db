"""JUnit XML for CI test-report UIs (Jenkins, GitLab, Azure Pipelines, CircleCI...).

One testsuite "kmsguard": a failing testcase per finding, a skipped testcase per suppressed
finding (with its reason), an ``<error>`` testcase per input that could not be read, and one
passing testcase per checked file without findings, so a clean run still shows what it covered.
Only the attributes of the common JUnit schema are used (testsuites/testsuite: name, tests,
failures, errors, skipped, time; testcase: name, classname, time).
"""

from __future__ import annotations

import re
from xml.etree import ElementTree

from kmsguard.findings import Finding, InputError
from kmsguard.report import ReportInput, active_findings, sorted_errors, suppressed_findings

SUITE_NAME = "kmsguard"

# Characters XML 1.0 cannot carry at all, even escaped (its "Char" production); a parser
# rejects the whole report if one slips through from an input file.
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def render_junit(report: ReportInput) -> str:
    root = build_junit(report)
    ElementTree.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(root, encoding="unicode") + "\n"


def build_junit(report: ReportInput) -> ElementTree.Element:
    errors = sorted_errors(report.errors)
    active = active_findings(report)
    suppressed = suppressed_findings(report)
    cases = [_error_case(e) for e in errors]
    cases += [_finding_case(f) for f in active]
    cases += [_suppressed_case(f) for f in suppressed]
    cases += [_passing_file_case(path) for path in clean_files(report)]
    counts = {
        "tests": str(len(cases)),
        "failures": str(len(active)),
        "errors": str(len(errors)),
        "skipped": str(len(suppressed)),
        "time": "0",
    }
    root = ElementTree.Element("testsuites", {"name": SUITE_NAME, **counts})
    suite = ElementTree.SubElement(root, "testsuite", {"name": SUITE_NAME, **counts})
    suite.extend(cases)
    return root


def clean_files(report: ReportInput) -> list[str]:
    """Checked files with no unsuppressed finding and no input error, in path order."""
    flagged = {f.span.path for f in report.findings if f.suppressed_by is None}
    flagged |= {e.path for e in report.errors}
    return sorted({path for path in report.files_checked if path not in flagged})


def _finding_case(finding: Finding) -> ElementTree.Element:
    case = _case(f"kmsguard.{finding.rule_id}", _finding_case_name(finding))
    failure = ElementTree.SubElement(
        case, "failure", {"message": xml_text(finding.message), "type": finding.rule_id}
    )
    failure.text = xml_text(_finding_details(finding))
    return case


def _suppressed_case(finding: Finding) -> ElementTree.Element:
    case = _case(f"kmsguard.{finding.rule_id}", _finding_case_name(finding))
    reason = finding.suppressed_by.reason if finding.suppressed_by else ""
    ElementTree.SubElement(case, "skipped", {"message": xml_text(f"suppressed: {reason}")})
    return case


def _error_case(error: InputError) -> ElementTree.Element:
    case = _case("kmsguard.input", xml_text(error.path))
    element = ElementTree.SubElement(
        case, "error", {"message": xml_text(error.message), "type": "InputError"}
    )
    element.text = xml_text(str(error))
    return case


def _passing_file_case(path: str) -> ElementTree.Element:
    return _case("kmsguard.files", xml_text(path))


def _case(classname: str, name: str) -> ElementTree.Element:
    return ElementTree.Element("testcase", {"classname": classname, "name": name, "time": "0"})


def _finding_case_name(finding: Finding) -> str:
    return xml_text(f"{finding.rule_id} {finding.title} ({finding.span})")


def _finding_details(finding: Finding) -> str:
    lines = [f"{finding.span}: {finding.rule_id} [{finding.severity.value}] {finding.message}"]
    if finding.resource:
        lines.append(f"resource: {finding.resource}")
    if finding.unresolved:
        lines.append(f"depends on values not known statically: {', '.join(finding.unresolved)}")
    if finding.remediation:
        lines.append(f"remediation: {finding.remediation}")
    if finding.help_uri:
        lines.append(f"more: {finding.help_uri}")
    return "\n".join(lines)


def xml_text(text: str) -> str:
    """``text`` with characters XML 1.0 cannot represent written as visible escapes."""
    return _NOT_XML_CHAR.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
