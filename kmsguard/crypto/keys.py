"""KMS keys as kmsguard's engine holds them: metadata, state, policy and material versions.

A ``KmsKey`` is immutable; every operation that changes a key (disable, rotate, schedule deletion,
put policy) returns a new one. Key material lives only inside ``Secret`` objects, whose ``repr`` and
``str`` never show it, so a key, a list of keys or a failing test's assertion message can be printed
safely.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any, NamedTuple

from kmsguard.crypto.blob import header_prefix
from kmsguard.crypto.primitives import aes_gcm_cipher
from kmsguard.crypto.specs import KEY_SPECS, KeySpecInfo
from kmsguard.model import Policy

# KMS API Reference, "EnableKeyRotation", RotationPeriodInDays: "the default value is 365 days".
DEFAULT_ROTATION_DAYS = 365
# KMS API Reference, "ScheduleKeyDeletion", PendingWindowInDays: 7-30, default 30.
DEFAULT_PENDING_WINDOW_DAYS = 30
MIN_PENDING_WINDOW_DAYS = 7
MAX_PENDING_WINDOW_DAYS = 30


class Secret:
    """Key material (bytes or a ``cryptography`` private key) that never prints itself."""

    __slots__ = ("_derived", "_value")

    def __init__(self, value: Any) -> None:
        self._value = value
        self._derived: Any = None

    def reveal(self) -> Any:
        """The material, for the primitives layer only."""
        return self._value

    def derived(self, build: Any) -> Any:
        """``build(material)``, computed once (a keyed cipher object: building one per call costs
        as much as encrypting 4 KB). Same secrecy as the material itself."""
        if self._derived is None:
            self._derived = build(self._value)
        return self._derived

    def __repr__(self) -> str:
        return "Secret(<redacted>)"

    __str__ = __repr__

    def __reduce__(self) -> Any:  # pickling would copy the material out; refuse
        raise TypeError("key material cannot be pickled")


@dataclass(frozen=True)
class KeyMaterial:
    """One version of a key's material (KMS Developer Guide, "Rotating AWS KMS keys": rotation adds
    new material and keeps every previous version to decrypt old ciphertexts).

    Imported material (Origin EXTERNAL) also has an import state, an expiration and a description
    (KMS API Reference, "RotationsListEntry"): ``secret`` is None while the material is not
    imported (deleted or expired: ImportState PENDING_IMPORT), and ``pending_rotation`` marks new
    material imported for on-demand rotation that RotateKeyOnDemand has not yet made current."""

    material_id: str  # 64 hex characters, like AWS's KeyMaterialId
    secret: Secret | None = field(repr=False)
    created: datetime  # when it became current by rotation (RotationDate), or was generated
    rotation_type: str | None = None  # None for the original material; "AUTOMATIC" / "ON_DEMAND"
    import_state: str | None = None  # None for KMS-generated material; "IMPORTED" / "PENDING_IMPORT"
    pending_rotation: bool = False
    description: str | None = None  # KeyMaterialDescription
    expiration_model: str | None = None
    valid_to: datetime | None = None


class Sealing(NamedTuple):
    """The current material of a symmetric key, the ciphertext header up to the nonce
    (``blob.header_prefix``) and the material's keyed AES-GCM object (``Secret.derived``)."""

    material: KeyMaterial
    header_prefix: bytes
    cipher: Any


