"""Seeded, reproducible generator of simulator cases in kmsguard's CASE shape (issue 3, point 3).

    python -m tests.differential.generate [--seed N] [--count N] > cases.json

Each case is a dict ``{"id", "key_policy", "identity_policies", "grants", "scps", "rcps",
"permission_boundary", "session_policy", "request"}``. Policies are drawn from small pools of
realistic pieces (the AWS default key policy's statements, account / role / wildcard / service
principals, action wildcards, NotAction, conditions over every operator family both simulators
implement) and request contexts are drawn from the same value pools, so that conditions hit as
well as miss. The request context holds only what the request itself carries (encryption context,
kms:ViaService, source IP, the caller's organisation and tags...): what the caller's ARN implies
(aws:PrincipalArn, kms:CallerAccount...) is derived by each simulator, so kmsguard's derivation is
under test too.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Sequence
from typing import Any

KEY_ACCOUNT = "111122223333"
PARTNER_ACCOUNT = "444455556666"  # named by some key policies, same organisation
STRANGER_ACCOUNT = "777788889999"  # never named, another organisation
REGION = "us-east-1"
KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
KEY_ARN = f"arn:aws:kms:{REGION}:{KEY_ACCOUNT}:key/{KEY_ID}"
OTHER_KEY_ARN = f"arn:aws:kms:{REGION}:{KEY_ACCOUNT}:key/0987dcba-09ba-87dc-65fe-ab0987654321"
ORG_ID = "o-abc123example"
OTHER_ORG_ID = "o-zzz999example"
ORG_PATH = f"{ORG_ID}/r-ab12/ou-ab12-11111111/"
VERSION = "2012-10-17"
DEFAULT_SEED = 20261122
DEFAULT_COUNT = 5200

# Callers: (principal as the CASE names it, account or None). Role ARNs are the caller as kmsguard's
# contract allows it (PrincipalKind.ROLE); sessions are what AWS actually sees for a role.
CALLERS: tuple[tuple[str, str | None], ...] = (
    (f"arn:aws:iam::{KEY_ACCOUNT}:role/app", KEY_ACCOUNT),
    (f"arn:aws:sts::{KEY_ACCOUNT}:assumed-role/app/session-1", KEY_ACCOUNT),
    (f"arn:aws:iam::{KEY_ACCOUNT}:role/admin", KEY_ACCOUNT),
    (f"arn:aws:sts::{KEY_ACCOUNT}:assumed-role/admin/break-glass", KEY_ACCOUNT),
    (f"arn:aws:iam::{KEY_ACCOUNT}:user/alice", KEY_ACCOUNT),
    (f"arn:aws:iam::{KEY_ACCOUNT}:root", KEY_ACCOUNT),
    (f"arn:aws:iam::{PARTNER_ACCOUNT}:role/partner", PARTNER_ACCOUNT),
    (f"arn:aws:sts::{PARTNER_ACCOUNT}:assumed-role/partner/job-7", PARTNER_ACCOUNT),
    (f"arn:aws:iam::{PARTNER_ACCOUNT}:user/bob", PARTNER_ACCOUNT),
    (f"arn:aws:iam::{PARTNER_ACCOUNT}:root", PARTNER_ACCOUNT),
    (f"arn:aws:iam::{STRANGER_ACCOUNT}:role/stranger", STRANGER_ACCOUNT),
    ("s3.amazonaws.com", None),
    ("cloudtrail.amazonaws.com", None),
)
CALLER_WEIGHTS = (12, 14, 5, 5, 8, 5, 8, 10, 5, 3, 5, 4, 2)
ANONYMOUS = "anonymous"
ANONYMOUS_SHARE = 0.01

# Operations on one key (no alias, no second key: those need two authorizations and are covered by
# the conformance suite). The first group takes an encryption context.
ENCRYPTION_CONTEXT_ACTIONS = (
    "Decrypt",
    "Encrypt",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateDataKeyPair",
)
OTHER_ACTIONS = (
    "DescribeKey",
    "CreateGrant",
    "ListGrants",
    "RevokeGrant",
    "Sign",
    "Verify",
    "GetPublicKey",
    "GenerateMac",
    "GetKeyPolicy",
    "PutKeyPolicy",
    "ScheduleKeyDeletion",
    "DisableKey",
    "EnableKeyRotation",
    "GetKeyRotationStatus",
    "TagResource",
    "UpdateKeyDescription",
)
GRANT_ACTIONS = ("CreateGrant", "ListGrants", "RevokeGrant")
# Operations a grant may allow (KMS Developer Guide, "Grants in AWS KMS", "Grant operations").
GRANTABLE = ("Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "DescribeKey")

# The AWS default key policy's statements (KMS Developer Guide, "Default key policy").
ENABLE_IAM = {
    "Sid": "Enable IAM User Permissions",
    "Effect": "Allow",
    "Principal": {"AWS": f"arn:aws:iam::{KEY_ACCOUNT}:root"},
    "Action": "kms:*",
    "Resource": "*",
}
ADMIN_ACTIONS = [
    "kms:Create*",
    "kms:Describe*",
    "kms:Enable*",
    "kms:List*",
    "kms:Put*",
    "kms:Update*",
    "kms:Revoke*",
    "kms:Disable*",
    "kms:Get*",
    "kms:Delete*",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
]
USER_ACTIONS = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
GRANT_STATEMENT_ACTIONS = ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"]

KEY_POLICY_PRINCIPALS: tuple[Any, ...] = (
    {"AWS": f"arn:aws:iam::{KEY_ACCOUNT}:root"},
    {"AWS": KEY_ACCOUNT},
    {"AWS": f"arn:aws:iam::{PARTNER_ACCOUNT}:root"},
    {"AWS": PARTNER_ACCOUNT},
    {"AWS": f"arn:aws:iam::{KEY_ACCOUNT}:role/app"},
    {"AWS": f"arn:aws:iam::{KEY_ACCOUNT}:role/admin"},
    {"AWS": f"arn:aws:iam::{PARTNER_ACCOUNT}:role/partner"},
    {"AWS": f"arn:aws:iam::{KEY_ACCOUNT}:user/alice"},
    {"AWS": f"arn:aws:sts::{KEY_ACCOUNT}:assumed-role/app/session-1"},
    {"AWS": [f"arn:aws:iam::{KEY_ACCOUNT}:role/app", f"arn:aws:iam::{PARTNER_ACCOUNT}:root"]},
    {"AWS": "*"},
    "*",
    {"Service": "s3.amazonaws.com"},
    {"Service": ["cloudtrail.amazonaws.com", "s3.amazonaws.com"]},
)

STATEMENT_ACTIONS: tuple[tuple[str, Any], ...] = (
    ("Action", "kms:*"),
    ("Action", "kms:Decrypt"),
    ("Action", USER_ACTIONS),
    ("Action", ADMIN_ACTIONS),
    ("Action", GRANT_STATEMENT_ACTIONS),
    ("Action", "kms:Get*"),
    ("Action", "kms:*crypt"),
    ("Action", "kms:Generate*"),
    ("Action", "KMS:decrypt"),  # action names are case-insensitive
    ("Action", ["kms:Sign", "kms:Verify", "kms:GetPublicKey"]),
    ("Action", "kms:?ecrypt"),
    ("Action", "*"),
    ("NotAction", ["kms:Decrypt"]),
    ("NotAction", "kms:*Key*"),
    ("NotAction", ["kms:PutKeyPolicy", "kms:ScheduleKeyDeletion"]),
)
STATEMENT_RESOURCES: tuple[Any, ...] = (
    "*",
    "*",
    "*",
    KEY_ARN,
    f"arn:aws:kms:*:{KEY_ACCOUNT}:key/*",
    OTHER_KEY_ARN,
)

# Condition clauses: (operator, key, values). Values come from the same pools as request contexts.
CONDITIONS: tuple[tuple[str, str, list[str]], ...] = (
    ("StringEquals", "kms:CallerAccount", [KEY_ACCOUNT]),
    ("StringEquals", "kms:CallerAccount", [KEY_ACCOUNT, PARTNER_ACCOUNT]),
    ("StringNotEquals", "kms:CallerAccount", [KEY_ACCOUNT]),
    ("StringEquals", "aws:PrincipalOrgID", [ORG_ID]),
    ("StringLike", "aws:PrincipalOrgID", ["o-abc*"]),
    ("StringNotEqualsIfExists", "aws:PrincipalOrgID", [ORG_ID]),
    ("StringEquals", "kms:EncryptionContext:tenant", ["a"]),
    ("StringEquals", "kms:EncryptionContext:tenant", ["a", "b"]),
    ("StringEquals", "kms:EncryptionContext:Tenant", ["a"]),  # key name case-insensitive
    ("StringEqualsIgnoreCase", "kms:EncryptionContext:tenant", ["A"]),
    ("StringLike", "kms:EncryptionContext:tenant", ["?"]),
    ("StringLike", "kms:EncryptionContext:tenant", ["a*"]),
    ("StringNotLike", "kms:EncryptionContext:tenant", ["b*"]),
    ("StringEqualsIfExists", "kms:EncryptionContext:tenant", ["a"]),
    ("StringNotEquals", "kms:EncryptionContext:tenant", ["b"]),
    ("Null", "kms:EncryptionContext:tenant", ["false"]),
    ("Null", "kms:EncryptionContext:tenant", ["true"]),
    ("StringEquals", "kms:EncryptionContext:tenant", ["${aws:PrincipalTag/team}"]),
    ("ForAnyValue:StringEquals", "kms:EncryptionContextKeys", ["tenant"]),
    ("ForAllValues:StringEquals", "kms:EncryptionContextKeys", ["tenant", "app"]),
    ("ForAllValues:StringLike", "kms:EncryptionContextKeys", ["t*"]),
    ("StringEquals", "kms:ViaService", [f"s3.{REGION}.amazonaws.com"]),
    ("StringLike", "kms:ViaService", [f"*.{REGION}.amazonaws.com"]),
    ("StringNotEquals", "kms:ViaService", [f"ec2.{REGION}.amazonaws.com"]),
    ("ArnLike", "aws:PrincipalArn", [f"arn:aws:iam::{KEY_ACCOUNT}:role/*"]),
    ("ArnNotLike", "aws:PrincipalArn", ["arn:aws:iam::*:role/admin"]),
    ("ArnEquals", "aws:PrincipalArn", [f"arn:aws:iam::{KEY_ACCOUNT}:role/app"]),
    ("StringLike", "aws:PrincipalArn", ["arn:aws:iam::${aws:PrincipalAccount}:*"]),
    ("StringEquals", "aws:PrincipalAccount", [KEY_ACCOUNT]),
    ("StringEquals", "aws:PrincipalTag/team", ["blue"]),
    ("StringEquals", "aws:PrincipalTag/team", ["blue", "red"]),
    ("Bool", "aws:SecureTransport", ["true"]),
    ("Bool", "aws:SecureTransport", ["false"]),
    ("BoolIfExists", "aws:MultiFactorAuthPresent", ["true"]),
    ("IpAddress", "aws:SourceIp", ["192.0.2.0/24"]),
    ("NotIpAddress", "aws:SourceIp", ["203.0.113.0/24"]),
    ("NumericLessThan", "aws:MultiFactorAuthAge", ["3600"]),
    ("NumericGreaterThanEquals", "aws:MultiFactorAuthAge", ["100"]),
    ("DateLessThan", "aws:CurrentTime", ["2030-01-01T00:00:00Z"]),
    ("DateGreaterThan", "aws:CurrentTime", ["2026-01-01T00:00:00Z"]),
    ("ForAnyValue:StringLike", "aws:PrincipalOrgPaths", [f"{ORG_ID}/r-ab12/ou-ab12-11111111/*"]),
    ("StringEquals", "aws:SourceAccount", [KEY_ACCOUNT]),
    ("ArnLike", "aws:SourceArn", ["arn:aws:s3:::bucket-*"]),
    ("Bool", "kms:GrantIsForAWSResource", ["true"]),
    ("ForAllValues:StringEquals", "kms:GrantOperations", ["Decrypt", "Encrypt"]),
)

ENCRYPTION_CONTEXTS: tuple[dict[str, str], ...] = (
    {},
    {"tenant": "a"},
    {"tenant": "a"},
    {"tenant": "b"},
    {"Tenant": "a"},  # key case differs: condition key names match, EncryptionContextKeys values do not
    {"tenant": "A"},
    {"tenant": "a", "app": "x"},
    {"app": "x"},
)


def _action_statement_part(rng: random.Random) -> dict[str, Any]:
    element, value = rng.choice(STATEMENT_ACTIONS)
    return {element: value}


def _condition_block(rng: random.Random, max_clauses: int) -> dict[str, dict[str, list[str]]]:
    """0..max_clauses clauses; two clauses never share an operator and a key (that is one clause)."""
    block: dict[str, dict[str, list[str]]] = {}
    for _ in range(rng.randint(0, max_clauses)):
        operator, key, values = rng.choice(CONDITIONS)
        block.setdefault(operator, {}).setdefault(key, list(values))
    return block


def _statement(rng: random.Random, index: int, *, with_principal: bool, deny_share: float) -> dict[str, Any]:
    effect = "Deny" if rng.random() < deny_share else "Allow"
    statement: dict[str, Any] = {"Sid": f"S{index}", "Effect": effect}
    if with_principal:
        statement["Principal"] = rng.choice(KEY_POLICY_PRINCIPALS)
    statement.update(_action_statement_part(rng))
    statement["Resource"] = rng.choice(STATEMENT_RESOURCES)
    conditions = _condition_block(rng, 2 if effect == "Allow" else 1)
    if conditions:
        statement["Condition"] = conditions
    return statement


def key_policy(rng: random.Random) -> dict[str, Any]:
    """A key policy: often the default key policy's statements, plus generated ones."""
    statements: list[dict[str, Any]] = []
    if rng.random() < 0.6:
        statements.append(dict(ENABLE_IAM))
    if rng.random() < 0.25:
        statements.append(
            {
                "Sid": "Allow access for Key Administrators",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{KEY_ACCOUNT}:role/admin"},
                "Action": ADMIN_ACTIONS,
                "Resource": "*",
            }
        )
    if rng.random() < 0.25:
        statements.append(
            {
                "Sid": "Allow use of the key",
                "Effect": "Allow",
                "Principal": {
                    "AWS": [f"arn:aws:iam::{KEY_ACCOUNT}:role/app", f"arn:aws:iam::{PARTNER_ACCOUNT}:root"]
                },
                "Action": USER_ACTIONS,
                "Resource": "*",
            }
        )
    for index in range(rng.randint(0 if statements else 1, 4)):
        statements.append(_statement(rng, index, with_principal=True, deny_share=0.2))
    return {"Version": VERSION, "Statement": statements}


