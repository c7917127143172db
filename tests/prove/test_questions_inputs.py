"""The questions take the key's grants, RCPs and SCPs (``inputs=``), and every "yes" witness is
re-checked by the simulator with the same inputs."""

from __future__ import annotations

from typing import Any

from kmsguard.authz.case import parse_case
from kmsguard.authz.types import AuthzInputs
from kmsguard.prove.questions import external, public, who_can

KEY = "111122223333"
PARTNER = "444455556666"
KEY_ARN = f"arn:aws:kms:us-east-1:{KEY}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
VERSION = "2012-10-17"
# KMS Developer Guide, "Default key policy": the account root, which delegates to IAM.
DEFAULT_POLICY = {
    "Version": VERSION,
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{KEY}:root"},
            "Action": "kms:*",
            "Resource": "*",
        }
    ],
}
PARTNER_ROLE = f"arn:aws:iam::{PARTNER}:role/partner"


def _inputs(**fields: Any) -> AuthzInputs:
    raw = {"key_policy": DEFAULT_POLICY, **fields}
    raw["request"] = {"action": "kms:Decrypt", "principal": f"arn:aws:iam::{KEY}:root", "resource": KEY_ARN}
    return parse_case(raw, "test").inputs


def test_a_grant_to_another_account_is_external_access() -> None:
    """KMS Developer Guide, "Grants in AWS KMS": a grant gives its grantee access without a key
    policy statement for it; a grant to another account's role is access from outside."""
    inputs = _inputs(grants=[{"grantee_principal": PARTNER_ROLE, "operations": ["Decrypt"]}])
    policy = inputs.key_policy
    assert policy is not None
    without = external(policy, [], key_account=KEY, key_arn=KEY_ARN, actions=["kms:Decrypt"])
    assert without.answer == "no"
    found = external(policy, [], key_account=KEY, key_arn=KEY_ARN, actions=["kms:Decrypt"], inputs=inputs)
    assert found.answer == "yes"
    assert found.witness is not None and found.witness.caller.arn == PARTNER_ROLE
    # The partner's account is named by the grant: it is not a stranger, so not public access.
    assert public(policy, key_account=KEY, key_arn=KEY_ARN, inputs=inputs).answer == "no"
    # Trusting the partner's account answers "no" again.
    trusted = external(policy, [PARTNER], key_account=KEY, key_arn=KEY_ARN, inputs=inputs)
    assert trusted.answer == "no"


def test_an_scp_denying_kms_leaves_only_service_linked_roles() -> None:
    """AWS Organizations User Guide, "Service control policies (SCPs)": SCPs limit the root user
    and IAM principals of member accounts, not service-linked roles."""
    deny = {"Version": VERSION, "Statement": [{"Effect": "Deny", "Action": "kms:*", "Resource": "*"}]}
    full = {"Version": VERSION, "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    inputs = _inputs(scps=[[full, deny]])
    policy = inputs.key_policy
    assert policy is not None
    answers = who_can(policy, "kms:Decrypt", key_account=KEY, key_arn=KEY_ARN, inputs=inputs)
    assert answers["the key's account root user"].answer == "no"
    iam = answers["IAM principals of the key's account"]
    assert iam.answer == "yes"
    assert iam.witness is not None and ":role/aws-service-role/" in iam.witness.caller.arn
    # Another account's SCPs are its own: not the key account's, so they do not limit it.
    assert answers["another account's root user"].answer == "no"  # the key policy does not name it


def test_rcp_takes_away_what_the_key_policy_gives_a_stranger_but_a_service_linked_role() -> None:
    """KMS Developer Guide, "Resource control policies in AWS KMS": an RCP can deny access to the
    key's account's keys from outside the organisation, whatever the key policy allows."""
    open_policy = {
        "Version": VERSION,
        "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*"}],
    }
    rcp_deny = {
        "Version": VERSION,
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "kms:*",
                "Resource": "*",
                "Condition": {"StringNotEqualsIfExists": {"aws:PrincipalAccount": KEY}},
            }
        ],
    }
    rcp_full = {
        "Version": VERSION,
        "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}],
    }
    inputs = _inputs(key_policy=open_policy, rcps=[[rcp_full, rcp_deny]])
    policy = inputs.key_policy
    assert policy is not None
    assert public(policy, key_account=KEY, key_arn=KEY_ARN).answer == "yes"
    # The simulator reads RCPs as not limiting service-linked roles (evaluate._decide, an assumption
    # from AWS Organizations User Guide, "Resource control policies (RCPs)"): a stranger's
    # service-linked role is the only way left, and the prover finds exactly that.
    limited = public(policy, key_account=KEY, key_arn=KEY_ARN, inputs=inputs)
    assert limited.answer == "yes"
    assert limited.witness is not None and ":role/aws-service-role/" in limited.witness.caller.arn
    # An AWS managed key is not subject to RCPs.
    managed = _inputs(key_policy=open_policy, rcps=[[rcp_full, rcp_deny]], key_manager="AWS")
    assert public(policy, key_account=KEY, key_arn=KEY_ARN, inputs=managed).answer == "yes"
