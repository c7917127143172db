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


def test_witness_is_shown_the_same_way_whatever_was_solved_before(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # z3's models depend on its history; the CLI shows the caller in a fixed account the policy
    # does not name, under a fixed name, once the simulator confirms that request too.
    argv = (str(config), "--key", "aws_kms_key.shared", "--question", "external", "--account", KEY_ACCOUNT)
    _run(*argv, "--format", "json")
    first = json.loads(capsys.readouterr().out)["witness"]
    _run(str(config), "--key", "aws_kms_key.plain", "--question", "public", "--account", KEY_ACCOUNT)
    capsys.readouterr()
    _run(*argv, "--format", "json")
    again = json.loads(capsys.readouterr().out)["witness"]
    assert first == again
    assert ":999999999999:" in first["principal"]
    assert "example-" in first["principal"] or first["principal"].endswith(":root")


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


# -- the questions of the second increment -----------------------------------------------------------

NEW_KEY_POLICY = {
    **KEY_POLICY,
    "Statement": [
        KEY_POLICY["Statement"][0],
        {
            **KEY_POLICY["Statement"][1],
            # source: IAM User Guide, "Condition operators", "...IfExists condition operators": a
            # request without aws:PrincipalOrgID now matches.
            "Condition": {"StringEqualsIfExists": {"aws:PrincipalOrgID": ORG}},
        },
    ],
}


def test_who_can_lists_classes_in_json(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = _run(
        str(config), "--key", "aws_kms_key.shared", "--question", "who-can", "--action", "kms:Decrypt",
        "--account", KEY_ACCOUNT, "--format", "json",
    )  # fmt: skip
    result = json.loads(capsys.readouterr().out)
    assert code == EXIT_NOT_RULED_OUT
    assert set(result) == {"answer", "witness", "depends_on", "explanation"}
    classes = {entry["class"]: entry for entry in result["witness"]}
    # source: KMS Developer Guide, "Default key policy": the account statement; IAM User Guide,
    # "aws:PrincipalOrgID": the organisation's other accounts.
    assert "the key's account root user" in classes
    assert "IAM principals of another account" in classes
    assert "anonymous callers" not in classes
    other = classes["IAM principals of another account"]["witness"]
    assert other["context"]["aws:principalorgid"] == ORG


def test_who_can_needs_one_action(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = _run(str(config), "--key", "aws_kms_key.shared", "--question", "who-can", "--account", KEY_ACCOUNT)
    assert code == EXIT_BAD_INPUT and "exactly one --action" in capsys.readouterr().err


def test_lockout_and_admin_usage_text(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # source: KMS Developer Guide, "Default key policy": the account can manage and use the key.
    code = _run(str(config), "--key", "aws_kms_key.plain", "--question", "lockout", "--account", KEY_ACCOUNT)
    out = capsys.readouterr().out
    assert code == EXIT_NO and out.startswith("lockout for aws_kms_key.plain: no")
    assert "kms:PutKeyPolicy" in out
    code = _run(
        str(config), "--key", "aws_kms_key.plain", "--question", "admin-usage", "--account", KEY_ACCOUNT
    )
    out = capsys.readouterr().out
    assert code == EXIT_NOT_RULED_OUT and "the key's account root user: yes" in out
    assert "with these requests" in out


def test_grant_escalation_json(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The default key policy: only the account (which administers the key) may create grants.
    code = _run(
        str(config), "--key", "aws_kms_key.plain", "--question", "grant-escalation", "--account", KEY_ACCOUNT,
        "--format", "json",
    )  # fmt: skip
    result = json.loads(capsys.readouterr().out)
    assert code == EXIT_NO and result["answer"] == "no" and result["witness"] is None


def test_no_new_access_between_policy_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(json.dumps(KEY_POLICY))
    new.write_text(json.dumps(NEW_KEY_POLICY))
    argv = ("--question", "no-new-access", "--account", KEY_ACCOUNT, "--format", "json")
    code = _run(str(old), "--against", str(new), *argv)
    result = json.loads(capsys.readouterr().out)
    assert code == EXIT_NOT_RULED_OUT and result["answer"] == "no"
    witness = result["witness"]
    assert "aws:principalorgid" not in witness["context"]
    for policy, expected in ((NEW_KEY_POLICY, True), (KEY_POLICY, False)):
        case = {
            "key_policy": policy,
            "identity_policies": [
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}],
                }
            ],
            "request": witness,
        }
        assert (evaluate_case(parse_case(case, "witness")).outcome is Outcome.ALLOW) is expected
    # The reverse change only narrows; the same file is equivalent to itself.
    assert _run(str(new), "--against", str(old), *argv) == EXIT_NO
    assert json.loads(capsys.readouterr().out)["answer"] == "yes"
    assert (
        _run(str(old), "--against", str(old), "--question", "equivalent", "--account", KEY_ACCOUNT) == EXIT_NO
    )
    assert "equivalent for the key: yes" in capsys.readouterr().out


def test_equivalent_between_two_keys_of_one_configuration(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = _run(
        str(config), "--key", "aws_kms_key.plain", "--against-key", "aws_kms_key.shared",
        "--question", "equivalent", "--account", KEY_ACCOUNT,
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == EXIT_NOT_RULED_OUT and "equivalent for aws_kms_key.plain: no" in out
    assert "allows more" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--question", "no-new-access"), "--against"),
        (("--question", "public", "--against-key", "aws_kms_key.plain"), "are for"),
        (("--question", "lockout"), "--key is needed"),
    ],
)
def test_comparison_and_key_options_are_checked(
    config: Path, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], message: str
) -> None:
    code = _run(str(config), *argv, "--account", KEY_ACCOUNT)
    err = capsys.readouterr().err
    assert code == EXIT_BAD_INPUT and message in err and err.count("\n") == 1
