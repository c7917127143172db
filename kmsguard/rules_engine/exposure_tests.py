"""Named tests for the pattern-level exposure rules of key policies (KMS021-KMS024): a service
principal without a source condition (confused deputy), kms:ViaService on a wildcard principal,
CreateGrant for non-administrators, Allow with NotPrincipal.

Each takes a key policy statement ``Subject`` and returns a ``TestResult`` (three-valued: a value
kmsguard cannot know makes the answer unresolved, never "fine")."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kmsguard.model import Principal, PrincipalType, Statement, Template, Unknown
from kmsguard.model.policy import Condition
from kmsguard.model.values import INVALID_POLICY, is_symbolic
from kmsguard.rules_engine.logic import FALSE, TRUE, Truth, unresolved
from kmsguard.rules_engine.predicates import Subject, TestResult, _restricts
from kmsguard.rules_engine.validity_tests import covered_kms_actions, matches_when_absent

# Service principals that AWS documents as sending aws:SourceArn / aws:SourceAccount (or an
# encryption context naming the resource) when they call AWS KMS on a customer's behalf, so a key
# policy can and should pin them to the customer's own resources. KMS Developer Guide,
# "Permissions for AWS services in key policies", "Using aws:SourceArn or aws:SourceAccount
# condition keys" (the CloudTrail example), and each service's own guide:
CONFUSED_DEPUTY_SERVICES: dict[str, str] = {
    "cloudtrail": 'AWS CloudTrail User Guide, "Configure AWS KMS key policies for CloudTrail"',
    "logs": 'Amazon CloudWatch Logs User Guide, "Encrypt log data in CloudWatch Logs using AWS KMS"',
    "delivery.logs": 'Amazon CloudWatch Logs User Guide, "Enable logging from AWS services"',
    "config": 'AWS Config Developer Guide, "Permissions for the KMS Key"',
    "sns": 'Amazon SQS Developer Guide, "Configuring AWS KMS permissions" (SNS to encrypted queues)',
    "cloudwatch": (
        'Amazon SNS Developer Guide, "Enable compatibility between event sources and encrypted topics"'
    ),
    "guardduty": 'Amazon GuardDuty User Guide, "Exporting findings" (KMS key policy)',
    "dnssec-route53": 'Amazon Route 53 Developer Guide, "Working with customer managed keys for DNSSEC"',
}
# Not listed on purpose: events.amazonaws.com -- the SNS Developer Guide says EventBridge's requests
# to KMS do not carry aws:SourceAccount / aws:SourceArn, so asking for them would break delivery.

# Keys that tie a service's request to the customer's resource.
_SOURCE_KEYS = frozenset({"aws:sourcearn", "aws:sourceaccount", "aws:sourceorgid", "aws:sourceorgpaths"})
_ENCRYPTION_CONTEXT_PREFIX = "kms:encryptioncontext:"

# Actions only a key administrator needs: a statement that grants one of them is an admin
# statement (KMS Developer Guide, "Default key policy", "Allows key administrators to administer
# the KMS key").
ADMIN_ACTIONS = frozenset(
    {
        "PutKeyPolicy",
        "ScheduleKeyDeletion",
        "CancelKeyDeletion",
        "DisableKey",
        "DisableKeyRotation",
        "DeleteImportedKeyMaterial",
    }
)


def _allow_effect(stmt: Statement) -> Truth:
    if isinstance(stmt.effect, Unknown):
        return FALSE if stmt.effect.reason == INVALID_POLICY else unresolved(stmt.effect.ref)
    return TRUE if stmt.is_allow else FALSE


def _positive(cond: Condition) -> bool:
    """A clause that fails when its key is absent, so it requires the key to be present and match."""
    return cond.base_operator != "Null" and matches_when_absent(cond) is False


def _restriction(cond: Condition) -> bool | list[str]:
    """True when the clause's values pin something down (not all wildcards); else the refs."""
    if isinstance(cond.values, Unknown):
        return [cond.values.ref]
    verdicts = [_restricts(v) for v in cond.values]
    if not verdicts or any(v is False for v in verdicts):
        return False
    if all(v is True for v in verdicts):
        return True
    return [ref for v in verdicts if isinstance(v, list) for ref in v]


