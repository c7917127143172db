"""The decision: what AWS answers to one KMS request, and the reasoning that leads there.

The rules, in the order AWS applies them (IAM User Guide, "Policy evaluation logic" and "How AWS
enforcement code logic evaluates requests to allow or deny access"; KMS Developer Guide, "Key
policies in AWS KMS" and "Grants in AWS KMS"):

1. Calls KMS rejects before any policy: an unknown operation (UnknownOperationException), an
   unsigned request (MissingAuthenticationToken), a bare key id naming another account's key
   (NotFoundException).
2. An explicit Deny in any policy that applies (key policy, identity policies, permissions
   boundary, session policy, SCPs, RCPs) decides ExplicitDeny.
3. SCPs of the caller's account and RCPs of the key's account: every level must allow.
4. An operation that is not cross-account, on another account's key: the allows are not effective.
5. A grant for the caller and the operation allows.
6. Operations on no key (CreateKey...) and the alias half of alias operations: IAM policies alone.
7. Otherwise the key policy is required. A statement naming the caller allows directly (a role ARN
   or "*" only within the permissions boundary and session policy; a user or session ARN even
   outside them); a statement naming the caller's account delegates to the account's IAM policies;
   cross-account, both the key policy and the caller's identity policies must allow.

Symbolic (IaC) values never lead to a guess: the decision is computed for every value of the
unknown facts, and when the answers differ the outcome is ``Unresolved`` with ``depends_on``.

Speed (every cache below is keyed by everything its value depends on, holds the objects whose
ids it uses, and is bounded):
- each ``Policy`` object is compiled once per trace source (actions lower-cased, wildcards as
  regexes, a ``_Plan`` per action), and trace entries that do not depend on the request are built
  once;
- what a decision does apart from reading policies -- the errors KMS answers first, which policies
  apply, the shape of the combination -- is planned once per (inputs object, caller's principal
  fields, action, resource) (``_DecisionPlan``);
- a policy's verdict (its deny, allow, trace entries) is memoised per (action, resource, caller's
  principal fields, values of the context keys its conditions read) when nothing else can change it;
- each request's context is built once (``Request._condition_context``), each caller's implied
  keys once per caller value (``conditions.caller_context``), and the combination of AWS's rules
  once per set of facts (``_resolved``).
"""

from __future__ import annotations

import itertools
import operator
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

from kmsguard.authz import conditions as _conditions
from kmsguard.authz import kms_actions as _kms_actions
from kmsguard.authz.grants import check_grant, grant_label, retire_right
from kmsguard.authz.principals import (
    PrincipalMatch,
    is_service_linked_role,
    match_principal,
    not_principal_excludes,
    parse_caller,
)
from kmsguard.authz.types import (
    AuthzInputs,
    Caller,
    Decision,
    Outcome,
    PrincipalKind,
    Request,
    TraceEntry,
)
from kmsguard.model import Grant, Policy, Statement
from kmsguard.model.values import Template, Unknown

__all__ = [
    "decide",
    "decide_create_grant",
    "decide_pair",
    "decide_reencrypt",
    "parse_caller",
    "validate_key_policy",
]

Tri = bool | None  # True / False / None (depends on symbolic values)

_IAM_KINDS = frozenset(
    {PrincipalKind.USER, PrincipalKind.ROLE, PrincipalKind.ASSUMED_ROLE, PrincipalKind.FEDERATED_USER}
)
_SESSION_KINDS = frozenset({PrincipalKind.ASSUMED_ROLE, PrincipalKind.ROLE, PrincipalKind.FEDERATED_USER})
_MAX_UNKNOWN_FACTS = 12


# -- compiled policies ----------------------------------------------------------------------------


class _Pattern:
    """One Action / Resource element entry, ready to match."""

    __slots__ = ("arn", "depends", "exact", "regex", "symbolic", "variable")

    def __init__(self, value: Any, *, ignore_case: bool, variables: bool = False) -> None:
        self.exact: str | None = None
        # A resource ARN with wildcards, matched per ARN segment by the one ArnLike implementation.
        self.arn: str | None = None
        self.regex: re.Pattern[str] | None = None
        self.symbolic = False
        self.variable = False
        self.depends = ""
        flags = re.S | (re.I if ignore_case else 0)
        if isinstance(value, str):
            text = value.lower() if ignore_case else value
            if variables and "${" in text:
                self.variable = True
                self.exact = value
            elif ("*" in text or "?" in text) and not ignore_case:
                self.arn = text
            elif "*" in text or "?" in text:
                self.regex = re.compile(_wildcard_regex(text), flags)
            else:
                self.exact = text
        else:
            self.symbolic = True
            self.depends = str(value)
            if isinstance(value, Template):
                literal = "".join(
                    _wildcard_regex(p.lower() if ignore_case else p) if isinstance(p, str) else ".*"
                    for p in value.parts
                )
                self.regex = re.compile(literal, flags)


def _wildcard_regex(text: str) -> str:
    return "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in text)


class _Element:
    """A compiled Action/NotAction or Resource/NotResource element."""

    __slots__ = ("any", "depends", "exact", "has_variables", "memo", "negated", "patterns", "unknown")

    def __init__(self, values: Any, negated: bool, *, ignore_case: bool, variables: bool = False) -> None:
        self.negated = negated
        self.unknown = isinstance(values, Unknown)
        self.depends: tuple[str, ...] = (values.ref,) if isinstance(values, Unknown) else ()
        items = () if self.unknown or values is None else values
        self.any = any(isinstance(v, str) and v == "*" for v in items)
        compiled = [_Pattern(v, ignore_case=ignore_case, variables=variables) for v in items]
        self.exact = frozenset(p.exact for p in compiled if p.exact is not None and not p.variable)
        self.patterns = tuple(p for p in compiled if p.exact is None or p.variable)
        self.has_variables = any(p.variable for p in compiled)
        self.memo: dict[str, tuple[Tri, tuple[str, ...]]] = {}


@dataclass(frozen=True)
class _CStatement:
    stmt: Statement
    effect: str | None  # "Allow", "Deny", or None when symbolic
    effect_depends: tuple[str, ...]
    action: _Element | None
    resource: _Element | None
    has_conditions: bool
    # The lower-cased keys the Condition block reads, when its outcome depends on nothing else (no
    # policy variables, no symbolic parts): outcomes are then memoised by those keys' values.
    condition_keys: tuple[str, ...] | None
    label: str
    shown_effect: str
    not_action: TraceEntry
    not_resource: TraceEntry
    not_principal: TraceEntry
    matched: TraceEntry
    # Principal matches by (``Caller._principal_key``, boundary attached): the caller fields that
    # principal matching reads.
    principal_memo: dict[tuple[Any, bool], tuple[Any, ...]] = field(default_factory=dict, compare=False)
    entries: dict[tuple[bool, str], TraceEntry] = field(default_factory=dict, compare=False)
    condition_memo: dict[tuple[Any, ...], tuple[Any, TraceEntry]] = field(default_factory=dict, compare=False)

    def entry(self, matched: bool, reason: str) -> TraceEntry:
        """The trace entry for a condition outcome; reasons repeat, so entries are built once."""
        key = (matched, reason)
        found = self.entries.get(key)
        if found is None:
            found = TraceEntry(self.matched.source, self.label, self.shown_effect, matched, reason)
            if len(self.entries) < 256:
                self.entries[key] = found
        return found


