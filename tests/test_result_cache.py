"""The result cache: a run whose every input is identical to a previous run's (each unit's files,
the rule packs, the parameters, the deployment context, kmsguard's code) reuses that run's
findings without running the rules; any difference runs them again. Selection, severity,
suppressions and the baseline are applied after, so they never need a new run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kmsguard import check
from kmsguard.check import CheckOptions, run_check
from kmsguard.cli import main
from kmsguard.load.base import LoadContext
from kmsguard.rules_engine import load_packs

PUBLIC_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*"}],
}
# Rotation every 400 days: over KMS004's default maximum of 365 days, under a maximum of 500.
MAIN_TF = """
resource "aws_kms_key" "slow" {
  description             = "slow rotation"
  enable_key_rotation     = true
  rotation_period_in_days = 400
}
"""
TEMPLATE = """AWSTemplateFormatVersion: '2010-09-09'
Resources:
  Key:
    Type: AWS::KMS::Key
    Properties:
      EnableKeyRotation: false
"""


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "cache"
    monkeypatch.setenv("KMSGUARD_CACHE_DIR", str(directory))
    monkeypatch.delenv("KMSGUARD_NO_CACHE", raising=False)
    return directory


@pytest.fixture(autouse=True)
def small_runs_use_the_result_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    # The trees here are small; the threshold that keeps pre-commit runs off the result cache is
    # tested on its own below.
    monkeypatch.setattr(check, "RESULT_CACHE_MIN_UNITS", 1)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "infra"
    (root / "tf").mkdir(parents=True)
    (root / "tf" / "main.tf").write_text(MAIN_TF)
    (root / "policy.json").write_text(json.dumps(PUBLIC_POLICY))
    (root / "template.yaml").write_text(TEMPLATE)
    return root


class RuleRuns:
    """Counts the times ``run_check`` ran the rules (a result cache miss)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        original = check.run_packs

        def counting(*args: object, **kwargs: object) -> object:
            self.count += 1
            return original(*args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(check, "run_packs", counting)


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch) -> RuleRuns:
    return RuleRuns(monkeypatch)


def ids(result: check.CheckResult) -> list[tuple[str, str, int]]:
    return sorted((f.rule_id, f.span.path, f.span.line) for f in result.findings)


def run(tree: Path, **options: object) -> check.CheckResult:
    return run_check(CheckOptions(paths=(str(tree),), jobs=1, **options))  # type: ignore[arg-type]


def test_an_unchanged_tree_reuses_the_findings(cache_dir: Path, tree: Path, runs: RuleRuns):
    cold = run(tree)
    warm = run(tree)
    assert runs.count == 1
    assert warm.findings == cold.findings
    assert warm.errors == cold.errors
    assert warm.files == cold.files
    assert {"KMS002", "KMS004"} <= {f.rule_id for f in warm.findings}  # the public policy, the rotation
    for finding in warm.findings:  # what reports show of the source is still there
        assert warm.sources[finding.span.path] == cold.sources[finding.span.path]
    assert warm.inventory == cold.inventory  # loaded on demand from the load cache


def test_reports_of_a_cached_run_are_identical(cache_dir: Path, tree: Path, tmp_path: Path, runs: RuleRuns):
    outputs = []
    for fmt in ("text", "json", "sarif", "text", "json", "sarif"):
        out = tmp_path / f"report-{len(outputs)}.{fmt}"
        assert main(["check", str(tree), "--jobs", "1", "--format", fmt, "--output", str(out)]) == 1
        outputs.append(out.read_text())
    assert runs.count == 1
    assert outputs[:3] == outputs[3:]


def test_an_edited_file_runs_the_rules(cache_dir: Path, tree: Path, runs: RuleRuns):
    run(tree)
    (tree / "tf" / "main.tf").write_text(MAIN_TF.replace("400", "300"))
    edited = run(tree)
    assert runs.count == 2
    assert "KMS004" not in {f.rule_id for f in edited.findings}


def test_a_new_file_runs_the_rules(cache_dir: Path, tree: Path, runs: RuleRuns):
    first = run(tree)
    (tree / "tf" / "more.tf").write_text(MAIN_TF.replace('"slow"', '"slower"'))
    second = run(tree)
    assert runs.count == 2
    assert len([f for f in second.findings if f.rule_id == "KMS004"]) == 2
    assert len([f for f in first.findings if f.rule_id == "KMS004"]) == 1


def test_a_deleted_file_runs_the_rules(cache_dir: Path, tree: Path, runs: RuleRuns):
    run(tree)
    (tree / "policy.json").unlink()
    second = run(tree)
    assert runs.count == 2
    assert "KMS002" not in {f.rule_id for f in second.findings}


def test_other_packs_run_the_rules(cache_dir: Path, tree: Path, runs: RuleRuns):
    run(tree)
    strict = run(tree, packs=("kms-strict",))
    assert runs.count == 2
    assert len(load_packs(("kms-strict",))) == 2  # a second pack, so other rules may apply
    assert {r.id for r in strict.rules} > {r.id for r in run(tree).rules}
    assert runs.count == 2  # and back to the default packs: that run's entry is still there


