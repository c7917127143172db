"""What moto's server cannot answer, answered as AWS would, for the tests that need a complete world.

moto 5 does not implement ec2:GetEbsDefaultKmsKeyId (its server answers HTTP 500 with an HTML page).
The audit records that as a gap, as it would an unsupported call in a real account
(tests/audit/test_consumers.py checks it). Tests that compare the audit with `kmsguard check` on
fixtures/audit/main.tf answer it instead with what AWS returns when the account's default EBS key
was never changed: the AWS managed key. (Amazon EC2 API Reference, "GetEbsDefaultKmsKeyId": the
default KMS key for encryption by default; the AWS CLI reference's example answers
``"KmsKeyId": "alias/aws/ebs"``.)
"""

from __future__ import annotations

from typing import Any

import pytest

AWS_MANAGED_EBS_KEY = "alias/aws/ebs"


def answer_ebs_default_key(monkeypatch: pytest.MonkeyPatch, key_id: str = AWS_MANAGED_EBS_KEY) -> list[str]:
    """Every audit EC2 client answers GetEbsDefaultKmsKeyId with ``key_id`` without sending it
    (a botocore ``before-call`` handler that returns a response short-cuts the request). Returns
    the Regions it answered for, so a test can check the answer was used."""
    from botocore.awsrequest import AWSResponse

    from kmsguard.audit import client as audit_client

    answered: list[str] = []
    original = audit_client.AuditSession.client

    def client(self: Any, service: str, region: str | None = None) -> Any:
        made = original(self, service, region)
        if service == "ec2" and not getattr(made, "_kmsguard_test_ebs_answer", False):

            def answer(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
                answered.append(str(region))
                return AWSResponse("https://ec2.amazonaws.com/", 200, {}, None), {"KmsKeyId": key_id}

            made.meta.events.register("before-call.ec2.GetEbsDefaultKmsKeyId", answer)
            made._kmsguard_test_ebs_answer = True
        return made

    monkeypatch.setattr(audit_client.AuditSession, "client", client)
    return answered
