"""Input discovery: walking, skipping, .gitignore, symlink loops, classification by content."""

from __future__ import annotations

import builtins
import json
import os
from pathlib import Path
from typing import Any

import pytest

from kmsguard.load import discover as discover_module
from kmsguard.load.discover import HEAD_BYTES, Input, classify, discover
from tests.shared_paths import REALWORLD

KEY_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"}],
    }
)
CFN_YAML = "AWSTemplateFormatVersion: '2010-09-09'\nResources:\n  Key:\n    Type: AWS::KMS::Key\n"
CFN_YAML_NO_VERSION = "Resources:\n  Key:\n    Type: 'AWS::KMS::Key'\n    Properties: {}\n"
PLAN = json.dumps({"format_version": "1.2", "planned_values": {"root_module": {}}})


def write(root: Path, relative: str, content: str | bytes) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def kinds(inputs: list[Input], root: Path) -> dict[str, str]:
    return {os.path.relpath(i.path, root): i.kind for i in inputs}


# -- classify --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "kind"),
    [
        ("main.tf", 'resource "aws_kms_key" "k" {}', "terraform"),
        ("prod.tfvars", 'region = "eu-west-1"', "tfvars"),
        ("x.auto.tfvars", "a = 1", "tfvars"),
        (
            "template.json",
            json.dumps({"AWSTemplateFormatVersion": "2010-09-09", "Resources": {}}),
            "cloudformation",
        ),
        ("template.json", json.dumps({"Resources": {"K": {"Type": "AWS::KMS::Key"}}}), "cloudformation"),
        ("plan.json", PLAN, "plan"),
        ("plan.json", json.dumps({"format_version": "1.2", "resource_changes": []}), "plan"),
        # State output (`terraform show -json` without a plan) has values, not planned_values.
        ("state.json", json.dumps({"format_version": "1.0", "values": {"root_module": {}}}), None),
        ("key.json", KEY_POLICY, "policy"),
        ("key.json", json.dumps({"KeyPolicy": json.loads(KEY_POLICY)}), "policy"),
        ("key.json", json.dumps({"Policy": KEY_POLICY, "PolicyName": "default"}), "policy"),
        ("v.json", json.dumps({"PolicyVersion": {"Document": json.loads(KEY_POLICY)}}), "policy"),
        ("package.json", json.dumps({"name": "x", "version": "1.0.0"}), None),
        ("tsconfig.json", json.dumps({"compilerOptions": {"Statement": 1}}), None),
        ("broken-policy.json", '{"Statement": [', "policy"),
        ("stack.yaml", CFN_YAML, "cloudformation"),
        ("stack.yml", CFN_YAML_NO_VERSION, "cloudformation"),
        ("stack.template", CFN_YAML, "cloudformation"),
        ("stack.template", json.dumps({"AWSTemplateFormatVersion": "2010-09-09"}), "cloudformation"),
        (".pre-commit-config.yaml", "repos:\n  - repo: https://x\n    hooks:\n      - id: y\n", None),
        ("k8s.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n", None),
        ("README.md", "AWSTemplateFormatVersion: x", None),
    ],
)
def test_classify(name: str, content: str, kind: str | None) -> None:
    assert classify(name, content.encode()) == kind


def test_classify_binary_head_is_not_ours() -> None:
    assert classify("main.tf", b"\x00\x01") is None


def test_classify_large_json_policy_by_its_head() -> None:
    # Past HEAD_BYTES the file cannot be decoded whole; the head's keys decide.
    head = ('{"Version": "2012-10-17", "Statement": [' + " " * HEAD_BYTES)[:HEAD_BYTES]
    assert classify("big.json", head.encode()) == "policy"


# -- discover --------------------------------------------------------------------------------------


def test_walk_is_sorted_and_classifies(tmp_path: Path) -> None:
    write(tmp_path, "b/main.tf", 'resource "aws_kms_key" "k" {}')
    write(tmp_path, "a/key.json", KEY_POLICY)
    write(tmp_path, "a/stack.yaml", CFN_YAML)
    write(tmp_path, "a/package.json", '{"name": "x"}')
    write(tmp_path, "notes.txt", "Statement")
    write(tmp_path, "plan.json", PLAN)
    inputs, errors = discover([str(tmp_path)])
    assert errors == []
    assert [os.path.relpath(i.path, tmp_path) for i in inputs] == [
        os.path.join("a", "key.json"),
        os.path.join("a", "stack.yaml"),
        os.path.join("b", "main.tf"),
        "plan.json",
    ]
    assert kinds(inputs, tmp_path)["plan.json"] == "plan"
    assert discover([str(tmp_path)]) == (inputs, errors)


def test_skipped_directories(tmp_path: Path) -> None:
    for folder in (".git", ".terraform", "node_modules", ".venv", "__pycache__"):
        write(tmp_path, f"{folder}/main.tf", "x = 1")
    write(tmp_path, "main.tf", "x = 1")
    inputs, _ = discover([str(tmp_path)])
    assert kinds(inputs, tmp_path) == {"main.tf": "terraform"}


