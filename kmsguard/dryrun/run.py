"""Running a scenario: set up its keys and principals in a LocalKMS, make each step's call as its
principal, compare what happened with what the step expects.

Every call is authorized by kmsguard's simulator and executed by the engine (``TracedKMS`` keeps
the decision, so a report can say which statement denied or that nothing allowed). Responses stay
in memory for later steps' ``${steps.ID.Field}`` references; a report only ever shows their sizes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

from kmsguard.authz.types import Decision, Outcome, TraceEntry
from kmsguard.dryrun.scenario import (
    KEY_PARAMS,
    PRINCIPAL_PARAMS,
    REFERENCE,
    KeyDecl,
    PrincipalDecl,
    Scenario,
    ScenarioError,
    Step,
)
from kmsguard.dryrun.traced_kms import Authorization, TracedKMS, UnresolvedDecision

if TYPE_CHECKING:
    from kmsguard.model import Inventory, Key, Policy
    from kmsguard.model.bind import ArnResolver
    from kmsguard.model.resources import Identity
    from kmsguard.model.values import Unknown


class Status(str, Enum):
    PASSED = "passed"
    FAILED = "failed"  # ran, and the outcome or decision is not the expected one
    UNRESOLVED = "unresolved"  # the decision depends on values not known statically
    BLOCKED = "blocked"  # a reference names an output an earlier step did not produce
    ERROR = "error"  # the engine failed (a bug of kmsguard's, reported rather than hidden)


@dataclass(frozen=True)
class StepResult:
    step: Step
    status: Status
    principal_arn: str
    outcome: str | None = None  # "ok" or the AWS error code; None when the call was not made
    decision: str | None = None  # Allow / ExplicitDeny / ImplicitDeny / Unresolved; None: no authorization
    reason: str = ""  # why: the denying statement, "no statement allows", what is unresolved
    message: str = ""  # AWS's error message
    outputs: Mapping[str, str] = field(default_factory=dict)  # response fields, blobs as "<N bytes>"
    trace: tuple[TraceEntry, ...] = ()

    @property
    def passed(self) -> bool:
        return self.status is Status.PASSED


@dataclass(frozen=True)
class ScenarioResult:
    scenario: Scenario
    steps: tuple[StepResult, ...]
    notes: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return all(s.passed for s in self.steps)

    def count(self, status: Status) -> int:
        return sum(1 for s in self.steps if s.status is status)


class _Blocked(Exception):
    """A step's reference to an output that does not exist."""


@dataclass
class _World:
    scenario: Scenario
    kms: TracedKMS
    keys: dict[str, dict[str, str]] = field(default_factory=dict)  # name -> {"Arn", "KeyId"}
    arns: dict[str, str] = field(default_factory=dict)  # principal name -> ARN
    callers: dict[str, TracedKMS] = field(default_factory=dict)  # principal name or ARN -> view
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)  # step id -> response
    outcomes: dict[str, str] = field(default_factory=dict)  # step id -> "ok" / error code
    notes: list[str] = field(default_factory=list)


def run_scenario(scenario: Scenario, inventory: Inventory | None = None) -> ScenarioResult:
    """Run every step. ``inventory``: the ``--against`` inputs, for keys and principals taken from
    IaC. Raises ``ScenarioError`` when the scenario's world cannot be set up."""
    world = _World(
        scenario,
        TracedKMS(
            account=scenario.account,
            region=scenario.region,
            partition=scenario.partition,
            seed=f"kmsguard verify {scenario.name}",  # the same scenario gives the same ids
        ),
    )
    world.kms.enforce_policies = False
    try:
        _set_up(world, inventory)
    finally:
        world.kms.enforce_policies = True
    results = tuple(_run_step(world, step) for step in scenario.steps)
    return ScenarioResult(scenario, results, tuple(world.notes))


# -- the world: keys and principals ----------------------------------------------------------------


