"""Which key an EBS volume that names none encrypts with: the default key of its own account and
Region (a snapshot) or of its own deployment folder (IaC), never through the default key when the
volume is not encrypted, and an unreadable default key reported once (KMS105), not again as an
unresolved link of the default record itself."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kmsguard.check import CheckOptions, run_check
from kmsguard.load.base import LoadContext
from kmsguard.load.snapshot import load_snapshot
from kmsguard.model import Inventory, Key, KeyConsumer, Source, Span, Unknown
from kmsguard.rules_engine.key_links import KeyLinks, LinkStatus

ACCOUNT = "111122223333"
OTHER_ACCOUNT = "444455556666"
ROOT_ONLY = {
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


def _key_arn(account: str, region: str, key_id: str) -> str:
    return f"arn:aws:kms:{region}:{account}:key/{key_id}"


def _key(
    account: str, region: str, key_id: str, *, rotation: bool = True, enabled: bool = True
) -> dict[str, Any]:
    arn = _key_arn(account, region, key_id)
    return {
        "arn": arn,
        "metadata": {
            "KeyId": key_id,
            "Arn": arn,
            "KeyManager": "CUSTOMER",
            "KeySpec": "SYMMETRIC_DEFAULT",
            "KeyUsage": "ENCRYPT_DECRYPT",
            "Origin": "AWS_KMS",
            "Enabled": enabled,
            "KeyState": "Enabled" if enabled else "Disabled",
        },
        "policy": json.dumps(ROOT_ONLY),
        "rotation": {"enabled": rotation, "period_days": 365 if rotation else None},
        "rotations": [],
        "grants": [],
        "tags": [],
        "public_key": None,
    }


def _default_record(
    account: str, region: str, key: str | None, *, unreadable: bool = False
) -> dict[str, Any]:
    # The shape kmsguard/audit/collect.py `_ebs_default` writes (docs/audit.md).
    details: dict[str, Any] = {"account_default": True}
    if unreadable:
        details["default_key_unreadable"] = True
    return {
        "service": "ebs",
        "resource_type": "AWS::EC2::EBSEncryptionByDefault",
        "arn": f"arn:aws:ec2:{region}:{account}:ebs-encryption-by-default",
        "key": key,
        "encrypted": True,
        "details": details,
    }


def _volume(account: str, region: str, volume_id: str, key: str | None, encrypted: bool) -> dict[str, Any]:
    return {
        "service": "ebs",
        "resource_type": "AWS::EC2::Volume",
        "arn": f"arn:aws:ec2:{region}:{account}:volume/{volume_id}",
        "key": key,
        "encrypted": encrypted,
        "details": {"volume_id": volume_id},
    }


def _region(name: str, keys: list[dict[str, Any]], consumers: list[dict[str, Any]]) -> dict[str, Any]:
    return {"region": name, "keys": keys, "aliases": [], "consumers": consumers}


def _account(
    account: str, regions: list[dict[str, Any]], gaps: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return {
        "account": account,
        "partition": "aws",
        "caller": f"arn:aws:iam::{account}:user/auditor",
        "organization": {"status": "none", "id": None, "scps": [], "rcps": []},
        "iam": {"status": "ok", "users": [], "groups": [], "roles": [], "policies": []},
        "global_consumers": [],
        "regions": regions,
        "gaps": gaps or [],
    }


def _snapshot(*accounts: dict[str, Any]) -> dict[str, Any]:
    return {
        "format": "kmsguard-snapshot",
        "version": 1,
        "created": "2026-01-01T00:00:00+00:00",
        "tool": {"name": "kmsguard", "version": "test"},
        "accounts": list(accounts),
    }


def _links(document: dict[str, Any]) -> tuple[KeyLinks, dict[str, KeyConsumer]]:
    inventory = load_snapshot(document, "snap.json", LoadContext(account=ACCOUNT)).inventory
    return KeyLinks(inventory), {c.address: c for c in inventory.consumers}


def _volume_arn(account: str, region: str, volume_id: str) -> str:
    return f"arn:aws:ec2:{region}:{account}:volume/{volume_id}"


def _linked_key(links: KeyLinks, consumer: KeyConsumer) -> str | None:
    link = links.link_of(consumer)
    return str(link.key.arn) if link.status is LinkStatus.KEY and link.key is not None else None


# source: Amazon EC2 User Guide (Amazon EBS User Guide), "Encryption by default": "Encryption by
# default is a Region-specific setting", and the default KMS key is chosen per Region; a volume
# created encrypted without a key uses the default key of its account and Region.


def test_a_volume_uses_the_default_key_of_its_own_region() -> None:
    us_key, eu_key = _key(ACCOUNT, "us-east-1", "us-default"), _key(ACCOUNT, "eu-west-1", "eu-default")
    document = _snapshot(
        _account(
            ACCOUNT,
            [
                _region("us-east-1", [us_key], [_default_record(ACCOUNT, "us-east-1", us_key["arn"])]),
                _region(
                    "eu-west-1",
                    [eu_key],
                    [
                        _default_record(ACCOUNT, "eu-west-1", eu_key["arn"]),
                        _volume(ACCOUNT, "eu-west-1", "vol-eu", None, True),
                    ],
                ),
            ],
        )
    )
    links, consumers = _links(document)
    assert _linked_key(links, consumers[_volume_arn(ACCOUNT, "eu-west-1", "vol-eu")]) == eu_key["arn"]


def test_a_volume_uses_the_default_key_of_its_own_account() -> None:
    # Same Region, two accounts: each account has its own default (a per-account setting).
    mine, theirs = _key(ACCOUNT, "us-east-1", "mine"), _key(OTHER_ACCOUNT, "us-east-1", "theirs")
    document = _snapshot(
        _account(
            ACCOUNT, [_region("us-east-1", [mine], [_default_record(ACCOUNT, "us-east-1", mine["arn"])])]
        ),
        _account(
            OTHER_ACCOUNT,
            [
                _region(
                    "us-east-1",
                    [theirs],
                    [
                        _default_record(OTHER_ACCOUNT, "us-east-1", theirs["arn"]),
                        _volume(OTHER_ACCOUNT, "us-east-1", "vol-theirs", None, True),
                    ],
                )
            ],
        ),
    )
    links, consumers = _links(document)
    assert (
        _linked_key(links, consumers[_volume_arn(OTHER_ACCOUNT, "us-east-1", "vol-theirs")]) == theirs["arn"]
    )


def test_a_region_without_a_customer_default_does_not_borrow_another_regions() -> None:
    # eu-west-1's default is the AWS managed key aws/ebs (what GetEbsDefaultKmsKeyId returns when
    # it was never changed): the volume there is not encrypted with us-east-1's customer key.
    us_key = _key(ACCOUNT, "us-east-1", "us-default")
    aws_ebs = f"arn:aws:kms:eu-west-1:{ACCOUNT}:alias/aws/ebs"
    document = _snapshot(
        _account(
            ACCOUNT,
            [
                _region("us-east-1", [us_key], [_default_record(ACCOUNT, "us-east-1", us_key["arn"])]),
                _region(
                    "eu-west-1",
                    [],
                    [
                        _default_record(ACCOUNT, "eu-west-1", aws_ebs),
                        _volume(ACCOUNT, "eu-west-1", "vol-eu", None, True),
                    ],
                ),
            ],
        )
    )
    links, consumers = _links(document)
    link = links.link_of(consumers[_volume_arn(ACCOUNT, "eu-west-1", "vol-eu")])
    assert link.status is LinkStatus.AWS_MANAGED
    assert "aws/ebs" in link.what


def test_an_unencrypted_volume_is_not_linked_through_the_default_key() -> None:
    # source: Amazon EBS User Guide, "Amazon EBS encryption": an unencrypted volume uses no KMS key.
    key = _key(ACCOUNT, "us-east-1", "default", enabled=False)
    document = _snapshot(
        _account(
            ACCOUNT,
            [
                _region(
                    "us-east-1",
                    [key],
                    [
                        _default_record(ACCOUNT, "us-east-1", key["arn"]),
                        _volume(ACCOUNT, "us-east-1", "vol-plain", None, False),
                    ],
                )
            ],
        )
    )
    links, consumers = _links(document)
    plain = consumers[_volume_arn(ACCOUNT, "us-east-1", "vol-plain")]
    assert links.link_of(plain).key is None
    (default_key,) = links.inventory.keys
    users, maybe = links.users_of(default_key)
    assert plain not in users and maybe == ()


def test_an_unencrypted_volume_is_no_user_in_kms007(tmp_path: Path) -> None:
    # KMS007 names the resources still encrypting with a disabled key: the unencrypted volume is
    # not one of them, the encrypted one that names no key is.
    key = _key(ACCOUNT, "us-east-1", "default", enabled=False)
    document = _snapshot(
        _account(
            ACCOUNT,
            [
                _region(
                    "us-east-1",
                    [key],
                    [
                        _default_record(ACCOUNT, "us-east-1", key["arn"]),
                        _volume(ACCOUNT, "us-east-1", "vol-plain", None, False),
                        _volume(ACCOUNT, "us-east-1", "vol-sealed", None, True),
                    ],
                )
            ],
        )
    )
    findings = _check(tmp_path, document)
    (kms007,) = [f for f in findings if f.rule_id == "KMS007"]
    assert "vol-sealed" in kms007.message and "vol-plain" not in kms007.message


def _unreadable_gap(region: str) -> dict[str, Any]:
    return {
        "service": "ec2",
        "operation": "GetEbsDefaultKmsKeyId",
        "region": region,
        "resource": f"arn:aws:ec2:{region}:{ACCOUNT}:ebs-encryption-by-default",
        "error_code": "UnauthorizedOperation",
        "message": "denied",
    }


def _unreadable_world() -> dict[str, Any]:
    """us-east-1's default key could not be read; eu-west-1's could. Each Region has a customer
    key whose rotation is off, and a volume encrypted with its Region's default."""
    us_key = _key(ACCOUNT, "us-east-1", "us-norotate", rotation=False)
    eu_key = _key(ACCOUNT, "eu-west-1", "eu-norotate", rotation=False)
    return _snapshot(
        _account(
            ACCOUNT,
            [
                _region(
                    "eu-west-1",
                    [eu_key],
                    [
                        _default_record(ACCOUNT, "eu-west-1", eu_key["arn"]),
                        _volume(ACCOUNT, "eu-west-1", "vol-eu", None, True),
                    ],
                ),
                _region(
                    "us-east-1",
                    [us_key],
                    [
                        _default_record(ACCOUNT, "us-east-1", None, unreadable=True),
                        _volume(ACCOUNT, "us-east-1", "vol-us", None, True),
                        _volume(ACCOUNT, "us-east-1", "vol-us-plain", None, False),
                        _volume(ACCOUNT, "us-east-1", "vol-us-named", us_key["arn"], True),
                    ],
                ),
            ],
            gaps=[_unreadable_gap("us-east-1")],
        )
    )


