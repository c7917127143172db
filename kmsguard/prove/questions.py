"""Questions about every request on a key: ``public``, ``external``, ``who_can``, ``lockout``
(questions about two requests of one caller are in ``control``; about two policies, ``compare``).

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
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
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
    encode_for_question,
    key_actions,
    witness_inputs,
    witness_request,
)
from kmsguard.prove.encode_grants import grant_literals

__all__ = [
    "DETAILED_CLASSES",
    "WHO_CAN_CLASSES",
    "CallerClass",
    "ProofResult",
    "ProverError",
    "external",
    "lockout",
    "over_kinds",
    "public",
    "summarize",
    "who_can",
]

# The time a question may take (all kinds of callers, all candidate witnesses): past it, the answer
# is "unknown", never "no".
TIMEOUT_MS = 10_000
# z3's resource units per solver check: the budget that decides "unknown" in practice, the same on
# every machine and under any load (the clock above only guards against a runaway). Three million
# units are a few seconds of the slowest checks measured here; the corpus's questions need far less.
RLIMIT = 3_000_000
# Callers a foreign account can field: its root user, IAM users, role sessions, federated users.
# (A role ARN as the caller, ``Kind.ROLE``, is the simulator's shorthand for a session of it.)
FOREIGN_KINDS = (Kind.ROOT, Kind.USER, Kind.ASSUMED_ROLE, Kind.FEDERATED_USER)
# Every caller that could manage a key: those of any account, and AWS services.
MANAGING_KINDS = (*FOREIGN_KINDS, Kind.SERVICE)
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
    # Questions about two requests of one caller (``admin-usage``) give {"principal", "requests"};
    # answers summing up several classes of callers (``summarize``) give a list, one entry a class.
    witness_case: dict[str, Any] | list[dict[str, Any]] | None = field(default=None, compare=False)
    # Whether the witness needs an identity policy of the caller's account allowing the action.
    needs_identity_policy: bool = False
    # Every request of the witness, when it is more than one (the first is ``witness``).
    witnesses: tuple[Request, ...] = field(default=(), compare=False)

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
    rlimit: int | None = None,
    inputs: AuthzInputs | None = None,
) -> ProofResult:
    """Can a principal of an account that the key policy does not name -- a stranger -- or an
    anonymous caller perform one of ``actions`` (default: every action on a key)?

    A stranger's account, organisation and organisation paths are none the policy (or an RCP among
    ``inputs``) names (so a
    Principal "*" restricted to one organisation is not public), its requests carry no VPC, VPC
    endpoint, source account or source organisation the policy names; everything else -- tags, the
    encryption context, kms:ViaService, the source IP -- it chooses. Anonymous callers are never
    allowed: KMS accepts only signed requests (KMS API Reference, "Common Errors",
    MissingAuthenticationToken). Service principals are not asked about here."""
    arn = key_arn or _default_key_arn(key_account)
    named = _literals(key_policy) | grant_literals(inputs.grants if inputs else ())
    # An RCP that names the organisation (or accounts) keeps them out of "strangers" too: a caller
    # its perimeter lets in is not one the key's owners have never heard of.
    for level in inputs.rcps if inputs else ():
        for rcp in level:
            named |= _literals(rcp)
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
    return _ask(
        key_policy, arn, key_account, actions, stranger, subject, timeout_ms, inputs=inputs, rlimit=rlimit
    )


def external(
    key_policy: Policy,
    trusted_accounts: Iterable[str],
    org_id: str | None = None,
    actions: Sequence[str] | None = None,
    *,
    key_account: str,
    key_arn: str | None = None,
    timeout_ms: int = TIMEOUT_MS,
    rlimit: int | None = None,
    inputs: AuthzInputs | None = None,
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
    return _ask(
        key_policy, arn, key_account, actions, outside, subject, timeout_ms, inputs=inputs, rlimit=rlimit
    )


@dataclass(frozen=True)
class CallerClass:
    """A class of callers a question is asked about: the kinds of caller it takes and what else
    holds of them (``constrain`` gives z3 constraints over an encoding)."""

    label: str
    kinds: tuple[Kind, ...]
    constrain: Callable[[Encoding, str], list[z3.BoolRef]]


def _own(enc: Encoding, key_account: str) -> list[z3.BoolRef]:
    return [enc.request.account == _s(key_account)]


def _foreign(enc: Encoding, key_account: str) -> list[z3.BoolRef]:
    return [enc.request.account != _s(key_account)]


def _key_policy_alone(enc: Encoding, key_account: str) -> list[z3.BoolRef]:
    """A caller of the key's account that the key policy lets in without any identity policy."""
    return [*_own(enc, key_account), z3.Not(z3.Bool(IDENTITY_ALLOWS))]


