"""SARIF 2.1.0: valid against the official schema, and shaped as GitHub code scanning requires.

source: OASIS "Static Analysis Results Interchange Format (SARIF) Version 2.1.0" (the schema in
tests/data/sarif-2.1.0.json, see tests/data/README.md); GitHub Docs, "SARIF support for code
scanning", sections "reportingDescriptor object", "result object", "physicalLocation object".
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kmsguard.findings import Finding, InputError, Severity
from kmsguard.model.span import Span
from kmsguard.report import ReportInput, render
from kmsguard.report.sarif import artifact_location

# RFC 3986 section 2: a URI is made of unreserved and reserved characters and "%" HEXDIG HEXDIG.
URI_CHARACTERS = re.compile(r"(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*")
SCHEMA = json.loads((Path(__file__).parents[1] / "data" / "sarif-2.1.0.json").read_text(encoding="utf-8"))
VALIDATOR = jsonschema.Draft4Validator(SCHEMA)


def sarif(report: ReportInput) -> dict[str, Any]:
    return json.loads(render("sarif", report))


def schema_errors(document: dict[str, Any]) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message}" for e in VALIDATOR.iter_errors(document)]


def assert_github_requirements(document: dict[str, Any]) -> None:
    """The properties GitHub marks required, non-empty (it does not accept empty strings)."""
    assert document["$schema"] and document["version"] == "2.1.0"
    assert len(document["runs"]) == 1
    run = document["runs"][0]
    driver = run["tool"]["driver"]
    assert driver["name"] == "kmsguard"
    rules = driver["rules"]
    for rule in rules:
        assert rule["id"]
        assert rule["shortDescription"]["text"] and len(rule["shortDescription"]["text"]) <= 1024
        assert rule["fullDescription"]["text"] and len(rule["fullDescription"]["text"]) <= 1024
        assert rule["help"]["text"]
        assert len(rule.get("name", "")) <= 255
        assert rule["defaultConfiguration"]["level"] in ("note", "warning", "error")
        assert 0.0 <= float(rule["properties"]["security-severity"]) <= 10.0
        assert isinstance(rule["properties"]["security-severity"], str)
        assert "security" in rule["properties"]["tags"]
        assert rule["properties"]["precision"] in ("very-high", "high", "medium", "low")
    assert len({rule["id"] for rule in rules}) == len(rules)
    for result in run["results"]:
        assert result["ruleId"] and rules[result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["message"]["text"]
        assert 1 <= len(result["locations"]) <= 10
        physical = result["locations"][0]["physicalLocation"]
        assert physical["artifactLocation"]["uri"]
        assert physical["region"]["startLine"] >= 1
        assert result["partialFingerprints"]["kmsguard/v1"]


def test_mixed_report_is_valid_sarif_and_meets_github_requirements(mixed_report):
    document = sarif(mixed_report)
    assert schema_errors(document) == []
    assert_github_requirements(document)


def test_the_schema_check_is_not_vacuous(mixed_report):
    document = sarif(mixed_report)
    document["runs"][0]["results"][0]["level"] = "fatal"
    document["runs"][0]["results"][1]["locations"][0]["physicalLocation"]["region"]["startLine"] = 0
    assert len(schema_errors(document)) == 2


def test_every_rule_that_ran_has_a_descriptor_and_unlisted_rules_are_added(mixed_report):
    rules = sarif(mixed_report)["runs"][0]["tool"]["driver"]["rules"]
    # KMS020 ran without findings; KMS900 (a loader diagnostic) has findings but is not listed.
    assert [rule["id"] for rule in rules] == ["KMS001", "KMS002", "KMS003", "KMS010", "KMS020", "KMS900"]
    unlisted = rules[-1]
    assert unlisted["shortDescription"]["text"] == "KMS900"  # the finding had no title
    assert unlisted["defaultConfiguration"]["level"] == "note"


def test_rule_descriptor_fields(make_rule):
    rule = make_rule("KMS001", Severity.HIGH)
    descriptor = sarif(ReportInput(rules=[rule]))["runs"][0]["tool"]["driver"]["rules"][0]

    assert descriptor["shortDescription"] == {"text": rule.title}
    assert descriptor["fullDescription"] == {"text": rule.description}
    assert descriptor["helpUri"] == rule.help_uri
    assert rule.remediation in descriptor["help"]["text"]
    assert f"**Remediation:** {rule.remediation}" in descriptor["help"]["markdown"]
    assert descriptor["properties"] == {
        "tags": ["exposure", "security"],
        "precision": "very-high",
        "security-severity": "8.0",
    }


@pytest.mark.parametrize(
    ("severity", "level", "github_band"),
    [
        # GitHub: "over 9.0 is critical, from 7.0 to 8.9 is high, from 4.0 to 6.9 is medium and
        # from 0.1 to 3.9 is low. A value of 0.0 ... is regarded as having no security severity."
        (Severity.CRITICAL, "error", (9.0, 10.0)),
        (Severity.HIGH, "error", (7.0, 8.9)),
        (Severity.MEDIUM, "warning", (4.0, 6.9)),
        (Severity.LOW, "note", (0.1, 3.9)),
        (Severity.INFO, "note", (0.0, 0.0)),
    ],
)
def test_levels_and_security_severity_fall_in_githubs_bands(
    make_finding, make_rule, severity, level, github_band
):
    report = ReportInput([make_finding(severity=severity)], rules=[make_rule("KMS001", severity)])
    run = sarif(report)["runs"][0]
    score = float(run["tool"]["driver"]["rules"][0]["properties"]["security-severity"])
    assert github_band[0] <= score <= github_band[1] and (severity is not Severity.CRITICAL or score > 9.0)
    assert run["tool"]["driver"]["rules"][0]["defaultConfiguration"]["level"] == level
    assert run["results"][0]["level"] == level


def test_result_fields(make_finding):
    finding = make_finding(end_line=4, end_col=53, unresolved=("var.admins",))
    result = sarif(ReportInput([finding]))["runs"][0]["results"][0]

    assert result["ruleId"] == "KMS001" and result["ruleIndex"] == 0
    assert result["message"] == {"text": "Key policy allows kms:* to every principal"}
    assert result["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "main.tf", "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": 4, "startColumn": 38, "endLine": 4, "endColumn": 53},
    }
    assert result["locations"][0]["logicalLocations"] == [{"name": "aws_kms_key.main", "kind": "resource"}]
    assert result["partialFingerprints"] == {"kmsguard/v1": finding.fingerprint}
    assert result["properties"] == {"unresolved": ["var.admins"]}
    assert "suppressions" not in result


def test_region_end_comes_from_the_source_line_when_the_span_has_none(make_finding, mixed_report):
    result = sarif(ReportInput([make_finding()], sources=mixed_report.sources))["runs"][0]["results"][0]
    # Line 4 of MAIN_TF is 73 characters long; SARIF's endColumn is the column after the end.
    assert result["locations"][0]["physicalLocation"]["region"] == {
        "startLine": 4,
        "startColumn": 38,
        "endLine": 4,
        "endColumn": 74,
    }


def test_whole_source_findings_still_get_a_region_at_line_one(make_finding):
    finding = make_finding(path="arn:aws:kms:us-east-1:111122223333:key/k", line=0, col=0)
    location = sarif(ReportInput([finding]))["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
    assert location["region"] == {"startLine": 1, "startColumn": 1}
    # An ARN is already an absolute URI: no %SRCROOT%.
    assert location["artifactLocation"] == {"uri": "arn:aws:kms:us-east-1:111122223333:key/k"}


def test_suppressed_findings_carry_an_in_source_suppression_with_the_reason(make_finding):
    finding = make_finding(suppressed_reason="shared with the audit account by design")
    result = sarif(ReportInput([finding]))["runs"][0]["results"][0]
    suppression = result["suppressions"][0]
    assert suppression["kind"] == "inSource"
    assert suppression["justification"] == "shared with the audit account by design"
    assert suppression["location"]["physicalLocation"]["region"] == {"startLine": 3}


def test_input_errors_become_notifications_and_fail_the_execution(mixed_report):
    invocation = sarif(mixed_report)["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is False
    notes = invocation["toolExecutionNotifications"]
    assert [n["message"]["text"] for n in notes] == [
        "mapping values are not allowed here",
        "cannot read: No such file or directory",
    ]
    assert notes[0]["level"] == "error"
    assert notes[0]["locations"][0]["physicalLocation"]["region"] == {"startLine": 3}


def test_a_run_without_input_errors_is_successful(make_finding):
    invocation = sarif(ReportInput([make_finding()]))["runs"][0]["invocations"][0]
    assert invocation == {"executionSuccessful": True}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("main.tf", {"uri": "main.tf", "uriBaseId": "%SRCROOT%"}),
        ("./modules/kms key/main.tf", {"uri": "modules/kms%20key/main.tf", "uriBaseId": "%SRCROOT%"}),
        ("modules\\kms\\main.tf", {"uri": "modules/kms/main.tf", "uriBaseId": "%SRCROOT%"}),
        ("stacks/100%/t#1.yaml", {"uri": "stacks/100%25/t%231.yaml", "uriBaseId": "%SRCROOT%"}),
        ("/home/ci/repo/main.tf", {"uri": "file:///home/ci/repo/main.tf"}),
        ("C:\\repo\\main.tf", {"uri": "file:///C:/repo/main.tf"}),
        (
            "arn:aws:kms:us-east-1:111122223333:alias/app",
            {"uri": "arn:aws:kms:us-east-1:111122223333:alias/app"},
        ),
        ("file:///tmp/a%20b%zz", {"uri": "file:///tmp/a%20b%25zz"}),
        ("C:main.tf", {"uri": "C%3Amain.tf", "uriBaseId": "%SRCROOT%"}),
    ],
)
def test_artifact_locations(path, expected):
    # source: RFC 3986 section 2.1 (percent-encoding) and 4.2 (relative references).
    assert artifact_location(path) == expected


paths = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30),
    st.sampled_from(["main.tf", "a b/ü.tf", "..\\up.tf", "/abs/x.json", "arn:aws:kms:::key/x"]),
)
findings = st.builds(
    Finding,
    rule_id=st.sampled_from(["KMS001", "KMS002", "KMS900"]),
    title=st.text(max_size=20),
    severity=st.sampled_from(list(Severity)),
    category=st.sampled_from(["exposure", "rotation", ""]),
    message=st.text(max_size=40),
    span=st.builds(
        Span,
        path=paths,
        line=st.integers(0, 10),
        col=st.integers(0, 10),
        end_line=st.integers(0, 12),
        end_col=st.integers(0, 12),
    ),
    resource=st.text(max_size=10),
    unresolved=st.lists(st.text(max_size=5), max_size=2).map(tuple),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(findings, max_size=6), st.lists(st.builds(InputError, paths, st.integers(0, 5), st.text())))
def test_any_findings_give_valid_sarif_for_github(generated, errors):
    document = sarif(ReportInput(generated, errors=errors, sources={"main.tf": "x\n" * 12}))
    assert schema_errors(document) == []
    assert_github_requirements(document)
    for result in document["runs"][0]["results"]:
        physical = result["locations"][0]["physicalLocation"]
        assert URI_CHARACTERS.fullmatch(physical["artifactLocation"]["uri"])
        region = physical["region"]
        if "endLine" in region:
            assert region["endLine"] >= region["startLine"]
            if region["endLine"] == region["startLine"] and "endColumn" in region:
                assert region["endColumn"] > region["startColumn"]
