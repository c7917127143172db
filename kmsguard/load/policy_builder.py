"""Build a ``Policy`` from a decoded policy document, checking the IAM policy grammar.

Every loader (policy JSON files, CloudFormation, Terraform, plans, live accounts) hands its decoded
document here, so there is one normalisation and one grammar check. Grammar problems become
``validity`` diagnostics at the exact element.

Sources for the grammar: IAM User Guide, "IAM JSON policy element reference" and "Grammar of the
IAM JSON policy language"; KMS Developer Guide, "Key policies in AWS KMS" (32 KB limit).
"""

from __future__ import annotations

import json
import re
from typing import Any

from kmsguard.findings import Diagnostic
from kmsguard.load.jsonpos import JSONPosError, loads_with_positions
from kmsguard.model.policy import Condition, Policy, PolicyKind, Principal, PrincipalType, Statement
from kmsguard.model.span import NO_SPAN, Span
from kmsguard.model.values import (
    INVALID_POLICY,
    ResourceRef,
    Template,
    Unknown,
    is_symbolic,
    key_span,
    span_of,
    to_plain,
    unknowns_in,
)

RULE_GRAMMAR = "KMS100"
RULE_DUPLICATE_SID = "KMS101"
RULE_SIZE = "KMS102"
RULE_CONDITION = "KMS103"
RULE_NOT_JSON = "KMS104"

KEY_POLICY_MAX_BYTES = 32 * 1024  # KMS Developer Guide, "Key policies in AWS KMS": 32 KB
MANAGED_POLICY_MAX_CHARS = 6144  # IAM User Guide, "IAM and AWS STS quotas": managed policy size

TOP_LEVEL = ("Version", "Id", "Statement")
STATEMENT_ELEMENTS = (
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
)
VERSIONS = ("2012-10-17", "2008-10-17")
PRINCIPAL_TYPES = {t.value: t for t in PrincipalType}

_BASE_OPERATORS = {
    "StringEquals",
    "StringNotEquals",
    "StringEqualsIgnoreCase",
    "StringNotEqualsIgnoreCase",
    "StringLike",
    "StringNotLike",
    "NumericEquals",
    "NumericNotEquals",
    "NumericLessThan",
    "NumericLessThanEquals",
    "NumericGreaterThan",
    "NumericGreaterThanEquals",
    "DateEquals",
    "DateNotEquals",
    "DateLessThan",
    "DateLessThanEquals",
    "DateGreaterThan",
    "DateGreaterThanEquals",
    "Bool",
    "BinaryEquals",
    "IpAddress",
    "NotIpAddress",
    "ArnEquals",
    "ArnLike",
    "ArnNotEquals",
    "ArnNotLike",
    "Null",
}
_ACTION = re.compile(r"^(\*|[A-Za-z0-9-]+:[A-Za-z0-9*?]+)$")
_ACCOUNT_ID = re.compile(r"^\d{12}$")


def valid_operator(operator: str) -> str | None:
    """None if ``operator`` is a condition operator IAM accepts, else why not."""
    rest = operator
    qualifier = None
    if ":" in rest:
        qualifier, rest = rest.split(":", 1)
        if qualifier not in ("ForAnyValue", "ForAllValues"):
            return f"unknown set operator {qualifier!r} (ForAnyValue or ForAllValues)"
    base = rest[: -len("IfExists")] if rest.endswith("IfExists") else rest
    if base not in _BASE_OPERATORS:
        return f"unknown condition operator {operator!r}"
    if base == "Null" and rest.endswith("IfExists"):
        return "the Null operator has no IfExists form"
    return None


