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
        # deletion_window_in_days = 10 on both keys: below kms-core's minimum of 14.
        ("KMS005", "aws_kms_key.negative1", False),
        ("KMS005", "aws_kms_key.negative2", False),
    },
    # "Version": "2008-10-17", and a typo'd action "km:CreateGrant" that never applies.
    "openscpca-nextflow-kms": {
        ("KMS001", "aws_kms_key.nf_work_key", False),
        ("KMS107", "aws_kms_key.nf_work_key", False),
        ("KMS108", "aws_kms_key.nf_work_key", False),
    },
    # "Allow use of the key by SQS" names the queue's ARN as Resource: in a key policy it never
    # matches the key, so SQS gets nothing from it.
    # Also: cloudtrail.amazonaws.com and logs.amazonaws.com get Encrypt/Decrypt/GenerateDataKey with no
    # aws:SourceArn / aws:SourceAccount / encryption-context condition (confused deputy).
    "moj-core-logging-cloudtrail-kms": {
        ("KMS106", "aws_kms_key.s3_logging_cloudtrail", False),
        ("KMS021", "aws_kms_key.s3_logging_cloudtrail", False),
    },
    # The log group's KmsKeyId is !GetAtt CentralEventLogKey.Arn, a key without EnableKeyRotation.
    "stacksets-log-setup-management": {
        ("KMS001", "CentralEventLogKey", False),
        ("KMS031", "CentralEventLog", False),
        ("KMS021", "CentralEventLogKey", False),  # logs.amazonaws.com, no source/context condition
    },
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
        ("KMS005", "aws_kms_key.sops_key", False),  # deletion_window_in_days = 7
    },
    # identifiers = ["*"] "We'll restrict this better later": no condition.
    "secure-upload-kms-key-main": {
        ("KMS002", "aws_kms_key.this", False),
        ("KMS005", "aws_kms_key.this", False),  # deletion_window_in_days = 10
    },
    # deletion_window_in_days = 7 (AWS's minimum), below kms-core's minimum of 14.
    # cloudwatch.amazonaws.com gets Decrypt/GenerateDataKey* with no aws:SourceArn / SourceAccount.
    "dnx-sns-kms": {("KMS005", "aws_kms_key.sns[*]", False), ("KMS021", "aws_kms_key.sns[*]", False)},
    # deletion_window_in_days = var.kms_deletion_window_days, declared outside the module's files.
    "inwom-edge-kms": {
        ("KMS005", "aws_kms_key.pseudonym", True),
        ("KMS005", "aws_kms_key.identity", True),
    },
    # (The secret's KmsKeyId is the parameter pSRASecretsKeyAliasArn, a key of another stack: its
    # rotation is judged where that key is declared, not here -- no KMS031.)
    # CloudTrail's encryption-context condition names the account ${pManagementAccountId}, a stack
    # parameter: whether it pins CloudTrail to one account depends on its value (KMS021 unresolved).
    "sra-cloudtrail-org-kms": {
        ("KMS021", "rOrganizationCloudTrailKey", True),
    },
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
        # logs.<region>.amazonaws.com with Encrypt/Decrypt and no encryption-context condition.
        ("KMS021", "aws_kms_key.cloudwatch", False),
        # "Allow attachment of the resources": CreateGrant to "*" with GrantIsForAWSResource *false*.
        ("KMS023", "aws_kms_key.s3", False),
        ("KMS023", "aws_kms_key.ssm", False),
        ("KMS023", "aws_kms_key.sqs", False),
    },
    # The S3_PUBLIC_ACCESS branch: {"AWS": "*"} with only kms:ViaService = s3 (any account).
    # Same statement: kms:ViaService without kms:CallerAccount (KMS022). The ALL_SERVICES branch gives
    # "*" in the account CreateGrant without GrantIsForAWSResource (KMS023); the Route 53 DNSSEC
    # branch gives dnssec-route53 Sign without aws:SourceAccount / aws:SourceArn (KMS021).
    "widdix-kms-key": {
        ("KMS002", "Key", False),
        ("KMS022", "Key", False),
        ("KMS023", "Key", False),
        ("KMS021", "Key", False),
    },
    # kms:CallerAccount = "${account_id}": a template variable could be anything, "*" included.
    # The same variable decides KMS022 ("Allow alias creation during setup": "*" via ec2) and KMS021
    # (CloudTrail's encryption-context condition names arn:aws:cloudtrail:*:${account_id}:trail/*).
    "tdr-cloudtrail-key-policy": {
        ("KMS002", "tdr-cloudtrail-key-policy/cloudtrail.json.tpl", True),
        ("KMS022", "tdr-cloudtrail-key-policy/cloudtrail.json.tpl", True),
        ("KMS021", "tdr-cloudtrail-key-policy/cloudtrail.json.tpl", True),
    },
    # delivery.logs / cloudtrail get Encrypt/Decrypt/GenerateDataKey* with no condition at all.
    "aft-log-key-policy": {("KMS021", "aft-log-key-policy/log-key.tpl", False)},
    # logs.<region>.amazonaws.com gets kms:* with no condition.
    "medium-ssm-recording-kms": {("KMS021", "aws_kms_key.log_key", False)},
    # logs.<region> and cloudwatch.amazonaws.com without source conditions, on both keys.
    "notify-canada-kms": {
        ("KMS021", "aws_kms_key.notification-canada-ca", False),
        ("KMS021", "aws_kms_key.notification-canada-ca-us-west-2", False),
    },
    # sns.amazonaws.com's encryption-context condition names queues of ${account_id} (unresolved);
    # cloudwatch.amazonaws.com has no condition.
    "tdr-message-system-access-key-policy": {
        ("KMS021", "tdr-message-system-access-key-policy/message_system_access.json.tpl", True),
        ("KMS021", "tdr-message-system-access-key-policy/message_system_access.json.tpl", False),
    },
}

