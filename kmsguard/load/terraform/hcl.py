"""HCL2 syntax: tree-sitter parse into a light, located syntax tree.

tree-sitter gives a position for every node and is fast enough for a pre-commit hook (see
DESIGN.md). Its nodes are only valid while their tree lives and are awkward to evaluate, so the
tree is converted once into the small frozen dataclasses below; the evaluator never sees
tree-sitter. A file whose tree has ERROR or MISSING nodes is reported with the line of the first
one and not converted: half-parsed configuration would be guessed, not read.

Columns are 1-based byte columns (equal to character columns on ASCII lines).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Union

from kmsguard.model.span import Span

# -- the syntax tree --------------------------------------------------------------------------


class SourceRange:
    """Source text of an expression, decoded only when needed (refs of Unknowns, messages)."""

    __slots__ = ("end", "source", "start")

    def __init__(self, source: bytes, start: int, end: int) -> None:
        self.source = source
        self.start = start
        self.end = end

    def __str__(self) -> str:
        return self.source[self.start : self.end].decode("utf-8", "replace")

    def __repr__(self) -> str:
        return repr(str(self))

    def __eq__(self, other: object) -> bool:
        return str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))


# Syntax-tree nodes are internal to this loader and never mutated; they are plain slotted
# dataclasses (no generated eq/repr/frozen setattr) because defining ~20 full frozen dataclasses
# costs a pre-commit run about 10 ms of start-up. Identity equality is what the loader needs.
_node = dataclass(slots=True, eq=False, repr=False)


@_node
class Literal:
    value: str | int | float | bool | None
    span: Span


@_node
class TemplateIf:
    condition: Expr
    then_parts: tuple[TemplatePart, ...]
    else_parts: tuple[TemplatePart, ...]
    span: Span


@_node
class TemplateFor:
    key_var: str | None
    value_var: str
    collection: Expr
    body: tuple[TemplatePart, ...]
    span: Span


TemplatePart = Union[str, "Expr", TemplateIf, TemplateFor]


@_node
class TemplateExpr:
    """A string with interpolations or directives; ``parts`` alternate literal text and code."""

    parts: tuple[TemplatePart, ...]
    span: Span
    heredoc: bool = False


@_node
class TupleExpr:
    items: tuple[Expr, ...]
    span: Span


@_node
class ObjectItem:
    key: Expr
    value: Expr
    span: Span


@_node
class ObjectExpr:
    items: tuple[ObjectItem, ...]
    span: Span


@_node
class Variable:
    """A bare name: ``var``, ``local``, ``aws_kms_key``, a for-expression variable..."""

    name: str
    span: Span


@_node
class Paren:
    expr: Expr
    span: Span


@_node
class AttrStep:
    name: str
    span: Span


@_node
class IndexStep:
    key: Expr
    span: Span


@_node
class SplatStep:
    """``[*]`` / ``.*`` with the steps applied to each element."""

    steps: tuple[Step, ...]
    span: Span


Step = Union[AttrStep, IndexStep, SplatStep]


@_node
class Traversal:
    base: Expr
    steps: tuple[Step, ...]
    span: Span
    text: SourceRange  # the source text, used as the ref of an Unknown it evaluates to


@_node
class Call:
    name: str
    args: tuple[Expr, ...]
    expand_final: bool
    span: Span
    text: SourceRange


@_node
class Conditional:
    condition: Expr
    then: Expr
    otherwise: Expr
    span: Span
    text: SourceRange


@_node
class Unary:
    op: str
    operand: Expr
    span: Span
    text: SourceRange


@_node
class Binary:
    op: str
    left: Expr
    right: Expr
    span: Span
    text: SourceRange


@_node
class ForExpr:
    key_var: str | None
    value_var: str
    collection: Expr
    key: Expr | None  # object form only
    value: Expr
    condition: Expr | None
    grouping: bool
    span: Span
    text: SourceRange


@_node
class Unsupported:
    """A construct this converter does not know; evaluates to Unknown."""

    span: Span
    text: SourceRange


Expr = Union[
    Literal,
    TemplateExpr,
    TupleExpr,
    ObjectExpr,
    Variable,
    Paren,
    Traversal,
    Call,
    Conditional,
    Unary,
    Binary,
    ForExpr,
    Unsupported,
]


class Attribute:
    """``name = expr``. The expression is converted on first use: most attributes of a module
    (descriptions, outputs, resources kmsguard does not model) are never evaluated."""

    __slots__ = ("_converter", "_expr", "_node", "name", "span")

    def __init__(
        self, name: str, expr: Expr | None, span: Span, node: Any = None, converter: Any = None
    ) -> None:
        self.name = name
        self.span = span  # the name's position: findings about the attribute point here
        self._expr = expr
        self._node = node
        self._converter = converter

    @property
    def expr(self) -> Expr:
        if self._expr is None:
            self._expr = self._converter.expr(self._node)
            self._node = self._converter = None
        return self._expr

    def __repr__(self) -> str:
        return f"Attribute({self.name!r}, line {self.span.line})"


@_node
class Block:
    type: str
    labels: tuple[str, ...]
    body: Body
    span: Span  # the header
    end_line: int


@_node
class Body:
    attributes: tuple[Attribute, ...]
    blocks: tuple[Block, ...]


@_node
class ParsedFile:
    path: str
    body: Body | None  # None when the file has a syntax error
    error_line: int = 0
    error_message: str = ""


# -- parsing ----------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _parser() -> Any:
    # Imported here: the parser is only needed when a .tf file is actually loaded.
    import tree_sitter
    import tree_sitter_hcl

    return tree_sitter.Parser(tree_sitter.Language(tree_sitter_hcl.language()))


def parse_hcl(source: bytes, path: str, *, line_shift: int = 0) -> ParsedFile:
    """Parse HCL source. ``line_shift`` moves every line number (for wrapped template files)."""
    tree = _parser().parse(source)
    root = tree.root_node
    if root.has_error:
        line, message = _first_error(root)
        last_line = max(source.count(b"\n") + (0 if source.endswith(b"\n") else 1), 1)
        return ParsedFile(path, None, min(line, last_line) + line_shift, message)
    converter = _Converter(source, path, line_shift)
    body_node = next((c for c in root.children if c.type == "body"), None)
    body = converter.body(body_node) if body_node is not None else Body((), ())
    return ParsedFile(path, body)


_TEMPLATE_WRAP_END = "KMSGUARD_TEMPLATE_END_7F3A"


def parse_template(text: str, path: str) -> TemplateExpr | ParsedFile:
    """Parse a template file (``templatefile``): its text is HCL template syntax, not HCL. It is
    wrapped in a heredoc so the same grammar reads it; lines are shifted back to the file's."""
    ends_with_newline = text.endswith("\n")
    wrapped = (
        f"t = <<{_TEMPLATE_WRAP_END}\n{text}{'' if ends_with_newline else chr(10)}{_TEMPLATE_WRAP_END}\n"
    )
    parsed = parse_hcl(wrapped.encode(), path, line_shift=-1)
    if parsed.body is None:
        return parsed
    expr = parsed.body.attributes[0].expr if parsed.body.attributes else None
    if not isinstance(expr, TemplateExpr):
        return ParsedFile(path, None, 1, "template could not be read")
    parts = list(expr.parts)
    if not ends_with_newline and parts and isinstance(parts[-1], str) and parts[-1].endswith("\n"):
        parts[-1] = parts[-1][:-1]
    return TemplateExpr(tuple(p for p in parts if p != ""), Span(path, 1, 1), heredoc=True)


