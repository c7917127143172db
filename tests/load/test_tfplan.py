"""The Terraform plan loader (``terraform show -json`` output).

source: Terraform documentation, "JSON Output Format" -- plan representation (planned_values,
resource_changes with change.after_unknown, prior_state), values representation (root_module,
child_modules, resources with address/mode/type/values) and configuration representation
(expressions with references, module_calls). The test plan tests/data/plan/app.plan.json follows it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kmsguard.load import tfplan
from kmsguard.load.base import LoadContext
from kmsguard.load.tfplan import fill_unknowns, load_plan, plan_resources, reference_target
from kmsguard.model import Policy, ResourceRef, Unknown
from kmsguard.model.values import to_plain

PLAN = Path(__file__).resolve().parent.parent / "data" / "plan" / "app.plan.json"


@pytest.fixture(scope="module")
def resources() -> dict[str, Any]:
    found, errors = plan_resources(str(PLAN), PLAN.read_text())
    assert errors == []
    return {r.address: r for r in found}


def line_of(needle: str, occurrence: int = 1) -> int:
    hits = [i + 1 for i, line in enumerate(PLAN.read_text().splitlines()) if needle in line]
    return hits[occurrence - 1]


# -- which resources ------------------------------------------------------------------------


def test_planned_resources_and_prior_state_data_sources(resources: dict[str, Any]) -> None:
    raw = json.loads(PLAN.read_text())
    planned = [r["address"] for r in raw["planned_values"]["root_module"]["resources"]]
    planned += [
        r["address"] for m in raw["planned_values"]["root_module"]["child_modules"] for r in m["resources"]
    ]
    prior_data = [
        r["address"] for r in raw["prior_state"]["values"]["root_module"]["resources"] if r["mode"] == "data"
    ]
    assert sorted(resources) == sorted(planned + prior_data)
    # Deleted resources appear only in resource_changes and will not exist after apply.
    assert "aws_kms_key.old" not in resources
    assert resources["data.aws_iam_policy_document.key"].mode == "data"
    assert resources["aws_kms_key.this"].type == "aws_kms_key"


def test_resource_span_is_its_object_in_the_plan_file(resources: dict[str, Any]) -> None:
    key = resources["aws_kms_key.this"]
    # The first "address" line of the key is inside planned_values; the object opens a line above.
    assert key.span.line == line_of('"address": "aws_kms_key.this"') - 1
    assert key.span.path == str(PLAN)
    assert key.end_line > key.span.line
    child = resources["module.logging.aws_kms_key.logs"]
    assert child.span.line == line_of('"address": "module.logging.aws_kms_key.logs"') - 1


# -- known and unknown values ----------------------------------------------------------------------


def test_known_values_are_kept(resources: dict[str, Any]) -> None:
    key = resources["aws_kms_key.this"].values
    assert key["deletion_window_in_days"] == 7
    assert key["enable_key_rotation"] is False
    assert key["tags"] == {"team": "app"}


def test_unknown_value_with_one_reference_becomes_resource_ref(resources: dict[str, Any]) -> None:
    sse = resources["aws_s3_bucket_server_side_encryption_configuration.data"].values
    default = sse["rule"][0]["apply_server_side_encryption_by_default"][0]
    assert default["kms_master_key_id"] == ResourceRef(
        "aws_kms_key.this", "arn", default["kms_master_key_id"].span
    )
    assert default["sse_algorithm"] == "aws:kms"
    assert sse["bucket"].address == "aws_s3_bucket.data" and sse["bucket"].attribute == "id"
    alias = resources["aws_kms_alias.this"].values
    assert (alias["target_key_id"].address, alias["target_key_id"].attribute) == (
        "aws_kms_key.this",
        "key_id",
    )


def test_policy_principal_referring_to_a_role_becomes_resource_ref(resources: dict[str, Any]) -> None:
    statements = resources["data.aws_iam_policy_document.key"].values["statement"]
    root, app = statements
    assert root["principals"][0]["identifiers"] == ["arn:aws:iam::111122223333:root"]
    (identifier,) = app["principals"][0]["identifiers"]
    assert isinstance(identifier, ResourceRef)
    assert (identifier.address, identifier.attribute) == ("aws_iam_role.app", "arn")
    assert app["sid"] == "AppUse"


def test_policy_from_a_deferred_policy_document_is_rendered_from_its_blocks(
    resources: dict[str, Any],
) -> None:
    # The key's policy is data.aws_iam_policy_document.key.json, read only at apply (it needs the
    # role's ARN): the document is rendered from the data source's statement blocks instead.
    policy = resources["aws_kms_key.this"].values["policy"]
    assert isinstance(policy, dict)
    root, app = policy["Statement"]
    assert root["Sid"] == "Root"
    # One identifier may be rendered as a string or a one-item list: IAM reads both the same.
    assert root["Principal"]["AWS"] in ("arn:aws:iam::111122223333:root", ["arn:aws:iam::111122223333:root"])
    assert "NotAction" not in root and "NotPrincipal" not in root  # plan's [] means "not written"
    principal = app["Principal"]["AWS"]
    principal = principal[0] if isinstance(principal, list) else principal
    assert (principal.address, principal.attribute) == ("aws_iam_role.app", "arn")


def test_reference_to_a_known_policy_document_is_its_json() -> None:
    document = {"Version": "2012-10-17", "Statement": []}
    plan = {
        "format_version": "1.2",
        "planned_values": {
            "root_module": {
                "resources": [
                    {
                        "address": "aws_kms_key.k",
                        "mode": "managed",
                        "type": "aws_kms_key",
                        "name": "k",
                        "values": {},
                    }
                ]
            }
        },
        "resource_changes": [{"address": "aws_kms_key.k", "change": {"after_unknown": {"policy": True}}}],
        "prior_state": {
            "values": {
                "root_module": {
                    "resources": [
                        {
                            "address": "data.aws_iam_policy_document.d",
                            "mode": "data",
                            "type": "aws_iam_policy_document",
                            "name": "d",
                            "values": {"json": json.dumps(document)},
                        }
                    ]
                }
            }
        },
        "configuration": {
            "root_module": {
                "resources": [
                    {
                        "address": "aws_kms_key.k",
                        "expressions": {
                            "policy": {
                                "references": [
                                    "data.aws_iam_policy_document.d.json",
                                    "data.aws_iam_policy_document.d",
                                ]
                            }
                        },
                    }
                ]
            }
        },
    }
    found, errors = plan_resources("p.json", json.dumps(plan))
    assert errors == []
    key = {r.address: r for r in found}["aws_kms_key.k"]
    assert json.loads(key.values["policy"]) == document


def test_jsonencoded_policy_around_references_stays_unknown(resources: dict[str, Any]) -> None:
    policy = resources["aws_kms_key.inline"].values["policy"]
    assert isinstance(policy, Unknown)
    assert policy.ref == "aws_kms_key.inline.policy (known after apply)"
    assert "aws_iam_role.app.arn" in policy.reason


def test_computed_attribute_without_expression_is_left_to_the_mapping(resources: dict[str, Any]) -> None:
    # `arn` is computed by the provider and not configured: it is left out of the values, so the
    # resource mapping describes it (a ResourceRef for arn; AWS's default key policy for an
    # unconfigured `policy`) instead of an opaque "known after apply".
    # source: Terraform docs, "JSON Output Format": after_unknown marks values known only after apply.
    assert "arn" not in resources["aws_kms_key.this"].values


def test_reference_inside_a_child_module_is_prefixed(resources: dict[str, Any]) -> None:
    group = resources["module.logging.aws_cloudwatch_log_group.app"].values
    assert (group["kms_key_id"].address, group["kms_key_id"].attribute) == (
        "module.logging.aws_kms_key.logs",
        "arn",
    )


def test_policy_strings_are_flattened_without_changing_them(resources: dict[str, Any]) -> None:
    raw = json.loads(PLAN.read_text())
    original = raw["planned_values"]["root_module"]["child_modules"][0]["resources"][1]["values"]["policy"]
    assert "\n" in original
    loaded = resources["module.logging.aws_kms_key.logs"].values["policy"]
    assert "\n" not in loaded and len(loaded) == len(original)
    assert json.loads(loaded) == json.loads(original)
    assert loaded.span.line == line_of('"policy": "{\\n  \\"Version')


# -- the whole loader ----------------------------------------------------------------------------------


def test_load_plan_maps_keys_with_policies_on_plan_lines() -> None:
    result = load_plan(str(PLAN), PLAN.read_text(), LoadContext())
    assert result.errors == []
    assert result.sources[str(PLAN)] == PLAN.read_text()
    addresses = {k.address for k in result.inventory.keys}
    assert addresses == {"aws_kms_key.this", "aws_kms_key.inline", "module.logging.aws_kms_key.logs"}
    logs = result.inventory.key_by_address("module.logging.aws_kms_key.logs")
    assert isinstance(logs.policy, Policy)
    assert [s.sid for s in logs.policy.statements] == ["Root", "Logs"]
    policy_line = line_of('"policy": "{\\n  \\"Version')
    assert {s.span.line for s in logs.policy.statements} == {policy_line}
    assert not isinstance(result.inventory.key_by_address("aws_kms_key.inline").policy, Policy)
    assert result.diagnostics == []
    this = result.inventory.key_by_address("aws_kms_key.this")
    assert isinstance(this.policy, Policy)
    app = next(s for s in this.policy.statements if s.sid == "AppUse")
    assert [(p.value.address, p.value.attribute) for p in app.principals] == [("aws_iam_role.app", "arn")]


# -- errors and formats ----------------------------------------------------------------------------------


def test_invalid_json_is_one_input_error() -> None:
    result = load_plan("bad.json", '{\n  "format_version": "1.2",\n  "planned_values": {,\n}', LoadContext())
    (error,) = result.errors
    assert error.path == "bad.json" and error.line == 3
    assert result.inventory.keys == ()


def test_json_that_is_not_a_plan() -> None:
    (error,) = load_plan("x.json", '{"Version": "2012-10-17"}', LoadContext()).errors
    assert "not a Terraform plan" in error.message


def test_unsupported_major_format_version_is_rejected() -> None:
    # source: "JSON Output Format": "Reject any input which reports an unsupported major version."
    text = json.dumps({"format_version": "2.0", "planned_values": {"root_module": {}}})
    (error,) = load_plan("p.json", text, LoadContext()).errors
    assert "format_version 2.0" in error.message


def test_empty_plan_has_no_resources() -> None:
    text = json.dumps({"format_version": "1.2", "planned_values": {"outputs": {}, "root_module": {}}})
    found, errors = plan_resources("p.json", text)
    assert found == [] and errors == []


def test_large_plans_are_read_without_positions(
    monkeypatch: pytest.MonkeyPatch, resources: dict[str, Any]
) -> None:
    monkeypatch.setattr(tfplan, "LARGE_PLAN_CHARS", 10)
    found, errors = plan_resources(str(PLAN), PLAN.read_text())
    assert errors == []
    plain = {r.address: r for r in found}
    assert set(plain) == set(resources)
    for address, resource in plain.items():
        assert resource.span.line == 0
        assert to_plain(resource.values) == to_plain(resources[address].values), address


def test_module_instance_keys_and_counted_resources() -> None:
    # A module called with for_each: instance addresses carry keys, configuration does not.
    plan = {
        "format_version": "1.2",
        "planned_values": {
            "root_module": {
                "child_modules": [
                    {
                        "address": 'module.tenant["a"]',
                        "resources": [
                            {
                                "address": 'module.tenant["a"].aws_kms_key.k[0]',
                                "mode": "managed",
                                "type": "aws_kms_key",
                                "name": "k",
                                "index": 0,
                                "values": {},
                            },
                            {
                                "address": 'module.tenant["a"].aws_sqs_queue.q',
                                "mode": "managed",
                                "type": "aws_sqs_queue",
                                "name": "q",
                                "values": {"name": "a"},
                            },
                        ],
                    }
                ]
            }
        },
        "resource_changes": [
            {
                "address": 'module.tenant["a"].aws_sqs_queue.q',
                "change": {"actions": ["create"], "after_unknown": {"kms_master_key_id": True}},
            },
        ],
        "configuration": {
            "root_module": {
                "module_calls": {
                    "tenant": {
                        "module": {
                            "resources": [
                                {
                                    "address": "aws_sqs_queue.q",
                                    "mode": "managed",
                                    "type": "aws_sqs_queue",
                                    "name": "q",
                                    "expressions": {
                                        "kms_master_key_id": {
                                            "references": [
                                                "aws_kms_key.k[0].arn",
                                                "aws_kms_key.k[0]",
                                                "aws_kms_key.k",
                                            ]
                                        }
                                    },
                                },
                            ]
                        }
                    }
                }
            }
        },
    }
    found, errors = plan_resources("p.json", json.dumps(plan, indent=1))
    assert errors == []
    queue = {r.address: r for r in found}['module.tenant["a"].aws_sqs_queue.q']
    ref = queue.values["kms_master_key_id"]
    assert isinstance(ref, ResourceRef)
    assert (ref.address, ref.attribute) == ('module.tenant["a"].aws_kms_key.k[0]', "arn")


# -- the reference rules -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reference", "target"),
    [
        ("aws_iam_role.app.arn", ("aws_iam_role.app", "arn")),
        ("aws_iam_role.app", ("aws_iam_role.app", "")),
        ("data.aws_iam_policy_document.x.json", ("data.aws_iam_policy_document.x", "json")),
        ("aws_kms_key.k[0].arn", ("aws_kms_key.k[0]", "arn")),
        ('aws_kms_key.k["a"].key_id', ('aws_kms_key.k["a"]', "key_id")),
        ("var.key_arn", None),
        ("local.admins", None),
        ("module.kms.key_arn", None),
        ("each.value", None),
        # A path below an attribute is not the attribute itself.
        ("aws_s3_bucket.b.server_side_encryption_configuration[0].rule", None),
    ],
)
def test_reference_target(reference: str, target: tuple[str, str] | None) -> None:
    assert reference_target(reference) == target


@pytest.mark.parametrize(
    ("path", "references", "expected"),
    [
        ("kms_key_id", ["aws_kms_key.k.arn", "aws_kms_key.k"], ResourceRef("aws_kms_key.k", "arn")),
        ("kms_key_id", ["var.key", "aws_kms_key.k.arn", "aws_kms_key.k"], None),
        ("kms_key_id", ["aws_kms_key.a.arn", "aws_kms_key.b.arn"], None),
        ("kms_key_id", ["aws_kms_key.a.arn", "aws_kms_key.b"], None),
        ("kms_key_id", [], None),
        # A policy document: only a reference to another document stands for it.
        ("policy", ["aws_iam_role.app.arn", "aws_iam_role.app"], None),
        (
            "policy",
            ["aws_iam_policy.p.policy", "aws_iam_policy.p"],
            ResourceRef("aws_iam_policy.p", "policy"),
        ),
    ],
)
def test_unknown_leaf_resolution(path: str, references: list[str], expected: ResourceRef | None) -> None:
    values = fill_unknowns(
        {}, {path: True}, {path: {"references": references}}, address="aws_x.y", module_prefix=""
    )
    value = values[path]
    if expected is None:
        assert isinstance(value, Unknown) and value.ref == f"aws_x.y.{path} (known after apply)"
    else:
        assert isinstance(value, ResourceRef)
        assert (value.address, value.attribute) == (expected.address, expected.attribute)


def test_unknown_list_elements_keep_known_neighbours() -> None:
    values = fill_unknowns(
        {"identifiers": [None, "arn:aws:iam::111122223333:root"]},
        {"identifiers": [True, False]},
        {"identifiers": {"references": ["aws_iam_role.a.arn", "aws_iam_role.a"]}},
        address="data.aws_iam_policy_document.d",
        module_prefix="module.m.",
    )
    first, second = values["identifiers"]
    assert (first.address, first.attribute) == ("module.m.aws_iam_role.a", "arn")
    assert second == "arn:aws:iam::111122223333:root"