@dataclass(frozen=True)
class _CPolicy:
    statements: tuple[_CStatement, ...]
    unresolved: tuple[str, ...]
    # IAM User Guide, "IAM policy elements: Variables and tags": policy variables work only with
    # Version 2012-10-17; otherwise "${aws:username}" is a literal string.
    variables: bool
    # Per lower-cased action: each statement, or its prebuilt "action does not match" trace entry
    # when its Action element certainly excludes the action.
    plans: dict[str, _Plan] = field(default_factory=dict, compare=False)

    def plan(self, action_lc: str) -> _Plan:
        """Per statement: (0, its "action does not match" entry), (1, statement) when the Action
        element certainly covers the action, or (2, statement) when it must be checked per request."""
        found = self.plans.get(action_lc)
        if found is None:
            steps: list[tuple[int, Any]] = []
            for cs in self.statements:
                element = cs.action
                if element is None or element.unknown or element.has_variables:
                    steps.append((2, cs))
                    continue
                hit = _match_element_uncached(element, action_lc)[0]
                if hit is None:
                    steps.append((2, cs))
                elif hit is not element.negated:
                    steps.append((1, cs))
                else:
                    steps.append((0, cs.not_action))
            found = _Plan(tuple(steps), _plan_memo_keys(steps))
            if len(self.plans) < 512:
                self.plans[action_lc] = found
        return found


@dataclass(frozen=True)
class _Plan:
    """The statements of one policy for one action, and how its verdicts are memoised: by resource,
    the caller's ``_principal_key`` (what principal matching reads), boundary, principal matching and
    the values of ``memo_keys`` (the keys the Condition blocks read); None when a verdict can depend
    on anything else (symbolic elements, policy variables)."""

    steps: tuple[tuple[int, Any], ...]
    memo_keys: tuple[str, ...] | None
    memo: dict[tuple[Any, ...], _Verdict] = field(default_factory=dict, compare=False)


def _plan_memo_keys(steps: list[tuple[int, Any]]) -> tuple[str, ...] | None:
    keys: list[str] = []
    for step, cs in steps:
        if step == 0:
            continue
        if step == 2:
            return None
        resource = cs.resource
        if resource is not None and (resource.unknown or resource.has_variables):
            return None
        if resource is not None and any(p.symbolic for p in resource.patterns):
            return None
        if cs.has_conditions:
            if cs.condition_keys is None:
                return None
            keys.extend(cs.condition_keys)
    return tuple(dict.fromkeys(keys))


# Compiled policies by (id(policy), trace source): the source names the policy in trace entries built
# once (the same Policy object can be an identity policy and a boundary). The entry holds the
# policy, so its id is not reused while cached.
_CACHE: dict[tuple[int, str], tuple[Policy, _CPolicy]] = {}
_CACHE_LIMIT = 4096


# A policy variable: ${name} or ${name, 'default'} (IAM User Guide, "IAM policy elements: Variables
# and tags"); ${*}, ${?} and ${$} are escapes for literal characters.
_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_ESCAPES = frozenset({"*", "?", "$"})


def _memo_keys(conditions: Any, variables: bool) -> tuple[str, ...] | None:
    """The request-context keys a Condition block can read: its condition keys and the keys its
    policy variables name. None when that is not knowable (symbolic keys or values)."""
    if isinstance(conditions, Unknown) or not conditions:
        return None
    keys: list[str] = []
    for condition in conditions:
        if not isinstance(condition.key, str) or isinstance(condition.values, Unknown):
            return None
        keys.append(condition.key.lower())
        for value in condition.values:
            if not isinstance(value, (str, bool, int, float)):
                return None
            if variables and isinstance(value, str) and "${" in value:
                for inside in _VARIABLE.findall(value):
                    name = inside.split(",", 1)[0].strip()
                    if name not in _ESCAPES:
                        keys.append(name.lower())
    return tuple(dict.fromkeys(keys))


def _compiled(policy: Policy, source: str) -> _CPolicy:
    """The policy compiled once per trace source; keyed by object identity (the entry keeps the
    policy alive, so an id is never reused while cached)."""
    hit = _CACHE.get((id(policy), source))
    if hit is not None and hit[0] is policy:
        return hit[1]
    if len(_CACHE) >= _CACHE_LIMIT:
        _CACHE.clear()
    variables = policy.version != "2008-10-17" and policy.version is not None
    statements = []
    for stmt in policy.statements:
        effect = stmt.effect if isinstance(stmt.effect, str) else None
        label = stmt.sid or f"#{stmt.index + 1}"
        shown = effect or str(stmt.effect)
        if stmt.actions is not None:
            action = _Element(stmt.actions, False, ignore_case=True)
        elif stmt.not_actions is not None:
            action = _Element(stmt.not_actions, True, ignore_case=True)
        else:
            # No Action nor NotAction: a grammar error the policy builder reports; the statement
            # covers no action. (A missing Resource is read as the key policy's "*", this key.)
            action = _Element((), False, ignore_case=True)
        if stmt.resources is not None:
            resource = _Element(stmt.resources, False, ignore_case=False, variables=variables)
        elif stmt.not_resources is not None:
            resource = _Element(stmt.not_resources, True, ignore_case=False, variables=variables)
        else:
            resource = None
        statements.append(
            _CStatement(
                stmt=stmt,
                effect=effect,
                effect_depends=() if effect else (str(stmt.effect),),
                action=action,
                resource=resource,
                has_conditions=isinstance(stmt.conditions, Unknown) or bool(stmt.conditions),
                condition_keys=_memo_keys(stmt.conditions, variables),
                label=label,
                shown_effect=shown,
                not_action=TraceEntry(source, label, shown, False, "action does not match"),
                not_resource=TraceEntry(source, label, shown, False, "resource does not match"),
                not_principal=TraceEntry(source, label, shown, False, "principal does not match the caller"),
                matched=TraceEntry(source, label, shown, True, "matched"),
            )
        )
    compiled = _CPolicy(tuple(statements), tuple(u.ref for u in policy.unresolved), variables)
    _CACHE[(id(policy), source)] = (policy, compiled)
    return compiled


# -- matching -------------------------------------------------------------------------------------


def _match_element(element: _Element, value: str, request: Request, depends: list[str]) -> Tri:
    """Whether the element (Action or Resource, possibly negated) covers the value. Results that do
    not depend on policy variables are memoised per element (actions and keys repeat)."""
    if element.unknown:
        depends.extend(element.depends)
        return None
    memo = element.memo.get(value)
    if memo is None:
        memo = _match_element_uncached(element, value)
        if len(element.memo) < 1024:
            element.memo[value] = memo
    hit, found_depends = memo
    if hit is False and element.has_variables:
        context = request._condition_context[0]
        for pattern in element.patterns:
            if pattern.variable:
                text = _conditions.substitute_variables(pattern.exact or "", context)
                if text is not None and _resource_like(text, value):
                    hit = True
                    break
    if hit is None:
        depends.extend(found_depends)
        return None
    return (not hit) if element.negated else hit


def _match_element_uncached(element: _Element, value: str) -> tuple[Tri, tuple[str, ...]]:
    if element.any or value in element.exact:
        return True, ()
    hit: Tri = False
    found: list[str] = []
    for pattern in element.patterns:
        if pattern.variable:
            continue
        if pattern.symbolic:
            if pattern.regex is None or pattern.regex.fullmatch(value):
                hit = None
                found.append(pattern.depends)
        elif pattern.arn is not None:
            if _resource_like(pattern.arn, value):
                return True, ()
        elif pattern.regex is not None and pattern.regex.fullmatch(value):
            return True, ()
    return hit, tuple(found)