def _first_error(node: Any) -> tuple[int, str]:
    stack = [node]
    while stack:
        current = stack.pop()
        if current.is_error or current.is_missing:
            line = current.start_point[0] + 1
            if current.is_missing:
                return line, f"HCL syntax error: missing {current.type!r}"
            snippet = current.text.decode("utf-8", "replace").strip().splitlines()
            near = snippet[0][:40] if snippet else ""
            return line, "HCL syntax error" + (f" near {near!r}" if near else "")
        if current.has_error:
            stack.extend(reversed(current.children))
    return node.start_point[0] + 1, "HCL syntax error"


_QUOTED_ESCAPE = re.compile(r"\\(?:u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|.)|\$\$\{|%%\{", re.DOTALL)
_SIMPLE_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}
_TEMPLATE_ESCAPE = re.compile(r"\$\$\{|%%\{")
_BINARY_OPS = {"||", "&&", "==", "!=", "<", ">", "<=", ">=", "+", "-", "*", "/", "%"}


def _unescape_quoted(text: str) -> str:
    """HCL quoted-string escapes (HCL native syntax spec, "Template Literals")."""
    if "\\" not in text and "$${" not in text and "%%{" not in text:
        return text

    def replace(match: re.Match[str]) -> str:
        seq = match.group()
        if seq in ("$${", "%%{"):
            return seq[1:]
        kind = seq[1]
        if kind in ("u", "U"):
            return chr(int(seq[2:], 16))
        return _SIMPLE_ESCAPES.get(kind, seq)

    return _QUOTED_ESCAPE.sub(replace, text)


