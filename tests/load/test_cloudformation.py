"""CloudFormation template -> Inventory: intrinsics, resource mapping, defaults, suppressions, errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from kmsguard.load.base import LoadContext, LoadResult
from kmsguard.load.cloudformation import load_cloudformation
from kmsguard.model import (
    IdentityKind,
    Key,
    Policy,
    PrincipalType,
    ResourceRef,
    Template,
    Unknown,
)
from kmsguard.model.values import THIS_ACCOUNT, THIS_REGION
from tests.shared_paths import CORPUS, CORPUS_ODD, REALWORLD

DATA = Path(__file__).resolve().parent.parent / "data" / "cfn"


def load(text: str, **context: str) -> LoadResult:
    return load_cloudformation("t.yaml", textwrap.dedent(text), LoadContext(**context))


def only_key(result: LoadResult) -> Key:
    assert not result.errors, result.errors
    (key,) = result.inventory.keys
    return key


def key_with_principal(principal: str, **context: str) -> Policy:
    """A key whose one statement has ``principal`` as its AWS principal; returns the policy."""
    result = load(
        f"""\
        Parameters:
          WithDefault: {{Type: String, Default: arn:aws:iam::111122223333:role/admin}}
          NoDefault: {{Type: String}}
          Accounts: {{Type: CommaDelimitedList, Default: "111122223333, 444455556666"}}
          FromSsm: {{Type: "AWS::SSM::Parameter::Value<String>", Default: /config/admin-arn}}
        Mappings:
          Env:
            prod: {{Admin: arn:aws:iam::111122223333:role/prod-admin}}
        Resources:
          Role:
            Type: AWS::IAM::Role
            Properties: {{AssumeRolePolicyDocument: {{Statement: []}}}}
          Key:
            Type: AWS::KMS::Key
            Properties:
              KeyPolicy:
                Version: "2012-10-17"
                Statement:
                  - Effect: Allow
                    Principal:
                      AWS: {principal}
                    Action: kms:*
                    Resource: "*"
        """,
        **context,
    )
    policy = only_key(result).policy
    assert isinstance(policy, Policy)
    return policy


def principal_values(policy: Policy) -> list[object]:
    return [p.value for stmt in policy.statements for p in (stmt.principals or ())]


# -- intrinsic functions -------------------------------------------------------------------------
# source: AWS CloudFormation User Guide, "Intrinsic function reference" and "Pseudo parameters
# reference"; "Ref": a parameter gives its value, a resource its physical id.


def test_ref_to_parameter_uses_its_default() -> None:
    assert principal_values(key_with_principal("!Ref WithDefault")) == [
        "arn:aws:iam::111122223333:role/admin"
    ]


def test_ref_to_parameter_without_default_is_unknown() -> None:
    (value,) = principal_values(key_with_principal("!Ref NoDefault"))
    assert isinstance(value, Unknown) and value.ref == "Parameter NoDefault"


def test_ssm_parameter_default_is_a_name_not_a_value() -> None:
    # "Parameters", SSM parameter types: the Default is the SSM parameter's name.
    (value,) = principal_values(key_with_principal("!Ref FromSsm"))
    assert isinstance(value, Unknown) and value.ref == "Parameter FromSsm"


def test_comma_delimited_list_default_is_split_and_trimmed() -> None:
    values = principal_values(key_with_principal("!Ref Accounts"))
    # bare account ids are normalised to root ARNs by the policy builder
    assert values == ["arn:aws:iam::111122223333:root", "arn:aws:iam::444455556666:root"]


def test_account_id_is_this_account_unless_given() -> None:
    (value,) = principal_values(key_with_principal("!Sub arn:aws:iam::${AWS::AccountId}:root"))
    assert isinstance(value, Template)
    assert value.parts[0] == "arn:aws:iam::" and value.parts[2] == ":root"
    assert isinstance(value.parts[1], Unknown) and value.parts[1].ref == THIS_ACCOUNT
    given = principal_values(
        key_with_principal("!Sub arn:aws:iam::${AWS::AccountId}:root", account="999988887777")
    )
    assert given == ["arn:aws:iam::999988887777:root"]


def test_partition_comes_from_the_context() -> None:
    values = principal_values(
        key_with_principal("!Sub 'arn:${AWS::Partition}:iam::111122223333:root'", partition="aws-us-gov")
    )
    assert values == ["arn:aws-us-gov:iam::111122223333:root"]


def test_region_and_stack_name_are_unknown() -> None:
    (value,) = principal_values(
        key_with_principal("!Sub 'arn:aws:iam::1:role/${AWS::Region}-${AWS::StackName}'")
    )
    assert isinstance(value, Template)
    refs = [part.ref for part in value.symbols() if isinstance(part, Unknown)]
    assert refs == [THIS_REGION, "AWS::StackName"]


def test_sub_with_variable_map_and_literal_escape() -> None:
    (value,) = principal_values(
        key_with_principal("!Sub ['arn:aws:iam::${Acct}:role/${!NotAVariable}', {Acct: '111122223333'}]")
    )
    # "Fn::Sub": "${!Literal}" is written out as "${Literal}".
    assert value == "arn:aws:iam::111122223333:role/${NotAVariable}"


def test_sub_with_resource_attribute_is_a_resource_ref() -> None:
    (value,) = principal_values(key_with_principal("!Sub '${Role.Arn}'"))
    assert isinstance(value, ResourceRef) and str(value) == "${Role.Arn}" and value.span.line == 21


def test_getatt_both_forms_link_to_the_role() -> None:
    for written in ("!GetAtt Role.Arn", "!GetAtt [Role, Arn]", "{'Fn::GetAtt': [Role, Arn]}"):
        (value,) = principal_values(key_with_principal(written))
        assert isinstance(value, ResourceRef) and (value.address, value.attribute) == ("Role", "Arn")


def test_ref_to_resource_is_a_resource_ref() -> None:
    (value,) = principal_values(key_with_principal("!Ref Role"))
    assert isinstance(value, ResourceRef) and (value.address, value.attribute) == ("Role", "Ref")


def test_join_of_literals_is_a_string_and_with_symbols_a_template() -> None:
    assert principal_values(key_with_principal("!Join ['', ['arn:aws:iam::', '111122223333', ':root']]")) == [
        "arn:aws:iam::111122223333:root"
    ]
    (value,) = principal_values(
        key_with_principal("!Join ['', ['arn:', !Ref AWS::Partition, ':iam::', !Ref NoDefault]]")
    )
    assert isinstance(value, Template) and value.parts[0] == "arn:aws:iam::"


def test_select_and_split() -> None:
    values = principal_values(
        key_with_principal("!Select [1, !Split [',', 'arn:a,arn:aws:iam::111122223333:root']]")
    )
    assert values == ["arn:aws:iam::111122223333:root"]
    (unknown,) = principal_values(key_with_principal("!Select [0, !GetAZs '']"))
    assert isinstance(unknown, Unknown)


def test_find_in_map() -> None:
    values = principal_values(key_with_principal("!FindInMap [Env, prod, Admin]"))
    assert values == ["arn:aws:iam::111122223333:role/prod-admin"]
    (principal,) = key_with_principal("!FindInMap [Env, prod, Admin]").statements[0].principals
    assert principal.span.line == 21  # the line that uses the mapping, not the Mappings entry


def test_import_value_is_unknown() -> None:
    (value,) = principal_values(key_with_principal("!ImportValue SharedAdminArn"))
    assert isinstance(value, Unknown) and value.ref == "ImportValue SharedAdminArn"


def test_if_keeps_statements_of_both_branches_and_novalue_removes() -> None:
    result = load(
        """\
        Conditions:
          IsProd: !Equals [prod, prod]
        Resources:
          Key:
            Type: AWS::KMS::Key
            Properties:
              KeyPolicy:
                Statement:
                  - Sid: Always
                    Effect: Allow
                    Principal: {AWS: arn:aws:iam::111122223333:root}
                    Action: kms:*
                    Resource: "*"
                  - !If
                    - IsProd
                    - Sid: ProdReaders
                      Effect: Allow
                      Principal: {AWS: arn:aws:iam::111122223333:role/prod}
                      Action: kms:Decrypt
                      Resource: "*"
                    - Sid: DevReaders
                      Effect: Allow
                      Principal: {AWS: arn:aws:iam::111122223333:role/dev}
                      Action: kms:Decrypt
                      Resource: "*"
                  - !If
                    - IsProd
                    - !Ref AWS::NoValue
                    - {Sid: DevOnly, Effect: Deny, Principal: "*", Action: "kms:*", Resource: "*"}
        """
    )
    policy = only_key(result).policy
    assert isinstance(policy, Policy)
    assert [s.sid for s in policy.statements] == ["Always", "ProdReaders", "DevReaders", "DevOnly"]
    assert policy.statements[1].span.line == 16


def test_if_in_a_principal_list_gives_the_union() -> None:
    policy = key_with_principal("!If [Cond, [arn:aws:iam::1:role/a], [arn:aws:iam::1:role/b]]")
    assert principal_values(policy) == ["arn:aws:iam::1:role/a", "arn:aws:iam::1:role/b"]


def test_if_between_two_scalars_is_unknown() -> None:
    result = load(
        """\
        Resources:
          Key:
            Type: AWS::KMS::Key
            Properties:
              EnableKeyRotation: !If [IsProd, true, false]
              Description: !If [IsProd, !Ref AWS::NoValue, text]
        """
    )
    key = only_key(result)
    assert isinstance(key.rotation_enabled, Unknown) and key.rotation_enabled.ref == "Fn::If IsProd"
    assert isinstance(key.description, Unknown)


# -- AWS::KMS::Key -------------------------------------------------------------------------------


def test_key_defaults() -> None:
    key = only_key(load("Resources:\n  K:\n    Type: AWS::KMS::Key\n"))
    # source: AWS CloudFormation User Guide, "AWS::KMS::Key" properties: KeySpec default
    # SYMMETRIC_DEFAULT, KeyUsage default ENCRYPT_DECRYPT, Origin default AWS_KMS, Enabled default
    # true, EnableKeyRotation default false, PendingWindowInDays default 30, MultiRegion default false.
    assert key.key_spec == "SYMMETRIC_DEFAULT"
    assert key.key_usage == "ENCRYPT_DECRYPT"
    assert key.origin == "AWS_KMS"
    assert key.enabled is True
    assert key.rotation_enabled is False and key.rotation_period_days is None
    assert key.deletion_window_days == 30
    assert key.multi_region is False
    assert key.bypass_policy_lockout_safety_check is False
    assert key.address == "K" and key.span.line == 2 and key.attr_spans == {}


def test_key_without_key_policy_gets_the_default_key_policy() -> None:
    # source: AWS CloudFormation User Guide, "AWS::KMS::Key", KeyPolicy: if you don't specify a key
    # policy, AWS KMS attaches the default key policy; KMS Developer Guide, "Default key policy":
    # it allows the account (root) kms:* on the key.
    key = only_key(load("Resources:\n  K:\n    Type: AWS::KMS::Key\n"))
    assert isinstance(key.policy, Policy)
    (statement,) = key.policy.statements
    assert statement.effect == "Allow" and statement.actions == ("kms:*",) and statement.resources == ("*",)
    (principal,) = statement.principals
    assert principal.type is PrincipalType.AWS
    assert isinstance(principal.value, Template)
    assert [p.ref for p in principal.value.symbols()] == [THIS_ACCOUNT]
    assert str(principal.value) == "arn:aws:iam::${AWS::AccountId}:root"
    known = only_key(load("Resources:\n  K:\n    Type: AWS::KMS::Key\n", account="111122223333"))
    assert known.policy.statements[0].principals[0].value == "arn:aws:iam::111122223333:root"


def test_key_properties_are_read_with_their_lines() -> None:
    key = only_key(
        load(
            """\
            Resources:
              K:
                Type: AWS::KMS::Key
                Properties:
                  Description: signing
                  KeySpec: ECC_NIST_P256
                  KeyUsage: SIGN_VERIFY
                  EnableKeyRotation: "true"
                  RotationPeriodInDays: 90
                  PendingWindowInDays: "7"
                  MultiRegion: true
                  Enabled: false
                  BypassPolicyLockoutSafetyCheck: false
                  Tags: [{Key: team, Value: sec}]
                  KeyPolicy: '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                    "Principal": "*", "Action": "kms:Verify", "Resource": "*"}]}'
            """
        )
    )
    assert (key.description, key.key_spec, key.key_usage) == ("signing", "ECC_NIST_P256", "SIGN_VERIFY")
    assert key.rotation_enabled is True  # CloudFormation accepts "true" for a Boolean
    assert (key.rotation_period_days, key.deletion_window_days) == (90, 7)
    assert key.multi_region is True and key.enabled is False
    assert key.tags == {"team": "sec"}
    assert key.attr_spans["key_spec"].line == 6 and key.attr_spans["policy"].line == 15
    assert isinstance(key.policy, Policy) and key.policy.statements[0].principals[0].is_wildcard


def test_wrong_type_for_a_known_property_is_kms100_at_its_line() -> None:
    result = load(
        "Resources:\n  K:\n    Type: AWS::KMS::Key\n    Properties:\n      EnableKeyRotation: [1]\n"
    )
    key = only_key(result)
    assert isinstance(key.rotation_enabled, Unknown)
    (diagnostic,) = [d for d in result.diagnostics if d.rule_id == "KMS100"]
    assert diagnostic.span.line == 5 and diagnostic.resource == "K"
    assert "EnableKeyRotation" in diagnostic.message


def test_policy_grammar_problems_come_from_the_policy_builder() -> None:
    result = load(
        """\
        Resources:
          K:
            Type: AWS::KMS::Key
            Properties:
              KeyPolicy:
                Statement:
                  - Effect: allow
                    Principal: "*"
                    Action: kms:*
                    Resource: "*"
        """
    )
    assert any(d.rule_id == "KMS100" and d.span.line == 7 for d in result.diagnostics)


def test_replica_key_and_alias() -> None:
    result = load(
        """\
        Resources:
          Replica:
            Type: AWS::KMS::ReplicaKey
            Properties:
              PrimaryKeyArn: !GetAtt Primary.Arn
              KeyPolicy:
                Statement: [{Effect: Allow, Principal: {AWS: "111122223333"}, Action: "kms:*", Resource: "*"}]
          Primary:
            Type: AWS::KMS::Key
            Properties: {KeySpec: HMAC_256, KeyUsage: GENERATE_VERIFY_MAC, MultiRegion: true}
          PrimaryAlias:
            Type: AWS::KMS::Alias
            Properties: {AliasName: alias/app, TargetKeyId: !Ref Primary}
        """
    )
    keys = {k.address: k for k in result.inventory.keys}
    replica = keys["Replica"]
    assert replica.is_replica and replica.multi_region is True
    assert isinstance(replica.primary_key, ResourceRef) and replica.primary_key.address == "Primary"
    # KMS Developer Guide, "Multi-Region keys": a replica shares the key spec of its primary.
    assert replica.key_spec == "HMAC_256" and replica.key_usage == "GENERATE_VERIFY_MAC"
    (alias,) = result.inventory.aliases
    assert alias.name == "alias/app" and str(alias.target_key) == "${Primary.Ref}"
    assert keys["Primary"].aliases == ("alias/app",)


# -- IAM -----------------------------------------------------------------------------------------

IAM_TEMPLATE = """\
Resources:
  AppRole:
    Type: AWS::IAM::Role
    Properties:
      RoleName: app
      Path: /svc/
      AssumeRolePolicyDocument:
        Statement: [{Effect: Allow, Principal: {Service: lambda.amazonaws.com}, Action: sts:AssumeRole}]
      ManagedPolicyArns: [arn:aws:iam::aws:policy/ReadOnlyAccess]
      PermissionsBoundary: arn:aws:iam::111122223333:policy/boundary
      Policies:
        - PolicyName: use-key
          PolicyDocument: {Statement: [{Effect: Allow, Action: kms:Decrypt, Resource: "*"}]}
  Extra:
    Type: AWS::IAM::Policy
    Properties:
      PolicyName: extra
      PolicyDocument: {Statement: [{Effect: Allow, Action: kms:Encrypt, Resource: "*"}]}
      Roles: [!Ref AppRole, someone-elses-role]
  ByName:
    Type: AWS::IAM::RolePolicy
    Properties:
      RoleName: app
      PolicyName: by-name
      PolicyDocument: {Statement: [{Effect: Allow, Action: kms:Sign, Resource: "*"}]}
  Managed:
    Type: AWS::IAM::ManagedPolicy
    Properties:
      PolicyDocument: {Statement: [{Effect: Allow, Action: kms:Verify, Resource: "*"}]}
      Roles: [!Ref AppRole]
      Users: [outside-user]
  Dev:
    Type: AWS::IAM::User
    Properties:
      Groups: [!Ref Devs]
  Devs:
    Type: AWS::IAM::Group
    Properties:
      Policies:
        - PolicyName: g
          PolicyDocument: {Statement: [{Effect: Allow, Action: kms:ListKeys, Resource: "*"}]}