def test_gitignore_is_honoured_with_negation_and_nesting(tmp_path: Path) -> None:
    # Git's rules ("gitignore" documentation): patterns are relative to the .gitignore's folder,
    # "!" re-includes, the last matching pattern wins, deeper files come later.
    write(tmp_path, ".gitignore", "*.json\n!keep.json\nbuild/\n")
    write(tmp_path, "drop.json", KEY_POLICY)
    write(tmp_path, "keep.json", KEY_POLICY)
    write(tmp_path, "build/main.tf", "x = 1")
    write(tmp_path, "sub/.gitignore", "!again.json\nlocal.tf\n")
    write(tmp_path, "sub/again.json", KEY_POLICY)
    write(tmp_path, "sub/local.tf", "x = 1")
    write(tmp_path, "sub/main.tf", "x = 1")
    inputs, errors = discover([str(tmp_path)])
    assert errors == []
    assert sorted(kinds(inputs, tmp_path)) == sorted(
        ["keep.json", os.path.join("sub", "again.json"), os.path.join("sub", "main.tf")]
    )


def test_no_gitignore_means_pathspec_is_not_imported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def guarded(name: str, *args: Any, **kwargs: Any) -> Any:
        assert name != "pathspec", "pathspec imported without a .gitignore"
        return real_import(name, *args, **kwargs)

    write(tmp_path, "main.tf", "x = 1")
    monkeypatch.setattr(builtins, "__import__", guarded)
    inputs, _ = discover([str(tmp_path)])
    assert len(inputs) == 1


def test_symlink_loop_terminates(tmp_path: Path) -> None:
    write(tmp_path, "mod/main.tf", "x = 1")
    os.symlink(tmp_path, tmp_path / "mod" / "loop")
    os.symlink(tmp_path / "mod", tmp_path / "alias")
    inputs, errors = discover([str(tmp_path)])
    assert errors == []
    # The module is read once, whichever path reaches it first in sorted order.
    assert len(inputs) == 1 and inputs[0].kind == "terraform"


def test_named_files_not_ours_are_skipped_silently(tmp_path: Path) -> None:
    other = write(tmp_path, ".pre-commit-config.yaml", "repos: []\n")
    package = write(tmp_path, "package.json", '{"name": "x"}')
    readme = write(tmp_path, "README.md", "hello")
    inputs, errors = discover([str(other), str(package), str(readme)])
    assert inputs == [] and errors == []


def test_named_file_in_a_skipped_or_ignored_place_is_still_read(tmp_path: Path) -> None:
    write(tmp_path, ".gitignore", "*.tf\n")
    named = write(tmp_path, ".terraform/x.tf", "x = 1")
    inputs, _ = discover([str(named)])
    assert [i.kind for i in inputs] == ["terraform"]


def test_missing_path_is_an_input_error(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.tf")
    inputs, errors = discover([missing, str(write(tmp_path, "main.tf", "x = 1"))])
    assert [str(e) for e in errors] == [f"{missing}: no such file or directory"]
    assert errors[0].line == 0
    assert len(inputs) == 1  # the rest still loads


def test_dangling_symlink_met_while_walking(tmp_path: Path) -> None:
    os.symlink(tmp_path / "gone.tf", tmp_path / "link.tf")
    os.symlink(tmp_path / "gone.txt", tmp_path / "link.txt")
    _, errors = discover([str(tmp_path)])
    assert [(os.path.basename(e.path), e.message) for e in errors] == [
        ("link.tf", "no such file or directory")
    ]


def test_binary_files(tmp_path: Path) -> None:
    write(tmp_path, "bin.tf", b"\x00\x01\x02")
    write(tmp_path, "image.png", b"\x89PNG\x00")
    write(tmp_path, "data.bin", b"\x00")
    inputs, errors = discover([str(tmp_path)])
    assert inputs == []
    assert [(os.path.basename(e.path), e.line, e.message) for e in errors] == [
        ("bin.tf", 0, "binary file, not text")
    ]


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "main.tf", "x = 1")
    path.chmod(0)
    try:
        really_unreadable = not os.access(path, os.R_OK)
        if really_unreadable:
            _, errors = discover([str(path)])
            assert len(errors) == 1 and errors[0].message.startswith("cannot read")
    finally:
        path.chmod(0o644)
    if not really_unreadable:
        # Running as root: chmod 000 does not stop reads. Exercise the same path through open().
        real_open = builtins.open

        def denied(file: Any, *args: Any, **kwargs: Any) -> Any:
            if os.fspath(file) == os.path.normpath(str(path)):
                raise PermissionError(13, "Permission denied", str(file))
            return real_open(file, *args, **kwargs)

        monkeypatch.setattr(builtins, "open", denied)
        inputs, errors = discover([str(path), str(write(tmp_path, "ok.tf", "x = 1"))])
        assert [str(e) for e in errors] == [f"{os.path.normpath(str(path))}: cannot read: Permission denied"]
        assert [os.path.basename(i.path) for i in inputs] == ["ok.tf"]


def test_duplicates_are_reported_once(tmp_path: Path) -> None:
    path = write(tmp_path, "main.tf", "x = 1")
    inputs, _ = discover([str(path), str(tmp_path), f"{tmp_path}/./main.tf"])
    assert len(inputs) == 1


def test_real_world_corpus_classification() -> None:
    root = REALWORLD
    assert root.is_dir(), "the shared real-world corpus must be present"
    inputs, errors = discover([str(root)])
    assert errors == []
    by_name = {Path(i.path).name: i.kind for i in inputs}
    assert by_name["key-policy.json"] == "policy"
    assert by_name["kms.tf"] == "terraform"
    assert by_name["kms-key.yaml"] == "cloudformation"  # widdix template
    assert by_name["destination.yaml"] == "cloudformation"


def test_head_size_is_about_64_kb() -> None:
    assert discover_module.HEAD_BYTES == 64 * 1024
