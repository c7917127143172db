"""The one model every analysis reads."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from kmsguard.model.policy import Policy, PolicyKind
from kmsguard.model.resources import (
    Alias,
    Grant,
    Identity,
    Key,
    KeyConsumer,
    ManagedPolicy,
    OrgContext,
    PolicyAttachment,
    Source,
    StandalonePolicy,
)
from kmsguard.model.span import NO_SPAN, Span
from kmsguard.model.values import Unknown


@dataclass(frozen=True)
class OrgPolicy:
    """A service control policy (SCP) or resource control policy (RCP) of an AWS Organization, and
    the targets (root ``r-``, OU ``ou-`` or account ids) it is attached to among those read.
    ``targets`` is Unknown when the attachments could not be read."""

    address: str  # the policy ARN (or id)
    kind: PolicyKind  # PolicyKind.SCP or PolicyKind.RCP
    document: Policy | Unknown
    targets: tuple[str, ...] | Unknown
    source: Source
    span: Span = NO_SPAN
    name: str | None = None
    aws_managed: bool = False  # FullAWSAccess, RCPFullAWSAccess


@dataclass(frozen=True)
class OrgPlacement:
    """Where one account sits in its organisation: ``path`` from the root down to the account
    (root, OUs, the account id), ``()`` in no organisation. ``unknown`` says why which SCPs and
    RCPs apply to the account is not known (None: it is known) -- never read as "none apply"."""

    account: str
    org_id: str | None
    path: tuple[str, ...] | Unknown
    management_account: str | None = None
    unknown: str | None = None
    span: Span = NO_SPAN


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
    org_policies: tuple[OrgPolicy, ...] = ()
    org_placements: tuple[OrgPlacement, ...] = ()

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
            org_policies=tuple(o for p in parts for o in p.org_policies),
            org_placements=tuple(o for p in parts for o in p.org_placements),
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
        for org_policy in self.org_policies:
            if isinstance(org_policy.document, Policy):
                yield org_policy.address, org_policy.document, org_policy.span

    def org_policy_levels(
        self, account: str, kind: PolicyKind
    ) -> tuple[tuple[Policy, ...], ...] | Unknown | None:
        """The SCP (``PolicyKind.SCP``) or RCP levels that apply to ``account``: one tuple of
        policies per target of its path, root first -- the shape ``authz.AuthzInputs.scps`` /
        ``rcps`` take. ``()``: none apply (no organisation; SCPs of the management account).
        Unknown: they may apply but could not be read. None: nothing recorded for the account
        (IaC inputs), so the caller keeps its own default."""
        placement = next((p for p in self.org_placements if p.account == account), None)
        if placement is None:
            return None
        if placement.unknown is not None or isinstance(placement.path, Unknown):
            why = placement.unknown or "the account's place in the organisation could not be read"
            return Unknown(f"{kind.value.upper()}s of account {account}", placement.span, why)
        if placement.org_id is None or not placement.path:
            return ()
        # AWS Organizations User Guide, "Service control policies (SCPs)": SCPs do not affect
        # users or roles in the management account; "Resource control policies (RCPs)": RCPs
        # do not affect resources in the management account.
        if placement.management_account == account:
            return ()
        levels: list[tuple[Policy, ...]] = []
        for target in placement.path:
            level: list[Policy] = []
            for org_policy in self.org_policies:
                if org_policy.kind is not kind:
                    continue
                if isinstance(org_policy.targets, Unknown):
                    return Unknown(
                        f"{kind.value.upper()}s of account {account}", org_policy.span, "attachments unknown"
                    )
                if target not in org_policy.targets:
                    continue
                if isinstance(org_policy.document, Unknown):
                    return org_policy.document
                level.append(org_policy.document)
            levels.append(tuple(level))
        return tuple(levels)

    def key_by_address(self, address: str) -> Key | None:
        for key in self.keys:
            if key.address == address:
                return key
        return None
