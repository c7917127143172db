"""Named tests of the integration rules: KMS040 (a service cannot make the KMS calls it needs with the
key a resource names) and KMS041 (the key's spec or usage is one the service does not accept). Both
follow the consumer's key reference with ``key_links``; keys the inputs do not declare, AWS managed
keys and references that cannot be followed are other rules' business (KMS030, KMS031).

``kmsguard.dryrun.services`` (and with it the simulator) is imported on first use: a check with no
resource encrypting under a declared key never loads it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kmsguard.model import Key, KeyConsumer, Policy, Unknown
from kmsguard.model.values import INVALID_POLICY
from kmsguard.rules_engine.key_links import KEY_LINKS, KeyLinks, LinkStatus, consumer_key_span, where
from kmsguard.rules_engine.logic import FALSE, TRUE, unresolved
from kmsguard.rules_engine.predicates import Subject, TestResult


def _links(subject: Subject) -> KeyLinks:
    links = subject.fields.get(KEY_LINKS)
    if not isinstance(links, KeyLinks):
        raise TypeError(f"subject {subject.resource} carries no {KEY_LINKS}: the runtime must supply it")
    return links


def _customer_key(subject: Subject) -> Key | None:
    """The customer managed key of the inventory the consumer encrypts with, if any."""
    consumer: KeyConsumer = subject.obj
    if consumer.key is None and consumer.service != "ebs":  # EBS: the account's default key may apply
        return None
    link = _links(subject).link_of(consumer)
    if link.status is not LinkStatus.KEY or link.key is None or link.key.key_manager != "CUSTOMER":
        return None
    return link.key


def _base_fields(consumer: KeyConsumer, key: Key) -> dict[str, Any]:
    from kmsguard.dryrun.services import service_model

    model = service_model(consumer.service)
    at = consumer_key_span(consumer)
    return {
        "service": model.title if model else consumer.service,
        "kind": model.resource_kind if model else "resource",
        "key": key.address,
        "key_at": where(key.span, at),
    }


# The services kmsguard.dryrun.services has a call model for (KeyConsumer.service values).
_SERVICES = frozenset(
    {"s3", "ebs", "rds", "logs", "cloudtrail", "sns", "sqs", "secretsmanager", "dynamodb", "lambda", "efs"}
)


# -- KMS040: the service's calls are not allowed ----------------------------------------------

_MAY_BE_REFUSED = "may be refused: the key policy's answer depends on values not known statically"


def _service_calls_fail(subject: Subject) -> TestResult:
    consumer: KeyConsumer = subject.obj
    key = _customer_key(subject)
    if key is None or consumer.service not in _SERVICES:
        return TestResult(FALSE)
    policy = key.policy
    if policy is None:
        return TestResult(FALSE)  # no policy known (a key read without it): nothing to dry-run
    fields = _base_fields(consumer, key)
    if isinstance(policy, Unknown):
        if policy.reason == INVALID_POLICY:
            return TestResult(FALSE)  # AWS rejects the policy; a validity finding says so
        fields.update(calls="its KMS calls", principal="its callers", refusal=_MAY_BE_REFUSED)
        return TestResult(unresolved(policy.ref), None, fields)
    assert isinstance(policy, Policy)
    from kmsguard.dryrun.services import Verdict, dry_run

    # Only what the policy refers to: binding looks at every identity and resource it is given.
    results = dry_run(consumer, key, policy, _links(subject).scoped_to(policy))
    denied = [r for r in results if r.verdict is Verdict.DENIED]
    pending = [r for r in results if r.verdict is Verdict.UNRESOLVED]
    # (Parts of the policy not known statically make the simulator's answers unresolved, except
    # for an explicit Deny, which no other statement can lift.)
    if denied:
        first = denied[0]
        fields.update(
            calls=_operations(denied),
            principal=first.principal,
            refusal=f"would be refused -- {first.missing}",
            purpose=first.call.purpose,
        )
        return TestResult(TRUE, consumer_key_span(consumer), fields)
    if pending:
        refs = [ref for r in pending for ref in r.depends_on]
        fields.update(
            calls=_operations(pending), principal=_principal_of(pending[0].call), refusal=_MAY_BE_REFUSED
        )
        return TestResult(unresolved(*refs), None, fields)
    return TestResult(FALSE)


def _operations(results: list[Any]) -> str:
    return ", ".join(dict.fromkeys(r.call.action for r in results))


def _principal_of(call: Any) -> str:
    from kmsguard.dryrun.services import CallerKind

    if call.caller is CallerKind.SERVICE_PRINCIPAL:
        return call.service_host.replace("{region}", "<region>")
    return "a principal of the key's account"


# -- KMS041: key spec or usage the service does not accept -------------------------------------


def _service_key_spec_unsupported(subject: Subject) -> TestResult:
    consumer: KeyConsumer = subject.obj
    if consumer.service not in _SERVICES:
        return TestResult(FALSE)
    key = _customer_key(subject)
    if key is None:
        return TestResult(FALSE)
    from kmsguard.dryrun.services import service_model, spec_problems

    model = service_model(consumer.service)
    if model is None:
        return TestResult(FALSE)
    problems = spec_problems(model, key)
    if not problems:
        return TestResult(FALSE)
    fields = _base_fields(consumer, key)
    accepted = (
        " or ".join(sorted(model.accepted_key_specs))
        + " (usage "
        + " or ".join(sorted(model.accepted_key_usages))
    )
    fields["accepted"] = accepted + ")"
    definite = [p for p in problems if not p.unknown]
    if definite:
        fields["what"] = " and ".join(p.what for p in definite)
        return TestResult(TRUE, consumer_key_span(consumer), fields)
    refs = [ref for p in problems for ref in p.unknown]
    fields["what"] = " and ".join(p.what for p in problems)
    return TestResult(unresolved(*refs), None, fields)


INTEGRATION_TESTS: dict[str, Callable[[Subject], TestResult]] = {
    "service_calls_fail": _service_calls_fail,
    "service_key_spec_unsupported": _service_key_spec_unsupported,
}

__all__ = ["INTEGRATION_TESTS"]
