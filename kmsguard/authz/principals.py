"""Who is calling, and which Principal / NotPrincipal entries name them.

Sources:
- IAM User Guide, "AWS JSON policy elements: Principal" (account principals, role and role-session
  principals, "*" for all principals, service principals; no partial wildcards in principal ARNs).
- IAM User Guide, "AWS JSON policy elements: NotPrincipal" (a role session is excluded only when the
  session ARN, the role ARN and the account ARN are all listed).
- IAM User Guide, "IAM identifiers" (ARN forms of users, roles, assumed-role and federated-user
  sessions).
"""

from __future__ import annotations

import re
from enum import IntEnum
from typing import Any

from kmsguard.authz.types import Caller, PrincipalKind
from kmsguard.model.policy import Principal, PrincipalType
from kmsguard.model.values import ResourceRef, Template, Unknown

_ACCOUNT_ID = re.compile(r"^\d{12}$")
_IAM_ARN = re.compile(r"^arn:(?P<partition>[\w-]+):(?P<service>iam|sts)::(?P<account>\d{12}):(?P<rest>.+)$")
_SERVICE = re.compile(r"^[a-z0-9.-]+\.amazonaws\.com(\.cn)?$")
_CALLER_FIELDS = frozenset({"tags", "org_id", "org_paths", "username", "userid", "session_arn"})


class PrincipalMatch(IntEnum):
    """How a policy's principal entry names the caller; the kinds differ in what else AWS requires.

    ACCOUNT: the caller's account (``arn:aws:iam::A:root``): delegation to IAM for IAM principals, the
    identity itself for the root user. ROLE: a role ARN naming a session of that role. WILDCARD:
    ``"*"`` or a NotPrincipal that does not exclude the caller. DIRECT: the caller's own ARN (user,
    role session, federated user session, root user) or its service principal."""

    NONE = 0
    ACCOUNT = 1
    WILDCARD = 2
    ROLE = 3
    DIRECT = 4


class CallerError(ValueError):
    """A caller string kmsguard cannot read as an AWS principal."""


def parse_caller(arn: str, **attributes: Any) -> Caller:
    """A ``Caller`` from what a request is signed with.

    ``arn`` is a user / role / root ARN, an assumed-role or federated-user session ARN, a bare account
    id (its root user), a service principal (``s3.amazonaws.com``) or ``"*"`` / ``"anonymous"``.
    ``attributes`` sets the other ``Caller`` fields (``tags``, ``org_id``, ``org_paths``,
    ``username``, ``userid``) and, for a session, ``role_arn`` -- the role ARN with its path, which a
    session ARN does not carry (IAM User Guide, "IAM identifiers": the assumed-role ARN omits the
    path)."""
    text = arn.strip()
    role_arn = attributes.pop("role_arn", None)
    unknown = set(attributes) - _CALLER_FIELDS
    if unknown:
        raise CallerError(f"unknown caller attribute(s): {', '.join(sorted(unknown))}")
    extra: dict[str, Any] = dict(attributes)
    if "tags" in extra:
        extra["tags"] = dict(extra["tags"])
    if "org_paths" in extra:
        extra["org_paths"] = tuple(extra["org_paths"])
    if text in ("*", "anonymous", ""):
        return Caller(PrincipalKind.ANONYMOUS, "anonymous", None, **extra)
    if _ACCOUNT_ID.match(text):
        return Caller(PrincipalKind.ROOT, f"arn:aws:iam::{text}:root", text, **extra)
    if _SERVICE.match(text):
        return Caller(PrincipalKind.SERVICE, text, None, service=text, **extra)
    found = _IAM_ARN.match(text)
    if not found:
        raise CallerError(f"not a principal ARN, account id or service principal: {arn!r}")
    partition, service, account, rest = found.group("partition", "service", "account", "rest")
    if service == "iam":
        if rest == "root":
            return Caller(PrincipalKind.ROOT, text, account, **extra)
        if rest.startswith("user/"):
            extra.setdefault("username", rest.rsplit("/", 1)[-1])
            return Caller(PrincipalKind.USER, text, account, **extra)
        if rest.startswith("role/"):
            return Caller(PrincipalKind.ROLE, text, account, **extra)
    else:
        if rest.startswith("assumed-role/") and rest.count("/") >= 2:
            _, role_name, _session = rest.split("/", 2)
            role = role_arn or f"arn:{partition}:iam::{account}:role/{role_name}"
            extra.pop("session_arn", None)
            return Caller(PrincipalKind.ASSUMED_ROLE, role, account, session_arn=text, **extra)
        if rest.startswith("federated-user/"):
            extra.pop("session_arn", None)
            return Caller(PrincipalKind.FEDERATED_USER, text, account, session_arn=text, **extra)
    raise CallerError(f"not a caller principal (user, role, session, root or service): {arn!r}")


