"""Wall-clock measurement of command lines, shared by every kmsguard benchmark.

Each command runs as a fresh process (start-up included, as in a pre-commit hook). Commands that
are compared run alternately, round by round (A B A B ...), so that a slow period of the machine
(another job, thermal throttling, a cold page cache) hits every tool instead of only one.

Only the standard library is used: the harness must run in any interpreter, including one that
has neither kmsguard nor its peers installed.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

# A peer that crashes still exits, often with a code its authors also use for "found issues"
# (cfn-lint, checkov): the traceback on stderr is what tells a crash from a finding.
TRACEBACK_MARKER = "Traceback (most recent call last)"


@dataclass(frozen=True)
class Command:
    """One command line to time, and what counts as a normal end for it."""

    label: str
    argv: tuple[str, ...]
    accepted_exit_codes: frozenset[int] = frozenset({0})
    requires_output: bool = False  # an empty stdout means the tool did not report: a failure
    cwd: Path | None = None
    # Variables added to the inherited environment, as pairs so the command stays hashable.
    extra_env: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class RunResult:
    """What one execution of a command did."""

    exit_code: int
    stdout: str
    stderr: str
    seconds: float


@dataclass(frozen=True)
class Measurement:
    """The wall times of one command over all measured runs (warm-up excluded)."""

    command: Command
    seconds: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def minimum(self) -> float:
        return min(self.seconds)

    @property
    def maximum(self) -> float:
        return max(self.seconds)


class BenchFailure(Exception):
    """A command ended abnormally: the numbers would be meaningless, so the bench stops.

    A plain exception, not a frozen dataclass: the interpreter sets attributes such as
    ``__traceback__`` on exceptions, which a frozen dataclass would refuse."""

    def __init__(self, command: Command, reason: str, result: RunResult | None = None) -> None:
        super().__init__(command.label, reason)
        self.command = command
        self.reason = reason
        self.result = result

    def __str__(self) -> str:
        detail = ""
        if self.result is not None:
            tail = (self.result.stderr or self.result.stdout).strip().splitlines()[-5:]
            detail = "\n    " + "\n    ".join(tail) if tail else ""
        return f"{self.command.label}: {self.reason} ({' '.join(self.command.argv)}){detail}"


def run_once(command: Command) -> RunResult:
    """Run the command in a fresh process and time it from spawn to exit."""
    env = {**os.environ, **dict(command.extra_env)} if command.extra_env else None
    started = time.perf_counter()
    completed = subprocess.run(
        command.argv,
        cwd=command.cwd,
        env=env,
        capture_output=True,
        text=True,
        errors="replace",
        stdin=subprocess.DEVNULL,
        check=False,
    )
    elapsed = time.perf_counter() - started
    return RunResult(completed.returncode, completed.stdout, completed.stderr, elapsed)


def failure_reason(command: Command, result: RunResult) -> str | None:
    """Why this run is not a normal end of the command, or None if it is."""
    if result.exit_code < 0:
        return f"killed by signal {-result.exit_code}"
    if TRACEBACK_MARKER in result.stderr or TRACEBACK_MARKER in result.stdout:
        return f"crashed with a traceback (exit code {result.exit_code})"
    if result.exit_code not in command.accepted_exit_codes:
        accepted = ", ".join(str(code) for code in sorted(command.accepted_exit_codes))
        return f"exit code {result.exit_code}, expected one of {accepted}"
    if command.requires_output and not result.stdout.strip():
        return "printed no output"
    return None


def round_robin_order(commands: Sequence[Command], rounds: int) -> list[Command]:
    """The order in which runs happen: every command once per round, rounds one after another."""
    return [command for _ in range(rounds) for command in commands]


def measure(
    commands: Sequence[Command],
    runs: int,
    warmup: int = 1,
    runner: Callable[[Command], RunResult] = run_once,
) -> list[Measurement]:
    """Time each command ``runs`` times, alternating them, after ``warmup`` untimed rounds.

    Raises BenchFailure on the first abnormal run (warm-up included: a crash is a crash).
    Returns one Measurement per command, in the order given.
    """
    if runs < 1:
        raise ValueError(f"runs must be at least 1, got {runs}")
    labels = [command.label for command in commands]
    if len(set(labels)) != len(labels):
        raise ValueError(f"command labels must be unique, got {labels}")
    for command in round_robin_order(commands, warmup):
        _checked_run(command, runner)
    times: dict[str, list[float]] = {command.label: [] for command in commands}
    for command in round_robin_order(commands, runs):
        times[command.label].append(_checked_run(command, runner).seconds)
    return [Measurement(command, tuple(times[command.label])) for command in commands]


def _checked_run(command: Command, runner: Callable[[Command], RunResult]) -> RunResult:
    result = runner(command)
    reason = failure_reason(command, result)
    if reason is not None:
        raise BenchFailure(command, reason, result)
    return result


def speedup(peer: Measurement, baseline: Measurement) -> float:
    """How many times slower the peer is than the baseline, by medians (>1: baseline is faster)."""
    return peer.median / baseline.median