def _through_iam(enc: Encoding, key_account: str) -> list[z3.BoolRef]:
    """A caller of the key's account let in only because an identity policy allows (the key policy
    delegates to the account: KMS Developer Guide, "Default key policy", "Allows access to the AWS
    account and enables IAM policies")."""
    without_iam = z3.substitute(enc.allowed, (z3.Bool(IDENTITY_ALLOWS), FALSE))
    return [*_own(enc, key_account), z3.Bool(IDENTITY_ALLOWS), z3.Not(without_iam)]


_ACCOUNT_IAM = (Kind.USER, Kind.ASSUMED_ROLE, Kind.FEDERATED_USER)
ROOT_OF_KEY_ACCOUNT = CallerClass("the key's account root user", (Kind.ROOT,), _own)
ROOT_OF_ANOTHER_ACCOUNT = CallerClass("another account's root user", (Kind.ROOT,), _foreign)
IAM_OF_ANOTHER_ACCOUNT = CallerClass("IAM principals of another account", _ACCOUNT_IAM, _foreign)
SERVICES = CallerClass("AWS service principals", (Kind.SERVICE,), lambda enc, account: [])
# The classes of ``who_can`` by default (the first increment's).
WHO_CAN_CLASSES = (
    ROOT_OF_KEY_ACCOUNT,
    CallerClass("IAM principals of the key's account", _ACCOUNT_IAM, _own),
    ROOT_OF_ANOTHER_ACCOUNT,
    IAM_OF_ANOTHER_ACCOUNT,
    SERVICES,
)
NAMED_IN_KEY_ACCOUNT = CallerClass(
    "principals of the key's account that the key policy allows by itself", _ACCOUNT_IAM, _key_policy_alone
)
ANY_IAM_OF_KEY_ACCOUNT = CallerClass(
    "any IAM principal of the key's account, given an identity policy allowing it "
    "(the key policy delegates to the account)",
    _ACCOUNT_IAM,
    _through_iam,
)
# ``kmsguard prove --question who-can``: the key's account's IAM principals split by whether the
# key policy lets them in by itself or leaves it to IAM; anonymous callers asked about too.
DETAILED_CLASSES = (
    ROOT_OF_KEY_ACCOUNT,
    NAMED_IN_KEY_ACCOUNT,
    ANY_IAM_OF_KEY_ACCOUNT,
    ROOT_OF_ANOTHER_ACCOUNT,
    IAM_OF_ANOTHER_ACCOUNT,
    SERVICES,
    CallerClass("anonymous callers", (Kind.ANONYMOUS,), lambda enc, account: []),
)


