"""AWS access for the audit, read-only by construction.

Every client the audit uses is made by ``AuditSession.client``, which registers a botocore
``before-parameter-build`` hook on it. The hook runs before a request is even built, and refuses
every operation that is not on ``READ_ONLY_OPERATIONS`` -- so a bug in the collector, or a future
change that calls a write, fails in testing instead of changing an account. botocore's adaptive
retry mode handles throttling (botocore "Retries" guide: ``mode="adaptive"`` adds client-side rate
limiting on top of the standard retry policy).

boto3 is imported only when a session is made: ``kmsguard check`` never imports it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

# The only operations the audit may call, by botocore service name. Each is a List*, Get* or
# Describe* operation; a test checks that no other verb slips in. GetSecretValue, Decrypt,
# GetParametersForImport and other calls that return secrets are deliberately absent.
READ_ONLY_OPERATIONS: Mapping[str, frozenset[str]] = {
    "sts": frozenset({"GetCallerIdentity"}),
    "ec2": frozenset(
        {"DescribeRegions", "GetEbsEncryptionByDefault", "GetEbsDefaultKmsKeyId", "DescribeVolumes"}
    ),
    "account": frozenset({"ListRegions"}),
    "kms": frozenset(
        {
            "ListKeys",
            "DescribeKey",
            "GetKeyPolicy",
            "GetKeyRotationStatus",
            "ListKeyRotations",
            "ListGrants",
            "ListResourceTags",
            "GetPublicKey",
            "ListAliases",
        }
    ),
    "iam": frozenset({"GetAccountAuthorizationDetails"}),
    "organizations": frozenset(
        {
            "DescribeOrganization",
            "ListAccounts",
            "ListParents",
            "ListPolicies",
            "ListPoliciesForTarget",
            "DescribePolicy",
        }
    ),
    "s3": frozenset({"ListBuckets", "GetBucketEncryption"}),
    "sqs": frozenset({"ListQueues", "GetQueueAttributes"}),
    "sns": frozenset({"ListTopics", "GetTopicAttributes"}),
    "logs": frozenset({"DescribeLogGroups"}),
    "secretsmanager": frozenset({"ListSecrets"}),
    "rds": frozenset({"DescribeDBInstances", "DescribeDBClusters"}),
    "cloudtrail": frozenset({"DescribeTrails"}),
    "dynamodb": frozenset({"ListTables", "DescribeTable"}),
    # ListFunctions also returns environment variable values: the collector keeps only the key ARN.
    "lambda": frozenset({"ListFunctions"}),
    "efs": frozenset({"DescribeFileSystems"}),
}
READ_ONLY_VERBS = ("List", "Get", "Describe")

# The one operation outside the allow-list the audit ever sends: sts:AssumeRole, to read member
# accounts with ``--role-name``. It changes nothing in any account (it returns temporary
# credentials). It is not on READ_ONLY_OPERATIONS: no client ``AuditSession.client`` makes can
# send it. Only ``AuditSession.assume_role`` sends it, through a client of its own that may send
# nothing else; a test checks that only the account fan-out (kmsguard/audit/accounts.py) calls it.
ASSUME_ROLE = ("sts", "AssumeRole")
# Temporary credentials last this long (AWS STS API Reference, "AssumeRole": DurationSeconds,
# default 3600, at most the role's maximum session duration). One account's collection must fit.
ASSUME_ROLE_SECONDS = 3600

# Throttling is retried with client-side rate limiting; 10 attempts ride out bursts on large
# accounts without hiding an endpoint that is down.
RETRY_MAX_ATTEMPTS = 10

# Error codes that mean "the caller may not read this", as opposed to a broken request.
ACCESS_DENIED_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "AuthorizationError",
        "AuthorizationErrorException",
        "UnrecognizedClientException",
    }
)


class ReadOnlyViolation(RuntimeError):
    """An operation outside the audit's allow-list was about to be sent."""

    def __init__(self, service: str, operation: str) -> None:
        super().__init__(
            f"kmsguard audit is read-only: {service}:{operation} is not on its allow-list and was not sent"
        )
        self.service = service
        self.operation = operation


def is_allowed(service: str, operation: str) -> bool:
    return operation in READ_ONLY_OPERATIONS.get(service, frozenset())


def _refuse_unlisted(model: Any, **_: Any) -> None:
    """botocore ``before-parameter-build`` handler: the first event of every call."""
    service = model.service_model.service_name
    if not is_allowed(service, model.name):
        raise ReadOnlyViolation(service, model.name)


def _refuse_all_but_assume_role(model: Any, **_: Any) -> None:
    """The handler of the credentials client: it may send sts:AssumeRole and nothing else."""
    service = model.service_model.service_name
    if (service, model.name) != ASSUME_ROLE:
        raise ReadOnlyViolation(service, model.name)


