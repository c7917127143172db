"""The pre-commit path stays light: `kmsguard check one.tf` must not import heavy libraries.
(Speed itself is measured in bench/, not here; this checks what is imported.) A policy that may
let another account in is the exception: the prover (z3) answers it, with a witness."""

import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("z3", "boto3", "botocore", "cryptography", "cfnlint", "hcl2", "rich", "jsonschema", "lark")


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("main.tf", 'resource "aws_kms_key" "k" {\n  enable_key_rotation = true\n}\n'),
        ("t.yaml", "AWSTemplateFormatVersion: '2010-09-09'\nResources:\n  K:\n    Type: AWS::KMS::Key\n"),
        (
            "p.json",
            '{"Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},'
            ' "Action": "kms:*", "Resource": "*"}]}',
        ),
    ],
)
def test_check_imports_no_heavy_library(tmp_path: Path, name: str, content: str):
    (tmp_path / name).write_text(content)
    proc = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-m",
            "kmsguard",
            "check",
            "--account",
            "111122223333",
            str(tmp_path / name),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    imported = {
        line.split("|")[-1].strip().split(".")[0]
        for line in proc.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "kmsguard" in imported
    assert not (imported & set(HEAVY)), sorted(imported & set(HEAVY))
