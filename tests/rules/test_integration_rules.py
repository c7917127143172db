"""KMS040 and KMS041 (integration rules of kms-core) on Terraform and CloudFormation through the real
loaders. Each expected answer comes from the AWS documentation cited next to it, not from a run."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from kmsguard.check import CheckOptions, run_check
from kmsguard.dryrun.services import SERVICE_MODELS
from kmsguard.findings import Finding
from kmsguard.load.base import LoadContext
from kmsguard.rules_engine import load_packs
from kmsguard.rules_engine.integration_tests import _SERVICES
from kmsguard.rules_engine.predicates import NAMED_TESTS

CFN_HEADER = 'AWSTemplateFormatVersion: "2010-09-09"\nResources:\n'


def _run(tmp_path: Path, rule_id: str, files: dict[str, str], account: str | None = None) -> list[Finding]:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    core = load_packs()[0]
    pack = replace(core, rules=tuple(r for r in core.rules if r.id == rule_id))
    options = CheckOptions(paths=(str(tmp_path),), context=LoadContext(account=account))
    result = run_check(options, packs=[pack])
    assert result.errors == []
    return [f for f in result.findings if f.rule_id == rule_id]


def _line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def test_the_tests_are_registered_and_cover_every_modelled_service():
    assert {"service_calls_fail", "service_key_spec_unsupported"} <= set(NAMED_TESTS)
    assert _SERVICES == set(SERVICE_MODELS)


# -- KMS040 -------------------------------------------------------------------------------------

LOG_GROUP_DEFAULT_POLICY = """resource "aws_kms_key" "logs" {
  enable_key_rotation = true
}

resource "aws_cloudwatch_log_group" "app" {
  name       = "/app/api"
  kms_key_id = aws_kms_key.logs.arn
}
"""


def test_kms040_log_group_with_the_default_key_policy(tmp_path):
    # source: KMS Developer Guide, "Default key policy" (only the account root); CloudWatch Logs User
    # Guide, "Encrypt log data ... Step 2": the key policy must allow logs.<region>.amazonaws.com.
    found = _run(tmp_path, "KMS040", {"main.tf": LOG_GROUP_DEFAULT_POLICY})
    assert len(found) == 1
    finding = found[0]
    assert finding.resource == "aws_cloudwatch_log_group.app" and not finding.unresolved
    assert finding.span.line == _line_of(LOG_GROUP_DEFAULT_POLICY, "kms_key_id")
    for part in ("CloudWatch Logs", "kms:GenerateDataKey", "logs.<region>.amazonaws.com", "no key policy"):
        assert part in finding.message, part


def test_kms040_with_region_known_names_the_regional_principal(tmp_path):
    (tmp_path / "main.tf").write_text(LOG_GROUP_DEFAULT_POLICY)
    core = load_packs()[0]
    pack = replace(core, rules=tuple(r for r in core.rules if r.id == "KMS040"))
    context = LoadContext(account="111122223333", region="eu-central-1")
    result = run_check(CheckOptions(paths=(str(tmp_path),), context=context), packs=[pack])
    assert [f.rule_id for f in result.findings] == ["KMS040"]
    assert "logs.eu-central-1.amazonaws.com" in result.findings[0].message


def test_kms040_cloudtrail_key_with_the_documented_statements_passes(tmp_path):
    # source: CloudTrail User Guide, "Configure AWS KMS key policies for CloudTrail".
    template = (
        CFN_HEADER
        + """  TrailKey:
    Type: AWS::KMS::Key
    Properties:
      EnableKeyRotation: true
      KeyPolicy:
        Version: "2012-10-17"
        Statement:
          - Sid: Root
            Effect: Allow
            Principal: {AWS: !Sub "arn:aws:iam::${AWS::AccountId}:root"}
            Action: "kms:*"
            Resource: "*"
          - Sid: TrailEncrypt
            Effect: Allow
            Principal: {Service: cloudtrail.amazonaws.com}
            Action: "kms:GenerateDataKey*"
            Resource: "*"
            Condition:
              StringLike:
               kms:EncryptionContext:aws:cloudtrail:arn: !Sub "arn:aws:cloudtrail:*:${AWS::AccountId}:trail/*"
               "aws:SourceArn": !Sub "arn:aws:cloudtrail:*:${AWS::AccountId}:trail/*"
          - Sid: TrailDescribe
            Effect: Allow
            Principal: {Service: cloudtrail.amazonaws.com}
            Action: "kms:DescribeKey"
            Resource: "*"
  Trail:
    Type: AWS::CloudTrail::Trail
    Properties:
      IsLogging: true
      S3BucketName: audit
      KMSKeyId: !GetAtt TrailKey.Arn
"""
    )
    assert _run(tmp_path, "KMS040", {"template.yaml": template}) == []
    # Without the DescribeKey statement the trail cannot be created.
    without = template.replace("kms:DescribeKey", "kms:ListAliases")
    found = _run(tmp_path, "KMS040", {"template.yaml": without})
    assert len(found) == 1 and "kms:DescribeKey" in found[0].message
    assert "kms:GenerateDataKey" not in found[0].message


def test_kms040_policy_from_an_unset_variable_is_unresolved(tmp_path):
    text = """variable "key_policy" {}