def _set_up(world: _World, inventory: Inventory | None) -> None:
    scenario = world.scenario
    if scenario.needs_iac and inventory is None:
        sourced = [d.line for d in scenario.keys if d.source] + [
            p.line for p in scenario.principals if p.source
        ]
        raise ScenarioError(
            scenario.path, min(sourced), "keys or principals taken from IaC (from:) need --against PATH"
        )
    iac_keys: list[tuple[KeyDecl, Key]] = []
    for decl in scenario.keys:
        if decl.source is not None:
            assert inventory is not None
            found = _iac_key(scenario, decl, inventory)
            _create_key(world, _merged_with_iac(scenario, decl, found, inventory))
            iac_keys.append((decl, found))
        else:
            _create_key(world, decl)
    resolver = _resolver(world, inventory, iac_keys)
    for principal in scenario.principals:
        _add_principal(world, principal, inventory, resolver)
    for key_decl, found in iac_keys:
        policy = _bound_policy(found, resolver)
        if policy is not None:
            world.kms.use_iac_key_policy(world.keys[key_decl.name]["KeyId"], policy)


def _create_key(world: _World, decl: KeyDecl) -> None:
    from botocore.exceptions import ClientError, ParamValidationError

    kms = world.kms
    params: dict[str, Any] = {
        "KeySpec": decl.spec,
        "KeyUsage": decl.usage,
        "Description": decl.description,
        # The scenario declares the world as it is; AWS's lockout check guards changes, not this.
        "BypassPolicyLockoutSafetyCheck": True,
    }
    if decl.policy is not None:
        params["Policy"] = decl.policy
    if decl.tags:
        params["Tags"] = [{"TagKey": k, "TagValue": v} for k, v in decl.tags]
    try:
        key_id = kms.create_key(**params)["KeyMetadata"]["KeyId"]
        if decl.rotation_enabled:
            rotation: dict[str, Any] = {"KeyId": key_id}
            if decl.rotation_period_days is not None:
                rotation["RotationPeriodInDays"] = decl.rotation_period_days
            kms.enable_key_rotation(**rotation)
        for alias in decl.aliases:
            kms.create_alias(AliasName=alias, TargetKeyId=key_id)
        if decl.enabled is False:
            kms.disable_key(KeyId=key_id)
    except ClientError as err:
        error = err.response["Error"]
        message = f"key {decl.name}: {error['Code']}: {error.get('Message') or 'rejected'}"
        raise ScenarioError(world.scenario.path, decl.line, message) from None
    except ParamValidationError as err:
        raise ScenarioError(world.scenario.path, decl.line, f"key {decl.name}: {_one_line(err)}") from None
    arn = kms.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"]
    world.keys[decl.name] = {"Arn": arn, "KeyId": key_id}


def _iac_key(scenario: Scenario, decl: KeyDecl, inventory: Inventory) -> Key:
    from kmsguard.simulate_cli import SimulateError, find_key

    assert decl.source is not None
    try:
        return find_key(inventory, decl.source)
    except SimulateError as err:
        raise ScenarioError(scenario.path, decl.line, f"key {decl.name}: {err}") from None


def _merged_with_iac(scenario: Scenario, decl: KeyDecl, key: Key, inventory: Inventory) -> KeyDecl:
    """The scenario's key as the IaC declares it; what the scenario sets (enabled, rotation,
    aliases...) wins. A spec or usage that is not known statically cannot be emulated."""
    from dataclasses import replace

    from kmsguard.model.values import ResourceRef

    for what, value in (("key_spec", key.key_spec), ("key_usage", key.key_usage)):
        if not isinstance(value, str):
            raise ScenarioError(
                scenario.path,
                decl.line,
                f"key {decl.name}: the {what} of {key.address} is not known statically ({value})",
            )
    aliases = [a for a in key.aliases if isinstance(a, str)]
    for alias in inventory.aliases:
        target = alias.target_key
        if isinstance(target, ResourceRef) and target.address == key.address and isinstance(alias.name, str):
            aliases.append(alias.name)
    rotation = key.rotation_enabled if isinstance(key.rotation_enabled, bool) else None
    period = key.rotation_period_days if isinstance(key.rotation_period_days, int) else None
    return replace(
        decl,
        spec=str(key.key_spec),
        usage=str(key.key_usage),
        description=key.description if isinstance(key.description, str) else "",
        enabled=decl.enabled
        if decl.enabled is not None
        else (key.enabled if isinstance(key.enabled, bool) else None),
        rotation_enabled=decl.rotation_enabled if decl.rotation_enabled is not None else rotation,
        rotation_period_days=decl.rotation_period_days or period,
        aliases=tuple(dict.fromkeys((*aliases, *decl.aliases))),
        tags=decl.tags or tuple((str(k), v) for k, v in key.tags.items() if isinstance(v, str)),
    )