def test_a_changed_pack_passed_in_runs_the_rules(cache_dir: Path, tree: Path, runs: RuleRuns):
    from dataclasses import replace

    packs = load_packs()
    run_check(CheckOptions(paths=(str(tree),), jobs=1), packs)
    pack = packs[0]
    fewer = [replace(pack, rules=tuple(r for r in pack.rules if r.id != "KMS004"))]
    result = run_check(CheckOptions(paths=(str(tree),), jobs=1), fewer)
    assert runs.count == 2
    assert "KMS004" not in {f.rule_id for f in result.findings}


def test_other_parameters_run_the_rules(cache_dir: Path, tree: Path, runs: RuleRuns):
    run(tree)
    relaxed = run(tree, params={"max_rotation_period_days": 500})
    assert runs.count == 2
    assert "KMS004" not in {f.rule_id for f in relaxed.findings}


def test_another_deployment_context_runs_the_rules(cache_dir: Path, tree: Path, runs: RuleRuns):
    run(tree)
    run(tree, context=LoadContext(account="111122223333"))
    assert runs.count == 2


def test_other_kmsguard_code_runs_the_rules(
    cache_dir: Path, tree: Path, runs: RuleRuns, monkeypatch: pytest.MonkeyPatch
):
    run(tree)
    monkeypatch.setattr(check, "run_code_stamp", lambda: "another version of kmsguard")
    run(tree)
    assert runs.count == 2


def test_the_code_stamp_covers_every_source_of_the_package(tmp_path: Path):
    # Rules, simulator and prover code change findings without touching the loaders: the stamp
    # covers the whole package (the load cache's stamp covers only load/ and model/).
    package = tmp_path / "kmsguard"
    names = ("rules_engine/questions.py", "prove/encode.py", "authz/evaluate.py", "data/kms_actions.json")
    for name in names:
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text("v1\n")
    before = check.package_stamp(str(package), "0.1.0")
    assert check.package_stamp(str(package), "0.1.0") == before
    assert check.package_stamp(str(package), "0.2.0") != before
    for name in names:
        (package / name).write_text("v2\n")
        assert check.package_stamp(str(package), "0.1.0") != before, name
        (package / name).write_text("v1\n")
    (package / "prove" / "__pycache__").mkdir()
    (package / "prove" / "__pycache__" / "encode.cpython-311.pyc").write_bytes(b"bytecode")
    assert check.package_stamp(str(package), "0.1.0") == before  # bytecode is not source
    (package / "rules_engine" / "new_tests.py").write_text("")
    assert check.package_stamp(str(package), "0.1.0") != before


def test_selection_and_severity_apply_to_cached_findings(cache_dir: Path, tree: Path, runs: RuleRuns):
    everything = run(tree)
    only = run(tree, select=("KMS004",))
    assert runs.count == 1
    assert [f.rule_id for f in only.findings] == ["KMS004"]
    assert [f for f in everything.findings if f.rule_id == "KMS004"] == only.findings


def test_a_corrupt_run_entry_is_a_miss(cache_dir: Path, tree: Path, runs: RuleRuns):
    first = run(tree)
    for entry in (cache_dir / "runs").glob("*.pickle"):
        entry.write_bytes(b"\x80\x05garbage")
    second = run(tree)
    assert runs.count == 2
    assert second.findings == first.findings


def test_no_cache_setting_never_reuses_a_run(
    cache_dir: Path, tree: Path, runs: RuleRuns, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("KMSGUARD_NO_CACHE", "1")
    run(tree)
    run(tree)
    assert runs.count == 2
    assert not cache_dir.exists()


def test_an_edited_file_replaces_its_runs_entry(cache_dir: Path, tree: Path):
    run(tree)
    for rotation in ("300", "200", "100"):
        (tree / "tf" / "main.tf").write_text(MAIN_TF.replace("400", rotation))
        run(tree)
    assert len(list((cache_dir / "runs").glob("*.pickle"))) == 1  # the cache does not grow per edit


def test_a_run_whose_answers_are_cached_does_not_import_the_prover(cache_dir: Path, tree: Path):
    """The first run proves KMS002's question (z3); after an edit elsewhere the rules run again,
    and every answer comes from the answer cache: z3 is not imported."""

    def imported_modules() -> set[str]:
        proc = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "kmsguard", "check", str(tree), "--jobs", "1"],
            capture_output=True,
            text=True,
            timeout=120,
            env={**__import__("os").environ, "KMSGUARD_CACHE_DIR": str(cache_dir)},
        )
        assert proc.returncode == 1, proc.stderr[-2000:]
        return {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import")}

    assert "z3" in imported_modules()
    (tree / "template.yaml").write_text(TEMPLATE.replace("false", "true"))
    assert "z3" not in imported_modules()


def test_a_pre_commit_sized_run_does_not_use_the_result_cache(
    cache_dir: Path, tree: Path, runs: RuleRuns, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(check, "RESULT_CACHE_MIN_UNITS", 16)
    run(tree)
    run(tree)
    assert runs.count == 2
    assert not (cache_dir / "runs").exists()
    assert list(cache_dir.glob("load/*/*.pickle"))  # the load cache still serves it


def test_runs_over_two_trees_keep_an_entry_each(cache_dir: Path, tree: Path, tmp_path: Path, runs: RuleRuns):
    other = tmp_path / "other"
    other.mkdir()
    (other / "main.tf").write_text(MAIN_TF)
    run(tree)
    run(other)
    run(tree)
    run(other)
    assert runs.count == 2
    assert len(list((cache_dir / "runs").glob("*.pickle"))) == 2
