"""Terraform built-in functions that matter for policies and key settings.

Each function takes the evaluator, the evaluated arguments and the call (for its span and text).
An argument that is not known makes the result ``Unknown`` (ref: the call's source text) unless
the function can still say something exact (``join`` and ``format`` build a ``Template``,
``length`` counts a list whose elements are unknown, ``coalesce`` returns a first known value).
Semantics: Terraform language documentation, "Functions" (one page per function).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kmsguard.load.jsonpos import JSONPosError, loads_with_positions
from kmsguard.load.terraform import hcl
from kmsguard.load.terraform.evaluate import (
    EvalError,
    LSet,
    as_text,
    contains_symbolic,
    format_number,
    is_symbolic,
    make_string,
    to_bool,
    to_number,
    unknown,
)
from kmsguard.model.span import Span
from kmsguard.model.values import LDict, LList, LStr, ResourceRef, Template, Unknown, span_of

if TYPE_CHECKING:
    from kmsguard.load.terraform.evaluate import Evaluator

Function = Callable[["Evaluator", list[Any], hcl.Call], Any]


def _not_known(call: hcl.Call, reason: str = "argument not known") -> Unknown:
    return unknown(call.text, call.span, reason)


def _arity(args: list[Any], low: int, high: int | None, call: hcl.Call) -> None:
    if len(args) < low or (high is not None and len(args) > high):
        raise EvalError(f"{call.name}() called with {len(args)} arguments")


def _string(value: Any) -> str:
    if isinstance(value, str):
        return str(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return format_number(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    raise EvalError("a string is required")


def _list(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    raise EvalError("a list is required")


def _strict(function: Callable[[list[Any], hcl.Call], Any]) -> Function:
    """Wrap a function that needs every argument fully known."""

    def wrapped(ev: Evaluator, args: list[Any], call: hcl.Call) -> Any:
        if any(contains_symbolic(a) for a in args):
            return _not_known(call)
        return function(args, call)

    return wrapped


def _string_fn(operation: Callable[..., str]) -> Function:
    def apply(args: list[Any], call: hcl.Call) -> Any:
        return LStr(
            operation(
                *[_string(a) if not isinstance(a, (int, float)) or isinstance(a, bool) else a for a in args]
            ),
            call.span,
        )

    return _strict(apply)


# -- encoding --------------------------------------------------------------------------------


def _jsonencode(ev: Evaluator, args: list[Any], call: hcl.Call) -> Any:
    _arity(args, 1, 1, call)
    value = args[0]
    if isinstance(value, (dict, list)):
        # The structure itself, not a string: policies keep the spans of their statements.
        return value
    if is_symbolic(value):
        return _not_known(call)
    return LStr(json.dumps(value), call.span)


def _jsondecode(ev: Evaluator, args: list[Any], call: hcl.Call) -> Any:
    _arity(args, 1, 1, call)
    value = args[0]
    if isinstance(value, (dict, list)):
        return value  # jsondecode(jsonencode(x)) is x
    if is_symbolic(value):
        return _not_known(call)
    if not isinstance(value, str):
        raise EvalError("jsondecode() needs a string")
    return decode_json_text(str(value), span_of(value, call.span))


def decode_json_text(text: str, span: Span) -> Any:
    try:
        decoded, _ = loads_with_positions(text, span.path, line_offset=max(span.line - 1, 0))
    except JSONPosError as err:
        raise EvalError(f"invalid JSON: {err.message}") from None
    return decoded


# -- files -----------------------------------------------------------------------------------


def _file(ev: Evaluator, args: list[Any], call: hcl.Call) -> Any:
    _arity(args, 1, 1, call)
    if is_symbolic(args[0]):
        return _not_known(call)
    if ev.read_file is None:
        return _not_known(call, "files cannot be read here")
    return ev.read_file(args[0], call.span)


def _fileexists(ev: Evaluator, args: list[Any], call: hcl.Call) -> Any:
    content = _file(ev, args, call)
    if isinstance(content, Unknown):
        return _not_known(call)
    return True


def _templatefile(ev: Evaluator, args: list[Any], call: hcl.Call) -> Any:
    _arity(args, 2, 2, call)
    path_value, variables = args
    if is_symbolic(path_value) or ev.read_file is None:
        return _not_known(call)
    content = ev.read_file(path_value, call.span)
    if not isinstance(content, str):
        return content
    if is_symbolic(variables):
        return _not_known(call, "template variables not known")
    if not isinstance(variables, dict):
        raise EvalError("templatefile() variables must be an object")
    template = hcl.parse_template(str(content), span_of(content, call.span).path)
    if isinstance(template, hcl.ParsedFile):
        return _not_known(call, template.error_message or "template has a syntax error")
    from kmsguard.load.terraform.evaluate import Evaluator, UnknownRoot

    def no_globals(name: str, span: Span) -> Any:
        # A template sees only the variables passed to it (Terraform docs, "templatefile").
        raise UnknownRoot(name)

    inner = Evaluator(no_globals, ev.read_file)
    bindings = {str(k): v for k, v in variables.items()}
    return inner.eval(template, bindings)


# -- strings ---------------------------------------------------------------------------------

_FORMAT_VERB = re.compile(r"%(?:%|[-+# 0]*\d*(?:\.\d+)?[a-zA-Z])")


def _format(ev: Evaluator, args: list[Any], call: hcl.Call) -> Any:
    _arity(args, 1, None, call)
    spec = args[0]
    if is_symbolic(spec):
        return _not_known(call)
    pieces: list[Any] = []
    position = 0
    arg_index = 1
    text = str(spec)
    for match in _FORMAT_VERB.finditer(text):
        pieces.append(text[position : match.start()])
        position = match.end()
        verb = match.group()
        if verb == "%%":
            pieces.append("%")
            continue
        if arg_index >= len(args):
            raise EvalError("format() has too few arguments")
        value = args[arg_index]
        arg_index += 1
        if verb in ("%s", "%v") or (verb == "%d" and not is_symbolic(value)):
            if isinstance(value, (dict, list)):
                if verb == "%v" and not contains_symbolic(value):
                    pieces.append(json.dumps(_plain(value)))
                    continue
                raise EvalError("format() %s of a collection")
            if verb == "%d":
                pieces.append(str(int(to_number(value))))
            else:
                pieces.append(as_text(value, call.span))
        elif is_symbolic(value) or contains_symbolic(value):
            return _not_known(call)
        else:
            try:
                pieces.append(verb.replace("v", "s") % (value,))
            except (TypeError, ValueError):
                raise EvalError(f"format() verb {verb} does not fit its argument") from None
    pieces.append(text[position:])
    return make_string(pieces, call.span)


def _join(ev: Evaluator, args: list[Any], call: hcl.Call) -> Any:
    _arity(args, 2, None, call)
    separator = args[0]
    if is_symbolic(separator):
        return _not_known(call)
    pieces: list[Any] = []
    for collection in args[1:]:
        if is_symbolic(collection):
            return _not_known(call)
        for item in _list(collection):
            if pieces:
                pieces.append(str(separator))
            pieces.append(as_text(item, call.span))
    return make_string(pieces, call.span)


def _split(args: list[Any], call: hcl.Call) -> Any:
    _arity(args, 2, 2, call)
    separator, text = _string(args[0]), _string(args[1])
    if text == "":
        return LList(span=call.span)
    return LList([LStr(p, call.span) for p in text.split(separator)], span=call.span)


def _replace(args: list[Any], call: hcl.Call) -> Any:
    _arity(args, 3, 3, call)
    text, search, replacement = (_string(a) for a in args)
    if len(search) > 1 and search.startswith("/") and search.endswith("/"):
        return _not_known(call, "regular-expression replace not evaluated")
    return LStr(text.replace(search, replacement), call.span)


def _substr(args: list[Any], call: hcl.Call) -> Any:
    _arity(args, 3, 3, call)
    text = _string(args[0])
    offset, length = int(to_number(args[1])), int(to_number(args[2]))
    if offset < 0:
        offset = max(len(text) + offset, 0)
    end = len(text) if length < 0 else offset + length
    return LStr(text[offset:end], call.span)


# -- collections -----------------------------------------------------------------------------


def _length(ev: Evaluator, args: list[Any], call: hcl.Call) -> Any:
    _arity(args, 1, 1, call)
    value = args[0]
    if is_symbolic(value):
        return _not_known(call)
    if isinstance(value, (list, dict, str)):
        return len(value)
    raise EvalError("length() needs a collection or a string")


def _concat(ev: Evaluator, args: list[Any], call: hcl.Call) -> Any:
    result = LList(span=call.span)
    for arg in args:
        if is_symbolic(arg):
            return _not_known(call)
        result.extend(_list(arg))
    return result


def _merge(ev: Evaluator, args: list[Any], call: hcl.Call) -> Any:
    result = LDict(span=call.span)
    for arg in args:
        if arg is None:
            continue
        if is_symbolic(arg):
            return _not_known(call)
        if not isinstance(arg, dict):
            raise EvalError("merge() needs objects")
        result.update(arg)
        result.key_spans.update(getattr(arg, "key_spans", {}))
    return result


def _flatten(ev: Evaluator, args: list[Any], call: hcl.Call) -> Any:
    _arity(args, 1, 1, call)
    result = LList(span=call.span)

    def walk(items: Any) -> bool:
        for item in items:
            if isinstance(item, list):
                if not walk(item):
                    return False
            elif isinstance(item, (Unknown, ResourceRef)):
                # An unknown element might itself be a list: the result's shape is not known.
                return False
            else:
                result.append(item)
        return True

    if is_symbolic(args[0]) or not walk(_list(args[0])):
        return _not_known(call)
    return result


def _compact(ev: Evaluator, args: list[Any], call: hcl.Call) -> Any:
    _arity(args, 1, 1, call)
    if is_symbolic(args[0]):
        return _not_known(call)
    result = LList(span=call.span)
    for item in _list(args[0]):
        if isinstance(item, Unknown):
            return _not_known(call)  # it might be "" or null
        if item is None or (isinstance(item, str) and item == ""):
            continue
        result.append(item)
    return result


def _distinct(ev: Evaluator, args: list[Any], call: hcl.Call) -> Any:
    _arity(args, 1, 1, call)
    if is_symbolic(args[0]):
        return _not_known(call)
    result = LList(span=call.span)
    for item in _list(args[0]):
        # Unknown elements are kept: at worst a duplicate remains, never a value is lost.
        if is_symbolic(item) or item not in result:
            result.append(item)
    return result


def _toset(ev: Evaluator, args: list[Any], call: hcl.Call) -> Any:
    distinct = _distinct(ev, args, call)
    if not isinstance(distinct, list):
        return distinct
    if all(isinstance(i, str) for i in distinct):
        # A set of strings iterates in lexical order (Terraform docs, "toset").
        return LSet(sorted(distinct), span=distinct.span)
    return LSet(distinct, span=distinct.span)


def _identity(ev: Evaluator, args: list[Any], call: hcl.Call) -> Any:
    _arity(args, 1, 1, call)
    return args[0]


def _lookup(ev: Evaluator, args: list[Any], call: hcl.Call) -> Any:
    _arity(args, 2, 3, call)
    mapping, key = args[0], args[1]
    if is_symbolic(mapping) or is_symbolic(key):
        return _not_known(call)
    if not isinstance(mapping, dict):
        raise EvalError("lookup() needs a map")
    text_key = _string(key)
    if text_key in mapping:
        return mapping[text_key]
    if len(args) == 3:
        return args[2]
    raise EvalError(f"lookup(): no key {text_key!r}")


def _element(ev: Evaluator, args: list[Any], call: hcl.Call) -> Any:
    _arity(args, 2, 2, call)
    items, index = args
    if is_symbolic(items) or is_symbolic(index):
        return _not_known(call)
    items = _list(items)
    if not items:
        raise EvalError("element() of an empty list")
    return items[int(to_number(index)) % len(items)]


def _contains(ev: Evaluator, args: list[Any], call: hcl.Call) -> Any:
    _arity(args, 2, 2, call)
    items, needle = args
    if is_symbolic(items) or contains_symbolic(needle):
        return _not_known(call)
    found = False
    uncertain = False
    for item in _list(items):
        if contains_symbolic(item):
            uncertain = True
        elif (item == needle and type(item) is type(needle)) or (
            isinstance(item, str) and isinstance(needle, str) and item == needle
        ):
            found = True
    if found:
        return True
    return _not_known(call) if uncertain else False


def _keys(ev: Evaluator, args: list[Any], call: hcl.Call) -> Any:
    _arity(args, 1, 1, call)
    if is_symbolic(args[0]):
        return _not_known(call)
    if not isinstance(args[0], dict):
        raise EvalError("keys() needs a map")
    return LList([LStr(str(k), span_of(k, call.span)) for k in sorted(args[0])], span=call.span)


def _values(ev: Evaluator, args: list[Any], call: hcl.Call) -> Any:
    _arity(args, 1, 1, call)
    if is_symbolic(args[0]):
        return _not_known(call)
    if not isinstance(args[0], dict):
        raise EvalError("values() needs a map")
    return LList([args[0][k] for k in sorted(args[0])], span=call.span)


def _zipmap(ev: Evaluator, args: list[Any], call: hcl.Call) -> Any:
    _arity(args, 2, 2, call)
    keys, values = args
    if is_symbolic(keys) or is_symbolic(values) or any(is_symbolic(k) for k in _list(keys)):
        return _not_known(call)
    if len(keys) != len(_list(values)):
        raise EvalError("zipmap() lists differ in length")
    result = LDict(span=call.span)
    for key, value in zip(keys, values, strict=True):
        result[_string(key)] = value
    return result


def _coalesce(ev: Evaluator, args: list[Any], call: hcl.Call) -> Any:
    for arg in args:
        if isinstance(arg, Unknown):
            return _not_known(call)  # it might be null or ""
        if arg is None or (isinstance(arg, str) and arg == ""):
            continue
        return arg
    raise EvalError("coalesce(): no non-null argument")


def _coalescelist(ev: Evaluator, args: list[Any], call: hcl.Call) -> Any:
    for arg in args:
        if is_symbolic(arg):
            return _not_known(call)
        if isinstance(arg, list) and arg:
            return arg
    raise EvalError("coalescelist(): no non-empty list")


def _one(ev: Evaluator, args: list[Any], call: hcl.Call) -> Any:
    _arity(args, 1, 1, call)
    if is_symbolic(args[0]):
        return _not_known(call)
    items = _list(args[0])
    if len(items) > 1:
        raise EvalError("one() of a list with more than one element")
    return items[0] if items else None


def _setunion(ev: Evaluator, args: list[Any], call: hcl.Call) -> Any:
    merged = _concat(ev, args, call)
    return _toset(ev, [merged], call) if isinstance(merged, list) else merged


def _tostring(ev: Evaluator, args: list[Any], call: hcl.Call) -> Any:
    _arity(args, 1, 1, call)
    value = args[0]
    if is_symbolic(value) or value is None:
        return value
    if isinstance(value, (dict, list)):
        raise EvalError("tostring() of a collection")
    return LStr(_string(value), span_of(value, call.span))


def _tonumber(args: list[Any], call: hcl.Call) -> Any:
    return None if args[0] is None else to_number(args[0])


def _tobool(args: list[Any], call: hcl.Call) -> Any:
    return None if args[0] is None else to_bool(args[0])


def _range(args: list[Any], call: hcl.Call) -> Any:
    numbers = [to_number(a) for a in args]
    start, step = 0, 1
    if len(numbers) == 1:
        end = numbers[0]
    elif len(numbers) == 2:
        start, end = numbers
    else:
        start, end, step = numbers[:3]
    if step == 0 or abs((end - start) / step) > 1024:
        raise EvalError("range() too long")
    result = []
    value = start
    while (step > 0 and value < end) or (step < 0 and value > end):
        result.append(value)
        value += step
    return LList(result, span=call.span)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    return value


def _numbers(args: list[Any]) -> list[int | float]:
    items = args[0] if len(args) == 1 and isinstance(args[0], list) else args
    return [to_number(a) for a in items]


def _slice(args: list[Any], call: hcl.Call) -> Any:
    items = _list(args[0])
    start, end = int(to_number(args[1])), int(to_number(args[2]))
    if not 0 <= start <= end <= len(items):
        raise EvalError("slice() indexes out of range")
    return LList(items[start:end], span=call.span)


def _alltrue(args: list[Any], call: hcl.Call) -> Any:
    return all(to_bool(v) for v in _list(args[0]))


def _anytrue(args: list[Any], call: hcl.Call) -> Any:
    return any(to_bool(v) for v in _list(args[0]))


def _sort(args: list[Any], call: hcl.Call) -> Any:
    return LList(sorted(_string(v) for v in _list(args[0])), span=call.span)


def _reverse(args: list[Any], call: hcl.Call) -> Any:
    return LList(list(reversed(_list(args[0]))), span=call.span)


FUNCTIONS: dict[str, Function] = {
    "jsonencode": _jsonencode,
    "jsondecode": _jsondecode,
    "file": _file,
    "fileexists": _fileexists,
    "templatefile": _templatefile,
    "format": _format,
    "join": _join,
    "split": _strict(_split),
    "replace": _strict(_replace),
    "substr": _strict(_substr),
    "lower": _string_fn(str.lower),
    "upper": _string_fn(str.upper),
    "title": _string_fn(str.title),
    "trimspace": _string_fn(str.strip),
    "chomp": _string_fn(lambda s: s.rstrip("\r\n")),
    "trimprefix": _string_fn(lambda s, p: s[len(p) :] if s.startswith(p) else s),
    "trimsuffix": _string_fn(lambda s, p: s[: -len(p)] if p and s.endswith(p) else s),
    "trim": _string_fn(lambda s, chars: s.strip(chars)),
    "startswith": _strict(lambda a, c: _string(a[0]).startswith(_string(a[1]))),
    "endswith": _strict(lambda a, c: _string(a[0]).endswith(_string(a[1]))),
    "basename": _string_fn(lambda s: s.rstrip("/").rsplit("/", 1)[-1]),
    "dirname": _string_fn(lambda s: s.rsplit("/", 1)[0] if "/" in s else "."),
    "length": _length,
    "concat": _concat,
    "merge": _merge,
    "flatten": _flatten,
    "compact": _compact,
    "distinct": _distinct,
    "lookup": _lookup,
    "element": _element,
    "contains": _contains,
    "keys": _keys,
    "values": _values,
    "zipmap": _zipmap,
    "coalesce": _coalesce,
    "coalescelist": _coalescelist,
    "one": _one,
    "tolist": _identity,
    "tomap": _identity,
    "toset": _toset,
    "setunion": _setunion,
    "tostring": _tostring,
    "tonumber": _strict(_tonumber),
    "tobool": _strict(_tobool),
    "range": _strict(_range),
    "min": _strict(lambda a, c: min(_numbers(a))),
    "max": _strict(lambda a, c: max(_numbers(a))),
    "abs": _strict(lambda a, c: abs(to_number(a[0]))),
    "ceil": _strict(lambda a, c: math.ceil(to_number(a[0]))),
    "floor": _strict(lambda a, c: math.floor(to_number(a[0]))),
    "sum": _strict(lambda a, c: sum(_numbers(a))),
    "slice": _strict(_slice),
    "alltrue": _strict(_alltrue),
    "anytrue": _strict(_anytrue),
    "sort": _strict(_sort),
    "reverse": _strict(_reverse),
}

__all__ = ["FUNCTIONS", "Template", "decode_json_text"]
