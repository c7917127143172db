"""The incremental load cache: a unit's cached LoadResult is used only while every file it read
(Terraform files, local modules, file() targets, tfvars) and every directory it listed is
unchanged, for the same kmsguard code and the same LoadContext; anything unreadable is a miss."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from kmsguard import check
from kmsguard.check import load_inputs
from kmsguard.load import cache
from kmsguard.load.base import LoadContext, LoadResult
from kmsguard.model import Inventory

PUBLIC_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"}],
}
ROOT_TF = """
variable "rotate" {
  default = false
}

module "inner" {
  source = "./modules/inner"
}

resource "aws_kms_key" "root" {
  description         = "root key"
  enable_key_rotation = var.rotate
  policy              = file("${path.module}/policy.json")
}
"""
INNER_TF = """
resource "aws_kms_key" "inner" {
  description         = "inner key"
  enable_key_rotation = false
}
"""


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "cache"
    monkeypatch.setenv("KMSGUARD_CACHE_DIR", str(directory))
    monkeypatch.delenv("KMSGUARD_NO_CACHE", raising=False)
    return directory


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "infra"
    (root / "modules" / "inner").mkdir(parents=True)
    (root / "main.tf").write_text(ROOT_TF)
    (root / "policy.json").write_text(json.dumps(PUBLIC_POLICY))
    (root / "modules" / "inner" / "main.tf").write_text(INNER_TF)
    (root / "template.yaml").write_text(
        "AWSTemplateFormatVersion: '2010-09-09'\nResources:\n  K:\n    Type: AWS::KMS::Key\n"
    )
    return root


class LoadCounter:
    """Counts the units actually loaded (cache misses) by ``load_inputs``."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.loaded: list[str] = []
        original = check._load_unit

        def counting(unit: cache.LoadUnit, ctx: LoadContext) -> LoadResult:
            self.loaded.append(unit.path)
            return original(unit, ctx)

        monkeypatch.setattr(check, "_load_unit", counting)

    def run(self, root: Path, ctx: LoadContext | None = None) -> tuple[LoadResult, list[str]]:
        self.loaded.clear()
        result, _ = load_inputs([str(root)], ctx or LoadContext(), jobs=1)
        return result, list(self.loaded)


@pytest.fixture
def counter(monkeypatch: pytest.MonkeyPatch) -> LoadCounter:
    return LoadCounter(monkeypatch)


def all_units(root: Path) -> list[str]:
    """Discovery's units for ``tree``: the root module, the local module (a directory of .tf files
    is a unit of its own too), the policy file and the template."""
    return sorted(
        str(p) for p in (root, root / "modules" / "inner", root / "policy.json", root / "template.yaml")
    )


def key_rotation(inventory: Inventory) -> dict[str, object]:
    return {key.address: key.rotation_enabled for key in inventory.keys}


def test_second_run_over_an_unchanged_tree_loads_nothing(cache_dir: Path, tree: Path, counter: LoadCounter):
    cold, cold_loaded = counter.run(tree)
    warm, warm_loaded = counter.run(tree)
    assert sorted(cold_loaded) == all_units(tree)
    assert warm_loaded == []
    assert warm.inventory == cold.inventory
    assert warm.sources == cold.sources
    assert sorted(cache_dir.glob("load/*/*.pickle"))  # entries were written where users put the cache


def test_cached_values_keep_their_source_positions(cache_dir: Path, tree: Path, counter: LoadCounter):
    cold, _ = counter.run(tree)
    warm, _ = counter.run(tree)
    spans = [(k.address, k.span, k.attr_spans) for k in cold.inventory.keys]
    assert spans == [(k.address, k.span, k.attr_spans) for k in warm.inventory.keys]
    assert all(k.span.line > 0 for k in warm.inventory.keys)


def test_a_changed_root_file_reloads_its_directory(cache_dir: Path, tree: Path, counter: LoadCounter):
    counter.run(tree)
    (tree / "main.tf").write_text(ROOT_TF.replace("default = false", "default = true"))
    result, loaded = counter.run(tree)
    assert loaded == [str(tree)]  # the template did not change: it still comes from the cache
    assert key_rotation(result.inventory)["aws_kms_key.root"] is True


def test_a_changed_local_module_reloads_the_root_that_calls_it(
    cache_dir: Path, tree: Path, counter: LoadCounter
):
    counter.run(tree)
    (tree / "modules" / "inner" / "main.tf").write_text(INNER_TF.replace("false", "true"))
    result, loaded = counter.run(tree)
    assert sorted(loaded) == [str(tree), str(tree / "modules" / "inner")]
    assert key_rotation(result.inventory)["module.inner.aws_kms_key.inner"] is True


