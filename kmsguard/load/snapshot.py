"""Load an audit snapshot (``kmsguard audit --save snap.json.gz``) into the same ``Inventory`` the
IaC loaders fill, so every rule runs offline on what was collected from live accounts.

The format is documented in docs/audit.md and described by kmsguard/data/snapshot.schema.json.
Live data has no lines: every element's span is the snapshot file (line 0) and the element's
address is its ARN, which names the account and Region. What the audit could not read (a *gap*)
becomes a KMS105 diagnostic naming the call, the resource and the error -- an incomplete answer is
reported as such, never as a clean bill -- and the value it would have given is ``Unknown``.

Standard library only: ``kmsguard check`` on a snapshot imports neither boto3 nor jsonschema.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import replace
from typing import Any
from urllib.parse import unquote

from kmsguard.findings import Diagnostic, InputError
from kmsguard.load.base import RULE_NOT_ANALYSED, LoadContext, LoadResult
from kmsguard.load.policy_builder import build_policy
from kmsguard.model import Inventory
from kmsguard.model.inventory import OrgPlacement, OrgPolicy
from kmsguard.model.policy import Policy, PolicyKind
from kmsguard.model.resources import (
    Alias,
    Grant,
    GrantConstraints,
    Identity,
    IdentityKind,
    Key,
    KeyConsumer,
    ManagedPolicy,
    NamedPolicy,
    Source,
)
from kmsguard.model.span import Span
from kmsguard.model.values import Unknown

SNAPSHOT_FORMAT = "kmsguard-snapshot"
SNAPSHOT_VERSION = 1
GZIP_MAGIC = b"\x1f\x8b"
# The writer puts "format" first; a reader needs only the head of the file to recognise it.
_MARKER = re.compile(rb'^\s*\{\s*"format"\s*:\s*"' + SNAPSHOT_FORMAT.encode() + rb'"')
# Decompressed snapshots larger than this are refused (a gzip bomb, or not a snapshot).
MAX_SNAPSHOT_BYTES = 2 * 1024 * 1024 * 1024
# KMS Developer Guide, "AWS managed keys": their aliases are alias/aws/<service>.
AWS_MANAGED_ALIAS_PREFIX = "alias/aws/"

# What each unreadable call leaves unknown, for the KMS105 message.
_IAM_UNKNOWN = (
    "the account's IAM users, groups, roles and their policies are unknown, so who may use its keys "
    "is incomplete"
)
_ORG_UNKNOWN = (
    "which SCPs and RCPs apply to the account is unknown: the access answers for its keys leave them "
    "out, and one may deny access reported as allowed"
)
_GAP_CONSEQUENCE = {
    "GetAccountAuthorizationDetails": _IAM_UNKNOWN,
    "DescribeOrganization": _ORG_UNKNOWN,
    "ListPolicies": _ORG_UNKNOWN,
    "DescribePolicy": _ORG_UNKNOWN,
    "ListParents": _ORG_UNKNOWN,
    "ListPoliciesForTarget": _ORG_UNKNOWN,
    "ListAccounts": "the organisation's member accounts are unknown: only the audited accounts count "
    "as inside it",
    "AssumeRole": "nothing in this account was read: its keys, policies and grants are unknown",
    "GetCallerIdentity": "nothing in this account was read: its keys, policies and grants are unknown",
    "ListKeys": "the keys of this Region are unknown",
    "ListAliases": "the aliases of this Region are unknown",
    "GetEbsDefaultKmsKeyId": "the account's default EBS key in this Region is unknown: a volume created "
    "encrypted without naming a key uses it",
    "GetEbsEncryptionByDefault": "whether new EBS volumes in this Region are encrypted by default is unknown",
    **{
        operation: f"the {what} in this Region and the keys they use are unknown, so the resources "
        "using its keys are incomplete"
        for operation, what in (
            ("ListQueues", "SQS queues"),
            ("ListTopics", "SNS topics"),
            ("DescribeLogGroups", "CloudWatch Logs log groups"),
            ("ListSecrets", "Secrets Manager secrets"),
            ("DescribeVolumes", "EBS volumes"),
            ("DescribeDBInstances", "RDS DB instances"),
            ("DescribeDBClusters", "RDS DB clusters"),
            ("DescribeTrails", "CloudTrail trails"),
            ("ListTables", "DynamoDB tables"),
            ("ListFunctions", "Lambda functions"),
            ("DescribeFileSystems", "EFS file systems"),
        )
    },
    "ListBuckets": "the account's S3 buckets and the keys they use are unknown",
    **{
        operation: "whether and with which key this resource encrypts is unknown"
        for operation in ("GetBucketEncryption", "GetQueueAttributes", "GetTopicAttributes", "DescribeTable")
    },
}


def is_snapshot_head(head: bytes) -> bool:
    """Whether the first bytes of a (decompressed) file are a snapshot's."""
    return bool(_MARKER.match(head.lstrip(b"\xef\xbb\xbf")))