def _resource_like(pattern: str, value: str) -> bool:
    return pattern == "*" or _conditions.arn_like(pattern, value)


class _Facts:
    """What the policies say, as three-valued facts; combined by ``_combine``. A plain class with
    class-level defaults: creating one costs nothing until a fact is set (hot path)."""

    deny: Tri = False
    scp: Tri = True
    rcp: Tri = True
    kp_direct: Tri = False
    kp_role: Tri = False
    kp_wild: Tri = False
    kp_account: Tri = False
    identity: Tri = False
    boundary: Tri = True
    session: Tri = True
    grant: Tri = False
    grant_iam: Tri = False


_FACT_NAMES = (
    "deny",
    "scp",
    "rcp",
    "kp_direct",
    "kp_role",
    "kp_wild",
    "kp_account",
    "identity",
    "boundary",
    "session",
    "grant",
    "grant_iam",
)
_FACT_VALUES = operator.attrgetter(*_FACT_NAMES)


def _or(a: Tri, b: Tri) -> Tri:
    if a is True or b is True:
        return True
    if a is None or b is None:
        return None
    return False


def _and(a: Tri, b: Tri) -> Tri:
    if a is False or b is False:
        return False
    if a is None or b is None:
        return None
    return True


class _Verdict(NamedTuple):
    """One policy's verdict for one request: its explicit deny and allow; for a policy with a
    Principal element, the allow per way a statement names the caller (``PrincipalMatch``); and the
    trace entries and ``depends_on`` refs it contributes. Immutable, so a memoised one is shared."""

    deny: Tri
    allow: Tri
    direct: Tri
    role: Tri
    wild: Tri
    account: Tri
    trace: tuple[TraceEntry, ...]
    depends: tuple[str, ...]


def _unknown_policy(source: str, with_principal: bool) -> _Verdict:
    """A policy that is not known (an IaC value that did not resolve): every fact depends on it."""
    kinds: Tri = None if with_principal else False
    return _Verdict(
        None if with_principal else False,
        None,
        kinds,
        kinds,
        kinds,
        kinds,
        (TraceEntry(source, "", "", False, "policy not known"),),
        (source,),
    )


class _PolicyStep(NamedTuple):
    """One policy as a decision reads it: compiled, with its plan for the action (both None when the
    policy is not known), and how it is matched."""

    policy: Policy | None
    source: str
    compiled: _CPolicy | None
    plan: _Plan | None
    with_principal: bool
    boundary_attached: bool
    check_resource: bool


def _policy_step(
    policy: Policy | None,
    source: str,
    action_lc: str,
    *,
    with_principal: bool,
    boundary_attached: bool = False,
    check_resource: bool = True,
) -> _PolicyStep:
    if policy is None:
        return _PolicyStep(None, source, None, None, with_principal, boundary_attached, check_resource)
    hit = _CACHE.get((id(policy), source))
    compiled = hit[1] if hit is not None and hit[0] is policy else _compiled(policy, source)
    plan = compiled.plans.get(action_lc)
    if plan is None:
        plan = compiled.plan(action_lc)
    return _PolicyStep(policy, source, compiled, plan, with_principal, boundary_attached, check_resource)


def _evaluate_policy(
    policy: Policy | None,
    source: str,
    request: Request,
    action_lc: str,
    *,
    with_principal: bool,
    boundary_attached: bool = False,
    check_resource: bool = True,
) -> _Verdict:
    """One policy's explicit deny and allow for the request, each statement traced."""
    step = _policy_step(
        policy,
        source,
        action_lc,
        with_principal=with_principal,
        boundary_attached=boundary_attached,
        check_resource=check_resource,
    )
    return _verdict(step, request, action_lc)


def _verdict(step: _PolicyStep, request: Request, action_lc: str) -> _Verdict:
    """``_evaluate_policy`` for a resolved step.

    Memoised per (policy, source, action) plan, as ``_Plan`` says, when nothing else can change the
    verdict."""
    plan = step.plan
    if plan is None:
        return _unknown_policy(step.source, step.with_principal)
    caller = request.caller
    resource = request.resource if step.check_resource else None
    keys = plan.memo_keys
    memo_key: tuple[Any, ...] | None = None
    if keys is not None:
        if keys:
            context, odd = request._condition_context
            # An unresolved context value (a tuple subclass equal to ()) is not memoised by value.
            if not odd or odd.isdisjoint(keys):
                memo_key = (
                    resource,
                    caller._principal_key,
                    step.boundary_attached,
                    step.with_principal,
                    tuple(map(context.get, keys)),
                )
        else:
            memo_key = (resource, caller._principal_key, step.boundary_attached, step.with_principal)
        if memo_key is not None:
            found = plan.memo.get(memo_key)
            if found is not None:
                return found
    verdict = _evaluate_statements(
        step.compiled,  # type: ignore[arg-type]
        plan,
        step.source,
        request,
        action_lc,
        caller,
        resource,
        step.with_principal,
        step.boundary_attached,
    )
    if memo_key is not None:
        if len(plan.memo) >= 1024:
            plan.memo.clear()
        plan.memo[memo_key] = verdict
    return verdict


def _evaluate_statements(
    compiled: _CPolicy,
    plan: _Plan,
    source: str,
    request: Request,
    action_lc: str,
    caller: Caller,
    resource: str | None,
    with_principal: bool,
    boundary_attached: bool,
) -> _Verdict:
    """``_evaluate_policy`` without the memo: every statement of the plan, in order."""
    principal_key = (caller._principal_key, boundary_attached)
    trace: list[TraceEntry] = []
    depends: list[str] = []
    append = trace.append
    deny: Tri = False
    allow: Tri = False
    by_kind: dict[PrincipalMatch, Tri] | None = {} if with_principal else None
    for step, cs in plan.steps:
        if step == 0:
            append(cs)
            continue
        local: list[str] = []
        matched: Tri = True
        if step == 2 and cs.action is not None:
            matched = _match_element(cs.action, action_lc, request, local)
            if matched is False:
                append(cs.not_action)
                continue
        element = cs.resource
        if element is not None and resource is not None and not (element.any and not element.negated):
            found = _match_element(element, resource, request, local)
            if found is False:
                append(cs.not_resource)
                continue
            if found is None:
                matched = None
        kinds: tuple[tuple[PrincipalMatch, Tri], ...] = ()
        if with_principal:
            memo = cs.principal_memo.get(principal_key)
            if memo is not None:
                found, kinds = memo
            else:
                found, kinds = _principal_match(cs, caller, boundary_attached)
                if len(cs.principal_memo) >= 256:
                    cs.principal_memo.clear()
                cs.principal_memo[principal_key] = (found, kinds)
            if found is False:
                append(cs.not_principal)
                continue
            if found is None:
                local.extend(_principal_refs(cs.stmt) or (f"principal of {source} {cs.label}",))
                matched = None
        entry = cs.matched
        if cs.has_conditions:
            outcome, condition_entry = _condition_outcome(cs, request, compiled.variables)
            if outcome.matched is False:
                append(condition_entry)
                continue
            if outcome.matched is None:
                local.extend(outcome.depends_on or (outcome.reason,))
                matched = None
            else:
                entry = condition_entry
        effect = cs.effect
        if effect is None:
            local.extend(cs.effect_depends)
        if matched is None or effect is None:
            depends.extend(local)
            append(
                TraceEntry(
                    source, cs.label, cs.shown_effect, False, "may match: depends on " + ", ".join(local)
                )
            )
            strength: Tri = None
        else:
            append(entry)
            strength = True
        if effect == "Deny":
            if deny is not True:
                deny = strength
        elif effect == "Allow" or effect is None:
            if effect is None and deny is not True:
                deny = None
            if allow is not True:
                allow = strength
            if by_kind is not None:
                for kind, how in kinds:
                    if by_kind.get(kind) is not True:
                        by_kind[kind] = True if (strength is True and how is True) else None
    if compiled.unresolved:
        depends.extend(compiled.unresolved)
        append(TraceEntry(source, "", "", False, "statements not known: " + ", ".join(compiled.unresolved)))
        deny = _or(deny, None)
        allow = _or(allow, None)
        if by_kind is not None:
            for kind in PrincipalMatch:
                if kind is not PrincipalMatch.NONE:
                    by_kind[kind] = _or(by_kind.get(kind, False), None)
    if by_kind:
        get = by_kind.get
        direct, role, wild, account = (
            get(PrincipalMatch.DIRECT, False),
            get(PrincipalMatch.ROLE, False),
            get(PrincipalMatch.WILDCARD, False),
            get(PrincipalMatch.ACCOUNT, False),
        )
    else:
        direct = role = wild = account = False
    return _Verdict(deny, allow, direct, role, wild, account, tuple(trace), tuple(depends))


