"""``data "aws_iam_policy_document"`` -> the IAM JSON document the AWS provider would render.

Independent of HCL: it takes the data source's evaluated values (also what a plan's
configuration gives). Semantics from the Terraform AWS provider documentation, data source
"aws_iam_policy_document":

- ``version`` defaults to "2012-10-17"; ``policy_id`` is the ``Id``;
- a ``statement``'s ``effect`` defaults to "Allow";
- ``principals`` / ``not_principals`` blocks with the same ``type`` are merged; ``type = "*"``
  with ``identifiers = ["*"]`` renders ``"Principal": "*"``;
- ``condition`` blocks render ``{test: {variable: values}}``; blocks with the same test and
  variable have their values combined;
- ``source_policy_documents`` are merged first, in order, then this document's statements, then
  ``override_policy_documents`` in order; a statement with a non-empty ``Sid`` replaces the
  statement with the same ``Sid`` from earlier documents (in place), others are appended
  ("the order of precedence is override > statement > source").

Each rendered statement carries the span of its ``statement`` block, so findings point there.
Anything not known stays symbolic: an unknown document or statement becomes an ``Unknown``
element of ``Statement`` (``build_policy`` then records the policy as incomplete).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kmsguard.load.terraform.json_text import JSONTextError, decode_json_text
from kmsguard.model.span import NO_SPAN, Span
from kmsguard.model.values import LDict, LList, LStr, ResourceRef, Template, Unknown, key_span, span_of

DEFAULT_VERSION = "2012-10-17"

_ELEMENTS = (
    ("actions", "Action"),
    ("not_actions", "NotAction"),
    ("resources", "Resource"),
    ("not_resources", "NotResource"),
)


def policy_document_json(values: LDict, resolve: Callable[[Any], Any] | None = None) -> LDict:
    """The JSON document (as an ``LDict``) of an ``aws_iam_policy_document`` data source.

    ``resolve`` is applied to each source / override document before it is merged (the plan
    loader uses it to follow references); documents may be ``LDict`` or JSON text."""
    span = span_of(values)
    merged = _Merged(span)
    legacy_source = values.get("source_json")
    if legacy_source is not None:
        merged.merge(_document(legacy_source, resolve, span))
    sources = values.get("source_policy_documents")
    for document in _documents(sources, span):
        merged.merge(_document(document, resolve, span))

    version = values.get("version")
    own = LDict(span=span)
    own["Version"] = version if version is not None else LStr(DEFAULT_VERSION, span)
    own.key_spans["Version"] = key_span(values, "version", span)
    policy_id = values.get("policy_id")
    if policy_id is not None:
        own["Id"] = policy_id
        own.key_spans["Id"] = key_span(values, "policy_id", span)
    blocks = values.get("statement")
    statements = LList(span=span_of(blocks, span))
    if isinstance(blocks, list):
        for block in blocks:
            statements.append(statement_json(block) if isinstance(block, dict) else _as_unknown(block, span))
    elif blocks is not None:
        statements.append(_as_unknown(blocks, span))
    own["Statement"] = statements
    merged.merge(own)

    legacy_override = values.get("override_json")
    for document in _documents(values.get("override_policy_documents"), span):
        merged.merge(_document(document, resolve, span))
    if legacy_override is not None:
        merged.merge(_document(legacy_override, resolve, span))
    return merged.result()


def statement_json(block: dict[str, Any]) -> LDict:
    """One ``statement`` block -> an IAM statement object with the block's span."""
    span = span_of(block)
    result = LDict(span=span)

    def put(name: str, value: Any, attr: str) -> None:
        result[name] = value
        result.key_spans[name] = key_span(block, attr, span)

    sid = block.get("sid")
    if sid is not None and sid != "":
        put("Sid", sid, "sid")
    effect = block.get("effect")
    put("Effect", effect if effect is not None else LStr("Allow", span), "effect")
    for attr, name in _ELEMENTS:
        value = block.get(attr)
        if value is not None:
            put(name, value, attr)
    for attr, name in (("principals", "Principal"), ("not_principals", "NotPrincipal")):
        if block.get(attr) is not None:
            put(name, _principals(block[attr], key_span(block, attr, span)), attr)
    if block.get("condition") is not None:
        put("Condition", _conditions(block["condition"], key_span(block, "condition", span)), "condition")
    return result