@dataclass(frozen=True)
class CallError:
    """A call that failed: its error code and message, as AWS sent them."""

    code: str
    message: str

    @property
    def is_access_denied(self) -> bool:
        return self.code in ACCESS_DENIED_CODES or "AccessDenied" in self.code


class AuditSession:
    """Makes read-only clients for one set of credentials (a profile, the environment, or the
    temporary credentials of a role assumed in a member account).

    boto3 clients are thread-safe but sessions are not (boto3 guide, "Multithreading or
    multiprocessing with clients"): clients are made under a lock, then shared by the threads
    that read the account's Regions."""

    def __init__(
        self,
        profile: str | None = None,
        *,
        endpoint_url: str | None = None,
        session: Any = None,
    ) -> None:
        import threading

        import boto3  # only when auditing
        from botocore.config import Config

        self._session = session if session is not None else boto3.Session(profile_name=profile)
        self._endpoint_url = endpoint_url
        self._config = Config(
            retries={"mode": "adaptive", "max_attempts": RETRY_MAX_ATTEMPTS},
            user_agent_extra="kmsguard-audit",
        )
        self._clients: dict[tuple[str, str | None], Any] = {}
        self._lock = threading.Lock()
        self._credentials_client: Any = None  # the sts client of assume_role, made on first use
        # Operations sent (pages counted one by one), by Region (None: global endpoints), for the
        # progress line, the summary table and benchmarks.
        self.calls_by_region: dict[str | None, int] = {}

    @property
    def calls(self) -> int:
        with self._lock:
            return sum(self.calls_by_region.values())

    def client(self, service: str, region: str | None = None) -> Any:
        if service not in READ_ONLY_OPERATIONS:
            raise ReadOnlyViolation(service, "*")
        cache_key = (service, region)
        with self._lock:
            if cache_key not in self._clients:
                client = self._session.client(
                    service, region_name=region, endpoint_url=self._endpoint_url, config=self._config
                )
                client.meta.events.register("before-parameter-build.*.*", _refuse_unlisted)
                client.meta.events.register("before-call.*.*", self._counter(service, region))
                self._clients[cache_key] = client
            return self._clients[cache_key]

    def _counter(self, service: str, region: str | None) -> Any:
        # IAM, Organizations, S3 listings and STS are global: counted once per account, not per Region.
        where = None if service in GLOBAL_SERVICES else region

        def count(**_: Any) -> None:
            with self._lock:
                self.calls_by_region[where] = self.calls_by_region.get(where, 0) + 1

        return count

    def assume_role(self, role_arn: str, session_name: str = "kmsguard-audit") -> AuditSession:
        """A session with the temporary credentials of ``role_arn`` (sts:AssumeRole). The call
        goes through a client of its own whose hook refuses every other operation; the session
        returned makes read-only clients like this one."""
        import boto3

        with self._lock:
            if self._credentials_client is None:
                sts = self._session.client(
                    "sts", endpoint_url=self._endpoint_url, config=self._config, region_name="us-east-1"
                )
                sts.meta.events.register("before-parameter-build.*.*", _refuse_all_but_assume_role)
                sts.meta.events.register("before-call.*.*", self._counter("sts", None))
                self._credentials_client = sts
            sts = self._credentials_client
        answer = sts.assume_role(
            RoleArn=role_arn, RoleSessionName=session_name, DurationSeconds=ASSUME_ROLE_SECONDS
        )
        credentials = answer["Credentials"]
        member = boto3.Session(
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
        )
        return AuditSession(endpoint_url=self._endpoint_url, session=member)


# Services whose calls are counted as global (not per Region) in the summary.
GLOBAL_SERVICES = frozenset({"sts", "iam", "organizations", "s3", "account"})


def operation_method(operation: str) -> str:
    """boto3's method name for an operation: ``GetKeyPolicy`` -> ``get_key_policy``,
    ``DescribeDBInstances`` -> ``describe_db_instances`` (botocore's own rule for acronyms)."""
    from botocore import xform_name

    return str(xform_name(operation))


def call(client: Any, operation: str, **params: Any) -> dict[str, Any]:
    """One call, by operation name (the allow-list's spelling)."""
    return getattr(client, operation_method(operation))(**params)


def pages(client: Any, operation: str, **params: Any) -> Iterator[dict[str, Any]]:
    """Every page of a listing: botocore's paginator where the service model has one."""
    method = operation_method(operation)
    if client.can_paginate(method):
        yield from client.get_paginator(method).paginate(**params)
    else:
        yield call(client, operation, **params)


def call_error(err: Exception) -> CallError | None:
    """The AWS error of a failed call, or None when ``err`` is not an AWS error response."""
    response = getattr(err, "response", None)
    if not isinstance(response, dict):
        return None
    error = response.get("Error") or {}
    return CallError(str(error.get("Code", "Unknown")), str(error.get("Message", "")))
