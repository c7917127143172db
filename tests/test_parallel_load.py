"""Parallel loading: above a threshold of units, loading runs in a process pool; the report is the
same as a serial run's, whatever order discovery found the files in, and small inputs never start
a pool (start-up of a pre-commit run)."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path

import pytest

from kmsguard import check
from kmsguard.cli import main
from kmsguard.load import discover as discover_module
from kmsguard.load.base import LoadContext
from kmsguard.load.cache import LoadUnit

UNITS_PER_KIND = 14  # three kinds and broken.json: 43 units, above PARALLEL_MIN_UNITS
UNITS = UNITS_PER_KIND * 3 + 1

PUBLIC_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"}],
}


def terraform(index: int) -> str:
    rotation = "true" if index % 2 else "false"
    policy = json.dumps(json.dumps(PUBLIC_POLICY)) if index % 3 == 0 else None
    return (
        f'resource "aws_kms_key" "k{index}" {{\n'
        f'  description         = "key {index}"\n'
        f"  enable_key_rotation = {rotation}\n" + (f"  policy = {policy}\n" if policy else "") + "}\n"
    )


def template(index: int) -> str:
    rotation = "true" if index % 2 else "false"
    return (
        "AWSTemplateFormatVersion: '2010-09-09'\n"
        "Resources:\n"
        f"  Key{index}:\n"
        "    Type: AWS::KMS::Key\n"
        "    Properties:\n"
        f"      EnableKeyRotation: {rotation}\n"
    )


@pytest.fixture
def big_tree(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    for index in range(UNITS_PER_KIND):
        module = root / "tf" / f"m{index:02d}"
        module.mkdir(parents=True)
        (module / "main.tf").write_text(terraform(index))
        (root / "cfn").mkdir(exist_ok=True)
        (root / "cfn" / f"t{index:02d}.yaml").write_text(template(index))
        (root / "policies").mkdir(exist_ok=True)
        (root / "policies" / f"p{index:02d}.json").write_text(json.dumps(PUBLIC_POLICY))
    (root / "broken.json").write_text('{"Statement": [')  # an input error is part of the report too
    return root


@pytest.fixture(autouse=True)
def no_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    # The cache would hide the second run's loading: every run here really loads.
    monkeypatch.setenv("KMSGUARD_NO_CACHE", "1")


class PoolSpy:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[tuple[int, int]] = []
        original = check._load_in_processes

        def spying(units: Sequence[LoadUnit], ctx: LoadContext, jobs: int) -> list[check.Loaded]:
            self.calls.append((len(units), jobs))
            return original(units, ctx, jobs)

        monkeypatch.setattr(check, "_load_in_processes", spying)


@pytest.fixture
def pool(monkeypatch: pytest.MonkeyPatch) -> PoolSpy:
    return PoolSpy(monkeypatch)


def report(tree: Path, tmp_path: Path, *options: str) -> dict[str, object]:
    out = tmp_path / f"report-{len(list(tmp_path.glob('report-*')))}.json"
    code = main(["check", str(tree), "--format", "json", "--output", str(out), *options])
    assert code == 2  # findings and one input error
    return json.loads(out.read_text())


def test_parallel_report_is_identical_to_the_serial_one(big_tree: Path, tmp_path: Path, pool: PoolSpy):
    serial = report(big_tree, tmp_path, "--jobs", "1")
    assert pool.calls == []
    parallel = report(big_tree, tmp_path, "--jobs", "2")
    assert pool.calls == [(UNITS, 2)]
    assert parallel == serial
    findings = serial["findings"]
    assert isinstance(findings, list)
    # Every kind of input reached the report: not two equally empty reports.
    paths = {f["path"] for f in findings}
    assert any("/tf/" in p for p in paths) and any("/cfn/" in p for p in paths)
    assert any("/policies/" in p for p in paths)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_report_does_not_depend_on_discovery_order(
    big_tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pool: PoolSpy, seed: int
):
    in_order = report(big_tree, tmp_path, "--jobs", "2")
    loaded_in_order, _ = check.load_inputs([str(big_tree)], LoadContext(), jobs=2)
    original = discover_module.discover

    def shuffled(paths: Sequence[str]) -> tuple[list[discover_module.Input], list[object]]:
        inputs, errors = original(paths)
        random.Random(seed).shuffle(inputs)
        return inputs, errors  # type: ignore[return-value]

    monkeypatch.setattr(discover_module, "discover", shuffled)
    assert report(big_tree, tmp_path, "--jobs", "2") == in_order
    assert report(big_tree, tmp_path, "--jobs", "1") == in_order
    # The report sorts findings; the inventory itself must not depend on the order either.
    loaded_shuffled, _ = check.load_inputs([str(big_tree)], LoadContext(), jobs=2)
    assert loaded_shuffled.inventory == loaded_in_order.inventory
    assert loaded_shuffled.diagnostics == loaded_in_order.diagnostics
    assert loaded_shuffled.errors == loaded_in_order.errors
    assert len(pool.calls) == 4


def test_small_inputs_never_start_a_pool(tmp_path: Path, pool: PoolSpy):
    (tmp_path / "main.tf").write_text(terraform(0))
    (tmp_path / "t.yaml").write_text(template(0))
    check.load_inputs([str(tmp_path)], LoadContext(), jobs=8)
    assert pool.calls == []
    assert check.PARALLEL_MIN_UNITS > 2


def test_without_a_process_pool_loading_falls_back_to_serial(
    big_tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    serial = report(big_tree, tmp_path, "--jobs", "1")

    class NoPool:
        def __init__(self, *args: object, **kwargs: object) -> None:
            raise OSError("no semaphores here")

    import concurrent.futures

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", NoPool)
    assert report(big_tree, tmp_path, "--jobs", "2") == serial


def test_workers_fill_the_load_cache(big_tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("KMSGUARD_NO_CACHE")
    monkeypatch.setenv("KMSGUARD_CACHE_DIR", str(tmp_path / "cache"))
    first, _ = check.load_inputs([str(big_tree)], LoadContext(), jobs=2)
    loaded: list[str] = []
    original = check._load_unit
    monkeypatch.setattr(
        check, "_load_unit", lambda unit, ctx: loaded.append(unit.path) or original(unit, ctx)
    )
    second, _ = check.load_inputs([str(big_tree)], LoadContext(), jobs=2)
    assert loaded == []
    assert second.inventory == first.inventory
    assert sorted(map(str, second.errors)) == sorted(map(str, first.errors))


def test_jobs_from_the_configuration(
    big_tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pool: PoolSpy
):
    (tmp_path / ".kmsguard.toml").write_text("jobs = 1\n")
    monkeypatch.chdir(tmp_path)
    report(big_tree, tmp_path)
    assert pool.calls == []
    (tmp_path / ".kmsguard.toml").write_text("jobs = 2\n")
    report(big_tree, tmp_path)
    assert pool.calls == [(UNITS, 2)]


@pytest.mark.parametrize("bad", ["0", "-1", "two", ""])
def test_jobs_must_be_a_positive_number(bad: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as stopped:
        main(["check", str(tmp_path), "--jobs", bad])
    assert stopped.value.code == 2
    assert "--jobs" in capsys.readouterr().err


@pytest.mark.parametrize("bad", ["0", "true", '"2"'])
def test_jobs_in_the_configuration_must_be_a_positive_number(
    bad: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    (tmp_path / ".kmsguard.toml").write_text(f"jobs = {bad}\n")
    monkeypatch.chdir(tmp_path)
    assert main(["check", str(tmp_path)]) == 2
    assert "option 'jobs' must be a whole number" in capsys.readouterr().err
