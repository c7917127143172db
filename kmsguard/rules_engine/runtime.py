"""Runs rule packs on an ``Inventory``. Knows nothing of the CLI or of output formats."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from kmsguard.findings import Diagnostic, Finding, Witness
from kmsguard.model import Inventory, Key, Policy, PolicyKind, Span, Statement, Template, Unknown, display
from kmsguard.model.values import INVALID_POLICY, ResourceRef
from kmsguard.rules_engine.key_links import KEY_LINKS, KeyLinks
from kmsguard.rules_engine.logic import FALSE, Truth, all_of, negate, of, unresolved
from kmsguard.rules_engine.packs import Pack, Predicate, Rule
from kmsguard.rules_engine.predicates import NAMED_TESTS, Subject, TestResult


def subjects(inventory: Inventory, kind: str) -> Iterator[Subject]:
    if kind == "key":
        links = {KEY_LINKS: KeyLinks(inventory)}  # which resources encrypt with each key
        for key in inventory.keys:
            yield Subject("key", key, key.address, key.span, "key", key, links)
    elif kind == "key_policy_statement":
        # Key policies of keys, and key policy documents on their own (a policy file, a policy
        # for a key outside the inventory): the statement rules apply to both.
        for address, policy, key in _key_policy_holders(inventory):
            for stmt in policy.statements:
                ctx = f"sid:{stmt.sid}" if stmt.sid else f"statement[{stmt.index}]"
                fields = {"statement": stmt.label, "principal": "its principals"}
                yield Subject(
                    "key_policy_statement",
                    stmt,
                    address,
                    stmt.span,
                    ctx,
                    key,
                    fields,
                    inventory.org,
                    policy,
                    inventory,
                )
            for part in policy.unresolved:
                yield _unresolved_statement(address, part, key)
        # A key whose whole policy cannot be known is not "fine": every statement rule must say
        # it depends on that value.
        for key in inventory.keys:
            if isinstance(key.policy, Unknown) and key.policy.reason != INVALID_POLICY:
                yield _unresolved_statement(key.address, key.policy, key, key.span_for("policy"))
    elif kind == "key_policy":
        for address, policy, key in _key_policy_holders(inventory):
            yield Subject(
                "key_policy",
                policy,
                address,
                policy.span,
                "policy",
                key,
                org=inventory.org,
                policy=policy,
                inventory=inventory,
            )
    elif kind == "identity_policy_statement":
        for address, policy in _identity_policies(inventory):
            for stmt in policy.statements:
                ctx = f"sid:{stmt.sid}" if stmt.sid else f"statement[{stmt.index}]"
                fields = {"statement": stmt.label}
                yield Subject("identity_policy_statement", stmt, address, stmt.span, ctx, None, fields)
    elif kind == "policy_statement":
        # Every statement of every policy, key and identity alike (grammar-level rules); each
        # subject keeps the kind of policy it comes from.
        yield from subjects(inventory, "key_policy_statement")
        yield from subjects(inventory, "identity_policy_statement")
    elif kind == "grant":
        for grant in inventory.grants:
            yield Subject("grant", grant, grant.address, grant.span, "grant", org=inventory.org)
    elif kind == "consumer":
        links = {KEY_LINKS: KeyLinks(inventory)}  # which key each resource encrypts with
        for consumer in inventory.consumers:
            yield Subject("consumer", consumer, consumer.address, consumer.span, "consumer", fields=links)


def _key_policy_holders(inventory: Inventory) -> list[tuple[str, Policy, Key | None]]:
    """Key policies of keys, and key policy documents on their own (a policy file, a policy for a
    key outside the inventory)."""
    holders: list[tuple[str, Policy, Key | None]] = [
        (key.address, key.policy, key) for key in inventory.keys if isinstance(key.policy, Policy)
    ]
    holders += [
        (p.address, p.document, None) for p in inventory.policies if p.document.kind is PolicyKind.KEY
    ]
    return holders


def _identity_policies(inventory: Inventory) -> Iterator[tuple[str, Policy]]:
    """Every identity policy document: inline and managed policies, attachments of policies kmsguard
    could read, and identity policy files."""
    for ident in inventory.identities:
        for named in ident.inline_policies:
            if isinstance(named.document, Policy):
                yield ident.address, named.document
    for managed in inventory.managed_policies:
        if isinstance(managed.document, Policy):
            yield managed.address, managed.document
    for attachment in inventory.attachments:
        if isinstance(attachment.policy, Policy):
            yield attachment.address, attachment.policy
    for standalone in inventory.policies:
        if standalone.document.kind is PolicyKind.IDENTITY:
            yield standalone.address, standalone.document


def _unresolved_statement(address: str, part: Unknown, key: Key | None, span: Span | None = None) -> Subject:
    """Stands for statements that could not be resolved: every test on it is unresolved by ``part``."""
    where = span or part.span
    stmt = Statement(sid=None, effect=part, span=where)
    fields = {
        "statement": "a part of the policy not known statically",
        "principal": "principals not known statically",
    }
    return Subject("key_policy_statement", stmt, address, where, f"unresolved:{part.ref}", key, fields)


def evaluate_predicate(
    pred: Predicate, subject: Subject, params: Mapping[str, Any] | None = None
) -> TestResult:
    if pred.test is not None or pred.question is not None:
        if pred.question is not None:
            from kmsguard.rules_engine.questions import ask

            result = ask(pred.question, subject, pred.question_params)
        else:
            result = NAMED_TESTS[str(pred.test)](subject)
        if not pred.expect:
            # A question's fields (its witness) describe the answer the rule did not want.
            fields = {} if pred.question is not None else result.fields
            return TestResult(negate(result.truth), result.span, fields)
        return result
    assert pred.attr is not None and pred.operator is not None
    value = getattr(subject.obj, pred.attr, None)
    operand = pred.operand
    if isinstance(operand, dict) and "param" in operand:
        operand = (params or {})[operand["param"]]
    return TestResult(compare(value, pred.operator, operand))


def compare(value: Any, operator: str, operand: Any) -> Truth:
    if operator == "is_set":
        return of((value is not None) == bool(operand))
    if isinstance(value, Unknown):
        return unresolved(value.ref)
    if isinstance(value, Template):
        return _compare_template(value, operator, operand)
    if isinstance(value, ResourceRef):
        return unresolved(str(value))
    if operator == "equals":
        return of(value == operand)
    if operator == "not_equals":
        return of(value != operand)
    if operator == "in":
        return of(value in _members(operand))
    if operator == "contains":
        if not isinstance(value, (tuple, list)):
            return FALSE
        symbols = [str(v) for v in value if not isinstance(v, str) or isinstance(v, Template)]
        if operand in value:
            return of(True)
        return unresolved(*symbols) if symbols else FALSE
    if operator == "not_in":
        return of(value not in _members(operand))
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return FALSE
    if operator == "greater_than":
        return of(value > operand)
    if operator == "less_than":
        return of(value < operand)
    raise ValueError(f"unknown operator {operator}")


def _compare_template(value: Template, operator: str, operand: Any) -> Truth:
    """A template's literal parts already rule some values out: ``"${var.name} data key"`` is never
    ``""`` nor null, whatever ``var.name`` turns out to be. Only what the literal parts cannot decide
    stays unresolved."""
    if operator in ("equals", "not_equals"):
        candidates = [operand]
    elif operator in ("in", "not_in"):
        candidates = list(_members(operand))
    else:
        return unresolved(str(value))
    possible = [c for c in candidates if _template_may_be(value, c)]
    if possible:
        return unresolved(str(value))
    return of(operator in ("not_equals", "not_in"))


def _template_may_be(template: Template, candidate: Any) -> bool:
    """Whether some values of the template's symbolic parts make it the string ``candidate``."""
    if not isinstance(candidate, str):
        return False  # a template is always a string: never null, a number or a list
    pattern = "".join(re.escape(part) if isinstance(part, str) else ".*" for part in template.parts)
    return re.fullmatch(pattern, candidate, re.DOTALL) is not None


