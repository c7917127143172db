"""`kmsguard audit` against moto in server mode (tests/audit/conftest.py): the same findings as
`kmsguard check` on the Terraform fixture declaring the same world, unknown (not clean) when IAM
cannot be read, a read-only allow-list, and snapshots that validate and round-trip."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from kmsguard.cli import main
from tests.audit.conftest import ACCOUNT, REGIONS, seed_consumers, seed_world
from tests.audit.moto_support import answer_ebs_default_key

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "audit"
SCHEMA = Path(__file__).resolve().parents[2] / "kmsguard" / "data" / "snapshot.schema.json"

# What fixtures/audit/main.tf declares as wrong: the public key (KMS002), the key without rotation
# (KMS001) and the role that may decrypt with every key (KMS020). Written from the fixture's
# intent, not from any output.
EXPECTED = {("KMS002", "public"), ("KMS001", "norotate"), ("KMS020", "app")}
# And with its key-using resources: those encrypting with the key without rotation (KMS031), the
# trail without a customer managed key (KMS030, kms-core requires one for CloudTrail) and the trail
# whose key policy does not let CloudTrail use the key (KMS040). The resources using AWS managed or
# AWS owned keys, the rotating key, or SSE-S3 give nothing.
EXPECTED_WITH_CONSUMERS = EXPECTED | {
    ("KMS031", "data"),
    ("KMS031", "orders_db"),
    ("KMS031", "orders"),
    ("KMS031", "worker"),
    ("KMS030", "audit"),
    ("KMS040", "everywhere"),
}


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    code = main(argv)
    out = capsys.readouterr().out
    return code, json.loads(out)


def _audit(endpoint: str, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, dict[str, Any]]:
    return _run(
        ["audit", "--endpoint-url", endpoint, "--regions", ",".join(REGIONS), "--format", "json", *extra],
        capsys,
    )


def _terraform_names(report: dict[str, Any]) -> set[tuple[str, str]]:
    # aws_kms_key.public -> public, aws_iam_role.app -> app
    return {(f["rule_id"], f["resource"].split(".")[-1]) for f in report["findings"]}


def _live_names(report: dict[str, Any], arns: dict[str, str]) -> set[tuple[str, str]]:
    name_of = {arn: name for name, arn in arns.items()}
    name_of[f"arn:aws:iam::{ACCOUNT}:role/app"] = "app"
    return {(f["rule_id"], name_of.get(f["resource"], f["resource"])) for f in report["findings"]}


def test_audit_finds_what_check_finds_on_the_terraform_of_the_same_world(
    endpoint: str, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    answered = answer_ebs_default_key(monkeypatch)  # moto cannot: see tests/audit/moto_support.py
    arns = seed_world(endpoint)
    arns.update(seed_consumers(endpoint, arns))
    # main.tf only: fixtures/audit/recorded/ holds a snapshot, which `check` would pick up too.
    tf_code, tf_report = _run(
        ["check", str(FIXTURE / "main.tf"), "--account", ACCOUNT, "--format", "json"], capsys
    )
    code, report = _audit(endpoint, capsys, "--save", str(tmp_path / "snap.json.gz"))
    assert sorted(answered) == sorted(REGIONS)
    assert _terraform_names(tf_report) == EXPECTED_WITH_CONSUMERS
    assert _live_names(report, arns) == EXPECTED_WITH_CONSUMERS
    assert code == tf_code == 1
    # Findings name the ARN, whose fields are the account and Region of the key.
    by_rule = {f["rule_id"]: f for f in report["findings"]}
    assert by_rule["KMS001"]["resource"] == arns["norotate"]
    assert arns["norotate"].split(":")[3:5] == ["us-east-1", ACCOUNT]
    assert by_rule["KMS001"]["path"] == str(tmp_path / "snap.json.gz")
    # Every Region was read, and each holds the keys seeded there.
    snapshot = json.loads(gzip.decompress((tmp_path / "snap.json.gz").read_bytes()))
    keys_by_region = {
        region["region"]: {key["arn"] for key in region["keys"]}
        for region in snapshot["accounts"][0]["regions"]
    }
    assert set(keys_by_region) == set(REGIONS)
    assert arns["sydney"] in keys_by_region["ap-southeast-2"] and arns["fine"] in keys_by_region["eu-west-1"]


def test_the_html_report_of_an_audit_shows_each_key_with_what_uses_it(
    endpoint: str, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    answer_ebs_default_key(monkeypatch)  # moto cannot: see tests/audit/moto_support.py
    arns = seed_world(endpoint)
    consumers = seed_consumers(endpoint, arns)
    page = tmp_path / "audit.html"
    code = main(
        ["audit", "--endpoint-url", endpoint, "--regions", ",".join(REGIONS), "-f", "html", "-o", str(page)]
    )
    html = page.read_text(encoding="utf-8")
    assert code == 1
    assert html.startswith("<!DOCTYPE html>")
    # The key without rotation, its KMS001 finding, and the volume that encrypts with it.
    sections = html.split('<section class="item"')[1:]
    (section,) = [part for part in sections if f"<code>{arns['norotate']}</code>" in part.split("</h2>")[0]]
    assert "KMS001" in section
    assert consumers["data"] in section


def test_check_on_a_saved_snapshot_gives_the_audit_findings(
    endpoint: str, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    answer_ebs_default_key(monkeypatch)  # moto cannot: see tests/audit/moto_support.py
    seed_world(endpoint)
    snap = tmp_path / "snap.json"
    _, audited = _audit(endpoint, capsys, "--save", str(snap))
    code, checked = _run(["check", str(snap), "--account", ACCOUNT, "--format", "json"], capsys)
    assert code == 1
    key = lambda f: (f["rule_id"], f["resource"], f["message"])  # noqa: E731
    assert sorted(map(key, checked["findings"])) == sorted(map(key, audited["findings"]))
    assert checked["findings"]


def test_check_reads_a_gzip_snapshot(
    endpoint: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    seed_world(endpoint)
    snap = tmp_path / "snap.json.gz"
    _, audited = _audit(endpoint, capsys, "--save", str(snap))
    code, checked = _run(["check", str(snap), "--account", ACCOUNT, "--format", "json"], capsys)
    assert checked["errors"] == []
    assert code == 1
    assert sorted(f["rule_id"] for f in checked["findings"]) == sorted(
        f["rule_id"] for f in audited["findings"]
    )


def test_unreadable_iam_is_reported_as_unknown_not_as_clean(
    endpoint: str, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # moto's server does not enforce IAM permissions by default, so the denial is simulated: a
    # botocore before-call hook on the IAM client answers GetAccountAuthorizationDetails with the
    # AccessDenied error AWS sends (IAM API Reference, "Common Errors": AccessDenied, HTTP 403).
    from botocore.exceptions import ClientError

    answer_ebs_default_key(monkeypatch)  # the one gap here is IAM's (moto: tests/audit/moto_support.py)

    from kmsguard.audit import client as audit_client

    def deny(**_: Any) -> None:
        raise ClientError(
            {
                "Error": {
                    "Code": "AccessDenied",
                    "Message": "not authorized to perform iam:GetAccountAuthorizationDetails",
                }
            },
            "GetAccountAuthorizationDetails",
        )

    original = audit_client.AuditSession.client

    def client_with_denied_iam(self: Any, service: str, region: str | None = None) -> Any:
        made = original(self, service, region)
        if service == "iam":
            made.meta.events.register("before-call.iam.GetAccountAuthorizationDetails", deny)
        return made

    monkeypatch.setattr(audit_client.AuditSession, "client", client_with_denied_iam)
    seed_world(endpoint)
    snap = tmp_path / "snap.json"
    code, report = _audit(endpoint, capsys, "--save", str(snap))
    saved = json.loads(snap.read_text())
    assert saved["accounts"][0]["iam"]["status"] == "unknown"
    assert saved["accounts"][0]["iam"]["roles"] is None
    rules = {f["rule_id"] for f in report["findings"]}
    assert "KMS020" not in rules  # the role's policy was not read...
    gaps = [f for f in report["findings"] if f["rule_id"] == "KMS105"]
    assert len(gaps) == 1  # ...and the report says so instead of calling the account clean
    assert "GetAccountAuthorizationDetails" in gaps[0]["message"]
    assert "unknown" in gaps[0]["message"]
    assert gaps[0]["resource"] == ACCOUNT
    assert code == 1


def test_the_allow_list_refuses_a_write_before_it_is_sent(endpoint: str) -> None:
    import boto3

    from kmsguard.audit.client import AuditSession, ReadOnlyViolation

    key_id = boto3.client("kms", endpoint_url=endpoint).create_key()["KeyMetadata"]["KeyId"]
    session = AuditSession(endpoint_url=endpoint)
    kms = session.client("kms", "us-east-1")
    sent: list[str] = []
    kms.meta.events.register("before-send.kms.*", lambda request, **_: sent.append(request.url))
    with pytest.raises(ReadOnlyViolation, match="ScheduleKeyDeletion"):
        kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    assert sent == []
    assert session.calls == 0
    state = boto3.client("kms", endpoint_url=endpoint).describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"]
    assert state == "Enabled"
    kms.describe_key(KeyId=key_id)  # an allowed call does reach the endpoint
    assert len(sent) == 1
    with pytest.raises(ReadOnlyViolation):
        session.client("ssm", "us-east-1")  # a service with nothing on the list


def test_the_allow_list_holds_only_read_operations_that_exist() -> None:
    import botocore.session

    from kmsguard.audit.client import READ_ONLY_OPERATIONS, READ_ONLY_VERBS

    models = botocore.session.get_session()
    for service, operations in READ_ONLY_OPERATIONS.items():
        known = set(models.get_service_model(service).operation_names)
        for operation in operations:
            assert operation.startswith(READ_ONLY_VERBS), (service, operation)
            assert operation in known, (service, operation)
    assert "GetSecretValue" not in READ_ONLY_OPERATIONS["secretsmanager"]


def test_every_allowed_operation_has_the_boto3_method_the_audit_calls() -> None:
    # DescribeDBInstances is boto3's describe_db_instances: a naive CamelCase split gives
    # describe_dbinstances, which boto3 does not have, and the read would fail as a gap.
    import boto3

    from kmsguard.audit.client import READ_ONLY_OPERATIONS, operation_method

    session = boto3.session.Session(aws_access_key_id="x", aws_secret_access_key="x", region_name="us-east-1")
    for service, operations in READ_ONLY_OPERATIONS.items():
        client = session.client(service)
        for operation in operations:
            assert callable(getattr(client, operation_method(operation), None)), (service, operation)


def test_the_snapshot_validates_against_its_schema_and_round_trips(
    endpoint: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import jsonschema

    from kmsguard.load.base import LoadContext
    from kmsguard.load.snapshot import load_snapshot, read_snapshot_file

    arns = seed_world(endpoint)
    snap = tmp_path / "snap.json.gz"
    _audit(endpoint, capsys, "--save", str(snap))
    document = json.loads(gzip.decompress(snap.read_bytes()))
    jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text())).validate(document)
    assert read_snapshot_file(str(snap)) == document
    again = tmp_path / "again.json.gz"
    from kmsguard.audit.snapshot import write_snapshot

    write_snapshot(document, str(again))
    assert again.read_bytes() == snap.read_bytes()  # same document, same bytes

    inventory = load_snapshot(document, str(snap), LoadContext()).inventory
    keys = {k.arn: k for k in inventory.keys}
    assert set(keys) == set(arns.values())
    fine = keys[arns["fine"]]
    assert (fine.account, fine.region, fine.key_manager, fine.rotation_enabled) == (
        ACCOUNT,
        "eu-west-1",
        "CUSTOMER",
        True,
    )
    assert fine.aliases == ("alias/fine",)
    assert keys[arns["norotate"]].rotation_enabled is False
    (grant,) = inventory.grants
    assert grant.key == arns["fine"] and set(grant.operations) == {"Encrypt", "Decrypt"}
    assert grant.constraints is not None and grant.constraints.encryption_context_subset == {"tenant": "a"}
    (role,) = [i for i in inventory.identities if i.name == "app"]
    assert [p.name for p in role.inline_policies] == ["decrypt-all"]
