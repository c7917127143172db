"""A ``LocalKMS`` that keeps the simulator's decision of every call it authorizes.

A scenario report says *why* a call was denied (which statement denied, or that nothing allowed)
and scenario steps may expect a decision, so the runner needs the ``Decision`` behind each
authorization, not only the ``AccessDeniedException`` it becomes. ``LocalKMS``'s public hook gives
it: every view of a ``TracedKMS`` is made with ``on_decision=`` an observer that records the
decision in the shared ``Recorder``. Nothing here touches ``LocalKMS`` internals.

It also answers what ``LocalKMS`` cannot know about keys and callers taken from IaC:

* a key's policy may be a model ``Policy`` with unresolved values (``Unknown``), or wholly unknown:
  such a policy replaces the key's own for authorization (``LocalKMS.set_authorization_policy``);
* a caller may have identity policies that could not be read: only an explicit deny is then a
  definite answer (an unread policy could allow or deny anything).

A decision that depends on an unresolved value raises ``UnresolvedDecision``: the step that needs
it is "unresolved", never a pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from kmsguard.authz.types import Decision, Outcome, Request
from kmsguard.crypto.facade import AuthorizationEvent, LocalKMS
from kmsguard.model import Policy
from kmsguard.model.values import Unknown


class UnresolvedDecision(Exception):
    """The authorization of a call depends on values not known statically."""

    def __init__(self, decision: Decision, why: str) -> None:
        super().__init__(why)
        self.decision = decision
        self.why = why


@dataclass(frozen=True)
class Authorization:
    """One authorization a call made: the request and the simulator's decision."""

    request: Request
    decision: Decision


@dataclass
class Recorder:
    """What the views of one ``TracedKMS`` share: the decisions of the current call and the keys
    whose policy is wholly unknown (by key id)."""

    authorizations: list[Authorization] = field(default_factory=list)
    unknown_policies: dict[str, Unknown] = field(default_factory=dict)

    def observer(self, unread_policies: tuple[str, ...]) -> Any:
        """The ``on_decision`` of a view whose caller's ``unread_policies`` could not be read."""

        def observe(event: AuthorizationEvent) -> None:
            self.observe(event, unread_policies)

        return observe

    def observe(self, event: AuthorizationEvent, unread_policies: tuple[str, ...]) -> None:
        """Record the decision; raise ``UnresolvedDecision`` when it is not a definite answer
        (LocalKMS then answers AWS's error, or nothing, for a definite one)."""
        decision = event.decision
        self.authorizations.append(Authorization(event.request, decision))
        unknown = self.unknown_policies.get(event.key_id) if event.key_id is not None else None
        if unknown is not None and decision.outcome is not Outcome.EXPLICIT_DENY:
            raise UnresolvedDecision(decision, f"the key policy is not known statically ({unknown})")
        if decision.outcome is Outcome.UNRESOLVED:
            depends = ", ".join(decision.depends_on) or "unresolved values"
            raise UnresolvedDecision(decision, f"the decision depends on {depends}")
        if unread_policies and decision.outcome is not Outcome.EXPLICIT_DENY:
            raise UnresolvedDecision(
                decision,
                f"the decision was {decision.label} without {', '.join(unread_policies)}, "
                "which could not be read",
            )


class TracedKMS(LocalKMS):
    """``LocalKMS`` recording each decision in ``recorder``. Views made by ``as_principal`` are
    ``TracedKMS`` too and share the recorder; ``unread_policies`` names the caller's identity
    policies that could not be read."""

    recorder: Recorder

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        recorder = Recorder()
        super().__init__(*args, on_decision=recorder.observer(()), **kwargs)
        self.recorder = recorder

    def as_principal(  # type: ignore[override]
        self, principal: str, *, unread_policies: Sequence[str] = (), **options: Any
    ) -> TracedKMS:
        observer = self.recorder.observer(tuple(unread_policies))
        return super().as_principal(principal, on_decision=observer, **options)

    def use_iac_key_policy(self, key_id: str, policy: Policy | Unknown) -> None:
        """Authorize calls on ``key_id`` against the key policy taken from IaC: a model ``Policy``
        (its unresolved values make decisions unresolved), or ``Unknown`` when the whole policy is
        not known statically (then only an explicit deny elsewhere is a definite answer)."""
        if isinstance(policy, Unknown):
            self.recorder.unknown_policies[key_id] = policy
            self.set_authorization_policy(key_id, None)
        else:
            self.set_authorization_policy(key_id, policy)
