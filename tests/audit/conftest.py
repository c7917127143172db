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
REGIONS = ("us-east-1", "eu-west-1")


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
    return arns
