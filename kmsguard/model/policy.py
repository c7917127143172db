"""IAM policy documents: key policies, identity policies, trust policies, SCPs/RCPs, boundaries."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Union

from kmsguard.model.span import NO_SPAN, Span
from kmsguard.model.values import StrValue, Unknown


class PolicyKind(str, Enum):
    KEY = "key"
    IDENTITY = "identity"
    TRUST = "trust"
    SCP = "scp"
    RCP = "rcp"
    BOUNDARY = "boundary"
    SESSION = "session"
    UNKNOWN = "unknown"

    @property
    def has_principal(self) -> bool:
        """Resource-based policies name principals; identity-style policies must not."""
        return self in (PolicyKind.KEY, PolicyKind.TRUST, PolicyKind.RCP)


class PrincipalType(str, Enum):
    AWS = "AWS"
    SERVICE = "Service"
    FEDERATED = "Federated"
    CANONICAL_USER = "CanonicalUser"


@dataclass(frozen=True, slots=True)
class Principal:
    """One principal of a Principal / NotPrincipal element.

    Normalised: ``"*"`` is ``Principal(AWS, "*")``; a bare account id ``"111122223333"`` is
    ``arn:<partition>:iam::111122223333:root`` (``raw`` keeps what was written)."""

    type: PrincipalType
    value: StrValue
    # Where and how it was written does not change which principal it is.
    span: Span = field(default=NO_SPAN, compare=False)
    raw: Any = field(default=None, compare=False)

    @property
    def is_wildcard(self) -> bool:
        return self.type is PrincipalType.AWS and self.value == "*"

    @property
    def is_account_root(self) -> bool:
        return isinstance(self.value, str) and self.value.endswith(":root") and ":iam::" in self.value

    def account(self) -> str | None:
        """The account id of an AWS principal ARN, when it is literal."""
        if self.type is not PrincipalType.AWS or not isinstance(self.value, str):
            return None
        parts = self.value.split(":")
        if len(parts) >= 6 and parts[0] == "arn":
            return parts[4] or None
        return None


ConditionValue = Union[str, bool, int, float, Unknown, StrValue]


@dataclass(frozen=True, slots=True)
class Condition:
    """One (operator, key, values) clause. Values are ORed; clauses are ANDed."""

    operator: str
    key: StrValue
    values: tuple[ConditionValue, ...] | Unknown
    span: Span = NO_SPAN

    @property
    def base_operator(self) -> str:
        """The operator without set qualifier and ``IfExists``: ``StringLike`` for
        ``ForAnyValue:StringLikeIfExists``."""
        op = self.operator.split(":", 1)[-1]
        return op[: -len("IfExists")] if op.endswith("IfExists") else op

    @property
    def if_exists(self) -> bool:
        return self.operator.endswith("IfExists")

    @property
    def set_qualifier(self) -> str | None:
        if ":" in self.operator:
            return self.operator.split(":", 1)[0]
        return None

    @property
    def key_name(self) -> str:
        return self.key.lower() if isinstance(self.key, str) else str(self.key)


Elements = Union[tuple[StrValue, ...], Unknown]


@dataclass(frozen=True, slots=True)
class Statement:
    sid: str | None
    effect: str | Unknown
    principals: tuple[Principal, ...] | Unknown | None = None
    not_principals: tuple[Principal, ...] | Unknown | None = None
    actions: Elements | None = None
    not_actions: Elements | None = None
    resources: Elements | None = None
    not_resources: Elements | None = None
    conditions: tuple[Condition, ...] | Unknown = ()
    span: Span = NO_SPAN
    index: int = 0

    @property
    def is_allow(self) -> bool:
        return self.effect == "Allow"

    @property
    def is_deny(self) -> bool:
        return self.effect == "Deny"

    @property
    def label(self) -> str:
        """How messages name the statement."""
        return f'statement "{self.sid}"' if self.sid else f"statement #{self.index + 1}"


@dataclass(frozen=True, slots=True)
class Policy:
    kind: PolicyKind
    statements: tuple[Statement, ...] = ()
    version: str | Unknown | None = None
    id: str | None = None
    span: Span = NO_SPAN
    # Parts of the document that could not be resolved (a statement list built from a variable...).
    unresolved: tuple[Unknown, ...] = ()
    size_bytes: int | None = None

    @property
    def is_complete(self) -> bool:
        return not self.unresolved
