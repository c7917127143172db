"""`kmsguard rules`: list, explain one rule, write the docs; packs selected by --pack or the
configuration."""

import json
from pathlib import Path

import pytest

from kmsguard.cli import main
from kmsguard.rules_engine.docs import pack_overrides, rule_markdown, rule_text
from kmsguard.rules_engine.packs import builtin_packs, load_packs


def _rule(rule_id: str):
    return next(r for pack in builtin_packs() for r in pack.rules if r.id == rule_id)


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(autouse=True)
def _no_config(tmp_path, monkeypatch):
    # No configuration file above the working directory unless a test writes one.
    monkeypatch.chdir(tmp_path)


def test_rules_lists_the_default_pack(capsys):
    code, out, _ = _run(capsys, "rules")
    assert code == 0
    listed = [line.split()[0] for line in out.splitlines()]
    assert listed == [r.id for r in load_packs()[0].rules]
    assert "KMS200" not in listed


def test_rules_with_the_strict_pack_lists_its_rules_too(capsys):
    code, out, _ = _run(capsys, "rules", "--pack", "kms-strict")
    assert code == 0
    listed = [line.split()[0] for line in out.splitlines()]
    assert "KMS001" in listed and "KMS200" in listed and "KMS203" in listed


def test_the_configuration_selects_packs_for_rules_and_check(capsys, tmp_path):
    (tmp_path / ".kmsguard.toml").write_text('packs = ["kms-strict"]\n')
    _, out, _ = _run(capsys, "rules")
    assert "KMS200" in out
    (tmp_path / "main.tf").write_text('resource "aws_kms_key" "k" {\n  enable_key_rotation = true\n}\n')
    code, out, _ = _run(capsys, "check", "main.tf", "--format", "json")
    assert code == 1
    fired = {f["rule_id"] for f in json.loads(out)["findings"]}
    # No description, no alias, and AWS's default 365-day period is above kms-strict's maximum.
    assert {"KMS200", "KMS201", "KMS004"} <= fired


def test_rules_id_prints_the_rules_page_as_text(capsys):
    code, out, err = _run(capsys, "rules", "KMS004")
    assert code == 0 and err == ""
    assert out == rule_text(_rule("KMS004"), pack_overrides(builtin_packs()))
    assert out.startswith("KMS004: ") and "What it does" in out and "Use instead" in out


def test_rules_id_is_case_insensitive_and_explains_rules_of_packs_not_selected(capsys):
    code, out, _ = _run(capsys, "rules", "kms201")
    assert code == 0
    assert out.startswith("KMS201: ") and "Pack: kms-strict" in out


def test_rules_id_markdown_is_the_docs_page(capsys):
    code, out, _ = _run(capsys, "rules", "KMS001", "--format", "markdown")
    assert code == 0
    assert out == rule_markdown(_rule("KMS001"), pack_overrides(builtin_packs()))


def test_rules_id_json(capsys):
    code, out, _ = _run(capsys, "rules", "KMS004", "--format", "json")
    assert code == 0
    detail = json.loads(out)
    assert detail["id"] == "KMS004" and detail["params"] == _rule("KMS004").params
    assert (
        detail["param_overrides"]["max_rotation_period_days"]["kms-strict"]
        != detail["params"]["max_rotation_period_days"]
    )


def test_an_unknown_rule_id_is_one_line_and_exit_2(capsys):
    code, out, err = _run(capsys, "rules", "KMS999")
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "KMS999" in err


def test_a_users_pack_rule_is_explained(capsys, tmp_path):
    pack = tmp_path / "mine.yaml"
    pack.write_text(
        "rules:\n  - id: KMS801\n    title: Mine\n    severity: low\n    category: hygiene\n"
        "    subject: key\n    when: [{attr: enabled, equals: false}]\n    message: m\n"
        "    description: what it does\n    remediation: r\n"
        "    references: [https://docs.aws.amazon.com/kms/latest/developerguide/enabling-keys.html]\n"
    )
    code, out, _ = _run(capsys, "rules", "KMS801", "--pack", str(pack))
    assert code == 0 and out.startswith("KMS801: Mine") and "what it does" in out


def test_write_docs(capsys, tmp_path):
    code, _, err = _run(capsys, "rules", "--write-docs", str(tmp_path / "out"))
    assert code == 0 and "written" in err
    assert (tmp_path / "out" / "rules.md").is_file()
    for pack in builtin_packs():
        for rule in pack.rules:
            assert (tmp_path / "out" / "rules" / f"{rule.id}.md").is_file()


def test_a_bad_pack_name_is_exit_2(capsys):
    code, _, err = _run(capsys, "rules", "--pack", "kms-lax")
    assert code == 2 and "kms-strict" in err and len(err.strip().splitlines()) == 1


def test_markdown_listing_is_the_index(capsys):
    code, out, _ = _run(capsys, "rules", "--format", "markdown")
    assert code == 0 and "[KMS001](rules/KMS001.md)" in out


def test_readme_documents_the_docs_generator():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert "kmsguard rules --write-docs docs" in readme
