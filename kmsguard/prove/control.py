"""Who controls a key: ``admin_usage`` (a principal that can both manage the key and use it
cryptographically) and ``grant_escalation`` (a principal that can give, through a grant, more than
it has). Both are about two requests of one caller (``same_caller``): a "yes" witness is the
caller's requests, each confirmed by ``kmsguard.authz.evaluate.decide``.

The caller's identity policies are not in a key policy. Both requests are asked under one
assumption about them -- they allow every KMS action the caller asks for, or none -- and the answer
says which (``needs_identity_policy``): with "none", the key policy lets the caller in by itself.
Like the rest of this increment: one key policy, no grants, SCPs, RCPs, boundaries or sessions.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import z3

from kmsguard.authz import kms_actions
from kmsguard.authz.types import Outcome
from kmsguard.model.policy import Policy
from kmsguard.prove.encode import (
    FALSE,
    IDENTITY_ALLOWS,
    Encoding,
    Kind,
    _ci_regex,
    _s,
    encode,
    key_actions,
    witness_request,
)
from kmsguard.prove.questions import (
    MANAGING_KINDS,
    TIMEOUT_MS,
    ProofResult,
    ProverError,
    _decide_witness,
    _default_key_arn,
    _search,
    _who,
    over_kinds,
)
from kmsguard.prove.same_caller import (
    SecondRequest,
    base_constraints,
    pin_caller,
    second_request,
    witness_pair,
)

__all__ = [
    "ESCALATION_CLASSES",
    "admin_usage",
    "cryptographic_actions",
    "grant_escalation",
    "management_actions",
]

# source: KMS Developer Guide, "AWS KMS concepts", "Cryptographic operations" (ReEncrypt is
# authorized as ReEncryptFrom and ReEncryptTo); Encapsulate / Decapsulate are the key encapsulation
# operations of botocore's KMS model, which use the key's material as the others do.
CRYPTOGRAPHIC = (
    "Decapsulate",
    "Decrypt",
    "DeriveSharedSecret",
    "Encapsulate",
    "Encrypt",
    "GenerateDataKey",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateMac",
    "ReEncryptFrom",
    "ReEncryptTo",
    "Sign",
    "Verify",
    "VerifyMac",
)
# Access levels of the Service Authorization Reference ("Actions defined by AWS Key Management
# Service") that change a key or who may use it.
_CHANGING_LEVELS = ("Write", "Permissions management", "Tagging")


def cryptographic_actions() -> tuple[str, ...]:
    """The actions that use the key's material (``kms:Decrypt``...)."""
    names = {info.name for info in key_actions()}
    return tuple(f"kms:{name}" for name in CRYPTOGRAPHIC if name in names)


def management_actions() -> tuple[str, ...]:
    """The actions that manage a key: those on a key that change it or who may use it
    (``kms_actions``: access level Write, Permissions management or Tagging -- PutKeyPolicy,
    CreateGrant, RevokeGrant, ScheduleKeyDeletion, DisableKey, TagResource, CreateAlias...) and are
    not cryptographic operations, nor actions without an API operation of their own
    (SynchronizeMultiRegionKey, which KMS calls itself)."""
    return tuple(
        info.iam_action
        for info in key_actions()
        if info.access_level in _CHANGING_LEVELS and info.name not in CRYPTOGRAPHIC and info.operation
    )


# -- classes of callers for questions about two requests -------------------------------------------

_IAM = (Kind.USER, Kind.ASSUMED_ROLE, Kind.FEDERATED_USER)
Goal = Callable[[Encoding, SecondRequest, str], list[z3.BoolRef]]


@dataclass(frozen=True)
class PairClass:
    """A class of callers (``questions.CallerClass``) for a question about two requests: the
    constraint sees both (``constrain(enc, second, key_account)``)."""

    label: str
    kinds: tuple[Kind, ...]
    constrain: Goal


def _own(enc: Encoding, second: SecondRequest, key_account: str) -> list[z3.BoolRef]:
    return [enc.request.account == _s(key_account)]


