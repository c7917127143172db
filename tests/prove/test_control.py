"""``lockout``, ``who_can`` by detailed classes, ``admin_usage`` and ``grant_escalation`` on
hand-written key policies.

Each expected answer follows from AWS's documented behaviour (cited per test); every "yes" witness
request is decided here again by the simulator from its CASE-format form, independently of the
prover's own check.
"""

from __future__ import annotations

from typing import Any

import pytest
import z3

from kmsguard.authz.case import evaluate_case, parse_case
from kmsguard.authz.types import Outcome
from kmsguard.load.policy_builder import build_policy
from kmsguard.model import Policy, PolicyKind
from kmsguard.prove import control, questions
from kmsguard.prove.control import (
    NOT_FOR_AWS_RESOURCE,
    OPERATION_IT_LACKS,
    admin_usage,
    cryptographic_actions,
    grant_escalation,
    management_actions,
)
from kmsguard.prove.questions import DETAILED_CLASSES, ProofResult, lockout, summarize, who_can

KEY_ACCOUNT = "111122223333"
PARTNER = "444455556666"
KEY_ARN = f"arn:aws:kms:us-east-1:{KEY_ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ADMIN_ROLE = f"arn:aws:iam::{KEY_ACCOUNT}:role/KeyAdmin"
APP_ROLE = f"arn:aws:iam::{KEY_ACCOUNT}:role/App"

# KMS Developer Guide, "Default key policy": the account statement, the key administrators
# statement and the key users statements as the console writes them.
ROOT = {
    "Sid": "Enable IAM User Permissions",
    "Effect": "Allow",
    "Principal": {"AWS": f"arn:aws:iam::{KEY_ACCOUNT}:root"},
    "Action": "kms:*",
    "Resource": "*",
}
ADMINS = {
    "Sid": "Allow access for Key Administrators",
    "Effect": "Allow",
    "Principal": {"AWS": ADMIN_ROLE},
    "Action": [
        "kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*",
        "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*", "kms:TagResource",
        "kms:UntagResource", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion",
    ],
    "Resource": "*",
}  # fmt: skip
USERS = {
    "Sid": "Allow use of the key",
    "Effect": "Allow",
    "Principal": {"AWS": APP_ROLE},
    "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
    "Resource": "*",
}
USERS_WITH_SERVICES = {
    "Sid": "Allow attachment of persistent resources",
    "Effect": "Allow",
    "Principal": {"AWS": APP_ROLE},
    "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
    "Resource": "*",
    "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
}
ALL_ACCESS_IDENTITY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}],
}


def _policy(*statements: dict[str, Any]) -> Policy:
    policy, diagnostics = build_policy(
        {"Version": "2012-10-17", "Statement": list(statements)}, PolicyKind.KEY, resource="test"
    )
    assert not diagnostics and isinstance(policy, Policy)
    return policy


def _simulated(request: dict[str, Any], statements: tuple[dict[str, Any], ...], with_iam: bool) -> Outcome:
    """The simulator's decision for a CASE-format witness request."""
    case: dict[str, Any] = {
        "key_policy": {"Version": "2012-10-17", "Statement": list(statements)},
        "request": request,
    }
    if with_iam:
        case["identity_policies"] = [ALL_ACCESS_IDENTITY]
    return evaluate_case(parse_case(case, "witness")).outcome


def _args() -> dict[str, Any]:
    return {"key_account": KEY_ACCOUNT, "key_arn": KEY_ARN}


# -- lockout -------------------------------------------------------------------------------------------


def test_the_default_key_policy_is_not_locked_out() -> None:
    # source: KMS Developer Guide, "Default key policy", "Allows access to the AWS account and
    # enables IAM policies": the account (its root user, and IAM) can always manage the key.
    result = lockout(_policy(ROOT), **_args())
    assert result.answer == "no" and result.witness_case is not None
    assert isinstance(result.witness_case, dict)
    assert result.witness_case["action"] == "kms:PutKeyPolicy"
    assert _simulated(result.witness_case, (ROOT,), result.needs_identity_policy) is Outcome.ALLOW


