"""Cheap tests that decide whether an access question is worth asking the prover: a key policy
that names only the key's own account (directly or through ``AWS::AccountId``) and services cannot
let a principal of another account in, so ``kmsguard check`` never imports z3 for it."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from kmsguard.model import Policy, PrincipalType, Template, Unknown
from kmsguard.model.values import INVALID_POLICY, THIS_ACCOUNT, refs_of
from kmsguard.rules_engine.logic import FALSE, TRUE
from kmsguard.rules_engine.predicates import Subject, TestResult


def key_account(subject: Subject) -> str | None:
    """The account of the subject's key: from its ARN, its account, else ``--account``."""
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
    definite, symbolic = admitting_principals(policy, key_account(subject), trusted)
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


# source: KMS Developer Guide, "AWS KMS concepts", "Cryptographic operations" (ReEncrypt is
# authorized as ReEncryptFrom and ReEncryptTo). The prover's lists (prove/control.py) are the
# reference; these only decide whether it is worth asking.
_CRYPTOGRAPHIC = frozenset(
    {
        "decapsulate",
        "decrypt",
        "derivesharedsecret",
        "encapsulate",
        "encrypt",
        "generatedatakey",
        "generatedatakeypair",
        "generatedatakeypairwithoutplaintext",
        "generatedatakeywithoutplaintext",
        "generatemac",
        "reencryptfrom",
        "reencryptto",
        "sign",
        "verify",
        "verifymac",
    }
)
_MANAGING_LEVELS = ("Write", "Permissions management", "Tagging")


def _action_kinds(patterns: object) -> tuple[bool, bool]:
    """Whether Action patterns can name a managing action, and a cryptographic one (unknown
    patterns: both)."""
    if not isinstance(patterns, tuple) or any(not isinstance(p, str) for p in patterns):
        return True, True
    return _literal_action_kinds(patterns)


@lru_cache(maxsize=4096)
def _literal_action_kinds(patterns: tuple[str, ...]) -> tuple[bool, bool]:
    """``_action_kinds`` of literal patterns, once per distinct tuple: an account's key policies
    repeat the same few Action lists, and each costs a match against every KMS action."""
    from kmsguard.authz import kms_actions
    from kmsguard.rules_engine.validity_tests import action_pattern

    matchers = [action_pattern(p).match for p in patterns]
    manage = use = False
    for info in kms_actions.all_actions():
        name = f"kms:{info.name}"
        if not any(match(name) for match in matchers):
            continue
        if info.name.lower() in _CRYPTOGRAPHIC:
            use = True
        elif info.access_level in _MANAGING_LEVELS:
            manage = True
    return manage, use


def _is_root(value: object) -> bool:
    """An account root principal, written literally or built from references (``...:${id}:root``)."""
    if isinstance(value, Template):
        last = value.parts[-1] if value.parts else ""
        return isinstance(last, str) and last.endswith(":root")
    if isinstance(value, Unknown):
        # A bare account id is the account's root (IAM User Guide, "AWS account principals"):
        # the deployment account, or an attribute that is one (data.aws_caller_identity...account_id).
        return value.ref == THIS_ACCOUNT or value.ref.endswith(".account_id")
    return isinstance(value, str) and value.endswith(":root") and ":iam::" in value


def _names_admin_and_user(subject: Subject) -> TestResult:
    """Some principal the key policy names itself (not an account root, not "*") is allowed, by
    the statements' actions, both to manage the key and to use it; conditions are the prover's."""
    policy: Policy = subject.obj
    kinds: dict[str, tuple[bool, bool]] = {}
    for stmt in policy.statements:
        if isinstance(stmt.effect, Unknown):
            if stmt.effect.reason == INVALID_POLICY:
                return TestResult(FALSE)  # AWS rejects the policy: the validity finding says so
            continue
        if not stmt.is_allow or not isinstance(stmt.principals, tuple) or stmt.not_actions is not None:
            continue
        manage, use = _action_kinds(stmt.actions)
        for principal in stmt.principals:
            if principal.type is not PrincipalType.AWS or principal.is_wildcard or _is_root(principal.value):
                continue
            name = repr(principal.value)
            before = kinds.get(name, (False, False))
            kinds[name] = (before[0] or manage, before[1] or use)
    return TestResult(TRUE if any(m and u for m, u in kinds.values()) else FALSE)


ACCESS_TESTS: dict[str, Callable[[Subject], TestResult]] = {
    "may_admit_outsider": _may_admit_outsider,
    "may_be_locked_out": _may_be_locked_out,
    "names_admin_and_user": _names_admin_and_user,
}

__all__ = ["ACCESS_TESTS", "admitting_principals", "key_account"]
