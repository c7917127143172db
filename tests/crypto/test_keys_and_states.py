"""CreateKey, key specs, key states, deletion and rotation through LocalKMS."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError, ParamValidationError

from kmsguard.crypto import LocalKMS
from kmsguard.crypto.errors import service_model

from .conftest import ACCOUNT, error_code, error_message

# source: KMS Developer Guide, "Key spec reference"; KMS API Reference, "CreateKey", KeyUsage.
SPEC_USAGES = [
    ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", {"EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"]}),
    ("RSA_2048", "ENCRYPT_DECRYPT", {"EncryptionAlgorithms": ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]}),
    (
        "RSA_2048",
        "SIGN_VERIFY",
        {
            "SigningAlgorithms": [
                "RSASSA_PSS_SHA_256",
                "RSASSA_PSS_SHA_384",
                "RSASSA_PSS_SHA_512",
                "RSASSA_PKCS1_V1_5_SHA_256",
                "RSASSA_PKCS1_V1_5_SHA_384",
                "RSASSA_PKCS1_V1_5_SHA_512",
            ]
        },
    ),
    ("ECC_NIST_P256", "SIGN_VERIFY", {"SigningAlgorithms": ["ECDSA_SHA_256"]}),
    ("ECC_NIST_P384", "SIGN_VERIFY", {"SigningAlgorithms": ["ECDSA_SHA_384"]}),
    ("ECC_NIST_P521", "SIGN_VERIFY", {"SigningAlgorithms": ["ECDSA_SHA_512"]}),
    ("ECC_NIST_P256", "KEY_AGREEMENT", {"KeyAgreementAlgorithms": ["ECDH"]}),
    ("ECC_SECG_P256K1", "SIGN_VERIFY", {"SigningAlgorithms": ["ECDSA_SHA_256"]}),
    ("HMAC_224", "GENERATE_VERIFY_MAC", {"MacAlgorithms": ["HMAC_SHA_224"]}),
    ("HMAC_512", "GENERATE_VERIFY_MAC", {"MacAlgorithms": ["HMAC_SHA_512"]}),
]


@pytest.mark.parametrize(("spec", "usage", "algorithms"), SPEC_USAGES)
def test_create_key_reports_spec_usage_and_algorithms(kms, spec, usage, algorithms):
    metadata = kms.create_key(KeySpec=spec, KeyUsage=usage)["KeyMetadata"]
    assert (metadata["KeySpec"], metadata["KeyUsage"], metadata["KeyState"]) == (spec, usage, "Enabled")
    for field_name, expected in algorithms.items():
        assert metadata[field_name] == expected
    assert metadata["Arn"] == f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{metadata['KeyId']}"
    assert metadata["Enabled"] is True and metadata["KeyManager"] == "CUSTOMER"


@pytest.mark.parametrize(
    ("spec", "usage"),
    [
        ("HMAC_256", "ENCRYPT_DECRYPT"),  # "For HMAC KMS keys (symmetric), specify GENERATE_VERIFY_MAC"
        ("ECC_SECG_P256K1", "KEY_AGREEMENT"),  # "For ... ECC_SECG_P256K1 key pairs, specify SIGN_VERIFY"
        ("SYMMETRIC_DEFAULT", "SIGN_VERIFY"),
        ("ECC_NIST_P384", "ENCRYPT_DECRYPT"),
    ],
)
def test_create_key_rejects_usage_the_spec_does_not_allow(kms, spec, usage):
    # source: KMS API Reference, "CreateKey", KeyUsage.
    with pytest.raises(ClientError) as excinfo:
        kms.create_key(KeySpec=spec, KeyUsage=usage)
    assert error_code(excinfo) == "ValidationException"


def test_key_specs_not_emulated_are_rejected_not_faked(kms):
    # SM2 is a valid KeySpec only in China Regions (KMS Developer Guide, "Key spec reference").
    # ML-DSA is emulated since the second increment (test_new_key_specs.py).
    for spec in ("SM2", "ML_KEM_768"):
        with pytest.raises(ClientError) as excinfo:
            kms.create_key(KeySpec=spec, KeyUsage="SIGN_VERIFY")
        assert error_code(excinfo) == "UnsupportedOperationException"
        assert spec in error_message(excinfo)


def test_unknown_key_spec_is_a_validation_error_listing_botocores_enum(kms):
    with pytest.raises(ClientError) as excinfo:
        kms.create_key(KeySpec="AES_512")
    assert error_code(excinfo) == "ValidationException"
    enum = service_model().shape_for("KeySpec").enum
    assert f"[{', '.join(enum)}]" in error_message(excinfo)


def test_every_name_in_the_spec_table_is_botocores():
    from kmsguard.crypto.specs import KEY_SPECS, NOT_EMULATED

    model = service_model()
    spec_enum = set(model.shape_for("KeySpec").enum)
    assert set(KEY_SPECS) | set(NOT_EMULATED) == spec_enum
    for info in KEY_SPECS.values():
        assert set(info.usages) <= set(model.shape_for("KeyUsageType").enum)
        assert set(info.encryption_algorithms) <= set(model.shape_for("EncryptionAlgorithmSpec").enum)
        assert set(info.signing_algorithms) <= set(model.shape_for("SigningAlgorithmSpec").enum)
        assert set(info.mac_algorithms) <= set(model.shape_for("MacAlgorithmSpec").enum)


def test_default_key_policy(kms):
    # source: KMS Developer Guide, "Default key policy" (the statement that "allows access to the
    # AWS account and enables IAM policies").
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    response = kms.get_key_policy(KeyId=key_id, PolicyName="default")
    document = json.loads(response["Policy"])
    assert document["Id"] == "key-default-1"
    assert document["Statement"] == [
        {
            "Sid": "Enable IAM User Permissions",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": "kms:*",
            "Resource": "*",
        }
    ]


def test_unknown_key_and_alias_are_not_found(kms):
    missing = "1234abcd-12ab-34cd-56ef-1234567890ab"
    with pytest.raises(kms.exceptions.NotFoundException) as excinfo:
        kms.describe_key(KeyId=missing)
    assert error_message(excinfo) == f"Key 'arn:aws:kms:us-east-1:{ACCOUNT}:key/{missing}' does not exist"
    with pytest.raises(ClientError) as excinfo:
        kms.encrypt(KeyId="alias/nothing", Plaintext=b"x")
    assert error_code(excinfo) == "NotFoundException"


def test_unknown_parameter_is_rejected_client_side_like_boto3(kms):
    with pytest.raises(ParamValidationError):
        kms.create_key(KeySpecification="RSA_2048")


# -- key states ---------------------------------------------------------------------------------
# source: KMS Developer Guide, "Key states of AWS KMS keys", key state table and its details:
# [1] DisabledException: <key ARN> is disabled. [3] KMSInvalidStateException: <key ARN> is pending
# deletion. [4] KMSInvalidStateException: <key ARN> is not pending deletion.


def test_disabled_key_refuses_cryptographic_operations(kms):
    key = kms.create_key()["KeyMetadata"]
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"secret")["CiphertextBlob"]
    kms.disable_key(KeyId=key["KeyId"])
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "Disabled"
    for call in (
        lambda: kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x"),
        lambda: kms.decrypt(CiphertextBlob=blob),
        lambda: kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256"),
    ):
        with pytest.raises(kms.exceptions.DisabledException) as excinfo:
            call()
        assert error_message(excinfo) == f"{key['Arn']} is disabled."
    kms.enable_key(KeyId=key["KeyId"])
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"secret"


def test_pending_deletion_and_cancel(kms):
    key = kms.create_key()["KeyMetadata"]
    response = kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    assert response["KeyState"] == "PendingDeletion" and response["PendingWindowInDays"] == 7
    for call in (
        lambda: kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x"),
        lambda: kms.enable_key(KeyId=key["KeyId"]),
        lambda: kms.schedule_key_deletion(KeyId=key["KeyId"]),
    ):
        with pytest.raises(kms.exceptions.KMSInvalidStateException) as excinfo:
            call()
        assert error_message(excinfo) == f"{key['Arn']} is pending deletion."
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["DeletionDate"] is not None
    kms.cancel_key_deletion(KeyId=key["KeyId"])
    # source: KMS Developer Guide, "Deleting AWS KMS keys": canceling leaves the key Disabled.
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "Disabled"
    with pytest.raises(kms.exceptions.KMSInvalidStateException) as excinfo:
        kms.cancel_key_deletion(KeyId=key["KeyId"])
    assert error_message(excinfo) == f"{key['Arn']} is not pending deletion."


@pytest.mark.parametrize("days", [6, 31])
def test_deletion_window_is_7_to_30_days(kms, days):
    # source: KMS API Reference, "ScheduleKeyDeletion", PendingWindowInDays: "between 7 and 30".
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    with pytest.raises(ClientError) as excinfo:
        kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=days)
    assert error_code(excinfo) == "ValidationException"
    assert "pendingWindowInDays" in error_message(excinfo)


def test_key_is_deleted_when_the_window_ends(kms, clock):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/doomed", TargetKeyId=key_id)
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    clock.advance(6.9)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingDeletion"
    clock.advance(0.2)
    with pytest.raises(kms.exceptions.NotFoundException):
        kms.describe_key(KeyId=key_id)
    assert kms.list_aliases()["Aliases"] == []


# -- rotation -----------------------------------------------------------------------------------


def test_on_demand_rotation_keeps_old_ciphertexts_decryptable(kms):
    # source: KMS Developer Guide, "Rotating AWS KMS keys": rotation keeps all previous key material
    # so ciphertexts encrypted under it still decrypt; new encryptions use the new material.
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    old = kms.encrypt(KeyId=key_id, Plaintext=b"before")["CiphertextBlob"]
    first_material = kms.decrypt(CiphertextBlob=old)["KeyMaterialId"]
    kms.rotate_key_on_demand(KeyId=key_id)
    new = kms.encrypt(KeyId=key_id, Plaintext=b"after")["CiphertextBlob"]
    new_result = kms.decrypt(CiphertextBlob=new)
    assert new_result["KeyMaterialId"] != first_material
    assert kms.decrypt(CiphertextBlob=old)["Plaintext"] == b"before"
    assert (
        kms.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"] == new_result["KeyMaterialId"]
    )
    rotations = kms.list_key_rotations(KeyId=key_id)["Rotations"]
    assert [r["RotationType"] for r in rotations] == ["ON_DEMAND"]


def test_automatic_rotation_follows_the_clock(kms, clock):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    old = kms.encrypt(KeyId=key_id, Plaintext=b"v1")["CiphertextBlob"]
    kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=90)
    status = kms.get_key_rotation_status(KeyId=key_id)
    assert status["KeyRotationEnabled"] is True and status["RotationPeriodInDays"] == 90
    clock.advance(181)
    rotations = kms.list_key_rotations(KeyId=key_id)["Rotations"]
    assert [r["RotationType"] for r in rotations] == ["AUTOMATIC", "AUTOMATIC"]
    assert kms.decrypt(CiphertextBlob=old)["Plaintext"] == b"v1"
    kms.disable_key_rotation(KeyId=key_id)
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is False


def test_rotation_status_while_disabled_or_pending_deletion(kms):
    # source: KMS API Reference, "GetKeyRotationStatus": "Disabled: The key rotation status does not
    # change when you disable a KMS key"; "Pending deletion: While a KMS key is pending deletion, its
    # key rotation status is false ... If you cancel the deletion, the original key rotation status
    # returns to true."
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=180)
    kms.disable_key(KeyId=key_id)
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is True
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    pending = kms.get_key_rotation_status(KeyId=key_id)
    assert pending["KeyRotationEnabled"] is False and "RotationPeriodInDays" not in pending
    kms.cancel_key_deletion(KeyId=key_id)
    restored = kms.get_key_rotation_status(KeyId=key_id)
    assert restored["KeyRotationEnabled"] is True and restored["RotationPeriodInDays"] == 180


@pytest.mark.parametrize("days", [89, 2561])
def test_rotation_period_is_90_to_2560_days(kms, days):
    # source: KMS API Reference, "EnableKeyRotation", RotationPeriodInDays (botocore: min 90, max 2560).
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    error = ParamValidationError if days < 90 else ClientError
    with pytest.raises(error):
        kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=days)


def test_rotation_only_for_symmetric_encryption_keys(kms):
    # source: KMS API Reference, "EnableKeyRotation": "You cannot enable automatic rotation of
    # asymmetric KMS keys, HMAC KMS keys...".
    for spec, usage in (("HMAC_256", "GENERATE_VERIFY_MAC"), ("ECC_NIST_P256", "SIGN_VERIFY")):
        key_id = kms.create_key(KeySpec=spec, KeyUsage=usage)["KeyMetadata"]["KeyId"]
        for call in (kms.enable_key_rotation, kms.rotate_key_on_demand):
            with pytest.raises(ClientError) as excinfo:
                call(KeyId=key_id)
            assert error_code(excinfo) == "UnsupportedOperationException"


def test_on_demand_rotation_limit(clock):
    # source: KMS API Reference, "RotateKeyOnDemand": "a maximum of 25 times per KMS key"
    # (configurable here so the test stays short).
    kms = LocalKMS(seed=1, clock=clock, on_demand_rotation_limit=2)
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.rotate_key_on_demand(KeyId=key_id)
    kms.rotate_key_on_demand(KeyId=key_id)
    with pytest.raises(ClientError) as excinfo:
        kms.rotate_key_on_demand(KeyId=key_id)
    assert error_code(excinfo) == "LimitExceededException"


def test_disabled_key_cannot_rotate(kms):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.disable_key(KeyId=key_id)
    with pytest.raises(kms.exceptions.DisabledException):
        kms.enable_key_rotation(KeyId=key_id)


# -- aliases --------------------------------------------------------------------------------------


def test_alias_lifecycle(kms):
    first = kms.create_key()["KeyMetadata"]["KeyId"]
    second = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/app", TargetKeyId=first)
    blob = kms.encrypt(KeyId="alias/app", Plaintext=b"p")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob, KeyId=first)["Plaintext"] == b"p"
    assert kms.encrypt(KeyId=f"arn:aws:kms:us-east-1:{ACCOUNT}:alias/app", Plaintext=b"p")["KeyId"].endswith(
        first
    )
    with pytest.raises(kms.exceptions.AlreadyExistsException):
        kms.create_alias(AliasName="alias/app", TargetKeyId=second)
    kms.update_alias(AliasName="alias/app", TargetKeyId=second)
    aliases = kms.list_aliases()["Aliases"]
    assert [(a["AliasName"], a["TargetKeyId"]) for a in aliases] == [("alias/app", second)]
    assert kms.list_aliases(KeyId=first)["Aliases"] == []
    kms.delete_alias(AliasName="alias/app")
    with pytest.raises(kms.exceptions.NotFoundException):
        kms.describe_key(KeyId="alias/app")


def test_reserved_alias_prefix_is_refused(kms):
    # source: KMS API Reference, "CreateAlias", AliasName: "The alias name cannot begin with alias/aws/".
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    with pytest.raises(kms.exceptions.InvalidAliasNameException):
        kms.create_alias(AliasName="alias/aws/s3", TargetKeyId=key_id)
