"""Follows a resource's key reference (a key ARN or id, an alias name or ARN, a reference to a key
or alias resource) back to a key of the inventory: which key each consumer encrypts with, and which
consumers use each key. The runtime hands key and consumer subjects a ``KeyLinks`` under the field
``KEY_LINKS``, since a named test sees only its subject."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, is_dataclass, replace
from enum import Enum
from functools import cached_property, lru_cache
from pathlib import PurePath
from typing import Any, TypeVar

from kmsguard.model import (
    Alias,
    Inventory,
    Key,
    KeyConsumer,
    Policy,
    ResourceRef,
    Source,
    Span,
    StrValue,
    Template,
    Unknown,
)
from kmsguard.model.values import refs_of

KEY_LINKS = "key_links"  # the subject field that carries the inventory's KeyLinks

_AWS_MANAGED_ALIAS = "alias/aws/"  # KMS Developer Guide, "AWS managed keys": aliases alias/aws/<service>
_INDEX = re.compile(r"\[[^\]]*\]")


class LinkStatus(str, Enum):
    """Where a key reference leads."""

    KEY = "key"  # a key of the inventory
    AWS_MANAGED = "aws-managed"  # an AWS managed or AWS owned key, the service's own encryption, or none
    OUTSIDE = "outside"  # a literal identifier of a key the inputs do not declare
    UNRESOLVED = "unresolved"  # depends on values not known statically: it may be any key


@dataclass(frozen=True)
class KeyLink:
    status: LinkStatus
    key: Key | None = None
    refs: tuple[str, ...] = ()  # OUTSIDE / UNRESOLVED: what the answer depends on
    what: str = ""  # AWS_MANAGED: which key or encryption, in words


def _unresolved_link(value: Any) -> KeyLink:
    return KeyLink(LinkStatus.UNRESOLVED, refs=refs_of(value))


def _strip_index(address: str) -> str:
    """``aws_kms_key.k[0]`` and ``aws_kms_key.k[*]`` name the same declared key."""
    return _INDEX.sub("", address)


def _alias_name(value: StrValue) -> StrValue | None:
    """The alias name (``alias/...``) a key identifier names, or None for a key id / key ARN."""
    if isinstance(value, str):
        if value.startswith("alias/"):
            return value
        if value.startswith("arn:") and ":alias/" in value:
            return value[value.index(":alias/") + 1 :]
        return None
    if not isinstance(value, Template):
        return None
    for index, part in enumerate(value.parts):
        if not isinstance(part, str) or "alias/" not in part:
            continue
        if part.startswith("alias/") and index == 0:
            head = part
        elif ":alias/" in part:
            head = part[part.index(":alias/") + 1 :]
        else:
            return None
        rest = value.parts[index + 1 :]
        if all(isinstance(p, str) for p in rest):
            return head + "".join(str(p) for p in rest)
        return Template((head, *rest))
    return None


# Terraform data sources that read the deployment's own account, Region and partition.
_DEPLOYMENT_DATA = re.compile(r"^(module\.[^.]+\.)*data\.aws_(caller_identity|region|partition)\.")


def _foreign_symbols(value: StrValue, alias: StrValue) -> list[Unknown | ResourceRef]:
    """Symbols of an alias ARN's prefix (partition, Region, account) that may name another
    account or Region than the deployment's."""
    if not isinstance(value, Template):
        return []
    alias_symbols = list(alias.symbols()) if isinstance(alias, Template) else []
    prefix = [s for s in value.symbols() if not any(s is a for a in alias_symbols)]
    return [
        s
        for s in prefix
        if not (isinstance(s, Unknown) and (s.is_deployment_context or _DEPLOYMENT_DATA.match(s.ref)))
    ]


