"""Two key policies compared over every request: does a policy change let in anything the old policy
did not (the question a pull-request reviewer asks)?

Both policies are encoded over one symbolic request (``encode`` names its variables the same in
every encoding: the caller, the action and the context keys are shared), for one key, one caller
kind at a time. The caller's identity policies are the same before and after the change: "an
identity policy allows" is one atom for both. The opaque atoms of the old policy are renamed, so
that an unknown value may differ between the two (sound: a "no new access" proof then holds for
every value of each); a witness is re-checked with ``decide`` on both policies.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

import z3

from kmsguard.authz.types import Outcome
from kmsguard.model.policy import Policy
from kmsguard.model.values import Unknown
from kmsguard.prove.encode import FALSE, Encoding, Kind, encode, witness_request
from kmsguard.prove.questions import (
    MANAGING_KINDS,
    TIMEOUT_MS,
    ProofResult,
    _actions,
    _actions_text,
    _decide_witness,
    _default_key_arn,
    _search,
    _who,
    over_kinds,
)
from kmsguard.prove.same_caller import base_constraints

__all__ = ["equivalent", "new_access", "no_new_access"]


def new_access(
    old: Policy,
    new: Policy,
    actions: Sequence[str] | None = None,
    *,
    key_account: str,
    key_arn: str | None = None,
    timeout_ms: int = TIMEOUT_MS,
    names: tuple[str, str] = ("old", "new"),
) -> ProofResult:
    """Does key policy ``new`` allow a request (one of ``actions``, default every action on a key)
    that ``old`` does not? "yes" with that request -- ``decide`` allows it under ``new`` and not
    under ``old`` --, "no" proved for every caller of every account and every AWS service.
    ``names``: what the explanation calls the two policies."""
    arn = key_arn or _default_key_arn(key_account)
    infos = _actions(actions)
    what = _actions_text(infos)
    if not infos:
        return ProofResult("no", None, (), "no: none of the actions is authorized on a key")
    deadline = time.monotonic() + timeout_ms / 1000
    bounds = _shared_list_bounds((old, new))

    def ask(kind: Kind) -> ProofResult:
        before = encode(old, arn, key_account, kind, actions=infos, list_bounds=bounds)
        after = encode(new, arn, key_account, kind, actions=infos, list_bounds=bounds)
        return _ask_difference(before, after, old, new, deadline, names)

    return over_kinds(
        MANAGING_KINDS,
        ask,
        f"the {names[1]} policy lets a caller {what} where the {names[0]} one does not",
        f"no: the {names[1]} policy lets no caller {what} where the {names[0]} one does not",
    )


def no_new_access(
    old: Policy,
    new: Policy,
    actions: Sequence[str] | None = None,
    *,
    key_account: str,
    key_arn: str | None = None,
    timeout_ms: int = TIMEOUT_MS,
) -> ProofResult:
    """``new_access`` the other way round: "yes" (no witness) when ``new`` allows nothing that
    ``old`` does not, proved; "no" with the request it newly allows."""
    found = new_access(old, new, actions, key_account=key_account, key_arn=key_arn, timeout_ms=timeout_ms)
    if found.answer == "yes":
        return _replace_answer(found, "no", "no: the change grants new access; " + found.explanation)
    if found.answer == "unknown":
        return found
    return ProofResult("yes", None, (), "yes: " + found.explanation.removeprefix("no: "))


def equivalent(
    old: Policy,
    new: Policy,
    actions: Sequence[str] | None = None,
    *,
    key_account: str,
    key_arn: str | None = None,
    timeout_ms: int = TIMEOUT_MS,
) -> ProofResult:
    """Do ``old`` and ``new`` allow exactly the same requests? "yes" (no witness) proved both ways;
    "no" with a request one allows and the other does not (the explanation says which)."""
    options: dict[str, Any] = {"key_account": key_account, "key_arn": key_arn, "timeout_ms": timeout_ms}
    gained = new_access(old, new, actions, **options)
    if gained.answer == "yes":
        return _replace_answer(gained, "no", "no: the new policy allows more; " + gained.explanation)
    lost = new_access(new, old, actions, names=("new", "old"), **options)
    if lost.answer == "yes":
        return _replace_answer(lost, "no", "no: the new policy allows less; " + lost.explanation)
    if "unknown" in (gained.answer, lost.answer):
        unknown = gained if gained.answer == "unknown" else lost
        depends = tuple(dict.fromkeys((*gained.depends_on, *lost.depends_on)))
        return ProofResult("unknown", unknown.witness, depends, unknown.explanation, unknown.witness_case)
    return ProofResult(
        "yes",
        None,
        (),
        "yes: the two policies allow the same requests -- "
        + gained.explanation.removeprefix("no: ")
        + "; and the other way round",
    )


# -- solving ------------------------------------------------------------------------------------------


def _ask_difference(
    before: Encoding, after: Encoding, old: Policy, new: Policy, deadline: float, names: tuple[str, str]
) -> ProofResult:
    """A request ``after`` allows and ``before`` does not, for the one caller kind of both."""
    if after.allowed is FALSE:
        return ProofResult("no", None, (), "no")
    renames = [(atom, z3.Bool(f"old|{atom}")) for atom, _ in before.opaque]
    old_allowed = z3.substitute(before.allowed, *renames) if renames else before.allowed
    req = after.request
    # One request for both: the keys either policy reads, the caller variables either uses.
    for name in before.request.keys:
        req.key(name)
    req.used.update(before.request.used)
    solver = z3.Solver()
    solver.add(*base_constraints(after), after.allowed, z3.Not(old_allowed))
    opaque = [
        *after.opaque,
        *((new_atom, refs) for (_, new_atom), (_, refs) in zip(renames, before.opaque, strict=True)),
    ]

    def confirm(model: z3.ModelRef) -> ProofResult:
        request, case = witness_request(req, model)
        now, needs_identity = _decide_witness(after, model, new, request)
        then, _ = _decide_witness(after, model, old, request)
        for decision in (now, then):
            if decision.outcome is Outcome.UNRESOLVED:
                return ProofResult(
                    "unknown",
                    request,
                    decision.depends_on,
                    f"; e.g. the simulator says {decision.label} for {_who(case)} calling {request.action}",
                    case,
                )
        if now.outcome is not Outcome.ALLOW or then.outcome is Outcome.ALLOW:
            return ProofResult(
                "no",
                None,
                (),
                f"the prover says the {names[1]} policy allows and the {names[0]} does not, "
                f"the simulator says "
                f"{now.label} and {then.label}: {case}",
            )
        extra = " with an identity policy of its account allowing it" if needs_identity else ""
        context = ", ".join(f"{k}={v}" for k, v in case["context"].items())
        explanation = (
            f"yes: under the {names[1]} policy {_who(case)} can {request.action}{extra}"
            + (f", with request context {context}" if context else "")
            + f"; the {names[0]} policy decides {then.label}"
            + (f" ({then.trace[-1].reason})" if then.trace else "")
            + f"; the simulator confirms the {names[1]} one: {now.trace[-1].reason if now.trace else ''}"
        )
        return ProofResult("yes", request, (), explanation, case, needs_identity)

    return _search(solver, [atom for atom, _ in opaque], opaque, deadline, confirm)


def _shared_list_bounds(policies: Iterable[Policy]) -> dict[str, int]:
    """How many values each multivalued key needs in a request both policies read: one per clause
    over it in either policy, plus one (as ``encode`` counts for the policies of one encoding; the
    two encodings must hold the same variables)."""
    counts: dict[str, int] = {}
    for policy in policies:
        for stmt in policy.statements:
            if isinstance(stmt.conditions, Unknown):
                continue
            for condition in stmt.conditions:
                if isinstance(condition.key, str):
                    counts[condition.key.lower()] = counts.get(condition.key.lower(), 0) + 1
    return {name: count + 1 for name, count in counts.items()}


def _replace_answer(result: ProofResult, answer: str, explanation: str) -> ProofResult:
    from dataclasses import replace

    return replace(result, answer=answer, explanation=explanation)
