"""A key's grants compiled to z3 over the symbolic request of ``encode`` (``authz.grants``:
``check_grant``, ``constraints_allow``, ``_derived_grant_allowed``, ``retire_right``; and
``evaluate._decide_retire``).

Sources (KMS Developer Guide unless noted), as in ``authz.grants``:
- "Grants in AWS KMS", "Grant concepts": grantee principal, grant operations, grant tokens.
- KMS API Reference, "GrantConstraints": encryption context constraints apply only to operations
  that take an encryption context; constraint keys are not case sensitive, values are.
- KMS API Reference, "CreateGrant": a grant created through a grant's CreateGrant may not be wider.
- "Retiring and revoking grants": who may retire a grant.

Where the simulator answers "depends" (a symbolic grantee, operations or constraints; a CreateGrant
request that does not say which operations or constraints the new grant has), the formula holds an
opaque atom, so that an "unsat" holds whatever the value is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import z3

from kmsguard.authz.grants import at_least_as_strict
from kmsguard.model import Grant, GrantConstraints
from kmsguard.model.policy import Principal, PrincipalType
from kmsguard.model.values import ResourceRef, Template, Unknown, refs_of
from kmsguard.prove.encode import (
    EC_PREFIX,
    FALSE,
    TRUE,
    Kind,
    Match,
    PrincipalEncoder,
    _and,
    _ci_regex,
    _not,
    _or,
    _s,
)

GRANT_OPERATIONS_KEY = "kms:grantoperations"
GRANT_CONSTRAINT_TYPE_KEY = "kms:grantconstrainttype"


@dataclass(frozen=True)
class GrantFacts:
    """What the grants say about the request (``evaluate._Facts.grant`` / ``grant_iam``):
    ``direct``, a grant lets the caller perform the action; ``via_account``, a grant to the caller's
    account does, as far as the caller's identity policies allow."""

    direct: z3.BoolRef
    via_account: z3.BoolRef


def grant_label(grant: Grant) -> str:
    return f"grant {grant.name if isinstance(grant.name, str) else grant.address}"


def _symbolic(value: Any) -> bool:
    return isinstance(value, (Unknown, ResourceRef, Template))


def _folded(pairs: Mapping[Any, Any]) -> dict[str, Any]:
    # Constraint keys are not case sensitive; values are (API Reference, "GrantConstraints").
    return {str(k).lower(): v for k, v in pairs.items()}


def _constraint_pairs(constraints: GrantConstraints | None) -> list[tuple[str, Any]]:
    if constraints is None:
        return []
    return [
        ("EncryptionContextEquals", constraints.encryption_context_equals),
        ("EncryptionContextSubset", constraints.encryption_context_subset),
    ]


def _constrained(constraints: GrantConstraints | None) -> bool:
    return any(pairs is not None for _, pairs in _constraint_pairs(constraints))


def register_grant_keys(pe: PrincipalEncoder, grants: Sequence[Grant]) -> None:
    """Make the context keys the grants read, before any grant formula: a formula for
    EncryptionContextEquals says that no *other* encryption context key is present, so every key the
    encoding names must exist by then (``SymbolicRequest.other_context_keys``)."""
    req = pe.req
    names = {info.name for info in req.actions}
    if not names & {"CreateGrant", *(i.name for i in req.actions if i.takes_encryption_context)}:
        return
    for grant in grants:
        for _, pairs in _constraint_pairs(grant.constraints):
            if pairs is None or isinstance(pairs, Unknown):
                continue
            for key in _folded(pairs):
                req.key(EC_PREFIX + key)
    if any(
        g.constraints is not None and isinstance(g.constraints.encryption_context_equals, Mapping)
        for g in grants
    ):
        req.other_context_keys()


def grant_facts(pe: PrincipalEncoder, grants: Sequence[Grant], new_grant: Grant | None = None) -> GrantFacts:
    """``evaluate._decide``'s loop over the grants, for the actions a grant may allow.
    ``new_grant``: for CreateGrant, the grant being created (``decide_create_grant``)."""
    direct: list[z3.BoolRef] = []
    via_account: list[z3.BoolRef] = []
    for grant in grants:
        label = grant_label(grant)
        by_grantee, by_account = _grantee(pe, grant.grantee, label)
        if by_grantee is FALSE and by_account is FALSE:
            continue
        allows = _and([_operations(pe, grant, label), _request_fits(pe, grant, label, new_grant)])
        direct.append(_and([by_grantee, allows]))
        via_account.append(_and([by_account, allows]))
    return GrantFacts(_or(direct), _or(via_account))


def _grantee(pe: PrincipalEncoder, grantee: Any, label: str) -> tuple[z3.BoolRef, z3.BoolRef]:
    """(the grantee names the caller, the grantee is the caller's account and the caller is not its
    root user): ``grants.grantee_match`` and ``check_grant``'s ``needs_iam``."""
    if grantee is None:
        return FALSE, FALSE
    if not isinstance(grantee, str):
        # grantee_match says "maybe"; check_grant then counts the grant as a direct one.
        return pe.opaque.atom(refs_of(grantee), f"{label} grantee"), FALSE
    ways = pe.principal(_grantee_principal(grantee))
    account = ways.get(Match.ACCOUNT, FALSE)
    others = _or(formula for way, formula in ways.items() if way is not Match.ACCOUNT)
    if pe.req.kind is Kind.ROOT:
        return _or([others, account]), FALSE
    return others, account


