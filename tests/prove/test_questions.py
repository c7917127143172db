"""The ``public`` / ``external`` / ``who_can`` questions on hand-written key policies.

Each expected answer follows from AWS's documented behaviour (cited per test); every "yes" witness
is also re-checked here with the simulator, independently of the prover's own check.
"""

from __future__ import annotations

from typing import Any

import pytest
import z3

from kmsguard.authz.case import evaluate_case, parse_case
from kmsguard.authz.evaluate import decide
from kmsguard.authz.types import AuthzInputs, Outcome
from kmsguard.load.policy_builder import build_policy
from kmsguard.model import Policy, PolicyKind
from kmsguard.model.values import Unknown
from kmsguard.prove import questions
from kmsguard.prove.questions import ProofResult, ProverError, external, public, who_can

KEY_ACCOUNT = "111122223333"
PARTNER = "444455556666"
ORG = "o-abc123example"
KEY_ARN = f"arn:aws:kms:us-east-1:{KEY_ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"

# KMS Developer Guide, "Default key policy": the account's root principal, hence its IAM policies.
ROOT = {
    "Sid": "Enable IAM User Permissions",
    "Effect": "Allow",
    "Principal": {"AWS": f"arn:aws:iam::{KEY_ACCOUNT}:root"},
    "Action": "kms:*",
    "Resource": "*",
}
EVERYONE = {"Sid": "Everyone", "Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*"}


def _policy(*statements: dict[str, Any]) -> Policy:
    policy, diagnostics = build_policy(
        {"Version": "2012-10-17", "Statement": list(statements)}, PolicyKind.KEY, resource="test"
    )
    assert not diagnostics and isinstance(policy, Policy)
    return policy


def _with(statement: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**statement, **changes}


def _public(*statements: dict[str, Any], **kwargs: Any) -> ProofResult:
    return public(_policy(*statements), key_account=KEY_ACCOUNT, key_arn=KEY_ARN, **kwargs)


def _external(*statements: dict[str, Any], trusted: tuple[str, ...] = (), **kwargs: Any) -> ProofResult:
    return external(_policy(*statements), trusted, key_account=KEY_ACCOUNT, key_arn=KEY_ARN, **kwargs)


def _assert_confirmed(result: ProofResult, *statements: dict[str, Any]) -> None:
    """A "yes" witness is a request of another account that the simulator allows -- decided here
    again from the CASE-format witness, with an identity policy allowing the action."""
    assert result.answer == "yes" and result.witness is not None and result.witness_case is not None
    assert result.witness.caller.account != KEY_ACCOUNT
    assert not result.witness_case["principal"].endswith("/")  # every name of the caller is set
    case = {
        "key_policy": {"Version": "2012-10-17", "Statement": list(statements)},
        "identity_policies": [
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}
        ],
        "request": result.witness_case,
    }
    assert evaluate_case(parse_case(case, "witness")).outcome is Outcome.ALLOW


def test_default_key_policy_is_not_public() -> None:
    # source: KMS Developer Guide, "Default key policy": only the key's account (and the IAM
    # principals it allows) can use the key.
    result = _public(ROOT)
    assert result.answer == "no" and result.witness is None
    assert _external(ROOT).answer == "no"


def test_principal_star_without_conditions_is_public() -> None:
    # source: IAM User Guide, "AWS JSON policy elements: Principal", "All principals": "*" in a
    # resource-based policy is every principal; KMS API Reference, "Decrypt": cross-account use yes.
    result = _public(ROOT, EVERYONE)
    _assert_confirmed(result, ROOT, EVERYONE)
    assert result.witness is not None and result.witness.action == "kms:Decrypt"


def test_org_restricted_star_is_not_public_but_external_without_the_org() -> None:
    # source: IAM User Guide, "AWS global condition context keys", "aws:PrincipalOrgID": only
    # principals of accounts in the organisation match.
    org_only = _with(EVERYONE, Condition={"StringEquals": {"aws:PrincipalOrgID": ORG}})
    assert _public(ROOT, org_only).answer == "no"
    assert _external(ROOT, org_only, org_id=ORG).answer == "no"
    outside = _external(ROOT, org_only)  # the organisation is not trusted: its other accounts are external
    _assert_confirmed(outside, ROOT, org_only)
    assert outside.witness_case is not None
    assert outside.witness_case["context"]["aws:principalorgid"] == ORG


