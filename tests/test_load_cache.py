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
