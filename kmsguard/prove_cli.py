"""``kmsguard prove``: questions about every request on a key, answered with z3.

    kmsguard prove PATH... [--key KEY] --question QUESTION [--action ACTION ...]
                   [--trusted-accounts A,B] [--org-id o-...] [--account ID] [--format text|json]
                   [--against PATH... | --against-key KEY]

Questions (a "yes" that says someone can comes with a witness the simulator confirms):

* ``public`` / ``external``: can a stranger / a principal outside the trusted accounts and
  organisation perform one of the actions (``--action``, default: every action on a key)?
* ``who-can --action ACTION``: the classes of callers (the key's account root user, principals the
  key policy allows by itself, any IAM principal of the account given IAM, other accounts, AWS
  services, anonymous callers) that can, one witness per class;
* ``admin-usage``: a principal that can both manage the key and use it cryptographically (the
  witness: the principal and its two requests), per class of callers;
* ``lockout``: can no principal call kms:PutKeyPolicy any more? ("yes" has no witness; "no" names a
  principal that can);
* ``grant-escalation``: a principal that can CreateGrant for an operation it cannot perform itself,
  or not for an AWS resource without being a key administrator;
* ``no-new-access`` / ``equivalent``: compare the key policy of KEY in PATH (the old one) with the
  new one: KEY (or ``--against-key``) in the ``--against`` paths, or ``--against-key`` in the same
  paths. ``no-new-access``: "yes" (proved) when the new policy allows nothing the old does not, "no"
  with the request it newly allows; ``equivalent`` checks both ways.

``KEY`` is a Terraform address, a CloudFormation logical id, a key ARN or a key policy file's path
(found as ``kmsguard simulate`` finds it); it may be left out when the inputs hold one key. The
answer is "yes", "no" (proved for every request) or "unknown" with what it depends on.
``--format json`` prints ``{"answer", "witness", "depends_on", "explanation"}``; a question answered
per class of callers (who-can, admin-usage, grant-escalation) gives a list under "witness", one
entry per class that is not ruled out: ``{"class", "answer", "witness", "explanation"}``.

Exit codes: 0 the reassuring answer ("no" -- nobody can, the key is not locked out --, or "yes" for
no-new-access and equivalent); 1 any other answer, "unknown" included; 2 bad input; 3 an internal
disagreement between the prover and the simulator (a bug, please report it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

# Imported whenever the command line is built (``kmsguard check`` included): z3, the model and the
# simulator are imported only when ``prove`` runs.
if TYPE_CHECKING:
    from kmsguard.model import Key, Policy
    from kmsguard.prove.questions import ProofResult

EXIT_NO, EXIT_NOT_RULED_OUT, EXIT_BAD_INPUT, EXIT_INTERNAL = 0, 1, 2, 3
QUESTIONS = (
    "public",
    "external",
    "who-can",
    "admin-usage",
    "lockout",
    "grant-escalation",
    "no-new-access",
    "equivalent",
)
COMPARISONS = ("no-new-access", "equivalent")
# The answer that exits 0: the one a reviewer needs no action on.
REASSURING = {"no-new-access": "yes", "equivalent": "yes"}


class ProveError(ValueError):
    """Bad input for ``prove``: the message is the one line printed."""


def _csv(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def add_prove_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "prove",
        help="prove who can (or cannot) use a key, for every request (z3)",
        description=(
            "Answer a question about every request on a key: public, external, who-can, admin-usage, "
            "lockout, grant-escalation, or compare two key policies (no-new-access, equivalent). "
            "Exit 0 on the reassuring answer (no access; yes for no-new-access and equivalent)."
        ),
    )
    parser.add_argument("path", nargs="+", help="Terraform / CloudFormation / policy files or directories")
    parser.add_argument(
        "--key",
        help="Terraform address, CloudFormation logical id, key ARN or key policy file "
        "(may be left out when the inputs hold one key)",
    )
    parser.add_argument("--question", required=True, choices=QUESTIONS)
    parser.add_argument(
        "--action",
        action="append",
        default=[],
        metavar="ACTION",
        help="only these actions (repeatable, e.g. kms:Decrypt); default: every action on a key; "
        "who-can takes exactly one",
    )
    parser.add_argument(
        "--against",
        nargs="+",
        metavar="PATH",
        help="no-new-access / equivalent: the files holding the new key policy (PATH holds the old one)",
    )
    parser.add_argument(
        "--against-key",
        metavar="KEY",
        help="no-new-access / equivalent: the key holding the new policy (default: --key)",
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
    return EXIT_NO if result.answer == REASSURING.get(args.question, "no") else EXIT_NOT_RULED_OUT


def _prove(args: argparse.Namespace) -> ProofResult:
    for account in (*args.trusted_accounts, *([args.account] if args.account else [])):
        if not (account.isdigit() and len(account) == 12):
            raise ProveError(f"{account!r} is not a 12-digit AWS account id")
    if args.org_id and not args.org_id.startswith("o-"):
        raise ProveError(f"--org-id {args.org_id!r} must look like o-exampleorgid")
    comparing = args.question in COMPARISONS
    if comparing and not (args.against or args.against_key):
        raise ProveError(f"--question {args.question} needs --against PATH... or --against-key KEY")
    if not comparing and (args.against or args.against_key):
        raise ProveError(f"--against and --against-key are for {' and '.join(COMPARISONS)}")
    if args.question == "who-can" and len(args.action) != 1:
        raise ProveError("--question who-can needs exactly one --action (e.g. --action kms:Decrypt)")
    target = _target(args, args.path, args.key)
    if not isinstance(target.policy, _policy_class()):
        return _unknown_policy(target)
    key_arn, key_account = target.key_arn, target.key_account
    policy = target.policy
    actions = args.action or None
    from kmsguard.prove import questions
    from kmsguard.prove.witness import canonical

    def shown(result: ProofResult) -> ProofResult:
        # The same witness whichever questions z3 answered before (a stable account and names).
        return canonical(result, policy)

    def each_shown(per_class: dict[str, ProofResult]) -> dict[str, ProofResult]:
        return {label: shown(result) for label, result in per_class.items()}

    try:
        if args.question == "public":
            return shown(questions.public(policy, actions, key_account=key_account, key_arn=key_arn))
        if args.question == "external":
            return shown(
                questions.external(
                    policy,
                    args.trusted_accounts,
                    args.org_id,
                    actions,
                    key_account=key_account,
                    key_arn=key_arn,
                )
            )
        if args.question == "who-can":
            action = args.action[0]
            per_class = questions.who_can(
                policy, action, key_account=key_account, key_arn=key_arn, classes=questions.DETAILED_CLASSES
            )
            return questions.summarize(f"who can {action}", each_shown(per_class))
        if args.question == "lockout":
            return shown(questions.lockout(policy, key_account=key_account, key_arn=key_arn))
        from kmsguard.prove import control

        if args.question == "admin-usage":
            per_class = control.admin_usage(policy, key_account=key_account, key_arn=key_arn)
            return questions.summarize(
                "a principal can manage the key and use it cryptographically", each_shown(per_class)
            )
        if args.question == "grant-escalation":
            per_class = control.grant_escalation(policy, key_account=key_account, key_arn=key_arn)
            return questions.summarize("a principal can grant more than it has", each_shown(per_class))
        # The new policy's key: --against-key; else the same key, or the only key of the --against
        # inputs when the old policy is a policy file (whose "key" is the file itself).
        new_key = args.against_key or (None if target.from_file else target.name)
        new_target = _target(args, args.against or args.path, new_key)
        if not isinstance(new_target.policy, _policy_class()):
            return _unknown_policy(new_target)
        from kmsguard.prove import compare

        ask = compare.no_new_access if args.question == "no-new-access" else compare.equivalent
        return ask(policy, new_target.policy, actions, key_account=key_account, key_arn=key_arn)
    except ValueError as err:
        raise ProveError(str(err)) from None


def _policy_class() -> type:
    from kmsguard.model import Policy

    return Policy


@dataclass(frozen=True)
class _Target:
    """The key a question is about: its name as found, its policy (or an ``Unknown``), ARN, account."""

    name: str
    policy: Any
    key_arn: str
    key_account: str
    from_file: bool = False


def _unknown_policy(target: _Target) -> ProofResult:
    from kmsguard.prove.questions import ProofResult

    ref = str(target.policy)
    return ProofResult(
        "unknown", None, (ref,), f"unknown: the key policy of {target.name} is not known statically ({ref})"
    )


def _target(args: argparse.Namespace, paths: Sequence[str], key: str | None) -> _Target:
    """The key ``key`` of the inputs ``paths`` (a key, or a key policy file): the only one when
    ``key`` is None."""
    from kmsguard import simulate_cli

    loading = argparse.Namespace(**{**vars(args), "path": list(paths)})
    try:
        inventory = simulate_cli.load_inventory(loading)
    except simulate_cli.SimulateError as err:
        raise ProveError(str(err)) from None
    files = _key_policy_files(inventory)
    if key is None:
        names = [k.address for k in inventory.keys] + [f.address for f in files]
        if len(names) != 1:
            raise ProveError(
                f"--key is needed: the inputs hold {len(names)} keys ({', '.join(names) or 'none'})"
            )
        key = names[0]
    found = [f for f in files if _same_path(f.address, key)]
    if found and not any(key in (k.address, k.arn, k.key_id) for k in inventory.keys):
        if not args.account:
            raise ProveError(
                f"the account of the key whose policy is {key} is not in the file; pass --account"
            )
        region = args.region or "us-east-1"
        arn = f"arn:{args.partition}:kms:{region}:{args.account}:key/00000000-0000-0000-0000-000000000000"
        return _Target(key, found[0].document, arn, args.account, from_file=True)
    try:
        found_key = simulate_cli.find_key(inventory, key)
        key_account = simulate_cli.key_account_of(found_key, args.account)
    except simulate_cli.SimulateError as err:
        raise ProveError(str(err)) from None
    key_arn = simulate_cli.key_arn_of(found_key, key_account, args.region, args.partition)
    policy = _key_policy(inventory, found_key, key_arn, key_account, args.partition)
    return _Target(key, policy, key_arn, key_account)


def _key_policy_files(inventory: Any) -> list[Any]:
    from kmsguard.model import PolicyKind

    return [p for p in inventory.policies if p.document.kind is PolicyKind.KEY]


def _same_path(address: str, key: str) -> bool:
    return address == key or os.path.abspath(address) == os.path.abspath(key)


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
    subject = args.key or "the key"
    about = "access to" if args.question in ("public", "external") else "for"
    lines = [f"{args.question} {about} {subject}: {result.answer}", f"  {result.explanation}"]
    witness = result.witness_case
    if isinstance(witness, list):
        for entry in witness:
            lines.append(f"  - {entry['class']}: {entry['answer']}")
            lines.extend(_witness_lines(entry["witness"], "      "))
    elif witness is not None:
        lines.extend(_witness_lines(witness, "  "))
        if result.needs_identity_policy:
            lines.append("  (with an identity policy in the caller's account allowing the action)")
    if result.depends_on:
        lines.append("  depends on: " + ", ".join(result.depends_on))
    sys.stdout.write("\n".join(lines) + "\n")


def _witness_lines(witness: Any, indent: str) -> list[str]:
    """A witness request (``kmsguard simulate --case`` reads it as a case's request), or a caller's
    two requests."""
    if witness is None:
        return []
    if "requests" in witness:
        lines = [f"{indent}witness: {witness['principal']}, with these requests (each a case's request):"]
        for request in witness["requests"]:
            lines.extend(indent + "  " + line for line in json.dumps(request, indent=2).splitlines())
        return lines
    lines = [f"{indent}witness request (kmsguard simulate --case reads it as a case's request):"]
    lines.extend(indent + "  " + line for line in json.dumps(witness, indent=2).splitlines())
    return lines
