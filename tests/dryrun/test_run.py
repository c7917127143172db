"""Running scenarios: every call authorized by the simulator and executed by the engine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kmsguard.dryrun.run import ScenarioResult, Status, StepResult, run_scenario
from kmsguard.dryrun.scenario import ScenarioError, load_scenario, parse_scenario
from kmsguard.verify_cli import load_against

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "verify"
ACCOUNT = "111122223333"


def _steps(result: ScenarioResult) -> dict[str, StepResult]:
    return {s.step.id: s for s in result.steps}


def _run(text: str, against: Path | None = None) -> ScenarioResult:
    scenario = parse_scenario("s.yaml", text)
    return run_scenario(scenario, load_against(scenario, (str(against),)) if against else None)


def _allow_all_identity_policy() -> str:
    return json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}
    )


def test_tenant_isolation_fixture():
    result = run_scenario(load_scenario(str(FIXTURES / "tenant_isolation.yaml")))
    steps = _steps(result)
    assert result.passed
    assert steps["produce"].outputs["CiphertextBlob"].endswith(" bytes>")
    # source: AWS KMS Developer Guide, "Encryption context": to decrypt, the exact same encryption
    # context must be supplied; the policy allowed (tenant b) but the ciphertext is bound to tenant a.
    assert (steps["consume-as-tenant-b"].outcome, steps["consume-as-tenant-b"].decision) == (
        "InvalidCiphertextException",
        "Allow",
    )
    # source: KMS Developer Guide, "kms:EncryptionContext:context-key": the condition fails for {tenant: a}.
    assert "ConsumeTenantB" in steps["consume-as-tenant-a"].reason
    assert "'a' is not 'b'" in steps["consume-as-tenant-a"].reason
    assert (steps["outsider"].outcome, steps["outsider"].decision) == (
        "AccessDeniedException",
        "ImplicitDeny",
    )
    # source: IAM User Guide, "Policy evaluation logic": an explicit deny overrides any allow.
    assert steps["auditor"].decision == "ExplicitDeny"
    assert "NoAuditorDecrypt" in steps["auditor"].reason


def test_terraform_fixture_binds_arns_and_account():
    scenario = load_scenario(str(FIXTURES / "terraform_key.yaml"))
    result = run_scenario(scenario, load_against(scenario, (str(FIXTURES / "terraform"),)))
    steps = _steps(result)
    assert result.passed, [(s.step.id, s.status, s.reason) for s in result.steps]
    # The producer's policy names aws_kms_key.orders.arn: bound to the key's ARN in this run.
    assert steps["produce"].decision == "Allow"
    assert steps["produce"].outputs["KeyId"].startswith(f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/")
    assert "DenyDecryptOutsideTenantContext" in steps["consume-without-context"].reason


def test_a_decision_that_depends_on_an_unknown_is_unresolved_never_a_pass():
    text = (FIXTURES / "terraform_key.yaml").read_text().split("steps:")[0] + (
        "steps:\n"
        "  - id: audit\n"
        "    as: consumer\n"
        "    op: decrypt\n"
        "    params: {KeyId: audit, DryRun: true, DryRunModifiers: [IGNORE_CIPHERTEXT]}\n"
        "    expect: AccessDeniedException\n"
    )
    result = _run(text, FIXTURES / "terraform")
    (step,) = result.steps
    assert step.status is Status.UNRESOLVED and not result.passed
    assert "auditor_arn" in step.reason


def test_unread_identity_policies_leave_only_explicit_denies_definite(tmp_path: Path):
    (tmp_path / "main.tf").write_text(
        'resource "aws_kms_key" "k" {}\n'
        'resource "aws_iam_role" "app" {\n  name = "app"\n  assume_role_policy = "{}"\n}\n'
        'resource "aws_iam_role_policy_attachment" "a" {\n  role = aws_iam_role.app.name\n'
        '  policy_arn = "arn:aws:iam::aws:policy/PowerUserAccess"\n}\n'
    )
    text = (
        'account: "111122223333"\nkeys:\n  k: {from: aws_kms_key.k}\n'
        "principals:\n  app: {from: aws_iam_role.app}\n"
        "steps:\n  - {as: app, op: encrypt, params: {KeyId: k, Plaintext: x},"
        " expect: AccessDeniedException}\n"
    )
    (step,) = _run(text, tmp_path).steps
    assert step.status is Status.UNRESOLVED
    assert "PowerUserAccess" in step.reason


HEAD = f"""\
account: "{ACCOUNT}"
keys:
  data: {{}}
  signing: {{spec: ECC_NIST_P256, usage: SIGN_VERIFY}}
principals:
  app:
    arn: arn:aws:iam::{ACCOUNT}:role/app
    policies: [{_allow_all_identity_policy()!r}]
  other:
    arn: arn:aws:iam::{ACCOUNT}:role/other
