"""`kmsguard check` as users run it: exit codes, formats, options, configuration, baselines, bad input."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

UNROTATED = 'resource "aws_kms_key" "k" {\n  description = "no rotation"\n}\n'
ROTATED = 'resource "aws_kms_key" "k" {\n  enable_key_rotation = true\n}\n'
PUBLIC_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*"}],
    },
    indent=2,
)


def kmsguard(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "kmsguard", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd or ROOT,
        timeout=120,
    )


def assert_no_traceback(proc):
    assert "Traceback" not in proc.stdout + proc.stderr


def test_clean_input_exits_0(tmp_path):
    (tmp_path / "main.tf").write_text(ROTATED)
    proc = kmsguard("check", tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "no findings" in proc.stdout


def test_finding_exits_1_with_location_rule_and_source_line(tmp_path):
    (tmp_path / "main.tf").write_text(UNROTATED)
    proc = kmsguard("check", tmp_path / "main.tf")
    assert proc.returncode == 1
    first = proc.stdout.splitlines()[0]
    assert first.startswith(f"{tmp_path / 'main.tf'}:1:")
    assert "KMS001" in first
    assert 'resource "aws_kms_key" "k" {' in proc.stdout
    assert "\x1b[" not in proc.stdout  # not a terminal: no colour


def test_severity_threshold_and_selection(tmp_path):
    (tmp_path / "main.tf").write_text(UNROTATED)  # KMS001 is medium
    assert kmsguard("check", tmp_path, "--severity", "high").returncode == 0
    assert kmsguard("check", tmp_path, "--severity", "medium").returncode == 1
    assert kmsguard("check", tmp_path, "--ignore", "KMS0").returncode == 0
    assert kmsguard("check", tmp_path, "--select", "KMS1").returncode == 0
    assert kmsguard("check", tmp_path, "--select", "KMS001").returncode == 1


def test_configuration_from_pyproject(tmp_path):
    (tmp_path / "main.tf").write_text(UNROTATED)
    (tmp_path / "pyproject.toml").write_text('[tool.kmsguard]\nignore = ["KMS001"]\n')
    assert kmsguard("check", ".", cwd=tmp_path).returncode == 0
    # The command line wins over the file.
    assert kmsguard("check", ".", "--ignore", "KMS9", cwd=tmp_path).returncode == 1


def test_bad_configuration_is_exit_2_one_line(tmp_path):
    (tmp_path / ".kmsguard.toml").write_text('severity = "loud"\n')
    (tmp_path / "main.tf").write_text(ROTATED)
    proc = kmsguard("check", ".", cwd=tmp_path)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "unknown severity" in proc.stderr
    assert_no_traceback(proc)


@pytest.mark.parametrize(
    "args",
    [["check", "--format", "xml"], ["check", "--account", "12"], ["check", "--org-id", "org"], ["nonsense"]],
)
def test_usage_errors_exit_2(args):
    proc = kmsguard(*args)
    assert proc.returncode == 2
    assert_no_traceback(proc)


@pytest.mark.parametrize(
    ("name", "content", "line", "message"),
    [
        ("bad.tf", 'resource "aws_kms_key" "k" {\n  description = \n}\n', 2, "HCL"),
        ("bad.json", '{\n  "AWSTemplateFormatVersion": "2010-09-09",\n  "Resources": {,}\n}\n', 3, ""),
        ("bad.yaml", "AWSTemplateFormatVersion: '2010-09-09'\nResources:\n  K: [\n", 0, ""),
        ("latin1.tf", b'resource "aws_kms_key" "k" {\n  description = "caf\xe9"\n}\n', 2, "UTF-8"),
        ("binary.json", b"\x00\x01\x02\x03" * 10, 0, "binary"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_other_files_still_checked(tmp_path, name, content, line, message):
    (tmp_path / "good.tf").write_text(UNROTATED)
    bad = tmp_path / name
    bad.write_bytes(content if isinstance(content, bytes) else content.encode())
    proc = kmsguard("check", tmp_path)
    assert proc.returncode == 2
    assert_no_traceback(proc)
    error_lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(str(bad))]
    assert len(error_lines) == 1, proc.stdout
    if line:
        assert error_lines[0].startswith(f"{bad}:{line}:")
    assert message in error_lines[0]
    assert "KMS001" in proc.stdout  # the good file's finding is not lost


def test_missing_path_is_exit_2(tmp_path):
    proc = kmsguard("check", tmp_path / "nope.tf")
    assert proc.returncode == 2
    assert "no such file" in proc.stdout + proc.stderr
    assert_no_traceback(proc)


def test_empty_files_load_cleanly(tmp_path):
    (tmp_path / "empty.tf").write_text("")
    (tmp_path / "empty.json").write_text("")
    (tmp_path / "empty.yaml").write_text("")
    proc = kmsguard("check", tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_unrelated_json_and_yaml_are_skipped(tmp_path):
    (tmp_path / "package.json").write_text('{"name": "x", "version": "1.0.0"}')
    (tmp_path / ".pre-commit-config.yaml").write_text("repos: []\n")
    assert kmsguard("check", tmp_path).returncode == 0


@pytest.mark.parametrize("fmt", ["text", "json", "sarif", "junit", "github"])
def test_every_format_on_the_demo_and_output_file(tmp_path, fmt):
    out = tmp_path / f"report.{fmt}"
    proc = kmsguard("check", "fixtures/demo", "--format", fmt, "--output", out)
    assert proc.returncode == 1
    assert proc.stdout == ""
    body = out.read_text()
    assert "KMS002" in body
    if fmt in ("json", "sarif"):
        json.loads(body)
    if fmt == "junit":
        import xml.etree.ElementTree as ET

        ET.fromstring(body)


def test_baseline_fails_only_on_new_findings_and_survives_moved_lines(tmp_path):
    tf = tmp_path / "main.tf"
    tf.write_text(UNROTATED)
    baseline = tmp_path / "baseline.json"
    assert kmsguard("check", tf, "--baseline", baseline, "--write-baseline").returncode == 0
    assert kmsguard("check", tf, "--baseline", baseline).returncode == 0
    # Unrelated edit moves the key down three lines: still the same finding.
    tf.write_text("# header\n\n\n" + UNROTATED)
    assert kmsguard("check", tf, "--baseline", baseline).returncode == 0
    # A new key without rotation is a new finding.
    tf.write_text(UNROTATED + UNROTATED.replace('"k"', '"k2"'))
    proc = kmsguard("check", tf, "--baseline", baseline)
    assert proc.returncode == 1
    assert "aws_kms_key.k2" in proc.stdout and "aws_kms_key.k " not in proc.stdout


def test_account_binds_this_account(tmp_path):
    # A wildcard principal restricted to kms:CallerAccount = this account is not exposure, with or
    # without --account (AWS::AccountId stays "this account" symbolically).
    template = """\
