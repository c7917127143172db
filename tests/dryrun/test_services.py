"""The service call models of kmsguard/dryrun/services.py and their dry run through the simulator.

Expected answers come from the AWS documentation cited next to each test, not from a run."""

from __future__ import annotations

from typing import Any

import pytest

from kmsguard.authz.conditions import UnresolvedContextValue
from kmsguard.authz.evaluate import parse_caller
from kmsguard.dryrun.services import (
    SERVICE_MODELS,
    STAND_IN_ACCOUNT,
    CallerKind,
    Deployment,
    Verdict,
    context_values,
    deployments,
    dry_run,
    name_candidates,
    request_for,
    service_model,
    spec_problems,
)
from kmsguard.load.policy_builder import build_policy
from kmsguard.model import Inventory, Key, KeyConsumer, OrgContext, Policy, PolicyKind, Source

ACCOUNT = "111122223333"
REGION = "eu-west-2"
ROOT = {
    "Sid": "Root",
    "Effect": "Allow",
    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
    "Action": "kms:*",
    "Resource": "*",
}


def _policy(*statements: dict[str, Any]) -> Policy:
    policy, diagnostics = build_policy(
        {"Version": "2012-10-17", "Statement": list(statements)}, PolicyKind.KEY, resource="test key"
    )
    assert isinstance(policy, Policy) and not diagnostics
    return policy


def _run(
    service: str,
    policy: Policy,
    details: dict[str, Any] | None = None,
    org: OrgContext | None = None,
    **key_fields: Any,
) -> dict[str, Any]:
    key = Key("aws_kms_key.k", "aws_kms_key", Source.TERRAFORM, policy=policy, **key_fields)
    consumer = KeyConsumer("res.r", "res", service, Source.TERRAFORM, "aws_kms_key.k", details=details or {})
    inventory = Inventory(
        keys=(key,), consumers=(consumer,), org=org or OrgContext(account=ACCOUNT, region=REGION)
    )
    return {r.call.operation: r for r in dry_run(consumer, key, policy, inventory)}


# -- the call models ----------------------------------------------------------------------------


def test_every_modelled_service_accepts_only_symmetric_encryption_keys():
    # source: each service's guide (S3 "Using server-side encryption with AWS KMS keys", EC2 "Amazon
    # EBS encryption", RDS "Encrypting Amazon RDS resources", CloudWatch Logs "Encrypt log data...",
    # CloudTrail "Configure AWS KMS key policies for CloudTrail", SNS "Managing Amazon SNS encryption
    # keys", SQS "Amazon SQS key management", Secrets Manager "Secret encryption and decryption",
    # DynamoDB, Lambda, EFS): symmetric encryption KMS keys only.
    assert set(SERVICE_MODELS) == {
        "s3",
        "ebs",
        "rds",
        "logs",
        "cloudtrail",
        "sns",
        "sqs",
        "secretsmanager",
        "dynamodb",
        "lambda",
        "efs",
    }
    for model in SERVICE_MODELS.values():
        assert model.accepted_key_specs == {"SYMMETRIC_DEFAULT"}, model.service
        assert model.accepted_key_usages == {"ENCRYPT_DECRYPT"}, model.service


@pytest.mark.parametrize(
    ("spec", "usage", "problems"),
    [
        ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", []),
        ("RSA_2048", "ENCRYPT_DECRYPT", ["key spec RSA_2048"]),
        ("HMAC_256", "GENERATE_VERIFY_MAC", ["key spec HMAC_256", "key usage GENERATE_VERIFY_MAC"]),
        ("ECC_NIST_P256", "SIGN_VERIFY", ["key spec ECC_NIST_P256", "key usage SIGN_VERIFY"]),
    ],
)
def test_spec_problems_name_what_s3_refuses(spec, usage, problems):
    # source: S3 User Guide, "Using server-side encryption with AWS KMS keys (SSE-KMS)": "Amazon S3
    # supports only symmetric encryption KMS keys".
    key = Key("k", "aws_kms_key", Source.TERRAFORM, key_spec=spec, key_usage=usage)
    model = service_model("s3")
    assert model is not None
    assert [p.what for p in spec_problems(model, key)] == problems