def test_a_new_file_in_a_local_module_reloads_the_root(cache_dir: Path, tree: Path, counter: LoadCounter):
    # Discovery hands the module's files to a unit of their own, but the root loads the module
    # by listing its directory: the listing is what must notice the new file.
    counter.run(tree)
    (tree / "modules" / "inner" / "extra.tf").write_text('resource "aws_kms_key" "extra" {}\n')
    result, loaded = counter.run(tree)
    assert str(tree) in loaded
    assert "module.inner.aws_kms_key.extra" in key_rotation(result.inventory)


def test_a_new_tfvars_file_reloads_the_directory(cache_dir: Path, tree: Path, counter: LoadCounter):
    # source: Terraform language docs, "Variable Definition Precedence" (*.auto.tfvars are read)
    counter.run(tree)
    (tree / "on.auto.tfvars").write_text("rotate = true\n")
    result, loaded = counter.run(tree)
    assert str(tree) in loaded
    assert key_rotation(result.inventory)["aws_kms_key.root"] is True


def test_a_deleted_module_file_reloads_the_root(cache_dir: Path, tree: Path, counter: LoadCounter):
    (tree / "modules" / "inner" / "more.tf").write_text('resource "aws_kms_key" "more" {}\n')
    counter.run(tree)
    (tree / "modules" / "inner" / "more.tf").unlink()
    result, loaded = counter.run(tree)
    assert str(tree) in loaded
    assert "module.inner.aws_kms_key.more" not in key_rotation(result.inventory)


def test_a_deleted_root_file_is_not_served_from_the_cache(cache_dir: Path, tree: Path, counter: LoadCounter):
    (tree / "second.tf").write_text('resource "aws_kms_key" "second" {}\n')
    counter.run(tree)
    (tree / "second.tf").unlink()
    result, loaded = counter.run(tree)
    assert str(tree) in loaded
    assert "aws_kms_key.second" not in key_rotation(result.inventory)


def test_a_changed_file_function_target_reloads(cache_dir: Path, tree: Path, counter: LoadCounter):
    first, _ = counter.run(tree)
    narrowed = {**PUBLIC_POLICY, "Statement": [{**PUBLIC_POLICY["Statement"][0], "Action": "kms:Decrypt"}]}
    (tree / "policy.json").write_text(json.dumps(narrowed))
    second, loaded = counter.run(tree)
    assert sorted(loaded) == [str(tree), str(tree / "policy.json")]
    assert second.sources[str(tree / "policy.json")] != first.sources[str(tree / "policy.json")]


def test_a_missing_file_function_target_that_appears_reloads(
    cache_dir: Path, tree: Path, counter: LoadCounter
):
    (tree / "main.tf").write_text(ROOT_TF.replace("policy.json", "later/key-policy.txt"))
    first, _ = counter.run(tree)
    root_key = next(k for k in first.inventory.keys if k.address == "aws_kms_key.root")
    assert root_key.policy is not None and not hasattr(root_key.policy, "statements")  # not readable yet
    (tree / "later").mkdir()
    # .txt: discovery does not pick it up, only file() reads it
    (tree / "later" / "key-policy.txt").write_text(json.dumps(PUBLIC_POLICY))
    second, loaded = counter.run(tree)
    assert loaded == [str(tree)]
    root_key = next(k for k in second.inventory.keys if k.address == "aws_kms_key.root")
    assert hasattr(root_key.policy, "statements")


def test_a_changed_template_reloads_only_itself(cache_dir: Path, tree: Path, counter: LoadCounter):
    counter.run(tree)
    (tree / "template.yaml").write_text(
        (tree / "template.yaml").read_text() + "  K2:\n    Type: AWS::KMS::Key\n"
    )
    result, loaded = counter.run(tree)
    assert loaded == [str(tree / "template.yaml")]
    assert "K2" in key_rotation(result.inventory)


def test_another_context_is_another_entry(cache_dir: Path, tree: Path, counter: LoadCounter):
    counter.run(tree)
    _, loaded = counter.run(tree, LoadContext(account="111122223333"))
    assert sorted(loaded) == all_units(tree)
    _, loaded_again = counter.run(tree, LoadContext(account="111122223333"))
    assert loaded_again == []


def test_other_kmsguard_code_does_not_use_the_entries(
    cache_dir: Path, tree: Path, counter: LoadCounter, monkeypatch: pytest.MonkeyPatch
):
    counter.run(tree)
    monkeypatch.setattr(cache, "code_stamp", lambda: "another version of kmsguard")
    _, loaded = counter.run(tree)
    assert sorted(loaded) == all_units(tree)


