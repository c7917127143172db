"""The key-using resources the audit collects per Region (EBS default encryption and volumes, RDS,
CloudTrail, DynamoDB, Lambda, EFS) against moto in server mode: the same consumer shape as the
Terraform loader gives for fixtures/audit/main.tf, each multi-Region trail once, an unanswerable
call (moto's GetEbsDefaultKmsKeyId) as a gap with the audit going on, and no secret collected."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from kmsguard.cli import main
from kmsguard.load.base import LoadContext
from kmsguard.model import Inventory, KeyConsumer, Unknown
from kmsguard.rules_engine.key_links import KeyLinks
from tests.audit.conftest import ACCOUNT, LAMBDA_SECRET, REGIONS, SECRET_STRING, seed_consumers, seed_world
from tests.audit.moto_support import answer_ebs_default_key

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "fixtures" / "audit"
SCHEMA = ROOT / "kmsguard" / "data" / "snapshot.schema.json"
RECORDED = FIXTURE / "recorded" / "consumers-snapshot.json"


def _audit(endpoint: str, capsys: pytest.CaptureFixture[str], snap: Path) -> dict[str, Any]:
    main(
        [
            *("audit", "--endpoint-url", endpoint, "--regions", ",".join(REGIONS)),
            *("--format", "json", "--save", str(snap)),
        ]
    )
    return json.loads(capsys.readouterr().out)


def _document(snap: Path) -> dict[str, Any]:
    data = snap.read_bytes()
    return json.loads(gzip.decompress(data) if snap.suffix == ".gz" else data)


def _consumers(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        c
        for account in document["accounts"]
        for part in [account["global_consumers"], *(r["consumers"] for r in account["regions"] or [])]
        for c in part
    ]


def _link(links: KeyLinks, consumer: KeyConsumer) -> tuple[str, str | None]:
    """Where the consumer's key leads: the status, and the key's Name tag when it is a key of the
    inventory. (What encrypts otherwise is worded from what each input says: the audit knows the
    EBS default is alias/aws/ebs, the Terraform only that it was not changed.)"""
    link = links.link_of(consumer)
    return link.status.value, None if link.key is None else str(link.key.tags.get("Name"))


@pytest.fixture()
def world(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    arns = seed_world(endpoint)
    arns.update(seed_consumers(endpoint, arns))
    return arns


def test_each_consumer_has_the_shape_the_terraform_loader_gives(
    endpoint: str,
    world: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from kmsguard.check import load_inputs
    from kmsguard.load.snapshot import load_snapshot

    answer_ebs_default_key(monkeypatch)
    snap = tmp_path / "snap.json"
    _audit(endpoint, capsys, snap)
    live = load_snapshot(_document(snap), str(snap), LoadContext(account=ACCOUNT)).inventory
    loaded, _ = load_inputs([str(FIXTURE / "main.tf")], LoadContext(account=ACCOUNT), jobs=1)
    assert loaded.errors == []
    terraform = loaded.inventory
    live_links, tf_links = KeyLinks(live), KeyLinks(terraform)
    live_by_arn = {c.address: c for c in live.consumers}
    tf_by_name = {c.address.split(".")[-1]: c for c in terraform.consumers}
    # Terraform models no consumer for a bucket without an encryption configuration (the
    # CloudFormation loader and the audit do: SSE-S3, S3 User Guide, "Setting default server-side
    # encryption behavior"), so the bucket is compared on its own below.
    names = set(world) - {"public", "norotate", "fine", "sydney", "audit_logs"}
    assert set(tf_by_name) == names  # the fixture declares each seeded resource
    bucket = live_by_arn[world["audit_logs"]]
    assert (bucket.key, bucket.encrypted, _link(live_links, bucket)[0]) == (None, True, "aws-managed")
    for name in sorted(names):
        ours, theirs = live_by_arn[world[name]], tf_by_name[name]
        assert (ours.service, ours.encrypted) == (theirs.service, theirs.encrypted), name
        assert _link(live_links, ours) == _link(tf_links, theirs), name
        assert bool(ours.details.get("account_default")) == bool(theirs.details.get("account_default"))
        if ours.service == "dynamodb":
            assert ours.details["key_type"] == theirs.details["key_type"], name
    # The AWS managed key the EBS default names comes out as the CloudFormation loader gives it.
    default_us = live_by_arn[world["default_us"]]
    assert (default_us.key, default_us.details["aws_managed_key"]) == (None, "alias/aws/ebs")


def _load_inventory_of(path: Path) -> Inventory:
    from kmsguard.load.snapshot import load_snapshot

    return load_snapshot(_document(path), str(path), LoadContext()).inventory


def test_a_multi_region_trail_is_recorded_once_in_its_home_region(
    endpoint: str,
    world: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # CloudTrail User Guide, "Viewing trails": a multi-Region trail shows in every Region
    # (DescribeTrails includeShadowTrails), with its HomeRegion.
    import boto3

    answer_ebs_default_key(monkeypatch)
    shadows = boto3.client("cloudtrail", region_name="us-east-1", endpoint_url=endpoint).describe_trails(
        includeShadowTrails=True
    )["trailList"]
    assert world["everywhere"] in {t["TrailARN"] for t in shadows}  # seen from us-east-1 too
    snap = tmp_path / "snap.json"
    _audit(endpoint, capsys, snap)
    document = _document(snap)
    where = [
        region["region"]
        for region in document["accounts"][0]["regions"]
        for c in region["consumers"]
        if c["arn"] == world["everywhere"]
    ]
    assert where == ["eu-west-1"]


def test_an_unanswerable_call_is_a_gap_and_the_audit_goes_on(
    endpoint: str, world: dict[str, str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # moto's server does not implement ec2:GetEbsDefaultKmsKeyId (HTTP 500): handled as any
    # unsupported or denied call in a real account.
    snap = tmp_path / "snap.json"
    report = _audit(endpoint, capsys, snap)
    document = _document(snap)
    account = document["accounts"][0]
    failed = sorted(g["region"] for g in account["gaps"] if g["operation"] == "GetEbsDefaultKmsKeyId")
    assert failed == sorted(REGIONS)
    by_arn = {c["arn"]: c for c in _consumers(document)}
    default_us = by_arn[world["default_us"]]
    assert default_us["key"] is None and default_us["details"]["default_key_unreadable"] is True
    assert default_us["encrypted"] is True  # GetEbsEncryptionByDefault still answered
    assert by_arn[world["default_eu"]]["encrypted"] is False
    assert world["data"] in by_arn and world["orders_db"] in by_arn  # the audit went on
    said = [f["message"] for f in report["findings"] if f["rule_id"] == "KMS105"]
    assert len([m for m in said if "GetEbsDefaultKmsKeyId" in m and "default EBS key" in m]) == len(REGIONS)
    # In the model the default key is unknown, never "none".
    inventory = _load_inventory_of(snap)
    (consumer,) = [c for c in inventory.consumers if c.address == world["default_us"]]
    assert isinstance(consumer.key, Unknown)


def test_no_secret_value_reaches_the_snapshot(
    endpoint: str,
    world: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import boto3

    answer_ebs_default_key(monkeypatch)
    # The endpoint does hold them: ListFunctions returns the environment's values.
    functions = boto3.client("lambda", region_name="us-east-1", endpoint_url=endpoint).list_functions()
    assert LAMBDA_SECRET in json.dumps(functions["Functions"], default=str)
    snap = tmp_path / "snap.json.gz"
    _audit(endpoint, capsys, snap)
    text = gzip.decompress(snap.read_bytes()).decode()
    for secret in (LAMBDA_SECRET, SECRET_STRING, "DB_PASSWORD", "not-collected-1"):
        assert secret not in text
    assert world["worker"] in text  # the function itself is collected
    import jsonschema

    jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text())).validate(json.loads(text))


def test_the_schema_refuses_environment_variables_in_a_consumer() -> None:
    import jsonschema

    document = json.loads(RECORDED.read_text())
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()))
    validator.validate(document)
    leaked = json.loads(RECORDED.read_text())
    lambda_record = next(c for c in _consumers(leaked) if c["service"] == "lambda")
    lambda_record["details"]["Environment"] = {"Variables": {"A": "b"}}
    assert not validator.is_valid(leaked)


def test_a_recorded_snapshot_of_two_accounts_resolves_aws_managed_and_foreign_keys(tmp_path: Path) -> None:
    """What moto cannot make (tests/audit/moto_support.py): AWS managed keys listed by ListKeys with
    KeyManager AWS (moto lists their aliases without keys), an RDS instance on aws/rds (moto answers
    "default_kms_key_id"), and a resource of one account encrypting with another's key."""
    from kmsguard.check import CheckOptions, run_check

    inventory = _load_inventory_of(RECORDED)
    by_arn = {c.address: c for c in inventory.consumers}
    rds = by_arn["arn:aws:rds:us-east-1:111122223333:db:orders"]
    # KMS Developer Guide, "AWS managed keys": alias/aws/<service>; resolved through the alias list.
    assert (rds.key, rds.details.get("aws_managed_key")) == (None, "alias/aws/rds")
    efs = by_arn["arn:aws:elasticfilesystem:eu-west-1:444455556666:file-system/fs-0123456789abcdef0"]
    assert efs.key == "arn:aws:kms:eu-west-1:111122223333:key/2222aaaa-2222-aaaa-2222-aaaa2222aaaa"
    table = by_arn["arn:aws:dynamodb:us-east-1:111122223333:table/ledger"]
    assert (table.key, table.details["key_type"]) == (None, "AWS_MANAGED")
    context = LoadContext(trusted_accounts=("111122223333", "444455556666"))
    result = run_check(CheckOptions(paths=(str(RECORDED),), context=context, jobs=1))
    assert result.errors == []
    found = {(f.rule_id, f.resource) for f in result.findings}
    # The function of the second account encrypts with its own key, whose rotation is off.
    assert ("KMS031", "arn:aws:lambda:eu-west-1:444455556666:function:billing") in found
    # AWS managed keys are not judged by the customer-key rules, nor are their users.
    assert not [f for f in found if f[1] == "arn:aws:rds:us-east-1:111122223333:db:orders"]