def _condition_outcome(cs: _CStatement, request: Request, variables: bool) -> tuple[Any, TraceEntry]:
    """The statement's Condition outcome (``conditions.evaluate_conditions``) and its trace entry,
    memoised by the values of the keys the block reads when nothing else can change it."""
    context, odd = request._condition_context
    keys = cs.condition_keys
    memo_key: tuple[Any, ...] | None = None
    # An unresolved context value (a tuple subclass equal to ()) is not memoised by value.
    if keys is not None and (not odd or odd.isdisjoint(keys)):
        memo_key = tuple(map(context.get, keys))
        hit = cs.condition_memo.get(memo_key)
        if hit is not None:
            return hit
    outcome = _conditions.evaluate_conditions(cs.stmt.conditions, context, policy_variables=variables)
    result = (outcome, cs.entry(bool(outcome.matched), outcome.reason))
    if memo_key is not None:
        if len(cs.condition_memo) >= 256:
            cs.condition_memo.clear()
        cs.condition_memo[memo_key] = result
    return result


_ALL_KINDS = (PrincipalMatch.DIRECT, PrincipalMatch.ROLE, PrincipalMatch.WILDCARD, PrincipalMatch.ACCOUNT)
_ANY_KIND_MAYBE: tuple[tuple[PrincipalMatch, Tri], ...] = tuple((k, None) for k in _ALL_KINDS)
_WILD_YES: tuple[tuple[PrincipalMatch, Tri], ...] = ((PrincipalMatch.WILDCARD, True),)
_WILD_MAYBE: tuple[tuple[PrincipalMatch, Tri], ...] = ((PrincipalMatch.WILDCARD, None),)


def _principal_refs(stmt: Statement) -> tuple[str, ...]:
    """What a statement's symbolic principals refer to, for ``depends_on``."""
    entries = stmt.principals if stmt.principals is not None else stmt.not_principals
    if isinstance(entries, Unknown):
        return (entries.ref,)
    if not entries:
        return ()
    refs: list[str] = []
    for principal in entries:
        value = principal.value
        if isinstance(value, Unknown):
            refs.append(value.ref)
        elif not isinstance(value, str):
            refs.append(str(value))
    return tuple(refs)


def _principal_match(
    cs: _CStatement, caller: Caller, boundary_attached: bool
) -> tuple[Tri, tuple[tuple[PrincipalMatch, Tri], ...]]:
    """Whether the statement's Principal / NotPrincipal covers the caller, and in which ways."""
    stmt = cs.stmt
    if stmt.principals is not None:
        if isinstance(stmt.principals, Unknown):
            return None, _ANY_KIND_MAYBE
        kinds: dict[PrincipalMatch, Tri] = {}
        maybe = False
        for principal in stmt.principals:
            found = match_principal(principal, caller)
            if found is None:
                maybe = True
            elif found is not PrincipalMatch.NONE:
                kinds[found] = True
        if maybe:
            for kind in _ALL_KINDS:
                kinds.setdefault(kind, None)
        if not kinds:
            return False, ()
        return (True if True in kinds.values() else None), tuple(kinds.items())
    if stmt.not_principals is not None:
        # IAM User Guide, "Permissions boundaries for IAM entities": "The NotPrincipal element with a
        # Deny effect will always deny any IAM principal that has a permissions boundary policy
        # attached, regardless of the values specified in the NotPrincipal element."
        if boundary_attached and cs.effect == "Deny" and caller.kind in _IAM_KINDS:
            return True, _WILD_YES
        if isinstance(stmt.not_principals, Unknown):
            return None, _WILD_MAYBE
        excluded = not_principal_excludes(stmt.not_principals, caller)
        if excluded is None:
            return None, _WILD_MAYBE
        return (False, ()) if excluded else (True, _WILD_YES)
    # A key policy statement without a principal is malformed (the policy builder reports it);
    # it names no one.
    return False, ()


# -- the decision ---------------------------------------------------------------------------------


# Enum members as module constants: the combination rule runs once per decision (hot path).
_ALLOW = Outcome.ALLOW
_EXPLICIT_DENY = Outcome.EXPLICIT_DENY
_IMPLICIT_DENY = Outcome.IMPLICIT_DENY
_UNRESOLVED = Outcome.UNRESOLVED
_ERROR = Outcome.ERROR
_SERVICE = PrincipalKind.SERVICE
_ANONYMOUS = PrincipalKind.ANONYMOUS
_ROOT = PrincipalKind.ROOT
_ROLE = PrincipalKind.ROLE


