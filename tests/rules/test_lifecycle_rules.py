"""KMS005, KMS007, KMS030 and KMS031 on Terraform and CloudFormation through the real loaders, and
the key-reference following behind them (``rules_engine/key_links.py``).

Each expected answer comes from the AWS documentation cited next to it, not from a run."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from kmsguard.check import CheckOptions, run_check
from kmsguard.findings import Finding
from kmsguard.model import Inventory, Key, KeyConsumer, Source, Span
from kmsguard.rules_engine import load_packs
from kmsguard.rules_engine.key_links import KeyLinks, LinkStatus
from kmsguard.rules_engine.runtime import run_rule

CFN_HEADER = 'AWSTemplateFormatVersion: "2010-09-09"\nResources:\n'


def _core_rule(rule_id: str):
    return next(rule for rule in load_packs()[0].rules if rule.id == rule_id)


def _run(tmp_path: Path, rule_id: str, files: dict[str, str], **params: object) -> list[Finding]:
    """Loads the files and runs one rule of kms-core (the others are not this file's subject)."""
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    core = load_packs()[0]
    pack = replace(core, rules=tuple(r for r in core.rules if r.id == rule_id))
    result = run_check(CheckOptions(paths=(str(tmp_path),), params=dict(params)), packs=[pack])
    assert result.errors == []
    return [f for f in result.findings if f.rule_id == rule_id]


def _tf(tmp_path: Path, rule_id: str, text: str, **params: object) -> list[Finding]:
    return _run(tmp_path, rule_id, {"main.tf": text}, **params)


def _cfn(tmp_path: Path, rule_id: str, resources: str, **params: object) -> list[Finding]:
    return _run(tmp_path, rule_id, {"template.yaml": CFN_HEADER + resources}, **params)


def _line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


# -- KMS005: deletion window ----------------------------------------------------------------
# source: KMS API Reference, "ScheduleKeyDeletion", PendingWindowInDays: "between 7 and 30,
# inclusive. If you do not include a value, it defaults to 30."


@pytest.mark.parametrize(("days", "fires"), [(7, True), (13, True), (14, False), (30, False)])
def test_kms005_terraform_window_against_the_default_minimum_of_14(tmp_path, days, fires):
    text = (
        f'resource "aws_kms_key" "k" {{\n  enable_key_rotation = true\n  deletion_window_in_days = {days}\n}}'
    )
    found = _tf(tmp_path, "KMS005", text)
    assert bool(found) is fires
    if fires:
        assert found[0].span.line == 3  # the deletion_window_in_days line
        assert f"{days} days" in found[0].message and "14 days" in found[0].message


def test_kms005_unset_window_is_the_aws_default_of_30_and_passes(tmp_path):
    assert _tf(tmp_path, "KMS005", 'resource "aws_kms_key" "k" {\n  enable_key_rotation = true\n}\n') == []
    assert (
        _cfn(tmp_path, "KMS005", "  K:\n    Type: AWS::KMS::Key\n    Properties: {EnableKeyRotation: true}\n")
        == []
    )


def test_kms005_cloudformation_pending_window_in_days(tmp_path):
    # source: AWS CloudFormation User Guide, "AWS::KMS::Key", PendingWindowInDays (7-30).
    resources = "  K:\n    Type: AWS::KMS::Key\n    Properties:\n      PendingWindowInDays: 8\n"
    found = _cfn(tmp_path, "KMS005", resources)
    assert [f.resource for f in found] == ["K"]
    assert found[0].span.line == 6


def test_kms005_window_from_a_variable_without_value_is_unresolved(tmp_path):
    text = (
        'variable "window" { type = number }\n'
        'resource "aws_kms_key" "k" {\n  deletion_window_in_days = var.window\n}\n'
    )
    found = _tf(tmp_path, "KMS005", text)
    assert len(found) == 1 and found[0].unresolved == ("var.window",)


def test_kms005_minimum_is_a_parameter(tmp_path):
    text = 'resource "aws_kms_key" "k" {\n  deletion_window_in_days = 10\n}\n'
    assert _tf(tmp_path, "KMS005", text, min_deletion_window_days=7) == []
    assert len(_tf(tmp_path, "KMS005", text, min_deletion_window_days=30)) == 1


# -- KMS007: unusable key still used --------------------------------------------------------
# source: KMS Developer Guide, "Key states of AWS KMS keys": a Disabled or PendingDeletion key
# cannot be used in cryptographic operations.

_DISABLED_TF = """resource "aws_kms_key" "old" {
  enable_key_rotation = true
  is_enabled          = false
}
resource "aws_kms_alias" "old" {
  name          = "alias/old"
  target_key_id = aws_kms_key.old.key_id
}
"""


@pytest.mark.parametrize(
    "reference",
    [
        "aws_kms_key.old.arn",
        "aws_kms_key.old.id",
        "aws_kms_alias.old.arn",  # through the alias resource
        '"alias/old"',  # through the alias name
        '"arn:aws:kms:us-east-1:111122223333:alias/old"',  # an alias ARN
    ],
)
def test_kms007_disabled_terraform_key_used_by_a_queue(tmp_path, reference):
    text = _DISABLED_TF + f'resource "aws_sqs_queue" "jobs" {{\n  kms_master_key_id = {reference}\n}}\n'
    found = _tf(tmp_path, "KMS007", text)
    assert len(found) == 1
    assert found[0].resource == "aws_kms_key.old" and not found[0].unresolved
    assert found[0].span.line == 3  # is_enabled = false
    queue_line = _line_of(text, "kms_master_key_id")
    assert f"aws_sqs_queue.jobs (line {queue_line})" in found[0].message


def test_kms007_names_every_consumer(tmp_path):
    text = _DISABLED_TF + (
        'resource "aws_sqs_queue" "a" {\n  kms_master_key_id = aws_kms_key.old.arn\n}\n'
        'resource "aws_cloudwatch_log_group" "b" {\n  kms_key_id = aws_kms_alias.old.arn\n}\n'
    )
    message = _tf(tmp_path, "KMS007", text)[0].message
    assert "aws_sqs_queue.a" in message and "aws_cloudwatch_log_group.b" in message


def test_kms007_disabled_key_nobody_uses_passes(tmp_path):
    assert _tf(tmp_path, "KMS007", _DISABLED_TF) == []


def test_kms007_enabled_key_passes(tmp_path):
    text = (
        'resource "aws_kms_key" "k" {\n  enable_key_rotation = true\n}\n'
        'resource "aws_sqs_queue" "q" {\n  kms_master_key_id = aws_kms_key.k.arn\n}\n'
    )
    assert _tf(tmp_path, "KMS007", text) == []


def test_kms007_disabled_key_and_a_consumer_whose_key_is_a_variable_is_unresolved(tmp_path):
    text = _DISABLED_TF + (
        'variable "queue_key" { type = string }\n'
        'resource "aws_sqs_queue" "q" {\n  kms_master_key_id = var.queue_key\n}\n'
    )
    found = _tf(tmp_path, "KMS007", text)
    assert len(found) == 1 and found[0].unresolved == ("var.queue_key",)


def test_kms007_literal_arn_of_another_key_is_not_this_key(tmp_path):
    arn = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    text = _DISABLED_TF + f'resource "aws_sqs_queue" "q" {{\n  kms_master_key_id = "{arn}"\n}}\n'
    assert _tf(tmp_path, "KMS007", text) == []


def test_kms007_enabled_from_a_variable_is_unresolved_when_the_key_is_used(tmp_path):
    text = (
        'variable "on" { type = bool }\n'
        'resource "aws_kms_key" "k" {\n  is_enabled = var.on\n}\n'
        'resource "aws_sqs_queue" "q" {\n  kms_master_key_id = aws_kms_key.k.arn\n}\n'
    )
    found = _tf(tmp_path, "KMS007", text)
    assert len(found) == 1 and found[0].unresolved == ("var.on",)


@pytest.mark.parametrize(
    "reference",
    [
        "!Ref OldKey",
        "!GetAtt OldKey.Arn",
        "!Ref OldAlias",
        "alias/old",
        '!Sub "arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:alias/old"',
    ],
)
def test_kms007_cloudformation_enabled_false(tmp_path, reference):
    # source: AWS CloudFormation User Guide, "AWS::KMS::Key", Enabled; "AWS::KMS::Alias" (Ref
    # returns the alias name).
    resources = (
        "  OldKey:\n    Type: AWS::KMS::Key\n    Properties:\n      Enabled: false\n"
        "  OldAlias:\n    Type: AWS::KMS::Alias\n    Properties:\n"
        "      AliasName: alias/old\n      TargetKeyId: !Ref OldKey\n"
        f"  Topic:\n    Type: AWS::SNS::Topic\n    Properties:\n      KmsMasterKeyId: {reference}\n"
    )
    found = _cfn(tmp_path, "KMS007", resources)
    assert [f.resource for f in found] == ["OldKey"]
    assert f"Topic (line {_line_of(CFN_HEADER + resources, 'KmsMasterKeyId')})" in found[0].message


def _live_key(state: str) -> Key:
    arn = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    return Key(address=arn, resource_type="AWS::KMS::Key", source=Source.ACCOUNT, arn=arn, key_state=state)


@pytest.mark.parametrize(
    ("state", "fires"), [("PendingDeletion", True), ("Disabled", True), ("Enabled", False)]
)
def test_kms007_key_state_from_live_data(state, fires):
    key = _live_key(state)
    queue = KeyConsumer(
        address="arn:aws:sqs:us-east-1:111122223333:jobs",
        resource_type="AWS::SQS::Queue",
        service="sqs",
        source=Source.ACCOUNT,
        key=key.arn,
        span=Span("arn:aws:sqs:us-east-1:111122223333:jobs"),
    )
    found = run_rule(_core_rule("KMS007"), Inventory(keys=(key,), consumers=(queue,)))
    assert bool(found) is fires
    if fires:
        assert f"in state {state}" in found[0].message


# -- KMS030: customer managed key required --------------------------------------------------


def test_kms030_cloudtrail_without_key_uses_sse_s3(tmp_path):
    # source: AWS CloudTrail User Guide, "Encrypting CloudTrail log files with AWS KMS keys
    # (SSE-KMS)": by default log files are encrypted with SSE-S3.
    found = _tf(
        tmp_path, "KMS030", 'resource "aws_cloudtrail" "t" {\n  name = "t"\n  s3_bucket_name = "b"\n}\n'
    )
    assert len(found) == 1 and "SSE-S3" in found[0].message


def test_kms030_cloudtrail_with_a_customer_key_passes(tmp_path):
    text = (
        'resource "aws_kms_key" "k" {\n  enable_key_rotation = true\n}\n'
        'resource "aws_cloudtrail" "t" {\n  name = "t"\n  s3_bucket_name = "b"\n'
        "  kms_key_id = aws_kms_key.k.arn\n}\n"
    )
    assert _tf(tmp_path, "KMS030", text) == []


def test_kms030_cloudtrail_key_from_a_variable_is_unresolved(tmp_path):
    text = (
        'variable "trail_key" { type = string }\n'
        'resource "aws_cloudtrail" "t" {\n  name = "t"\n  s3_bucket_name = "b"\n'
        "  kms_key_id = var.trail_key\n}\n"
    )
    found = _tf(tmp_path, "KMS030", text)
    assert len(found) == 1 and found[0].unresolved == ("var.trail_key",)


_SQS_AWS_MANAGED = 'resource "aws_sqs_queue" "q" {\n  kms_master_key_id = "alias/aws/sqs"\n}\n'


def test_kms030_aws_managed_alias_only_where_the_service_is_listed(tmp_path):
    # source: KMS Developer Guide, "AWS managed keys": aliases of the form alias/aws/<service>.
    assert _tf(tmp_path, "KMS030", _SQS_AWS_MANAGED) == []  # sqs is not in kms-core's default list
    found = _tf(tmp_path, "KMS030", _SQS_AWS_MANAGED, require_customer_managed_key_for=["sqs"])
    assert len(found) == 1 and "alias/aws/sqs" in found[0].message
    assert found[0].span.line == 2  # the kms_master_key_id line


def test_kms030_list_parameter_as_a_comma_separated_string(tmp_path):
    # `--param require_customer_managed_key_for=s3,sqs` arrives as one string.
    found = _tf(tmp_path, "KMS030", _SQS_AWS_MANAGED, require_customer_managed_key_for="s3, sqs")
    assert len(found) == 1
    assert _tf(tmp_path, "KMS030", _SQS_AWS_MANAGED, require_customer_managed_key_for="s3") == []


def test_kms030_s3_default_encryption_forms(tmp_path):
    # source: S3 User Guide, "Setting default server-side encryption behavior": SSE-KMS without a
    # key uses the AWS managed key aws/s3; AES256 is SSE-S3.
    text = """resource "aws_s3_bucket_server_side_encryption_configuration" "kms" {
  bucket = "a"
  rule {
    apply_server_side_encryption_by_default { sse_algorithm = "aws:kms" }
  }
}
resource "aws_s3_bucket_server_side_encryption_configuration" "s3" {
  bucket = "b"
  rule {
    apply_server_side_encryption_by_default { sse_algorithm = "AES256" }
  }
}
"""
    found = {
        f.resource: f.message for f in _tf(tmp_path, "KMS030", text, require_customer_managed_key_for=["s3"])
    }
    assert "aws/s3" in found["aws_s3_bucket_server_side_encryption_configuration.kms"]
    assert "SSE-S3" in found["aws_s3_bucket_server_side_encryption_configuration.s3"]


def test_kms030_unencrypted_topic_of_a_listed_service(tmp_path):
    # source: SNS Developer Guide, "Encryption at rest": a topic is encrypted only with a KMS key.
    found = _tf(
        tmp_path,
        "KMS030",
        'resource "aws_sns_topic" "t" {\n  name = "t"\n}\n',
        require_customer_managed_key_for=["sns"],
    )
    assert len(found) == 1 and "not encrypted" in found[0].message


def test_kms030_alias_of_an_undeclared_key_counts_as_customer_managed(tmp_path):
    # Only AWS managed keys have aliases under alias/aws/ (KMS Developer Guide, "Aliases in AWS KMS").
    text = 'resource "aws_sqs_queue" "q" {\n  kms_master_key_id = "alias/team-key"\n}\n'
    assert _tf(tmp_path, "KMS030", text, require_customer_managed_key_for=["sqs"]) == []


def test_kms030_cloudformation_secret_with_the_aws_managed_key(tmp_path):
    # source: Secrets Manager User Guide, "Secret encryption and decryption": aws/secretsmanager.
    secret = "  S:\n    Type: AWS::SecretsManager::Secret\n    Properties:\n"
    resources = secret + "      KmsKeyId: alias/aws/secretsmanager\n"
    found = _cfn(tmp_path, "KMS030", resources, require_customer_managed_key_for=["secretsmanager"])
    assert [f.resource for f in found] == ["S"]
    assert "alias/aws/secretsmanager" in found[0].message


def test_kms030_ebs_volume_follows_the_account_default_key(tmp_path):
    # source: EC2 User Guide, "Amazon EBS encryption": without a key, a volume is encrypted with the
    # account's default key for EBS encryption (aws_ebs_default_kms_key sets it).
    volume = 'resource "aws_ebs_volume" "v" {\n  availability_zone = "us-east-1a"\n  encrypted = true\n}\n'
    default_key = (
        'resource "aws_kms_key" "ebs" {\n  enable_key_rotation = true\n}\n'
        'resource "aws_ebs_default_kms_key" "d" {\n  key_arn = aws_kms_key.ebs.arn\n}\n'
    )
    found = _tf(tmp_path, "KMS030", volume, require_customer_managed_key_for=["ebs"])
    assert len(found) == 1 and "aws/ebs" in found[0].message
    assert _tf(tmp_path, "KMS030", volume + default_key, require_customer_managed_key_for=["ebs"]) == []


# -- KMS031: the consumer's customer key does not rotate ------------------------------------
# source: KMS Developer Guide, "Rotate AWS KMS keys": automatic rotation is off by default and is
# supported only for symmetric encryption keys with AWS_KMS origin.


def test_kms031_follows_the_alias_back_to_the_key(tmp_path):
    text = """resource "aws_kms_key" "data" {
  description = "no rotation"
}
resource "aws_kms_alias" "data" {
  name          = "alias/data"
  target_key_id = aws_kms_key.data.key_id
}
resource "aws_secretsmanager_secret" "db" {
  name       = "db"
  kms_key_id = aws_kms_alias.data.arn
}
"""
    found = _tf(tmp_path, "KMS031", text)
    assert len(found) == 1
    assert found[0].resource == "aws_secretsmanager_secret.db" and not found[0].unresolved
    assert found[0].span.line == 10  # kms_key_id, in the secret
    assert "aws_secretsmanager_secret.db (line 10)" in found[0].message
    assert "aws_kms_key.data (line 1)" in found[0].message


def test_kms031_key_in_another_file_is_named_with_its_file(tmp_path):
    files = {
        "kms.tf": 'resource "aws_kms_key" "data" {\n  enable_key_rotation = false\n}\n',
        "queue.tf": 'resource "aws_sqs_queue" "q" {\n  kms_master_key_id = aws_kms_key.data.arn\n}\n',
    }
    found = _run(tmp_path, "KMS031", files)
    assert len(found) == 1 and "aws_kms_key.data (kms.tf:1)" in found[0].message
    assert "off (kms.tf:2)" in found[0].message


def test_kms031_rotating_key_passes(tmp_path):
    text = (
        'resource "aws_kms_key" "k" {\n  enable_key_rotation = true\n}\n'
        'resource "aws_lambda_function" "f" {\n  function_name = "f"\n'
        '  role = "r"\n  kms_key_arn = aws_kms_key.k.arn\n}\n'
    )
    assert _tf(tmp_path, "KMS031", text) == []


def test_kms031_key_aws_cannot_rotate_passes(tmp_path):
    text = (
        'resource "aws_kms_external_key" "byok" {\n  description = "imported"\n}\n'
        'resource "aws_sqs_queue" "q" {\n  kms_master_key_id = aws_kms_external_key.byok.arn\n}\n'
    )
    assert _tf(tmp_path, "KMS031", text) == []


def test_kms031_aws_managed_key_is_not_this_rules_business(tmp_path):
    assert _tf(tmp_path, "KMS031", _SQS_AWS_MANAGED) == []


_OUTSIDE_REFERENCES = [
    "data.aws_kms_key.shared.arn",
    "var.key_arn",
    '"arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"',
    '"alias/declared-elsewhere"',
]


@pytest.mark.parametrize("reference", _OUTSIDE_REFERENCES)
def test_kms031_key_from_outside_the_inputs_is_judged_where_it_is_declared(tmp_path, reference):
    # Nothing beside the queue declares a key: the reference can only mean a key managed elsewhere,
    # whose rotation KMS001 checks where it is declared.
    text = (
        'variable "key_arn" { type = string }\n'
        'data "aws_kms_key" "shared" {\n  key_id = "alias/shared"\n}\n'
        f'resource "aws_sqs_queue" "q" {{\n  kms_master_key_id = {reference}\n}}\n'
    )
    assert _tf(tmp_path, "KMS031", text) == []


@pytest.mark.parametrize("reference", ["data.aws_kms_key.shared.arn", "var.key_arn"])
def test_kms031_reference_that_may_mean_a_non_rotating_key_beside_it_is_unresolved(tmp_path, reference):
    text = (
        'variable "key_arn" { type = string }\n'
        'data "aws_kms_key" "shared" {\n  key_id = "alias/shared"\n}\n'
        'resource "aws_kms_key" "local" {\n  enable_key_rotation = false\n}\n'
        f'resource "aws_sqs_queue" "q" {{\n  kms_master_key_id = {reference}\n}}\n'
    )
    found = _tf(tmp_path, "KMS031", text)
    assert len(found) == 1 and found[0].unresolved == (reference,)


def test_kms031_cloudformation_import_value_is_not_followed(tmp_path):
    resources = (
        "  L:\n    Type: AWS::Logs::LogGroup\n    Properties:\n      KmsKeyId: !ImportValue shared-key-arn\n"
    )
    assert _cfn(tmp_path, "KMS031", resources) == []


def test_kms031_replica_follows_its_primary(tmp_path):
    # source: KMS Developer Guide, "Multi-Region keys": replicas share the primary's rotation.
    def text(rotation: str) -> str:
        return (
            f'resource "aws_kms_key" "p" {{\n  multi_region = true\n  enable_key_rotation = {rotation}\n}}\n'
            'resource "aws_kms_replica_key" "r" {\n  primary_key_arn = aws_kms_key.p.arn\n}\n'
            'resource "aws_sqs_queue" "q" {\n  kms_master_key_id = aws_kms_replica_key.r.arn\n}\n'
        )

    assert _tf(tmp_path, "KMS031", text("true")) == []
    found = _tf(tmp_path, "KMS031", text("false"))
    assert len(found) == 1 and "aws_kms_replica_key.r" in found[0].message


def test_kms031_cloudformation_getatt(tmp_path):
    resources = (
        "  K:\n    Type: AWS::KMS::Key\n    Properties:\n      EnableKeyRotation: false\n"
        "  T:\n    Type: AWS::DynamoDB::Table\n    Properties:\n"
        "      SSESpecification:\n        SSEEnabled: true\n        SSEType: KMS\n"
        "        KMSMasterKeyId: !GetAtt K.Arn\n"
    )
    found = _cfn(tmp_path, "KMS031", resources)
    assert [f.resource for f in found] == ["T"]
    assert "K (line 3)" in found[0].message and "off (line 6)" in found[0].message


# -- key_links ------------------------------------------------------------------------------


def _consumer(key: object, service: str = "sqs") -> KeyConsumer:
    return KeyConsumer(
        address="q", resource_type="aws_sqs_queue", service=service, source=Source.TERRAFORM, key=key
    )


def test_links_follow_a_counted_key_by_its_index():
    from kmsguard.model import ResourceRef

    key = Key(address="aws_kms_key.k[*]", resource_type="aws_kms_key", source=Source.TERRAFORM)
    consumer = _consumer(ResourceRef("aws_kms_key.k[0]", "arn"))
    link = KeyLinks(Inventory(keys=(key,), consumers=(consumer,))).link_of(consumer)
    assert link.status is LinkStatus.KEY and link.key is key


def test_links_unknown_alias_name_may_be_a_symbolic_alias():
    from kmsguard.model import Alias, ResourceRef, Template, Unknown

    key = Key(address="aws_kms_key.k", resource_type="aws_kms_key", source=Source.TERRAFORM)
    alias = Alias(
        "aws_kms_alias.a",
        Template(("alias/", Unknown("var.name"))),
        ResourceRef("aws_kms_key.k", "key_id"),
        Source.TERRAFORM,
    )
    consumer = _consumer("alias/app")
    link = KeyLinks(Inventory(keys=(key,), aliases=(alias,), consumers=(consumer,))).link_of(consumer)
    assert link.status is LinkStatus.UNRESOLVED and link.refs == ("var.name",)


_ALIAS_ARN = "arn:aws:kms:${%s}:${data.aws_caller_identity.current.account_id}:alias/old"


def test_kms007_alias_arn_built_from_the_deployment_account_and_region(tmp_path):
    reference = '"' + _ALIAS_ARN % "data.aws_region.current.name" + '"'
    text = (
        _DISABLED_TF
        + 'data "aws_region" "current" {}\ndata "aws_caller_identity" "current" {}\n'
        + f'resource "aws_sqs_queue" "q" {{\n  kms_master_key_id = {reference}\n}}\n'
    )
    found = _tf(tmp_path, "KMS007", text)
    assert len(found) == 1 and not found[0].unresolved


def test_kms007_alias_arn_in_a_region_from_a_variable_may_be_another_key(tmp_path):
    # An alias is per account and Region (KMS Developer Guide, "Aliases in AWS KMS"): alias/old in
    # another Region is another key.
    reference = '"' + _ALIAS_ARN % "var.region" + '"'
    text = (
        _DISABLED_TF
        + 'variable "region" { type = string }\ndata "aws_caller_identity" "current" {}\n'
        + f'resource "aws_sqs_queue" "q" {{\n  kms_master_key_id = {reference}\n}}\n'
    )
    found = _tf(tmp_path, "KMS007", text)
    assert len(found) == 1 and found[0].unresolved == ("var.region",)


def test_kms031_logical_ids_are_per_template(tmp_path):
    # source: AWS CloudFormation User Guide, "Ref" / "Fn::GetAtt": they name resources of the same
    # template, so two templates may both declare a "Key".
    def template(rotation: str) -> str:
        return CFN_HEADER + (
            f"  Key:\n    Type: AWS::KMS::Key\n    Properties:\n      EnableKeyRotation: {rotation}\n"
            "  Logs:\n    Type: AWS::Logs::LogGroup\n    Properties:\n      KmsKeyId: !GetAtt Key.Arn\n"
        )

    found = _run(tmp_path, "KMS031", {"a.yaml": template("false"), "b.yaml": template("true")})
    assert [(Path(f.span.path).name, f.resource) for f in found] == [("a.yaml", "Logs")]


def test_kms007_consumers_of_other_folders_are_not_possible_users(tmp_path):
    (tmp_path / "keys").mkdir()
    (tmp_path / "app").mkdir()
    files = {
        "keys/main.tf": _DISABLED_TF,
        "app/main.tf": 'variable "k" { type = string }\n'
        'resource "aws_sqs_queue" "q" {\n  kms_master_key_id = var.k\n}\n',
    }
    assert _run(tmp_path, "KMS007", files) == []
