"""Grants: which grant lets the caller perform the operation, and why the others do not.

Sources (KMS Developer Guide unless noted):
- "Grants in AWS KMS", "Grant concepts": grantee principal (user, role, session, account, or a
  service principal), grant operations, grant tokens; grants only allow, never deny.
- KMS API Reference, "GrantConstraints": encryption context constraints apply only to operations
  that take an encryption context; "in a grant constraint, the key in each key-value pair is not case
  sensitive, but the value is case sensitive".
- KMS API Reference, "CreateGrant", Constraints: "If a grant with a grant constraint includes the
  CreateGrant operation, the constraint requires that any grants created with the CreateGrant
  permission have an equally strict or stricter encryption context constraint."
- "Controlling access to grants": principals who get CreateGrant from a grant have more limited
  grant permissions (no wider operations than the parent grant).
- "Retiring and revoking grants": who may retire a grant.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kmsguard.authz.principals import PrincipalMatch, match_principal
from kmsguard.authz.types import Caller, ContextValue, Request
from kmsguard.model import Grant, GrantConstraints, Principal, PrincipalType
from kmsguard.model.values import ResourceRef, Template, Unknown

_EC_PREFIX = "kms:encryptioncontext:"


@dataclass(frozen=True)
class GrantCheck:
    """The verdict of one grant for one request. ``allowed`` is None when it depends on symbolic
    values (``depends_on``); ``needs_iam`` marks a grant to an account, which principals of that
    account use only as far as their IAM policies allow (an assumption, see ``grantee_match``)."""

    grant: Grant
    allowed: bool | None
    reason: str
    depends_on: tuple[str, ...] = ()
    needs_iam: bool = False

    @property
    def label(self) -> str:
        return grant_label(self.grant)


def grant_label(grant: Grant) -> str:
    name = grant.name if isinstance(grant.name, str) else None
    return f"grant {name or grant.address}"


def grantee_match(grant: Grant, caller: Caller) -> PrincipalMatch | None:
    """How the grant's grantee names the caller (None: symbolic).

    A grant to a role applies to every session of the role, a grant to an account ARN to the account's
    principals. For an account grantee we assume, as for a key policy that names the account, that the
    account's IAM policies decide which of its principals use it (KMS Developer Guide, "Grant
    concepts", grantee principal: "the grantee principal can represent multiple identities"; the
    docs do not spell out the IAM step -- assumption)."""
    grantee = grant.grantee
    if grantee is None:
        return PrincipalMatch.NONE
    if isinstance(grantee, str) and grantee.endswith(".amazonaws.com") and not grantee.startswith("arn:"):
        return match_principal(Principal(PrincipalType.SERVICE, grantee), caller)
    return match_principal(Principal(PrincipalType.AWS, grantee), caller)


def request_encryption_context(context: Mapping[str, ContextValue]) -> dict[str, str]:
    """The encryption context of a request, from its ``kms:EncryptionContext:<k>`` keys, keeping the
    case of each key as the request gave it."""
    found: dict[str, str] = {}
    for key, value in context.items():
        if key[:22].lower() == _EC_PREFIX:
            found[key[22:]] = value if isinstance(value, str) else ",".join(value)
    return found


def _folded(pairs: Mapping[str, Any]) -> dict[str, Any]:
    # Grant constraint keys are not case sensitive; values are (API Reference, "GrantConstraints").
    return {str(k).lower(): v for k, v in pairs.items()}


def constraints_allow(
    constraints: GrantConstraints | None, context: Mapping[str, str]
) -> tuple[bool | None, str]:
    """Whether a request's encryption context satisfies the grant's constraints."""
    if constraints is None:
        return True, "no constraints"
    have = _folded(context)
    equals = constraints.encryption_context_equals
    subset = constraints.encryption_context_subset
    for which, pairs in (("EncryptionContextEquals", equals), ("EncryptionContextSubset", subset)):
        if pairs is None:
            continue
        if isinstance(pairs, Unknown) or any(_symbolic(v) for v in pairs.values()):
            return None, f"{which} is not known statically"
        want = _folded(pairs)
        if which == "EncryptionContextEquals" and set(want) != set(have):
            return False, f"{which}: request context keys {sorted(have)} differ from {sorted(want)}"
        for key, value in want.items():
            if key not in have:
                return False, f"{which}: request context has no key {key!r}"
            if have[key] != value:
                return False, f"{which}: {key!r} is {have[key]!r}, the grant requires {value!r}"
    return True, "encryption context satisfies the constraints"


def _symbolic(value: Any) -> bool:
    return isinstance(value, (Unknown, ResourceRef, Template))


def _operation_names(grant: Grant) -> tuple[frozenset[str] | None, tuple[str, ...]]:
    """The grant's operations lower-cased, or None with what they depend on."""
    operations = grant.operations
    if isinstance(operations, Unknown):
        return None, (operations.ref,)
    names = set()
    depends: list[str] = []
    for op in operations:
        if isinstance(op, str):
            names.add(op.lower())
        else:
            depends.append(str(op))
    if depends:
        return None, tuple(depends)
    return frozenset(names), ()


