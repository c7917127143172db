"""Keys, aliases, grants, identities and the resources that use keys."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Union

from kmsguard.model.policy import Policy
from kmsguard.model.span import NO_SPAN, Span
from kmsguard.model.values import StrValue, Unknown

BoolValue = Union[bool, Unknown]
IntValue = Union[int, Unknown]


class Source(str, Enum):
    """Which kind of input a model element came from."""

    TERRAFORM = "terraform"
    TERRAFORM_PLAN = "terraform-plan"
    CLOUDFORMATION = "cloudformation"
    POLICY_FILE = "policy-file"
    ACCOUNT = "account"


@dataclass(frozen=True)
class Key:
    """A KMS key. ``address`` is the IaC address (``aws_kms_key.this``, ``module.k.aws_kms_key.this``,
    a CloudFormation logical id) or, for live data, the key ARN.

    Values the input does not set hold AWS's defaults; ``attr_spans`` says where each value that
    was written came from (missing ones point at the resource)."""

    address: str
    resource_type: str
    source: Source
    span: Span = NO_SPAN
    arn: StrValue | None = None
    key_id: StrValue | None = None
    description: StrValue | None = None
    key_spec: StrValue = "SYMMETRIC_DEFAULT"
    key_usage: StrValue = "ENCRYPT_DECRYPT"
    origin: StrValue = "AWS_KMS"
    enabled: BoolValue = True
    key_state: StrValue | None = None
    key_manager: str = "CUSTOMER"
    rotation_enabled: BoolValue | None = False
    rotation_period_days: IntValue | None = None
    deletion_window_days: IntValue | None = None
    multi_region: BoolValue = False
    primary_key: StrValue | None = None  # for replicas: the primary key (ARN or ResourceRef)
    is_replica: bool = False
    custom_key_store_id: StrValue | None = None
    bypass_policy_lockout_safety_check: BoolValue = False
    aliases: tuple[StrValue, ...] = ()
    tags: dict[str, Any] = field(default_factory=dict)
    policy: Policy | Unknown | None = None
    attr_spans: dict[str, Span] = field(default_factory=dict)
    account: StrValue | None = None
    region: StrValue | None = None

    def span_for(self, attr: str) -> Span:
        return self.attr_spans.get(attr, self.span)

    @property
    def supports_automatic_rotation(self) -> BoolValue:
        """AWS rotates automatically only symmetric encryption keys with AWS_KMS origin outside
        custom key stores (KMS Developer Guide, "Rotate AWS KMS keys": supported and unsupported
        keys)."""
        for value in (self.key_spec, self.origin):
            if isinstance(value, Unknown):
                return value
        if self.key_spec != "SYMMETRIC_DEFAULT" or self.origin != "AWS_KMS":
            return False
        if self.custom_key_store_id is not None:
            return False
        return True


@dataclass(frozen=True)
class Alias:
    address: str
    name: StrValue
    target_key: StrValue | None
    source: Source
    span: Span = NO_SPAN


@dataclass(frozen=True)
class GrantConstraints:
    encryption_context_equals: dict[str, Any] | Unknown | None = None
    encryption_context_subset: dict[str, Any] | Unknown | None = None


@dataclass(frozen=True)
class Grant:
    address: str
    key: StrValue | None
    grantee: StrValue | None
    operations: tuple[StrValue, ...] | Unknown
    source: Source
    span: Span = NO_SPAN
    constraints: GrantConstraints | None = None
    retiring_principal: StrValue | None = None
    name: StrValue | None = None
    grant_tokens: tuple[StrValue, ...] = ()
    attr_spans: dict[str, Span] = field(default_factory=dict)

    def span_for(self, attr: str) -> Span:
        return self.attr_spans.get(attr, self.span)


class IdentityKind(str, Enum):
    ROLE = "role"
    USER = "user"
    GROUP = "group"


@dataclass(frozen=True)
class NamedPolicy:
    """An inline policy (with its name) or a managed policy (with its ARN / address)."""

    name: StrValue | None
    document: Policy | Unknown
    address: str = ""
    arn: StrValue | None = None
    span: Span = NO_SPAN


@dataclass(frozen=True)
class Identity:
    """An IAM role, user or group with the policies that apply to it."""

    kind: IdentityKind
    address: str
    source: Source
    span: Span = NO_SPAN
    name: StrValue | None = None
    arn: StrValue | None = None
    path: StrValue | None = None
    inline_policies: tuple[NamedPolicy, ...] = ()
    # Managed policies by ARN or ResourceRef to a ManagedPolicy of the inventory.
    managed_policies: tuple[StrValue, ...] = ()
    permissions_boundary: StrValue | None = None
    trust_policy: Policy | Unknown | None = None  # roles only
    groups: tuple[StrValue, ...] = ()  # users only
    tags: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ManagedPolicy:
    address: str
    source: Source
    document: Policy | Unknown
    span: Span = NO_SPAN
    name: StrValue | None = None
    arn: StrValue | None = None


@dataclass(frozen=True)
class PolicyAttachment:
    """An attachment resource whose target could not be folded into an identity (kept so that
    nothing is dropped): ``aws_iam_role_policy_attachment`` to a role outside the inventory..."""

    address: str
    source: Source
    identity: StrValue
    identity_kind: IdentityKind
    policy: StrValue | Policy
    span: Span = NO_SPAN


@dataclass(frozen=True)
class KeyConsumer:
    """A resource that encrypts with a KMS key. ``key`` is None when the resource uses the AWS
    managed key or no customer key (``encrypted`` says whether it encrypts at all)."""

    address: str
    resource_type: str
    service: str  # s3, ebs, rds, logs, cloudtrail, sns, sqs, secretsmanager, dynamodb, lambda, efs
    source: Source
    key: StrValue | None
    span: Span = NO_SPAN
    encrypted: BoolValue | None = True
    details: dict[str, Any] = field(default_factory=dict)
    attr_spans: dict[str, Span] = field(default_factory=dict)


@dataclass(frozen=True)
class StandalonePolicy:
    """A policy document that is not attached to anything the inventory knows (a policy JSON file,
    an ``aws_iam_policy_document`` nobody uses...)."""

    address: str
    source: Source
    document: Policy
    span: Span = NO_SPAN


@dataclass(frozen=True)
class OrgContext:
    """What is known about where the configuration is deployed."""

    account: str | None = None
    region: str | None = None
    partition: str = "aws"
    org_id: str | None = None
    trusted_accounts: tuple[str, ...] = ()

    @property
    def effective_trusted_accounts(self) -> tuple[str, ...]:
        if self.trusted_accounts:
            return self.trusted_accounts
        return (self.account,) if self.account else ()