def test_a_policy_naming_only_users_is_locked_out() -> None:
    # source: KMS Developer Guide, "Default key policy": without the account statement and without
    # kms:PutKeyPolicy for anyone, nobody can change the policy ("the KMS key becomes unmanageable"),
    # which PutKeyPolicy's lockout safety check exists to prevent (KMS API Reference, "PutKeyPolicy",
    # BypassPolicyLockoutSafetyCheck).
    result = lockout(_policy(USERS, USERS_WITH_SERVICES), **_args())
    assert result.answer == "yes" and result.witness is None and result.witness_case is None


def test_an_administrator_role_is_enough_to_not_be_locked_out() -> None:
    # source: KMS Developer Guide, "Default key policy", "Allows key administrators to administer
    # the KMS key": kms:Put* covers kms:PutKeyPolicy.
    result = lockout(_policy(ADMINS, USERS), **_args())
    assert result.answer == "no" and result.witness is not None
    assert result.witness.caller.arn == ADMIN_ROLE
    assert isinstance(result.witness_case, dict)
    assert _simulated(result.witness_case, (ADMINS, USERS), result.needs_identity_policy) is Outcome.ALLOW


def test_put_key_policy_denied_to_everyone_is_locked_out() -> None:
    # source: IAM User Guide, "Policy evaluation logic": an explicit deny overrides every allow.
    deny = {"Sid": "Deny", "Effect": "Deny", "Principal": "*", "Action": "kms:PutKeyPolicy", "Resource": "*"}
    assert lockout(_policy(ROOT, ADMINS, deny), **_args()).answer == "yes"


def test_lockout_timeout_is_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    class GivingUp(z3.Solver):
        def check(self, *assumptions: Any) -> z3.CheckSatResult:
            return z3.unknown

        def reason_unknown(self) -> str:
            return "timeout"

    monkeypatch.setattr(questions.z3, "Solver", GivingUp)
    result = lockout(_policy(ADMINS, USERS), **_args())  # a policy the solver must be asked about
    assert result.answer == "unknown" and "solver: timeout" in result.depends_on


def test_escalation_and_admin_usage_timeouts_are_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    class GivingUp(z3.Solver):
        def check(self, *assumptions: Any) -> z3.CheckSatResult:
            return z3.unknown

        def reason_unknown(self) -> str:
            return "timeout"

    monkeypatch.setattr(control.z3, "Solver", GivingUp)
    policy = _policy(ROOT, ADMINS, USERS)
    for answers in (grant_escalation(policy, **_args()), admin_usage(policy, **_args())):
        assert {result.answer for result in answers.values()} <= {"unknown", "no"}
        assert any(result.answer == "unknown" for result in answers.values())


# -- who-can by detailed classes ------------------------------------------------------------------------


def test_who_can_separates_named_principals_from_the_account_delegation() -> None:
    # source: KMS Developer Guide, "Default key policy": a principal named in the key policy needs
    # no IAM policy; other IAM principals of the account need one ("enables IAM policies").
    answers = who_can(_policy(ROOT, USERS), "kms:Decrypt", classes=DETAILED_CLASSES, **_args())
    named = answers["principals of the key's account that the key policy allows by itself"]
    assert named.answer == "yes" and named.witness is not None and not named.needs_identity_policy
    assert named.witness.caller.arn == APP_ROLE
    delegated = answers[questions.ANY_IAM_OF_KEY_ACCOUNT.label]
    assert delegated.answer == "yes" and delegated.needs_identity_policy
    assert delegated.witness is not None and delegated.witness.caller.arn != APP_ROLE
    # source: KMS API Reference, "Common Errors", MissingAuthenticationToken: KMS takes signed
    # requests only.
    assert answers["anonymous callers"].answer == "no"
    assert answers["another account's root user"].answer == "no"
    for result in (named, delegated):
        assert isinstance(result.witness_case, dict)
        assert _simulated(result.witness_case, (ROOT, USERS), result.needs_identity_policy) is Outcome.ALLOW