steps:
"""


def test_an_unexpected_outcome_fails_and_says_what_happened():
    result = _run(
        HEAD + "  - {id: e, as: other, op: encrypt, params: {KeyId: data, Plaintext: x}, expect: ok}\n"
    )
    (step,) = result.steps
    assert step.status is Status.FAILED and not result.passed
    assert (step.outcome, step.decision) == ("AccessDeniedException", "ImplicitDeny")
    assert "no identity policy allows" in step.reason
    assert "kms:Encrypt" in step.message


def test_a_reference_to_a_step_without_output_blocks():
    result = _run(
        HEAD + "  - {id: e, as: other, op: encrypt, params: {KeyId: data, Plaintext: x},"
        " expect: AccessDeniedException}\n"
        + "  - {id: d, as: app, op: decrypt, params: {CiphertextBlob: '${steps.e.CiphertextBlob}'},"
        " expect: ok}\n"
    )
    blocked = _steps(result)["d"]
    assert blocked.status is Status.BLOCKED and blocked.outcome is None
    assert "AccessDeniedException" in blocked.reason


def test_sign_then_verify_and_a_tampered_message():
    result = _run(
        HEAD + "  - {id: s, as: app, op: sign, params: {KeyId: signing, Message: hello,"
        " SigningAlgorithm: ECDSA_SHA_256},"
        " expect: ok}\n" + "  - {id: v, as: app, op: verify, params: {KeyId: signing, Message: hello,"
        " Signature: '${steps.s.Signature}', SigningAlgorithm: ECDSA_SHA_256}, expect: ok}\n"
        + "  - {id: t, as: app, op: verify, params: {KeyId: signing, Message: hellO,"
        " Signature: '${steps.s.Signature}', SigningAlgorithm: ECDSA_SHA_256},"
        " expect: KMSInvalidSignatureException}\n"
    )
    # source: AWS KMS API Reference, "Verify": an invalid signature is KMSInvalidSignatureException.
    assert result.passed, [(s.step.id, s.outcome, s.message) for s in result.steps]
    assert _steps(result)["v"].outputs["SignatureValid"] == "True"


def test_a_grant_lets_its_grantee_decrypt_with_the_grant_token():
    result = _run(
        HEAD
        + "  - {id: enc, as: app, op: encrypt, params: {KeyId: data, Plaintext: x}, expect: ok}\n"
        + "  - {id: before, as: other, op: decrypt, params: {CiphertextBlob: '${steps.enc.CiphertextBlob}'},"
        " expect: {decision: ImplicitDeny}}\n"
        + "  - {id: g, as: app, op: create_grant, params: {KeyId: data, GranteePrincipal: other,"
        " Operations: [Decrypt]},"
        " expect: ok}\n"
        + "  - {id: after, as: other, op: decrypt, params: {CiphertextBlob: '${steps.enc.CiphertextBlob}',"
        " GrantTokens: ['${steps.g.GrantToken}']}, expect: ok}\n"
    )
    # source: AWS KMS Developer Guide, "Grant tokens": a grant token makes a new grant usable at once.
    assert result.passed, [(s.step.id, s.status, s.outcome, s.reason) for s in result.steps]


def test_iac_keys_need_against():
    scenario = parse_scenario(
        "s.yaml",
        "keys:\n  k: {from: aws_kms_key.k}\nsteps:\n  - {as: '111122223333', op: list_keys, expect: ok}\n",
    )
    with pytest.raises(ScenarioError) as excinfo:
        run_scenario(scenario)
    assert (excinfo.value.line, "--against" in excinfo.value.message) == (2, True)


def test_an_unknown_iac_address_names_the_known_keys():
    text = (FIXTURES / "terraform_key.yaml").read_text().replace("aws_kms_key.audit", "aws_kms_key.nope")
    with pytest.raises(ScenarioError) as excinfo:
        _run(text, FIXTURES / "terraform")
    assert "aws_kms_key.orders" in excinfo.value.message


def test_a_malformed_inline_key_policy_is_a_scenario_error_on_the_key_line():
    with pytest.raises(ScenarioError) as excinfo:
        _run(
            "keys:\n  k:\n    policy: '{\"Statement\": 3}'\nsteps:\n  - {as: '111122223333',"
            " op: list_keys, expect: ok}\n"
        )
    assert excinfo.value.line == 2
    assert "MalformedPolicyDocumentException" in excinfo.value.message


def test_the_same_scenario_runs_the_same_way():
    scenario = load_scenario(str(FIXTURES / "tenant_isolation.yaml"))
    first, second = run_scenario(scenario), run_scenario(scenario)
    assert [s.outputs for s in first.steps] == [s.outputs for s in second.steps]


def test_cloudformation_key_and_role_by_logical_id(tmp_path: Path):
    (tmp_path / "t.yaml").write_text(
        """\
AWSTemplateFormatVersion: "2010-09-09"
Resources:
  Key:
    Type: AWS::KMS::Key
    Properties:
      KeyPolicy:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: {AWS: !Sub "arn:aws:iam::${AWS::AccountId}:root"}
            Action: "kms:*"
            Resource: "*"
  Writer:
    Type: AWS::IAM::Role
    Properties:
      RoleName: writer
      AssumeRolePolicyDocument: {Version: "2012-10-17", Statement: []}
      Policies:
        - PolicyName: write
          PolicyDocument:
            Version: "2012-10-17"
            Statement:
              - {Effect: Allow, Action: kms:Encrypt, Resource: !GetAtt Key.Arn}
"""
    )
    text = (
        'account: "444455556666"\nkeys:\n  k: {from: Key}\nprincipals:\n  w: {from: Writer}\nsteps:\n'
        "  - {id: e, as: w, op: encrypt, params: {KeyId: k, Plaintext: x}, expect: ok}\n"
        "  - {id: d, as: w, op: decrypt, params: {CiphertextBlob: '${steps.e.CiphertextBlob}'},"
        " expect: {decision: ImplicitDeny}}\n"
    )
    result = _run(text, tmp_path)
    # source: AWS KMS Developer Guide, "Default key policy" / "Allows access to the AWS account and
    # enables IAM policies": the account statement lets the role's identity policy decide.
    assert result.passed, [(s.step.id, s.status, s.outcome, s.reason) for s in result.steps]
    assert result.steps[0].principal_arn == "arn:aws:iam::444455556666:role/writer"


def test_an_unreadable_arn_in_as_is_a_scenario_error_on_the_step_line():
    with pytest.raises(ScenarioError) as excinfo:
        _run("steps:\n  - {as: 'arn:aws:iam::nope', op: list_keys, expect: ok}\n")
    assert excinfo.value.line == 2
