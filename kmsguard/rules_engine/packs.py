"""Rule packs: YAML files of rules (data, not code). This module reads and checks them."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kmsguard.findings import CATEGORIES, Severity

SUBJECTS = (
    "key",
    "key_policy",
    "key_policy_statement",
    "identity_policy_statement",
    "grant",
    "consumer",
    "diagnostic",
)
ATTR_OPERATORS = ("equals", "not_equals", "in", "not_in", "contains", "is_set", "greater_than", "less_than")
DEFAULT_PACK = "kms-core"
_RULE_ID = re.compile(r"^KMS\d{3}$")


class PackError(ValueError):
    """A rule pack that cannot be used; the message is one line naming the file and rule."""


@dataclass(frozen=True)
class Predicate:
    """``{attr: NAME, <operator>: VALUE}`` on the subject, or ``{test: NAME}`` for a named test
    from ``predicates.py`` (``expect: false`` inverts it)."""

    attr: str | None = None
    operator: str | None = None
    operand: Any = None
    test: str | None = None
    expect: bool = True


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    severity: Severity
    category: str
    description: str
    remediation: str
    help_uri: str
    subject: str
    message: str
    when: tuple[Predicate, ...] = ()
    location: str | None = None  # attribute whose span the finding points at
    references: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    examples: dict[str, Any] = field(default_factory=dict)
    pack: str = DEFAULT_PACK
    why: str = ""
    # Thresholds users can set ([tool.kmsguard.params]): name -> default value.
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Pack:
    name: str
    path: str
    rules: tuple[Rule, ...]


def builtin_packs_dir() -> Path:
    """Where the built-in packs are: ``kmsguard/packs`` in a wheel, ``rules/`` in a checkout."""
    here = Path(__file__).resolve().parent.parent
    shipped = here / "packs"
    if shipped.is_dir():
        return shipped
    return here.parent / "rules"


def load_pack(path: Path) -> Pack:
    try:
        content = path.read_bytes()
        data = _cached_pack_data(content)
        if data is None:
            data = _parse_pack(path, content.decode("utf-8"))
            _store_pack_data(content, data)
    except (OSError, UnicodeDecodeError) as err:
        raise PackError(f"{path}: cannot read rule pack: {err}") from None
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        raise PackError(f"{path}: a rule pack is a mapping with a 'rules' list")
    name = str(data.get("pack") or path.stem)
    rules = tuple(_rule(path, name, raw) for raw in data["rules"])
    ids = [r.id for r in rules]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise PackError(f"{path}: duplicate rule id(s) {', '.join(dupes)}")
    return Pack(name, str(path), rules)


def _parse_pack(path: Path, text: str) -> Any:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(text, Loader=loader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise PackError(f"{where}: rule pack is not valid YAML: {getattr(err, 'problem', err)}") from None


# Parsed packs are cached as JSON, keyed by the pack's bytes and kmsguard's version: reading YAML
# costs a pre-commit run more than checking a file. KMSGUARD_CACHE_DIR relocates the cache;
# KMSGUARD_NO_CACHE=1 turns it off. A cache that cannot be read or written is simply not used.
def cache_dir() -> Path | None:
    import os

    if os.environ.get("KMSGUARD_NO_CACHE"):
        return None
    explicit = os.environ.get("KMSGUARD_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "kmsguard"


def _cache_file(content: bytes) -> Path | None:
    # zlib's checksums, not hashlib: importing OpenSSL's hashes costs the hook ~8 ms, and a cache
    # key only has to tell versions of one small file apart (size + two 32-bit checksums).
    import zlib

    from kmsguard import __version__

    directory = cache_dir()
    if directory is None:
        return None
    keyed = __version__.encode() + b"\0" + content
    digest = f"{len(content):x}-{zlib.crc32(keyed):08x}{zlib.adler32(keyed):08x}"
    return directory / f"pack-{digest}.json"


def _cached_pack_data(content: bytes) -> Any:
    import json

    target = _cache_file(content)
    if target is None:
        return None
    try:
        return json.loads(target.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _store_pack_data(content: bytes, data: Any) -> None:
    import json
    import os

    target = _cache_file(content)
    if target is None:
        return
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        scratch = target.with_suffix(f".{os.getpid()}.tmp")
        scratch.write_text(json.dumps(data), encoding="utf-8")
        os.replace(scratch, target)
    except (OSError, TypeError, ValueError):
        return  # a read-only home, or YAML values JSON cannot hold: parse again next time


def load_packs(extra: Sequence[str] = ()) -> list[Pack]:
    """The built-in default pack plus users' own pack files."""
    packs = [load_pack(builtin_packs_dir() / f"{DEFAULT_PACK}.yaml")]
    for item in extra:
        path = Path(item)
        if not path.is_file():
            candidate = builtin_packs_dir() / f"{item}.yaml"
            if not candidate.is_file():
                raise PackError(f"{item}: no such rule pack")
            path = candidate
        packs.append(load_pack(path))
    seen: dict[str, str] = {}
    for pack in packs:
        for rule in pack.rules:
            if rule.id in seen and seen[rule.id] != pack.path:
                raise PackError(f"{pack.path}: rule {rule.id} is already defined in {seen[rule.id]}")
            seen[rule.id] = pack.path
    return packs


