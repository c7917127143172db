"""moto in server mode on loopback as the AWS endpoint: boto3 is unchanged, only the endpoint URL
differs. Each test starts from an empty endpoint (moto's reset API) and fake credentials."""

from __future__ import annotations

import json
import logging
import socket
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

ACCOUNT = "123456789012"  # moto's default account
REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one log line per request otherwise
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture()
def endpoint(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    for name, value in (
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_SESSION_TOKEN", "testing"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ):
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    request = urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass
    return moto_endpoint


def _client(endpoint: str, service: str, region: str = "us-east-1") -> Any:
    import boto3

    return boto3.client(service, region_name=region, endpoint_url=endpoint)


def _admin_statement() -> dict[str, Any]:
    return {
        "Sid": "Admin",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
        "Action": "kms:*",
        "Resource": "*",
    }


def seed_world(endpoint: str) -> dict[str, str]:
    """The world fixtures/audit/main.tf declares; returns the key ARNs by Name tag."""
    iam = _client(endpoint, "iam")
    role = iam.create_role(
        RoleName="app",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "ec2.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )["Role"]
    iam.put_role_policy(
        RoleName="app",
        PolicyName="decrypt-all",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}],
            }
        ),
    )
    arns: dict[str, str] = {}
    kms_us = _client(endpoint, "kms", "us-east-1")
    public_policy = {
        "Version": "2012-10-17",
        "Statement": [
            _admin_statement(),
            {
                "Sid": "Everyone",
                "Effect": "Allow",
                "Principal": "*",
                "Action": ["kms:Encrypt", "kms:Decrypt"],
                "Resource": "*",
            },
        ],
    }
    own_policy = {"Version": "2012-10-17", "Statement": [_admin_statement()]}
    public = kms_us.create_key(
        Description="public",
        Policy=json.dumps(public_policy),
        Tags=[{"TagKey": "Name", "TagValue": "public"}],
    )["KeyMetadata"]
    kms_us.enable_key_rotation(KeyId=public["KeyId"])
    arns["public"] = public["Arn"]
    norotate = kms_us.create_key(
        Description="norotate",
        Policy=json.dumps(own_policy),
        Tags=[{"TagKey": "Name", "TagValue": "norotate"}],
    )["KeyMetadata"]
    kms_us.create_alias(AliasName="alias/norotate", TargetKeyId=norotate["KeyId"])
    arns["norotate"] = norotate["Arn"]
    kms_eu = _client(endpoint, "kms", "eu-west-1")
    fine = kms_eu.create_key(
        Description="fine", Policy=json.dumps(own_policy), Tags=[{"TagKey": "Name", "TagValue": "fine"}]
    )["KeyMetadata"]
    kms_eu.enable_key_rotation(KeyId=fine["KeyId"])
    kms_eu.create_alias(AliasName="alias/fine", TargetKeyId=fine["KeyId"])
    kms_eu.create_grant(
        KeyId=fine["KeyId"],
        GranteePrincipal=role["Arn"],
        Operations=["Encrypt", "Decrypt"],
        Constraints={"EncryptionContextSubset": {"tenant": "a"}},
        Name="app",
    )
    arns["fine"] = fine["Arn"]
    kms_ap = _client(endpoint, "kms", "ap-southeast-2")
    sydney = kms_ap.create_key(
        Description="sydney", Policy=json.dumps(own_policy), Tags=[{"TagKey": "Name", "TagValue": "sydney"}]
    )["KeyMetadata"]
    kms_ap.enable_key_rotation(KeyId=sydney["KeyId"])
    kms_ap.create_alias(AliasName="alias/sydney", TargetKeyId=sydney["KeyId"])
    arns["sydney"] = sydney["Arn"]
    return arns


# A value that must never reach a snapshot: a Lambda environment variable (tests/audit/test_consumers.py).
LAMBDA_SECRET = "s3cr3t-env-value-never-collected"
SECRET_STRING = "s3cr3t-secret-string-never-collected"


