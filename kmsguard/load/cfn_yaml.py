"""Decode CloudFormation templates (YAML or JSON) into located values.

YAML goes through PyYAML's C loader (``CSafeLoader``; pure-Python ``SafeLoader`` only when libyaml
is missing) with constructors that keep every node's position and turn each short-form tag into
its long form the way cfn-lint's decoder does: ``!Ref x`` -> ``{"Ref": "x"}``, ``!Condition x`` ->
``{"Condition": "x"}``, any other ``!Name v`` -> ``{"Fn::Name": v}``, ``!GetAtt A.B`` ->
``{"Fn::GetAtt": ["A", "B"]}``. cfn-lint itself is not imported here: importing ``cfnlint.decode``
costs about two seconds, too slow for a pre-commit hook (see DESIGN.md).

Differences from cfn-lint, on purpose:

* YAML timestamps (``AWSTemplateFormatVersion: 2010-09-09`` unquoted) stay the string that was
  written. cfn-lint 1.x hands back a ``datetime.date``; CloudFormation reads the value as the
  text ``"2010-09-09"``, and every consumer here wants text.
* The YAML 1.1 "value" key ``=`` is read as the string ``"="`` (cfn-lint rejects the template).
* Duplicate keys are checked among the keys written in a mapping even when it also uses a merge
  key (``<<``); explicit keys still override merged ones.
* Alias expansion is bounded before construction (cfn-lint bounds it after): a "billion laughs"
  document is rejected without being walked.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from kmsguard.load.jsonpos import JSONPosError, loads_with_positions
from kmsguard.model.span import Span
from kmsguard.model.values import LDict, LList, LStr

try:  # libyaml is ~10x faster; the pure-Python loader gives the same values.
    _BaseLoader: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment]
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _BaseLoader = yaml.SafeLoader

# Short-form tags whose long form keeps the bare name; every other tag gets the "Fn::" prefix
# (CloudFormation User Guide, "Intrinsic function reference": "!Ref", "!Condition").
_UNPREFIXED_TAGS = frozenset({"Ref", "Condition"})
# How many nodes a document may have once YAML aliases are expanded. cfn-lint uses the same
# bound; real templates are far below it, an alias bomb far above.
MAX_EXPANDED_NODES = 250_000

_MERGE_TAG = "tag:yaml.org,2002:merge"


class TemplateDecodeError(ValueError):
    """A template that cannot be decoded: a one-line message and a 1-based position."""

    def __init__(self, message: str, line: int, col: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.col = col

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


def decode_template(path: str, text: str) -> LDict:
    """Decode a CloudFormation template. JSON (text starting with ``{``) is read with positions
    by ``jsonpos``; anything else, or JSON that ``jsonpos`` rejects but YAML accepts (YAML flow
    style), is read as YAML. An empty document is an empty template."""
    if text.startswith("\ufeff"):
        text = text[1:]
    if text.lstrip().startswith("{"):
        try:
            return _decode_json(path, text)
        except _NotJSON as json_error:
            try:
                return _decode_yaml(path, text)
            except TemplateDecodeError:
                raise json_error.error from None
    return _decode_yaml(path, text)


class _NotJSON(Exception):
    def __init__(self, error: TemplateDecodeError) -> None:
        super().__init__(error.message)
        self.error = error


def _decode_json(path: str, text: str) -> LDict:
    try:
        value, duplicates = loads_with_positions(text, path)
    except JSONPosError as err:
        raise _NotJSON(TemplateDecodeError(f"invalid JSON: {err.message}", err.line, err.col)) from None
    if duplicates:
        first = duplicates[0]
        # CloudFormation rejects templates with duplicate keys, so this is not retried as YAML.
        raise TemplateDecodeError(f'duplicate key "{first.key}"', first.span.line, first.span.col)
    return _require_mapping(value, Span(path, 1, 1))


def _decode_yaml(path: str, text: str) -> LDict:
    loader = _CfnLoader(text, path)
    try:
        node = loader.get_single_node()
        if node is None:
            return LDict(span=Span(path, 1, 1))
        if "&" in text:  # no anchor, no alias: the bound cannot be exceeded
            _check_alias_expansion(node)
        value = loader.construct_document(node)
    except TemplateDecodeError:
        raise
    except yaml.MarkedYAMLError as err:
        raise _yaml_error(err) from None
    except yaml.YAMLError as err:
        raise TemplateDecodeError(f"invalid YAML: {_one_line(str(err))}", 0) from None
    except RecursionError:
        raise TemplateDecodeError("YAML nesting is too deep", 0) from None
    finally:
        loader.dispose()
    return _require_mapping(value, _span(path, node))


def _require_mapping(value: Any, span: Span) -> LDict:
    if not isinstance(value, LDict):
        kind = "a list" if isinstance(value, list) else "a scalar"
        raise TemplateDecodeError(f"a template must be a mapping, not {kind}", span.line, span.col)
    return value


def _yaml_error(err: yaml.MarkedYAMLError) -> TemplateDecodeError:
    mark = err.problem_mark or err.context_mark
    problem = _one_line(err.problem or "") or "invalid YAML"
    if err.context:
        problem = f"{problem} ({_one_line(err.context)})"
    line = mark.line + 1 if mark is not None else 0
    col = mark.column + 1 if mark is not None else 0
    return TemplateDecodeError(f"invalid YAML: {problem}", line, col)


def _one_line(message: str) -> str:
    return " ".join(message.split())


def _span(path: str, node: Node) -> Span:
    start, end = node.start_mark, node.end_mark
    return Span(path, start.line + 1, start.column + 1, end.line + 1, end.column + 1)


def _check_alias_expansion(root: Node) -> None:
    """Count the nodes of the document as if every alias were copied out; a shared node is
    counted once per use but walked once (memoised by identity), so the check is linear in the
    number of distinct nodes. A node that contains itself is rejected too."""
    sizes: dict[int, int] = {}
    in_progress: set[int] = set()

    def expanded_size(node: Node) -> int:
        ident = id(node)
        if ident in sizes:
            return sizes[ident]
        if ident in in_progress:
            raise TemplateDecodeError(
                "recursive YAML alias (a node that contains itself)",
                node.start_mark.line + 1,
                node.start_mark.column + 1,
            )
        in_progress.add(ident)
        total = 1
        if isinstance(node, SequenceNode):
            for child in node.value:
                total += expanded_size(child)
                _check_bound(total, node)
        elif isinstance(node, MappingNode):
            for key_node, value_node in node.value:
                total += expanded_size(key_node) + expanded_size(value_node)
                _check_bound(total, node)
        in_progress.discard(ident)
        sizes[ident] = total
        return total

    expanded_size(root)


def _check_bound(total: int, node: Node) -> None:
    if total > MAX_EXPANDED_NODES:
        raise TemplateDecodeError(
            f"YAML aliases expand to more than {MAX_EXPANDED_NODES} nodes (alias amplification)",
            node.start_mark.line + 1,
            node.start_mark.column + 1,
        )


class _CfnLoader(_BaseLoader):  # type: ignore[misc, valid-type]
    """A safe loader whose mappings, sequences and strings carry their spans."""

    def __init__(self, stream: str, path: str) -> None:
        super().__init__(stream)
        self.path = path

    def node_span(self, node: Node) -> Span:
        return _span(self.path, node)

    def construct_located_mapping(self, node: MappingNode) -> LDict:
        self.check_duplicate_keys(node)
        self.flatten_mapping(node)  # resolves merge keys ("<<"); explicit keys come last and win
        result = LDict(span=self.node_span(node))
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            if key is None:
                raise _node_error("a mapping key is null", key_node)
            if isinstance(key, (dict, list)):
                raise _node_error("a mapping key must be a scalar", key_node)
            result[key] = self.construct_object(value_node, deep=True)
            result.key_spans[str(key)] = self.node_span(key_node)
        return result

    def check_duplicate_keys(self, node: MappingNode) -> None:
        # CloudFormation rejects a template whose mapping repeats a key; YAML loaders keep the last.
        seen: dict[Any, ScalarNode] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG or not isinstance(key_node, ScalarNode):
                continue
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                first = seen[key]
                raise _node_error(
                    f'duplicate key "{key}" (first at line {first.start_mark.line + 1})', key_node
                )
            seen[key] = key_node

    def construct_located_sequence(self, node: SequenceNode) -> LList:
        return LList(
            (self.construct_object(child, deep=True) for child in node.value), span=self.node_span(node)
        )

    def construct_located_string(self, node: ScalarNode) -> LStr:
        return LStr(self.construct_scalar(node), self.node_span(node))

    def construct_written_text(self, node: ScalarNode) -> LStr:
        # Timestamps and "=" keep the text that was written (see the module docstring).
        return LStr(node.value, self.node_span(node))

    def construct_short_form(self, tag_suffix: str, node: Node) -> LDict:
        name = tag_suffix if tag_suffix in _UNPREFIXED_TAGS else f"Fn::{tag_suffix}"
        span = self.node_span(node)
        value: Any
        if name == "Fn::GetAtt" and isinstance(node, ScalarNode):
            # CloudFormation User Guide, "Fn::GetAtt": "!GetAtt logicalNameOfResource.attributeName";
            # the attribute name may itself contain dots, so only the first dot splits.
            value = LList((LStr(part, span) for part in node.value.split(".", 1)), span=span)
        elif isinstance(node, ScalarNode):
            value = LStr(node.value, span)
        elif isinstance(node, SequenceNode):
            value = self.construct_located_sequence(node)
        elif isinstance(node, MappingNode):
            value = self.construct_located_mapping(node)
        else:  # pragma: no cover - PyYAML has no other node kinds
            raise _node_error(f"unexpected node under !{tag_suffix}", node)
        result = LDict({LStr(name, span): value}, span=span)
        result.key_spans[name] = span
        return result


def _node_error(message: str, node: Node) -> TemplateDecodeError:
    return TemplateDecodeError(message, node.start_mark.line + 1, node.start_mark.column + 1)


_CfnLoader.add_constructor("tag:yaml.org,2002:map", _CfnLoader.construct_located_mapping)
_CfnLoader.add_constructor("tag:yaml.org,2002:seq", _CfnLoader.construct_located_sequence)
_CfnLoader.add_constructor("tag:yaml.org,2002:str", _CfnLoader.construct_located_string)
_CfnLoader.add_constructor("tag:yaml.org,2002:timestamp", _CfnLoader.construct_written_text)
_CfnLoader.add_constructor("tag:yaml.org,2002:value", _CfnLoader.construct_written_text)
_CfnLoader.add_multi_constructor("!", _CfnLoader.construct_short_form)
