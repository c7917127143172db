"""Witness requests shown the same way whatever the solver picked.

z3's models depend on what it solved before, so the same question can come back with a caller in
account 408220882222 one run and 044280222822 the next, named ``+`` or nothing. Reports, baselines
and people want one answer: the caller's account becomes a fixed one the policy does not name and
its user, role and session names fixed ones -- each change kept only when the simulator allows the
changed request too. A witness the change would not fit is shown as found.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from kmsguard.model.policy import Policy
from kmsguard.prove.questions import _ACCOUNT_ID, ProofResult, _allow_policy, _literals

if TYPE_CHECKING:
    from kmsguard.authz.types import AuthzInputs


def named_accounts(policy: Policy) -> set[str]:
    """The account ids a policy names literally (principals, resources, condition values)."""

    return {a for text in _literals(policy) for a in _ACCOUNT_ID.findall(text)}


# Accounts a witness is shown with, when the solver's arbitrary choice works as well: the message
# then reads the same whichever files were checked before (z3's models depend on its history).
_SHOWN_ACCOUNTS = ("999999999999", "888888888888", "777777777777")


def _replaced(value: Any, old: str, new: str) -> Any:
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, (list, tuple)):
        return type(value)(_replaced(v, old, new) for v in value)
    if isinstance(value, dict):
        return {k: _replaced(v, old, new) for k, v in value.items()}
    return value


def canonical(result: ProofResult, policy: Policy, inputs: AuthzInputs | None = None) -> ProofResult:
    """The witness shown the same way whatever the solver happened to pick: its caller's account
    replaced by a fixed one the policy does not name, and its user or role name by a fixed one,
    each kept only when the simulator allows that request too -- with ``inputs`` (the question's
    grants, SCPs, RCPs) when the question had them."""
    witness = result.witness
    if witness is None or not isinstance(result.witness_case, dict) or not witness.caller.account:
        return result
    old = witness.caller.account
    named = named_accounts(policy)
    new = next((a for a in _SHOWN_ACCOUNTS if a not in named), None)
    if old not in named and new is not None and old != new:
        result = _if_allowed(result, policy, old, new, inputs)
    return _renamed(result, policy, inputs)


_IAM_NAME = re.compile(r"^(arn:[^:]*:iam::\d{12}:(user|role)/(?:[^/]*/)*)([^/]*)$")


def _renamed(result: ProofResult, policy: Policy, inputs: AuthzInputs | None = None) -> ProofResult:
    """The witness with the caller's user or role named ``example-user`` / ``example-role``."""
    assert result.witness is not None
    arn = result.witness.caller.arn
    match = _IAM_NAME.match(arn)
    if match is None or match.group(3) == f"example-{match.group(2)}":
        return result
    new_arn = f"{match.group(1)}example-{match.group(2)}"
    result = _if_allowed(result, policy, arn, new_arn, inputs)
    if result.witness is not None and result.witness.caller.arn == new_arn and match.group(2) == "role":
        old_session = f"assumed-role/{match.group(3)}/"
        result = _if_allowed(result, policy, old_session, "assumed-role/example-role/", inputs)
    session = result.witness.caller.session_arn if result.witness is not None else None
    named = _SESSION_NAME.match(session or "")
    if session and named and named.group(2) != "example-session":
        result = _if_allowed(result, policy, session, f"{named.group(1)}example-session", inputs)
    return result


_SESSION_NAME = re.compile(r"^(arn:[^:]*:sts::\d{12}:assumed-role/[^/]*/)(.*)$")


def _if_allowed(
    result: ProofResult, policy: Policy, old: str, new: str, inputs: AuthzInputs | None = None
) -> ProofResult:
    """``result`` with ``old`` replaced by ``new`` in its witness requests, when the simulator
    allows every changed request as well; else ``result`` unchanged."""
    from kmsguard.authz.evaluate import decide
    from kmsguard.authz.types import AuthzInputs, Outcome

    assert result.witness is not None
    changed = []
    for witness in result.witnesses or (result.witness,):
        caller = witness.caller
        is_account = old == caller.account
        caller = replace(
            caller,
            arn=_replaced(caller.arn, old, new),
            account=new if is_account else caller.account,
            session_arn=_replaced(caller.session_arn, old, new),
            userid=_replaced(caller.userid, old, new) if is_account else caller.userid,
        )
        request = replace(witness, caller=caller, context=_replaced(dict(witness.context), old, new))
        identity = (_allow_policy(request.action),) if result.needs_identity_policy else ()
        base = inputs if inputs is not None else AuthzInputs(key_policy=policy)
        decision = decide(replace(base, key_policy=policy, identity_policies=identity), request)
        if decision.outcome is not Outcome.ALLOW:
            return result
        changed.append(request)
    return replace(
        result,
        witness=changed[0],
        witnesses=tuple(changed) if result.witnesses else (),
        witness_case=_replaced(result.witness_case, old, new),
        explanation=result.explanation.replace(old, new),
    )


__all__ = ["canonical", "named_accounts"]
