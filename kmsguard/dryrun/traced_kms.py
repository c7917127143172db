"""A ``LocalKMS`` that keeps the simulator's decision of every call it authorizes.

A scenario report says *why* a call was denied (which statement denied, or that nothing allowed)
and scenario steps may expect a decision, so the runner needs the ``Decision`` behind each
authorization, not only the ``AccessDeniedException`` it becomes. ``LocalKMS`` has no public hook
for that yet, so this subclass overrides its two authorization methods (``_authorize`` and
``_authorize_all``) with the same logic plus recording. It is the only place in ``dryrun/`` that
touches ``LocalKMS`` internals; when the engine grows a public decision hook, this file shrinks
to a call of it.

It also answers what ``LocalKMS`` cannot know about keys and callers taken from IaC:

* a key's policy may be a model ``Policy`` with unresolved values (``Unknown``), or wholly unknown:
  such a policy replaces the key's own in the simulator's inputs (``policy_overrides``);
* a caller may have identity policies that could not be read: only an explicit deny is then a
  definite answer (an unread policy could allow or deny anything).

A decision that depends on an unresolved value raises ``UnresolvedDecision``: the step that needs
it is "unresolved", never a pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from kmsguard.authz.types import AuthzInputs, Decision, Outcome, Request
from kmsguard.crypto import authorize
from kmsguard.crypto.facade import LocalKMS
from kmsguard.crypto.keys import KmsKey
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
    """What the views of one ``TracedKMS`` share: the decisions of the current call, the key
    policies that replace the engine's (by key id), and whether authorization is on (off while the
    scenario's world is being set up: the setup is what the scenario declares, not a request)."""

    authorizations: list[Authorization] = field(default_factory=list)
    policy_overrides: dict[str, Policy | Unknown] = field(default_factory=dict)
    enforcing: bool = True


class TracedKMS(LocalKMS):
    """``LocalKMS`` recording each decision in ``recorder``. Views made by ``as_principal`` are
    ``TracedKMS`` too and share the recorder; ``unread_policies`` names the caller's identity
    policies that could not be read."""

    recorder: Recorder
    unread_policies: tuple[str, ...]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.recorder = Recorder()
        self.unread_policies = ()

    def as_principal(  # type: ignore[override]
        self, principal: str, *, unread_policies: Sequence[str] = (), **options: Any
    ) -> TracedKMS:
        view = super().as_principal(principal, **options)
        view.__class__ = TracedKMS  # LocalKMS.as_principal builds a plain LocalKMS view
        traced: TracedKMS = view  # type: ignore[assignment]
        traced.recorder = self.recorder
        traced.unread_policies = tuple(unread_policies)
        return traced

    # -- the two authorization points of LocalKMS, with recording ----------------------------------

    def _inputs(self, key: KmsKey | None) -> AuthzInputs:
        inputs = super()._inputs(key)
        if key is None or key.key_id not in self.recorder.policy_overrides:
            return inputs
        override = self.recorder.policy_overrides[key.key_id]
        if isinstance(override, Unknown):
            # The whole policy is unknown: the simulator cannot take it; _decide reports it.
            return replace(inputs, key_policy=None)
        return replace(inputs, key_policy=override)

    # -- the hooks of LocalKMS's authorization, with recording -----------------------------------------

    _remember_answers = False  # every decision must reach _settle to be recorded

    def _enforcing(self) -> bool:
        return self.recorder.enforcing

    def _settle(self, key: KmsKey | None, request: Request, decision: Decision) -> None:
        """Record the decision; raise what the call answers (AWS's error, or unresolved)."""
        self.recorder.authorizations.append(Authorization(request, decision))
        override = self.recorder.policy_overrides.get(key.key_id) if key is not None else None
        if isinstance(override, Unknown) and decision.outcome is not Outcome.EXPLICIT_DENY:
            raise UnresolvedDecision(decision, f"the key policy is not known statically ({override})")
        if decision.outcome is Outcome.UNRESOLVED:
            depends = ", ".join(decision.depends_on) or "unresolved values"
            raise UnresolvedDecision(decision, f"the decision depends on {depends}")
        if self.unread_policies and decision.outcome is not Outcome.EXPLICIT_DENY:
            raise UnresolvedDecision(
                decision,
                f"the decision was {decision.label} without {', '.join(self.unread_policies)}, "
                "which could not be read",
            )
        failure = authorize.denial(decision, request)
        if failure is not None:
            raise failure
