"""The CASE format of ``kmsguard simulate --case`` and of the conformance suite.

A case is a JSON object holding everything AWS consults for one KMS request (key policy, identity
policies, grants, SCPs, RCPs, permission boundary, session policy) and the request itself; the
conformance suite adds the expected decision and its documentary source. The format is described
in ``tests/conformance/README.md``.

Parsing never raises anything but ``CaseError``, whose message is one line ``path:line: what is
wrong``. Every policy goes through ``build_policy`` (the one grammar check).

Two things the simulator's contract (``authz/types.py``) has no field for are handled here by
*composing* calls to ``decide`` -- no AWS semantics are re-implemented:

* operations authorized twice (``ReEncrypt`` From/To, alias operations on alias and key,
  ``ReplicateKey``): a case's optional ``second`` block is a second request on a second resource;
  the operation succeeds only if both are allowed;
* the policy AWS checks before accepting ``PutKeyPolicy`` / ``CreateKey``
  (``request.new_key_policy``): grammar, the ``ForAllValues`` rejection and the lockout safety
  check, which asks ``decide`` whether the new policy would let the caller call ``PutKeyPolicy``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from kmsguard.authz.types import AuthzInputs, Caller, ContextValue, Decision, Outcome, Request, TraceEntry
from kmsguard.load.jsonpos import JSONPosError, loads_with_positions
from kmsguard.model import Grant, GrantConstraints, Policy, PolicyKind
from kmsguard.model.resources import Source
from kmsguard.model.span import NO_SPAN, Span
from kmsguard.model.values import key_span, span_of

EXPECTED_LABELS = ("Allow", "ExplicitDeny", "ImplicitDeny")

CASE_FIELDS = (
    "id",
    "description",
    "key_policy",
    "identity_policies",
    "grants",
    "scps",
    "rcps",
    "permission_boundary",
    "session_policy",
    "key_manager",
    "request",
    "second",
    "expected",
    "source",
    "note",
    "known_gap",
)
REQUEST_FIELDS = (
    "action",
    "principal",
    "resource",
    "resource_account",
    "context",
    "grant_tokens",
    "principal_tags",
    "principal_org_id",
    "principal_org_paths",
    "username",
    "userid",
    "source_ip",
    "source_account",
    "source_arn",
    "role_arn",
    "new_key_policy",
    "bypass_policy_lockout_safety_check",
    "new_grant",
)
SECOND_FIELDS = (
    "action",
    "resource",
    "resource_account",
    "key_policy",
    "grants",
    "rcps",
    "key_manager",
    "context",
)
GRANT_FIELDS = (
    "name",
    "grant_id",
    "grantee_principal",
    "operations",
    "constraints",
    "retiring_principal",
    "grant_tokens",
)
CONSTRAINT_FIELDS = ("EncryptionContextEquals", "EncryptionContextSubset")

# Request attributes that are request-context keys (IAM User Guide, "AWS global condition context
# keys": aws:SourceIp, aws:SourceAccount, aws:SourceArn).
_CONTEXT_SHORTHANDS = {
    "source_ip": "aws:SourceIp",
    "source_account": "aws:SourceAccount",
    "source_arn": "aws:SourceArn",
}

_LOCKOUT_ACTIONS = ("kms:putkeypolicy", "kms:createkey")

# Optional request fields that describe the caller (``parse_caller`` attributes).
_CALLER_ATTRIBUTES = {
    "principal_org_id": "org_id",
    "username": "username",
    "userid": "userid",
    "role_arn": "role_arn",
}


class CaseError(ValueError):
    """A problem in a case file: ``str()`` is the one line to print."""

    def __init__(self, path: str, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path = path
        self.line = line
        self.message = message


@dataclass(frozen=True)
class Expectation:
    """What the conformance suite expects, and where the documentation says so."""

    label: str  # "Allow" | "ExplicitDeny" | "ImplicitDeny" | "Error:<Code>"
    source: str
    note: str = ""
    known_gap: str | None = None


@dataclass(frozen=True)
class SecondAuthorization:
    """The second authorization of a two-step operation (same caller, other resource)."""

    inputs: AuthzInputs
    request: Request


@dataclass(frozen=True)
class Case:
    id: str
    description: str
    inputs: AuthzInputs
    request: Request
    second: SecondAuthorization | None = None
    new_key_policy: Policy | None = None
    new_key_policy_problem: str | None = None  # why AWS rejects the new policy's document
    new_grant: Grant | None = None  # CreateGrant: the grant being created
    bypass_lockout_check: bool = False
    expected: Expectation | None = None
    path: str = ""
    line: int = 0


# -- loading ----------------------------------------------------------------------------------


def load_case_file(path: str) -> list[Case]:
    """Every case in ``path``: a case object, or a list of case objects. Raises ``CaseError``."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as err:
        raise CaseError(path, 0, f"cannot read the case file ({err})") from None
    return parse_case_text(text, path)