def _combine(f: _Facts, shape: _Shape) -> tuple[Outcome, str]:
    """AWS's evaluation logic on known facts: the outcome and the rule that decided it."""
    if f.deny:
        return _EXPLICIT_DENY, "an explicit Deny applies; an explicit deny in any policy wins"
    if shape.scp_applies and not f.scp:
        return _IMPLICIT_DENY, "an SCP level of the caller's account allows nothing that matches"
    if shape.rcp_applies and not f.rcp:
        return _IMPLICIT_DENY, "an RCP level of the key's account allows nothing that matches"
    if shape.blocked:
        return _IMPLICIT_DENY, (
            "not a cross-account operation: permissions for it on another account's key are not effective"
        )
    within = (f.boundary or not shape.has_boundary) and (f.session or not shape.has_session)
    # Grants are not limited by permissions boundaries or session policies here: the IAM docs cover
    # resource-based policies only (assumption; a grant names its grantee like a key policy naming the
    # caller directly). SCPs and RCPs above do limit them.
    if f.grant:
        return _ALLOW, "a grant allows the operation for the caller"
    if f.grant_iam and f.identity and within:
        return _ALLOW, "a grant to the caller's account, and an identity policy of the account, allow"
    kind = shape.kind
    if shape.iam_only:
        if kind is _ROOT:
            return _ALLOW, "no key policy applies; the root user has full access in its account"
        if kind not in _IAM_KINDS:
            return _IMPLICIT_DENY, "no key policy applies and only IAM policies can allow"
        if not f.identity:
            return _IMPLICIT_DENY, "no key policy applies, and no identity policy allows"
        if not within:
            return (
                _IMPLICIT_DENY,
                "an identity policy allows, but the permissions boundary or session policy does not",
            )
        return _ALLOW, "no key policy applies; an identity policy allows"
    kp_any = f.kp_direct or f.kp_role or f.kp_wild or f.kp_account
    if kind is _SERVICE:
        if f.kp_direct or f.kp_wild:
            return _ALLOW, "the key policy allows the service principal"
        return _IMPLICIT_DENY, "no key policy statement allows the service principal"
    if kind is _ANONYMOUS:
        if f.kp_wild:
            return _ALLOW, 'a key policy statement with Principal "*" allows every caller'
        return _IMPLICIT_DENY, 'only a Principal "*" statement can allow an anonymous caller'
    if kind is _ROOT:
        if kp_any:
            return _ALLOW, "the key policy allows the account, whose root user needs no IAM policy"
        return _IMPLICIT_DENY, "the key policy does not allow the account (root) principal"
    if not shape.same_account:
        if not kp_any:
            return (
                _IMPLICIT_DENY,
                "cross-account: the key policy does not allow the caller or its account",
            )
        if not f.identity:
            return _IMPLICIT_DENY, "cross-account: no identity policy in the caller's account allows"
        if not within:
            return (
                _IMPLICIT_DENY,
                "cross-account: the permissions boundary or session policy does not allow",
            )
        return _ALLOW, "cross-account: the key policy and the caller's identity policy both allow"
    if f.kp_direct and kind is not _ROLE:
        return _ALLOW, (
            "the key policy names the caller's own ARN; boundaries and session policies do not limit it"
        )
    if f.kp_role or f.kp_wild or f.kp_direct:
        if within:
            return _ALLOW, "the key policy allows the caller's role (or every principal)"
        if not f.kp_account or not f.identity:
            return _IMPLICIT_DENY, (
                "the key policy allows the role (or every principal), but the permissions boundary or "
                "session policy does not"
            )
    if f.kp_account:
        if not f.identity:
            return _IMPLICIT_DENY, "the key policy delegates to IAM, but no identity policy allows"
        if not within:
            return (
                _IMPLICIT_DENY,
                "an identity policy allows, but the permissions boundary or session policy does not",
            )
        return _ALLOW, "the key policy delegates to IAM and an identity policy allows"
    return _IMPLICIT_DENY, "the key policy does not allow the caller (a key policy allow is required)"


_RULES: dict[str, TraceEntry] = {}
_IAM_ONLY_ENTRY = TraceEntry(
    "rule", "", "", True, "no key policy applies to this resource; IAM policies alone authorize it"
)


def _rule_entry(rule: str) -> TraceEntry:
    """The trace entry of a rule of AWS's logic; the handful of rule texts are built once."""
    entry = _RULES.get(rule)
    if entry is None:
        entry = TraceEntry("rule", "", "", True, rule)
        if len(_RULES) < 256:
            _RULES[rule] = entry
    return entry


def _resolve(facts: _Facts, shape: _Shape) -> tuple[Outcome, str]:
    """Combine facts; with unknown facts, the outcome every assignment agrees on, else Unresolved."""
    known = _FACT_VALUES(facts)
    if None not in known:
        return _combine(facts, shape)
    names = [n for n, v in zip(_FACT_NAMES, known, strict=True) if v is None]
    if len(names) > _MAX_UNKNOWN_FACTS:
        return Outcome.UNRESOLVED, "too many unknown facts"
    seen: set[Outcome] = set()
    rule = ""
    for values in itertools.product((False, True), repeat=len(names)):
        trial = _Facts()
        for name, value in zip(_FACT_NAMES, known, strict=True):
            setattr(trial, name, value)
        for name, value in zip(names, values, strict=True):
            setattr(trial, name, value)
        outcome, rule = _combine(trial, shape)
        seen.add(outcome)
        if len(seen) > 1:
            return Outcome.UNRESOLVED, "the outcome depends on values not known statically"
    (only,) = seen
    return only, rule + " (whatever the unknown values are)"


# (facts, shape) -> (outcome, rule entry). The combination is a pure function of twelve
# three-valued facts and the request's shape, and real traffic takes a handful of its answers.
_RESOLVED: dict[tuple[Any, ...], tuple[Outcome, TraceEntry]] = {}
_RESOLVED_LIMIT = 4096


def _resolved(known: tuple[Tri, ...], shape: _Shape) -> tuple[Outcome, TraceEntry]:
    """``_resolve`` on facts given in ``_FACT_NAMES`` order, with the rule's trace entry."""
    key = (known, shape)
    hit = _RESOLVED.get(key)
    if hit is None:
        facts = _Facts()
        for name, value in zip(_FACT_NAMES, known, strict=True):
            setattr(facts, name, value)
        outcome, rule = _resolve(facts, shape)
        hit = (outcome, _rule_entry(rule))
        if len(_RESOLVED) >= _RESOLVED_LIMIT:
            _RESOLVED.clear()
        _RESOLVED[key] = hit
    return hit


def decide(inputs: AuthzInputs, request: Request) -> Decision:
    """AWS's decision for one request on one key (or alias), with the trace of how it was reached.

    Operations authorized on two resources (ReEncrypt, alias operations, ReplicateKey) call this
    once per resource; ``decide_pair`` / ``decide_reencrypt`` combine the two.

    ``inputs.scps`` are the caller's account's SCP levels (empty for the management account, which
    SCPs do not affect, or outside an organisation); ``inputs.rcps`` the key's account's RCP levels
    (empty likewise), each level including the AWS-managed FullAWSAccess / RCPFullAWSAccess when it
    is attached. Identity policies, boundary and session policy are the caller's."""
    return _decide(inputs, request, None)


def decide_create_grant(inputs: AuthzInputs, request: Request, new_grant: Grant | None) -> Decision:
    """``decide`` for kms:CreateGrant, knowing the grant being created: a caller whose CreateGrant
    permission comes from a grant may only create grants no wider than that grant."""
    return _decide(inputs, request, new_grant)


class _ActionFacts(NamedTuple):
    """What ``_decide`` needs to know about a request's action string."""

    action_lc: str
    is_kms: bool
    info: Any  # kms_actions' entry; None for an unknown or non-KMS action
    retire: bool  # kms:RetireGrant, which the grant itself authorizes
    no_key: bool  # an operation on no KMS key (CreateKey, ListKeys...): IAM policies alone
    on_alias: bool  # an operation whose resources include an alias (CreateAlias...)
    cross_account: bool
    grant_operation: bool


_ACTIONS: dict[str, _ActionFacts] = {}


def _action_facts(action: str) -> _ActionFacts:
    """``_ActionFacts`` of an action string, remembered (a few dozen exist)."""
    found = _ACTIONS.get(action)
    if found is None:
        action_lc = action.lower()
        is_kms = action_lc.partition(":")[0] == "kms"
        info = _kms_actions.action_info(action) if is_kms else None
        found = _ActionFacts(
            action_lc,
            is_kms,
            info,
            info is not None and info.name == "RetireGrant",
            info is not None and not info.resource_types,
            info is not None and bool(info.resource_types) and "alias" in info.resource_types,
            info is not None and bool(info.cross_account),
            info is not None and bool(info.grant_operation),
        )
        if len(_ACTIONS) < 1024:
            _ACTIONS[action] = found
    return found


def _error(code: str, reason: str, trace: Iterable[TraceEntry] = ()) -> Decision:
    return Decision(Outcome.ERROR, code, (*trace, TraceEntry("rule", "", "", True, reason)))


