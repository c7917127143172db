"""JSON decoding that keeps positions: objects, arrays and strings come back as ``LDict`` /
``LList`` / ``LStr`` carrying their ``Span``, and every object key its own span.

The standard ``json`` module drops positions, and findings must point at the statement's line,
including inside a JSON policy embedded in a Terraform heredoc (``line_offset``/``col_offset``
shift positions into the enclosing file). Duplicate keys are reported, since AWS rejects them in
policies and other decoders silently keep the last one.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from kmsguard.model.span import Span
from kmsguard.model.values import LDict, LList, LStr

MAX_DEPTH = 200

_WS = re.compile(r"[ \t\n\r]*")
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?")
_STRING_CHUNK = re.compile(r'[^"\\\x00-\x1f]*')
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


class JSONPosError(ValueError):
    """A JSON syntax error with its 1-based line and column in the enclosing file."""

    def __init__(self, message: str, line: int, col: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.col = col


@dataclass
class DuplicateKey:
    key: str
    span: Span


class _Decoder:
    def __init__(self, text: str, path: str, line_offset: int, col_offset: int) -> None:
        self.text = text
        self.path = path
        self.line_offset = line_offset
        self.col_offset = col_offset
        self.duplicates: list[DuplicateKey] = []
        # Start offsets of each line, for offset -> (line, col).
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def position(self, offset: int) -> tuple[int, int]:
        lo, hi = 0, len(self.line_starts) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.line_starts[mid] <= offset:
                lo = mid
            else:
                hi = mid - 1
        line = lo + 1
        col = offset - self.line_starts[lo] + 1
        if line == 1:
            col += self.col_offset
        return line + self.line_offset, col

    def span(self, start: int, end: int) -> Span:
        line, col = self.position(start)
        end_line, end_col = self.position(end)
        return Span(self.path, line, col, end_line, end_col)

    def fail(self, message: str, offset: int) -> JSONPosError:
        line, col = self.position(min(offset, len(self.text)))
        return JSONPosError(message, line, col)

    def skip_ws(self, i: int) -> int:
        return _WS.match(self.text, i).end()  # type: ignore[union-attr]

    def value(self, i: int, depth: int) -> tuple[Any, int]:
        if depth > MAX_DEPTH:
            raise self.fail(f"nesting deeper than {MAX_DEPTH} levels", i)
        text = self.text
        if i >= len(text):
            raise self.fail("unexpected end of input, expected a value", i)
        ch = text[i]
        if ch == "{":
            return self.obj(i, depth)
        if ch == "[":
            return self.arr(i, depth)
        if ch == '"':
            s, end = self.string(i)
            return LStr(s, self.span(i, end)), end
        if text.startswith("true", i):
            return True, i + 4
        if text.startswith("false", i):
            return False, i + 5
        if text.startswith("null", i):
            return None, i + 4
        m = _NUMBER.match(text, i)
        if m:
            literal = m.group()
            num: Any = float(literal) if any(c in literal for c in ".eE") else int(literal)
            return num, m.end()
        raise self.fail(f"unexpected character {ch!r}, expected a value", i)

    def string(self, i: int) -> tuple[str, int]:
        text = self.text
        j = i + 1
        chunks: list[str] = []
        while True:
            m = _STRING_CHUNK.match(text, j)
            chunks.append(m.group())  # type: ignore[union-attr]
            j = m.end()  # type: ignore[union-attr]
            if j >= len(text):
                raise self.fail("unterminated string", i)
            ch = text[j]
            if ch == '"':
                return "".join(chunks), j + 1
            if ch == "\\":
                esc = text[j + 1 : j + 2]
                if esc == "u":
                    hexdigits = text[j + 2 : j + 6]
                    if not re.fullmatch(r"[0-9a-fA-F]{4}", hexdigits):
                        raise self.fail("invalid \\u escape", j)
                    code = int(hexdigits, 16)
                    j += 6
                    if 0xD800 <= code < 0xDC00 and text[j : j + 2] == "\\u":
                        low = text[j + 2 : j + 6]
                        if re.fullmatch(r"[0-9a-fA-F]{4}", low) and 0xDC00 <= int(low, 16) < 0xE000:
                            code = 0x10000 + ((code - 0xD800) << 10) + (int(low, 16) - 0xDC00)
                            j += 6
                    chunks.append(chr(code))
                elif esc in _ESCAPES:
                    chunks.append(_ESCAPES[esc])
                    j += 2
                else:
                    raise self.fail(f"invalid escape {esc!r} in string", j)
            else:
                raise self.fail("control character in string", j)

    def obj(self, start: int, depth: int) -> tuple[LDict, int]:
        result = LDict()
        i = self.skip_ws(start + 1)
        if self.text.startswith("}", i):
            result.span = self.span(start, i + 1)
            return result, i + 1
        while True:
            if not self.text.startswith('"', i):
                raise self.fail("expected a quoted property name", i)
            key, key_end = self.string(i)
            key_span = self.span(i, key_end)
            if key in result:
                self.duplicates.append(DuplicateKey(key, key_span))
            i = self.skip_ws(key_end)
            if not self.text.startswith(":", i):
                raise self.fail("expected ':' after property name", i)
            i = self.skip_ws(i + 1)
            value, i = self.value(i, depth + 1)
            result[LStr(key, key_span)] = value
            result.key_spans[key] = key_span
            i = self.skip_ws(i)
            if self.text.startswith(",", i):
                i = self.skip_ws(i + 1)
                continue
            if self.text.startswith("}", i):
                result.span = self.span(start, i + 1)
                return result, i + 1
            raise self.fail("expected ',' or '}' in object", i)

    def arr(self, start: int, depth: int) -> tuple[LList, int]:
        result = LList()
        i = self.skip_ws(start + 1)
        if self.text.startswith("]", i):
            result.span = self.span(start, i + 1)
            return result, i + 1
        while True:
            value, i = self.value(i, depth + 1)
            result.append(value)
            i = self.skip_ws(i)
            if self.text.startswith(",", i):
                i = self.skip_ws(i + 1)
                continue
            if self.text.startswith("]", i):
                result.span = self.span(start, i + 1)
                return result, i + 1
            raise self.fail("expected ',' or ']' in array", i)


def loads_with_positions(
    text: str, path: str, *, line_offset: int = 0, col_offset: int = 0
) -> tuple[Any, list[DuplicateKey]]:
    """Decode ``text``; positions are shifted by ``line_offset`` lines (and ``col_offset`` columns
    on the first line). Raises ``JSONPosError``."""
    if text.startswith("\ufeff"):
        text = text[1:]
    decoder = _Decoder(text, path, line_offset, col_offset)
    i = decoder.skip_ws(0)
    value, end = decoder.value(i, 0)
    end = decoder.skip_ws(end)
    if end != len(text):
        raise decoder.fail("extra data after the JSON value", end)
    return value, decoder.duplicates


def loads_plain(text: str) -> Any:
    """Plain decoding (no positions) for large inputs where positions are not needed."""
    return json.loads(text)
