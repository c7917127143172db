"""A bad-input corpus built here, checked in one run: each bad file gives one clear line (path, and
line where known) and exit code 2; the good file's finding is still reported; no traceback;
bounded time and memory."""

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

GOOD = 'resource "aws_kms_key" "good" {\n  description = "rotation off"\n}\n'

ALIAS_BOMB = """\
AWSTemplateFormatVersion: "2010-09-09"
a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
Resources:
  K:
    Type: AWS::KMS::Key
    Properties:
      Description: [*g]
"""


def _statement(index: int) -> dict:
    return {
        "Sid": f"S{index}",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::111122223333:role/r{index}"},
        "Action": "kms:Decrypt",
        "Resource": "*",
    }


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("bad-inputs")
    (root / "good.tf").write_text(GOOD)
    bad = root / "bad"
    bad.mkdir()
    (bad / "malformed.tf").write_text('resource "aws_kms_key" "k" {\n  description = \n')
    (bad / "malformed.json").write_text(
        '{"AWSTemplateFormatVersion": "2010-09-09",\n "Resources": {\n  "K": }\n}\n'
    )
    (bad / "malformed.yaml").write_text('AWSTemplateFormatVersion: "2010-09-09"\nResources:\n  K: {Type: [\n')
    (bad / "bomb.yaml").write_text(ALIAS_BOMB)
    (bad / "deep.json").write_text('{"Statement": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with (bad / "huge.json").open("w") as handle:  # 50 MB
        handle.write('{"Statement": [')
        chunk = json.dumps(_statement(0)) + ","
        handle.write(chunk * (50 * 1024 * 1024 // len(chunk)))
        handle.write(json.dumps(_statement(1)) + "]}")
    (bad / "binary.tf").write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 4)
    (bad / "latin1.yaml").write_bytes(
        b'AWSTemplateFormatVersion: "2010-09-09"\nDescription: "caf\xe9"\nResources: {}\n'
    )
    (bad / "provider_function.tf").write_text(
        'locals {\n  parts = provider::aws::arn_parse("arn:aws:kms:us-east-1:111122223333:key/k")\n}\n'
        'resource "aws_kms_key" "k" {\n  enable_key_rotation = true\n}\n'
    )
    loop = root / "loop"
    loop.mkdir()
    os.symlink("..", loop / "back")
    # Valid, but large: 10,000 statements (a finding, KMS102, not an input error).
    (root / "big-key-policy.json").write_text(
        json.dumps({"Version": "2012-10-17", "Statement": [_statement(i) for i in range(10_000)]})
    )
    return root


@pytest.fixture(scope="module")
def run(corpus):
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    proc = subprocess.run(
        [sys.executable, "-m", "kmsguard", "check", str(corpus), "--format", "text"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return proc, max(before, peak_kib)


def test_exit_code_2_and_no_traceback(run):
    proc, _ = run
    assert proc.returncode == 2, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Traceback" not in proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("name", "line", "words"),
    [
        ("malformed.tf", 1, "HCL"),  # the block that is never closed
        ("malformed.json", 3, ""),
        ("malformed.yaml", 0, ""),
        ("bomb.yaml", 0, "alias"),
        ("deep.json", 1, "nest"),
        ("huge.json", 0, "MB"),
        ("binary.tf", 0, "binary"),
        ("latin1.yaml", 2, "UTF-8"),
    ],
)
def test_each_bad_file_is_one_clear_line(run, corpus, name, line, words):
    proc, _ = run
    path = str(corpus / "bad" / name)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(path + ":")]
    assert len(lines) == 1, (name, lines)
    if line:
        assert lines[0].startswith(f"{path}:{line}:"), lines[0]
    assert words.lower() in lines[0].lower()


def test_unsupported_hcl_is_reported_or_read_never_silently_dropped(run, corpus):
    proc, _ = run
    path = str(corpus / "bad" / "provider_function.tf")
    # Either tree-sitter reads the provider function (then the key loads, rotation on: nothing to
    # report) or the file is one clear error line; it must not vanish into a traceback.
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(path + ":")]
    assert len(lines) <= 1


def test_the_good_file_and_the_large_policy_are_still_checked(run, corpus):
    proc, _ = run
    assert f"{corpus / 'good.tf'}:1:" in proc.stdout and "KMS001" in proc.stdout
    big = [ln for ln in proc.stdout.splitlines() if ln.startswith(str(corpus / "big-key-policy.json"))]
    assert any("KMS102" in ln for ln in big), big[:3]


def test_bounded_memory(run):
    _, peak_kib = run
    assert peak_kib < 1_500_000, f"peak RSS {peak_kib} KiB"