def is_gzip_snapshot(path: str, head: bytes) -> bool:
    """Whether a gzip file decompresses to a snapshot (only its first KB is decompressed)."""
    if not head.startswith(GZIP_MAGIC):
        return False
    import zlib

    try:
        # wbits 31: a gzip header; decompressobj stops after max_length bytes of output.
        start = zlib.decompressobj(31).decompress(head, 1024)
    except zlib.error:
        return False
    return is_snapshot_head(start)


def read_snapshot_file(path: str) -> dict[str, Any] | InputError:
    """The snapshot document of a ``.json`` or ``.json.gz`` file, or why it cannot be read."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_SNAPSHOT_BYTES + 1)
    except OSError as err:
        return InputError(path, 0, f"cannot read: {err.strerror or err}")
    if data.startswith(GZIP_MAGIC):
        import gzip
        import zlib

        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as err:
            return InputError(path, 0, f"not a readable gzip file: {err}")
    if len(data) > MAX_SNAPSHOT_BYTES:
        return InputError(path, 0, "snapshot is over the 2 GB limit")
    try:
        return parse_snapshot(data.decode("utf-8"), path)
    except UnicodeDecodeError as err:
        return InputError(path, 0, f"snapshot is not UTF-8 text: {err.reason}")


def parse_snapshot(text: str, path: str) -> dict[str, Any] | InputError:
    try:
        document = json.loads(text)
    except ValueError as err:
        line = getattr(err, "lineno", 0)
        return InputError(path, line, f"snapshot is not valid JSON: {getattr(err, 'msg', err)}")
    if not isinstance(document, dict) or document.get("format") != SNAPSHOT_FORMAT:
        return InputError(path, 0, f'not a kmsguard snapshot (no "format": "{SNAPSHOT_FORMAT}")')
    version = document.get("version")
    if not isinstance(version, int) or version > SNAPSHOT_VERSION or version < 1:
        return InputError(
            path,
            0,
            f"unsupported snapshot version {version!r} (this kmsguard reads up to {SNAPSHOT_VERSION})",
        )
    if not isinstance(document.get("accounts"), list):
        return InputError(path, 0, 'malformed snapshot: "accounts" must be a list')
    return document


def load_snapshot_file(path: str, ctx: LoadContext) -> LoadResult:
    document = read_snapshot_file(path)
    if isinstance(document, InputError):
        return LoadResult(errors=[document])
    return load_snapshot(document, path, ctx)


def load_snapshot_text(path: str, text: str, ctx: LoadContext) -> LoadResult:
    """A snapshot already read as text (an uncompressed ``.json`` snapshot)."""
    document = parse_snapshot(text, path)
    if isinstance(document, InputError):
        return LoadResult(errors=[document])
    return load_snapshot(document, path, ctx)


def load_snapshot(document: dict[str, Any], path: str, ctx: LoadContext) -> LoadResult:
    """The inventory of a parsed snapshot. A malformed account record is an ``InputError``; the
    other accounts still load. The deployment context is the snapshot's (``deployment_context``),
    except what the command line set."""
    result = LoadResult()
    parts: list[Inventory] = []
    accounts = [a for a in document.get("accounts", [])]
    built: dict[tuple[str, PolicyKind, str], Policy] = {}  # shared by the accounts of the snapshot
    for index, record in enumerate(accounts):
        mapper = _AccountMapper(record if isinstance(record, dict) else {}, Span(path), ctx, built)
        try:
            parts.append(mapper.inventory())
        except (KeyError, TypeError, AttributeError, ValueError) as err:
            result.errors.append(InputError(path, 0, f"malformed snapshot: account #{index + 1}: {err!r}"))
            continue
        result.diagnostics.extend(mapper.diagnostics)
    merged = Inventory.merge(parts, org=deployment_context(document, ctx).org())
    result.inventory = replace(merged, org_policies=_one_per_policy(merged.org_policies))
    return result


def deployment_context(document: dict[str, Any], ctx: LoadContext) -> LoadContext:
    """What the snapshot says about where its keys live, under what the command line set: the
    account (when there is one), the organisation (when every account names the same one), and
    the accounts inside it -- the organisation's members when they were listed, and every
    audited account -- which count as trusted when no ``--trusted-accounts`` is given."""
    records = [a for a in document.get("accounts") or [] if isinstance(a, dict) and a.get("account")]
    audited = sorted({str(a["account"]) for a in records})
    org_ids = sorted({str(o["id"]) for a in records if (o := a.get("organization") or {}).get("id")})
    members = {
        str(m.get("Id"))
        for a in records
        for m in (a.get("organization") or {}).get("accounts") or []
        if isinstance(m, dict) and m.get("Id")
    }
    inside = sorted(set(audited) | members)
    trusted = ctx.trusted_accounts or (tuple(inside) if len(inside) > 1 else ())
    return LoadContext(
        account=ctx.account or (audited[0] if len(audited) == 1 else None),
        region=ctx.region,
        partition=ctx.partition
        if ctx.partition != "aws" or not records
        else str(records[0].get("partition") or "aws"),
        org_id=ctx.org_id or (org_ids[0] if len(org_ids) == 1 else None),
        trusted_accounts=trusted,
    )


def _one_per_policy(policies: Iterable[OrgPolicy]) -> tuple[OrgPolicy, ...]:
    """Each SCP/RCP once (every account record of an organisation repeats them), with the targets
    read from every account's path; unknown targets win over known ones."""
    by_address: dict[str, OrgPolicy] = {}
    for policy in policies:
        seen = by_address.get(policy.address)
        if seen is None:
            by_address[policy.address] = policy
        elif isinstance(seen.targets, Unknown):
            continue
        elif isinstance(policy.targets, Unknown):
            by_address[policy.address] = replace(seen, targets=policy.targets)
        else:
            by_address[policy.address] = replace(
                seen, targets=tuple(sorted(set(seen.targets) | set(policy.targets)))
            )
    return tuple(by_address[a] for a in sorted(by_address))