def identity_policy(rng: random.Random) -> dict[str, Any]:
    statements = [
        _statement(rng, index, with_principal=False, deny_share=0.15) for index in range(rng.randint(1, 3))
    ]
    return {"Version": VERSION, "Statement": statements}


def service_control_policy(rng: random.Random) -> dict[str, Any]:
    """FullAWSAccess (written out: it is what AWS attaches by default) or a narrower allow, and a
    generated Deny (AWS Organizations User Guide, "Service control policies (SCPs)")."""
    statements: list[dict[str, Any]] = []
    if rng.random() < 0.85:
        statements.append({"Sid": "FullAWSAccess", "Effect": "Allow", "Action": "*", "Resource": "*"})
    else:
        statements.append({"Sid": "OnlyCrypto", "Effect": "Allow", "Action": USER_ACTIONS, "Resource": "*"})
    statements.append(_statement(rng, 0, with_principal=False, deny_share=1.0))
    return {"Version": VERSION, "Statement": statements}


def resource_control_policy(rng: random.Random) -> dict[str, Any]:
    """Deny statements only, with Principal "*" and no "*" action or NotAction: the only RCPs AWS
    accepts; the allow is the AWS-managed RCPFullAWSAccess that AWS attaches to every level
    (AWS Organizations User Guide, "Resource control policies (RCPs)", "Syntax" and
    "RCPFullAWSAccess")."""
    statements: list[dict[str, Any]] = []
    for index in range(rng.randint(1, 2)):
        element, actions = rng.choice([(e, a) for e, a in STATEMENT_ACTIONS if e == "Action" and a != "*"])
        statement: dict[str, Any] = {
            "Sid": f"R{index}",
            "Effect": "Deny",
            "Principal": "*",
            element: actions,
            "Resource": "*",
        }
        conditions = _condition_block(rng, 1)
        if conditions:
            statement["Condition"] = conditions
        statements.append(statement)
    return {"Version": VERSION, "Statement": statements}


