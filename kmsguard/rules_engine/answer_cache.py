"""Prover answers kept between runs: a pre-commit hook asks the same questions about the same key
policies on every commit, and the solver is the slowest part of a check.

An answer is stored under a digest of everything it depends on -- the question, the policy it was
asked about (as data: where it was written does not matter), the key's account and ARN, the
question's parameters -- and of the code that computes it (the prover, the simulator, the KMS
action table, z3's install). Changing any of them asks again. The cache lives beside the rule
pack cache (``KMSGUARD_CACHE_DIR`` relocates it, ``KMSGUARD_NO_CACHE=1`` turns it off); one that
cannot be read or written is simply not used.

Nothing here imports z3: an answer read back is a ``StoredAnswer`` (what rules and reports use of
a ``ProofResult``), so a run whose every answer is cached never loads the solver (~0.1 s).
"""

from __future__ import annotations

import dataclasses
import enum
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
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
    """A digest of the source that computes answers: any edit to it invalidates them. z3 counts by
    where it is installed and when (not by importing it: a run whose every answer is cached never
    loads the solver)."""
    from kmsguard import __version__
    from kmsguard.load.cache import digest_of, installed_stamp

    root = Path(__file__).resolve().parent.parent
    parts = [f"{__version__}\0{installed_stamp('z3')}".encode()]
    files = sorted(p for d in _CODE for p in (root / d).glob("*.py")) + [root / f for f in _CODE_FILES]
    for path in files:
        try:
            parts.append(path.name.encode() + b"\0" + path.read_bytes())
        except OSError:
            parts.append(path.name.encode() + b"\0missing")
    return digest_of(b"\0\0".join(parts))


def key_of(*parts: Any) -> str:
    from kmsguard.load.cache import digest_of

    text = json.dumps([_code_stamp(), plain(parts)], sort_keys=True, separators=(",", ":"))
    return digest_of(text.encode())


@dataclass(frozen=True)
class StoredAnswer:
    """An answer read back from the cache: what rules and reports use of a ``ProofResult``, with
    its witness already in the form reports show (``witness`` is None: the request object itself is
    not kept, and nothing downstream of the answer needs it)."""

    answer: str
    depends_on: tuple[str, ...]
    explanation: str
    witness_case: dict[str, Any] | list[dict[str, Any]] | None
    needs_identity_policy: bool
    witness: None = None
    witnesses: tuple[()] = ()


def stored_answer(data: dict[str, Any]) -> StoredAnswer | None:
    """The answer an entry holds, or None when it is not one this code wrote."""
    if data.get("answer") not in ("yes", "no", "unknown"):
        return None
    return StoredAnswer(
        str(data["answer"]),
        tuple(str(d) for d in data.get("depends_on") or ()),
        str(data.get("explanation", "")),
        data.get("witness_case"),
        bool(data.get("needs_identity_policy")),
    )


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


__all__ = ["StoredAnswer", "key_of", "load", "plain", "store", "stored_answer"]
