"""Named tests of the lifecycle and encryption-at-rest rules: KMS007 (a key that cannot be used while
resources still encrypt with it), KMS030 (no customer managed key where one is required), KMS031 (a
resource's customer managed key does not rotate). They follow consumers' key references with
``key_links``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kmsguard.model import Key, KeyConsumer, Span, StrValue, Unknown
from kmsguard.model.values import refs_of
from kmsguard.rules_engine.key_links import (
    KEY_LINKS,
    KeyLinks,
    LinkStatus,
    consumer_key_span,
    is_unreadable_default,
    where,
)
from kmsguard.rules_engine.logic import FALSE, TRUE, Truth, all_of, unresolved
from kmsguard.rules_engine.predicates import Subject, TestResult

# Key states in which a key cannot be used in cryptographic operations (KMS Developer Guide, "Key
# states of AWS KMS keys": key state table; Disabled keys fail with DisabledException, the others
# with KMSInvalidStateException).
UNUSABLE_KEY_STATES = frozenset(
    {"Disabled", "PendingDeletion", "PendingReplicaDeletion", "PendingImport", "Unavailable"}
)


def _links(subject: Subject) -> KeyLinks:
    links = subject.fields.get(KEY_LINKS)
    if not isinstance(links, KeyLinks):
        raise TypeError(f"subject {subject.resource} carries no {KEY_LINKS}: the runtime must supply it")
    return links


# -- KMS007: a key that cannot be used while resources still encrypt with it -----------------


def _unusable(key: Key) -> tuple[Truth, str, Span]:
    """Whether the key cannot be used in cryptographic operations, in words, and where that is
    written."""
    if key.enabled is False:
        return TRUE, "disabled", key.span_for("enabled")
    if isinstance(key.key_state, str) and key.key_state in UNUSABLE_KEY_STATES:
        return TRUE, f"in state {key.key_state}", key.span_for("key_state")
    pending = [v.ref for v in (key.enabled, key.key_state) if isinstance(v, Unknown)]
    if pending:
        return unresolved(*pending), "", key.span_for("enabled")
    return FALSE, "", key.span


def _unusable_key_in_use(subject: Subject) -> TestResult:
    key: Key = subject.obj
    disabled, state, state_span = _unusable(key)
    if disabled.is_false:
        return TestResult(FALSE)
    users, maybe = _links(subject).users_of(key)
    if users:
        used = TRUE
        named = ", ".join(f"{c.address} ({where(consumer_key_span(c), state_span)})" for c in users)
    elif maybe:
        used = unresolved(*maybe)
        named = "resources whose key is not known statically"
    else:
        return TestResult(FALSE)
    fields = {"state": state or "possibly unusable", "users": named}
    return TestResult(all_of([disabled, used]), state_span, fields)


# -- KMS030: no customer managed key ---------------------------------------------------------


def _not_customer_managed(subject: Subject) -> TestResult:
    consumer: KeyConsumer = subject.obj
    if is_unreadable_default(consumer):
        return TestResult(FALSE)  # KMS105 says it could not be read; its volumes are judged
    service = {"service": consumer.service}
    if consumer.key is None:
        if isinstance(consumer.encrypted, Unknown):
            return TestResult(unresolved(consumer.encrypted.ref), None, service)
        if consumer.encrypted is False:
            return TestResult(TRUE, consumer.span, {**service, "how": "is not encrypted at rest"})
    link = _links(subject).link_of(consumer)
    if link.status is LinkStatus.UNRESOLVED:
        return TestResult(unresolved(*link.refs), None, {**service, "how": "may not use a customer key"})
    if link.status is LinkStatus.AWS_MANAGED:
        return TestResult(
            TRUE, consumer_key_span(consumer), {**service, "how": f"is encrypted with {link.what}"}
        )
    if link.key is not None and link.key.key_manager == "AWS":
        how = f"is encrypted with the AWS managed key {link.key.address}"
        return TestResult(TRUE, consumer_key_span(consumer), {**service, "how": how})
    return TestResult(FALSE)


# -- KMS031: a customer managed key whose automatic rotation is off ---------------------------


def _customer_key_rotation_off(subject: Subject) -> TestResult:
    consumer: KeyConsumer = subject.obj
    if is_unreadable_default(consumer):
        return TestResult(FALSE)  # KMS105 says it could not be read; its volumes are judged
    at = consumer_key_span(consumer)
    link = _links(subject).link_of(consumer)
    fields: dict[str, Any] = {"consumer_at": where(at, consumer.span)}
    if link.status is LinkStatus.OUTSIDE:
        # A key the inputs do not declare is judged where it is declared (KMS001 there, or an audit).
        return TestResult(FALSE)
    if link.status is LinkStatus.UNRESOLVED:
        if not _rotation_suspects(subject, consumer):
            # Only keys from outside the inputs can be meant (an input variable, a stack parameter, a
            # data source): as above. Among the keys declared beside the resource one may be meant.
            return TestResult(FALSE)
        fields.update(key=_display_ref(consumer.key), key_at="not known statically", rotation="not known")
        return TestResult(unresolved(*link.refs), None, fields)
    key = link.key
    if link.status is not LinkStatus.KEY or key is None or key.key_manager != "CUSTOMER":
        return TestResult(FALSE)
    fields.update(key=key.address, key_at=where(key.span, at))
    support = key.supports_automatic_rotation
    rotation = key.rotation_enabled
    truths: list[Truth] = []
    for value in (support, rotation):
        if isinstance(value, Unknown):
            truths.append(unresolved(value.ref))
    if support is False or rotation is True:
        return TestResult(FALSE)
    if truths:
        return TestResult(all_of(truths), None, {**fields, "rotation": "not known"})
    rotation_at = key.attr_spans.get("rotation_enabled")
    fields["rotation"] = f"off ({where(rotation_at, at)})" if rotation_at else "off (not set; off by default)"
    return TestResult(TRUE, at, fields)


def _rotation_suspects(subject: Subject, consumer: KeyConsumer) -> list[Key]:
    """Customer managed keys declared beside ``consumer`` (its module or template folder) that may
    not rotate: the keys a reference not known statically could mean."""
    return [
        key
        for key in _links(subject).keys_beside(consumer.span.path)
        if key.key_manager == "CUSTOMER"
        and key.supports_automatic_rotation is not False
        and key.rotation_enabled is not True
    ]


def _display_ref(value: StrValue | None) -> str:
    if value is None:
        return "(no key)"
    return ", ".join(refs_of(value))


LIFECYCLE_TESTS: dict[str, Callable[[Subject], TestResult]] = {
    "unusable_key_in_use": _unusable_key_in_use,
    "not_customer_managed_key": _not_customer_managed,
    "customer_key_rotation_off": _customer_key_rotation_off,
}

__all__ = ["LIFECYCLE_TESTS", "UNUSABLE_KEY_STATES"]
