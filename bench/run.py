"""Single-file speed benchmark: kmsguard against Checkov (Terraform) and cfn-lint (CloudFormation).

    python bench/run.py [--quick] [--runs N] [--output FILE] [--peers-venv DIR] [--kmsguard-cmd CMD]

kmsguard runs from this interpreter's environment; the peers run from a virtualenv of their own
(created on first use). Every run is a fresh process, so start-up is included, as in a
pre-commit hook. See docs/performance.md.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shlex
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness import BenchFailure, Command, Measurement, measure
from peers import (
    CHECKOV_KMS_CHECK_IDS,
    DEFAULT_PEERS_VENV,
    PeerEnv,
    PeerSetupError,
    ensure_peers_venv,
    find_missing_checkov_checks,
)
from report import ResultRow, Target, machine_lines, results_table

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


def report_text(
    rows: Sequence[ResultRow], cases: Sequence[Case], peers: PeerEnv, runs: int, load_before: str
) -> str:
    commands = [c.command for case in cases for c in case.contenders]
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"# Single-file benchmark ({when})",
        "",
        f"Wall time per run, fresh process each time (start-up included); {runs} runs per tool after "
        "one warm-up, tools alternating run by run. Ratio = peer median / kmsguard median.",
        "",
        results_table(rows),
        "",
        "## Machine and versions",
        "",
        *machine_lines(),
        f"- load average (1 min) before / after the bench: {load_before} / {load_average()}",
        f"- kmsguard {kmsguard_version()} (git {git_revision()}), Python {platform.python_version()} "
        f"({sys.executable})",
        f"- peers (Python {peers.python_version}, {peers.venv}): "
        + ", ".join(f"{name} {version}" for name, version in peers.versions),
        f"- checkov KMS checks: {', '.join(CHECKOV_KMS_CHECK_IDS)}",
        "",
        "## Commands (working directory: the repository root)",
        "",
        *(f"- `{command_line(command)}`" for command in commands),
    ]
    return "\n".join(lines) + "\n"


def replace_results_section(document: str, results: str) -> str:
    """``document`` with the text between DOC_BEGIN and DOC_END replaced by ``results``."""
    begin, end = document.find(DOC_BEGIN), document.find(DOC_END)
    if begin < 0 or end < begin:
        raise ValueError(f"the document has no '{DOC_BEGIN}' ... '{DOC_END}' section")
    return document[: begin + len(DOC_BEGIN)] + "\n" + results.strip() + "\n" + document[end:]


def as_doc_section(report: str, levels: int = 2) -> str:
    """The report with its headings pushed ``levels`` down, to sit under the doc's "## Latest results"."""
    return "\n".join("#" * levels + line if line.startswith("#") else line for line in report.splitlines())


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 runs per tool instead of 10")
    parser.add_argument("--runs", type=int, help="runs per tool (default 10, or 3 with --quick)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="markdown file to write")
    parser.add_argument("--peers-venv", type=Path, default=DEFAULT_PEERS_VENV, help="peers' virtualenv")
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
        help=f"kmsguard command line, {FILE_PLACEHOLDER} where the file goes (default: "
        f"'{sys.executable} -m kmsguard check {FILE_PLACEHOLDER}')",
    )
    args = parser.parse_args(argv)
    if args.runs is None:
        args.runs = 3 if args.quick else 10
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        peers = ensure_peers_venv(args.peers_venv.expanduser(), log=lambda text: print(text, file=sys.stderr))
    except PeerSetupError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 2
    missing = find_missing_checkov_checks(peers.checkov_dir, CHECKOV_KMS_CHECK_IDS)
    if missing:
        print(f"bench: checkov {peers.version('checkov')} has no check {', '.join(missing)}", file=sys.stderr)
        return 2
    common_env = bytecode_cache_env(args.bytecode_cache.expanduser())
    cases = [
        terraform_case(peers, args.kmsguard_cmd, common_env),
        cloudformation_case(peers, args.kmsguard_cmd, common_env),
    ]
    rows: list[ResultRow] = []
    load_before = load_average()
    for case in cases:
        print(f"measuring {case.name}: {args.runs} runs per tool ...", file=sys.stderr)
        try:
            measurements = measure([c.command for c in case.contenders], args.runs)
        except BenchFailure as failure:
            print(f"bench: {failure}", file=sys.stderr)
            return 1
        rows.extend(result_rows(case, measurements))
    text = report_text(rows, cases, peers, args.runs, load_before)
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print(f"written to {args.output}", file=sys.stderr)
    if args.update_docs:
        document = PERFORMANCE_DOC.read_text(encoding="utf-8")
        PERFORMANCE_DOC.write_text(replace_results_section(document, as_doc_section(text)), encoding="utf-8")
        print(f"results section of {PERFORMANCE_DOC} updated", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
