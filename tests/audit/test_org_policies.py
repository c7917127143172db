"""SCPs and RCPs in the model (Inventory.org_policies / org_placements) filled from snapshots, the
levels the simulator takes (AuthzInputs.scps / rcps), and an organisation that cannot be read
reported as unknown -- never as "no SCP applies"."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kmsguard.cli import main
from kmsguard.load.base import LoadContext, deployment_org
from kmsguard.load.snapshot import deployment_context, load_snapshot
from kmsguard.model import OrgContext, Policy, PolicyKind, Unknown
from tests.audit.conftest import ACCOUNT, seed_world
from tests.audit.moto_support import answer_ebs_default_key
from tests.audit.test_accounts import ROLE, _audit, _read, seed_org


def _org_snapshot(
    endpoint: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> tuple[Any, dict[str, str]]:
    world = seed_org(endpoint)
    snap = tmp_path / "org.json"
    _audit(endpoint, capsys, "--role-name", ROLE, "--save", str(snap))
    return _read(snap), world


def test_scps_and_rcps_land_in_the_model_with_their_targets(
    endpoint: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    document, world = _org_snapshot(endpoint, capsys, tmp_path)
    inventory = load_snapshot(document, "org.json", LoadContext()).inventory
    by_address = {p.address: p for p in inventory.org_policies}
    # Each policy once, though both account records list it; targets from both accounts' paths.
    assert len(by_address) == len(inventory.org_policies)
    assert by_address[world["scp"]].kind is PolicyKind.SCP
    assert by_address[world["scp"]].targets == (world["ou"],)
    assert by_address[world["rcp"]].kind is PolicyKind.RCP
    assert by_address[world["rcp"]].targets == (world["root"],)
    assert isinstance(by_address[world["scp"]].document, Policy)
    placements = {p.account: p for p in inventory.org_placements}
    assert placements[world["member"]].path == (world["root"], world["ou"], world["member"])
    assert placements[world["member"]].org_id == world["org_id"]
    assert placements[world["member"]].unknown is None
    # SCP/RCP documents are no longer "standalone" policies: they are attached to the organisation.
    assert not any(p.document.kind in (PolicyKind.SCP, PolicyKind.RCP) for p in inventory.policies)


def test_levels_are_what_the_simulator_takes(
    endpoint: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from kmsguard.authz.evaluate import decide
    from kmsguard.authz.principals import parse_caller
    from kmsguard.authz.types import AuthzInputs, Outcome, Request

    document, world = _org_snapshot(endpoint, capsys, tmp_path)
    inventory = load_snapshot(document, "org.json", LoadContext()).inventory
    member = world["member"]
    levels = inventory.org_policy_levels(member, PolicyKind.SCP)
    assert isinstance(levels, tuple) and len(levels) == 3  # root, OU, account
    no_deletion = next(p.document for p in inventory.org_policies if p.address == world["scp"])
    assert [no_deletion in level for level in levels] == [False, True, False]
    assert all(level for level in levels)  # FullAWSAccess is attached at every level (moto, as AWS)
    # AWS Organizations User Guide, "Service control policies (SCPs)": SCPs do not affect the
    # management account.
    assert inventory.org_policy_levels(ACCOUNT, PolicyKind.SCP) == ()
    assert inventory.org_policy_levels("000011112222", PolicyKind.SCP) is None  # nothing recorded

    key = next(k for k in inventory.keys if k.arn == world["member_key"])
    assert isinstance(key.policy, Policy)
    from kmsguard.load.policy_builder import build_policy

    admin, _ = build_policy(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]},
        PolicyKind.IDENTITY,
        resource=f"arn:aws:iam::{member}:role/admin",
    )
    assert isinstance(admin, Policy)
    request = Request(
        action="kms:ScheduleKeyDeletion",
        caller=parse_caller(f"arn:aws:iam::{member}:role/admin"),
        resource=key.arn,
        resource_account=member,
    )
    without = decide(AuthzInputs(key_policy=key.policy, identity_policies=(admin,)), request)
    rcps = inventory.org_policy_levels(member, PolicyKind.RCP)
    assert isinstance(rcps, tuple)
    with_org = decide(
        AuthzInputs(key_policy=key.policy, identity_policies=(admin,), scps=levels, rcps=rcps), request
    )
    # The SCP on the member's OU denies kms:ScheduleKeyDeletion, which the policies alone allow.
    assert without.outcome is Outcome.ALLOW
    assert with_org.outcome is Outcome.EXPLICIT_DENY


def test_an_unreadable_organisation_is_unknown_and_reported(
    endpoint: str, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import ClientError

    from kmsguard.audit import client as audit_client

    # A member account may not read its organisation's policies: AWS answers AccessDenied
    # (AWS Organizations API Reference, "ListPolicies", Errors: AccessDeniedException). moto does
    # not enforce it, so the answer is simulated on the call, before it is sent.
    def deny(**_: Any) -> None:
        raise ClientError(
            {"Error": {"Code": "AccessDeniedException", "Message": "You don't have permissions"}},
            "ListPolicies",
        )

    answer_ebs_default_key(monkeypatch)  # the gaps here are the organisation's (see moto_support)
    original = audit_client.AuditSession.client

    def client_with_denied_org(self: Any, service: str, region: str | None = None) -> Any:
        made = original(self, service, region)
        if service == "organizations":
            made.meta.events.register("before-call.organizations.ListPolicies", deny)
        return made

    monkeypatch.setattr(audit_client.AuditSession, "client", client_with_denied_org)
    seed_org(endpoint)
    snap = tmp_path / "s.json"
    code, report = _audit(endpoint, capsys, "--save", str(snap))
    organization = _read(snap)["accounts"][0]["organization"]
    assert organization["status"] == "unknown"
    assert organization["scps"] is None and organization["rcps"] is None
    gaps = [f for f in report["findings"] if f["rule_id"] == "KMS105"]
    assert gaps and all("SCPs and RCPs" in f["message"] for f in gaps)
    inventory = load_snapshot(_read(snap), str(snap), LoadContext()).inventory
    assert isinstance(inventory.org_policy_levels(ACCOUNT, PolicyKind.SCP), Unknown)
    assert code == 1


def test_unknown_iam_or_organisation_without_a_gap_is_still_reported(tmp_path: Path) -> None:
    """A hand-trimmed snapshot that says "unknown" but lost its gaps is not a clean bill either."""
    from kmsguard.check import CheckOptions, run_check

    account = "111122223333"
    snapshot = {
        "format": "kmsguard-snapshot",
        "version": 1,
        "created": "2026-01-01T00:00:00+00:00",
        "tool": {"name": "kmsguard", "version": "test"},
        "accounts": [
            {
                "account": account,
                "partition": "aws",
                "caller": f"arn:aws:iam::{account}:user/auditor",
                "organization": {"status": "unknown", "id": None, "scps": None, "rcps": None},
                "iam": {"status": "unknown", "users": None, "groups": None, "roles": None, "policies": None},
                "global_consumers": [],
                "regions": [{"region": "us-east-1", "keys": [], "aliases": [], "consumers": []}],
                "gaps": [],
            }
        ],
    }
    path = tmp_path / "s.json"
    path.write_text(json.dumps(snapshot))
    result = run_check(CheckOptions(paths=(str(path),), context=LoadContext(account=account)))
    messages = [f.message for f in result.findings if f.rule_id == "KMS105"]
    assert any("IAM of account" in m and "incomplete" in m for m in messages)
    assert any("organisation of account" in m and "SCPs and RCPs" in m for m in messages)


def test_command_line_context_wins_over_the_snapshots() -> None:
    snapshot = {
        "accounts": [{"account": "111122223333", "organization": {"status": "ok", "id": "o-aaaaaaaaaa"}}]
    }
    from_snapshot = deployment_context(snapshot, LoadContext())
    assert (from_snapshot.account, from_snapshot.org_id) == ("111122223333", "o-aaaaaaaaaa")
    given = deployment_context(snapshot, LoadContext(account="444455556666", org_id="o-bbbbbbbbbb"))
    assert (given.account, given.org_id) == ("444455556666", "o-bbbbbbbbbb")
    loaded = OrgContext(account="111122223333", org_id="o-aaaaaaaaaa", trusted_accounts=("111122223333",))
    assert deployment_org(LoadContext(), loaded) == loaded
    assert deployment_org(LoadContext(account="444455556666"), loaded).account == "444455556666"


def test_a_single_account_audit_trusts_only_its_own_account(
    endpoint: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    seed_world(endpoint)
    snap = tmp_path / "s.json"
    _audit(endpoint, capsys, "--save", str(snap))
    context = deployment_context(_read(snap), LoadContext())
    assert (context.account, context.trusted_accounts, context.org_id) == (ACCOUNT, (), None)
    assert main(["merge", str(snap), "-o", str(tmp_path / "m.json")]) == 0