def _principals(blocks: Any, span: Span) -> Any:
    if not isinstance(blocks, list):
        return _as_unknown(blocks, span)
    result = LDict(span=span)
    for block in blocks:
        if not isinstance(block, dict):
            return _as_unknown(block, span)
        block_span = span_of(block, span)
        kind = block.get("type")
        identifiers = block.get("identifiers")
        if isinstance(kind, (Unknown, ResourceRef, Template)) or kind is None:
            return _as_unknown(kind if kind is not None else block, block_span)
        if kind == "*" and isinstance(identifiers, list) and [str(i) for i in identifiers] == ["*"]:
            if len(blocks) == 1:
                return LStr("*", block_span)
        entries = result.get(str(kind))
        if entries is None:
            entries = LList(span=span_of(identifiers, block_span))
            result[LStr(str(kind), block_span)] = entries
            result.key_spans[str(kind)] = block_span
        if isinstance(identifiers, list):
            if isinstance(entries, list):
                entries.extend(identifiers)
        else:
            result[str(kind)] = _as_unknown(identifiers, block_span)
    return result


def _conditions(blocks: Any, span: Span) -> Any:
    if not isinstance(blocks, list):
        return _as_unknown(blocks, span)
    result = LDict(span=span)
    for block in blocks:
        if not isinstance(block, dict):
            return _as_unknown(block, span)
        block_span = span_of(block, span)
        test, variable, values = block.get("test"), block.get("variable"), block.get("values")
        if not isinstance(test, str) or not isinstance(variable, str):
            # A condition whose operator or key is unknown cannot be dropped (that would widen an
            # Allow or narrow a Deny): the whole Condition element becomes unknown.
            return _as_unknown(test if not isinstance(test, str) else variable, block_span)
        operator = result.get(str(test))
        if operator is None:
            operator = LDict(span=block_span)
            result[LStr(str(test), key_span(block, "test", block_span))] = operator
            result.key_spans[str(test)] = key_span(block, "test", block_span)
        existing = operator.get(str(variable))
        if isinstance(existing, list) and isinstance(values, list):
            existing.extend(values)
        else:
            operator[LStr(str(variable), key_span(block, "variable", block_span))] = values
            operator.key_spans[str(variable)] = key_span(block, "variable", block_span)
    return result


def _documents(value: Any, span: Span) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list):
        return list(value)
    return [_as_unknown(value, span)]


def _document(value: Any, resolve: Callable[[Any], Any] | None, span: Span) -> Any:
    if resolve is not None:
        value = resolve(value)
    if isinstance(value, dict):
        return value
    if isinstance(value, (str, Template)):
        try:
            return decode_json_text(value, span_of(value, span))
        except JSONTextError as err:
            return Unknown(f"invalid JSON policy document ({err.message})", span_of(value, span), "not JSON")
    return _as_unknown(value, span)


class _Merged:
    """The document being built by successive merges (provider's ``IAMPolicyDoc.Merge``)."""

    def __init__(self, span: Span) -> None:
        self.span = span
        self.version: Any = None
        self.version_span = span
        self.id: Any = None
        self.id_span = span
        self.statements = LList(span=span)

    def merge(self, document: Any) -> None:
        if not isinstance(document, dict):
            self.statements.append(_as_unknown(document, self.span))
            return
        if document.get("Id"):
            self.id = document["Id"]
            self.id_span = key_span(document, "Id", self.span)
        version = document.get("Version")
        if version is not None and (self.version is None or str(version) > str(self.version)):
            self.version = version
            self.version_span = key_span(document, "Version", self.span)
        statements = document.get("Statement")
        if statements is None:
            return
        if not isinstance(statements, list):
            statements = [statements]
        for statement in statements:
            self.add(statement)

    def add(self, statement: Any) -> None:
        sid = statement.get("Sid") if isinstance(statement, dict) else None
        if isinstance(sid, str) and sid:
            for index, existing in enumerate(self.statements):
                if isinstance(existing, dict) and existing.get("Sid") == sid:
                    self.statements[index] = statement
                    return
        self.statements.append(statement)

    def result(self) -> LDict:
        document = LDict(span=self.span)
        document["Version"] = self.version if self.version is not None else LStr(DEFAULT_VERSION, self.span)
        document.key_spans["Version"] = self.version_span
        if self.id is not None:
            document["Id"] = self.id
            document.key_spans["Id"] = self.id_span
        document["Statement"] = self.statements
        document.key_spans["Statement"] = self.span
        return document


def _as_unknown(value: Any, span: Span = NO_SPAN) -> Any:
    if isinstance(value, (Unknown, ResourceRef, Template)):
        return value if isinstance(value, Unknown) else Unknown(str(value), span_of(value, span))
    return Unknown("policy document element", span_of(value, span), "not a known block")