def _service_name(principal: Principal) -> str | None:
    """``"logs.us-east-1.amazonaws.com"`` -> ``"logs"``; ``"delivery.logs.amazonaws.com"`` ->
    ``"delivery.logs"``; a template keeps its literal head."""
    value: Any = principal.value
    if isinstance(value, Template):
        head = value.parts[0] if value.parts and isinstance(value.parts[0], str) else ""
        text = head
    elif isinstance(value, str) and not is_symbolic(value):
        text = value
    else:
        return None
    text = text.lower()
    if text.startswith("delivery.logs."):
        return "delivery.logs"
    return text.split(".", 1)[0] or None


# Grant management: for a statement that allows only these, kms:GrantIsForAWSResource true is what
# AWS documents (Route 53 Developer Guide, "Working with customer managed keys for DNSSEC": the
# CreateGrant statement for dnssec-route53.amazonaws.com has only that condition).
_GRANT_ACTIONS = frozenset({"CreateGrant", "ListGrants", "RevokeGrant", "RetireGrant", "ListRetirableGrants"})


def _read_only(actions: frozenset[str]) -> bool:
    """Only metadata reads (DescribeKey, GetPublicKey, List*): nothing a confused deputy could
    misuse the key for."""
    from kmsguard.authz.kms_actions import action_info

    levels = {(info.access_level if info else None) for info in map(action_info, actions)}
    return bool(actions) and levels <= {"Read", "List"}


def _service_without_source(subject: Subject) -> TestResult:
    """KMS021: an Allow to a documented service principal without aws:SourceArn /
    aws:SourceAccount / aws:SourceOrgID / an encryption context naming the resource, and not
    limited to kms:ViaService + kms:CallerAccount. Statements that only read metadata are left
    alone."""
    stmt: Statement = subject.obj
    allow = _allow_effect(stmt)
    if allow.is_false or not isinstance(stmt.principals, tuple):
        return TestResult(FALSE)
    services = [
        (p, name)
        for p in stmt.principals
        if p.type is PrincipalType.SERVICE and (name := _service_name(p)) in CONFUSED_DEPUTY_SERVICES
    ]
    covered = covered_kms_actions(stmt)
    if not services or covered is None or (_read_only(covered.actions) and not covered.pending):
        return TestResult(FALSE)
    principal, service = services[0]
    fields = {
        "principal": "service principal"
        + ("s " if len(services) > 1 else " ")
        + ", ".join(f'"{p.value}"' for p, _ in services),
        "source": CONFUSED_DEPUTY_SERVICES[service],
    }
    if isinstance(stmt.conditions, Unknown):
        return TestResult(unresolved(stmt.conditions.ref), None, fields)
    grants_only = bool(covered.actions) and covered.actions <= _GRANT_ACTIONS and not covered.pending
    if grants_only and any(_grant_is_for_aws_resource(c) for c in stmt.conditions):
        return TestResult(FALSE)
    pending: list[str] = []
    keys_seen: set[str] = set()
    for cond in stmt.conditions:
        name = cond.key_name
        if not _positive(cond):
            continue
        restricts = _restriction(cond)
        if isinstance(restricts, list):
            pending.extend(restricts)
            continue
        if not restricts:
            continue
        if name in _SOURCE_KEYS or name.startswith(_ENCRYPTION_CONTEXT_PREFIX):
            return TestResult(FALSE)
        if name == "kms:encryptioncontextkeys" and cond.set_qualifier == "ForAnyValue":
            return TestResult(FALSE)
        keys_seen.add(name)
    if {"kms:viaservice", "kms:calleraccount"} <= keys_seen:
        return TestResult(FALSE)
    if allow.is_unresolved or pending:
        return TestResult(unresolved(*allow.depends_on, *pending), None, fields)
    return TestResult(TRUE, principal.span if principal.span.line else stmt.span, fields)