def _numbered(prefix: str, count: int) -> tuple[str, ...]:
    return tuple(f"{prefix}{number}" for number in range(1, count + 1))


# Trace sources of the first identity policies, built once (a decision names each one it reads).
_IDENTITY_SOURCES = _numbered("identity policy #", 32)


def _evaluate_identity_policies(
    inputs: AuthzInputs,
    request: Request,
    action_lc: str,
    trace: list[TraceEntry],
    depends: list[str],
) -> tuple[Tri, Tri]:
    """The caller's identity policies together: (explicit deny, allow)."""
    deny: Tri = False
    allow: Tri = False
    for number, policy in enumerate(inputs.identity_policies, 1):
        source = _identity_source(number)
        result = _evaluate_policy(policy, source, request, action_lc, with_principal=False)
        trace.extend(result.trace)
        if result.depends:
            depends.extend(result.depends)
        deny = _or(deny, result.deny)
        allow = _or(allow, result.allow)
    return deny, allow


class _Shape(NamedTuple):
    """What the combination rule needs besides the facts."""

    blocked: bool  # a non-cross-account operation on another account's key
    iam_only: bool  # no key policy applies to the resource (CreateKey, the alias of CreateAlias...)
    kind: PrincipalKind
    same_account: bool
    scp_applies: bool
    rcp_applies: bool
    has_boundary: bool
    has_session: bool


class _DecisionPlan(NamedTuple):
    """What a decision does that depends only on the inputs object, the caller's principal fields
    (``Caller._principal_key``), the action and the resource: the answer when KMS rejects the call
    before any policy, which policies apply, and the shape of the combination. The policies'
    verdicts depend on the request context too, so they are not part of it."""

    inputs: AuthzInputs  # held, so that the id in the plan's key is not reused while cached
    early: Decision | None  # the error KMS answers before any policy, or None
    retire: bool  # kms:RetireGrant: decided by ``_decide_retire``
    action_lc: str
    info: Any
    key: _PolicyStep | None  # None when no key policy applies (``_Shape.iam_only``)
    identities: tuple[_PolicyStep, ...]  # the caller's identity policies (IAM principals only)
    boundary: _PolicyStep | None
    session: _PolicyStep | None
    scps: tuple[tuple[_PolicyStep, ...], ...]  # the SCP levels, when SCPs apply
    rcps: tuple[tuple[_PolicyStep, ...], ...]  # the RCP levels, when RCPs apply
    grants: bool  # a grant operation on a key with grants
    shape: _Shape


# _DecisionPlan by (id(inputs), Caller._principal_key, action, resource, resource account); the plan
# holds the inputs, so their id is not reused while cached. Cleared wholesale past the bound.
_PLANS: dict[tuple[Any, ...], _DecisionPlan] = {}
_PLANS_LIMIT = 4096


def _plan_decision(inputs: AuthzInputs, request: Request) -> _DecisionPlan:
    action_lc, is_kms, info, retire, no_key, on_alias, cross_account, grant_operation = _action_facts(
        request.action
    )
    caller = request.caller
    early: Decision | None = None
    other_account = caller.account is not None and caller.account != request.resource_account
    kind = caller.kind
    if is_kms and info is None:
        # KMS rejects operations it does not know (KMS API Reference, "Common Errors").
        early = _error("UnknownOperationException", f"{request.action} is not a KMS operation")
    elif other_account and not request.resource.startswith("arn:"):
        # A key id or alias name is looked up in the caller's own account and Region, so a key of
        # another account is not found (KMS API Reference, "DescribeKey", KeyId: "To specify a KMS key
        # in a different AWS account, you must use the key ARN or alias ARN"; observed as
        # NotFoundException in hashicorp/terraform-provider-aws#30272).
        early = _error("NotFoundException", "a key id names a key in the caller's own account")
    elif is_kms and kind is _ANONYMOUS:
        # Every KMS request must be signed (KMS API Reference, "Common Errors":
        # MissingAuthenticationToken; "Signing AWS API requests"), so no policy is consulted.
        early = _error("MissingAuthenticationToken", "KMS does not accept unsigned (anonymous) requests")
    # KMS API Reference, each operation's "Cross-account use: No. You cannot perform this operation
    # on a KMS key in a different AWS account"; KMS Developer Guide, "Allowing users in other
    # accounts to use a KMS key": cross-account permissions are effective only for the listed
    # operations. The allows are not effective, so the outcome is an implicit deny (explicit denies
    # still show as such); AWS answers AccessDeniedException either way.
    blocked = other_account and info is not None and not cross_account
    # Operations on no KMS key (CreateKey, ListKeys...) and the alias half of alias operations are
    # authorized by IAM policies alone: there is no key policy for them (KMS API Reference, "CreateKey"
    # and "CreateAlias", "Required permissions": "(IAM policy)"; KMS Developer Guide, "Controlling
    # access to aliases").
    iam_only = no_key or (on_alias and ":alias/" in request.resource)
    is_iam = kind in _IAM_KINDS
    # SCPs limit the IAM principals and root user of member accounts, not service-linked roles and
    # not service principals (AWS Organizations User Guide, "Service control policies (SCPs)": "SCPs
    # don't affect service-linked roles"; "SCPs don't affect users or roles in the management
    # account" -- for a management-account caller, the inputs carry no SCPs).
    scp_applies = (is_iam or kind is _ROOT) and bool(inputs.scps) and not is_service_linked_role(caller)
    # RCPs apply to every caller of the key's account's customer managed keys, service principals
    # included (KMS Developer Guide, "Resource control policies in AWS KMS": the second example limits
    # AWS service principals), but not to AWS managed keys ("Resource control policies in your
    # organization do not apply to AWS managed keys") and, as we read AWS Organizations User Guide,
    # "Resource control policies (RCPs)", not to service-linked roles (assumption: not verified here).
    rcp_applies = bool(inputs.rcps) and inputs.key_manager != "AWS" and not is_service_linked_role(caller)
    has_boundary = is_iam and inputs.permission_boundary is not None
    has_session = kind in _SESSION_KINDS and inputs.session_policy is not None
    shape = _Shape(
        bool(blocked), iam_only, kind, not other_account, scp_applies, rcp_applies, has_boundary, has_session
    )
    if early is not None or retire:  # no policy is read through the plan
        return _DecisionPlan(
            inputs, early, retire, action_lc, info, None, (), None, None, (), (), False, shape
        )
    return _DecisionPlan(
        inputs,
        early,
        retire,
        action_lc,
        info,
        None
        if iam_only
        else _policy_step(
            inputs.key_policy, "key policy", action_lc, with_principal=True, boundary_attached=has_boundary
        ),
        tuple(
            _policy_step(policy, _identity_source(number), action_lc, with_principal=False)
            for number, policy in enumerate(inputs.identity_policies, 1)
        )
        if is_iam
        else (),
        _policy_step(inputs.permission_boundary, "permissions boundary", action_lc, with_principal=False)
        if has_boundary
        else None,
        _policy_step(inputs.session_policy, "session policy", action_lc, with_principal=False)
        if has_session
        else None,
        _level_steps(inputs.scps, "SCP", action_lc) if scp_applies else (),
        _level_steps(inputs.rcps, "RCP", action_lc) if rcp_applies else (),
        grant_operation and bool(inputs.grants),
        shape,
    )