def _resolver(
    world: _World, inventory: Inventory | None, iac_keys: Sequence[tuple[KeyDecl, Key]]
) -> ArnResolver:
    """References to the IaC's keys and identities become the ARNs they have in this run; the
    deployment context is the scenario's account, region and partition."""
    from kmsguard.model.bind import ArnResolver
    from kmsguard.model.values import THIS_ACCOUNT, THIS_PARTITION, THIS_REGION

    scenario = world.scenario
    resolver = ArnResolver(
        context={
            THIS_ACCOUNT: scenario.account,
            THIS_REGION: scenario.region,
            THIS_PARTITION: scenario.partition,
        }
    )
    for decl, key in iac_keys:
        resolver.values[key.address] = world.keys[decl.name]["Arn"]
    if inventory is not None:
        for identity in inventory.identities:
            arn = _identity_arn(scenario, identity)
            if arn is not None:
                resolver.values[identity.address] = arn
        for managed in inventory.managed_policies:
            if isinstance(managed.arn, str):
                resolver.values[managed.address] = managed.arn
    return resolver


def _identity_arn(scenario: Scenario, identity: Identity) -> str | None:
    from kmsguard.model.resources import IdentityKind

    if isinstance(identity.arn, str):
        return identity.arn
    kinds = {IdentityKind.ROLE: "role", IdentityKind.USER: "user", IdentityKind.GROUP: "group"}
    if identity.kind not in kinds or not isinstance(identity.name, str):
        return None
    path = identity.path if isinstance(identity.path, str) and identity.path.startswith("/") else "/"
    return f"arn:{scenario.partition}:iam::{scenario.account}:{kinds[identity.kind]}{path}{identity.name}"


def _bound_policy(key: Key, resolver: ArnResolver) -> Policy | Unknown | None:
    """The IaC's key policy with references bound; None when the IaC declares none (AWS then gives
    the key the default key policy, KMS Developer Guide "Default key policy", which the engine's
    key already has)."""
    from kmsguard.model import Policy

    if key.policy is None:
        return None
    return resolver.policy(key.policy) if isinstance(key.policy, Policy) else key.policy


def _add_principal(
    world: _World, decl: PrincipalDecl, inventory: Inventory | None, resolver: ArnResolver
) -> None:
    scenario = world.scenario
    policies: list[Any] = list(decl.policies)
    boundary: Any = decl.permissions_boundary
    unread: list[str] = []
    arn = decl.arn
    if decl.source is not None:
        assert inventory is not None
        identity = _iac_identity(scenario, decl, inventory)
        arn = _identity_arn(scenario, identity)
        if arn is None:
            raise ScenarioError(
                scenario.path, decl.line, f"principal {decl.name}: the ARN of {identity.address} is not known"
            )
        iac_policies, iac_boundary, iac_unread = _iac_policies(inventory, identity, resolver)
        policies = [*iac_policies, *policies]
        boundary = boundary if boundary is not None else iac_boundary
        unread = iac_unread
    assert arn is not None
    attributes: dict[str, Any] = {}
    if decl.tags:
        attributes["tags"] = dict(decl.tags)
    if decl.org_id:
        attributes["org_id"] = decl.org_id
    try:
        view = world.kms.as_principal(
            arn,
            identity_policies=policies,
            permission_boundary=boundary,
            session_policy=decl.session_policy,
            context=dict(decl.context),
            unread_policies=unread,
            **attributes,
        )
    except ValueError as err:
        raise ScenarioError(scenario.path, decl.line, f"principal {decl.name}: {err}") from None
    world.arns[decl.name] = arn
    world.callers[decl.name] = view


