"""Rule packs: YAML files of rules (data, not code). This module reads and checks them."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from kmsguard.findings import CATEGORIES, InputError, Severity

SUBJECTS = (
    "key",
    "key_policy",
    "key_policy_statement",
    "identity_policy_statement",
    "policy_statement",
    "grant",
    "consumer",
    "diagnostic",
)
ATTR_OPERATORS = ("equals", "not_equals", "in", "not_in", "contains", "is_set", "greater_than", "less_than")
DEFAULT_PACK = "kms-core"
_RULE_ID = re.compile(r"^KMS\d{3}$")
# The JSON Schema of the pack format, shipped in the package (kmsguard/data/).
SCHEMA_FILE = Path(__file__).resolve().parent.parent / "data" / "rule-pack.schema.json"
# JSON paths into a pack: ("rules", 3, "when", 0).
JsonPath = tuple[str | int, ...]


class PackError(ValueError):
    """A rule pack that cannot be used: one line, ``path:line: message`` when the file is known."""

    def __init__(self, message: str, path: str = "", line: int = 0) -> None:
        self.message, self.path, self.line = message, path, line
        super().__init__(str(InputError(path, line, message)) if path else message)

    @property
    def input_error(self) -> InputError:
        return InputError(self.path or "rule packs", self.line, self.message)


@dataclass(frozen=True)
class Predicate:
    """``{attr: NAME, <operator>: VALUE}`` on the subject, or ``{test: NAME}`` for a named test
    from ``predicates.py`` (``expect: false`` inverts it)."""

    attr: str | None = None
    operator: str | None = None
    operand: Any = None
    test: str | None = None
    expect: bool = True
    # ``{question: NAME}``: a question the prover answers (``rules_engine/questions.py``).
    question: str | None = None
    question_params: dict[str, Any] = field(default_factory=dict)


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
    # New defaults for parameters of rules of any loaded pack (kms-strict tightens kms-core's
    # thresholds this way); configuration and --param still override them.
    params: dict[str, Any] = field(default_factory=dict)
    description: str = ""


def builtin_packs_dir() -> Path:
    """Where the built-in packs are: ``kmsguard/packs`` in a wheel, ``rules/`` in a checkout."""
    here = Path(__file__).resolve().parent.parent
    shipped = here / "packs"
    if shipped.is_dir():
        return shipped
    return here.parent / "rules"


def builtin_pack_names() -> list[str]:
    """Names of the built-in packs, the default first."""
    names = sorted(p.stem for p in builtin_packs_dir().glob("*.yaml"))
    return sorted(names, key=lambda name: name != DEFAULT_PACK)


def builtin_packs() -> list[Pack]:
    """Every built-in pack as written (its ``params`` not applied to other packs' rules): what the
    rule documentation describes."""
    return [load_pack(builtin_packs_dir() / f"{name}.yaml") for name in builtin_pack_names()]


def load_pack(path: Path, *, validate: bool = False) -> Pack:
    """One pack file. ``validate``: check it against the JSON Schema first (users' packs; the
    built-in ones are checked by the test suite, and the pre-commit path must not import
    jsonschema). Parsed packs are cached, so validation happens once per content."""
    try:
        content = path.read_bytes()
    except OSError as err:
        raise PackError(f"cannot read rule pack: {err.strerror or err}", str(path)) from None
    data = _cached_pack_data(content, validate)
    if data is None:
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError:
            raise PackError("rule pack is not UTF-8 text", str(path)) from None
        data = _parse_pack(path, text)
        if validate:
            check_schema(path, text, data)
        _store_pack_data(content, data, validate)
    return _pack_of(path, data)


def _pack_of(path: Path, data: Any) -> Pack:
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        raise PackError("a rule pack is a mapping with a 'rules' list", str(path), 1)
    name = str(data.get("pack") or path.stem)
    rules: list[Rule] = []
    for index, raw in enumerate(data["rules"]):
        try:
            rule = _rule(path, name, raw)
        except PackError as err:
            raise PackError(err.message, str(path), line_of(path, ("rules", index))) from None
        if any(r.id == rule.id for r in rules):
            raise PackError(f"duplicate rule id {rule.id}", str(path), line_of(path, ("rules", index, "id")))
        rules.append(rule)
    params = data.get("params") or {}
    if not _is_params(params):
        raise PackError(_PARAMS_SHAPE.format(what="'params'"), str(path), line_of(path, ("params",)))
    return Pack(name, str(path), tuple(rules), dict(params), str(data.get("description") or "").strip())


def _parse_pack(path: Path, text: str) -> Any:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(text, Loader=loader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise PackError(
            f"rule pack is not valid YAML: {problem}", str(path), mark.line + 1 if mark else 0
        ) from None


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


def _cache_file(content: bytes, validated: bool) -> Path | None:
    # zlib's checksums, not hashlib: importing OpenSSL's hashes costs the hook ~8 ms, and a cache
    # key only has to tell versions of one small file apart (size + two 32-bit checksums).
    import zlib

    from kmsguard import __version__

    directory = cache_dir()
    if directory is None:
        return None
    keyed = __version__.encode() + b"\0" + content
    digest = f"{len(content):x}-{zlib.crc32(keyed):08x}{zlib.adler32(keyed):08x}"
    # A pack checked against the JSON Schema has entries of its own: one parsed unchecked (a
    # built-in pack) must not let a user's copy skip the check.
    return directory / f"pack-{digest}{'-checked' if validated else ''}.json"


def _cached_pack_data(content: bytes, validated: bool) -> Any:
    import json

    target = _cache_file(content, validated)
    if target is None:
        return None
    try:
        return json.loads(target.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _store_pack_data(content: bytes, data: Any, validated: bool) -> None:
    import json
    import os

    target = _cache_file(content, validated)
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
    """The default pack plus the packs named in ``extra``: a built-in pack's name (``kms-strict``)
    or the path of a user's pack file (checked against the JSON Schema). Pack-level ``params``
    are applied: they become the defaults of the rules that declare those parameters."""
    packs = [load_pack(builtin_packs_dir() / f"{DEFAULT_PACK}.yaml")]
    for item in extra:
        path, is_builtin = _resolve_pack(item)
        if any(Path(p.path).resolve() == path.resolve() for p in packs):
            continue  # named twice (or the default pack named again)
        packs.append(load_pack(path, validate=not is_builtin))
    seen: dict[str, str] = {}
    for pack in packs:
        for index, rule in enumerate(pack.rules):
            if rule.id in seen:
                line = line_of(Path(pack.path), ("rules", index, "id"))
                raise PackError(f"rule {rule.id} is already defined in {seen[rule.id]}", pack.path, line)
            seen[rule.id] = pack.path
    return with_pack_params(packs)


def catalogue(extra: Sequence[str] = ()) -> list[Pack]:
    """Every built-in pack, then the users' pack files named in ``extra``, as written (pack-level
    ``params`` not applied): what the rule pages and ``kmsguard rules ID`` describe."""
    packs = builtin_packs()
    for item in extra:
        path, is_builtin = _resolve_pack(item)
        if not is_builtin and not any(Path(p.path).resolve() == path.resolve() for p in packs):
            packs.append(load_pack(path, validate=True))
    return packs


def _resolve_pack(item: str) -> tuple[Path, bool]:
    path = Path(item)
    if path.is_file():
        return path, False
    builtin = builtin_packs_dir() / f"{item}.yaml"
    if "/" not in item and "\\" not in item and builtin.is_file():
        return builtin, True
    known = ", ".join(builtin_pack_names())
    raise PackError(f"no such rule pack file, nor a built-in pack of that name (built-in: {known})", item)


def with_pack_params(packs: Sequence[Pack]) -> list[Pack]:
    """``packs`` with every pack-level parameter made the default of the rules that declare it
    (later packs win). A pack-level parameter no rule declares, or of another type than the
    rule's default, is an error: a typo must not silently keep the lax threshold."""
    declared: dict[str, Any] = {}
    for pack in packs:
        for rule in pack.rules:
            for name, default in rule.params.items():
                declared.setdefault(name, default)
    overrides: dict[str, Any] = {}
    for pack in packs:
        for name, value in pack.params.items():
            problem = None
            if name not in declared:
                known = ", ".join(sorted(declared)) or "none"
                problem = f"params: {name!r} is not a parameter of any loaded rule (known: {known})"
            elif not same_kind(declared[name], value):
                problem = f"params: {name} must be of the same type as the rule's default {declared[name]!r}"
            if problem:
                # Lines are looked up only for errors: that reads the YAML again.
                raise PackError(problem, pack.path, line_of(Path(pack.path), ("params", name)))
            overrides[name] = value
    if not overrides:
        return list(packs)
    return [
        replace(pack, rules=tuple(_with_defaults(rule, overrides) for rule in pack.rules)) for pack in packs
    ]