def _identity_source(number: int) -> str:
    return _IDENTITY_SOURCES[number - 1] if number <= len(_IDENTITY_SOURCES) else f"identity policy #{number}"


def _level_steps(
    levels: tuple[tuple[Policy, ...], ...], label: str, action_lc: str
) -> tuple[tuple[_PolicyStep, ...], ...]:
    """SCP or RCP levels as steps; RCPs carry a Principal element (always "*" in practice), matched
    like a key policy's."""
    return tuple(
        tuple(
            _policy_step(policy, f"{label} level {level} #{number}", action_lc, with_principal=label == "RCP")
            for number, policy in enumerate(policies, 1)
        )
        for level, policies in enumerate(levels, 1)
    )


def _decide(inputs: AuthzInputs, request: Request, new_grant: Grant | None) -> Decision:
    caller = request.caller
    plan_key = (id(inputs), caller._principal_key, request.action, request.resource, request.resource_account)
    plan = _PLANS.get(plan_key)
    if plan is None or plan.inputs is not inputs:
        plan = _plan_decision(inputs, request)
        if len(_PLANS) >= _PLANS_LIMIT:
            _PLANS.clear()
        _PLANS[plan_key] = plan
    if plan.early is not None:
        return plan.early
    action_lc = plan.action_lc
    if plan.retire:
        return _decide_retire(inputs, request, action_lc)
    shape = plan.shape

    # The facts of AWS's logic (``_FACT_NAMES``), as three-valued locals (hot path).
    deny: Tri = False
    scp: Tri = True
    rcp: Tri = True
    kp_direct: Tri = False
    kp_role: Tri = False
    kp_wild: Tri = False
    kp_account: Tri = False
    identity: Tri = False
    boundary: Tri = True
    session: Tri = True
    grant: Tri = False
    grant_iam: Tri = False
    depends: list[str] = []

    if plan.key is None:
        trace: list[TraceEntry] = [_IAM_ONLY_ENTRY]
    else:
        key_result = _verdict(plan.key, request, action_lc)
        trace = list(key_result.trace)
        if key_result.depends:
            depends.extend(key_result.depends)
        deny = key_result.deny
        kp_direct = key_result.direct
        kp_role = key_result.role
        kp_wild = key_result.wild
        kp_account = key_result.account

    # The caller's identity policies together (for IAM principals only).
    for step in plan.identities:
        result = _verdict(step, request, action_lc)
        trace.extend(result.trace)
        if result.depends:
            depends.extend(result.depends)
        deny = _or(deny, result.deny)
        identity = _or(identity, result.allow)
    # Boundary and session policy limit what identity policies allow (IAM User Guide, "Policy
    # evaluation logic"); their explicit denies count like any other.
    if plan.boundary is not None:
        result = _verdict(plan.boundary, request, action_lc)
        trace.extend(result.trace)
        depends.extend(result.depends)
        deny = _or(deny, result.deny)
        boundary = result.allow
    if plan.session is not None:
        result = _verdict(plan.session, request, action_lc)
        trace.extend(result.trace)
        depends.extend(result.depends)
        deny = _or(deny, result.deny)
        session = result.allow

    if plan.scps:
        scp, level_deny = _evaluate_levels(plan.scps, request, action_lc, trace, depends)
        deny = _or(deny, level_deny)
    if plan.rcps:
        # As AuthzInputs says, every level must allow (AWS Organizations User Guide, "RCP
        # evaluation"); in AWS each level carries the AWS-managed RCPFullAWSAccess, so inputs built
        # from an organisation include it at every level.
        rcp, level_deny = _evaluate_levels(plan.rcps, request, action_lc, trace, depends)
        deny = _or(deny, level_deny)

    if plan.grants:
        info = plan.info
        for one in inputs.grants:
            verdict = check_grant(one, request, info.name, info.takes_encryption_context, new_grant=new_grant)
            trace.append(TraceEntry(verdict.label, "", "Allow", verdict.allowed is True, verdict.reason))
            depends.extend(verdict.depends_on)
            if verdict.needs_iam:
                grant_iam = _or(grant_iam, verdict.allowed)
            else:
                grant = _or(grant, verdict.allowed)

    outcome, rule_entry = _resolved(
        (
            deny,
            scp,
            rcp,
            kp_direct,
            kp_role,
            kp_wild,
            kp_account,
            identity,
            boundary,
            session,
            grant,
            grant_iam,
        ),
        shape,
    )
    trace.append(rule_entry)
    if outcome is _ERROR:  # pragma: no cover - _combine never yields errors
        return Decision(outcome, "AccessDeniedException", tuple(trace))
    # tuple.__new__ skips the NamedTuple's Python-level __new__ (hot path).
    return tuple.__new__(
        Decision,
        (
            outcome,
            None,
            tuple(trace),
            tuple(dict.fromkeys(depends)) if outcome is _UNRESOLVED else (),
        ),
    )


def _evaluate_levels(
    levels: tuple[tuple[_PolicyStep, ...], ...],
    request: Request,
    action_lc: str,
    trace: list[TraceEntry],
    depends: list[str],
) -> tuple[Tri, Tri]:
    """SCPs or RCPs: (every level allows, some level denies). AWS Organizations User Guide, "SCP
    evaluation" / "RCP evaluation": a request must be allowed at every level of the organisation."""
    all_allow: Tri = True
    deny: Tri = False
    for steps in levels:
        level_allow: Tri = False
        for step in steps:
            result = _verdict(step, request, action_lc)
            trace.extend(result.trace)
            depends.extend(result.depends)
            deny = _or(deny, result.deny)
            level_allow = _or(level_allow, result.allow)
        all_allow = _and(all_allow, level_allow)
    return all_allow, deny


def _decide_retire(inputs: AuthzInputs, request: Request, action_lc: str) -> Decision:
    """kms:RetireGrant: the grant decides who may retire it (KMS Developer Guide, "Retiring and
    revoking grants"): its retiring principal, its grantee when the grant includes RetireGrant, and
    the account the grant was created in -- its root user, or principals it delegates to with an IAM
    policy. "The kms:RetireGrant permission alone does not allow principals to retire a grant", so a
    key policy allow is not needed. Explicit denies and SCPs still apply (assumption: the docs do not
    exempt them); RCPs do not ("Resource control policies in AWS KMS": kms:RetireGrant is not
    effective in an RCP).

    The grants considered are those whose tokens the request carries, else every grant of the key."""
    caller = request.caller
    deny: Tri = False
    is_iam = caller.kind in _IAM_KINDS
    key_result = _evaluate_policy(inputs.key_policy, "key policy", request, action_lc, with_principal=True)
    trace = list(key_result.trace)
    depends = list(key_result.depends)
    deny = key_result.deny if inputs.key_policy is not None else False
    identity: Tri = False
    if is_iam:
        identity_deny, identity = _evaluate_identity_policies(inputs, request, action_lc, trace, depends)
        deny = _or(deny, identity_deny)
    scp: Tri = True
    if (is_iam or caller.kind is PrincipalKind.ROOT) and inputs.scps and not is_service_linked_role(caller):
        scp, scp_deny = _evaluate_levels(
            _level_steps(inputs.scps, "SCP", action_lc), request, action_lc, trace, depends
        )
        deny = _or(deny, scp_deny)
    tokens = set(request.grant_tokens)
    grants = [g for g in inputs.grants if tokens & {t for t in g.grant_tokens if isinstance(t, str)}]
    if not grants:
        grants = list(inputs.grants)
    allow: Tri = False
    for grant in grants:
        why, match = retire_right(grant, caller, request.resource_account)
        if match is None:
            allow = _or(allow, None)
            depends.append(f"principals of {grant_label(grant)}")
            trace.append(
                TraceEntry(grant_label(grant), "", "Allow", False, f"{why}: depends on symbolic values")
            )
            continue
        if match is PrincipalMatch.NONE:
            trace.append(
                TraceEntry(grant_label(grant), "", "Allow", False, "the caller may not retire this grant")
            )
            continue
        if why == "account" and caller.kind is not PrincipalKind.ROOT:
            granted = identity
            reason = "the grant's account may retire it; delegated by an identity policy"
        else:
            granted = True
            reason = f"the caller is the grant's {why}"
        allow = _or(allow, granted)
        trace.append(TraceEntry(grant_label(grant), "", "Allow", granted is True, reason))
    if deny is True:
        outcome, rule = Outcome.EXPLICIT_DENY, "an explicit Deny applies"
    elif scp is False:
        outcome, rule = Outcome.IMPLICIT_DENY, "an SCP level allows nothing that matches"
    elif allow is True and deny is False and scp is True:
        outcome, rule = Outcome.ALLOW, "the grant lets the caller retire it"
    elif allow is False:
        outcome, rule = Outcome.IMPLICIT_DENY, "no grant of the key lets the caller retire it"
    else:
        outcome, rule = Outcome.UNRESOLVED, "depends on values not known statically"
    trace.append(TraceEntry("rule", "", "", True, rule))
    return Decision(
        outcome, None, tuple(trace), tuple(dict.fromkeys(depends)) if outcome is Outcome.UNRESOLVED else ()
    )


