"""Disagreements with iam-simulate that are understood: each one a filter over (case, kmsguard's
label, iam-simulate's label), with the AWS documentation that shows which side is right.

KNOWN_DIFFERENCES.md explains each category for people; this module is what the differential test
applies. A filter matches only the exact shape of its difference (who the caller is, which
operation, which side allows), so that a new bug does not hide behind an old explanation. Filters
read only the case (never kmsguard's trace): whether a grant applies, whether an operation works
across accounts... are decided here again from the documentation, independently of kmsguard.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

Case = Mapping[str, Any]

# KMS Developer Guide, "Allowing users in other accounts to use a KMS key": "Cross-account
# permissions are effective only for the following operations" (and each operation's "Cross-account
# use: Yes" in the KMS API Reference).
CROSS_ACCOUNT_OPERATIONS = frozenset(
    name.lower()
    for name in (
        "CreateGrant",
        "Decrypt",
        "DeriveSharedSecret",
        "DescribeKey",
        "Encrypt",
        "GenerateDataKey",
        "GenerateDataKeyPair",
        "GenerateDataKeyPairWithoutPlaintext",
        "GenerateDataKeyWithoutPlaintext",
        "GenerateMac",
        "GetKeyRotationStatus",
        "GetPublicKey",
        "ListGrants",
        "ReEncryptFrom",
        "ReEncryptTo",
        "RetireGrant",
        "RevokeGrant",
        "Sign",
        "Verify",
        "VerifyMac",
    )
)


@dataclass(frozen=True)
class KnownDifference:
    """One understood kind of disagreement. ``kmsguard`` and ``peer`` are the labels each side
    gives ("Allow", "ExplicitDeny", "ImplicitDeny", "Error:<code>"); ``applies`` decides."""

    category: str
    right_side: str  # "kmsguard" or "iam-simulate"
    source: str  # the AWS documentation (page, section) that decides
    applies: Callable[[Case, str, str], bool]


def _action(case: Case) -> str:
    return str(case["request"]["action"]).split(":", 1)[-1].lower()


def _principal(case: Case) -> str:
    return str(case["request"]["principal"])


def _account(principal: str) -> str | None:
    parts = principal.split(":")
    return parts[4] if len(parts) >= 6 and parts[0] == "arn" else None


def _is_root(principal: str) -> bool:
    return principal.startswith("arn:") and principal.endswith(":root") and ":iam::" in principal


def _encryption_context(case: Case) -> dict[str, str]:
    """The request's encryption context, from its kms:EncryptionContext:<k> keys (key as written)."""
    prefix = "kms:encryptioncontext:"
    return {
        key[len(prefix) :]: value
        for key, value in case["request"].get("context", {}).items()
        if key.lower().startswith(prefix) and isinstance(value, str)
    }


def _role_of_session(principal: str) -> str | None:
    if ":assumed-role/" not in principal:
        return None
    prefix, _, resource = principal.partition(":assumed-role/")
    parts = prefix.split(":")
    return f"arn:{parts[1]}:iam::{parts[4]}:role/{resource.split('/')[0]}"


def grant_allows(case: Case) -> bool:
    """Some grant of the case allows this request.

    KMS Developer Guide, "Grants in AWS KMS": the grantee principal may use the grant's operations;
    "Grant constraints": EncryptionContextEquals needs the request's encryption context to be
    exactly the constraint's, EncryptionContextSubset needs it to include every pair of the
    constraint; both "case-sensitive"."""
    principal = _principal(case)
    callers = {principal, _role_of_session(principal)}
    context = _encryption_context(case)
    for grant in case.get("grants") or ():
        if grant.get("grantee_principal") not in callers:
            continue
        if _action(case) not in {str(op).lower() for op in grant.get("operations", ())}:
            continue
        constraints = grant.get("constraints") or {}
        equals = constraints.get("EncryptionContextEquals")
        subset = constraints.get("EncryptionContextSubset")
        if equals is not None and context != equals:
            continue
        if subset is not None and any(context.get(key) != value for key, value in subset.items()):
            continue
        return True
    return False


def _grant_gap(case: Case, kmsguard: str, peer: str) -> bool:
    return kmsguard == "Allow" and peer == "ImplicitDeny" and grant_allows(case)


def _root_user_gap(case: Case, kmsguard: str, peer: str) -> bool:
    principal = _principal(case)
    if not (kmsguard == "Allow" and peer == "ImplicitDeny" and _is_root(principal)):
        return False
    same_account = _account(principal) == case["request"]["resource_account"]
    return same_account or _action(case) in CROSS_ACCOUNT_OPERATIONS