class KeyLinks:
    """Answers, for one inventory, which key each consumer encrypts with, and which consumers use
    each key. Built per rule run; indexes are computed on first use."""

    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory

    @cached_property
    def _keys_by_address(self) -> dict[str, list[Key]]:
        found: dict[str, list[Key]] = {}
        for key in self.inventory.keys:
            for address in dict.fromkeys((key.address, _strip_index(key.address))):
                found.setdefault(address, []).append(key)
        return found

    @cached_property
    def _aliases_by_address(self) -> dict[str, list[Alias]]:
        found: dict[str, list[Alias]] = {}
        for alias in self.inventory.aliases:
            for address in dict.fromkeys((alias.address, _strip_index(alias.address))):
                found.setdefault(address, []).append(alias)
        return found

    # Indexes of the inventory, each in inventory order (the first match wins, as a scan would):
    # a replicated tree has thousands of keys and every consumer follows its reference once.
    @cached_property
    def _keys_by_identifier(self) -> dict[str, Key]:
        found: dict[str, Key] = {}
        for key in self.inventory.keys:
            for identifier in (key.arn, key.key_id):
                if isinstance(identifier, str):
                    found.setdefault(identifier, key)
        return found

    @cached_property
    def _aliases_by_name(self) -> dict[str, list[Alias]]:
        found: dict[str, list[Alias]] = {}
        for alias in self.inventory.aliases:
            if isinstance(alias.name, str):
                found.setdefault(alias.name, []).append(alias)
        return found

    @cached_property
    def _keys_by_alias_name(self) -> dict[str, list[Key]]:
        found: dict[str, list[Key]] = {}
        for key in self.inventory.keys:
            for name in dict.fromkeys(n for n in key.aliases if isinstance(n, str)):
                found.setdefault(name, []).append(key)
        return found

    @cached_property
    def _symbolic_aliases_by_folder(self) -> dict[str, list[StrValue]]:
        found: dict[str, list[StrValue]] = {}
        for alias in self.inventory.aliases:
            if not isinstance(alias.name, str):
                found.setdefault(folder_of(alias.span.path), []).append(alias.name)
        return found

    @cached_property
    def _identities_by_address(self) -> dict[str, list[int]]:
        found: dict[str, list[int]] = {}
        for index, ident in enumerate(self.inventory.identities):
            found.setdefault(ident.address, []).append(index)
        return found

    @cached_property
    def _consumers_by_address(self) -> dict[str, list[int]]:
        # Under its own address and the address of the bucket it names (an S3 encryption
        # configuration's ARN is its bucket's).
        found: dict[str, list[int]] = {}
        for index, consumer in enumerate(self.inventory.consumers):
            bucket = consumer.details.get("bucket")
            named = (consumer.address, bucket.address if isinstance(bucket, ResourceRef) else None)
            for address in dict.fromkeys(a for a in named if a is not None):
                found.setdefault(address, []).append(index)
        return found

    def scoped_to(self, policy: Policy) -> Inventory:
        """The inventory with only the identities and the resources using keys that ``policy``
        refers to by address, in inventory order: all that binding its references to ARNs reads
        (``kmsguard.dryrun.services.bound_policy`` looks at every identity and resource)."""
        addresses = _addresses_in(policy)
        identities = sorted({i for a in addresses for i in self._identities_by_address.get(a, ())})
        consumers = sorted({i for a in addresses for i in self._consumers_by_address.get(a, ())})
        return replace(
            self.inventory,
            identities=tuple(self.inventory.identities[i] for i in identities),
            consumers=tuple(self.inventory.consumers[i] for i in consumers),
        )

    @cached_property
    def _ebs_defaults_by_scope(self) -> dict[str, list[KeyConsumer]]:
        """The records that set the default EBS key (``aws_ebs_default_kms_key``, a snapshot's
        ``GetEbsDefaultKmsKeyId`` answer, read or not), by the scope they apply to."""
        found: dict[str, list[KeyConsumer]] = {}
        for consumer in self.inventory.consumers:
            if consumer.service == "ebs" and consumer.details.get("account_default"):
                if consumer.key is not None or "aws_managed_key" in consumer.details:
                    found.setdefault(_ebs_scope(consumer), []).append(consumer)
        return found

    @cached_property
    def _consumer_links(self) -> list[tuple[KeyConsumer, KeyLink]]:
        return [(c, self.link_of(c)) for c in self.inventory.consumers]

    def link_of(self, consumer: KeyConsumer) -> KeyLink:
        """Where a consumer's key reference leads."""
        if consumer.key is None:
            if consumer.service == "ebs":
                return self._ebs_default_link(consumer)
            return KeyLink(LinkStatus.AWS_MANAGED, what=_default_encryption(consumer))
        return self.resolve(consumer.key, consumer.span.path)

    def _ebs_default_link(self, consumer: KeyConsumer) -> KeyLink:
        """EC2 User Guide, "Amazon EBS encryption", "Encryption by default": a volume created
        encrypted without a key uses the default key of its account and Region ("a Region-specific
        setting"); an unencrypted volume uses no key at all. (An encryption-by-default record that
        is off still sets the key of volumes created encrypted.)"""
        volume = not consumer.details.get("account_default")
        if volume and consumer.encrypted is False:
            return KeyLink(LinkStatus.AWS_MANAGED, what="no encryption at rest (the volume is not encrypted)")
        defaults = self._ebs_defaults_of(consumer)
        if not defaults:
            return KeyLink(LinkStatus.AWS_MANAGED, what=_default_encryption(consumer))
        # Keys are told apart by identity (two keys may be equal as values), links without one by value.
        distinct = {_link_identity(link): link for link in map(self._set_default, defaults)}
        candidates = list(distinct.values())
        if len(candidates) == 1:
            link = candidates[0]
        else:  # several defaults in one folder (several providers): any of them may apply
            refs = [r.address for r in defaults] + [ref for c in candidates for ref in c.refs]
            link = KeyLink(LinkStatus.UNRESOLVED, refs=tuple(dict.fromkeys(refs)))
        if volume and isinstance(consumer.encrypted, Unknown) and link.status is not LinkStatus.AWS_MANAGED:
            # The default key only if the volume is encrypted, which is not known.
            return KeyLink(
                LinkStatus.UNRESOLVED, refs=tuple(dict.fromkeys((*refs_of(consumer.encrypted), *link.refs)))
            )
        return link

    def _ebs_defaults_of(self, consumer: KeyConsumer) -> list[KeyConsumer]:
        """The default-key records of the consumer's scope. A Terraform module's resource also
        sees those of the folders above its module's (a root that calls ``./modules/x``)."""
        scope = _ebs_scope(consumer)
        defaults = self._ebs_defaults_by_scope.get(scope)
        if defaults or consumer.source is Source.ACCOUNT or not consumer.address.startswith("module."):
            return defaults or []
        for parent in PurePath(scope).parents:
            defaults = self._ebs_defaults_by_scope.get(str(parent))
            if defaults:
                return defaults
        return []

    def _set_default(self, record: KeyConsumer) -> KeyLink:
        """The key a default-key record sets."""
        if record.key is None:  # a snapshot's AWS managed aws/ebs
            return KeyLink(LinkStatus.AWS_MANAGED, what=_default_encryption(record))
        return self.resolve(record.key, record.span.path)

    def resolve(self, value: StrValue, origin: str, depth: int = 0) -> KeyLink:
        """Follows a key identifier written in the file ``origin``: a reference to a key or alias
        resource, an alias name or ARN, a key ARN or id."""
        if depth > 4:  # an alias chain this long is a loop in the input
            return _unresolved_link(value)
        if isinstance(value, ResourceRef):
            return self._resolve_ref(value, origin, depth)
        if isinstance(value, Unknown):
            return _unresolved_link(value)
        if isinstance(value, Template):
            for symbol in value.symbols():
                if isinstance(symbol, ResourceRef):
                    link = self._resolve_ref(symbol, origin, depth)
                    if link.status is LinkStatus.KEY:
                        return link
        alias = _alias_name(value)
        if alias is not None:
            foreign = _foreign_symbols(value, alias)
            if foreign:
                # An alias ARN in an account or Region not known to be the deployment's own.
                return KeyLink(LinkStatus.UNRESOLVED, refs=tuple(r for f in foreign for r in refs_of(f)))
            return self._resolve_alias_name(alias, origin, depth)
        if isinstance(value, Template):
            return _unresolved_link(value)
        key = self._keys_by_identifier.get(value) if isinstance(value, str) else None
        if key is not None:
            return KeyLink(LinkStatus.KEY, key)
        return KeyLink(LinkStatus.OUTSIDE, refs=(str(value),))

    def _resolve_ref(self, ref: ResourceRef, origin: str, depth: int) -> KeyLink:
        if ref.span.line > 0:
            origin = ref.span.path  # where the reference was written (a module's caller...)
        addresses = (ref.address, _strip_index(ref.address))
        keys = next((self._keys_by_address[a] for a in addresses if a in self._keys_by_address), [])
        key = _nearest(keys, origin)
        if key is not None:
            return KeyLink(LinkStatus.KEY, key)
        aliases = next((self._aliases_by_address[a] for a in addresses if a in self._aliases_by_address), [])
        alias = _nearest(aliases, origin)
        if alias is not None and alias.target_key is not None:
            return self.resolve(alias.target_key, alias.span.path, depth + 1)
        return _unresolved_link(ref)

    def _resolve_alias_name(self, name: StrValue, origin: str, depth: int) -> KeyLink:
        if isinstance(name, str) and name.startswith(_AWS_MANAGED_ALIAS):
            return KeyLink(LinkStatus.AWS_MANAGED, what=f"the AWS managed key {name}")
        if isinstance(name, str):
            targeting = self._aliases_by_name.get(name, [])
            naming = self._keys_by_alias_name.get(name, [])
        else:  # a name not known statically equals only the same expression: rare, looked for
            targeting = [a for a in self.inventory.aliases if a.name == name]
            naming = [k for k in self.inventory.keys if name in k.aliases]
        for alias in targeting:
            if alias.target_key is not None:
                return self.resolve(alias.target_key, alias.span.path, depth + 1)
        if naming:
            return KeyLink(LinkStatus.KEY, naming[0])
        if not isinstance(name, str):
            return _unresolved_link(name)
        # An alias declared with a name not known statically may be this one.
        symbolic = self._symbolic_aliases_by_folder.get(folder_of(origin), [])
        if symbolic:
            return KeyLink(LinkStatus.UNRESOLVED, refs=tuple(r for n in symbolic for r in refs_of(n)))
        return KeyLink(LinkStatus.OUTSIDE, refs=(name,))

    @cached_property
    def _users_by_key(self) -> dict[int, list[KeyConsumer]]:
        # By identity: two keys may be equal as values (a module copied twice) yet be two keys.
        found: dict[int, list[KeyConsumer]] = {}
        for consumer, link in self._consumer_links:
            if link.key is not None:
                found.setdefault(id(link.key), []).append(consumer)
        return found

    @cached_property
    def _pending_by_folder(self) -> dict[str, list[KeyLink]]:
        found: dict[str, list[KeyLink]] = {}
        for consumer, link in self._consumer_links:
            if link.status is LinkStatus.UNRESOLVED and not is_unreadable_default(consumer):
                found.setdefault(folder_of(consumer.span.path), []).append(link)
        return found

    @cached_property
    def _keys_by_folder(self) -> dict[str, list[Key]]:
        found: dict[str, list[Key]] = {}
        for key in self.inventory.keys:
            found.setdefault(folder_of(key.span.path), []).append(key)
        return found

    def keys_beside(self, path: str) -> list[Key]:
        """The keys declared in the folder of ``path`` (its Terraform module, its template's
        folder), in inventory order."""
        return self._keys_by_folder.get(folder_of(path), [])

    def users_of(self, key: Key) -> tuple[tuple[KeyConsumer, ...], tuple[str, ...]]:
        """The consumers that encrypt with ``key``, and what the consumers of the key's folder (its
        Terraform module, its template's folder) whose key is not known statically depend on (any
        of them may use it). A literal identifier of a key the inputs do not declare is taken to
        be another key."""
        users = tuple(self._users_by_key.get(id(key), ()))
        pending = self._pending_by_folder.get(folder_of(key.span.path), [])
        maybe = tuple(ref for link in pending for ref in link.refs)
        return users, tuple(dict.fromkeys(maybe))


