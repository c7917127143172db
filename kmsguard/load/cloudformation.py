"""CloudFormation templates (YAML or JSON, SAM and CDK output included) -> ``Inventory``.

Intrinsic functions are resolved by a small evaluator. What it cannot know statically becomes an
``Unknown`` naming what it refers to (``Parameter X``, ``ImportValue X``, ``AWS::AccountId``...),
never a guess; references to resources of the template become ``ResourceRef(logical_id, attr)``.

Conditions depend on values given at deploy time, so lists keep both branches of an ``Fn::If``:
an ``Fn::If`` that is an item of a list contributes every branch as an item (both branches'
policy statements are analysed, and an ``AWS::NoValue`` branch contributes nothing), and under
keys that hold lists in IAM policies (``Statement``, ``Action``, ``AWS``...) the branches are
united. A single value (``EnableKeyRotation: !If [HasSymmetricKey, true, false]``) takes the
branch its condition selects when the condition is decided by the same parameter values every
``Ref`` resolves to (the defaults), so correlated properties stay consistent (a key is not both
symmetric and "maybe not rotated"). Otherwise the branches are merged: equal branches give that
value; mappings are merged key by key; anything else (two different strings, a value that may be
absent) becomes ``Unknown("Fn::If <condition>")``.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from kmsguard.findings import Diagnostic, InputError, Suppression
from kmsguard.load.base import RULE_NOT_ANALYSED, LoadContext, LoadResult
from kmsguard.load.cfn_yaml import TemplateDecodeError, decode_template
from kmsguard.load.identity_draft import IdentityDraft
from kmsguard.load.policy_builder import build_policy
from kmsguard.load.suppress import RULE_SUPPRESSION_WITHOUT_REASON, comment_suppressions, parse_rule_ids
from kmsguard.model import (
    Alias,
    IdentityKind,
    Inventory,
    Key,
    KeyConsumer,
    LDict,
    LList,
    LStr,
    ManagedPolicy,
    NamedPolicy,
    Policy,
    PolicyAttachment,
    PolicyKind,
    ResourceRef,
    Source,
    Span,
    StandalonePolicy,
    Template,
    Unknown,
    key_span,
    span_of,
    to_plain,
)
from kmsguard.model.values import THIS_ACCOUNT, THIS_REGION, is_symbolic

RULE_INVALID_PROPERTY = "KMS100"

SOURCE = Source.CLOUDFORMATION

# Keys whose values IAM and CloudFormation treat as lists, so that the branches of an Fn::If
# there are combined as a union (see the module docstring).
_LIST_KEYS = frozenset(
    {
        "Statement",
        "AWS",
        "Service",
        "Federated",
        "CanonicalUser",
        "Action",
        "NotAction",
        "Resource",
        "NotResource",
        "ManagedPolicyArns",
        "Policies",
        "Roles",
        "Users",
        "Groups",
        "Tags",
    }
)

# CloudFormation User Guide, "Pseudo parameters reference": values known only at deploy time.
_DEPLOY_TIME_PSEUDO = ("AWS::StackName", "AWS::StackId", "AWS::NotificationARNs")
_URL_SUFFIX = {"aws": "amazonaws.com", "aws-cn": "amazonaws.com.cn"}

_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


class _NoValue:
    """``Ref: AWS::NoValue``: the property is removed (CloudFormation User Guide, "Pseudo
    parameters reference", AWS::NoValue)."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()


@dataclass(frozen=True)
class _Choice:
    """The undecided result of ``Fn::If``: every option is possible."""

    condition: str
    options: tuple[Any, ...]
    span: Span


# -- the evaluator -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Parameter:
    name: str
    type: str
    default: Any  # None when the parameter has no Default


@dataclass
class Evaluator:
    """Resolves intrinsic functions against one template's parameters, mappings and resources."""

    parameters: dict[str, _Parameter]
    mappings: dict[str, Any]
    resource_ids: frozenset[str]
    ctx: LoadContext
    conditions: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # One handler per intrinsic function the evaluator knows; others become Unknown.
        self.handlers: dict[str, Callable[[Any, Span], Any]] = {
            "Ref": self.ref,
            "Fn::GetAtt": self.get_att,
            "Fn::Sub": self.sub,
            "Fn::Join": self.join,
            "Fn::Select": self.select,
            "Fn::Split": self.split,
            "Fn::FindInMap": self.find_in_map,
            "Fn::If": self.if_,
            "Fn::ImportValue": self.import_value,
            "Fn::Base64": self.base64,
            "Fn::Length": self.length,
            "Fn::ToJsonString": self.to_json_string,
        }

    def resolve(self, value: Any, key: str = "") -> Any:
        """The value with every intrinsic resolved; ``NO_VALUE`` when it is removed. ``key`` is
        the key the value sits under, which decides how the branches of an Fn::If combine."""
        return self.collapse(self.evaluate(value), key)

    # Walking a value may produce _Choice; containers collapse their children's choices at once,
    # so a _Choice only ever escapes as the top-level result of evaluate().
    def evaluate(self, value: Any) -> Any:
        if isinstance(value, dict):
            function = _intrinsic_name(value)
            if function is not None:
                return self.call(function, value[function], _call_span(value, function))
            return self.evaluate_mapping(value)
        if isinstance(value, list):
            return self.evaluate_list(value)
        return value

    def evaluate_mapping(self, mapping: dict[Any, Any]) -> LDict:
        result = LDict(span=span_of(mapping))
        spans = getattr(mapping, "key_spans", {})
        for name, item in mapping.items():
            resolved = self.resolve(item, str(name))
            if resolved is NO_VALUE:
                continue
            result[name] = resolved
            if str(name) in spans:
                result.key_spans[str(name)] = spans[str(name)]
        return result

    def evaluate_list(self, items: list[Any]) -> LList:
        result = LList(span=span_of(items))
        for item in items:
            resolved = self.evaluate(item)
            for option in _options(resolved):
                if option is not NO_VALUE:
                    result.append(option)
        return result

    def collapse(self, value: Any, key: str) -> Any:
        if not isinstance(value, _Choice):
            return value
        options = [self.collapse(option, key) for option in value.options]
        present = [option for option in options if option is not NO_VALUE]
        if not present:
            return NO_VALUE
        maybe_absent = len(present) < len(options)
        if key not in _LIST_KEYS and len(options) == 2 and not all(isinstance(o, list) for o in present):
            decided = self.decide(value.condition)
            if decided is not None:
                return options[0] if decided else options[1]
        return _merge_branches(present, key, value.condition, value.span, maybe_absent)

    def decide(self, name: str, seen: frozenset[str] = frozenset()) -> bool | None:
        """The value of a template condition under the parameter values Refs resolve to, or None
        when it depends on something unknown (a pseudo-parameter, a parameter without default)."""
        if name in seen or name not in self.conditions:
            return None
        return self.condition_value(self.conditions[name], seen | {name})

    def condition_value(self, expression: Any, seen: frozenset[str]) -> bool | None:
        # source: AWS CloudFormation User Guide, "Condition functions" (Fn::And, Fn::Equals,
        # Fn::Not, Fn::Or, and Condition references).
        if not isinstance(expression, dict) or len(expression) != 1:
            return None
        ((function, argument),) = expression.items()
        if function == "Condition":
            return self.decide(str(argument), seen)
        if function == "Fn::Equals" and isinstance(argument, list) and len(argument) == 2:
            left, right = (self.resolve(item) for item in argument)
            if all(isinstance(v, (str, int, float, bool)) and not is_symbolic(v) for v in (left, right)):
                return _scalar_text(left) == _scalar_text(right)
            return None
        if function in ("Fn::And", "Fn::Or") and isinstance(argument, list):
            values = [self.condition_value(item, seen) for item in argument]
            if function == "Fn::And":
                return False if False in values else (None if None in values else True)
            return True if True in values else (None if None in values else False)
        if function == "Fn::Not" and isinstance(argument, list) and len(argument) == 1:
            value = self.condition_value(argument[0], seen)
            return None if value is None else not value
        return None

    # -- intrinsic functions ------------------------------------------------------------------

    def call(self, function: str, argument: Any, span: Span) -> Any:
        handler = self.handlers.get(function)
        if handler is None:
            # Fn::GetAZs, Fn::Cidr, Fn::Transform, condition functions in a property...
            return Unknown(function, span, "not evaluated statically")
        return handler(argument, span)

    def ref(self, argument: Any, span: Span) -> Any:
        name = self.resolve(argument)
        if not isinstance(name, str):
            return Unknown(f"Ref {_text(name)}", span, "reference name is not a literal")
        return self.ref_name(str(name), span)

    def ref_name(self, name: str, span: Span) -> Any:
        """``Ref name`` (also ``${name}`` in Fn::Sub). CloudFormation User Guide, "Ref"."""
        if name in self.parameters:
            return self.parameter_value(self.parameters[name], span)
        pseudo = self.pseudo_parameter(name, span)
        if pseudo is not None:
            return pseudo
        if name in self.resource_ids:
            return ResourceRef(name, "Ref", span)
        return Unknown(name, span, "Ref to a name the template does not define")

    def parameter_value(self, parameter: _Parameter, span: Span) -> Any:
        if parameter.type.startswith("AWS::SSM::Parameter::"):
            # The Default of an SSM parameter type is the name of the SSM parameter, not its value
            # (CloudFormation User Guide, "Parameters": "SSM parameter types").
            return Unknown(f"Parameter {parameter.name}", span, "value read from SSM at deploy time")
        if parameter.default is None:
            return Unknown(f"Parameter {parameter.name}", span, "parameter without Default")
        default = parameter.default
        is_list_type = parameter.type == "CommaDelimitedList" or parameter.type.startswith("List<")
        if is_list_type and isinstance(default, str):
            # CloudFormation User Guide, "Parameters": CommaDelimitedList members are space trimmed.
            return LList((LStr(part.strip(), span) for part in default.split(",")), span=span)
        if isinstance(default, str):
            return LStr(default, span)
        return default

    def pseudo_parameter(self, name: str, span: Span) -> Any:
        """CloudFormation User Guide, "Pseudo parameters reference"."""
        if name == "AWS::AccountId":
            return LStr(self.ctx.account, span) if self.ctx.account else Unknown(THIS_ACCOUNT, span)
        if name == "AWS::Region":
            return LStr(self.ctx.region, span) if self.ctx.region else Unknown(THIS_REGION, span)
        if name == "AWS::Partition":
            return LStr(self.ctx.partition, span)
        if name == "AWS::URLSuffix":
            suffix = _URL_SUFFIX.get(self.ctx.partition)
            return LStr(suffix, span) if suffix else Unknown(name, span)
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in _DEPLOY_TIME_PSEUDO:
            return Unknown(name, span, "known at deploy time")
        return None

    def get_att(self, argument: Any, span: Span) -> Any:
        resolved = self.resolve(argument)
        if isinstance(resolved, str):
            resolved = resolved.split(".", 1)
        if not isinstance(resolved, list) or len(resolved) != 2:
            return Unknown(f"Fn::GetAtt {_text(resolved)}", span, "malformed Fn::GetAtt")
        logical_id, attribute = resolved
        if not isinstance(logical_id, str) or not isinstance(attribute, str):
            return Unknown(f"{_text(logical_id)}.{_text(attribute)}", span, "attribute name not literal")
        if logical_id in self.resource_ids:
            return ResourceRef(str(logical_id), str(attribute), span)
        return Unknown(
            f"{logical_id}.{attribute}", span, "Fn::GetAtt of a resource the template does not define"
        )

    def sub(self, argument: Any, span: Span) -> Any:
        """CloudFormation User Guide, "Fn::Sub": ``${Name}`` is a variable of the map, a
        parameter, a pseudo parameter or a resource (Ref); ``${Resource.Attr}`` is Fn::GetAtt;
        ``${!Literal}`` is the text ``${Literal}``."""
        variables: dict[str, Any] = {}
        text = argument
        if isinstance(argument, list):
            if len(argument) != 2 or not isinstance(argument[1], dict):
                return Unknown("Fn::Sub", span, "malformed Fn::Sub")
            text, raw_variables = argument
            variables = {str(name): self.resolve(value) for name, value in raw_variables.items()}
        if not isinstance(text, str):
            text = self.resolve(text)
            if not isinstance(text, str):
                return Unknown("Fn::Sub", span, "template string is not literal")
        parts: list[Any] = []
        position = 0
        for match in _SUB_VARIABLE.finditer(text):
            parts.append(text[position : match.start()])
            position = match.end()
            name = match.group(1)
            if name.startswith("!"):
                parts.append("${" + name[1:] + "}")
                continue
            name = name.strip()
            if name in variables:
                parts.append(variables[name])
            elif "." in name and name.split(".", 1)[0] in self.resource_ids:
                logical_id, attribute = name.split(".", 1)
                parts.append(ResourceRef(logical_id, attribute, span))
            else:
                parts.append(self.ref_name(name, span))
        parts.append(text[position:])
        return _concatenate(parts, span, "Fn::Sub")

    def join(self, argument: Any, span: Span) -> Any:
        if not isinstance(argument, list) or len(argument) != 2:
            return Unknown("Fn::Join", span, "malformed Fn::Join")
        delimiter = self.resolve(argument[0])
        items = self.resolve(argument[1])
        if not isinstance(delimiter, str):
            return Unknown("Fn::Join", span, "delimiter is not literal")
        if not isinstance(items, list):
            return Unknown(f"Fn::Join of {_text(items)}", span, "list is not known statically")
        parts: list[Any] = []
        for index, item in enumerate(items):
            if index:
                parts.append(str(delimiter))
            parts.append(item)
        return _concatenate(parts, span, "Fn::Join")

    def select(self, argument: Any, span: Span) -> Any:
        if not isinstance(argument, list) or len(argument) != 2:
            return Unknown("Fn::Select", span, "malformed Fn::Select")
        index = self.resolve(argument[0])
        items = self.resolve(argument[1])
        if isinstance(index, str) and index.isdigit():
            index = int(index)
        if not isinstance(index, int) or isinstance(index, bool) or not isinstance(items, list):
            return Unknown(f"Fn::Select {_text(index)} of {_text(items)}", span, "not known statically")
        if not 0 <= index < len(items):
            return Unknown(f"Fn::Select {index}", span, "index out of range")
        return items[index]

    def split(self, argument: Any, span: Span) -> Any:
        if not isinstance(argument, list) or len(argument) != 2:
            return Unknown("Fn::Split", span, "malformed Fn::Split")
        delimiter = self.resolve(argument[0])
        source = self.resolve(argument[1])
        if not isinstance(delimiter, str) or not delimiter or not isinstance(source, str):
            return Unknown(f"Fn::Split of {_text(source)}", span, "string is not known statically")
        return LList((LStr(part, span) for part in source.split(delimiter)), span=span)

    def find_in_map(self, argument: Any, span: Span) -> Any:
        if not isinstance(argument, list) or len(argument) not in (3, 4):
            return Unknown("Fn::FindInMap", span, "malformed Fn::FindInMap")
        names = [self.resolve(part) for part in argument[:3]]
        label = "Fn::FindInMap " + ".".join(_text(name) for name in names)
        if not all(isinstance(name, str) for name in names):
            return Unknown(label, span, "map keys are not known statically")
        map_name, top_key, second_key = (str(name) for name in names)
        value = self.mappings.get(map_name, {})
        value = value.get(top_key, {}) if isinstance(value, dict) else {}
        if isinstance(value, dict) and second_key in value:
            return _relocate(value[second_key], span)
        if len(argument) == 4 and isinstance(argument[3], dict) and "DefaultValue" in argument[3]:
            # AWS::LanguageExtensions: Fn::FindInMap with a DefaultValue.
            return self.resolve(argument[3]["DefaultValue"])
        return Unknown(label, span, "no such entry in Mappings")

    def if_(self, argument: Any, span: Span) -> Any:
        if not isinstance(argument, list) or len(argument) != 3:
            return Unknown("Fn::If", span, "malformed Fn::If")
        condition = _text(argument[0])
        return _Choice(condition, (self.evaluate(argument[1]), self.evaluate(argument[2])), span)

    def import_value(self, argument: Any, span: Span) -> Any:
        name = self.resolve(argument)
        return Unknown(f"ImportValue {_text(name)}", span, "exported by another stack")

    def base64(self, argument: Any, span: Span) -> Any:
        value = self.resolve(argument)
        if isinstance(value, str):
            return LStr(base64.b64encode(str(value).encode()).decode(), span)
        return Unknown("Fn::Base64", span, "not known statically")

    def length(self, argument: Any, span: Span) -> Any:
        value = self.resolve(argument)
        return len(value) if isinstance(value, list) else Unknown("Fn::Length", span, "not known statically")

    def to_json_string(self, argument: Any, span: Span) -> Any:
        value = self.resolve(argument)
        if _fully_known(value):
            return LStr(json.dumps(to_plain(value), separators=(",", ":")), span)
        return Unknown("Fn::ToJsonString", span, "object is not known statically")


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _intrinsic_name(mapping: dict[Any, Any]) -> str | None:
    if len(mapping) != 1:
        return None
    (name,) = mapping.keys()
    if name == "Ref" or (isinstance(name, str) and name.startswith("Fn::")):
        return str(name)
    return None


def _call_span(mapping: dict[Any, Any], function: str) -> Span:
    return key_span(mapping, function, span_of(mapping))


def _options(value: Any) -> Iterable[Any]:
    if isinstance(value, _Choice):
        for option in value.options:
            yield from _options(option)
    else:
        yield value


def _merge_branches(options: list[Any], key: str, condition: str, span: Span, maybe_absent: bool) -> Any:
    """Combine the branches of an Fn::If that sits under ``key`` (see the module docstring)."""
    label = f"Fn::If {condition}"
    plains = [to_plain(option) for option in options]
    if all(plain == plains[0] for plain in plains) and not maybe_absent:
        return options[0]
    if key in _LIST_KEYS or all(isinstance(option, list) for option in options):
        merged = LList(span=span)
        seen: list[Any] = []
        for option in options:
            for item in option if isinstance(option, list) else [option]:
                plain = to_plain(item)
                if plain not in seen:
                    seen.append(plain)
                    merged.append(item)
        return merged
    if maybe_absent:
        return Unknown(label, span, "set in one branch of the condition only")
    if all(isinstance(option, dict) for option in options):
        merged_map = LDict(span=span_of(options[0], span))
        names: list[Any] = []
        for option in options:
            names.extend(name for name in option if name not in names)
        for name in names:
            values = [option[name] for option in options if name in option]
            merged_map[name] = _merge_branches(values, str(name), condition, span, len(values) < len(options))
            for option in options:
                if name in option:
                    merged_map.key_spans[str(name)] = key_span(option, str(name), span)
                    break
        return merged_map
    return Unknown(label, span, "differs between the branches of the condition")


def _concatenate(parts: list[Any], span: Span, function: str) -> Any:
    """Join resolved pieces into one string, or a ``Template`` when some are symbolic."""
    flat: list[Any] = []
    for part in parts:
        if isinstance(part, Template):
            flat.extend(part.parts)
        elif isinstance(part, (Unknown, ResourceRef)):
            flat.append(part)
        elif isinstance(part, bool):
            flat.append("true" if part else "false")
        elif isinstance(part, (str, int, float)):
            flat.append(str(part))
        else:
            return Unknown(function, span, f"{function} of a value that is not a string")
    merged: list[Any] = []
    for part in flat:
        if isinstance(part, str) and merged and isinstance(merged[-1], str):
            merged[-1] += part
        elif not (isinstance(part, str) and not part):
            merged.append(part)
    if all(isinstance(part, str) for part in merged):
        return LStr("".join(merged), span)
    if len(merged) == 1:  # "${AWS::AccountId}" is the symbol itself, not a string around it
        return merged[0]
    return Template(tuple(merged), span)


def _relocate(value: Any, span: Span) -> Any:
    """A value copied from Mappings, pointed at the place that uses it."""
    if isinstance(value, str):
        return LStr(str(value), span)
    return value


def _fully_known(value: Any) -> bool:
    if isinstance(value, (Unknown, ResourceRef, Template, _Choice)):
        return False
    if isinstance(value, dict):
        return all(_fully_known(item) for item in value.values())
    if isinstance(value, list):
        return all(_fully_known(item) for item in value)
    return True


def _text(value: Any) -> str:
    return str(to_plain(value))


# -- template -> model ---------------------------------------------------------------------------


@dataclass
class _Resource:
    """One resource's resolved properties and the typed readers that report wrong types."""

    logical_id: str
    type: str
    span: Span
    properties: LDict
    diagnostics: list[Diagnostic]

    def has(self, name: str) -> bool:
        return name in self.properties

    def raw(self, name: str) -> Any:
        return self.properties.get(name)

    def where(self, name: str) -> Span:
        return key_span(self.properties, name, self.span) if name in self.properties else self.span

    def invalid(self, name: str, expected: str, value: Any) -> Unknown:
        where = span_of(value, self.where(name))
        self.diagnostics.append(
            Diagnostic(
                RULE_INVALID_PROPERTY,
                f"{self.type} property {name} must be {expected}, not {_describe(value)}",
                where,
                self.logical_id,
                f"property:{name}",
            )
        )
        return Unknown(f"{self.logical_id}.{name}", where, f"invalid value for {name}")

    def boolean(self, name: str, default: Any) -> Any:
        if name not in self.properties:
            return default
        value = self.properties[name]
        if isinstance(value, bool) or isinstance(value, (Unknown, ResourceRef, Template)):
            return value
        # CloudFormation accepts the strings "true" and "false" for Boolean properties.
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        return self.invalid(name, "a boolean", value)

    def integer(self, name: str, default: Any) -> Any:
        if name not in self.properties:
            return default
        value = self.properties[name]
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and re.fullmatch(r"-?\d+", value):
            return int(value)
        if isinstance(value, (Unknown, ResourceRef, Template)):
            return value if isinstance(value, Unknown) else Unknown(str(value), self.where(name))
        return self.invalid(name, "an integer", value)

    def string(self, name: str, default: Any = None) -> Any:
        if name not in self.properties:
            return default
        value = self.properties[name]
        if isinstance(value, (str, Unknown, ResourceRef, Template)):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return LStr(str(value), self.where(name))
        return self.invalid(name, "a string", value)

    def string_list(self, name: str) -> tuple[Any, ...]:
        if name not in self.properties:
            return ()
        value = self.properties[name]
        if isinstance(value, (Unknown, ResourceRef, Template)):
            return (value,)
        if not isinstance(value, list):
            return (self.invalid(name, "a list of strings", value),)
        items: list[Any] = []
        for item in value:
            if isinstance(item, (str, Unknown, ResourceRef, Template)):
                items.append(item)
            else:
                items.append(self.invalid(name, "a list of strings", item))
        return tuple(items)

    def mapping(self, name: str) -> LDict | None:
        if name not in self.properties:
            return None
        value = self.properties[name]
        if isinstance(value, LDict):
            return value
        if isinstance(value, dict):
            return LDict(value, span=self.where(name))
        if not isinstance(value, Unknown):
            self.invalid(name, "an object", value)
        return None

    def nested(self, name: str) -> _Resource | None:
        """Readers for a property that is itself an object (``BucketEncryption``...)."""
        value = self.mapping(name)
        if value is None:
            return None
        return _Resource(
            self.logical_id, f"{self.type} {name}", span_of(value, self.where(name)), value, self.diagnostics
        )

    def tags(self, name: str = "Tags") -> dict[str, Any]:
        value = self.raw(name)
        if isinstance(value, dict):  # some resource types (SAM, SSM) take a map of tags
            return {str(k): v for k, v in value.items()}
        if not isinstance(value, list):
            return {}
        result: dict[str, Any] = {}
        for tag in value:
            if isinstance(tag, dict) and isinstance(tag.get("Key"), str):
                result[str(tag["Key"])] = tag.get("Value")
        return result


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    return f'"{value}"'


def load_cloudformation(path: str, text: str, ctx: LoadContext) -> LoadResult:
    """Load one CloudFormation template. Never raises: unreadable input becomes an
    ``InputError``, and a resource that cannot be read does not stop the others."""
    result = LoadResult(inventory=Inventory(org=ctx.org()), sources={path: text})
    try:
        template = decode_template(path, text)
    except TemplateDecodeError as err:
        result.errors.append(InputError(path, err.line, err.message))
        return result
    loader = _TemplateLoader(path, template, ctx, result, text.splitlines())
    loader.load()
    comment_rules, comment_problems = comment_suppressions(path, text, loader.resource_ranges)
    result.suppressions.extend(comment_rules)
    result.diagnostics.extend(comment_problems)
    return result


class _TemplateLoader:
    def __init__(
        self, path: str, template: LDict, ctx: LoadContext, result: LoadResult, lines: list[str]
    ) -> None:
        self.path = path
        self.lines = lines
        self.template = template
        self.ctx = ctx
        self.result = result
        self.resource_ranges: list[tuple[int, int]] = []
        self.keys: dict[str, Key] = {}
        self.aliases: list[Alias] = []
        self.identities: dict[str, IdentityDraft] = {}
        self.managed: list[ManagedPolicy] = []
        self.attachments: list[PolicyAttachment] = []
        self.consumers: list[KeyConsumer] = []
        self.standalone: list[StandalonePolicy] = []
        # Policies of AWS::IAM::Policy & co., folded into identities once all are known.
        self.pending_inline: list[tuple[str, IdentityKind, Any, NamedPolicy, Span]] = []
        self.pending_managed: list[tuple[str, IdentityKind, Any, Span]] = []

    # -- driver -------------------------------------------------------------------------------

    def error(self, span: Span, message: str) -> None:
        self.result.errors.append(InputError(self.path, span.line, message))

    def section(self, name: str) -> dict[str, Any]:
        value = self.template.get(name)
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.error(key_span(self.template, name), f"the {name} section must be a mapping")
            return {}
        return value

    def load(self) -> None:
        resources = self.section("Resources")
        self.evaluator = Evaluator(
            parameters=self.read_parameters(),
            mappings=self.section("Mappings"),
            resource_ids=frozenset(str(name) for name in resources),
            ctx=self.ctx,
            conditions={str(k): v for k, v in self.section("Conditions").items()},
        )
        self.sam_globals = self.read_sam_globals()
        deferred: list[tuple[str, dict[str, Any], Span]] = []
        for logical_id, body in resources.items():
            span = key_span(resources, str(logical_id), span_of(resources))
            if str(logical_id).startswith("Fn::ForEach::"):
                self.result.diagnostics.append(
                    Diagnostic(
                        RULE_NOT_ANALYSED,
                        f"{logical_id} is not expanded by kmsguard: the resources it declares "
                        "are not analysed",
                        span,
                        str(logical_id),
                        "foreach",
                    )
                )
                continue
            if not isinstance(body, dict):
                self.error(span, f"resource {logical_id} must be a mapping")
                continue
            self.resource_ranges.append((span.line, self.last_line(body, span)))
            self.read_suppressions(str(logical_id), body, span)
            if body.get("Type") == "AWS::KMS::ReplicaKey":
                deferred.append((str(logical_id), body, span))  # after its primary key
            else:
                self.load_guarded(str(logical_id), body, span)
        for logical_id, body, span in deferred:
            self.load_guarded(logical_id, body, span)
        self.fold_policies()
        self.publish()

    def load_guarded(self, logical_id: str, body: dict[str, Any], span: Span) -> None:
        """Load one resource; whatever goes wrong stays an error of that resource."""
        try:
            self.load_resource(logical_id, body, span)
        except RecursionError:
            self.error(span, f"resource {logical_id} is nested too deeply to analyse")
        except Exception as err:  # one bad resource must not hide the others
            self.error(span, f"internal error reading resource {logical_id}: {type(err).__name__}: {err}")

    def read_parameters(self) -> dict[str, _Parameter]:
        parameters: dict[str, _Parameter] = {}
        for name, body in self.section("Parameters").items():
            body = body if isinstance(body, dict) else {}
            kind = body.get("Type")
            parameters[str(name)] = _Parameter(
                str(name), str(kind) if isinstance(kind, str) else "String", body.get("Default")
            )
        return parameters

    def read_sam_globals(self) -> dict[str, Any]:
        globals_section = self.template.get("Globals")
        function = globals_section.get("Function") if isinstance(globals_section, dict) else None
        return function if isinstance(function, dict) else {}

    def read_suppressions(self, logical_id: str, body: dict[str, Any], span: Span) -> None:
        """``Metadata: {kmsguard: {ignore: [{id: KMS001, reason: ...}]}}`` covers the resource."""
        metadata = body.get("Metadata")
        settings = metadata.get("kmsguard") if isinstance(metadata, dict) else None
        entries = settings.get("ignore") if isinstance(settings, dict) else None
        if entries is None:
            return
        first, last = span.line, self.last_line(body, span)
        for entry in entries if isinstance(entries, list) else [entries]:
            where = span_of(entry, span)
            rule_text = entry.get("id", entry.get("ids", "")) if isinstance(entry, dict) else entry
            if isinstance(rule_text, list):
                rule_text = ",".join(str(item) for item in rule_text)
            reason = entry.get("reason") if isinstance(entry, dict) else None
            if not isinstance(reason, str) or not reason.strip():
                self.result.diagnostics.append(
                    Diagnostic(
                        RULE_SUPPRESSION_WITHOUT_REASON,
                        "suppression has no reason: add a reason to the kmsguard ignore entry",
                        where,
                        logical_id,
                        f"suppress:{logical_id}:{rule_text}",
                    )
                )
                continue
            ids = parse_rule_ids(str(rule_text))
            self.result.suppressions.append(
                Suppression(self.path, where.line, ids, reason.strip(), first, last)
            )

    def last_line(self, body: Any, header: Span) -> int:
        """The last line of a resource. A YAML block mapping ends where the next token starts
        (the next key), so a final line holding nothing of the resource before the end column is
        not part of it, nor are blank and comment lines before the next key."""
        span = span_of(body, header)
        last = span.end_line
        if last <= 0:
            return header.line
        if last > len(self.lines) or not self.lines[last - 1][: max(span.end_col - 1, 0)].strip():
            last -= 1
        while last > header.line and _is_blank_or_comment(self.lines[last - 1]):
            last -= 1
        return max(last, header.line)

    def load_resource(self, logical_id: str, body: dict[str, Any], span: Span) -> None:
        kind = body.get("Type")
        if kind is None:
            self.error(span, f"resource {logical_id} has no Type")
            return
        if not isinstance(kind, str):
            # e.g. Rain's "Type: !Rain::Module file.yml": a pre-processor directive, not CloudFormation.
            self.error(
                span,
                f"resource {logical_id} has a Type that is not a string ({_text(kind)}); "
                "expand pre-processor directives (rain pkg...) before checking",
            )
            return
        handler = _RESOURCE_HANDLERS.get(str(kind))
        if handler is None:
            return  # resource types that neither hold nor use keys nor grant access
        properties = self.evaluator.resolve(body.get("Properties", LDict(span=span)), "Properties")
        resource = _Resource(logical_id, str(kind), span, LDict(span=span), self.result.diagnostics)
        if isinstance(properties, LDict):
            resource.properties = properties
        elif properties is not NO_VALUE and properties is not None and not isinstance(properties, Unknown):
            resource.invalid("Properties", "an object", properties)
            return
        handler(self, resource)

    def build(self, document: Any, kind: PolicyKind, resource: _Resource, name: str) -> Policy | Unknown:
        policy, problems = build_policy(
            document,
            kind,
            resource=resource.logical_id,
            span=resource.where(name),
            partition=self.ctx.partition,
        )
        self.result.diagnostics.extend(problems)
        return policy

    def this_account(self, span: Span) -> Any:
        return self.ctx.account if self.ctx.account else Unknown(THIS_ACCOUNT, span)

    def this_region(self, span: Span) -> Any:
        return self.ctx.region if self.ctx.region else Unknown(THIS_REGION, span)

    # -- KMS ----------------------------------------------------------------------------------

    def kms_key(self, resource: _Resource) -> None:
        """AWS::KMS::Key; defaults from the CloudFormation resource reference "AWS::KMS::Key"."""
        spans: dict[str, Span] = {}
        rotation = resource.boolean("EnableKeyRotation", False)  # "Default: false"
        key = Key(
            address=resource.logical_id,
            resource_type=resource.type,
            source=SOURCE,
            span=resource.span,
            arn=ResourceRef(resource.logical_id, "Arn", resource.span),
            key_id=ResourceRef(resource.logical_id, "Ref", resource.span),
            description=resource.string("Description"),
            key_spec=resource.string("KeySpec", "SYMMETRIC_DEFAULT"),  # "Default: SYMMETRIC_DEFAULT"
            key_usage=resource.string("KeyUsage", "ENCRYPT_DECRYPT"),  # "Default: ENCRYPT_DECRYPT"
            origin=resource.string("Origin", "AWS_KMS"),  # "Default: AWS_KMS"
            enabled=resource.boolean("Enabled", True),  # "Default: true"
            rotation_enabled=rotation,
            # RotationPeriodInDays "Default: 365"; it only means something with rotation on.
            rotation_period_days=resource.integer("RotationPeriodInDays", 365)
            if rotation is not False
            else None,
            deletion_window_days=resource.integer("PendingWindowInDays", 30),  # "Default: 30"
            multi_region=resource.boolean("MultiRegion", False),  # "Default: false"
            bypass_policy_lockout_safety_check=resource.boolean("BypassPolicyLockoutSafetyCheck", False),
            tags=resource.tags(),
            policy=self.key_policy(resource),
            attr_spans=spans,
            account=self.this_account(resource.span),
            region=self.this_region(resource.span),
        )
        spans.update(_written_spans(resource, _KEY_ATTRIBUTES))
        self.keys[resource.logical_id] = key

    def key_policy(self, resource: _Resource) -> Policy | Unknown:
        if resource.has("KeyPolicy"):
            return self.build(resource.raw("KeyPolicy"), PolicyKind.KEY, resource, "KeyPolicy")
        # CloudFormation resource reference, "AWS::KMS::Key", KeyPolicy: "If you don't specify a
        # key policy, AWS KMS attaches a default key policy to the KMS key" -- the KMS Developer
        # Guide, "Default key policy", gives its one statement: the account (root) gets kms:* on
        # the key, which lets IAM policies of the account grant access to it.
        root = Template(
            ("arn:", self.ctx.partition, ":iam::", self.this_account(resource.span), ":root"), resource.span
        )
        if self.ctx.account:
            root_arn: Any = LStr(f"arn:{self.ctx.partition}:iam::{self.ctx.account}:root", resource.span)
        else:
            root_arn = root
        document = LDict(
            {
                "Version": "2012-10-17",
                "Id": "key-default-1",
                "Statement": LList(
                    [
                        LDict(
                            {
                                "Sid": "Enable IAM User Permissions",
                                "Effect": "Allow",
                                "Principal": LDict({"AWS": root_arn}, span=resource.span),
                                "Action": "kms:*",
                                "Resource": "*",
                            },
                            span=resource.span,
                        )
                    ],
                    span=resource.span,
                ),
            },
            span=resource.span,
        )
        return self.build(document, PolicyKind.KEY, resource, "KeyPolicy")

    def kms_replica_key(self, resource: _Resource) -> None:
        """AWS::KMS::ReplicaKey: a replica shares key spec, usage, origin and rotation with its
        primary (KMS Developer Guide, "Multi-Region keys in AWS KMS", shared properties)."""
        primary_ref = resource.string("PrimaryKeyArn")
        primary = self.keys.get(primary_ref.address) if isinstance(primary_ref, ResourceRef) else None
        unknown = Unknown(
            f"{resource.logical_id} primary key",
            resource.where("PrimaryKeyArn"),
            "primary key outside the template",
        )
        key = Key(
            address=resource.logical_id,
            resource_type=resource.type,
            source=SOURCE,
            span=resource.span,
            arn=ResourceRef(resource.logical_id, "Arn", resource.span),
            key_id=ResourceRef(resource.logical_id, "Ref", resource.span),
            description=resource.string("Description"),
            key_spec=primary.key_spec if primary else unknown,
            key_usage=primary.key_usage if primary else unknown,
            origin=primary.origin if primary else unknown,
            enabled=resource.boolean("Enabled", True),
            rotation_enabled=primary.rotation_enabled if primary else unknown,
            rotation_period_days=primary.rotation_period_days if primary else None,
            deletion_window_days=resource.integer("PendingWindowInDays", 30),
            multi_region=True,
            primary_key=primary_ref,
            is_replica=True,
            tags=resource.tags(),
            policy=self.build(resource.raw("KeyPolicy"), PolicyKind.KEY, resource, "KeyPolicy")
            if resource.has("KeyPolicy")
            else Unknown(f"{resource.logical_id}.KeyPolicy", resource.span, "KeyPolicy is required"),
            attr_spans=_written_spans(resource, _KEY_ATTRIBUTES | {"primary_key": "PrimaryKeyArn"}),
            account=self.this_account(resource.span),
            region=self.this_region(resource.span),
        )
        self.keys[resource.logical_id] = key

    def kms_alias(self, resource: _Resource) -> None:
        self.aliases.append(
            Alias(
                address=resource.logical_id,
                name=resource.string("AliasName", Unknown(f"{resource.logical_id}.AliasName", resource.span)),
                target_key=resource.string("TargetKeyId"),
                source=SOURCE,
                span=resource.span,
            )
        )

    # -- IAM ----------------------------------------------------------------------------------

    def identity(
        self, resource: _Resource, kind: IdentityKind, name_property: str, arn_kind: str
    ) -> IdentityDraft:
        name = resource.string(name_property)
        path = resource.string("Path", "/")
        draft = IdentityDraft(
            kind=kind,
            address=resource.logical_id,
            span=resource.span,
            name=name,
            arn=self.identity_arn(resource, arn_kind, name, path),
            path=path,
            managed_policies=list(resource.string_list("ManagedPolicyArns")),
            permissions_boundary=resource.string("PermissionsBoundary"),
            tags=resource.tags(),
        )
        draft.inline_policies.extend(self.inline_policies(resource))
        self.identities[resource.logical_id] = draft
        return draft

    def identity_arn(self, resource: _Resource, arn_kind: str, name: Any, path: Any) -> Any:
        """A literal ARN when the name is written (so a key policy naming the ARN matches),
        else the ``Arn`` attribute of the resource."""
        if not isinstance(name, str) or not isinstance(path, str):
            return ResourceRef(resource.logical_id, "Arn", resource.span)
        # IAM User Guide, "IAM identifiers": arn:partition:iam::account:role/path/name.
        parts = (
            "arn:",
            self.ctx.partition,
            ":iam::",
            self.this_account(resource.span),
            f":{arn_kind}{path}{name}",
        )
        return _concatenate(list(parts), resource.span, "arn")

    def inline_policies(self, resource: _Resource) -> list[NamedPolicy]:
        value = resource.raw("Policies")
        if value is None:
            return []
        if not isinstance(value, list):
            resource.invalid("Policies", "a list of policies", value)
            return []
        policies: list[NamedPolicy] = []
        for entry in value:
            if not isinstance(entry, dict):
                resource.invalid("Policies", "a list of {PolicyName, PolicyDocument}", entry)
                continue
            entry_reader = _Resource(
                resource.logical_id,
                resource.type,
                span_of(entry, resource.where("Policies")),
                LDict(entry, span=span_of(entry)),
                resource.diagnostics,
            )
            entry_reader.properties.key_spans.update(getattr(entry, "key_spans", {}))
            document = self.build(
                entry.get("PolicyDocument"), PolicyKind.IDENTITY, entry_reader, "PolicyDocument"
            )
            policies.append(
                NamedPolicy(
                    entry_reader.string("PolicyName"),
                    document,
                    resource.logical_id,
                    span=entry_reader.where("PolicyDocument"),
                )
            )
        return policies

    def iam_role(self, resource: _Resource) -> None:
        draft = self.identity(resource, IdentityKind.ROLE, "RoleName", "role")
        if resource.has("AssumeRolePolicyDocument"):
            draft.trust_policy = self.build(
                resource.raw("AssumeRolePolicyDocument"),
                PolicyKind.TRUST,
                resource,
                "AssumeRolePolicyDocument",
            )

    def iam_user(self, resource: _Resource) -> None:
        draft = self.identity(resource, IdentityKind.USER, "UserName", "user")
        draft.groups = resource.string_list("Groups")

    def iam_group(self, resource: _Resource) -> None:
        self.identity(resource, IdentityKind.GROUP, "GroupName", "group")

    def iam_policy(self, resource: _Resource) -> None:
        """AWS::IAM::Policy: one inline policy given to each of Roles, Users and Groups."""
        document = self.build(resource.raw("PolicyDocument"), PolicyKind.IDENTITY, resource, "PolicyDocument")
        named = NamedPolicy(
            resource.string("PolicyName"),
            document,
            resource.logical_id,
            span=resource.where("PolicyDocument"),
        )
        targets = self.targets(resource, ("Roles", "Users", "Groups"))
        for kind, target, span in targets:
            self.pending_inline.append((resource.logical_id, kind, target, named, span))
        if not targets and isinstance(document, Policy):
            self.standalone.append(StandalonePolicy(resource.logical_id, SOURCE, document, resource.span))

    def iam_single_policy(self, resource: _Resource) -> None:
        """AWS::IAM::RolePolicy / UserPolicy / GroupPolicy: an inline policy of one identity."""
        property_name, kind = _SINGLE_POLICY_TARGETS[resource.type]
        document = self.build(resource.raw("PolicyDocument"), PolicyKind.IDENTITY, resource, "PolicyDocument")
        named = NamedPolicy(
            resource.string("PolicyName"),
            document,
            resource.logical_id,
            span=resource.where("PolicyDocument"),
        )
        target = resource.string(
            property_name, Unknown(f"{resource.logical_id}.{property_name}", resource.span)
        )
        self.pending_inline.append((resource.logical_id, kind, target, named, resource.where(property_name)))

    def iam_managed_policy(self, resource: _Resource) -> None:
        document = self.build(resource.raw("PolicyDocument"), PolicyKind.IDENTITY, resource, "PolicyDocument")
        self.managed.append(
            ManagedPolicy(
                address=resource.logical_id,
                source=SOURCE,
                document=document,
                span=resource.where("PolicyDocument"),
                name=resource.string("ManagedPolicyName"),
                arn=ResourceRef(resource.logical_id, "Ref", resource.span),  # Ref returns the ARN
            )
        )
        for kind, target, span in self.targets(resource, ("Roles", "Users", "Groups")):
            self.pending_managed.append((resource.logical_id, kind, target, span))

    def targets(self, resource: _Resource, names: tuple[str, ...]) -> list[tuple[IdentityKind, Any, Span]]:
        kinds = {"Roles": IdentityKind.ROLE, "Users": IdentityKind.USER, "Groups": IdentityKind.GROUP}
        return [
            (kinds[name], target, span_of(target, resource.where(name)))
            for name in names
            for target in resource.string_list(name)
        ]

    def find_identity(self, kind: IdentityKind, target: Any) -> IdentityDraft | None:
        """The identity of the template a Roles/Users/Groups entry names: ``!Ref Role`` (Ref of a
        role, user or group returns its name) or the literal name it was given."""
        if isinstance(target, ResourceRef) and target.attribute == "Ref":
            draft = self.identities.get(target.address)
            return draft if draft is not None and draft.kind is kind else None
        if isinstance(target, str):
            for draft in self.identities.values():
                if draft.kind is kind and isinstance(draft.name, str) and draft.name == target:
                    return draft
        return None

    def fold_policies(self) -> None:
        for address, kind, target, named, span in self.pending_inline:
            draft = self.find_identity(kind, target)
            if draft is not None:
                draft.inline_policies.append(named)
            else:
                self.attachments.append(PolicyAttachment(address, SOURCE, target, kind, named.document, span))
        for address, kind, target, span in self.pending_managed:
            reference = ResourceRef(address, "Ref", span)
            draft = self.find_identity(kind, target)
            if draft is not None:
                draft.managed_policies.append(reference)
            else:
                self.attachments.append(PolicyAttachment(address, SOURCE, target, kind, reference, span))

    # -- key consumers ------------------------------------------------------------------------

    def consumer(
        self,
        resource: _Resource,
        service: str,
        key_property: str,
        encrypted: Any = True,
        details: dict[str, Any] | None = None,
        reader: _Resource | None = None,
    ) -> None:
        reader = reader or resource
        key = reader.string(key_property)
        info = dict(details or {})
        if isinstance(key, str) and key.startswith("alias/aws/"):
            # An AWS managed key: not a customer key (KMS Developer Guide, "AWS managed keys").
            info["aws_managed_key"] = str(key)
            key = None
        spans = {"key": reader.where(key_property)} if reader.has(key_property) else {}
        self.consumers.append(
            KeyConsumer(
                address=resource.logical_id,
                resource_type=resource.type,
                service=service,
                source=SOURCE,
                key=key,
                span=resource.span,
                encrypted=encrypted,
                details=info,
                attr_spans=spans,
            )
        )

    def s3_bucket(self, resource: _Resource) -> None:
        """S3 User Guide, "Setting default server-side encryption behavior": without a
        configuration, objects are encrypted with SSE-S3 (no KMS key)."""
        encryption = resource.nested("BucketEncryption")
        rules = encryption.raw("ServerSideEncryptionConfiguration") if encryption else None
        rule = rules[0] if isinstance(rules, list) and rules and isinstance(rules[0], dict) else None
        if rule is None:
            self.consumers.append(
                KeyConsumer(
                    resource.logical_id,
                    resource.type,
                    "s3",
                    SOURCE,
                    None,
                    resource.span,
                    True,
                    {"sse_algorithm": "AES256"},
                )
            )
            return
        rule_reader = _Resource(
            resource.logical_id, resource.type, span_of(rule, resource.span), rule, resource.diagnostics
        )
        default = rule_reader.nested("ServerSideEncryptionByDefault")
        algorithm = default.string("SSEAlgorithm", "AES256") if default else "AES256"
        details = {
            "sse_algorithm": algorithm,
            "bucket_key_enabled": rule_reader.boolean("BucketKeyEnabled", False),
        }
        if default is not None and algorithm in ("aws:kms", "aws:kms:dsse"):
            self.consumer(resource, "s3", "KMSMasterKeyID", True, details, reader=default)
        else:
            self.consumers.append(
                KeyConsumer(
                    resource.logical_id, resource.type, "s3", SOURCE, None, resource.span, True, details
                )
            )

    def ec2_volume(self, resource: _Resource) -> None:
        # AWS::EC2::Volume Encrypted: not encrypted unless set (or account default encryption).
        self.consumer(resource, "ebs", "KmsKeyId", resource.boolean("Encrypted", False))

    def ec2_launch_template(self, resource: _Resource) -> None:
        data = resource.nested("LaunchTemplateData")
        mappings = data.raw("BlockDeviceMappings") if data else None
        for mapping in mappings if isinstance(mappings, list) else []:
            ebs = mapping.get("Ebs") if isinstance(mapping, dict) else None
            if not isinstance(ebs, dict):
                continue
            reader = _Resource(
                resource.logical_id,
                f"{resource.type} Ebs",
                span_of(ebs, resource.span),
                ebs,
                resource.diagnostics,
            )
            details = {"device_name": mapping.get("DeviceName")}
            self.consumer(
                resource, "ebs", "KmsKeyId", reader.boolean("Encrypted", False), details, reader=reader
            )

    def rds(self, resource: _Resource) -> None:
        # AWS::RDS::DBInstance / DBCluster StorageEncrypted: not encrypted unless set.
        self.consumer(resource, "rds", "KmsKeyId", resource.boolean("StorageEncrypted", False))

    def logs_group(self, resource: _Resource) -> None:
        # CloudWatch Logs always encrypts; KmsKeyId chooses a customer key.
        self.consumer(resource, "logs", "KmsKeyId")

    def cloudtrail(self, resource: _Resource) -> None:
        self.consumer(resource, "cloudtrail", "KMSKeyId")

    def sns_topic(self, resource: _Resource) -> None:
        # SNS Developer Guide, "Encryption at rest": a topic is encrypted only with a KMS key.
        self.consumer(resource, "sns", "KmsMasterKeyId", resource.has("KmsMasterKeyId"))

    def sqs_queue(self, resource: _Resource) -> None:
        # SQS Developer Guide, "Encryption at rest": without a KMS key, SSE-SQS (SqsManagedSseEnabled)
        # applies; AWS enables it by default for new queues.
        managed = resource.boolean("SqsManagedSseEnabled", not resource.has("KmsMasterKeyId"))
        encrypted: Any = True if resource.has("KmsMasterKeyId") else managed
        self.consumer(resource, "sqs", "KmsMasterKeyId", encrypted, {"sqs_managed_sse": managed})

    def secret(self, resource: _Resource) -> None:
        # Secrets Manager always encrypts, with aws/secretsmanager unless KmsKeyId is set.
        self.consumer(resource, "secretsmanager", "KmsKeyId")

    def dynamodb_table(self, resource: _Resource) -> None:
        """DynamoDB Developer Guide, "Encryption at rest": always encrypted; SSEEnabled true means a
        KMS key (KMSMasterKeyId, else the AWS managed key), false an AWS owned key."""
        spec = resource.nested("SSESpecification")
        details: dict[str, Any] = {}
        if spec is not None:
            enabled = spec.boolean("SSEEnabled", False)
            details = {"sse_enabled": enabled, "sse_type": spec.string("SSEType")}
            # A global table names its keys per replica (AWS::DynamoDB::GlobalTable ReplicaSpecification).
            if resource.type == "AWS::DynamoDB::GlobalTable" and self.global_table_replicas(
                resource, details
            ):
                return
            if enabled is not False:
                self.consumer(resource, "dynamodb", "KMSMasterKeyId", True, details, reader=spec)
                return
        self.consumers.append(
            KeyConsumer(
                resource.logical_id, resource.type, "dynamodb", SOURCE, None, resource.span, True, details
            )
        )

    def global_table_replicas(self, resource: _Resource, details: dict[str, Any]) -> bool:
        replicas = resource.raw("Replicas")
        found = False
        for replica in replicas if isinstance(replicas, list) else []:
            spec = replica.get("SSESpecification") if isinstance(replica, dict) else None
            if isinstance(spec, dict) and "KMSMasterKeyId" in spec:
                reader = _Resource(
                    resource.logical_id,
                    resource.type,
                    span_of(spec, resource.span),
                    spec,
                    resource.diagnostics,
                )
                self.consumer(
                    resource,
                    "dynamodb",
                    "KMSMasterKeyId",
                    True,
                    {**details, "region": replica.get("Region")},
                    reader=reader,
                )
                found = True
        return found

    def lambda_function(self, resource: _Resource) -> None:
        # Lambda encrypts environment variables; KmsKeyArn chooses a customer key.
        if (
            not resource.has("KmsKeyArn")
            and resource.type == "AWS::Serverless::Function"
            and "KmsKeyArn" in self.sam_globals
        ):
            globals_value = self.evaluator.resolve(self.sam_globals["KmsKeyArn"], "KmsKeyArn")
            if globals_value is not NO_VALUE:
                resource.properties["KmsKeyArn"] = globals_value
                resource.properties.key_spans["KmsKeyArn"] = key_span(
                    self.sam_globals, "KmsKeyArn", resource.span
                )
        self.consumer(resource, "lambda", "KmsKeyArn")

    def efs(self, resource: _Resource) -> None:
        self.consumer(resource, "efs", "KmsKeyId", resource.boolean("Encrypted", False))

    # -- output -------------------------------------------------------------------------------

    def publish(self) -> None:
        keys = dict(self.keys)
        for alias in self.aliases:
            target = alias.target_key
            if isinstance(target, ResourceRef) and target.address in keys:
                key = keys[target.address]
                keys[target.address] = replace(key, aliases=(*key.aliases, alias.name))
        self.result.inventory = Inventory(
            keys=tuple(keys.values()),
            aliases=tuple(self.aliases),
            identities=tuple(draft.freeze(SOURCE) for draft in self.identities.values()),
            managed_policies=tuple(self.managed),
            attachments=tuple(self.attachments),
            consumers=tuple(self.consumers),
            policies=tuple(self.standalone),
            org=self.ctx.org(),
        )


_KEY_ATTRIBUTES = {
    "description": "Description",
    "key_spec": "KeySpec",
    "key_usage": "KeyUsage",
    "origin": "Origin",
    "enabled": "Enabled",
    "rotation_enabled": "EnableKeyRotation",
    "rotation_period_days": "RotationPeriodInDays",
    "deletion_window_days": "PendingWindowInDays",
    "multi_region": "MultiRegion",
    "bypass_policy_lockout_safety_check": "BypassPolicyLockoutSafetyCheck",
    "tags": "Tags",
    "policy": "KeyPolicy",
}

_SINGLE_POLICY_TARGETS = {
    "AWS::IAM::RolePolicy": ("RoleName", IdentityKind.ROLE),
    "AWS::IAM::UserPolicy": ("UserName", IdentityKind.USER),
    "AWS::IAM::GroupPolicy": ("GroupName", IdentityKind.GROUP),
}


def _written_spans(resource: _Resource, attributes: dict[str, str]) -> dict[str, Span]:
    return {attr: resource.where(prop) for attr, prop in attributes.items() if resource.has(prop)}


def _is_blank_or_comment(line: str) -> bool:
    stripped = line.strip()
    return not stripped or stripped.startswith("#")


_RESOURCE_HANDLERS: dict[str, Callable[[_TemplateLoader, _Resource], None]] = {
    "AWS::KMS::Key": _TemplateLoader.kms_key,
    "AWS::KMS::ReplicaKey": _TemplateLoader.kms_replica_key,
    "AWS::KMS::Alias": _TemplateLoader.kms_alias,
    "AWS::IAM::Role": _TemplateLoader.iam_role,
    "AWS::IAM::User": _TemplateLoader.iam_user,
    "AWS::IAM::Group": _TemplateLoader.iam_group,
    "AWS::IAM::Policy": _TemplateLoader.iam_policy,
    "AWS::IAM::RolePolicy": _TemplateLoader.iam_single_policy,
    "AWS::IAM::UserPolicy": _TemplateLoader.iam_single_policy,
    "AWS::IAM::GroupPolicy": _TemplateLoader.iam_single_policy,
    "AWS::IAM::ManagedPolicy": _TemplateLoader.iam_managed_policy,
    "AWS::S3::Bucket": _TemplateLoader.s3_bucket,
    "AWS::EC2::Volume": _TemplateLoader.ec2_volume,
    "AWS::EC2::LaunchTemplate": _TemplateLoader.ec2_launch_template,
    "AWS::RDS::DBInstance": _TemplateLoader.rds,
    "AWS::RDS::DBCluster": _TemplateLoader.rds,
    "AWS::Logs::LogGroup": _TemplateLoader.logs_group,
    "AWS::CloudTrail::Trail": _TemplateLoader.cloudtrail,
    "AWS::SNS::Topic": _TemplateLoader.sns_topic,
    "AWS::SQS::Queue": _TemplateLoader.sqs_queue,
    "AWS::SecretsManager::Secret": _TemplateLoader.secret,
    "AWS::DynamoDB::Table": _TemplateLoader.dynamodb_table,
    "AWS::DynamoDB::GlobalTable": _TemplateLoader.dynamodb_table,
    "AWS::Lambda::Function": _TemplateLoader.lambda_function,
    "AWS::Serverless::Function": _TemplateLoader.lambda_function,
    "AWS::EFS::FileSystem": _TemplateLoader.efs,
}
