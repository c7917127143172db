"""Evaluated Terraform resources -> model objects (keys, aliases, grants, identities, consumers).

Independent of HCL: the HCL loader and the plan loader both hand ``TfResource`` values here.
Defaults are the AWS provider's documented defaults (Terraform registry, one page per resource);
a value of the wrong type is a KMS100 diagnostic at its line and becomes ``Unknown``.

When an ``aws_kms_key`` has no ``policy``, AWS applies the *default key policy* (KMS Developer
Guide, "Default key policy": a key created through the API without a policy gets one statement,
"Enable IAM User Permissions", allowing ``kms:*`` to the account principal
``arn:<partition>:iam::<account>:root``). That document is built here, at the resource's line,
so analyses see exactly what AWS will enforce.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kmsguard.findings import Diagnostic
from kmsguard.load.base import LoadContext, LoadResult
from kmsguard.load.identity_draft import IdentityDraft
from kmsguard.load.policy_builder import RULE_GRAMMAR, build_policy
from kmsguard.load.terraform.json_text import JSONTextError, decode_json_text
from kmsguard.model import (
    Alias,
    Grant,
    GrantConstraints,
    IdentityKind,
    Inventory,
    Key,
    KeyConsumer,
    ManagedPolicy,
    NamedPolicy,
    Policy,
    PolicyAttachment,
    PolicyKind,
    Source,
    StandalonePolicy,
)
from kmsguard.model.span import Span
from kmsguard.model.values import (
    INVALID_POLICY,
    THIS_ACCOUNT,
    LDict,
    LList,
    LStr,
    ResourceRef,
    StrValue,
    Template,
    Unknown,
    key_span,
    span_of,
)

RULE_TYPE = RULE_GRAMMAR  # KMS100: a value AWS would reject or misread

KEY_TYPES = ("aws_kms_key", "aws_kms_replica_key", "aws_kms_external_key", "aws_kms_replica_external_key")
DEFAULT_DELETION_WINDOW_DAYS = 30  # registry "aws_kms_key": deletion_window_in_days defaults to 30
DEFAULT_ROTATION_PERIOD_DAYS = 365  # KMS Developer Guide, "Rotating AWS KMS keys": default period


# Terraform argument -> the Grant field it sets.
GRANT_ATTRIBUTE_FIELDS = {
    "grantee_principal": "grantee",
    "key_id": "key",
    "grant_creation_tokens": "grant_tokens",
}

# Terraform argument -> the Key field it sets, so findings on a field point at the argument.
KEY_ATTRIBUTE_FIELDS = {
    "enable_key_rotation": "rotation_enabled",
    "rotation_period_in_days": "rotation_period_days",
    "deletion_window_in_days": "deletion_window_days",
    "is_enabled": "enabled",
    "enabled": "enabled",
    "customer_master_key_spec": "key_spec",
    "key_spec": "key_spec",
    "primary_key_arn": "primary_key",
    "xks_key_id": "custom_key_store_id",
}


@dataclass(frozen=True)
class TfResource:
    """One resource instance with its evaluated attributes; nested blocks are ``LList`` of
    ``LDict``. ``address`` is the full instance address (``module.kms.aws_kms_key.this[0]``)."""

    address: str
    type: str
    mode: str  # "managed" | "data"
    values: LDict
    span: Span
    end_line: int


def map_resources(resources: Sequence[TfResource], ctx: LoadContext, source: Source) -> LoadResult:
    """Build the inventory of a set of resources (a whole module tree at once, so references
    between modules link)."""
    mapper = _Mapper(ctx, source)
    return mapper.run([r for r in resources if r.mode == "managed"])


def default_key_policy(ctx: LoadContext, span: Span) -> LDict:
    """The policy AWS gives a key created without one (KMS Developer Guide, "Default key policy")."""
    account: Any = ctx.account if ctx.account else Unknown(THIS_ACCOUNT, span)
    root: Any
    if isinstance(account, str):
        root = LStr(f"arn:{ctx.partition}:iam::{account}:root", span)
    else:
        root = Template((f"arn:{ctx.partition}:iam::", account, ":root"), span)
    statement = LDict(span=span)
    statement["Sid"] = LStr("Enable IAM User Permissions", span)
    statement["Effect"] = LStr("Allow", span)
    principal = LDict(span=span)
    principal["AWS"] = root
    statement["Principal"] = principal
    statement["Action"] = LStr("kms:*", span)
    statement["Resource"] = LStr("*", span)
    document = LDict(span=span)
    document["Version"] = LStr("2012-10-17", span)
    document["Id"] = LStr("key-default-1", span)
    document["Statement"] = LList([statement], span=span)
    return document


class _Mapper:
    def __init__(self, ctx: LoadContext, source: Source) -> None:
        self.ctx = ctx
        self.source = source
        self.diagnostics: list[Diagnostic] = []
        self.keys: dict[str, dict[str, Any]] = {}
        self.identities: dict[str, IdentityDraft] = {}
        self.aliases: list[Alias] = []
        self.grants: list[Grant] = []
        self.managed: list[ManagedPolicy] = []
        self.attachments: list[PolicyAttachment] = []
        self.consumers: list[KeyConsumer] = []
        self.standalone: list[StandalonePolicy] = []

    def run(self, resources: list[TfResource]) -> LoadResult:
        by_type: dict[str, list[TfResource]] = {}
        for resource in resources:
            by_type.setdefault(resource.type, []).append(resource)
        for type_name in KEY_TYPES:
            for resource in by_type.get(type_name, []):
                self.key(resource)
        for resource in by_type.get("aws_kms_key_policy", []):
            self.key_policy(resource)
        for resource in by_type.get("aws_kms_alias", []):
            self.alias(resource)
        for resource in by_type.get("aws_kms_grant", []):
            self.grant(resource)
        for type_name, kind in (
            ("aws_iam_role", IdentityKind.ROLE),
            ("aws_iam_user", IdentityKind.USER),
            ("aws_iam_group", IdentityKind.GROUP),
        ):
            for resource in by_type.get(type_name, []):
                self.identity(resource, kind)
        for resource in by_type.get("aws_iam_policy", []):
            self.managed_policy(resource)
        for type_name, kind, ref_attr in (
            ("aws_iam_role_policy", IdentityKind.ROLE, "role"),
            ("aws_iam_user_policy", IdentityKind.USER, "user"),
            ("aws_iam_group_policy", IdentityKind.GROUP, "group"),
        ):
            for resource in by_type.get(type_name, []):
                self.inline_policy(resource, kind, ref_attr)
        for type_name, kind, ref_attr in (
            ("aws_iam_role_policy_attachment", IdentityKind.ROLE, "role"),
            ("aws_iam_user_policy_attachment", IdentityKind.USER, "user"),
            ("aws_iam_group_policy_attachment", IdentityKind.GROUP, "group"),
        ):
            for resource in by_type.get(type_name, []):
                policy_arn = self.string(resource, "policy_arn")
                self.attach(resource, kind, resource.values.get(ref_attr), policy_arn)
        for resource in by_type.get("aws_iam_policy_attachment", []):
            policy_arn = self.string(resource, "policy_arn")
            for attr, kind in (
                ("roles", IdentityKind.ROLE),
                ("users", IdentityKind.USER),
                ("groups", IdentityKind.GROUP),
            ):
                targets = self.string_list(resource, attr)
                if isinstance(targets, Unknown):
                    self.attach(resource, kind, targets, policy_arn)
                for target in targets if isinstance(targets, tuple) else ():
                    self.attach(resource, kind, target, policy_arn)
        for resource in by_type.get("aws_iam_group_membership", []):
            group = self.string(resource, "group")
            users = self.string_list(resource, "users")
            for user in users if isinstance(users, tuple) else ():
                self.add_group(user, group)
        for resource in by_type.get("aws_iam_user_group_membership", []):
            groups = self.string_list(resource, "groups")
            user = self.string(resource, "user")
            for group in groups if isinstance(groups, tuple) else ():
                self.add_group(user, group)
        for resource in resources:
            handler = _CONSUMERS.get(resource.type)
            if handler is not None:
                handler(self, resource)
        return self.result()

    def result(self) -> LoadResult:
        keys = tuple(Key(**fields) for fields in self.keys.values())
        identities = tuple(d.freeze(self.source) for d in self.identities.values())
        inventory = Inventory(
            keys=keys,
            aliases=tuple(self.aliases),
            grants=tuple(self.grants),
            identities=identities,
            managed_policies=tuple(self.managed),
            attachments=tuple(self.attachments),
            consumers=tuple(self.consumers),
            policies=tuple(self.standalone),
            org=self.ctx.org(),
        )
        return LoadResult(inventory=inventory, diagnostics=self.diagnostics)

    # -- typed attribute access -------------------------------------------------------------

    def span(self, resource: TfResource, name: str, values: Any = None) -> Span:
        return key_span(values if values is not None else resource.values, name, resource.span)

    def wrong_type(self, resource: TfResource, name: str, expected: str, values: Any = None) -> Unknown:
        span = self.span(resource, name, values)
        self.diagnostics.append(
            Diagnostic(RULE_TYPE, f'"{name}" must be {expected}', span, resource.address, f"attribute:{name}")
        )
        return Unknown(f"{resource.address}.{name}", span, f"not {expected}")

    def boolean(self, resource: TfResource, name: str, default: Any, values: Any = None) -> Any:
        source = values if values is not None else resource.values
        value = source.get(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, (Unknown, ResourceRef, Template)):
            return _unknown(value)
        if isinstance(value, str) and value in ("true", "false"):
            return value == "true"  # Terraform converts these strings to bool
        return self.wrong_type(resource, name, "a boolean", values)

    def number(self, resource: TfResource, name: str, default: Any, values: Any = None) -> Any:
        source = values if values is not None else resource.values
        value = source.get(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return self.wrong_type(resource, name, "a number", values)
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, (Unknown, ResourceRef, Template)):
            return _unknown(value)
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)  # Terraform converts numeric strings
        return self.wrong_type(resource, name, "a whole number", values)

    def string(self, resource: TfResource, name: str, default: Any = None, values: Any = None) -> Any:
        source = values if values is not None else resource.values
        value = source.get(name)
        if value is None:
            return default
        if isinstance(value, (str, Unknown, ResourceRef, Template)):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return LStr(str(value), self.span(resource, name, values))
        if isinstance(value, bool):
            return LStr("true" if value else "false", self.span(resource, name, values))
        return self.wrong_type(resource, name, "a string", values)

    def string_list(
        self, resource: TfResource, name: str, values: Any = None
    ) -> tuple[Any, ...] | Unknown | None:
        source = values if values is not None else resource.values
        value = source.get(name)
        if value is None:
            return None
        if isinstance(value, (Unknown, ResourceRef, Template)):
            return _unknown(value)
        if not isinstance(value, list):
            return self.wrong_type(resource, name, "a list of strings", values)
        items: list[Any] = []
        for item in value:
            if isinstance(item, (str, Unknown, ResourceRef, Template)):
                items.append(item)
            else:
                return self.wrong_type(resource, name, "a list of strings", values)
        return tuple(items)

    def mapping(self, resource: TfResource, name: str, values: Any = None) -> dict[str, Any] | Unknown | None:
        source = values if values is not None else resource.values
        value = source.get(name)
        if value is None:
            return None
        if isinstance(value, dict):
            return value
        if isinstance(value, (Unknown, ResourceRef, Template)):
            return _unknown(value)
        return self.wrong_type(resource, name, "a map", values)

    def blocks(self, values: Any, name: str) -> list[Any]:
        value = values.get(name) if isinstance(values, dict) else None
        if value is None:
            return []
        if isinstance(value, list):
            return list(value)
        return [value]

    def policy(
        self, resource: TfResource, name: str, kind: PolicyKind, values: Any = None
    ) -> Policy | Unknown | None:
        source = values if values is not None else resource.values
        # An empty string is "not set" to the AWS provider (the SDK's GetOk treats zero values as
        # unset): a module's `policy = var.policy` with default "" gets AWS's default key policy.
        if name not in source or source[name] is None or source[name] == "":
            return None
        return self.build(source[name], kind, resource.address, self.span(resource, name, values))

    def build(self, document: Any, kind: PolicyKind, address: str, span: Span) -> Policy | Unknown:
        if isinstance(document, Template):
            # Heredoc JSON with interpolations: decode its structure, keep the symbols.
            try:
                document = decode_json_text(document, span_of(document, span))
            except JSONTextError as err:
                self.diagnostics.append(
                    Diagnostic(
                        "KMS104",
                        f"policy is not valid JSON: {err.message}",
                        Span(span.path, err.line),
                        address,
                    )
                )
                return Unknown(f"invalid JSON policy in {address}", span, INVALID_POLICY)
        policy, diagnostics = build_policy(
            document, kind, resource=address, span=span, partition=self.ctx.partition
        )
        self.diagnostics.extend(diagnostics)
        return policy

    # -- keys --------------------------------------------------------------------------------

    def key(self, resource: TfResource) -> None:
        values = resource.values
        kind = resource.type
        is_external = kind in ("aws_kms_external_key", "aws_kms_replica_external_key")
        is_replica = kind in ("aws_kms_replica_key", "aws_kms_replica_external_key")
        enabled_attr = "is_enabled" if kind == "aws_kms_key" else "enabled"
        policy = self.policy(resource, "policy", PolicyKind.KEY)
        if policy is None:
            policy = self.build(
                default_key_policy(self.ctx, resource.span), PolicyKind.KEY, resource.address, resource.span
            )
        custom_store = self.string(resource, "custom_key_store_id")
        xks_key = self.string(resource, "xks_key_id")
        origin: Any = "EXTERNAL" if is_external else "AWS_KMS"
        if custom_store is not None:
            # KMS Developer Guide, "Custom key stores": CloudHSM stores give origin AWS_CLOUDHSM,
            # external key stores (which need an XKS key id) EXTERNAL_KEY_STORE.
            origin = "EXTERNAL_KEY_STORE" if xks_key is not None else "AWS_CLOUDHSM"
        rotation = self.boolean(resource, "enable_key_rotation", False)
        period = self.number(resource, "rotation_period_in_days", None)
        if period is None and rotation is True:
            period = DEFAULT_ROTATION_PERIOD_DAYS
        spec_attr = "customer_master_key_spec" if kind == "aws_kms_key" else "key_spec"
        key_spec = self.string(resource, spec_attr, "SYMMETRIC_DEFAULT")
        key_usage = self.string(resource, "key_usage", "ENCRYPT_DECRYPT")
        primary = self.string(resource, "primary_key_arn") if is_replica else None
        if is_replica and kind == "aws_kms_replica_key":
            # A replica has the key spec, usage and rotation of its primary (KMS Developer Guide,
            # "Multi-Region keys": shared properties).
            primary_fields = self.find_key(primary)
            if primary_fields is not None:
                key_spec, key_usage = primary_fields["key_spec"], primary_fields["key_usage"]
                rotation = primary_fields["rotation_enabled"]
            else:
                key_spec = Unknown(f"{resource.address}.key_spec", resource.span, "spec of the primary key")
                key_usage = Unknown(
                    f"{resource.address}.key_usage", resource.span, "usage of the primary key"
                )
                rotation = Unknown(
                    f"{resource.address}.rotation", resource.span, "rotation of the primary key"
                )
        tags = self.mapping(resource, "tags")
        self.keys[resource.address] = {
            "address": resource.address,
            "resource_type": kind,
            "source": self.source,
            "span": resource.span,
            "arn": ResourceRef(resource.address, "arn", resource.span),
            "key_id": ResourceRef(resource.address, "key_id", resource.span),
            "description": self.string(resource, "description"),
            "key_spec": key_spec,
            "key_usage": key_usage,
            "origin": origin,
            "enabled": self.boolean(resource, enabled_attr, True),
            "rotation_enabled": rotation,
            "rotation_period_days": period,
            "deletion_window_days": self.number(
                resource, "deletion_window_in_days", DEFAULT_DELETION_WINDOW_DAYS
            ),
            "multi_region": True if is_replica else self.boolean(resource, "multi_region", False),
            "primary_key": primary,
            "is_replica": is_replica,
            "custom_key_store_id": custom_store,
            "bypass_policy_lockout_safety_check": self.boolean(
                resource, "bypass_policy_lockout_safety_check", False
            ),
            "tags": dict(tags) if isinstance(tags, dict) else {},
            "policy": policy,
            "attr_spans": {
                KEY_ATTRIBUTE_FIELDS.get(str(name), str(name)): span
                for name, span in values.key_spans.items()
            },
            "account": self.ctx.account,
            "region": self.ctx.region,
        }

    def find_key(self, reference: Any) -> dict[str, Any] | None:
        if isinstance(reference, ResourceRef):
            return self.keys.get(reference.address)
        if isinstance(reference, str):
            for fields in self.keys.values():
                if reference in (fields.get("arn"), fields.get("key_id")):
                    return fields
        return None

    def key_policy(self, resource: TfResource) -> None:
        policy = self.policy(resource, "policy", PolicyKind.KEY)
        target = self.find_key(resource.values.get("key_id"))
        if target is not None and policy is not None:
            target["policy"] = policy
            target["attr_spans"] = {**target["attr_spans"], "policy": self.span(resource, "policy")}
            bypass = self.boolean(resource, "bypass_policy_lockout_safety_check", False)
            target["bypass_policy_lockout_safety_check"] = bypass
        elif isinstance(policy, Policy):
            self.standalone.append(StandalonePolicy(resource.address, self.source, policy, resource.span))

    def alias(self, resource: TfResource) -> None:
        name = self.string(resource, "name")
        if name is None:
            # name_prefix: AWS completes the name (registry "aws_kms_alias").
            name = Unknown(f"{resource.address}.name", resource.span, "generated from name_prefix")
        target_ref = resource.values.get("target_key_id")
        target = self.string(resource, "target_key_id")
        self.aliases.append(Alias(resource.address, name, target, self.source, resource.span))
        key_fields = self.find_key(target_ref)
        if key_fields is not None:
            key_fields["aliases"] = (*key_fields.get("aliases", ()), name)

    def grant(self, resource: TfResource) -> None:
        values = resource.values
        constraints = None
        blocks = [b for b in self.blocks(values, "constraints") if b is not None]
        if blocks:
            block = blocks[0]
            if isinstance(block, dict):
                constraints = GrantConstraints(
                    encryption_context_equals=self.mapping(resource, "encryption_context_equals", block),
                    encryption_context_subset=self.mapping(resource, "encryption_context_subset", block),
                )
            else:
                unknown = _unknown(block)
                constraints = GrantConstraints(unknown, unknown)
        operations = self.string_list(resource, "operations")
        tokens = self.string_list(resource, "grant_creation_tokens")
        self.grants.append(
            Grant(
                address=resource.address,
                key=self.string(resource, "key_id"),
                grantee=self.string(resource, "grantee_principal"),
                operations=operations if operations is not None else (),
                source=self.source,
                span=resource.span,
                constraints=constraints,
                retiring_principal=self.string(resource, "retiring_principal"),
                name=self.string(resource, "name"),
                grant_tokens=tokens if isinstance(tokens, tuple) else (),
                attr_spans={
                    GRANT_ATTRIBUTE_FIELDS.get(str(n), str(n)): s for n, s in values.key_spans.items()
                },
            )
        )

    # -- IAM ---------------------------------------------------------------------------------

    def identity(self, resource: TfResource, kind: IdentityKind) -> None:
        name = self.string(resource, "name")
        if name is None:
            name = Unknown(f"{resource.address}.name", resource.span, "name chosen by AWS")
        path = self.string(resource, "path", "/")
        draft = IdentityDraft(
            kind=kind,
            address=resource.address,
            span=resource.span,
            name=name,
            arn=self.iam_arn(kind.value, path, name, resource),
            path=path,
            permissions_boundary=self.string(resource, "permissions_boundary"),
        )
        tags = self.mapping(resource, "tags")
        draft.tags = dict(tags) if isinstance(tags, dict) else {}
        if kind is IdentityKind.ROLE:
            draft.trust_policy = self.policy(resource, "assume_role_policy", PolicyKind.TRUST)
            for block in self.blocks(resource.values, "inline_policy"):
                if not isinstance(block, dict):
                    draft.inline_policies.append(
                        NamedPolicy(None, _unknown(block), resource.address, span=resource.span)
                    )
                    continue
                document = self.policy(resource, "policy", PolicyKind.IDENTITY, block)
                if document is None:
                    continue  # an empty inline_policy block removes inline policies
                draft.inline_policies.append(
                    NamedPolicy(
                        self.string(resource, "name", None, block),
                        document,
                        resource.address,
                        span=span_of(block, resource.span),
                    )
                )
            managed = self.string_list(resource, "managed_policy_arns")
            if isinstance(managed, tuple):
                draft.managed_policies.extend(managed)
            elif isinstance(managed, Unknown):
                draft.managed_policies.append(managed)
        self.identities[resource.address] = draft

    def iam_arn(self, kind: str, path: Any, name: Any, resource: TfResource) -> StrValue:
        """``arn:<partition>:iam::<account>:<kind><path><name>`` (IAM User Guide, "IAM
        identifiers": ARNs); a ``ResourceRef`` when the name is not known."""
        if not isinstance(name, str) or not isinstance(path, str):
            return ResourceRef(resource.address, "arn", resource.span)
        account: Any = self.ctx.account or Unknown(THIS_ACCOUNT, resource.span)
        prefix = f"arn:{self.ctx.partition}:iam::"
        rest = f":{kind}{path}{name}"
        if isinstance(account, str):
            return LStr(prefix + account + rest, resource.span)
        return Template((prefix, account, rest), resource.span)

    def managed_policy(self, resource: TfResource) -> None:
        name = self.string(resource, "name")
        if name is None:
            name = Unknown(f"{resource.address}.name", resource.span, "name chosen by AWS")
        path = self.string(resource, "path", "/")
        document = self.policy(resource, "policy", PolicyKind.IDENTITY)
        self.managed.append(
            ManagedPolicy(
                address=resource.address,
                source=self.source,
                document=document
                if document is not None
                else Unknown(f"{resource.address}.policy", resource.span),
                span=self.span(resource, "policy"),
                name=name,
                arn=self.iam_arn("policy", path, name, resource),
            )
        )

    def find_identity(self, kind: IdentityKind, reference: Any) -> IdentityDraft | None:
        if isinstance(reference, ResourceRef):
            draft = self.identities.get(reference.address)
            return draft if draft is not None and draft.kind is kind else None
        if isinstance(reference, str):
            for draft in self.identities.values():
                if draft.kind is kind and (reference == draft.name or reference == draft.arn):
                    return draft
        return None

    def inline_policy(self, resource: TfResource, kind: IdentityKind, ref_attr: str) -> None:
        document = self.policy(resource, "policy", PolicyKind.IDENTITY)
        if document is None:
            document = Unknown(f"{resource.address}.policy", resource.span, "no policy")
        target_ref = resource.values.get(ref_attr)
        target = self.find_identity(kind, target_ref)
        named = NamedPolicy(
            self.string(resource, "name"), document, resource.address, span=self.span(resource, "policy")
        )
        if target is not None:
            target.inline_policies.append(named)
            return
        policy_value: Any = document if isinstance(document, Policy) else _unknown(document)
        self.keep_attachment(resource, kind, self.string(resource, ref_attr), ref_attr, policy_value)

    def attach(self, resource: TfResource, kind: IdentityKind, reference: Any, policy_arn: Any) -> None:
        policy = (
            policy_arn if policy_arn is not None else Unknown(f"{resource.address}.policy_arn", resource.span)
        )
        target = self.find_identity(kind, reference)
        if target is not None:
            target.managed_policies.append(policy)
            return
        identity = reference if isinstance(reference, (str, Unknown, ResourceRef, Template)) else None
        self.keep_attachment(resource, kind, identity, kind.value, policy)

    def keep_attachment(
        self, resource: TfResource, kind: IdentityKind, identity: Any, attr: str, policy: Any
    ) -> None:
        """An attachment whose identity is not in the inventory is kept, never dropped."""
        if identity is None:
            identity = Unknown(f"{resource.address}.{attr}", resource.span)
        self.attachments.append(
            PolicyAttachment(resource.address, self.source, identity, kind, policy, resource.span)
        )

    def add_group(self, user_ref: Any, group: Any) -> None:
        user = self.find_identity(IdentityKind.USER, user_ref)
        if user is not None and group is not None:
            user.groups.append(group)

    # -- key consumers -----------------------------------------------------------------------

    def consumer(
        self,
        resource: TfResource,
        service: str,
        key: Any,
        encrypted: Any,
        details: dict[str, Any] | None = None,
    ) -> None:
        self.consumers.append(
            KeyConsumer(
                address=resource.address,
                resource_type=resource.type,
                service=service,
                source=self.source,
                key=key,
                span=resource.span,
                encrypted=encrypted,
                details=details or {},
                # "key" names the key reference whatever the argument is called (kms_key_id,
                # kms_master_key_id, kms_key_arn...), as the CloudFormation loader does.
                attr_spans={
                    **{str(n): s for n, s in resource.values.key_spans.items()},
                    "key": span_of(key, resource.span),
                },
            )
        )

    def s3_rules(self, resource: TfResource, container: Any) -> None:
        for rule in self.blocks(container, "rule"):
            if not isinstance(rule, dict):
                self.consumer(resource, "s3", _unknown(rule), _unknown(rule))
                continue
            defaults = [d for d in self.blocks(rule, "apply_server_side_encryption_by_default")]
            bucket_key = self.boolean(resource, "bucket_key_enabled", False, rule)
            for default in defaults or [None]:
                if default is None:
                    continue
                if not isinstance(default, dict):
                    self.consumer(resource, "s3", _unknown(default), True)
                    continue
                algorithm = self.string(resource, "sse_algorithm", None, default)
                key_id = self.string(resource, "kms_master_key_id", None, default)
                uses_kms = isinstance(algorithm, str) and algorithm.startswith("aws:kms")
                self.consumer(
                    resource,
                    "s3",
                    key_id if uses_kms or not isinstance(algorithm, str) else None,
                    True,
                    {
                        "sse_algorithm": algorithm,
                        "bucket_key_enabled": bucket_key,
                        "bucket": resource.values.get("bucket"),
                    },
                )


def _unknown(value: Any) -> Unknown:
    if isinstance(value, Unknown):
        return value
    return Unknown(str(value), span_of(value))


# -- consumers: one small function per resource type (defaults from the registry pages) ------


def _s3_sse_configuration(m: _Mapper, r: TfResource) -> None:
    m.s3_rules(r, r.values)


def _s3_bucket(m: _Mapper, r: TfResource) -> None:
    # Legacy inline block of aws_s3_bucket (AWS provider v3 style).
    for block in m.blocks(r.values, "server_side_encryption_configuration"):
        if isinstance(block, dict):
            m.s3_rules(r, block)


def _ebs_volume(m: _Mapper, r: TfResource) -> None:
    # registry "aws_ebs_volume": encrypted is optional and false unless set (an account-level
    # aws_ebs_encryption_by_default may still encrypt it; that is its own consumer).
    m.consumer(r, "ebs", m.string(r, "kms_key_id"), m.boolean(r, "encrypted", False))


def _ebs_default_key(m: _Mapper, r: TfResource) -> None:
    m.consumer(r, "ebs", m.string(r, "key_arn"), True, {"account_default": True})


def _ebs_encryption_by_default(m: _Mapper, r: TfResource) -> None:
    m.consumer(r, "ebs", None, m.boolean(r, "enabled", True), {"account_default": True})


def _rds(m: _Mapper, r: TfResource) -> None:
    key = m.string(r, "kms_key_id")
    default = False
    if r.type == "aws_rds_cluster" and r.values.get("engine_mode") == "serverless":
        default = True  # registry "aws_rds_cluster": storage_encrypted defaults to true for serverless
    details = {
        name: r.values.get(name)
        for name in ("performance_insights_kms_key_id", "master_user_secret_kms_key_id")
        if r.values.get(name) is not None
    }
    m.consumer(r, "rds", key, m.boolean(r, "storage_encrypted", default), details)


def _log_group(m: _Mapper, r: TfResource) -> None:
    # CloudWatch Logs always encrypts log data; without kms_key_id it uses a service key.
    m.consumer(r, "logs", m.string(r, "kms_key_id"), True)


def _cloudtrail(m: _Mapper, r: TfResource) -> None:
    # Without kms_key_id CloudTrail log files use SSE-S3.
    m.consumer(r, "cloudtrail", m.string(r, "kms_key_id"), True)


def _sns(m: _Mapper, r: TfResource) -> None:
    key = m.string(r, "kms_master_key_id")
    m.consumer(r, "sns", key, key is not None)


def _sqs(m: _Mapper, r: TfResource) -> None:
    key = m.string(r, "kms_master_key_id")
    managed = m.boolean(r, "sqs_managed_sse_enabled", None)
    if key is not None:
        encrypted: Any = True
    elif managed is None:
        # Amazon SQS Developer Guide, "Encryption at rest": SSE-SQS is on by default for new queues.
        encrypted = True
    else:
        encrypted = managed
    m.consumer(r, "sqs", key, encrypted, {"sqs_managed_sse_enabled": managed})


def _secret(m: _Mapper, r: TfResource) -> None:
    m.consumer(r, "secretsmanager", m.string(r, "kms_key_id"), True)


def _dynamodb(m: _Mapper, r: TfResource) -> None:
    blocks = [b for b in m.blocks(r.values, "server_side_encryption") if b is not None]
    key: Any = None
    details: dict[str, Any] = {"key_type": "AWS_OWNED"}
    for block in blocks:
        if not isinstance(block, dict):
            key = _unknown(block)
            continue
        enabled = m.boolean(r, "enabled", False, block)
        if enabled is True:
            key = m.string(r, "kms_key_arn", None, block)
            details = {"key_type": "CUSTOMER_MANAGED" if key is not None else "AWS_MANAGED"}
        elif isinstance(enabled, Unknown):
            key = enabled
    # DynamoDB always encrypts at rest (AWS owned key when server_side_encryption is off).
    m.consumer(r, "dynamodb", key, True, details)


def _lambda(m: _Mapper, r: TfResource) -> None:
    m.consumer(r, "lambda", m.string(r, "kms_key_arn"), True)


def _efs(m: _Mapper, r: TfResource) -> None:
    key = m.string(r, "kms_key_id")
    m.consumer(r, "efs", key, m.boolean(r, "encrypted", False))


_CONSUMERS = {
    "aws_s3_bucket_server_side_encryption_configuration": _s3_sse_configuration,
    "aws_s3_bucket": _s3_bucket,
    "aws_ebs_volume": _ebs_volume,
    "aws_ebs_default_kms_key": _ebs_default_key,
    "aws_ebs_encryption_by_default": _ebs_encryption_by_default,
    "aws_db_instance": _rds,
    "aws_rds_cluster": _rds,
    "aws_cloudwatch_log_group": _log_group,
    "aws_cloudtrail": _cloudtrail,
    "aws_sns_topic": _sns,
    "aws_sqs_queue": _sqs,
    "aws_secretsmanager_secret": _secret,
    "aws_dynamodb_table": _dynamodb,
    "aws_lambda_function": _lambda,
    "aws_efs_file_system": _efs,
}

# Every resource type map_resources reads; loaders need not evaluate the others.
MODELLED_TYPES = frozenset(
    {
        *KEY_TYPES,
        "aws_kms_key_policy",
        "aws_kms_alias",
        "aws_kms_grant",
        "aws_iam_role",
        "aws_iam_user",
        "aws_iam_group",
        "aws_iam_policy",
        "aws_iam_role_policy",
        "aws_iam_user_policy",
        "aws_iam_group_policy",
        "aws_iam_role_policy_attachment",
        "aws_iam_user_policy_attachment",
        "aws_iam_group_policy_attachment",
        "aws_iam_policy_attachment",
        "aws_iam_group_membership",
        "aws_iam_user_group_membership",
        *_CONSUMERS,
    }
)