def test_an_unreadable_default_leaves_only_its_own_regions_volumes_unresolved() -> None:
    links, consumers = _links(_unreadable_world())
    vol_us = consumers[_volume_arn(ACCOUNT, "us-east-1", "vol-us")]
    assert links.link_of(vol_us).status is LinkStatus.UNRESOLVED
    vol_eu = consumers[_volume_arn(ACCOUNT, "eu-west-1", "vol-eu")]
    assert _linked_key(links, vol_eu) == _key_arn(ACCOUNT, "eu-west-1", "eu-norotate")
    named = consumers[_volume_arn(ACCOUNT, "us-east-1", "vol-us-named")]
    assert _linked_key(links, named) == _key_arn(ACCOUNT, "us-east-1", "us-norotate")
    plain = consumers[_volume_arn(ACCOUNT, "us-east-1", "vol-us-plain")]
    assert links.link_of(plain).status is not LinkStatus.UNRESOLVED


def _check(tmp_path: Path, document: dict[str, Any], params: dict[str, object] | None = None) -> list[Any]:
    path = tmp_path / "snap.json"
    path.write_text(json.dumps(document))
    options = CheckOptions(
        paths=(str(path),), context=LoadContext(account=ACCOUNT), params=params or {}, jobs=1
    )
    result = run_check(options)
    assert not result.errors
    return result.findings