def test_service_principal_calls_are_made_by_the_documented_principals():
    # source: CloudWatch Logs User Guide, "Encrypt log data ... Step 2" (logs.<region>.amazonaws.com);
    # CloudTrail User Guide, "Configure AWS KMS key policies for CloudTrail" (cloudtrail.amazonaws.com).
    logs, trail = SERVICE_MODELS["logs"], SERVICE_MODELS["cloudtrail"]
    assert {(c.caller, c.service_host) for c in logs.calls} == {
        (CallerKind.SERVICE_PRINCIPAL, "logs.{region}.amazonaws.com")
    }
    assert {(c.caller, c.service_host) for c in trail.calls} == {
        (CallerKind.SERVICE_PRINCIPAL, "cloudtrail.amazonaws.com")
    }
    assert all(c.caller is CallerKind.VIA_SERVICE for c in SERVICE_MODELS["s3"].calls)


def _s3_request(details: dict[str, Any], operation: str = "GenerateDataKey"):
    model = SERVICE_MODELS["s3"]
    call = next(c for c in model.calls if c.operation == operation)
    consumer = KeyConsumer("b", "aws_s3_bucket", "s3", Source.TERRAFORM, "k", details=details)
    deployment = Deployment(ACCOUNT, REGION)
    caller = parse_caller(f"arn:aws:iam::{ACCOUNT}:role/app")
    return request_for(
        call,
        caller,
        "arn:aws:kms:eu-west-2:111122223333:key/k",
        deployment,
        context_values(model, consumer, deployment),
    )


def test_s3_encryption_context_is_the_object_arn_or_with_a_bucket_key_the_bucket_arn():
    # source: S3 User Guide, "Reducing the cost of SSE-KMS with Amazon S3 Bucket Keys": with a bucket
    # key "the bucket ARN" is the encryption context, otherwise the object ARN.
    without = _s3_request({"bucket": "data", "bucket_key_enabled": False})
    with_key = _s3_request({"bucket": "data", "bucket_key_enabled": True})
    assert without.context["kms:EncryptionContext:aws:s3:arn"].startswith("arn:aws:s3:::data/")
    assert with_key.context["kms:EncryptionContext:aws:s3:arn"] == "arn:aws:s3:::data"
    # source: KMS Developer Guide, "kms:ViaService": <service>.<region>.amazonaws.com.
    assert with_key.context["kms:ViaService"] == "s3.eu-west-2.amazonaws.com"


def test_an_unknown_bucket_key_setting_leaves_the_s3_context_unresolved():
    from kmsguard.model import Unknown

    request = _s3_request({"bucket": "data", "bucket_key_enabled": Unknown("var.bucket_key")})
    value = request.context["kms:EncryptionContext:aws:s3:arn"]
    assert isinstance(value, UnresolvedContextValue) and "var.bucket_key" in value.ref


def test_grants_made_by_a_service_carry_grant_is_for_aws_resource():
    # source: KMS Developer Guide, "kms:GrantIsForAWSResource": true when an integrated AWS service
    # calls CreateGrant on the user's behalf.
    model = SERVICE_MODELS["ebs"]
    call = next(c for c in model.calls if c.operation == "CreateGrant")
    consumer = KeyConsumer("v", "aws_ebs_volume", "ebs", Source.TERRAFORM, "k")
    deployment = Deployment(ACCOUNT, REGION)
    request = request_for(
        call,
        parse_caller(f"arn:aws:iam::{ACCOUNT}:role/app"),
        "arn:aws:kms:x:1:key/k",
        deployment,
        context_values(model, consumer, deployment),
    )
    assert request.context["kms:GrantIsForAWSResource"] == "true"
    assert request.context["kms:ViaService"] == "ec2.eu-west-2.amazonaws.com"


# -- dry runs -------------------------------------------------------------------------------------

LOGS_DOCUMENTED = {
    "Sid": "Logs",
    "Effect": "Allow",
    "Principal": {"Service": f"logs.{REGION}.amazonaws.com"},
    "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
    "Resource": "*",
    "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:{REGION}:{ACCOUNT}:*"}},
}


def test_logs_with_only_the_root_statement_is_refused():
    # source: KMS Developer Guide, "Default key policy" (the account root only) and CloudWatch Logs
    # User Guide, step 2: the key policy must allow logs.<region>.amazonaws.com.
    results = _run("logs", _policy(ROOT))
    assert {op: r.verdict for op, r in results.items()} == {
        "GenerateDataKey": Verdict.DENIED,
        "Decrypt": Verdict.DENIED,
    }
    assert results["GenerateDataKey"].principal == f"logs.{REGION}.amazonaws.com"
    assert "no key policy statement allows" in results["GenerateDataKey"].missing


def test_logs_with_the_documented_statement_is_allowed():
    results = _run("logs", _policy(ROOT, LOGS_DOCUMENTED))
    assert {r.verdict for r in results.values()} == {Verdict.ALLOWED}