def parse_case_text(text: str, path: str) -> list[Case]:
    try:
        document, duplicates = loads_with_positions(text, path)
    except JSONPosError as err:
        raise CaseError(path, err.line, f"not valid JSON: {err.message}") from None
    if duplicates:
        dup = duplicates[0]
        raise CaseError(path, dup.span.line, f'duplicate key "{dup.key}"')
    items = document if isinstance(document, list) else [document]
    cases = [parse_case(item, path, index) for index, item in enumerate(items)]
    seen: dict[str, Case] = {}
    for case in cases:
        if case.id in seen:
            raise CaseError(path, case.line, f'case id "{case.id}" is also used at line {seen[case.id].line}')
        seen[case.id] = case
    return cases


def parse_case(raw: Any, path: str, index: int = 0) -> Case:
    """One decoded case object (``LDict`` from ``loads_with_positions``) into a ``Case``."""
    reader = _Reader(path)
    obj = reader.object(raw, NO_SPAN, "a case")
    here = reader.span(obj)
    reader.known_fields(obj, CASE_FIELDS, "case")
    case_id = reader.optional_str(obj, "id") or f"case-{index + 1}"
    description = reader.optional_str(obj, "description") or ""

    request_raw = reader.required(obj, "request")
    request_obj = reader.object(request_raw, here, '"request"')
    reader.known_fields(request_obj, REQUEST_FIELDS, "request")
    request = reader.request(request_obj)
    inputs = reader.inputs(obj, request_obj)

    second = None
    if obj.get("second") is not None:
        second = reader.second(obj, reader.object(obj["second"], here, '"second"'), inputs, request)

    new_policy: Policy | None = None
    new_policy_problem: str | None = None
    if request_obj.get("new_key_policy") is not None:
        new_policy, new_policy_problem = reader.new_key_policy(request_obj)
    bypass = reader.optional_bool(request_obj, "bypass_policy_lockout_safety_check")
    new_grant = None
    if request_obj.get("new_grant") is not None:
        new_grant = reader.grant(request_obj["new_grant"], 0, request.resource)

    return Case(
        id=case_id,
        description=description,
        inputs=inputs,
        request=request,
        second=second,
        new_key_policy=new_policy,
        new_key_policy_problem=new_policy_problem,
        bypass_lockout_check=bool(bypass),
        new_grant=new_grant,
        expected=reader.expectation(obj),
        path=path,
        line=here.line,
    )


