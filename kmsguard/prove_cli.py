"""``kmsguard prove``: questions about every request on a key, answered with z3.

    kmsguard prove PATH --key KEY --question public|external [--trusted-accounts A,B]
                   [--org-id o-...] [--action kms:Decrypt ...] [--account ID] [--format text|json]

``KEY`` is a Terraform address, a CloudFormation logical id or a key ARN (found as ``kmsguard
simulate`` finds it). The answer is "yes" with a witness request that the simulator confirms, "no"
(proved for every request), or "unknown" with what it depends on.

Exit codes: 0 "no"; 1 "yes" or "unknown" (the access is not ruled out); 2 bad input; 3 an internal
disagreement between the prover and the simulator (a bug, please report it).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

# Imported whenever the command line is built (``kmsguard check`` included): z3, the model and the
# simulator are imported only when ``prove`` runs.
if TYPE_CHECKING:
    from kmsguard.model import Key, Policy
    from kmsguard.prove.questions import ProofResult

EXIT_NO, EXIT_NOT_RULED_OUT, EXIT_BAD_INPUT, EXIT_INTERNAL = 0, 1, 2, 3
QUESTIONS = ("public", "external")


class ProveError(ValueError):
    """Bad input for ``prove``: the message is the one line printed."""


def _csv(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def add_prove_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "prove",
        help="prove who can (or cannot) use a key, for every request (z3)",
        description="Answer a question about every request on a key: public or external access.",
    )
    parser.add_argument("path", nargs="+", help="Terraform / CloudFormation / policy files or directories")
    parser.add_argument(
        "--key", required=True, help="Terraform address, CloudFormation logical id, or key ARN"
    )
    parser.add_argument("--question", required=True, choices=QUESTIONS)
    parser.add_argument(
        "--action",
        action="append",
        default=[],
        metavar="ACTION",
        help="only these actions (repeatable, e.g. kms:Decrypt); default: every action on a key",
    )
    parser.add_argument("--trusted-accounts", type=_csv, default=[], help="accounts trusted with the key")
    parser.add_argument("--org-id", help="the AWS Organizations id (o-...) whose accounts are trusted")
    parser.add_argument("--format", "-f", choices=("text", "json"), default="text")
    parser.add_argument("--account", help="the AWS account id the configuration is deployed to")
    parser.add_argument("--region", help="the AWS region the configuration is deployed to")
    parser.add_argument("--partition", default="aws", help="the AWS partition (default: aws)")
    return parser


def run_prove(args: argparse.Namespace) -> int:
    try:
        result = _prove(args)
    except ProveError as err:
        sys.stderr.write(f"kmsguard: error: {err}\n")
        return EXIT_BAD_INPUT
    except ImportError as err:
        if getattr(err, "name", "") == "z3":
            sys.stderr.write("kmsguard: error: kmsguard prove needs z3: pip install z3-solver\n")
            return EXIT_BAD_INPUT
        raise
    except RuntimeError as err:
        from kmsguard.prove.questions import ProverError

        if not isinstance(err, ProverError):
            raise
        sys.stderr.write(f"kmsguard: internal error: {err}\n")
        return EXIT_INTERNAL
    _print(result, args)
    return EXIT_NO if result.answer == "no" else EXIT_NOT_RULED_OUT


def _prove(args: argparse.Namespace) -> ProofResult:
    from kmsguard import simulate_cli

    for account in (*args.trusted_accounts, *([args.account] if args.account else [])):
        if not (account.isdigit() and len(account) == 12):
            raise ProveError(f"{account!r} is not a 12-digit AWS account id")
    if args.org_id and not args.org_id.startswith("o-"):
        raise ProveError(f"--org-id {args.org_id!r} must look like o-exampleorgid")
    try:
        inventory = simulate_cli.load_inventory(args)
        key = simulate_cli.find_key(inventory, args.key)
        key_account = simulate_cli.key_account_of(key, args.account)
    except simulate_cli.SimulateError as err:
        raise ProveError(str(err)) from None
    key_arn = simulate_cli.key_arn_of(key, key_account, args.region, args.partition)
    from kmsguard.model import Policy

    policy = _key_policy(inventory, key, key_arn, key_account, args.partition)
    if not isinstance(policy, Policy):
        from kmsguard.prove.questions import ProofResult

        ref = str(policy)
        return ProofResult(
            "unknown",
            None,
            (ref,),
            f"unknown: the key policy of {key.address} is not known statically ({ref})",
        )
    from kmsguard.prove import questions

    actions = args.action or None
    try:
        if args.question == "public":
            return questions.public(policy, actions, key_account=key_account, key_arn=key_arn)
        return questions.external(
            policy, args.trusted_accounts, args.org_id, actions, key_account=key_account, key_arn=key_arn
        )
    except ValueError as err:
        raise ProveError(str(err)) from None


def _key_policy(inventory: Any, key: Key, key_arn: str, key_account: str, partition: str) -> Policy | Any:
    """The key's policy with references to the inventory's resources resolved (as ``simulate``
    does); the default key policy when the configuration sets none; an ``Unknown`` as is."""
    from kmsguard.model import Policy
    from kmsguard.simulate_cli import ArnResolver

    if key.policy is None:
        return default_key_policy(key_account, partition)
    if not isinstance(key.policy, Policy):
        return key.policy
    resolver = ArnResolver({key.address: key_arn})
    for identity in inventory.identities:
        if isinstance(identity.arn, str):
            resolver.values[identity.address] = identity.arn
    return resolver.policy(key.policy)


def default_key_policy(account: str, partition: str = "aws") -> Policy:
    """The policy KMS gives a key created without one (KMS Developer Guide, "Default key policy":
    the account's root principal, hence its IAM policies, may do every KMS action on the key)."""
    from kmsguard.load.policy_builder import build_policy
    from kmsguard.model import Policy, PolicyKind

    document = {
        "Version": "2012-10-17",
        "Id": "key-default-1",
        "Statement": [
            {
                "Sid": "Enable IAM User Permissions",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:{partition}:iam::{account}:root"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ],
    }
    policy, _ = build_policy(document, PolicyKind.KEY, resource="default key policy")
    assert isinstance(policy, Policy)
    return policy


def _print(result: ProofResult, args: argparse.Namespace) -> None:
    if args.format == "json":
        sys.stdout.write(json.dumps(result.to_json(), indent=2) + "\n")
        return
    lines = [f"{args.question} access to {args.key}: {result.answer}", f"  {result.explanation}"]
    if result.witness_case is not None:
        lines.append("  witness request (kmsguard simulate --case reads it as a case's request):")
        lines.extend("    " + line for line in json.dumps(result.witness_case, indent=2).splitlines())
        if result.needs_identity_policy:
            lines.append("  (with an identity policy in the caller's account allowing the action)")
    if result.depends_on:
        lines.append("  depends on: " + ", ".join(result.depends_on))
    sys.stdout.write("\n".join(lines) + "\n")
