"""LocalKMS's public authorization API: ``on_decision``, ``set_authorization_policy`` and the
``enforce_policies`` switch (what ``kmsguard verify`` builds on, with no private overrides)."""

from __future__ import annotations

import re
import uuid

import pytest
from botocore.exceptions import ClientError

from kmsguard.authz.types import Outcome
from kmsguard.crypto import LocalKMS
from kmsguard.crypto.facade import AuthorizationEvent
from kmsguard.load.policy_builder import build_policy
from kmsguard.model import PolicyKind

from .conftest import ACCOUNT, error_code

ROLE = f"arn:aws:iam::{ACCOUNT}:role/app"
ALLOW_ENCRYPT = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": "*"}],
}


class Stop(Exception):
    pass


def test_every_decision_reaches_the_observer_even_remembered_ones(clock):
    events: list[AuthorizationEvent] = []
    kms = LocalKMS(seed=1, clock=clock, on_decision=events.append)
    key = kms.create_key()["KeyMetadata"]
    role = kms.as_principal(ROLE, identity_policies=[ALLOW_ENCRYPT])
    events.clear()
    for _ in range(3):  # identical requests: the simulator's answer is remembered, still observed
        role.encrypt(KeyId=key["KeyId"], Plaintext=b"p", EncryptionContext={"tenant": "a"})
    assert len(events) == 3
    event = events[-1]
    assert (event.operation, event.principal, event.key_id, event.key_arn) == (
        "Encrypt",
        ROLE,
        key["KeyId"],
        key["Arn"],
    )
    assert event.decision.outcome is Outcome.ALLOW
    assert event.request.context["kms:EncryptionContext:tenant"] == "a"


def test_denials_are_observed_before_access_denied(clock):
    events: list[AuthorizationEvent] = []
    kms = LocalKMS(seed=1, clock=clock, on_decision=events.append)
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    events.clear()
    with pytest.raises(ClientError) as excinfo:
        kms.as_principal(ROLE).decrypt(
            CiphertextBlob=kms.encrypt(KeyId=key_id, Plaintext=b"p")["CiphertextBlob"]
        )
    assert error_code(excinfo) == "AccessDeniedException"
    assert [e.decision.allowed for e in events] == [True, False]
    assert [e.operation for e in events] == ["Encrypt", "Decrypt"]


def test_observer_may_stop_a_call_and_views_may_have_their_own(clock):
    def stop(event: AuthorizationEvent) -> None:
        raise Stop(event.operation)

    kms = LocalKMS(seed=1, clock=clock)
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    strict = kms.as_principal(f"arn:aws:iam::{ACCOUNT}:root", on_decision=stop)
    with pytest.raises(Stop):
        strict.encrypt(KeyId=key_id, Plaintext=b"p")
    assert kms.encrypt(KeyId=key_id, Plaintext=b"p")["KeyId"].endswith(key_id)  # the parent has none
    unobserved = strict.as_principal(f"arn:aws:iam::{ACCOUNT}:root", on_decision=None)  # explicitly none
    assert unobserved.encrypt(KeyId=key_id, Plaintext=b"p")["KeyId"].endswith(key_id)
    with pytest.raises(Stop):  # a view made without on_decision keeps its parent's
        strict.as_principal(f"arn:aws:iam::{ACCOUNT}:root").encrypt(KeyId=key_id, Plaintext=b"p")


def test_authorization_policy_replaces_the_key_policy_for_decisions_only(clock):
    # The key's own policy (the default: the account may use it) stays what GetKeyPolicy answers;
    # the replacement denies everyone, so the root user's Encrypt is denied -- and an identical
    # request made before the replacement is not answered from memory.
    kms = LocalKMS(seed=1, clock=clock)
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    own = kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"]
    kms.encrypt(KeyId=key_id, Plaintext=b"p")
    deny_all, _ = build_policy(
        '{"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "kms:*",'
        ' "Resource": "*"}]}',
        PolicyKind.KEY,
        resource="test",
    )
    kms.set_authorization_policy(key_id, deny_all)
    with pytest.raises(ClientError) as excinfo:
        kms.encrypt(KeyId=key_id, Plaintext=b"p")
    assert error_code(excinfo) == "AccessDeniedException"
    kms.enforce_policies = False
    assert kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"] == own
    kms.set_authorization_policy(key_id, None)  # no key policy at all: nothing allows
    kms.enforce_policies = True
    with pytest.raises(ClientError) as excinfo:
        kms.encrypt(KeyId=key_id, Plaintext=b"p")
    assert error_code(excinfo) == "AccessDeniedException"


def test_enforce_policies_switch_is_shared_by_views_and_regions(clock):
    kms = LocalKMS(seed=1, clock=clock)
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    outsider = kms.as_principal(ROLE)
    europe = outsider.in_region("eu-west-1")
    kms.enforce_policies = False
    assert outsider.encrypt(KeyId=key_id, Plaintext=b"p")
    assert europe.enforce_policies is False
    kms.enforce_policies = True
    with pytest.raises(ClientError):
        outsider.encrypt(KeyId=key_id, Plaintext=b"p")


def test_request_ids_are_unique_uuid4_strings(kms):
    # boto3's ResponseMetadata.RequestId: AWS sends a UUID; RFC 9562 section 5.4 (version 4).
    ids = [kms.generate_random(NumberOfBytes=1)["ResponseMetadata"]["RequestId"] for _ in range(50)]
    assert len(set(ids)) == 50
    for request_id in ids:
        assert re.fullmatch(
            r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", request_id
        )
        assert uuid.UUID(request_id).version == 4
