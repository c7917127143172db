"""The KMS calls AWS services make when a resource encrypts with a customer managed key, and a dry run
of those calls through the simulator against the key's policy.

Why: a key policy that does not let the service (or the resource's users through the service) use
the key is not caught by ``terraform plan`` or a template lint; it fails at deploy time (CloudWatch
Logs, CloudTrail: "the KMS key is not allowed") or, worse, at run time (the first ``PutObject``).

Each service's call model (operations; who calls; encryption context; source keys), with its AWS
source (the service's own guide unless noted):

- s3: GenerateDataKey, Decrypt by the requester via ``s3.<region>.amazonaws.com``; ``aws:s3:arn`` =
  the object's ARN, or the bucket's ARN with S3 Bucket Keys. S3 User Guide, "Using server-side
  encryption with AWS KMS keys (SSE-KMS)" (permissions, "Encryption context"); "Reducing the cost of
  SSE-KMS with Amazon S3 Bucket Keys" (the bucket ARN is the encryption context).
- ebs: DescribeKey, GenerateDataKeyWithoutPlaintext, CreateGrant, Decrypt by the volume's creator via
  ``ec2.<region>.amazonaws.com``; ``aws:ebs:id`` = the volume id. EC2 User Guide, "How Amazon EBS
  encryption works"; "Amazon EBS encryption", "Permissions for IAM users".
- rds: DescribeKey, CreateGrant by the creator via ``rds.<region>.amazonaws.com`` (no encryption
  context: RDS works through the grant). RDS User Guide, "Encrypting Amazon RDS resources",
  "Authorizing use of a customer managed key".
- logs: GenerateDataKey, Decrypt by the service principal ``logs.<region>.amazonaws.com``;
  ``aws:logs:arn`` = the log group's ARN. CloudWatch Logs User Guide, "Encrypt log data in CloudWatch
  Logs using AWS KMS", "Step 2: Set permissions on the KMS key".
- cloudtrail: GenerateDataKey, DescribeKey by the service principal ``cloudtrail.amazonaws.com``;
  ``aws:cloudtrail:arn`` = the trail's ARN; ``aws:SourceArn`` = the trail's ARN and
  ``aws:SourceAccount``. CloudTrail User Guide, "Configure AWS KMS key policies for CloudTrail".
- sns: GenerateDataKey, Decrypt by the publisher via ``sns.<region>.amazonaws.com``;
  ``aws:sns:topicArn`` = the topic's ARN. SNS Developer Guide, "Managing Amazon SNS encryption keys
  and costs", "Configuring AWS KMS permissions".
- sqs: GenerateDataKey, Decrypt by producers and consumers via ``sqs.<region>.amazonaws.com``;
  ``aws:sqs:arn`` = the queue's ARN. SQS Developer Guide, "Amazon SQS key management", "Configuring
  AWS KMS permissions".
- secretsmanager: GenerateDataKey, Decrypt by the secret's users via
  ``secretsmanager.<region>.amazonaws.com``; ``SecretARN`` and ``SecretVersionId``. Secrets Manager
  User Guide, "Secret encryption and decryption in AWS Secrets Manager" ("Encryption context",
  "Permissions for the KMS key").
- dynamodb: DescribeKey, CreateGrant by the table's creator via ``dynamodb.<region>.amazonaws.com``
  (DynamoDB's own calls, through the grant, carry ``aws:dynamodb:tableName`` and
  ``aws:dynamodb:subscriberId``). DynamoDB Developer Guide, "How Amazon DynamoDB uses AWS KMS"
  ("Key policy for a customer managed key", "Using grants").
- lambda: CreateGrant, Encrypt by the function's creator via ``lambda.<region>.amazonaws.com``;
  ``aws:lambda:FunctionArn`` = the function's ARN. Lambda Developer Guide, "Securing environment
  variables".
- efs: DescribeKey, CreateGrant by the file system's creator via
  ``elasticfilesystem.<region>.amazonaws.com``. EFS User Guide, "Encrypting data at rest", "Amazon
  EFS key policies for AWS KMS".

A CreateGrant an integrated service makes on the user's behalf carries ``kms:GrantIsForAWSResource``
(KMS Developer Guide, "kms:GrantIsForAWSResource"); which operations the service's grant lists
(``kms:GrantOperations``) is not documented per service, so a condition on them is unresolved.

Every one of these services accepts only symmetric encryption KMS keys (``SYMMETRIC_DEFAULT`` with
usage ``ENCRYPT_DECRYPT``): S3 User Guide ("Amazon S3 supports only symmetric encryption KMS keys"),
EC2 User Guide ("Amazon EBS does not support asymmetric encryption KMS keys"), RDS User Guide
("Amazon RDS supports only symmetric encryption KMS keys"), CloudWatch Logs ("supports only symmetric
encryption KMS keys"), CloudTrail ("CloudTrail does not support asymmetric KMS keys"), SNS ("Amazon
SNS only supports symmetric encryption KMS keys"), SQS (same), Secrets Manager ("Secrets Manager
uses symmetric encryption KMS keys only"), DynamoDB, Lambda and EFS (each: "symmetric encryption KMS
keys only").

A call through a service (``kms:ViaService``) is made with the credentials of a principal of the
resource's account (IAM User Guide, "Forward access sessions"); that principal's identity policy is
the deployer's to write, so the dry run asks whether *some* principal of the key's account can make
the call: one whose identity policy allows it, with the key policy allowing it directly (a statement
naming the principal, or a wildcard restricted by ``kms:CallerAccount``) or delegating to IAM (the
account's root). A service principal's call is authorized by the key policy alone.

What the model does not say is not guessed: a resource's own name (and so its ARN in the encryption
context) is not in kmsguard's model, so each call is first made with a stand-in name and, when that
is not allowed, again with the name unknown: a call denied whatever the name fails; one whose answer
depends on the name is unresolved. The same holds for the key's account and Region when no
``--account`` / ``--region`` and no key ARN say which.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from enum import Enum
from functools import cache
from typing import Any

from kmsguard.authz.conditions import UnresolvedContextValue
from kmsguard.authz.evaluate import decide, parse_caller
from kmsguard.authz.types import AuthzInputs, Caller, ContextValue, Decision, Outcome, Request
from kmsguard.model import (
    Inventory,
    Key,
    KeyConsumer,
    Policy,
    PolicyKind,
    PrincipalType,
    ResourceRef,
    Template,
)
from kmsguard.model.bind import ArnResolver
from kmsguard.model.values import THIS_ACCOUNT, THIS_PARTITION, THIS_REGION, Unknown, refs_of

SYMMETRIC_ONLY = frozenset({"SYMMETRIC_DEFAULT"})
ENCRYPT_DECRYPT_ONLY = frozenset({"ENCRYPT_DECRYPT"})

# The key's account and Region when nothing says which: not a real account (AWS account ids are
# never all zeros), so it never equals an account a policy names.
STAND_IN_ACCOUNT = "000000000000"
STAND_IN_REGION = "us-east-1"
# A stand-in for an S3 object key (never known statically).
STAND_IN_OBJECT = "kmsguard-example-object"


class CallerKind(str, Enum):
    VIA_SERVICE = "via-service"  # a principal of the resource's account, through the service
    SERVICE_PRINCIPAL = "service-principal"  # the service itself, on its own behalf


@dataclass(frozen=True)
class ServiceCall:
    """One KMS call a service makes. Templates may name ``{partition}``, ``{region}``,
    ``{account}``, ``{arn}`` (the resource's ARN), ``{bucket_arn}``, ``{object_arn}``."""

    operation: str  # KMS API operation: "GenerateDataKey"
    caller: CallerKind
    service_host: str  # kms:ViaService value, or the service principal
    purpose: str  # when the service makes it, for messages
    context: tuple[tuple[str, str], ...] = ()  # encryption context: key -> value template
    source_arn: str | None = None  # aws:SourceArn the service sends (template)
    source_account: bool = False  # whether it sends aws:SourceAccount (the resource's account)
    grant_for_aws_resource: bool = False  # kms:GrantIsForAWSResource (CreateGrant through a service)

    @property
    def action(self) -> str:
        return f"kms:{self.operation}"


@dataclass(frozen=True)
class ServiceModel:
    service: str  # KeyConsumer.service
    title: str  # "Amazon S3"
    resource_kind: str  # "bucket", for messages
    resource_arn: str  # template of the resource's ARN, with {name}
    calls: tuple[ServiceCall, ...]
    accepted_key_specs: frozenset[str] = SYMMETRIC_ONLY
    accepted_key_usages: frozenset[str] = ENCRYPT_DECRYPT_ONLY


def _via(service: str, operation: str, purpose: str, **extra: Any) -> ServiceCall:
    return ServiceCall(
        operation, CallerKind.VIA_SERVICE, f"{service}.{{region}}.amazonaws.com", purpose, **extra
    )


def _grant(service: str, purpose: str) -> ServiceCall:
    return _via(service, "CreateGrant", purpose, grant_for_aws_resource=True)


_S3_CONTEXT = (("aws:s3:arn", "{s3_arn}"),)

SERVICE_MODELS: dict[str, ServiceModel] = {
    model.service: model
    for model in (
        ServiceModel(
            "s3",
            "Amazon S3",
            "bucket",
            "arn:{partition}:s3:::{name}",
            (
                _via(
                    "s3",
                    "GenerateDataKey",
                    "PutObject (a data key per object, or the bucket key)",
                    context=_S3_CONTEXT,
                ),
                _via("s3", "Decrypt", "GetObject and multipart uploads", context=_S3_CONTEXT),
            ),
        ),
        ServiceModel(
            "ebs",
            "Amazon EBS",
            "volume",
            "arn:{partition}:ec2:{region}:{account}:volume/{name}",
            (
                _via("ec2", "DescribeKey", "CreateVolume (checks the key)"),
                _via(
                    "ec2",
                    "GenerateDataKeyWithoutPlaintext",
                    "CreateVolume (the volume's data key)",
                    context=(("aws:ebs:id", "{name}"),),
                ),
                _grant("ec2", "attaching the volume (a grant for EC2 to decrypt the data key)"),
                _via("ec2", "Decrypt", "attaching the volume", context=(("aws:ebs:id", "{name}"),)),
            ),
        ),
        ServiceModel(
            "rds",
            "Amazon RDS",
            "DB instance or cluster",
            "arn:{partition}:rds:{region}:{account}:db:{name}",
            (
                _via("rds", "DescribeKey", "creating the encrypted DB instance or cluster"),
                _grant("rds", "creating the encrypted DB instance or cluster"),
            ),
        ),
        ServiceModel(
            "logs",
            "Amazon CloudWatch Logs",
            "log group",
            "arn:{partition}:logs:{region}:{account}:log-group:{name}",
            (
                ServiceCall(
                    "GenerateDataKey",
                    CallerKind.SERVICE_PRINCIPAL,
                    "logs.{region}.amazonaws.com",
                    "writing log events (and associating the key)",
                    context=(("aws:logs:arn", "{arn}"),),
                ),
                ServiceCall(
                    "Decrypt",
                    CallerKind.SERVICE_PRINCIPAL,
                    "logs.{region}.amazonaws.com",
                    "reading log events",
                    context=(("aws:logs:arn", "{arn}"),),
                ),
            ),
        ),
        ServiceModel(
            "cloudtrail",
            "AWS CloudTrail",
            "trail",
            "arn:{partition}:cloudtrail:{region}:{account}:trail/{name}",
            (
                ServiceCall(
                    "GenerateDataKey",
                    CallerKind.SERVICE_PRINCIPAL,
                    "cloudtrail.amazonaws.com",
                    "delivering log files",
                    context=(("aws:cloudtrail:arn", "{arn}"),),
                    source_arn="{arn}",
                    source_account=True,
                ),
                ServiceCall(
                    "DescribeKey",
                    CallerKind.SERVICE_PRINCIPAL,
                    "cloudtrail.amazonaws.com",
                    "creating or updating the trail",
                    source_arn="{arn}",
                    source_account=True,
                ),
            ),
        ),
        ServiceModel(
            "sns",
            "Amazon SNS",
            "topic",
            "arn:{partition}:sns:{region}:{account}:{name}",
            (
                _via("sns", "GenerateDataKey", "Publish", context=(("aws:sns:topicArn", "{arn}"),)),
                _via("sns", "Decrypt", "Publish and delivery", context=(("aws:sns:topicArn", "{arn}"),)),
            ),
        ),
        ServiceModel(
            "sqs",
            "Amazon SQS",
            "queue",
            "arn:{partition}:sqs:{region}:{account}:{name}",
            (
                _via("sqs", "GenerateDataKey", "SendMessage", context=(("aws:sqs:arn", "{arn}"),)),
                _via("sqs", "Decrypt", "SendMessage and ReceiveMessage", context=(("aws:sqs:arn", "{arn}"),)),
            ),
        ),
        ServiceModel(
            "secretsmanager",
            "AWS Secrets Manager",
            "secret",
            "arn:{partition}:secretsmanager:{region}:{account}:secret:{name}",
            (
                _via(
                    "secretsmanager",
                    "GenerateDataKey",
                    "CreateSecret and PutSecretValue",
                    context=(("SecretARN", "{arn}"), ("SecretVersionId", "{version}")),
                ),
                _via(
                    "secretsmanager",
                    "Decrypt",
                    "GetSecretValue",
                    context=(("SecretARN", "{arn}"), ("SecretVersionId", "{version}")),
                ),
            ),
        ),
        ServiceModel(
            "dynamodb",
            "Amazon DynamoDB",
            "table",
            "arn:{partition}:dynamodb:{region}:{account}:table/{name}",
            (
                _via("dynamodb", "DescribeKey", "CreateTable (checks the key)"),
                _grant("dynamodb", "CreateTable (a grant for DynamoDB's own calls)"),
            ),
        ),
        ServiceModel(
            "lambda",
            "AWS Lambda",
            "function",
            "arn:{partition}:lambda:{region}:{account}:function:{name}",
            (
                _grant("lambda", "CreateFunction (a grant to decrypt the environment at start-up)"),
                _via(
                    "lambda",
                    "Encrypt",
                    "CreateFunction and UpdateFunctionConfiguration (environment variables)",
                    context=(("aws:lambda:FunctionArn", "{arn}"),),
                ),
            ),
        ),
        ServiceModel(
            "efs",
            "Amazon EFS",
            "file system",
            "arn:{partition}:elasticfilesystem:{region}:{account}:file-system/{name}",
            (
                _via("elasticfilesystem", "DescribeKey", "CreateFileSystem (checks the key)"),
                _grant("elasticfilesystem", "CreateFileSystem (a grant for EFS's own calls)"),
            ),
        ),
    )
}


def service_model(service: str) -> ServiceModel | None:
    return SERVICE_MODELS.get(service)


# -- key spec and usage ---------------------------------------------------------------------


@dataclass(frozen=True)
class SpecProblem:
    """A key attribute the service does not accept, or ``unknown`` refs it depends on."""

    what: str  # "key spec RSA_2048", "key usage GENERATE_VERIFY_MAC"
    unknown: tuple[str, ...] = ()


def spec_problems(model: ServiceModel, key: Key) -> list[SpecProblem]:
    """What of the key's spec and usage the service does not accept (empty: all accepted)."""
    problems: list[SpecProblem] = []
    for label, value, accepted in (
        ("key spec", key.key_spec, model.accepted_key_specs),
        ("key usage", key.key_usage, model.accepted_key_usages),
    ):
        if isinstance(value, str):
            if value not in accepted:
                problems.append(SpecProblem(f"{label} {value}"))
        else:
            problems.append(SpecProblem(f"{label} (not known)", refs_of(value)))
    return problems


# -- deployment: account, Region, partition ------------------------------------------------


@dataclass(frozen=True)
class Deployment:
    account: str
    region: str
    partition: str = "aws"
    account_known: bool = True  # False: a candidate (a stand-in, or an account the policy names)
    region_known: bool = True

    def shown(self, text: str) -> str:
        """``text`` with a candidate account or Region shown as what it stands for."""
        if not self.region_known and self.region == STAND_IN_REGION:
            text = text.replace(f".{self.region}.", ".<region>.").replace(f":{self.region}:", ":<region>:")
        if not self.account_known and self.account == STAND_IN_ACCOUNT:
            text = text.replace(self.account, "<key-account>")
        return text


_ACCOUNT_ID = re.compile(r"(?<!\d)\d{12}(?!\d)")
_REGION = re.compile(r"\b(?:us|eu|ap|sa|ca|me|af|il|mx)-(?:gov-|iso-|isob-)?[a-z]+-\d\b")


def _policy_values(policy: Policy) -> Iterator[Any]:
    """The principal and condition values of a policy's statements, as written."""
    for stmt in policy.statements:
        for group in (stmt.principals, stmt.not_principals):
            if isinstance(group, tuple):
                yield from (principal.value for principal in group)
        if isinstance(stmt.conditions, tuple):
            yield from (cond.values for cond in stmt.conditions)


def _parts(value: Any) -> Iterator[Any]:
    """A value's literal strings and symbols (a Template's parts, a list's items)."""
    if isinstance(value, Template):
        yield from value.parts
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from _parts(item)
    else:
        yield value


def _policy_strings(policy: Policy) -> list[str]:
    return [p for v in _policy_values(policy) for p in _parts(v) if isinstance(p, str)]


def _symbols(policy: Policy) -> set[str]:
    """The deployment-context symbols a policy uses (``AWS::AccountId``...)."""
    return {
        p.ref
        for v in _policy_values(policy)
        for p in _parts(v)
        if isinstance(p, Unknown) and p.is_deployment_context
    }


def _arn_part(arn: Any, index: int) -> str | None:
    if isinstance(arn, str) and arn.startswith("arn:"):
        parts = arn.split(":")
        if len(parts) > index and parts[index]:
            return parts[index]
    return None


def deployments(key: Key, policy: Policy, inventory: Inventory) -> tuple[list[Deployment], tuple[str, ...]]:
    """The deployments the key may be in: its account and Region when the key's ARN, the key
    itself or ``--account`` / ``--region`` say which; otherwise each account (Region) the policy
    names literally, and a stand-in for the deployment's own when the policy uses it symbolically
    (for Regions, always).
    Also what the answer depends on when there is more than one."""
    org = inventory.org
    partition = _arn_part(key.arn, 1) or org.partition or "aws"
    account = _arn_part(key.arn, 4) or (key.account if isinstance(key.account, str) else None) or org.account
    region = _arn_part(key.arn, 3) or (key.region if isinstance(key.region, str) else None) or org.region
    texts = _policy_strings(policy)
    symbols = _symbols(policy)
    depends: list[str] = []
    if account:
        accounts = [account]
    else:
        named = list(dict.fromkeys(a for t in texts for a in _ACCOUNT_ID.findall(t)))[:3]
        accounts = named + ([STAND_IN_ACCOUNT] if not named or THIS_ACCOUNT in symbols else [])
        if len(accounts) > 1:
            depends.append("the key's account (pass --account)")
    if region:
        regions = [region]
    else:
        named = list(dict.fromkeys(r for t in texts for r in _REGION.findall(t)))[:3]
        # A Region named in a key policy says less about where the key is than an account does
        # (a key policy must let its own account in), so the stand-in stays a candidate.
        regions = list(dict.fromkeys([*named, STAND_IN_REGION]))
        if len(regions) > 1:
            depends.append("the key's Region (pass --region)")
    return [
        Deployment(a, r, partition, account_known=bool(account), region_known=bool(region))
        for a in accounts
        for r in regions
    ], tuple(depends)


# -- resources' ARNs -------------------------------------------------------------------------


_NAME_CHARS = re.compile(r"[^A-Za-z0-9_-]+")


def stand_in_name(address: str) -> str:
    """A name for a resource whose name is not in the model: distinct per resource, so that two
    resources never share an ARN."""
    return "kmsguard-" + _NAME_CHARS.sub("-", address).strip("-")


def _bucket_name(consumer: KeyConsumer) -> tuple[str | None, str | None]:
    """An S3 consumer's bucket name when written literally, and the address of the bucket resource
    it references (whose ``arn`` then binds to the bucket's ARN)."""
    bucket = consumer.details.get("bucket")
    if isinstance(bucket, str):
        return bucket, None
    if isinstance(bucket, ResourceRef):
        return None, bucket.address
    return None, None


def resource_arn(model: ServiceModel, deployment: Deployment, name: str) -> str:
    return model.resource_arn.format(
        partition=deployment.partition, region=deployment.region, account=deployment.account, name=name
    )


def _consumer_names(consumer: KeyConsumer) -> tuple[str, str | None]:
    """The name to build the consumer's ARN with, and the address of the resource whose ``arn``
    the consumer's ARN is (the consumer itself, or the bucket an S3 encryption configuration names)."""
    if consumer.service == "s3":
        literal, bucket_address = _bucket_name(consumer)
        if literal is not None:
            return literal, None
        if bucket_address is not None:
            return stand_in_name(bucket_address), bucket_address
    return stand_in_name(consumer.address), consumer.address


def bound_policy(
    policy: Policy, key: Key, key_arn: str, inventory: Inventory, deployment: Deployment
) -> Policy:
    """``policy`` with the deployment context, the key's ARN, the ARNs of the roles and users the
    configuration creates with literal names, and the ARNs of the resources that use keys (their
    stand-in names) bound to text."""
    values: dict[str, str] = {key.address: key_arn}
    for ident in inventory.identities:
        if isinstance(ident.arn, str):
            values[ident.address] = ident.arn
        elif isinstance(ident.name, str) and ident.kind.value in ("role", "user"):
            path = ident.path if isinstance(ident.path, str) and ident.path else "/"
            values[ident.address] = (
                f"arn:{deployment.partition}:iam::{deployment.account}:{ident.kind.value}{path}{ident.name}"
            )
    for other in inventory.consumers:
        model = service_model(other.service)
        name, address = _consumer_names(other)
        if model is not None and address is not None:
            values.setdefault(address, resource_arn(model, deployment, name))
    context = {
        THIS_ACCOUNT: deployment.account,
        THIS_REGION: deployment.region,
        THIS_PARTITION: deployment.partition,
    }
    return ArnResolver(values, context).policy(policy)


def key_arn_in(key: Key, deployment: Deployment) -> str:
    if isinstance(key.arn, str):
        return key.arn
    key_id = key.key_id if isinstance(key.key_id, str) else "kmsguard-example-key"
    return f"arn:{deployment.partition}:kms:{deployment.region}:{deployment.account}:key/{key_id}"


# -- requests ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ContextValues:
    """The values of a consumer's templates in one deployment; ``None`` for a value not known (it
    becomes an unresolved request value, named by ``unknown_ref``)."""

    values: Mapping[str, str | None]
    unknown_ref: Mapping[str, str] = field(default_factory=dict)


def context_values(
    model: ServiceModel, consumer: KeyConsumer, deployment: Deployment, name: str | None = None
) -> ContextValues:
    """The template values for ``consumer`` in ``deployment``. ``name`` is the resource's name to try
    (for S3 what follows ``arn:<partition>:s3:::``, the bucket and perhaps an object key); by default
    the resource's stand-in name, or the bucket's literal name. Values AWS chooses (an EBS volume id,
    a secret's version id) are left unknown: a condition on them is unresolved."""
    default_name, _ = _consumer_names(consumer)
    chosen = name if name is not None else default_name
    bucket = chosen.split("/", 1)[0] if consumer.service == "s3" else chosen
    arn = resource_arn(model, deployment, bucket)
    values: dict[str, str | None] = {
        "partition": deployment.partition,
        "region": deployment.region,
        "account": deployment.account,
        "name": chosen,
        "arn": arn,
        "version": None,
    }
    unknown: dict[str, str] = {"version": "the secret's version id (chosen by AWS)"}
    if consumer.service == "ebs":
        values["name"] = None
        unknown["name"] = "the volume's id (chosen by AWS)"
    # S3 User Guide, "Reducing the cost of SSE-KMS with Amazon S3 Bucket Keys": with a bucket key
    # the encryption context is the bucket's ARN, without one the object's ARN.
    bucket_key = consumer.details.get("bucket_key_enabled")
    if name is not None and consumer.service == "s3":
        values["s3_arn"] = f"arn:{deployment.partition}:s3:::{name}"
    elif bucket_key is True:
        values["s3_arn"] = arn
    elif bucket_key is False or bucket_key is None:
        values["s3_arn"] = f"{arn}/{STAND_IN_OBJECT}"
    else:
        values["s3_arn"] = None
        unknown["s3_arn"] = "whether the bucket key is on: " + ", ".join(refs_of(bucket_key))
    return ContextValues(values, unknown)


def name_prefix(model: ServiceModel, deployment: Deployment) -> str:
    """What every ARN of the service's resources in ``deployment`` starts with, before the name."""
    return resource_arn(model, deployment, "")


def name_candidates(policy: Policy, prefix: str, colons: bool = False, limit: int = 16) -> list[str]:
    """Names that make a resource ARN starting with ``prefix`` equal to, or match, a string a
    condition of ``policy`` compares with (its wildcards filled in). When none of them (and not the
    stand-in) gets a call allowed, no name does: a name matters only through such a comparison.
    ``colons``: whether a name may contain ":" (an S3 object key may; the names of the other
    resources modelled here may not, per each service's naming rules)."""
    from kmsguard.authz.conditions import string_like

    found: list[str] = []
    for stmt in policy.statements:
        if not isinstance(stmt.conditions, tuple):
            continue
        for cond in stmt.conditions:
            for value in cond.values if isinstance(cond.values, tuple) else ():
                if not isinstance(value, str) or "${" in value:
                    continue
                for cut in range(len(value)):
                    if string_like(value[:cut], prefix):
                        rest = value[cut:].replace("*", "x").replace("?", "x")
                        if rest and rest not in found and (colons or ":" not in rest):
                            found.append(rest)
                if len(found) >= limit:
                    return found
    return found


_SLOT = re.compile(r"\{(\w+)\}")


def _fill(template: str, values: ContextValues) -> ContextValue:
    missing = [s for s in _SLOT.findall(template) if values.values.get(s) is None]
    if missing:
        return UnresolvedContextValue(values.unknown_ref.get(missing[0], missing[0]))
    return template.format(**{k: v for k, v in values.values.items() if v is not None})


def request_for(
    call: ServiceCall, caller: Caller, key_arn: str, deployment: Deployment, values: ContextValues
) -> Request:
    """The request ``call`` makes, with the keys the service sends."""
    context: dict[str, ContextValue] = {}
    if call.caller is CallerKind.VIA_SERVICE:
        # KMS Developer Guide, "kms:ViaService": "<service>.<region>.amazonaws.com"; IAM User Guide,
        # "aws:ViaAWSService": true for requests a service makes with the caller's credentials.
        context["kms:ViaService"] = str(_fill(call.service_host, values))
        context["aws:ViaAWSService"] = "true"
    for name, template in call.context:
        context[f"kms:EncryptionContext:{name}"] = _fill(template, values)
    if call.context:
        # KMS Developer Guide, "kms:EncryptionContextKeys": the keys of the request's context.
        context["kms:EncryptionContextKeys"] = tuple(name for name, _ in call.context)
    if call.source_arn is not None:
        context["aws:SourceArn"] = _fill(call.source_arn, values)
    if call.source_account:
        context["aws:SourceAccount"] = deployment.account
    if call.grant_for_aws_resource:
        # KMS Developer Guide, "kms:GrantIsForAWSResource": true when an integrated service calls
        # CreateGrant on the user's behalf.
        context["kms:GrantIsForAWSResource"] = "true"
        context["kms:GrantOperations"] = UnresolvedContextValue("the operations of the service's grant")
    return Request(call.action, caller, key_arn, deployment.account, context)


@cache
def _identity_allowing(action: str) -> Policy:
    """The identity policy of a principal allowed ``action`` on every key (the deployer's to write)."""
    from kmsguard.load.policy_builder import build_policy

    document = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": action, "Resource": "*"}],
    }
    policy, _ = build_policy(document, PolicyKind.IDENTITY, resource="a user's identity policy")
    assert isinstance(policy, Policy)
    return policy


