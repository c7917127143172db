"""The snapshot loader builds each distinct clean key policy text once and hands the same Policy to
every key that carries it; a text with grammar problems is still built (and reported) per key, so
each key's diagnostics name that key. The rules' answers are the same either way."""

from __future__ import annotations

import json
from typing import Any

from kmsguard.load.base import LoadContext
from kmsguard.load.policy_builder import build_policy
from kmsguard.load.snapshot import load_snapshot
from kmsguard.model import PolicyKind, Span
from kmsguard.rules_engine.access_tests import ACCESS_TESTS
from kmsguard.rules_engine.predicates import Subject

ACCOUNT = "111122223333"


def _policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


ADMIN = {
    "Sid": "Admin",
    "Effect": "Allow",
    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
    "Action": "kms:*",
    "Resource": "*",
}
ADMIN_AND_USER = {
    "Sid": "Ops",
    "Effect": "Allow",
    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/ops"},
    "Action": ["kms:PutKeyPolicy", "kms:Decrypt"],
    "Resource": "*",
}


def _key(key_id: str, policy: str) -> dict[str, Any]:
    arn = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{key_id}"
    return {
        "arn": arn,
        "metadata": {
            "KeyId": key_id,
            "Arn": arn,
            "KeyManager": "CUSTOMER",
            "Enabled": True,
            "KeyState": "Enabled",
        },
        "policy": policy,
        "rotation": {"enabled": True, "period_days": 365},
        "rotations": [],
        "grants": [],
        "tags": [],
        "public_key": None,
    }


def _snapshot(keys: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "format": "kmsguard-snapshot",
        "version": 1,
        "created": "2026-01-01T00:00:00+00:00",
        "tool": {"name": "kmsguard", "version": "test"},
        "accounts": [
            {
                "account": ACCOUNT,
                "partition": "aws",
                "organization": {"status": "none", "scps": [], "rcps": []},
                "iam": {"status": "ok", "users": [], "groups": [], "roles": [], "policies": []},
                "global_consumers": [],
                "regions": [{"region": "us-east-1", "keys": keys, "aliases": [], "consumers": []}],
                "gaps": [],
            }
        ],
    }


def test_one_clean_policy_text_is_built_once_and_equals_a_fresh_build() -> None:
    text = _policy(ADMIN, ADMIN_AND_USER)
    inventory = load_snapshot(
        _snapshot([_key("a", text), _key("b", text)]), "s.json", LoadContext()
    ).inventory
    first, second = (key.policy for key in inventory.keys)
    assert first is second
    # The loader decodes the text first (a snapshot has no positions to keep).
    fresh, diagnostics = build_policy(json.loads(text), PolicyKind.KEY, resource="other", span=Span("s.json"))
    assert diagnostics == [] and fresh == first


def test_a_policy_text_with_problems_is_reported_for_every_key_that_carries_it() -> None:
    # IAM User Guide, "IAM JSON policy elements: Sid": Sids must be unique within a policy
    # (kmsguard reports a duplicate, KMS1xx); each key carrying it gets its own diagnostic.
    text = _policy(ADMIN, {**ADMIN_AND_USER, "Sid": "Admin"})
    result = load_snapshot(_snapshot([_key("a", text), _key("b", text)]), "s.json", LoadContext())
    named = sorted(d.resource for d in result.diagnostics if "Sid" in d.message)
    assert named == [f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{k}" for k in ("a", "b")]


def test_admin_and_user_answer_is_the_same_for_repeated_and_unknown_action_lists() -> None:
    # The per-Action-list memo answers as the first computation did, for every key sharing it.
    names_admin_and_user = ACCESS_TESTS["names_admin_and_user"]
    text = _policy(ADMIN, ADMIN_AND_USER)
    plain = _policy(ADMIN, {**ADMIN_AND_USER, "Action": ["kms:Decrypt"]})
    inventory = load_snapshot(
        _snapshot([_key("a", text), _key("b", plain), _key("c", text)]), "s.json", LoadContext()
    ).inventory
    answers = []
    for key in inventory.keys:
        subject = Subject("key_policy", key.policy, key.address, key.span, "policy", key)
        answers.append(names_admin_and_user(subject).truth.is_true)
    # KMS Developer Guide, "Default key policy": PutKeyPolicy is an administrator's action and
    # Decrypt a user's; the role in key a and c has both, in b only Decrypt.
    assert answers == [True, False, True]
