"""Every real-world module in shared/realworld-kms loads, and kmsguard's answers on them are the
ones a reviewer signed off. Each expectation below was checked by hand against the module's
source; the comment says why it is right."""

import pytest

from kmsguard.check import CheckOptions, run_check
from tests.shared_paths import REALWORLD

# (rule, resource, unresolved?) per module; modules not listed must have no findings.
EXPECTED: dict[str, set[tuple[str, str, bool]]] = {
    # No enable_key_rotation on symmetric AWS_KMS keys: rotation is off (AWS default).
    "3scale-s3-backup-kms": {("KMS001", "aws_kms_key.bucket", False)},
    # Grants of Encrypt/Decrypt/GenerateDataKey to the service roles, with no constraints block.
    "file-transfer-service-s3-kms-grants": {
        ("KMS001", "aws_kms_key.file_transfer_encryption_key", False),
        ("KMS001", "aws_kms_key.file_transfer_encryption_key_secure", False),
        ("KMS010", "aws_kms_grant.file_transfer_encryption_key_grant", False),
        ("KMS010", "aws_kms_grant.file_transfer_encryption_key_grant_secure", False),
    },
    # multi_region = true on the second key (informational).
    "moj-environments-secrets-kms": {("KMS006", "aws_kms_key.environment_management_multi_region", False)},
    "kics-kms-vulnerable-policy-negative": {
        ("KMS001", "aws_kms_key.negative1", False),
        ("KMS001", "aws_kms_key.negative2", False),
    },
    # "Version": "2008-10-17", and a typo'd action "km:CreateGrant" that never applies.
    "openscpca-nextflow-kms": {
        ("KMS001", "aws_kms_key.nf_work_key", False),
        ("KMS107", "aws_kms_key.nf_work_key", False),
        ("KMS108", "aws_kms_key.nf_work_key", False),
    },
    # "Allow use of the key by SQS" names the queue's ARN as Resource: in a key policy it never
    # matches the key, so SQS gets nothing from it.
    "moj-core-logging-cloudtrail-kms": {("KMS106", "aws_kms_key.s3_logging_cloudtrail", False)},
    "stacksets-log-setup-management": {("KMS001", "CentralEventLogKey", False)},
    "todobackend-kms": {("KMS001", "KmsKey", False)},
    # Terraform 0.11 `tags { }` block: Terraform >= 0.12 rejects it (tags is a map argument).
    "credstash-kms": {("KMS001", "aws_kms_key.credstash", False), ("KMS100", "aws_kms_key.credstash", False)},
    # Two statements share the Sid "For encryption".
    "ecs-sample-kms": {("KMS001", "myKey", False), ("KMS101", "myKey", False)},
    # {"AWS": "*"} for Encrypt/Decrypt/GenerateDataKey with no condition at all.
    "maguzzi-sns-key": {("KMS001", "aws_kms_key.sns_key", False), ("KMS002", "aws_kms_key.sns_key", False)},
    "thomblweed-sops-kms": {
        ("KMS001", "aws_kms_key.sops_key", False),
        ("KMS002", "aws_kms_key.sops_key", False),
    },
    # identifiers = ["*"] "We'll restrict this better later": no condition.
    "secure-upload-kms-key-main": {("KMS002", "aws_kms_key.this", False)},
    # "Allow use of the key" / "Allow attachment of the resources" to "*" without conditions; the
    # CloudTrail decrypt statement has only a Null condition on the encryption context, and its
    # Resource comes from a module output kmsguard cannot see (so: unresolved).
    "cms-eks-core-kms": {
        ("KMS002", "aws_kms_key.cloudtrail", True),
        ("KMS106", "aws_kms_key.cloudtrail", True),  # Resource = a module's bucket ARN output
        ("KMS002", "aws_kms_key.ebs", False),
        ("KMS002", "aws_kms_key.ecr", False),
        ("KMS002", "aws_kms_key.s3", False),
        ("KMS002", "aws_kms_key.sqs", False),
        ("KMS002", "aws_kms_key.ssm", False),
    },
    # The S3_PUBLIC_ACCESS branch: {"AWS": "*"} with only kms:ViaService = s3 (any account).
    "widdix-kms-key": {("KMS002", "Key", False)},
    # kms:CallerAccount = "${account_id}": a template variable could be anything, "*" included.
    "tdr-cloudtrail-key-policy": {("KMS002", "tdr-cloudtrail-key-policy/cloudtrail.json.tpl", True)},
}

MODULES = sorted(p.name for p in REALWORLD.iterdir() if p.is_dir()) if REALWORLD.is_dir() else []


def test_corpus_present():
    assert len(MODULES) >= 30


@pytest.mark.parametrize("module", MODULES)
def test_module_loads_and_answers_as_reviewed(module):
    result = run_check(CheckOptions(paths=(str(REALWORLD / module),)))
    assert result.errors == []
    assert result.files, "every module has at least one file kmsguard reads"
    found = {
        (f.rule_id, f.resource.replace(str(REALWORLD) + "/", ""), bool(f.unresolved)) for f in result.findings
    }
    assert found == EXPECTED.get(module, set())
