"""Collect what kmsguard needs from one AWS account, read-only, as plain JSON.

The result is one *account record* of the snapshot format (docs/audit.md, schema in
kmsguard/data/snapshot.schema.json). Every call goes through ``AuditSession`` (the read-only
allow-list). A call that fails does not stop the audit: it becomes a *gap* (service, operation,
region, resource, error) and the value it would have given is recorded as ``null`` -- unknown,
never assumed absent or empty. Nothing secret is collected: no key material (GetPublicKey is
reduced to its metadata), no plaintext, no secret values (ListSecrets returns metadata only).
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from kmsguard.audit.client import AuditSession, call, call_error, pages

T = TypeVar("T")

# Services whose endpoints are global: called once per account, from this Region.
GLOBAL_REGION = "us-east-1"

# Errors that are an answer, not a gap: the key type has no rotation status / public key, the
# account is in no organisation, the bucket has no default encryption configuration.
NOT_APPLICABLE_CODES = frozenset(
    {
        "UnsupportedOperationException",
        "AWSOrganizationsNotInUseException",
        "ServerSideEncryptionConfigurationNotFoundError",
    }
)

# GetPublicKey fields kept: what the key can do, never the key itself.
PUBLIC_KEY_METADATA = (
    "KeySpec",
    "KeyUsage",
    "EncryptionAlgorithms",
    "SigningAlgorithms",
    "KeyAgreementAlgorithms",
)


class AuditError(Exception):
    """The audit cannot start (no credentials, no way to list Regions): one line for the user."""


class _NotApplicable(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def plain_json(value: Any) -> Any:
    """boto3 response values as JSON: datetimes as ISO 8601 text, bytes as base64, metadata dropped."""
    if isinstance(value, dict):
        return {str(k): plain_json(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, (list, tuple)):
        return [plain_json(v) for v in value]
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    return value


@dataclass
class Collector:
    """Runs calls for one account, recording each failure as a gap."""

    session: AuditSession
    account: str = ""
    gaps: list[dict[str, Any]] = field(default_factory=list)

    def attempt(
        self, service: str, operation: str, region: str | None, resource: str, read: Callable[[], T]
    ) -> T | None:
        """``read()``, or None after recording why it failed. ``_NotApplicable`` passes through."""
        try:
            return read()
        except Exception as err:  # an AWS error, a connection failure: the audit goes on
            from kmsguard.audit.client import ReadOnlyViolation

            if isinstance(err, ReadOnlyViolation):
                raise
            error = call_error(err)
            if error is not None and error.code in NOT_APPLICABLE_CODES:
                raise _NotApplicable(error.code) from err
            self.gaps.append(
                {
                    "service": service,
                    "operation": operation,
                    "region": region,
                    "resource": resource,
                    "error_code": error.code if error else type(err).__name__,
                    "message": (error.message if error else str(err))[:500],
                    "access_denied": bool(error and error.is_access_denied),
                }
            )
            return None

    def listing(
        self, client: Any, service: str, operation: str, region: str | None, list_key: str, **params: Any
    ) -> list[Any] | None:
        """Every item of a paginated listing of the account, or None after recording the gap."""
        return self.attempt(
            service, operation, region, self.account, _all_pages(client, operation, list_key, **params)
        )

    def attempt_or_na(
        self, service: str, operation: str, region: str | None, resource: str, read: Callable[[], T]
    ) -> tuple[T | None, str | None]:
        """Like ``attempt``, also telling "not applicable to this resource" (its error code)."""
        try:
            return self.attempt(service, operation, region, resource, read), None
        except _NotApplicable as na:
            return None, na.code


def _all_pages(client: Any, operation: str, list_key: str, **params: Any) -> Callable[[], list[Any]]:
    def read() -> list[Any]:
        items: list[Any] = []
        for page in pages(client, operation, **params):
            items.extend(page.get(list_key) or [])
        return items

    return read


def collect_account(
    session: AuditSession, regions: Sequence[str] | None = None, concurrency: int = 1
) -> dict[str, Any]:
    """One account record (the caller's account): identity, organisation policies, IAM, and per
    Region keys, aliases and the resources that use keys."""
    from kmsguard.audit.run import collect_accounts

    return collect_accounts(session, regions=regions, concurrency=concurrency).accounts[0]


def identify(session: AuditSession) -> tuple[str, str]:
    """The caller's account and ARN (sts:GetCallerIdentity); ``AuditError`` when unreadable."""
    sts = session.client("sts", GLOBAL_REGION)
    try:
        caller = call(sts, "GetCallerIdentity")
    except Exception as err:
        error = call_error(err)
        detail = f"{error.code}: {error.message}" if error else str(err)
        raise AuditError(f"cannot identify the caller: {detail}") from err
    return str(caller["Account"]), str(caller["Arn"])


def partition_of(arn: str) -> str:
    return arn.split(":")[1] if arn.count(":") >= 5 else "aws"


def enabled_regions(collector: Collector) -> list[str]:
    """The account's enabled Regions: ec2:DescribeRegions, else account:ListRegions."""
    ec2 = collector.session.client("ec2", GLOBAL_REGION)
    found = collector.attempt(
        "ec2",
        "DescribeRegions",
        GLOBAL_REGION,
        collector.account,
        lambda: [r["RegionName"] for r in call(ec2, "DescribeRegions").get("Regions", [])],
    )
    if found:
        return sorted(found)
    account = collector.session.client("account", GLOBAL_REGION)
    listed = collector.attempt(
        "account",
        "ListRegions",
        GLOBAL_REGION,
        collector.account,
        _all_pages(
            account, "ListRegions", "Regions", RegionOptStatusContains=["ENABLED", "ENABLED_BY_DEFAULT"]
        ),
    )
    if listed:
        return sorted(r["RegionName"] for r in listed)
    raise AuditError("cannot list the account's enabled Regions; name them with --regions")


_POLICY_TYPES = (("scps", "SERVICE_CONTROL_POLICY"), ("rcps", "RESOURCE_CONTROL_POLICY"))


class OrgReader:
    """The organisation, read once with the caller's credentials (the management account or a
    delegated administrator can read it; a member account usually cannot), and where each audited
    account sits in it. SCPs and RCPs are recorded with the targets (root, OUs, the account) of
    the account's path they are attached to, so the simulator can build the levels that apply.

    ``status`` of an account's organisation record: "ok" (which SCPs and RCPs apply is known),
    "none" (no organisation: none apply) or "unknown" (could not be read: they may apply)."""

    def __init__(self, collector: Collector) -> None:
        self._collector = collector  # the caller's: its gaps go to every account record
        self._org = collector.session.client("organizations", GLOBAL_REGION)
        self.shared = self._read_shared()
        self.shared_gaps = list(collector.gaps)
        self._parents: dict[str, str | None] = {}
        self._attached: dict[tuple[str, str], list[str] | None] = {}
        import threading

        self._lock = threading.Lock()

    def _read_shared(self) -> dict[str, Any]:
        collector = self._collector
        described, na = collector.attempt_or_na(
            "organizations",
            "DescribeOrganization",
            None,
            collector.account,
            lambda: call(self._org, "DescribeOrganization"),
        )
        if na is not None:
            return {"status": "none", "id": None, "scps": [], "rcps": []}
        if described is None:
            return {"status": "unknown", "id": None, "scps": None, "rcps": None}
        organization = described["Organization"]
        result: dict[str, Any] = {
            "status": "ok",
            "id": organization.get("Id"),
            "management_account": organization.get("MasterAccountId"),
        }
        members = collector.attempt(
            "organizations",
            "ListAccounts",
            None,
            collector.account,
            _all_pages(self._org, "ListAccounts", "Accounts"),
        )
        # Names and states only: e-mail addresses are personal data kmsguard does not need.
        result["accounts"] = (
            None
            if members is None
            else sorted(
                ({"Id": m.get("Id"), "Name": m.get("Name"), "Status": m.get("Status")} for m in members),
                key=lambda m: str(m["Id"]),
            )
        )
        for name, policy_type in _POLICY_TYPES:
            listed = collector.attempt(
                "organizations",
                "ListPolicies",
                None,
                collector.account,
                _all_pages(self._org, "ListPolicies", "Policies", Filter=policy_type),
            )
            if listed is None:
                result["status"] = "unknown"
                result[name] = None
                continue
            result[name] = sorted(
                (self._policy(summary) for summary in listed), key=lambda p: str(p.get("arn"))
            )
        return result

    def _policy(self, summary: dict[str, Any]) -> dict[str, Any]:
        detail = self._collector.attempt(
            "organizations",
            "DescribePolicy",
            None,
            str(summary.get("Arn")),
            lambda: call(self._org, "DescribePolicy", PolicyId=summary["Id"]),
        )
        return {
            "id": summary.get("Id"),
            "name": summary.get("Name"),
            "arn": summary.get("Arn"),
            "aws_managed": bool(summary.get("AwsManaged", False)),
            "document": detail["Policy"].get("Content") if detail else None,
        }

    def active_accounts(self) -> list[str] | None:
        """The organisation's ACTIVE accounts (organizations:ListAccounts), None if unreadable."""
        members = self.shared.get("accounts")
        if members is None:
            return None
        return sorted(str(m["Id"]) for m in members if m.get("Status") == "ACTIVE")

    def record(self, account: str, collector: Collector) -> dict[str, Any]:
        """The organisation record of ``account``; what cannot be read becomes gaps of
        ``collector`` (the account's), the shared gaps are copied there too."""
        collector.gaps.extend(dict(gap) for gap in self.shared_gaps)
        shared = self.shared
        if shared["status"] == "none":
            return dict(shared)
        record = {k: v for k, v in shared.items() if k not in ("scps", "rcps")}
        path = self.path(account, collector) if shared["status"] == "ok" else None
        if path is None:
            record["status"] = "unknown"
        record["path"] = path
        for name, policy_type in _POLICY_TYPES:
            policies = shared.get(name)
            if policies is None:
                record[name] = None
                continue
            attached = self.attachments(path, policy_type, collector) if path is not None else None
            if attached is None:
                record["status"] = "unknown"
            record[name] = [
                {
                    **policy,
                    "targets": None
                    if attached is None
                    else [t for t in path or () if policy.get("id") in attached.get(t, ())],
                }
                for policy in policies
            ]
        return record

    def path(self, account: str, collector: Collector) -> list[str] | None:
        """Target ids from the root down to the account (root, OUs, account), or None."""
        chain = [account]
        while len(chain) < 8:  # an organisation nests OUs at most five deep under the root
            parent = self._parent(chain[-1], collector)
            if parent is None:
                return None
            chain.append(parent)
            if parent.startswith("r-"):
                return list(reversed(chain))
        return None

    def _parent(self, child: str, collector: Collector) -> str | None:
        with self._lock:
            if child in self._parents:
                return self._parents[child]
        parents = collector.attempt(
            "organizations",
            "ListParents",
            None,
            child,
            _all_pages(self._org, "ListParents", "Parents", ChildId=child),
        )
        parent = str(parents[0]["Id"]) if parents else None
        with self._lock:
            self._parents[child] = parent
        return parent

    def attachments(
        self, path: Sequence[str], policy_type: str, collector: Collector
    ) -> dict[str, list[str]] | None:
        """Policy ids attached to each target of ``path``, or None if one could not be read."""
        found: dict[str, list[str]] = {}
        for target in path:
            with self._lock:
                cached = self._attached.get((target, policy_type), "unread")
            if cached == "unread":
                listed = collector.attempt(
                    "organizations",
                    "ListPoliciesForTarget",
                    None,
                    target,
                    _all_pages(
                        self._org, "ListPoliciesForTarget", "Policies", TargetId=target, Filter=policy_type
                    ),
                )
                cached = None if listed is None else sorted(str(p["Id"]) for p in listed)
                with self._lock:
                    self._attached[(target, policy_type)] = cached
            if cached is None:
                return None
            found[target] = list(cached)
        return found


def collect_iam(collector: Collector) -> dict[str, Any]:
    """Users, groups, roles and policies in one paginated call (IAM API Reference,
    "GetAccountAuthorizationDetails"). Policy documents arrive decoded (botocore decodes them)."""
    iam = collector.session.client("iam", GLOBAL_REGION)

    def read() -> dict[str, list[Any]]:
        merged: dict[str, list[Any]] = {
            "UserDetailList": [],
            "GroupDetailList": [],
            "RoleDetailList": [],
            "Policies": [],
        }
        for page in pages(iam, "GetAccountAuthorizationDetails"):
            for list_key in merged:
                merged[list_key].extend(page.get(list_key) or [])
        return merged

    details = collector.attempt("iam", "GetAccountAuthorizationDetails", None, collector.account, read)
    if details is None:
        return {"status": "unknown", "users": None, "groups": None, "roles": None, "policies": None}
    return {
        "status": "ok",
        "users": plain_json(details["UserDetailList"]),
        "groups": plain_json(details["GroupDetailList"]),
        "roles": plain_json(details["RoleDetailList"]),
        "policies": plain_json(details["Policies"]),
    }


@dataclass(frozen=True)
class RegionListing:
    """What one Region lists: its keys (None: ListKeys failed), aliases and key-using resources."""

    region: str
    key_arns: tuple[str, ...] | None
    aliases: list[Any] | None
    consumers: list[dict[str, Any]]


def list_region(collector: Collector, region: str) -> RegionListing:
    kms = collector.session.client("kms", region)
    key_list = collector.listing(kms, "kms", "ListKeys", region, "Keys")
    aliases = collector.listing(kms, "kms", "ListAliases", region, "Aliases")
    return RegionListing(
        region=region,
        key_arns=None if key_list is None else tuple(sorted(str(k["KeyArn"]) for k in key_list)),
        aliases=None
        if aliases is None
        else sorted(plain_json(aliases), key=lambda a: str(a.get("AliasName"))),
        consumers=sorted(collect_regional_consumers(collector, region), key=lambda c: str(c["arn"])),
    )


def collect_key(collector: Collector, region: str, key_arn: str) -> dict[str, Any]:
    kms = collector.session.client("kms", region)

    def attempt(operation: str, read: Callable[[], T]) -> T | None:
        return collector.attempt("kms", operation, region, key_arn, read)

    described = attempt("DescribeKey", lambda: call(kms, "DescribeKey", KeyId=key_arn)["KeyMetadata"])
    metadata = plain_json(described) if described is not None else None
    policy = attempt(
        "GetKeyPolicy", lambda: call(kms, "GetKeyPolicy", KeyId=key_arn, PolicyName="default")["Policy"]
    )
    rotation, rotation_na = collector.attempt_or_na(
        "kms",
        "GetKeyRotationStatus",
        region,
        key_arn,
        lambda: call(kms, "GetKeyRotationStatus", KeyId=key_arn),
    )
    rotations, _ = collector.attempt_or_na(
        "kms",
        "ListKeyRotations",
        region,
        key_arn,
        _all_pages(kms, "ListKeyRotations", "Rotations", KeyId=key_arn),
    )
    grants = attempt("ListGrants", _all_pages(kms, "ListGrants", "Grants", KeyId=key_arn))
    tags = attempt("ListResourceTags", _all_pages(kms, "ListResourceTags", "Tags", KeyId=key_arn))
    public_key = None
    if isinstance(described, dict) and described.get("KeySpec", "SYMMETRIC_DEFAULT") != "SYMMETRIC_DEFAULT":
        if not str(described.get("KeySpec", "")).startswith("HMAC_"):
            answer, _ = collector.attempt_or_na(
                "kms", "GetPublicKey", region, key_arn, lambda: call(kms, "GetPublicKey", KeyId=key_arn)
            )
            if answer is not None:
                public_key = {
                    name: plain_json(answer[name]) for name in PUBLIC_KEY_METADATA if name in answer
                }
    rotation_record: dict[str, Any] | None
    if rotation is not None:
        rotation_record = {
            "enabled": bool(rotation.get("KeyRotationEnabled")),
            "period_days": rotation.get("RotationPeriodInDays"),
            "next_rotation": plain_json(rotation.get("NextRotationDate")),
        }
    elif rotation_na is not None:
        rotation_record = {"enabled": False, "period_days": None, "not_supported": True}
    else:
        rotation_record = None
    return {
        "arn": key_arn,
        "metadata": metadata,
        "policy": policy,
        "rotation": rotation_record,
        "rotations": None if rotations is None else plain_json(rotations),
        "grants": None if grants is None else sorted(plain_json(grants), key=lambda g: str(g.get("GrantId"))),
        "tags": None if tags is None else plain_json(tags),
        "public_key": public_key,
    }


def collect_s3(collector: Collector) -> list[dict[str, Any]]:
    """Default encryption of every bucket (S3 is listed once per account)."""
    s3 = collector.session.client("s3", GLOBAL_REGION)
    buckets = collector.attempt(
        "s3", "ListBuckets", None, collector.account, lambda: call(s3, "ListBuckets").get("Buckets", [])
    )
    found: list[dict[str, Any]] = []
    for bucket in buckets or []:
        name = str(bucket["Name"])
        arn = f"arn:aws:s3:::{name}"
        config, na = collector.attempt_or_na(
            "s3", "GetBucketEncryption", None, arn, lambda n=name: call(s3, "GetBucketEncryption", Bucket=n)
        )
        rules = (config or {}).get("ServerSideEncryptionConfiguration", {}).get("Rules", [])
        if config is None and na is None:
            found.append(
                _consumer("s3", "AWS::S3::Bucket", arn, None, None, {"bucket": name, "unreadable": True})
            )
            continue
        if not rules:
            # Since January 2023 every bucket encrypts new objects with SSE-S3 by default
            # (Amazon S3 User Guide, "Setting default server-side encryption behavior").
            found.append(
                _consumer(
                    "s3", "AWS::S3::Bucket", arn, None, True, {"bucket": name, "sse_algorithm": "AES256"}
                )
            )
        for rule in rules:
            default = rule.get("ApplyServerSideEncryptionByDefault") or {}
            algorithm = default.get("SSEAlgorithm")
            key = default.get("KMSMasterKeyID") if str(algorithm).startswith("aws:kms") else None
            details = {
                "bucket": name,
                "sse_algorithm": algorithm,
                "bucket_key_enabled": rule.get("BucketKeyEnabled", False),
            }
            found.append(_consumer("s3", "AWS::S3::Bucket", arn, key, True, details))
    return sorted(found, key=lambda c: str(c["arn"]))


def collect_regional_consumers(collector: Collector, region: str) -> Iterator[dict[str, Any]]:
    """The key-using resources of one Region, service by service."""
    for read in _REGIONAL_READERS:
        yield from read(collector, region)


def _sqs_queues(collector: Collector, region: str) -> Iterator[dict[str, Any]]:
    sqs = collector.session.client("sqs", region)
    urls = collector.listing(sqs, "sqs", "ListQueues", region, "QueueUrls")
    for url in urls or []:
        attrs = collector.attempt(
            "sqs",
            "GetQueueAttributes",
            region,
            url,
            lambda u=url: call(sqs, "GetQueueAttributes", QueueUrl=u, AttributeNames=["All"]).get(
                "Attributes", {}
            ),
        )
        if attrs is None:
            yield _consumer("sqs", "AWS::SQS::Queue", url, None, None, {"unreadable": True})
            continue
        key = attrs.get("KmsMasterKeyId")
        managed = attrs.get("SqsManagedSseEnabled")
        encrypted = True if key else (managed == "true" if managed is not None else None)
        yield _consumer("sqs", "AWS::SQS::Queue", attrs.get("QueueArn", url), key, encrypted, {"url": url})


def _sns_topics(collector: Collector, region: str) -> Iterator[dict[str, Any]]:
    sns = collector.session.client("sns", region)
    topics = collector.listing(sns, "sns", "ListTopics", region, "Topics")
    for topic in topics or []:
        arn = topic["TopicArn"]
        attrs = collector.attempt(
            "sns",
            "GetTopicAttributes",
            region,
            arn,
            lambda a=arn: call(sns, "GetTopicAttributes", TopicArn=a),
        )
        if attrs is None:
            yield _consumer("sns", "AWS::SNS::Topic", arn, None, None, {"unreadable": True})
            continue
        key = attrs.get("Attributes", {}).get("KmsMasterKeyId")
        yield _consumer("sns", "AWS::SNS::Topic", arn, key, bool(key), {})


def _log_groups(collector: Collector, region: str) -> Iterator[dict[str, Any]]:
    logs = collector.session.client("logs", region)
    groups = collector.listing(logs, "logs", "DescribeLogGroups", region, "logGroups")
    for group in groups or []:
        # CloudWatch Logs always encrypts; without kmsKeyId it uses a service key.
        arn = str(group.get("arn", group.get("logGroupName")))
        yield _consumer("logs", "AWS::Logs::LogGroup", arn, group.get("kmsKeyId"), True, {})


def _secrets(collector: Collector, region: str) -> Iterator[dict[str, Any]]:
    secrets = collector.session.client("secretsmanager", region)
    listed = collector.listing(secrets, "secretsmanager", "ListSecrets", region, "SecretList")
    for secret in listed or []:
        # Secrets Manager always encrypts; without KmsKeyId it uses alias/aws/secretsmanager.
        yield _consumer(
            "secretsmanager", "AWS::SecretsManager::Secret", secret["ARN"], secret.get("KmsKeyId"), True, {}
        )


# The account's EBS encryption settings of a Region have no ARN and no CloudFormation type: the
# snapshot names them with this pseudo-ARN and type (docs/audit.md).
EBS_DEFAULT_TYPE = "AWS::EC2::EBSEncryptionByDefault"


def ebs_default_address(partition: str, region: str, account: str) -> str:
    return f"arn:{partition}:ec2:{region}:{account}:ebs-encryption-by-default"


def partition_of_region(region: str) -> str:
    """AWS General Reference, "Amazon Resource Names (ARNs)": the partition of a Region."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def _ebs_default(collector: Collector, region: str) -> Iterator[dict[str, Any]]:
    """EC2 User Guide, "Amazon EBS encryption", "Encryption by default": whether new volumes are
    encrypted, and the key a volume created encrypted without naming one gets (also when
    encryption by default is off). Always one record per Region, so an unreadable answer is a
    record with a null, never a missing record."""
    ec2 = collector.session.client("ec2", region)
    address = ebs_default_address(partition_of_region(region), region, collector.account)
    enabled = collector.attempt(
        "ec2",
        "GetEbsEncryptionByDefault",
        region,
        address,
        lambda: call(ec2, "GetEbsEncryptionByDefault").get("EbsEncryptionByDefault"),
    )
    key = collector.attempt(
        "ec2",
        "GetEbsDefaultKmsKeyId",
        region,
        address,
        lambda: call(ec2, "GetEbsDefaultKmsKeyId").get("KmsKeyId"),
    )
    details: dict[str, Any] = {"account_default": True}
    if key is None:
        details["default_key_unreadable"] = True
    yield _consumer("ebs", EBS_DEFAULT_TYPE, address, key, enabled, details)


def _ebs_volumes(collector: Collector, region: str) -> Iterator[dict[str, Any]]:
    ec2 = collector.session.client("ec2", region)
    volumes = collector.listing(ec2, "ec2", "DescribeVolumes", region, "Volumes")
    partition = partition_of_region(region)
    for volume in volumes or []:
        volume_id = str(volume["VolumeId"])
        # EC2 volumes have ARNs of this form (Service Authorization Reference, "Amazon EC2",
        # resource type "volume") though DescribeVolumes does not return them.
        arn = f"arn:{partition}:ec2:{region}:{collector.account}:volume/{volume_id}"
        encrypted = volume.get("Encrypted")
        key = volume.get("KmsKeyId") if encrypted else None
        yield _consumer("ebs", "AWS::EC2::Volume", arn, key, encrypted, {"volume_id": volume_id})


# RDS fields naming other keys of an instance or cluster, under the Terraform loader's names.
_RDS_OTHER_KEYS = (
    ("PerformanceInsightsKMSKeyId", "performance_insights_kms_key_id"),
    ("MasterUserSecret", "master_user_secret_kms_key_id"),
)


def _rds_details(database: dict[str, Any], identifier: str) -> dict[str, Any]:
    details: dict[str, Any] = {"identifier": database.get(identifier)}
    for field_name, detail in _RDS_OTHER_KEYS:
        value = database.get(field_name)
        if isinstance(value, dict):
            value = value.get("KmsKeyId")
        if value:
            details[detail] = value
    return details


def _rds(collector: Collector, region: str) -> Iterator[dict[str, Any]]:
    """DB instances and clusters (RDS User Guide, "Encrypting Amazon RDS resources"). An instance
    of an Aurora cluster is skipped: its storage is the cluster's, encrypted with the cluster's
    key, and the IaC loaders model the cluster (aws_rds_cluster, AWS::RDS::DBCluster) only."""
    rds = collector.session.client("rds", region)
    instances = collector.listing(rds, "rds", "DescribeDBInstances", region, "DBInstances")
    for instance in instances or []:
        if not instance.get("DBClusterIdentifier"):
            yield _rds_consumer(instance, "AWS::RDS::DBInstance", "DBInstanceArn", "DBInstanceIdentifier")
    clusters = collector.listing(rds, "rds", "DescribeDBClusters", region, "DBClusters")
    for cluster in clusters or []:
        yield _rds_consumer(cluster, "AWS::RDS::DBCluster", "DBClusterArn", "DBClusterIdentifier")


def _rds_consumer(database: dict[str, Any], kind: str, arn_field: str, id_field: str) -> dict[str, Any]:
    """A DB instance or cluster: its key only when its storage is encrypted."""
    encrypted = database.get("StorageEncrypted")
    key = database.get("KmsKeyId") if encrypted else None
    return _consumer("rds", kind, str(database[arn_field]), key, encrypted, _rds_details(database, id_field))


def _trails(collector: Collector, region: str) -> Iterator[dict[str, Any]]:
    """CloudTrail User Guide, "Viewing trails": a multi-Region trail appears in every Region (as a
    shadow trail outside its home Region), and an organisation trail in every member account.
    Each trail is recorded once: in its home Region, by the account that owns it (the account
    field of its ARN). Without a KMS key, log files are encrypted with SSE-S3."""
    cloudtrail = collector.session.client("cloudtrail", region)
    trails = collector.listing(
        cloudtrail, "cloudtrail", "DescribeTrails", region, "trailList", includeShadowTrails=True
    )
    for trail in trails or []:
        arn = str(trail.get("TrailARN", ""))
        home = trail.get("HomeRegion", region)
        if home != region or (arn.count(":") >= 5 and arn.split(":")[4] != collector.account):
            continue
        details = {
            "home_region": home,
            "multi_region": trail.get("IsMultiRegionTrail", False),
            "organization_trail": trail.get("IsOrganizationTrail", False),
        }
        yield _consumer("cloudtrail", "AWS::CloudTrail::Trail", arn, trail.get("KmsKeyId"), True, details)


def _dynamodb_tables(collector: Collector, region: str) -> Iterator[dict[str, Any]]:
    """DynamoDB Developer Guide, "Encryption at rest": every table is encrypted; SSEDescription
    with SSEType KMS names the KMS key (the AWS managed key or a customer managed key), no
    SSEDescription means an AWS owned key."""
    dynamodb = collector.session.client("dynamodb", region)
    names = collector.listing(dynamodb, "dynamodb", "ListTables", region, "TableNames")
    partition = partition_of_region(region)
    for name in names or []:
        arn = f"arn:{partition}:dynamodb:{region}:{collector.account}:table/{name}"
        table = collector.attempt(
            "dynamodb",
            "DescribeTable",
            region,
            arn,
            lambda n=name: call(dynamodb, "DescribeTable", TableName=n)["Table"],
        )
        if table is None:
            yield _consumer("dynamodb", "AWS::DynamoDB::Table", arn, None, None, {"unreadable": True})
            continue
        sse = table.get("SSEDescription") or {}
        uses_kms = sse.get("SSEType") == "KMS" and sse.get("Status") in ("ENABLED", "UPDATING", None)
        key = sse.get("KMSMasterKeyArn") if uses_kms else None
        details = {"key_type": "KMS" if uses_kms else "AWS_OWNED", "sse_status": sse.get("Status")}
        yield _consumer(
            "dynamodb", "AWS::DynamoDB::Table", str(table.get("TableArn", arn)), key, True, details
        )


def _lambda_functions(collector: Collector, region: str) -> Iterator[dict[str, Any]]:
    """Lambda Developer Guide, "Securing environment variables": KMSKeyArn, else the AWS managed
    key aws/lambda. ListFunctions returns the variables' values too: only the key ARN is kept,
    never a variable's name or value."""
    lambda_client = collector.session.client("lambda", region)
    functions = collector.listing(lambda_client, "lambda", "ListFunctions", region, "Functions")
    for function in functions or []:
        arn = str(function["FunctionArn"])
        yield _consumer("lambda", "AWS::Lambda::Function", arn, function.get("KMSKeyArn"), True, {})


def _efs_file_systems(collector: Collector, region: str) -> Iterator[dict[str, Any]]:
    efs = collector.session.client("efs", region)
    systems = collector.listing(efs, "efs", "DescribeFileSystems", region, "FileSystems")
    partition = partition_of_region(region)
    for system in systems or []:
        system_id = str(system["FileSystemId"])
        arn = str(
            system.get("FileSystemArn")
            or f"arn:{partition}:elasticfilesystem:{region}:{collector.account}:file-system/{system_id}"
        )
        encrypted = system.get("Encrypted")
        key = system.get("KmsKeyId") if encrypted else None
        yield _consumer("efs", "AWS::EFS::FileSystem", arn, key, encrypted, {"file_system_id": system_id})


_REGIONAL_READERS: tuple[Callable[[Collector, str], Iterator[dict[str, Any]]], ...] = (
    _sqs_queues,
    _sns_topics,
    _log_groups,
    _secrets,
    _ebs_default,
    _ebs_volumes,
    _rds,
    _trails,
    _dynamodb_tables,
    _lambda_functions,
    _efs_file_systems,
)


def _consumer(
    service: str,
    resource_type: str,
    arn: str,
    key: str | None,
    encrypted: bool | None,
    details: dict[str, Any],
) -> dict[str, Any]:
    return {
        "service": service,
        "resource_type": resource_type,
        "arn": arn,
        "key": key,
        "encrypted": encrypted,
        "details": plain_json(details),
    }