def test_caller_account_restricted_star_is_not_public() -> None:
    # source: KMS Developer Guide, "AWS KMS condition keys", "kms:CallerAccount": the account of the
    # caller; "you can use it to allow or deny access to all identities in an account".
    own = _with(EVERYONE, Condition={"StringEquals": {"kms:CallerAccount": KEY_ACCOUNT}})
    assert _public(ROOT, own).answer == "no"
    assert _external(ROOT, own).answer == "no"


def test_if_exists_trap_is_public_through_a_request_without_the_key() -> None:
    # source: IAM User Guide, "IAM JSON policy elements: Condition operators", "...IfExists
    # condition operators": "If the key is not present, the condition evaluates to true".
    trap = _with(EVERYONE, Condition={"StringEqualsIfExists": {"aws:PrincipalOrgID": ORG}})
    result = _public(ROOT, trap)
    _assert_confirmed(result, ROOT, trap)
    assert result.witness is not None
    assert "aws:principalorgid" not in {k.lower() for k in result.witness.context}
    assert not result.witness.caller.org_id


def test_not_principal_allow_is_public() -> None:
    # source: IAM User Guide, "AWS JSON policy elements: NotPrincipal": with Allow, every principal
    # but the ones listed is allowed.
    not_root = {
        "Sid": "AllButRoot",
        "Effect": "Allow",
        "NotPrincipal": {"AWS": f"arn:aws:iam::{KEY_ACCOUNT}:root"},
        "Action": "kms:Decrypt",
        "Resource": "*",
    }
    _assert_confirmed(_public(ROOT, not_root), ROOT, not_root)


def test_explicit_deny_overrides_a_public_allow() -> None:
    # source: IAM User Guide, "Policy evaluation logic": an explicit deny in any policy overrides
    # any allow.
    deny_others = {
        "Sid": "DenyOtherAccounts",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "kms:*",
        "Resource": "*",
        "Condition": {"StringNotEquals": {"kms:CallerAccount": KEY_ACCOUNT}},
    }
    assert _public(ROOT, EVERYONE, deny_others).answer == "no"
    assert _external(ROOT, EVERYONE, deny_others).answer == "no"


def test_named_partner_account_is_external_but_not_public() -> None:
    # source: KMS Developer Guide, "Allowing users in other accounts to use a KMS key": the key
    # policy names the other account; its IAM policies then delegate.
    partner = {
        "Sid": "Partner",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{PARTNER}:root"},
        "Action": ["kms:Decrypt", "kms:DescribeKey"],
        "Resource": "*",
    }
    assert _public(ROOT, partner).answer == "no"
    result = _external(ROOT, partner)
    _assert_confirmed(result, ROOT, partner)
    assert result.witness is not None and result.witness.caller.account == PARTNER
    assert _external(ROOT, partner, trusted=(PARTNER,)).answer == "no"


def test_operations_that_are_not_cross_account_are_not_public() -> None:
    # source: KMS API Reference, "PutKeyPolicy": "Cross-account use: No"; KMS Developer Guide,
    # "Allowing users in other accounts to use a KMS key": only the listed operations work
    # cross-account.
    admin_for_all = _with(EVERYONE, Action=["kms:PutKeyPolicy", "kms:ScheduleKeyDeletion"])
    assert _public(ROOT, admin_for_all).answer == "no"


def test_actions_narrow_the_question() -> None:
    describe = _with(EVERYONE, Action="kms:DescribeKey")
    assert _public(ROOT, describe, actions=["kms:Decrypt"]).answer == "no"
    result = _public(ROOT, describe, actions=["KMS:describekey"])  # action names are case-insensitive
    _assert_confirmed(result, ROOT, describe)
    with pytest.raises(ValueError):
        _public(ROOT, describe, actions=["s3:GetObject"])