def _with_defaults(rule: Rule, overrides: dict[str, Any]) -> Rule:
    mine = {name: value for name, value in overrides.items() if name in rule.params}
    return replace(rule, params={**rule.params, **mine}) if mine else rule


def same_kind(default: Any, value: Any) -> bool:
    """Whether ``value`` can stand for a parameter whose default is ``default`` (booleans are not
    numbers here, though Python says they are)."""
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, (int, float)):
        return isinstance(value, (int, float))
    return isinstance(value, type(default))


_PARAMS_SHAPE = "{what} must map names to numbers, strings, booleans or lists of them"


def _is_params(params: Any) -> bool:
    def scalar(value: Any) -> bool:
        return isinstance(value, (int, float, str, bool))

    return isinstance(params, dict) and all(
        isinstance(name, str)
        and (scalar(value) or (isinstance(value, list) and all(scalar(v) for v in value)))
        for name, value in params.items()
    )


# --- validation against the JSON Schema, and lines for errors -------------------------------------


def check_schema(path: Path, text: str, data: Any) -> None:
    """Raise a ``PackError`` (``path:line: message``) for the first place, in file order, where
    ``data`` breaks the JSON Schema of packs. Imports jsonschema: call it only on a cache miss."""
    from jsonschema import Draft202012Validator

    errors = list(Draft202012Validator(pack_schema()).iter_errors(data))
    if not errors:
        return
    tree = _compose(text)
    # In file order; a missing field last, since a misspelt one (reported on its line) explains it.
    placed = [
        (e.validator == "required", _node_line(tree, _error_path(e)), -len(e.absolute_path), e)
        for e in errors
    ]
    _, line, _, first = min(placed, key=lambda item: item[:3])
    raise PackError(_schema_message(data, first), str(path), line)