def test_without_the_account_statement_no_iam_principal_gets_in_through_iam() -> None:
    # source: KMS Developer Guide, "Key policies in AWS KMS": "IAM policies by themselves are not
    # sufficient" unless the key policy allows the account.
    answers = who_can(_policy(USERS), "kms:Decrypt", classes=DETAILED_CLASSES, **_args())
    assert answers[questions.ANY_IAM_OF_KEY_ACCOUNT.label].answer == "no"
    assert answers["the key's account root user"].answer == "no"


def test_summary_lists_one_witness_per_class() -> None:
    answers = who_can(_policy(ROOT, USERS), "kms:Decrypt", classes=DETAILED_CLASSES, **_args())
    summary = summarize("who can kms:Decrypt", answers)
    as_json = summary.to_json()
    assert set(as_json) == {"answer", "witness", "depends_on", "explanation"}
    assert as_json["answer"] == "yes" and isinstance(as_json["witness"], list)
    assert {entry["class"] for entry in as_json["witness"]} == {
        label for label, result in answers.items() if result.answer != "no"
    }
    assert "list" in as_json["explanation"]
    nobody = summarize(
        "who can", {"a": ProofResult("no", None, (), "no"), "b": ProofResult("no", None, (), "no")}
    )
    assert nobody.answer == "no" and nobody.to_json()["witness"] is None


# -- admin-usage -----------------------------------------------------------------------------------------


def test_management_and_cryptographic_actions_are_apart() -> None:
    manage, use = set(management_actions()), set(cryptographic_actions())
    assert not manage & use
    # The brief's examples; source: KMS Developer Guide, "Cryptographic operations".
    assert {"kms:PutKeyPolicy", "kms:ScheduleKeyDeletion", "kms:CreateGrant", "kms:DisableKey"} <= manage
    assert {"kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:GenerateDataKey", "kms:Sign"} <= use
    assert "kms:DescribeKey" not in manage | use


def _assert_pair_confirmed(result: ProofResult, *statements: dict[str, Any]) -> list[dict[str, Any]]:
    assert result.answer == "yes" and isinstance(result.witness_case, dict)
    requests = result.witness_case["requests"]
    assert len(requests) == 2 and len(result.witnesses) == 2
    assert requests[0]["principal"] == requests[1]["principal"] == result.witness_case["principal"]
    assert requests[0]["action"] in management_actions()
    assert requests[1]["action"] in cryptographic_actions()
    for request in requests:
        assert _simulated(request, statements, result.needs_identity_policy) is Outcome.ALLOW
    return requests


def test_separated_administrators_and_users_have_no_named_admin_user() -> None:
    # source: KMS Developer Guide, "Default key policy": administrators cannot use the key
    # ("Allows key administrators to administer the KMS key" lists no cryptographic operation);
    # users' grant permissions hold only for grants AWS services make ("...with AWS services").
    answers = admin_usage(_policy(ROOT, ADMINS, USERS, USERS_WITH_SERVICES), **_args())
    named = answers["principals of the key's account that the key policy allows by itself"]
    assert named.answer == "no"
    # The account statement: the root user, and any IAM principal its identity policies allow,
    # can do both -- reported as such, not as a named principal.
    root = answers["the key's account root user"]
    _assert_pair_confirmed(root, ROOT, ADMINS, USERS, USERS_WITH_SERVICES)
    delegated = answers[control.ADMIN_USAGE_CLASSES[2].label]
    assert delegated.answer == "yes" and delegated.needs_identity_policy
    _assert_pair_confirmed(delegated, ROOT, ADMINS, USERS, USERS_WITH_SERVICES)
    assert answers["principals of another account"].answer == "no"


def test_a_named_principal_that_administers_and_decrypts_is_found() -> None:
    admin_and_user = {**USERS, "Principal": {"AWS": ADMIN_ROLE}}
    statements = (ADMINS, admin_and_user)
    answers = admin_usage(_policy(*statements), **_args())
    named = answers["principals of the key's account that the key policy allows by itself"]
    requests = _assert_pair_confirmed(named, *statements)
    assert requests[0].get("role_arn") == ADMIN_ROLE and not named.needs_identity_policy
    assert answers["the key's account root user"].answer == "no"  # no account statement