def _grantee_principal(grantee: str) -> Principal:
    """A service principal when it looks like one, else an AWS principal (``grantee_match``)."""
    if grantee.endswith(".amazonaws.com") and not grantee.startswith("arn:"):
        return Principal(PrincipalType.SERVICE, grantee)
    return Principal(PrincipalType.AWS, grantee)


def _operation_names(grant: Grant) -> tuple[frozenset[str], tuple[Any, ...]]:
    """The grant's literal operations lower-cased, and its symbolic ones."""
    operations = grant.operations
    if isinstance(operations, Unknown):
        return frozenset(), (operations,)
    names = frozenset(op.lower() for op in operations if isinstance(op, str))
    return names, tuple(op for op in operations if not isinstance(op, str))


def _operations(pe: PrincipalEncoder, grant: Grant, label: str) -> z3.BoolRef:
    """The action is an operation a grant may allow (``ActionInfo.grant_operation``) and one of the
    grant's operations (matched by name, any case)."""
    req = pe.req
    names, symbolic = _operation_names(grant)
    known = req.action_in(
        i for i, info in enumerate(req.actions) if info.grant_operation and info.name.lower() in names
    )
    if not symbolic:
        return known
    refs = tuple(r for op in symbolic for r in refs_of(op))
    maybe = _and(
        [req.action_is(lambda info: info.grant_operation), pe.opaque.atom(refs, f"{label} operations")]
    )
    return _or([known, maybe])


def _request_fits(pe: PrincipalEncoder, grant: Grant, label: str, new_grant: Grant | None) -> z3.BoolRef:
    """The request is within the grant: for CreateGrant, the new grant is no wider; for operations
    that take an encryption context, it satisfies the constraints; other operations ignore them."""
    req = pe.req
    is_create = req.action_is(lambda info: info.name == "CreateGrant")
    takes_context = req.action_is(lambda info: info.takes_encryption_context and info.name != "CreateGrant")
    others = req.action_is(lambda info: not info.takes_encryption_context and info.name != "CreateGrant")
    cases = [others]
    if is_create is not FALSE:
        derived = (
            _derived_grant(pe, grant, label)
            if new_grant is None
            else _given_grant(pe, grant, new_grant, label)
        )
        cases.append(_and([is_create, derived]))
    if takes_context is not FALSE:
        cases.append(_and([takes_context, context_fits(pe, grant.constraints, label)]))
    return _or(cases)


def context_fits(pe: PrincipalEncoder, constraints: GrantConstraints | None, label: str) -> z3.BoolRef:
    """``grants.constraints_allow`` on the request's encryption context (its
    ``kms:EncryptionContext:<k>`` keys): Subset, each pair present with the same value (values are
    case sensitive); Equals, those pairs and no other key."""
    req = pe.req
    parts: list[z3.BoolRef] = []
    for which, pairs in _constraint_pairs(constraints):
        if pairs is None:
            continue
        if isinstance(pairs, Unknown) or any(_symbolic(v) for v in pairs.values()):
            refs = (
                refs_of(pairs)
                if isinstance(pairs, Unknown)
                else [r for v in pairs.values() for r in refs_of(v)]
            )
            parts.append(pe.opaque.atom(tuple(refs), f"{label} {which}"))
            continue
        wanted = _folded(pairs)
        for key, value in wanted.items():
            var = req.key(EC_PREFIX + key)
            if not isinstance(value, str) or var.value is None:
                parts.append(FALSE)  # a non-string value equals no request value
                continue
            parts.extend([var.present, var.value == _s(value)])
        if which == "EncryptionContextEquals":
            for key in req.context_keys():
                if key not in wanted:
                    parts.append(_not(req.key(EC_PREFIX + key).present))
            parts.append(_not(req.other_context_keys()))
    return _and(parts)


def _derived_grant(pe: PrincipalEncoder, parent: Grant, label: str) -> z3.BoolRef:
    """``grants._derived_grant_allowed`` without the new grant (``decide``): the request's
    kms:GrantOperations must be among the parent's operations; a parent with an encryption context
    constraint needs the new grant's constraint, which the request context does not carry -- with
    no kms:GrantConstraintType the new grant has none and is wider (no), with one it is unknown."""
    req = pe.req
    operations = req.key(GRANT_OPERATIONS_KEY)
    names, symbolic = _operation_names(parent)
    if symbolic:
        within = TRUE  # the parent's operations are unknown: the grant's operations atom covers it
    elif operations.model == "list" and operations.length is not None:
        within = _and(
            [
                z3.Implies(operations.length > index, _or(z3.InRe(item, _ci_regex(n)) for n in sorted(names)))
                for index, item in enumerate(operations.items)
            ]
        )
    else:  # pragma: no cover - kms:GrantOperations is ArrayOfString in the reference
        within = pe.opaque.atom((GRANT_OPERATIONS_KEY,), f"{label} new grant operations")
    not_sent = pe.opaque.atom(("kms:GrantOperations",), f"{label} new grant operations not sent")
    new_operations = _or([_and([operations.present, within]), _and([_not(operations.present), not_sent])])
    if not _constrained(parent.constraints):
        return new_operations
    constraint_type = req.key(GRANT_CONSTRAINT_TYPE_KEY)
    stricter = pe.opaque.atom(("the new grant's constraints",), f"{label} new grant constraints")
    return _and([new_operations, constraint_type.present, stricter])