def _error_path(error: Any) -> JsonPath:
    """Where an error is: for an unexpected property, the property itself (a typo's own line),
    not the mapping that holds it."""
    path = tuple(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        extra = _unexpected(error)
        if extra:
            return (*path, extra[0])
    return path


def _unexpected(error: Any) -> list[str]:
    known = error.schema.get("properties", {})
    patterns = error.schema.get("patternProperties", {})
    return [k for k in error.instance if k not in known and not any(re.search(p, k) for p in patterns)]


def pack_schema() -> dict[str, Any]:
    import json

    schema: dict[str, Any] = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    return schema


def _schema_message(data: Any, error: Any) -> str:
    # Messages of combinators quote the whole failing value; the schema's description says what
    # was expected in fewer words.
    described = error.schema.get("description") if isinstance(error.schema, dict) else None
    if error.validator in ("anyOf", "oneOf", "minProperties", "maxProperties", "not") and described:
        text = f"{_short(error.instance)} is not valid here: expected {described}"
    elif error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = ", ".join(error.schema.get("properties", {}))
        text = f"unknown field {', '.join(map(repr, _unexpected(error)))} (known: {known})"
    else:
        text = error.message
    where = path_text(data, tuple(error.absolute_path))
    message = " ".join(f"{where}: {text}".split())
    return message if len(message) <= 240 else message[:239] + "…"


def _short(value: Any, limit: int = 60) -> str:
    import json

    text = json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def path_text(data: Any, path: JsonPath) -> str:
    """``rule KMS801: when[0].equals`` for ("rules", 0, "when", 0, "equals")."""
    prefix, rest = "", path
    if len(path) >= 2 and path[0] == "rules" and isinstance(path[1], int):
        rules = data.get("rules") if isinstance(data, dict) else None
        raw = rules[path[1]] if isinstance(rules, list) and path[1] < len(rules) else None
        rid = raw.get("id") if isinstance(raw, dict) else None
        prefix, rest = (f"rule {rid}" if rid else f"rules[{path[1]}]"), path[2:]
    tail = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in rest).lstrip(".")
    return ": ".join(part for part in (prefix, tail) if part) or "pack"


