"""Policy templates: a JSON policy with Terraform template placeholders (``key-policy.json.tpl``
rendered by ``templatefile()``), read on its own with every ``${...}`` as an unknown value.

Checking the template itself catches what every rendering shares: a statement open to ``"*"``, a
grammar error, a duplicate Sid -- whatever the placeholders are filled with."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from kmsguard.findings import InputError
from kmsguard.load.base import LoadContext, LoadResult
from kmsguard.load.policy_builder import RULE_NOT_JSON, PolicyBuilder
from kmsguard.model import Inventory, Policy, PolicyKind, Source, Span, StandalonePolicy, Template, Unknown


def load_policy_template(path: str, text: str, ctx: LoadContext) -> LoadResult:
    from kmsguard.load.policy_file import classify_document
    from kmsguard.load.terraform import hcl
    from kmsguard.load.terraform.evaluate import Evaluator
    from kmsguard.load.terraform.json_text import JSONTextError, decode_json_text, without_structural_symbols

    result = LoadResult(sources={path: text})
    template = hcl.parse_template(text, path)
    if isinstance(template, hcl.ParsedFile):
        result.errors.append(InputError(path, template.error_line or 1, "template syntax error"))
        return result

    def placeholder(name: str, span: Span) -> Any:
        return Unknown(f"template variable {name}", span, "filled in by templatefile()")

    rendered = Evaluator(placeholder).evaluate(template)
    start = Span(path, 1, 1)
    builder = PolicyBuilder(PolicyKind.UNKNOWN, resource=path, partition=ctx.partition)
    unresolved: list[Unknown] = []
    try:
        document = decode_json_text(rendered, start)
    except JSONTextError as err:
        dropped: list[Any] = []
        if isinstance(rendered, Template):
            rest, dropped = without_structural_symbols(rendered)
        if not dropped:
            builder.problem(RULE_NOT_JSON, f"policy template is not valid JSON: {err}", start)
            result.diagnostics.extend(builder.diagnostics)
            return result
        # Directives render JSON structure kmsguard cannot know: keep the statements that are
        # known and record what the rest depends on.
        unresolved = [u if isinstance(u, Unknown) else Unknown(str(u), start) for u in dropped]
        try:
            document = decode_json_text(rest, start)
        except JSONTextError:
            document = {"Statement": unresolved[0]}
            unresolved = unresolved[1:]
    builder.kind = classify_document(document)
    policy = builder.build(document, start)
    result.diagnostics.extend(builder.diagnostics)
    if isinstance(policy, Policy):
        policy = replace(policy, unresolved=(*policy.unresolved, *unresolved))
        standalone = StandalonePolicy(address=path, source=Source.POLICY_FILE, document=policy, span=start)
        result.inventory = Inventory(policies=(standalone,), org=ctx.org())
    return result