def grant(rng: random.Random, caller: str) -> dict[str, Any]:
    grantee = caller if rng.random() < 0.75 else f"arn:aws:iam::{KEY_ACCOUNT}:role/other"
    operations = sorted(rng.sample(GRANTABLE, rng.randint(1, 3)))
    entry: dict[str, Any] = {"grantee_principal": grantee, "operations": operations}
    roll = rng.random()
    if roll < 0.25:
        entry["constraints"] = {"EncryptionContextEquals": {"tenant": "a"}}
    elif roll < 0.5:
        entry["constraints"] = {"EncryptionContextSubset": {"tenant": "a"}}
    return entry


def request_context(rng: random.Random, action: str, caller: str, account: str | None) -> dict[str, Any]:
    """What the request carries besides the caller's identity."""
    context: dict[str, Any] = {}
    if action in ENCRYPTION_CONTEXT_ACTIONS:
        encryption_context = rng.choice(ENCRYPTION_CONTEXTS)
        for name, value in encryption_context.items():
            context[f"kms:EncryptionContext:{name}"] = value
        if encryption_context:
            context["kms:EncryptionContextKeys"] = sorted(encryption_context)
    if action == "CreateGrant":
        context["kms:GrantIsForAWSResource"] = rng.choice(("true", "false"))
        context["kms:GrantOperations"] = rng.choice(
            (["Decrypt"], ["Decrypt", "Encrypt"], ["Decrypt", "RetireGrant"])
        )
    if account is not None:
        if rng.random() < 0.9:
            context["aws:PrincipalOrgID"] = OTHER_ORG_ID if account == STRANGER_ACCOUNT else ORG_ID
            if account != STRANGER_ACCOUNT:
                context["aws:PrincipalOrgPaths"] = [ORG_PATH]
        if rng.random() < 0.6 and not caller.endswith(":root"):
            context["aws:PrincipalTag/team"] = rng.choice(("blue", "red", "a", "b"))
        if rng.random() < 0.3:
            context["kms:ViaService"] = rng.choice(
                (f"s3.{REGION}.amazonaws.com", f"ec2.{REGION}.amazonaws.com")
            )
        if rng.random() < 0.5:
            context["aws:MultiFactorAuthPresent"] = rng.choice(("true", "false"))
            context["aws:MultiFactorAuthAge"] = rng.choice(("50", "1200", "7200"))
    else:
        if rng.random() < 0.8:
            context["aws:SourceAccount"] = rng.choice((KEY_ACCOUNT, PARTNER_ACCOUNT))
            context["aws:SourceArn"] = rng.choice(("arn:aws:s3:::bucket-logs", "arn:aws:s3:::other"))
    context["aws:SecureTransport"] = "true" if rng.random() < 0.9 else "false"
    context["aws:SourceIp"] = rng.choice(("192.0.2.10", "203.0.113.5"))
    context["aws:CurrentTime"] = "2026-11-22T10:00:00Z" if rng.random() < 0.9 else "2031-01-01T00:00:00Z"
    return context


