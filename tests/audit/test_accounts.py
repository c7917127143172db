"""Many accounts against moto in server mode: --role-name fans out to the organisation's accounts
(sts:AssumeRole, the one non-read call, sent only by the fan-out), --accounts subsets, bounded
concurrency with a deterministic snapshot, `kmsguard merge`, org-wide answers on the merged whole,
SCPs/RCPs in the model, and an unreadable organisation reported as unknown."""

from __future__ import annotations

import ast
import datetime as dt
import gzip
import json
import random
import time
from pathlib import Path
from typing import Any

import pytest

from kmsguard.cli import main
from tests.audit.conftest import ACCOUNT, _client

ROOT = Path(__file__).resolve().parents[2]
ROLE = "OrganizationAccountAccessRole"
OUTSIDER = "999999999999"  # in no organisation of this world
REGION = "us-east-1"
FIXED = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)


def _policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _root_admin(account: str) -> dict[str, Any]:
    return {
        "Sid": "Admin",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
        "Action": "kms:*",
        "Resource": "*",
    }


def seed_org(endpoint: str) -> dict[str, str]:
    """An organisation: the management account (moto's default) and one member in an OU; an SCP
    on the OU, an RCP on the root; in the management account a key with a grant to a role of the
    member and one to a role of an outside account; in the member a key of its own."""
    import boto3

    org = _client(endpoint, "organizations")
    org_id = org.create_organization(FeatureSet="ALL")["Organization"]["Id"]
    root = org.list_roots()["Roots"][0]["Id"]
    org.create_account(Email="member@example.com", AccountName="member")
    member = next(a["Id"] for a in org.list_accounts()["Accounts"] if a["Id"] != ACCOUNT)
    ou = org.create_organizational_unit(ParentId=root, Name="workloads")["OrganizationalUnit"]["Id"]
    org.move_account(AccountId=member, SourceParentId=root, DestinationParentId=ou)
    deny_delete = _policy({"Effect": "Deny", "Action": "kms:ScheduleKeyDeletion", "Resource": "*"})
    scp = org.create_policy(
        Content=deny_delete, Description="no deletion", Name="no-key-deletion", Type="SERVICE_CONTROL_POLICY"
    )["Policy"]["PolicySummary"]
    org.attach_policy(PolicyId=scp["Id"], TargetId=ou)
    org_only = _policy(
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": "kms:*",
            "Resource": "*",
            "Condition": {"StringNotEqualsIfExists": {"aws:PrincipalOrgID": org_id}},
        }
    )
    rcp = org.create_policy(
        Content=org_only, Description="org only", Name="org-only", Type="RESOURCE_CONTROL_POLICY"
    )["Policy"]["PolicySummary"]
    org.attach_policy(PolicyId=rcp["Id"], TargetId=root)

    kms = _client(endpoint, "kms", REGION)
    shared = kms.create_key(Description="shared", Policy=_policy(_root_admin(ACCOUNT)))["KeyMetadata"]
    kms.enable_key_rotation(KeyId=shared["KeyId"])
    for name, account in (("reader", member), ("outsider", OUTSIDER)):
        kms.create_grant(
            KeyId=shared["KeyId"],
            GranteePrincipal=f"arn:aws:iam::{account}:role/{name}",
            Operations=["Decrypt"],
            Name=name,
        )
    credentials = _client(endpoint, "sts").assume_role(
        RoleArn=f"arn:aws:iam::{member}:role/{ROLE}", RoleSessionName="seed"
    )["Credentials"]
    member_kms = boto3.client(
        "kms",
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )
    own = member_kms.create_key(Description="member", Policy=_policy(_root_admin(member)))["KeyMetadata"]
    member_kms.enable_key_rotation(KeyId=own["KeyId"])
    return {
        "org_id": org_id,
        "root": root,
        "ou": ou,
        "member": member,
        "scp": scp["Arn"],
        "rcp": rcp["Arn"],
        "shared": shared["Arn"],
        "member_key": own["Arn"],
    }


