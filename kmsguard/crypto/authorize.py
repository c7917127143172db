"""Authorization of every LocalKMS call by kmsguard's simulator (``kmsguard.authz.evaluate``), before
any cryptography. No policy semantics live here: this module only builds the simulator's request
(caller, action, key ARN, request context) and inputs (key policy, grants, the caller's policies),
and words a denial the way AWS does.

The request context holds the condition keys KMS sends for the operation (KMS Developer Guide, "AWS
KMS condition keys"): kms:EncryptionContext:<k>, kms:EncryptionContextKeys, kms:EncryptionAlgorithm,
kms:SigningAlgorithm, kms:MacAlgorithm, kms:MessageType, kms:KeySpec, kms:KeyUsage, kms:KeyOrigin,
kms:MultiRegion, kms:RequestAlias, kms:ResourceAliases, aws:ResourceTag/<k>, ... -- filtered to the
keys the Service Authorization Reference lists for the action (``ActionInfo.sends``), plus whatever
the caller's view adds (aws:SourceIp, kms:ViaService...).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kmsguard.authz.types import AuthzInputs, Caller, ContextValue, Decision, Outcome, Request
from kmsguard.crypto.engine import KmsFailure
from kmsguard.crypto.keys import KmsKey
from kmsguard.model import Grant, Policy


@dataclass(frozen=True)
class CallerView:
    """Who calls: the caller, their IAM side (identity policies, boundary, session policy, SCP
    levels) and request-context keys they bring (aws:SourceIp, kms:ViaService...)."""

    caller: Caller
    identity_policies: tuple[Policy, ...] = ()
    permission_boundary: Policy | None = None
    session_policy: Policy | None = None
    scps: tuple[tuple[Policy, ...], ...] = ()
    context: Mapping[str, ContextValue] = field(default_factory=dict)

    @property
    def account(self) -> str | None:
        return self.caller.account


def key_context(key: KmsKey, aliases: Sequence[str]) -> dict[str, ContextValue]:
    """Condition keys describing the key itself."""
    context: dict[str, ContextValue] = {
        "kms:KeySpec": key.spec,
        "kms:KeyUsage": key.usage,
        "kms:KeyOrigin": key.origin,
        "kms:MultiRegion": "true" if key.multi_region else "false",
    }
    if aliases:
        context["kms:ResourceAliases"] = tuple(aliases)
    for tag_key, tag_value in key.tags:
        context[f"aws:ResourceTag/{tag_key}"] = tag_value
    return context


def encryption_context_keys(context: Mapping[str, str] | None) -> dict[str, ContextValue]:
    """kms:EncryptionContext:<k> for each pair and kms:EncryptionContextKeys (KMS Developer Guide,
    "kms:EncryptionContext:context-key" and "kms:EncryptionContextKeys")."""
    if not context:
        return {}
    pairs = tuple(context.items())
    try:
        found = _CONTEXT_KEYS.get(pairs)
    except TypeError:  # an unhashable value (client validation off): build it, remember nothing
        return _context_keys(pairs)
    if found is None:
        if len(_CONTEXT_KEYS) >= _CONTEXT_KEYS_SIZE:
            _CONTEXT_KEYS.clear()
        found = _CONTEXT_KEYS[pairs] = _context_keys(pairs)
    return dict(found)  # a copy: callers may add keys


def _context_keys(pairs: tuple[tuple[str, str], ...]) -> dict[str, ContextValue]:
    found: dict[str, ContextValue] = {f"kms:EncryptionContext:{k}": v for k, v in pairs}
    found["kms:EncryptionContextKeys"] = tuple(k for k, _ in pairs)
    return found


# Recent encryption contexts' condition keys (callers reuse contexts); bounded.
_CONTEXT_KEYS: dict[tuple[tuple[str, str], ...], dict[str, ContextValue]] = {}
_CONTEXT_KEYS_SIZE = 1024

# (context pairs, algorithm) -> the condition keys of a cryptographic request and their frozen form.
_CRYPTO_KEYS: dict[tuple[object, ...], tuple[Mapping[str, ContextValue], frozenset[object]]] = {}


def encryption_request_keys(
    context: Mapping[str, str] | None, algorithm: str
) -> tuple[Mapping[str, ContextValue], frozenset[object] | None]:
    """The condition keys of a request with an encryption context and ``kms:EncryptionAlgorithm``,
    and the same as a frozenset (an identity for remembering decisions), or None when a value is
    not hashable. Built once per distinct (context, algorithm); the mapping is shared: read it only."""
    global _last_crypto_keys
    last = _last_crypto_keys
    # The same context object as the previous call, unchanged (compared with a snapshot), and the
    # same algorithm: callers reuse their context dicts, and this skips hashing the pairs.
    if last is not None and last[0] is context and last[2] == algorithm and last[1] == context:
        return last[3]
    try:
        memo_key: tuple[object, ...] = (tuple(context.items()) if context else (), algorithm)
        found = _CRYPTO_KEYS.get(memo_key)
    except TypeError:  # an unhashable context value (client validation off): nothing to share
        return {**encryption_context_keys(context), "kms:EncryptionAlgorithm": algorithm}, None
    if found is None:
        keys: dict[str, ContextValue] = {
            **encryption_context_keys(context),
            "kms:EncryptionAlgorithm": algorithm,
        }
        if len(_CRYPTO_KEYS) >= _CONTEXT_KEYS_SIZE:
            _CRYPTO_KEYS.clear()
        found = _CRYPTO_KEYS[memo_key] = (keys, frozenset(keys.items()))
    _last_crypto_keys = (context, dict(context) if context else context, algorithm, found)
    return found


_last_crypto_keys: tuple[Any, Any, str, tuple[Mapping[str, ContextValue], frozenset[object]]] | None = None


# (action, condition key) -> whether the action's requests carry that key; the answer depends only
# on the Service Authorization Reference table, so it is computed once per pair.
_SENDS: dict[tuple[str, str], bool] = {}


def _sends(action: str, key: str) -> bool:
    found = _SENDS.get((action, key))
    if found is None:
        from kmsguard.authz.kms_actions import action_info

        info = action_info(action)
        found = _SENDS[(action, key)] = info is None or info.sends(key)
    return found


def _filtered(action: str, context: Mapping[str, ContextValue]) -> dict[str, ContextValue]:
    return {key: value for key, value in context.items() if _sends(action, key)}


def request_context(
    view: CallerView, action: str, operation_context: Mapping[str, ContextValue], region: str
) -> dict[str, ContextValue]:
    """The request context the simulator sees: the operation's keys that the action carries, then
    the caller view's keys (taken as given)."""
    context = _filtered(action, {"aws:RequestedRegion": region, **operation_context})
    context.update(view.context)
    return context


