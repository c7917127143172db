"""The benchmark harness itself: alternation, statistics, ratios, crash detection, the table.

Only trivial commands (`python -c ...`) run here; the peers are never installed or called.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

BENCH_DIR = Path(__file__).resolve().parents[2] / "bench"
# The bench scripts import each other by plain name, as `python bench/run.py` puts bench/ first.
sys.path.insert(0, str(BENCH_DIR))

import harness  # noqa: E402
import importtime  # noqa: E402
import peers  # noqa: E402
import report  # noqa: E402
import run  # noqa: E402

PYTHON = sys.executable


def python_command(label: str, code: str, **options: Any) -> harness.Command:
    return harness.Command(label, (PYTHON, "-c", code), **options)


def appending(label: str, log: Path) -> harness.Command:
    """A command that records that it ran by appending its label to ``log``."""
    return python_command(label, f"open({str(log)!r}, 'a').write({label!r})")


def measurement(*seconds: float, label: str = "m") -> harness.Measurement:
    return harness.Measurement(python_command(label, "pass"), seconds)


# --- alternation -------------------------------------------------------------------------------


def test_round_robin_order_alternates_commands_round_by_round() -> None:
    a, b, c = (python_command(name, "pass") for name in "ABC")
    order = harness.round_robin_order([a, b, c], rounds=2)
    assert [command.label for command in order] == ["A", "B", "C", "A", "B", "C"]


def test_measure_runs_warmup_then_alternates_processes(tmp_path: Path) -> None:
    log = tmp_path / "order.txt"
    results = harness.measure([appending("A", log), appending("B", log)], runs=3, warmup=1)
    # One warm-up round, then three measured rounds, each alternating A then B.
    assert log.read_text() == "AB" + "ABABAB"
    assert [m.command.label for m in results] == ["A", "B"]
    assert [len(m.seconds) for m in results] == [3, 3]


def test_measure_without_warmup_runs_exactly_the_measured_rounds(tmp_path: Path) -> None:
    log = tmp_path / "order.txt"
    harness.measure([appending("A", log), appending("B", log)], runs=2, warmup=0)
    assert log.read_text() == "ABAB"


def test_measured_time_includes_the_whole_process() -> None:
    (sleeper,) = harness.measure([python_command("sleep", "import time; time.sleep(0.2)")], runs=2, warmup=0)
    assert sleeper.minimum >= 0.2
    assert all(seconds < 30 for seconds in sleeper.seconds)


def test_measure_rejects_zero_runs_and_duplicate_labels() -> None:
    with pytest.raises(ValueError, match="runs"):
        harness.measure([python_command("A", "pass")], runs=0)
    with pytest.raises(ValueError, match="unique"):
        harness.measure([python_command("A", "pass"), python_command("A", "pass")], runs=1)


# --- statistics and ratio ----------------------------------------------------------------------


def test_median_min_max_of_an_odd_number_of_runs() -> None:
    m = measurement(0.3, 0.1, 0.2, 0.9, 0.4)
    assert m.median == pytest.approx(0.3)
    assert (m.minimum, m.maximum) == (0.1, 0.9)


def test_median_of_an_even_number_of_runs_is_the_mean_of_the_middle_two() -> None:
    assert measurement(4.0, 1.0, 3.0, 2.0).median == pytest.approx(2.5)


def test_speedup_is_peer_median_over_baseline_median() -> None:
    peer = measurement(9.0, 10.0, 11.0, label="peer")
    baseline = measurement(0.5, 0.4, 0.6, label="kmsguard")
    assert harness.speedup(peer, baseline) == pytest.approx(20.0)


def test_speedup_uses_medians_not_means() -> None:
    # One slow outlier run moves the mean (4.0) but not the median (1.0).
    peer = measurement(1.0, 1.0, 10.0, label="peer")
    baseline = measurement(0.5, 0.5, 0.5, label="kmsguard")
    assert harness.speedup(peer, baseline) == pytest.approx(2.0)


# --- what counts as a failure of the bench -----------------------------------------------------


def test_nonzero_exit_code_declared_normal_is_not_a_failure() -> None:
    # Peers exit non-zero when they find issues (checkov: 1; cfn-lint: 2, 4, 8 bit mask).
    finds_issues = python_command(
        "lint", "print('E1 issue'); raise SystemExit(2)", accepted_exit_codes=frozenset({0, 2})
    )
    (result,) = harness.measure([finds_issues], runs=1, warmup=0)
    assert len(result.seconds) == 1


def test_undeclared_exit_code_stops_the_bench() -> None:
    with pytest.raises(harness.BenchFailure, match="exit code 3"):
        harness.measure([python_command("bad", "raise SystemExit(3)")], runs=1, warmup=0)


def test_traceback_is_a_crash_even_with_an_accepted_exit_code() -> None:
    crashing = python_command("crash", "raise RuntimeError('boom')", accepted_exit_codes=frozenset({0, 1}))
    with pytest.raises(harness.BenchFailure, match="traceback") as caught:
        harness.measure([crashing], runs=1, warmup=0)
    assert "RuntimeError: boom" in str(caught.value)


def test_missing_output_is_a_failure_when_output_is_required() -> None:
    silent = python_command("silent", "pass", requires_output=True)
    with pytest.raises(harness.BenchFailure, match="no output"):
        harness.measure([silent], runs=1, warmup=0)


def test_crash_during_warmup_is_reported() -> None:
    with pytest.raises(harness.BenchFailure):
        harness.measure([python_command("bad", "raise SystemExit(9)")], runs=5, warmup=1)


def test_extra_environment_reaches_the_command(tmp_path: Path) -> None:
    out = tmp_path / "env.txt"
    code = f"import os; open({str(out)!r}, 'w').write(os.environ['BENCH_PROBE'])"
    command = python_command("env", code, extra_env=(("BENCH_PROBE", "seen"),))
    harness.measure([command], runs=1, warmup=0)
    assert out.read_text() == "seen"


# --- the table ---------------------------------------------------------------------------------


def test_row_ratio_and_target_verdicts() -> None:
    baseline = measurement(0.1, 0.1, 0.1, label="kmsguard")
    fast_enough = report.ResultRow(
        "checkov", "tf", measurement(2.5, label="peer"), baseline, report.Target(20)
    )
    too_slow = report.ResultRow("cfn-lint", "cfn", measurement(0.4, label="peer"), baseline, report.Target(5))
    cells_fast = report.format_row(fast_enough)
    cells_slow = report.format_row(too_slow)
    assert cells_fast[4] == "25.0x" and cells_fast[5] == ">= 20x: met"
    assert cells_slow[4] == "4.0x" and cells_slow[5] == ">= 5x: NOT met"


def test_baseline_row_has_no_ratio() -> None:
    row = report.ResultRow("kmsguard", "tf", measurement(0.2, 0.1, 0.3))
    assert row.ratio is None
    assert report.format_row(row)[2:] == ("0.200", "0.100-0.300", "baseline", "-")


def test_markdown_table_shape() -> None:
    table = report.markdown_table(("a", "bb"), [("long cell", "x"), ("y", "z")])
    lines = table.splitlines()
    assert len(lines) == 4
    assert set(lines[1].replace("|", "").split()) == {"-" * len("long cell"), "--"}
    # Every line has the same width: the columns are padded.
    assert len({len(line) for line in lines}) == 1


# --- wiring of the real cases (commands built, never run) --------------------------------------


def fake_peers(tmp_path: Path) -> peers.PeerEnv:
    return peers.PeerEnv(tmp_path, "3.11.0", (("cfn-lint", "1"), ("checkov", "3")), tmp_path / "checkov")


def test_kmsguard_command_default_and_template() -> None:
    assert run.kmsguard_argv(None, "x.tf") == (sys.executable, "-m", "kmsguard", "check", "x.tf")
    assert run.kmsguard_argv("kg check {file} --format json", "x.tf") == (
        "kg",
        "check",
        "x.tf",
        "--format",
        "json",
    )
    assert run.kmsguard_argv("'my kg' check", "x.tf") == ("my kg", "check", "x.tf")


def test_terraform_case_compares_kmsguard_with_checkov_kms_and_all_checks(tmp_path: Path) -> None:
    case = run.terraform_case(fake_peers(tmp_path), None)
    by_tool = {c.tool: c.command.argv for c in case.contenders}
    kms_only, all_checks = by_tool["checkov, KMS checks"], by_tool["checkov, all checks"]
    assert kms_only[kms_only.index("--check") + 1].split(",") == list(peers.CHECKOV_KMS_CHECK_IDS)
    assert "--check" not in all_checks
    assert all(run.TERRAFORM_FILE in argv for argv in by_tool.values())
    assert [c.is_baseline for c in case.contenders] == [True, False, False]


def test_result_rows_pair_each_peer_with_the_cases_kmsguard(tmp_path: Path) -> None:
    case = run.cloudformation_case(fake_peers(tmp_path), None)
    kmsguard, cfn_lint = (c.command for c in case.contenders)
    measurements = [harness.Measurement(cfn_lint, (2.0,)), harness.Measurement(kmsguard, (0.1,))]
    rows = run.result_rows(case, measurements)
    assert [row.tool for row in rows] == ["kmsguard", "cfn-lint"]
    assert rows[0].ratio is None
    assert rows[1].ratio == pytest.approx(20.0)


def test_checkov_check_ids_are_found_in_python_and_graph_checks(tmp_path: Path) -> None:
    checks = tmp_path / "terraform" / "checks"
    (checks / "resource").mkdir(parents=True)
    (checks / "graph").mkdir()
    (checks / "resource" / "KMSRotation.py").write_text('        id = "CKV_AWS_7"\n')
    (checks / "graph" / "Policy.json").write_text('{"metadata": {"id": "CKV2_AWS_64"}}')
    (checks / "graph" / "Other.yaml").write_text("metadata:\n  id: CKV2_AWS_1\n")
    wanted = ("CKV_AWS_7", "CKV2_AWS_64", "CKV2_AWS_1", "CKV_AWS_33")
    assert peers.find_missing_checkov_checks(tmp_path, wanted) == ["CKV_AWS_33"]


def test_pinned_versions_must_match_exactly() -> None:
    assert peers.has_pinned_versions({"versions": dict(peers.PINNED_PEERS)})
    assert not peers.has_pinned_versions({"versions": {**peers.PINNED_PEERS, "checkov": "0.1"}})
    assert not peers.has_pinned_versions(None)


# --- import-time summary -----------------------------------------------------------------------

IMPORTTIME_SAMPLE = """\
import time: self [us] | cumulative | imported package
import time:       218 |        218 |   _io
import time:       494 |       1265 | _frozen_importlib_external
import time:        68 |         68 |     _codecs
import time:      3000 |      52000 | kmsguard.check
import time:       900 |       9000 |   yaml
import time:       700 |       7000 |   cfnlint.decode
some unrelated stderr line
"""


def test_parse_importtime_reads_self_cumulative_and_depth() -> None:
    costs = importtime.parse_importtime(IMPORTTIME_SAMPLE)
    assert [c.module for c in costs] == [
        "_io",
        "_frozen_importlib_external",
        "_codecs",
        "kmsguard.check",
        "yaml",
        "cfnlint.decode",
    ]
    assert costs[0] == importtime.ImportCost("_io", 218, 218, 1)
    assert costs[2].depth == 2
    assert costs[3].depth == 0


def test_costliest_sorts_by_cumulative_time_and_total_counts_roots_once() -> None:
    costs = importtime.parse_importtime(IMPORTTIME_SAMPLE)
    assert [c.module for c in importtime.costliest(costs, 2)] == ["kmsguard.check", "yaml"]
    # Only depth-0 imports: their cumulative times already contain their children's.
    assert importtime.total_us(costs) == 1265 + 52000


def test_forbidden_imports_match_top_level_packages_only() -> None:
    costs = importtime.parse_importtime(IMPORTTIME_SAMPLE + "import time: 1 | 1 | richtext\n")
    assert importtime.forbidden_imports(costs, ("cfnlint", "rich")) == ["cfnlint.decode"]


def test_results_section_of_the_doc_is_replaced_and_the_rest_kept() -> None:
    document = f"# Title\nintro\n{run.DOC_BEGIN}\nold table\n{run.DOC_END}\nafter\n"
    updated = run.replace_results_section(document, "new table\n")
    assert updated == f"# Title\nintro\n{run.DOC_BEGIN}\nnew table\n{run.DOC_END}\nafter\n"
    with pytest.raises(ValueError):
        run.replace_results_section("no markers", "x")


def test_doc_section_headings_move_below_the_docs_own_heading() -> None:
    assert run.as_doc_section("# Run\ntext\n## Machine") == "### Run\ntext\n#### Machine"
    assert run.as_doc_section("# Run", levels=1) == "## Run"


def test_bytecode_cache_env_makes_python_write_pyc_files_there(tmp_path: Path) -> None:
    # source: Python documentation, "Command line and environment", PYTHONPYCACHEPREFIX and
    # PYTHONDONTWRITEBYTECODE (an empty value counts as unset).
    module = tmp_path / "src" / "probe_module.py"
    module.parent.mkdir()
    module.write_text("VALUE = 1\n")
    cache = tmp_path / "pycache"
    code = f"import sys; sys.path.insert(0, {str(module.parent)!r}); import probe_module"
    command = python_command("import", code, extra_env=(("PYTHONDONTWRITEBYTECODE", "1"),))
    harness.measure([command], runs=1, warmup=0)
    assert not (module.parent / "__pycache__").exists()  # the problem: nothing is cached
    cached = python_command("import", code, extra_env=run.bytecode_cache_env(cache))
    harness.measure([cached], runs=1, warmup=0)
    assert list(cache.rglob("probe_module*.pyc"))
    assert not (module.parent / "__pycache__").exists()


def test_command_line_shows_added_environment_first() -> None:
    command = harness.Command("c", ("tool", "a b"), extra_env=(("EMPTY", ""), ("X", "1")))
    assert run.command_line(command) == "EMPTY='' X=1 tool 'a b'"
