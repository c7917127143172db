"""Differential test: kmsguard's CloudFormation decoder against cfn-lint's, on every real template.

For each .yaml/.yml/.json/.template file under the corpora, both decoders read the text and the
plain values (``to_plain``) must be equal. A file both decoders reject counts as agreement; a
file only one rejects is a difference. Known, intended differences (see ``cfn_yaml``'s module
docstring) are normalised explicitly here, each with its reason, so that anything else fails:

* cfn-lint turns unquoted YAML timestamps into ``datetime.date`` / ``datetime`` objects; kmsguard
  keeps the text written. The text must be the one cfn-lint parsed: re-reading it with PyYAML's
  timestamp constructor must give cfn-lint's value.
* Every robustness check of the loader lives in test_cloudformation.py; this file is the decoder.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from kmsguard.load.cfn_yaml import TemplateDecodeError, decode_template
from kmsguard.model import to_plain
from tests.shared_paths import CORPUS, REALWORLD

CORPUS_ROOTS = (CORPUS / "cfn", REALWORLD)
SUFFIXES = (".yaml", ".yml", ".json", ".template")


def _template_files() -> list[Path]:
    files: list[Path] = []
    for root in CORPUS_ROOTS:
        # A missing corpus must fail the run, never shrink it silently.
        assert root.is_dir(), f"corpus directory {root} is missing"
        files.extend(sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in SUFFIXES))
    return files


TEMPLATE_FILES = _template_files()


def test_corpus_is_not_empty() -> None:
    # 179 templates under corpus/cfn and 13 under realworld-kms when this test was written.
    assert len(TEMPLATE_FILES) >= 150


def _cfnlint_decode(text: str) -> tuple[Any, bool]:
    from cfnlint.decode import decode_str

    template, matches = decode_str(text)
    return template, not matches and template is not None


def _normalise_timestamps(ours: Any, theirs: Any) -> Any:
    """Where cfn-lint has a date/datetime, accept kmsguard's text if it denotes that value."""
    if isinstance(theirs, (datetime.date, datetime.datetime)) and isinstance(ours, str):
        reread = yaml.safe_load(f"v: {ours}")["v"]
        return theirs if reread == theirs else ours
    if isinstance(theirs, dict) and isinstance(ours, dict):
        return {k: _normalise_timestamps(v, theirs.get(k)) for k, v in ours.items()}
    if isinstance(theirs, list) and isinstance(ours, list) and len(ours) == len(theirs):
        return [_normalise_timestamps(o, t) for o, t in zip(ours, theirs, strict=True)]
    return ours


def _first_difference(ours: Any, theirs: Any, where: str = "$") -> str | None:
    if isinstance(ours, dict) and isinstance(theirs, dict):
        for key in sorted(set(ours) | set(theirs), key=str):
            if key not in ours or key not in theirs:
                side = "cfn-lint only" if key not in ours else "kmsguard only"
                return f"{where}.{key}: {side}"
            found = _first_difference(ours[key], theirs[key], f"{where}.{key}")
            if found:
                return found
        return None
    if isinstance(ours, list) and isinstance(theirs, list):
        if len(ours) != len(theirs):
            return f"{where}: {len(ours)} items vs {len(theirs)}"
        for index, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            found = _first_difference(a, b, f"{where}[{index}]")
            if found:
                return found
        return None
    if ours != theirs or (type(ours) is not type(theirs) and not _same_number(ours, theirs)):
        return f"{where}: kmsguard {ours!r} vs cfn-lint {theirs!r}"
    return None


def _same_number(a: Any, b: Any) -> bool:
    return isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool) and a == b


def test_comparison_sees_differences() -> None:
    # The comparison itself must be able to fail: a changed value, a missing key, a wrong date text.
    assert _first_difference({"a": ["x"]}, {"a": ["y"]}) == "$.a[0]: kmsguard 'x' vs cfn-lint 'y'"
    assert _first_difference({"a": 1}, {"a": 1, "b": 2}) == "$.b: cfn-lint only"
    assert _first_difference({"a": True}, {"a": 1}) is not None
    written = {"v": "2010-09-10"}
    parsed = {"v": datetime.date(2010, 9, 9)}
    assert _first_difference(_normalise_timestamps(written, parsed), parsed) is not None
    assert _first_difference(_normalise_timestamps({"v": "2010-09-09"}, parsed), parsed) is None


@pytest.mark.parametrize("path", TEMPLATE_FILES, ids=lambda p: str(p).split("/shared/", 1)[-1])
def test_decoders_agree(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    theirs, cfnlint_ok = _cfnlint_decode(text)
    try:
        ours = to_plain(decode_template(str(path), text))
        ours_ok = True
    except TemplateDecodeError as err:
        ours, ours_ok = None, False
        ours_error = str(err)
    if not ours_ok and not cfnlint_ok:
        return  # both reject the file: agreement
    assert ours_ok, f"only kmsguard rejects {path}: {ours_error}"
    assert cfnlint_ok, f"only cfn-lint rejects {path}"
    plain_theirs = to_plain(theirs)
    difference = _first_difference(_normalise_timestamps(ours, plain_theirs), plain_theirs)
    assert difference is None, f"{path}: {difference}"