def test_admin_usage_action_sets_can_be_narrowed() -> None:
    admin_and_user = {**USERS, "Principal": {"AWS": ADMIN_ROLE}}
    answers = admin_usage(
        _policy(ADMINS, admin_and_user), management=["kms:PutKeyPolicy"], usage=["kms:Sign"], **_args()
    )
    assert all(result.answer == "no" for result in answers.values())  # nobody may Sign
    with pytest.raises(ValueError):
        admin_usage(_policy(ADMINS), management=["s3:GetObject"], **_args())


# -- grant-escalation ----------------------------------------------------------------------------------


def test_console_default_policy_administrators_can_grant_what_they_cannot_do() -> None:
    # source: KMS Developer Guide, "Default key policy", "Allows key administrators to administer the
    # KMS key": kms:Create* includes kms:CreateGrant; "Grants in AWS KMS": a grant allows its
    # operations to the grantee whatever the key policy says.
    statements = (ADMINS, USERS, USERS_WITH_SERVICES)
    answers = grant_escalation(_policy(*statements), **_args())
    lacking = answers[OPERATION_IT_LACKS]
    assert lacking.answer == "yes" and lacking.witness is not None and isinstance(lacking.witness_case, dict)
    assert lacking.witness.caller.arn == ADMIN_ROLE
    assert lacking.witness_case["action"] == "kms:CreateGrant"
    assert _simulated(lacking.witness_case, statements, lacking.needs_identity_policy) is Outcome.ALLOW
    # ... and the granted operation is one the administrator's own requests are denied.
    granted = lacking.witness_case["context"]["kms:grantoperations"]
    lacked = [op for op in granted if op in control.CRYPTOGRAPHIC]
    assert lacked
    own = {**lacking.witness_case, "action": f"kms:{lacked[0]}", "context": {}}
    assert _simulated(own, statements, lacking.needs_identity_policy) is not Outcome.ALLOW
    # Key users may create grants only for AWS resources; the administrators administer the key.
    assert answers[NOT_FOR_AWS_RESOURCE].answer == "no"


def test_grants_through_aws_services_only_are_no_escalation() -> None:
    # source: KMS Developer Guide, "AWS KMS condition keys", "kms:GrantIsForAWSResource": true only
    # when an integrated AWS service creates the grant, which chooses its operations.
    answers = grant_escalation(_policy(ROOT, USERS, USERS_WITH_SERVICES), **_args())
    assert answers[OPERATION_IT_LACKS].answer == "no"
    assert answers[NOT_FOR_AWS_RESOURCE].answer == "no"


def test_create_grant_without_the_aws_resource_condition_is_escalation() -> None:
    # source: KMS Developer Guide, "AWS KMS condition keys", "kms:GrantIsForAWSResource"; the
    # partner account cannot call kms:PutKeyPolicy (KMS API Reference, "PutKeyPolicy", "Cross-account
    # use: No"), so it is no key administrator.
    partner = {
        "Sid": "Partner",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{PARTNER}:root"},
        "Action": ["kms:Decrypt", "kms:CreateGrant"],
        "Resource": "*",
    }
    answers = grant_escalation(_policy(ROOT, partner), **_args())
    loose = answers[NOT_FOR_AWS_RESOURCE]
    assert loose.answer == "yes" and loose.witness is not None and isinstance(loose.witness_case, dict)
    assert loose.witness.caller.account == PARTNER
    flag = str(loose.witness_case["context"].get("kms:grantisforawsresource", "absent")).lower()
    assert flag != "true"
    assert _simulated(loose.witness_case, (ROOT, partner), loose.needs_identity_policy) is Outcome.ALLOW
    # Restricting kms:GrantOperations to what the partner may do itself leaves no escalation of the
    # first kind; the second remains.
    limited = {
        **partner,
        "Sid": "PartnerGrants",
        "Action": "kms:CreateGrant",
        "Condition": {"ForAllValues:StringEquals": {"kms:GrantOperations": ["Decrypt"]}},
    }
    decrypt = {**partner, "Action": "kms:Decrypt"}
    answers = grant_escalation(_policy(ROOT, decrypt, limited), **_args())
    assert answers[OPERATION_IT_LACKS].answer == "no"
    assert answers[NOT_FOR_AWS_RESOURCE].answer == "yes"