def _has_wildcard_allow(policy: Mapping[str, Any] | None) -> bool:
    statements = (policy or {}).get("Statement", [])
    for statement in [statements] if isinstance(statements, dict) else statements:
        principal = statement.get("Principal")
        aws = principal.get("AWS") if isinstance(principal, dict) else principal
        names = aws if isinstance(aws, list) else [aws]
        if statement.get("Effect") == "Allow" and "*" in names:
            return True
    return False


def _boundary_wildcard_gap(case: Case, kmsguard: str, peer: str) -> bool:
    principal = _principal(case)
    role_identity = ":role/" in principal or ":assumed-role/" in principal
    same_account = _account(principal) == case["request"]["resource_account"]
    return (
        kmsguard == "ImplicitDeny"
        and peer == "Allow"
        and role_identity
        and same_account
        and case.get("permission_boundary") is not None
        and _has_wildcard_allow(case.get("key_policy"))
    )


def _anonymous_gap(case: Case, kmsguard: str, peer: str) -> bool:
    principal = _principal(case)
    return (
        principal in ("*", "anonymous", "")
        and kmsguard == "Error:MissingAuthenticationToken"
        and peer == "Allow"
    )


def _cross_account_operation_gap(case: Case, kmsguard: str, peer: str) -> bool:
    principal = _principal(case)
    account = _account(principal)
    cross_account = account is not None and account != case["request"]["resource_account"]
    return (
        cross_account
        and _action(case) not in CROSS_ACCOUNT_OPERATIONS
        and peer == "Allow"
        and kmsguard != "Allow"
    )


KNOWN_DIFFERENCES: tuple[KnownDifference, ...] = (
    KnownDifference(
        category="grants",
        right_side="kmsguard",
        source='KMS Developer Guide, "Grants in AWS KMS" and "Grant constraints": a grant allows its '
        "grantee its operations, alongside the key policy; iam-simulate has no grants",
        applies=_grant_gap,
    ),
    KnownDifference(
        category="root-user",
        right_side="kmsguard",
        source='KMS Developer Guide, "Default key policy", "Allows access to the AWS account and enables '
        'IAM policies": the statement "gives the AWS account that owns the KMS key full access"; IAM '
        'User Guide, "AWS account root user": the root user has complete access to the resources of '
        "its account without any IAM policy, so a key policy that trusts an account (its own, or "
        "another for a cross-account operation) lets that account's root user in. iam-simulate "
        "treats the root user as an identity with no identity policies",
        applies=_root_user_gap,
    ),
    KnownDifference(
        category="cross-account-operation",
        right_side="kmsguard",
        source='KMS Developer Guide, "Allowing users in other accounts to use a KMS key": cross-account '
        "permissions are effective only for the listed operations (KMS API Reference, "
        '"Cross-account use" of each operation); iam-simulate allows any operation',
        applies=_cross_account_operation_gap,
    ),
    KnownDifference(
        category="anonymous-caller",
        right_side="kmsguard",
        source='KMS API Reference, "Welcome", "Signing requests": every KMS request must be signed with '
        'Signature Version 4, so an unsigned (anonymous) caller is rejected ("Common Errors": '
        'MissingAuthenticationToken) before any policy is read; iam-simulate lets "Principal": "*" '
        "allow it",
        applies=_anonymous_gap,
    ),
    KnownDifference(
        category="boundary-wildcard-principal",
        right_side="undetermined (AWS documentation is silent; kmsguard's reading is the stricter one)",
        source='IAM User Guide, "Permissions boundaries for IAM entities", "Evaluating effective '
        'permissions with boundaries", "Resource-based policies": an implicit deny in a boundary does '
        "not limit a resource-based policy that names the assumed-role session ARN (or the IAM user "
        'ARN), and does limit one that names the role ARN; the page says nothing of Principal "*". '
        'kmsguard treats "*" like the role ARN (the boundary limits it); iam-simulate treats it like '
        "the session ARN (it bypasses the boundary). Role-ARN vs session-ARN behaviour confirmed "
        "experimentally in github.com/benkehoe/permissions-boundary-test",
        applies=_boundary_wildcard_gap,
    ),
)


def explain(case: Case, kmsguard: str, peer: str) -> KnownDifference | None:
    """The known difference that explains this disagreement, or None (a failure to look at)."""
    for difference in KNOWN_DIFFERENCES:
        if difference.applies(case, kmsguard, peer):
            return difference
    return None