def _audit(endpoint: str, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, dict[str, Any]]:
    code = main(["audit", "--endpoint-url", endpoint, "--regions", REGION, "--format", "json", *extra])
    return code, json.loads(capsys.readouterr().out)


def _read(path: Path) -> dict[str, Any]:
    data = path.read_bytes()
    return json.loads(gzip.decompress(data) if path.suffix == ".gz" else data)


def _grant_findings(report: dict[str, Any]) -> set[str]:
    """The grantee names of the KMS012 findings (grant to a principal outside the trusted accounts)."""
    return {
        f["message"].split("account ")[1].split(",")[0]
        for f in report["findings"]
        if f["rule_id"] == "KMS012"
    }


def test_role_name_reads_every_active_account_of_the_organisation(
    endpoint: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    world = seed_org(endpoint)
    snap = tmp_path / "org.json"
    code, report = _audit(endpoint, capsys, "--role-name", ROLE, "--save", str(snap))
    saved = _read(snap)
    by_account = {a["account"]: a for a in saved["accounts"]}
    assert sorted(by_account) == sorted([ACCOUNT, world["member"]])
    member = by_account[world["member"]]
    # The member was read with the role's credentials: an assumed-role session of that account.
    assert member["caller"].startswith(f"arn:aws:sts::{world['member']}:assumed-role/{ROLE}/")
    assert [k["arn"] for k in member["regions"][0]["keys"]] == [world["member_key"]]
    assert [k["arn"] for k in by_account[ACCOUNT]["regions"][0]["keys"]] == [world["shared"]]
    # Where the member sits: root, its OU, itself; the SCP is attached to the OU only.
    assert member["organization"]["path"] == [world["root"], world["ou"], world["member"]]
    scps = {p["arn"]: p for p in member["organization"]["scps"]}
    assert scps[world["scp"]]["targets"] == [world["ou"]]
    assert by_account[ACCOUNT]["organization"]["path"] == [world["root"], ACCOUNT]
    # Who outside the organisation can decrypt: the grant to the outside account, and only it --
    # the member account is inside the organisation.
    assert _grant_findings(report) == {OUTSIDER}
    assert code == 1


def test_accounts_subset_reads_only_those(
    endpoint: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    world = seed_org(endpoint)
    snap = tmp_path / "member.json"
    _audit(endpoint, capsys, "--role-name", ROLE, "--accounts", world["member"], "--save", str(snap))
    assert [a["account"] for a in _read(snap)["accounts"]] == [world["member"]]


def test_accounts_other_than_the_callers_need_a_role(
    endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["audit", "--endpoint-url", endpoint, "--regions", REGION, "--accounts", OUTSIDER])
    assert code == 2
    assert "--role-name" in capsys.readouterr().err


def test_an_account_whose_role_cannot_be_assumed_is_unknown_not_clean(
    endpoint: str, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import ClientError

    from kmsguard.audit import client as audit_client

    # moto's STS does not check trust policies; the refusal AWS sends is simulated (AWS STS API
    # Reference, "AssumeRole", Errors: AccessDenied when the trust policy does not allow the caller).
    def refuse(self: Any, role_arn: str, session_name: str = "") -> Any:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "not trusted"}}, "AssumeRole")

    monkeypatch.setattr(audit_client.AuditSession, "assume_role", refuse)
    world = seed_org(endpoint)
    snap = tmp_path / "s.json"
    code, report = _audit(endpoint, capsys, "--role-name", ROLE, "--save", str(snap))
    member = {a["account"]: a for a in _read(snap)["accounts"]}[world["member"]]
    assert member["regions"] is None and member["iam"]["status"] == "unknown"
    gaps = [f for f in report["findings"] if f["rule_id"] == "KMS105" and f["resource"] == world["member"]]
    assert any(
        "AssumeRole" in f["message"] and "nothing in this account was read" in f["message"] for f in gaps
    )
    assert code == 1


