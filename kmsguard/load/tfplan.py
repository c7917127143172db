"""Load a Terraform plan as JSON (``terraform show -json plan.out``).

Source for the format: Terraform documentation, "JSON Output Format" (plan representation, values
representation, configuration representation, expression representation).

What the plan gives, and how it becomes model values:

* ``planned_values.root_module`` (and ``child_modules``, recursively) lists every resource instance
  that will exist after apply, with the attribute values known at plan time. Attributes that are
  unknown until apply are *omitted* there; ``resource_changes[].change.after_unknown`` marks them
  (``true`` at the unknown leaf, mirroring the value's shape).
* ``configuration`` keeps, per resource and attribute, the ``references`` of the expression that
  sets it. An unknown leaf whose expression references exactly one attribute of one resource
  (``aws_iam_role.app.arn``, with Terraform's companion ``aws_iam_role.app``) and nothing else
  becomes ``ResourceRef("aws_iam_role.app", "arn")`` -- the value *is* that attribute. Anything else
  (several references, a variable, a deeper path, or a policy document built by ``jsonencode``
  around a reference) becomes ``Unknown("<address>.<attr> (known after apply)")`` whose ``reason``
  lists the references. Known limitation: the plan does not keep the expression text, so
  ``"${aws_iam_role.app.arn}-x"`` cannot be told from ``aws_iam_role.app.arn``; the direct
  reading is taken for plain attributes, never for policy documents (see ``_POLICY_ATTRIBUTES``).
* Data sources read while planning are not changes, so they are in ``prior_state`` only; those
  not in ``planned_values`` are taken from there (their values are fully known).

Spans: the plan file has no HCL lines, so a resource's span is its object in the plan file. Plans
over ``LARGE_PLAN_CHARS`` are decoded with ``json.loads`` (positions cost ~10x) and spans are line 0.
Policies in plan values are JSON strings on one line of the plan file; line breaks in them are
flattened so that statement spans stay on that line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from kmsguard.findings import InputError
from kmsguard.load.base import LoadContext, LoadResult
from kmsguard.load.jsonpos import JSONPosError, loads_with_positions
from kmsguard.load.policy_file import flatten_json_lines
from kmsguard.model import Source
from kmsguard.model.span import NO_SPAN, Span
from kmsguard.model.values import LDict, LList, LStr, ResourceRef, Unknown, span_of

if TYPE_CHECKING:
    from kmsguard.load.terraform.resources import TfResource

LARGE_PLAN_CHARS = 5_000_000
SUPPORTED_MAJOR_VERSIONS = ("0", "1")

# Attributes that hold a whole policy document. A reference stands for such a document only when it
# names another document (``data.aws_iam_policy_document.x.json``, ``aws_iam_policy.p.policy``);
# ``jsonencode({... aws_iam_role.app.arn ...})`` also has one reference and must stay Unknown.
_POLICY_ATTRIBUTES = frozenset({"policy", "assume_role_policy", "key_policy", "json", "minified_json"})
_POLICY_SOURCE_ATTRIBUTES = frozenset({"json", "minified_json", "policy", "assume_role_policy"})
# Reference roots that are not resources (Terraform, "References to Named Values").
_NON_RESOURCE_ROOTS = frozenset({"var", "local", "module", "each", "count", "path", "terraform", "self"})
_REFERENCE = re.compile(
    r"^(?P<resource>(?:data\.)?[A-Za-z_][\w-]*\.[A-Za-z_][\w-]*(?:\[[^\]]*\])?)(?:\.(?P<attr>[A-Za-z_][\w-]*))?$"
)
_INSTANCE_KEY = re.compile(r"\[[^\]]*\]")


@dataclass(frozen=True)
class PlanModule:
    """One module instance of ``planned_values``: its address (``""`` for the root,
    ``module.a["x"]``) and its JSON object."""

    address: str
    body: dict[str, Any]


def load_plan(path: str, text: str, ctx: LoadContext) -> LoadResult:
    """Load ``terraform show -json`` output and map its resources to the model."""
    result = LoadResult(sources={path: text})
    resources, errors = plan_resources(path, text)
    result.errors.extend(errors)
    if errors and not resources:
        return result
    from kmsguard.load.terraform.resources import map_resources

    mapped = map_resources(resources, ctx, Source.TERRAFORM_PLAN)
    # Taken as is rather than merged into the empty result, so the mapping's OrgContext is kept.
    mapped.errors[:0] = result.errors
    mapped.sources[path] = text
    return mapped


def plan_resources(path: str, text: str) -> tuple[list[TfResource], list[InputError]]:
    """The resource instances of a plan, unknown values filled in, ready for ``map_resources``."""
    from kmsguard.load.terraform.resources import TfResource

    plan, error = decode_plan(path, text)
    if error is not None:
        return [], [error]
    changes = _changes_by_address(plan.get("resource_changes"))
    expressions = _config_expressions(plan.get("configuration"))
    whole_file = Span(path, 0)
    resources: list[TfResource] = []
    seen: set[str] = set()
    planned = _dict(plan.get("planned_values")).get("root_module")
    prior = _dict(_dict(plan.get("prior_state")).get("values")).get("root_module")
    for source_root, data_only in ((planned, False), (prior, True)):
        for module in walk_modules(source_root):
            for raw in _list(module.body.get("resources")):
                if not isinstance(raw, dict) or not isinstance(raw.get("address"), str):
                    continue
                address = str(raw["address"])
                mode = str(raw.get("mode", "managed"))
                if address in seen or (data_only and mode != "data"):
                    continue
                seen.add(address)
                config_key = (_strip_keys(module.address), _config_address(raw))
                values = fill_unknowns(
                    raw.get("values"),
                    _after_unknown(changes.get(address)),
                    expressions.get(config_key),
                    address=address,
                    module_prefix=f"{module.address}." if module.address else "",
                    where=span_of(raw, whole_file),
                )
                span = span_of(raw, whole_file)
                resources.append(
                    TfResource(
                        address=address,
                        type=str(raw.get("type", "")),
                        mode=mode,
                        values=values,
                        span=span,
                        end_line=span.end_line,
                    )
                )
    return resolve_policy_documents(resources), []


def resolve_policy_documents(resources: list[TfResource]) -> list[TfResource]:
    """Managed resources' references to ``data.aws_iam_policy_document.X.json`` replaced by that
    document: its ``json`` when known at plan time, else the document rendered from its
    ``statement`` blocks (a read deferred to apply still has them, with unknown leaves symbolic).
    The mapping only reads managed resources, so without this such a policy would stay opaque."""
    from kmsguard.load.terraform.policy_document import policy_document_json

    documents = {r.address: r for r in resources if r.mode == "data" and r.type == "aws_iam_policy_document"}
    if not documents:
        return resources

    def resolve(value: Any, seen: frozenset[str] = frozenset()) -> Any:
        if not (isinstance(value, ResourceRef) and value.attribute in ("json", "minified_json")):
            return value
        document = documents.get(value.address)
        if document is None or value.address in seen:
            return value
        known = document.values.get(value.attribute)
        if isinstance(known, str):
            return known
        inner = seen | {value.address}
        return policy_document_json(_without_unset(document.values), lambda v: resolve(v, inner))

    return [
        replace(r, values=_substitute(r.values, resolve)) if r.mode == "managed" else r for r in resources
    ]


def _without_unset(value: Any) -> Any:
    """Plan values spell an argument that was not written as ``null`` or ``[]`` (an absent block);
    HCL evaluation leaves it out, and the policy renderer reads an empty ``not_actions`` as
    present. Dropping them gives the renderer what the configuration said."""
    if isinstance(value, dict):
        out = LDict(
            {k: _without_unset(v) for k, v in value.items() if v is not None and v != []},
            span=span_of(value),
        )
        out.key_spans.update(getattr(value, "key_spans", {}))
        return out
    if isinstance(value, list):
        return LList([_without_unset(v) for v in value], span=span_of(value))
    return value


def _substitute(value: Any, resolve: Callable[[Any], Any]) -> Any:
    if isinstance(value, ResourceRef):
        return resolve(value)
    if isinstance(value, dict):
        out = LDict({k: _substitute(v, resolve) for k, v in value.items()}, span=span_of(value))
        out.key_spans.update(getattr(value, "key_spans", {}))
        return out
    if isinstance(value, list):
        return LList([_substitute(v, resolve) for v in value], span=span_of(value))
    return value


def decode_plan(path: str, text: str) -> tuple[dict[str, Any], InputError | None]:
    """The plan object, or the one-line reason it is not a plan kmsguard can read."""
    try:
        if len(text) > LARGE_PLAN_CHARS:
            plan: Any = json.loads(text)
        else:
            plan, _ = loads_with_positions(text, path)
    except JSONPosError as err:
        return {}, InputError(path, err.line, f"invalid JSON: {err.message}")
    except json.JSONDecodeError as err:
        return {}, InputError(path, err.lineno, f"invalid JSON: {err.msg}")
    if not isinstance(plan, dict) or not ("planned_values" in plan or "resource_changes" in plan):
        return {}, InputError(path, 1, "not a Terraform plan: no planned_values or resource_changes")
    version = plan.get("format_version")
    major = str(version).split(".", 1)[0] if version is not None else "1"
    if major not in SUPPORTED_MAJOR_VERSIONS:
        # "JSON Output Format": consumers must reject an unsupported major version.
        return {}, InputError(
            path, 1, f"unsupported plan format_version {version} (kmsguard reads 0.x and 1.x)"
        )
    return plan, None


def walk_modules(root: Any) -> Iterator[PlanModule]:
    """The root module and every child module, depth first, in file order."""
    stack = [PlanModule("", root)] if isinstance(root, dict) else []
    while stack:
        module = stack.pop()
        yield module
        children = [c for c in _list(module.body.get("child_modules")) if isinstance(c, dict)]
        for child in reversed(children):
            stack.append(PlanModule(str(child.get("address", "")), child))


def fill_unknowns(
    value: Any,
    unknown: Any,
    expression: Any,
    *,
    address: str,
    module_prefix: str,
    path: str = "",
    where: Span = NO_SPAN,
) -> Any:
    """``value`` with every leaf that ``unknown`` (an ``after_unknown`` tree) marks replaced by a
    ``ResourceRef`` or an ``Unknown`` (spanned at the nearest enclosing object of the plan file);
    JSON-document strings are put on one line."""
    if unknown is True:
        return _symbol(expression, address, module_prefix, path, where)
    where = span_of(value, where)
    if isinstance(value, dict) or (value is None and isinstance(unknown, dict)):
        source = value if isinstance(value, dict) else {}
        out = LDict(span=where)
        out.key_spans.update(getattr(source, "key_spans", {}))
        unknown_map = unknown if isinstance(unknown, dict) else {}
        for key in list(source) + [k for k in unknown_map if k not in source]:
            sub = _sub_expression(expression, key)
            if not path and key not in source and sub is None:
                # Computed by the provider and not configured (arn, key_id, and the default key
                # policy AWS applies when none is given): the mapping's defaults describe it.
                continue
            child_path = f"{path}.{key}" if path else str(key)
            out[key] = fill_unknowns(
                source.get(key),
                unknown_map.get(key),
                sub,
                address=address,
                module_prefix=module_prefix,
                path=child_path,
                where=where,
            )
        return out
    if isinstance(value, list) or (value is None and isinstance(unknown, list)):
        items = list(value) if isinstance(value, list) else []
        marks = unknown if isinstance(unknown, list) else []
        items.extend([None] * (len(marks) - len(items)))
        out_list = LList(span=where)
        for index, item in enumerate(items):
            sub = _sub_expression(expression, index)
            out_list.append(
                fill_unknowns(
                    item,
                    marks[index] if index < len(marks) else None,
                    sub,
                    address=address,
                    module_prefix=module_prefix,
                    path=f"{path}[{index}]",
                    where=where,
                )
            )
        return out_list
    if isinstance(value, str) and value.lstrip().startswith("{"):
        return LStr(flatten_json_lines(value), span_of(value))
    return value


def reference_target(reference: str) -> tuple[str, str] | None:
    """``("aws_iam_role.app", "arn")`` for ``aws_iam_role.app.arn``; ``(address, "")`` for a whole
    resource; None for variables, locals, module outputs and deeper paths."""
    match = _REFERENCE.match(reference)
    if not match or reference.split(".", 1)[0] in _NON_RESOURCE_ROOTS:
        return None
    return match.group("resource"), match.group("attr") or ""


def _symbol(
    expression: Any, address: str, module_prefix: str, path: str, where: Span
) -> ResourceRef | Unknown:
    references = _references(expression)
    attribute_name = _INSTANCE_KEY.sub("", path).rsplit(".", 1)[-1]
    targets = [reference_target(r) for r in references]
    attributes = {t for t in targets if t is not None and t[1]}
    whole = {t[0] for t in targets if t is not None and not t[1]}
    only_resources = all(t is not None for t in targets)
    if len(attributes) == 1 and only_resources:
        (resource, attribute) = next(iter(attributes))
        # Terraform lists the bare resource (and, when indexed, the resource without its key) too.
        companion_only = whole <= {resource, _strip_keys(resource)}
        is_document = attribute_name in _POLICY_ATTRIBUTES
        if companion_only and (not is_document or attribute in _POLICY_SOURCE_ATTRIBUTES):
            return ResourceRef(module_prefix + resource, attribute, where)
    reason = "from " + ", ".join(references) if references else "value computed by the provider"
    return Unknown(f"{address}.{path} (known after apply)", where, reason)


def _references(expression: Any) -> list[str]:
    if isinstance(expression, dict) and isinstance(expression.get("references"), list):
        return [str(r) for r in expression["references"] if isinstance(r, str)]
    return []


def _is_expression(expression: Any) -> bool:
    return isinstance(expression, dict) and ("references" in expression or "constant_value" in expression)


def _sub_expression(expression: Any, key: str | int) -> Any:
    """The expression for a part of a value: an attribute's expression covers all its parts; a
    nested block's expressions are a list of objects, one per block."""
    if _is_expression(expression):
        return expression
    if isinstance(expression, dict) and isinstance(key, str):
        return expression.get(key)
    if isinstance(expression, list) and isinstance(key, int) and key < len(expression):
        return expression[key]
    return None


