"""The JSON report: exact fields, and validity against its own published schema."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

import kmsguard
from kmsguard.findings import Severity, Witness
from kmsguard.report import ReportInput, render
from kmsguard.report.json_report import findings_schema

SCHEMA_PATH = Path(kmsguard.__file__).parent / "data" / "findings.schema.json"


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_mixed_report_is_valid_against_the_schema(mixed_report, validator):
    document = json.loads(render("json", mixed_report))
    assert list(validator.iter_errors(document)) == []


def test_empty_report_is_valid_against_the_schema(validator):
    document = json.loads(render("json", ReportInput()))
    assert list(validator.iter_errors(document)) == []


def test_schema_is_not_vacuous(mixed_report, validator):
    document = json.loads(render("json", mixed_report))
    document["findings"][0]["severity"] = "urgent"
    del document["findings"][1]["fingerprint"]
    document["summary"]["surprise"] = 1
    messages = sorted(error.message for error in validator.iter_errors(document))
    assert len(messages) == 3


def test_findings_schema_is_shipped_as_package_data():
    assert findings_schema()["title"].startswith("kmsguard JSON report")


def test_one_finding_exact_fields(make_finding):
    finding = make_finding(
        end_line=4,
        end_col=53,
        unresolved=("var.admins",),
        remediation="Name the principals.",
        help_uri="https://example.invalid/kms001",
    )
    document = json.loads(render("json", ReportInput([finding], tool_version="9.9.9")))

    assert document["version"] == 1
    assert document["tool"]["name"] == "kmsguard" and document["tool"]["version"] == "9.9.9"
    assert document["findings"] == [
        {
            "rule_id": "KMS001",
            "title": "Key policy open to everyone",
            "severity": "high",
            "category": "exposure",
            "message": "Key policy allows kms:* to every principal",
            "path": "main.tf",
            "line": 4,
            "column": 38,
            "end_line": 4,
            "end_column": 53,
            "resource": "aws_kms_key.main",
            "fingerprint": finding.fingerprint,
            "unresolved": ["var.admins"],
            "remediation": "Name the principals.",
            "help_uri": "https://example.invalid/kms001",
            "suppressed": None,
            "witness": None,
        }
    ]


def test_unknown_positions_are_null_and_whole_source_is_line_zero(make_finding):
    live = make_finding(path="arn:aws:kms:eu-west-1:111122223333:key/k", line=0, col=0)
    document = json.loads(render("json", ReportInput([live])))
    entry = document["findings"][0]
    assert (entry["line"], entry["column"], entry["end_line"], entry["end_column"]) == (0, None, None, None)


def test_suppressed_findings_are_listed_with_their_suppression(make_finding):
    finding = make_finding(suppressed_reason="break-glass key, reviewed 2024-05")
    document = json.loads(render("json", ReportInput([finding])))

    assert document["findings"][0]["suppressed"] == {
        "reason": "break-glass key, reviewed 2024-05",
        "path": "main.tf",
        "line": 3,
        "rule_ids": ["KMS001"],
    }
    assert document["summary"]["findings"] == 0 and document["summary"]["suppressed"] == 1


def test_errors_and_summary(mixed_report):
    document = json.loads(render("json", mixed_report))

    assert document["errors"] == [
        {"path": "broken.yaml", "line": 3, "message": "mapping values are not allowed here"},
        {"path": "gone.tf", "line": 0, "message": "cannot read: No such file or directory"},
    ]
    assert document["summary"] == {
        "findings": 4,
        "suppressed": 1,
        "errors": 2,
        "files_checked": 5,
        "by_severity": {"critical": 1, "high": 1, "medium": 1, "low": 0, "info": 1},
    }


def test_output_does_not_depend_on_the_order_rules_ran_in(make_finding):
    findings = [
        make_finding("KMS002", line=9, severity=Severity.LOW),
        make_finding("KMS001", line=9),
        make_finding("KMS001", path="a.tf", line=1),
    ]
    forward = render("json", ReportInput(findings))
    assert forward == render("json", ReportInput(list(reversed(findings))))
    order = [(f["path"], f["rule_id"]) for f in json.loads(forward)["findings"]]
    assert order == [("a.tf", "KMS001"), ("main.tf", "KMS001"), ("main.tf", "KMS002")]


def test_a_witness_is_listed_in_parts_and_valid_against_the_schema(make_finding, validator):
    witness = Witness(
        text="arn:aws:iam::999999999999:root calling kms:Decrypt with aws:PrincipalOrgID=o-a1b2c3d4e5",
        principal="arn:aws:iam::999999999999:root",
        action="kms:Decrypt",
        context=(("aws:PrincipalOrgID", "o-a1b2c3d4e5"),),
    )
    document = json.loads(render("json", ReportInput([make_finding(witness=witness)])))

    assert document["findings"][0]["witness"] == {
        "text": "arn:aws:iam::999999999999:root calling kms:Decrypt with aws:PrincipalOrgID=o-a1b2c3d4e5",
        "principal": "arn:aws:iam::999999999999:root",
        "action": "kms:Decrypt",
        "resource": "",
        "context": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"},
        "note": "",
    }
    assert list(validator.iter_errors(document)) == []


def test_the_schema_rejects_a_witness_of_the_wrong_shape(make_finding, validator):
    witness = Witness(text="a caller calling kms:Decrypt")
    document = json.loads(render("json", ReportInput([make_finding(witness=witness)])))
    document["findings"][0]["witness"]["context"] = ["not", "an", "object"]
    assert len(list(validator.iter_errors(document))) == 1


def test_a_witness_does_not_change_the_fingerprint_or_equality(make_finding):
    # Evidence, not identity: baselines match a finding whatever request proves it.
    plain = make_finding()
    proved = make_finding(witness=Witness(text="a caller calling kms:Decrypt"))
    assert plain == proved and plain.fingerprint == proved.fingerprint
