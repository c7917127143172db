"""The access questions take the key account's RCPs from the inventory (an audit snapshot records
them): behind an RCP that keeps outsiders out only service-linked roles remain, RCPs that could
not be read leave a "yes" unresolved (they only ever take access away), and none apply to keys in
the organisation's management account."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from kmsguard.load.base import LoadContext
from kmsguard.load.policy_builder import build_policy
from kmsguard.load.snapshot import load_snapshot
from kmsguard.model import Inventory, Policy, PolicyKind, Unknown
from kmsguard.model.inventory import OrgPlacement, OrgPolicy
from kmsguard.rules_engine import load_packs, run_packs

SNAPSHOT = Path(__file__).resolve().parents[2] / "fixtures" / "audit" / "recorded" / "consumers-snapshot.json"
KEY_ARN = "arn:aws:kms:eu-west-1:444455556666:key/4444bbbb-4444-bbbb-4444-bbbb4444bbbb"
MEMBER = "444455556666"
MANAGEMENT = "111122223333"
ORG_ID = "o-a1b2c3d4e5"
ROOT = "r-ab12"

# A key policy open to every principal for decryption: public without an RCP.
OPEN = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{MEMBER}:root"},
            "Action": "kms:*",
            "Resource": "*",
        },
        {"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*"},
    ],
}
# source: AWS KMS Developer Guide, "Resource control policies in AWS KMS" (the example RCP that keeps
# principals outside the organisation away from customer managed keys).
RCP = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": "kms:*",
            "Resource": "*",
            "Condition": {
                "StringNotEqualsIfExists": {"aws:PrincipalOrgID": ORG_ID},
                "Bool": {"aws:PrincipalIsAWSService": "false"},
            },
        }
    ],
}


def _policy(document: dict, kind: PolicyKind, resource: str) -> Policy:
    policy, _ = build_policy(document, kind, resource=resource)
    assert isinstance(policy, Policy)
    return policy


def _inventory(placement: OrgPlacement, rcp_targets: tuple[str, ...] | Unknown = (ROOT,)) -> Inventory:
    base = load_snapshot(json.loads(SNAPSHOT.read_text()), "snap.json", LoadContext()).inventory
    keys = tuple(
        replace(k, policy=_policy(OPEN, PolicyKind.KEY, KEY_ARN)) if k.arn == KEY_ARN else k
        for k in base.keys
    )
    rcp = OrgPolicy(
        address="arn:aws:organizations::111122223333:policy/o-a1b2c3d4e5/resource_control_policy/p-rcp1",
        kind=PolicyKind.RCP,
        document=_policy(RCP, PolicyKind.RCP, "rcp"),
        targets=rcp_targets,
        source=base.keys[0].source,
    )
    # source: AWS Organizations User Guide, "RCP evaluation": RCPFullAWSAccess is attached to the root,
    # every OU and every account, and cannot be detached.
    full_access = OrgPolicy(
        address="arn:aws:organizations::aws:policy/resource_control_policy/p-RCPFullAWSAccess",
        kind=PolicyKind.RCP,
        document=_policy(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}],
            },
            PolicyKind.RCP,
            "rcp-full-access",
        ),
        targets=(ROOT, MEMBER),
        source=base.keys[0].source,
        aws_managed=True,
    )
    return replace(base, keys=keys, org_policies=(full_access, rcp), org_placements=(placement,))


def _public_findings(inventory: Inventory) -> list:
    findings = run_packs(load_packs(), inventory)
    return [f for f in findings if f.rule_id == "KMS002" and f.resource == KEY_ARN]


def _member(**changes: object) -> OrgPlacement:
    placement = OrgPlacement(
        account=MEMBER, org_id=ORG_ID, path=(ROOT, MEMBER), management_account=MANAGEMENT
    )
    return replace(placement, **changes)


def test_without_an_organisation_the_open_key_is_public(monkeypatch) -> None:
    monkeypatch.setenv("KMSGUARD_NO_CACHE", "1")
    findings = _public_findings(_inventory(_member(org_id=None, path=())))
    assert findings and not findings[0].unresolved


def test_an_rcp_keeping_outsiders_out_leaves_only_service_linked_roles(monkeypatch) -> None:
    # source: AWS Organizations User Guide, "Resource control policies (RCPs)", "Resources and
    # entities not restricted by RCPs": service-linked roles. An RCP does not restrict them (only AWS
    # services assume them): behind an RCP
    # that denies every principal outside the organisation, the only stranger the open statement
    # still admits is another account's service-linked role -- and the witness says so.
    monkeypatch.setenv("KMSGUARD_NO_CACHE", "1")
    (finding,) = _public_findings(_inventory(_member()))
    assert finding.witness is not None and "a service-linked role" in finding.witness.note
    (open_finding,) = _public_findings(_inventory(_member(org_id=None, path=())))
    assert open_finding.witness is not None and "service-linked" not in open_finding.witness.text


def test_rcps_that_could_not_be_read_leave_public_access_unresolved(monkeypatch) -> None:
    monkeypatch.setenv("KMSGUARD_NO_CACHE", "1")
    unread = _member(unknown="organizations:ListPolicies was denied")
    (finding,) = _public_findings(_inventory(unread))
    assert finding.unresolved and "RCP" in " ".join(finding.unresolved)


def test_rcps_do_not_apply_in_the_management_account(monkeypatch) -> None:
    # source: AWS Organizations User Guide, "Resource control policies (RCPs)": RCPs don't affect
    # resources in the management account.
    monkeypatch.setenv("KMSGUARD_NO_CACHE", "1")
    findings = _public_findings(_inventory(_member(management_account=MEMBER)))
    assert findings and not findings[0].unresolved