def test_an_unreadable_default_is_reported_once_as_kms105(tmp_path: Path) -> None:
    default_us = f"arn:aws:ec2:us-east-1:{ACCOUNT}:ebs-encryption-by-default"
    findings = _check(tmp_path, _unreadable_world(), {"require_customer_managed_key_for": ["ebs"]})
    on_default = sorted(f.rule_id for f in findings if f.resource == default_us)
    assert on_default == ["KMS105"]
    # The volumes are judged: the one on eu-west-1's readable default and the one naming its key
    # are KMS031 (rotation off); the one on the unreadable default may be.
    kms031 = {f.resource for f in findings if f.rule_id == "KMS031"}
    assert _volume_arn(ACCOUNT, "eu-west-1", "vol-eu") in kms031
    assert _volume_arn(ACCOUNT, "us-east-1", "vol-us-named") in kms031
    assert _volume_arn(ACCOUNT, "eu-west-1", "ebs-encryption-by-default") not in kms031


# -- IaC: the default of the volume's own deployment folder ------------------------------------


def _iac_key(folder: str, name: str) -> Key:
    return Key(
        address=f"aws_kms_key.{name}",
        resource_type="aws_kms_key",
        source=Source.TERRAFORM,
        span=Span(f"{folder}/main.tf", 1),
        rotation_enabled=True,
    )


