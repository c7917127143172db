"""The snapshot loader on hand-written account records (no endpoint): AWS managed keys are told
apart, unreadable values are unknown, bad snapshots are one-line input errors, and discovery
recognises snapshots by content."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from kmsguard.check import CheckOptions, run_check
from kmsguard.load.base import LoadContext
from kmsguard.load.discover import discover
from kmsguard.load.snapshot import load_snapshot, read_snapshot_file
from kmsguard.model import Unknown

ACCOUNT = "111122223333"
ROOT_ONLY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ],
    }
)


def _key(
    key_id: str, manager: str, rotation: dict[str, Any] | None, policy: str | None = ROOT_ONLY
) -> dict[str, Any]:
    arn = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{key_id}"
    return {
        "arn": arn,
        "metadata": {
            "KeyId": key_id,
            "Arn": arn,
            "KeyManager": manager,
            "KeySpec": "SYMMETRIC_DEFAULT",
            "KeyUsage": "ENCRYPT_DECRYPT",
            "Origin": "AWS_KMS",
            "Enabled": True,
            "KeyState": "Enabled",
        },
        "policy": policy,
        "rotation": rotation,
        "rotations": [],
        "grants": [],
        "tags": [],
        "public_key": None,
    }


def _snapshot(keys: list[dict[str, Any]], gaps: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "format": "kmsguard-snapshot",
        "version": 1,
        "created": "2026-01-01T00:00:00+00:00",
        "tool": {"name": "kmsguard", "version": "test"},
        "accounts": [
            {
                "account": ACCOUNT,
                "partition": "aws",
                "caller": f"arn:aws:iam::{ACCOUNT}:user/auditor",
                "organization": {"status": "none", "id": None, "scps": [], "rcps": []},
                "iam": {"status": "ok", "users": [], "groups": [], "roles": [], "policies": []},
                "global_consumers": [],
                "regions": [
                    {
                        "region": "us-east-1",
                        "keys": keys,
                        "aliases": [{"AliasName": "alias/aws/s3", "TargetKeyId": "aws-s3"}],
                        "consumers": [],
                    }
                ],
                "gaps": gaps or [],
            }
        ],
    }


def _check(tmp_path: Path, snapshot: dict[str, Any]) -> list[tuple[str, str]]:
    path = tmp_path / "snap.json"
    path.write_text(json.dumps(snapshot))
    result = run_check(CheckOptions(paths=(str(path),), context=LoadContext(account=ACCOUNT)))
    assert not result.errors
    return sorted((f.rule_id, f.resource) for f in result.findings)


def test_aws_managed_keys_are_told_apart_from_customer_keys(tmp_path: Path) -> None:
    # KMS Developer Guide, "AWS managed keys": AWS rotates them; customers cannot change rotation,
    # so a customer-key rotation finding would be noise. Both keys below report rotation off.
    off = {"enabled": False, "period_days": None}
    findings = _check(tmp_path, _snapshot([_key("aws-s3", "AWS", off), _key("mine", "CUSTOMER", off)]))
    assert findings == [("KMS001", f"arn:aws:kms:us-east-1:{ACCOUNT}:key/mine")]
    inventory = load_snapshot(_snapshot([_key("aws-s3", "AWS", off)]), "s.json", LoadContext()).inventory
    assert inventory.keys[0].key_manager == "AWS"
    assert inventory.keys[0].aliases == ("alias/aws/s3",)


def test_unreadable_values_are_unknown_and_reported(tmp_path: Path) -> None:
    gap = {
        "service": "kms",
        "operation": "GetKeyPolicy",
        "region": "us-east-1",
        "resource": f"arn:aws:kms:us-east-1:{ACCOUNT}:key/hidden",
        "error_code": "AccessDeniedException",
        "message": "denied",
    }
    snapshot = _snapshot([_key("hidden", "CUSTOMER", None, policy=None)], [gap])
    inventory = load_snapshot(snapshot, "s.json", LoadContext()).inventory
    key = inventory.keys[0]
    assert isinstance(key.policy, Unknown) and isinstance(key.rotation_enabled, Unknown)
    findings = _check(tmp_path, snapshot)
    assert ("KMS105", gap["resource"]) in findings  # the gap itself
    # Rules that need the policy or the rotation status say they depend on it: not a clean bill.
    assert len([f for f in findings if f[0] != "KMS105"]) >= 1


def test_a_bad_snapshot_is_one_input_error(tmp_path: Path) -> None:
    newer = tmp_path / "newer.json"
    newer.write_text(json.dumps({**_snapshot([]), "version": 99}))
    error = read_snapshot_file(str(newer))
    assert not isinstance(error, dict) and "unsupported snapshot version 99" in error.message
    broken = tmp_path / "broken.json.gz"
    broken.write_bytes(gzip.compress(b'{"format":"kmsguard-snapshot","version":1,"accounts":[{"account":'))
    error = read_snapshot_file(str(broken))
    assert not isinstance(error, dict) and "not valid JSON" in error.message
    malformed = _snapshot([])
    malformed["accounts"].insert(0, {"account": ACCOUNT, "regions": [{"keys": []}]})  # no "region"
    result = load_snapshot(malformed, "m.json", LoadContext())
    assert len(result.errors) == 1 and "account #1" in result.errors[0].message
    assert result.inventory.keys == ()  # the second account loaded (it has no keys) and nothing broke


def test_discovery_recognises_snapshots_by_content(tmp_path: Path) -> None:
    text = json.dumps(_snapshot([]))
    (tmp_path / "snap.json").write_text(text)
    (tmp_path / "snap.json.gz").write_bytes(gzip.compress(text.encode()))
    (tmp_path / "other.json.gz").write_bytes(gzip.compress(b'{"name": "not ours"}'))
    (tmp_path / "package.json").write_text('{"format": "something else"}')
    inputs, errors = discover([str(tmp_path)])
    assert not errors
    assert sorted((Path(i.path).name, i.kind) for i in inputs) == [
        ("snap.json", "snapshot"),
        ("snap.json.gz", "snapshot"),
    ]