# Access questions the prover answers, each reviewed against the module:
# KMS025 -- can a principal outside the key's own account use the key? Unresolved where a principal
# comes from a value the module does not fix (another provider's account, a stack parameter, a
# template variable, a local), and for policy files naming accounts when no --account says which
# one is the key's own. KMS027 -- can anyone still call kms:PutKeyPolicy?
_OUTSIDERS_UNRESOLVED = {
    "3scale-s3-backup-kms": "aws_kms_key.bucket",  # root of data.aws_caller_identity.master (provider alias)
    "aft-account-request-kms": "aws_kms_key.aft",  # the aft-management provider's account
    "aft-log-key-policy": "aft-log-key-policy/log-key.tpl",  # template variables for account ids
    "cloudsnap-kms-key-policy": "cloudsnap-kms-key-policy/kms-key-policy.json",  # literal accounts
    "dnx-sns-kms": "aws_kms_key.sns[*]",  # data.aws_caller_identity.current is not declared here
    "ecs-sample-kms": "myKey",  # role ARNs from stack parameters
    "eks-auto-mode-key-policy": "eks-auto-mode-key-policy/key-policy.json",  # literal accounts
    "lifebook-key-policy": "lifebook-key-policy/key-policy.json",  # literal accounts
    "openscpca-nextflow-kms": "aws_kms_key.nf_work_key",  # literal account, no --account
    "s3-xacct-replication-destination": "KmsKey",  # the source account is a parameter
    "s3bucket-kms-console-key-policy": "s3bucket-kms-console-key-policy/key-policy.json",  # literal
    "sra-cloudtrail-org-kms": "rOrganizationCloudTrailKey",  # management/log-archive accounts: parameters
    "sra-secrets-kms": "rSRASecretsKey",  # the management account is a parameter
    "tdr-cloudtrail-key-policy": "tdr-cloudtrail-key-policy/cloudtrail.json.tpl",  # template variable
    "tdr-message-system-access-key-policy": (
        "tdr-message-system-access-key-policy/message_system_access.json.tpl"  # template variables
    ),
    "xacct-pipeline-pre-reqs": "KMSKey",  # production/test/dev accounts are parameters
}
for _module, _key in _OUTSIDERS_UNRESOLVED.items():
    EXPECTED.setdefault(_module, set()).add(("KMS025", _key, True))