def test_logs_limited_to_another_accounts_log_groups_is_refused_whatever_the_name():
    other = dict(
        LOGS_DOCUMENTED,
        Condition={
            "ArnLike": {"kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:{REGION}:444455556666:*"}
        },
    )
    results = _run("logs", _policy(ROOT, other))
    assert results["GenerateDataKey"].verdict is Verdict.DENIED
    assert "Logs" in results["GenerateDataKey"].missing  # names the statement whose condition fails


def test_logs_limited_to_some_log_group_names_depends_on_the_name():
    # The log group's name is not in the model: a pattern that some names match is unresolved.
    named = dict(
        LOGS_DOCUMENTED,
        Condition={
            "ArnLike": {
                "kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/app/*"
            }
        },
    )
    results = _run("logs", _policy(ROOT, named))
    assert results["GenerateDataKey"].verdict is Verdict.UNRESOLVED
    assert any("res.r" in ref for ref in results["GenerateDataKey"].depends_on)


def test_the_global_logs_principal_is_refused_and_the_message_says_why():
    global_name = dict(LOGS_DOCUMENTED, Principal={"Service": "logs.amazonaws.com"})
    del global_name["Condition"]
    results = _run("logs", _policy(ROOT, global_name))
    assert results["Decrypt"].verdict is Verdict.DENIED
    assert "names logs.amazonaws.com" in results["Decrypt"].missing


def test_cloudtrail_documented_statements_are_allowed_and_describe_key_is_needed():
    # source: CloudTrail User Guide, "Configure AWS KMS key policies for CloudTrail": GenerateDataKey*
    # with aws:SourceArn / kms:EncryptionContext:aws:cloudtrail:arn, and DescribeKey.
    encrypt = {
        "Sid": "TrailEncrypt",
        "Effect": "Allow",
        "Principal": {"Service": "cloudtrail.amazonaws.com"},
        "Action": "kms:GenerateDataKey*",
        "Resource": "*",
        "Condition": {
            "StringLike": {
                "kms:EncryptionContext:aws:cloudtrail:arn": f"arn:aws:cloudtrail:*:{ACCOUNT}:trail/*",
                "aws:SourceArn": f"arn:aws:cloudtrail:*:{ACCOUNT}:trail/*",
            },
            "StringEquals": {"aws:SourceAccount": ACCOUNT},
        },
    }
    describe = {
        "Sid": "TrailDescribe",
        "Effect": "Allow",
        "Principal": {"Service": "cloudtrail.amazonaws.com"},
        "Action": "kms:DescribeKey",
        "Resource": "*",
    }
    both = _run("cloudtrail", _policy(ROOT, encrypt, describe))
    assert {r.verdict for r in both.values()} == {Verdict.ALLOWED}
    only_encrypt = _run("cloudtrail", _policy(ROOT, encrypt))
    assert only_encrypt["GenerateDataKey"].verdict is Verdict.ALLOWED
    assert only_encrypt["DescribeKey"].verdict is Verdict.DENIED


def test_calls_through_a_service_pass_by_delegation_to_iam():
    # source: KMS Developer Guide, "Default key policy": the root statement lets IAM policies allow
    # the key; the caller's own IAM policy is the deployer's to write.
    for service in ("s3", "sqs", "sns", "secretsmanager", "ebs", "rds", "dynamodb", "lambda", "efs"):
        results = _run(service, _policy(ROOT))
        assert {r.verdict for r in results.values()} == {Verdict.ALLOWED}, service


def test_a_deny_on_calls_through_services_is_named():
    deny = {
        "Sid": "NoServices",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "kms:*",
        "Resource": "*",
        "Condition": {"Bool": {"aws:ViaAWSService": "true"}},
    }
    results = _run("sqs", _policy(ROOT, deny))
    assert results["GenerateDataKey"].verdict is Verdict.DENIED
    assert "NoServices" in results["GenerateDataKey"].missing
    assert results["GenerateDataKey"].explicit_deny


