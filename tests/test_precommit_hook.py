"""The hook in .pre-commit-hooks.yaml, run by the real pre-commit against a temporary repository.

pre-commit installs kmsguard from this checkout into its own environment (from the package
registry, as users get it), so this test is slow (tens of seconds) but it is the real thing."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

UNROTATED = 'resource "aws_kms_key" "k" {\n  description = "no rotation"\n}\n'
ROTATED = 'resource "aws_kms_key" "k" {\n  description         = "rotates"\n  enable_key_rotation = true\n}\n'


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def precommit_home(tmp_path_factory):
    return tmp_path_factory.mktemp("pre-commit-home")


def _try_repo(work: Path, home: Path, *files: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PRE_COMMIT_HOME": str(home), "NO_COLOR": "1"}
    env.pop("VIRTUAL_ENV", None)
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", "try-repo", str(ROOT), "kmsguard", "--files", *files],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_hook_fails_on_a_finding_and_passes_once_fixed(tmp_path, precommit_home):
    work = tmp_path / "repo"
    work.mkdir()
    _git(work, "init", "-q")
    (work / "main.tf").write_text(UNROTATED)
    (work / ".pre-commit-config.yaml").write_text("repos: []\n")
    (work / "package.json").write_text('{"name": "not-ours"}\n')
    _git(work, "add", ".")

    failing = _try_repo(work, precommit_home, "main.tf", "package.json")
    output = failing.stdout + failing.stderr
    assert failing.returncode == 1, output
    assert "KMS001" in output
    assert "main.tf:1" in output

    (work / "main.tf").write_text(ROTATED)
    _git(work, "add", ".")
    passing = _try_repo(work, precommit_home, "main.tf", "package.json")
    assert passing.returncode == 0, passing.stdout + passing.stderr
