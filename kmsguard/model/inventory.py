"""The one model every analysis reads."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from kmsguard.model.policy import Policy
from kmsguard.model.resources import (
    Alias,
    Grant,
    Identity,
    Key,
    KeyConsumer,
    ManagedPolicy,
    OrgContext,
    PolicyAttachment,
    StandalonePolicy,
)
from kmsguard.model.span import Span


@dataclass(frozen=True)
class Inventory:
    keys: tuple[Key, ...] = ()
    aliases: tuple[Alias, ...] = ()
    grants: tuple[Grant, ...] = ()
    identities: tuple[Identity, ...] = ()
    managed_policies: tuple[ManagedPolicy, ...] = ()
    attachments: tuple[PolicyAttachment, ...] = ()
    consumers: tuple[KeyConsumer, ...] = ()
    policies: tuple[StandalonePolicy, ...] = ()
    org: OrgContext = field(default_factory=OrgContext)

    @staticmethod
    def merge(parts: Iterable[Inventory], org: OrgContext | None = None) -> Inventory:
        parts = list(parts)
        return Inventory(
            keys=tuple(k for p in parts for k in p.keys),
            aliases=tuple(a for p in parts for a in p.aliases),
            grants=tuple(g for p in parts for g in p.grants),
            identities=tuple(i for p in parts for i in p.identities),
            managed_policies=tuple(m for p in parts for m in p.managed_policies),
            attachments=tuple(a for p in parts for a in p.attachments),
            consumers=tuple(c for p in parts for c in p.consumers),
            policies=tuple(s for p in parts for s in p.policies),
            org=org or (parts[0].org if parts else OrgContext()),
        )

    def all_policies(self) -> Iterator[tuple[str, Policy, Span]]:
        """Every concrete policy document with the address of what holds it."""
        for key in self.keys:
            if isinstance(key.policy, Policy):
                yield key.address, key.policy, key.span_for("policy")
        for ident in self.identities:
            if isinstance(ident.trust_policy, Policy):
                yield ident.address, ident.trust_policy, ident.trust_policy.span
            for named in ident.inline_policies:
                if isinstance(named.document, Policy):
                    yield ident.address, named.document, named.span
        for managed in self.managed_policies:
            if isinstance(managed.document, Policy):
                yield managed.address, managed.document, managed.span
        for standalone in self.policies:
            yield standalone.address, standalone.document, standalone.span

    def key_by_address(self, address: str) -> Key | None:
        for key in self.keys:
            if key.address == address:
                return key
        return None
