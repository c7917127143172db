"""A second request of the same caller, for questions about two requests at once ("can the
principal that manages the key also decrypt with it?", "can it grant an operation it cannot
perform?").

``encode.encode`` builds one symbolic request whose variables have fixed names (``action``,
``has[kms:viaservice]``...). A second request of the *same* caller is the same formulas with every
per-request variable renamed -- the action, the context keys the request carries and the opaque
atoms -- while the caller's variables (its kind, account, path, name, session, service, user id),
the keys that describe the caller rather than the request (its organisation and its tags) and the
atom "an identity policy of the caller allows" stay shared. Sharing that atom asks both requests
under one assumption about the caller's IAM policies: they allow every KMS action it asks for, or
none (the questions then say which). This lives here rather than in ``encode``
because it only renames what an ``Encoding`` already exposes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import z3

from kmsguard.authz.types import Request
from kmsguard.prove.encode import IDENTITY_ALLOWS, Encoding, KeyVar, witness_request

__all__ = [
    "RenamedModel",
    "SecondRequest",
    "base_constraints",
    "describes_caller",
    "pin_caller",
    "second_request",
    "witness_pair",
]

# Keys that are attributes of the principal, the same in every request it makes (IAM User Guide,
# "AWS global condition context keys", "Properties of the principal": aws:PrincipalOrgID,
# aws:PrincipalOrgPaths, aws:PrincipalTag/*).
_CALLER_KEYS = ("aws:principalorgid", "aws:principalorgpaths")
_CALLER_KEY_PREFIXES = ("aws:principaltag/",)
# The names ``encode.SymbolicRequest`` gives the caller's variables.
CALLER_VARIABLES = ("account", "path", "name", "session", "service", "userid")


def describes_caller(name: str) -> bool:
    """Whether context key ``name`` (lower-cased) is a property of the principal."""
    return name in _CALLER_KEYS or name.startswith(_CALLER_KEY_PREFIXES)


def base_constraints(enc: Encoding) -> list[z3.BoolRef]:
    """What every request of the encoding satisfies: a well-formed caller and action, well-formed
    values of the context keys, and keys present only when the action sends them. Recomputed from
    the symbolic request (not ``enc.values`` / ``enc.sent``) so that keys a question adds after
    encoding (``SymbolicRequest.key``) are covered."""
    req = enc.request
    return [*req.domain(), *req.key_constraints(), *req.sent_keys()]


def _key_terms(var: KeyVar) -> list[z3.ExprRef]:
    terms: list[Any] = [var.present, var.value, *var.items, var.length, var.number, var.is_number]
    terms.extend([var.address, var.is_v4])
    return [t for t in terms if t is not None and z3.is_const(t)]


@dataclass(frozen=True)
class SecondRequest:
    """The encoding's formulas over a renamed copy of its per-request variables."""

    enc: Encoding
    tag: str
    renames: tuple[tuple[z3.ExprRef, z3.ExprRef], ...]
    opaque: tuple[tuple[z3.BoolRef, tuple[str, ...]], ...]

    def term(self, formula: z3.ExprRef) -> Any:
        return z3.substitute(formula, *self.renames) if self.renames else formula

    @property
    def allowed(self) -> z3.BoolRef:
        return self.term(self.enc.allowed)

    @property
    def action(self) -> z3.ArithRef:
        return self.term(self.enc.request.action)

    def constraints(self) -> list[z3.BoolRef]:
        return [self.term(c) for c in base_constraints(self.enc)]

    def action_in(self, indices: Iterable[int]) -> z3.BoolRef:
        return self.term(self.enc.request.action_in(indices))

    def variables(self) -> list[z3.ExprRef]:
        """The copy's own variables (to quantify over them)."""
        return [new for _, new in self.renames]

    def view(self, model: z3.ModelRef) -> RenamedModel:
        return RenamedModel(model, self.renames)


class RenamedModel:
    """A model read through the renaming: ``eval`` of a term of the original request gives the
    value of the copy's variable (``encode.witness_request`` reads requests through ``eval``)."""

    def __init__(self, model: z3.ModelRef, renames: Sequence[tuple[z3.ExprRef, z3.ExprRef]]) -> None:
        self.model = model
        self.renames = tuple(renames)

    def eval(self, term: z3.ExprRef, model_completion: bool = False) -> Any:
        renamed = z3.substitute(term, *self.renames) if self.renames else term
        return self.model.eval(renamed, model_completion=model_completion)


def second_request(enc: Encoding, tag: str) -> SecondRequest:
    """A second request of the encoding's caller; ``tag`` makes the copy's names unique. Make every
    context key a question reads (``SymbolicRequest.key``) before the copy: a key made after it
    would be shared by both requests."""
    req = enc.request
    old: list[z3.ExprRef] = [req.action]
    for name, var in sorted(req.keys.items()):
        if var.derived or describes_caller(name):
            continue
        old.extend(_key_terms(var))
    atoms = [atom for atom, _ in enc.opaque]
    old.extend(atoms)
    unique = {str(term): term for term in old}  # z3 terms compare by structure, not by ==
    renames = tuple((term, z3.Const(f"{tag}|{name}", term.sort())) for name, term in unique.items())
    lookup = {str(a): b for a, b in renames}
    opaque = tuple((lookup[str(atom)], refs) for atom, refs in enc.opaque)
    return SecondRequest(enc, tag, renames, opaque)


def witness_pair(
    enc: Encoding, second: SecondRequest, model: z3.ModelRef
) -> tuple[tuple[Request, dict[str, Any]], tuple[Request, dict[str, Any]]]:
    """Both requests of a model, with one caller: the caller variables the formulas do not use get
    the same stand-in values in both (``witness_request`` decides which from ``request.used``, which
    reading a witness extends, so it is reset in between)."""
    used = set(enc.request.used)
    first = witness_request(enc.request, model)
    enc.request.used.clear()
    enc.request.used.update(used)
    other = witness_request(enc.request, second.view(model))  # type: ignore[arg-type]
    return first, other


def pin_caller(enc: Encoding, model: z3.ModelRef) -> list[z3.BoolRef]:
    """Constraints fixing the caller to the model's: its variables, the keys describing it, and
    whether its identity policies allow."""
    req = enc.request
    terms: list[z3.ExprRef] = [z3.String(name) for name in CALLER_VARIABLES]
    terms.append(z3.Bool(IDENTITY_ALLOWS))
    for name, var in sorted(req.keys.items()):
        if not var.derived and describes_caller(name):
            terms.extend(_key_terms(var))
    return [term == model.eval(term, model_completion=True) for term in terms]
