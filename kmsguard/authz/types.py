"""Requests, inputs and decisions of the simulator (the contract between its parts)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from functools import cache
from types import MappingProxyType, ModuleType
from typing import Any, Generic, NamedTuple, TypeVar, Union

from kmsguard.model import Grant, Policy

# A request context value: a string, or a list of strings for multivalued keys
# (aws:PrincipalOrgPaths, kms:GrantOperations...). Booleans, numbers and dates are given as the
# strings AWS sends ("true", "42", "2026-11-22T10:00:00Z").
ContextValue = Union[str, tuple[str, ...]]
T = TypeVar("T")


class PrincipalKind(str, Enum):
    ROOT = "root"  # arn:aws:iam::111122223333:root (the account root user)
    USER = "user"  # arn:aws:iam::111122223333:user/path/name
    ROLE = "role"  # arn:aws:iam::111122223333:role/path/name (as named in policies)
    ASSUMED_ROLE = "assumed-role"  # arn:aws:sts::111122223333:assumed-role/name/session
    FEDERATED_USER = "federated-user"  # arn:aws:sts::111122223333:federated-user/name
    SERVICE = "service"  # s3.amazonaws.com (a service principal calling on its own behalf)
    ANONYMOUS = "anonymous"  # an unauthenticated caller


class _Derived(Generic[T]):
    """A value derived from an immutable instance, computed on first use and kept in the instance's
    ``__dict__``, where later reads find it without calling this descriptor. It never goes stale
    (every field it derives from is frozen) and it is not a dataclass field, so equality, repr and
    ``dataclasses.replace`` ignore it. (functools.cached_property takes a lock on every first use in
    Python 3.11: too slow for the simulator's hot path.)"""

    def __init__(self, compute: Callable[[Any], T]) -> None:
        self.compute = compute
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, instance: Any, owner: type | None = None) -> T:
        if instance is None:
            raise AttributeError(self.name)
        value = self.compute(instance)
        instance.__dict__[self.name] = value
        return value


def _caller_principal_key(caller: Caller) -> tuple[Any, ...]:
    return (caller.kind, caller.arn, caller.account, caller.session_arn, caller.service)


def _caller_value_key(caller: Caller) -> tuple[Any, ...] | None:
    key = (
        *caller._principal_key,
        tuple(caller.tags.items()),
        caller.org_id,
        caller.org_paths,
        caller.username,
        caller.userid,
    )
    try:
        hash(key)
    except TypeError:  # a list or dict where a string was expected: not cached by value
        return None
    return key


def _request_condition_context(request: Request) -> tuple[dict[str, ContextValue], frozenset[str]]:
    return _conditions_module().context_and_odd_keys(request)  # type: ignore[no-any-return]


@cache
def _conditions_module() -> ModuleType:
    """kmsguard.authz.conditions, imported on first use: it imports this module."""
    from kmsguard.authz import conditions

    return conditions


@dataclass(frozen=True)
class Caller:
    """Who makes the request. ``arn`` is what AWS puts in ``aws:PrincipalArn`` (for a role session:
    the role's ARN); ``session_arn`` is the assumed-role / federated-user session ARN, which is
    what a policy's Principal element is matched against for sessions. ``account`` is None only for
    service principals and anonymous callers."""

    kind: PrincipalKind
    arn: str
    account: str | None
    session_arn: str | None = None
    service: str | None = None  # for SERVICE: "s3.amazonaws.com"
    tags: Mapping[str, str] = field(default_factory=dict)
    org_id: str | None = None
    org_paths: tuple[str, ...] = ()
    username: str | None = None  # aws:username for IAM users
    userid: str | None = None  # aws:userid

    # What the simulator's caches key a caller by (private to kmsguard.authz; not fields): the
    # fields that principal matching reads (kind, arn, account, session_arn, service), and every
    # field (None when one of them is not hashable).
    _principal_key = _Derived(_caller_principal_key)
    _value_key = _Derived(_caller_value_key)


@dataclass(frozen=True)
class Request:
    action: str  # "kms:Decrypt" (case-insensitive)
    caller: Caller
    resource: str  # the key ARN (or alias ARN for alias operations)
    resource_account: str
    context: Mapping[str, ContextValue] = field(default_factory=dict)  # keys case-insensitive
    # For operations authorized twice (ReEncrypt to another key, alias operations on alias + key,
    # ReplicateKey): the second resource, its account, and its key policy in AuthzInputs.second.
    grant_tokens: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # A private read-only copy: the simulator caches per request context, so the context must
        # not change after the request is made.
        object.__setattr__(self, "context", MappingProxyType(dict(self.context)))

    # The request context as conditions read it (``conditions.request_context``: the caller's keys
    # and the request's, lower-cased) and its keys with unresolved values; computed on first use.
    # Private to kmsguard.authz, which only reads it.
    _condition_context = _Derived(_request_condition_context)


@dataclass(frozen=True)
class AuthzInputs:
    """Everything AWS consults for one request on one key."""

    key_policy: Policy | None
    identity_policies: tuple[Policy, ...] = ()
    grants: tuple[Grant, ...] = ()
    # SCPs of the caller's account and RCPs of the key's account: one tuple of policies per level
    # of the organisation (root, each OU, the account); every level must allow.
    scps: tuple[tuple[Policy, ...], ...] = ()
    rcps: tuple[tuple[Policy, ...], ...] = ()
    permission_boundary: Policy | None = None
    session_policy: Policy | None = None
    key_manager: str = "CUSTOMER"  # "AWS" for AWS managed keys (no RCPs apply)


class Outcome(str, Enum):
    ALLOW = "Allow"
    EXPLICIT_DENY = "ExplicitDeny"
    IMPLICIT_DENY = "ImplicitDeny"
    ERROR = "Error"
    # The decision depends on values not known statically (IaC unknowns); ``depends_on`` says which.
    UNRESOLVED = "Unresolved"


class TraceEntry(NamedTuple):
    """One step of the reasoning: which policy and statement, what matched or failed, and why.

    A NamedTuple rather than a frozen dataclass: a decision makes one per statement considered,
    and creating a frozen dataclass costs several times more, on the simulator's hot path."""

    source: str  # "key policy", "identity policy #1", "grant app-decrypt", "SCP level 1", "rule"
    statement: str  # sid or "#n", or "" for a rule of AWS's logic
    effect: str  # "Allow" / "Deny" / "" for rules
    matched: bool
    reason: str  # "condition StringEquals kms:CallerAccount failed: '444455556666' not in [...]"


class Decision(NamedTuple):
    """The answer (a NamedTuple, like TraceEntry: one is made per simulated request)."""

    outcome: Outcome
    error_code: str | None = None  # for ERROR: "AccessDeniedException", "NotFoundException"...
    trace: tuple[TraceEntry, ...] = ()
    depends_on: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return f"Error:{self.error_code}" if self.outcome is Outcome.ERROR else self.outcome.value

    @property
    def allowed(self) -> bool:
        return self.outcome is Outcome.ALLOW