# -- operations authorized twice -------------------------------------------------------------------


def decide_pair(first: tuple[AuthzInputs, Request], second: tuple[AuthzInputs, Request]) -> Decision:
    """An operation that needs two authorizations (KMS Developer Guide, "ReEncrypt": kms:ReEncryptFrom
    on the source key and kms:ReEncryptTo on the destination key; "Controlling access to aliases":
    CreateAlias / UpdateAlias / DeleteAlias need permission on the alias and on the key; KMS API
    Reference, "ReplicateKey": kms:ReplicateKey on the primary key and kms:CreateKey in the replica's
    Region). Both must allow; the first that does not decides, and the traces are joined."""
    decisions = [decide(inputs, request) for inputs, request in (first, second)]
    trace: list[TraceEntry] = []
    for number, (decision, (_, request)) in enumerate(zip(decisions, (first, second), strict=True), 1):
        trace.append(
            TraceEntry(
                "rule", "", "", True, f"authorization {number}: {request.action} on {request.resource}"
            )
        )
        trace.extend(decision.trace)
    for decision in decisions:
        if decision.outcome is Outcome.ERROR:
            return Decision(decision.outcome, decision.error_code, tuple(trace))
    for wanted in (Outcome.EXPLICIT_DENY, Outcome.IMPLICIT_DENY):
        for decision in decisions:
            if decision.outcome is wanted:
                return Decision(wanted, None, tuple(trace))
    if any(d.outcome is Outcome.UNRESOLVED for d in decisions):
        depends = tuple(dict.fromkeys(x for d in decisions for x in d.depends_on))
        return Decision(Outcome.UNRESOLVED, None, tuple(trace), depends)
    return Decision(Outcome.ALLOW, None, tuple(trace))


def decide_reencrypt(
    source: AuthzInputs,
    destination: AuthzInputs,
    request: Request,
    destination_key: str,
    destination_account: str,
) -> Decision:
    """ReEncrypt: kms:ReEncryptFrom on the source key (``request.resource``) and kms:ReEncryptTo on
    the destination key. ``request.action`` is ignored."""
    from_request = _with(request, action="kms:ReEncryptFrom")
    to_request = _with(
        request, action="kms:ReEncryptTo", resource=destination_key, resource_account=destination_account
    )
    return decide_pair((source, from_request), (destination, to_request))


def _with(request: Request, **changes: Any) -> Request:
    return replace(request, **changes)


# -- key policy validation (PutKeyPolicy / CreateKey) -----------------------------------------------


def validate_key_policy(
    policy: Policy,
    caller: Caller,
    bypass_lockout_check: bool = False,
    key_arn: str | None = None,
    inputs: AuthzInputs | None = None,
) -> Decision | None:
    """The checks KMS makes before it accepts a key policy; None when it accepts it.

    - OverlyPermissiveCondition: KMS Developer Guide, "AWS KMS condition keys", "Using set operators
      with condition keys": KMS rejects a key policy with an Allow statement that uses
      kms:EncryptionContext:<key> or aws:RequestTag/<key> with the ForAllValues set operator.
    - Lockout safety check: KMS API Reference, "PutKeyPolicy" / "CreateKey",
      BypassPolicyLockoutSafetyCheck: unless bypassed, the new policy must allow the principal making
      the request to make a subsequent PutKeyPolicy request on the key. With ``inputs`` (the caller's
      identity policies, boundary, SCPs...), that subsequent request is decided in full with the new
      key policy. Without them the caller's IAM policies are not known, and a statement for the
      caller's account counts as allowing (assumption: it enables the account's IAM policies, and the
      default key policy passes the check).
    Both are reported as MalformedPolicyDocumentException."""
    for stmt in policy.statements:
        if stmt.effect != "Allow" or isinstance(stmt.conditions, Unknown):
            continue
        for condition in stmt.conditions:
            key = condition.key_name
            if condition.set_qualifier == "ForAllValues" and (
                key.startswith("kms:encryptioncontext:") or key.startswith("aws:requesttag/")
            ):
                label = stmt.sid or f"#{stmt.index + 1}"
                return _error(
                    "MalformedPolicyDocumentException",
                    f"OverlyPermissiveCondition: statement {label} uses ForAllValues with {condition.key}",
                    (TraceEntry("key policy", label, "Allow", True, "ForAllValues on a single-valued key"),),
                )
    if bypass_lockout_check:
        return None
    account = caller.account or ""
    if inputs is not None:
        later = Request("kms:PutKeyPolicy", caller, key_arn or "*", account)
        decision = decide(replace(inputs, key_policy=policy), later)
        if decision.outcome is Outcome.ALLOW:
            return None
        if decision.outcome is Outcome.UNRESOLVED:
            return decision
        return _error(
            "MalformedPolicyDocumentException",
            "lockout safety check: with the new key policy the caller could not call PutKeyPolicy again",
            decision.trace,
        )
    request = Request(
        action="kms:PutKeyPolicy",
        caller=caller,
        resource=key_arn or "*",
        resource_account=account,
    )
    # Before CreateKey the key has no ARN yet: without ``key_arn`` the Resource element is not checked.
    result = _evaluate_policy(
        policy,
        "key policy",
        request,
        "kms:putkeypolicy",
        with_principal=True,
        check_resource=key_arn is not None,
    )
    trace = list(result.trace)
    depends = result.depends
    allowed = _and(result.allow, None if result.deny is None else not result.deny)
    if allowed is True:
        return None
    if allowed is None:
        trace.append(
            TraceEntry("rule", "", "", True, "lockout safety check depends on values not known statically")
        )
        return Decision(Outcome.UNRESOLVED, None, tuple(trace), tuple(dict.fromkeys(depends)))
    return _error(
        "MalformedPolicyDocumentException",
        "lockout safety check: the new key policy does not allow the caller kms:PutKeyPolicy",
        trace,
    )
