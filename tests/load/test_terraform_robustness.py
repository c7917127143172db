"""Robustness: every Terraform directory of the corpora loads without an exception.

``load_terraform`` never raises; an unexpected exception inside it would surface as an
``InputError`` saying "internal error", so that is what these tests look for. Real syntax errors
in the corpus (if any) are InputErrors too, and are counted and printed, not failed.
"""

from __future__ import annotations

import os
from collections import defaultdict

import pytest

from kmsguard.load.base import LoadContext
from kmsguard.load.terraform import load_terraform
from tests.shared_paths import CORPUS, CORPUS_ODD, REALWORLD

CORPORA = (
    CORPUS / "tf",
    REALWORLD,
    CORPUS_ODD,
)
MISSING = "<corpus missing>"


def corpus_directories() -> dict[str, list[str]]:
    directories: dict[str, list[str]] = defaultdict(list)
    for root in CORPORA:
        if not root.is_dir():
            continue
        for directory, _, names in os.walk(root):
            for name in sorted(names):
                if name.endswith(".tf"):
                    directories[directory].append(os.path.join(directory, name))
    return dict(sorted(directories.items()))


DIRECTORIES = corpus_directories()


def test_corpus_is_present() -> None:
    assert DIRECTORIES, f"no Terraform corpus under {CORPORA}"
    assert sum(len(files) for files in DIRECTORIES.values()) > 500


@pytest.mark.parametrize("directory", sorted(DIRECTORIES) or [MISSING])
def test_directory_loads_without_exception(directory: str) -> None:
    assert directory != MISSING, f"no Terraform corpus under {CORPORA}"
    result = load_terraform(directory, DIRECTORIES[directory], LoadContext())
    internal = [
        str(e) for e in result.errors if "internal error" in e.message or "nested too deeply" in e.message
    ]
    assert not internal, internal
    for path in DIRECTORIES[directory]:
        assert path in result.sources or any(e.path == path for e in result.errors)


def test_input_errors_are_counted(capsys: pytest.CaptureFixture[str]) -> None:
    errors = []
    keys = 0
    for directory, files in DIRECTORIES.items():
        result = load_terraform(directory, files, LoadContext())
        errors.extend(result.errors)
        keys += len(result.inventory.keys)
    with capsys.disabled():
        print(f"\nTerraform corpus: {len(DIRECTORIES)} directories, {keys} keys, {len(errors)} InputErrors")
        for error in errors:
            print(f"  {error}")
    assert all(e.line >= 0 and e.message for e in errors)
    assert keys > 0
