"""Evaluate HCL expressions to located values, with ``Unknown`` for whatever cannot be known.

Values are those of kmsguard.model.values: ``LStr`` / ``LList`` / ``LDict`` (spans kept), numbers,
booleans, ``None``, and the symbolic ``Unknown`` / ``ResourceRef`` / ``Template``.

Soundness rules (never guess):
- an operation on an unknown operand is ``Unknown`` (its ref is the expression's source text);
- a conditional with an unknown condition is the common value of both branches when they are
  equal; when both branches are lists it is their concatenation, so that both branches are
  analysed (``cond ? [statement] : []`` keeps the statement, as CloudFormation's ``Fn::If`` in a
  list does); else ``Unknown`` named by the condition;
- a string with an unknown interpolation is a ``Template`` (literal parts kept);
- something Terraform itself would reject (index out of range, missing attribute...) raises
  ``EvalError`` inside the evaluator, so that ``try()`` / ``can()`` behave as in Terraform;
  at the top (``Evaluator.evaluate``) it becomes ``Unknown`` with the reason.

References are resolved by a ``resolve_root(name, span)`` callback (module.py); namespaces like
``var`` or ``aws_kms_key`` come back as ``Lazy`` objects whose members are computed on demand.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import Any

from kmsguard.load.terraform import hcl
from kmsguard.model.span import NO_SPAN, Span
from kmsguard.model.values import LDict, LList, LStr, ResourceRef, Template, Unknown, span_of

MAX_REF_TEXT = 160


class EvalError(Exception):
    """An expression Terraform itself would reject."""


class UnknownRoot(Exception):
    """``resolve_root`` does not know the name (a for-variable out of scope, a typo...)."""


class Lazy:
    """A value whose members are computed on demand (a namespace, a resource, a module)."""

    def attr(self, name: str, span: Span) -> Any:
        raise EvalError(f"unsupported attribute {name!r}")

    def index(self, key: Any, span: Span) -> Any:
        raise EvalError("this value cannot be indexed")

    def whole(self, span: Span) -> Any:
        """The value when it is used without traversing into it."""
        return Unknown(self.describe(), span, "used as a whole")

    def splat_items(self, span: Span) -> list[Any] | None:
        """The elements for ``[*]``, or None when they are not known."""
        return None

    def describe(self) -> str:
        return type(self).__name__


class Namespace(Lazy):
    """``var``, ``local``, ``path``...: ``name.member`` calls ``lookup(member, span)``."""

    def __init__(self, name: str, lookup: Callable[[str, Span], Any]) -> None:
        self.name = name
        self.lookup = lookup

    def attr(self, name: str, span: Span) -> Any:
        return self.lookup(name, span)

    def describe(self) -> str:
        return self.name


class LSet(LList):
    """A set (``toset``): a list whose for-expression keys are the elements themselves
    (Terraform language, "for Expressions": for a set, the key and value are the same)."""

    __slots__ = ()


FileReader = Callable[[Any, Span], Any]  # (path value, span) -> LStr | Unknown


def is_symbolic(value: Any) -> bool:
    return isinstance(value, (Unknown, ResourceRef, Template))


def contains_symbolic(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, (Unknown, ResourceRef, Template, Lazy)):
            return True
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def short(text: object) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= MAX_REF_TEXT else text[: MAX_REF_TEXT - 3] + "..."


def unknown(text: object, span: Span, reason: str = "") -> Unknown:
    return Unknown(short(text), span, reason)


def settle(value: Any, span: Span = NO_SPAN) -> Any:
    """Replace ``Lazy`` objects left inside a value by what they stand for."""
    if isinstance(value, Lazy):
        return settle(value.whole(span), span)
    if isinstance(value, LDict):
        if not any(isinstance(v, (Lazy, dict, list)) for v in value.values()):
            return value
        result = LDict({k: settle(v, span) for k, v in value.items()}, span=value.span)
        result.key_spans = value.key_spans
        return result
    if isinstance(value, LList):
        if not any(isinstance(v, (Lazy, dict, list)) for v in value):
            return value
        return LList([settle(v, span) for v in value], span=value.span)
    return value


def as_text(value: Any, span: Span) -> str | Unknown | ResourceRef | Template:
    """A value as it appears inside a string template (Terraform's string conversion)."""
    if isinstance(value, (Unknown, ResourceRef, Template)):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return str(value)
    if isinstance(value, (int, float)):
        return format_number(value)
    if value is None:
        raise EvalError("a null value cannot be used in a string template")
    raise EvalError("a collection cannot be used in a string template")


def format_number(value: int | float) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return str(value)


def make_string(parts: list[Any], span: Span) -> LStr | Template:
    """Join template parts; literal when every part is literal."""
    flat: list[Any] = []
    for part in parts:
        if isinstance(part, Template):
            flat.extend(part.parts)
        else:
            flat.append(part)
    merged: list[Any] = []
    for part in flat:
        if isinstance(part, str) and merged and isinstance(merged[-1], str):
            merged[-1] = merged[-1] + str(part)
        elif isinstance(part, str):
            merged.append(str(part))
        else:
            merged.append(part)
    if all(isinstance(p, str) for p in merged):
        return LStr("".join(merged), span)
    return Template(tuple(p for p in merged if p != ""), span)


def to_number(value: Any) -> int | float:
    if isinstance(value, bool):
        raise EvalError("a boolean is not a number")
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            raise EvalError(f"{value!r} is not a number") from None
        return (
            int(number) if number.is_integer() and "." not in value and "e" not in value.lower() else number
        )
    raise EvalError("not a number")


def to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value in ("true", "false"):
        return value == "true"
    raise EvalError("not a boolean")


def _normal_number(value: float) -> int | float:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return int(value)
    return value


class Evaluator:
    """Evaluates expressions of one module (or one template file)."""

    def __init__(self, resolve_root: Callable[[str, Span], Any], read_file: FileReader | None = None) -> None:
        self.resolve_root = resolve_root
        self.read_file = read_file
        from kmsguard.load.terraform.functions import FUNCTIONS

        self.functions = FUNCTIONS

    # -- entry point --

    def evaluate(self, expr: hcl.Expr, bindings: Mapping[str, Any] | None = None) -> Any:
        """The value of ``expr``; never raises."""
        try:
            return settle(self.eval(expr, bindings or {}), expr.span)
        except EvalError as err:
            return unknown(_text_of(expr), expr.span, str(err))
        except RecursionError:
            return unknown(_text_of(expr), expr.span, "expression nested too deeply")

    # -- the evaluator proper --

    def eval(self, expr: hcl.Expr, env: Mapping[str, Any]) -> Any:
        kind = type(expr)
        if kind is hcl.Literal:
            value = expr.value  # type: ignore[union-attr]
            return LStr(value, expr.span) if isinstance(value, str) else value
        if kind is hcl.TemplateExpr:
            return self.template(expr, env)  # type: ignore[arg-type]
        if kind is hcl.Traversal:
            return self.traversal(expr, env)  # type: ignore[arg-type]
        if kind is hcl.Variable:
            value = self.root(expr.name, expr.span, env)  # type: ignore[union-attr]
            return value.whole(expr.span) if isinstance(value, Lazy) else value
        if kind is hcl.TupleExpr:
            return LList([self.eval(item, env) for item in expr.items], span=expr.span)  # type: ignore[union-attr]
        if kind is hcl.ObjectExpr:
            return self.object(expr, env)  # type: ignore[arg-type]
        if kind is hcl.Call:
            return self.call(expr, env)  # type: ignore[arg-type]
        if kind is hcl.Conditional:
            return self.conditional(expr, env)  # type: ignore[arg-type]
        if kind is hcl.Binary:
            return self.binary(expr, env)  # type: ignore[arg-type]
        if kind is hcl.Unary:
            return self.unary(expr, env)  # type: ignore[arg-type]
        if kind is hcl.ForExpr:
            return self.for_expr(expr, env)  # type: ignore[arg-type]
        if kind is hcl.Paren:
            return self.eval(expr.expr, env)  # type: ignore[union-attr]
        return unknown(_text_of(expr), expr.span, "unsupported expression")

    def root(self, name: str, span: Span, env: Mapping[str, Any]) -> Any:
        if name in env:
            return env[name]
        try:
            return self.resolve_root(name, span)
        except UnknownRoot:
            raise EvalError(f"unknown name {name!r}") from None

    def template(self, expr: hcl.TemplateExpr, env: Mapping[str, Any]) -> Any:
        if len(expr.parts) == 1 and not isinstance(expr.parts[0], (str, hcl.TemplateIf, hcl.TemplateFor)):
            # "${x}" alone is x itself, whatever its type (HCL spec, "Template Interpolation Unwrapping").
            value = self.eval(expr.parts[0], env)
            if isinstance(value, str) and not isinstance(value, LStr):
                return LStr(value, expr.span)
            return value
        pieces = self.template_pieces(expr.parts, env, expr.span)
        return make_string(pieces, expr.span)

    def template_pieces(
        self, parts: tuple[hcl.TemplatePart, ...], env: Mapping[str, Any], span: Span
    ) -> list[Any]:
        pieces: list[Any] = []
        for part in parts:
            if isinstance(part, str):
                pieces.append(part)
            elif isinstance(part, hcl.TemplateIf):
                cond = self.eval(part.condition, env)
                if is_symbolic(cond):
                    pieces.append(
                        unknown(f"%{{if {_text_of(part.condition)}}}", part.span, "unknown condition")
                    )
                    continue
                branch = part.then_parts if to_bool(cond) else part.else_parts
                pieces.extend(self.template_pieces(branch, env, span))
            elif isinstance(part, hcl.TemplateFor):
                collection = self.eval(part.collection, env)
                entries = self.iterate(collection)
                if entries is None:
                    pieces.append(
                        unknown(f"%{{for in {_text_of(part.collection)}}}", part.span, "unknown collection")
                    )
                    continue
                for key, item in entries:
                    inner = dict(env)
                    inner[part.value_var] = item
                    if part.key_var:
                        inner[part.key_var] = key
                    pieces.extend(self.template_pieces(part.body, inner, span))
            else:
                pieces.append(as_text(settle(self.eval(part, env), span), span))
        return pieces

    def object(self, expr: hcl.ObjectExpr, env: Mapping[str, Any]) -> Any:
        result = LDict(span=expr.span)
        for item in expr.items:
            key_expr = item.key
            if isinstance(key_expr, hcl.Variable):
                key: Any = LStr(key_expr.name, key_expr.span)  # a bare name is the key itself
            else:
                key = self.eval(key_expr.expr if isinstance(key_expr, hcl.Paren) else key_expr, env)
            if is_symbolic(key):
                return unknown(_text_of(expr), expr.span, "object key not known")
            if isinstance(key, bool):
                key = "true" if key else "false"
            elif isinstance(key, (int, float)):
                key = format_number(key)
            if not isinstance(key, str):
                raise EvalError("object keys must be strings")
            key_span = item.key.span
            result[LStr(str(key), key_span)] = self.eval(item.value, env)
            result.key_spans[str(key)] = key_span
        return result

    def traversal(self, expr: hcl.Traversal, env: Mapping[str, Any]) -> Any:
        base = expr.base
        if isinstance(base, hcl.Variable):
            value = self.root(base.name, base.span, env)
        else:
            value = self.eval(base, env)
        value = self.apply_steps(value, expr.steps, env, expr.text, expr.span)
        return value.whole(expr.span) if isinstance(value, Lazy) else value

    def apply_steps(
        self, value: Any, steps: tuple[hcl.Step, ...], env: Mapping[str, Any], text: object, span: Span
    ) -> Any:
        for position, step in enumerate(steps):
            if isinstance(value, Unknown):
                return Unknown(short(_extend_ref(value.ref, steps[position:], text)), span, value.reason)
            if isinstance(value, (ResourceRef, Template)):
                return unknown(text, span, "attribute of a value known only after apply")
            if isinstance(step, hcl.AttrStep):
                value = self.get_attr(value, step.name, span)
            elif isinstance(step, hcl.IndexStep):
                key = self.eval(step.key, env)
                if is_symbolic(key):
                    if isinstance(value, Lazy):
                        value = value.index(key, step.span)
                        continue
                    return unknown(text, span, "index not known")
                value = self.get_index(value, key, step.span)
            else:
                return self.splat(value, step, steps[position + 1 :], env, text, span)
        return value

    def get_attr(self, value: Any, name: str, span: Span) -> Any:
        if isinstance(value, Lazy):
            return value.attr(name, span)
        if isinstance(value, dict):
            if name in value:
                return value[name]
            raise EvalError(f"no attribute {name!r}")
        if value is None:
            raise EvalError(f"attribute {name!r} of a null value")
        raise EvalError(f"attribute {name!r} of a {type(value).__name__}")

    def get_index(self, value: Any, key: Any, span: Span) -> Any:
        if isinstance(value, Lazy):
            return value.index(key, span)
        if isinstance(value, list):
            index = to_number(key)
            if not isinstance(index, int) or not 0 <= index < len(value):
                raise EvalError(f"index {key!r} out of range")
            return value[index]
        if isinstance(value, dict):
            text_key = (
                format_number(key) if isinstance(key, (int, float)) and not isinstance(key, bool) else key
            )
            if isinstance(text_key, str) and text_key in value:
                return value[text_key]
            raise EvalError(f"no element {key!r}")
        if value is None:
            raise EvalError("index of a null value")
        raise EvalError("this value cannot be indexed")

    def splat(
        self,
        value: Any,
        step: hcl.SplatStep,
        rest: tuple[hcl.Step, ...],
        env: Mapping[str, Any],
        text: object,
        span: Span,
    ) -> Any:
        if isinstance(value, Lazy):
            items = value.splat_items(span)
            if items is None:
                return unknown(text, span, "splat over a collection known only after apply")
        elif value is None:
            items = []
        elif isinstance(value, list):
            items = list(value)
        else:
            items = [value]  # HCL spec, "Splat Operators": a non-list is a one-element tuple
        result = LList(span=span)
        for item in items:
            mapped = self.apply_steps(item, step.steps, env, text, span)
            result.append(mapped.whole(span) if isinstance(mapped, Lazy) else mapped)
        return self.apply_steps(result, rest, env, text, span) if rest else result

    def call(self, expr: hcl.Call, env: Mapping[str, Any]) -> Any:
        name = expr.name
        if name in ("try", "can"):
            return self.try_can(expr, env)
        function = self.functions.get(name)
        if function is None:
            return Unknown(f"{name}(...)", expr.span, "function not evaluated")
        args = [settle(self.eval(arg, env), arg.span) for arg in expr.args]
        if expr.expand_final and args:
            last = args.pop()
            if is_symbolic(last):
                return unknown(expr.text, expr.span, "expanded argument not known")
            if not isinstance(last, list):
                raise EvalError("only a list can be expanded with ...")
            args.extend(last)
        return function(self, args, expr)

    def try_can(self, expr: hcl.Call, env: Mapping[str, Any]) -> Any:
        if expr.name == "can":
            if len(expr.args) != 1:
                raise EvalError("can() takes one argument")
            try:
                value = settle(self.eval(expr.args[0], env), expr.span)
            except EvalError:
                return False
            return unknown(expr.text, expr.span, "argument not known") if is_symbolic(value) else True
        for arg in expr.args:
            try:
                value = settle(self.eval(arg, env), arg.span)
            except EvalError:
                continue
            # Terraform's try() returns an unknown value as it is: it cannot tell yet whether it fails.
            return value
        raise EvalError("no argument of try() could be evaluated")

    def conditional(self, expr: hcl.Conditional, env: Mapping[str, Any]) -> Any:
        cond = self.eval(expr.condition, env)
        if not is_symbolic(cond):
            return self.eval(expr.then if to_bool(cond) else expr.otherwise, env)
        # Named by its condition (``var.enabled``), which is what the answer depends on.
        ref = cond.ref if isinstance(cond, Unknown) else _text_of(expr.condition)
        try:
            then = settle(self.eval(expr.then, env), expr.span)
            otherwise = settle(self.eval(expr.otherwise, env), expr.span)
        except EvalError:
            return unknown(ref, expr.span, "condition not known")
        if not contains_symbolic(then) and then == otherwise and type(then) is type(otherwise):
            return then
        if isinstance(then, list) and isinstance(otherwise, list):
            # Both branches analysed, as for CloudFormation's Fn::If in a list: the statements of
            # `cond ? [stmt] : []` are kept whatever the condition turns out to be.
            return LList([*then, *otherwise], span=expr.span)
        return unknown(ref, expr.span, "condition not known")

    def unary(self, expr: hcl.Unary, env: Mapping[str, Any]) -> Any:
        value = self.eval(expr.operand, env)
        if is_symbolic(value):
            return unknown(expr.text, expr.span, "operand not known")
        if expr.op == "!":
            return not to_bool(value)
        return -to_number(value)

    def binary(self, expr: hcl.Binary, env: Mapping[str, Any]) -> Any:
        op = expr.op
        left = settle(self.eval(expr.left, env), expr.span)
        if op in ("&&", "||") and not is_symbolic(left):
            # Terraform evaluates both sides, but a known deciding left side decides.
            left_bool = to_bool(left)
            if op == "&&" and not left_bool:
                return False
            if op == "||" and left_bool:
                return True
        right = settle(self.eval(expr.right, env), expr.span)
        if op in ("&&", "||"):
            if is_symbolic(right) or is_symbolic(left):
                if not is_symbolic(right) and to_bool(right) == (op == "||"):
                    return op == "||"
                return unknown(expr.text, expr.span, "operand not known")
            return to_bool(right)
        if op in ("==", "!="):
            if contains_symbolic(left) or contains_symbolic(right):
                return unknown(expr.text, expr.span, "operand not known")
            equal = _values_equal(left, right)
            return equal if op == "==" else not equal
        if is_symbolic(left) or is_symbolic(right):
            return unknown(expr.text, expr.span, "operand not known")
        a, b = to_number(left), to_number(right)
        if op == "+":
            return _normal_number(a + b)
        if op == "-":
            return _normal_number(a - b)
        if op == "*":
            return _normal_number(a * b)
        if op in ("/", "%"):
            if b == 0:
                raise EvalError("division by zero")
            return _normal_number(a / b) if op == "/" else _normal_number(math.fmod(a, b))
        if op == "<":
            return a < b
        if op == ">":
            return a > b
        if op == "<=":
            return a <= b
        if op == ">=":
            return a >= b
        raise EvalError(f"unknown operator {op!r}")

    def iterate(self, collection: Any) -> list[tuple[Any, Any]] | None:
        """(key, value) pairs of a collection in Terraform's order, or None when not known."""
        if isinstance(collection, dict):
            return [
                (LStr(str(k), span_of(k)) if isinstance(k, str) else k, collection[k])
                for k in sorted(collection)
            ]
        if isinstance(collection, LSet):
            return [(item, item) for item in collection]
        if isinstance(collection, list):
            return list(enumerate(collection))
        if collection is None:
            raise EvalError("cannot iterate over a null value")
        if is_symbolic(collection) or isinstance(collection, Lazy):
            return None
        raise EvalError("cannot iterate over a single value")

    def for_expr(self, expr: hcl.ForExpr, env: Mapping[str, Any]) -> Any:
        collection = settle(self.eval(expr.collection, env), expr.span)
        entries = self.iterate(collection)
        if entries is None:
            return unknown(expr.text, expr.span, "collection not known")
        as_object = expr.key is not None
        items: list[Any] = []
        pairs: list[tuple[Any, Any]] = []
        for key, item in entries:
            inner = dict(env)
            inner[expr.value_var] = item
            if expr.key_var:
                inner[expr.key_var] = key
            if expr.condition is not None:
                keep = self.eval(expr.condition, inner)
                if is_symbolic(keep):
                    return unknown(expr.text, expr.span, "filter not known")
                if not to_bool(keep):
                    continue
            if as_object:
                out_key = self.eval(expr.key, inner)  # type: ignore[arg-type]
                if is_symbolic(out_key):
                    return unknown(expr.text, expr.span, "key not known")
                pairs.append((out_key, self.eval(expr.value, inner)))
            else:
                items.append(self.eval(expr.value, inner))
        if not as_object:
            return LList(items, span=expr.span)
        result = LDict(span=expr.span)
        for out_key, value in pairs:
            text_key = (
                format_number(out_key)
                if isinstance(out_key, (int, float)) and not isinstance(out_key, bool)
                else out_key
            )
            if not isinstance(text_key, str):
                raise EvalError("for-expression keys must be strings")
            if expr.grouping:
                result.setdefault(text_key, LList(span=expr.span)).append(value)
            elif text_key in result:
                raise EvalError(f"duplicate key {text_key!r} in for expression")
            else:
                result[text_key] = value
        return result


def _values_equal(left: Any, right: Any) -> bool:
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if isinstance(left, (int, float)) and isinstance(right, (int, float)):
        return left == right
    if type(left) is not type(right) and not (isinstance(left, str) and isinstance(right, str)):
        if not (isinstance(left, dict) and isinstance(right, dict)) and not (
            isinstance(left, list) and isinstance(right, list)
        ):
            return False
    return bool(left == right)


def _extend_ref(ref: str, steps: tuple[hcl.Step, ...], text: object) -> str:
    parts = [ref]
    for step in steps:
        if isinstance(step, hcl.AttrStep):
            parts.append("." + step.name)
        elif isinstance(step, hcl.IndexStep):
            key = step.key
            if isinstance(key, hcl.Literal):
                parts.append(f"[{json.dumps(key.value)}]")
            else:
                parts.append("[" + _text_of(key) + "]")
        else:
            parts.append("[*]")
    return "".join(parts)


def _text_of(expr: Any) -> str:
    text = getattr(expr, "text", None)
    if text:
        return str(text)
    if isinstance(expr, hcl.Variable):
        return expr.name
    if isinstance(expr, hcl.Literal):
        return json.dumps(expr.value)
    if isinstance(expr, hcl.Paren):
        return "(" + _text_of(expr.expr) + ")"
    return f"<expression at line {expr.span.line}>"