def _members(operand: Any) -> Any:
    """A list given as one comma-separated string (``--param NAME=s3,sqs``) is that list."""
    if isinstance(operand, str):
        return [part.strip() for part in operand.split(",") if part.strip()]
    return operand


def _short(ref: str, limit: int = 80) -> str:
    """Refs are expressions as written; a long one is cut so the message stays one readable line."""
    flat = " ".join(ref.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class _Fields(dict):  # type: ignore[type-arg]
    def __missing__(self, key: str) -> str:
        # A field only a decided test fills (an unresolved finding has no such value).
        return "(not known)"


def run_rule(rule: Rule, inventory: Inventory, params: Mapping[str, Any] | None = None) -> list[Finding]:
    """``params``: users' values for rule parameters; the rule's defaults fill the rest."""
    values = {**rule.params, **{k: v for k, v in (params or {}).items() if k in rule.params}}
    findings: list[Finding] = []
    for subject in subjects(inventory, rule.subject):
        results: list[TestResult] = []
        for pred in rule.when:
            # A false predicate decides the rule: the ones after it (a prover question) are not asked.
            results.append(evaluate_predicate(pred, subject, values))
            if results[-1].truth.is_false:
                break
        truth = all_of([r.truth for r in results])
        if truth.is_false:
            continue
        span = subject.span
        fields: dict[str, Any] = {"resource": subject.resource, **values, **subject.fields}
        if rule.location:
            span = subject.obj.span_for(rule.location) if hasattr(subject.obj, "span_for") else span
            fields["value"] = display(getattr(subject.obj, rule.location, None))
        for result in results:
            fields.update(result.fields)
            if result.span is not None and result.truth.is_true:
                span = result.span
        message = rule.message.format_map(_Fields(fields))
        if truth.is_unresolved:
            refs = ", ".join(_short(ref) for ref in truth.depends_on) or "an unresolved value"
            message += f" (unresolved: depends on {refs})"
        findings.append(
            Finding(
                rule_id=rule.id,
                title=rule.title,
                severity=rule.severity,
                category=rule.category,
                message=message,
                span=span,
                resource=subject.resource,
                context=subject.context,
                unresolved=truth.depends_on if truth.is_unresolved else (),
                remediation=rule.remediation,
                help_uri=rule.help_uri,
                witness=witness_from_fields(fields),
            )
        )
    return findings


# The request in words as prover questions write it: "<principal> calling <action>[ with k=v, ...]
# [ (what else it needs)]", or "<principal> can call <action> and <action>" for two requests.
_CALLING = re.compile(
    r"^(?P<principal>.+?) calling (?P<action>\S+)(?: with (?P<context>.+?))?(?: \((?P<note>[^()]*)\))?$"
)
_CAN_CALL = re.compile(r"^(?P<principal>\S+) can call (?P<action>.+)$")
# A context entry starts where a condition key name followed by "=" does ("aws:PrincipalOrgID=",
# "kms:EncryptionContext:tenant="); a list value "[a, b]" has no such name after its commas.
_NEXT_ENTRY = re.compile(r", (?=[A-Za-z][\w.-]*:[^=\s]*=)")


def witness_from_fields(fields: Mapping[str, Any]) -> Witness | None:
    """The witness request a question handed over, or None when the rule's answer has none.

    A structured ``witness_request`` (principal, action, resource, context) is taken as given;
    otherwise the request is read back from the ``witness`` text, and when that text is not in a
    known form the witness is the text alone (shown as written, never guessed at)."""
    text = fields.get("witness")
    structured = fields.get("witness_request")
    if isinstance(structured, Mapping):
        return _structured_witness(structured, text if isinstance(text, str) else "")
    if not isinstance(text, str) or not text:
        return None
    return parse_witness_text(text)


def parse_witness_text(text: str) -> Witness:
    calling = _CALLING.match(text)
    if calling is not None:
        entries = _NEXT_ENTRY.split(calling["context"]) if calling["context"] else []
        pairs = [entry.partition("=") for entry in entries]
        if all(sep for _, sep, _ in pairs):
            return Witness(
                text=text,
                principal=calling["principal"],
                action=calling["action"],
                context=tuple((name, value) for name, _, value in pairs),
                note=calling["note"] or "",
            )
        return Witness(text=text)
    can_call = _CAN_CALL.match(text)
    if can_call is not None:
        return Witness(text=text, principal=can_call["principal"], action=can_call["action"])
    return Witness(text=text)


def _structured_witness(request: Mapping[str, Any], text: str) -> Witness:
    context = request.get("context")
    pairs = context.items() if isinstance(context, Mapping) else ()
    principal, action = str(request.get("principal", "")), str(request.get("action", ""))
    return Witness(
        text=text or f"{principal} calling {action}",
        principal=principal,
        action=action,
        resource=str(request.get("resource", "")),
        context=tuple((str(name), _context_value(value)) for name, value in pairs),
        note=str(request.get("note", "")),
    )


def _context_value(value: Any) -> str:
    """A context value as witness texts show it: ``true``, ``[a, b]`` for a multivalued key."""
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_context_value(v) for v in value) + "]"
    return display(value)


