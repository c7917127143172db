"""``kmsguard simulate``: AWS's decision for one KMS request, with the trace.

Two forms:

* ``kmsguard simulate --case CASE.json [--format text|json]`` -- a request and every policy that
  applies, in the CASE format (``kmsguard/authz/case.py``, ``tests/conformance/README.md``);
* ``kmsguard simulate PATH --principal ARN --action kms:Decrypt --key KEY [--context k=v ...]`` --
  the key, its policy and grants, and the principal's identity policies as the files under PATH
  (Terraform, CloudFormation, policy files) declare them.

Exit codes: 0 when a decision was computed (whatever it is), 2 on bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

# This module is imported whenever the command line is built (``kmsguard check`` included), so the
# model and the simulator are imported only when ``simulate`` runs.
if TYPE_CHECKING:
    from kmsguard.authz.types import AuthzInputs, Caller, ContextValue, Decision, Request
    from kmsguard.model import Grant, Inventory, Key, Policy
    from kmsguard.model.resources import Identity
    from kmsguard.model.values import StrValue

EXIT_DECIDED, EXIT_BAD_INPUT = 0, 2


class SimulateError(ValueError):
    """Bad input for ``simulate``: the message is the one line printed."""


def add_simulate_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "simulate",
        help="AWS's decision for one KMS request, with the reason",
        description="Simulate one KMS request: --case CASE.json, or PATH with --principal/--action/--key.",
    )
    parser.add_argument("path", nargs="*", help="Terraform / CloudFormation / policy files or directories")
    parser.add_argument("--case", help="a request and its policies in the CASE JSON format")
    parser.add_argument("--format", "-f", choices=("text", "json"), default="text")
    parser.add_argument("--principal", help="the caller: an IAM ARN, a service principal, or anonymous")
    parser.add_argument("--action", help="the KMS action, such as kms:Decrypt")
    parser.add_argument("--key", help="Terraform address, CloudFormation logical id, or key ARN")
    parser.add_argument(
        "--context", action="append", default=[], metavar="K=V", help="a request context key (repeatable)"
    )
    parser.add_argument(
        "--principal-tag", action="append", default=[], metavar="K=V", help="a tag of the caller"
    )
    parser.add_argument("--principal-org-id", help="aws:PrincipalOrgID of the caller")
    parser.add_argument("--account", help="the AWS account id the configuration is deployed to")
    parser.add_argument("--region", help="the AWS region the configuration is deployed to")
    parser.add_argument("--partition", default="aws", help="the AWS partition (default: aws)")
    return parser


def run_simulate(args: argparse.Namespace) -> int:
    try:
        if args.case:
            if args.path or args.key:
                raise SimulateError("give either --case CASE.json or PATH --key KEY, not both")
            decision = _simulate_case(args.case)
        else:
            decision = _simulate_path(args)
    except SimulateError as err:
        sys.stderr.write(f"kmsguard: error: {err}\n")
        return EXIT_BAD_INPUT
    _print_decision(decision, args.format)
    return EXIT_DECIDED


def _print_decision(decision: Decision, fmt: str) -> None:
    from kmsguard.authz.case import decision_to_json, decision_to_text

    if fmt == "json":
        sys.stdout.write(json.dumps(decision_to_json(decision), indent=2) + "\n")
    else:
        sys.stdout.write(decision_to_text(decision))


def _simulate_case(path: str) -> Decision:
    from kmsguard.authz.case import CaseError, evaluate_case, load_case_file

    try:
        cases = load_case_file(path)
    except CaseError as err:
        raise SimulateError(str(err)) from None
    if len(cases) != 1:
        raise SimulateError(f"{path}:1: simulate --case takes one case object, this file holds {len(cases)}")
    return evaluate_case(cases[0])


# -- PATH --principal --action --key -------------------------------------------------------------


def parse_pairs(pairs: Iterable[str], what: str) -> dict[str, str]:
    """``k=v`` arguments into a mapping; the first ``=`` separates key and value."""
    result: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise SimulateError(f"{what} {pair!r} must be KEY=VALUE")
        result[name] = value
    return result


def context_from_pairs(pairs: Iterable[str]) -> dict[str, ContextValue]:
    """Repeated keys make a multivalued key (``--context aws:PrincipalOrgPaths=a --context ...=b``)."""
    result: dict[str, ContextValue] = {}
    for pair in pairs:
        one = parse_pairs([pair], "--context")
        for name, value in one.items():
            previous = result.get(name)
            if previous is None:
                result[name] = value
            else:
                result[name] = (*((previous,) if isinstance(previous, str) else previous), value)
    return result


def _simulate_path(args: argparse.Namespace) -> Decision:
    from kmsguard.authz.evaluate import decide

    missing = [
        flag for flag, value in (("--principal", args.principal), ("--action", args.action)) if not value
    ]
    if not args.path:
        raise SimulateError("give PATH (files or directories) with --key, or --case CASE.json")
    if not args.key:
        missing.insert(0, "--key")
    if missing:
        raise SimulateError(f"simulate PATH needs {', '.join(missing)}")
    if ":" not in args.action:
        raise SimulateError(f'--action "{args.action}" must be "kms:Operation"')
    inventory = load_inventory(args)
    inputs, request = build_path_request(
        inventory,
        key=args.key,
        principal=args.principal,
        action=args.action,
        context=context_from_pairs(args.context),
        tags=parse_pairs(args.principal_tag, "--principal-tag"),
        org_id=args.principal_org_id,
        account=args.account,
        region=args.region,
        partition=args.partition,
    )
    return decide(inputs, request)


def load_inventory(args: argparse.Namespace) -> Inventory:
    from kmsguard.check import load_inputs
    from kmsguard.load.base import LoadContext

    context = LoadContext(account=args.account, region=args.region, partition=args.partition)
    loaded, files = load_inputs(tuple(args.path), context)
    for error in loaded.errors:
        sys.stderr.write(f"{error}\n")
    if loaded.errors:
        raise SimulateError(f"{len(loaded.errors)} input error(s); fix them to simulate")
    if not files:
        raise SimulateError(f"no Terraform, CloudFormation or policy files under {' '.join(args.path)}")
    return loaded.inventory


def __getattr__(name: str) -> Any:
    # ArnResolver moved to kmsguard.model.bind; imported on demand to keep the CLI's start-up light.
    if name == "ArnResolver":
        from kmsguard.model.bind import ArnResolver

        return ArnResolver
    raise AttributeError(name)


def find_key(inventory: Inventory, key: str) -> Key:
    for candidate in inventory.keys:
        if key in (candidate.address, candidate.arn, candidate.key_id):
            return candidate
    # A CloudFormation logical id may be asked for without the template's prefix, or an ARN for a
    # key whose ARN is only known after apply: say which keys there are.
    known = ", ".join(k.address for k in inventory.keys) or "none"
    raise SimulateError(f"no key {key!r} in the inputs (keys: {known})")


def key_arn_of(key: Key, account: str, region: str | None, partition: str) -> str:
    if isinstance(key.arn, str):
        return key.arn
    key_id = key.key_id if isinstance(key.key_id, str) else key.address
    where = region or (key.region if isinstance(key.region, str) else None) or "us-east-1"
    return f"arn:{partition}:kms:{where}:{account}:key/{key_id}"


def key_account_of(key: Key, account: str | None) -> str:
    if isinstance(key.arn, str) and len(key.arn.split(":")) >= 6 and key.arn.split(":")[4]:
        return key.arn.split(":")[4]
    if isinstance(key.account, str):
        return key.account
    if account:
        return account
    raise SimulateError(f"the account of key {key.address} is not known statically; pass --account")


def _matches_identity(identity: Identity, caller: Caller) -> bool:
    """Whether ``identity`` is the caller (a role is the caller of its sessions)."""
    from kmsguard.authz.types import PrincipalKind
    from kmsguard.model.resources import IdentityKind

    if caller.kind not in (PrincipalKind.USER, PrincipalKind.ROLE, PrincipalKind.ASSUMED_ROLE):
        return False
    wanted_kind = IdentityKind.USER if caller.kind is PrincipalKind.USER else IdentityKind.ROLE
    if identity.kind is not wanted_kind:
        return False
    if isinstance(identity.arn, str):
        return identity.arn == caller.arn
    name = caller.arn.rsplit("/", 1)[-1]
    return isinstance(identity.name, str) and identity.name == name and caller.account is not None


def managed_policy_of(inventory: Inventory, ref: StrValue) -> Policy | None:
    from kmsguard.model import Policy
    from kmsguard.model.values import ResourceRef

    for managed in inventory.managed_policies:
        if isinstance(ref, ResourceRef) and ref.address == managed.address:
            return managed.document if isinstance(managed.document, Policy) else None
        if isinstance(ref, str) and ref == managed.arn:
            return managed.document if isinstance(managed.document, Policy) else None
    return None


def identity_policies_of(inventory: Inventory, identity: Identity) -> tuple[list[Policy], list[str]]:
    """The identity's inline and managed policies (and its groups'); the second list names the
    policies that could not be read (AWS managed policies, unresolved documents)."""
    from kmsguard.model import Policy
    from kmsguard.model.resources import IdentityKind
    from kmsguard.model.values import ResourceRef

    policies: list[Policy] = []
    unread: list[str] = []
    holders = [identity]
    if identity.kind is IdentityKind.USER:
        for group_ref in identity.groups:
            for other in inventory.identities:
                named = group_ref in (other.name, other.arn) or (
                    isinstance(group_ref, ResourceRef) and group_ref.address == other.address
                )
                if other.kind is IdentityKind.GROUP and named:
                    holders.append(other)
    for holder in holders:
        for named in holder.inline_policies:
            if isinstance(named.document, Policy):
                policies.append(named.document)
            else:
                unread.append(f"inline policy {named.name or named.address} of {holder.address}")
        refs = list(holder.managed_policies)
        for attachment in inventory.attachments:
            target = attachment.identity
            if (isinstance(target, ResourceRef) and target.address == holder.address) or target in (
                holder.name,
                holder.arn,
            ):
                if isinstance(attachment.policy, Policy):
                    policies.append(attachment.policy)
                else:
                    refs.append(attachment.policy)
        for ref in refs:
            document = managed_policy_of(inventory, ref)
            if document is None:
                unread.append(f"managed policy {ref} of {holder.address}")
            else:
                policies.append(document)
    return policies, unread


def _grants_of(inventory: Inventory, key: Key, key_arn: str) -> list[Grant]:
    from kmsguard.model.values import ResourceRef

    result = []
    for grant in inventory.grants:
        target = grant.key
        if isinstance(target, ResourceRef) and target.address == key.address:
            result.append(replace(grant, key=key_arn))
        elif isinstance(target, str) and target in (key_arn, key.key_id, key.address):
            result.append(replace(grant, key=key_arn))
    return result


def build_path_request(
    inventory: Inventory,
    *,
    key: str,
    principal: str,
    action: str,
    context: Mapping[str, ContextValue],
    tags: Mapping[str, str] | None = None,
    org_id: str | None = None,
    account: str | None = None,
    region: str | None = None,
    partition: str = "aws",
) -> tuple[AuthzInputs, Request]:
    """The simulator's inputs for a request on a key the inventory declares. Raises
    ``SimulateError`` for an unknown key or a key policy that cannot be known statically."""
    from kmsguard.authz.case import _parse_caller
    from kmsguard.authz.types import AuthzInputs, Request
    from kmsguard.model import Policy
    from kmsguard.model.values import Unknown

    found = find_key(inventory, key)
    key_account = key_account_of(found, account)
    key_arn = key_arn_of(found, key_account, region, partition)
    attributes: dict[str, Any] = {}
    if tags:
        attributes["tags"] = dict(tags)
    if org_id:
        attributes["org_id"] = org_id
    try:
        caller = _parse_caller(principal, **attributes)
    except ValueError as err:
        raise SimulateError(f"--principal {principal!r}: {err}") from None

    from kmsguard.model.bind import ArnResolver

    resolver = ArnResolver({found.address: key_arn})
    identity = next((i for i in inventory.identities if _matches_identity(i, caller)), None)
    for other in inventory.identities:
        if isinstance(other.arn, str):
            resolver.values[other.address] = other.arn
    for managed in inventory.managed_policies:
        if isinstance(managed.arn, str):
            resolver.values[managed.address] = managed.arn
    if identity is not None and not isinstance(identity.arn, str):
        resolver.values[identity.address] = caller.arn

    if isinstance(found.policy, Unknown):
        raise SimulateError(f"the key policy of {found.address} cannot be known statically ({found.policy})")
    key_policy = resolver.policy(found.policy) if isinstance(found.policy, Policy) else None

    identity_policies: list[Policy] = []
    boundary: Policy | None = None
    if identity is not None:
        documents, unread = identity_policies_of(inventory, identity)
        for what in unread:
            sys.stderr.write(f"kmsguard: note: {what} is not in the inputs and is not considered\n")
        identity_policies = [resolver.policy(p) for p in documents]
        if identity.permissions_boundary is not None:
            document = managed_policy_of(inventory, identity.permissions_boundary)
            if document is None:
                raise SimulateError(
                    f"the permissions boundary of {identity.address} ({identity.permissions_boundary}) "
                    "is not in the inputs; the decision would be a guess"
                )
            boundary = resolver.policy(document)

    grants = tuple(resolver.grant(g) for g in _grants_of(inventory, found, key_arn))
    inputs = AuthzInputs(
        key_policy=key_policy,
        identity_policies=tuple(identity_policies),
        grants=grants,
        permission_boundary=boundary,
        key_manager=found.key_manager,
    )
    request = Request(
        action=action, caller=caller, resource=key_arn, resource_account=key_account, context=dict(context)
    )
    return inputs, request