def _wildcard_via_service(subject: Subject) -> TestResult:
    """KMS022 (with principal_restricted_by_condition false): an Allow to principal "*" whose only
    narrowing is kms:ViaService -- which says through which service, not on whose behalf."""
    stmt: Statement = subject.obj
    allow = _allow_effect(stmt)
    if allow.is_false or not isinstance(stmt.principals, tuple):
        return TestResult(FALSE)
    if not any(p.is_wildcard for p in stmt.principals):
        return TestResult(FALSE)
    if isinstance(stmt.conditions, Unknown):
        return TestResult(unresolved(stmt.conditions.ref))
    for cond in stmt.conditions:
        if cond.key_name == "kms:viaservice" and _positive(cond):
            if allow.is_unresolved:
                return TestResult(allow)
            services = (
                cond.values.ref
                if isinstance(cond.values, Unknown)
                else ", ".join(str(v) for v in cond.values)
            )
            return TestResult(TRUE, cond.span if cond.span.line else stmt.span, {"services": services})
    return TestResult(FALSE)


def _grant_is_for_aws_resource(cond: Condition) -> bool:
    if cond.key_name != "kms:grantisforawsresource" or not _positive(cond):
        return False
    if isinstance(cond.values, Unknown):
        return False
    return any(str(v).lower() == "true" for v in cond.values)


def _create_grant_for_non_admins(subject: Subject) -> TestResult:
    """KMS023: an Allow of kms:CreateGrant in a statement that is not an administrators'
    statement, with neither kms:GrantIsForAWSResource true nor kms:ViaService."""
    stmt: Statement = subject.obj
    allow = _allow_effect(stmt)
    covered = covered_kms_actions(stmt)
    if allow.is_false or covered is None:
        return TestResult(FALSE)
    if covered.actions & ADMIN_ACTIONS:
        return TestResult(FALSE)
    pending = list(allow.depends_on)
    if "CreateGrant" not in covered.actions:
        if not covered.pending:
            return TestResult(FALSE)
        pending.extend(covered.pending)
    if isinstance(stmt.conditions, Unknown):
        return TestResult(unresolved(*pending, stmt.conditions.ref))
    for cond in stmt.conditions:
        if _grant_is_for_aws_resource(cond):
            return TestResult(FALSE)
        if cond.key_name == "kms:viaservice" and _positive(cond):
            return TestResult(FALSE)
    if pending:
        return TestResult(unresolved(*pending))
    return TestResult(TRUE, stmt.span, {"principal": _principals_text(stmt)})


def _principals_text(stmt: Statement, limit: int = 2) -> str:
    if not isinstance(stmt.principals, tuple) or not stmt.principals:
        return "its principals"
    names = [str(p.value) if not p.is_wildcard else '"*"' for p in stmt.principals]
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _allow_with_not_principal(subject: Subject) -> TestResult:
    """KMS024: Allow with NotPrincipal -- everyone except the listed principals."""
    stmt: Statement = subject.obj
    if stmt.not_principals is None:
        return TestResult(FALSE)
    allow = _allow_effect(stmt)
    if allow.is_false:
        return TestResult(FALSE)
    listed = (
        stmt.not_principals.ref
        if isinstance(stmt.not_principals, Unknown)
        else ", ".join(str(p.value) for p in stmt.not_principals)
    )
    fields = {"value": listed or "(none)"}
    return TestResult(allow, stmt.span if allow.is_true else None, fields)


EXPOSURE_TESTS: dict[str, Callable[[Subject], TestResult]] = {
    "service_principal_without_source": _service_without_source,
    "wildcard_principal_via_service": _wildcard_via_service,
    "create_grant_for_non_admins": _create_grant_for_non_admins,
    "allow_with_not_principal": _allow_with_not_principal,
}

__all__ = ["ADMIN_ACTIONS", "CONFUSED_DEPUTY_SERVICES", "EXPOSURE_TESTS"]