resource "aws_kms_key" "k" {
  enable_key_rotation = true
  policy              = var.key_policy
}
resource "aws_sqs_queue" "q" {
  name              = "jobs"
  kms_master_key_id = aws_kms_key.k.arn
}
"""
    found = _run(tmp_path, "KMS040", {"main.tf": text})
    assert len(found) == 1 and found[0].unresolved
    assert any("key_policy" in ref for ref in found[0].unresolved)


def test_kms040_ignores_aws_managed_and_undeclared_keys(tmp_path):
    # source: KMS Developer Guide, "AWS managed keys": their policies are AWS's, not reviewable here.
    text = """resource "aws_sqs_queue" "managed" {
  name              = "managed"
  kms_master_key_id = "alias/aws/sqs"
}
resource "aws_cloudwatch_log_group" "elsewhere" {
  name       = "/app/x"
  kms_key_id = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
}
"""
    assert _run(tmp_path, "KMS040", {"main.tf": text}) == []


def test_kms040_explicit_deny_is_named(tmp_path):
    text = """resource "aws_kms_key" "k" {
  enable_key_rotation = true
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      { Sid = "Root", Effect = "Allow", Principal = { AWS = "arn:aws:iam::111122223333:root" },
        Action = "kms:*", Resource = "*" },
      { Sid = "NoSecretsManager", Effect = "Deny", Principal = "*", Action = "kms:Decrypt", Resource = "*",
        Condition = { StringEquals = { "kms:ViaService" = "secretsmanager.eu-west-1.amazonaws.com" } } }
    ]
  })
}
resource "aws_secretsmanager_secret" "db" {
  name       = "db"
  kms_key_id = aws_kms_key.k.arn
}
"""
    found = _run(tmp_path, "KMS040", {"main.tf": text}, account="111122223333")
    # The Deny names eu-west-1 only; with no --region the key may be elsewhere: unresolved.
    assert len(found) == 1 and found[0].unresolved
    (tmp_path / "main.tf").write_text(text)
    core = load_packs()[0]
    pack = replace(core, rules=tuple(r for r in core.rules if r.id == "KMS040"))
    context = LoadContext(account="111122223333", region="eu-west-1")
    result = run_check(CheckOptions(paths=(str(tmp_path),), context=context), packs=[pack])
    assert len(result.findings) == 1 and not result.findings[0].unresolved
    assert "NoSecretsManager" in result.findings[0].message
    assert "kms:Decrypt" in result.findings[0].message


# -- KMS041 -------------------------------------------------------------------------------------


def test_kms041_s3_with_an_asymmetric_key(tmp_path):
    # source: S3 User Guide, "Using server-side encryption with AWS KMS keys (SSE-KMS)": "Amazon S3
    # supports only symmetric encryption KMS keys".
    text = """resource "aws_kms_key" "rsa" {
  customer_master_key_spec = "RSA_4096"
  key_usage                = "ENCRYPT_DECRYPT"
}
resource "aws_s3_bucket_server_side_encryption_configuration" "b" {
  bucket = "data"
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.rsa.arn
    }
  }
}
"""
    found = _run(tmp_path, "KMS041", {"main.tf": text})
    assert len(found) == 1 and not found[0].unresolved
    assert "RSA_4096" in found[0].message and "SYMMETRIC_DEFAULT" in found[0].message


def test_kms041_hmac_key_for_a_log_group_in_cloudformation(tmp_path):
    # source: CloudWatch Logs User Guide, "Encrypt log data in CloudWatch Logs using AWS KMS":
    # "CloudWatch Logs supports only symmetric KMS keys".
    template = (
        CFN_HEADER
        + """  MacKey:
    Type: AWS::KMS::Key
    Properties:
      KeySpec: HMAC_384
      KeyUsage: GENERATE_VERIFY_MAC
  Logs:
    Type: AWS::Logs::LogGroup
    Properties:
      KmsKeyId: !GetAtt MacKey.Arn
"""
    )
    found = _run(tmp_path, "KMS041", {"template.yaml": template})
    assert len(found) == 1
    assert "HMAC_384" in found[0].message and "GENERATE_VERIFY_MAC" in found[0].message


def test_kms041_symmetric_key_passes_and_an_unknown_spec_is_unresolved(tmp_path):
    symmetric = """resource "aws_kms_key" "k" {
  enable_key_rotation = true
}
resource "aws_sns_topic" "t" {
  name              = "alerts"
  kms_master_key_id = aws_kms_key.k.arn
}
"""
    assert _run(tmp_path, "KMS041", {"main.tf": symmetric}) == []
    unknown = """variable "spec" {}
resource "aws_kms_key" "k" {
  customer_master_key_spec = var.spec
}
resource "aws_sns_topic" "t" {
  name              = "alerts"
  kms_master_key_id = aws_kms_key.k.arn
}
"""
    found = _run(tmp_path, "KMS041", {"main.tf": unknown})
    assert len(found) == 1 and found[0].unresolved


def test_check_with_a_resource_using_a_key_imports_no_heavy_library(tmp_path):
    # The dry run runs on the pre-commit path: the simulator, never cryptography or botocore.
    (tmp_path / "main.tf").write_text(LOG_GROUP_DEFAULT_POLICY)
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "kmsguard", "check", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "KMS040" in proc.stdout
    imported = {
        line.split("|")[-1].strip().split(".")[0]
        for line in proc.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert not imported & {"cryptography", "botocore", "boto3", "z3"}
