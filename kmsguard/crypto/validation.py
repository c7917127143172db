"""Request parameters checked against botocore's KMS service model, as boto3 and KMS check them.

Two layers, as in real use:

* client side (boto3's default ``parameter_validation=True``): botocore's own ``ParamValidator``
  -- unknown or missing parameters, wrong types, string / list lengths and values below the
  shape's ``min`` (not blob lengths: botocore does not check those) -- raising
  ``botocore.exceptions.ParamValidationError`` before any request is made;
* server side (KMS): values above the shape's ``max``, values outside an enum (and, when client
  validation is off, below ``min``) -> ``ValidationException`` worded as AWS words it: "1 validation
  error detected: Value '<v>' at '<member>' failed to satisfy constraint: Member must have length
  less than or equal to 4096". Blob and sensitive members never show their value ("Value at
  'plaintext'").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from kmsguard.crypto.engine import KmsFailure
from kmsguard.crypto.errors import service_model

# Member types whose client-side checks the fast path below reproduces exactly; a request carrying
# any other member (structures, lists of structures, timestamps) goes to botocore's validator.
_SIMPLE_TYPES = frozenset({"string", "blob", "integer", "boolean", "list", "map"})


@dataclass(frozen=True)
class _MemberSpec:
    name: str
    type_name: str
    shape: Any  # botocore's member shape (messages, fallbacks)
    minimum: int | None  # the shape's ``min`` (length for string / list / blob, value for integer)
    maximum: int | None
    enum: frozenset[str] | None
    item_enum: frozenset[str] | None
    simple: bool  # the fast client-side check below is exactly botocore's for this member


@dataclass(frozen=True)
class _OperationSpec:
    """One operation's input shape, read once from botocore's model (validation runs on every call,
    and walking botocore's shapes costs more than the cryptography)."""

    shape: Any
    members: Mapping[str, _MemberSpec]
    required: frozenset[str]
    blob_members: tuple[str, ...]
    # Per member: a predicate true only for values that pass botocore's client-side checks AND the
    # server-side length, range and enum checks (None: no such shortcut for this member's type).
    passes_all: Mapping[str, Callable[[Any], bool] | None]


def _passes_all_checks(spec: _MemberSpec) -> Callable[[Any], bool] | None:
    """The member's combined check (exact types only: anything unusual takes the slow path). Each
    check is one closure specialised to the shape's bounds (it runs on every call of every request,
    so it does no more than the shape needs)."""
    if not spec.simple:
        return None
    low = spec.minimum if spec.minimum is not None else 0
    high = spec.maximum if spec.maximum is not None else float("inf")
    enum, item_enum = spec.enum, spec.item_enum
    kind = spec.type_name
    if kind == "string":
        if enum is None:
            return lambda v: type(v) is str and low <= len(v) <= high
        return lambda v: type(v) is str and v in enum and low <= len(v) <= high
    if kind == "blob":
        return lambda v: type(v) is bytes and low <= len(v) <= high
    if kind == "integer":
        if spec.minimum is None and spec.maximum is None:
            return lambda v: type(v) is int
        return lambda v: type(v) is int and low <= v <= high
    if kind == "boolean":
        return lambda v: type(v) is bool
    if kind == "list":
        return lambda v: (
            type(v) is list
            and low <= len(v) <= high
            and all(type(item) is str and (item_enum is None or item in item_enum) for item in v)
        )
    if kind == "map":
        # The last dict accepted and a copy of it: callers pass the same encryption context dict
        # call after call, and comparing it with the copy (one C-level comparison) shows it is
        # unchanged -- the same keys and equal values, so the same verdict -- without the loop.
        last_accepted: list[Any] = [None, None]

        def map_of_strings(v: Any) -> bool:
            if v is last_accepted[0] and v == last_accepted[1]:
                return True
            if type(v) is not dict or not low <= len(v) <= high:
                return False
            for key, value in v.items():
                if type(key) is not str or type(value) is not str:
                    return False
            last_accepted[0], last_accepted[1] = v, dict(v)
            return True

        return map_of_strings
    return None


def _member_spec(name: str, member: Any) -> _MemberSpec:
    metadata = member.metadata
    type_name = member.type_name
    simple = type_name in _SIMPLE_TYPES
    item_enum = None
    if type_name == "list":
        simple = member.member.type_name == "string" and "min" not in member.member.metadata
        item_enum = frozenset(getattr(member.member, "enum", None) or ()) or None
    elif type_name == "map":
        simple = all(
            part.type_name == "string" and "min" not in part.metadata for part in (member.key, member.value)
        )
    return _MemberSpec(
        name=name,
        type_name=type_name,
        shape=member,
        minimum=metadata.get("min"),
        maximum=metadata.get("max"),
        enum=frozenset(getattr(member, "enum", None) or ()) or None,
        item_enum=item_enum,
        simple=simple,
    )


@cache
def operation_spec(operation: str) -> _OperationSpec:
    shape = service_model().operation_model(operation).input_shape
    members = {name: _member_spec(name, member) for name, member in shape.members.items()}
    return _OperationSpec(
        shape=shape,
        members=members,
        required=frozenset(shape.metadata.get("required", ())),
        blob_members=tuple(name for name, spec in members.items() if spec.type_name == "blob"),
        passes_all={name: _passes_all_checks(spec) for name, spec in members.items()},
    )


# operation -> (required members, the combined check of each member that has one): read on every
# call, so kept as a plain dict of tuples rather than looked up through ``operation_spec``. The
# required members are a tuple: ``frozenset.issubset(dict)`` builds a set of the dict's keys first.
_FAST_CHECKS: dict[str, tuple[tuple[str, ...], Mapping[str, Callable[[Any], bool]]]] = {}


def passes_all(operation: str, params: Mapping[str, Any]) -> bool:
    """True only when both ``client_side`` and ``server_side`` would accept ``params`` (one pass over
    the request instead of two; False means "run them", not "invalid")."""
    found = _FAST_CHECKS.get(operation)
    if found is None:
        spec = operation_spec(operation)
        checks = {name: check for name, check in spec.passes_all.items() if check is not None}
        found = _FAST_CHECKS[operation] = (tuple(sorted(spec.required)), checks)
    required, checks = found
    for name in required:
        if name not in params:
            return False
    try:
        for name, value in params.items():
            if not checks[name](value):
                return False
    except KeyError:  # a member that is unknown or has no shortcut (the checks never raise KeyError)
        return False
    return True


def _member_name(name: str) -> str:
    # AWS names members in lowerCamelCase in validation messages ("plaintext", "pendingWindowInDays").
    return name[:1].lower() + name[1:]


def normalise_blobs(operation: str, params: dict[str, Any]) -> dict[str, Any]:
    """boto3 accepts ``str`` for blob members and sends its UTF-8 bytes. Returns ``params`` itself
    when every blob member is already ``bytes`` (the usual request), else a converted copy."""
    out = params
    for name in operation_spec(operation).blob_members:
        value = params.get(name)
        if value is None or type(value) is bytes:
            continue
        if out is params:
            out = dict(params)
        if isinstance(value, str):
            out[name] = value.encode("utf-8")
        elif isinstance(value, (bytearray, memoryview)):
            out[name] = bytes(value)
    return out


def _passes_client_checks(spec: _MemberSpec, value: Any) -> bool:
    """True only when botocore's ``ParamValidator`` would accept ``value`` for this member."""
    kind = spec.type_name
    if kind == "string":
        return isinstance(value, str) and (spec.minimum is None or len(value) >= spec.minimum)
    if kind == "blob":
        return isinstance(value, (bytes, bytearray))
    if kind == "integer":
        return isinstance(value, int) and (spec.minimum is None or value >= spec.minimum)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "list":
        return (
            isinstance(value, (list, tuple))
            and (spec.minimum is None or len(value) >= spec.minimum)
            and all(isinstance(item, str) for item in value)
        )
    if kind == "map":
        return isinstance(value, dict) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        )
    return False