def _iac_consumer(folder: str, address: str, key: Any, encrypted: Any, **details: Any) -> KeyConsumer:
    return KeyConsumer(
        address=address,
        resource_type=address.split(".")[0],
        service="ebs",
        source=Source.TERRAFORM,
        key=key,
        span=Span(f"{folder}/main.tf", 10),
        encrypted=encrypted,
        details=details,
    )


def test_iac_volume_uses_the_default_key_declared_in_its_own_folder() -> None:
    from kmsguard.model import ResourceRef

    prod_key, dev_key = _iac_key("prod", "ebs"), _iac_key("dev", "ebs")
    inventory = Inventory(
        keys=(prod_key, dev_key),
        consumers=(
            _iac_consumer(
                "prod",
                "aws_ebs_default_kms_key.this",
                ResourceRef("aws_kms_key.ebs", "arn"),
                True,
                account_default=True,
            ),
            _iac_consumer(
                "dev",
                "aws_ebs_default_kms_key.this",
                ResourceRef("aws_kms_key.ebs", "arn"),
                True,
                account_default=True,
            ),
            _iac_consumer("dev", "aws_ebs_volume.data", None, True),
            _iac_consumer("dev", "aws_ebs_volume.plain", None, False),
            _iac_consumer("dev", "aws_ebs_volume.maybe", None, Unknown("var.encrypted")),
            _iac_consumer("elsewhere", "aws_ebs_volume.data", None, True),
        ),
    )
    links = KeyLinks(inventory)
    data, plain, maybe, elsewhere = inventory.consumers[2:]
    assert links.link_of(data).key is dev_key
    assert links.link_of(plain).key is None and links.link_of(plain).status is not LinkStatus.UNRESOLVED
    # Encrypted or not depends on a variable: the default key only if it is.
    maybe_link = links.link_of(maybe)
    assert maybe_link.status is LinkStatus.UNRESOLVED and "var.encrypted" in maybe_link.refs
    # No default declared in its folder: the account's default as AWS sets it.
    assert links.link_of(elsewhere).status is LinkStatus.AWS_MANAGED
    users, _ = links.users_of(prod_key)
    assert [c.address for c in users] == ["aws_ebs_default_kms_key.this"]


def test_iac_module_volume_uses_the_default_of_the_root_above_its_module() -> None:
    # A root folder that calls ./modules/disk sets the default key; the module's volume is in the
    # same account and Region (Terraform: a module inherits its caller's default provider).
    from kmsguard.model import ResourceRef

    root_key = _iac_key("live", "ebs")
    inventory = Inventory(
        keys=(root_key,),
        consumers=(
            _iac_consumer(
                "live",
                "aws_ebs_default_kms_key.this",
                ResourceRef("aws_kms_key.ebs", "arn"),
                True,
                account_default=True,
            ),
            _iac_consumer("live/modules/disk", "module.disk.aws_ebs_volume.data", None, True),
            _iac_consumer("live/other-root", "aws_ebs_volume.data", None, True),
        ),
    )
    links = KeyLinks(inventory)
    module_volume, other_root_volume = inventory.consumers[1:]
    assert links.link_of(module_volume).key is root_key
    # Another root below it is another deployment: not linked to this root's default.
    assert links.link_of(other_root_volume).status is LinkStatus.AWS_MANAGED


def test_encryption_by_default_off_still_names_the_default_key() -> None:
    # source: Amazon EBS User Guide, "Encryption by default": the default KMS key is used for volumes
    # created encrypted without a key whether or not encryption by default is on.
    key = _key(ACCOUNT, "us-east-1", "default")
    record = {**_default_record(ACCOUNT, "us-east-1", key["arn"]), "encrypted": False}
    links, consumers = _links(_snapshot(_account(ACCOUNT, [_region("us-east-1", [key], [record])])))
    assert _linked_key(links, consumers[record["arn"]]) == key["arn"]
