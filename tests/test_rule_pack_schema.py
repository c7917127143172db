"""The rule-pack format: the JSON Schema shipped in the package, what packs.py accepts, users' packs
checked against the schema with ``path:line: message`` errors, and pack-level parameters (how
kms-strict tightens kms-core)."""

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import jsonschema
import pytest
import yaml

from kmsguard.findings import CATEGORIES, Severity
from kmsguard.model import Inventory, Key, PolicyKind, Source, Span, Unknown
from kmsguard.rules_engine import PackError, load_pack, load_packs, run_packs
from kmsguard.rules_engine.packs import (
    ATTR_OPERATORS,
    SCHEMA_FILE,
    SUBJECTS,
    builtin_pack_names,
    builtin_packs_dir,
    check_schema,
    pack_schema,
)

ROOT = Path(__file__).resolve().parents[1]
PACK_FILES = sorted((ROOT / "rules").glob("*.yaml"))


def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(pack_schema())


def test_the_schema_is_a_valid_draft_2020_12_schema_inside_the_package():
    jsonschema.Draft202012Validator.check_schema(pack_schema())
    assert pack_schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    # Shipped in the wheel: hatchling packages everything under kmsguard/ (pyproject.toml).
    assert SCHEMA_FILE.is_relative_to(ROOT / "kmsguard")


@pytest.mark.parametrize("path", PACK_FILES, ids=[p.name for p in PACK_FILES])
def test_every_pack_in_rules_is_valid(path: Path):
    errors = [
        f"{list(e.absolute_path)}: {e.message}"
        for e in _validator().iter_errors(yaml.safe_load(path.read_text()))
    ]
    assert errors == []


def test_there_is_a_default_and_a_strict_pack():
    assert builtin_pack_names()[:1] == ["kms-core"]
    assert "kms-strict" in builtin_pack_names()


def test_the_schema_vocabularies_are_the_runtimes():
    """The schema is derived from packs.py and findings.py: if either changes, this fails."""
    defs = pack_schema()["$defs"]
    rule = defs["rule"]["properties"]
    assert rule["subject"]["enum"] == list(SUBJECTS)
    assert rule["category"]["enum"] == list(CATEGORIES)
    assert rule["severity"]["enum"] == [s.value for s in Severity]
    operators = set(defs["attr_predicate"]["properties"]) - {"attr"}
    assert operators == set(ATTR_OPERATORS)
    assert re.fullmatch(rule["id"]["pattern"], "KMS123") and not re.fullmatch(rule["id"]["pattern"], "KMS1")


def _rule(**overrides: object) -> dict:
    rule = {
        "id": "KMS801",
        "title": "t",
        "severity": "low",
        "category": "hygiene",
        "subject": "key",
        "message": "m",
        "description": "d",
        "remediation": "r",
        "references": ["https://docs.aws.amazon.com/kms/"],
        "when": [{"attr": "enabled", "equals": False}],
    }
    rule.update(overrides)
    return {"pack": "mine", "rules": [rule]}


@pytest.mark.parametrize(
    "when",
    [
        [{"question": "public"}],
        [{"question": "who_can", "params": {"action": "kms:Decrypt"}, "expect": False}],
        [{"test": "supports_automatic_rotation", "expect": False}],
        [{"attr": "rotation_period_days", "greater_than": {"param": "max_days"}}],
        [{"attr": "aliases", "equals": []}],
        [{"attr": "service", "in": {"param": "services"}}],
    ],
)
def test_the_schema_accepts_every_form_of_check(when):
    data = _rule(when=when, params={"max_days": 90, "services": ["s3", "sqs"]})
    assert list(_validator().iter_errors(data)) == []


@pytest.mark.parametrize(
    "when",
    [
        [{"question": "public", "params": "not a mapping"}],
        [{"attr": "enabled", "equals": False, "not_equals": True}],  # two operators
        [{"attr": "enabled"}],  # no operator
        [{"test": "x", "attr": "enabled"}],
        [{"nothing": 1}],
    ],
)
def test_the_schema_rejects_malformed_checks(when):
    assert list(_validator().iter_errors(_rule(when=when))) != []


