"""``kmsguard simulate``: the --case form and the PATH --principal --action --key form.

cli.py wires the subcommand in; these tests build a parser with ``add_simulate_parser`` the same
way, so they do not depend on that wiring."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest

from kmsguard.model import Inventory
from kmsguard.simulate_cli import (
    SimulateError,
    add_simulate_parser,
    build_path_request,
    context_from_pairs,
    run_simulate,
)

A = "111122223333"
KEY = f"arn:aws:kms:us-east-1:{A}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ROLE = f"arn:aws:iam::{A}:role/app"
SESSION = f"arn:aws:sts::{A}:assumed-role/app/s1"


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="kmsguard")
    add_simulate_parser(parser.add_subparsers(dest="command"))
    code = run_simulate(parser.parse_args(["simulate", *argv]))
    out, err = capsys.readouterr()
    return code, out, err


def _write_case(tmp_path: Path, case: dict[str, Any]) -> str:
    path = tmp_path / "case.json"
    path.write_text(json.dumps(case, indent=2))
    return str(path)


DIRECT_CASE = {
    "key_policy": {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "App",
                "Effect": "Allow",
                "Principal": {"AWS": ROLE},
                "Action": "kms:Decrypt",
                "Resource": "*",
            }
        ],
    },
    "request": {"action": "kms:Decrypt", "principal": ROLE, "resource": KEY},
}


def test_case_json_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(["--case", _write_case(tmp_path, DIRECT_CASE), "--format", "json"], capsys)
    assert code == 0, err
    result = json.loads(out)
    # source: AWS KMS Developer Guide, "Key policies in AWS KMS": a statement naming the role allows
    # it without an IAM policy.
    assert result["decision"] == "Allow"
    assert any(entry["statement"] == "App" and entry["matched"] for entry in result["trace"])
    assert set(result["trace"][0]) == {"source", "statement", "effect", "matched", "reason"}


def test_case_text_output_and_deny_still_exits_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case = json.loads(json.dumps(DIRECT_CASE))
    case["request"]["action"] = "kms:Encrypt"
    code, out, _ = _run(["--case", _write_case(tmp_path, case)], capsys)
    assert code == 0  # a decision was computed, whatever it is
    # source: IAM User Guide, "Policy evaluation logic": nothing allows Encrypt -> implicit deny.
    assert out.rstrip().splitlines()[-1] == "decision: ImplicitDeny"


def test_bad_case_file_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{\n  "request": {"action": "kms:Decrypt", "principal": "x",\n  "resorce": "*"}\n}\n')
    code, out, err = _run(["--case", str(path)], capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1
    assert f"{path}:3: " in err and '"resorce"' in err


def test_case_file_with_several_cases_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "many.json"
    path.write_text(json.dumps([{**DIRECT_CASE, "id": "a"}, {**DIRECT_CASE, "id": "b"}]))
    code, _, err = _run(["--case", str(path)], capsys)
    assert code == 2 and "one case" in err


def test_case_and_path_together_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(["--case", _write_case(tmp_path, DIRECT_CASE), str(tmp_path), "--key", "k"], capsys)
    assert code == 2 and "either" in err


TERRAFORM = """
resource "aws_kms_key" "this" {
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid = "Root", Effect = "Allow", Principal = { AWS = "arn:aws:iam::111122223333:root" },
      Action = "kms:*", Resource = "*"
    }]
  })
}
resource "aws_iam_role" "app" {
  name = "app"
  assume_role_policy = jsonencode({Version = "2012-10-17", Statement = [{Effect = "Allow",
    Principal = {Service = "ec2.amazonaws.com"}, Action = "sts:AssumeRole"}]})
  permissions_boundary = aws_iam_policy.boundary.arn
}
resource "aws_iam_policy" "boundary" {
  name   = "boundary"
  policy = jsonencode({Version = "2012-10-17", Statement = [{Effect = "Allow",
    Action = ["kms:Decrypt", "kms:Encrypt", "kms:DescribeKey"], Resource = "*"}]})
}
resource "aws_iam_policy" "use" {
  name   = "use"
  policy = jsonencode({Version = "2012-10-17", Statement = [{Effect = "Allow",
    Action = ["kms:Decrypt", "kms:Encrypt"], Resource = aws_kms_key.this.arn}]})
}
resource "aws_iam_role_policy_attachment" "use" {
  role       = aws_iam_role.app.name
  policy_arn = aws_iam_policy.use.arn
}
resource "aws_iam_role_policy" "no_encrypt" {
  role   = aws_iam_role.app.id
  policy = jsonencode({Version = "2012-10-17", Statement = [{Effect = "Deny", Action = "kms:Encrypt",
    Resource = "*"}]})
}
resource "aws_kms_grant" "describe" {
  name              = "describe"
  key_id            = aws_kms_key.this.key_id
  grantee_principal = aws_iam_role.app.arn
  operations        = ["DescribeKey"]
}
"""


@pytest.fixture
def terraform_dir(tmp_path: Path) -> Path:
    (tmp_path / "main.tf").write_text(TERRAFORM)
    return tmp_path


def _path_args(
    directory: Path, action: str, principal: str = ROLE, key: str = "aws_kms_key.this"
) -> list[str]:
    return [str(directory), "--key", key, "--principal", principal, "--action", action, "--account", A]


def test_path_collects_identity_policies_boundary_and_grants(terraform_dir: Path) -> None:
    from kmsguard.check import load_inputs
    from kmsguard.load.base import LoadContext

    loaded, _ = load_inputs([str(terraform_dir)], LoadContext(account=A))
    inputs, request = build_path_request(
        loaded.inventory,
        key="aws_kms_key.this",
        principal=SESSION,
        action="kms:Decrypt",
        context={},
        account=A,
    )
    assert request.resource_account == A and request.resource.startswith(f"arn:aws:kms:us-east-1:{A}:key/")
    assert inputs.key_policy is not None
    assert len(inputs.identity_policies) == 2  # the inline policy and the attached managed policy
    assert inputs.permission_boundary is not None
    # The reference to the key's ARN in the managed policy is resolved to the ARN simulated.
    resources = [s.resources for p in inputs.identity_policies for s in p.statements]
    assert (request.resource,) in resources
    (grant,) = inputs.grants
    assert grant.grantee == ROLE and grant.key == request.resource


def test_path_allow_through_iam(terraform_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run([*_path_args(terraform_dir, "kms:Decrypt", SESSION), "--format", "json"], capsys)
    assert code == 0, err
    # source: AWS KMS Developer Guide, "Default key policy" (the account statement enables IAM
    # policies); IAM User Guide, "Permissions boundaries for IAM entities" (the boundary allows it).
    assert json.loads(out)["decision"] == "Allow"


def test_path_inline_deny_wins(terraform_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run([*_path_args(terraform_dir, "kms:Encrypt"), "--format", "json"], capsys)
    assert code == 0
    # source: IAM User Guide, "Policy evaluation logic", "Explicit deny".
    assert json.loads(out)["decision"] == "ExplicitDeny"


def test_path_grant_is_used(terraform_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run([*_path_args(terraform_dir, "kms:DescribeKey"), "--format", "json"], capsys)
    assert code == 0
    trace = json.loads(out)["trace"]
    assert any(entry["source"].startswith("grant") and entry["matched"] for entry in trace)


def test_path_unknown_key(terraform_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(_path_args(terraform_dir, "kms:Decrypt", key="aws_kms_key.missing"), capsys)
    assert code == 2 and out == ""
    assert "no key 'aws_kms_key.missing'" in err and "aws_kms_key.this" in err


def test_path_cloudformation_logical_id(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "template.yaml").write_text(
        'AWSTemplateFormatVersion: "2010-09-09"\n'
        "Resources:\n"
        "  AppKey:\n"
        "    Type: AWS::KMS::Key\n"
        "    Properties:\n"
        "      KeyPolicy:\n"
        '        Version: "2012-10-17"\n'
        "        Statement:\n"
        "          - Sid: App\n"
        "            Effect: Allow\n"
        f"            Principal: {{AWS: {ROLE}}}\n"
        "            Action: kms:Decrypt\n"
        '            Resource: "*"\n'
    )
    code, out, err = _run([*_path_args(tmp_path, "kms:Decrypt", key="AppKey")], capsys)
    assert code == 0, err
    # source: AWS KMS Developer Guide, "Key policies in AWS KMS" (the role is named directly).
    assert out.rstrip().endswith("decision: Allow")


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--principal", ROLE, "--action", "kms:Decrypt"], "--key"),
        (["--key", "k", "--action", "kms:Decrypt"], "--principal"),
        (["--key", "k", "--principal", ROLE, "--action", "Decrypt"], "kms:Operation"),
        (["--key", "k", "--principal", ROLE, "--action", "kms:Decrypt", "--context", "novalue"], "KEY=VALUE"),
    ],
)
def test_path_bad_arguments(
    terraform_dir: Path, capsys: pytest.CaptureFixture[str], argv: list[str], fragment: str
) -> None:
    code, _, err = _run([str(terraform_dir), *argv], capsys)
    assert code == 2 and fragment in err


def test_no_path_and_no_case(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(["--key", "k"], capsys)
    assert code == 2 and "PATH" in err


def test_context_pairs() -> None:
    context = context_from_pairs(
        ["kms:EncryptionContext:a=b=c", "aws:PrincipalOrgPaths=x", "aws:PrincipalOrgPaths=y"]
    )
    assert context == {"kms:EncryptionContext:a": "b=c", "aws:PrincipalOrgPaths": ("x", "y")}


def test_key_account_must_be_known() -> None:
    from kmsguard.model.resources import Key, Source
    from kmsguard.model.values import Unknown

    inventory = Inventory(
        keys=(Key("aws_kms_key.k", "aws_kms_key", Source.TERRAFORM, account=Unknown("acct")),)
    )
    with pytest.raises(SimulateError, match="--account"):
        build_path_request(inventory, key="aws_kms_key.k", principal=ROLE, action="kms:Decrypt", context={})


def test_unresolved_key_policy_is_an_error() -> None:
    from kmsguard.model.resources import Key, Source
    from kmsguard.model.values import Unknown

    key = Key("aws_kms_key.k", "aws_kms_key", Source.TERRAFORM, account=A, policy=Unknown("var.policy"))
    with pytest.raises(SimulateError, match="cannot be known statically"):
        build_path_request(
            Inventory(keys=(key,)), key="aws_kms_key.k", principal=ROLE, action="kms:Decrypt", context={}
        )