"""


def test_role_with_trust_inline_managed_and_boundary() -> None:
    result = load(IAM_TEMPLATE, account="111122223333")
    assert not result.errors
    roles = {i.address: i for i in result.inventory.identities}
    role = roles["AppRole"]
    assert role.kind is IdentityKind.ROLE and role.name == "app" and role.path == "/svc/"
    # IAM User Guide, "IAM identifiers": arn:aws:iam::account:role/path/name
    assert role.arn == "arn:aws:iam::111122223333:role/svc/app"
    assert isinstance(role.trust_policy, Policy) and role.trust_policy.kind.value == "trust"
    assert role.permissions_boundary == "arn:aws:iam::111122223333:policy/boundary"
    assert role.managed_policies[0] == "arn:aws:iam::aws:policy/ReadOnlyAccess"
    assert "${Managed.Ref}" in [str(arn) for arn in role.managed_policies]
    # inline policy, AWS::IAM::Policy via !Ref and AWS::IAM::RolePolicy via the literal role name
    assert [p.name for p in role.inline_policies] == ["use-key", "extra", "by-name"]
    actions = [p.document.statements[0].actions for p in role.inline_policies]
    assert actions == [("kms:Decrypt",), ("kms:Encrypt",), ("kms:Sign",)]


def test_policies_for_identities_outside_the_template_become_attachments() -> None:
    result = load(IAM_TEMPLATE)
    attachments = {(a.address, str(a.identity)): a for a in result.inventory.attachments}
    assert set(attachments) == {("Extra", "someone-elses-role"), ("Managed", "outside-user")}
    assert isinstance(attachments[("Extra", "someone-elses-role")].policy, Policy)
    assert attachments[("Managed", "outside-user")].identity_kind is IdentityKind.USER


def test_users_groups_and_managed_policies() -> None:
    result = load(IAM_TEMPLATE)
    identities = {i.address: i for i in result.inventory.identities}
    assert identities["Dev"].kind is IdentityKind.USER and [str(g) for g in identities["Dev"].groups] == [
        "${Devs.Ref}"
    ]
    assert identities["Devs"].kind is IdentityKind.GROUP and len(identities["Devs"].inline_policies) == 1
    # no name written: the ARN is the role's Arn attribute
    assert str(identities["Dev"].arn) == "${Dev.Arn}"
    (managed,) = result.inventory.managed_policies
    assert managed.address == "Managed" and isinstance(managed.document, Policy)


def test_identity_policy_with_principal_is_a_grammar_problem() -> None:
    result = load(
        """\
        Resources:
          P:
            Type: AWS::IAM::ManagedPolicy
            Properties:
              PolicyDocument: {Statement: [{Effect: Allow, Principal: "*", Action: "kms:*", Resource: "*"}]}
        """
    )
    assert any("Principal is not allowed" in d.message for d in result.diagnostics)


# -- key consumers -------------------------------------------------------------------------------

CONSUMERS = """\
Resources:
  Key: {Type: AWS::KMS::Key}
  Bucket:
    Type: AWS::S3::Bucket
    Properties:
      BucketEncryption:
        ServerSideEncryptionConfiguration:
          - ServerSideEncryptionByDefault: {SSEAlgorithm: aws:kms, KMSMasterKeyID: !GetAtt Key.Arn}
            BucketKeyEnabled: true
  PlainBucket: {Type: AWS::S3::Bucket}
  DsseBucket:
    Type: AWS::S3::Bucket
    Properties:
      BucketEncryption:
        ServerSideEncryptionConfiguration:
          - ServerSideEncryptionByDefault: {SSEAlgorithm: "aws:kms:dsse"}
  Volume: {Type: AWS::EC2::Volume, Properties: {Encrypted: true, KmsKeyId: !Ref Key, Size: 8}}
  Launch:
    Type: AWS::EC2::LaunchTemplate
    Properties:
      LaunchTemplateData:
        BlockDeviceMappings:
          - DeviceName: /dev/xvda
            Ebs: {Encrypted: true, KmsKeyId: !GetAtt Key.Arn}
  Db: {Type: AWS::RDS::DBInstance, Properties: {StorageEncrypted: true, KmsKeyId: !Ref Key}}
  Cluster: {Type: AWS::RDS::DBCluster, Properties: {Engine: aurora-postgresql}}
  Logs: {Type: AWS::Logs::LogGroup, Properties: {KmsKeyId: !GetAtt Key.Arn}}
  Trail: {Type: AWS::CloudTrail::Trail, Properties: {KMSKeyId: alias/trail}}
  Topic: {Type: AWS::SNS::Topic, Properties: {KmsMasterKeyId: alias/aws/sns}}
  PlainTopic: {Type: AWS::SNS::Topic}
  Queue: {Type: AWS::SQS::Queue, Properties: {KmsMasterKeyId: !Ref Key}}
  PlainQueue: {Type: AWS::SQS::Queue, Properties: {SqsManagedSseEnabled: false}}
  Secret: {Type: AWS::SecretsManager::Secret, Properties: {KmsKeyId: !ImportValue SharedKey}}
  Table:
    Type: AWS::DynamoDB::Table
    Properties: {SSESpecification: {SSEEnabled: true, SSEType: KMS, KMSMasterKeyId: !Ref Key}}
  OwnedTable: {Type: AWS::DynamoDB::Table, Properties: {SSESpecification: {SSEEnabled: false}}}
  Global:
    Type: AWS::DynamoDB::GlobalTable
    Properties:
      SSESpecification: {SSEEnabled: true, SSEType: KMS}
      Replicas:
        - Region: eu-west-1
          SSESpecification: {KMSMasterKeyId: arn:aws:kms:eu-west-1:111122223333:key/abc}
  Fn: {Type: AWS::Lambda::Function, Properties: {KmsKeyArn: !GetAtt Key.Arn}}
  Files: {Type: AWS::EFS::FileSystem, Properties: {Encrypted: true, KmsKeyId: !Ref Key}}
  Plain: {Type: AWS::EFS::FileSystem}
  Unrelated: {Type: AWS::EC2::VPC, Properties: {CidrBlock: 10.0.0.0/16}}