@lru_cache(maxsize=4096)
def _addresses_in(value: Any) -> set[str]:
    """The addresses of every resource reference in ``value`` (a policy, a statement...)."""
    found: set[str] = set()
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, ResourceRef):
            found.add(item.address)
        elif isinstance(item, Template):
            pending.extend(item.parts)
        elif isinstance(item, (tuple, list)):
            pending.extend(item)
        elif is_dataclass(item) and not isinstance(item, (type, Span)):
            pending.extend(getattr(item, f.name) for f in fields(item))
    return found


def _link_identity(link: KeyLink) -> tuple[Any, ...]:
    return (link.status, id(link.key), link.refs, link.what)


def _ebs_scope(consumer: KeyConsumer) -> str:
    """What one default EBS key applies to: for live data the partition, Region and account of
    the resource's ARN; in IaC, the folder that declares it (its Terraform module or root)."""
    if consumer.source is Source.ACCOUNT:
        parts = consumer.address.split(":", 5)
        if len(parts) == 6 and parts[0] == "arn":
            return ":".join((parts[1], parts[3], parts[4]))
    return folder_of(consumer.span.path)


def is_unreadable_default(consumer: KeyConsumer) -> bool:
    """An account's default EBS key record whose key could not be read: a KMS105 of the loader
    says so, and the volumes that use it are the ones whose answer is incomplete. The record itself
    encrypts nothing, so no other finding is made of it."""
    return bool(consumer.details.get("default_key_unreadable")) and isinstance(consumer.key, Unknown)


