"""Baselines: keyed by fingerprint (no line numbers), counting duplicates."""

from __future__ import annotations

import json
import os

import pytest

from kmsguard.baseline import BaselineError, make_baseline, read_baseline, write_baseline


@pytest.fixture
def baseline_path(tmp_path) -> str:
    return str(tmp_path / "kmsguard-baseline.json")


def test_a_finding_whose_lines_moved_is_still_in_the_baseline(make_finding, baseline_path):
    write_baseline(baseline_path, [make_finding(line=4, col=38)])
    moved = make_finding(line=40, col=2, end_line=41, end_col=9)
    assert read_baseline(baseline_path).contains(moved)


def test_a_new_finding_is_not_in_the_baseline(make_finding, baseline_path):
    write_baseline(baseline_path, [make_finding()])
    baseline = read_baseline(baseline_path)
    assert not baseline.contains(make_finding("KMS002"))
    assert not baseline.contains(make_finding(resource="aws_kms_key.other"))
    assert not baseline.contains(make_finding(path="other.tf"))


def test_a_changed_message_makes_a_finding_new(make_finding, baseline_path):
    write_baseline(baseline_path, [make_finding(message="allows kms:Decrypt to role/a")])
    assert not read_baseline(baseline_path).contains(make_finding(message="allows kms:Decrypt to role/b"))


def test_duplicates_are_counted(make_finding, baseline_path):
    write_baseline(baseline_path, [make_finding(line=1), make_finding(line=2)])
    now = [make_finding(line=30), make_finding(line=10), make_finding(line=20)]

    new = read_baseline(baseline_path).new_findings(now)

    # Two are accounted for; the third, last in report order, is new.
    assert [f.span.line for f in new] == [30]


def test_contains_uses_up_one_recorded_occurrence_per_yes(make_finding, baseline_path):
    # The CLI asks contains() once per current finding: 2 recorded, 3 now -> one is new.
    write_baseline(baseline_path, [make_finding(line=1), make_finding(line=2)])
    baseline = read_baseline(baseline_path)
    answers = [baseline.contains(make_finding(line=line)) for line in (10, 20, 30)]
    assert answers == [True, True, False]
    assert len(baseline) == 2  # the recorded counts themselves are unchanged


def test_new_findings_ignores_suppressed_ones(make_finding):
    baseline = make_baseline([])
    suppressed = make_finding(suppressed_reason="explained in source")
    assert baseline.new_findings([suppressed, make_finding("KMS002")]) == [make_finding("KMS002")]


def test_suppressed_findings_are_not_written(make_finding, baseline_path):
    write_baseline(baseline_path, [make_finding(suppressed_reason="explained in source")])
    baseline = read_baseline(baseline_path)
    assert len(baseline) == 0
    assert not baseline.contains(make_finding())


def test_file_is_sorted_versioned_readable_and_independent_of_input_order(make_finding, tmp_path):
    findings = [
        make_finding("KMS002", path="b.tf"),
        make_finding("KMS001", path="a.tf"),
        make_finding("KMS001", path="a.tf", line=90),
    ]
    first, second = str(tmp_path / "1.json"), str(tmp_path / "2.json")
    write_baseline(first, findings)
    write_baseline(second, list(reversed(findings)))

    with open(first, encoding="utf-8") as stream:
        text = stream.read()
    with open(second, encoding="utf-8") as stream:
        assert stream.read() == text
    document = json.loads(text)
    assert document["version"] == 1
    assert [(e["path"], e["rule_id"], e["count"]) for e in document["findings"]] == [
        ("a.tf", "KMS001", 2),
        ("b.tf", "KMS002", 1),
    ]
    assert document["findings"][0]["fingerprint"] == findings[1].fingerprint
    assert document["findings"][0]["message"] == "Key policy allows kms:* to every principal"
    assert sorted(os.listdir(tmp_path)) == ["1.json", "2.json"]  # no temporary files left behind


def test_unwritable_location_raises_os_error_and_leaves_nothing(make_finding, tmp_path):
    target = str(tmp_path / "missing-dir" / "baseline.json")
    with pytest.raises(OSError):
        write_baseline(target, [make_finding()])
    assert os.listdir(tmp_path) == []


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_written_baseline_is_shareable_and_keeps_an_existing_mode(make_finding, tmp_path):
    fresh = tmp_path / "fresh.json"
    write_baseline(str(fresh), [make_finding()])
    assert fresh.stat().st_mode & 0o777 == 0o644
    existing = tmp_path / "existing.json"
    existing.write_text("{}", encoding="utf-8")
    existing.chmod(0o664)
    write_baseline(str(existing), [make_finding()])
    assert existing.stat().st_mode & 0o777 == 0o664


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "cannot read baseline"),
        ("{not json", ":1: baseline is not valid JSON"),
        ("[]", "baseline must be a JSON object"),
        ('{"version": 2, "findings": []}', "unsupported baseline version 2 (expected 1)"),
        ('{"version": 1}', "baseline has no 'findings' list"),
        ('{"version": 1, "findings": [3]}', "baseline entry 0 must be an object"),
        (
            '{"version": 1, "findings": [{"fingerprint": "abc"}]}',
            "baseline entry 0 has no valid 'fingerprint'",
        ),
        (
            '{"version": 1, "findings": [{"fingerprint": "' + "a" * 32 + '", "count": true}]}',
            "baseline entry 0 has an invalid 'count' True",
        ),
    ],
)
def test_bad_baselines_raise_one_line_errors(tmp_path, content, expected):
    path = tmp_path / "baseline.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")

    with pytest.raises(BaselineError) as raised:
        read_baseline(str(path))

    message = str(raised.value)
    assert expected in message and message.startswith(str(path)) and "\n" not in message


def test_binary_baseline_is_a_baseline_error(tmp_path):
    path = tmp_path / "baseline.json"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(BaselineError, match="not UTF-8"):
        read_baseline(str(path))


def test_hand_written_entry_without_count_counts_once(make_finding, tmp_path):
    path = tmp_path / "baseline.json"
    entry = {"fingerprint": make_finding().fingerprint}
    path.write_text(json.dumps({"version": 1, "findings": [entry]}), encoding="utf-8")
    baseline = read_baseline(str(path))
    assert len(baseline) == 1 and baseline.contains(make_finding())
