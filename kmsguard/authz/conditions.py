"""Condition evaluation: AWS's condition operators, wildcard and ARN matching, policy variables, and the
request context that a caller implies.

The semantics follow the IAM User Guide ("IAM JSON policy elements: Condition operators", "Creating a
condition with multiple keys or values", "Single-valued vs. multivalued context keys", "IAM policy
elements: Variables and tags", "AWS global condition context keys") and the KMS Developer Guide ("AWS
KMS condition keys"). Where the documentation is silent, the choice is marked ``assumption`` below.

Three-valued results: a condition over a symbolic value (an IaC ``Unknown``, ``ResourceRef`` or
``Template``) is ``None`` -- "depends on" -- unless it is decided without that value (another clause
is already false, a known value already matches, or no instantiation of a template can match).

Speed: each ``Condition`` is compiled once (wildcards to regexes, numbers, dates and CIDRs parsed) and
the compiled form is cached by identity, so evaluating a typical statement is a few dictionary
look-ups and string comparisons.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Union

from kmsguard.authz.types import Caller, ContextValue, PrincipalKind, Request
from kmsguard.model.policy import Condition
from kmsguard.model.values import ResourceRef, Template, Unknown, refs_of

__all__ = [
    "ConditionOutcome",
    "UnresolvedContextValue",
    "arn_like",
    "caller_context",
    "evaluate_conditions",
    "request_context",
    "string_like",
    "substitute_variables",
]

Tri = Union[bool, None]  # True, False, or None: depends on symbolic values


@dataclass(frozen=True)
class ConditionOutcome:
    matched: bool | None  # None: depends on symbolic (IaC unknown) values
    reason: str  # one line: which clause failed and on what value
    depends_on: tuple[str, ...] = ()


class UnresolvedContextValue(tuple):  # type: ignore[type-arg]
    """A request-context value that is present but not known: a role session's ``aws:userid`` when
    the role's unique id was not given, or two request keys that differ only by case. It is a
    (empty) tuple so that it fits ``ContextValue``; a condition that reads it is unresolved."""

    ref: str

    def __new__(cls, ref: str) -> UnresolvedContextValue:
        obj = super().__new__(cls, ())
        obj.ref = ref
        return obj

    def __repr__(self) -> str:
        return f"UnresolvedContextValue({self.ref!r})"


# ---------------------------------------------------------------------------------------------
# Operators
# ---------------------------------------------------------------------------------------------


class _Operator:
    """A parsed condition operator. (A plain class: dataclass creation costs start-up time.)"""

    __slots__ = ("base", "family", "if_exists", "negated", "qualifier", "written")

    def __init__(
        self, written: str, base: str, family: str, negated: bool, if_exists: bool, qualifier: str | None
    ) -> None:
        self.written = written  # as in the policy, for messages
        self.base = base  # canonical positive base operator: "StringEquals" for "StringNotEqualsIfExists"
        self.family = family  # String, Numeric, Date, Bool, Binary, Ip, Arn, Null
        self.negated = negated
        self.if_exists = if_exists
        self.qualifier = qualifier  # "ForAnyValue" / "ForAllValues"


# Negated operator -> the positive operator it negates (IAM User Guide, "Condition operators").
# ArnEquals and ArnLike "behave identically", as do ArnNotEquals and ArnNotLike.
_NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "NumericNotEquals": "NumericEquals",
    "DateNotEquals": "DateEquals",
    "NotIpAddress": "IpAddress",
    "ArnNotEquals": "ArnLike",
    "ArnNotLike": "ArnLike",
}
_POSITIVE = {
    "StringEquals": "String",
    "StringEqualsIgnoreCase": "String",
    "StringLike": "String",
    "NumericEquals": "Numeric",
    "NumericLessThan": "Numeric",
    "NumericLessThanEquals": "Numeric",
    "NumericGreaterThan": "Numeric",
    "NumericGreaterThanEquals": "Numeric",
    "DateEquals": "Date",
    "DateLessThan": "Date",
    "DateLessThanEquals": "Date",
    "DateGreaterThan": "Date",
    "DateGreaterThanEquals": "Date",
    "Bool": "Bool",
    "BinaryEquals": "Binary",
    "IpAddress": "Ip",
    "ArnEquals": "Arn",
    "ArnLike": "Arn",
    "Null": "Null",
}
_CANONICAL = {name.lower(): name for name in (*_POSITIVE, *_NEGATED)}

# How a failed comparison is worded in a trace: "'444455556666' is not '111122223333'".
_RELATION = {
    "StringEquals": "",
    "StringEqualsIgnoreCase": "(ignoring case) ",
    "StringLike": "like ",
    "NumericEquals": "",
    "NumericLessThan": "less than ",
    "NumericLessThanEquals": "at most ",
    "NumericGreaterThan": "greater than ",
    "NumericGreaterThanEquals": "at least ",
    "DateEquals": "",
    "DateLessThan": "before ",
    "DateLessThanEquals": "at or before ",
    "DateGreaterThan": "after ",
    "DateGreaterThanEquals": "at or after ",
    "Bool": "",
    "BinaryEquals": "",
    "IpAddress": "in ",
    "ArnEquals": "like ",
    "ArnLike": "like ",
}

# Policy variables are allowed with String and ARN operators (IAM User Guide, "IAM policy elements:
# Variables and tags", "Condition element") and with Bool ("Condition operators", "Boolean condition
# operators": "You can use a policy variable with the Boolean condition operator"; the Variables
# page lists Boolean among the operators without variables -- the operator page is followed here, an
# assumption). With Numeric, Date, Binary, IP address and Null, "${...}" is literal text.
_VARIABLE_FAMILIES = frozenset({"String", "Arn", "Bool"})


@lru_cache(maxsize=512)
def _parse_operator(written: str) -> _Operator | None:
    rest = written
    qualifier = None
    if ":" in rest:
        prefix, rest = rest.split(":", 1)
        qualifier = {"foranyvalue": "ForAnyValue", "forallvalues": "ForAllValues"}.get(prefix.lower())
        if qualifier is None:
            return None
    if_exists = rest.lower().endswith("ifexists")
    if if_exists:
        rest = rest[: -len("IfExists")]
    name = _CANONICAL.get(rest.lower())
    if name is None or (name == "Null" and (if_exists or qualifier)):
        return None
    negated = name in _NEGATED
    base = _NEGATED.get(name, name)
    return _Operator(written, base, _POSITIVE[base], negated, if_exists, qualifier)


# ---------------------------------------------------------------------------------------------
# Wildcards, ARNs and policy variables
# ---------------------------------------------------------------------------------------------


class _Wild:
    """A wildcard token of a parsed policy value: ``*`` or ``?``."""

    __slots__ = ("char",)

    def __init__(self, char: str) -> None:
        self.char = char

    def __repr__(self) -> str:
        return self.char


STAR = _Wild("*")
QMARK = _Wild("?")


class _Var:
    """A policy variable ``${name}`` or ``${name, 'default'}`` (name lower-cased: key names are
    case-insensitive, IAM User Guide, "Variables and tags", "Using variables in policies")."""

    __slots__ = ("default", "name")

    def __init__(self, name: str, default: str | None) -> None:
        self.name = name
        self.default = default

    def __repr__(self) -> str:
        return f"_Var({self.name!r}, {self.default!r})"


Token = Union[str, _Wild, _Var]
# The special variables that stand for characters that otherwise have a meaning
# (IAM User Guide, "Variables and tags", "Special characters").
_SPECIAL = {"*": "*", "?": "?", "$": "$"}
_DEFAULT = r"^(?P<name>[^,]*?)\s*,\s*'(?P<default>[^']*)'\s*$"  # compiled on first use


@lru_cache(maxsize=8192)
def _tokenize(text: str, wildcards: bool, variables: bool) -> tuple[Token, ...]:
    """Split a policy value into literal text, wildcards and variables. Adjacent literal text is
    merged; an unterminated ``${`` is literal."""
    tokens: list[Token] = []
    literal: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if variables and ch == "$" and i + 1 < n and text[i + 1] == "{":
            end = text.find("}", i + 2)
            if end != -1:
                inner = text[i + 2 : end]
                if inner in _SPECIAL:
                    literal.append(_SPECIAL[inner])
                else:
                    if literal:
                        tokens.append("".join(literal))
                        literal = []
                    match = re.match(_DEFAULT, inner)
                    if match:
                        tokens.append(_Var(match["name"].strip().lower(), match["default"]))
                    else:
                        tokens.append(_Var(inner.strip().lower(), None))
                i = end + 1
                continue
        if wildcards and ch in "*?":
            if literal:
                tokens.append("".join(literal))
                literal = []
            tokens.append(STAR if ch == "*" else QMARK)
        else:
            literal.append(ch)
        i += 1
    if literal:
        tokens.append("".join(literal))
    return tuple(tokens)


class _NoValue:
    """Marker: a variable with no value and no default."""


_NO_VALUE = _NoValue()


def _resolve(
    tokens: tuple[Token, ...], context: Mapping[str, ContextValue]
) -> tuple[Token, ...] | _NoValue | UnresolvedContextValue:
    """Replace variables by their values (as literal text). A variable whose key is missing, or
    multivalued ("You can't use a multivalued condition key as a variable"), takes its default; with
    no default the whole value is effectively null (IAM User Guide, "Variables and tags", "Policy
    variables with no value")."""
    out: list[Token] = []
    for token in tokens:
        if type(token) is _Var:
            value = context.get(token.name)
            if type(value) is UnresolvedContextValue:
                return value
            if not isinstance(value, str):
                if token.default is None:
                    return _NO_VALUE
                value = token.default
            # assumption: a substituted value is literal text; a '*' in a principal tag is not a
            # wildcard (the documentation is silent; @cloud-copilot/iam-simulate does the same).
            if out and isinstance(out[-1], str):
                out[-1] = out[-1] + value
            else:
                out.append(value)
        elif isinstance(token, str) and out and isinstance(out[-1], str):
            out[-1] = out[-1] + token
        else:
            out.append(token)
    return tuple(out)


def _regex_source(tokens: Sequence[Token]) -> str:
    parts = []
    for token in tokens:
        if token is STAR:
            parts.append(".*")
        elif token is QMARK:
            parts.append(".")
        else:
            parts.append(re.escape(str(token)))
    return "".join(parts)


@lru_cache(maxsize=8192)
def _token_regex(tokens: tuple[Token, ...], ignore_case: bool) -> re.Pattern[str]:
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    return re.compile(_regex_source(tokens), flags)


def string_like(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """``StringLike``: ``*`` matches any run of characters (also none), ``?`` exactly one
    (IAM User Guide, "Condition operators", "String condition operators"). No variables."""
    tokens = _tokenize(pattern, True, False)
    return _token_regex(tokens, ignore_case).fullmatch(value) is not None


def split_arn_pattern(tokens: Sequence[Any]) -> list[list[Any]] | None:
    """The six colon-delimited ARN components of a tokenised pattern (None when it has another
    number), so a wildcard cannot cross a colon; the last component (the resource) keeps its own
    colons. Shared with the prover, which must split exactly the same way."""
    segments: list[list[Any]] = [[]]
    for token in tokens:
        if isinstance(token, str) and len(segments) < 6 and ":" in token:
            pieces = token.split(":", 6 - len(segments))
            segments[-1].append(pieces[0])
            for piece in pieces[1:]:
                segments.append([piece] if piece else [])
        else:
            segments[-1].append(token)
    return segments if len(segments) == 6 else None


@lru_cache(maxsize=8192)
def _arn_segments(tokens: tuple[Token, ...]) -> tuple[re.Pattern[str], ...] | None:
    """The ARN components of a pattern, each compiled on its own."""
    segments = split_arn_pattern(tokens)
    if segments is None:
        return None
    return tuple(re.compile(_regex_source(seg), re.DOTALL) for seg in segments)


def _arn_match(tokens: tuple[Token, ...], value: str) -> bool:
    patterns = _arn_segments(tokens)
    if patterns is None:
        # assumption: a pattern that is not six colon-separated components matches no ARN (the
        # documentation describes only six-part matching; @cloud-copilot/iam-simulate agrees).
        return False
    parts = value.split(":", 5)
    if len(parts) != 6:
        return False
    for pattern, part in zip(patterns, parts, strict=True):
        if pattern.fullmatch(part) is None:
            return False
    return True


def arn_like(pattern: str, value: str) -> bool:
    """``ArnLike`` / ``ArnEquals``: "Each of the six colon-delimited components of the ARN is checked
    separately and each can include multi-character match wildcards (*) or single-character match
    wildcards (?)" (IAM User Guide, "Condition operators", "Amazon Resource Name (ARN) condition
    operators"). Case-sensitive. No variables."""
    return _arn_match(_tokenize(pattern, True, False), value)


def substitute_variables(text: str, context: Mapping[str, ContextValue]) -> str | None:
    """``text`` with its policy variables replaced: ``${aws:username}``, ``${aws:PrincipalTag/team,
    'none'}``, and ``${*}`` / ``${?}`` / ``${$}`` for the literal characters. None when a variable has
    no value and no default (the value is then effectively null), or its value is not known."""
    resolved = _resolve(_tokenize(text, False, True), context)
    if not isinstance(resolved, tuple) or type(resolved) is UnresolvedContextValue:
        return None
    return "".join(str(t) for t in resolved)


# ---------------------------------------------------------------------------------------------
# Typed values: numbers, dates, booleans, binary, IP addresses
# ---------------------------------------------------------------------------------------------

_NUMBER = r"^[+-]?(\d+(\.\d*)?|\.\d+)$"  # compiled on first use (start-up time)


@lru_cache(maxsize=4096)
def _number(text: str) -> Any:
    """A Decimal, or None if ``text`` is not an integer or decimal number (IAM User Guide,
    "Numeric condition operators": "an integer or decimal value")."""
    text = text.strip()
    if not re.match(_NUMBER, text):
        return None
    from decimal import Decimal  # lazily: only numeric conditions need it

    return Decimal(text)


# W3C profiles of ISO 8601 (YYYY-MM-DD, YYYY-MM-DDThh:mmTZD, ...ss, ...ss.s); IAM User Guide,
# "Date condition operators": "one of the W3C implementations of the ISO 8601 date formats or in
# epoch (UNIX) time".
_ISO_DATE = (
    r"^(?P<y>\d{4})(?:-(?P<mo>\d{2})(?:-(?P<d>\d{2})"
    r"(?:[Tt](?P<h>\d{2}):(?P<mi>\d{2})(?::(?P<s>\d{2})(?:\.(?P<f>\d+))?)?"
    r"(?P<tz>[Zz]|[+-]\d{2}:?\d{2})?)?)?)?$"
)
_EPOCH = r"^[+-]?\d+(\.\d+)?$"


@lru_cache(maxsize=4096)
def _instant(text: str) -> float | None:
    """Seconds since the epoch, or None if ``text`` is neither an ISO 8601 date nor epoch time.

    assumption: a string of digits only is epoch seconds (not a four-digit year), and a date or time
    without a zone is UTC; the documentation does not say."""
    from datetime import datetime, timedelta, timezone

    text = text.strip()
    if re.match(_EPOCH, text):
        return float(text)
    m = re.match(_ISO_DATE, text)
    if not m:
        return None
    try:
        moment = datetime(
            int(m["y"]),
            int(m["mo"] or 1),
            int(m["d"] or 1),
            int(m["h"] or 0),
            int(m["mi"] or 0),
            int(m["s"] or 0),
            int((m["f"] or "0")[:6].ljust(6, "0")),
            tzinfo=timezone.utc,
        )
    except ValueError:
        return None
    tz = m["tz"]
    if tz and tz not in ("Z", "z"):
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        moment -= sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return moment.timestamp()


def _bool_text(text: str) -> str | None:
    lowered = text.lower()
    return lowered if lowered in ("true", "false") else None


@lru_cache(maxsize=1024)
def _binary(text: str) -> bytes | None:
    """BinaryEquals compares "byte for byte against a base-64 encoded representation of the binary
    value in the policy" (IAM User Guide, "Binary condition operators"). Request values are given
    base64-encoded too, as the AWS APIs carry blobs."""
    import base64
    import binascii

    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


@lru_cache(maxsize=4096)
def _network(text: str) -> Any:
    """A CIDR block; an address without a prefix is one address ("If you specify an IP address
    without the associated routing prefix, IAM uses the default prefix value of /32"; IAM User
    Guide, "IP address condition operators"). IPv4 and IPv6."""
    import ipaddress

    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None


def _in_network(value: str, network: Any) -> bool:
    candidate = _network(value)
    if candidate is None or candidate.version != network.version:
        return False
    return bool(candidate.subnet_of(network))


# ---------------------------------------------------------------------------------------------
# Compiled clauses
# ---------------------------------------------------------------------------------------------

# A compiled policy value: (request value, context) -> True / False / None.
Matcher = Callable[[str, Mapping[str, ContextValue]], Tri]

_SYMBOLIC = (Unknown, ResourceRef, Template)


def _refs(value: Any) -> tuple[str, ...]:
    """What a symbolic value depends on, as the names that ``Decision.depends_on`` reports."""
    if isinstance(value, UnresolvedContextValue):
        return (value.ref,)
    return refs_of(value) if isinstance(value, _SYMBOLIC) else ()


def _policy_text(value: Any) -> str:
    """A literal policy value as the string AWS compares: JSON booleans and numbers are compared as
    their string forms (IAM User Guide, "Grammar of the IAM JSON policy language": "Quotation marks
    are optional for numeric and Boolean values")."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _compare_numbers(base: str) -> Callable[[Any, Any], bool]:
    return {
        "NumericEquals": lambda a, b: a == b,
        "NumericLessThan": lambda a, b: a < b,
        "NumericLessThanEquals": lambda a, b: a <= b,
        "NumericGreaterThan": lambda a, b: a > b,
        "NumericGreaterThanEquals": lambda a, b: a >= b,
        "DateEquals": lambda a, b: a == b,
        "DateLessThan": lambda a, b: a < b,
        "DateLessThanEquals": lambda a, b: a <= b,
        "DateGreaterThan": lambda a, b: a > b,
        "DateGreaterThanEquals": lambda a, b: a >= b,
    }[base]


def _compile_value(op: _Operator, text: str, variables: bool) -> Matcher | str:
    """A matcher for one literal policy value, or the plain string itself when a set-membership
    test decides it (the fast path for StringEquals and friends)."""
    base, family = op.base, op.family
    use_vars = variables and family in _VARIABLE_FAMILIES
    if family == "String":
        wild = base == "StringLike"
        tokens = _tokenize(text, wild, use_vars)
        ignore_case = base == "StringEqualsIgnoreCase"
        if all(isinstance(t, str) for t in tokens):
            literal = "".join(tokens)  # type: ignore[arg-type]
            return literal.lower() if ignore_case else literal
        if not any(type(t) is _Var for t in tokens):
            regex = _token_regex(tokens, ignore_case)
            return lambda v, ctx: regex.fullmatch(v) is not None

        def match_string(v: str, ctx: Mapping[str, ContextValue]) -> Tri:
            resolved = _resolve(tokens, ctx)
            if resolved is _NO_VALUE:
                return False
            if type(resolved) is UnresolvedContextValue:
                return None
            return _token_regex(resolved, ignore_case).fullmatch(v) is not None  # type: ignore[arg-type]

        return match_string
    if family == "Arn":
        tokens = _tokenize(text, True, use_vars)
        if not any(type(t) is _Var for t in tokens):
            return lambda v, ctx: _arn_match(tokens, v)

        def match_arn(v: str, ctx: Mapping[str, ContextValue]) -> Tri:
            resolved = _resolve(tokens, ctx)
            if resolved is _NO_VALUE:
                return False
            if type(resolved) is UnresolvedContextValue:
                return None
            return _arn_match(resolved, v)  # type: ignore[arg-type]

        return match_arn
    if family == "Bool":
        tokens = _tokenize(text, False, use_vars)
        if all(isinstance(t, str) for t in tokens):
            expected = _bool_text("".join(tokens))  # type: ignore[arg-type]
            return lambda v, ctx: expected is not None and _bool_text(v) == expected

        def match_bool(v: str, ctx: Mapping[str, ContextValue]) -> Tri:
            resolved = _resolve(tokens, ctx)
            if resolved is _NO_VALUE:
                return False
            if type(resolved) is UnresolvedContextValue:
                return None
            expected = _bool_text("".join(str(t) for t in resolved))  # type: ignore[union-attr]
            return expected is not None and _bool_text(v) == expected

        return match_bool
    if family in ("Numeric", "Date"):
        parse = _number if family == "Numeric" else _instant
        limit = parse(text)
        compare = _compare_numbers(base)

        def match_ordered(v: str, ctx: Mapping[str, ContextValue]) -> Tri:
            got = parse(v)
            # A value that is not a number (date) never compares (as a null value: no equal value).
            return limit is not None and got is not None and compare(got, limit)

        return match_ordered
    if family == "Binary":
        expected_bytes = _binary(text)
        return lambda v, ctx: expected_bytes is not None and _binary(v) == expected_bytes
    if family == "Ip":
        network = _network(text)
        return lambda v, ctx: network is not None and _in_network(v, network)
    raise AssertionError(f"no matcher for {op.base}")


def _compile_template(op: _Operator, template: Template) -> Matcher:
    """A symbolic value built from literal parts: undecided when some instantiation could match,
    False when none can (each symbolic part may stand for any text)."""
    if op.family not in ("String", "Arn"):
        return lambda v, ctx: None
    wild = op.base == "StringLike" or op.family == "Arn"
    tokens: list[Token] = []
    for part in template.parts:
        if isinstance(part, str):
            for token in _tokenize(part, wild, True):
                tokens.append(STAR if type(token) is _Var else token)
        else:
            tokens.append(STAR)
    # A relaxation: ArnLike's per-component match implies a whole-string match of the same pattern.
    regex = _token_regex(tuple(tokens), op.base == "StringEqualsIgnoreCase")
    return lambda v, ctx: None if regex.fullmatch(v) is not None else False


class _Clause:
    """One compiled (operator, key, values) clause."""

    __slots__ = (
        "depends",
        "display",
        "error",
        "key",
        "key_symbolic",
        "label",
        "literals",
        "matchers",
        "null_expect",
        "op",
        "outcomes",
        "symbolic_refs",
        "uses_context",
        "values_unknown",
    )

    def __init__(self, condition: Condition, variables: bool) -> None:
        self.op = _parse_operator(str(condition.operator))
        key = condition.key
        self.key_symbolic = isinstance(key, _SYMBOLIC)
        self.key = key.lower() if isinstance(key, str) else ""
        self.label = f"{condition.operator} {key}"
        self.error: str | None = None
        self.literals: frozenset[str] = frozenset()
        self.matchers: tuple[tuple[str, Matcher], ...] = ()
        self.symbolic_refs: tuple[str, ...] = ()
        self.null_expect: tuple[bool, ...] = ()
        # Outcomes by request value, for clauses whose result depends on nothing else (no policy
        # variables): most requests repeat a handful of values (accounts, services).
        self.outcomes: dict[str | None, ConditionOutcome] = {}
        self.uses_context = False
        values = condition.values
        self.values_unknown = isinstance(values, Unknown)
        self.depends: tuple[str, ...] = _refs(key) if self.key_symbolic else ()
        if self.values_unknown:
            self.depends += _refs(values)
        self.display: tuple[str, ...] = ()
        op = self.op
        if op is None:
            # The policy builder reports unknown operators; AWS rejects such a policy.
            self.error = f"{self.label}: unknown condition operator"
            return
        if self.values_unknown or self.key_symbolic:
            return
        literals: set[str] = set()
        matchers: list[tuple[str, Matcher]] = []
        refs: list[str] = []
        display: list[str] = []
        null_expect: list[bool] = []
        for raw in values:  # type: ignore[union-attr]
            if isinstance(raw, _SYMBOLIC):
                refs.extend(_refs(raw))
                display.append(str(raw))
                if isinstance(raw, Template):
                    matchers.append((str(raw), _compile_template(op, raw)))
                else:
                    matchers.append((str(raw), lambda v, ctx: None))
                continue
            text = _policy_text(raw)
            display.append(text)
            if op.family == "Null":
                expected = _bool_text(text)
                if expected is not None:
                    null_expect.append(expected == "true")
                continue
            compiled = _compile_value(op, text, variables)
            if variables and op.family in _VARIABLE_FAMILIES and "${" in text:
                self.uses_context = True
            if isinstance(compiled, str):
                literals.add(compiled)
            else:
                matchers.append((text, compiled))
        self.literals = frozenset(literals)
        self.matchers = tuple(matchers)
        self.symbolic_refs = tuple(dict.fromkeys(refs))
        self.display = tuple(display)
        self.null_expect = tuple(null_expect)

    # -- one request value against the policy values (ORed) ----------------------------------

    def any_match(self, value: str, context: Mapping[str, ContextValue]) -> Tri:
        """True if ``value`` matches any policy value under the positive operator; None if none
        does but a symbolic one might."""
        if self.literals:
            probe = value.lower() if self.op.base == "StringEqualsIgnoreCase" else value  # type: ignore[union-attr]
            if probe in self.literals:
                return True
        undecided = False
        for _, matcher in self.matchers:
            result = matcher(value, context)
            if result:
                return True
            if result is None:
                undecided = True
        return None if undecided else False

    def holds(self, value: str, context: Mapping[str, ContextValue]) -> Tri:
        """The operator for one request value. A negated operator with several values is true when
        the value matches none of them (IAM User Guide, "Creating a condition with multiple keys
        or values": negated operators with multiple values "work like a logical AND"). A value
        whose variable has no value matches nothing, so a negated operator holds on it ("Policy
        variables with no value")."""
        matched = self.any_match(value, context)
        if self.op.negated:  # type: ignore[union-attr]
            return None if matched is None else not matched
        return matched

    # -- messages ----------------------------------------------------------------------------

    def expected(self) -> str:
        shown = self.display
        if len(shown) == 1:
            return repr(shown[0])
        head = ", ".join(repr(s) for s in shown[:5])
        return f"any of [{head}{', ...' if len(shown) > 5 else ''}]"

    def first_match(self, value: str, context: Mapping[str, ContextValue]) -> str:
        """The policy value that ``value`` matched, for a failed negated operator."""
        if self.literals:
            probe = value.lower() if self.op.base == "StringEqualsIgnoreCase" else value  # type: ignore[union-attr]
            if probe in self.literals:
                for text in self.display:
                    if text == value or text.lower() == probe:
                        return repr(text)
                return repr(value)
        for text, matcher in self.matchers:
            if matcher(value, context):
                return repr(text)
        return self.expected()

    def fail_reason(self, value: str, context: Mapping[str, ContextValue]) -> str:
        op = self.op
        relation = _RELATION[op.base]  # type: ignore[union-attr]
        if op.negated:  # type: ignore[union-attr]
            return f"{self.label}: {value!r} is {relation}{self.first_match(value, context)}"
        return f"{self.label}: {value!r} is not {relation}{self.expected()}"

    # -- the clause --------------------------------------------------------------------------

    def outcome(self, context: Mapping[str, ContextValue]) -> ConditionOutcome:
        value = context.get(self.key)
        if self.uses_context or not (value is None or type(value) is str):
            return self.evaluate(context)
        cached = self.outcomes.get(value)
        if cached is None:
            cached = self.evaluate(context)
            if len(self.outcomes) < 256:
                self.outcomes[value] = cached
        return cached

    def evaluate(self, context: Mapping[str, ContextValue]) -> ConditionOutcome:
        op = self.op
        if op is None:
            return ConditionOutcome(False, self.error or self.label)
        if self.key_symbolic:
            return ConditionOutcome(None, f"{self.label}: the condition key is not known", self.depends)
        value = context.get(self.key)
        unresolved = type(value) is UnresolvedContextValue
        if op.family == "Null":
            return self._null(value)
        if value is None:
            return self._missing()
        if unresolved:
            refs = _refs(value)
            return ConditionOutcome(None, f"{self.label}: the request value is not known", refs)
        if self.values_unknown:
            return ConditionOutcome(None, f"{self.label}: the policy values are not known", self.depends)
        if op.qualifier is not None:
            return self._set(value, context)
        if not isinstance(value, str):
            if not value:
                # assumption: a multivalued key with no values is not present.
                return self._missing()
            # "Multivalued context keys require a condition set operator" (IAM User Guide,
            # "Single-valued vs. multivalued context keys"). Without one the condition does not
            # match: @cloud-copilot/iam-simulate ("Confirmed this at re:Inforce 2025 IAM431") and
            # boogy/iam-policy-validator#161 (StringEquals on aws:CalledVia with several services
            # denied, ForAnyValue:StringEquals allowed).
            shown = ", ".join(repr(v) for v in value[:5])
            return ConditionOutcome(
                False,
                f"{self.label}: the request has several values [{shown}]; a multivalued key needs "
                "ForAnyValue or ForAllValues",
            )
        result = self.holds(value, context)
        if result:
            return ConditionOutcome(True, self._pass_reason(value))
        if result is None:
            return ConditionOutcome(
                None, f"{self.label}: {value!r} against symbolic {self.expected()}", self.symbolic_refs
            )
        return ConditionOutcome(False, self.fail_reason(value, context))

    def _pass_reason(self, value: str) -> str:
        if self.op.negated:  # type: ignore[union-attr]
            return f"{self.label}: {value!r} is not {_RELATION[self.op.base]}{self.expected()}"  # type: ignore[union-attr]
        return f"{self.label}: {value!r} is {_RELATION[self.op.base]}{self.expected()}"  # type: ignore[union-attr]

    def _missing(self) -> ConditionOutcome:
        """IAM User Guide, "Condition operators": a missing key makes a condition false, except that
        "If the policy condition requires that the key is not matched, such as StringNotLike or
        ArnNotLike, and the right key is not present, the condition is true"; "...IfExists" is true
        when the key is not present. With a set operator: ForAllValues is true and ForAnyValue false
        when the key is missing ("Creating a condition with multiple keys or values")."""
        op = self.op
        assert op is not None
        if op.if_exists:
            return ConditionOutcome(True, f"{self.label}: key not in the request (IfExists)")
        if op.qualifier == "ForAllValues":
            return ConditionOutcome(True, f"{self.label}: key not in the request (ForAllValues of no values)")
        if op.qualifier == "ForAnyValue":
            return ConditionOutcome(False, f"{self.label}: key not in the request")
        if op.negated:
            return ConditionOutcome(True, f"{self.label}: key not in the request (negated operator)")
        return ConditionOutcome(False, f"{self.label}: key not in the request")

    def _null(self, value: ContextValue | None) -> ConditionOutcome:
        """``Null``: "true (the key doesn't exist -- it is null) or false (the key exists and its value
        is not null)" (IAM User Guide, "Condition operators", "Condition operator to check existence
        of condition keys"). An empty string or an empty list is null ("IAM JSON policy elements:
        Condition", "The request context": "it is possible to include an empty string. In this
        case, the value in the request context is null")."""
        if self.values_unknown:
            return ConditionOutcome(None, f"{self.label}: the policy value is not known", self.depends)
        is_null = value is None or (value == "" or (type(value) is tuple and not value))
        if any(expect == is_null for expect in self.null_expect):
            return ConditionOutcome(True, f"{self.label}: key {'absent' if is_null else 'present'}")
        if self.symbolic_refs:
            return ConditionOutcome(None, f"{self.label}: against symbolic values", self.symbolic_refs)
        return ConditionOutcome(
            False,
            f"{self.label}: key is {'absent' if is_null else 'present'}, policy says {self.expected()}",
        )

    def _set(self, value: ContextValue, context: Mapping[str, ContextValue]) -> ConditionOutcome:
        """``ForAllValues``: every request value matches at least one policy value; true for no
        values. ``ForAnyValue``: some request value matches; false for no values. A null data set
        such as an empty string counts as no values (IAM User Guide, "Creating a condition with
        multiple keys or values", "Using multiple keys and values"). A single-valued key is a set of
        one value -- which is why a set operator on it "can lead to overly permissive policies"
        ("Single-valued vs. multivalued context keys")."""
        op = self.op
        assert op is not None
        values: Sequence[str] = (value,) if isinstance(value, str) else value
        if isinstance(value, str) and value == "":
            values = ()
        if op.qualifier == "ForAllValues":
            if not values:
                return ConditionOutcome(True, f"{self.label}: no request values (ForAllValues)")
            undecided = False
            for item in values:
                result = self.holds(item, context)
                if result is False:
                    return ConditionOutcome(False, self.fail_reason(item, context))
                if result is None:
                    undecided = True
            if undecided:
                return ConditionOutcome(None, f"{self.label}: against symbolic values", self.symbolic_refs)
            return ConditionOutcome(True, f"{self.label}: every request value matches")
        if not values:
            return ConditionOutcome(False, f"{self.label}: no request values (ForAnyValue)")
        undecided = False
        for item in values:
            result = self.holds(item, context)
            if result:
                return ConditionOutcome(True, f"{self.label}: {item!r} matches")
            if result is None:
                undecided = True
        if undecided:
            return ConditionOutcome(None, f"{self.label}: against symbolic values", self.symbolic_refs)
        shown = ", ".join(repr(v) for v in values[:5])
        relation = _RELATION[op.base]
        verb = "is" if op.negated else "is not"
        return ConditionOutcome(False, f"{self.label}: none of [{shown}] {verb} {relation}{self.expected()}")


# ---------------------------------------------------------------------------------------------
# Condition blocks
# ---------------------------------------------------------------------------------------------

# Compiled clauses, by the identity of the (immutable) Condition. The entry keeps the Condition alive,
# so its id cannot be reused while cached. Cleared wholesale when it grows past the bound.
_CACHE_LIMIT = 50_000
_CLAUSES: dict[tuple[int, bool], tuple[Condition, _Clause]] = {}
_BLOCKS: dict[tuple[int, bool], tuple[tuple[Condition, ...], tuple[_Clause, ...], ConditionOutcome]] = {}


def _clause(condition: Condition, variables: bool) -> _Clause:
    key = (id(condition), variables)
    entry = _CLAUSES.get(key)
    if entry is not None and entry[0] is condition:
        return entry[1]
    if len(_CLAUSES) >= _CACHE_LIMIT:
        _CLAUSES.clear()
    compiled = _Clause(condition, variables)
    _CLAUSES[key] = (condition, compiled)
    return compiled


def _block(conditions: Sequence[Condition], variables: bool) -> tuple[tuple[_Clause, ...], ConditionOutcome]:
    if isinstance(conditions, tuple):
        key = (id(conditions), variables)
        entry = _BLOCKS.get(key)
        if entry is not None and entry[0] is conditions:
            return entry[1], entry[2]
    clauses = tuple(_clause(c, variables) for c in conditions)
    labels = ", ".join(c.label for c in clauses)
    summary = ConditionOutcome(True, f"all {len(clauses)} conditions matched ({labels})")
    if isinstance(conditions, tuple):
        if len(_BLOCKS) >= _CACHE_LIMIT:
            _BLOCKS.clear()
        _BLOCKS[(id(conditions), variables)] = (conditions, clauses, summary)
    return clauses, summary


def evaluate_conditions(
    conditions: Sequence[Condition] | Unknown,
    context: Mapping[str, ContextValue],
    *,
    policy_variables: bool = True,
) -> ConditionOutcome:
    """Whether a statement's Condition block holds for a request context (keys lower-cased, as
    ``request_context`` gives them). Clauses -- several operators, several keys -- are ANDed; the
    values of one clause are ORed (IAM User Guide, "Creating a condition with multiple keys or
    values"). A false clause decides the block even when another is unresolved.

    ``policy_variables=False`` is for policies whose ``Version`` is missing or ``2008-10-17``:
    "variables like ${aws:username} are treated as literal strings" (IAM User Guide, "Variables and
    tags")."""
    if isinstance(conditions, Unknown):
        return ConditionOutcome(None, "the Condition block is not known", (conditions.ref,))
    if not conditions:
        return ConditionOutcome(True, "no conditions")
    clauses, summary = _block(conditions, policy_variables)
    if len(clauses) == 1:
        return clauses[0].outcome(context)
    depends: list[str] = []
    undecided: list[str] = []
    for clause in clauses:
        outcome = clause.outcome(context)
        if outcome.matched:
            continue
        if outcome.matched is None:
            depends.extend(outcome.depends_on)
            undecided.append(outcome.reason)
            continue
        return outcome
    if undecided:
        return ConditionOutcome(None, "; ".join(undecided), tuple(dict.fromkeys(depends)))
    return summary


# ---------------------------------------------------------------------------------------------
# The request context
# ---------------------------------------------------------------------------------------------

# aws:PrincipalType per kind of caller (IAM User Guide, "IAM policy elements: Variables and tags",
# "Principal key values"). A role acts only through a session, so its type is AssumedRole.
_PRINCIPAL_TYPE = {
    PrincipalKind.ROOT: "Account",
    PrincipalKind.USER: "User",
    PrincipalKind.ROLE: "AssumedRole",
    PrincipalKind.ASSUMED_ROLE: "AssumedRole",
    PrincipalKind.FEDERATED_USER: "FederatedUser",
    PrincipalKind.ANONYMOUS: "Anonymous",
}


def _last_name(arn: str) -> str:
    """The name at the end of an IAM or STS ARN: ``alice`` for ``...:user/division/alice``."""
    return arn.rsplit("/", 1)[-1] if "/" in arn else arn


def _userid(caller: Caller) -> ContextValue | None:
    """aws:userid (IAM User Guide, "Variables and tags", "Principal key values"): the account id for
    the root user; the user's unique id for an IAM user; ``role-id:session-name`` for a role
    session; ``account:caller-specified-name`` for a federated user; ``anonymous`` for anonymous
    callers. Unique ids cannot be derived from an ARN: when not given they are unresolved."""
    if caller.userid is not None:
        return caller.userid
    kind = caller.kind
    if kind is PrincipalKind.ROOT:
        return caller.account
    if kind is PrincipalKind.ANONYMOUS:
        return "anonymous"
    if kind is PrincipalKind.FEDERATED_USER and caller.account:
        return f"{caller.account}:{_last_name(caller.session_arn or caller.arn)}"
    if kind is PrincipalKind.USER:
        return UnresolvedContextValue(f"aws:userid of {caller.arn} (the user's unique id)")
    if kind in (PrincipalKind.ROLE, PrincipalKind.ASSUMED_ROLE):
        return UnresolvedContextValue(f"aws:userid of {caller.session_arn or caller.arn} (role-id:session)")
    return None


def _build_caller_context(caller: Caller, resource_account: str) -> dict[str, ContextValue]:
    """The global keys a caller implies; each from the IAM User Guide, "AWS global condition context
    keys", section of the key, unless noted."""
    kind = caller.kind
    ctx: dict[str, ContextValue] = {}
    anonymous = kind is PrincipalKind.ANONYMOUS
    service = kind is PrincipalKind.SERVICE
    # aws:PrincipalArn: "For IAM roles, the request context returns the ARN of the role, not the ARN
    # of the user that assumed the role"; root, users and federated users: their ARN; "Anonymous
    # requests do not include this key". assumption: nor do service principals, which are not
    # among the principal types the section lists.
    if not anonymous and not service:
        ctx["aws:principalarn"] = caller.arn
    # aws:PrincipalAccount: "For anonymous requests, the request context returns anonymous".
    if anonymous:
        ctx["aws:principalaccount"] = "anonymous"
    elif caller.account:
        ctx["aws:principalaccount"] = caller.account
    # aws:PrincipalOrgID / aws:PrincipalOrgPaths (multivalued): only for members of an organization.
    if not anonymous and not service:
        if caller.org_id:
            ctx["aws:principalorgid"] = caller.org_id
        if caller.org_paths:
            ctx["aws:principalorgpaths"] = tuple(caller.org_paths)
        # aws:PrincipalTag/tag-key: one key per tag of the user or role (or session tags). The
        # tag key part is case-insensitive like every key name.
        for tag, tag_value in caller.tags.items():
            ctx["aws:principaltag/" + tag.lower()] = tag_value
    principal_type = _PRINCIPAL_TYPE.get(kind)
    if principal_type is not None:
        ctx["aws:principaltype"] = principal_type
    # aws:username: "always included in the request context for IAM users"; not for the root
    # user, roles or anonymous requests.
    if kind is PrincipalKind.USER:
        ctx["aws:username"] = caller.username or _last_name(caller.arn)
    userid = _userid(caller)
    if userid is not None:
        ctx["aws:userid"] = userid
    # aws:PrincipalIsAWSService: true when a service principal acts directly; false for requests
    # with IAM credentials; "Anonymous requests do not include this key".
    if not anonymous:
        ctx["aws:principalisawsservice"] = "true" if service else "false"
    # aws:PrincipalServiceName: present only when a service principal makes the call.
    # (aws:PrincipalServiceNamesList is not derived: a service may have several names.)
    if service and caller.service:
        ctx["aws:principalservicename"] = caller.service
    # kms:CallerAccount: the account of the caller (KMS Developer Guide, "AWS KMS condition keys",
    # "kms:CallerAccount"). Which operations send it is the action table's business.
    if caller.account and not anonymous:
        ctx["kms:calleraccount"] = caller.account
    # aws:ResourceAccount: the account that owns the resource (the KMS key).
    if resource_account:
        ctx["aws:resourceaccount"] = resource_account
    return ctx


# _build_caller_context per (caller value, resource account), with the keys whose values are not
# plain strings or string tuples (an unresolved aws:userid). Keyed by the caller's content, so equal
# callers share an entry and no id can be reused; cleared wholesale past the bound.
_CALLER_CONTEXTS: dict[tuple[Any, str], tuple[dict[str, ContextValue], frozenset[str]]] = {}
_CALLER_CONTEXTS_LIMIT = 1024


def _cached_caller_context(
    caller: Caller, resource_account: str
) -> tuple[dict[str, ContextValue], frozenset[str]]:
    """``_build_caller_context`` (shared: callers must copy it before changing it) and its odd keys."""
    value_key = caller._value_key
    key = (value_key, resource_account)
    hit = _CALLER_CONTEXTS.get(key) if value_key is not None else None
    if hit is not None:
        return hit
    ctx = _build_caller_context(caller, resource_account)
    odd = frozenset(k for k, v in ctx.items() if v.__class__ is not str and v.__class__ is not tuple)
    if value_key is not None:
        if len(_CALLER_CONTEXTS) >= _CALLER_CONTEXTS_LIMIT:
            _CALLER_CONTEXTS.clear()
        _CALLER_CONTEXTS[key] = (ctx, odd)
    return ctx, odd


def caller_context(caller: Caller, resource_account: str) -> dict[str, ContextValue]:
    """The global condition keys the caller implies, keys lower-cased: aws:PrincipalArn,
    aws:PrincipalAccount, aws:PrincipalOrgID, aws:PrincipalOrgPaths, aws:PrincipalTag/<k>,
    aws:PrincipalType, aws:username, aws:userid, aws:PrincipalIsAWSService,
    aws:PrincipalServiceName, kms:CallerAccount, aws:ResourceAccount."""
    return dict(_cached_caller_context(caller, resource_account)[0])


def _context_value(value: Any) -> ContextValue:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        if isinstance(value, UnresolvedContextValue):
            return value
        return tuple(_context_value(v) if not isinstance(v, (list, tuple)) else str(v) for v in value)  # type: ignore[misc]
    return str(value)


def request_context(request: Request) -> dict[str, ContextValue]:
    """``caller_context`` plus the request's own keys, lower-cased (key names are not case-sensitive;
    IAM User Guide, "IAM JSON policy elements: Condition"; for ``kms:EncryptionContext:<k>`` the
    <k> part too: KMS Developer Guide, "AWS KMS condition keys", "Case sensitivity of the encryption
    context condition"). Request keys win over the caller's. Two request keys that differ only by
    case and carry different values make that key unresolved: AWS says only that the key name
    "matches both" and "only one value matches" ("IAM JSON policy elements: Condition")."""
    return context_and_odd_keys(request)[0]


def context_and_odd_keys(request: Request) -> tuple[dict[str, ContextValue], frozenset[str]]:
    """``request_context`` and the keys whose values are neither strings nor plain string tuples
    (``UnresolvedContextValue``): results that read those keys must not be memoised by value."""
    base, odd = _cached_caller_context(request.caller, request.resource_account)
    seen: dict[str, ContextValue] = {}
    odd_request: list[str] = []
    for key, raw in request.context.items():
        name = key.lower()
        kind = raw.__class__
        if kind is str:
            value: ContextValue = raw
        elif (kind is list or kind is tuple) and all(v.__class__ is str for v in raw):
            value = tuple(raw)
        else:
            value = _context_value(raw)
            if value.__class__ is not str and value.__class__ is not tuple:
                odd_request.append(name)
        if name in seen and seen[name] != value:
            value = UnresolvedContextValue(f"{name} (request keys that differ only by case)")
            odd_request.append(name)
        seen[name] = value
    ctx = dict(base)
    ctx.update(seen)
    if odd_request or (odd and not odd.isdisjoint(seen)):
        # A request key replaces the caller's value of the same name, and a later duplicate an
        # earlier one: the odd keys are those whose final value is odd.
        odd = frozenset(name for name in (*odd, *odd_request) if ctx[name].__class__ not in (str, tuple))
    return ctx, odd