class _Reader:
    """Field-by-field checks with positions; every problem raises ``CaseError``."""

    def __init__(self, path: str) -> None:
        self.path = path

    # -- generic shape checks -------------------------------------------------------------------

    def fail(self, span: Span, message: str) -> CaseError:
        return CaseError(self.path, span.line if span is not NO_SPAN else 0, message)

    def span(self, value: Any, default: Span = NO_SPAN) -> Span:
        return span_of(value, default)

    def object(self, value: Any, parent: Span, what: str) -> Mapping[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(self.span(value, parent), f"{what} must be a JSON object")
        return value

    def field_span(self, obj: Mapping[str, Any], name: str) -> Span:
        return key_span(obj, name, self.span(obj))

    def known_fields(self, obj: Mapping[str, Any], allowed: Sequence[str], what: str) -> None:
        for name in obj:
            if name not in allowed:
                raise self.fail(
                    self.field_span(obj, str(name)),
                    f'unknown {what} field "{name}" (allowed: {", ".join(allowed)})',
                )

    def required(self, obj: Mapping[str, Any], name: str) -> Any:
        if obj.get(name) is None:
            raise self.fail(self.span(obj), f'missing "{name}"')
        return obj[name]

    def optional_str(self, obj: Mapping[str, Any], name: str) -> str | None:
        value = obj.get(name)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.fail(self.field_span(obj, name), f'"{name}" must be a string')
        return str(value)

    def required_str(self, obj: Mapping[str, Any], name: str) -> str:
        value = self.optional_str(obj, name)
        if not value:
            raise self.fail(self.span(obj), f'missing "{name}" (a non-empty string)')
        return value

    def optional_bool(self, obj: Mapping[str, Any], name: str) -> bool | None:
        value = obj.get(name)
        if value is None:
            return None
        if not isinstance(value, bool):
            raise self.fail(self.field_span(obj, name), f'"{name}" must be true or false')
        return value

    def str_list(self, obj: Mapping[str, Any], name: str) -> tuple[str, ...]:
        value = obj.get(name)
        if value is None:
            return ()
        items = value if isinstance(value, list) else [value]
        if not all(isinstance(item, str) for item in items):
            raise self.fail(self.field_span(obj, name), f'"{name}" must be a string or a list of strings')
        return tuple(str(item) for item in items)

    def str_map(self, obj: Mapping[str, Any], name: str) -> dict[str, str]:
        value = obj.get(name)
        if value is None:
            return {}
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise self.fail(self.field_span(obj, name), f'"{name}" must be an object of strings')
        return {str(k): str(v) for k, v in value.items()}

    # -- policies -------------------------------------------------------------------------------

    def policy(self, obj: Mapping[str, Any], name: str, kind: PolicyKind, document: Any = None) -> Policy:
        from kmsguard.load.policy_builder import build_policy

        raw = obj[name] if document is None else document
        where = self.span(raw, self.field_span(obj, name))
        policy, diagnostics = build_policy(raw, kind, resource=name, span=where)
        if diagnostics:
            first = diagnostics[0]
            raise CaseError(self.path, first.span.line or where.line, f"{name}: {first.message}")
        if not isinstance(policy, Policy):
            raise self.fail(where, f"{name}: the policy cannot be read ({policy})")
        return policy

    def optional_policy(self, obj: Mapping[str, Any], name: str, kind: PolicyKind) -> Policy | None:
        return None if obj.get(name) is None else self.policy(obj, name, kind)

    def policy_list(self, obj: Mapping[str, Any], name: str, kind: PolicyKind) -> tuple[Policy, ...]:
        value = obj.get(name)
        if value is None:
            return ()
        if not isinstance(value, list):
            raise self.fail(self.field_span(obj, name), f'"{name}" must be a list of policies')
        return tuple(self.policy(obj, name, kind, document=item) for item in value)

    def policy_levels(
        self, obj: Mapping[str, Any], name: str, kind: PolicyKind
    ) -> tuple[tuple[Policy, ...], ...]:
        """SCPs / RCPs: a list of policies is one level of the organisation; a list of lists is one
        list per level (root, each OU, the account), every level of which must allow."""
        value = obj.get(name)
        if value is None:
            return ()
        if not isinstance(value, list):
            raise self.fail(self.field_span(obj, name), f'"{name}" must be a list of policies or of lists')
        if value and all(isinstance(item, list) for item in value):
            return tuple(tuple(self.policy(obj, name, kind, document=p) for p in level) for level in value)
        if any(isinstance(item, list) for item in value):
            raise self.fail(self.field_span(obj, name), f'"{name}" mixes policies and lists of policies')
        return (tuple(self.policy(obj, name, kind, document=p) for p in value),) if value else ()

    # -- grants ---------------------------------------------------------------------------------

    def grants(self, obj: Mapping[str, Any], key_arn: str) -> tuple[Grant, ...]:
        value = obj.get("grants")
        if value is None:
            return ()
        if not isinstance(value, list):
            raise self.fail(self.field_span(obj, "grants"), '"grants" must be a list of grants')
        return tuple(self.grant(item, index, key_arn) for index, item in enumerate(value))

    def grant(self, raw: Any, index: int, key_arn: str) -> Grant:
        grant = self.object(raw, NO_SPAN, "a grant")
        self.known_fields(grant, GRANT_FIELDS, "grant")
        where = self.span(grant)
        grantee = self.required_str(grant, "grantee_principal")
        operations = self.str_list(grant, "operations")
        if not operations:
            raise self.fail(where, 'a grant needs "operations" (a non-empty list such as ["Decrypt"])')
        constraints = None
        if grant.get("constraints") is not None:
            raw_constraints = self.object(grant["constraints"], where, '"constraints"')
            self.known_fields(raw_constraints, CONSTRAINT_FIELDS, "grant constraint")
            constraints = GrantConstraints(
                encryption_context_equals=self.str_map(raw_constraints, "EncryptionContextEquals") or None
                if "EncryptionContextEquals" in raw_constraints
                else None,
                encryption_context_subset=self.str_map(raw_constraints, "EncryptionContextSubset") or None
                if "EncryptionContextSubset" in raw_constraints
                else None,
            )
        name = self.optional_str(grant, "name")
        grant_id = self.optional_str(grant, "grant_id")
        return Grant(
            address=grant_id or name or f"grant #{index + 1}",
            key=key_arn,
            grantee=grantee,
            operations=operations,
            source=Source.POLICY_FILE,
            span=Span(self.path, where.line, where.col),
            constraints=constraints,
            retiring_principal=self.optional_str(grant, "retiring_principal"),
            name=name,
            grant_tokens=self.str_list(grant, "grant_tokens"),
        )

    # -- request --------------------------------------------------------------------------------

    def context(self, obj: Mapping[str, Any], name: str = "context") -> dict[str, ContextValue]:
        value = obj.get(name)
        if value is None:
            return {}
        mapping = self.object(value, self.field_span(obj, name), f'"{name}"')
        result: dict[str, ContextValue] = {}
        for key, item in mapping.items():
            converted = _context_value(item)
            if converted is None:
                raise self.fail(
                    key_span(mapping, str(key), self.span(mapping)),
                    f'context key "{key}": a value must be a string, number, boolean or a list of strings',
                )
            result[str(key)] = converted
        return result

    def caller(self, request: Mapping[str, Any]) -> Caller:
        principal = self.required_str(request, "principal")
        attributes: dict[str, Any] = {}
        tags = self.str_map(request, "principal_tags")
        if tags:
            attributes["tags"] = tags
        for field_name, attribute in _CALLER_ATTRIBUTES.items():
            text = self.optional_str(request, field_name)
            if text is not None:
                attributes[attribute] = text
        if request.get("principal_org_paths") is not None:
            attributes["org_paths"] = self.str_list(request, "principal_org_paths")
        try:
            return _parse_caller(principal, **attributes)
        except ValueError as err:
            raise self.fail(
                self.field_span(request, "principal"), f"principal {principal!r}: {err}"
            ) from None

    def request(self, request: Mapping[str, Any]) -> Request:
        action = self.required_str(request, "action")
        if ":" not in action:
            raise self.fail(self.field_span(request, "action"), f'action "{action}" must be "kms:Operation"')
        caller = self.caller(request)
        resource = self.optional_str(request, "resource") or "*"
        account = self.optional_str(request, "resource_account") or _arn_account(resource)
        if not account:
            raise self.fail(self.span(request), 'missing "resource_account" (the key\'s account id)')
        context = self.context(request)
        for shorthand, key in _CONTEXT_SHORTHANDS.items():
            text = self.optional_str(request, shorthand)
            if text is not None:
                context.setdefault(key, text)
        return Request(
            action=action,
            caller=caller,
            resource=resource,
            resource_account=account,
            context=context,
            grant_tokens=self.str_list(request, "grant_tokens"),
        )

    def key_manager(self, obj: Mapping[str, Any], default: str = "CUSTOMER") -> str:
        manager = self.optional_str(obj, "key_manager") or default
        if manager not in ("CUSTOMER", "AWS"):
            raise self.fail(self.field_span(obj, "key_manager"), '"key_manager" must be "CUSTOMER" or "AWS"')
        return manager

    def inputs(self, case: Mapping[str, Any], request: Mapping[str, Any]) -> AuthzInputs:
        resource = self.optional_str(request, "resource") or "*"
        return AuthzInputs(
            key_policy=self.optional_policy(case, "key_policy", PolicyKind.KEY),
            identity_policies=self.policy_list(case, "identity_policies", PolicyKind.IDENTITY),
            grants=self.grants(case, resource),
            scps=self.policy_levels(case, "scps", PolicyKind.SCP),
            rcps=self.policy_levels(case, "rcps", PolicyKind.RCP),
            permission_boundary=self.optional_policy(case, "permission_boundary", PolicyKind.BOUNDARY),
            session_policy=self.optional_policy(case, "session_policy", PolicyKind.SESSION),
            key_manager=self.key_manager(case),
        )

    def second(
        self, case: Mapping[str, Any], raw: Mapping[str, Any], first: AuthzInputs, request: Request
    ) -> SecondAuthorization:
        self.known_fields(raw, SECOND_FIELDS, "second")
        action = self.required_str(raw, "action")
        resource = self.required_str(raw, "resource")
        account = self.optional_str(raw, "resource_account") or _arn_account(resource)
        if not account:
            raise self.fail(self.span(raw), 'missing "resource_account" in "second"')
        context = dict(request.context)
        context.update(self.context(raw))
        inputs = replace(
            first,
            key_policy=self.optional_policy(raw, "key_policy", PolicyKind.KEY),
            grants=self.grants(raw, resource),
            rcps=self.policy_levels(raw, "rcps", PolicyKind.RCP) if "rcps" in raw else first.rcps,
            key_manager=self.key_manager(raw, first.key_manager),
        )
        second_request = replace(
            request, action=action, resource=resource, resource_account=account, context=context
        )
        return SecondAuthorization(inputs, second_request)

    def new_key_policy(self, request: Mapping[str, Any]) -> tuple[Policy | None, str | None]:
        """The policy of a PutKeyPolicy / CreateKey request. A grammar problem is not a case error:
        it is what AWS answers (MalformedPolicyDocumentException)."""
        from kmsguard.load.policy_builder import build_policy

        raw = request["new_key_policy"]
        where = self.span(raw, self.field_span(request, "new_key_policy"))
        policy, diagnostics = build_policy(raw, PolicyKind.KEY, resource="new_key_policy", span=where)
        if diagnostics:
            return (policy if isinstance(policy, Policy) else None), diagnostics[0].message
        if not isinstance(policy, Policy):
            return None, f"the policy cannot be read ({policy})"
        return policy, None

    # -- expectation ----------------------------------------------------------------------------

    def expectation(self, case: Mapping[str, Any]) -> Expectation | None:
        label = self.optional_str(case, "expected")
        if label is None:
            return None
        if label not in EXPECTED_LABELS and not (label.startswith("Error:") and len(label) > len("Error:")):
            raise self.fail(
                self.field_span(case, "expected"),
                f'"expected" must be Allow, ExplicitDeny, ImplicitDeny or Error:<Code>, not "{label}"',
            )
        source = self.optional_str(case, "source")
        if not source:
            raise self.fail(
                self.span(case), '"expected" needs a "source" (AWS documentation page and section)'
            )
        return Expectation(
            label=label,
            source=source,
            note=self.optional_str(case, "note") or "",
            known_gap=self.optional_str(case, "known_gap"),
        )


def _context_value(value: Any) -> ContextValue | None:
    """Context values as AWS sends them: strings; booleans and numbers as their text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(str(item) for item in value)
    return None


def _arn_account(arn: str) -> str | None:
    parts = arn.split(":")
    if len(parts) >= 6 and parts[0] == "arn" and parts[4]:
        return parts[4]
    return None


def _parse_caller(principal: str, **attributes: Any) -> Caller:
    from kmsguard.authz.evaluate import parse_caller

    return parse_caller(principal, **attributes)


# -- evaluation -------------------------------------------------------------------------------


def evaluate_case(case: Case) -> Decision:
    """The decision for a case: ``decide`` (or ``decide_pair`` for a two-step operation,
    ``decide_create_grant`` when the grant being created is given), then, for PutKeyPolicy /
    CreateKey with a new policy, the checks KMS makes before it accepts the policy."""
    from kmsguard.authz import evaluate

    if case.second is not None:
        decision = evaluate.decide_pair(
            (case.inputs, case.request), (case.second.inputs, case.second.request)
        )
    elif case.new_grant is not None and case.request.action.lower() == "kms:creategrant":
        decision = evaluate.decide_create_grant(case.inputs, case.request, case.new_grant)
    else:
        decision = evaluate.decide(case.inputs, case.request)
    if not decision.allowed or case.request.action.lower() not in _LOCKOUT_ACTIONS:
        return decision
    if case.new_key_policy_problem is not None:
        # The grammar check is build_policy's; AWS answers a policy it cannot parse this way
        # (KMS API Reference, "PutKeyPolicy", "Errors": MalformedPolicyDocumentException).
        entry = TraceEntry(
            "rule", "", "", True, f"the new key policy is malformed: {case.new_key_policy_problem}"
        )
        return decision._replace(
            outcome=Outcome.ERROR,
            error_code="MalformedPolicyDocumentException",
            trace=(*decision.trace, entry),
        )
    if case.new_key_policy is None:
        return decision
    key_arn = case.request.resource if case.request.action.lower() == "kms:putkeypolicy" else None
    rejection = evaluate.validate_key_policy(
        case.new_key_policy,
        case.request.caller,
        case.bypass_lockout_check,
        key_arn=key_arn,
        inputs=case.inputs,
    )
    if rejection is None:
        return decision
    return rejection._replace(
        trace=decision.trace + rejection.trace,
        depends_on=tuple(dict.fromkeys(decision.depends_on + rejection.depends_on)),
    )


# -- output -----------------------------------------------------------------------------------


def decision_to_json(decision: Decision) -> dict[str, Any]:
    """The ``--format json`` shape: ``{"decision": label, "trace": [...]}``."""
    result: dict[str, Any] = {
        "decision": decision.label,
        "trace": [
            {
                "source": entry.source,
                "statement": entry.statement,
                "effect": entry.effect,
                "matched": entry.matched,
                "reason": entry.reason,
            }
            for entry in decision.trace
        ],
    }
    if decision.depends_on:
        result["depends_on"] = list(decision.depends_on)
    return result


def decision_to_text(decision: Decision) -> str:
    """A readable trace: one line per step, then the decision."""
    lines = []
    for entry in decision.trace:
        mark = "+" if entry.matched else "-"
        where = entry.source + (f" {entry.statement}" if entry.statement else "")
        effect = f" [{entry.effect}]" if entry.effect else ""
        lines.append(f"  {mark} {where}{effect}: {entry.reason}")
    lines.append(f"decision: {decision.label}")
    if decision.depends_on:
        lines.append(f"depends on: {', '.join(decision.depends_on)}")
    return "\n".join(lines) + "\n"