class _AccountMapper:
    """Turns one account record into inventory elements and diagnostics."""

    def __init__(
        self,
        record: dict[str, Any],
        span: Span,
        ctx: LoadContext,
        built: dict[tuple[str, PolicyKind, str], Policy] | None = None,
    ) -> None:
        self.record = record
        # Clean policies already built from the same text: an account's keys mostly carry the
        # default or a handful of templated policies, and building each costs more than all the
        # rules that read it.
        self.built: dict[tuple[str, PolicyKind, str], Policy] = {} if built is None else built
        self.span = span
        self.account = str(record["account"])
        self.partition = str(record.get("partition") or ctx.partition)
        self.diagnostics: list[Diagnostic] = []
        self.aws_managed: dict[str, str] = {}

    def inventory(self) -> Inventory:
        keys: list[Key] = []
        aliases: list[Alias] = []
        grants: list[Grant] = []
        self.aws_managed = self.aws_managed_keys()
        consumers = [self.consumer(c) for c in self.record.get("global_consumers") or []]
        for region in self.record.get("regions") or []:
            region_name = str(region["region"])
            key_records = region.get("keys") or []
            alias_records = region.get("aliases") or []
            arn_of_id = {
                (k.get("metadata") or {}).get("KeyId", k["arn"].rsplit("/", 1)[-1]): k["arn"]
                for k in key_records
            }
            names_of_key: dict[str, list[str]] = {}
            for raw in alias_records:
                target = arn_of_id.get(raw.get("TargetKeyId", ""), raw.get("TargetKeyId"))
                if target:
                    names_of_key.setdefault(target, []).append(str(raw["AliasName"]))
                aliases.append(
                    Alias(
                        str(raw.get("AliasArn") or raw["AliasName"]),
                        str(raw["AliasName"]),
                        target,
                        Source.ACCOUNT,
                        self.span,
                    )
                )
            for raw in key_records:
                keys.append(self.key(raw, region_name, tuple(names_of_key.get(raw["arn"], ()))))
                grants.extend(self.grant(raw["arn"], g) for g in raw.get("grants") or [])
            consumers.extend(self.consumer(c) for c in region.get("consumers") or [])
        identities, managed = self.iam()
        org_policies, placement = self.organization()
        self.gaps()
        self.unknown_without_gap()
        return Inventory(
            keys=tuple(keys),
            aliases=tuple(aliases),
            grants=tuple(grants),
            identities=tuple(identities),
            managed_policies=tuple(managed),
            consumers=tuple(consumers),
            org_policies=tuple(org_policies),
            org_placements=(placement,),
        )

    # -- policies ------------------------------------------------------------------------------

    def policy(self, document: Any, kind: PolicyKind, resource: str) -> Policy | Unknown:
        """Every document goes through build_policy (grammar checks, one normalisation). A text
        built before without a diagnostic gives the same Policy again: a clean build does not
        depend on the resource (only diagnostics and unreadable documents name it), and every
        snapshot element has the snapshot's span."""
        memo = (document, kind, self.partition) if isinstance(document, str) else None
        if memo is not None and memo in self.built:
            return self.built[memo]
        if isinstance(document, str):
            try:
                document = json.loads(document)
            except ValueError:
                try:
                    document = json.loads(unquote(document))  # IAM returns URL-encoded documents
                except ValueError:
                    pass  # build_policy reports the JSON error (KMS104)
        built, diagnostics = build_policy(
            document, kind, resource=resource, span=self.span, partition=self.partition
        )
        self.diagnostics.extend(diagnostics)
        if memo is not None and not diagnostics and isinstance(built, Policy):
            self.built[memo] = built
        return built

    # -- KMS -----------------------------------------------------------------------------------

    def key(self, raw: dict[str, Any], region: str, alias_names: tuple[str, ...]) -> Key:
        arn = str(raw["arn"])
        meta = raw.get("metadata")
        unknown_meta = meta is None
        meta = meta or {}

        def attr(name: str, default: Any) -> Any:
            if unknown_meta:
                return Unknown(f"{arn}.{name}", self.span, "DescribeKey could not be read")
            return meta.get(name, default)

        policy_text = raw.get("policy")
        policy: Policy | Unknown = (
            Unknown(f"key policy of {arn}", self.span, "GetKeyPolicy could not be read")
            if policy_text is None
            else self.policy(policy_text, PolicyKind.KEY, arn)
        )
        rotation = raw.get("rotation")
        rotation_enabled: Any = (
            Unknown(f"rotation of {arn}", self.span, "GetKeyRotationStatus could not be read")
            if rotation is None
            else bool(rotation.get("enabled"))
        )
        multi = meta.get("MultiRegionConfiguration") or {}
        is_replica = multi.get("MultiRegionKeyType") == "REPLICA"
        tags = raw.get("tags")
        return Key(
            address=arn,
            resource_type="AWS::KMS::Key",
            source=Source.ACCOUNT,
            span=self.span,
            arn=arn,
            key_id=meta.get("KeyId") or arn.rsplit("/", 1)[-1],
            description=meta.get("Description"),
            key_spec=attr("KeySpec", "SYMMETRIC_DEFAULT"),
            key_usage=attr("KeyUsage", "ENCRYPT_DECRYPT"),
            origin=attr("Origin", "AWS_KMS"),
            enabled=attr("Enabled", True),
            key_state=meta.get("KeyState"),
            # AWS managed keys (alias/aws/*) have KeyManager AWS and are judged by their own rules.
            key_manager=str(meta.get("KeyManager") or "CUSTOMER"),
            rotation_enabled=rotation_enabled,
            rotation_period_days=(rotation or {}).get("period_days"),
            deletion_window_days=meta.get("PendingDeletionWindowInDays"),
            multi_region=attr("MultiRegion", False),
            primary_key=(multi.get("PrimaryKey") or {}).get("Arn") if is_replica else None,
            is_replica=is_replica,
            custom_key_store_id=meta.get("CustomKeyStoreId"),
            aliases=alias_names,
            tags={str(t["TagKey"]): t.get("TagValue") for t in tags or []},
            policy=policy,
            account=self.account,
            region=region,
        )

    def grant(self, key_arn: str, raw: dict[str, Any]) -> Grant:
        constraints = raw.get("Constraints")
        return Grant(
            address=f"{key_arn}/grant/{raw.get('GrantId', '')}",
            key=key_arn,
            grantee=raw.get("GranteePrincipal"),
            operations=tuple(str(op) for op in raw.get("Operations") or []),
            source=Source.ACCOUNT,
            span=self.span,
            constraints=None
            if not constraints
            else GrantConstraints(
                encryption_context_equals=constraints.get("EncryptionContextEquals"),
                encryption_context_subset=constraints.get("EncryptionContextSubset"),
            ),
            retiring_principal=raw.get("RetiringPrincipal"),
            name=raw.get("Name") or None,
        )

    # -- IAM -----------------------------------------------------------------------------------

    def iam(self) -> tuple[list[Identity], list[ManagedPolicy]]:
        iam = self.record.get("iam") or {}
        if iam.get("status") != "ok":
            return [], []  # the gap says the identities are unknown
        group_arns = {str(g["GroupName"]): str(g["Arn"]) for g in iam.get("groups") or []}
        identities: list[Identity] = []
        for kind, list_key, name_key, inline_key in (
            (IdentityKind.USER, "users", "UserName", "UserPolicyList"),
            (IdentityKind.GROUP, "groups", "GroupName", "GroupPolicyList"),
            (IdentityKind.ROLE, "roles", "RoleName", "RolePolicyList"),
        ):
            for raw in iam.get(list_key) or []:
                identities.append(self.identity(kind, raw, name_key, inline_key, group_arns))
        managed: list[ManagedPolicy] = []
        for raw in iam.get("policies") or []:
            arn = str(raw["Arn"])
            default = next((v for v in raw.get("PolicyVersionList") or [] if v.get("IsDefaultVersion")), None)
            document: Policy | Unknown = (
                Unknown(f"default version of {arn}", self.span, "not in the snapshot")
                if default is None
                else self.policy(default.get("Document"), PolicyKind.IDENTITY, arn)
            )
            managed.append(
                ManagedPolicy(arn, Source.ACCOUNT, document, self.span, raw.get("PolicyName"), arn)
            )
        return identities, managed

    def identity(
        self,
        kind: IdentityKind,
        raw: dict[str, Any],
        name_key: str,
        inline_key: str,
        group_arns: dict[str, str],
    ) -> Identity:
        arn = str(raw["Arn"])
        inline = tuple(
            NamedPolicy(
                name=p.get("PolicyName"),
                document=self.policy(p.get("PolicyDocument"), PolicyKind.IDENTITY, arn),
                address=f"{arn}/policy/{p.get('PolicyName')}",
                span=self.span,
            )
            for p in raw.get(inline_key) or []
        )
        trust = raw.get("AssumeRolePolicyDocument")
        boundary = (raw.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn")
        return Identity(
            kind=kind,
            address=arn,
            source=Source.ACCOUNT,
            span=self.span,
            name=raw.get(name_key),
            arn=arn,
            path=raw.get("Path"),
            inline_policies=inline,
            managed_policies=tuple(str(p["PolicyArn"]) for p in raw.get("AttachedManagedPolicies") or []),
            permissions_boundary=boundary,
            trust_policy=self.policy(trust, PolicyKind.TRUST, arn) if trust is not None else None,
            groups=tuple(group_arns.get(str(g), str(g)) for g in raw.get("GroupList") or []),
            tags={str(t["Key"]): t.get("Value") for t in raw.get("Tags") or []},
        )

    # -- Organizations, consumers, gaps ------------------------------------------------------

    def organization(self) -> tuple[list[OrgPolicy], OrgPlacement]:
        """The SCPs and RCPs the record lists, with their targets, and the account's place."""
        org = self.record.get("organization") or {}
        status = org.get("status")
        policies: list[OrgPolicy] = []
        for list_key, kind in (("scps", PolicyKind.SCP), ("rcps", PolicyKind.RCP)):
            for raw in org.get(list_key) or []:
                address = str(raw.get("arn") or raw.get("id"))
                document: Policy | Unknown = (
                    Unknown(f"document of {address}", self.span, "DescribePolicy could not be read")
                    if raw.get("document") is None
                    else self.policy(raw["document"], kind, address)
                )
                targets = raw.get("targets")
                policies.append(
                    OrgPolicy(
                        address=address,
                        kind=kind,
                        document=document,
                        targets=Unknown(f"targets of {address}", self.span, "attachments could not be read")
                        if targets is None
                        else tuple(str(t) for t in targets),
                        source=Source.ACCOUNT,
                        span=self.span,
                        name=raw.get("name"),
                        aws_managed=bool(raw.get("aws_managed", False)),
                    )
                )
        path = org.get("path")
        unknown = None
        if status not in ("ok", "none"):
            unknown = "the organisation could not be read"
        elif status == "ok" and (org.get("scps") is None or org.get("rcps") is None):
            unknown = "the organisation's SCPs or RCPs could not be read"
        placement = OrgPlacement(
            account=self.account,
            org_id=org.get("id") if status != "none" else None,
            path=()
            if status == "none"
            else (
                Unknown(
                    f"place of {self.account} in its organisation", self.span, "ListParents could not be read"
                )
                if path is None
                else tuple(str(t) for t in path)
            ),
            management_account=org.get("management_account"),
            unknown=unknown,
            span=self.span,
        )
        return policies, placement

    def aws_managed_keys(self) -> dict[str, str]:
        """The AWS managed keys of the account, by every identifier a resource may name them with
        (key ARN, key id, alias ARN), each mapped to its ``alias/aws/<service>`` name: from the
        Regions' alias lists, and from DescribeKey (KeyManager AWS) for a key without alias."""
        found: dict[str, str] = {}
        for region in self.record.get("regions") or []:
            region_name = str(region.get("region"))
            prefix = f"arn:{self.partition}:kms:{region_name}:{self.account}:"
            for alias in region.get("aliases") or []:
                name = str(alias.get("AliasName", ""))
                if not name.startswith(AWS_MANAGED_ALIAS_PREFIX):
                    continue
                found[prefix + name] = name
                target = alias.get("TargetKeyId")
                if target:
                    found[str(target)] = name
                    found[f"{prefix}key/{target}"] = name
            for key in region.get("keys") or []:
                meta = key.get("metadata") or {}
                if meta.get("KeyManager") == "AWS":
                    found.setdefault(str(key["arn"]), str(key["arn"]))
                    found.setdefault(str(meta.get("KeyId")), str(key["arn"]))
        return found

    def aws_managed_name(self, key: str) -> str | None:
        """``alias/aws/<service>`` (or the key's ARN) when ``key`` names an AWS managed key of the
        account; None for a customer managed key, or a key of another account (kept as is)."""
        if key.startswith(AWS_MANAGED_ALIAS_PREFIX):
            return key
        if key.startswith("arn:") and ":alias/aws/" in key and key.split(":")[4] == self.account:
            return key.split(":", 5)[5]
        return self.aws_managed.get(key)

    def consumer(self, raw: dict[str, Any]) -> KeyConsumer:
        """The same shape as the IaC loaders give (kmsguard/load/cloudformation.py ``consumer``): an
        AWS managed key is no customer key (``key`` None, its alias name in ``aws_managed_key``)."""
        arn = str(raw["arn"])
        service = str(raw["service"])
        encrypted = raw.get("encrypted")
        details = dict(raw.get("details") or {})
        key: Any = raw.get("key")
        managed = self.aws_managed_name(str(key)) if key else None
        if managed is not None:
            # KMS Developer Guide, "AWS managed keys": their policy is AWS's, not the account's.
            details["aws_managed_key"] = managed
            key = None
        if service == "dynamodb" and details.get("key_type") == "KMS":
            # The Terraform loader's key_type: which kind of KMS key the table uses.
            details["key_type"] = "CUSTOMER_MANAGED" if key is not None else "AWS_MANAGED"
        if service == "ebs" and details.get("default_key_unreadable"):
            key = Unknown(
                f"default EBS key of {arn}", self.span, "ec2:GetEbsDefaultKmsKeyId could not be read"
            )
        return KeyConsumer(
            address=arn,
            resource_type=str(raw.get("resource_type") or service),
            service=service,
            source=Source.ACCOUNT,
            key=key,
            span=self.span,
            encrypted=Unknown(f"encryption of {arn}", self.span, "could not be read")
            if encrypted is None
            else bool(encrypted),
            details=details,
        )

    def unknown_without_gap(self) -> None:
        """A record that says IAM or the organisation is unknown but carries no gap for it (a
        hand-made or trimmed snapshot) is reported all the same: never a clean bill."""
        gap_operations = {str(g.get("operation")) for g in self.record.get("gaps") or []}
        iam = self.record.get("iam") or {}
        if iam.get("status") != "ok" and "GetAccountAuthorizationDetails" not in gap_operations:
            self._incomplete("iam", f"IAM of account {self.account} was not read: {_IAM_UNKNOWN}")
        org_status = (self.record.get("organization") or {}).get("status")
        org_operations = {op for op, text in _GAP_CONSEQUENCE.items() if text == _ORG_UNKNOWN}
        if org_status not in ("ok", "none") and not gap_operations & org_operations:
            self._incomplete(
                "organizations", f"the organisation of account {self.account} was not read: {_ORG_UNKNOWN}"
            )
        if self.record.get("regions") is None and not gap_operations & {"AssumeRole", "GetCallerIdentity"}:
            self._incomplete("regions", f"no Region of account {self.account} was read")

    def _incomplete(self, part: str, message: str) -> None:
        self.diagnostics.append(
            Diagnostic(RULE_NOT_ANALYSED, message, self.span, self.account, f"unknown:{part}")
        )

    def gaps(self) -> None:
        for gap in self.record.get("gaps") or []:
            operation = str(gap.get("operation"))
            resource = str(gap.get("resource") or self.account)
            where = f" in {gap['region']}" if gap.get("region") else ""
            consequence = _GAP_CONSEQUENCE.get(operation, "the answer for this key is incomplete")
            message = (
                f"could not read {gap.get('service')}:{operation}{where} for {resource} "
                f"({gap.get('error_code')}): {consequence}"
            )
            self.diagnostics.append(
                Diagnostic(
                    RULE_NOT_ANALYSED, message, self.span, resource, f"gap:{gap.get('service')}:{operation}"
                )
            )