def test_ip_ranges_are_encoded_as_bit_vectors() -> None:
    # source: IAM User Guide, "IP address condition operators": IpAddress matches addresses in the
    # CIDR range; a key that is absent makes it false.
    from_range = _with(EVERYONE, Condition={"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}})
    result = _public(ROOT, from_range)
    _assert_confirmed(result, ROOT, from_range)
    assert result.witness is not None
    assert str(result.witness.context["aws:sourceip"]).startswith("203.0.113.")


def test_for_all_values_on_an_absent_key_is_public() -> None:
    # source: IAM User Guide, "Creating a condition with multiple keys or values": ForAllValues
    # "returns true if there are no context keys in the request".
    paths = _with(EVERYONE, Condition={"ForAllValues:StringLike": {"aws:PrincipalOrgPaths": [f"{ORG}/*"]}})
    result = _public(ROOT, paths)
    _assert_confirmed(result, ROOT, paths)


def test_unknown_principal_makes_the_answer_depend_on_it() -> None:
    policy = _policy(ROOT, EVERYONE)
    statement = policy.statements[1]
    from dataclasses import replace

    from kmsguard.model.policy import Principal, PrincipalType

    symbolic = replace(statement, principals=(Principal(PrincipalType.AWS, Unknown("var.consumer_arn")),))
    policy = replace(policy, statements=(policy.statements[0], symbolic))
    result = public(policy, key_account=KEY_ACCOUNT, key_arn=KEY_ARN)
    assert result.answer == "unknown"
    assert "var.consumer_arn" in result.depends_on


def test_solver_timeout_is_unknown_never_no(monkeypatch: pytest.MonkeyPatch) -> None:
    class GivingUp(z3.Solver):
        def check(self, *assumptions: Any) -> z3.CheckSatResult:
            return z3.unknown

        def reason_unknown(self) -> str:
            return "timeout"

    monkeypatch.setattr(questions.z3, "Solver", GivingUp)
    result = _public(ROOT)
    assert result.answer == "unknown"
    assert "solver: timeout" in result.depends_on


def test_a_witness_the_simulator_rejects_is_an_internal_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def denies(inputs: AuthzInputs, request: Any) -> Any:
        return decide(AuthzInputs(_policy(ROOT)), request)  # the simulator sees another policy

    monkeypatch.setattr(questions, "decide", denies)
    with pytest.raises(ProverError):
        _public(ROOT, EVERYONE)


def test_who_can_lists_the_classes_of_callers() -> None:
    partner = {
        "Sid": "Partner",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{PARTNER}:root"},
        "Action": "kms:Decrypt",
        "Resource": "*",
    }
    service = {
        "Sid": "Logs",
        "Effect": "Allow",
        "Principal": {"Service": "logs.amazonaws.com"},
        "Action": "kms:Decrypt",
        "Resource": "*",
    }
    answers = who_can(
        _policy(ROOT, partner, service), "kms:Decrypt", key_account=KEY_ACCOUNT, key_arn=KEY_ARN
    )
    assert {label: r.answer for label, r in answers.items()} == {
        "the key's account root user": "yes",
        "IAM principals of the key's account": "yes",
        "another account's root user": "yes",
        "IAM principals of another account": "yes",
        "AWS service principals": "yes",
    }
    service_witness = answers["AWS service principals"].witness
    assert service_witness is not None and service_witness.caller.service == "logs.amazonaws.com"
    only_root = who_can(_policy(ROOT), "kms:Decrypt", key_account=KEY_ACCOUNT, key_arn=KEY_ARN)
    assert only_root["another account's root user"].answer == "no"
    assert only_root["AWS service principals"].answer == "no"


def test_json_shape() -> None:
    result = _public(ROOT, EVERYONE).to_json()
    assert set(result) == {"answer", "witness", "depends_on", "explanation"}
    assert result["answer"] == "yes" and isinstance(result["witness"], dict)
    assert _public(ROOT).to_json()["witness"] is None


@pytest.mark.parametrize(
    "condition",
    [
        # source: IAM User Guide, "Condition operators", one operator family per case.
        {"NumericLessThan": {"aws:MultiFactorAuthAge": "3600.25"}},
        {"DateGreaterThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}},
        {"Bool": {"aws:SecureTransport": "true"}},
        {"StringEqualsIgnoreCase": {"kms:EncryptionContext:Tenant": "ACME"}},
        {"StringLike": {"kms:EncryptionContext:owner": "${aws:PrincipalTag/team}-*"}},
        {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/data/*"}},
        {"ForAnyValue:StringEquals": {"kms:EncryptionContextKeys": ["tenant", "app"]}},
        {"Null": {"kms:EncryptionContext:tenant": "false"}},
        {"StringNotEquals": {"kms:ViaService": "ec2.us-east-1.amazonaws.com"}},
        {"NotIpAddress": {"aws:SourceIp": ["0.0.0.0/1", "128.0.0.0/2"]}},
    ],
)
def test_witnesses_of_every_operator_family_are_confirmed(condition: dict[str, Any]) -> None:
    """Each witness value (numbers, dates, case-folded text, variables, ARNs with paths, sets,
    addresses) is rendered so that the simulator decides it as the prover did."""
    statement = _with(EVERYONE, Condition=condition)
    _assert_confirmed(_public(ROOT, statement), ROOT, statement)