@dataclass(frozen=True)
class KmsKey:
    key_id: str
    arn: str
    account: str
    region: str
    spec: str
    usage: str
    created: datetime
    materials: tuple[KeyMaterial, ...] = field(repr=False)
    policy_text: str = field(repr=False)
    policy: Policy = field(repr=False)
    state: str = "Enabled"
    description: str = ""
    origin: str = "AWS_KMS"
    deletion_date: datetime | None = None
    pending_window_days: int | None = None
    rotation_enabled: bool = False
    rotation_period_days: int | None = None
    next_rotation: datetime | None = None
    on_demand_rotation_started: datetime | None = None
    tags: tuple[tuple[str, str], ...] = ()
    multi_region: bool = False
    multi_region_type: str | None = None  # "PRIMARY" | "REPLICA" for multi-Region keys

    @cached_property
    def info(self) -> KeySpecInfo:
        # Cached in the instance (read on every call; a changed key is a new instance).
        return KEY_SPECS[self.spec]

    @cached_property
    def current_material(self) -> KeyMaterial:
        """The material that encrypts: the last one that is not waiting for on-demand rotation.
        Cached in the instance like ``info`` (``LookupError`` is not cached: it is raised again)."""
        materials = self.materials
        if materials and not materials[-1].pending_rotation:
            return materials[-1]
        for material in reversed(materials):
            if not material.pending_rotation:
                return material
        # An EXTERNAL key before its first import: callers check the key state first.
        raise LookupError(f"{self.arn} has no key material")

    @property
    def expiration_model(self) -> str | None:
        """The current imported material's ExpirationModel (None for KMS-generated material)."""
        current = self._current_or_none()
        return current.expiration_model if current is not None else None

    @property
    def valid_to(self) -> datetime | None:
        """The current imported material's ValidTo, while it is imported."""
        current = self._current_or_none()
        return current.valid_to if current is not None and current.secret is not None else None

    def _current_or_none(self) -> KeyMaterial | None:
        try:
            return self.current_material
        except LookupError:
            return None

    @property
    def all_material_imported(self) -> bool:
        """Every material of the key is present (KMS API Reference, "ImportKeyMaterial": for
        symmetric keys "you will need to import all of the key materials associated with the KMS
        key to change its state to Enabled")."""
        return bool(self.materials) and all(m.secret is not None for m in self.materials)

    def material(self, material_id: str) -> KeyMaterial | None:
        return self.materials_by_id.get(material_id)

    @cached_property
    def materials_by_id(self) -> dict[str, KeyMaterial]:
        """The material versions by material id (read on every Decrypt; a key rotated 25 times has
        26). Cached in the instance: a changed key is a new instance. Read only."""
        return {material.material_id: material for material in self.materials}

    @cached_property
    def sealing(self) -> Sealing:
        """For a symmetric encryption key, what every Encrypt under this key instance reuses (a
        rotated or re-imported key is a new instance, so this never outlives its material)."""
        material = self.current_material
        assert material.secret is not None, "callers check the key state first"
        return Sealing(
            material, header_prefix(self.arn, material.material_id), material.secret.derived(aes_gcm_cipher)
        )

    def with_changes(self, **changes: Any) -> KmsKey:
        return replace(self, **changes)


def default_key_policy(account: str, partition: str = "aws") -> str:
    """The default key policy KMS attaches when CreateKey has no Policy (KMS Developer Guide, "Default
    key policy": the statement "Allows access to the AWS account and enables IAM policies", with
    Id "key-default-1" and Sid "Enable IAM User Permissions")."""
    document = {
        "Version": "2012-10-17",
        "Id": "key-default-1",
        "Statement": [
            {
                "Sid": "Enable IAM User Permissions",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:{partition}:iam::{account}:root"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ],
    }
    return json.dumps(document, indent=2)


def key_metadata(key: KmsKey) -> dict[str, Any]:
    """The ``KeyMetadata`` structure of DescribeKey / CreateKey (botocore shape ``KeyMetadata``)."""
    info = key.info
    metadata: dict[str, Any] = {
        "AWSAccountId": key.account,
        "KeyId": key.key_id,
        "Arn": key.arn,
        "CreationDate": key.created,
        "Enabled": key.state == "Enabled",
        "Description": key.description,
        "KeyUsage": key.usage,
        "KeyState": key.state,
        "Origin": key.origin,
        "KeyManager": "CUSTOMER",
        "CustomerMasterKeySpec": key.spec,
        "KeySpec": key.spec,
        "MultiRegion": key.multi_region,
        **info.algorithms_for(key.usage),
    }
    if key.deletion_date is not None:
        metadata["DeletionDate"] = key.deletion_date
    if key.state == "PendingReplicaDeletion" and key.pending_window_days is not None:
        # API Reference, "KeyMetadata", PendingDeletionWindowInDays: "present only when the KeyState
        # of the KMS key is PendingReplicaDeletion".
        metadata["PendingDeletionWindowInDays"] = key.pending_window_days
    if info.family == "AES" and key._current_or_none() is not None:
        # Only symmetric encryption keys report their current material (API Reference, "KeyMetadata",
        # CurrentKeyMaterialId).
        metadata["CurrentKeyMaterialId"] = key.current_material.material_id
    if key.origin == "EXTERNAL" and key.expiration_model is not None:
        # API Reference, "KeyMetadata": ExpirationModel and ValidTo are present only for keys whose
        # Origin is EXTERNAL.
        metadata["ExpirationModel"] = key.expiration_model
        if key.valid_to is not None:
            metadata["ValidTo"] = key.valid_to
    return metadata


def rotation_due(key: KmsKey, now: datetime) -> bool:
    return key.rotation_enabled and key.next_rotation is not None and key.next_rotation <= now


def next_rotation_after(moment: datetime, period_days: int) -> datetime:
    return moment + timedelta(days=period_days)