def caller_identities(caller: Caller) -> tuple[str, ...]:
    """Every principal string that names this caller in a Principal element, most specific first.

    A role session is named by its session ARN and by its role ARN (IAM User Guide, "AWS JSON policy
    elements: Principal", "Role session principals" and "IAM role principals"); every IAM principal
    and the root user are also named by their account ARN."""
    kind = caller.kind
    if kind is PrincipalKind.SERVICE:
        return (caller.service or caller.arn,)
    if kind is PrincipalKind.ANONYMOUS:
        return ()
    root = f"arn:{_partition(caller.arn)}:iam::{caller.account}:root"
    if kind is PrincipalKind.ROOT:
        return (root,)
    if kind is PrincipalKind.ASSUMED_ROLE:
        return (caller.session_arn or caller.arn, caller.arn, root)
    return (caller.arn, root)


def match_principal(principal: Principal, caller: Caller) -> PrincipalMatch | None:
    """How one Principal entry names the caller; None when the entry is symbolic and could."""
    value = principal.value
    ptype = principal.type
    if not isinstance(value, str):
        return None if _could_match(value, caller) else PrincipalMatch.NONE
    if ptype is PrincipalType.AWS:
        if value == "*":
            return PrincipalMatch.WILDCARD
        kind = caller.kind
        if kind in (PrincipalKind.SERVICE, PrincipalKind.ANONYMOUS):
            return PrincipalMatch.NONE
        if value.endswith(":root"):
            parts = value.split(":")
            if (
                len(parts) == 6
                and parts[4] == caller.account
                and parts[2] == "iam"
                and parts[1] == _partition(caller.arn)
            ):
                return PrincipalMatch.ACCOUNT
            return PrincipalMatch.NONE
        if kind is PrincipalKind.ASSUMED_ROLE:
            if value == caller.session_arn:
                return PrincipalMatch.DIRECT
            # Role names are unique in an account whatever their path (IAM User Guide, "IAM
            # identifiers"), so a role ARN with or without its path names the same role.
            if ":role/" in value and _role_without_path(value) == _role_without_path(caller.arn):
                return PrincipalMatch.ROLE
            return PrincipalMatch.NONE
        if kind is PrincipalKind.ROLE:
            return PrincipalMatch.ROLE if value == caller.arn else PrincipalMatch.NONE
        return PrincipalMatch.DIRECT if value == caller.arn else PrincipalMatch.NONE
    if ptype is PrincipalType.SERVICE:
        if caller.kind is PrincipalKind.SERVICE and (value == caller.service or value == "*"):
            return PrincipalMatch.DIRECT
        return PrincipalMatch.NONE
    # Federated principals appear in role trust policies; a KMS request comes from the role session
    # that the federation produced, never from the identity provider itself. CanonicalUser is S3-only.
    return PrincipalMatch.NONE


def not_principal_excludes(principals: tuple[Principal, ...], caller: Caller) -> bool | None:
    """Whether a NotPrincipal list excludes the caller (the statement then does not apply to it).

    IAM User Guide, "AWS JSON policy elements: NotPrincipal": with Deny, a principal is excluded only
    when every identity it has is listed -- the user ARN and its account ARN; for a role session the
    session ARN, the role ARN and the account ARN."""
    if any(p.is_wildcard for p in principals):
        return True
    if caller.kind is PrincipalKind.ANONYMOUS:
        return False
    listed: set[str] = set()
    symbolic = False
    for principal in principals:
        if isinstance(principal.value, str):
            listed.add(principal.value)
        else:
            symbolic = True
    needed = caller_identities(caller)
    missing = [ident for ident in needed if ident not in listed]
    if caller.kind is PrincipalKind.ASSUMED_ROLE:
        role = _role_without_path(caller.arn)
        if any(":role/" in v and _role_without_path(v) == role for v in listed):
            missing = [m for m in missing if m != caller.arn]
    if not missing:
        return True
    return None if symbolic else False


def _could_match(value: Unknown | ResourceRef | Template | Any, caller: Caller) -> bool:
    """Whether a symbolic principal could name the caller: a template's literal parts must fit."""
    if not isinstance(value, Template):
        return True
    pattern = "".join(re.escape(p) if isinstance(p, str) else ".*" for p in value.parts)
    regex = re.compile(pattern, re.S)
    candidates = (*caller_identities(caller), "*")
    return any(regex.fullmatch(c) for c in candidates)


def _partition(arn: str) -> str:
    parts = arn.split(":", 2)
    return parts[1] if len(parts) > 2 and parts[0] == "arn" and parts[1] else "aws"


def _role_without_path(role_arn: str) -> str:
    """``arn:aws:iam::1:role/path/name`` -> ``arn:aws:iam::1:role/name``: the form an assumed-role
    session ARN lets one derive when the path is not known."""
    head, _, tail = role_arn.partition(":role/")
    return f"{head}:role/{tail.rsplit('/', 1)[-1]}" if tail else role_arn


def is_service_linked_role(caller: Caller) -> bool:
    """Service-linked roles live under the ``/aws-service-role/`` path (IAM User Guide, "Create a
    service-linked role")."""
    return caller.kind in (PrincipalKind.ROLE, PrincipalKind.ASSUMED_ROLE) and (
        ":role/aws-service-role/" in caller.arn
    )