_IAM_PRINCIPAL = re.compile(r"^arn:[^:]+:iam::(\d{12}):(role|user)/.+$")


def callers_for(
    call: ServiceCall, policy: Policy, deployment: Deployment, values: ContextValues
) -> list[Caller]:
    """Who makes ``call``: the service principal, or principals of the key's account -- one the
    policy does not name (reached by delegation to IAM or a wildcard) and each role or user of that
    account the policy's Allow statements name."""
    if call.caller is CallerKind.SERVICE_PRINCIPAL:
        return [parse_caller(str(_fill(call.service_host, values)))]
    generic = f"arn:{deployment.partition}:iam::{deployment.account}:role/kmsguard-resource-user"
    arns = [generic]
    for stmt in policy.statements:
        if stmt.effect != "Allow" or not isinstance(stmt.principals, tuple):
            continue
        for principal in stmt.principals:
            value = principal.value
            found = _IAM_PRINCIPAL.match(value) if isinstance(value, str) else None
            if principal.type is PrincipalType.AWS and found and found.group(1) == deployment.account:
                arns.append(value)
    return [parse_caller(arn) for arn in dict.fromkeys(arns)]


# -- verdicts ---------------------------------------------------------------------------------


class Verdict(str, Enum):
    ALLOWED = "allowed"
    DENIED = "denied"
    UNRESOLVED = "unresolved"