def test_the_code_stamp_covers_every_loader_and_model_source(tmp_path: Path):
    package = tmp_path / "kmsguard"
    for name in ("load/terraform/module.py", "model/values.py", "findings.py", "__init__.py"):
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text("# v1\n")
    before = cache.stamp_of(package, "0.1.0")
    assert cache.stamp_of(package, "0.1.0") == before
    assert cache.stamp_of(package, "0.2.0") != before
    for name in ("load/terraform/module.py", "model/values.py", "findings.py"):
        (package / name).write_text("# v2\n")
        assert cache.stamp_of(package, "0.1.0") != before, name
        (package / name).write_text("# v1\n")
    (package / "load" / "new_loader.py").write_text("")
    assert cache.stamp_of(package, "0.1.0") != before


@pytest.mark.parametrize(
    "garbage",
    [
        b"",
        b"not a pickle at all",
        pickle.dumps({"format": 1})[:-3],  # truncated
        pickle.dumps(["a list, not an entry"]),
        b"\x80\x05\x95" + b"\xff" * 40,
    ],
)
def test_a_corrupt_entry_is_ignored_and_replaced(
    cache_dir: Path, tree: Path, counter: LoadCounter, garbage: bytes
):
    counter.run(tree)
    entries = sorted(cache_dir.glob("load/*/*.pickle"))
    assert len(entries) == len(all_units(tree))
    for entry in entries:
        entry.write_bytes(garbage)
    result, loaded = counter.run(tree)
    assert sorted(loaded) == all_units(tree)
    assert "aws_kms_key.root" in key_rotation(result.inventory)
    _, loaded_again = counter.run(tree)
    assert loaded_again == []  # the corrupt entries were overwritten with good ones


def test_an_entry_of_another_unit_is_not_used(cache_dir: Path, tree: Path, counter: LoadCounter):
    counter.run(tree)
    unit = cache.LoadUnit("cloudformation", str(tree / "template.yaml"), (str(tree / "template.yaml"),))
    entry_path = next(cache_dir.glob(f"load/*/{cache.unit_key(unit, LoadContext())}.pickle"))
    root_entry = next(p for p in cache_dir.glob("load/*/*.pickle") if p != entry_path)
    entry_path.write_bytes(root_entry.read_bytes())  # a valid entry, but for the wrong key
    assert cache.lookup(unit, LoadContext()) is None


