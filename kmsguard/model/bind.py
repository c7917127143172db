"""Binding symbolic values to literals: references to resources of the inventory (a key's ARN, a
role's ARN) and the deployment context (``AWS::AccountId``...) replaced by the text they stand for,
so that the simulator and the prover compare strings. What has no binding stays symbolic."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from kmsguard.model.policy import Condition, Policy, Principal, Statement
from kmsguard.model.resources import Grant
from kmsguard.model.values import ResourceRef, StrValue, Template, Unknown


@dataclass
class ArnResolver:
    """``values``: resource address -> literal ARN; ``context``: deployment-context ref
    (``THIS_ACCOUNT``, ``THIS_REGION``, ``THIS_PARTITION``) -> literal."""

    values: dict[str, str] = field(default_factory=dict)
    context: dict[str, str] = field(default_factory=dict)

    def text(self, value: StrValue) -> StrValue:
        if isinstance(value, ResourceRef):
            # Only the ARN attribute is the ARN (Ref of a role is its name, of a key its id).
            return self.values.get(value.address, value) if value.attribute.lower() == "arn" else value
        if isinstance(value, Unknown):
            return self.context.get(value.ref, value) if value.is_deployment_context else value
        if isinstance(value, Template):
            parts = [p if isinstance(p, str) else self.text(p) for p in value.parts]
            if all(isinstance(p, str) for p in parts):
                return "".join(str(p) for p in parts)
        return value

    def elements(self, items: Any) -> Any:
        if isinstance(items, tuple):
            return tuple(self.text(item) for item in items)
        return items

    def principals(self, items: Any) -> Any:
        if isinstance(items, tuple):
            return tuple(
                replace(p, value=self.text(p.value)) if isinstance(p, Principal) else p for p in items
            )
        return items

    def condition(self, condition: Condition) -> Condition:
        if isinstance(condition.values, tuple):
            values = tuple(
                self.text(v) if isinstance(v, (ResourceRef, Template, Unknown)) else v
                for v in condition.values
            )
            return replace(condition, values=values)
        return condition

    def statement(self, statement: Statement) -> Statement:
        conditions = statement.conditions
        if isinstance(conditions, tuple):
            conditions = tuple(self.condition(c) for c in conditions)
        return replace(
            statement,
            principals=self.principals(statement.principals),
            not_principals=self.principals(statement.not_principals),
            resources=self.elements(statement.resources),
            not_resources=self.elements(statement.not_resources),
            conditions=conditions,
        )

    def policy(self, policy: Policy) -> Policy:
        return replace(policy, statements=tuple(self.statement(s) for s in policy.statements))

    def grant(self, grant: Grant) -> Grant:
        return replace(
            grant,
            grantee=self.text(grant.grantee) if grant.grantee is not None else None,
            retiring_principal=self.text(grant.retiring_principal)
            if grant.retiring_principal is not None
            else None,
        )
