"""Every rule's passing and failing examples (in the pack itself) run through the real loaders."""

from pathlib import Path

import pytest

from kmsguard.check import CheckOptions, run_check
from kmsguard.load.base import LoadContext
from kmsguard.rules_engine.packs import DEFAULT_PACK, builtin_packs

ROOT = Path(__file__).resolve().parents[1]
SUFFIX = {"terraform": "main.tf", "cloudformation": "template.yaml", "policy": "key-policy.json"}
# An example may say where it is deployed (what --account, --trusted-accounts, --org-id would say).
CONTEXT_KEYS = ("account", "trusted_accounts", "org_id")
# Every built-in pack's rules; a rule of another pack than the default runs with its pack loaded
# (kms-strict's examples are checked under kms-strict's parameters).
PACK_OF = {rule.id: pack.name for pack in builtin_packs() for rule in pack.rules}


def _cases():
    for rule in (r for pack in builtin_packs() for r in pack.rules):
        for outcome in ("fail", "pass"):
            for index, example in enumerate(rule.examples.get(outcome) or []):
                context = {k: v for k, v in example.items() if k in CONTEXT_KEYS}
                for kind, code in example.items():
                    if kind in CONTEXT_KEYS:
                        continue
                    yield pytest.param(
                        rule.id, outcome, kind, code, context, id=f"{rule.id}-{outcome}-{index}-{kind}"
                    )


@pytest.mark.parametrize(("rule_id", "outcome", "kind", "code", "context"), list(_cases()))
def test_example(tmp_path, rule_id, outcome, kind, code, context):
    if kind == "cloudformation" and "AWSTemplateFormatVersion" not in code:
        code = 'AWSTemplateFormatVersion: "2010-09-09"\n' + code
    (tmp_path / SUFFIX[kind]).write_text(code)
    load_context = LoadContext(
        account=context.get("account"),
        org_id=context.get("org_id"),
        trusted_accounts=tuple(context.get("trusted_accounts", ())),
    )
    packs = () if PACK_OF[rule_id] == DEFAULT_PACK else (PACK_OF[rule_id],)
    result = run_check(CheckOptions(paths=(str(tmp_path),), context=load_context, packs=packs))
    assert result.errors == []
    fired = [f for f in result.findings if f.rule_id == rule_id]
    if outcome == "fail":
        assert fired, f"{rule_id} did not fire on its failing example"
    else:
        assert not fired, f"{rule_id} fired on its passing example: {fired[0].message}"


def test_every_access_and_attribute_rule_has_examples_both_ways():
    for rule in (r for pack in builtin_packs() for r in pack.rules):
        if rule.subject == "diagnostic" and rule.id in ("KMS102", "KMS104", "KMS105", "KMS900"):
            continue  # exercised by loader tests: size limit, broken JSON, unexpanded code, suppressions
        assert rule.examples.get("fail") and rule.examples.get("pass"), rule.id