def test_a_wildcard_limited_by_via_service_and_caller_account_lets_the_service_in():
    # source: KMS Developer Guide, "kms:ViaService" and "kms:CallerAccount" (the Secrets Manager and
    # EBS documented statements).
    statement = {
        "Sid": "ThroughSqs",
        "Effect": "Allow",
        "Principal": {"AWS": "*"},
        "Action": ["kms:GenerateDataKey*", "kms:Decrypt"],
        "Resource": "*",
        "Condition": {
            "StringEquals": {"kms:ViaService": f"sqs.{REGION}.amazonaws.com", "kms:CallerAccount": ACCOUNT}
        },
    }
    admin = {
        "Sid": "Admin",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/admin"},
        "Action": "kms:Put*",
        "Resource": "*",
    }
    assert {r.verdict for r in _run("sqs", _policy(admin, statement)).values()} == {Verdict.ALLOWED}
    # The same statement for SNS does not let SQS in.
    sns_only = dict(statement, Condition={"StringEquals": {"kms:ViaService": f"sns.{REGION}.amazonaws.com"}})
    assert {r.verdict for r in _run("sqs", _policy(admin, sns_only)).values()} == {Verdict.DENIED}


def test_a_role_the_policy_names_may_call_through_the_service():
    app = {
        "Sid": "App",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/app"},
        "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
        "Resource": "*",
    }
    assert {r.verdict for r in _run("s3", _policy(app)).values()} == {Verdict.ALLOWED}


# -- deployment candidates ------------------------------------------------------------------------


def test_without_an_account_the_accounts_the_policy_names_are_candidates():
    other = {
        "Sid": "Other",
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::444455556666:root"},
        "Action": "kms:Decrypt",
        "Resource": "*",
    }
    policy = _policy(ROOT, other)
    key = Key("k", "aws_kms_key", Source.TERRAFORM, policy=policy)
    found, depends = deployments(key, policy, Inventory(keys=(key,)))
    assert {d.account for d in found} == {ACCOUNT, "444455556666"}
    assert depends and "account" in depends[0]
    # The root of either account allows Decrypt through SQS; GenerateDataKey only in 111122223333.
    results = _run("sqs", policy, org=OrgContext())
    assert results["Decrypt"].verdict is Verdict.ALLOWED
    assert results["GenerateDataKey"].verdict is Verdict.UNRESOLVED


def test_a_key_arn_decides_the_deployment():
    policy = _policy(ROOT)
    key = Key(
        "k", "aws_kms_key", Source.ACCOUNT, policy=policy, arn="arn:aws:kms:ap-south-1:111122223333:key/x"
    )
    found, depends = deployments(key, policy, Inventory(keys=(key,)))
    assert found == [Deployment(ACCOUNT, "ap-south-1")] and depends == ()


def test_with_nothing_named_the_stand_in_account_is_used():
    policy = _policy(
        {
            "Effect": "Allow",
            "Principal": {"Service": "logs.us-east-1.amazonaws.com"},
            "Action": "kms:*",
            "Resource": "*",
        }
    )
    key = Key("k", "aws_kms_key", Source.TERRAFORM, policy=policy)
    found, _ = deployments(key, policy, Inventory(keys=(key,)))
    assert [(d.account, d.region) for d in found] == [(STAND_IN_ACCOUNT, "us-east-1")]


def test_name_candidates_fill_the_wildcards_after_the_prefix():
    policy = _policy(
        dict(
            LOGS_DOCUMENTED,
            Condition={
                "ArnLike": {
                    "kms:EncryptionContext:aws:logs:arn": "arn:aws:logs:*:111122223333:log-group:/app/*"
                }
            },
        )
    )
    candidates = name_candidates(policy, f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:")
    assert "/app/x" in candidates
    assert name_candidates(policy, "arn:aws:logs:eu-west-2:444455556666:log-group:") == []


def test_every_labelled_key_dry_runs_for_every_service_without_error():
    # Robustness: the policies of the accuracy fixtures (wildcards, NotPrincipal, Deny, unresolved
    # parts, replicas...) against every service's calls: each call gets a verdict, and a refusal says
    # who and why.
    from pathlib import Path

    from kmsguard.check import load_inputs
    from kmsguard.load.base import LoadContext

    fixtures = Path(__file__).resolve().parents[2] / "fixtures" / "labelled"
    loaded, _ = load_inputs([str(fixtures)], LoadContext(account=ACCOUNT))
    inventory = loaded.inventory
    keys = [k for k in inventory.keys if isinstance(k.policy, Policy)]
    assert len(keys) >= 40
    for key in keys:
        for service in SERVICE_MODELS:
            consumer = KeyConsumer(f"{service}.user", "res", service, Source.TERRAFORM, key.address)
            for result in dry_run(consumer, key, key.policy, inventory):
                assert result.verdict in Verdict
                if result.verdict is Verdict.DENIED:
                    assert result.principal and result.missing
                if result.verdict is Verdict.UNRESOLVED:
                    assert result.depends_on