@dataclass(frozen=True)
class CallResult:
    call: ServiceCall
    verdict: Verdict
    principal: str = ""  # who was refused (for DENIED)
    missing: str = ""  # what is missing: the statement that denied, or that none allows
    depends_on: tuple[str, ...] = ()
    explicit_deny: bool = False  # denied by a Deny statement (no Allow could change that)


# Trace reasons of statements that do not concern the request (the simulator checks the Principal,
# Action and Resource elements before conditions): only a failed condition is worth naming.
_ELEMENT_MISMATCH = ("principal does not match", "action does not match", "resource does not match")


def why_denied(decision: Decision) -> str:
    """The statement that denied, or the statement whose condition did not hold, or AWS's rule."""
    if decision.outcome is Outcome.EXPLICIT_DENY:
        for entry in decision.trace:
            if entry.effect == "Deny" and entry.matched:
                return f"{entry.source} statement {entry.statement} denies it"
    if decision.outcome is Outcome.ERROR:
        return f"KMS answers {decision.error_code}"
    for entry in decision.trace:
        if entry.effect == "Allow" and not entry.matched and entry.source == "key policy":
            reason = entry.reason
            if reason.startswith(_ELEMENT_MISMATCH):
                continue  # a statement for other principals, actions or keys says nothing here
            return f"key policy statement {entry.statement} does not apply ({reason})"
    rule = next((e.reason for e in reversed(decision.trace) if e.source == "rule"), "")
    return rule or "no key policy statement allows it"


