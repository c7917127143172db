"""``kmsguard verify``: exit codes, the three formats, and no secret in any report."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from xml.etree import ElementTree

import pytest

from kmsguard.cli import main

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "verify"
TENANT = str(FIXTURES / "tenant_isolation.yaml")
PLAINTEXT = "order 42 for tenant a"  # the fixture's plaintext: never printed


def test_all_steps_as_expected_exits_0(capsys: pytest.CaptureFixture[str]):
    assert main(["verify", TENANT]) == 0
    out = capsys.readouterr().out
    assert out.count("PASS") == 5
    assert "explicit deny in key policy NoAuditorDecrypt" in out


def test_terraform_scenario_through_the_command_line(capsys: pytest.CaptureFixture[str]):
    code = main(["verify", str(FIXTURES / "terraform_key.yaml"), "--against", str(FIXTURES / "terraform")])
    assert code == 0, capsys.readouterr().out


def test_a_step_not_as_expected_exits_1_and_points_at_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        "keys:\n  k: {}\nsteps:\n"
        "  - {as: 'arn:aws:iam::111122223333:role/x', op: encrypt, params: {KeyId: k,"
        " Plaintext: x}, expect: ok}\n"
    )
    assert main(["verify", str(scenario)]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and f"{scenario}:4" in out
    assert "got AccessDeniedException, decision ImplicitDeny" in out


def test_a_bad_scenario_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    scenario = tmp_path / "s.yaml"
    scenario.write_text("steps:\n  - {as: x, op: encrypt, expect: ok}\n")
    assert main(["verify", str(scenario)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"kmsguard: error: {scenario}:2: ") and err.count("\n") == 1


def test_a_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["verify", str(tmp_path / "none.yaml")]) == 2
    assert "cannot read the scenario" in capsys.readouterr().err


def test_json_report(capsys: pytest.CaptureFixture[str]):
    assert main(["verify", TENANT, "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    (scenario,) = document["scenarios"]
    assert scenario["passed"] is True and scenario["summary"]["passed"] == 5
    steps = {s["id"]: s for s in scenario["steps"]}
    assert steps["consume-as-tenant-b"]["outcome"] == "InvalidCiphertextException"
    assert steps["auditor"]["expected"] == {"outcome": None, "decision": "ExplicitDeny"}
    assert any(e["statement"] == "NoAuditorDecrypt" and e["matched"] for e in steps["auditor"]["trace"])


def test_junit_report(tmp_path: Path):
    failing = tmp_path / "f.yaml"
    failing.write_text(
        "name: failing\nkeys:\n  k: {}\nsteps:\n"
        "  - {id: denied, as: 'arn:aws:iam::111122223333:role/x', op: encrypt, params: {KeyId: k,"
        " Plaintext: x},"
        " expect: ok}\n"
    )
    out = tmp_path / "report.xml"
    assert main(["verify", TENANT, str(failing), "--format", "junit", "--output", str(out)]) == 1
    root = ElementTree.fromstring(out.read_text())
    assert (root.get("tests"), root.get("failures")) == ("6", "1")
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert set(suites) == {"tenant isolation", "failing"}
    (failure,) = suites["failing"].iter("failure")
    assert failure.get("message") == "expected ok; got AccessDeniedException, decision ImplicitDeny"


@pytest.mark.parametrize("fmt", ["text", "json", "junit"])
def test_no_plaintext_or_ciphertext_in_any_report(fmt: str, capsys: pytest.CaptureFixture[str]):
    assert main(["verify", TENANT, "--format", fmt]) == 0
    out = html.unescape(capsys.readouterr().out)
    assert PLAINTEXT not in out
    assert re.search(r"CiphertextBlob\W+<\d+ bytes>", out)  # the ciphertext, as its size only


def test_a_decrypted_plaintext_is_shown_as_its_size(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        "keys:\n  k: {}\nsteps:\n"
        "  - {id: e, as: '111122223333', op: encrypt, params: {KeyId: k, Plaintext: s3cr3t-value},"
        " expect: ok}\n"
        "  - {as: '111122223333', op: decrypt,"
        " params: {CiphertextBlob: '${steps.e.CiphertextBlob}'}, expect: ok}\n"
    )
    assert main(["verify", str(scenario), "--format", "json"]) == 0
    out = capsys.readouterr().out
    assert "s3cr3t" not in out
    assert json.loads(out)["scenarios"][0]["steps"][1]["outputs"]["Plaintext"] == "<12 bytes>"


def test_a_rejected_plaintext_type_is_not_echoed(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        "keys:\n  k: {}\nsteps:\n"
        "  - {as: '111122223333', op: encrypt, params: {KeyId: k, Plaintext: 987654321},"
        " expect: ParamValidationError}\n"
    )
    assert main(["verify", str(scenario)]) == 0
    assert "987654321" not in capsys.readouterr().out