def _given_grant(pe: PrincipalEncoder, parent: Grant, child: Grant, label: str) -> z3.BoolRef:
    """``grants._derived_grant_allowed`` knowing the new grant: its operations among the parent's,
    and, when the parent has an encryption context constraint, one at least as strict
    (``grants.at_least_as_strict``, a comparison of two concrete grants)."""
    parent_names, parent_symbolic = _operation_names(parent)
    child_names, child_symbolic = _operation_names(child)
    if child_symbolic:
        refs = tuple(r for op in child_symbolic for r in refs_of(op))
        operations = pe.opaque.atom(refs, f"{label} new grant operations")
    elif parent_symbolic:
        operations = TRUE  # the parent's operations atom covers it
    else:
        operations = TRUE if child_names <= parent_names else FALSE
    if not _constrained(parent.constraints):
        return operations
    assert parent.constraints is not None
    stricter = at_least_as_strict(child.constraints, parent.constraints)
    if stricter is None:
        return _and([operations, pe.opaque.atom(("grant constraints",), f"{label} new grant constraints")])
    return _and([operations, TRUE if stricter else FALSE])


# -- kms:RetireGrant (evaluate._decide_retire) ---------------------------------------------------


def retire_allows(pe: PrincipalEncoder, grants: Sequence[Grant], identity: z3.BoolRef) -> z3.BoolRef:
    """Some grant the request considers lets the caller retire it. The grants considered are those
    whose tokens the request carries, else every grant of the key. ``identity``: an identity policy
    of the caller allows (the grant's account delegates to its IAM principals that way)."""
    req = pe.req
    selected = [_or(req.token(t) for t in grant.grant_tokens if isinstance(t, str)) for grant in grants]
    none_selected = _not(_or(selected))
    return _or(
        _and([_or([chosen, none_selected]), _retire_right(pe, grant, identity)])
        for grant, chosen in zip(grants, selected, strict=True)
    )


def _retire_right(pe: PrincipalEncoder, grant: Grant, identity: z3.BoolRef) -> z3.BoolRef:
    """``grants.retire_right``: the retiring principal (its own ARN or its role), the grantee when
    the grant includes RetireGrant, or the key's account (its root user; its IAM principals through
    an identity policy)."""
    req = pe.req
    label = grant_label(grant)
    rights: list[z3.BoolRef] = []
    retiring = grant.retiring_principal
    if retiring is not None:
        if isinstance(retiring, str):
            ways = pe.principal(Principal(PrincipalType.AWS, retiring))
            rights.append(_or([ways.get(Match.DIRECT, FALSE), ways.get(Match.ROLE, FALSE)]))
        else:
            rights.append(pe.opaque.atom(refs_of(retiring), f"{label} retiring principal"))
    names, symbolic = _operation_names(grant)
    if symbolic:
        refs = tuple(r for op in symbolic for r in refs_of(op))
        includes_retire = _or(["retiregrant" in names, pe.opaque.atom(refs, f"{label} operations")])
    else:
        includes_retire = TRUE if "retiregrant" in names else FALSE
    if includes_retire is not FALSE:
        grantee = grant.grantee
        if isinstance(grantee, str):
            ways = pe.principal(_grantee_principal(grantee))
            named = _or([ways.get(Match.DIRECT, FALSE), ways.get(Match.ROLE, FALSE)])
        elif grantee is None:
            named = FALSE
        else:
            # The simulator reads a symbolic grantee as not naming the caller here (retire_right);
            # an atom keeps "no" answers true whatever it is.
            named = pe.opaque.atom(refs_of(grantee), f"{label} grantee")
        rights.append(_and([includes_retire, named]))
    if req.has_account:
        own = req.account == _s(req.key_account)
        rights.append(own if req.kind is Kind.ROOT else _and([own, identity]))
    return _or(rights)


def grant_literals(grants: Sequence[Grant]) -> set[str]:
    """The literal principals the grants name (grantees, retiring principals): a question about
    strangers (``questions.public``) keeps their accounts out, as it does the key policy's."""
    found: set[str] = set()
    for grant in grants:
        for value in (grant.grantee, grant.retiring_principal):
            if isinstance(value, str):
                found.add(value)
            elif isinstance(value, Template):
                found.update(part for part in value.parts if isinstance(part, str))
    return found