def _unescape_heredoc(text: str) -> str:
    return _TEMPLATE_ESCAPE.sub(lambda m: m.group()[1:], text) if ("$${" in text or "%%{" in text) else text


class _Converter:
    """tree-sitter nodes -> the dataclasses above, for one file."""

    def __init__(self, source: bytes, path: str, line_shift: int) -> None:
        self.source = source
        self.path = path
        self.line_shift = line_shift

    def span(self, node: Any) -> Span:
        (sl, sc), (el, ec) = node.start_point, node.end_point
        shift = self.line_shift
        return Span(self.path, sl + 1 + shift, sc + 1, el + 1 + shift, ec + 1)

    def text(self, node: Any) -> str:
        return self.source[node.start_byte : node.end_byte].decode("utf-8", "replace")

    def range(self, node: Any) -> SourceRange:
        return SourceRange(self.source, node.start_byte, node.end_byte)

    def slice(self, start: int, end: int) -> str:
        return self.source[start:end].decode("utf-8", "replace")

    # -- structure --

    def body(self, node: Any) -> Body:
        attributes: list[Attribute] = []
        blocks: list[Block] = []
        for child in node.children:
            if child.type == "attribute":
                name_node = child.children[0]
                expr_node = child.children[-1]
                attributes.append(
                    Attribute(self.text(name_node), None, self.span(name_node), expr_node, self)
                )
            elif child.type == "block":
                blocks.append(self.block(child))
        return Body(tuple(attributes), tuple(blocks))

    def block(self, node: Any) -> Block:
        children = node.children
        block_type = self.text(children[0])
        labels: list[str] = []
        body = Body((), ())
        for child in children[1:]:
            if child.type == "string_lit":
                labels.append(self.string_lit(child))
            elif child.type == "identifier":
                labels.append(self.text(child))
            elif child.type == "body":
                body = self.body(child)
        span = self.span(node)
        header = Span(self.path, span.line, span.col, span.line, span.col + len(block_type))
        return Block(block_type, tuple(labels), body, header, span.end_line)

    def string_lit(self, node: Any) -> str:
        children = node.children
        return _unescape_quoted(self.slice(children[0].end_byte, children[-1].start_byte))

    # -- expressions --

    def expr(self, node: Any) -> Expr:
        kind = node.type
        if kind == "expression":
            return self.expression(node)
        handler = self._handlers().get(kind)
        if handler is None:
            return Unsupported(self.span(node), self.range(node))
        return handler(self, node)

    @staticmethod
    @lru_cache(maxsize=1)
    def _handlers() -> dict[str, Any]:
        return {
            "literal_value": _Converter.literal_value,
            "collection_value": lambda self, n: self.expr(n.children[0]),
            "tuple": _Converter.tuple_expr,
            "object": _Converter.object_expr,
            "template_expr": lambda self, n: self.expr(n.children[0]),
            "quoted_template": _Converter.quoted_template,
            "heredoc_template": _Converter.heredoc_template,
            "variable_expr": lambda self, n: Variable(self.text(n), self.span(n)),
            "function_call": _Converter.function_call,
            "for_expr": lambda self, n: self.for_expr(n.children[0]),
            "operation": lambda self, n: self.expr(n.children[0]),
            "unary_operation": _Converter.unary,
            "binary_operation": _Converter.binary,
            "conditional": _Converter.conditional,
            "string_lit": lambda self, n: Literal(self.string_lit(n), self.span(n)),
        }

    def expression(self, node: Any) -> Expr:
        return self.term(node.children, node)

    def term(self, children: list[Any], node: Any) -> Expr:
        """A primary expression and its postfix steps (attributes, indexes, splats). Operands
        of operations come as such flat child lists, not wrapped in an ``expression`` node."""
        if not children:
            return Unsupported(self.span(node), self.range(node))
        if children[0].type == "(":
            base: Expr = Paren(self.expr(children[1]), self.span(node))
            rest = children[3:]
        else:
            base = self.expr(children[0])
            rest = children[1:]
        if not rest:
            return base
        steps: list[Step] = []
        for child in rest:
            steps.extend(self.steps(child))
        first, last = children[0], children[-1]
        span = Span(
            self.path,
            first.start_point[0] + 1 + self.line_shift,
            first.start_point[1] + 1,
            last.end_point[0] + 1 + self.line_shift,
            last.end_point[1] + 1,
        )
        return Traversal(base, tuple(steps), span, SourceRange(self.source, first.start_byte, last.end_byte))

    def steps(self, node: Any) -> list[Step]:
        kind = node.type
        if kind == "get_attr":
            name = node.children[-1]
            return [AttrStep(self.text(name), self.span(node))]
        if kind == "index":
            inner = node.children[0]
            if inner.type == "legacy_index":  # x.0
                digits = self.text(inner).lstrip(".")
                key: Expr = Literal(int(digits) if digits.isdigit() else digits, self.span(inner))
                return [IndexStep(key, self.span(node))]
            expr_node = next((c for c in inner.children if c.type == "expression"), None)
            key = (
                self.expr(expr_node)
                if expr_node is not None
                else Unsupported(self.span(node), self.range(node))
            )
            return [IndexStep(key, self.span(node))]
        if kind == "splat":
            splat = node.children[0]
            inner_steps: list[Step] = []
            for child in splat.children[1:]:
                inner_steps.extend(self.steps(child))
            if splat.type == "attr_splat":
                # `.*` applies only the attribute accesses that follow to each element.
                cut = next(
                    (i for i, s in enumerate(inner_steps) if not isinstance(s, AttrStep)), len(inner_steps)
                )
                return [SplatStep(tuple(inner_steps[:cut]), self.span(node)), *inner_steps[cut:]]
            return [SplatStep(tuple(inner_steps), self.span(node))]
        return []

    def literal_value(self, node: Any) -> Expr:
        child = node.children[0]
        kind = child.type
        span = self.span(node)
        if kind == "string_lit":
            return Literal(self.string_lit(child), span)
        if kind == "numeric_lit":
            return Literal(_number(self.text(child)), span)
        if kind == "bool_lit":
            return Literal(self.text(child) == "true", span)
        if kind == "null_lit":
            return Literal(None, span)
        return Unsupported(span, self.range(node))

    def tuple_expr(self, node: Any) -> Expr:
        items = tuple(self.expr(c) for c in node.children if c.type == "expression")
        return TupleExpr(items, self.span(node))

    def object_expr(self, node: Any) -> Expr:
        items: list[ObjectItem] = []
        for child in node.children:
            if child.type != "object_elem":
                continue
            exprs = [c for c in child.children if c.type == "expression"]
            if len(exprs) != 2:
                continue
            items.append(ObjectItem(self.expr(exprs[0]), self.expr(exprs[1]), self.span(child)))
        return ObjectExpr(tuple(items), self.span(node))

    def function_call(self, node: Any) -> Expr:
        children = node.children
        name = self.text(children[0])
        args: tuple[Expr, ...] = ()
        expand = False
        for child in children:
            if child.type == "function_arguments":
                args = tuple(self.expr(c) for c in child.children if c.type == "expression")
                expand = any(c.type == "ellipsis" for c in child.children)
        return Call(name, args, expand, self.span(node), self.range(node))

    def unary(self, node: Any) -> Expr:
        children = node.children
        return Unary(self.text(children[0]), self.term(children[1:], node), self.span(node), self.range(node))

    def binary(self, node: Any) -> Expr:
        children = node.children
        split = next((i for i, c in enumerate(children) if i > 0 and c.type in _BINARY_OPS), None)
        if split is None:
            return Unsupported(self.span(node), self.range(node))
        left = self.term(children[:split], node)
        right = self.term(children[split + 1 :], node)
        return Binary(children[split].type, left, right, self.span(node), self.range(node))

    def conditional(self, node: Any) -> Expr:
        exprs = [c for c in node.children if c.type == "expression"]
        if len(exprs) != 3:
            return Unsupported(self.span(node), self.range(node))
        cond, then, other = (self.expr(e) for e in exprs)
        return Conditional(cond, then, other, self.span(node), self.range(node))

    def for_expr(self, node: Any) -> Expr:
        intro = next(c for c in node.children if c.type == "for_intro")
        names = [self.text(c) for c in intro.children if c.type == "identifier"]
        collection = self.expr(next(c for c in intro.children if c.type == "expression"))
        key_var, value_var = (names[0], names[1]) if len(names) == 2 else (None, names[0])
        exprs = [c for c in node.children if c.type == "expression"]
        cond_node = next((c for c in node.children if c.type == "for_cond"), None)
        condition = None
        if cond_node is not None:
            condition = self.expr(next(c for c in cond_node.children if c.type == "expression"))
        grouping = any(c.type == "ellipsis" for c in node.children)
        is_object = node.type == "for_object_expr"
        key = self.expr(exprs[0]) if is_object else None
        value = self.expr(exprs[1] if is_object else exprs[0])
        return ForExpr(
            key_var, value_var, collection, key, value, condition, grouping, self.span(node), self.range(node)
        )

    # -- templates --

    def quoted_template(self, node: Any) -> Expr:
        children = node.children
        inner = children[1:-1]
        parts = self.template_parts(inner, children[0].end_byte, children[-1].start_byte, quoted=True)
        return TemplateExpr(tuple(parts), self.span(node))

    def heredoc_template(self, node: Any) -> Expr:
        children = node.children
        start_node = children[0]
        identifiers = [c for c in children if c.type == "heredoc_identifier"]
        flush = self.text(start_node).startswith("<<-")
        opener = identifiers[0]
        newline = self.source.find(b"\n", opener.end_byte)
        content_start = newline + 1 if newline >= 0 else opener.end_byte
        closer = identifiers[-1] if len(identifiers) > 1 else None
        if closer is None:
            content_end = node.end_byte
        else:
            line_start = self.source.rfind(b"\n", 0, closer.start_byte) + 1
            content_end = max(line_start, content_start)
        inner = [c for c in children[1:] if c.type not in ("heredoc_identifier", "heredoc_start")]
        parts = self.template_parts(inner, content_start, content_end, quoted=False)
        if flush:
            parts = _strip_indent(parts)
        # A policy in a heredoc starts on the line after `<<EOF`: that is where JSON line 1 is.
        span = self.span(node)
        content_line = span.line + 1
        return TemplateExpr(
            tuple(parts), Span(self.path, content_line, 1, span.end_line, span.end_col), heredoc=True
        )

    def template_parts(self, nodes: list[Any], start: int, end: int, *, quoted: bool) -> list[TemplatePart]:
        """Literal text is taken from the source between code nodes (tree-sitter's literal nodes
        drop some whitespace in heredocs)."""
        parts: list[TemplatePart] = []
        position = start
        strip_next = False
        for child in nodes:
            kind = child.type
            if kind in ("template_literal",):
                continue
            if child.start_byte > position:
                text = self.slice(position, child.start_byte)
                parts.append(text.lstrip() if strip_next else text)
            strip_next = False
            if kind == "template_interpolation":
                markers = [c for c in child.children if c.type == "strip_marker"]
                if (
                    markers
                    and markers[0].start_byte == child.children[0].end_byte
                    and parts
                    and isinstance(parts[-1], str)
                ):
                    parts[-1] = parts[-1].rstrip()
                strip_next = bool(markers) and markers[-1].end_byte == child.children[-1].start_byte
                expr_node = next((c for c in child.children if c.type == "expression"), None)
                if expr_node is not None:
                    parts.append(self.expr(expr_node))
            elif kind == "template_directive":
                parts.append(self.directive(child.children[0], quoted))
            position = max(position, child.end_byte)
        if end > position:
            text = self.slice(position, end)
            parts.append(text.lstrip() if strip_next else text)
        unescape = _unescape_quoted if quoted else _unescape_heredoc
        return [unescape(p) if isinstance(p, str) else p for p in parts if p != ""]

    def directive(self, node: Any, quoted: bool) -> TemplatePart:
        children = node.children
        span = self.span(node)
        if node.type == "template_if":
            intro = children[0]
            cond_node = next((c for c in intro.children if c.type == "expression"), None)
            cond = self.expr(cond_node) if cond_node is not None else Unsupported(span, self.range(node))
            else_intro = next((c for c in children if c.type == "template_else_intro"), None)
            end_node = children[-1]
            then_end = else_intro.start_byte if else_intro is not None else end_node.start_byte
            then_nodes = [
                c for c in children[1:] if c.end_byte <= then_end and c.type != "template_else_intro"
            ]
            then_parts = self.template_parts(then_nodes, intro.end_byte, then_end, quoted=quoted)
            else_parts: list[TemplatePart] = []
            if else_intro is not None:
                else_nodes = [
                    c for c in children if c.start_byte >= else_intro.end_byte and c is not end_node
                ]
                else_parts = self.template_parts(
                    else_nodes, else_intro.end_byte, end_node.start_byte, quoted=quoted
                )
            return TemplateIf(cond, tuple(then_parts), tuple(else_parts), span)
        if node.type == "template_for":
            start_node, end_node = children[0], children[-1]
            names = [self.text(c) for c in start_node.children if c.type == "identifier"]
            coll_node = next((c for c in start_node.children if c.type == "expression"), None)
            coll = self.expr(coll_node) if coll_node is not None else Unsupported(span, self.range(node))
            key_var, value_var = (
                (names[0], names[1]) if len(names) == 2 else (None, names[0] if names else "_")
            )
            body = self.template_parts(
                children[1:-1], start_node.end_byte, end_node.start_byte, quoted=quoted
            )
            return TemplateFor(key_var, value_var, coll, tuple(body), span)
        return Unsupported(span, self.range(node))