def test_snapshot_is_the_same_whatever_the_completion_order(
    endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kmsguard.audit import run
    from kmsguard.audit.client import AuditSession

    seed_org(endpoint)
    kms = _client(endpoint, "kms", "eu-west-1")
    for index in range(6):
        kms.create_key(Description=f"k{index}")

    def collect(concurrency: int) -> Any:
        return run.collect_accounts(
            AuditSession(endpoint_url=endpoint),
            role_name=ROLE,
            regions=[REGION, "eu-west-1"],
            concurrency=concurrency,
            clock=lambda: FIXED,
        ).accounts

    sequential = collect(1)
    original = run.collect_key
    shuffle = random.Random(7)

    def late(*args: Any) -> Any:
        time.sleep(shuffle.random() * 0.02)  # keys finish in an order unrelated to their listing
        return original(*args)

    monkeypatch.setattr(run, "collect_key", late)
    assert _without_role_last_used(collect(8)) == _without_role_last_used(sequential)
    assert sum(len(r["keys"] or []) for a in sequential for r in a["regions"]) == 8


def _without_role_last_used(accounts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records without IAM's RoleLastUsed: assuming the role to collect changes it."""
    for account in accounts:
        for role in account["iam"]["roles"] or []:
            role.pop("RoleLastUsed", None)
    return accounts


def test_assume_role_is_refused_to_audit_clients_and_is_all_the_credentials_client_sends(
    endpoint: str,
) -> None:
    from kmsguard.audit.client import AuditSession, ReadOnlyViolation

    session = AuditSession(endpoint_url=endpoint)
    sts = session.client("sts", REGION)
    with pytest.raises(ReadOnlyViolation, match="AssumeRole"):
        sts.assume_role(RoleArn=f"arn:aws:iam::{OUTSIDER}:role/{ROLE}", RoleSessionName="x1")
    assert session.calls == 0  # refused before it was sent
    member = session.assume_role(f"arn:aws:iam::{OUTSIDER}:role/{ROLE}")
    assert session.calls == 1
    # The credentials client may send AssumeRole and nothing else, not even a read.
    with pytest.raises(ReadOnlyViolation, match="GetCallerIdentity"):
        session._credentials_client.get_caller_identity()
    # The member session makes read-only clients like any other.
    with pytest.raises(ReadOnlyViolation, match="ScheduleKeyDeletion"):
        member.client("kms", REGION).schedule_key_deletion(KeyId="k", PendingWindowInDays=7)


def _calls_of(tree: ast.AST, method: str) -> list[str]:
    """Names of the functions that call ``<something>.<method>(...)``."""
    found: list[str] = []
    for function in ast.walk(tree):
        if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            for node in ast.walk(function):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr == method
                ):
                    found.append(getattr(function, "name", "<lambda>"))
    return found


def test_only_the_account_fan_out_assumes_roles() -> None:
    """The allow-list stays provable: AssumeRole is sent by ``AuditSession.assume_role`` only, and
    only the fan-out's ``_open_account`` (kmsguard/audit/run.py) calls that."""
    callers: dict[str, set[str]] = {}
    for path in sorted((ROOT / "kmsguard").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = set(_calls_of(tree, "assume_role"))
        if names:
            callers[str(path.relative_to(ROOT))] = names
    # In client.py the call is the credentials client's own sts.assume_role, inside assume_role.
    assert callers == {
        "kmsguard/audit/client.py": {"assume_role"},
        "kmsguard/audit/run.py": {"_open_account", "<lambda>"},
    }


def test_merge_then_check_answers_for_the_whole_organisation(
    endpoint: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from kmsguard.check import CheckOptions, run_check
    from kmsguard.load.base import LoadContext
    from kmsguard.load.snapshot import deployment_context

    world = seed_org(endpoint)
    management, member = tmp_path / "management.json.gz", tmp_path / "member.json.gz"
    _audit(endpoint, capsys, "--role-name", ROLE, "--accounts", ACCOUNT, "--save", str(management))
    _audit(endpoint, capsys, "--role-name", ROLE, "--accounts", world["member"], "--save", str(member))
    merged = tmp_path / "org.json.gz"
    assert main(["merge", str(management), str(member), "-o", str(merged)]) == 0
    document = _read(merged)
    assert [a["account"] for a in document["accounts"]] == sorted([ACCOUNT, world["member"]])
    # The context the rules see is the merged snapshot's (given to run_check here, as `kmsguard
    # audit` does; `kmsguard check` needs the change of test_check_takes_the_context_from_the_snapshot).
    org = deployment_context(document, LoadContext())
    assert org.org_id == world["org_id"]
    assert set(org.trusted_accounts) == {ACCOUNT, world["member"]}
    checked = run_check(CheckOptions(paths=(str(merged),), context=org))
    outside = {
        f.message.split("account ")[1].split(",")[0] for f in checked.findings if f.rule_id == "KMS012"
    }
    assert outside == {OUTSIDER}  # the member's account is inside the organisation; the outsider is not


def test_check_takes_the_context_from_the_snapshot(
    endpoint: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    world = seed_org(endpoint)
    snap = tmp_path / "org.json.gz"
    _audit(endpoint, capsys, "--role-name", ROLE, "--save", str(snap))
    code = main(["check", str(snap), "--format", "json"])
    report = json.loads(capsys.readouterr().out)
    assert _grant_findings(report) == {OUTSIDER}
    assert world["member"] not in json.dumps([f for f in report["findings"] if f["rule_id"] == "KMS012"])
    assert code == 1


def test_merge_keeps_the_newer_collection_of_an_account_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = (
        _hand_snapshot("2026-01-01T00:00:00+00:00", "o-aaaaaaaaaa"),
        _hand_snapshot("2026-02-01T00:00:00+00:00", "o-aaaaaaaaaa"),
    )
    new["accounts"][0]["caller"] = "arn:aws:iam::111122223333:user/newer"
    paths = [tmp_path / "old.json", tmp_path / "new.json"]
    # Newer second and first: the order of the inputs does not decide.
    for first, second in ((old, new), (new, old)):
        paths[0].write_text(json.dumps(first))
        paths[1].write_text(json.dumps(second))
        out = tmp_path / "merged.json"
        assert main(["merge", str(paths[0]), str(paths[1]), "-o", str(out)]) == 0
        merged = json.loads(out.read_text())
        assert [a["caller"] for a in merged["accounts"]] == ["arn:aws:iam::111122223333:user/newer"]
        err = capsys.readouterr().err
        assert "111122223333" in err and "keeping the newer" in err


def test_merge_refuses_snapshots_of_different_organisations(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one, other = tmp_path / "a.json", tmp_path / "b.json"
    one.write_text(json.dumps(_hand_snapshot("2026-01-01T00:00:00+00:00", "o-aaaaaaaaaa")))
    second = _hand_snapshot("2026-01-01T00:00:00+00:00", "o-bbbbbbbbbb")
    second["accounts"][0]["account"] = "444455556666"
    other.write_text(json.dumps(second))
    out = tmp_path / "merged.json"
    assert main(["merge", str(one), str(other), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "different organisations" in err[0] and "o-bbbbbbbbbb" in err[0]
    assert not out.exists()


def test_merge_of_an_unreadable_input_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    assert main(["merge", str(bad), "-o", str(tmp_path / "m.json")]) == 2
    assert "not a kmsguard snapshot" in capsys.readouterr().err


def _hand_snapshot(collected: str, org_id: str) -> dict[str, Any]:
    return {
        "format": "kmsguard-snapshot",
        "version": 1,
        "created": collected,
        "tool": {"name": "kmsguard", "version": "test"},
        "accounts": [
            {
                "account": "111122223333",
                "partition": "aws",
                "caller": "arn:aws:iam::111122223333:user/older",
                "collected": collected,
                "organization": {"status": "ok", "id": org_id, "scps": [], "rcps": [], "path": None},
                "iam": {"status": "ok", "users": [], "groups": [], "roles": [], "policies": []},
                "global_consumers": [],
                "regions": [],
                "gaps": [],
            }
        ],
    }
