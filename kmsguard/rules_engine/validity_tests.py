"""Named tests for the validity rules (KMS109-KMS113): statements AWS rejects, or that do not mean
what they say -- an action that does not exist, a condition key the actions never send, an operator
of the wrong type, a set operator on a single-valued key, a Sid IAM refuses.

The facts (which actions exist, which keys each sends, each key's type) come from the generated
Service Authorization Reference table read by ``kmsguard.authz.kms_actions``; nothing here is a
hand-typed action or key list. Each test takes a statement ``Subject`` and returns a
``TestResult`` whose fields fill the rule's message. Every test works on key policy and identity
policy statements alike (the subject's kind says which)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from kmsguard.model import Span, Statement, Unknown
from kmsguard.model.policy import Condition
from kmsguard.model.values import INVALID_POLICY, is_symbolic, span_of
from kmsguard.rules_engine.logic import FALSE, TRUE, unresolved
from kmsguard.rules_engine.predicates import Subject, TestResult

KMS_PREFIX = "kms:"

# ---------------------------------------------------------------------------------------------
# Actions
# ---------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def kms_action_names() -> tuple[str, ...]:
    """Every KMS action name, as the Service Authorization Reference spells it ("Decrypt")."""
    from kmsguard.authz.kms_actions import all_actions

    return tuple(info.name for info in all_actions())


@lru_cache(maxsize=1024)
def action_pattern(pattern: str) -> re.Pattern[str]:
    """The regular expression an Action entry stands for, compiled once per distinct entry."""
    # IAM action names are case-insensitive; "*" matches any run of characters and "?" one
    # character (IAM User Guide, "IAM JSON policy elements: Action").
    body = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
    return re.compile(f"^{body}$", re.IGNORECASE)


def matching_kms_actions(action: str) -> tuple[str, ...]:
    """The KMS actions an Action entry matches: ``"kms:Get*"`` -> GetKeyPolicy, GetPublicKey...;
    ``"*"`` -> all of them; another service's action -> none."""
    # Located strings hash and compare as their text: the cache is keyed by what was written.
    return _matching_kms_actions(str(action))


@lru_cache(maxsize=4096)
def _matching_kms_actions(action: str) -> tuple[str, ...]:
    if action.strip() == "*":
        return kms_action_names()
    if not action.lower().startswith(KMS_PREFIX):
        return ()
    regex = action_pattern(action[len(KMS_PREFIX) :])
    return tuple(name for name in kms_action_names() if regex.match(name))


def _has_wildcard(text: str) -> bool:
    return "*" in text or "?" in text