def _number(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        value = float(text)
        return int(value) if value.is_integer() and "e" not in text.lower() and "." not in text else value


def _strip_indent(parts: list[TemplatePart]) -> list[TemplatePart]:
    """``<<-EOF``: remove the smallest indentation of the content lines from every line
    (Terraform language, "Strings and Templates": indented heredocs)."""
    indents: list[int] = []
    at_line_start = True
    for part in parts:
        if isinstance(part, str):
            lines = part.split("\n")
            last = len(lines) - 1
            for index, line in enumerate(lines):
                if not (index > 0 or at_line_start):
                    continue
                if line.strip():
                    indents.append(len(line) - len(line.lstrip(" \t")))
                elif index == last and line:
                    indents.append(len(line))  # indentation followed by an interpolation
            at_line_start = part.endswith("\n")
        else:
            if at_line_start:
                indents.append(0)  # code at the very start of a line
            at_line_start = False
    indent = min(indents) if indents else 0
    if indent == 0:
        return parts
    result: list[TemplatePart] = []
    at_line_start = True
    for part in parts:
        if isinstance(part, str):
            lines = part.split("\n")
            out = []
            for index, line in enumerate(lines):
                if index > 0 or at_line_start:
                    cut = min(indent, len(line) - len(line.lstrip(" \t")))
                    line = line[cut:]
                out.append(line)
            result.append("\n".join(out))
            at_line_start = part.endswith("\n")
        else:
            result.append(part)
            at_line_start = False
    return result