def test_the_schema_allows_extension_fields_but_not_typos():
    assert list(_validator().iter_errors(_rule(**{"x-owner": "team"}))) == []
    assert list(_validator().iter_errors(_rule(remediaton="r"))) != []


def _write(tmp_path: Path, text: str, name: str = "pack.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip())
    return path


GOOD = """
pack: mine
rules:
  - id: KMS801
    title: Key disabled
    severity: low
    category: hygiene
    subject: key
    when:
      - {attr: enabled, equals: false}
    message: "Key {resource} is disabled"
    description: d
    remediation: r
    references: [https://docs.aws.amazon.com/kms/latest/developerguide/enabling-keys.html]
"""


@pytest.mark.parametrize(
    ("old", "new", "line", "fragment"),
    [
        ("    remediation: r", "    remediaton: r", 12, "unknown field 'remediaton'"),
        ("severity: low", "severity: urgent", 5, "severity: 'urgent' is not one of"),
        ("equals: false}", "equals: false, not_equals: true}", 9, "when[0]"),
        ("[https://docs.aws", "[docs.aws", 13, "references[0]"),
        ("    title: Key disabled\n", "", 3, "'title' is a required property"),
    ],
)
def test_a_user_pack_that_breaks_the_schema_is_one_line_with_its_line(tmp_path, old, new, line, fragment):
    text = textwrap.dedent(GOOD).lstrip()
    assert old in text
    path = _write(tmp_path, text.replace(old, new))
    with pytest.raises(PackError) as info:
        load_packs([str(path)])
    error = info.value
    assert (error.path, error.line) == (str(path), line)
    assert fragment in error.message
    assert str(error) == f"{path}:{line}: {error.message}"
    assert "\n" not in str(error)


def test_semantic_errors_point_at_the_rule(tmp_path):
    # Valid against the schema (named tests are not a closed list there), unknown to the runtime.
    path = _write(tmp_path, GOOD.replace("{attr: enabled, equals: false}", "{test: no_such_test}"))
    with pytest.raises(PackError, match="unknown test 'no_such_test'") as info:
        load_packs([str(path)])
    assert info.value.line == 3  # the "- id: KMS801" line
    assert str(info.value).startswith(f"{path}:3: rule KMS801: ")


def test_yaml_syntax_errors_have_their_line(tmp_path):
    path = _write(tmp_path, GOOD.replace("    subject: key", "    subject: [key"))
    with pytest.raises(PackError, match="not valid YAML") as info:
        load_packs([str(path)])
    assert info.value.line > 0 and "\n" not in str(info.value)


def test_an_unknown_pack_name_lists_the_builtin_ones():
    with pytest.raises(PackError, match="kms-strict") as info:
        load_packs(["kms-stirct"])
    assert info.value.path == "kms-stirct"


def test_a_bad_user_pack_exits_2_with_one_line(tmp_path):
    path = _write(tmp_path, GOOD.replace("severity: low", "severity: urgent"))
    (tmp_path / "main.tf").write_text('resource "aws_kms_key" "k" {\n  enable_key_rotation = true\n}\n')
    proc = subprocess.run(
        [sys.executable, "-m", "kmsguard", "check", str(tmp_path / "main.tf"), "--pack", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"kmsguard: error: {path}:5: rule KMS801: severity: 'urgent' is not one of "
        "['info', 'low', 'medium', 'high', 'critical']"
    ]


_IMPORTS_JSONSCHEMA = """
import sys
from kmsguard.rules_engine import load_packs
load_packs([sys.argv[1]])
print("jsonschema" in sys.modules)
"""


def test_jsonschema_is_imported_only_on_a_cache_miss(tmp_path, monkeypatch):
    monkeypatch.setenv("KMSGUARD_CACHE_DIR", str(tmp_path / "cache"))
    path = _write(tmp_path, GOOD)

    def imports_jsonschema() -> bool:
        proc = subprocess.run(
            [sys.executable, "-c", _IMPORTS_JSONSCHEMA, str(path)], capture_output=True, text=True, timeout=60
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.strip() == "True"

    assert imports_jsonschema() is True  # first run: validated, then cached
    assert imports_jsonschema() is False  # cached: no validation, no import


def test_a_user_copy_of_a_pack_parsed_unchecked_is_still_checked(tmp_path, monkeypatch):
    """The built-in packs are parsed without the schema; a user's pack with the same bytes must
    not inherit that unchecked cache entry."""
    monkeypatch.setenv("KMSGUARD_CACHE_DIR", str(tmp_path / "cache"))
    bad = _write(tmp_path, GOOD.replace("    remediation: r", "    remediation: r\n    remedy: typo"))
    load_pack(bad)  # unchecked (as the built-in packs are loaded): cached
    with pytest.raises(PackError, match="unknown field 'remedy'"):
        load_pack(bad, validate=True)


def test_a_cached_strict_pack_reads_no_yaml(tmp_path, monkeypatch):
    """The hook path with kms-strict selected: cached packs, pack params applied, no YAML parsing
    (line numbers are looked up only for errors)."""
    monkeypatch.setenv("KMSGUARD_CACHE_DIR", str(tmp_path / "cache"))
    script = "import sys\nfrom kmsguard.rules_engine import load_packs\nload_packs(['kms-strict'])\n"
    script += "print('yaml' in sys.modules, 'jsonschema' in sys.modules)"
    runs = [
        subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
        for _ in (1, 2)
    ]
    assert [r.stdout.split() for r in runs] == [["True", "False"], ["False", "False"]], runs[-1].stderr


def test_the_builtin_packs_load_without_the_schema(tmp_path, monkeypatch):
    # The pre-commit path: built-in packs are checked by this test file, not at run time.
    monkeypatch.setenv("KMSGUARD_NO_CACHE", "1")
    proc = subprocess.run(
        [sys.executable, "-c", _IMPORTS_JSONSCHEMA.replace("[sys.argv[1]]", "['kms-strict']")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


# --- pack-level params: kms-strict -------------------------------------------------------------


def _key(**kw) -> Key:
    return Key(
        address="aws_kms_key.k",
        resource_type="aws_kms_key",
        source=Source.TERRAFORM,
        span=Span("m.tf", 1),
        **kw,
    )


def _ids(packs, *keys, params=None) -> set[str]:
    return {f.rule_id for f in run_packs(packs, Inventory(keys=keys), params=params)}


# source: AWS KMS API Reference, "EnableKeyRotation": RotationPeriodInDays 90-2560, default 365.
def test_kms_strict_tightens_the_rotation_period_of_kms_core():
    key = _key(rotation_enabled=True, rotation_period_days=365, description="d", aliases=("alias/k",))
    assert "KMS004" not in _ids(load_packs(), key)
    assert "KMS004" in _ids(load_packs(["kms-strict"]), key)
    # Configuration and --param still win over the pack's default.
    assert "KMS004" not in _ids(load_packs(["kms-strict"]), key, params={"max_rotation_period_days": 365})


# source: AWS KMS API Reference, "ScheduleKeyDeletion": PendingWindowInDays 7-30, default 30.
def test_kms_strict_tightens_the_deletion_window_of_kms_core():
    key = _key(rotation_enabled=True, deletion_window_days=20, description="d", aliases=("alias/k",))
    assert "KMS005" not in _ids(load_packs(), key)
    assert "KMS005" in _ids(load_packs(["kms-strict"]), key)


def test_kms_strict_params_are_the_rule_defaults_after_loading():
    core = {r.id: r for r in load_packs()[0].rules}
    strict = {r.id: r for r in load_packs(["kms-strict"])[0].rules}
    written = yaml.safe_load((builtin_packs_dir() / "kms-strict.yaml").read_text())["params"]
    assert strict["KMS004"].params["max_rotation_period_days"] == written["max_rotation_period_days"]
    assert core["KMS004"].params["max_rotation_period_days"] != written["max_rotation_period_days"]


OVERRIDE = """
pack: mine
params:
  {name}: {value}
rules: []
"""


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("max_rotation_period_day", 180, "not a parameter of any loaded rule"),
        ("max_rotation_period_days", "true", "same type"),
    ],
)
def test_a_pack_param_that_no_rule_declares_or_of_the_wrong_type_is_an_error(tmp_path, name, value, fragment):
    path = _write(tmp_path, OVERRIDE.format(name=name, value=value))
    with pytest.raises(PackError, match=fragment) as info:
        load_packs([str(path)])
    assert (info.value.path, info.value.line) == (str(path), 3)


def test_a_user_pack_can_tighten_thresholds_too(tmp_path):
    path = _write(tmp_path, OVERRIDE.format(name="max_rotation_period_days", value=90))
    key = _key(rotation_enabled=True, rotation_period_days=120)
    assert "KMS004" in _ids(load_packs([str(path)]), key)


# --- kms-strict's own rules on model values the examples do not show ---------------------------


def test_list_operands_compare_with_the_models_tuples():
    strict = load_packs(["kms-strict"])
    assert "KMS201" in _ids(strict, _key(rotation_enabled=True, description="d"))
    assert "KMS201" not in _ids(strict, _key(rotation_enabled=True, description="d", aliases=("alias/a",)))
    # AWS managed keys cannot be given aliases of your own.
    assert "KMS201" not in _ids(strict, _key(rotation_enabled=True, key_manager="AWS"))


def _policy_key(statement: dict) -> Key:
    from kmsguard.load.policy_builder import build_policy

    doc = {"Version": "2012-10-17", "Statement": [statement]}
    policy, _ = build_policy(doc, PolicyKind.KEY, resource="aws_kms_key.k", span=Span("m.tf", 1))
    return _key(policy=policy, rotation_enabled=True, description="d", aliases=("alias/a",))


def _findings(rule_id: str, key: Key):
    return [f for f in run_packs(load_packs(["kms-strict"]), Inventory(keys=(key,))) if f.rule_id == rule_id]


ADMIN = {
    "Sid": "Admin",
    "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
    "Action": "kms:*",
}


# source: KMS Developer Guide, "Key policies in AWS KMS" (Resource: "In a key policy, the value of
# the Resource element is "*", which means "this KMS key"").
@pytest.mark.parametrize(
    ("resource", "flagged", "depends_on"),
    [
        ("*", False, ()),
        (["*"], False, ()),
        ("arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab", True, ()),
        (["*", "arn:aws:kms:us-east-1:111122223333:key/*"], True, ()),
        ("arn:aws:s3:::bucket", False, ()),  # never names the key: kms-core's KMS106, not repeated
        (Unknown("var.key_arn"), True, ("var.key_arn",)),
    ],
)
def test_key_policy_resource_other_than_star(resource, flagged, depends_on):
    findings = _findings("KMS203", _policy_key({**ADMIN, "Resource": resource}))
    assert bool(findings) is flagged
    if flagged:
        assert findings[0].unresolved == depends_on


def test_statement_without_sid_and_unknown_policies():
    unnamed = {k: v for k, v in ADMIN.items() if k != "Sid"}
    assert _findings("KMS202", _policy_key({**unnamed, "Resource": "*"}))
    assert not _findings("KMS202", _policy_key({**ADMIN, "Resource": "*"}))
    # A policy kmsguard cannot read is not "fine": the finding says what it depends on.
    unknown = _key(policy=Unknown("var.policy"), rotation_enabled=True, description="d", aliases=("alias/a",))
    assert [f.unresolved for f in _findings("KMS202", unknown)] == [("var.policy",)]


def test_description_unknown_is_unresolved_not_passed():
    findings = _findings(
        "KMS200", _key(rotation_enabled=True, aliases=("alias/a",), description=Unknown("var.d"))
    )
    assert [f.unresolved for f in findings] == [("var.d",)]
    assert not _findings("KMS200", _key(rotation_enabled=True, aliases=("alias/a",), description="orders"))


def test_schema_and_runtime_agree_on_every_builtin_pack():
    # check_schema (the path user packs take) accepts every built-in pack as written.
    for path in PACK_FILES:
        check_schema(path, path.read_text(), yaml.safe_load(path.read_text()))
    assert json.loads(SCHEMA_FILE.read_text())["title"] == "kmsguard rule pack"