def diagnostic_finding(rule: Rule, diag: Diagnostic) -> Finding:
    return Finding(
        rule_id=rule.id,
        title=rule.title,
        severity=rule.severity,
        category=rule.category,
        message=diag.message,
        span=diag.span,
        resource=diag.resource,
        context=diag.context,
        remediation=rule.remediation,
        help_uri=rule.help_uri,
    )


# Runs rules on an inventory and gives each rule's findings, in the order of the rules (a process
# pool, in kmsguard.check; by default one rule after the other, here).
RuleRunner = Callable[[Sequence[Rule], Inventory, Mapping[str, Any] | None], list[list[Finding]]]


def run_packs(
    packs: Sequence[Pack],
    inventory: Inventory,
    diagnostics: Sequence[Diagnostic] = (),
    params: Mapping[str, Any] | None = None,
    runner: RuleRunner | None = None,
) -> list[Finding]:
    """Every rule of every pack on the inventory, plus the loaders' diagnostics as findings of
    the rules they name. ``runner`` may run the rules elsewhere (other processes): each rule's
    findings do not depend on the other rules, and the result is sorted, so it is the same."""
    rules = {rule.id: rule for pack in packs for rule in pack.rules}
    evaluated = [rule for rule in rules.values() if rule.subject != "diagnostic"]
    if runner is None:
        per_rule = [run_rule(rule, inventory, params) for rule in evaluated]
    else:
        per_rule = runner(evaluated, inventory, params)
    findings: list[Finding] = [finding for part in per_rule for finding in part]
    for diag in diagnostics:
        rule = rules.get(diag.rule_id)
        if rule is None:
            raise KeyError(f"loader diagnostic names rule {diag.rule_id}, which no pack defines")
        findings.append(diagnostic_finding(rule, diag))
    return sorted(findings, key=lambda f: f.sort_key)


def rules_of(packs: Sequence[Pack]) -> list[Rule]:
    return [rule for pack in packs for rule in pack.rules]


__all__ = [
    "Key",
    "evaluate_predicate",
    "parse_witness_text",
    "rules_of",
    "run_packs",
    "run_rule",
    "subjects",
    "witness_from_fields",
]