def check_grant(
    grant: Grant,
    request: Request,
    operation: str,
    takes_encryption_context: bool,
    *,
    new_grant: Grant | None = None,
) -> GrantCheck:
    """One grant's verdict for ``operation`` (the KMS operation name, e.g. ``Decrypt``)."""
    match = grantee_match(grant, request.caller)
    depends: list[str] = []
    if match is PrincipalMatch.NONE:
        return GrantCheck(grant, False, f"grantee {grant.grantee} is not the caller")
    if match is None:
        depends.append(str(grant.grantee))
    ops, op_depends = _operation_names(grant)
    if ops is None:
        depends.extend(op_depends)
    elif operation.lower() not in ops:
        return GrantCheck(grant, False, f"operation {operation} is not among the grant's operations")
    if operation.lower() == "creategrant":
        verdict, why, more = _derived_grant_allowed(grant, ops, request, new_grant)
        depends.extend(more)
        if verdict is False:
            return GrantCheck(grant, False, why)
    elif takes_encryption_context:
        verdict, why = constraints_allow(grant.constraints, request_encryption_context(request.context))
        if verdict is False:
            return GrantCheck(grant, False, why)
        if verdict is None:
            depends.append(f"constraints of {grant_label(grant)}")
    else:
        why = "constraints do not apply to this operation" if grant.constraints else "grant allows it"
    needs_iam = match is PrincipalMatch.ACCOUNT and request.caller.kind.value != "root"
    if depends:
        return GrantCheck(grant, None, "depends on " + ", ".join(depends), tuple(depends), needs_iam)
    return GrantCheck(grant, True, f"grant allows {operation}", (), needs_iam)


def _derived_grant_allowed(
    parent: Grant, parent_ops: frozenset[str] | None, request: Request, new_grant: Grant | None
) -> tuple[bool | None, str, tuple[str, ...]]:
    """CreateGrant through a grant: the new grant's operations must be among the parent's, and its
    encryption context constraint equally strict or stricter."""
    if new_grant is not None:
        child_ops, child_depends = _operation_names(new_grant)
        child_constraints = new_grant.constraints
        constraint_known = True
    else:
        raw = _context_get(request.context, "kms:grantoperations")
        child_ops = None if raw is None else frozenset(v.lower() for v in _as_tuple(raw))
        child_depends = () if raw is not None else ("kms:GrantOperations",)
        child_constraints = None
        constraint_known = _context_get(request.context, "kms:grantconstrainttype") is None
    depends: list[str] = list(child_depends)
    if child_ops is not None and parent_ops is not None:
        extra = sorted(child_ops - parent_ops)
        if extra:
            return False, f"the new grant's operations {extra} are not in the parent grant", ()
    parent_constraints = parent.constraints
    if parent_constraints is None or (
        parent_constraints.encryption_context_equals is None
        and parent_constraints.encryption_context_subset is None
    ):
        return (None if depends else True), "new grant is within the parent grant", tuple(depends)
    if not constraint_known:
        depends.append("the new grant's constraints")
        return None, "the new grant's constraint values are not given", tuple(depends)
    stricter = at_least_as_strict(child_constraints, parent_constraints)
    if stricter is False:
        return False, "the new grant's encryption context constraint is less strict than the parent's", ()
    if stricter is None:
        depends.append("grant constraints")
    return (None if depends else True), "new grant is within the parent grant", tuple(depends)


def at_least_as_strict(child: GrantConstraints | None, parent: GrantConstraints) -> bool | None:
    """Whether every encryption context the child constraint admits, the parent admits too."""
    if child is None:
        return False
    values = (
        child.encryption_context_equals,
        child.encryption_context_subset,
        parent.encryption_context_equals,
        parent.encryption_context_subset,
    )
    if any(isinstance(v, Unknown) for v in values):
        return None
    # (Unknown is excluded above; the isinstance check narrows the type for mypy.)
    c_eq, c_sub, p_eq, p_sub = (None if v is None or isinstance(v, Unknown) else _folded(v) for v in values)
    if p_eq is not None:
        # Only the very same pairs admit no context the parent rejects.
        return c_eq == p_eq
    assert p_sub is not None
    admitted = c_eq if c_eq is not None else c_sub
    if admitted is None:
        return False
    return all(k in admitted and admitted[k] == v for k, v in p_sub.items())


def retire_right(grant: Grant, caller: Caller, key_account: str) -> tuple[str, PrincipalMatch | None]:
    """Why the caller may retire the grant: "retiring principal", "grantee" (the grant includes
    RetireGrant), "account" (the account the grant was created in: its root user, and principals
    it delegates to with an IAM policy -- we take the key's account as that account, an assumption
    for grants created cross-account), or "" (no right).

    KMS Developer Guide, "Retiring and revoking grants"."""
    retiring = grant.retiring_principal
    if retiring is not None:
        found = match_principal(Principal(PrincipalType.AWS, retiring), caller)
        if found is None:
            return "retiring principal", None
        if found in (PrincipalMatch.DIRECT, PrincipalMatch.ROLE):
            return "retiring principal", found
    ops, _ = _operation_names(grant)
    grantee_unknown = False
    if ops is None or "retiregrant" in ops:
        found = grantee_match(grant, caller)
        if found in (PrincipalMatch.DIRECT, PrincipalMatch.ROLE):
            return "grantee", (found if ops is not None else None)
        # A grantee not known statically may be the caller: not "no right" (unless the account
        # gives the right anyway, below).
        grantee_unknown = found is None
    if caller.account == key_account:
        return "account", PrincipalMatch.ACCOUNT
    if grantee_unknown:
        return "grantee", None
    return "", PrincipalMatch.NONE


def _context_get(context: Mapping[str, ContextValue], key: str) -> ContextValue | None:
    for k, v in context.items():
        if k.lower() == key:
            return v
    return None


def _as_tuple(value: ContextValue) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)