class PolicyBuilder:
    """Turns one decoded document into a ``Policy`` and collects diagnostics about it."""

    def __init__(self, kind: PolicyKind, *, resource: str, partition: str = "aws") -> None:
        self.kind = kind
        self.resource = resource
        self.partition = partition
        self.diagnostics: list[Diagnostic] = []

    def problem(self, rule: str, message: str, span: Span, context: str = "") -> None:
        self.diagnostics.append(Diagnostic(rule, message, span, self.resource, context))

    # -- entry points -------------------------------------------------------------------------

    def from_text(self, text: str, span: Span) -> Policy | Unknown:
        """A policy given as a JSON string (CloudFormation strings, Terraform heredocs,
        ``file()``): positions inside it are mapped to the enclosing file from ``span``."""
        try:
            value, duplicates = loads_with_positions(
                text, span.path, line_offset=max(span.line - 1, 0), col_offset=0
            )
        except JSONPosError as err:
            self.problem(RULE_NOT_JSON, f"policy is not valid JSON: {err.message}", span)
            return Unknown(f"invalid JSON policy in {self.resource}", span, INVALID_POLICY)
        for dup in duplicates:
            self.problem(RULE_GRAMMAR, f'duplicate key "{dup.key}" in policy JSON', dup.span)
        return self.build(value, span, size_hint=len(text.encode()))

    def build(self, document: Any, span: Span = NO_SPAN, *, size_hint: int | None = None) -> Policy | Unknown:
        span = span_of(document, span)
        if isinstance(document, str) and not is_symbolic(document):
            return self.from_text(document, span)
        if isinstance(document, (Unknown, ResourceRef, Template)):
            ref = document if isinstance(document, Unknown) else Unknown(str(document), span)
            return ref
        if not isinstance(document, dict):
            self.problem(RULE_GRAMMAR, "a policy document must be a JSON object", span)
            return Unknown(f"malformed policy of {self.resource}", span, INVALID_POLICY)

        for name in document:
            if name not in TOP_LEVEL:
                self.problem(
                    RULE_GRAMMAR,
                    f'unknown policy element "{name}" (allowed: Version, Id, Statement)',
                    key_span(document, str(name), span),
                )
        version = document.get("Version")
        if version is None:
            pass  # IAM defaults to 2008-10-17; policy variables then do not work (hygiene, later)
        elif isinstance(version, str) and not is_symbolic(version) and version not in VERSIONS:
            self.problem(
                RULE_GRAMMAR,
                f'Version must be "2012-10-17" or "2008-10-17", not "{version}"',
                key_span(document, "Version", span),
            )

        unresolved: list[Unknown] = []
        raw_statements = document.get("Statement")
        statements: list[Statement] = []
        if raw_statements is None:
            self.problem(RULE_GRAMMAR, "policy has no Statement element", span)
        elif isinstance(raw_statements, (Unknown, ResourceRef, Template)):
            unresolved.append(_as_unknown(raw_statements, span))
        else:
            items = raw_statements if isinstance(raw_statements, list) else [raw_statements]
            for item in items:
                if isinstance(item, (Unknown, ResourceRef, Template)):
                    unresolved.append(_as_unknown(item, span))
                    continue
                stmt = self.statement(item, len(statements), span_of(raw_statements, span))
                if stmt is not None:
                    statements.append(stmt)

        self.check_duplicate_sids(statements)
        size = size_hint if size_hint is not None else _document_size(document)
        if self.kind is PolicyKind.KEY and size is not None and size > KEY_POLICY_MAX_BYTES:
            self.problem(
                RULE_SIZE,
                f"key policy is {size} bytes; AWS KMS rejects key policies over 32 KB "
                f"({KEY_POLICY_MAX_BYTES} bytes)",
                span,
            )
        raw_version = document.get("Version")
        return Policy(
            kind=self.kind,
            statements=tuple(statements),
            version=raw_version if isinstance(raw_version, (str, Unknown)) else None,
            id=str(document["Id"]) if isinstance(document.get("Id"), str) else None,
            span=span,
            unresolved=tuple(unresolved),
            size_bytes=size,
        )

    # -- statements ---------------------------------------------------------------------------

    def statement(self, raw: Any, index: int, parent_span: Span) -> Statement | None:
        span = span_of(raw, parent_span)
        context = f"statement[{index}]"
        if not isinstance(raw, dict):
            self.problem(RULE_GRAMMAR, "a statement must be a JSON object", span, context)
            return None
        sid = raw.get("Sid")
        if isinstance(sid, str) and not is_symbolic(sid):
            context = f"sid:{sid}"
        elif sid is not None and not is_symbolic(sid):
            self.problem(RULE_GRAMMAR, "Sid must be a string", key_span(raw, "Sid", span), context)
            sid = None
        for name in raw:
            if name not in STATEMENT_ELEMENTS:
                hint = _close_match(str(name), STATEMENT_ELEMENTS)
                self.problem(
                    RULE_GRAMMAR,
                    f'unknown statement element "{name}"' + (f' (did you mean "{hint}"?)' if hint else ""),
                    key_span(raw, str(name), span),
                    context,
                )
        effect = raw.get("Effect")
        if effect is None:
            self.problem(RULE_GRAMMAR, "statement has no Effect", span, context)
            effect_value: str | Unknown = Unknown("missing Effect", span, INVALID_POLICY)
        elif is_symbolic(effect):
            effect_value = _as_unknown(effect, span)
        elif effect not in ("Allow", "Deny"):
            self.problem(
                RULE_GRAMMAR,
                f'Effect must be "Allow" or "Deny" (case-sensitive), not "{effect}"',
                key_span(raw, "Effect", span),
                context,
            )
            effect_value = Unknown(f"invalid Effect {effect!r}", span, INVALID_POLICY)
        else:
            effect_value = str(effect)

        actions = self.elements(raw, "Action", span, context)
        not_actions = self.elements(raw, "NotAction", span, context)
        # An element whose value is unknown (a dynamic block's `not_actions = each.value.x`) may
        # turn out absent (null): only elements known to be present count as "both".
        if actions is None and not_actions is None:
            self.problem(RULE_GRAMMAR, "statement has neither Action nor NotAction", span, context)
        elif _present(actions) and _present(not_actions):
            self.problem(RULE_GRAMMAR, "statement has both Action and NotAction", span, context)
        for value in _literal_items(actions) + _literal_items(not_actions):
            if not _ACTION.match(value):
                self.problem(
                    RULE_GRAMMAR,
                    f'"{value}" is not an action (expected "service:Action" or "*")',
                    span_of(value, span),
                    context,
                )

        resources = self.elements(raw, "Resource", span, context)
        not_resources = self.elements(raw, "NotResource", span, context)
        if _present(resources) and _present(not_resources):
            self.problem(RULE_GRAMMAR, "statement has both Resource and NotResource", span, context)
        needs_resource = self.kind not in (PolicyKind.TRUST,)
        if needs_resource and resources is None and not_resources is None:
            self.problem(RULE_GRAMMAR, "statement has neither Resource nor NotResource", span, context)

        principals = self.principals(raw, "Principal", span, context)
        not_principals = self.principals(raw, "NotPrincipal", span, context)
        if _present(principals) and _present(not_principals):
            self.problem(RULE_GRAMMAR, "statement has both Principal and NotPrincipal", span, context)
        if self.kind.has_principal:
            if principals is None and not_principals is None:
                self.problem(
                    RULE_GRAMMAR,
                    f"a {self.kind.value} policy statement needs a Principal or NotPrincipal",
                    span,
                    context,
                )
        elif self.kind is not PolicyKind.UNKNOWN and (_present(principals) or _present(not_principals)):
            which = "Principal" if principals is not None else "NotPrincipal"
            self.problem(
                RULE_GRAMMAR,
                f"{which} is not allowed in an {self.kind.value} policy",
                key_span(raw, which, span),
                context,
            )

        conditions = self.conditions(raw.get("Condition"), key_span(raw, "Condition", span), context)
        return Statement(
            sid=str(sid) if isinstance(sid, str) else None,
            effect=effect_value,
            principals=principals,
            not_principals=not_principals,
            actions=actions,
            not_actions=not_actions,
            resources=resources,
            not_resources=not_resources,
            conditions=conditions,
            span=span,
            index=index,
        )

    def elements(self, raw: dict[str, Any], name: str, span: Span, context: str) -> Any:
        if name not in raw:
            return None
        value = raw[name]
        where = key_span(raw, name, span)
        if isinstance(value, (Unknown, ResourceRef, Template)):
            return _as_unknown(value, where) if not isinstance(value, (ResourceRef, Template)) else (value,)
        items = value if isinstance(value, list) else [value]
        if not items:
            self.problem(RULE_GRAMMAR, f"{name} is an empty list", where, context)
        result = []
        for item in items:
            if isinstance(item, (str, Unknown, ResourceRef, Template)):
                result.append(item)
            else:
                self.problem(
                    RULE_GRAMMAR, f"{name} entries must be strings, not {_type_name(item)}", where, context
                )
        return tuple(result)

    def principals(self, raw: dict[str, Any], name: str, span: Span, context: str) -> Any:
        if name not in raw:
            return None
        value = raw[name]
        where = key_span(raw, name, span)
        if isinstance(value, Unknown):
            return value
        if isinstance(value, str) and not is_symbolic(value):
            if value != "*":
                self.problem(
                    RULE_GRAMMAR,
                    f'{name} must be "*" or an object such as {{"AWS": ...}}, not "{value}"',
                    where,
                    context,
                )
                return ()
            return (Principal(PrincipalType.AWS, "*", span_of(value, where), raw=value),)
        if not isinstance(value, dict):
            self.problem(RULE_GRAMMAR, f'{name} must be "*" or an object', where, context)
            return ()
        result: list[Principal] = []
        for ptype, entries in value.items():
            ptype_span = key_span(value, str(ptype), where)
            if ptype not in PRINCIPAL_TYPES:
                self.problem(
                    RULE_GRAMMAR,
                    f'unknown principal type "{ptype}" (AWS, Service, Federated or CanonicalUser)',
                    ptype_span,
                    context,
                )
                continue
            kind = PRINCIPAL_TYPES[ptype]
            if isinstance(entries, Unknown):
                result.append(Principal(kind, entries, ptype_span, raw=entries))
                continue
            items = entries if isinstance(entries, list) else [entries]
            for item in items:
                if isinstance(item, (Unknown, ResourceRef, Template)):
                    result.append(Principal(kind, item, span_of(item, ptype_span), raw=item))
                elif isinstance(item, str):
                    if kind is PrincipalType.AWS and item != "*" and ("*" in item or "?" in item):
                        # source: IAM User Guide, "AWS JSON policy elements: Principal" -- "You
                        # cannot use a wildcard to match part of a principal name or ARN."
                        self.problem(
                            RULE_GRAMMAR,
                            f'a principal cannot be a pattern ("{item}"): AWS rejects wildcards in '
                            'principal ARNs; use "*" with a condition on aws:PrincipalArn or '
                            "aws:PrincipalAccount",
                            span_of(item, ptype_span),
                            context,
                        )
                    result.append(
                        Principal(
                            kind, self.normalise_principal(kind, item), span_of(item, ptype_span), raw=item
                        )
                    )
                else:
                    self.problem(
                        RULE_GRAMMAR,
                        f"principal entries must be strings, not {_type_name(item)}",
                        ptype_span,
                        context,
                    )
        return tuple(result)

    def normalise_principal(self, kind: PrincipalType, value: str) -> str:
        if kind is PrincipalType.AWS and _ACCOUNT_ID.match(value):
            return f"arn:{self.partition}:iam::{value}:root"
        return str(value)

    def conditions(self, raw: Any, span: Span, context: str) -> Any:
        if raw is None:
            return ()
        if isinstance(raw, Unknown):
            return raw
        if not isinstance(raw, dict):
            self.problem(RULE_CONDITION, "Condition must be an object of operators", span, context)
            return ()
        result: list[Condition] = []
        for operator, block in raw.items():
            op_span = key_span(raw, str(operator), span)
            if is_symbolic(operator):
                continue
            why = valid_operator(str(operator))
            if why:
                self.problem(RULE_CONDITION, why, op_span, context)
                continue
            if isinstance(block, Unknown):
                result.append(Condition(str(operator), block, block, op_span))
                continue
            if not isinstance(block, dict):
                self.problem(
                    RULE_CONDITION,
                    f'the value of "{operator}" must be an object of condition keys',
                    op_span,
                    context,
                )
                continue
            for cond_key, values in block.items():
                key_where = key_span(block, str(cond_key), op_span)
                if isinstance(values, (Unknown, ResourceRef, Template)):
                    # An Unknown may stand for a whole list of values; the deployment account,
                    # region or partition is always one value.
                    one = not isinstance(values, Unknown) or values.is_deployment_context
                    vals: Any = (values,) if one else values
                elif isinstance(values, list):
                    bad = [v for v in values if v is None or isinstance(v, (dict, list))]
                    if bad:
                        self.problem(
                            RULE_CONDITION,
                            f'values of "{cond_key}" must be strings, numbers or booleans',
                            key_where,
                            context,
                        )
                    vals = tuple(v for v in values if v is not None and not isinstance(v, (dict, list)))
                elif values is None:
                    # JSON null is not a condition value (IAM grammar: string, number or Boolean).
                    self.problem(
                        RULE_CONDITION,
                        f'values of "{cond_key}" must be strings, numbers or booleans',
                        key_where,
                        context,
                    )
                    continue
                elif isinstance(values, dict):
                    self.problem(
                        RULE_CONDITION,
                        f'the value of "{cond_key}" must be a string or a list, not an object',
                        key_where,
                        context,
                    )
                    continue
                else:
                    vals = (values,)
                result.append(
                    Condition(
                        str(operator),
                        str(cond_key) if not is_symbolic(cond_key) else cond_key,
                        vals,
                        key_where,
                    )
                )
        return tuple(result)

    def check_duplicate_sids(self, statements: list[Statement]) -> None:
        # IAM User Guide, "IAM JSON policy elements: Sid": Sid values must be unique in a policy.
        seen: dict[str, Statement] = {}
        for stmt in statements:
            if not stmt.sid:
                continue
            if stmt.sid in seen:
                # No line number in the message: it is part of the finding's identity in baselines.
                self.problem(
                    RULE_DUPLICATE_SID,
                    f'Sid "{stmt.sid}" is also used by statement #{seen[stmt.sid].index + 1}',
                    stmt.span,
                    f"sid:{stmt.sid}#{stmt.index}",
                )
            else:
                seen[stmt.sid] = stmt


