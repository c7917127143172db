"""Benchmark results as markdown: one table of timings and ratios, and the machine they ran on."""

from __future__ import annotations

import os
import platform
from collections.abc import Sequence
from dataclasses import dataclass

from harness import Measurement, speedup


@dataclass(frozen=True)
class Target:
    """How many times faster than the peer kmsguard must be (peer median / kmsguard median)."""

    min_ratio: float

    def is_met(self, ratio: float) -> bool:
        return ratio >= self.min_ratio


@dataclass(frozen=True)
class ResultRow:
    """One tool on one case; ``baseline`` is kmsguard's measurement on the same case (None: this is it)."""

    tool: str
    case: str
    measurement: Measurement
    baseline: Measurement | None = None
    target: Target | None = None

    @property
    def ratio(self) -> float | None:
        return None if self.baseline is None else speedup(self.measurement, self.baseline)


HEADERS = ("tool", "case", "median s", "min-max s", "ratio vs kmsguard", "target")


def format_row(row: ResultRow) -> tuple[str, ...]:
    m = row.measurement
    ratio = row.ratio
    ratio_text = "baseline" if ratio is None else f"{ratio:.1f}x"
    if row.target is None or ratio is None:
        target_text = "-"
    else:
        verdict = "met" if row.target.is_met(ratio) else "NOT met"
        target_text = f">= {row.target.min_ratio:g}x: {verdict}"
    return (
        row.tool,
        row.case,
        f"{m.median:.3f}",
        f"{m.minimum:.3f}-{m.maximum:.3f}",
        ratio_text,
        target_text,
    )


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub-flavoured markdown table, columns padded so it also reads as plain text."""
    widths = [max(len(cells[i]) for cells in [headers, *rows]) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)) + " |"

    separator = "| " + " | ".join("-" * width for width in widths) + " |"
    return "\n".join([line(headers), separator, *(line(cells) for cells in rows)])


def results_table(rows: Sequence[ResultRow]) -> str:
    return markdown_table(HEADERS, [format_row(row) for row in rows])


def cpu_model() -> str:
    """The CPU's marketing name where the OS tells it (Linux), else what platform knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_lines() -> list[str]:
    return [
        f"- OS: {platform.platform()}",
        f"- CPU: {cpu_model()}, {os.cpu_count()} logical CPUs",
    ]


@dataclass(frozen=True)
class Headline:
    """One line of the summary table: a figure of kmsguard's, what it is compared with, the ratio
    (always oriented so that bigger is better for kmsguard) and the target it must reach."""

    measure: str
    kmsguard: str
    compared_with: str
    ratio: float | None
    target: Target | None = None
    note: str = ""

    @property
    def verdict(self) -> str:
        if self.target is None or self.ratio is None:
            return "-"
        return "met" if self.target.is_met(self.ratio) else "NOT met"


HEADLINE_HEADERS = ("measure", "kmsguard", "compared with", "ratio", "target", "verdict")


def target_text(row: Headline) -> str:
    if row.target is None:
        return "-"
    return f">= {row.target.min_ratio:g}x" + (f" ({row.note})" if row.note else "")


def headline_table(rows: Sequence[Headline]) -> str:
    """The one table of ratios every bench run prints and docs/performance.md shows."""
    cells = [
        (
            row.measure,
            row.kmsguard,
            row.compared_with,
            "-" if row.ratio is None else f"{row.ratio:.2f}x",
            target_text(row),
            row.verdict,
        )
        for row in rows
    ]
    return markdown_table(HEADLINE_HEADERS, cells)


def seconds_text(measurement: Measurement) -> str:
    return f"{measurement.median:.2f} s ({measurement.minimum:.2f}-{measurement.maximum:.2f})"


def megabytes(kilobytes: float) -> str:
    return f"{kilobytes / 1024:.0f} MB"