def folder_of(path: str) -> str:
    # Cached: rules ask for the folder of the same few paths again and again, and PurePath is slow.
    return str(PurePath(path).parent)


_Located = TypeVar("_Located", Key, Alias)


def _nearest(candidates: list[_Located], origin: str) -> _Located | None:
    """The resource a reference written in ``origin`` names when several inputs declare the same
    address (two templates' logical ids, two Terraform roots): the one in the same file, else the
    only one in the same folder. None when that does not decide."""
    if len(candidates) == 1:
        return candidates[0]
    same_file = [c for c in candidates if c.span.path == origin]
    if same_file:
        return same_file[0]
    same_folder = [c for c in candidates if folder_of(c.span.path) == folder_of(origin)]
    return same_folder[0] if len(same_folder) == 1 else None


def _default_encryption(consumer: KeyConsumer) -> str:
    """What encrypts a resource that names no key, per service (each service's guide, "Encryption
    at rest")."""
    details = consumer.details
    named = details.get("aws_managed_key")
    if isinstance(named, str):
        return f"the AWS managed key {named}"
    if consumer.service == "s3":
        algorithm = details.get("sse_algorithm")
        if isinstance(algorithm, str) and algorithm.startswith("aws:kms"):
            return "the AWS managed key aws/s3"
        return "SSE-S3 (keys Amazon S3 manages, no KMS key)"
    if consumer.service == "dynamodb":
        if details.get("key_type") == "AWS_MANAGED" or details.get("sse_enabled") is True:
            return "the AWS managed key aws/dynamodb"
        return "an AWS owned key (not a KMS key of the account)"
    if consumer.service == "sqs":
        return "SSE-SQS (keys Amazon SQS manages, no KMS key)"
    return _SERVICE_DEFAULTS.get(consumer.service, "the service's default encryption (no customer key)")


