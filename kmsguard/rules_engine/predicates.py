"""Named tests that rule packs call (``when: [{test: NAME}]``) where a plain attribute comparison
cannot say it. Each takes a ``Subject`` and returns a ``TestResult``; all are pure."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kmsguard.model import (
    Grant,
    Inventory,
    Key,
    OrgContext,
    Policy,
    Principal,
    ResourceRef,
    Span,
    Statement,
    Template,
    Unknown,
)
from kmsguard.model.values import INVALID_POLICY, THIS_ACCOUNT, is_symbolic
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
    org: OrgContext | None = None
    # The key policy a statement belongs to (questions about access read the whole policy).
    policy: Policy | None = None
    # What else the configuration declares (the roles a policy names by reference...).
    inventory: Inventory | None = field(default=None, repr=False)


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
        if stmt.effect.reason == INVALID_POLICY:
            return TestResult(FALSE)  # AWS rejects the policy; a validity finding says so
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
        # IfExists and ForAllValues pass when the key is absent (or empty), so they do not pin the
        # caller down; ForAnyValue is false then, so it does (IAM User Guide, "Condition operators",
        # "...IfExists"; "Set operators for multivalued context keys").
        if (
            cond.if_exists
            or cond.set_qualifier == "ForAllValues"
            or cond.base_operator not in _POSITIVE_OPERATORS
        ):
            continue
        if isinstance(cond.values, Unknown):
            pending.append(cond.values.ref)
            continue
        # Values are ORed: one value that matches anyone makes the condition restrict nothing.
        restricts = [_restricts(v, cond.key.lower()) for v in cond.values]
        if not restricts or any(r is False for r in restricts):
            continue
        if all(r is True for r in restricts):
            return TestResult(TRUE, cond.span, {"restriction": f"{cond.key}"})
        pending.extend(ref for r in restricts if isinstance(r, list) for ref in r)
    if pending:
        return TestResult(unresolved(*pending))
    return TestResult(FALSE)


_AWS_COMPUTED = re.compile(r"^(module\.[^.]+(\[[^\]]*\])?\.)*data\.")


def _is_concrete(symbol: Unknown | ResourceRef) -> bool:
    """A symbol that stands for one identifier AWS assigns -- the deployment account, an attribute
    of a resource or data source (an org id, an account id, an ARN) -- and never for a wildcard.
    A variable or an imported value could be anything, ``"*"`` included."""
    if isinstance(symbol, ResourceRef):
        return True
    return symbol.is_deployment_context or bool(_AWS_COMPUTED.match(symbol.ref))


_ARN_KEYS = frozenset({"aws:principalarn", "aws:sourcearn"})
_ID_KEYS = frozenset(
    {
        "aws:principalaccount",
        "kms:calleraccount",
        "aws:sourceaccount",
        "aws:principalorgid",
        "aws:sourceowner",
    }
)


def _pins_caller(value: str, key: str) -> bool:
    """Whether a literal condition value can only be met by callers of a known account or
    organisation. An ARN pattern pins the account only when its account field is literal: any
    account can create a role named ``app`` (``arn:aws:iam::*:role/app``). ARNs without an account
    (S3 buckets) name something globally unique only when the name is literal."""
    if key in _ARN_KEYS:
        parts = value.split(":", 5)
        if len(parts) < 6:
            return False  # a wildcard spanning several fields
        if parts[4]:
            return not any(c in parts[4] for c in "*?")
        return parts[5] != "" and not any(c in parts[5] for c in "*?")
    if key in _ID_KEYS:
        return value != "" and not any(c in value for c in "*?")
    if key == "aws:principalorgpaths":
        org = value.split("/", 1)[0]
        return org.startswith("o-") and not any(c in org for c in "*?")
    return value.strip("*?") != ""


def _restricts(value: Any, key: str = "") -> bool | list[str]:
    """True when a condition value pins the caller down; False when it matches callers of any
    account; else the refs it depends on."""
    if isinstance(value, str) and not is_symbolic(value):
        return _pins_caller(value, key)
    if isinstance(value, (bool, int, float)):
        return True
    symbols = list(value.symbols()) if isinstance(value, Template) else [value]
    # A value that must contain an id AWS assigned (an org id, an account id) cannot be chosen by
    # the caller, whatever the other parts are.
    if any(_is_concrete(s) for s in symbols):
        return True
    return [str(s) if isinstance(s, ResourceRef) else s.ref for s in symbols]


def _applies_to_key(subject: Subject) -> TestResult:
    """Whether the statement's Resource can name the key. In a key policy "*" means "this KMS
    key" (KMS Developer Guide, "Key policies in AWS KMS": Resource); an ARN of something else (a
    bucket) never matches the key, so the statement grants nothing on it."""
    stmt: Statement = subject.obj
    if stmt.not_resources is not None or stmt.resources is None:
        return TestResult(TRUE)
    if isinstance(stmt.resources, Unknown):
        return TestResult(unresolved(stmt.resources.ref))
    pending: list[str] = []
    for resource in stmt.resources:
        if isinstance(resource, ResourceRef):
            if resource.address.split("[")[0].split(".")[-2] in _KEY_RESOURCE_TYPES:
                return TestResult(TRUE)
            continue
        if isinstance(resource, Unknown):
            pending.append(resource.ref)
            continue
        text = (
            "".join(p if isinstance(p, str) else "*" for p in resource.parts)
            if isinstance(resource, Template)
            else resource
        )
        if text.strip("*?") == "" and isinstance(resource, Template):
            pending.append(str(resource))  # nothing literal: the symbols decide
        elif _could_be_key_arn(text):
            return TestResult(TRUE)
    return TestResult(unresolved(*pending)) if pending else TestResult(FALSE)


_KEY_RESOURCE_TYPES = frozenset(
    {"aws_kms_key", "aws_kms_replica_key", "aws_kms_external_key", "aws_kms_replica_external_key"}
)


def _could_be_key_arn(pattern: str) -> bool:
    """ "*", or an ARN pattern whose service segment can be "kms"."""
    from fnmatch import fnmatchcase

    if pattern.strip("*?") == "":
        return True
    parts = pattern.split(":")
    return len(parts) >= 3 and parts[0] == "arn" and fnmatchcase("kms", parts[2])


def _supports_rotation(subject: Subject) -> TestResult:
    key: Key = subject.obj
    support = key.supports_automatic_rotation
    if isinstance(support, Unknown):
        return TestResult(unresolved(support.ref))
    return TestResult(of(support))


def _principal_text(principal: Principal) -> str:
    if principal.raw == "*":
        return 'principal "*"'
    return f'principal {{"{principal.type.value}": "{principal.value}"}}'


# Operations whose requests carry an encryption context: the only ones a grant constraint can
# restrict (KMS Developer Guide, "Grants in AWS KMS", "Grant constraints").
ENCRYPTION_CONTEXT_OPERATIONS = frozenset(
    {
        "Encrypt",
        "Decrypt",
        "ReEncryptFrom",
        "ReEncryptTo",
        "GenerateDataKey",
        "GenerateDataKeyWithoutPlaintext",
        "GenerateDataKeyPair",
        "GenerateDataKeyPairWithoutPlaintext",
    }
)


def _grant_unconstrained(subject: Subject) -> TestResult:
    grant: Grant = subject.obj
    if isinstance(grant.operations, Unknown):
        return TestResult(unresolved(grant.operations.ref))
    symbolic = [str(op) for op in grant.operations if not isinstance(op, str) or is_symbolic(op)]
    crypto = sorted(
        op for op in grant.operations if isinstance(op, str) and op in ENCRYPTION_CONTEXT_OPERATIONS
    )
    constraints = grant.constraints
    if constraints is not None:
        for value in (constraints.encryption_context_equals, constraints.encryption_context_subset):
            if isinstance(value, Unknown):
                return TestResult(unresolved(value.ref))
            if value:
                return TestResult(FALSE)
    if crypto:
        return TestResult(TRUE, grant.span_for("operations"), {"operations": ", ".join(crypto)})
    return TestResult(unresolved(*symbolic)) if symbolic else TestResult(FALSE)


def _grantee_outside_trusted(subject: Subject) -> TestResult:
    grant: Grant = subject.obj
    grantee = grant.grantee
    where = grant.span_for("grantee")
    if grantee is None:
        return TestResult(FALSE)
    if isinstance(grantee, ResourceRef):
        return TestResult(FALSE)  # an identity declared next to the key: the deployment account
    if isinstance(grantee, Unknown):
        return TestResult(unresolved(grantee.ref), where)
    if isinstance(grantee, Template):
        account_parts = [p for p in grantee.parts if not isinstance(p, str)]
        if all(isinstance(p, Unknown) and p.ref == THIS_ACCOUNT for p in account_parts):
            return TestResult(FALSE)
        return TestResult(unresolved(*(str(p) for p in account_parts)), where)
    text = str(grantee)
    account = _account_of(text)
    if account is None:
        return TestResult(FALSE)  # a service principal, not an account
    trusted = subject.org.effective_trusted_accounts if subject.org else ()
    if not trusted:
        return TestResult(unresolved("the deployment account (--account or --trusted-accounts)"), where)
    if account in trusted:
        return TestResult(FALSE)
    return TestResult(TRUE, where, {"account": account})


def _account_of(principal: str) -> str | None:
    if re.fullmatch(r"\d{12}", principal):
        return principal
    parts = principal.split(":")
    if len(parts) >= 6 and parts[0] == "arn" and re.fullmatch(r"\d{12}", parts[4]):
        return parts[4]
    return None


# Condition keys that narrow which keys or which requests an identity statement applies to (KMS
# Developer Guide, "AWS KMS condition keys"; IAM User Guide, "AWS global condition context keys").
KEY_NARROWING_KEYS = (
    "kms:viaservice",
    "kms:encryptioncontext",
    "kms:calleraccount",
    "kms:requestalias",
    "kms:resourcealiases",
    "aws:resourcetag/",
    "aws:resourceaccount",
    "aws:resourceorgid",
    "aws:resourceorgpaths",
    "kms:keyorigin",
    "kms:keyspec",
    "kms:keyusage",
)
_SAMPLE_KEY_ARN = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def _every_key(resource: Any, string_like: Callable[[str, str], bool]) -> bool:
    """A Resource pattern that matches every key (of an account or of all): "*", "...:key/*"."""
    if not isinstance(resource, str) or is_symbolic(resource):
        return False
    return resource == "*" or (
        resource.endswith("*")
        and resource.startswith("arn:")
        and string_like(resource.lower(), _SAMPLE_KEY_ARN)
    )


def _decrypt_on_any_key(subject: Subject) -> TestResult:
    """An identity Allow that grants kms:Decrypt on every key, with no condition narrowing it."""
    from kmsguard.authz.conditions import string_like

    stmt: Statement = subject.obj
    if isinstance(stmt.effect, Unknown):
        return TestResult(FALSE if stmt.effect.reason == INVALID_POLICY else unresolved(stmt.effect.ref))
    if not stmt.is_allow:
        return TestResult(FALSE)
    pending: list[str] = []
    if isinstance(stmt.actions, Unknown) or isinstance(stmt.not_actions, Unknown):
        ref = stmt.actions if isinstance(stmt.actions, Unknown) else stmt.not_actions
        return TestResult(unresolved(ref.ref))  # type: ignore[union-attr]
    if stmt.actions is not None:
        literal = [a.lower() for a in stmt.actions if isinstance(a, str) and not is_symbolic(a)]
        pending += [str(a) for a in stmt.actions if not isinstance(a, str) or is_symbolic(a)]
        if not any(string_like(a, "kms:decrypt") for a in literal):
            return TestResult(unresolved(*pending)) if pending else TestResult(FALSE)
    elif stmt.not_actions is not None:
        excluded = [a.lower() for a in stmt.not_actions if isinstance(a, str)]
        if any(string_like(a, "kms:decrypt") for a in excluded):
            return TestResult(FALSE)
    resources = stmt.resources
    if isinstance(resources, Unknown):
        return TestResult(unresolved(resources.ref))
    if stmt.not_resources is None and not any(_every_key(r, string_like) for r in resources or ()):
        return TestResult(FALSE)
    if isinstance(stmt.conditions, Unknown):
        return TestResult(unresolved(stmt.conditions.ref))
    for cond in stmt.conditions:
        name = cond.key_name
        if any(name.startswith(prefix) for prefix in KEY_NARROWING_KEYS):
            return TestResult(FALSE)
    return TestResult(TRUE, stmt.span)


def _other_service_actions(subject: Subject) -> TestResult:
    """Actions of services other than KMS in a key policy: a key policy controls only KMS, so they
    never apply (KMS Developer Guide, "Key policies in AWS KMS": Action)."""
    stmt: Statement = subject.obj
    elements = stmt.actions if stmt.actions is not None else stmt.not_actions
    if isinstance(elements, Unknown) or elements is None:
        return TestResult(FALSE)
    others = [
        str(a)
        for a in elements
        if isinstance(a, str) and not is_symbolic(a) and ":" in a and a.split(":", 1)[0].lower() != "kms"
    ]
    if not others:
        return TestResult(FALSE)
    return TestResult(TRUE, stmt.span, {"value": ", ".join(others)})


def _old_version(subject: Subject) -> TestResult:
    policy = subject.obj
    version = policy.version
    if isinstance(version, Unknown):
        return TestResult(unresolved(version.ref))
    if version == "2012-10-17":
        return TestResult(FALSE)
    return TestResult(TRUE, policy.span, {"value": version or "(none)"})


NAMED_TESTS: dict[str, Callable[[Subject], TestResult]] = {
    "wildcard_principal_allow": _wildcard_allow,
    "principal_restricted_by_condition": _principal_restricted,
    "supports_automatic_rotation": _supports_rotation,
    "statement_applies_to_key": _applies_to_key,
    "grant_crypto_without_constraints": _grant_unconstrained,
    "decrypt_on_any_key": _decrypt_on_any_key,
    "other_service_actions": _other_service_actions,
    "old_policy_version": _old_version,
    "grantee_outside_trusted_accounts": _grantee_outside_trusted,
}

# Tests kept in their own modules, registered here (imported last: they import Subject from here).
from kmsguard.rules_engine.access_tests import ACCESS_TESTS  # noqa: E402

NAMED_TESTS.update(ACCESS_TESTS)
from kmsguard.rules_engine.lifecycle_tests import LIFECYCLE_TESTS  # noqa: E402

NAMED_TESTS.update(LIFECYCLE_TESTS)
from kmsguard.rules_engine.validity_tests import VALIDITY_TESTS  # noqa: E402

NAMED_TESTS.update(VALIDITY_TESTS)
from kmsguard.rules_engine.exposure_tests import EXPOSURE_TESTS  # noqa: E402

NAMED_TESTS.update(EXPOSURE_TESTS)
from kmsguard.rules_engine.integration_tests import INTEGRATION_TESTS  # noqa: E402

NAMED_TESTS.update(INTEGRATION_TESTS)