def _service_near_miss(policy: Policy, service_principal: str) -> str:
    """A hint when an Allow names the service under another principal name than the one it calls
    as (``logs.amazonaws.com`` for ``logs.<region>.amazonaws.com``)."""
    prefix = service_principal.split(".", 1)[0] + "."
    for stmt in policy.statements:
        if stmt.effect != "Allow" or not isinstance(stmt.principals, tuple):
            continue
        for principal in stmt.principals:
            value = principal.value
            if (
                principal.type is PrincipalType.SERVICE
                and isinstance(value, str)
                and value.startswith(prefix)
                and value != service_principal
            ):
                return f" ({stmt.label} names {value}; the service calls as {service_principal})"
    return ""


def _decide_call(
    call: ServiceCall, policy: Policy, key_arn: str, deployment: Deployment, values: ContextValues
) -> CallResult:
    """Allowed when some caller is allowed; unresolved when none is but one may be; else denied."""
    depends: list[str] = []
    denied: tuple[Caller, Decision] | None = None
    identity = (_identity_allowing(call.action),) if call.caller is CallerKind.VIA_SERVICE else ()
    for caller in callers_for(call, policy, deployment, values):
        request = request_for(call, caller, key_arn, deployment, values)
        decision = decide(AuthzInputs(key_policy=policy, identity_policies=identity), request)
        if decision.outcome is Outcome.ALLOW:
            return CallResult(call, Verdict.ALLOWED)
        if decision.outcome is Outcome.UNRESOLVED:
            depends.extend(decision.depends_on)
        elif denied is None:
            denied = (caller, decision)
    if depends:
        return CallResult(call, Verdict.UNRESOLVED, depends_on=tuple(dict.fromkeys(depends)))
    assert denied is not None
    caller, decision = denied
    missing = why_denied(decision)
    if call.caller is CallerKind.SERVICE_PRINCIPAL:
        principal = caller.arn
        if decision.outcome is Outcome.IMPLICIT_DENY:
            missing += _service_near_miss(policy, caller.arn)
    else:
        principal = "a principal of the key's account"
    explicit = decision.outcome is Outcome.EXPLICIT_DENY
    return CallResult(
        call, Verdict.DENIED, deployment.shown(principal), deployment.shown(missing), explicit_deny=explicit
    )