def _lambda_zip() -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def handle(event, context):\n    return None\n")
    return buffer.getvalue()


def seed_consumers(endpoint: str, arns: dict[str, str]) -> dict[str, str]:
    """The key-using resources fixtures/audit/main.tf declares, beside seed_world's keys; returns
    their ARNs by Terraform resource name."""
    made: dict[str, str] = {}
    norotate, fine = arns["norotate"], arns["fine"]
    s3 = _client(endpoint, "s3")
    s3.create_bucket(Bucket="kmsguard-audit-logs")
    made["audit_logs"] = "arn:aws:s3:::kmsguard-audit-logs"

    ec2_us = _client(endpoint, "ec2", "us-east-1")
    ec2_us.enable_ebs_encryption_by_default()
    made["default_us"] = f"arn:aws:ec2:us-east-1:{ACCOUNT}:ebs-encryption-by-default"
    made["default_eu"] = f"arn:aws:ec2:eu-west-1:{ACCOUNT}:ebs-encryption-by-default"
    volume = ec2_us.create_volume(AvailabilityZone="us-east-1a", Size=8, Encrypted=True, KmsKeyId=norotate)
    made["data"] = f"arn:aws:ec2:us-east-1:{ACCOUNT}:volume/{volume['VolumeId']}"

    rds = _client(endpoint, "rds", "us-east-1")
    made["orders_db"] = rds.create_db_instance(
        DBInstanceIdentifier="orders",
        DBInstanceClass="db.t3.micro",
        Engine="postgres",
        MasterUsername="admin_user",
        MasterUserPassword="not-collected-1",
        AllocatedStorage=20,
        StorageEncrypted=True,
        KmsKeyId=norotate,
    )["DBInstance"]["DBInstanceArn"]

    trail_us = _client(endpoint, "cloudtrail", "us-east-1")
    made["audit"] = trail_us.create_trail(Name="audit", S3BucketName="kmsguard-audit-logs")["TrailARN"]
    trail_eu = _client(endpoint, "cloudtrail", "eu-west-1")
    made["everywhere"] = trail_eu.create_trail(
        Name="everywhere", S3BucketName="kmsguard-audit-logs", IsMultiRegionTrail=True, KmsKeyId=fine
    )["TrailARN"]

    table = {
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
    }
    dynamodb_us = _client(endpoint, "dynamodb", "us-east-1")
    made["orders"] = dynamodb_us.create_table(
        TableName="orders",
        SSESpecification={"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": norotate},
        **table,
    )["TableDescription"]["TableArn"]
    made["sessions"] = dynamodb_us.create_table(TableName="sessions", **table)["TableDescription"]["TableArn"]

    lambda_us = _client(endpoint, "lambda", "us-east-1")
    function = {
        "Runtime": "python3.12",
        "Role": f"arn:aws:iam::{ACCOUNT}:role/app",
        "Handler": "handler.handle",
        "Code": {"ZipFile": _lambda_zip()},
        "Environment": {"Variables": {"DB_PASSWORD": LAMBDA_SECRET}},
    }
    made["worker"] = lambda_us.create_function(FunctionName="worker", KMSKeyArn=norotate, **function)[
        "FunctionArn"
    ]
    made["plain"] = lambda_us.create_function(FunctionName="plain", **function)["FunctionArn"]

    secrets = _client(endpoint, "secretsmanager", "us-east-1")
    made["token"] = secrets.create_secret(Name="token", SecretString=SECRET_STRING)["ARN"]

    efs_eu = _client(endpoint, "efs", "eu-west-1")
    for token, key in (("shared", fine), ("scratch", None)):
        extra = {"KmsKeyId": key} if key else {}
        system = efs_eu.create_file_system(CreationToken=token, Encrypted=True, **extra)
        made[token] = system["FileSystemArn"]
    return made
