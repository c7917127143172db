"""AWS's errors, raised as botocore would raise them, and the key-state rules of each operation.

Errors are ``botocore.exceptions.ClientError`` -- the modeled KMS exception classes botocore builds
from the service model (so ``except kms.exceptions.NotFoundException`` works as with boto3), and a
plain ``ClientError`` for codes the model does not declare (AccessDeniedException,
ValidationException). A message never contains key material, plaintext or ciphertext: messages are
built only from ARNs, operation names, enum values and sizes.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from botocore.exceptions import ClientError

# HTTP statuses AWS answers with (KMS API Reference, "Common Errors" and each error's page).
_STATUS = {
    "AccessDeniedException": 400,
    "ValidationException": 400,
    "NotFoundException": 400,
    "KMSInternalException": 500,
    "DependencyTimeoutException": 503,
}


@lru_cache(maxsize=1)
def service_model() -> Any:
    """botocore's KMS service model (operations, shapes, enums, errors), loaded once."""
    from botocore.loaders import Loader
    from botocore.model import ServiceModel

    return ServiceModel(Loader().load_service_model("kms", "service-2"), service_name="kms")


@lru_cache(maxsize=1)
def exception_classes() -> Any:
    """The ``client.exceptions`` object boto3 gives a KMS client."""
    from botocore.errorfactory import ClientExceptionsFactory

    return ClientExceptionsFactory().create_client_exceptions(service_model())


def kms_error(code: str, message: str, operation: str) -> ClientError:
    response: dict[str, Any] = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": _STATUS.get(code, 400)},
    }
    error_class = exceptions_from_code(code)
    return error_class(response, operation)


def exceptions_from_code(code: str) -> type[ClientError]:
    try:
        return exception_classes().from_code(code)  # type: ignore[no-any-return]
    except Exception:  # an unmodeled code: botocore falls back to ClientError too
        return ClientError


# -- messages whose wording AWS documents --------------------------------------------------------------
# KMS Developer Guide, "Key states of AWS KMS keys", table details [1]-[5], [11].

DISABLED = "{arn} is disabled."
PENDING_DELETION = "{arn} is pending deletion."
NOT_PENDING_DELETION = "{arn} is not pending deletion."
PENDING_IMPORT = "{arn} is pending import."
# kmsguard's wording (the Developer Guide documents the state, not the message).
PENDING_REPLICA_DELETION = "{arn} is pending replica deletion."
UNAVAILABLE = "{arn} is unavailable."
# Observed wording (hashicorp/terraform-provider-aws#30272 and many others): "Key '<arn>' does not
# exist"; for aliases "Alias <alias ARN> is not found."
KEY_NOT_FOUND = "Key '{arn}' does not exist"
ALIAS_NOT_FOUND = "Alias {arn} is not found."


# -- which key states each operation accepts ---------------------------------------------------------
# KMS Developer Guide, "Key states of AWS KMS keys", "Key state table". For each operation: the
# error for each state it rejects. "[2] or [3]" (cryptographic operations on a key pending deletion)
# is answered with [3], KMSInvalidStateException, the code the API Reference lists for an
# incompatible key state; DisabledException is kept for Disabled ([1]).

_CRYPTO = {
    "Disabled": ("DisabledException", DISABLED),
    "PendingDeletion": ("KMSInvalidStateException", PENDING_DELETION),
    "PendingImport": ("KMSInvalidStateException", PENDING_IMPORT),
    "Unavailable": ("KMSInvalidStateException", UNAVAILABLE),
}
_MANAGE = {
    "PendingDeletion": ("KMSInvalidStateException", PENDING_DELETION),
}
_ROTATION = {
    "Disabled": ("DisabledException", DISABLED),
    "PendingDeletion": ("KMSInvalidStateException", PENDING_DELETION),
}
_ALWAYS: dict[str, tuple[str, str]] = {}

STATE_RULES: dict[str, dict[str, tuple[str, str]]] = {
    **{
        operation: _CRYPTO
        for operation in (
            "Encrypt",
            "Decrypt",
            "ReEncrypt",
            "GenerateDataKey",
            "GenerateDataKeyWithoutPlaintext",
            "GenerateDataKeyPair",
            "GenerateDataKeyPairWithoutPlaintext",
            "Sign",
            "Verify",
            "GenerateMac",
            "VerifyMac",
            "GetPublicKey",
            "CreateGrant",
            "DeriveSharedSecret",
        )
    },
    "CancelKeyDeletion": {
        state: ("KMSInvalidStateException", NOT_PENDING_DELETION)
        for state in ("Enabled", "Disabled", "PendingImport", "Unavailable")
    },
    "ScheduleKeyDeletion": _MANAGE,
    "EnableKey": {**_MANAGE, "PendingImport": ("KMSInvalidStateException", PENDING_IMPORT)},
    "DisableKey": {**_MANAGE, "PendingImport": ("KMSInvalidStateException", PENDING_IMPORT)},
    "EnableKeyRotation": _ROTATION,
    "DisableKeyRotation": _ROTATION,
    "RotateKeyOnDemand": _ROTATION,
    "CreateAlias": _MANAGE,
    "UpdateKeyDescription": _MANAGE,
    "TagResource": _MANAGE,
    "UntagResource": _MANAGE,
    "GetParametersForImport": _MANAGE,
    "ImportKeyMaterial": _MANAGE,
    "ReplicateKey": _MANAGE,
    "UpdatePrimaryRegion": _MANAGE,
    **{
        operation: _ALWAYS
        for operation in (
            "DescribeKey",
            "GetKeyPolicy",
            "PutKeyPolicy",
            "GetKeyRotationStatus",
            "ListKeyRotations",
            "ListAliases",
            "DeleteAlias",
            "ListGrants",
            "RetireGrant",
            "RevokeGrant",
            "ListResourceTags",
            "ListKeyPolicies",
            # "DeleteImportedKeyMaterial": "When the specified KMS key is in the PendingDeletion
            # state, this operation does not change the KMS key's state" -- it is allowed.
            "DeleteImportedKeyMaterial",
        )
    },
}


# KMS Developer Guide, "Deleting multi-Region keys" and KMS API Reference, "ScheduleKeyDeletion": a
# multi-Region primary key scheduled for deletion while it has replicas is PendingReplicaDeletion
# and "cannot be replicated or used in cryptographic operations" -- kmsguard applies the rules of
# PendingDeletion to it (CancelKeyDeletion allowed, everything PendingDeletion refuses refused).
STATE_RULES = {
    operation: (
        {**rules, "PendingReplicaDeletion": (rules["PendingDeletion"][0], PENDING_REPLICA_DELETION)}
        if "PendingDeletion" in rules
        else rules
    )
    for operation, rules in STATE_RULES.items()
}


def state_error(operation: str, state: str) -> tuple[str, str] | None:
    """(error code, message template) when ``operation`` is not allowed in key state ``state``."""
    return STATE_RULES.get(operation, _ALWAYS).get(state)