def _iac_identity(scenario: Scenario, decl: PrincipalDecl, inventory: Inventory) -> Identity:
    from kmsguard.model.resources import IdentityKind

    for identity in inventory.identities:
        if identity.address == decl.source and identity.kind in (IdentityKind.ROLE, IdentityKind.USER):
            return identity
    known = ", ".join(
        i.address for i in inventory.identities if i.kind in (IdentityKind.ROLE, IdentityKind.USER)
    )
    raise ScenarioError(
        scenario.path,
        decl.line,
        f"principal {decl.name}: no IAM role or user {decl.source!r} (known: {known or 'none'})",
    )


def _iac_policies(
    inventory: Inventory, identity: Identity, resolver: ArnResolver
) -> tuple[list[Policy], Policy | None, list[str]]:
    """The identity's policies from the IaC, bound; the boundary; what could not be read."""
    from kmsguard.simulate_cli import identity_policies_of, managed_policy_of

    documents, unread = identity_policies_of(inventory, identity)
    boundary = None
    if identity.permissions_boundary is not None:
        document = managed_policy_of(inventory, identity.permissions_boundary)
        if document is None:
            unread.append(f"permissions boundary {identity.permissions_boundary}")
        else:
            boundary = resolver.policy(document)
    return [resolver.policy(p) for p in documents], boundary, unread


# -- steps -------------------------------------------------------------------------------------------


def _caller(world: _World, step: Step) -> tuple[TracedKMS, str]:
    if step.principal in world.callers:
        return world.callers[step.principal], world.arns.get(step.principal, step.principal)
    try:
        view = world.kms.as_principal(step.principal)  # an ARN written in as:, with no policies
    except ValueError as err:
        raise ScenarioError(
            world.scenario.path, step.line, f"step {step.id}: as {step.principal!r}: {err}"
        ) from None
    world.callers[step.principal] = view
    return view, step.principal


def _run_step(world: _World, step: Step) -> StepResult:
    from botocore.exceptions import ClientError, ParamValidationError

    caller, arn = _caller(world, step)
    try:
        params = _resolved(world, step.params)
    except _Blocked as blocked:
        return StepResult(step, Status.BLOCKED, arn, reason=str(blocked))
    recorder = world.kms.recorder
    recorder.authorizations.clear()
    outcome, message = "ok", ""
    try:
        response = getattr(caller, step.operation)(**params)
        world.outputs[step.id] = response
    except UnresolvedDecision as unresolved:
        world.outcomes[step.id] = "unresolved"
        return StepResult(
            step,
            Status.UNRESOLVED,
            arn,
            decision=Outcome.UNRESOLVED.value,
            reason=unresolved.why,
            trace=unresolved.decision.trace,
        )
    except ClientError as err:
        outcome = str(err.response["Error"]["Code"])
        message = str(err.response["Error"].get("Message") or "")
        response = {}
    except ParamValidationError as err:
        outcome, message, response = "ParamValidationError", _one_line(err), {}
    except Exception as err:  # a bug in the engine: say so, never hide it behind a pass
        world.outcomes[step.id] = "error"
        return StepResult(step, Status.ERROR, arn, reason=f"kmsguard failed: {err.__class__.__name__}")
    world.outcomes[step.id] = outcome
    decisive = _decisive(recorder.authorizations)
    decision = decisive.decision.label if decisive else None
    expected = step.expect
    matches = (expected.outcome is None or expected.outcome == outcome) and (
        expected.decision is None or expected.decision == decision
    )
    return StepResult(
        step,
        Status.PASSED if matches else Status.FAILED,
        arn,
        outcome=outcome,
        decision=decision,
        reason=_reason(decisive) if decisive and not decisive.decision.allowed else "",
        message=message,
        outputs=_shown(response),
        trace=decisive.decision.trace if decisive else (),
    )


