"""Shared by the full-input consistency tests: the prover's outcome for one concrete request, with
every input ``decide`` takes (grants, SCPs, RCPs, permission boundary, session policy)."""

from __future__ import annotations

import z3

from kmsguard.authz import kms_actions
from kmsguard.authz.types import AuthzInputs, Outcome, Request
from kmsguard.model import Grant
from kmsguard.prove.encode import Kind, encode_inputs, fix_request


def forced(solver: z3.Solver, formula: z3.BoolRef) -> bool | None:
    """The value of ``formula`` under the solver's (fixing) constraints; None when the opaque atoms
    (what the encoding does not model) leave it open."""
    can_hold = solver.check(formula) == z3.sat
    can_fail = solver.check(z3.Not(formula)) == z3.sat
    assert can_hold or can_fail, "the fixed request contradicts the encoding's domain"
    return None if can_hold and can_fail else can_hold


def prover_outcome(
    inputs: AuthzInputs, request: Request, new_grant: Grant | None = None
) -> tuple[Outcome | None, bool]:
    """The prover's outcome for ``request`` (None when opaque atoms leave it open), and whether the
    encoding has opaque atoms at all. The encoding covers every KMS action (RetireGrant, CreateKey,
    alias operations included), so that any request of the simulator's can be fixed in it."""
    lists = {k: len(v) for k, v in request.context.items() if not isinstance(v, str)}
    enc = encode_inputs(
        inputs,
        request.resource,
        request.resource_account,
        Kind[request.caller.kind.name],
        actions=kms_actions.all_actions(),
        list_bounds=lists,
        new_grant=new_grant,
    )
    solver = z3.Solver()
    solver.add(*fix_request(enc.request, request), *enc.values, *enc.sent)
    facts = [forced(solver, f) for f in (enc.error, enc.explicit_deny, enc.allowed)]
    if None in facts:
        return None, bool(enc.opaque)
    error, explicit_deny, allowed = facts
    if error:
        return Outcome.ERROR, bool(enc.opaque)
    if explicit_deny:
        return Outcome.EXPLICIT_DENY, bool(enc.opaque)
    return (Outcome.ALLOW if allowed else Outcome.IMPLICIT_DENY), bool(enc.opaque)