def test_no_cache_setting_reads_and_writes_nothing(
    cache_dir: Path, tree: Path, counter: LoadCounter, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("KMSGUARD_NO_CACHE", "1")
    counter.run(tree)
    _, loaded = counter.run(tree)
    assert sorted(loaded) == all_units(tree)
    assert not cache_dir.exists()


def test_an_unwritable_cache_is_simply_not_used(
    tmp_path: Path, tree: Path, counter: LoadCounter, monkeypatch: pytest.MonkeyPatch
):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("KMSGUARD_CACHE_DIR", str(blocker / "cache"))  # under a file: cannot be created
    monkeypatch.delenv("KMSGUARD_NO_CACHE", raising=False)
    first, _ = counter.run(tree)
    second, loaded = counter.run(tree)
    assert sorted(loaded) == all_units(tree)
    assert second.inventory == first.inventory


def test_unreadable_input_errors_are_cached_and_revalidated(
    cache_dir: Path, tmp_path: Path, counter: LoadCounter
):
    root = tmp_path / "bad"
    root.mkdir()
    (root / "policy.json").write_bytes(b'{"Statement": [\xff]}')  # invalid UTF-8
    first, _ = counter.run(root)
    assert [e.path for e in first.errors] == [str(root / "policy.json")]
    second, loaded = counter.run(root)
    assert loaded == []
    assert second.errors == first.errors
    (root / "policy.json").write_text(json.dumps(PUBLIC_POLICY))
    third, loaded = counter.run(root)
    assert loaded == [str(root / "policy.json")]
    assert third.errors == []


# -- checking a file without reading it: stats, as git's index does, and the racy case ------------

HOUR_NS = 3600 * 10**9


def age(root: Path, by_ns: int = HOUR_NS) -> None:
    """Every file under ``root`` last modified ``by_ns`` ago (well before any load in the test)."""
    import os
    import time

    when = time.time_ns() - by_ns
    for path in root.rglob("*"):
        if path.is_file():
            os.utime(path, ns=(when, when))


class DigestCounter:
    """Counts the files whose content the cache re-reads to decide whether an entry is current."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.read: list[str] = []
        original = cache.read_digest

        def counting(path: str, limit: int) -> str:
            self.read.append(path)
            return original(path, limit)

        monkeypatch.setattr(cache, "read_digest", counting)


def test_files_untouched_since_long_before_the_load_are_not_read_again(
    cache_dir: Path, tree: Path, counter: LoadCounter, monkeypatch: pytest.MonkeyPatch
):
    age(tree)
    cold, _ = counter.run(tree)
    digests = DigestCounter(monkeypatch)
    warm, loaded = counter.run(tree)
    assert loaded == []
    assert digests.read == []  # decided by os.stat alone
    assert warm.inventory == cold.inventory


def test_a_file_written_just_before_the_load_is_rehashed_until_it_is_old(
    cache_dir: Path, tree: Path, counter: LoadCounter, monkeypatch: pytest.MonkeyPatch
):
    # The fixture wrote the files just now: their mtime is within RACY_MARGIN_NS of the load, so a
    # later write in the same clock tick could leave the stat unchanged. Content decides.
    counter.run(tree)
    digests = DigestCounter(monkeypatch)
    _, loaded = counter.run(tree)
    assert loaded == []
    assert str(tree / "template.yaml") in digests.read


def test_racily_clean_edit_with_an_unchanged_stat_is_still_seen(
    cache_dir: Path, tree: Path, counter: LoadCounter, monkeypatch: pytest.MonkeyPatch
):
    """The racy case: a file edited right after it was read, on a file system whose timestamps did
    not move (coarse clock) and with the same size, has exactly the stat the entry recorded. The
    entry was stored less than RACY_MARGIN_NS after the file's mtime, so it is re-hashed."""
    template = tree / "template.yaml"
    counter.run(tree)
    recorded = cache.file_stat(str(template))
    original = template.read_text()
    template.write_text(original.replace("KMS::Key", "KMS::KEY"))  # same size, other content
    real_stat = cache.file_stat
    monkeypatch.setattr(
        cache, "file_stat", lambda path: recorded if path == str(template) else real_stat(path)
    )
    _, loaded = counter.run(tree)
    assert loaded == [str(template)]


def test_setting_the_mtime_back_after_an_edit_does_not_hide_it(
    cache_dir: Path, tree: Path, counter: LoadCounter
):
    # ctime is part of the stat, and no user can set it back (utime itself changes it).
    import os

    age(tree)
    template = tree / "template.yaml"
    counter.run(tree)
    before = os.stat(template)
    template.write_text(template.read_text().replace("KMS::Key", "KMS::KEY"))
    os.utime(template, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert os.stat(template).st_size == before.st_size
    _, loaded = counter.run(tree)
    assert loaded == [str(template)]


@pytest.mark.parametrize(
    ("change", "trusted"),
    [
        ("none", True),
        ("size", False),
        ("mtime", False),
        ("ctime", False),
        ("inode", False),
        ("device", False),
    ],
)
def test_which_stats_prove_a_file_unchanged(change: str, trusted: bool):
    recorded = (100, 5 * HOUR_NS, 5 * HOUR_NS, 42, 7)
    position = {"size": 0, "mtime": 1, "ctime": 2, "inode": 3, "device": 4}.get(change)
    now = (
        recorded
        if position is None
        else tuple(v + (1 if i == position else 0) for i, v in enumerate(recorded))
    )
    assert cache.stat_proves_unchanged(recorded, now, digested_ns=6 * HOUR_NS) is trusted  # type: ignore[arg-type]


def test_a_stat_within_the_racy_margin_of_the_digest_proves_nothing():
    mtime = 5 * HOUR_NS
    stat = (100, mtime, mtime, 42, 7)
    assert not cache.stat_proves_unchanged(stat, stat, digested_ns=mtime + cache.RACY_MARGIN_NS)
    assert cache.stat_proves_unchanged(stat, stat, digested_ns=mtime + cache.RACY_MARGIN_NS + 1)
    assert not cache.stat_proves_unchanged(None, None, digested_ns=mtime + HOUR_NS)  # never read


def test_rehashed_entries_are_rewritten_with_fresh_stats(
    cache_dir: Path, tree: Path, counter: LoadCounter, monkeypatch: pytest.MonkeyPatch
):
    # Stored while the files were new (racy); once they are old, one validation by content records
    # their stats and the run after that reads nothing.
    counter.run(tree)
    age(tree)  # (touches ctime too: the stats differ from the entry's, as after a checkout)
    first = DigestCounter(monkeypatch)
    _, loaded = counter.run(tree)
    assert loaded == [] and first.read
    second = DigestCounter(monkeypatch)
    counter.run(tree)
    assert second.read == []


def test_a_valid_entry_is_read_without_unpickling_its_result(
    cache_dir: Path, tree: Path, counter: LoadCounter
):
    counter.run(tree)
    unit = cache.LoadUnit("cloudformation", str(tree / "template.yaml"), (str(tree / "template.yaml"),))
    entry = cache.validated(unit, LoadContext())
    assert entry is not None
    result = entry.result()
    assert isinstance(result, LoadResult) and result.inventory.keys
    # The identity names the content: an edit gives another one.
    (tree / "template.yaml").write_text((tree / "template.yaml").read_text() + "\n# edited\n")
    assert cache.validated(unit, LoadContext()) is None
    check.load_inputs([str(tree)], LoadContext(), jobs=1)
    again = cache.validated(unit, LoadContext())
    assert again is not None and again.identity != entry.identity
