"""Every rule's passing and failing examples (in the pack itself) run through the real loaders."""

from pathlib import Path

import pytest

from kmsguard.check import CheckOptions, run_check
from kmsguard.rules_engine import load_packs

ROOT = Path(__file__).resolve().parents[1]
SUFFIX = {"terraform": "main.tf", "cloudformation": "template.yaml", "policy": "key-policy.json"}


def _cases():
    for rule in load_packs()[0].rules:
        for outcome in ("fail", "pass"):
            for index, example in enumerate(rule.examples.get(outcome) or []):
                for kind, code in example.items():
                    yield pytest.param(rule.id, outcome, kind, code, id=f"{rule.id}-{outcome}-{index}-{kind}")


@pytest.mark.parametrize(("rule_id", "outcome", "kind", "code"), list(_cases()))
def test_example(tmp_path, rule_id, outcome, kind, code):
    if kind == "cloudformation" and "AWSTemplateFormatVersion" not in code:
        code = 'AWSTemplateFormatVersion: "2010-09-09"\n' + code
    (tmp_path / SUFFIX[kind]).write_text(code)
    result = run_check(CheckOptions(paths=(str(tmp_path),)))
    assert result.errors == []
    fired = [f for f in result.findings if f.rule_id == rule_id]
    if outcome == "fail":
        assert fired, f"{rule_id} did not fire on its failing example"
    else:
        assert not fired, f"{rule_id} fired on its passing example: {fired[0].message}"


def test_every_access_and_attribute_rule_has_examples_both_ways():
    for rule in load_packs()[0].rules:
        if rule.subject == "diagnostic" and rule.id in ("KMS102", "KMS104", "KMS105", "KMS900"):
            continue  # exercised by loader tests: size limit, broken JSON, unexpanded code, suppressions
        assert rule.examples.get("fail") and rule.examples.get("pass"), rule.id


def test_rule_docs_are_generated_from_the_packs():
    from kmsguard.rules_engine.docs import rules_markdown
    from kmsguard.rules_engine.runtime import rules_of

    expected = rules_markdown(rules_of(load_packs()))
    assert (ROOT / "docs" / "rules.md").read_text() == expected, (
        "run: kmsguard rules --format markdown > docs/rules.md"
    )
