"""Property-based fuzzing: the policy loader never lets an exception escape, whatever the input."""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmsguard.load.base import LoadContext
from kmsguard.load.jsonpos import JSONPosError, loads_with_positions
from kmsguard.load.policy_builder import build_policy
from kmsguard.load.policy_file import load_policy_file
from kmsguard.model import Policy, PolicyKind, Unknown

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=12))
keys = st.sampled_from(
    [
        "Version",
        "Statement",
        "Sid",
        "Effect",
        "Principal",
        "NotPrincipal",
        "Action",
        "NotAction",
        "Resource",
        "NotResource",
        "Condition",
        "AWS",
        "Service",
        "StringEquals",
        "ForAnyValue:StringLike",
        "kms:CallerAccount",
        "Allow",
        "Deny",
        "*",
    ]
) | st.text(max_size=8)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=5),
    max_leaves=30,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(document=json_values, kind=st.sampled_from(list(PolicyKind)))
def test_policy_builder_never_raises(document, kind):
    policy, diagnostics = build_policy(document, kind, resource="fuzz")
    assert isinstance(policy, (Policy, Unknown))
    assert all(d.rule_id.startswith("KMS") for d in diagnostics)


@settings(max_examples=300)
@given(text=st.text(max_size=200))
def test_json_positions_decoder_raises_only_its_own_error(text):
    try:
        value, _ = loads_with_positions(text, "f.json")
    except JSONPosError as err:
        assert err.line >= 1
        return
    assert value == json.loads(text)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(document=json_values)
def test_policy_file_loader_never_raises(document):
    result = load_policy_file("p.json", json.dumps(document), LoadContext())
    assert all(e.path == "p.json" for e in result.errors)
