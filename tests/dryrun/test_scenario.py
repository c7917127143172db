"""Reading scenario files: the schema and the cross-references, each error one path:line: message."""

from __future__ import annotations

from pathlib import Path

import pytest

from kmsguard.dryrun.scenario import Expectation, ScenarioError, load_scenario, operation_name, parse_scenario

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "verify"

HEAD = """\
version: 1
account: "111122223333"
keys:
  data: {}
principals:
  app:
    arn: arn:aws:iam::111122223333:role/app
steps:
"""


def _error(text: str) -> ScenarioError:
    with pytest.raises(ScenarioError) as excinfo:
        parse_scenario("s.yaml", text)
    return excinfo.value


def test_the_shipped_scenario_reads_into_keys_principals_and_steps():
    scenario = load_scenario(str(FIXTURES / "tenant_isolation.yaml"))
    assert scenario.account == "111122223333"
    assert [k.name for k in scenario.keys] == ["orders"]
    orders = scenario.keys[0]
    assert (orders.rotation_enabled, orders.rotation_period_days, orders.aliases) == (
        True,
        365,
        ("alias/orders",),
    )
    assert '"ConsumeTenantB"' in (orders.policy or "")  # the YAML mapping became JSON text
    assert [p.name for p in scenario.principals] == ["producer", "consumer", "outsider", "auditor"]
    assert len(scenario.principals[3].policies) == 1
    steps = {s.id: s for s in scenario.steps}
    assert steps["produce"].operation == "encrypt"
    assert steps["produce"].params["EncryptionContext"] == {"tenant": "a"}
    assert steps["consume-as-tenant-a"].expect == Expectation("AccessDeniedException", "ImplicitDeny")
    assert steps["auditor"].expect == Expectation(None, "ExplicitDeny")
    lines = (FIXTURES / "tenant_isolation.yaml").read_text().splitlines()
    assert lines[steps["produce"].line - 1].strip() == "- id: produce"


def test_defaults_and_generated_step_ids():
    scenario = parse_scenario(
        "s.yaml", HEAD + "  - {as: app, op: Encrypt, params: {KeyId: data, Plaintext: x}, expect: ok}\n"
    )
    assert (scenario.region, scenario.partition, scenario.name) == ("us-east-1", "aws", "s")
    assert scenario.keys[0].spec == "SYMMETRIC_DEFAULT" and scenario.keys[0].policy is None
    assert scenario.steps[0].id == "step1"
    assert scenario.steps[0].operation == "encrypt"  # API name accepted


@pytest.mark.parametrize(
    ("written", "boto3"),
    [("GenerateDataKey", "generate_data_key"), ("ReEncrypt", "re_encrypt"), ("decrypt", "decrypt")],
)
def test_operation_names(written: str, boto3: str):
    assert operation_name(written) == boto3


@pytest.mark.parametrize(
    ("steps", "line", "fragment"),
    [
        (
            "  - {as: app, op: encrypt, params: {KeyId: data}, expect: ok, colour: red}\n",
            9,
            "unknown field 'colour'",
        ),
        ("  - {as: app, op: encrypt, params: {KeyId: data}}\n", 9, "'expect' is a required property"),
        ("  - {as: app, op: encrypt, expect: {decision: Maybe}}\n", 9, "expect"),
        ("  - {as: app, op: frobnicate, expect: ok}\n", 9, 'unknown op "frobnicate"'),
        ("  - {as: nobody, op: encrypt, expect: ok}\n", 9, 'as "nobody" is neither a declared principal'),
        (
            "  - {as: app, op: encrypt, params: {KeyId: dta}, expect: ok}\n",
            9,
            'KeyId "dta" is not a declared key',
        ),
        (
            "  - {as: app, op: decrypt, params: {CiphertextBlob: '${steps.later.CiphertextBlob}'},"
            " expect: ok}\n"
            "  - {id: later, as: app, op: encrypt, params: {KeyId: data, Plaintext: x}, expect: ok}\n",
            9,
            "names no earlier step",
        ),
        (
            "  - {as: app, op: encrypt, params: {KeyId: 'x-${keys.data.Arn}'}, expect: ok}\n",
            9,
            "must be the whole value",
        ),
        (
            "  - {as: app, op: encrypt, params: {KeyId: '${keys.nope.Arn}'}, expect: ok}\n",
            9,
            "no declared key",
        ),
        (
            "  - {id: a, as: app, op: list_keys, expect: ok}\n  - {id: a, as: app, op: list_keys,"
            " expect: ok}\n",
            10,
            "used twice",
        ),
    ],
)
def test_bad_steps_are_one_line_with_the_line_of_the_step(steps: str, line: int, fragment: str):
    error = _error(HEAD + steps)
    assert error.line == line
    assert fragment in error.message
    assert str(error).startswith(f"s.yaml:{line}: ")
    assert "\n" not in str(error)


def test_an_unquoted_account_is_rejected_on_its_line():
    error = _error("account: 111122223333\nsteps:\n  - {as: '111122223333', op: list_keys, expect: ok}\n")
    assert (error.line, "account" in error.message) == (1, True)


def test_a_key_from_iac_cannot_also_declare_its_policy():
    error = _error(
        "keys:\n  k:\n    from: aws_kms_key.k\n    policy: {}\nsteps:\n  - {as: '111122223333',"
        " op: list_keys, expect: ok}\n"
    )
    assert error.line == 2


def test_invalid_yaml_and_a_list_document():
    assert _error("steps: [\n").line >= 1
    assert "a scenario must be a mapping" in _error("- 1\n").message


def test_a_principal_needs_arn_or_from():
    error = _error("principals:\n  p: {policies: []}\nsteps:\n  - {as: p, op: list_keys, expect: ok}\n")
    assert error.line == 2


def test_the_scenario_schema_is_a_valid_json_schema():
    import json

    from jsonschema import Draft202012Validator

    from kmsguard.dryrun.scenario import SCHEMA_FILE

    Draft202012Validator.check_schema(json.loads(SCHEMA_FILE.read_text()))


def test_every_listed_operation_is_a_local_kms_method():
    from kmsguard.crypto import LocalKMS
    from kmsguard.dryrun.scenario import OPERATIONS

    assert all(callable(getattr(LocalKMS, name, None)) for name in OPERATIONS)
