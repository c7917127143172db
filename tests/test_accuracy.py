"""kmsguard's precision and recall on the labelled fixtures (fixtures/labelled/labels.yaml).

Every label whose rule exists is held at 100% precision and recall; a label marked `pending:` in the
manifest (its rule is still being written) is measured and reported as an expected failure, never
skipped in silence. On failure the message is a table of the cases that disagree. The scoring
itself is tested first, on hand-made observations.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCH_DIR = Path(__file__).resolve().parents[1] / "bench"
# bench/accuracy.py is a script run as `python bench/accuracy.py`; its loading and scoring half is
# shared with this test, so that the bench and the test judge by one rule.
sys.path.insert(0, str(BENCH_DIR))

import accuracy  # noqa: E402
from accuracy import Case, LabelDef, Manifest, Observation  # noqa: E402

MANIFEST = accuracy.load_manifest()
MIN_KEYS = 60  # issue 5, "Accuracy, measured": at least 60 keys


def label_names(pending: bool) -> list[str]:
    return [name for name, label in MANIFEST.labels.items() if (label.pending is not None) == pending]


@pytest.fixture(scope="module")
def pack_rule_ids() -> list[str]:
    return accuracy.kmsguard_rule_ids()


@pytest.fixture(scope="module")
def kmsguard_score() -> accuracy.Score:
    observations = accuracy.run_kmsguard(MANIFEST)
    return accuracy.score("kmsguard", MANIFEST, observations, MANIFEST.label_for_rule())


# ------------------------------------------------------------------------------ scoring, by hand


def tiny_manifest() -> Manifest:
    labels = {
        "public": LabelDef("public", ("KMS002",), None, "", ("s",)),
        "rotation-off": LabelDef("rotation-off", ("KMS001",), None, "", ("s",)),
    }
    cases = (
        Case("policy/a.json", "policy", 1, frozenset({"public"}), frozenset(), ("s",)),
        Case("policy/b.json", "policy", 1, frozenset(), frozenset({"public"}), ("s",)),
        Case("terraform/c", "terraform", 1, frozenset({"rotation-off"}), frozenset(), ("s",)),
    )
    return Manifest(labels, cases, {"s": "a source"}, ())


def test_score_counts_each_label_once_per_case() -> None:
    manifest = tiny_manifest()
    observations = [
        Observation("t", "KMS002", "policy/a.json", "a:1"),
        Observation("t", "KMS002", "policy/a.json", "a:9"),  # a second finding, same issue
        Observation("t", "KMS002", "policy/b.json", "b:1"),  # the negative case: a false positive
        # terraform/c: rotation-off expected, nothing found: a false negative
    ]
    result = accuracy.score("t", manifest, observations, manifest.label_for_rule())
    assert (result.labels["public"].true_positives, result.labels["public"].false_positives) == (1, 1)
    assert result.labels["public"].precision == 0.5
    assert result.labels["rotation-off"].recall == 0.0
    assert {d.case for d in result.disagreements} == {"policy/b.json", "terraform/c"}


def test_score_sets_apart_findings_no_label_or_case_covers() -> None:
    manifest = tiny_manifest()
    observations = [
        Observation("t", "OTHER1", "policy/a.json", "a:1"),  # a check mapped to no label
        Observation("t", "KMS002", None, "elsewhere.json:1"),  # a file no case covers
    ]
    result = accuracy.score("t", manifest, observations, manifest.label_for_rule())
    assert len(result.unmapped) == 2
    assert result.labels["public"].false_negatives == 1


def test_score_limits_to_the_kinds_a_tool_reads() -> None:
    manifest = tiny_manifest()
    observations = [Observation("t", "KMS001", "terraform/c", "c/main.tf:1")]
    result = accuracy.score("t", manifest, observations, manifest.label_for_rule(), ("terraform",))
    assert result.case_count == 1
    assert "public" not in result.labels  # no Terraform case has it, and nothing claimed it
    assert result.labels["rotation-off"].is_perfect


def test_a_check_speaking_to_two_labels_counts_for_the_expected_one() -> None:
    manifest = tiny_manifest()
    checks = {"CROSS": ("rotation-off", "public")}
    observations = [Observation("t", "CROSS", "policy/a.json", "a:1")]
    result = accuracy.score("t", manifest, observations, checks)
    assert result.labels["public"].true_positives == 1
    assert "rotation-off" not in result.labels or result.labels["rotation-off"].false_positives == 0


def test_case_for_path_matches_the_file_or_a_file_inside_the_folder() -> None:
    cases = tiny_manifest().cases
    assert accuracy.case_for_path(cases, "terraform/c/modules/key/main.tf") is cases[2]
    assert accuracy.case_for_path(cases, "terraform/cc/main.tf") is None
    assert accuracy.case_for_path(cases, "policy/a.json") is cases[0]


def test_peer_reports_are_read_into_observations() -> None:
    cases = MANIFEST.cases
    checkov_report = {
        "check_type": "terraform",
        "results": {
            "failed_checks": [
                {
                    "check_id": "CKV_AWS_7",
                    "file_path": "/rotation_off/main.tf",
                    "file_abs_path": str(accuracy.FIXTURES / "terraform" / "rotation_off" / "main.tf"),
                    "file_line_range": [2, 4],
                    "resource": "aws_kms_key.app",
                }
            ]
        },
    }
    (found,) = accuracy.checkov_observations(checkov_report, accuracy.FIXTURES / "terraform", cases)
    assert (found.check_id, found.case) == ("CKV_AWS_7", "terraform/rotation_off")
    cfripper_result = {"failures": [{"rule": "KMSKeyWildcardPrincipalRule", "resource_ids": ["SharedKey"]}]}
    (found,) = accuracy.cfripper_observations(cfripper_result, "cloudformation/public.yaml", cases)
    assert (found.check_id, found.case) == ("KMSKeyWildcardPrincipalRule", "cloudformation/public.yaml")


def test_manifest_contradictions_are_refused(tmp_path: Path) -> None:
    bad = tmp_path / "labels.yaml"
    bad.write_text(
        "version: 1\nrun: {args: []}\nsources: {s: x}\n"
        "labels: {public: {rules: [KMS002], source: [s]}}\n"
        "cases: [{case: policy/x.json, keys: 1, expect: [public], not: [public], source: [s]}]\n"
    )
    with pytest.raises(accuracy.ManifestError, match="both expected and not"):
        accuracy.load_manifest(bad)


# ------------------------------------------------------------------------------ the fixtures


def test_fixtures_are_enough_and_every_one_is_labelled() -> None:
    assert sum(case.keys for case in MANIFEST.cases) >= MIN_KEYS
    for kind in accuracy.KINDS:
        assert len(MANIFEST.cases_of([kind])) >= 15, kind
    on_disk = {
        f"{kind}/{entry.name}" for kind in accuracy.KINDS for entry in (accuracy.FIXTURES / kind).iterdir()
    }
    assert on_disk == {case.path for case in MANIFEST.cases}


def test_point_5_situations_are_all_covered() -> None:
    # issue 5, point 5 lists these; each must have a case (named for it) with the right truth.
    expected = {
        "terraform/org_restricted": set(),  # aws:PrincipalOrgID: not public
        "policy/via_service_caller_account.json": set(),  # kms:CallerAccount + kms:ViaService
        "terraform/secure_transport_only": {"public"},  # an irrelevant condition: still public
        "terraform/policy_document_public": {"public"},  # data "aws_iam_policy_document"
        "terraform/separate_key_policy_public": {"public"},  # aws_kms_key_policy
        "terraform/module_variable_public": {"public"},  # module variables
        "cloudformation/sub_partner_account.yaml": {"external"},  # !Sub
        "terraform/replica_public": {"public"},  # replica keys
        "cloudformation/replica_private.yaml": set(),
        "terraform/star_root_principal": {"invalid-policy"},  # arn:aws:iam::*:root
        "terraform/grant_external_account": {"grant-external"},  # grants to external accounts
        "terraform/rotation_hmac": set(),  # HMAC, asymmetric, EXTERNAL: no rotation finding
        "terraform/rotation_asymmetric": set(),
        "terraform/rotation_external_key": set(),
        "policy/default_key_policy.json": set(),  # AWS default key policy: never flagged
    }
    by_path = {case.path: case for case in MANIFEST.cases}
    for path, labels in expected.items():
        assert by_path[path].expect == labels, path
    assert any("not-principal" in case.expect for case in MANIFEST.cases)


def test_every_rule_of_the_default_pack_has_a_label(pack_rule_ids: list[str]) -> None:
    mapped = MANIFEST.label_for_rule()
    missing = [rule for rule in pack_rule_ids if rule not in mapped]
    assert not missing, f"rules without a label in fixtures/labelled/labels.yaml: {missing}"


def test_every_finding_belongs_to_a_case_and_a_label(kmsguard_score: accuracy.Score) -> None:
    assert not kmsguard_score.unmapped, "\n".join(
        f"{o.check_id} {o.location}" for o in kmsguard_score.unmapped
    )


@pytest.mark.parametrize("label", label_names(pending=False))
def test_label_is_exact(kmsguard_score: accuracy.Score, label: str) -> None:
    result = kmsguard_score.labels.get(label)
    if result is None:
        return  # no case expects it and kmsguard never reports it: nothing to get wrong
    assert result.is_perfect, (
        f"{label}: precision {accuracy.percent(result.precision)}, recall {accuracy.percent(result.recall)}\n"
        + accuracy.disagreement_table(kmsguard_score, [label])
    )


def test_overall_is_exact(kmsguard_score: accuracy.Score) -> None:
    overall = kmsguard_score.overall(label_names(pending=False))
    assert overall.is_perfect, accuracy.side_by_side_table(MANIFEST, [kmsguard_score])


def test_no_label_is_pending() -> None:
    # A label may be marked `pending: KMSxxx` while its rule is written (bench/accuracy.py still
    # measures it); once the rule is in the pack, the label is enforced like the others.
    pending = {label: MANIFEST.labels[label].pending for label in label_names(pending=True)}
    assert not pending, f"labels still pending (remove `pending:` once the rule lands): {pending}"
