"""Rule documentation: docs/rules.md and docs/rules/<ID>.md are generated from the packs, in ruff's
shape, and the text `kmsguard rules ID` prints is the same page."""

import re
from pathlib import Path

from kmsguard.rules_engine.docs import (
    generated_docs,
    pack_overrides,
    rule_markdown,
    rule_sections,
    rule_text,
    stale_pages,
    write_docs,
)
from kmsguard.rules_engine.packs import builtin_packs

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
REGENERATE = "regenerate with: kmsguard rules --write-docs docs"


def _rule(rule_id: str):
    return next(r for pack in builtin_packs() for r in pack.rules if r.id == rule_id)


def _code(example: dict) -> list[str]:
    return [example[kind] for kind in ("terraform", "cloudformation", "policy") if kind in example]


def test_the_committed_docs_are_generated_from_the_packs():
    pages = generated_docs(builtin_packs())
    for relative, content in pages.items():
        path = DOCS / relative
        assert path.is_file(), f"{path} is missing; {REGENERATE}"
        assert path.read_text(encoding="utf-8") == content, f"{path} is stale; {REGENERATE}"
    assert stale_pages(DOCS, pages) == [], f"pages of rules that no longer exist; {REGENERATE}"


def test_every_rule_of_every_builtin_pack_has_a_page_linked_from_the_index():
    pages = generated_docs(builtin_packs())
    index = pages["rules.md"]
    for pack in builtin_packs():
        assert f"## {pack.name}" in index
        for rule in pack.rules:
            assert f"rules/{rule.id}.md" in pages
            assert f"[{rule.id}](rules/{rule.id}.md)" in index


def test_a_page_has_ruffs_sections_in_order():
    page = rule_markdown(_rule("KMS004"))
    headings = re.findall(r"^## (.+)$", page, flags=re.M)
    assert headings == ["What it does", "Why is this bad?", "Example", "Use instead", "Options", "References"]
    assert page.startswith("# KMS004: ")


def test_example_is_a_failing_example_and_use_instead_a_passing_one():
    rule = _rule("KMS001")
    page = rule_markdown(rule)
    example = page.split("## Example", 1)[1].split("## Use instead", 1)[0]
    use_instead = page.split("## Use instead", 1)[1].split("## References", 1)[0]
    for item in rule.examples["fail"]:
        for code in _code(item):
            assert code.rstrip() in example and code.rstrip() not in use_instead
    for item in rule.examples["pass"]:
        for code in _code(item):
            assert code.rstrip() in use_instead
    assert rule.remediation in use_instead
    assert "```hcl" in example  # Terraform examples are fenced as HCL


def test_options_show_the_default_and_the_stricter_packs_value():
    rule = _rule("KMS004")
    strict = next(p for p in builtin_packs() if p.name == "kms-strict")
    page = rule_markdown(rule, pack_overrides(builtin_packs()))
    options = page.split("## Options", 1)[1].split("## References", 1)[0]
    assert f"`max_rotation_period_days` (default `{rule.params['max_rotation_period_days']}`" in options
    assert f"kms-strict: `{strict.params['max_rotation_period_days']}`" in options
    assert "--param NAME=VALUE" in options


def test_a_rule_without_params_has_no_options_section():
    rule = _rule("KMS003")
    assert not rule.params
    assert "## Options" not in rule_markdown(rule)


def test_the_text_explanation_is_the_same_page():
    rule = _rule("KMS004")
    overrides = pack_overrides(builtin_packs())
    text = rule_text(rule, overrides)
    for section in rule_sections(rule, overrides):
        assert f"\n{section.title}\n" in text
    for item in rule.examples["fail"] + rule.examples["pass"]:
        for code in _code(item):
            for line in code.strip().splitlines():
                assert "    " + line in text
    assert "```" not in text and "## " not in text


def test_write_docs_writes_then_changes_nothing_and_removes_stale_pages(tmp_path):
    packs = builtin_packs()
    first = write_docs(tmp_path, packs)
    assert (tmp_path / "rules.md").is_file() and (tmp_path / "rules" / "KMS001.md").is_file()
    assert len(first) == len(generated_docs(packs))
    assert write_docs(tmp_path, packs) == []
    stale = tmp_path / "rules" / "KMS999.md"
    stale.write_text("old")
    keep = tmp_path / "rules" / "README.md"  # not a generated page: left alone
    keep.write_text("notes")
    assert write_docs(tmp_path, packs) == [stale]
    assert not stale.exists() and keep.exists()


def test_example_context_is_shown_as_the_options_it_is_checked_with():
    rule = _rule("KMS001")
    with_context = rule.examples["fail"][0] | {
        "account": "111122223333",
        "trusted_accounts": ["444455556666"],
    }
    from dataclasses import replace

    page = rule_markdown(replace(rule, examples={"fail": [with_context]}))
    assert "Checked with `--account 111122223333 --trusted-accounts 444455556666`" in page
