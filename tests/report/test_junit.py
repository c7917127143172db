"""JUnit XML: parses, counts add up, and only common-schema attributes are used.

source: the de-facto JUnit XML schema used by CI servers (Jenkins junit plugin "junit-10.xsd",
also documented by GitLab "Unit test reports" and Azure Pipelines "Publish Test Results"):
testsuites/testsuite carry name, tests, failures, errors, skipped, time; testcase carries name,
classname, time and contains failure/error/skipped elements with message and type attributes.
"""

from __future__ import annotations

from xml.etree import ElementTree

from kmsguard.report import ReportInput, render

SUITE_ATTRIBUTES = {"name", "tests", "failures", "errors", "skipped", "time"}
CASE_ATTRIBUTES = {"name", "classname", "time"}


def parse(report: ReportInput) -> ElementTree.Element:
    return ElementTree.fromstring(render("junit", report).encode("utf-8"))


def test_mixed_report_counts_and_cases(mixed_report):
    root = parse(mixed_report)
    suite = root.find("testsuite")
    assert root.tag == "testsuites" and suite is not None and suite.get("name") == "kmsguard"
    cases = suite.findall("testcase")

    failures = [c for c in cases if c.find("failure") is not None]
    errors = [c for c in cases if c.find("error") is not None]
    skipped = [c for c in cases if c.find("skipped") is not None]
    passing = [c for c in cases if len(c) == 0]
    # 4 unsuppressed findings; 2 unreadable inputs; 1 suppressed; clean.tf is the only checked
    # file with neither a finding nor an error (main.tf and other.yaml have findings).
    assert (len(failures), len(errors), len(skipped)) == (4, 2, 1)
    assert [c.get("name") for c in passing] == ["clean.tf"]
    for element in (root, suite):
        assert element.get("tests") == str(len(cases)) == "8"
        assert (
            element.get("failures") == "4" and element.get("errors") == "2" and element.get("skipped") == "1"
        )


def test_only_common_schema_attributes(mixed_report):
    root = parse(mixed_report)
    for element in root.iter():
        if element.tag in ("testsuites", "testsuite"):
            assert set(element.attrib) <= SUITE_ATTRIBUTES
        elif element.tag == "testcase":
            assert set(element.attrib) <= CASE_ATTRIBUTES and "name" in element.attrib
        else:
            assert element.tag in ("failure", "error", "skipped")


def test_failure_carries_message_and_location(make_finding):
    finding = make_finding(remediation="Name the principals.")
    case = parse(ReportInput([finding])).find("testsuite/testcase")
    assert case is not None
    assert case.get("classname") == "kmsguard.KMS001"
    assert case.get("name") == "KMS001 Key policy open to everyone (main.tf:4:38)"
    failure = case.find("failure")
    assert failure is not None
    assert failure.get("message") == "Key policy allows kms:* to every principal"
    assert failure.get("type") == "KMS001"
    assert (failure.text or "").splitlines() == [
        "main.tf:4:38: KMS001 [high] Key policy allows kms:* to every principal",
        "resource: aws_kms_key.main",
        "remediation: Name the principals.",
    ]


def test_suppressed_finding_is_skipped_with_its_reason(make_finding):
    case = parse(ReportInput([make_finding(suppressed_reason="known, JIRA-7")])).find("testsuite/testcase")
    assert case is not None
    skipped = case.find("skipped")
    assert skipped is not None and skipped.get("message") == "suppressed: known, JIRA-7"


def test_clean_run_lists_each_checked_file_as_a_passing_case():
    root = parse(ReportInput(files_checked=["b.tf", "a.tf"]))
    assert [c.get("name") for c in root.iter("testcase")] == ["a.tf", "b.tf"]
    assert root.get("failures") == "0" and root.get("tests") == "2"


def test_characters_xml_cannot_carry_still_give_a_parseable_report(make_finding):
    finding = make_finding(message="bad\x00value\x1b[31m \ud800 & <tag>")
    failure = parse(ReportInput([finding])).find("testsuite/testcase/failure")
    assert failure is not None
    assert failure.get("message") == "bad\\x00value\\x1b[31m \\xd800 & <tag>"
