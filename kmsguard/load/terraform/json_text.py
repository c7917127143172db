"""JSON text with symbolic parts: a heredoc policy with ``${var.account}`` inside.

Terraform users often write policies as heredoc JSON with interpolations. Such a string is a
``Template`` (it is not fully known), yet its structure is: each symbolic part is replaced by a
placeholder token, the text is decoded with positions, and the tokens are put back as the
symbolic values (a whole string -> the value itself; part of a string -> a ``Template``). A part
outside any JSON string (``"Resource": ${jsonencode(var.arns)}``) becomes a quoted token, so the
symbolic value stands for the whole JSON value.
"""

from __future__ import annotations

import re
from typing import Any

from kmsguard.load.jsonpos import JSONPosError, loads_with_positions
from kmsguard.model.span import Span
from kmsguard.model.values import LDict, LList, ResourceRef, Template, Unknown, span_of

_TOKEN = "__kmsguard_symbol_{}__"
_TOKEN_RE = re.compile(r"__kmsguard_symbol_(\d+)__")


class JSONTextError(ValueError):
    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


def decode_json_text(value: str | Template, span: Span | None = None) -> Any:
    """Decode JSON text (a string or a ``Template``) keeping positions. Raises ``JSONTextError``."""
    where = span or span_of(value)
    if isinstance(value, str):
        text, symbols = str(value), []
    else:
        text, symbols = _with_placeholders(value)
    try:
        decoded, _ = loads_with_positions(text, where.path, line_offset=max(where.line - 1, 0))
    except JSONPosError as err:
        raise JSONTextError(err.message, err.line) from None
    return _restore(decoded, symbols) if symbols else decoded


def _with_placeholders(template: Template) -> tuple[str, list[Any]]:
    chunks: list[str] = []
    symbols: list[Any] = []
    in_string = False
    for part in template.parts:
        if isinstance(part, str):
            chunks.append(part)
            in_string = _still_in_string(part, in_string)
            continue
        token = _TOKEN.format(len(symbols))
        symbols.append(part)
        chunks.append(token if in_string else f'"{token}"')
    return "".join(chunks), symbols


def without_structural_symbols(template: Template) -> tuple[Template, list[Any]]:
    """The template with the symbols that stand outside JSON strings removed (an unknown
    ``%{for}`` that renders whole statements), and those symbols. Decoding what is left keeps the
    statements that are known; the removed symbols say what the rest depends on."""
    kept: list[Any] = []
    dropped: list[Any] = []
    in_string = False
    for part in template.parts:
        if isinstance(part, str):
            kept.append(part)
            in_string = _still_in_string(part, in_string)
        elif in_string:
            kept.append(part)
        else:
            dropped.append(part)
    return Template(tuple(kept), template.span), dropped


def _still_in_string(text: str, in_string: bool) -> bool:
    escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\" and in_string:
            escaped = True
        elif char == '"':
            in_string = not in_string
    return in_string


def _restore(value: Any, symbols: list[Any]) -> Any:
    if isinstance(value, LDict):
        result = LDict(span=value.span)
        for key, item in value.items():
            new_key = _restore_string(key, symbols)
            result[new_key] = _restore(item, symbols)
            if str(key) in value.key_spans:
                result.key_spans[str(new_key)] = value.key_spans[str(key)]
        return result
    if isinstance(value, LList):
        return LList([_restore(v, symbols) for v in value], span=value.span)
    if isinstance(value, str):
        return _restore_string(value, symbols)
    return value


def _restore_string(value: Any, symbols: list[Any]) -> Any:
    if "__kmsguard_symbol_" not in value:
        return value
    span = span_of(value)
    parts: list[str | Unknown | ResourceRef] = []
    position = 0
    for match in _TOKEN_RE.finditer(value):
        if match.start() > position:
            parts.append(str(value[position : match.start()]))
        symbol = symbols[int(match.group(1))]
        if isinstance(symbol, Template):
            parts.extend(symbol.parts)
        else:
            parts.append(symbol)
        position = match.end()
    if position < len(value):
        parts.append(str(value[position:]))
    if len(parts) == 1 and not isinstance(parts[0], str):
        return parts[0]
    return Template(tuple(parts), span)
