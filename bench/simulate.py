"""Simulator speed: decisions per second of kmsguard's ``decide`` against @cloud-copilot/iam-simulate.

    python bench/simulate.py [--quick] [--seconds S] [--output FILE]

Both decide the same requests on the same typical key policies (the AWS console's default key
policy; a 9-statement policy with conditions), one core each, measured in-process (Python start-up
and node start-up excluded): kmsguard's ``decide`` on inputs parsed once, iam-simulate's engine
(``authorize``, policies parsed once) and its validating ``runSimulation`` (which parses and
validates on every call). The issue's target: at least 100,000 decisions per second.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # run as a script from anywhere: kmsguard and the peer driver
    sys.path.insert(0, str(REPO_ROOT))

from report import machine_lines, markdown_table  # noqa: E402

from tests.differential import iam_simulate  # noqa: E402
from tests.differential.generate import (  # noqa: E402
    ADMIN_ACTIONS,
    KEY_ACCOUNT,
    KEY_ARN,
    ORG_ID,
    PARTNER_ACCOUNT,
    REGION,
    USER_ACTIONS,
    VERSION,
)

DEFAULT_OUTPUT = REPO_ROOT / "bench" / "results" / "simulate.md"
TARGET_PER_SECOND = 100_000
APP_ROLE = f"arn:aws:iam::{KEY_ACCOUNT}:role/app"
APP_SESSION = f"arn:aws:sts::{KEY_ACCOUNT}:assumed-role/app/session-1"
ADMIN_ROLE = f"arn:aws:iam::{KEY_ACCOUNT}:role/admin"
PARTNER_SESSION = f"arn:aws:sts::{PARTNER_ACCOUNT}:assumed-role/partner/job-7"

# KMS Developer Guide, "Default key policy": the policy the console writes, with key administrators,
# key users and the statement for AWS services that use grants.
CONSOLE_DEFAULT_POLICY: dict[str, Any] = {
    "Version": VERSION,
    "Statement": [
        {
            "Sid": "Enable IAM User Permissions",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{KEY_ACCOUNT}:root"},
            "Action": "kms:*",
            "Resource": "*",
        },
        {
            "Sid": "Allow access for Key Administrators",
            "Effect": "Allow",
            "Principal": {"AWS": ADMIN_ROLE},
            "Action": ADMIN_ACTIONS,
            "Resource": "*",
        },
        {
            "Sid": "Allow use of the key",
            "Effect": "Allow",
            "Principal": {"AWS": APP_ROLE},
            "Action": USER_ACTIONS,
            "Resource": "*",
        },
        {
            "Sid": "Allow attachment of persistent resources",
            "Effect": "Allow",
            "Principal": {"AWS": APP_ROLE},
            "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
            "Resource": "*",
            "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
        },
    ],
}

CONDITIONAL_POLICY: dict[str, Any] = {
    "Version": VERSION,
    "Statement": [
        CONSOLE_DEFAULT_POLICY["Statement"][0],
        CONSOLE_DEFAULT_POLICY["Statement"][1],
        {
            "Sid": "TenantUse",
            "Effect": "Allow",
            "Principal": {"AWS": APP_ROLE},
            "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey*"],
            "Resource": "*",
            "Condition": {
                "StringEquals": {"kms:EncryptionContext:tenant": "${aws:PrincipalTag/team}"},
                "StringLike": {"kms:ViaService": f"*.{REGION}.amazonaws.com"},
            },
        },
        {
            "Sid": "PartnerDecrypt",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{PARTNER_ACCOUNT}:root"},
            "Action": ["kms:Decrypt", "kms:DescribeKey"],
            "Resource": "*",
            "Condition": {"ForAnyValue:StringEquals": {"kms:EncryptionContextKeys": ["tenant"]}},
        },
        {
            "Sid": "OrgDescribe",
            "Effect": "Allow",
            "Principal": "*",
            "Action": "kms:DescribeKey",
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:PrincipalOrgID": ORG_ID}},
        },
        {
            "Sid": "S3Logs",
            "Effect": "Allow",
            "Principal": {"Service": "s3.amazonaws.com"},
            "Action": "kms:GenerateDataKey*",
            "Resource": "*",
            "Condition": {
                "StringEquals": {"aws:SourceAccount": KEY_ACCOUNT},
                "ArnLike": {"aws:SourceArn": "arn:aws:s3:::bucket-*"},
            },
        },
        {
            "Sid": "DenyOutsideOrg",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "kms:*",
            "Resource": "*",
            "Condition": {
                "StringNotEqualsIfExists": {"aws:PrincipalOrgID": ORG_ID},
                "Bool": {"aws:PrincipalIsAWSService": "false"},
            },
        },
        {
            "Sid": "DenyInsecure",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "kms:*",
            "Resource": "*",
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
        {
            "Sid": "DenyDeletionWithoutMfa",
            "Effect": "Deny",
            "Principal": {"AWS": "*"},
            "Action": ["kms:ScheduleKeyDeletion", "kms:PutKeyPolicy"],
            "Resource": "*",
            "Condition": {"NumericGreaterThanIfExists": {"aws:MultiFactorAuthAge": "3600"}},
        },
    ],
}

APP_IDENTITY_POLICY: dict[str, Any] = {
    "Version": VERSION,
    "Statement": [
        {"Effect": "Allow", "Action": ["kms:Decrypt", "kms:Encrypt", "kms:DescribeKey"], "Resource": "*"}
    ],
}
PARTNER_IDENTITY_POLICY: dict[str, Any] = {
    "Version": VERSION,
    "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": f"arn:aws:kms:*:{KEY_ACCOUNT}:key/*"}],
}


def _request(principal: str, action: str, context: dict[str, Any]) -> dict[str, Any]:
    return {
        "action": f"kms:{action}",
        "principal": principal,
        "resource": KEY_ARN,
        "resource_account": KEY_ACCOUNT,
        "context": {"aws:SecureTransport": "true", **context},
    }


TENANT_A = {"kms:EncryptionContext:tenant": "a", "kms:EncryptionContextKeys": ["tenant"]}
IN_ORG = {"aws:PrincipalOrgID": ORG_ID, "aws:PrincipalTag/team": "a"}

# (caller, action, request context, identity policies): typical traffic, allowed and denied.
REQUESTS: tuple[tuple[str, str, dict[str, Any], tuple[dict[str, Any], ...]], ...] = (
    (
        APP_SESSION,
        "Decrypt",
        {**TENANT_A, **IN_ORG, "kms:ViaService": f"s3.{REGION}.amazonaws.com"},
        (APP_IDENTITY_POLICY,),
    ),
    (APP_SESSION, "Encrypt", {**TENANT_A, **IN_ORG}, (APP_IDENTITY_POLICY,)),
    (APP_SESSION, "GenerateDataKey", {"kms:EncryptionContext:tenant": "b", **IN_ORG}, ()),
    (APP_SESSION, "ScheduleKeyDeletion", IN_ORG, (APP_IDENTITY_POLICY,)),
    (APP_SESSION, "CreateGrant", {"kms:GrantIsForAWSResource": "true", **IN_ORG}, ()),
    (
        f"arn:aws:sts::{KEY_ACCOUNT}:assumed-role/admin/ops",
        "PutKeyPolicy",
        {**IN_ORG, "aws:MultiFactorAuthAge": "60"},
        (),
    ),
    (f"arn:aws:sts::{KEY_ACCOUNT}:assumed-role/admin/ops", "DisableKey", IN_ORG, ()),
    (f"arn:aws:iam::{KEY_ACCOUNT}:user/alice", "DescribeKey", IN_ORG, ()),
    (PARTNER_SESSION, "Decrypt", {**TENANT_A, "aws:PrincipalOrgID": ORG_ID}, (PARTNER_IDENTITY_POLICY,)),
    (PARTNER_SESSION, "Encrypt", {**TENANT_A, "aws:PrincipalOrgID": ORG_ID}, (PARTNER_IDENTITY_POLICY,)),
    (
        f"arn:aws:iam::{KEY_ACCOUNT}:role/stranger",
        "Decrypt",
        {**TENANT_A, "aws:PrincipalOrgID": "o-other"},
        (),
    ),
    (
        "s3.amazonaws.com",
        "GenerateDataKey",
        {"aws:SourceAccount": KEY_ACCOUNT, "aws:SourceArn": "arn:aws:s3:::bucket-logs"},
        (),
    ),
)


@dataclass(frozen=True)
class Workload:
    name: str
    cases: tuple[dict[str, Any], ...]


def workloads() -> list[Workload]:
    def cases(policy: dict[str, Any]) -> tuple[dict[str, Any], ...]:
        return tuple(
            {
                "id": f"bench-{index}",
                "key_policy": policy,
                "identity_policies": list(identity),
                "request": _request(principal, action, context),
            }
            for index, (principal, action, context, identity) in enumerate(REQUESTS)
        )

    return [
        Workload("AWS default key policy (console, 4 statements)", cases(CONSOLE_DEFAULT_POLICY)),
        Workload("9 statements with conditions", cases(CONDITIONAL_POLICY)),
    ]


def per_second(run: Callable[[], int], seconds: float) -> float:
    """Calls ``run`` (which makes some decisions and returns how many) until ``seconds`` pass."""
    warm_until = time.perf_counter() + min(seconds, 1.0)  # warm-up: imports, compiled policies
    while time.perf_counter() < warm_until:
        run()
    done = 0
    started = time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        done += run()
    return done / (time.perf_counter() - started)


@dataclass(frozen=True)
class Result:
    workload: str
    requests: int
    kmsguard: float
    peer_engine: float
    peer_api: float
    agreeing: int  # requests on which both give the same Allow / not-Allow answer


def measure_workload(workload: Workload, seconds: float) -> Result:
    from kmsguard.authz.case import evaluate_case, parse_case
    from kmsguard.authz.evaluate import decide

    parsed = [parse_case(case, "<bench>", index) for index, case in enumerate(workload.cases)]
    pairs = [(case.inputs, case.request) for case in parsed]

    def run_kmsguard() -> int:
        for inputs, request in pairs:
            decide(inputs, request)
        return len(pairs)

    kmsguard_rate = per_second(run_kmsguard, seconds)
    simulations = [iam_simulate.to_simulation(case) for case in workload.cases]
    peer_rates = iam_simulate.run_bench(simulations, seconds)
    peer_labels = [decision.label for decision in iam_simulate.run_batch(simulations)]
    kmsguard_labels = [evaluate_case(case).label for case in parsed]
    agreeing = sum(
        (k == "Allow") == (p == "Allow") for k, p in zip(kmsguard_labels, peer_labels, strict=True)
    )
    return Result(
        workload=workload.name,
        requests=len(pairs),
        kmsguard=kmsguard_rate,
        peer_engine=float(peer_rates["authorize"]["perSecond"]),
        peer_api=float(peer_rates["runSimulation"]["perSecond"]),
        agreeing=agreeing,
    )


HEADERS = (
    "key policy",
    "kmsguard decide /s",
    "iam-simulate authorize /s",
    "ratio",
    "iam-simulate runSimulation /s",
    "ratio",
    "same answer",
    f">= {TARGET_PER_SECOND:,}/s",
)


def table(results: Sequence[Result]) -> str:
    rows = [
        (
            r.workload,
            f"{r.kmsguard:,.0f}",
            f"{r.peer_engine:,.0f}",
            f"{r.kmsguard / r.peer_engine:.1f}x",
            f"{r.peer_api:,.0f}",
            f"{r.kmsguard / r.peer_api:.1f}x",
            f"{r.agreeing}/{r.requests}",
            "met" if r.kmsguard >= TARGET_PER_SECOND else "NOT met",
        )
        for r in results
    ]
    return markdown_table(HEADERS, rows)


def node_version() -> str:
    import subprocess

    completed = subprocess.run(["node", "--version"], capture_output=True, text=True, check=False)
    return completed.stdout.strip() or "unknown"


def report_text(results: Sequence[Result], seconds: float, peer_version: str) -> str:
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (
        "\n".join(
            [
                f"# Simulator benchmark ({when})",
                "",
                f"Decisions per second on one core, {seconds:g} s per measurement after a warm-up, the same "
                f"{len(REQUESTS)} requests per key policy for both tools, measured in-process (no process "
                'start-up). Ratio = kmsguard / iam-simulate. "same answer": requests on which both say '
                "Allow or both say not Allow (the known differences are in tests/differential/).",
                "",
                table(results),
                "",
                "## Machine and versions",
                "",
                *machine_lines(),
                f"- Python {platform.python_version()} ({sys.executable}); node {node_version()}; "
                f"@cloud-copilot/iam-simulate {peer_version}",
            ]
        )
        + "\n"
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="0.5 s per measurement instead of 3 s")
    parser.add_argument("--seconds", type=float, help="seconds per measurement")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="markdown file to write")
    args = parser.parse_args(argv)
    if args.seconds is None:
        args.seconds = 0.5 if args.quick else 3.0
    if args.seconds <= 0:
        parser.error("--seconds must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        peer_version = iam_simulate.ensure_installed()
    except (iam_simulate.PeerUnavailable, iam_simulate.PeerSetupError) as error:
        print(f"bench: {error}", file=sys.stderr)
        return 2
    results = []
    for workload in workloads():
        print(f"measuring {workload.name} ...", file=sys.stderr)
        results.append(measure_workload(workload, args.seconds))
    text = report_text(results, args.seconds, peer_version)
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print(f"written to {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