def line_of(path: Path, json_path: JsonPath) -> int:
    """The line (1-based) of the element at ``json_path`` in the pack file, or of its nearest
    ancestor that exists; 0 if the file cannot be read. Only called to report an error."""
    try:
        return _node_line(_compose(path.read_text(encoding="utf-8")), json_path)
    except (OSError, UnicodeDecodeError):
        return 0


def _compose(text: str) -> Any:
    import yaml

    try:
        return yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        return None


def _node_line(node: Any, json_path: Iterable[str | int]) -> int:
    import yaml

    if node is None:
        return 0
    line = node.start_mark.line + 1
    for step in json_path:
        found = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == str(step):
                    # A scalar's own line; for a mapping or list, the line of its key.
                    mark = value.start_mark if isinstance(value, yaml.ScalarNode) else key.start_mark
                    found, line = value, mark.line + 1
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
            found = node.value[step]
            line = found.start_mark.line + 1
        if found is None:
            break
        node = found
    return line


def _rule(path: Path, pack: str, raw: Any) -> Rule:
    if not isinstance(raw, dict):
        raise PackError("each rule must be a mapping")
    rid = str(raw.get("id", ""))
    where = f"rule {rid or '?'}"
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
    if not _is_params(params):
        raise PackError(f"{where}: " + _PARAMS_SHAPE.format(what="'params'"))
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
    if "question" in raw:
        from kmsguard.rules_engine.questions import QUESTIONS

        name = str(raw["question"])
        if name not in QUESTIONS:
            raise PackError(f"{where}: unknown question {name!r} (known: {', '.join(sorted(QUESTIONS))})")
        extra = raw.get("params") or {}
        if not isinstance(extra, dict):
            raise PackError(f"{where}: a question's 'params' must be a mapping")
        return Predicate(question=name, expect=bool(raw.get("expect", True)), question_params=dict(extra))
    if "attr" not in raw:
        raise PackError(f"{where}: a 'when' item needs 'attr', 'test' or 'question'")
    ops = [op for op in ATTR_OPERATORS if op in raw]
    if len(ops) != 1:
        raise PackError(
            f"{where}: attribute '{raw['attr']}' needs exactly one of {', '.join(ATTR_OPERATORS)}"
        )
    return Predicate(attr=str(raw["attr"]), operator=ops[0], operand=_as_model_value(raw[ops[0]]))


def _as_model_value(operand: Any) -> Any:
    """YAML lists as tuples, the model's sequences: ``{attr: aliases, equals: []}`` compares a
    key's ``aliases`` tuple with ``()``, and ``in: [[a], [b]]`` finds ``(a,)``."""
    if isinstance(operand, list):
        return tuple(_as_model_value(item) for item in operand)
    return operand