def _without_iam(enc: Encoding, second: SecondRequest, key_account: str) -> list[z3.BoolRef]:
    return [*_own(enc, second, key_account), z3.Not(z3.Bool(IDENTITY_ALLOWS))]


def _through_iam(enc: Encoding, second: SecondRequest, key_account: str) -> list[z3.BoolRef]:
    """Identity policies allow, and at least one of the two requests needs them (else the caller is
    of the class the key policy lets in by itself)."""
    no_iam = (z3.Bool(IDENTITY_ALLOWS), FALSE)
    first_alone = z3.substitute(enc.allowed, no_iam)
    second_alone = z3.substitute(second.allowed, no_iam)
    return [
        *_own(enc, second, key_account),
        z3.Bool(IDENTITY_ALLOWS),
        z3.Not(z3.And(first_alone, second_alone)),
    ]


def _foreign(enc: Encoding, second: SecondRequest, key_account: str) -> list[z3.BoolRef]:
    return [enc.request.account != _s(key_account)]


ADMIN_USAGE_CLASSES = (
    PairClass("the key's account root user", (Kind.ROOT,), _own),
    PairClass("principals of the key's account that the key policy allows by itself", _IAM, _without_iam),
    PairClass(
        "any IAM principal of the key's account, given identity policies allowing it "
        "(the key policy delegates to the account)",
        _IAM,
        _through_iam,
    ),
    PairClass("principals of another account", (Kind.ROOT, *_IAM), _foreign),
    PairClass("AWS service principals", (Kind.SERVICE,), lambda enc, second, account: []),
)


# -- admin-usage ------------------------------------------------------------------------------------


def admin_usage(
    key_policy: Policy,
    *,
    key_account: str,
    key_arn: str | None = None,
    management: Sequence[str] | None = None,
    usage: Sequence[str] | None = None,
    timeout_ms: int = TIMEOUT_MS,
    classes: Sequence[PairClass] = (),
    rlimit: int | None = None,
) -> dict[str, ProofResult]:
    """Per class of callers (``classes``, default ``ADMIN_USAGE_CLASSES``): is there a principal
    that can both manage the key (one of ``management``, default ``management_actions()``) and use
    it (one of ``usage``,
    default ``cryptographic_actions()``)? A "yes" witness is the principal and its two requests
    (``witnesses``; JSON: {"principal", "requests": [manage, use]}), both confirmed by the
    simulator. source: KMS Developer Guide, "Default key policy", "Allows key administrators to
    administer the KMS key" and "Allows key users to use the KMS key": administrators and users
    are separate statements so that the two roles can be held apart. A grant request that an
    integrated AWS service makes for a resource of the caller (kms:GrantIsForAWSResource true) is
    not managing the key: the same page gives it to key *users* ("Allows key users to use the KMS
    key with AWS services")."""
    arn = key_arn or _default_key_arn(key_account)
    manage = _indices(management if management is not None else management_actions())
    use = _indices(usage if usage is not None else cryptographic_actions())
    what = "manage the key and use it cryptographically"

    def goal(enc: Encoding, second: SecondRequest) -> list[z3.BoolRef]:
        return [
            enc.allowed,
            enc.request.action_in(manage),
            z3.Not(_for_aws_resource(enc)),
            second.allowed,
            second.action_in(use),
        ]

    results = {}
    for cls in classes or ADMIN_USAGE_CLASSES:
        deadline = time.monotonic() + timeout_ms / 1000

        def ask(kind: Kind, cls: PairClass = cls, deadline: float = deadline) -> ProofResult:
            return _ask_pair(
                key_policy,
                arn,
                key_account,
                kind,
                goal,
                cls.constrain,
                _confirm_both,
                deadline,
                _GRANT_KEYS,
                rlimit,
            )

        results[cls.label] = over_kinds(
            cls.kinds, ask, f"{cls.label} can {what}", f"no: {cls.label} cannot {what}"
        )
    return results