def _changes_by_address(changes: Any) -> dict[str, dict[str, Any]]:
    return {
        str(c["address"]): c
        for c in _list(changes)
        if isinstance(c, dict) and isinstance(c.get("address"), str) and isinstance(c.get("change"), dict)
    }


def _after_unknown(change: dict[str, Any] | None) -> Any:
    if change is None:
        return None
    return change["change"].get("after_unknown")


def _config_expressions(configuration: Any) -> dict[tuple[str, str], Any]:
    """(module path without instance keys, module-relative resource address) -> expressions."""
    found: dict[tuple[str, str], Any] = {}
    stack: list[tuple[str, Any]] = [("", _dict(configuration).get("root_module"))]
    while stack:
        prefix, module = stack.pop()
        if not isinstance(module, dict):
            continue
        for resource in _list(module.get("resources")):
            if isinstance(resource, dict) and isinstance(resource.get("address"), str):
                found[(prefix, str(resource["address"]))] = resource.get("expressions")
        for name, call in _dict(module.get("module_calls")).items():
            child = f"{prefix}.module.{name}" if prefix else f"module.{name}"
            stack.append((child, _dict(call).get("module")))
    return found


def _config_address(raw: dict[str, Any]) -> str:
    kind = "data." if raw.get("mode") == "data" else ""
    return f"{kind}{raw.get('type', '')}.{raw.get('name', '')}"


def _strip_keys(module_address: str) -> str:
    return _INSTANCE_KEY.sub("", module_address)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


__all__ = [
    "LARGE_PLAN_CHARS",
    "PlanModule",
    "decode_plan",
    "fill_unknowns",
    "load_plan",
    "plan_resources",
    "reference_target",
    "resolve_policy_documents",
    "walk_modules",
]