def closest_kms_action(action: str) -> str | None:
    """The valid action a misspelt one most likely meant: ``kms:Decrpyt`` -> ``kms:Decrypt``."""
    import difflib

    bare = action[len(KMS_PREFIX) :] if action.lower().startswith(KMS_PREFIX) else action
    by_lower = {name.lower(): name for name in kms_action_names()}
    # ReEncrypt is the API operation; IAM authorizes it as ReEncryptFrom + ReEncryptTo (KMS API
    # Reference, "ReEncrypt": Required permissions).
    if bare.lower().rstrip("*?") == "reencrypt":
        return "kms:ReEncryptFrom, kms:ReEncryptTo or kms:ReEncrypt*"
    literal = bare.replace("*", "").replace("?", "").lower()
    if not literal:
        return None
    if _has_wildcard(bare):
        # A wildcard that matches nothing: suggest the names the literal part is closest to a prefix of.
        prefixes = [
            name for low, name in by_lower.items() if low.startswith(literal[: max(3, len(literal) // 2)])
        ]
        if prefixes:
            return "kms:" + prefixes[0]
    found = difflib.get_close_matches(literal, list(by_lower), n=1, cutoff=0.6)
    return "kms:" + by_lower[found[0]] if found else None


@dataclass(frozen=True)
class CoveredActions:
    """The KMS actions a statement's Action / NotAction covers, and what could not be read."""

    actions: frozenset[str]
    pending: tuple[str, ...]  # refs of symbolic entries that could name any action


def covered_kms_actions(stmt: Statement) -> CoveredActions | None:
    """None when the statement has no readable Action or NotAction (a stand-in for an unresolved
    part of a policy, or a grammar error reported by KMS100)."""
    listed = stmt.actions if stmt.actions is not None else stmt.not_actions
    if listed is None:
        return None
    if isinstance(listed, Unknown):
        return CoveredActions(frozenset(), (listed.ref,))
    named: set[str] = set()
    pending: list[str] = []
    for entry in listed:
        if isinstance(entry, str) and not is_symbolic(entry):
            named.update(matching_kms_actions(entry))
        else:
            pending.append(_ref(entry))
    if stmt.actions is None:
        # NotAction: every KMS action except the listed ones (IAM User Guide, "NotAction").
        named = set(kms_action_names()) - named
    return CoveredActions(frozenset(named), tuple(pending))


def _ref(value: Any) -> str:
    return value.ref if isinstance(value, Unknown) else str(value)


def _unknown_kms_action(subject: Subject) -> TestResult:
    """KMS109: an Action or NotAction entry ``kms:...`` that names no KMS action."""
    stmt: Statement = subject.obj
    bad: list[tuple[str, Span]] = []
    for element in (stmt.actions, stmt.not_actions):
        if element is None or isinstance(element, Unknown):
            continue
        for entry in element:
            if not isinstance(entry, str) or is_symbolic(entry):
                continue
            text = str(entry).strip()
            if text.lower().startswith(KMS_PREFIX) and not matching_kms_actions(text):
                bad.append((text, span_of(entry, stmt.span)))
    if not bad:
        return TestResult(FALSE)
    parts = []
    for text, _ in bad:
        hint = closest_kms_action(text)
        kind = "matches no KMS action" if _has_wildcard(text) else "is not a KMS action"
        parts.append(f'"{text}" {kind}' + (f" (did you mean {hint}?)" if hint else ""))
    return TestResult(TRUE, bad[0][1], {"value": "; ".join(parts)})


# ---------------------------------------------------------------------------------------------
# Condition keys
# ---------------------------------------------------------------------------------------------

_NEGATED_BASES = frozenset(
    {
        "StringNotEquals",
        "StringNotEqualsIgnoreCase",
        "StringNotLike",
        "NumericNotEquals",
        "DateNotEquals",
        "NotIpAddress",
        "ArnNotEquals",
        "ArnNotLike",
    }
)


def operator_family(base_operator: str) -> str:
    """String, Numeric, Date, Bool, Binary, Ip, Arn or Null, from a base operator name."""
    if base_operator in ("IpAddress", "NotIpAddress"):
        return "Ip"
    for family in ("String", "Numeric", "Date", "Bool", "Binary", "Arn", "Null"):
        if base_operator.startswith(family):
            return family
    return "Unknown"


def condition_key_type(key: str) -> str | None:
    from kmsguard.authz.kms_actions import condition_key_type as lookup

    return lookup(key)


def matches_when_absent(cond: Condition) -> bool | list[str]:
    """Whether a condition clause holds for a request that does not carry its key, per the IAM
    User Guide, "Condition operators": a missing key makes a clause false, except negated
    operators and ...IfExists (true), ForAllValues (true: "no keys in the request"), and
    Null, which is true when its value is "true". A list: the refs a Null value depends on."""
    if cond.base_operator == "Null":
        if isinstance(cond.values, Unknown):
            return [cond.values.ref]
        texts = [str(v).lower() for v in cond.values if not is_symbolic(v)]
        if "true" in texts:
            return True
        symbols = [_ref(v) for v in cond.values if is_symbolic(v)]
        return symbols if symbols else False
    if cond.if_exists or cond.set_qualifier == "ForAllValues":
        return True
    if cond.set_qualifier == "ForAnyValue":
        return False
    return cond.base_operator in _NEGATED_BASES


def _literal_conditions(stmt: Statement) -> Iterable[Condition]:
    if isinstance(stmt.conditions, Unknown):
        return ()
    return (c for c in stmt.conditions if isinstance(c.key, str) and not is_symbolic(c.key))


def _effect_of(stmt: Statement) -> str | Unknown | None:
    """The statement's effect, or None for a statement AWS rejects (KMS100 already says so)."""
    if isinstance(stmt.effect, Unknown) and stmt.effect.reason == INVALID_POLICY:
        return None
    return stmt.effect


def _absent_key_consequence(effect: str | Unknown, always: bool) -> str:
    if always:
        if effect == "Allow":
            return "the clause always holds, so it restricts nothing: the Allow applies without it"
        if effect == "Deny":
            return (
                "the clause always holds, so the Deny applies to every such request, "
                "whatever it was meant to single out"
            )
        return "the clause always holds, so it restricts nothing"
    if effect == "Allow":
        return "the clause never holds, so this Allow never applies (dead statement)"
    if effect == "Deny":
        return "the clause never holds, so this Deny never applies (it denies nothing)"
    return "the clause never holds, so the statement never applies"


def _condition_key_never_sent(subject: Subject) -> TestResult:
    """KMS110: a kms:* condition key (known to the data) that none of the statement's KMS actions
    ever sends. Global aws:* keys are never judged: whether a request carries them depends on the
    request (aws:SourceIp, aws:PrincipalTag/...), not only on the action."""
    from kmsguard.authz.kms_actions import action_info

    stmt: Statement = subject.obj
    effect = _effect_of(stmt)
    covered = covered_kms_actions(stmt)
    if effect is None or covered is None or (not covered.actions and not covered.pending):
        return TestResult(FALSE)
    infos = [action_info(name) for name in sorted(covered.actions)]
    for cond in _literal_conditions(stmt):
        key = str(cond.key)
        if not key.lower().startswith(KMS_PREFIX) or condition_key_type(key) is None:
            continue
        if any(info is not None and info.sends(key) for info in infos):
            continue
        if covered.pending:
            return TestResult(unresolved(*covered.pending))
        absent = matches_when_absent(cond)
        if isinstance(absent, list):
            return TestResult(unresolved(*absent))
        verb = "never sends" if len(covered.actions) > 1 else "does not send"
        names = _action_list(covered.actions)
        return TestResult(
            TRUE,
            cond.span if cond.span.line else stmt.span,
            {
                "value": f'"{cond.operator}" on {key}',
                "detail": f"{names} {verb} {key}; {_absent_key_consequence(effect, absent)}",
            },
        )
    return TestResult(FALSE)


def _action_list(actions: frozenset[str], limit: int = 4) -> str:
    names = sorted(actions)
    shown = ", ".join(f"kms:{n}" for n in names[:limit])
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return (shown + more) if len(names) > 1 else shown


# Which operator families AWS documents for each key type (IAM User Guide, "AWS global condition
# context keys": "Works with string operators" / "ARN operators and string operators" / "Boolean
# operators" / "numeric operators" / "date operators" / "IP address operators"; KMS Developer
# Guide, "AWS KMS condition keys": the Condition type column). Null works with every key.
_FAMILIES_FOR_TYPE = {
    "String": frozenset({"String"}),
    "ARN": frozenset({"Arn", "String"}),
    "Bool": frozenset({"Bool"}),
    "Numeric": frozenset({"Numeric"}),
    "Date": frozenset({"Date"}),
    "IPAddress": frozenset({"Ip"}),
}
# Date keys AWS documents as also working with numeric operators: aws:EpochTime ("Works with date
# operators or numeric operators") and kms:ValidTo (KMS Developer Guide, "kms:ValidTo": a Unix
# timestamp, compared with NumericLessThanEquals in its example).
_NUMERIC_DATE_KEYS = frozenset({"aws:epochtime", "kms:validto"})
# String keys whose values are ARNs, which AWS's own examples compare with ARN operators: the
# encryption context of integrated services ("ArnLike": {"kms:EncryptionContext:aws:logs:arn": ...}
# in the CloudWatch Logs User Guide, "Encrypt log data in CloudWatch Logs using AWS KMS";
# kms:EncryptionContext:aws:s3:arn in the Amazon S3 User Guide) and the grant principals
# (KMS Developer Guide, "kms:GranteePrincipal", "kms:RetiringPrincipal": principal ARNs).
_ARN_VALUED_STRING_KEYS = ("kms:encryptioncontext:", "kms:granteeprincipal", "kms:retiringprincipal")
_OPERATOR_FOR_FAMILY = {
    "String": "StringEquals / StringLike",
    "Arn": "ArnEquals / ArnLike (or a String operator)",
    "Bool": "Bool",
    "Numeric": "NumericEquals / NumericLessThan...",
    "Date": "DateEquals / DateLessThan...",
    "Ip": "IpAddress / NotIpAddress",
}


def allowed_families(key: str, key_type: str) -> frozenset[str]:
    base_type = key_type.removeprefix("ArrayOf")
    families = _FAMILIES_FOR_TYPE.get(base_type, frozenset())
    if key.lower() in _NUMERIC_DATE_KEYS:
        families = families | {"Numeric", "Date"}
    if key.lower().startswith(_ARN_VALUED_STRING_KEYS):
        families = families | {"Arn"}
    return families | {"Null"}


def _operator_type_mismatch(subject: Subject) -> TestResult:
    """KMS111: an operator whose type AWS does not document for the key's type (Numeric on a
    String key, Bool on a String key, IpAddress on a non-IP key...). Keys the data does not know
    are never judged."""
    stmt: Statement = subject.obj
    if _effect_of(stmt) is None:
        return TestResult(FALSE)
    for cond in _literal_conditions(stmt):
        key = str(cond.key)
        key_type = condition_key_type(key)
        if key_type is None:
            continue
        family = operator_family(cond.base_operator)
        allowed = allowed_families(key, key_type)
        if family == "Unknown" or family in allowed:
            continue
        wanted = " or ".join(
            _OPERATOR_FOR_FAMILY[f] for f in sorted(allowed - {"Null"}) if f in _OPERATOR_FOR_FAMILY
        )
        return TestResult(
            TRUE,
            cond.span if cond.span.line else stmt.span,
            {
                "value": f'"{cond.operator}" on {key}',
                "detail": f"{key} is of type {key_type}, so a {family} operator does not compare it as "
                f"written; use {wanted}",
            },
        )
    return TestResult(FALSE)


_ENCRYPTION_CONTEXT_PREFIX = "kms:encryptioncontext:"
_ENCRYPTION_CONTEXT_KEYS = "kms:encryptioncontextkeys"


def _requires_encryption_context(cond: Condition) -> bool:
    """A clause that fails for a request without encryption context: a positive operator (not
    IfExists, not ForAllValues) on kms:EncryptionContext:<key> or kms:EncryptionContextKeys, or
    Null false on one of them."""
    name = cond.key_name
    if not (name.startswith(_ENCRYPTION_CONTEXT_PREFIX) or name == _ENCRYPTION_CONTEXT_KEYS):
        return False
    absent = matches_when_absent(cond)
    return absent is False


def _set_operator_misuse(subject: Subject) -> TestResult:
    """KMS112: ForAllValues on a single-valued key (or any set operator on
    kms:EncryptionContext:<key>), and an Allow whose ForAllValues on kms:EncryptionContextKeys is
    not paired with a condition that requires an encryption context."""
    stmt: Statement = subject.obj
    effect = _effect_of(stmt)
    if effect is None:
        return TestResult(FALSE)
    conditions = list(_literal_conditions(stmt))
    for cond in conditions:
        key = str(cond.key)
        key_type = condition_key_type(key)
        qualifier = cond.set_qualifier
        if key_type is None or qualifier is None:
            continue
        where = cond.span if cond.span.line else stmt.span
        if cond.key_name.startswith(_ENCRYPTION_CONTEXT_PREFIX):
            why = (
                "kms:EncryptionContext:<key> is single-valued; with ForAllValues the clause matches requests "
                "without that encryption context or with other pairs, and AWS KMS rejects the policy "
                "(OverlyPermissiveCondition)"
                if qualifier == "ForAllValues"
                else "kms:EncryptionContext:<key> is single-valued; AWS KMS documents set operators on it as "
                "able to allow values you meant to forbid"
            )
            return TestResult(
                TRUE,
                where,
                {
                    "value": f'"{cond.operator}" on {key}',
                    "detail": why + f'; use "{cond.operator.split(":", 1)[1]}"',
                },
            )
        if qualifier == "ForAllValues" and not key_type.startswith("ArrayOf"):
            return TestResult(
                TRUE,
                where,
                {
                    "value": f'"{cond.operator}" on {key}',
                    "detail": f"{key} is single-valued; ForAllValues also matches requests that do not carry "
                    f'it at all, which is broader than written; use "{cond.operator.split(":", 1)[1]}"',
                },
            )
    if effect == "Allow":
        for cond in conditions:
            if cond.key_name != _ENCRYPTION_CONTEXT_KEYS or cond.set_qualifier != "ForAllValues":
                continue
            if any(_requires_encryption_context(other) for other in conditions if other is not cond):
                continue
            return TestResult(
                TRUE,
                cond.span if cond.span.line else stmt.span,
                {
                    "value": f'"{cond.operator}" on kms:EncryptionContextKeys',
                    "detail": "ForAllValues is true for a request with no encryption context, so this "
                    "Allow also allows requests without any; add a clause that requires one, such as "
                    '"StringEquals": {"kms:EncryptionContext:<key>": "<value>"} or '
                    '"Null": {"kms:EncryptionContextKeys": "false"}',
                },
            )
    return TestResult(FALSE)


# ---------------------------------------------------------------------------------------------
# Sid
# ---------------------------------------------------------------------------------------------

# IAM User Guide, "IAM JSON policy elements: Sid": "The Sid element supports ASCII uppercase letters
# (A-Z), lowercase letters (a-z), and numbers (0-9)" -- IAM answers MalformedPolicyDocument
# "Statement IDs (SID) must be alpha-numeric" (cfn-lint issue #708).
_IAM_SID = re.compile(r"^[A-Za-z0-9]*$")


def _key_policy_character(char: str) -> bool:
    """KMS Developer Guide, "Key policies in AWS KMS", key policy format: printable ASCII, printable
    Basic Latin and Latin-1 Supplement characters, tab, line feed and carriage return."""
    code = ord(char)
    return code in (0x09, 0x0A, 0x0D) or 0x20 <= code <= 0x7E or 0xA0 <= code <= 0xFF


def _invalid_sid(subject: Subject) -> TestResult:
    """KMS113: a Sid with characters the policy's service rejects. Identity policies: only
    A-Z, a-z, 0-9. Key policies allow spaces and more ("The Sid element in a key policy statement
    can include spaces"), but only the characters a key policy document may contain."""
    stmt: Statement = subject.obj
    sid = stmt.sid
    if not sid:
        return TestResult(FALSE)
    if subject.kind == "key_policy_statement":
        bad = sorted({c for c in sid if not _key_policy_character(c)})
        if not bad:
            return TestResult(FALSE)
        detail = (
            f"a key policy may contain only printable ASCII and Latin-1 characters, and this Sid has "
            f"{', '.join(repr(c) for c in bad)}; AWS KMS rejects the policy"
        )
    else:
        if _IAM_SID.match(sid):
            return TestResult(FALSE)
        bad = sorted({c for c in sid if not (c.isascii() and c.isalnum())})
        detail = (
            f"IAM accepts only A-Z, a-z and 0-9 in a Sid, and this one has "
            f"{', '.join(repr(c) for c in bad)}; IAM rejects the policy (MalformedPolicyDocument)"
        )
    return TestResult(TRUE, stmt.span, {"value": sid, "detail": detail})


VALIDITY_TESTS: dict[str, Callable[[Subject], TestResult]] = {
    "unknown_kms_action": _unknown_kms_action,
    "condition_key_never_sent": _condition_key_never_sent,
    "operator_type_mismatch": _operator_type_mismatch,
    "set_operator_misuse": _set_operator_misuse,
    "invalid_sid": _invalid_sid,
}

__all__ = [
    "VALIDITY_TESTS",
    "CoveredActions",
    "allowed_families",
    "closest_kms_action",
    "covered_kms_actions",
    "kms_action_names",
    "matches_when_absent",
    "matching_kms_actions",
    "operator_family",
]
