"""Cheap tests that decide whether an access question is worth asking the prover: a key policy
that names only the key's own account (directly or through ``AWS::AccountId``) and services cannot
let a principal of another account in, so ``kmsguard check`` never imports z3 for it."""

from __future__ import annotations

from collections.abc import Callable

from kmsguard.model import Policy, PrincipalType, Template, Unknown
from kmsguard.model.values import INVALID_POLICY, refs_of
from kmsguard.rules_engine.logic import FALSE, TRUE
from kmsguard.rules_engine.predicates import Subject, TestResult


def _own_account(subject: Subject) -> str | None:
    key = subject.key
    if key is not None:
        if isinstance(key.arn, str) and len(key.arn.split(":")) >= 6 and key.arn.split(":")[4]:
            return key.arn.split(":")[4]
        if isinstance(key.account, str):
            return key.account
    return subject.org.account if subject.org and subject.org.account else None


def _deployment_only(value: Template | Unknown) -> bool:
    """A value built only from literals and the deployment context (``arn:aws:iam::${account}:root``)."""
    parts = value.parts if isinstance(value, Template) else (value,)
    return all(isinstance(p, str) or (isinstance(p, Unknown) and p.is_deployment_context) for p in parts)


def admitting_principals(policy: Policy, own: str | None, trusted: tuple[str, ...]) -> tuple[bool, list[str]]:
    """Whether an Allow of ``policy`` names a principal that may be of another account than ``own``
    and ``trusted`` -- a wildcard, NotPrincipal, a foreign account -- for certain; and the symbolic
    values (references, parameters) that may stand for one."""
    symbolic: list[str] = list(dict.fromkeys(p.ref for p in policy.unresolved))
    definite = False
    for stmt in policy.statements:
        if isinstance(stmt.effect, Unknown):
            if stmt.effect.reason != INVALID_POLICY:
                symbolic.extend(refs_of(stmt.effect))
            continue
        if not stmt.is_allow:
            continue
        if stmt.not_principals is not None:
            definite = True
            continue
        if isinstance(stmt.principals, Unknown):
            symbolic.extend(refs_of(stmt.principals))
            continue
        for principal in stmt.principals or ():
            if principal.type is PrincipalType.SERVICE:
                continue  # services act for their callers; the confused-deputy rules look at them
            value = principal.value
            if isinstance(value, (Template, Unknown)) or not isinstance(value, str):
                if not isinstance(value, (Template, Unknown)) or not _deployment_only(value):
                    symbolic.extend(refs_of(value))
                continue
            account = principal.account()
            if principal.is_wildcard or account is None or (account != own and account not in trusted):
                definite = True
    return definite, list(dict.fromkeys(symbolic))


def _may_admit_outsider(subject: Subject) -> TestResult:
    """The key policy has an Allow whose principal may be of another account than the key's (or
    the trusted ones): a wildcard, NotPrincipal, a foreign or symbolic ARN, a part not known."""
    policy: Policy = subject.obj
    trusted = tuple(subject.org.trusted_accounts) if subject.org else ()
    definite, symbolic = admitting_principals(policy, _own_account(subject), trusted)
    return TestResult(TRUE if definite or symbolic else FALSE)


def _names_action(patterns: object, action: str) -> bool | None:
    """Whether literal Action patterns can name ``action`` (None: not known statically)."""
    from kmsguard.authz.conditions import string_like

    if not isinstance(patterns, tuple):
        return None
    if any(not isinstance(p, str) for p in patterns):
        return None
    return any(string_like(p, action, ignore_case=True) for p in patterns)


def _may_be_locked_out(subject: Subject) -> TestResult:
    """False when some AWS principal is allowed kms:PutKeyPolicy without a condition and no Deny
    could take it away -- the key is certainly manageable; else the prover is asked."""
    policy: Policy = subject.obj
    if policy.unresolved:
        return TestResult(TRUE)
    manageable = False
    if any(isinstance(s.effect, Unknown) and s.effect.reason == INVALID_POLICY for s in policy.statements):
        return TestResult(FALSE)  # AWS rejects the policy: the validity finding says so
    for stmt in policy.statements:
        if isinstance(stmt.effect, Unknown):
            return TestResult(TRUE)
        names = _names_action(stmt.actions, "kms:PutKeyPolicy") if stmt.not_actions is None else None
        if not stmt.is_allow:
            if names is not False:  # a Deny that may cover PutKeyPolicy: the prover weighs it
                return TestResult(TRUE)
            continue
        if (
            names
            and stmt.not_principals is None
            and isinstance(stmt.principals, tuple)
            and any(p.type is PrincipalType.AWS for p in stmt.principals)
            and stmt.conditions == ()
            and stmt.resources == ("*",)
        ):
            manageable = True
    return TestResult(FALSE if manageable else TRUE)


ACCESS_TESTS: dict[str, Callable[[Subject], TestResult]] = {
    "may_admit_outsider": _may_admit_outsider,
    "may_be_locked_out": _may_be_locked_out,
}

__all__ = ["ACCESS_TESTS", "admitting_principals"]