"""


@pytest.fixture(scope="module")
def consumers() -> dict[str, object]:
    result = load(CONSUMERS)
    assert not result.errors and not result.diagnostics, (result.errors, result.diagnostics)
    return {c.address: c for c in result.inventory.consumers}


@pytest.mark.parametrize(
    ("address", "service", "key", "encrypted"),
    [
        ("Bucket", "s3", "${Key.Arn}", True),
        # S3 User Guide, "Setting default server-side encryption behavior": SSE-S3 by default.
        ("PlainBucket", "s3", None, True),
        # SSE-KMS(-DSSE) without KMSMasterKeyID uses the AWS managed key aws/s3.
        ("DsseBucket", "s3", None, True),
        ("Volume", "ebs", "${Key.Ref}", True),
        ("Launch", "ebs", "${Key.Arn}", True),
        ("Db", "rds", "${Key.Ref}", True),
        # "AWS::RDS::DBCluster" StorageEncrypted: not encrypted unless set.
        ("Cluster", "rds", None, False),
        ("Logs", "logs", "${Key.Arn}", True),
        ("Trail", "cloudtrail", "alias/trail", True),
        # alias/aws/sns is the AWS managed key (KMS Developer Guide, "AWS managed keys").
        ("Topic", "sns", None, True),
        # SNS Developer Guide, "Encryption at rest": topics are unencrypted without a KMS key.
        ("PlainTopic", "sns", None, False),
        ("Queue", "sqs", "${Key.Ref}", True),
        ("PlainQueue", "sqs", None, False),
        ("Secret", "secretsmanager", "${ImportValue SharedKey}", True),
        ("Table", "dynamodb", "${Key.Ref}", True),
        # DynamoDB Developer Guide, "Encryption at rest": SSEEnabled false is an AWS owned key.
        ("OwnedTable", "dynamodb", None, True),
        ("Global", "dynamodb", "arn:aws:kms:eu-west-1:111122223333:key/abc", True),
        ("Fn", "lambda", "${Key.Arn}", True),
        ("Files", "efs", "${Key.Ref}", True),
        # "AWS::EFS::FileSystem" Encrypted: false unless set.
        ("Plain", "efs", None, False),
    ],
)
def test_consumer(consumers: dict, address: str, service: str, key: str | None, encrypted: bool) -> None:
    consumer = consumers[address]
    assert consumer.service == service and consumer.encrypted is encrypted
    assert (str(consumer.key) if consumer.key is not None else None) == key


def test_consumer_details_and_spans(consumers: dict) -> None:
    bucket = consumers["Bucket"]
    assert bucket.details == {"sse_algorithm": "aws:kms", "bucket_key_enabled": True}
    assert bucket.attr_spans["key"].line == 8
    assert consumers["Topic"].details["aws_managed_key"] == "alias/aws/sns"
    assert "Unrelated" not in consumers


# -- suppressions --------------------------------------------------------------------------------


def test_metadata_suppression_covers_the_resource() -> None:
    result = load(
        """\
        Resources:
          Key:
            Type: AWS::KMS::Key
            Metadata:
              kmsguard:
                ignore:
                  - id: KMS001
                    reason: reviewed by security, ticket SEC-1
                  - id: KMS002
            Properties:
              Description: x
          Other:
            Type: AWS::SNS::Topic
        """
    )
    (suppression,) = result.suppressions
    assert suppression.rule_ids == ("KMS001",) and suppression.reason.startswith("reviewed")
    assert (suppression.first_line, suppression.last_line) == (2, 11)
    (missing,) = [d for d in result.diagnostics if d.rule_id == "KMS900"]
    assert missing.span.line == 9


def test_comment_suppression_above_a_resource() -> None:
    result = load(
        """\
        Resources:
          # kmsguard:ignore[KMS003] rotation handled by an external job
          Key:
            Type: AWS::KMS::Key
            Properties:
              Description: x
          Other:
            Type: AWS::SNS::Topic
        """
    )
    (suppression,) = result.suppressions
    assert suppression.rule_ids == ("KMS003",) and (suppression.first_line, suppression.last_line) == (2, 6)


# -- bad input -----------------------------------------------------------------------------------


def test_malformed_template_is_an_input_error_with_its_line() -> None:
    result = load("Resources:\n  Key:\n    Type: AWS::KMS::Key\n   Properties: {}\n")
    (error,) = result.errors
    assert error.path == "t.yaml" and error.line == 4 and "\n" not in error.message
    assert result.sources == {"t.yaml": "Resources:\n  Key:\n    Type: AWS::KMS::Key\n   Properties: {}\n"}


def test_a_bad_resource_does_not_stop_the_others() -> None:
    result = load("Resources:\n  Bad: [1]\n  NoType: {Properties: {}}\n  Key: {Type: AWS::KMS::Key}\n")
    assert [e.line for e in result.errors] == [2, 3]
    assert [k.address for k in result.inventory.keys] == ["Key"]


def test_rain_module_type_is_a_clean_error() -> None:
    result = load("Resources:\n  Net:\n    Type: !Rain::Module ./vpc.yml\n  Key: {Type: AWS::KMS::Key}\n")
    (error,) = result.errors
    assert error.line == 2 and "rain" in error.message.lower()
    assert len(result.inventory.keys) == 1


def test_foreach_is_reported_not_dropped_silently() -> None:
    # AWS::LanguageExtensions "Fn::ForEach" declares resources kmsguard does not expand (yet).
    result = load(
        """\
        Transform: AWS::LanguageExtensions
        Resources:
          Fn::ForEach::Topics:
            - Name
            - [a, b]
            - Topic${Name}: {Type: AWS::SNS::Topic}
          Key: {Type: AWS::KMS::Key}
        """
    )
    assert not result.errors and len(result.inventory.keys) == 1
    (diagnostic,) = result.diagnostics
    assert diagnostic.span.line == 3 and "not expanded" in diagnostic.message
    assert diagnostic.rule_id == "KMS105"


def test_unknown_resource_types_are_ignored() -> None:
    result = load("Resources:\n  X: {Type: Custom::Thing, Properties: {A: !Ref Missing}}\n")
    assert not result.errors and not result.diagnostics and result.inventory.keys == ()


def test_empty_template_loads_to_an_empty_inventory() -> None:
    result = load("")
    assert not result.errors and result.inventory.keys == ()


# -- SAM and CDK ---------------------------------------------------------------------------------


def test_sam_template() -> None:
    path = DATA / "sam.yaml"
    result = load_cloudformation(str(path), path.read_text(), LoadContext())
    assert not result.errors and not result.diagnostics
    consumers = {c.address: c for c in result.inventory.consumers}
    # SAM "Globals": a property of Globals.Function applies to every AWS::Serverless::Function.
    assert str(consumers["HelloFunction"].key) == "${FunctionKey.Arn}"
    assert consumers["HelloFunction"].attr_spans["key"].line == 11
    assert str(consumers["ExplicitKeyFunction"].key).startswith("arn:aws:kms:eu-west-1")
    (key,) = result.inventory.keys
    assert key.rotation_enabled is True and key.policy.statements[0].sid == "AccountAdmin"


def test_cdk_template() -> None:
    path = DATA / "cdk.json"
    result = load_cloudformation(str(path), path.read_text(), LoadContext(account="111122223333"))
    assert not result.errors and not result.diagnostics
    (key,) = result.inventory.keys
    principals = [str(p.value) for s in key.policy.statements for p in s.principals]
    assert principals == ["arn:aws:iam::111122223333:root", "${ReaderRoleB0A6E6C2.Arn}"]
    assert key.aliases == ("alias/app-data",)
    (role,) = result.inventory.identities
    assert role.managed_policies == ("arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",)
    assert [p.name for p in role.inline_policies] == ["ReaderRoleDefaultPolicy1D2E3F4A"]
    (bucket,) = result.inventory.consumers
    assert isinstance(bucket.key, ResourceRef) and str(bucket.key) == "${DataKey6A1E4C5B.Arn}"


# -- robustness on real templates ----------------------------------------------------------------

CORPORA = (
    CORPUS / "cfn",
    REALWORLD,
    CORPUS_ODD,
)
# Genuinely invalid inputs, and why.
EXPECTED_INPUT_ERRORS = {
    # Outputs repeat the key EC2InstanceSGID; CloudFormation rejects duplicate keys.
    "aws/solutions/CloudFrontCustomOriginLambda@Edge/CloudFront.yaml": ["duplicate key"],
    # Rain modules ("Type: !Rain::Module ...") must be packaged by rain before deployment.
    "Solutions/Gitea/Gitea.yaml": ["Rain", "Rain"],
    "Solutions/Gitea/Gitea.json": ["Rain", "Rain"],
}


def _corpus_templates() -> list[Path]:
    files: list[Path] = []
    for root in CORPORA:
        assert root.is_dir(), f"corpus directory {root} is missing"
        files.extend(
            sorted(p for p in root.rglob("*") if p.suffix in (".yaml", ".yml", ".json", ".template"))
        )
    return files


@pytest.mark.parametrize("path", _corpus_templates(), ids=lambda p: str(p).split("/shared/", 1)[-1])
def test_corpus_template_loads(path: Path) -> None:
    result = load_cloudformation(str(path), path.read_text(encoding="utf-8"), LoadContext())
    expected = next((v for k, v in EXPECTED_INPUT_ERRORS.items() if str(path).endswith(k)), [])
    assert len(result.errors) == len(expected), [str(e) for e in result.errors]
    for error, fragment in zip(result.errors, expected, strict=True):
        assert fragment.lower() in error.message.lower() and "internal error" not in error.message
    for consumer in result.inventory.consumers:
        assert consumer.span.path == str(path) and consumer.span.line > 0


def test_scalar_fn_if_follows_the_condition_decided_by_parameter_defaults() -> None:
    # source: AWS CloudFormation User Guide, "Condition functions": Fn::If returns the first value
    # when the condition is true. Refs resolve to parameter defaults, so the condition is decided
    # by the same values and correlated properties stay consistent.
    template = """\
        Parameters:
          KeySpec: {Type: String, Default: SYMMETRIC_DEFAULT}
          Env: {Type: String}
        Conditions:
          HasSymmetricKey: !Equals [!Ref KeySpec, SYMMETRIC_DEFAULT]
          NotSymmetric: !Not [!Condition HasSymmetricKey]
          IsProd: !Equals [!Ref Env, prod]
        Resources:
          Key:
            Type: AWS::KMS::Key
            Properties:
              KeySpec: !Ref KeySpec
              EnableKeyRotation: !If [NotSymmetric, false, true]
              MultiRegion: !If [IsProd, true, false]
        """
    key = only_key(load(template))
    assert key.key_spec == "SYMMETRIC_DEFAULT"
    assert key.rotation_enabled is True
    # Env has no default: the condition cannot be decided, so the value stays unresolved.
    assert isinstance(key.multi_region, Unknown) and key.multi_region.ref == "Fn::If IsProd"


def test_fn_if_in_a_statement_list_keeps_both_branches_even_when_decidable() -> None:
    template = """\
        Parameters:
          Share: {Type: String, Default: "false"}
        Conditions:
          DoShare: !Equals [!Ref Share, "true"]
        Resources:
          Key:
            Type: AWS::KMS::Key
            Properties:
              KeyPolicy:
                Statement:
                  - !If
                    - DoShare
                    - {Effect: Allow, Principal: "*", Action: "kms:Decrypt", Resource: "*"}
                    - !Ref AWS::NoValue
        """
    key = only_key(load(template))
    assert [s.principals[0].value for s in key.policy.statements] == ["*"]