def build_policy(
    document: Any,
    kind: PolicyKind,
    *,
    resource: str,
    span: Span = NO_SPAN,
    partition: str = "aws",
) -> tuple[Policy | Unknown, list[Diagnostic]]:
    """Build a policy from a decoded document or a JSON string; returns it with diagnostics."""
    builder = PolicyBuilder(kind, resource=resource, partition=partition)
    policy = builder.build(document, span)
    return policy, builder.diagnostics


def _present(element: Any) -> bool:
    """An element known to be written: not absent, and not an unknown value that may be null."""
    return element is not None and not isinstance(element, Unknown)


def _as_unknown(value: Any, span: Span) -> Unknown:
    if isinstance(value, Unknown):
        return value
    return Unknown(str(value), span_of(value, span))


def _literal_items(elements: Any) -> list[str]:
    if not isinstance(elements, tuple):
        return []
    return [e for e in elements if isinstance(e, str) and not is_symbolic(e)]


def _document_size(document: Any) -> int | None:
    if unknowns_in(document):
        return None
    return len(json.dumps(to_plain(document), separators=(",", ":")).encode())


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    return type(value).__name__


def _close_match(name: str, choices: tuple[str, ...]) -> str | None:
    lowered = name.lower()
    for choice in choices:
        if choice.lower() == lowered:
            return choice
    return None
