"""``kmsguard prove`` (``kmsguard/prove_cli.py``), run through its own subcommand parser."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from kmsguard.authz.case import evaluate_case, parse_case
from kmsguard.authz.types import Outcome
from kmsguard.prove_cli import EXIT_BAD_INPUT, EXIT_NO, EXIT_NOT_RULED_OUT, add_prove_parser, run_prove

KEY_ACCOUNT = "111122223333"
ORG = "o-abc123example"

KEY_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "Root",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{KEY_ACCOUNT}:root"},
            "Action": "kms:*",
            "Resource": "*",
        },
        {
            "Sid": "Organisation",
            "Effect": "Allow",
            "Principal": "*",
            "Action": ["kms:Decrypt", "kms:DescribeKey"],
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:PrincipalOrgID": ORG}},
        },
    ],
}

TERRAFORM = f"""
resource "aws_kms_key" "shared" {{
  description = "shared with the organisation"
  policy      = jsonencode({json.dumps(KEY_POLICY)})
}}

resource "aws_kms_key" "plain" {{
  description = "no policy: the default key policy"
}}
"""


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="kmsguard")
    add_prove_parser(parser.add_subparsers(dest="command"))
    return run_prove(parser.parse_args(["prove", *argv]))


@pytest.fixture()
def config(tmp_path: Path) -> Path:
    (tmp_path / "main.tf").write_text(TERRAFORM)
    return tmp_path


def test_public_no_for_an_organisation_key(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # source: IAM User Guide, "AWS global condition context keys", "aws:PrincipalOrgID".
    code = _run(str(config), "--key", "aws_kms_key.shared", "--question", "public", "--account", KEY_ACCOUNT)
    out = capsys.readouterr().out
    assert code == EXIT_NO
    assert out.startswith("public access to aws_kms_key.shared: no")


def test_external_json_witness_is_a_case_request(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = _run(
        str(config), "--key", "aws_kms_key.shared", "--question", "external", "--account", KEY_ACCOUNT,
        "--format", "json",
    )  # fmt: skip
    result = json.loads(capsys.readouterr().out)
    assert code == EXIT_NOT_RULED_OUT
    assert set(result) == {"answer", "witness", "depends_on", "explanation"}
    assert result["answer"] == "yes" and result["depends_on"] == []
    witness = result["witness"]
    assert witness["context"]["aws:principalorgid"] == ORG
    case = {
        "key_policy": KEY_POLICY,
        "identity_policies": [
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}
        ],
        "request": witness,
    }
    assert evaluate_case(parse_case(case, "witness")).outcome is Outcome.ALLOW


def test_external_trusting_the_organisation_is_no(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = _run(
        str(config), "--key", "aws_kms_key.shared", "--question", "external", "--account", KEY_ACCOUNT,
        "--org-id", ORG, "--format", "json",
    )  # fmt: skip
    assert code == EXIT_NO
    assert json.loads(capsys.readouterr().out)["witness"] is None


def test_key_without_policy_gets_the_default_key_policy(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # source: KMS Developer Guide, "Default key policy".
    code = _run(str(config), "--key", "aws_kms_key.plain", "--question", "public", "--account", KEY_ACCOUNT)
    assert code == EXIT_NO
    assert ": no" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--key", "aws_kms_key.missing", "--question", "public", "--account", KEY_ACCOUNT), "no key"),
        (("--key", "aws_kms_key.shared", "--question", "external", "--trusted-accounts", "12"), "12-digit"),
        (
            ("--key", "aws_kms_key.shared", "--question", "public", "--action", "s3:GetObject"),
            "not a KMS action",
        ),
    ],
)
def test_bad_input_is_one_line(
    config: Path, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], message: str
) -> None:
    code = _run(str(config), *argv, *(("--account", KEY_ACCOUNT) if "--account" not in argv else ()))
    err = capsys.readouterr().err
    assert code == EXIT_BAD_INPUT
    assert message in err and err.count("\n") == 1


def test_importing_the_command_does_not_import_z3() -> None:
    code = "import sys, kmsguard.prove_cli; print('z3' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