def _decisive(authorizations: Sequence[Authorization]) -> Authorization | None:
    """The authorization that decided the call: the first that did not allow, else the last."""
    for authorization in authorizations:
        if not authorization.decision.allowed:
            return authorization
    return authorizations[-1] if authorizations else None


def _reason(authorization: Authorization) -> str:
    """Why a request was denied, from the simulator's trace: the denying statement, or AWS's rule
    that ended the evaluation, and the Allow statements that failed only on their conditions (the
    near misses a reader looks for first)."""
    decision: Decision = authorization.decision
    if decision.outcome is Outcome.EXPLICIT_DENY:
        denying = [_entry_name(e) for e in decision.trace if e.matched and e.effect == "Deny"]
        return f"explicit deny in {', '.join(denying) or 'a Deny statement'}"
    rules = [e.reason for e in decision.trace if e.source == "rule" and e.reason]
    summary = "; ".join(rules) or f"no statement allows {authorization.request.action}"
    near = [
        f"{_entry_name(e)}: {e.reason}"
        for e in decision.trace
        if e.effect == "Allow" and not e.matched and not _NOT_THIS_REQUEST.search(e.reason)
    ]
    return summary + (f" (near miss: {'; '.join(near)})" if near else "")


# Trace reasons of statements about other actions, principals or resources: not near misses.
_NOT_THIS_REQUEST = re.compile(r"^(action|principal|resource)s? does not match")


def _entry_name(entry: TraceEntry) -> str:
    return f"{entry.source} {entry.statement}".strip()


_SECRET_FIELDS = re.compile(r"(?i)plaintext|ciphertext|blob|signature|^mac$|secret|token")


def _shown(response: Mapping[str, Any]) -> dict[str, str]:
    """Response fields for a report: bytes as their length only, nested structures left out."""
    shown: dict[str, str] = {}
    for name, value in response.items():
        if name == "ResponseMetadata":
            continue
        if isinstance(value, (bytes, bytearray)):
            shown[name] = f"<{len(value)} bytes>"
        elif isinstance(value, (str, int, bool)) and not (
            isinstance(value, str) and _SECRET_FIELDS.search(name)
        ):
            shown[name] = str(value)
        elif isinstance(value, str):
            shown[name] = f"<{len(value)} characters>"
    return shown


def _resolved(world: _World, params: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _resolved_value(world, name, value) for name, value in params.items()}


def _resolved_value(world: _World, name: str, value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _resolved_value(world, k, v) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolved_value(world, name, v) for v in value]
    if not isinstance(value, str):
        return value
    found = REFERENCE.fullmatch(value)
    if found is not None:
        return _referenced(world, found["kind"], found["name"], found["path"], value)
    if name in KEY_PARAMS and value in world.keys:
        return world.keys[value]["Arn"]
    if name in PRINCIPAL_PARAMS and value in world.arns:
        return world.arns[value]
    return value


def _referenced(world: _World, kind: str, name: str, path: str, written: str) -> Any:
    if kind == "keys":
        return world.keys[name][path]
    if kind == "principals":
        return world.arns[name]
    response = world.outputs.get(name)
    if response is None:
        raise _Blocked(
            f"{written}: step {name} gave no response (it ended with {world.outcomes.get(name, 'nothing')})"
        )
    value: Any = response
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            raise _Blocked(f"{written}: the response of step {name} has no {path}")
        value = value[part]
    return value


def _one_line(err: Exception) -> str:
    # botocore's validation report quotes the value it rejects: a plaintext must not be printed.
    text = " ".join(str(err).split())
    return re.sub(r"value: .*?, type:", "type:", text)
