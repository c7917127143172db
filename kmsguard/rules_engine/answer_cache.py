"""Prover answers kept between runs: a pre-commit hook asks the same questions about the same key
policies on every commit, and the solver is the slowest part of a check.

An answer is stored under a digest of everything it depends on -- the question, the policy it was
asked about (as data: where it was written does not matter), the key's account and ARN, the
question's parameters -- and of the code that computes it (the prover, the simulator, the KMS
action table, z3's version). Changing any of them asks again. The cache lives beside the rule
pack cache (``KMSGUARD_CACHE_DIR`` relocates it, ``KMSGUARD_NO_CACHE=1`` turns it off); one that
cannot be read or written is simply not used.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import os
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from kmsguard.model.span import Span

_CODE = ("prove", "authz")
_CODE_FILES = ("data/kms_actions.json", "rules_engine/questions.py", "rules_engine/answer_cache.py")


def plain(value: Any) -> Any:
    """``value`` as JSON data, without where it was written (spans)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {
            f.name: plain(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if f.compare and not isinstance(getattr(value, f.name), Span)
        }
        return {"@": type(value).__name__, **out}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [plain(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, (set, frozenset)) else items
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return repr(value)


@cache
def _code_stamp() -> str:
    """A digest of the source that computes answers: any edit to it invalidates them."""
    import hashlib

    import z3

    from kmsguard import __version__

    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256(f"{__version__}\0{z3.get_version_string()}".encode())
    files = sorted(p for d in _CODE for p in (root / d).glob("*.py")) + [root / f for f in _CODE_FILES]
    for path in files:
        try:
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
        except OSError:
            digest.update(path.name.encode() + b"\0missing")
    return digest.hexdigest()


def key_of(*parts: Any) -> str:
    import hashlib

    text = json.dumps([_code_stamp(), plain(parts)], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _path(key: str) -> Path | None:
    from kmsguard.rules_engine.packs import cache_dir

    directory = cache_dir()
    return None if directory is None else directory / "answers" / key[:2] / f"{key}.json"


def load(key: str) -> dict[str, Any] | None:
    path = _path(key)
    if path is None:
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def store(key: str, value: dict[str, Any]) -> None:
    path = _path(key)
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(value, sort_keys=True), encoding="utf-8")
        os.replace(temporary, path)  # readers see the old answer or the new one, never half of one
    except OSError:
        return


__all__ = ["key_of", "load", "plain", "store"]