def who_can(
    key_policy: Policy,
    action: str,
    *,
    key_account: str,
    key_arn: str | None = None,
    timeout_ms: int = TIMEOUT_MS,
    classes: Sequence[CallerClass] = WHO_CAN_CLASSES,
    inputs: AuthzInputs | None = None,
) -> dict[str, ProofResult]:
    """Per class of caller -- by default the key's account's root user, its IAM principals (given an
    identity policy allowing), another account's root user and IAM principals, AWS service
    principals; ``DETAILED_CLASSES`` for finer ones -- whether one can perform ``action``, each
    "yes" with a confirmed witness. Each class gets the whole ``timeout_ms``."""
    arn = key_arn or _default_key_arn(key_account)
    return {
        cls.label: _ask(
            key_policy,
            arn,
            key_account,
            [action],
            lambda enc, cls=cls: cls.constrain(enc, key_account),
            cls.label,
            timeout_ms,
            kinds=cls.kinds,
            inputs=inputs,
        )
        for cls in classes
    }


def lockout(
    key_policy: Policy,
    *,
    key_account: str,
    key_arn: str | None = None,
    timeout_ms: int = TIMEOUT_MS,
    rlimit: int | None = None,
    inputs: AuthzInputs | None = None,
) -> ProofResult:
    """Is the key locked out: can no principal call kms:PutKeyPolicy on it any more?

    "yes" carries no witness (it is an unsat proof for every kind of caller of every account); "no"
    carries the witness of a principal that can, confirmed by the simulator. A key policy that
    delegates to the key's account (KMS Developer Guide, "Default key policy", "Allows access to the
    AWS account and enables IAM policies") is not locked out: its root user, and any IAM principal
    an identity policy allows, can change it. source: KMS API Reference, "PutKeyPolicy",
    BypassPolicyLockoutSafetyCheck: the safety check refuses a policy that would make the key
    unmanageable, unless bypassed."""
    arn = key_arn or _default_key_arn(key_account)
    subject = "a principal"
    found = _ask(
        key_policy,
        arn,
        key_account,
        ["kms:PutKeyPolicy"],
        lambda enc: [],
        subject,
        timeout_ms,
        kinds=MANAGING_KINDS,
        rlimit=rlimit,
        inputs=inputs,
    )
    if found.answer == "yes":
        return replace(found, answer="no", explanation="no: the key is not locked out; " + found.explanation)
    if found.answer == "unknown":
        return found
    return ProofResult(
        "yes",
        None,
        (),
        "yes: the key is locked out -- no principal of any account (root user, IAM user, role session, "
        "federated user, AWS service) can call kms:PutKeyPolicy, whatever its identity policies say; "
        "proved for every request",
    )


def summarize(question: str, per_class: Mapping[str, ProofResult]) -> ProofResult:
    """One answer for a question asked per class of callers: "yes" when a class's answer is
    "yes", else "unknown" when one is "unknown", else "no". The witness (JSON) is a list with one
    entry per class whose answer is not "no": {"class", "answer", "witness", "explanation"}."""
    answers = [result.answer for result in per_class.values()]
    answer = "yes" if "yes" in answers else "unknown" if "unknown" in answers else "no"
    entries = [
        {"class": label, "answer": r.answer, "witness": r.witness_case, "explanation": r.explanation}
        for label, r in per_class.items()
        if r.answer != "no"
    ]
    depends = tuple(dict.fromkeys(d for r in per_class.values() for d in r.depends_on))
    lines = "; ".join(f"{label}: {r.answer}" for label, r in per_class.items())
    first = next((r for r in per_class.values() if r.answer == answer), None)
    if answer == "no":
        explanation = f"no: {question} -- for no class of callers ({lines})"
        return ProofResult("no", None, depends, explanation, None)
    explanation = (
        f"{answer}: {question} -- {sum(a == answer for a in answers)} of {len(answers)} classes of callers "
        f"({lines}); the witness is a list, one entry per class that is not ruled out"
    )
    assert first is not None
    return ProofResult(
        answer,
        first.witness,
        depends,
        explanation,
        entries,
        any(r.needs_identity_policy for r in per_class.values() if r.answer == "yes"),
        first.witnesses,
    )


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
    inputs: AuthzInputs | None = None,
    rlimit: int | None = None,
) -> ProofResult:
    infos = _actions(actions)
    what = _actions_text(infos)
    if not infos:
        return ProofResult("no", None, (), f"no: none of the actions is authorized on a key; {subject}")
    deadline = time.monotonic() + timeout_ms / 1000
    return over_kinds(
        kinds,
        lambda kind: _ask_kind(
            key_policy, key_arn, key_account, infos, kind, constrain, deadline, inputs, rlimit
        ),
        f"{subject} can {what}",
        f"no: {subject} cannot {what}",
    )