def _rule(path: Path, pack: str, raw: Any) -> Rule:
    if not isinstance(raw, dict):
        raise PackError(f"{path}: each rule must be a mapping")
    rid = str(raw.get("id", ""))
    where = f"{path}: rule {rid or '?'}"
    if not _RULE_ID.match(rid):
        raise PackError(f"{where}: id must be 'KMS' followed by 3 digits")
    for required in ("title", "severity", "category", "description", "remediation", "subject", "message"):
        if not raw.get(required):
            raise PackError(f"{where}: missing '{required}'")
    try:
        severity = Severity.parse(str(raw["severity"]))
    except ValueError as err:
        raise PackError(f"{where}: {err}") from None
    if raw["category"] not in CATEGORIES:
        raise PackError(f"{where}: category must be one of {', '.join(CATEGORIES)}")
    if raw["subject"] not in SUBJECTS:
        raise PackError(f"{where}: subject must be one of {', '.join(SUBJECTS)}")
    refs = raw.get("references") or []
    if not isinstance(refs, list) or not refs:
        raise PackError(f"{where}: 'references' must list at least one documentation link")
    params = raw.get("params") or {}
    if not isinstance(params, dict) or not all(isinstance(v, (int, str, bool)) for v in params.values()):
        raise PackError(f"{where}: 'params' must map names to default numbers, strings or booleans")
    when = tuple(_predicate(where, p) for p in raw.get("when") or [])
    for pred in when:
        if isinstance(pred.operand, dict) and pred.operand.get("param") not in params:
            raise PackError(
                f"{where}: 'when' uses parameter {pred.operand.get('param')!r}, not declared in 'params'"
            )
    return Rule(
        id=rid,
        title=str(raw["title"]).strip(),
        severity=severity,
        category=str(raw["category"]),
        description=str(raw["description"]).strip(),
        remediation=str(raw["remediation"]).strip(),
        help_uri=str(refs[0]),
        subject=str(raw["subject"]),
        message=str(raw["message"]).strip(),
        when=when,
        location=raw.get("location"),
        references=tuple(str(r) for r in refs),
        tags=tuple(str(t) for t in raw.get("tags") or []),
        examples=dict(raw.get("examples") or {}),
        pack=pack,
        why=str(raw.get("why", "")).strip(),
        params=dict(params),
    )


def _predicate(where: str, raw: Any) -> Predicate:
    if not isinstance(raw, dict):
        raise PackError(f"{where}: each 'when' item must be a mapping")
    if "test" in raw:
        from kmsguard.rules_engine.predicates import NAMED_TESTS

        name = str(raw["test"])
        if name not in NAMED_TESTS:
            raise PackError(f"{where}: unknown test {name!r} (known: {', '.join(sorted(NAMED_TESTS))})")
        return Predicate(test=name, expect=bool(raw.get("expect", True)))
    if "attr" not in raw:
        raise PackError(f"{where}: a 'when' item needs 'attr' or 'test'")
    ops = [op for op in ATTR_OPERATORS if op in raw]
    if len(ops) != 1:
        raise PackError(
            f"{where}: attribute '{raw['attr']}' needs exactly one of {', '.join(ATTR_OPERATORS)}"
        )
    return Predicate(attr=str(raw["attr"]), operator=ops[0], operand=raw[ops[0]])