def client_side(operation: str, params: Mapping[str, Any]) -> None:
    """botocore's client-side validation. The common request (known members of simple types that
    pass) is vouched for here; anything else is left to botocore's own ``ParamValidator``, so every
    error report is botocore's."""
    spec = operation_spec(operation)
    members = spec.members
    fast = spec.required.issubset(params)
    if fast:
        for name, value in params.items():
            member = members.get(name)
            if member is None or not member.simple or not _passes_client_checks(member, value):
                fast = False
                break
    if fast:
        return
    from botocore.exceptions import ParamValidationError
    from botocore.validate import ParamValidator

    report = ParamValidator().validate(dict(params), spec.shape)
    if report.has_errors():
        raise ParamValidationError(report=report.generate_report())


def server_side(operation: str, params: Mapping[str, Any], check_min: bool) -> None:
    members = operation_spec(operation).members
    problems: list[str] = []
    for name, value in params.items():
        member = members.get(name)
        if member is None or value is None:
            continue
        problems.extend(_member_problems(member, name, value, check_min))
    if problems:
        count = len(problems)
        noun = "error" if count == 1 else "errors"
        raise KmsFailure("ValidationException", f"{count} validation {noun} detected: " + "; ".join(problems))


def _member_problems(member: _MemberSpec, name: str, value: Any, check_min: bool) -> list[str]:
    """The constraint violations of one member, as AWS words them (messages are built only when
    something is wrong: this runs on every call)."""
    kind = member.type_name
    violated: list[str] = []  # "have length less than or equal to 4096", ...
    if kind in ("blob", "string", "list", "map") and isinstance(value, (bytes, str, list, dict)):
        size = len(value)
        if member.maximum is not None and size > member.maximum:
            violated.append(f"have length less than or equal to {member.maximum}")
        # botocore's client-side validator checks no blob lengths, so KMS sees short blobs itself.
        if (check_min or kind == "blob") and member.minimum is not None and size < member.minimum:
            violated.append(f"have length greater than or equal to {member.minimum}")
    elif kind == "integer" and isinstance(value, int):
        if member.maximum is not None and value > member.maximum:
            violated.append(f"have value less than or equal to {member.maximum}")
        if check_min and member.minimum is not None and value < member.minimum:
            violated.append(f"have value greater than or equal to {member.minimum}")
    if member.enum is not None and isinstance(value, str) and value not in member.enum:
        violated.append(f"satisfy enum value set: [{', '.join(member.shape.enum)}]")
    if member.item_enum is not None and isinstance(value, list):
        if any(isinstance(item, str) and item not in member.item_enum for item in value):
            allowed = ", ".join(member.shape.member.enum)
            violated.append(f"satisfy constraint: [Member must satisfy enum value set: [{allowed}]]")
    if not violated:
        return []
    hidden = kind == "blob" or member.shape.metadata.get("sensitive", False)
    where = f"Value at '{_member_name(name)}'" if hidden else f"Value '{value}' at '{_member_name(name)}'"
    return [f"{where} failed to satisfy constraint: Member must {rule}" for rule in violated]


def range_problem(name: str, value: int, low: int, high: int) -> KmsFailure | None:
    """A range KMS enforces beyond the model's (PendingWindowInDays: 7-30 where the shape says 1-365)."""
    if low <= value <= high:
        return None
    bound = f"greater than or equal to {low}" if value < low else f"less than or equal to {high}"
    return KmsFailure(
        "ValidationException",
        f"1 validation error detected: Value '{value}' at '{_member_name(name)}' failed to satisfy "
        f"constraint: Member must have value {bound}",
    )
