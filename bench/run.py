"""kmsguard's benchmarks, all in one run: single-file latency against Checkov, cfn-lint and cfripper;
the whole shared corpus and a 20x replica of it (wall time, files/s, peak memory, growth, the load
cache, two cores against one) against Checkov with its KMS checks; and the simulator, prover and
engine benchmarks, whose headline figures join ONE table of ratios.

    python bench/run.py [--quick] [--runs N] [--scale-runs N] [--parts single,scale,sub]
                        [--corpus DIR] [--output FILE] [--update-docs] [--peers-venv DIR]

kmsguard runs from this interpreter's environment; the peers run from virtualenvs of their own
(created on first use). Every run is a fresh process, so start-up is included, as in a
pre-commit hook. See docs/performance.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness import BenchFailure, Command, Measurement, RunResult, measure
from peers import (
    CHECKOV_KMS_CHECK_IDS,
    DEFAULT_PEERS_VENV,
    PeerEnv,
    PeerSetupError,
    ensure_peers_venv,
    find_missing_checkov_checks,
)
from report import (
    Headline,
    ResultRow,
    Target,
    headline_table,
    machine_lines,
    megabytes,
    results_table,
    seconds_text,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
# Relative to REPO_ROOT, which is every command's working directory, as in a pre-commit hook.
TERRAFORM_FILE = "bench/data/single.tf"
CLOUDFORMATION_FILE = "bench/data/single.yaml"
DEFAULT_OUTPUT = REPO_ROOT / "bench" / "results" / "latest.md"
PERFORMANCE_DOC = REPO_ROOT / "docs" / "performance.md"
# docs/performance.md keeps the latest results between these two lines (--update-docs).
DOC_BEGIN = "<!-- bench/run.py results: begin -->"
DOC_END = "<!-- bench/run.py results: end -->"
FILE_PLACEHOLDER = "{file}"

# kmsguard: 0 = no finding, 1 = findings. 2 (input error) would mean the bench input is wrong.
KMSGUARD_EXIT_CODES = frozenset({0, 1})
# checkov: 0 = all checks passed, 1 = some check failed.
CHECKOV_EXIT_CODES = frozenset({0, 1})
# cfn-lint: a bit mask, 2 = errors, 4 = warnings, 8 = informational; 1 is its "could not run".
CFN_LINT_EXIT_CODES = frozenset({0, 2, 4, 6, 8, 10, 12, 14})
# Both keep the network out of the timings: checkov otherwise asks PyPI for a newer version and
# its platform for check guidelines on every run (offline, the latter logs a traceback).
CHECKOV_OFFLINE_ARGS = ("--skip-download",)
CHECKOV_OFFLINE_ENV = (("CKV_SKIP_PACKAGE_UPDATE_CHECK", "true"),)
# An installed tool has its modules compiled to bytecode at install time; kmsguard runs here from
# its source tree, and PYTHONDONTWRITEBYTECODE (set in some shells and CI images) would make every
# run compile all of kmsguard again (~0.1 s measured). So every tool gets a bytecode cache outside
# the repository, filled during the warm-up round.
DEFAULT_BYTECODE_CACHE = DEFAULT_PEERS_VENV.parent / "pycache"

TERRAFORM_TARGET = Target(20.0)  # vs `checkov -f FILE --framework terraform`
CLOUDFORMATION_TARGET = Target(5.0)  # vs `cfn-lint FILE`


@dataclass(frozen=True)
class Contender:
    """A command on a case, and what kmsguard must achieve against it (None: kmsguard itself)."""

    tool: str
    command: Command
    is_baseline: bool = False
    target: Target | None = None


@dataclass(frozen=True)
class Case:
    """One input file and the tools timed on it; the baseline is kmsguard."""

    name: str
    contenders: tuple[Contender, ...]


def kmsguard_argv(template: str | None, file: str) -> tuple[str, ...]:
    """kmsguard's command for ``file``: ``template`` (shell words, ``{file}`` where the file goes,
    appended if absent) or, by default, ``<this python> -m kmsguard check FILE``."""
    if template is None:
        return (sys.executable, "-m", "kmsguard", "check", file)
    words = shlex.split(template)
    if FILE_PLACEHOLDER in words:
        return tuple(file if word == FILE_PLACEHOLDER else word for word in words)
    return (*words, file)


def bytecode_cache_env(cache_dir: Path) -> tuple[tuple[str, str], ...]:
    """Environment under which Python writes and reads .pyc files in ``cache_dir``.

    An empty PYTHONDONTWRITEBYTECODE counts as unset (Python documentation, "Command line and
    environment", PYTHONDONTWRITEBYTECODE: "If this is set to a non-empty string...")."""
    return (("PYTHONDONTWRITEBYTECODE", ""), ("PYTHONPYCACHEPREFIX", str(cache_dir)))


def kmsguard_contender(template: str | None, file: str, common_env: tuple[tuple[str, str], ...]) -> Contender:
    command = Command(
        label=f"kmsguard:{file}",
        argv=kmsguard_argv(template, file),
        accepted_exit_codes=KMSGUARD_EXIT_CODES,
        cwd=REPO_ROOT,
        extra_env=common_env,
    )
    return Contender("kmsguard", command, is_baseline=True)


def terraform_case(
    peers: PeerEnv, kmsguard_template: str | None, common_env: tuple[tuple[str, str], ...] = ()
) -> Case:
    checkov = str(peers.executable("checkov"))
    base = (checkov, "-f", TERRAFORM_FILE, "--framework", "terraform", *CHECKOV_OFFLINE_ARGS)
    kms_only = (*base, "--check", ",".join(CHECKOV_KMS_CHECK_IDS))

    def checkov_command(label: str, argv: tuple[str, ...]) -> Command:
        return Command(
            label,
            argv,
            accepted_exit_codes=CHECKOV_EXIT_CODES,
            requires_output=True,
            cwd=REPO_ROOT,
            extra_env=(*common_env, *CHECKOV_OFFLINE_ENV),
        )

    return Case(
        name="single .tf (KMS key, policy, alias, role)",
        contenders=(
            kmsguard_contender(kmsguard_template, TERRAFORM_FILE, common_env),
            Contender("checkov, KMS checks", checkov_command("checkov-kms", kms_only)),
            Contender("checkov, all checks", checkov_command("checkov-all", base), target=TERRAFORM_TARGET),
        ),
    )


def cloudformation_case(
    peers: PeerEnv, kmsguard_template: str | None, common_env: tuple[tuple[str, str], ...] = ()
) -> Case:
    cfn_lint = Command(
        label="cfn-lint",
        argv=(str(peers.executable("cfn-lint")), CLOUDFORMATION_FILE),
        accepted_exit_codes=CFN_LINT_EXIT_CODES,
        cwd=REPO_ROOT,
        extra_env=common_env,
    )
    return Case(
        name="single template (KMS key, policy, alias, role)",
        contenders=(
            kmsguard_contender(kmsguard_template, CLOUDFORMATION_FILE, common_env),
            Contender("cfn-lint", cfn_lint, target=CLOUDFORMATION_TARGET),
        ),
    )


def result_rows(case: Case, measurements: Sequence[Measurement]) -> list[ResultRow]:
    """Pair each contender with its measurement and with the case's kmsguard measurement."""
    by_label = {m.command.label: m for m in measurements}
    baseline = next(by_label[c.command.label] for c in case.contenders if c.is_baseline)
    return [
        ResultRow(
            tool=contender.tool,
            case=case.name,
            measurement=by_label[contender.command.label],
            baseline=None if contender.is_baseline else baseline,
            target=contender.target,
        )
        for contender in case.contenders
    ]


def kmsguard_version() -> str:
    completed = subprocess.run(
        [sys.executable, "-c", "import kmsguard; print(kmsguard.__version__)"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    return completed.stdout.strip() if completed.returncode == 0 else "not importable"


def git_revision() -> str:
    completed = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    return completed.stdout.strip() if completed.returncode == 0 else "no commit"


def command_line(command: Command) -> str:
    """The command as one would type it in a POSIX shell, added environment variables first."""
    assignments = [f"{name}={shlex.quote(value)}" for name, value in command.extra_env]
    return " ".join([*assignments, shlex.join(command.argv)])


def load_average() -> str:
    """The 1-minute load average: above the CPU count, other work was competing with the bench."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except (AttributeError, OSError):  # not on Windows
        return "unknown"


def replace_results_section(document: str, results: str) -> str:
    """``document`` with the text between DOC_BEGIN and DOC_END replaced by ``results``."""
    begin, end = document.find(DOC_BEGIN), document.find(DOC_END)
    if begin < 0 or end < begin:
        raise ValueError(f"the document has no '{DOC_BEGIN}' ... '{DOC_END}' section")
    return document[: begin + len(DOC_BEGIN)] + "\n" + results.strip() + "\n" + document[end:]


def as_doc_section(report: str, levels: int = 2) -> str:
    """The report with its headings pushed ``levels`` down, to sit under the doc's "## Latest results"."""
    return "\n".join("#" * levels + line if line.startswith("#") else line for line in report.splitlines())


# --- the whole corpus, its 20x replica, the load cache, two cores ------------------------------

DEFAULT_CORPUS = Path("/work/shared/corpus")
REPLICA_FACTOR = 20
# kmsguard on a real corpus: 2 = some input errors (the corpus has templates with duplicate keys),
# a normal end as long as no traceback is printed.
KMSGUARD_CORPUS_EXIT_CODES = frozenset({0, 1, 2})
CFRIPPER_EXIT_CODES = frozenset({0, 2})  # 0 all valid, 2 some template failed a rule

CORPUS_TARGET = Target(20.0)  # vs checkov with its KMS checks only, the whole corpus
WARM_TARGET = Target(10.0)  # a second run over an unchanged tree vs a cold one
CORES_TARGET = Target(1.6)  # --jobs 2 vs --jobs 1 on the 20x replica
# "Linear growth": the time per file on the 20x replica is at most 1.25x the time per file on the
# corpus itself (start-up is paid once, so a linear cost comes out below 1.0).
LINEAR_TARGET = Target(0.8)  # expressed as (20 x corpus time) / (replica time): >= 1/1.25
MEMORY_TARGET = Target(1.0)  # checkov's peak memory / kmsguard's


@dataclass
class PeakMemory:
    """ru_maxrss of every run of every command (kilobytes on Linux): the largest single process
    among the command and the processes it waited for (a worker pool's largest worker)."""

    kilobytes: dict[str, list[int]] = field(default_factory=dict)

    def of(self, label: str) -> int:
        return max(self.kilobytes.get(label, [0]))


def rusage_runner(peaks: PeakMemory) -> Callable[[Command], RunResult]:
    """A harness runner that also records each child's peak memory (``os.wait4``'s rusage)."""

    def run(command: Command) -> RunResult:
        env = {**os.environ, **dict(command.extra_env)}
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            started = time.perf_counter()
            process = subprocess.Popen(
                command.argv, cwd=command.cwd, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL
            )
            _, status, usage = os.wait4(process.pid, 0)
            elapsed = time.perf_counter() - started
            process.returncode = os.waitstatus_to_exitcode(status)  # reaped: Popen must not wait again
            out.seek(0)
            err.seek(0)
            stdout = out.read().decode("utf-8", "replace")
            stderr = err.read().decode("utf-8", "replace")
        peaks.kilobytes.setdefault(command.label, []).append(usage.ru_maxrss)
        return RunResult(process.returncode, stdout, stderr, elapsed)

    return run


def editing_runner(
    run: Callable[[Command], RunResult], label: str, edited: Path
) -> Callable[[Command], RunResult]:
    """``run``, except that before each run of the command ``label`` one more comment line is
    appended to ``edited`` (a copy's file, never the corpus): every such run follows an edit."""
    edits = 0

    def run_after_edit(command: Command) -> RunResult:
        nonlocal edits
        if command.label == label:
            edits += 1
            with edited.open("a", encoding="utf-8") as handle:
                handle.write(f"\n# bench edit {edits}\n")
        return run(command)

    return run_after_edit


def build_replica(corpus: Path, factor: int, destination: Path) -> Path:
    """``factor`` copies of ``corpus`` side by side under ``destination`` (a temporary directory)."""
    for index in range(factor):
        shutil.copytree(corpus, destination / f"copy-{index:02d}", symlinks=True)
    return destination


def kmsguard_tree_command(label: str, tree: Path, jobs: int, env: tuple[tuple[str, str], ...]) -> Command:
    argv = (sys.executable, "-m", "kmsguard", "check", str(tree), "--jobs", str(jobs))
    return Command(
        label,
        (*argv, "--format", "json", "--output", os.devnull),
        accepted_exit_codes=KMSGUARD_CORPUS_EXIT_CODES,
        cwd=REPO_ROOT,
        extra_env=env,
    )


def checkov_tree_command(peers: PeerEnv, tree: Path, env: tuple[tuple[str, str], ...]) -> Command:
    argv = (
        str(peers.executable("checkov")),
        "-d",
        str(tree),
        "--framework",
        "terraform",
        "cloudformation",
        "--check",
        ",".join(CHECKOV_KMS_CHECK_IDS),
        "--compact",
        "--quiet",
        *CHECKOV_OFFLINE_ARGS,
    )
    return Command(
        "checkov-kms-corpus",
        argv,
        accepted_exit_codes=CHECKOV_EXIT_CODES,
        requires_output=True,
        cwd=REPO_ROOT,
        extra_env=(*env, *CHECKOV_OFFLINE_ENV),
    )


def files_checked(tree: Path, env: tuple[tuple[str, str], ...]) -> int:
    """How many files kmsguard checks under ``tree`` (its JSON report's summary)."""
    with tempfile.TemporaryDirectory(prefix="kmsguard-bench-") as work:
        report = Path(work) / "report.json"
        completed = subprocess.run(
            [
                sys.executable,
                "-m",
                "kmsguard",
                "check",
                str(tree),
                "--format",
                "json",
                "--output",
                str(report),
            ],
            cwd=REPO_ROOT,
            env={**os.environ, **dict(env)},
            capture_output=True,
            text=True,
            check=False,
        )
        if completed.returncode not in KMSGUARD_CORPUS_EXIT_CODES or not report.exists():
            raise RuntimeError(f"kmsguard could not check {tree}: {completed.stderr[-2000:]}")
        return int(json.loads(report.read_text(encoding="utf-8"))["summary"]["files_checked"])


@dataclass(frozen=True)
class ScaleResults:
    corpus_files: int
    replica_files: int
    cold: Measurement
    warm: Measurement
    edited: Measurement
    checkov: Measurement
    replica_one_core: Measurement
    replica_two_cores: Measurement
    peaks: PeakMemory
    jobs: int

    def rows(self) -> list[ResultRow]:
        corpus = f"whole corpus ({self.corpus_files} files)"
        replica = f"{REPLICA_FACTOR}x replica ({self.replica_files} files)"
        return [
            ResultRow("kmsguard, cold (KMSGUARD_NO_CACHE=1)", corpus, self.cold),
            ResultRow("kmsguard, warm (second run, unchanged tree)", corpus, self.warm),
            ResultRow("kmsguard, one file edited since the last run", corpus, self.edited),
            ResultRow("checkov, KMS checks", corpus, self.checkov, self.cold, CORPUS_TARGET),
            ResultRow("kmsguard --jobs 1, cold", replica, self.replica_one_core),
            ResultRow(f"kmsguard --jobs {self.jobs}, cold", replica, self.replica_two_cores),
        ]

    def headlines(self) -> list[Headline]:
        cold, warm = self.cold.median, self.warm.median
        replica = self.replica_two_cores.median
        kg_peak, checkov_peak = (
            self.peaks.of(self.cold.command.label),
            self.peaks.of(self.checkov.command.label),
        )
        return [
            Headline(
                f"whole corpus, {self.corpus_files} files, cold",
                f"{seconds_text(self.cold)}, {self.corpus_files / cold:.0f} files/s",
                f"checkov KMS checks {seconds_text(self.checkov)}, "
                f"{self.corpus_files / self.checkov.median:.0f} files/s",
                self.checkov.median / cold,
                CORPUS_TARGET,
            ),
            Headline(
                f"growth 1x -> {REPLICA_FACTOR}x ({self.replica_files} files, --jobs {self.jobs})",
                f"{seconds_text(self.replica_two_cores)}, {self.replica_files / replica:.0f} files/s",
                f"{REPLICA_FACTOR} x the corpus time = {REPLICA_FACTOR * cold:.2f} s",
                REPLICA_FACTOR * cold / replica,
                LINEAR_TARGET,
                "linear: time per file grows <= 1.25x",
            ),
            Headline(
                "second run over an unchanged corpus (result, load and prover caches)",
                seconds_text(self.warm),
                f"cold run {seconds_text(self.cold)}",
                cold / warm,
                WARM_TARGET,
            ),
            Headline(
                "run after one .tf file was edited (load and prover caches; the rules run)",
                seconds_text(self.edited),
                f"cold run {seconds_text(self.cold)}",
                cold / self.edited.median,
                None,
            ),
            Headline(
                f"{REPLICA_FACTOR}x replica, --jobs {self.jobs} vs --jobs 1",
                seconds_text(self.replica_two_cores),
                f"--jobs 1 {seconds_text(self.replica_one_core)}",
                self.replica_one_core.median / replica,
                CORES_TARGET,
            ),
            Headline(
                "peak memory, whole corpus (largest process)",
                megabytes(kg_peak),
                f"checkov KMS checks {megabytes(checkov_peak)}",
                checkov_peak / kg_peak if kg_peak else None,
                MEMORY_TARGET,
                "below checkov's",
            ),
            Headline(
                f"peak memory, {REPLICA_FACTOR}x replica (largest process)",
                f"--jobs 1 {megabytes(self.peaks.of(self.replica_one_core.command.label))}, --jobs "
                f"{self.jobs} {megabytes(self.peaks.of(self.replica_two_cores.command.label))}",
                f"corpus {megabytes(kg_peak)}",
                None,
            ),
        ]


def measure_scale(
    peers: PeerEnv, corpus: Path, runs: int, replica_runs: int, env: tuple[tuple[str, str], ...], jobs: int
) -> ScaleResults:
    peaks = PeakMemory()
    runner = rusage_runner(peaks)
    no_cache = (*env, ("KMSGUARD_NO_CACHE", "1"))
    with tempfile.TemporaryDirectory(prefix="kmsguard-bench-") as work:
        cache = (*env, ("KMSGUARD_CACHE_DIR", str(Path(work) / "cache")))
        cold = kmsguard_tree_command("kmsguard-corpus-cold", corpus, jobs, no_cache)
        # The warm-up round fills the cache; every measured run is a second run.
        warm = kmsguard_tree_command("kmsguard-corpus-warm", corpus, jobs, cache)
        # A copy of the corpus whose first .tf file gets a new comment line before every run.
        copy = build_replica(corpus, 1, Path(work) / "edited")
        edited_file = sorted(copy.rglob("*.tf"))[0]
        edited_cache = (*env, ("KMSGUARD_CACHE_DIR", str(Path(work) / "edited-cache")))
        edited = kmsguard_tree_command("kmsguard-corpus-edited", copy, jobs, edited_cache)
        checkov = checkov_tree_command(peers, corpus, env)
        corpus_files = files_checked(corpus, no_cache)
        log(f"measuring the corpus ({corpus_files} files): {runs} runs per command ...")
        cold_m, warm_m, edited_m, checkov_m = measure(
            [cold, warm, edited, checkov],
            runs,
            runner=editing_runner(runner, edited.label, edited_file),
        )

        log(f"building a {REPLICA_FACTOR}x replica of {corpus} in {work} ...")
        replica = build_replica(corpus, REPLICA_FACTOR, Path(work) / "replica")
        replica_files = files_checked(replica, no_cache)
        one = kmsguard_tree_command("kmsguard-replica-jobs-1", replica, 1, no_cache)
        many = kmsguard_tree_command(f"kmsguard-replica-jobs-{jobs}", replica, jobs, no_cache)
        log(f"measuring the replica ({replica_files} files): {replica_runs} runs per command ...")
        # No warm-up: with the caches off every run is the same, and a run takes minutes.
        one_m, many_m = measure([one, many], replica_runs, warmup=0, runner=runner)
    return ScaleResults(
        corpus_files, replica_files, cold_m, warm_m, edited_m, checkov_m, one_m, many_m, peaks, jobs
    )


# --- cfripper on one template ------------------------------------------------------------------


def cfripper_case(cfripper: Path, kmsguard_template: str | None, env: tuple[tuple[str, str], ...]) -> Case:
    command = Command(
        label="cfripper",
        argv=(str(cfripper), CLOUDFORMATION_FILE, "--format", "txt"),
        accepted_exit_codes=CFRIPPER_EXIT_CODES,
        requires_output=True,
        cwd=REPO_ROOT,
        extra_env=env,
    )
    return Case(
        name="single template (KMS key, policy, alias, role)",
        contenders=(
            kmsguard_contender(kmsguard_template, CLOUDFORMATION_FILE, env),
            Contender("cfripper", command),
        ),
    )


# --- the other benchmarks: run them, keep their headline figures ------------------------------


@dataclass(frozen=True)
class SubBench:
    """Another bench script's output and the headline figures read from it."""

    name: str
    output: str
    headlines: tuple[Headline, ...]


def run_script(argv: Sequence[str], timeout: float = 1800) -> tuple[int, str]:
    completed = subprocess.run(
        [sys.executable, *argv], cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )
    return completed.returncode, completed.stdout + (completed.stderr if completed.returncode else "")


def table_rows(markdown: str) -> list[list[str]]:
    """The body rows of the first markdown table in ``markdown``, as stripped cells."""
    rows = [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in markdown.splitlines()
        if line.lstrip().startswith("|")
    ]
    return [row for row in rows[2:] if row]


def number(text: str) -> float:
    return float(text.replace(",", "").rstrip("x/s ").strip())


SIMULATOR_TARGET_PER_SECOND = 100_000


def simulate_headlines(output: str) -> tuple[Headline, ...]:
    """bench/simulate.py's table: workload | kmsguard /s | iam-simulate authorize /s | ratio | ...
    The issue's target is absolute (decisions per second), so its verdict is in the kmsguard cell."""
    out: list[Headline] = []
    for row in table_rows(output):
        if len(row) < 4:
            continue
        try:
            kmsguard, peer = number(row[1]), number(row[2])
        except ValueError:
            continue
        verdict = "met" if kmsguard >= SIMULATOR_TARGET_PER_SECOND else "NOT met"
        out.append(
            Headline(
                f"simulator decisions/s, {row[0]}",
                f"{kmsguard:,.0f}/s (>= {SIMULATOR_TARGET_PER_SECOND:,}/s: {verdict})",
                f"iam-simulate authorize {peer:,.0f}/s",
                kmsguard / peer if peer else None,
            )
        )
    return tuple(out)


_PROVE_LINE = re.compile(
    r"^(?P<question>\w+)\s+n=(?P<n>\d+) median=(?P<median>[\d.]+) ms p90=[\d.]+ ms p99=(?P<p99>[\d.]+) ms "
    r"max=(?P<max>[\d.]+) ms.*?unknown=(?P<unknown>\d+)",
    re.MULTILINE,
)
PROVER_MEDIAN_MS, PROVER_P99_MS = 20.0, 500.0


def prove_headlines(output: str) -> tuple[Headline, ...]:
    """bench/prove.py's per-question lines; the targets are budgets, so ratio = budget / measured."""
    out = []
    for match in _PROVE_LINE.finditer(output):
        median, p99 = float(match["median"]), float(match["p99"])
        out.append(
            Headline(
                f"prover `{match['question']}` per key (n={match['n']})",
                f"median {median:.1f} ms, p99 {p99:.1f} ms, max {float(match['max']):.0f} ms",
                f"budget: median {PROVER_MEDIAN_MS:g} ms, p99 {PROVER_P99_MS:g} ms",
                min(PROVER_MEDIAN_MS / max(median, 1e-9), PROVER_P99_MS / max(p99, 1e-9)),
                Target(1.0),
                "within both budgets",
            )
        )
    return tuple(out)


_ENGINE_RATIO = re.compile(r"ratio LocalKMS / raw\s+(?P<ratio>[\d.]+)x")
_ENGINE_TIMES = re.compile(
    r"raw AES-GCM \(cryptography\)\s+(?P<raw>[\d.]+) us.*?LocalKMS, authorization on\s+"
    r"(?P<local>[\d.]+) us",
    re.DOTALL,
)
ENGINE_MAX_RATIO = 3.0


def engine_headlines(output: str) -> tuple[Headline, ...]:
    """bench/engine.py: LocalKMS round trip / raw AES-GCM, target <= 3x (ratio = 3 / measured)."""
    ratio, times = _ENGINE_RATIO.search(output), _ENGINE_TIMES.search(output)
    if ratio is None or times is None:
        return ()
    measured = float(ratio["ratio"])
    return (
        Headline(
            "engine 4 KB encrypt+decrypt round trip",
            f"LocalKMS {float(times['local']):.1f} us ({measured:.1f}x raw)",
            f"raw AES-GCM {float(times['raw']):.1f} us",
            ENGINE_MAX_RATIO / measured if measured else None,
            Target(1.0),
            f"LocalKMS <= {ENGINE_MAX_RATIO:g}x raw",
        ),
    )


def run_sub_benches(quick: bool) -> list[SubBench]:
    results: list[SubBench] = []
    with tempfile.TemporaryDirectory(prefix="kmsguard-bench-") as work:
        plans: list[tuple[str, list[str], Callable[[str], tuple[Headline, ...]]]] = [
            (
                "simulator (bench/simulate.py)",
                ["bench/simulate.py", *(["--quick"] if quick else []), "--output", f"{work}/simulate.md"],
                simulate_headlines,
            ),
            ("prover (bench/prove.py)", ["bench/prove.py"], prove_headlines),
        ]
        if (REPO_ROOT / "bench" / "engine.py").exists():
            rounds = ["--rounds", "5"] if quick else []
            plans.append(("engine (bench/engine.py)", ["bench/engine.py", *rounds], engine_headlines))
        for name, argv, read in plans:
            log(f"running {name} ...")
            try:
                code, output = run_script(argv)
            except subprocess.TimeoutExpired:
                code, output = -1, "timed out"
            headlines = read(output) if code == 0 else ()
            if not headlines:
                reason = f"exit {code}: {output.strip().splitlines()[-1] if output.strip() else 'no output'}"
                headlines = (Headline(name, "not measured", reason, None),)
            results.append(SubBench(name, output, headlines))
    return results


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def single_file_headlines(rows: Sequence[ResultRow]) -> list[Headline]:
    return [
        Headline(
            f"{row.case}: vs {row.tool}",
            seconds_text(row.baseline),
            f"{row.tool} {seconds_text(row.measurement)}",
            row.ratio,
            row.target,
        )
        for row in rows
        if row.baseline is not None
    ]


REPRODUCE = """Reproduce with `python bench/run.py --quick --update-docs` (3 runs per tool and per corpus
command, 1 run per replica command) or `python bench/run.py --update-docs` (10, and 3); the
parts can be run alone (`--parts single`, `--parts scale`, `--parts sub`). Ratios are oriented
so that bigger is better for kmsguard: peer time / kmsguard time, cold / warm, one core / two
cores, checkov's memory / kmsguard's, (20 x corpus time) / replica time, budget / measured."""


def full_report(
    headlines: Sequence[Headline],
    sections: Sequence[str],
    commands: Sequence[Command],
    versions: Sequence[str],
    load_before: str,
) -> str:
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"# kmsguard benchmarks ({when})",
        "",
        headline_table(headlines),
        "",
        REPRODUCE,
        "",
        *sections,
        "## Machine and versions",
        "",
        *machine_lines(),
        f"- load average (1 min) before / after the bench: {load_before} / {load_average()}",
        f"- kmsguard {kmsguard_version()} (git {git_revision()}), Python {platform.python_version()} "
        f"({sys.executable})",
        *versions,
        f"- checkov KMS checks: {', '.join(CHECKOV_KMS_CHECK_IDS)}",
        "",
        "## Commands (working directory: the repository root)",
        "",
        *(f"- `{command_line(command)}`" for command in commands),
    ]
    return "\n".join(lines) + "\n"


PARTS = ("single", "scale", "sub")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 runs per tool instead of 10")
    parser.add_argument("--runs", type=int, help="runs per tool (default 10, or 3 with --quick)")
    parser.add_argument(
        "--scale-runs", type=int, help="runs per command on the 20x replica (default 3, or 1 with --quick)"
    )
    parser.add_argument(
        "--parts",
        type=lambda text: tuple(p.strip() for p in text.split(",") if p.strip()),
        default=PARTS,
        help=f"which benchmarks, comma-separated (default: {','.join(PARTS)})",
    )
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="the corpus, read in place")
    parser.add_argument(
        "--jobs", type=int, default=2, help="processes for the multi-core measurement (default 2)"
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="markdown file to write")
    parser.add_argument("--peers-venv", type=Path, default=DEFAULT_PEERS_VENV, help="peers' virtualenv")
    parser.add_argument(
        "--cfripper-venv", type=Path, help="cfripper's virtualenv (default: bench/accuracy.py's)"
    )
    parser.add_argument(
        "--bytecode-cache",
        type=Path,
        default=DEFAULT_BYTECODE_CACHE,
        help="where every tool's .pyc files go (PYTHONPYCACHEPREFIX)",
    )
    parser.add_argument(
        "--update-docs", action="store_true", help=f"also put the results in {PERFORMANCE_DOC.name}"
    )
    parser.add_argument(
        "--kmsguard-cmd",
        help=f"kmsguard command line for the single-file cases, {FILE_PLACEHOLDER} where the file goes "
        f"(default: '{sys.executable} -m kmsguard check {FILE_PLACEHOLDER}')",
    )
    args = parser.parse_args(argv)
    if args.runs is None:
        args.runs = 3 if args.quick else 10
    if args.scale_runs is None:
        args.scale_runs = 1 if args.quick else 3
    if args.runs < 1 or args.scale_runs < 1:
        parser.error("--runs and --scale-runs must be at least 1")
    unknown = sorted(set(args.parts) - set(PARTS))
    if unknown:
        parser.error(f"unknown part(s) {', '.join(unknown)} (choose from {', '.join(PARTS)})")
    return args


def cfripper_executable(venv: Path | None) -> Path | None:
    """bench/accuracy.py's pinned cfripper (installed on first use), or None if it cannot be had."""
    try:
        from accuracy import DEFAULT_CFRIPPER_VENV, ToolRunError, ensure_cfripper_venv
    except ImportError as error:  # accuracy.py needs pyyaml in this interpreter
        log(f"bench: cfripper skipped: {error}")
        return None
    try:
        return ensure_cfripper_venv((venv or DEFAULT_CFRIPPER_VENV).expanduser(), log=log)
    except ToolRunError as error:
        log(f"bench: cfripper skipped: {error}")
        return None


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        peers = ensure_peers_venv(args.peers_venv.expanduser(), log=log)
    except PeerSetupError as error:
        log(f"bench: {error}")
        return 2
    missing = find_missing_checkov_checks(peers.checkov_dir, CHECKOV_KMS_CHECK_IDS)
    if missing:
        log(f"bench: checkov {peers.version('checkov')} has no check {', '.join(missing)}")
        return 2
    common_env = bytecode_cache_env(args.bytecode_cache.expanduser())
    load_before = load_average()
    headlines: list[Headline] = []
    sections: list[str] = []
    commands: list[Command] = []
    versions = [
        f"- peers (Python {peers.python_version}, {peers.venv}): "
        + ", ".join(f"{name} {version}" for name, version in peers.versions)
    ]
    try:
        if "single" in args.parts:
            cases = [
                terraform_case(peers, args.kmsguard_cmd, common_env),
                cloudformation_case(peers, args.kmsguard_cmd, common_env),
            ]
            cfripper = cfripper_executable(args.cfripper_venv)
            if cfripper is not None:
                cases.append(cfripper_case(cfripper, args.kmsguard_cmd, common_env))
                versions.append(f"- cfripper: {cfripper}")
            rows: list[ResultRow] = []
            for case in cases:
                log(f"measuring {case.name}: {args.runs} runs per tool ...")
                rows.extend(result_rows(case, measure([c.command for c in case.contenders], args.runs)))
            headlines += single_file_headlines(rows)
            commands += [c.command for case in cases for c in case.contenders]
            sections += [
                "## Single file, start-up included",
                "",
                f"{args.runs} runs per tool after one warm-up, tools alternating run by run.",
                "",
                results_table(rows),
                "",
            ]
        if "scale" in args.parts:
            scale = measure_scale(peers, args.corpus, args.runs, args.scale_runs, common_env, args.jobs)
            headlines += scale.headlines()
            commands += [
                scale.cold.command,
                scale.warm.command,
                scale.edited.command,
                scale.checkov.command,
                scale.replica_one_core.command,
                scale.replica_two_cores.command,
            ]
            peaks = [
                f"- {label}: {', '.join(megabytes(kb) for kb in values)}"
                for label, values in scale.peaks.kilobytes.items()
            ]
            sections += [
                "## Whole corpus and 20x replica",
                "",
                f"`{args.corpus}` read in place; the replica is {REPLICA_FACTOR} copies of it in a temporary "
                f"directory. Corpus commands: {args.runs} runs each after one warm-up (which fills the warm "
                f"run's cache), alternating; replica commands: {args.scale_runs} run(s) each, alternating, "
                "no warm-up. Cold = `KMSGUARD_NO_CACHE=1` (no result, load or prover answer cache). "
                "Edited = a copy of the corpus whose first .tf file gets one more comment line before "
                "each run (its own cache): the incremental path, where the rules run again.",
                "",
                results_table(scale.rows()),
                "",
                "Peak memory (ru_maxrss of the child, from `os.wait4`, every run including warm-up):",
                "",
                *peaks,
                "",
            ]
        if "sub" in args.parts:
            for sub in run_sub_benches(args.quick):
                headlines += sub.headlines
                sections += [f"## {sub.name}", "", "```text", sub.output.strip(), "```", ""]
    except BenchFailure as failure:
        log(f"bench: {failure}")
        return 1
    text = full_report(headlines, sections, commands, versions, load_before)
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    log(f"written to {args.output}")
    if args.update_docs:
        document = PERFORMANCE_DOC.read_text(encoding="utf-8")
        PERFORMANCE_DOC.write_text(replace_results_section(document, as_doc_section(text)), encoding="utf-8")
        log(f"results section of {PERFORMANCE_DOC} updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
