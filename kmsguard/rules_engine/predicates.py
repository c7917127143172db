"""Named tests that rule packs call (``when: [{test: NAME}]``) where a plain attribute comparison
cannot say it. Each takes a ``Subject`` and returns a ``TestResult``; all are pure."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kmsguard.model import Key, Principal, Span, Statement, Unknown
from kmsguard.model.values import is_symbolic
from kmsguard.rules_engine.logic import FALSE, TRUE, Truth, of, unresolved


@dataclass(frozen=True)
class Subject:
    """What a rule looks at: a key, one statement of a key policy, a grant, a key user."""

    kind: str
    obj: Any
    resource: str
    span: Span
    context: str = ""
    key: Key | None = None
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TestResult:
    truth: Truth
    span: Span | None = None
    fields: dict[str, Any] = field(default_factory=dict)


# Condition keys that pin down who the caller is (its account, organisation, or identity). A
# wildcard principal restricted by one of them with a positive operator is not open to everyone.
# source: IAM User Guide, "AWS global condition context keys" (aws:PrincipalOrgID,
# aws:PrincipalAccount, aws:PrincipalArn, aws:PrincipalOrgPaths, aws:userid, aws:SourceAccount,
# aws:SourceArn, aws:SourceOwner); KMS Developer Guide, "kms:CallerAccount".
PRINCIPAL_RESTRICTING_KEYS = frozenset(
    {
        "aws:principalorgid",
        "aws:principalaccount",
        "aws:principalarn",
        "aws:principalorgpaths",
        "aws:userid",
        "aws:sourceaccount",
        "aws:sourcearn",
        "aws:sourceowner",
        "kms:calleraccount",
    }
)
_POSITIVE_OPERATORS = frozenset(
    {"StringEquals", "StringLike", "ArnEquals", "ArnLike", "StringEqualsIgnoreCase"}
)


def _wildcard_allow(subject: Subject) -> TestResult:
    stmt: Statement = subject.obj
    if isinstance(stmt.effect, Unknown):
        return TestResult(unresolved(stmt.effect.ref))
    if not stmt.is_allow:
        return TestResult(FALSE)
    if stmt.not_principals is not None:
        # Allow + NotPrincipal allows everyone except the listed principals.
        return TestResult(
            TRUE, stmt.span, {"principal": "NotPrincipal (everyone except the listed principals)"}
        )
    principals = stmt.principals
    if isinstance(principals, Unknown):
        return TestResult(unresolved(principals.ref), stmt.span)
    for principal in principals or ():
        if principal.is_wildcard:
            return TestResult(TRUE, principal.span, {"principal": _principal_text(principal)})
    return TestResult(FALSE)


def _principal_restricted(subject: Subject) -> TestResult:
    stmt: Statement = subject.obj
    if isinstance(stmt.conditions, Unknown):
        return TestResult(unresolved(stmt.conditions.ref))
    pending: list[str] = []
    for cond in stmt.conditions:
        if not isinstance(cond.key, str) or cond.key.lower() not in PRINCIPAL_RESTRICTING_KEYS:
            continue
        # IfExists and ForAnyValue/ForAllValues forms pass when the key is absent or empty, so
        # they do not pin the caller down (IAM User Guide, "Condition operators": ...IfExists).
        if cond.if_exists or cond.set_qualifier or cond.base_operator not in _POSITIVE_OPERATORS:
            continue
        if isinstance(cond.values, Unknown):
            pending.append(cond.values.ref)
            continue
        literal = [v for v in cond.values if isinstance(v, str) and not is_symbolic(v)]
        if any(v.strip("*?") == "" for v in literal):
            continue  # "*" matches any caller: no restriction
        if len(literal) < len(cond.values):
            symbolic = [v for v in cond.values if not (isinstance(v, str) and not is_symbolic(v))]
            if all(_is_deployment_symbol(v) for v in symbolic):
                return TestResult(TRUE, cond.span, {"restriction": f"{cond.key}"})
            pending.extend(str(v) for v in symbolic)
            continue
        return TestResult(TRUE, cond.span, {"restriction": f"{cond.key}"})
    if pending:
        return TestResult(unresolved(*pending))
    return TestResult(FALSE)


def _is_deployment_symbol(value: Any) -> bool:
    """``${AWS::AccountId}`` and friends name the deployment account: a restriction to it holds."""
    from kmsguard.model import Template

    if isinstance(value, Unknown):
        return value.is_deployment_context
    if isinstance(value, Template):
        return all(
            isinstance(p, str) or (isinstance(p, Unknown) and p.is_deployment_context) for p in value.parts
        )
    return False


def _supports_rotation(subject: Subject) -> TestResult:
    key: Key = subject.obj
    support = key.supports_automatic_rotation
    if isinstance(support, Unknown):
        return TestResult(unresolved(support.ref))
    return TestResult(of(support))


def _principal_text(principal: Principal) -> str:
    if principal.raw == "*":
        return '"*"'
    return f'{{"{principal.type.value}": "{principal.value}"}}'


NAMED_TESTS: dict[str, Callable[[Subject], TestResult]] = {
    "wildcard_principal_allow": _wildcard_allow,
    "principal_restricted_by_condition": _principal_restricted,
    "supports_automatic_rotation": _supports_rotation,
}