def over_kinds(
    kinds: Sequence[Kind], ask_kind: Callable[[Kind], ProofResult], whether: str, proved: str
) -> ProofResult:
    """A question asked once per kind of caller: the first "yes"; else "unknown" if a kind is
    undecided (saying on what it depends); else "no", with ``proved`` as the explanation's start.
    ``whether`` is the question as a clause ("a principal outside ... can kms:Decrypt")."""
    depends: list[str] = []
    undecided: list[str] = []
    fallback: ProofResult | None = None
    for kind in kinds:
        result = ask_kind(kind)
        if result.answer == "yes":
            return result
        if result.answer == "unknown":
            depends.extend(result.depends_on)
            undecided.append(kind.principal_kind.value)
            fallback = fallback or result
    if undecided:
        assert fallback is not None
        return replace(
            fallback,
            answer="unknown",
            depends_on=tuple(dict.fromkeys(depends)),
            explanation=f"unknown: whether {whether} depends on {', '.join(dict.fromkeys(depends))} "
            f"(for {', '.join(undecided)} callers){fallback.explanation}",
        )
    kinds_text = ", ".join(k.principal_kind.value for k in kinds)
    return ProofResult(
        "no",
        None,
        (),
        f"{proved} -- proved for every request of every caller kind ({kinds_text}), "
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
    inputs: AuthzInputs | None = None,
    rlimit: int | None = None,
) -> ProofResult:
    """One kind of caller. An "unknown" carries, in its explanation, a sentence to append.
    ``inputs``: the key's grants, RCPs and SCPs (``encode.encode_for_question``)."""
    enc = encode_for_question(key_policy, key_arn, key_account, kind, infos, inputs)
    if enc.allowed is FALSE:
        return ProofResult("no", None, (), "no")
    goal = [enc.allowed, *constrain(enc)]
    solver = z3.Solver()
    solver.add(*enc.domain(), *enc.sent, *goal)

    def confirm(model: z3.ModelRef) -> ProofResult:
        request, case = witness_request(enc.request, model)
        return _confirm(enc, model, key_policy, request, case, inputs)

    return _search(solver, [atom for atom, _ in enc.opaque], enc.opaque, deadline, confirm, rlimit)


