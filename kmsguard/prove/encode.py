"""The simulator's decision for one key compiled to z3 over a symbolic request: the key policy and
everything else ``evaluate.decide`` takes -- the caller's identity policies (or "unknown, may
allow"), the key's grants (``encode_grants``), SCPs of the caller's account, RCPs of the key's
account (not for AWS managed keys), the caller's permissions boundary and session policy, and
kms:RetireGrant, which the grants decide.

The semantics are those of ``kmsguard.authz`` (``evaluate.decide``, ``conditions``, ``principals``),
encoded rule by rule; each rule below names the simulator function it mirrors. Only the *parsing*
of policy constants (operator names, wildcard / variable tokens, numbers, dates, CIDRs) is shared
with the simulator, so that both engines read a policy the same way; the matching against a
symbolic request is this module's own, and the two are checked against each other (every "yes"
witness is re-run through ``decide``; tests compare them on generated policies and requests).

The symbolic request:

* the caller: its ``kind`` (root, IAM user, role, role session, federated user, service, anonymous;
  fixed per encoding, a question asks once per kind), ``account`` (12 digits), a path and a name, a
  session name, a service name and ``aws:userid``; every key the caller implies
  (``aws:PrincipalArn``, ``kms:CallerAccount``, ``aws:PrincipalType``...) is a function of these, as
  ``conditions.caller_context`` derives it;
* the action (an index into the KMS actions on a key; names and patterns lower-cased) and the
  resource (the key's ARN);
* each other context key a policy or grant mentions: present or absent, and its value -- a string,
  a bounded list of strings (multivalued keys), a number (Numeric / Date keys) or an IPv4 address as
  a 32-bit vector (IP keys); whether the encryption context has a key none of them names (for
  EncryptionContextEquals); which grant tokens the request carries.

What is not encoded exactly -- IaC unknowns, IPv6 ranges, binary values, an operator applied to a key
of another type, policy variables inside ARN or Bool values -- becomes a fresh Boolean *opaque
atom*: the solver may choose it freely, so an "unsat" (no access) holds whatever the real value is,
and a "sat" is only believed after ``decide`` confirms the witness. ``Encoding.opaque`` lists the
atoms with what they stand for (the ``depends_on`` of an answer).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from fractions import Fraction
from functools import lru_cache
from typing import Any

import z3

from kmsguard.authz import conditions as _cond
from kmsguard.authz import kms_actions
from kmsguard.authz.types import AuthzInputs, Caller, ContextValue, PrincipalKind, Request
from kmsguard.model import Grant
from kmsguard.model.policy import Condition, Policy, Principal, PrincipalType, Statement
from kmsguard.model.values import ResourceRef, Template, Unknown, refs_of

# Numbers and dates are modelled as reals that are whole multiples of 1/SCALE, so that a witness
# value can be written as a finite decimal. assumption: no policy tells apart two numbers closer than
# 1/SCALE (policies compare whole numbers, or a few decimals; dates in whole seconds or ms).
SCALE = 10**6
NAME_CHARS = "+=,.@_-"  # besides letters and digits, in IAM user / role / session names
# The free atom "an identity policy of the caller's account allows" (when they are not given).
IDENTITY_ALLOWS = "identity policy allows"
EC_PREFIX = "kms:encryptioncontext:"
SERVICE_ROLE_PATH = "aws-service-role/"


class Kind(IntEnum):
    """The kinds of caller, as ``authz.types.PrincipalKind`` (an integer for the solver)."""

    ROOT = 0
    USER = 1
    ROLE = 2
    ASSUMED_ROLE = 3
    FEDERATED_USER = 4
    SERVICE = 5
    ANONYMOUS = 6

    @property
    def principal_kind(self) -> PrincipalKind:
        return PrincipalKind(self.name.lower().replace("_", "-"))


IAM_KINDS = (Kind.USER, Kind.ROLE, Kind.ASSUMED_ROLE, Kind.FEDERATED_USER)
ACCOUNT_KINDS = (Kind.ROOT, *IAM_KINDS)
# The callers a session policy limits (``evaluate._SESSION_KINDS``: a role caller stands for a session).
SESSION_KINDS = (Kind.ROLE, Kind.ASSUMED_ROLE, Kind.FEDERATED_USER)


class Match(IntEnum):
    """How a key policy names the caller (``principals.PrincipalMatch``)."""

    DIRECT = 4
    ROLE = 3
    WILDCARD = 2
    ACCOUNT = 1


# -- z3 helpers -----------------------------------------------------------------------------------

_RE_SORT = z3.ReSort(z3.StringSort())
ANY_CHAR = z3.AllChar(_RE_SORT)
ANY_TEXT = z3.Star(ANY_CHAR)
NOT_COLON = z3.Intersect(ANY_CHAR, z3.Complement(z3.Re(":")))


TRUE = z3.BoolVal(True)
FALSE = z3.BoolVal(False)


def _s(text: str) -> z3.SeqRef:
    # z3 reads backslash-u{hex} in a string literal as an escape: a backslash is written as one.
    return z3.StringVal(text.replace("\\", "\\u{5c}") if "\\" in text else text)


_ESCAPE = re.compile(r"\\u\{([0-9a-fA-F]+)\}")


def _text(value: z3.ExprRef) -> str:
    """A string of a model: z3 writes characters outside printable ASCII as backslash-u{hex}."""
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), value.as_string())


def _concat(parts: Sequence[z3.SeqRef]) -> z3.SeqRef:
    if not parts:
        return _s("")
    return parts[0] if len(parts) == 1 else z3.Concat(*parts)


def _re_concat(parts: Sequence[z3.ReRef]) -> z3.ReRef:
    if not parts:
        return z3.Re("")
    return parts[0] if len(parts) == 1 else z3.Concat(*parts)


def _bool(item: z3.BoolRef | bool) -> z3.BoolRef:
    if isinstance(item, bool):
        return TRUE if item else FALSE
    return item


def _or(items: Iterable[z3.BoolRef | bool]) -> z3.BoolRef:
    # Constants are the module's TRUE / FALSE objects (checking identity is far cheaper than asking
    # z3 what a term is, and encoding builds many small disjunctions).
    items = [i for i in map(_bool, items) if i is not FALSE]
    if any(i is TRUE for i in items):
        return TRUE
    if not items:
        return FALSE
    return items[0] if len(items) == 1 else z3.Or(*items)


def _and(items: Iterable[z3.BoolRef | bool]) -> z3.BoolRef:
    items = [i for i in map(_bool, items) if i is not TRUE]
    if any(i is FALSE for i in items):
        return FALSE
    if not items:
        return TRUE
    return items[0] if len(items) == 1 else z3.And(*items)


def _not(item: z3.BoolRef) -> z3.BoolRef:
    if item is TRUE:
        return FALSE
    if item is FALSE:
        return TRUE
    return z3.Not(item)


@lru_cache(maxsize=1024)
def _ci_regex(text: str) -> z3.ReRef:
    """Case-insensitive literal: StringEqualsIgnoreCase compares lower-cased texts."""
    parts: list[z3.ReRef] = []
    for ch in text.lower():
        variants = {ch} | {v for v in (ch.upper(),) if len(v) == 1 and v.lower() == ch}
        alts = [z3.Re(_s(v)) for v in sorted(variants)]
        parts.append(alts[0] if len(alts) == 1 else z3.Union(*alts))
    return _re_concat(parts)


def _wild_regex(tokens: Sequence[Any], star: z3.ReRef = ANY_TEXT, one: z3.ReRef = ANY_CHAR) -> z3.ReRef:
    """Tokens (literal text, ``*``, ``?``) as a regex: ``*`` any run, ``?`` one character."""
    parts: list[z3.ReRef] = []
    for token in tokens:
        if token is _cond.STAR:
            parts.append(star)
        elif token is _cond.QMARK:
            parts.append(one)
        elif isinstance(token, z3.SeqRef):
            parts.append(z3.Re(token))
        else:
            parts.append(z3.Re(_s(str(token))))
    return _re_concat(parts)


_ACTION_SETS: dict[tuple[int, frozenset[int]], z3.BoolRef] = {}


def _action_in(count: int, indices: frozenset[int]) -> z3.BoolRef:
    """``action`` is one of ``indices`` (of ``count`` actions); the term is the same in every
    encoding (one z3 context, one ``action`` constant), so it is built once."""
    key = (count, indices)
    found = _ACTION_SETS.get(key)
    if found is None:
        action = z3.Int("action")
        if len(indices) * 2 <= count:
            found = _or([action == i for i in sorted(indices)])
        else:
            found = _and([action != i for i in range(count) if i not in indices])
        if len(_ACTION_SETS) > 4096:
            _ACTION_SETS.clear()
        _ACTION_SETS[key] = found
    return found


@lru_cache(maxsize=1)
def _name_regex() -> z3.ReRef:
    chars = [z3.Range("a", "z"), z3.Range("A", "Z"), z3.Range("0", "9"), *(z3.Re(c) for c in NAME_CHARS)]
    return z3.Plus(z3.Union(*chars))


# -- context keys ---------------------------------------------------------------------------------


@dataclass
class KeyVar:
    """One request-context key. ``model`` is "str", "list", "num" or "ip"; ``derived`` keys are
    functions of the caller (their presence and value are fixed by it)."""

    name: str
    model: str
    present: z3.BoolRef
    value: z3.SeqRef | None = None  # str
    items: tuple[z3.SeqRef, ...] = ()  # list
    length: z3.ArithRef | None = None  # list
    number: z3.ArithRef | None = None  # num
    is_number: z3.BoolRef | None = None  # num
    address: z3.BitVecRef | None = None  # ip (IPv4)
    is_v4: z3.BoolRef | None = None  # ip
    derived: bool = False


def _key_model(name: str) -> str:
    """The model of a key by its type in the Service Authorization Reference (``kms_actions``)."""
    key_type = kms_actions.condition_key_type(name) or "String"
    if key_type.startswith("ArrayOf"):
        return "list"
    if key_type in ("Numeric", "Date"):
        return "num"
    if key_type == "IPAddress":
        return "ip"
    return "str"


@dataclass
class Encoding:
    """The formulas of one decision: ``allowed``, ``explicit_deny`` and ``error`` over the request,
    ``values`` (well-formed values of the free context keys), ``sent`` (which keys an action can
    send) and the opaque atoms with what each stands for. ``domain(formulas)`` adds what a
    well-formed caller is, for the variables those formulas use."""

    request: SymbolicRequest
    allowed: z3.BoolRef
    explicit_deny: z3.BoolRef
    error: z3.BoolRef
    values: list[z3.BoolRef]
    sent: list[z3.BoolRef]
    opaque: list[tuple[z3.BoolRef, tuple[str, ...]]]
    # Named parts of the decision ("identity", "grant", "key policy direct", "scp"...), for questions
    # that ask how access comes about.
    facts: dict[str, z3.BoolRef] = field(default_factory=dict)

    def domain(self) -> list[z3.BoolRef]:
        return [*self.request.domain(), *self.values]


_ARN_PARTS = {
    Kind.USER: ("path", "name"),
    Kind.ROLE: ("path", "name"),
    Kind.ASSUMED_ROLE: ("path", "name"),
    Kind.FEDERATED_USER: ("name",),
    Kind.SERVICE: ("service",),
}
_SESSION_PARTS = {Kind.ASSUMED_ROLE: ("name", "session"), Kind.FEDERATED_USER: ("name",)}


class SymbolicRequest:
    """The variables of a request of one kind of caller, and the context keys derived from them.

    The kind is fixed per encoding (a question asks once per kind): every term that depends on it
    (the caller's ARN, ``aws:PrincipalType``...) is then a plain concatenation, which the string
    solver handles far better than a chain of if-then-else terms. The action is an index into
    ``actions``; which actions an Action pattern covers is decided by z3 on the (ground) names."""

    def __init__(
        self, kind: Kind, key_arn: str, key_account: str, actions: Sequence[kms_actions.ActionInfo]
    ) -> None:
        parts = key_arn.split(":")
        self.partition = parts[1] if len(parts) > 2 and parts[0] == "arn" and parts[1] else "aws"
        self.kind = kind
        self.key_arn = key_arn
        self.key_account = key_account
        self.actions = tuple(actions)
        self.action_names = tuple("kms:" + info.name.lower() for info in self.actions)
        self.account = z3.String("account") if kind in ACCOUNT_KINDS else _s("")
        self._path = z3.String("path")  # "" or "a/b/" (an IAM path without its leading "/")
        self._base = z3.String("name")
        self._session = z3.String("session")
        self._service = z3.String("service")
        self._userid = z3.String("userid")
        # The caller variables the formulas use (only those get well-formedness constraints).
        self.used: set[str] = set()
        self.action = z3.Int("action")
        self.resource = _s(key_arn)
        self.keys: dict[str, KeyVar] = {}
        self.list_bounds: dict[str, int] = {}
        # Grant tokens the request carries, one Boolean per token a grant names (kms:RetireGrant
        # considers the grants whose tokens it carries: ``evaluate._decide_retire``).
        self.tokens: dict[str, z3.BoolRef] = {}
        # "The request's encryption context has a key none of ``keys`` names" (grant constraints
        # with EncryptionContextEquals need the whole context); set by ``other_context_keys``.
        self.ec_other: z3.BoolRef | None = None
        p = self.partition
        iam = "arn:" + p + ":iam::"
        self.root_arn = _concat([_s(iam), self.account, _s(":root")])
        self._session_arn: z3.SeqRef = _s("")
        if kind is Kind.ROOT:
            self._arn = self.root_arn
        elif kind is Kind.USER:
            self._arn = _concat([_s(iam), self.account, _s(":user/"), self._path, self._base])
        elif kind in (Kind.ROLE, Kind.ASSUMED_ROLE):
            self._arn = _concat([_s(iam), self.account, _s(":role/"), self._path, self._base])
            if kind is Kind.ASSUMED_ROLE:
                self._session_arn = _concat(
                    [
                        _s("arn:" + p + ":sts::"),
                        self.account,
                        _s(":assumed-role/"),
                        self._base,
                        _s("/"),
                        self._session,
                    ]
                )
        elif kind is Kind.FEDERATED_USER:
            self._arn = _concat([_s("arn:" + p + ":sts::"), self.account, _s(":federated-user/"), self._base])
            self._session_arn = self._arn
        elif kind is Kind.SERVICE:
            self._arn = self._service
        else:
            self._arn = _s("anonymous")

    # -- the caller's variables, noting which the formulas use ----------------------------------

    def _use(self, *names: str) -> None:
        self.used.update(names)

    @property
    def arn(self) -> z3.SeqRef:
        """What ``aws:PrincipalArn`` holds: a role session's role ARN, with its path."""
        self._use(*_ARN_PARTS.get(self.kind, ()))
        return self._arn

    @property
    def session_arn(self) -> z3.SeqRef:
        self._use(*_SESSION_PARTS.get(self.kind, ()))
        return self._session_arn

    @property
    def path(self) -> z3.SeqRef:
        self._use("path")
        return self._path

    @property
    def base(self) -> z3.SeqRef:
        self._use("name")
        return self._base

    @property
    def session(self) -> z3.SeqRef:
        self._use("session")
        return self._session

    @property
    def service(self) -> z3.SeqRef:
        self._use("service")
        return self._service

    @property
    def userid(self) -> z3.SeqRef:
        self._use("userid")
        return self._userid

    # -- facts about the caller -----------------------------------------------------------------

    def is_kind(self, *kinds: Kind) -> bool:
        return self.kind in kinds

    @property
    def is_iam(self) -> bool:
        return self.kind in IAM_KINDS

    @property
    def has_account(self) -> bool:
        return self.kind in ACCOUNT_KINDS

    @property
    def service_linked(self) -> z3.BoolRef:
        """The caller is a service-linked role or a session of one: its path starts with
        ``aws-service-role/`` (``principals.is_service_linked_role``; IAM User Guide, "Create a
        service-linked role")."""
        if self.kind not in (Kind.ROLE, Kind.ASSUMED_ROLE):
            return FALSE
        return z3.PrefixOf(_s(SERVICE_ROLE_PATH), self.path)

    def domain(self) -> list[z3.BoolRef]:
        """Well-formed callers and actions: what ``parse_caller`` accepts and AWS can send. Only
        the variables the formulas use are constrained; the others get well-formed values in the
        witness (``witness_request``), and regex constraints on them only slow the solver down."""
        kind = self.kind

        def wanted(var: z3.ExprRef) -> bool:
            return str(var) in self.used

        out = [self.action >= 0, self.action < len(self.actions)]
        if kind in ACCOUNT_KINDS:
            # (A 12-fold Loop regex costs the solver ~100 ms; Plus and a length ~5 ms.)
            out.extend([z3.InRe(self.account, z3.Plus(z3.Range("0", "9"))), z3.Length(self.account) == 12])
        if kind in IAM_KINDS and wanted(self._base):
            out.append(z3.InRe(self._base, _name_regex()))
        if kind in (Kind.USER, Kind.ROLE, Kind.ASSUMED_ROLE) and wanted(self._path):
            out.append(z3.InRe(self._path, z3.Star(z3.Concat(_name_regex(), z3.Re("/")))))
        if kind is Kind.ASSUMED_ROLE and wanted(self._session):
            out.append(z3.InRe(self._session, _name_regex()))
        if kind is Kind.SERVICE and wanted(self._service):
            label = z3.Plus(z3.Union(z3.Range("a", "z"), z3.Range("0", "9"), z3.Re("-")))
            out.append(z3.InRe(self._service, z3.Concat(label, z3.Re(".amazonaws.com"))))
        return out

    def action_is(self, predicate: Any) -> z3.BoolRef:
        return self.action_in(i for i, info in enumerate(self.actions) if predicate(info))

    def action_in(self, indices: Iterable[int]) -> z3.BoolRef:
        return _action_in(len(self.actions), frozenset(indices))

    def action_index(self, action: str) -> int:
        return self.action_names.index(action.lower())

    # -- context keys -----------------------------------------------------------------------------

    def key(self, name: str) -> KeyVar:
        """The (lower-cased) context key; derived from the caller as ``conditions._build_caller_
        context`` does (each rule there cites the IAM User Guide, "AWS global condition context
        keys"), else a free variable."""
        name = name.lower()
        found = self.keys.get(name)
        if found is not None:
            return found
        if self.ec_other is not None and name.startswith(EC_PREFIX):
            # ``ec_other`` stands for the encryption context keys not named when it was made.
            raise RuntimeError(f"{name}: an encryption context key added after other_context_keys()")
        kind = self.kind
        anonymous = kind is Kind.ANONYMOUS
        service = kind is Kind.SERVICE
        derived: tuple[bool, z3.SeqRef] | None = None
        if name == "aws:principalarn":
            derived = (not (service or anonymous), self.arn)
        elif name == "aws:principalaccount":
            derived = (self.has_account or anonymous, _s("anonymous") if anonymous else self.account)
        elif name == "kms:calleraccount":
            derived = (self.has_account, self.account)
        elif name == "aws:principaltype":
            text = {
                Kind.ROOT: "Account",
                Kind.USER: "User",
                Kind.FEDERATED_USER: "FederatedUser",
                Kind.ANONYMOUS: "Anonymous",
            }.get(kind, "AssumedRole")
            derived = (not service, _s(text))
        elif name == "aws:username":
            derived = (kind is Kind.USER, self.base)
        elif name == "aws:userid":
            if kind is Kind.ROOT:
                userid: z3.SeqRef = self.account
            elif anonymous:
                userid = _s("anonymous")
            elif kind is Kind.FEDERATED_USER:
                userid = _concat([self.account, _s(":"), self.base])
            else:
                userid = self.userid
            derived = (not service, userid)
        elif name == "aws:principalisawsservice":
            derived = (not anonymous, _s("true" if service else "false"))
        elif name == "aws:principalservicename":
            derived = (service, self.service)
        elif name == "aws:resourceaccount":
            derived = (bool(self.key_account), _s(self.key_account))
        if derived is not None:
            var = KeyVar(name, "str", _bool(derived[0]), value=derived[1], derived=True)
        else:
            var = self._free_key(name)
        self.keys[name] = var
        return var

    def _free_key(self, name: str) -> KeyVar:
        model = _key_model(name)
        present = z3.Bool(f"has[{name}]")
        if model == "list":
            bound = self.list_bounds.get(name, 2)
            items = tuple(z3.String(f"{name}[{i}]") for i in range(bound))
            return KeyVar(name, "list", present, items=items, length=z3.Int(f"len[{name}]"))
        if model == "num":
            return KeyVar(
                name, "num", present, number=z3.Real(f"num[{name}]"), is_number=z3.Bool(f"isnum[{name}]")
            )
        if model == "ip":
            return KeyVar(
                name, "ip", present, address=z3.BitVec(f"ip[{name}]", 32), is_v4=z3.Bool(f"isv4[{name}]")
            )
        return KeyVar(name, "str", present, value=z3.String(f"val[{name}]"))

    def token(self, text: str) -> z3.BoolRef:
        """Whether the request carries grant token ``text``."""
        found = self.tokens.get(text)
        if found is None:
            found = self.tokens[text] = z3.Bool(f"token[{text}]")
        return found

    def context_keys(self) -> list[str]:
        """The (lower-cased) encryption context keys the encoding names, without the prefix."""
        return [name[len(EC_PREFIX) :] for name in self.keys if name.startswith(EC_PREFIX)]

    def other_context_keys(self) -> z3.BoolRef:
        """ "The request's encryption context has a key that no ``kms:EncryptionContext:<k>``
        variable names": made once, after every key the encoding reads is known."""
        if self.ec_other is None:
            self.ec_other = z3.Bool(f"has[{EC_PREFIX}<other>]")
        return self.ec_other

    def key_constraints(self) -> list[z3.BoolRef]:
        """Well-formed values of the free keys (list lengths, numbers on the 1/SCALE grid)."""
        out: list[z3.BoolRef] = []
        for var in self.keys.values():
            if var.derived:
                continue
            if var.model == "list":
                assert var.length is not None
                out.extend([var.length >= 0, var.length <= len(var.items)])
            elif var.model == "num":
                assert var.number is not None
                out.append(z3.IsInt(var.number * SCALE))
        return out

    def sent_keys(self) -> list[z3.BoolRef]:
        """A free key is present only when the action can send it (``ActionInfo.sends``, from the
        Service Authorization Reference); the organisation and tag keys only for callers that have
        them (``caller_context``: not for anonymous callers nor service principals)."""
        out: list[z3.BoolRef] = []
        for name, var in self.keys.items():
            if var.derived:
                continue
            out.append(z3.Implies(var.present, self.action_is(lambda info, n=name: info.sends(n))))
            if name in ("aws:principalorgid", "aws:principalorgpaths") or name.startswith(
                "aws:principaltag/"
            ):
                if self.kind in (Kind.SERVICE, Kind.ANONYMOUS):
                    out.append(z3.Not(var.present))
        if self.ec_other is not None:
            out.append(z3.Implies(self.ec_other, self.action_is(lambda info: info.sends(EC_PREFIX + "x"))))
        return out


# -- the encoder ----------------------------------------------------------------------------------


@dataclass
class _Counter:
    opaque: list[tuple[z3.BoolRef, tuple[str, ...]]] = field(default_factory=list)

    def atom(self, depends: Sequence[str], what: str) -> z3.BoolRef:
        atom = z3.Bool(f"opaque#{len(self.opaque)}:{what}")
        self.opaque.append((atom, tuple(depends) or (what,)))
        return atom


class PrincipalEncoder:
    """How a Principal entry names the symbolic caller (``principals.match_principal``,
    ``not_principal_excludes``); key policies, RCPs, grantees and retiring principals use it."""

    def __init__(self, req: SymbolicRequest, opaque: _Counter) -> None:
        self.req = req
        self.opaque = opaque

    # -- principals (principals.match_principal, not_principal_excludes) ---------------------------

    def principal(self, principal: Principal) -> dict[Match, z3.BoolRef]:
        """Per way of naming the caller, when this Principal entry names it that way."""
        req = self.req
        kind = req.kind
        value = principal.value
        if not isinstance(value, str):
            # A symbolic principal may name the caller in any way (``match_principal`` says "maybe"
            # unless a template's literal parts rule the caller out; that refinement is left to the
            # simulator, which re-checks every witness: a regex over the caller's ARNs here costs the
            # solver seconds).
            if kind is Kind.ANONYMOUS:
                return {}
            return {m: self.opaque.atom(refs_of(value), f"principal {m.name}") for m in Match}
        if principal.type is PrincipalType.AWS:
            if value == "*":
                return {Match.WILDCARD: TRUE}
            if kind in (Kind.SERVICE, Kind.ANONYMOUS):
                return {}
            if value.endswith(":root"):
                parts = value.split(":")
                if len(parts) == 6 and parts[2] == "iam" and parts[1] == req.partition:
                    return {Match.ACCOUNT: req.account == _s(parts[4])}
                return {}
            if kind is Kind.ASSUMED_ROLE:
                role: z3.BoolRef = FALSE
                if ":role/" in value:
                    # Role names are unique in an account whatever their path
                    # (principals.match_principal).
                    role = self.same_role(value)
                return {Match.DIRECT: req.session_arn == _s(value), Match.ROLE: role}
            if kind is Kind.ROLE:
                return {Match.ROLE: req.arn == _s(value)}
            return {Match.DIRECT: req.arn == _s(value)}
        if principal.type is PrincipalType.SERVICE and kind is Kind.SERVICE:
            return {Match.DIRECT: TRUE if value == "*" else req.service == _s(value)}
        return {}

    def same_role(self, value: str) -> z3.BoolRef:
        """A role ARN names the caller's role, paths aside (``principals._role_without_path``)."""
        req = self.req
        head, _, tail = value.partition(":role/")
        return _and(
            [
                _concat([_s("arn:" + req.partition + ":iam::"), req.account]) == _s(head),
                req.base == _s(tail.rsplit("/", 1)[-1]),
            ]
        )

    def identities(self) -> list[z3.SeqRef]:
        """``principals.caller_identities`` as terms (an anonymous caller has none)."""
        req = self.req
        kind = req.kind
        if kind is Kind.ANONYMOUS:
            return []
        if kind is Kind.SERVICE:
            return [req.service]
        if kind is Kind.ROOT:
            return [req.root_arn]
        if kind is Kind.ASSUMED_ROLE:
            return [req.session_arn, req.arn, req.root_arn]
        return [req.arn, req.root_arn]

    def not_principal_excludes(self, principals: Sequence[Principal]) -> z3.BoolRef:
        """IAM User Guide, "AWS JSON policy elements: NotPrincipal": a caller is excluded only when
        every identity it has is listed (``principals.not_principal_excludes``)."""
        req = self.req
        if any(p.is_wildcard for p in principals):
            return TRUE
        if req.kind is Kind.ANONYMOUS:
            return FALSE
        listed = [p.value for p in principals if isinstance(p.value, str)]
        symbolic = [p.value for p in principals if not isinstance(p.value, str)]

        def is_listed(term: z3.SeqRef) -> z3.BoolRef:
            return _or([term == _s(v) for v in listed])

        needed = [is_listed(term) for term in self.identities()]
        if req.kind is Kind.ASSUMED_ROLE:
            role_listed = _or([self.same_role(v) for v in listed if ":role/" in v])
            needed[1] = _or([needed[1], role_listed])
        excluded = _and(needed)
        if symbolic:
            refs = tuple(r for v in symbolic for r in refs_of(v))
            return _or([excluded, self.opaque.atom(refs, "NotPrincipal")])
        return excluded


class _PolicyEncoder(PrincipalEncoder):
    """One policy's statements as formulas (``evaluate._evaluate_policy``). ``boundary_attached``:
    the caller has a permissions boundary, which makes a Deny with NotPrincipal name every IAM
    caller (``evaluate._principal_match``)."""

    def __init__(
        self,
        req: SymbolicRequest,
        opaque: _Counter,
        policy: Policy,
        source: str,
        *,
        boundary_attached: bool = False,
    ) -> None:
        super().__init__(req, opaque)
        self.policy = policy
        self.source = source
        self.boundary_attached = boundary_attached
        # IAM User Guide, "Variables and tags": variables only with Version 2012-10-17
        # (``evaluate._compiled``: any version but 2008-10-17 and a missing one).
        self.variables = policy.version != "2008-10-17" and policy.version is not None

    # -- Action / Resource elements (evaluate._Pattern, _match_element_uncached) -------------------

    def element(self, values: Any, negated: bool, subject: z3.SeqRef, *, is_action: bool) -> z3.BoolRef:
        if isinstance(values, Unknown):
            return self.opaque.atom(refs_of(values), f"{self.source} element")
        hits: list[z3.BoolRef] = []
        for value in values or ():
            hits.append(self.pattern(value, subject, is_action=is_action))
        hit = _or(hits)
        return z3.Not(hit) if negated else hit

    def pattern(self, value: Any, subject: Any, *, is_action: bool) -> z3.BoolRef:
        if is_action:
            return self.action_pattern(value)
        if isinstance(value, str):
            if value == "*":
                return TRUE
            if self.variables and "${" in value:
                return self.opaque.atom((f"policy variable in {value}",), "resource variable")
            if "*" in value or "?" in value:
                return self.arn_like(_cond._tokenize(value, True, False), subject)
            return subject == _s(value)
        could: z3.BoolRef = TRUE
        if isinstance(value, Template):
            could = z3.InRe(subject, _wild_regex(_template_tokens(value, lower=False)))
        return _and([could, self.opaque.atom(refs_of(value), "symbolic element")])

    def action_pattern(self, value: Any) -> z3.BoolRef:
        """Action names are case-insensitive: actions and patterns are lower-cased; which actions a
        pattern covers, z3 decides on the ground names (``_covered``)."""
        names = self.req.action_names
        if isinstance(value, str):
            if value == "*":
                return TRUE
            text = value.lower()
            if "*" in text or "?" in text:
                return self.req.action_in(_covered(names, tuple(_cond._tokenize(text, True, False))))
            return self.req.action_in(i for i, name in enumerate(names) if name == text)
        could: z3.BoolRef = TRUE
        if isinstance(value, Template):
            could = self.req.action_in(_covered(names, _template_tokens(value, lower=True)))
        return _and([could, self.opaque.atom(refs_of(value), "symbolic action")])

    def arn_like(self, tokens: Sequence[Any], subject: z3.SeqRef) -> z3.BoolRef:
        """``conditions._arn_match``: six colon-separated components, each matched on its own (a
        wildcard never crosses a colon in the first five; the sixth keeps its colons)."""
        segments = _cond.split_arn_pattern(tokens)
        if segments is None:
            return FALSE
        parts: list[z3.ReRef] = []
        for index, segment in enumerate(segments):
            if index:
                parts.append(z3.Re(":"))
            if index < 5:
                parts.append(_wild_regex(segment, z3.Star(NOT_COLON), NOT_COLON))
            else:
                parts.append(_wild_regex(segment))
        return z3.InRe(subject, _re_concat(parts))

    def statement_principal(self, stmt: Statement) -> dict[Match, z3.BoolRef]:
        """``evaluate._principal_match``: the ways the statement names the caller."""
        if stmt.principals is not None:
            if isinstance(stmt.principals, Unknown):
                return {m: self.opaque.atom(refs_of(stmt.principals), f"principal {m.name}") for m in Match}
            ways: dict[Match, list[z3.BoolRef]] = {}
            for principal in stmt.principals:
                for way, formula in self.principal(principal).items():
                    ways.setdefault(way, []).append(formula)
            return {way: _or(formulas) for way, formulas in ways.items()}
        if stmt.not_principals is not None:
            # IAM User Guide, "Permissions boundaries for IAM entities": "The NotPrincipal element
            # with a Deny effect will always deny any IAM principal that has a permissions boundary
            # policy attached, regardless of the values specified in the NotPrincipal element."
            if self.boundary_attached and stmt.effect == "Deny" and self.req.is_iam:
                return {Match.WILDCARD: TRUE}
            if isinstance(stmt.not_principals, Unknown):
                return {Match.WILDCARD: self.opaque.atom(refs_of(stmt.not_principals), "NotPrincipal")}
            return {Match.WILDCARD: z3.Not(self.not_principal_excludes(stmt.not_principals))}
        return {}

    # -- conditions (conditions._Clause) -------------------------------------------------------------

    def conditions(self, conditions: Any) -> z3.BoolRef:
        if isinstance(conditions, Unknown):
            return self.opaque.atom(refs_of(conditions), "Condition block")
        return _and([self.clause(c) for c in conditions])

    def clause(self, condition: Condition) -> z3.BoolRef:
        op = _cond._parse_operator(str(condition.operator))
        label = f"{condition.operator} {condition.key}"
        if op is None:
            return FALSE  # an unknown operator matches nothing (the builder reports it)
        if not isinstance(condition.key, str):
            return self.opaque.atom(refs_of(condition.key), label)
        var = self.req.key(condition.key)
        values = condition.values
        if op.family == "Null":
            if isinstance(values, Unknown):
                return self.opaque.atom(refs_of(values), label)
            expects: list[bool] = []
            symbolic: list[str] = []
            for raw in values:
                if isinstance(raw, (Unknown, ResourceRef, Template)):
                    symbolic.extend(refs_of(raw))
                    continue
                text = _cond._bool_text(_cond._policy_text(raw))
                if text is not None:
                    expects.append(text == "true")
            is_null = self.is_null(var)
            result = _or([is_null if expect else z3.Not(is_null) for expect in dict.fromkeys(expects)])
            if symbolic:
                result = _or([result, self.opaque.atom(symbolic, label)])
            return result
        missing = self.missing(op)
        if isinstance(values, Unknown):
            present = self.opaque.atom(refs_of(values), label)
        elif op.qualifier is not None:
            present = self.set_clause(op, var, values, label)
        elif var.model == "list":
            assert var.length is not None
            # A multivalued key needs a set operator; with no values it is missing
            # (conditions._Clause.evaluate).
            present = z3.If(var.length == 0, missing, FALSE)
        else:
            present = self.holds(op, var, self.single(var), values, label)
        return z3.If(var.present, present, missing)

    @staticmethod
    def missing(op: Any) -> z3.BoolRef:
        """``conditions._Clause._missing``: IfExists, ForAllValues and negated operators hold."""
        if op.if_exists or op.qualifier == "ForAllValues":
            return TRUE
        if op.qualifier == "ForAnyValue":
            return FALSE
        return _bool(bool(op.negated))

    @staticmethod
    def is_null(var: KeyVar) -> z3.BoolRef:
        """Absent, an empty string or an empty list (``conditions._Clause._null``)."""
        if var.model == "list":
            assert var.length is not None
            return _or([z3.Not(var.present), var.length == 0])
        if var.model == "str":
            assert var.value is not None
            return _or([z3.Not(var.present), var.value == _s("")])
        return z3.Not(var.present)

    @staticmethod
    def single(var: KeyVar) -> Any:
        return var.value if var.model == "str" else var

    def set_clause(self, op: Any, var: KeyVar, values: Sequence[Any], label: str) -> z3.BoolRef:
        """``conditions._Clause._set``: a single-valued key is a set of one value (none for "")."""
        members: list[tuple[z3.BoolRef, Any]]
        if var.model == "list":
            assert var.length is not None
            members = [(var.length > i, item) for i, item in enumerate(var.items)]
        elif var.model == "str":
            assert var.value is not None
            members = [(var.value != _s(""), var.value)]
        else:
            members = [(TRUE, var)]
        checks = [(member, self.holds(op, var, item, values, label)) for member, item in members]
        if op.qualifier == "ForAllValues":
            return _and([z3.Implies(member, check) for member, check in checks])
        return _or([_and([member, check]) for member, check in checks])

    def holds(self, op: Any, var: KeyVar, item: Any, values: Sequence[Any], label: str) -> z3.BoolRef:
        """``_Clause.holds``: the value matches one policy value; negated operators match none."""
        matches = [self.match_value(op, var, item, raw, label) for raw in values]
        hit = _or(matches)
        return z3.Not(hit) if op.negated else hit

    def match_value(self, op: Any, var: KeyVar, item: Any, raw: Any, label: str) -> z3.BoolRef:
        family = op.family
        if isinstance(raw, (Unknown, ResourceRef)):
            return self.opaque.atom(refs_of(raw), label)
        if isinstance(raw, Template):
            # A value built from literal and symbolic parts may match or not; which instantiations
            # can match (``conditions._compile_template``) is left to the simulator's re-check of
            # the witness: as a regex with several ".*" it costs the string solver seconds.
            return self.opaque.atom(refs_of(raw), label)
        text = _cond._policy_text(raw)
        use_vars = self.variables and family in ("String", "Arn", "Bool")
        if family in ("String", "Arn", "Bool"):
            if not isinstance(item, z3.SeqRef):
                return self.opaque.atom((f"{label} on a {var.model} key",), label)
            if family == "String":
                return self.match_string(op, item, text, use_vars, label)
            tokens = _cond._tokenize(text, family == "Arn", use_vars)
            if any(isinstance(t, _cond._Var) for t in tokens):
                return self.opaque.atom((f"policy variable in {label}",), label)
            if family == "Arn":
                return self.arn_like(tokens, item)
            expected = _cond._bool_text(text)
            return z3.InRe(item, _ci_regex(expected)) if expected is not None else FALSE
        if family in ("Numeric", "Date"):
            if var.model != "num" or not isinstance(item, KeyVar):
                return self.opaque.atom((f"{label} on a {var.model} key",), label)
            if family == "Numeric":
                number = _cond._number(text)
                bound = None if number is None else z3.RealVal(format(number, "f"))
            else:
                moment = _cond._instant(text)
                bound = None if moment is None else z3.RealVal(_fraction_text(Fraction(moment)))
            if bound is None:
                return FALSE
            assert item.number is not None and item.is_number is not None
            return _and([item.is_number, _compare(op.base, item.number, bound)])
        if family == "Ip":
            if var.model != "ip" or not isinstance(item, KeyVar):
                return self.opaque.atom((f"{label} on a {var.model} key",), label)
            network = _cond._network(text)
            if network is None:
                return FALSE
            assert item.address is not None and item.is_v4 is not None
            if network.version != 4:
                return _and([z3.Not(item.is_v4), self.opaque.atom((f"{label} (IPv6)",), label)])
            mask = int(network.netmask)
            return _and([item.is_v4, (item.address & mask) == int(network.network_address)])
        return self.opaque.atom((f"{label} ({family})",), label)

    def match_string(self, op: Any, item: z3.SeqRef, text: str, use_vars: bool, label: str) -> z3.BoolRef:
        """String operators; policy variables take the request's value of their key, or their
        default, else the value matches nothing (``conditions._resolve``)."""
        wild = op.base == "StringLike"
        ignore_case = op.base == "StringEqualsIgnoreCase"
        tokens = _cond._tokenize(text, wild, use_vars)
        has_vars = any(isinstance(t, _cond._Var) for t in tokens)
        if not has_vars:
            literal = all(isinstance(t, str) for t in tokens)
            if ignore_case:
                return z3.InRe(item, _ci_regex("".join(str(t) for t in tokens)))
            if literal:
                return item == _s("".join(str(t) for t in tokens))
            return z3.InRe(item, _wild_regex(tokens))
        if ignore_case:
            return self.opaque.atom((f"policy variable in {label}",), label)
        cases: list[tuple[list[z3.BoolRef], list[Any]]] = [([], [])]
        for token in tokens:
            if not isinstance(token, _cond._Var):
                for _, parts in cases:
                    parts.append(token)
                continue
            var = self.req.key(token.name)
            if var.model != "str":
                return self.opaque.atom((f"policy variable ${{{token.name}}} in {label}",), label)
            assert var.value is not None
            expanded: list[tuple[list[z3.BoolRef], list[Any]]] = []
            for conds, parts in cases:
                expanded.append(([*conds, var.present], [*parts, var.value]))
                if token.default is not None:
                    expanded.append(([*conds, z3.Not(var.present)], [*parts, token.default]))
            cases = expanded
        out = []
        for conds, parts in cases:
            if any(p is _cond.STAR or p is _cond.QMARK for p in parts):
                matched = z3.InRe(item, _wild_regex(parts))
            else:
                matched = item == _concat([p if isinstance(p, z3.SeqRef) else _s(str(p)) for p in parts])
            out.append(_and([*conds, matched]))
        return _or(out)

    # -- statements and the policy --------------------------------------------------------------------

    def statements(self, with_principal: bool) -> tuple[z3.BoolRef, z3.BoolRef, dict[Match, z3.BoolRef]]:
        """(explicit deny, allow, allow per way of naming the caller)."""
        req = self.req
        denies: list[z3.BoolRef] = []
        allows: list[z3.BoolRef] = []
        by_way: dict[Match, list[z3.BoolRef]] = {}
        for stmt in self.policy.statements:
            if stmt.actions is not None:
                action = self.element(stmt.actions, False, req.action, is_action=True)
            elif stmt.not_actions is not None:
                action = self.element(stmt.not_actions, True, req.action, is_action=True)
            else:
                continue  # no Action nor NotAction: the statement covers no action
            if stmt.resources is not None:
                resource = self.element(stmt.resources, False, req.resource, is_action=False)
            elif stmt.not_resources is not None:
                resource = self.element(stmt.not_resources, True, req.resource, is_action=False)
            else:
                resource = TRUE
            ways = self.statement_principal(stmt) if with_principal else {}
            if with_principal and not ways:
                continue
            conditions = self.conditions(stmt.conditions) if stmt.conditions else TRUE
            matched = _and([action, resource, conditions])
            if with_principal:
                matched = _and([matched, _or(ways.values())])
            if matched is FALSE:
                continue
            if isinstance(stmt.effect, str):
                if stmt.effect not in ("Allow", "Deny"):
                    continue
                is_deny = _bool(stmt.effect == "Deny")
            else:
                is_deny = self.opaque.atom(refs_of(stmt.effect), "Effect")
            denies.append(_and([matched, is_deny]))
            allows.append(_and([matched, z3.Not(is_deny)]))
            for way, formula in ways.items():
                by_way.setdefault(way, []).append(
                    _and([action, resource, conditions, formula, z3.Not(is_deny)])
                )
        deny, allow = _or(denies), _or(allows)
        ways_out = {way: _or(by_way.get(way, [])) for way in Match}
        if self.policy.unresolved:
            refs = tuple(u.ref for u in self.policy.unresolved)
            deny = _or([deny, self.opaque.atom(refs, "unresolved statements (deny)")])
            extra = self.opaque.atom(refs, "unresolved statements (allow)")
            allow = _or([allow, extra])
            ways_out = {
                way: _or([f, self.opaque.atom(refs, f"unresolved statements ({way.name})")])
                for way, f in ways_out.items()
            }
        return deny, allow, ways_out


def _template_tokens(value: Template, *, lower: bool) -> tuple[Any, ...]:
    """A symbolic element as wildcard tokens: each symbolic part may stand for any text."""
    tokens: list[Any] = []
    for part in value.parts:
        if isinstance(part, str):
            tokens.extend(_cond._tokenize(part.lower() if lower else part, True, False))
        else:
            tokens.append(_cond.STAR)
    return tuple(tokens)


_COVERED: dict[tuple[tuple[str, ...], tuple[Any, ...]], tuple[int, ...]] = {}


def _covered(names: tuple[str, ...], tokens: tuple[Any, ...]) -> tuple[int, ...]:
    """The indices of the (ground) names a wildcard pattern matches, decided by z3's regex
    membership on each ground name; remembered, as policies repeat the same few patterns."""
    key = (names, tuple(str(t) for t in tokens))
    found = _COVERED.get(key)
    if found is None:
        regex = _wild_regex(tokens)
        found = tuple(i for i, name in enumerate(names) if z3.is_true(z3.simplify(z3.InRe(_s(name), regex))))
        if len(_COVERED) > 4096:
            _COVERED.clear()
        _COVERED[key] = found
    return found


def _compare(base: str, a: z3.ArithRef, b: z3.ArithRef) -> z3.BoolRef:
    name = base.replace("Numeric", "").replace("Date", "")
    return {
        "Equals": a == b,
        "LessThan": a < b,
        "LessThanEquals": a <= b,
        "GreaterThan": a > b,
        "GreaterThanEquals": a >= b,
    }[name]


def _fraction_text(value: Fraction) -> str:
    return f"{value.numerator}/{value.denominator}" if value.denominator != 1 else str(value.numerator)


# -- the decision -----------------------------------------------------------------------------------


def key_actions(*, with_retire_grant: bool = False) -> tuple[kms_actions.ActionInfo, ...]:
    """The actions authorized on a key by its key policy: not those on no key (CreateKey...), nor,
    unless asked for, RetireGrant, which the grant decides (``evaluate._decide_retire``)."""
    return tuple(
        info
        for info in kms_actions.all_actions()
        if info.resource_types and (with_retire_grant or info.name != "RetireGrant")
    )


def _list_bounds(policies: Iterable[Policy]) -> dict[str, int]:
    """How many values a multivalued key needs: one per clause over it, plus one. A set of values
    that satisfies the clauses keeps doing so when cut down to one witness value per clause (and
    one value, so that a non-empty set stays non-empty)."""
    counts: dict[str, int] = {}
    for policy in policies:
        for stmt in policy.statements:
            if isinstance(stmt.conditions, Unknown):
                continue
            for condition in stmt.conditions:
                if isinstance(condition.key, str):
                    name = condition.key.lower()
                    counts[name] = counts.get(name, 0) + 1
    return {name: count + 1 for name, count in counts.items()}


def encode(
    key_policy: Policy | None,
    key_arn: str,
    key_account: str,
    kind: Kind,
    *,
    identity_policies: Sequence[Policy] | None = None,
    actions: Sequence[kms_actions.ActionInfo] | None = None,
    list_bounds: dict[str, int] | None = None,
    grants: Sequence[Grant] = (),
    scps: Sequence[Sequence[Policy]] = (),
    rcps: Sequence[Sequence[Policy]] = (),
    permission_boundary: Policy | None = None,
    session_policy: Policy | None = None,
    key_manager: str = "CUSTOMER",
    scp_account: str | None = None,
    new_grant: Grant | None = None,
) -> Encoding:
    """The decision of ``evaluate.decide`` for one key over a symbolic request of a caller of
    ``kind`` on the key, with the inputs ``AuthzInputs`` carries:

    - ``identity_policies``: the caller's identity policies; None when they are not known (an
      external caller's own account controls them), which makes "an identity policy allows" free;
    - ``grants``: the key's grants; ``rcps``: the RCP levels of the key's account (not applied to an
      AWS managed key, ``key_manager="AWS"``);
    - ``scps``: the SCP levels of the caller's account -- of every caller the encoding considers, or,
      with ``scp_account``, of callers of that account only (other accounts' SCPs are then not known
      and not applied: they could only take access away);
    - ``permission_boundary`` / ``session_policy``: the caller's, applied to the callers the
      simulator applies them to (IAM principals; role and federated sessions).

    With ``actions`` including ``kms:RetireGrant``, that action is decided as ``_decide_retire``
    does (``key_actions(with_retire_grant=True)``). ``new_grant``: for CreateGrant, the grant being
    created (``decide_create_grant``). ``key_policy`` None: not known (its facts are opaque)."""
    from kmsguard.prove import encode_grants  # it builds on this module's helpers

    req = SymbolicRequest(kind, key_arn, key_account, actions if actions is not None else key_actions())
    boundary = permission_boundary if kind in IAM_KINDS else None
    session = session_policy if kind in SESSION_KINDS else None
    scp_levels = [tuple(level) for level in scps] if kind in ACCOUNT_KINDS else []
    rcp_levels = [tuple(level) for level in rcps] if key_manager != "AWS" else []
    policies = [p for p in (key_policy, *(identity_policies or ())) if p is not None]
    policies.extend(p for p in (boundary, session) if p is not None)
    policies.extend(p for level in (*scp_levels, *rcp_levels) for p in level)
    req.list_bounds.update(_list_bounds(policies))
    for name, bound in (list_bounds or {}).items():
        req.list_bounds[name.lower()] = max(bound, req.list_bounds.get(name.lower(), 1))
    opaque = _Counter()
    facts: dict[str, z3.BoolRef] = {}

    def policy_facts(policy: Policy, source: str, with_principal: bool = False) -> tuple[z3.BoolRef, ...]:
        encoder = _PolicyEncoder(req, opaque, policy, source, boundary_attached=boundary is not None)
        return encoder.statements(with_principal)[:2]

    if key_policy is None:
        # The simulator's "policy not known": every fact of the key policy may be either.
        kp_deny = opaque.atom(("key policy",), "key policy deny")
        ways = {way: opaque.atom(("key policy",), f"key policy {way.name}") for way in Match}
    else:
        kp_deny, _, ways = _PolicyEncoder(
            req, opaque, key_policy, "key policy", boundary_attached=boundary is not None
        ).statements(True)
    id_deny: z3.BoolRef = FALSE
    identity: z3.BoolRef = FALSE
    if kind in IAM_KINDS:
        # evaluate._decide: identity policies count for IAM principals only.
        if identity_policies is None:
            identity = z3.Bool(IDENTITY_ALLOWS)
        else:
            pairs = [policy_facts(p, f"identity policy #{n}") for n, p in enumerate(identity_policies, 1)]
            id_deny, identity = _or(d for d, _ in pairs), _or(a for _, a in pairs)
    # Boundary and session policy limit what identity policies and role / "*" key policy statements
    # allow; their explicit denies count like any other (IAM User Guide, "Policy evaluation logic").
    within: list[z3.BoolRef] = []
    limit_denies: list[z3.BoolRef] = []
    for policy, source in ((boundary, "permissions boundary"), (session, "session policy")):
        if policy is not None:
            d, a = policy_facts(policy, source)
            limit_denies.append(d)
            within.append(a)
            facts[source] = a
    inside = _and(within)
    # SCPs: IAM principals and root users, not service-linked roles; RCPs: every caller of a customer
    # managed key, not service-linked roles (evaluate._decide, with its sources).
    not_service_linked = _not(req.service_linked)
    scp_ok, scp_deny, scp_applies = TRUE, FALSE, FALSE
    if scp_levels:
        scp_applies = _and(
            [not_service_linked, TRUE if scp_account is None else req.account == _s(scp_account)]
        )
        scp_allow, scp_deny_any = _levels(req, opaque, scp_levels, "SCP", with_principal=False)
        scp_ok, scp_deny = _or([_not(scp_applies), scp_allow]), _and([scp_applies, scp_deny_any])
        facts["scp"] = scp_allow
    rcp_ok, rcp_deny = TRUE, FALSE
    if rcp_levels:
        rcp_allow, rcp_deny_any = _levels(req, opaque, rcp_levels, "RCP", with_principal=True)
        rcp_ok, rcp_deny = _or([req.service_linked, rcp_allow]), _and([not_service_linked, rcp_deny_any])
        facts["rcp"] = rcp_allow
    principals = PrincipalEncoder(req, opaque)
    encode_grants.register_grant_keys(principals, grants)
    grant = encode_grants.grant_facts(principals, grants, new_grant)

    # Operations on no key, and the alias half of alias operations: IAM policies alone
    # (evaluate._decide, iam_only).
    alias = ":alias/" in key_arn
    iam_only = req.action_is(
        lambda info: not info.resource_types or (alias and "alias" in info.resource_types)
    )
    # kms:RetireGrant counts the key policy's denies without the boundary rule for NotPrincipal.
    retire_kp_deny = FALSE
    if key_policy is not None:
        retire_kp_deny = kp_deny
        if boundary is not None:
            retire_kp_deny = _PolicyEncoder(req, opaque, key_policy, "key policy").statements(True)[0]
    kp_deny = _and([_not(iam_only), kp_deny])
    deny = _or([kp_deny, id_deny, *limit_denies, scp_deny, rcp_deny])
    other_account = _and([req.has_account, req.account != _s(key_account)])
    # KMS API Reference, "Cross-account use: No": the allows are not effective (evaluate._decide).
    blocked = _and([other_account, _not(req.action_is(lambda info: info.cross_account))])
    # KMS accepts no unsigned request (MissingAuthenticationToken); a key id naming another
    # account's key is not found (the resource here is always the key's ARN).
    error = _or([kind is Kind.ANONYMOUS, _and([other_account, not key_arn.startswith("arn:")])])
    by_policies = _granted(kind, ways, identity, inside, other_account, iam_only)
    allowed = _and(
        [
            _not(deny),
            scp_ok,
            rcp_ok,
            _not(blocked),
            _or([grant.direct, _and([grant.via_account, identity, inside]), by_policies]),
        ]
    )
    facts.update(
        {
            "key policy deny": kp_deny,
            "identity": identity,
            "grant": grant.direct,
            "grant via account": grant.via_account,
            "blocked": blocked,
            **{f"key policy {way.name.lower()}": formula for way, formula in ways.items()},
        }
    )
    retire = req.action_is(lambda info: info.name == "RetireGrant")
    if retire is not FALSE:
        allowed, deny = _with_retire(
            req,
            opaque,
            retire,
            (allowed, deny),
            retire_kp_deny,
            (id_deny, identity),
            (scp_ok, scp_deny),
            grants,
        )
    return Encoding(
        req,
        _and([_not(error), allowed]),
        _and([_not(error), deny]),
        error,
        req.key_constraints(),
        req.sent_keys(),
        opaque.opaque,
        facts,
    )


def encode_inputs(
    inputs: AuthzInputs,
    key_arn: str,
    key_account: str,
    kind: Kind,
    *,
    identity_known: bool = True,
    actions: Sequence[kms_actions.ActionInfo] | None = None,
    list_bounds: dict[str, int] | None = None,
    scp_account: str | None = None,
    new_grant: Grant | None = None,
) -> Encoding:
    """``encode`` with what ``AuthzInputs`` carries (the simulator's inputs for the same key).
    ``identity_known=False``: the caller's identity policies are not known (free), whatever
    ``inputs.identity_policies`` holds."""
    return encode(
        inputs.key_policy,
        key_arn,
        key_account,
        kind,
        identity_policies=inputs.identity_policies if identity_known else None,
        actions=actions,
        list_bounds=list_bounds,
        grants=inputs.grants,
        scps=inputs.scps,
        rcps=inputs.rcps,
        permission_boundary=inputs.permission_boundary,
        session_policy=inputs.session_policy,
        key_manager=inputs.key_manager,
        scp_account=scp_account,
        new_grant=new_grant,
    )


def encode_for_question(
    key_policy: Policy,
    key_arn: str,
    key_account: str,
    kind: Kind,
    actions: Sequence[kms_actions.ActionInfo],
    inputs: AuthzInputs | None,
) -> Encoding:
    """The encoding a question about every caller of a kind uses (``questions``). ``inputs``
    (optional) adds what belongs to the key: its grants, its account's RCPs and ``key_manager``;
    and the SCPs, which are the caller's account's, for callers of the key's account only. Identity
    policies, boundaries and session policies are each caller's own: identity policies stay free
    ("may allow"), and boundaries and session policies are left out (they could only take access
    away, so every "no" stays true). ``inputs.key_policy`` is not used: ``key_policy`` is."""
    if inputs is None:
        return encode(key_policy, key_arn, key_account, kind, actions=actions)
    return encode(
        key_policy,
        key_arn,
        key_account,
        kind,
        actions=actions,
        grants=inputs.grants,
        scps=inputs.scps,
        scp_account=key_account,
        rcps=inputs.rcps,
        key_manager=inputs.key_manager,
    )


def witness_inputs(
    key_policy: Policy,
    identity_policies: Sequence[Policy],
    request: Request,
    inputs: AuthzInputs | None,
) -> AuthzInputs:
    """What the simulator is given to re-check a witness of ``encode_for_question``: the same
    grants, RCPs and key manager, and the SCPs when the caller is of the key's account."""
    if inputs is None:
        return AuthzInputs(key_policy=key_policy, identity_policies=tuple(identity_policies))
    same_account = request.caller.account == request.resource_account
    return AuthzInputs(
        key_policy=key_policy,
        identity_policies=tuple(identity_policies),
        grants=inputs.grants,
        scps=inputs.scps if same_account else (),
        rcps=inputs.rcps,
        key_manager=inputs.key_manager,
    )


def _levels(
    req: SymbolicRequest,
    opaque: _Counter,
    levels: Sequence[Sequence[Policy]],
    label: str,
    *,
    with_principal: bool,
) -> tuple[z3.BoolRef, z3.BoolRef]:
    """SCPs or RCPs (``evaluate._evaluate_levels``): (every level allows, some policy denies). An
    RCP's Principal element is matched like a key policy's."""
    allows: list[z3.BoolRef] = []
    denies: list[z3.BoolRef] = []
    for number, level in enumerate(levels, 1):
        level_allows = []
        for index, policy in enumerate(level, 1):
            encoder = _PolicyEncoder(req, opaque, policy, f"{label} level {number} #{index}")
            d, a, _ = encoder.statements(with_principal)
            denies.append(d)
            level_allows.append(a)
        allows.append(_or(level_allows))
    return _and(allows), _or(denies)


def _granted(
    kind: Kind,
    ways: dict[Match, z3.BoolRef],
    identity: z3.BoolRef,
    inside: z3.BoolRef,
    other_account: z3.BoolRef,
    iam_only: z3.BoolRef,
) -> z3.BoolRef:
    """``evaluate._combine`` after denies, SCPs, RCPs, blocked operations and grants: what the key
    policy and the identity policies allow (``inside``: within the boundary and session policy)."""
    direct, role, wild, account = (ways[m] for m in (Match.DIRECT, Match.ROLE, Match.WILDCARD, Match.ACCOUNT))
    kp_any = _or([direct, role, wild, account])
    if kind is Kind.SERVICE:
        by_key_policy, alone = _or([direct, wild]), FALSE
    elif kind is Kind.ANONYMOUS:
        by_key_policy, alone = wild, FALSE
    elif kind is Kind.ROOT:
        # No key policy applies (CreateKey...): the root user has full access in its account.
        by_key_policy, alone = kp_any, TRUE
    else:
        # A statement naming a user or session ARN allows even outside the boundary and session
        # policy; a role ARN or "*" only within them; the account delegates to IAM.
        same = _or(
            [
                direct if kind is not Kind.ROLE else FALSE,
                _and([_or([direct, role, wild]), inside]),
                _and([account, identity, inside]),
            ]
        )
        cross = _and([kp_any, identity, inside])
        by_key_policy = _or([_and([other_account, cross]), _and([_not(other_account), same])])
        alone = _and([identity, inside])
    return _or([_and([iam_only, alone]), _and([_not(iam_only), by_key_policy])])


def _with_retire(
    req: SymbolicRequest,
    opaque: _Counter,
    retire: z3.BoolRef,
    decided: tuple[z3.BoolRef, z3.BoolRef],
    kp_deny: z3.BoolRef,
    identity_facts: tuple[z3.BoolRef, z3.BoolRef],
    scp_facts: tuple[z3.BoolRef, z3.BoolRef],
    grants: Sequence[Grant],
) -> tuple[z3.BoolRef, z3.BoolRef]:
    """(allowed, deny) with kms:RetireGrant decided by ``evaluate._decide_retire``: the grant decides
    (no key policy allow needed), explicit denies of the key policy (no boundary rule), identity
    policies and SCPs count; boundaries, session policies and RCPs do not, nor the cross-account
    rule."""
    from kmsguard.prove import encode_grants

    allowed, deny = decided
    id_deny, identity = identity_facts
    scp_ok, scp_deny = scp_facts
    retire_deny = _or([kp_deny, id_deny, scp_deny])
    principals = PrincipalEncoder(req, opaque)
    retire_allowed = _and(
        [_not(retire_deny), scp_ok, encode_grants.retire_allows(principals, grants, identity)]
    )
    return (
        _or([_and([retire, retire_allowed]), _and([_not(retire), allowed])]),
        _or([_and([retire, retire_deny]), _and([_not(retire), deny])]),
    )


# -- concrete requests and witnesses ------------------------------------------------------------


def _split_name(rest: str) -> tuple[str, str]:
    """``path/to/name`` -> ("path/to/", "name")."""
    if "/" in rest:
        head, _, base = rest.rpartition("/")
        return head + "/", base
    return "", rest


def fix_request(req: SymbolicRequest, request: Request) -> list[z3.BoolRef]:
    """Constraints that make the symbolic request ``request`` (for consistency tests): the caller,
    the action, and every free context key the policies mention -- present with the request's
    value, else absent. The request's own keys win over the caller's, as in
    ``conditions.request_context``."""
    caller = request.caller
    kind = Kind[caller.kind.name]
    if kind is not req.kind:
        raise ValueError(f"a {kind.name} caller for an encoding of {req.kind.name} callers")
    out = [req.action == req.action_index(request.action)]
    if kind in ACCOUNT_KINDS:
        out.append(req.account == _s(caller.account or ""))
    if kind in (Kind.USER, Kind.ROLE, Kind.ASSUMED_ROLE):
        rest = caller.arn.split(":", 5)[5].split("/", 1)[1]
        path, base = _split_name(rest)
        out.extend([req.path == _s(path), req.base == _s(base)])
    if kind is Kind.ASSUMED_ROLE:
        out.append(req.session == _s((caller.session_arn or "").rsplit("/", 1)[-1]))
    if kind is Kind.FEDERATED_USER:
        out.append(req.base == _s(caller.arn.rsplit("/", 1)[-1]))
    if kind is Kind.SERVICE:
        out.append(req.service == _s(caller.service or caller.arn))
    if caller.userid is not None:
        out.append(req.userid == _s(caller.userid))
    context: dict[str, ContextValue] = {}
    if caller.org_id and kind not in (Kind.SERVICE, Kind.ANONYMOUS):
        context["aws:principalorgid"] = caller.org_id
    if caller.org_paths and kind not in (Kind.SERVICE, Kind.ANONYMOUS):
        context["aws:principalorgpaths"] = tuple(caller.org_paths)
    if kind not in (Kind.SERVICE, Kind.ANONYMOUS):
        for tag, tag_value in caller.tags.items():
            context["aws:principaltag/" + tag.lower()] = tag_value
    for name, given in request.context.items():
        context[name.lower()] = given
    for name, var in req.keys.items():
        if var.derived:
            continue
        found = context.get(name)
        if found is None:
            out.append(z3.Not(var.present))
            continue
        out.append(var.present)
        out.extend(_fix_value(var, found))
    if req.ec_other is not None:
        other = any(name.startswith(EC_PREFIX) and name not in req.keys for name in context)
        out.append(req.ec_other if other else z3.Not(req.ec_other))
    for token, carried in req.tokens.items():
        out.append(carried if token in request.grant_tokens else z3.Not(carried))
    return out


def _fix_value(var: KeyVar, value: ContextValue) -> list[z3.BoolRef]:
    if var.model == "list":
        assert var.length is not None
        items = (value,) if isinstance(value, str) else tuple(value)
        if len(items) > len(var.items):
            raise ValueError(f"{var.name}: {len(items)} values, the model holds {len(var.items)}")
        return [var.length == len(items), *(var.items[i] == _s(v) for i, v in enumerate(items))]
    if not isinstance(value, str):
        raise ValueError(f"{var.name}: a list for a single-valued key")
    if var.model == "str":
        assert var.value is not None
        return [var.value == _s(value)]
    if var.model == "num":
        assert var.is_number is not None and var.number is not None
        number = _cond._number(value)
        moment = _cond._instant(value)
        parsed = number if number is not None else moment
        if parsed is None:
            return [z3.Not(var.is_number)]
        return [var.is_number, var.number == z3.RealVal(_fraction_text(Fraction(parsed)))]
    assert var.is_v4 is not None and var.address is not None
    network = _cond._network(value)
    if network is None or network.version != 4 or network.num_addresses != 1:
        return [z3.Not(var.is_v4)]
    return [var.is_v4, var.address == int(network.network_address)]


def witness_request(req: SymbolicRequest, model: z3.ModelRef) -> tuple[Request, dict[str, Any]]:
    """The concrete request a model describes, and its CASE-format ``request`` object (what
    ``kmsguard simulate --case`` reads)."""
    from kmsguard.authz.principals import parse_caller

    used = set(req.used)  # before the terms below mark more variables as used
    defaults = {"name": "witness", "session": "session", "service": "example.amazonaws.com", "path": ""}

    def text(term: z3.ExprRef) -> str:
        # Variables the formulas do not use get well-formed stand-ins (they change nothing).
        missing = [(z3.String(name), _s(value)) for name, value in defaults.items() if name not in used]
        term = z3.substitute(term, *missing) if missing else term
        return _text(model.eval(term, model_completion=True))

    kind = req.kind
    action_lc = req.action_names[model.eval(req.action, model_completion=True).as_long()]
    info = kms_actions.action_info(action_lc)
    action = info.iam_action if info is not None else action_lc
    attributes: dict[str, Any] = {}
    role_arn = None
    if kind is Kind.SERVICE:
        principal = text(req.service)
    elif kind is Kind.ANONYMOUS:
        principal = "anonymous"
    elif kind is Kind.ASSUMED_ROLE:
        principal = text(req.session_arn)
        role_arn = text(req.arn)
    else:
        principal = text(req.arn)
    if kind in (Kind.USER, Kind.ROLE, Kind.ASSUMED_ROLE) and "aws:userid" in req.keys:
        attributes["userid"] = text(req.userid)
    context: dict[str, ContextValue] = {}
    for name, var in sorted(req.keys.items()):
        if var.derived or not z3.is_true(model.eval(var.present, model_completion=True)):
            continue
        context[name] = _render(var, model)
    if req.ec_other is not None and z3.is_true(model.eval(req.ec_other, model_completion=True)):
        # An encryption context key that no policy or grant names (any will do: none reads it).
        other = next(
            f"{EC_PREFIX}other{n}" for n in range(len(req.keys) + 1) if f"{EC_PREFIX}other{n}" not in req.keys
        )
        context[other] = "witness"
    tokens = tuple(
        token
        for token, carried in sorted(req.tokens.items())
        if z3.is_true(model.eval(carried, model_completion=True))
    )
    case: dict[str, Any] = {
        "action": action,
        "principal": principal,
        "resource": req.key_arn,
        "resource_account": req.key_account,
        "context": {k: list(v) if isinstance(v, tuple) else v for k, v in context.items()},
    }
    if tokens:
        case["grant_tokens"] = list(tokens)
    if role_arn is not None:
        case["role_arn"] = role_arn
        attributes["role_arn"] = role_arn
    if "userid" in attributes:
        case["userid"] = attributes["userid"]
    caller: Caller = parse_caller(principal, **attributes)
    request = Request(
        action=action,
        caller=caller,
        resource=req.key_arn,
        resource_account=req.key_account,
        context=context,
        grant_tokens=tokens,
    )
    return request, case


def _render(var: KeyVar, model: z3.ModelRef) -> ContextValue:
    def ev(term: z3.ExprRef) -> z3.ExprRef:
        return model.eval(term, model_completion=True)

    if var.model == "list":
        assert var.length is not None
        count = ev(var.length).as_long()
        return tuple(_text(ev(item)) for item in var.items[:count])
    if var.model == "str":
        assert var.value is not None
        return _text(ev(var.value))
    if var.model == "num":
        assert var.is_number is not None and var.number is not None
        if not z3.is_true(ev(var.is_number)):
            return "not-a-number"
        value = ev(var.number).as_fraction()
        return _decimal_text(Fraction(value.numerator, value.denominator))
    assert var.is_v4 is not None and var.address is not None
    if not z3.is_true(ev(var.is_v4)):
        return "not-an-ip-address"
    number = ev(var.address).as_long()
    return ".".join(str((number >> shift) & 0xFF) for shift in (24, 16, 8, 0))


def _decimal_text(value: Fraction) -> str:
    """A fraction whose denominator divides SCALE, as a finite decimal."""
    sign = "-" if value < 0 else ""
    value = abs(value)
    whole, rest = divmod(value.numerator, value.denominator)
    if rest == 0:
        return f"{sign}{whole}"
    digits = rest * SCALE // value.denominator
    return f"{sign}{whole}.{str(digits).rjust(6, '0').rstrip('0')}"
