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
    "ec2": frozenset({"DescribeRegions"}),
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
    "organizations": frozenset({"DescribeOrganization", "ListPolicies", "DescribePolicy"}),
    "s3": frozenset({"ListBuckets", "GetBucketEncryption"}),
    "sqs": frozenset({"ListQueues", "GetQueueAttributes"}),
    "sns": frozenset({"ListTopics", "GetTopicAttributes"}),
    "logs": frozenset({"DescribeLogGroups"}),
    "secretsmanager": frozenset({"ListSecrets"}),
}
READ_ONLY_VERBS = ("List", "Get", "Describe")

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


@dataclass(frozen=True)
class CallError:
    """A call that failed: its error code and message, as AWS sent them."""

    code: str
    message: str

    @property
    def is_access_denied(self) -> bool:
        return self.code in ACCESS_DENIED_CODES or "AccessDenied" in self.code


class AuditSession:
    """Makes read-only clients for one set of credentials (a profile, or the environment)."""

    def __init__(
        self,
        profile: str | None = None,
        *,
        endpoint_url: str | None = None,
        session: Any = None,
    ) -> None:
        import boto3  # only when auditing
        from botocore.config import Config

        self._session = session if session is not None else boto3.Session(profile_name=profile)
        self._endpoint_url = endpoint_url
        self._config = Config(
            retries={"mode": "adaptive", "max_attempts": RETRY_MAX_ATTEMPTS},
            user_agent_extra="kmsguard-audit",
        )
        self._clients: dict[tuple[str, str | None], Any] = {}
        self.calls = 0  # operations sent (pages counted one by one), for progress and benchmarks

    def client(self, service: str, region: str | None = None) -> Any:
        if service not in READ_ONLY_OPERATIONS:
            raise ReadOnlyViolation(service, "*")
        cache_key = (service, region)
        if cache_key not in self._clients:
            client = self._session.client(
                service, region_name=region, endpoint_url=self._endpoint_url, config=self._config
            )
            client.meta.events.register("before-parameter-build.*.*", _refuse_unlisted)
            client.meta.events.register("before-call.*.*", self._count)
            self._clients[cache_key] = client
        return self._clients[cache_key]

    def _count(self, **_: Any) -> None:
        self.calls += 1


def operation_method(operation: str) -> str:
    """boto3's method name for an operation: ``GetKeyPolicy`` -> ``get_key_policy``."""
    import re

    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", operation).lower()


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