def _search(
    solver: z3.Solver,
    atoms: Sequence[z3.BoolRef],
    opaque: Sequence[tuple[z3.BoolRef, tuple[str, ...]]],
    deadline: float,
    confirm: Callable[[z3.ModelRef], ProofResult],
    rlimit: int | None = None,
) -> ProofResult:
    """Solve until ``confirm`` (the simulator) agrees with a model: "yes" with its witness; "no"
    when unsat before any model; "unknown" on a timeout or when every candidate depends on opaque
    atoms. ``confirm`` answers "yes" (confirmed), "unknown" (the simulator's decision depends on
    unknowns) or "no" (the simulator rejects it; its explanation says how). An "unknown" carries,
    in its explanation, a sentence to append.

    ``rlimit``: z3's resource units per check -- a budget that, unlike the clock, gives the same
    answer on every machine and under any load (``deadline`` then only guards against a runaway)."""
    unresolved: ProofResult | None = None
    tried = 0
    solver.set("rlimit", rlimit if rlimit is not None else RLIMIT)
    if atoms:
        # First a witness that relies on no value kmsguard cannot see (every opaque choice false):
        # when one exists the answer is a plain "yes", whichever candidates the solver would have
        # offered first otherwise.
        solver.set("timeout", max(1, int((deadline - time.monotonic()) * 1000)))
        if solver.check(*[z3.Not(atom) for atom in atoms]) == z3.sat:
            result = confirm(solver.model())
            if result.answer == "yes":
                return result
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
            reason = _unknown_reason(solver, deadline)
            return ProofResult("unknown", None, (f"solver: {reason}",), f"; the solver gave up ({reason})")
        if verdict == z3.unsat:
            break
        tried += 1
        model = solver.model()
        result = confirm(model)
        if result.answer == "yes":
            return result
        if not atoms:
            raise ProverError(result.explanation)
        if result.answer == "unknown" and unresolved is None:
            unresolved = result
        # The witness relied on an opaque choice the simulator does not share: exclude that choice.
        solver.add(z3.Or([atom != model.eval(atom, model_completion=True) for atom in atoms]))
    if unresolved is not None:
        return unresolved
    if verdict == z3.unsat and tried == 0:
        return ProofResult("no", None, (), "no")
    if verdict == z3.unknown:
        reason = _unknown_reason(solver, deadline)
        return ProofResult("unknown", None, (f"solver: {reason}",), "; the budget for the question ran out")
    depends = tuple(dict.fromkeys(d for _, refs in opaque for d in refs))
    return ProofResult("unknown", None, depends, "; no candidate request could be confirmed")


def _unknown_reason(solver: z3.Solver, deadline: float) -> str:
    """Which budget ran out: the clock, or z3's resource units (z3 says "canceled" for both)."""
    if time.monotonic() >= deadline - 0.01:
        return "timeout"
    reason = solver.reason_unknown()
    return "resource limit" if reason == "canceled" or "resource limit" in reason else reason


def _confirm(
    enc: Encoding,
    model: Any,
    key_policy: Policy,
    request: Request,
    case: dict[str, Any],
    inputs: AuthzInputs | None = None,
) -> ProofResult:
    """Re-run the witness through the simulator: "yes" when it allows, "unknown" when its decision
    depends on unknowns, "no" (with the disagreement) otherwise."""
    decision, needs_identity = _decide_witness(enc, model, key_policy, request, inputs)
    if decision.outcome is Outcome.UNRESOLVED:
        return ProofResult(
            "unknown",
            request,
            decision.depends_on,
            f"; e.g. the simulator says {decision.label} for {case['principal']} calling {request.action}",
            witness_case=case,
        )
    if decision.outcome is not Outcome.ALLOW:
        return ProofResult(
            "no", None, (), f"the prover allows a request the simulator decides {decision.label}: {case}"
        )
    rule = decision.trace[-1].reason if decision.trace else ""
    extra = " with an identity policy of its account allowing it" if needs_identity else ""
    context = ", ".join(f"{k}={v}" for k, v in case["context"].items())
    explanation = (
        f"yes: {_who(case)} can {request.action}{extra}"
        + (f", with request context {context}" if context else "")
        + f"; the simulator confirms: {rule}"
    )
    return ProofResult("yes", request, (), explanation, case, needs_identity)


def _who(case: dict[str, Any]) -> str:
    who = str(case["principal"])
    if case.get("role_arn"):
        who = f"{who} (a session of {case['role_arn']})"
    return who


def _decide_witness(
    enc: Encoding, model: Any, key_policy: Policy, request: Request, inputs: AuthzInputs | None = None
) -> tuple[Decision, bool]:
    """The simulator's decision on a witness, with an identity policy of the caller allowing the
    action when the model needs one (an IAM caller whose identity policies are not given)."""
    needs_identity = enc.request.kind in IAM_KINDS and (
        z3.is_true(model.eval(z3.Bool(IDENTITY_ALLOWS), model_completion=True))
    )
    identity = (_allow_policy(request.action),) if needs_identity else ()
    return decide(witness_inputs(key_policy, identity, request, inputs), request), needs_identity


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
