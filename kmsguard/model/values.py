"""Values as loaders hand them to the model.

A loaded document is a tree of ``LDict`` / ``LList`` / ``LStr`` (plain ``dict`` / ``list`` / ``str``
that also carry a ``Span``), numbers, booleans, ``None`` and three symbolic kinds:

* ``Unknown`` -- a value that cannot be known statically (an unresolved variable, ``!ImportValue``,
  an attribute only known after apply). It is never dropped and never guessed.
* ``ResourceRef`` -- a reference to another resource in the same inventory
  (``aws_iam_role.app.arn``, ``!GetAtt AppRole.Arn``). Analysis follows it to that resource.
* ``Template`` -- a string built from literal parts and symbolic parts
  (``arn:${AWS::Partition}:iam::${AWS::AccountId}:root``).

The subclasses compare equal to the plain values, so decoded trees can be compared with other
decoders' output in differential tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Union

from kmsguard.model.span import NO_SPAN, Span

# Well-known symbolic references. A loader uses these refs for the deployment context, so that
# analysis can tell "this account" from "some unknown account" even when --account is not given.
THIS_ACCOUNT = "AWS::AccountId"
THIS_REGION = "AWS::Region"
THIS_PARTITION = "AWS::Partition"
THIS_ORG = "aws:PrincipalOrgID(deployment)"

# The reason of an Unknown that stands for a policy AWS would reject (not JSON, not an object): a
# validity finding already says so, and access rules do not report it again as "unresolved".
INVALID_POLICY = "invalid policy document"


@dataclass(frozen=True, slots=True)
class Unknown:
    """A value that cannot be known statically; ``ref`` says what it refers to."""

    ref: str
    # Where it was read and why it is unknown do not change what it refers to.
    span: Span = field(default=NO_SPAN, compare=False)
    reason: str = field(default="", compare=False)

    def __str__(self) -> str:
        return "${" + self.ref + "}"

    @property
    def is_deployment_context(self) -> bool:
        return self.ref in (THIS_ACCOUNT, THIS_REGION, THIS_PARTITION)


@dataclass(frozen=True, slots=True)
class ResourceRef:
    """A reference to another resource of the inventory, by its address and attribute."""

    address: str
    attribute: str = ""
    span: Span = field(default=NO_SPAN, compare=False)

    def __str__(self) -> str:
        return "${" + self.address + ("." + self.attribute if self.attribute else "") + "}"


@dataclass(frozen=True, slots=True)
class Template:
    """A string made of literal parts and symbolic parts."""

    parts: tuple[Union[str, Unknown, ResourceRef], ...]
    span: Span = field(default=NO_SPAN, compare=False)

    def __str__(self) -> str:
        return "".join(str(p) for p in self.parts)

    def symbols(self) -> Iterator[Union[Unknown, ResourceRef]]:
        for part in self.parts:
            if not isinstance(part, str):
                yield part


Symbolic = Union[Unknown, ResourceRef, Template]
StrValue = Union[str, Unknown, ResourceRef, Template]


class LStr(str):
    """A ``str`` with the span it was read from."""

    __slots__ = ("span",)
    span: Span

    def __new__(cls, value: str, span: Span) -> LStr:
        obj = super().__new__(cls, value)
        obj.span = span
        return obj


class LDict(dict):  # type: ignore[type-arg]
    """A ``dict`` with its own span and the span of each key."""

    __slots__ = ("key_spans", "span")

    def __init__(self, *args: Any, span: Span = NO_SPAN, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.span = span
        self.key_spans: dict[str, Span] = {}


class LList(list):  # type: ignore[type-arg]
    """A ``list`` with the span it was read from."""

    __slots__ = ("span",)

    def __init__(self, *args: Any, span: Span = NO_SPAN) -> None:
        super().__init__(*args)
        self.span = span


def span_of(value: Any, default: Span = NO_SPAN) -> Span:
    """The span a loaded value carries, or ``default``."""
    span = getattr(value, "span", None)
    return span if isinstance(span, Span) and span is not NO_SPAN else default


def key_span(mapping: Any, key: str, default: Span = NO_SPAN) -> Span:
    """The span of ``key`` inside a loaded mapping, falling back to the value's span."""
    spans = getattr(mapping, "key_spans", None)
    if spans and key in spans:
        return spans[key]
    return span_of(mapping.get(key) if isinstance(mapping, dict) else None, span_of(mapping, default))


def is_symbolic(value: Any) -> bool:
    return isinstance(value, (Unknown, ResourceRef, Template))


def unknowns_in(value: Any) -> list[Unknown]:
    """Every ``Unknown`` inside a value (deployment-context symbols included)."""
    found: list[Unknown] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, Unknown):
            found.append(item)
        elif isinstance(item, Template):
            stack.extend(p for p in item.parts if not isinstance(p, str))
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return found


def refs_of(value: Any) -> tuple[str, ...]:
    """What a symbolic value depends on, by the names answers report in ``depends_on``."""
    if isinstance(value, Unknown):
        return (value.ref,)
    if isinstance(value, ResourceRef):
        return (value.address + ("." + value.attribute if value.attribute else ""),)
    if isinstance(value, Template):
        return tuple(ref for symbol in value.symbols() for ref in refs_of(symbol))
    return (str(value),)


def to_plain(value: Any) -> Any:
    """Strip spans: plain ``dict`` / ``list`` / ``str``; symbolic values become their text form."""
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    if isinstance(value, (Unknown, ResourceRef, Template)):
        return str(value)
    if isinstance(value, str):
        return str(value)
    return value


def display(value: Any) -> str:
    """A short human form of a value, for messages."""
    if value is None:
        return "(not set)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ", ".join(display(v) for v in value)
    return str(value)
