"""An IAM role, user or group while a loader assembles it: policies declared by other resources
(attachments, inline policy resources, group memberships) are folded in, then it is frozen."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kmsguard.model import Identity, IdentityKind, NamedPolicy, Policy, Source, Span, StrValue, Unknown


@dataclass
class IdentityDraft:
    kind: IdentityKind
    address: str
    span: Span
    name: StrValue | None = None
    arn: StrValue | None = None
    path: StrValue | None = None
    permissions_boundary: StrValue | None = None
    trust_policy: Policy | Unknown | None = None
    inline_policies: list[NamedPolicy] = field(default_factory=list)
    managed_policies: list[Any] = field(default_factory=list)
    groups: list[Any] = field(default_factory=list)
    tags: dict[str, Any] = field(default_factory=dict)

    def freeze(self, source: Source) -> Identity:
        return Identity(
            kind=self.kind,
            address=self.address,
            source=source,
            span=self.span,
            name=self.name,
            arn=self.arn,
            path=self.path,
            inline_policies=tuple(self.inline_policies),
            managed_policies=tuple(self.managed_policies),
            permissions_boundary=self.permissions_boundary,
            trust_policy=self.trust_policy,
            groups=tuple(self.groups),
            tags=self.tags,
        )