def _indices(actions: Sequence[str]) -> frozenset[int]:
    available = key_actions()
    out = set()
    for action in actions:
        info = kms_actions.action_info(action)
        if info is None:
            raise ValueError(f"not a KMS action: {action!r}")
        if info in available:
            out.add(available.index(info))
    return frozenset(out)


Confirm = Callable[[Encoding, SecondRequest, Policy, z3.ModelRef, float], ProofResult]


def _ask_pair(
    key_policy: Policy,
    key_arn: str,
    key_account: str,
    kind: Kind,
    goal: Callable[[Encoding, SecondRequest], list[z3.BoolRef]],
    constrain: Goal,
    confirm: Confirm,
    deadline: float,
    keys: Sequence[str] = (),
    rlimit: int | None = None,
) -> ProofResult:
    """Two requests of one caller of ``kind`` (all actions on a key encoded once; the second
    request is a renamed copy). ``keys``: context keys the goal reads besides the policy's, made
    before the copy so that the copy has its own."""
    enc = encode(key_policy, key_arn, key_account, kind)
    if enc.allowed is FALSE:
        return ProofResult("no", None, (), "no")
    for name in keys:
        enc.request.key(name)
    second = second_request(enc, "second")
    formulas = [*goal(enc, second), *constrain(enc, second, key_account)]
    solver = z3.Solver()
    solver.add(*base_constraints(enc), *second.constraints(), *formulas)
    opaque = [*enc.opaque, *second.opaque]
    return _search(
        solver,
        [atom for atom, _ in opaque],
        opaque,
        deadline,
        lambda model: confirm(enc, second, key_policy, model, deadline),
        rlimit,
    )


def _confirm_both(
    enc: Encoding, second: SecondRequest, key_policy: Policy, model: z3.ModelRef, deadline: float
) -> ProofResult:
    (first, first_case), (other, other_case) = witness_pair(enc, second, model)
    decisions = [
        _decide_witness(enc, model, key_policy, first),
        _decide_witness(enc, second.view(model), key_policy, other),
    ]
    case: dict[str, Any] = {"principal": first_case["principal"], "requests": [first_case, other_case]}
    for (decision, _), request in zip(decisions, (first, other), strict=True):
        if decision.outcome is Outcome.UNRESOLVED:
            return ProofResult(
                "unknown",
                first,
                decision.depends_on,
                f"; e.g. the simulator says {decision.label} for {_who(first_case)} calling {request.action}",
                case,
                witnesses=(first, other),
            )
        if decision.outcome is not Outcome.ALLOW:
            return ProofResult(
                "no", None, (), f"the prover allows a request the simulator decides {decision.label}: {case}"
            )
    needs_identity = decisions[0][1]
    extra = " with identity policies of its account allowing them" if needs_identity else ""
    explanation = (
        f"yes: {_who(first_case)} can {first.action} and {other.action}{extra}; the simulator confirms "
        f"both: {decisions[0][0].trace[-1].reason if decisions[0][0].trace else ''}; "
        f"{decisions[1][0].trace[-1].reason if decisions[1][0].trace else ''}"
    )
    return ProofResult("yes", first, (), explanation, case, needs_identity, (first, other))


# -- grant-escalation ---------------------------------------------------------------------------------

OPERATION_IT_LACKS = "grants an operation it cannot perform itself"
NOT_FOR_AWS_RESOURCE = "creates grants not for an AWS resource without administering the key"
ESCALATION_CLASSES = (OPERATION_IT_LACKS, NOT_FOR_AWS_RESOURCE)