@dataclass(frozen=True)
class BoundDeployment:
    """One deployment the key may be in, with the key's ARN there and its policy bound to it."""

    deployment: Deployment
    key_arn: str
    policy: Policy


def bound_deployments(
    key: Key, policy: Policy, inventory: Inventory
) -> tuple[list[BoundDeployment], tuple[str, ...]]:
    """``deployments`` with the key's ARN and bound policy in each; and what the choice depends on."""
    found, refs = deployments(key, policy, inventory)
    bound = []
    for deployment in found:
        arn = key_arn_in(key, deployment)
        bound.append(BoundDeployment(deployment, arn, bound_policy(policy, key, arn, inventory, deployment)))
    return bound, refs


def dry_run_call(
    call: ServiceCall,
    model: ServiceModel,
    consumer: KeyConsumer,
    bound: list[BoundDeployment],
    deployment_refs: tuple[str, ...] = (),
) -> CallResult:
    """One call of the consumer's service against the key, over every deployment the key may be in:
    with the resource's stand-in name, then (if that is not allowed) with every name a condition of
    the policy could single out -- if one of those is allowed, the answer depends on the name."""
    results: list[CallResult] = []
    for each in bound:
        deployment, arn, policy = each.deployment, each.key_arn, each.policy
        first = _decide_call(call, policy, arn, deployment, context_values(model, consumer, deployment))
        if first.verdict is Verdict.ALLOWED:
            results.append(first)
            continue
        refs = list(first.depends_on)
        prefix = name_prefix(model, deployment)
        for name in name_candidates(policy, prefix, colons=consumer.service == "s3"):
            values = context_values(model, consumer, deployment, name)
            other = _decide_call(call, policy, arn, deployment, values)
            if other.verdict is not Verdict.DENIED:
                refs = [f"the name of {consumer.address} (not in kmsguard's model)", *refs, *other.depends_on]
                break
        if refs:
            results.append(CallResult(call, Verdict.UNRESOLVED, depends_on=tuple(dict.fromkeys(refs))))
        else:
            # The stand-in name means nothing to a reader: it is shown as what it stands for.
            stand_in = _consumer_names(consumer)[0]
            missing = first.missing.replace(stand_in, f"<{model.resource_kind} name>")
            results.append(replace(first, missing=missing))
    verdicts = {r.verdict for r in results}
    if len(verdicts) == 1 and Verdict.UNRESOLVED not in verdicts:
        return results[0]
    refs = [ref for r in results for ref in r.depends_on]
    if len(verdicts) > 1:
        refs = [*deployment_refs, *refs]
    return CallResult(call, Verdict.UNRESOLVED, depends_on=tuple(dict.fromkeys(refs)) or deployment_refs)


def dry_run(consumer: KeyConsumer, key: Key, policy: Policy, inventory: Inventory) -> list[CallResult]:
    """Every call the consumer's service makes with ``key``, decided against ``policy``."""
    model = service_model(consumer.service)
    if model is None:
        return []
    bound, refs = bound_deployments(key, policy, inventory)
    return [dry_run_call(call, model, consumer, bound, refs) for call in model.calls]


__all__ = [
    "SERVICE_MODELS",
    "STAND_IN_ACCOUNT",
    "STAND_IN_REGION",
    "BoundDeployment",
    "CallResult",
    "CallerKind",
    "ContextValues",
    "Deployment",
    "ServiceCall",
    "ServiceModel",
    "SpecProblem",
    "Verdict",
    "bound_deployments",
    "bound_policy",
    "callers_for",
    "context_values",
    "deployments",
    "dry_run",
    "dry_run_call",
    "key_arn_in",
    "name_candidates",
    "name_prefix",
    "request_for",
    "resource_arn",
    "service_model",
    "spec_problems",
    "stand_in_name",
    "why_denied",
]