def generate_case(rng: random.Random, index: int) -> dict[str, Any]:
    if rng.random() < ANONYMOUS_SHARE:
        caller, account = ANONYMOUS, None
    else:
        caller, account = rng.choices(CALLERS, weights=CALLER_WEIGHTS)[0]
    is_iam_identity = account is not None and not caller.endswith(":root")
    action = rng.choice(ENCRYPTION_CONTEXT_ACTIONS + ENCRYPTION_CONTEXT_ACTIONS + OTHER_ACTIONS)
    identity_policies: list[dict[str, Any]] = []
    if is_iam_identity:
        identity_policies = [
            identity_policy(rng) for _ in range(rng.choices((0, 1, 2), weights=(15, 70, 15))[0])
        ]
    in_account = account is not None and caller != ANONYMOUS
    scps = [service_control_policy(rng)] if in_account and rng.random() < 0.1 else []
    rcps = [resource_control_policy(rng)] if in_account and rng.random() < 0.07 else []
    boundary = identity_policy(rng) if is_iam_identity and rng.random() < 0.05 else None
    session = identity_policy(rng) if ":assumed-role/" in caller and rng.random() < 0.05 else None
    grants = [grant(rng, caller)] if in_account and action in GRANTABLE and rng.random() < 0.05 else []
    return {
        "id": f"diff-{index:05d}",
        "key_policy": key_policy(rng),
        "identity_policies": identity_policies,
        "grants": grants,
        "scps": scps,
        "rcps": rcps,
        "permission_boundary": boundary,
        "session_policy": session,
        "request": {
            "action": f"kms:{action}",
            "principal": caller,
            "resource": KEY_ARN,
            "resource_account": KEY_ACCOUNT,
            "context": request_context(rng, action, caller, account),
        },
    }


def generate_cases(seed: int = DEFAULT_SEED, count: int = DEFAULT_COUNT) -> list[dict[str, Any]]:
    """``count`` cases, the same for the same seed on every machine and Python version (only
    ``random.Random`` methods whose results the language keeps stable are used)."""
    rng = random.Random(seed)
    return [generate_case(rng, index) for index in range(count)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--count", type=int, default=DEFAULT_COUNT)
    args = parser.parse_args(argv)
    json.dump(generate_cases(args.seed, args.count), sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