def grant_escalation(
    key_policy: Policy,
    *,
    key_account: str,
    key_arn: str | None = None,
    timeout_ms: int = TIMEOUT_MS,
) -> dict[str, ProofResult]:
    """Two ways a principal can give, through a grant, more than the key policy gives it:

    * ``OPERATION_IT_LACKS``: it can call kms:CreateGrant with an operation in kms:GrantOperations
      that it cannot perform itself, in any request;
    * ``NOT_FOR_AWS_RESOURCE``: it can call kms:CreateGrant without kms:GrantIsForAWSResource being
      true -- for itself, not through an integrated AWS service -- and is not a key administrator
      (cannot call kms:PutKeyPolicy in any request; an administrator could give itself anything).

    A "yes" witness is the CreateGrant request, confirmed by the simulator; what the caller cannot
    do is an unsat proof for that caller, re-checked with the caller fixed. source: KMS Developer
    Guide, "Grants in AWS KMS" (a grant allows its operations to the grantee whatever the key policy
    says) and "AWS KMS condition keys", "kms:GrantOperations", "kms:GrantIsForAWSResource"; the
    default key policy gives key users CreateGrant only with kms:GrantIsForAWSResource true ("Allows
    key users to use the KMS key", "Allows key users to use the KMS key with AWS services")."""
    arn = key_arn or _default_key_arn(key_account)
    actions = key_actions()
    create_grant = actions.index(kms_actions.action_info("kms:CreateGrant"))  # type: ignore[arg-type]
    put_policy = actions.index(kms_actions.action_info("kms:PutKeyPolicy"))  # type: ignore[arg-type]
    # The grant operations that are actions authorized on a key, by their index among those.
    operations = {
        actions.index(info): name
        for name in kms_actions.grant_operations()
        if (info := kms_actions.action_info(name)) is not None and info in actions
    }
    chosen = z3.Int("escalated operation")

    def lacks_operation(enc: Encoding, second: SecondRequest) -> list[z3.BoolRef]:
        listed = _grant_operations(enc)
        named = z3.Or([z3.And(chosen == index, listed(name)) for index, name in operations.items()])
        # With kms:GrantIsForAWSResource true the integrated service chooses the operations of the
        # grant it makes for its own use, not the caller.
        return [
            *_create_grant(enc, create_grant),
            z3.Not(_for_aws_resource(enc)),
            named,
            _never(second, chosen),
        ]

    def not_for_aws_resource(enc: Encoding, second: SecondRequest) -> list[z3.BoolRef]:
        return [
            *_create_grant(enc, create_grant),
            z3.Not(_for_aws_resource(enc)),
            _never(second, z3.IntVal(put_policy)),
        ]

    goals = {
        OPERATION_IT_LACKS: (lacks_operation, lambda model: operations[model.eval(chosen).as_long()]),
        NOT_FOR_AWS_RESOURCE: (not_for_aws_resource, lambda model: "PutKeyPolicy"),
    }
    results = {}
    for label, (goal, lacked) in goals.items():
        deadline = time.monotonic() + timeout_ms / 1000

        def ask(
            kind: Kind,
            goal: Callable[[Encoding, SecondRequest], list[z3.BoolRef]] = goal,
            lacked: Callable[[z3.ModelRef], str] = lacked,
            deadline: float = deadline,
        ) -> ProofResult:
            def confirm(
                enc: Encoding, second: SecondRequest, policy: Policy, model: z3.ModelRef, deadline: float
            ) -> ProofResult:
                return _confirm_escalation(enc, second, policy, model, deadline, lacked(model))

            return _ask_pair(
                key_policy, arn, key_account, kind, goal, _anyone, confirm, deadline, _GRANT_KEYS
            )

        whether = f"a principal {label}"
        results[label] = over_kinds(MANAGING_KINDS, ask, whether, f"no: no principal {label}")
    return results


_GRANT_KEYS = ("kms:grantoperations", "kms:grantisforawsresource")


def _anyone(enc: Encoding, second: SecondRequest, key_account: str) -> list[z3.BoolRef]:
    return []


def _for_aws_resource(enc: Encoding) -> z3.BoolRef:
    """The request says an integrated AWS service makes it for a resource of the caller:
    kms:GrantIsForAWSResource is "true" (Bool condition operators compare case-insensitively:
    IAM User Guide, "IAM JSON policy elements: Condition operators", "Boolean condition
    operators")."""
    flag = enc.request.key("kms:GrantIsForAWSResource")
    assert flag.value is not None
    return z3.And(flag.present, z3.InRe(flag.value, _ci_regex("true")))