# local.role_to_assume, a role ARN the module does not fix, is allowed to use both keys.
EXPECTED["cms-eks-core-kms"] |= {
    ("KMS025", "aws_kms_key.cloudtrail", True),
    ("KMS025", "aws_kms_key.cloudwatch", True),
}
# Both keys name data.aws_caller_identity.current, not declared in the module's files.
EXPECTED["moj-core-logging-cloudtrail-kms"] |= {
    ("KMS025", "aws_kms_key.s3_logging_cloudtrail", True),
    ("KMS025", "aws_kms_key.s3_logging_cloudtrail_eu-west-1_replication", True),
}
# local.modernisation_platform_account.id is another account the module reads from elsewhere.
EXPECTED["moj-environments-secrets-kms"] |= {
    ("KMS025", "aws_kms_key.environment_management", True),
    ("KMS025", "aws_kms_key.environment_management_multi_region", True),
}
# negative1's policy is a single Deny: nobody may do anything, kms:PutKeyPolicy included.
EXPECTED["kics-kms-vulnerable-policy-negative"].add(("KMS027", "aws_kms_key.negative1", False))
# Its only statement lets "*" use the key; nobody may manage it (the lockout safety check would
# refuse this policy at apply time).
EXPECTED["secure-upload-kms-key-main"].add(("KMS027", "aws_kms_key.this", False))
# "*" through Secrets Manager, limited to the organisation pOrganizationId (a stack parameter) and
# a role name in any account: whether that keeps strangers out depends on the parameter.
EXPECTED["sra-secrets-kms"] |= {("KMS002", "rSRASecretsKey", True), ("KMS022", "rSRASecretsKey", True)}

# KMS026 -- can one principal the key policy names itself both manage and use the key?
# cms-eks-core-kms: local.role_to_assume gets kms:* on every key (unresolved: the local is not a
# literal ARN); on the S3, SSM and SQS keys "*" may also both RevokeGrant (GrantIsForAWSResource
# false) and use the key, which settles it.
EXPECTED["cms-eks-core-kms"] |= {
    ("KMS026", f"aws_kms_key.{name}", True) for name in ("cloudtrail", "cloudwatch", "ebs", "ecr")
} | {("KMS026", f"aws_kms_key.{name}", False) for name in ("s3", "ssm", "sqs")}
# (maguzzi-sns-key: the "*" statement lets any account in -- KMS002's finding, not KMS025's.)
# kms:* to [this account, local.modernisation_platform_account.id]: the local may be a role's account.
EXPECTED["moj-environments-secrets-kms"] |= {
    ("KMS026", "aws_kms_key.environment_management", True),
    ("KMS026", "aws_kms_key.environment_management_multi_region", True),
}
# The console's policy with the user "manthan" both key administrator and key user (unresolved:
# without --account the policy file's accounts may not be the key's).
EXPECTED["s3bucket-kms-console-key-policy"].add(
    ("KMS026", "s3bucket-kms-console-key-policy/key-policy.json", True)
)
# The Admin role gets kms:* in the key policy itself.
EXPECTED["stacksets-log-setup-management"].add(("KMS026", "CentralEventLogKey", False))
# kms:* to local.my_aws_user, a user ARN the module builds.
EXPECTED["thomblweed-sops-kms"].add(("KMS026", "aws_kms_key.sops_key", True))

# KMS040 -- can the service make its KMS calls with the key the resource names?
# The key policy's only statement for CloudWatch Logs names logs.amazonaws.com; the CloudWatch Logs
# User Guide ("Encrypt log data ... Step 2") has the regional principal logs.<region>.amazonaws.com
# call the key, and the Admin role is the only other principal: creating the log group fails.
EXPECTED["stacksets-log-setup-management"].add(("KMS040", "CentralEventLog", False))
# The secret's key lets in only the accounts data.aws_caller_identity.current (declared outside the
# module) and local.modernisation_platform_account.id: whether Secrets Manager's callers in the
# key's account are among them is not known statically (unresolved, not a pass).
EXPECTED["moj-environments-secrets-kms"].add(
    ("KMS040", "aws_secretsmanager_secret.environment_management", True)
)

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
