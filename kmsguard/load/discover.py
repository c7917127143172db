"""Find the inputs kmsguard reads under the paths it is given, and say what kind each one is.

The kind is decided by content, not only by extension: a pre-commit hook hands over every staged
JSON and YAML file, and most of them (package.json, .pre-commit-config.yaml...) are not ours.
Explicitly named files that are not ours are skipped silently for that reason; a named path that
does not exist, or a file that cannot be read, is an ``InputError``.

Directory walks are sorted (deterministic output), skip tool and VCS folders, honour ``.gitignore``
files (with ``pathspec``, imported only when a ``.gitignore`` exists), and follow a symlinked
directory only once, so links that point back up the tree cannot loop.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from kmsguard.findings import InputError

HEAD_BYTES = 64 * 1024
SKIP_DIRS = frozenset({".git", ".terraform", "node_modules", ".venv", "__pycache__"})
# Files with these endings are meant as text of a kind kmsguard reads: unreadable or binary ones
# are errors, not silently skipped.
_TEXT_ENDINGS = (".tf", ".json", ".yaml", ".yml", ".template", ".tfvars", ".tpl")

_CFN_VERSION = re.compile(r"""["']?AWSTemplateFormatVersion["']?\s*:""")
_JSON_RESOURCES = re.compile(r'"Resources"\s*:\s*\{')
_JSON_AWS_TYPE = re.compile(r'"Type"\s*:\s*"AWS::')
_YAML_RESOURCES = re.compile(r"^Resources\s*:\s*(?:#.*)?$", re.MULTILINE)
_YAML_AWS_TYPE = re.compile(r"""^\s+Type\s*:\s*["']?AWS::""", re.MULTILINE)
_PLAN_VERSION = re.compile(r'"format_version"\s*:')
_PLAN_BODY = re.compile(r'"(?:planned_values|resource_changes)"\s*:')
_POLICY_WRAPPERS = ("KeyPolicy", "PolicyDocument", "PolicyVersion")


@dataclass(frozen=True)
class Input:
    path: str  # as given, or joined to the directory that was given
    kind: str  # "terraform" | "tfvars" | "cloudformation" | "plan" | "policy" | "snapshot"


def discover(paths: Sequence[str]) -> tuple[list[Input], list[InputError]]:
    """Every input under ``paths`` (files and directories), in a stable order, without duplicates."""
    inputs: list[Input] = []
    errors: list[InputError] = []
    seen: set[str] = set()
    for given in paths:
        if os.path.isdir(given):
            candidates: Iterator[str | InputError] = walk(given)
        elif os.path.exists(given):
            candidates = iter([given])
        else:
            errors.append(InputError(given, 0, "no such file or directory"))
            continue
        for path in candidates:
            if isinstance(path, InputError):
                errors.append(path)
                continue
            shown = os.path.normpath(path)
            if shown in seen:
                continue
            seen.add(shown)
            found = inspect(shown)
            if isinstance(found, InputError):
                errors.append(found)
            elif found is not None:
                inputs.append(found)
    return inputs, errors


def inspect(path: str) -> Input | InputError | None:
    """Read the head of one file and classify it. Only files whose names say they are text of a
    kind kmsguard reads are opened, and only for those is a failure an error."""
    if path.lower().endswith(".json.gz"):
        return _inspect_gzip(path)
    if not _has_text_ending(path):
        return None
    if not os.path.exists(path):
        return InputError(path, 0, "no such file or directory")  # a dangling symlink
    try:
        with open(path, "rb") as handle:
            head = handle.read(HEAD_BYTES)
    except OSError as err:
        return InputError(path, 0, f"cannot read: {err.strerror or err}")
    if b"\x00" in head:
        return InputError(path, 0, "binary file, not text")
    kind = classify(path, head)
    return Input(path, kind) if kind else None


def classify(path: str, head: bytes) -> str | None:
    """The kind of input a file is, from its name and the first bytes of its content; None when
    it is not an input kmsguard reads."""
    name = os.path.basename(path).lower()
    if b"\x00" in head:
        return None
    if name.endswith(".tf"):
        return "terraform"
    if name.endswith(".tfvars"):
        return "tfvars"
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff")
    if name.endswith(".json"):
        from kmsguard.load.snapshot import is_snapshot_head

        if is_snapshot_head(head):
            return "snapshot"
        return _classify_json(text, complete=len(head) < HEAD_BYTES)
    if name.endswith(".tpl"):
        # A Terraform template (templatefile) holding a JSON policy: read with its ${...}
        # placeholders as unknown values. Other templates (user data, YAML...) are not ours.
        stripped = text.lstrip()
        return "policy-template" if stripped.startswith("{") and '"Statement"' in text else None
    if name.endswith((".yaml", ".yml", ".template")):
        if text.lstrip().startswith("{"):
            return "cloudformation" if _is_json_template(text) else None
        return "cloudformation" if _is_yaml_template(text) else None
    return None


def _inspect_gzip(path: str) -> Input | InputError | None:
    """A gzip-compressed audit snapshot (``kmsguard audit --save snap.json.gz``); other gzip
    files are not ours."""
    from kmsguard.load.snapshot import is_gzip_snapshot

    try:
        with open(path, "rb") as handle:
            head = handle.read(HEAD_BYTES)
    except OSError as err:
        return InputError(path, 0, f"cannot read: {err.strerror or err}")
    return Input(path, "snapshot") if is_gzip_snapshot(path, head) else None


def walk(root: str) -> Iterator[str | InputError]:
    """Files under ``root``, sorted, skipping ``SKIP_DIRS`` and what ``.gitignore`` files exclude;
    a directory that cannot be listed is an ``InputError`` in the stream."""
    visited: set[str] = set()
    yield from _walk_dir(root, [], visited)


def _walk_dir(
    directory: str, ignores: list[tuple[str, Any]], visited: set[str]
) -> Iterator[str | InputError]:
    real = os.path.realpath(directory)
    if real in visited:
        return  # a symlink back to a directory already walked
    visited.add(real)
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError as err:
        yield InputError(directory, 0, f"cannot read directory: {err.strerror or err}")
        return
    spec = _gitignore_spec(os.path.join(directory, ".gitignore"))
    rules = [*ignores, (directory, spec)] if spec is not None else ignores
    for entry in entries:
        is_dir = entry.is_dir(follow_symlinks=True)
        if is_dir and entry.name in SKIP_DIRS:
            continue
        if _ignored(entry.path, is_dir, rules):
            continue
        if is_dir:
            yield from _walk_dir(entry.path, rules, visited)
        else:
            yield entry.path


def _gitignore_spec(path: str) -> Any:
    if not os.path.isfile(path):
        return None
    import pathspec  # only when a .gitignore exists: keeps start-up light

    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    return pathspec.GitIgnoreSpec.from_lines(lines)


def _ignored(path: str, is_dir: bool, rules: list[tuple[str, Any]]) -> bool:
    """Git's rule: the last matching pattern decides, deeper .gitignore files after shallower."""
    decision: bool | None = None
    for base, spec in rules:
        relative = os.path.relpath(path, base).replace(os.sep, "/") + ("/" if is_dir else "")
        if hasattr(spec, "check_file"):
            include = spec.check_file(relative).include
        else:  # pathspec < 0.12: no negation bookkeeping, a match excludes
            include = True if spec.match_file(relative) else None
        if include is not None:
            decision = include
    return bool(decision)


def _classify_json(text: str, *, complete: bool) -> str | None:
    if _PLAN_VERSION.search(text) and _PLAN_BODY.search(text):
        return "plan"
    if _is_json_template(text):
        return "cloudformation"
    if _is_policy(text, complete=complete):
        return "policy"
    return None


def _is_json_template(text: str) -> bool:
    return bool(_CFN_VERSION.search(text) or (_JSON_RESOURCES.search(text) and _JSON_AWS_TYPE.search(text)))


def _is_yaml_template(text: str) -> bool:
    return bool(_CFN_VERSION.search(text) or (_YAML_RESOURCES.search(text) and _YAML_AWS_TYPE.search(text)))


def _is_policy(text: str, *, complete: bool) -> bool:
    """A policy document or a known wrapper, judged on its top-level keys when the whole file was
    read (policies are small: key policies are at most 32 KB); on the head's text otherwise."""
    if not complete:
        return bool(re.search(r'"(?:Statement|KeyPolicy|PolicyVersion)"\s*:', text))
    try:
        document = json.loads(text)
    except ValueError:
        # Broken JSON that looks like a policy is still ours: the loader reports where it breaks.
        return bool(re.search(r'"Statement"\s*:', text))
    if not isinstance(document, dict):
        return False
    if "Statement" in document or any(k in document for k in _POLICY_WRAPPERS):
        return True
    return isinstance(document.get("Policy"), str) and "Statement" in document["Policy"]


def _has_text_ending(path: str) -> bool:
    return os.path.basename(path).lower().endswith(_TEXT_ENDINGS)


__all__ = ["HEAD_BYTES", "SKIP_DIRS", "Input", "classify", "discover", "walk"]