AWSTemplateFormatVersion: "2010-09-09"
Resources:
  Key:
    Type: AWS::KMS::Key
    Properties:
      EnableKeyRotation: true
      KeyPolicy:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: {AWS: !Sub "arn:aws:iam::${AWS::AccountId}:root"}
            Action: kms:*
            Resource: "*"
          - Effect: Allow
            Principal: "*"
            Action: kms:Decrypt
            Resource: "*"
            Condition:
              StringEquals:
                kms:CallerAccount: !Ref AWS::AccountId
"""
    (tmp_path / "t.yaml").write_text(template)
    assert kmsguard("check", tmp_path).returncode == 0
    assert kmsguard("check", tmp_path, "--account", "111122223333").returncode == 0


def test_policy_file_finding_points_at_the_principal_line(tmp_path):
    (tmp_path / "key-policy.json").write_text(PUBLIC_POLICY)
    proc = kmsguard("check", tmp_path, "--format", "json")
    findings = json.loads(proc.stdout)["findings"]
    # The whole policy is one open statement: public (KMS002, at the principal) and, since no one
    # may call kms:PutKeyPolicy, locked out (KMS027, at the policy).
    assert [(f["rule_id"], f["line"]) for f in findings] == [("KMS027", 1), ("KMS002", 6)]


def test_invalid_json_policy_string_in_terraform_is_kms104(tmp_path):
    (tmp_path / "main.tf").write_text(
        'resource "aws_kms_key" "k" {\n  enable_key_rotation = true\n'
        '  policy = <<EOF\n{"Version": "2012-10-17",\nEOF\n}\n'
    )
    proc = kmsguard("check", tmp_path, "--format", "json")
    assert [f["rule_id"] for f in json.loads(proc.stdout)["findings"]] == ["KMS104"]


def test_rules_command_lists_the_catalog():
    proc = kmsguard("rules", "--format", "json")
    assert proc.returncode == 0
    ids = [r["id"] for r in json.loads(proc.stdout)]
    assert {"KMS001", "KMS002", "KMS003", "KMS100"} <= set(ids)