def build_request(
    view: CallerView,
    action: str,
    resource: str,
    resource_account: str,
    operation_context: Mapping[str, ContextValue],
    region: str,
    grant_tokens: Sequence[str] = (),
    *,
    filtered_context: Mapping[str, ContextValue] | None = None,
) -> Request:
    context = (
        filtered_context
        if filtered_context is not None
        else request_context(view, action, operation_context, region)
    )
    return Request(
        action=action,
        caller=view.caller,
        resource=resource,
        resource_account=resource_account,
        context=context,
        grant_tokens=tuple(grant_tokens),
    )


def build_inputs(view: CallerView, key_policy: Policy | None, grants: Sequence[Grant]) -> AuthzInputs:
    return AuthzInputs(
        key_policy=key_policy,
        identity_policies=view.identity_policies,
        grants=tuple(grants),
        scps=view.scps,
        permission_boundary=view.permission_boundary,
        session_policy=view.session_policy,
    )


def denial(decision: Decision, request: Request, resource: str | None = None) -> KmsFailure | None:
    """None when the decision allows; otherwise the error AWS answers.

    The AccessDeniedException message follows AWS's shape (IAM User Guide, "Troubleshoot access
    denied error messages"): "User: <caller> is not authorized to perform: <action> on resource:
    <ARN> because no resource-based policy allows the <action> action" -- or "with an explicit deny
    in a resource-based / identity-based policy", or "because no identity-based policy allows" when
    the key policy allowed and the caller's IAM policies did not."""
    if decision.outcome is Outcome.ALLOW:
        return None
    if (
        decision.outcome is Outcome.ERROR
        and decision.error_code
        and decision.error_code != "AccessDeniedException"
    ):
        return KmsFailure(decision.error_code, _last_reason(decision))
    caller = request.caller
    who = caller.session_arn or caller.arn
    where = resource or request.resource
    head = f"User: {who} is not authorized to perform: {request.action} on resource: {where}"
    if decision.outcome is Outcome.EXPLICIT_DENY:
        kind = "identity-based" if _denied_by_identity(decision) else "resource-based"
        return KmsFailure("AccessDeniedException", f"{head} with an explicit deny in a {kind} policy")
    kind = "identity-based" if _key_policy_allowed(decision) else "resource-based"
    return KmsFailure(
        "AccessDeniedException", f"{head} because no {kind} policy allows the {request.action} action"
    )


def _last_reason(decision: Decision) -> str:
    return decision.trace[-1].reason if decision.trace else ""


def _key_policy_allowed(decision: Decision) -> bool:
    return any(e.source == "key policy" and e.effect == "Allow" and e.matched for e in decision.trace)


def _denied_by_identity(decision: Decision) -> bool:
    return any(
        e.effect == "Deny" and e.matched and e.source != "key policy" and not e.source.startswith("RCP")
        for e in decision.trace
    )


def decide(inputs: AuthzInputs, request: Request) -> Decision:
    from kmsguard.authz.evaluate import decide as simulator_decide

    return simulator_decide(inputs, request)