def _create_grant(enc: Encoding, create_grant: int) -> list[z3.BoolRef]:
    """A CreateGrant request, which always names its operations, each a grant operation (KMS API
    Reference, "CreateGrant", "Operations": required; valid values: the GrantOperation names), so
    kms:GrantOperations holds at least one, each of those names."""
    operations = enc.request.key("kms:GrantOperations")
    assert operations.length is not None
    names = kms_actions.grant_operations()
    valid = [
        z3.Implies(operations.length > i, z3.Or([item == _s(name) for name in names]))
        for i, item in enumerate(operations.items)
    ]
    return [
        enc.allowed,
        enc.request.action == create_grant,
        operations.present,
        operations.length >= 1,
        *valid,
    ]


def _grant_operations(enc: Encoding) -> Callable[[str], z3.BoolRef]:
    var = enc.request.key("kms:GrantOperations")
    assert var.length is not None

    def listed(name: str) -> z3.BoolRef:
        return z3.Or([z3.And(var.length > i, item == _s(name)) for i, item in enumerate(var.items)])

    return listed


def _never(second: SecondRequest, action: z3.ArithRef) -> z3.BoolRef:
    """The caller cannot perform ``action`` in any request: for every value of the second request's
    own variables (the caller and what its identity policies allow stay those of the first)."""
    variables = [v for v in second.variables() if not str(v).startswith(f"{second.tag}|opaque#")]
    body = z3.Implies(z3.And(*second.constraints(), second.action == action), z3.Not(second.allowed))
    return z3.ForAll(variables, body) if variables else body


def _confirm_escalation(
    enc: Encoding, second: SecondRequest, key_policy: Policy, model: z3.ModelRef, deadline: float, lacked: str
) -> ProofResult:
    request, case = witness_request(enc.request, model)
    decision, needs_identity = _decide_witness(enc, model, key_policy, request)
    if decision.outcome is Outcome.UNRESOLVED:
        return ProofResult(
            "unknown",
            request,
            decision.depends_on,
            f"; e.g. the simulator says {decision.label} for {_who(case)} calling {request.action}",
            case,
        )
    if decision.outcome is not Outcome.ALLOW:
        return ProofResult(
            "no", None, (), f"the prover allows a request the simulator decides {decision.label}: {case}"
        )
    # The caller fixed, can it perform the operation after all? (The quantified claim, checked
    # again without a quantifier; the second request's opaque atoms are left free, so an "unsat"
    # holds whatever the unknowns are.)
    index = key_actions().index(kms_actions.action_info(lacked))  # type: ignore[arg-type]
    check = z3.Solver()
    check.set("timeout", max(1, int((deadline - time.monotonic()) * 1000)))
    check.add(*second.constraints(), second.action == index, second.allowed, *pin_caller(enc, model))
    verdict = check.check()
    if verdict == z3.unknown:
        return ProofResult(
            "unknown", request, ("solver: timeout",), "; the time for the question ran out", case
        )
    if verdict == z3.sat:
        if not second.opaque:
            raise ProverError(f"the prover finds {_who(case)} both unable and able to call kms:{lacked}")
        depends = tuple(dict.fromkeys(d for _, refs in second.opaque for d in refs))
        return ProofResult(
            "unknown", request, depends, f"; whether {_who(case)} can call kms:{lacked} depends on them", case
        )
    assumption = (
        "with an identity policy of its account allowing every KMS action"
        if needs_identity
        else "by the key policy alone (no identity policy needed)"
    )
    operations = case["context"].get("kms:grantoperations", [])
    explanation = (
        f"yes: {_who(case)} can call kms:CreateGrant {assumption}, for operations {operations}, "
        f"but cannot call kms:{lacked} in any request (proved); the simulator confirms the CreateGrant "
        f"request: {decision.trace[-1].reason if decision.trace else ''}"
    )
    return ProofResult("yes", request, (), explanation, case, needs_identity)