_SERVICE_DEFAULTS = {
    "ebs": "the account's default EBS key (the AWS managed key aws/ebs unless changed)",
    "rds": "the AWS managed key aws/rds",
    "logs": "CloudWatch Logs' own encryption (no KMS key)",
    "cloudtrail": "SSE-S3 (keys Amazon S3 manages, no KMS key)",
    "sns": "the AWS managed key aws/sns",
    "secretsmanager": "the AWS managed key aws/secretsmanager",
    "lambda": "the AWS managed key aws/lambda",
    "efs": "the AWS managed key aws/elasticfilesystem",
}


# Terraform arguments that name a consumer's key: their own position is in the consumer, where the
# value's position may be wherever an evaluated reference was written (an alias's name...).
_KEY_ARGUMENTS = ("kms_key_id", "kms_master_key_id", "kms_key_arn", "key_arn")


def consumer_key_span(consumer: KeyConsumer) -> Span:
    """Where a consumer names its key, inside the consumer."""
    for name in _KEY_ARGUMENTS:
        if name in consumer.attr_spans:
            return consumer.attr_spans[name]
    span = consumer.attr_spans.get("key", consumer.span)
    if span.path != consumer.span.path or span.line < consumer.span.line:
        return consumer.span  # the value was written elsewhere (a variable, a local)
    return span


def where(span: Span, relative_to: Span | None = None) -> str:
    """A short location for messages: "line 12" in the same file, "kms.tf:12" in another, the
    ARN for live data."""
    if span.line <= 0:
        return span.path
    if relative_to is not None and relative_to.path == span.path:
        return f"line {span.line}"
    return f"{PurePath(span.path).name}:{span.line}"


__all__ = [
    "KEY_LINKS",
    "KeyLink",
    "KeyLinks",
    "LinkStatus",
    "consumer_key_span",
    "is_unreadable_default",
    "where",
]
