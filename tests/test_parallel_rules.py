"""Rules across processes: above a threshold of things to check, ``kmsguard check --jobs N`` runs
the rules (and the prover questions they ask) in N forked processes. The findings are those of a
serial run, byte for byte in every report, whichever worker ran which rule and in what order; small
inputs never start a pool."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from kmsguard import check
from kmsguard.cli import main
from kmsguard.load.base import LoadContext
from kmsguard.model import Inventory
from kmsguard.rules_engine import load_packs, run_packs

KEYS = 140  # with their policies: above PARALLEL_MIN_SUBJECTS


def key_policy(index: int) -> dict[str, Any]:
    statements: list[dict[str, Any]] = [
        {
            "Sid": "Root",
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
            "Action": "kms:*",
            "Resource": "*",
        }
    ]
    if index % 4 == 0:  # a public statement: the prover's questions
        statements.append(
            {"Sid": "Anyone", "Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*"}
        )
    if index % 4 == 1:  # another account, named: an external-access question
        statements.append(
            {
                "Sid": "Partner",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::44445555{index % 3:04d}:root"},
                "Action": ["kms:Encrypt", "kms:Decrypt"],
                "Resource": "*",
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


@pytest.fixture
def big_tree(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    resources = {
        f"Key{index:03d}": {
            "Type": "AWS::KMS::Key",
            "Properties": {"EnableKeyRotation": index % 2 == 0, "KeyPolicy": key_policy(index)},
        }
        for index in range(KEYS)
    }
    template = {"AWSTemplateFormatVersion": "2010-09-09", "Resources": resources}
    (root / "keys.json").write_text(json.dumps(template, indent=1))
    return root


@pytest.fixture(autouse=True)
def no_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    # Neither the result cache nor the answer cache: every run here really runs the rules.
    monkeypatch.setenv("KMSGUARD_NO_CACHE", "1")


class PoolSpy:
    """Records the pools ``kmsguard.check`` starts: (batches, jobs, start method)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.pools: list[tuple[int, int, str | None]] = []
        original = check._in_processes

        def spying(work: Any, batches: Sequence[Any], jobs: int, start: str | None = None) -> Any:
            self.pools.append((len(batches), jobs, start))
            return original(work, batches, jobs, start)

        monkeypatch.setattr(check, "_in_processes", spying)

    @property
    def rule_pools(self) -> list[tuple[int, int, str | None]]:
        return [p for p in self.pools if p[2] == "fork"]


@pytest.fixture
def pools(monkeypatch: pytest.MonkeyPatch) -> PoolSpy:
    return PoolSpy(monkeypatch)


def loaded(tree: Path) -> tuple[Inventory, list[Any]]:
    result, _ = check.load_inputs([str(tree)], LoadContext(), jobs=1)
    return Inventory.merge([result.inventory], org=LoadContext().org()), result.diagnostics


def test_rules_in_processes_find_what_a_serial_run_finds(big_tree: Path, pools: PoolSpy):
    inventory, diagnostics = loaded(big_tree)
    assert check.rule_subjects(inventory) >= check.PARALLEL_MIN_SUBJECTS
    packs = load_packs()
    serial = run_packs(packs, inventory, diagnostics, {})
    parallel = run_packs(packs, inventory, diagnostics, {}, check._rules_in_processes(2))
    rules = [r for p in packs for r in p.rules if r.subject != "diagnostic"]
    assert pools.rule_pools == [(len(rules), 2, "fork")]
    assert parallel == serial
    assert {"KMS001", "KMS002", "KMS025"} <= {f.rule_id for f in serial}  # rotation, public, external


def test_the_order_workers_take_rules_in_does_not_matter(
    big_tree: Path, pools: PoolSpy, monkeypatch: pytest.MonkeyPatch
):
    inventory, diagnostics = loaded(big_tree)
    packs = load_packs()
    first = run_packs(packs, inventory, diagnostics, {}, check._rules_in_processes(2))
    # The prover's rules last instead of first, and three workers instead of two.
    monkeypatch.setattr(check, "_asks_prover", lambda rule: not any(p.question for p in rule.when))
    second = run_packs(packs, inventory, diagnostics, {}, check._rules_in_processes(3))
    assert second == first
    assert len(pools.rule_pools) == 2


def report(tree: Path, tmp_path: Path, *options: str) -> str:
    out = tmp_path / f"report-{len(list(tmp_path.glob('report-*')))}.json"
    assert main(["check", str(tree), "--format", "sarif", "--output", str(out), *options]) == 1
    return out.read_text()


def test_reports_are_byte_identical_with_one_and_two_jobs(big_tree: Path, tmp_path: Path, pools: PoolSpy):
    serial = report(big_tree, tmp_path, "--jobs", "1")
    assert pools.rule_pools == []
    parallel = report(big_tree, tmp_path, "--jobs", "2")
    assert len(pools.rule_pools) == 1
    assert parallel == serial


def test_small_inputs_never_start_a_rule_pool(tmp_path: Path, pools: PoolSpy):
    (tmp_path / "keys.json").write_text(
        json.dumps(
            {
                "Resources": {
                    "Key": {"Type": "AWS::KMS::Key", "Properties": {"KeyPolicy": key_policy(0)}},
                }
            }
        )
    )
    result = check.run_check(check.CheckOptions(paths=(str(tmp_path),), jobs=8))
    assert "KMS002" in {f.rule_id for f in result.findings}
    assert pools.pools == []


def test_without_a_process_pool_the_rules_run_here(
    big_tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    serial = report(big_tree, tmp_path, "--jobs", "1")

    class NoPool:
        def __init__(self, *args: object, **kwargs: object) -> None:
            raise OSError("no semaphores here")

    import concurrent.futures

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", NoPool)
    assert report(big_tree, tmp_path, "--jobs", "2") == serial


def test_a_rule_a_worker_cannot_run_runs_here(big_tree: Path, monkeypatch: pytest.MonkeyPatch):
    inventory, diagnostics = loaded(big_tree)
    packs = load_packs()
    serial = run_packs(packs, inventory, diagnostics, {})

    def failing(indexes: Sequence[int]) -> list[Any]:  # not importable by name: cannot reach a worker
        raise RuntimeError("a worker died")

    monkeypatch.setattr(check, "_run_rules_at", failing)
    assert run_packs(packs, inventory, diagnostics, {}, check._rules_in_processes(2)) == serial
