"""Questions about every request on a key: ``public``, ``external``, ``who_can``.

Each question is asked once per kind of caller (``encode.Kind``); a "yes" is a satisfying request
that ``kmsguard.authz.evaluate.decide`` confirms, a "no" is unsat for every kind, and a solver
timeout makes the answer "unknown" -- never "no".

Scope of this increment: one key policy, no grants, SCPs, RCPs, permissions boundaries or session
policies (a grant or an RCP can only add or remove access that the answer then does not show). An
external caller's identity policies are its own account's business: the answer assumes they allow
(the witness is confirmed with an identity policy in the caller's account allowing the action).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import z3

from kmsguard.authz import kms_actions
from kmsguard.authz.evaluate import decide
from kmsguard.authz.types import AuthzInputs, Decision, Outcome, Request
from kmsguard.model.policy import Policy, PolicyKind
from kmsguard.model.values import Template, Unknown
from kmsguard.prove.encode import (
    FALSE,
    IAM_KINDS,
    IDENTITY_ALLOWS,
    Encoding,
    Kind,
    _s,
    encode,
    key_actions,
    witness_request,
)

__all__ = ["ProofResult", "ProverError", "external", "public", "who_can"]

# The time a question may take (all kinds of callers, all candidate witnesses): past it, the answer
# is "unknown", never "no".
TIMEOUT_MS = 2000
# Callers a foreign account can field: its root user, IAM users, role sessions, federated users.
# (A role ARN as the caller, ``Kind.ROLE``, is the simulator's shorthand for a session of it.)
FOREIGN_KINDS = (Kind.ROOT, Kind.USER, Kind.ASSUMED_ROLE, Kind.FEDERATED_USER)
# Retries when a witness depends on values the encoding cannot see (opaque atoms): each retry
# excludes the opaque choices of the last witness.
MAX_RETRIES = 3

_ACCOUNT_ID = re.compile(r"(?<!\d)\d{12}(?!\d)")
_ORG_ID = re.compile(r"o-[a-z0-9]{10,32}")
# Keys naming where a request comes from that only their owner can make true (VPCs, endpoints,
# source accounts and organisations): a stranger's request never carries a value the policy names.
_OWNED_KEYS = (
    "aws:sourcevpc",
    "aws:sourcevpce",
    "aws:sourceaccount",
    "aws:sourceorgid",
    "aws:vpceaccount",
    "aws:vpceorgid",
)


class ProverError(RuntimeError):
    """The prover and the simulator disagree on a witness: a bug in one of them."""


@dataclass(frozen=True)
class ProofResult:
    answer: str  # "yes" | "no" | "unknown"
    witness: Request | None
    depends_on: tuple[str, ...]
    explanation: str
    # The witness in the CASE format's ``request`` shape (``kmsguard simulate --case`` reads it).
    witness_case: dict[str, Any] | None = field(default=None, compare=False)
    # Whether the witness needs an identity policy of the caller's account allowing the action.
    needs_identity_policy: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "answer": self.answer,
            "witness": self.witness_case,
            "depends_on": list(self.depends_on),
            "explanation": self.explanation,
        }


# -- the questions ----------------------------------------------------------------------------------


def public(
    key_policy: Policy,
    actions: Sequence[str] | None = None,
    *,
    key_account: str,
    key_arn: str | None = None,
    timeout_ms: int = TIMEOUT_MS,
) -> ProofResult:
    """Can a principal of an account that the key policy does not name -- a stranger -- or an
    anonymous caller perform one of ``actions`` (default: every action on a key)?

    A stranger's account, organisation and organisation paths are none the policy names (so a
    Principal "*" restricted to one organisation is not public), its requests carry no VPC, VPC
    endpoint, source account or source organisation the policy names; everything else -- tags, the
    encryption context, kms:ViaService, the source IP -- it chooses. Anonymous callers are never
    allowed: KMS accepts only signed requests (KMS API Reference, "Common Errors",
    MissingAuthenticationToken). Service principals are not asked about here."""
    arn = key_arn or _default_key_arn(key_account)
    named = _literals(key_policy)
    accounts = sorted({a for text in named for a in _ACCOUNT_ID.findall(text)} | {key_account})
    orgs = sorted({o for text in named for o in _ORG_ID.findall(text)})

    def stranger(enc: Encoding) -> list[z3.BoolRef]:
        req = enc.request
        out = [req.account != _s(a) for a in accounts]
        out.extend(_org_outside(enc, orgs))
        for name in _OWNED_KEYS:
            var = req.keys.get(name)
            if var is not None and var.model == "str" and not var.derived:
                assert var.value is not None
                out.extend(z3.Implies(var.present, var.value != _s(v)) for v in sorted(named))
        return out

    subject = "a principal of an account the key policy does not name"
    return _ask(key_policy, arn, key_account, actions, stranger, subject, timeout_ms)


def external(
    key_policy: Policy,
    trusted_accounts: Iterable[str],
    org_id: str | None = None,
    actions: Sequence[str] | None = None,
    *,
    key_account: str,
    key_arn: str | None = None,
    timeout_ms: int = TIMEOUT_MS,
) -> ProofResult:
    """Can a principal outside the key's account, the ``trusted_accounts`` and (when given) the
    organisation ``org_id`` perform one of ``actions``? A caller is inside the organisation when
    its aws:PrincipalOrgID is ``org_id`` or one of its aws:PrincipalOrgPaths starts with it."""
    arn = key_arn or _default_key_arn(key_account)
    trusted = sorted({key_account, *trusted_accounts})
    orgs = [org_id] if org_id else []

    def outside(enc: Encoding) -> list[z3.BoolRef]:
        out = [enc.request.account != _s(a) for a in trusted]
        out.extend(_org_outside(enc, orgs))
        return out

    subject = "a principal outside the trusted accounts" + (f" and organisation {org_id}" if org_id else "")
    return _ask(key_policy, arn, key_account, actions, outside, subject, timeout_ms)


def who_can(
    key_policy: Policy,
    action: str,
    *,
    key_account: str,
    key_arn: str | None = None,
    timeout_ms: int = TIMEOUT_MS,
) -> dict[str, ProofResult]:
    """Per class of caller -- the key's account's root user, its IAM principals (given an identity
    policy allowing), another account's root user and IAM principals, AWS service principals --
    whether one can perform ``action``, each "yes" with a confirmed witness."""
    arn = key_arn or _default_key_arn(key_account)
    own = _s(key_account)
    classes: dict[str, tuple[tuple[Kind, ...], Any]] = {
        "the key's account root user": ((Kind.ROOT,), lambda enc: [enc.request.account == own]),
        "IAM principals of the key's account": (
            (Kind.USER, Kind.ASSUMED_ROLE, Kind.FEDERATED_USER),
            lambda enc: [enc.request.account == own],
        ),
        "another account's root user": ((Kind.ROOT,), lambda enc: [enc.request.account != own]),
        "IAM principals of another account": (
            (Kind.USER, Kind.ASSUMED_ROLE, Kind.FEDERATED_USER),
            lambda enc: [enc.request.account != own],
        ),
        "AWS service principals": ((Kind.SERVICE,), lambda enc: []),
    }
    return {
        label: _ask(key_policy, arn, key_account, [action], constrain, label, timeout_ms, kinds=kinds)
        for label, (kinds, constrain) in classes.items()
    }


# -- solving ------------------------------------------------------------------------------------------


def _ask(
    key_policy: Policy,
    key_arn: str,
    key_account: str,
    actions: Sequence[str] | None,
    constrain: Any,
    subject: str,
    timeout_ms: int,
    kinds: Sequence[Kind] = FOREIGN_KINDS,
) -> ProofResult:
    infos = _actions(actions)
    what = _actions_text(infos)
    if not infos:
        return ProofResult("no", None, (), f"no: none of the actions is authorized on a key; {subject}")
    depends: list[str] = []
    undecided: list[str] = []
    fallback: ProofResult | None = None
    deadline = time.monotonic() + timeout_ms / 1000
    for kind in kinds:
        result = _ask_kind(key_policy, key_arn, key_account, infos, kind, constrain, deadline)
        if result.answer == "yes":
            return result
        if result.answer == "unknown":
            depends.extend(result.depends_on)
            undecided.append(kind.principal_kind.value)
            fallback = fallback or result
    if undecided:
        assert fallback is not None
        return ProofResult(
            "unknown",
            fallback.witness,
            tuple(dict.fromkeys(depends)),
            f"unknown: whether {subject} can {what} depends on {', '.join(dict.fromkeys(depends))} "
            f"(for {', '.join(undecided)} callers){fallback.explanation}",
            witness_case=fallback.witness_case,
        )
    kinds_text = ", ".join(k.principal_kind.value for k in kinds)
    return ProofResult(
        "no",
        None,
        (),
        f"no: {subject} cannot {what} -- proved for every request of every caller kind ({kinds_text}), "
        "every action and every value of the context keys the policy reads",
    )


def _ask_kind(
    key_policy: Policy,
    key_arn: str,
    key_account: str,
    infos: Sequence[kms_actions.ActionInfo],
    kind: Kind,
    constrain: Any,
    deadline: float,
) -> ProofResult:
    """One kind of caller. An "unknown" carries, in its explanation, a sentence to append."""
    enc = encode(key_policy, key_arn, key_account, kind, actions=infos)
    if enc.allowed is FALSE:
        return ProofResult("no", None, (), "no")
    goal = [enc.allowed, *constrain(enc)]
    solver = z3.Solver()
    solver.add(*enc.domain(), *enc.sent, *goal)
    atoms = [atom for atom, _ in enc.opaque]
    unresolved: tuple[Request, dict[str, Any], Decision] | None = None
    tried = 0
    verdict = z3.sat
    for _ in range(MAX_RETRIES + 1):
        remaining_ms = int((deadline - time.monotonic()) * 1000)
        if remaining_ms <= 0:
            verdict = z3.unknown
            break
        solver.set("timeout", remaining_ms)
        verdict = solver.check()
        if verdict == z3.unknown:
            if unresolved is not None:
                break  # a witness that depends on unknowns is already in hand
            reason = solver.reason_unknown()
            return ProofResult("unknown", None, (f"solver: {reason}",), f"; the solver gave up ({reason})")
        if verdict == z3.unsat:
            break
        tried += 1
        model = solver.model()
        request, case = witness_request(enc.request, model)
        result, decision = _confirm(enc, model, key_policy, request, case)
        if result is not None:
            return result
        if not atoms:
            raise ProverError(f"the prover allows a request the simulator decides {decision.label}: {case}")
        if decision.outcome is Outcome.UNRESOLVED and unresolved is None:
            unresolved = (request, case, decision)
        # The witness relied on an opaque choice the simulator does not share: exclude that choice.
        solver.add(z3.Or([atom != model.eval(atom, model_completion=True) for atom in atoms]))
    if unresolved is not None:
        request, case, decision = unresolved
        return ProofResult(
            "unknown",
            request,
            decision.depends_on,
            f"; e.g. the simulator says {decision.label} for {case['principal']} calling {request.action}",
            witness_case=case,
        )
    if verdict == z3.unsat and tried == 0:
        return ProofResult("no", None, (), "no")
    if verdict == z3.unknown:
        return ProofResult("unknown", None, ("solver: timeout",), "; the time for the question ran out")
    depends = tuple(dict.fromkeys(d for _, refs in enc.opaque for d in refs))
    return ProofResult("unknown", None, depends, "; no candidate request could be confirmed")


def _confirm(
    enc: Encoding, model: z3.ModelRef, key_policy: Policy, request: Request, case: dict[str, Any]
) -> tuple[ProofResult | None, Decision]:
    """Re-run the witness through the simulator; a ProofResult "yes" when it allows."""
    needs_identity = enc.request.kind in IAM_KINDS and (
        z3.is_true(model.eval(z3.Bool(IDENTITY_ALLOWS), model_completion=True))
    )
    identity = (_allow_policy(request.action),) if needs_identity else ()
    decision = decide(AuthzInputs(key_policy=key_policy, identity_policies=identity), request)
    if decision.outcome is not Outcome.ALLOW:
        return None, decision
    rule = decision.trace[-1].reason if decision.trace else ""
    who = case["principal"]
    if case.get("role_arn"):
        who = f"{who} (a session of {case['role_arn']})"
    extra = " with an identity policy of its account allowing it" if needs_identity else ""
    context = ", ".join(f"{k}={v}" for k, v in case["context"].items())
    explanation = (
        f"yes: {who} can {request.action}{extra}"
        + (f", with request context {context}" if context else "")
        + f"; the simulator confirms: {rule}"
    )
    return ProofResult("yes", request, (), explanation, case, needs_identity), decision


# -- helpers ----------------------------------------------------------------------------------------


def _actions(actions: Sequence[str] | None) -> tuple[kms_actions.ActionInfo, ...]:
    available = key_actions()
    if actions is None:
        return available
    wanted = []
    for action in actions:
        info = kms_actions.action_info(action)
        if info is None:
            raise ValueError(f"not a KMS action: {action!r}")
        if info in available and info not in wanted:
            wanted.append(info)
    return tuple(wanted)


def _actions_text(infos: Sequence[kms_actions.ActionInfo]) -> str:
    if len(infos) == len(key_actions()):
        return "perform any action on the key"
    names = ", ".join(info.iam_action for info in infos[:4])
    return names + (f" (and {len(infos) - 4} more)" if len(infos) > 4 else "")


def _org_outside(enc: Encoding, orgs: Sequence[str]) -> list[z3.BoolRef]:
    """The caller belongs to none of ``orgs``: its aws:PrincipalOrgID is none of them and no
    aws:PrincipalOrgPaths entry starts with one (AWS Organizations paths begin with the org id)."""
    out: list[z3.BoolRef] = []
    req = enc.request
    org = req.keys.get("aws:principalorgid")
    paths = req.keys.get("aws:principalorgpaths")
    for org_id in orgs:
        if org is not None and org.model == "str" and org.value is not None:
            out.append(z3.Implies(org.present, org.value != _s(org_id)))
        if paths is not None and paths.model == "list" and paths.length is not None:
            for index, item in enumerate(paths.items):
                out.append(
                    z3.Implies(
                        z3.And(paths.present, paths.length > index),
                        z3.Not(z3.PrefixOf(_s(org_id + "/"), item)),
                    )
                )
    return out


def _literals(policy: Policy) -> set[str]:
    """Every literal string of the policy: principals, resources, condition values."""
    found: set[str] = set()

    def add(value: Any) -> None:
        if isinstance(value, str):
            found.add(value)
        elif isinstance(value, Template):
            found.update(p for p in value.parts if isinstance(p, str))
        elif isinstance(value, (tuple, list)):
            for item in value:
                add(item)

    for stmt in policy.statements:
        for principals in (stmt.principals, stmt.not_principals):
            if isinstance(principals, tuple):
                for principal in principals:
                    add(principal.value)
        add(stmt.resources if isinstance(stmt.resources, tuple) else ())
        if not isinstance(stmt.conditions, Unknown):
            for condition in stmt.conditions:
                if isinstance(condition.values, tuple):
                    add(condition.values)
    return found


def _allow_policy(action: str) -> Policy:
    from kmsguard.load.policy_builder import build_policy

    document = {
        "Version": "2012-10-17",
        "Statement": [{"Sid": "WitnessCallerAllows", "Effect": "Allow", "Action": action, "Resource": "*"}],
    }
    policy, _ = build_policy(document, PolicyKind.IDENTITY, resource="witness identity policy")
    assert isinstance(policy, Policy)
    return policy


def _default_key_arn(key_account: str) -> str:
    return f"arn:aws:kms:us-east-1:{key_account}:key/00000000-0000-0000-0000-000000000000"
