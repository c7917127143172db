"""What a person at a terminal sees during and after an audit: one progress line, redrawn in place
with ``\\r`` (accounts x Regions x keys done / known so far), and a summary table at the end.

Nothing is drawn when the stream is not a terminal (CI logs, redirected output): no dependency,
no escape codes in files.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

# Redraw at most this often: a fast audit calls ``done`` thousands of times a second.
REDRAW_SECONDS = 0.1
SEVERITIES = ("critical", "high", "medium", "low", "info")
GLOBAL = "global"


class ProgressLine:
    """Counts of accounts, Regions and keys, known and done, drawn on ``stream`` if it is a tty.
    Thread-safe: the collection's threads report to it."""

    def __init__(self, stream: TextIO, calls: Any = None, now: Any = time.monotonic) -> None:
        self._stream = stream
        self._enabled = _is_tty(stream)
        self._calls = calls  # () -> int, the calls sent so far; None: not shown
        self._now = now
        self._lock = threading.Lock()
        self._last = float("-inf")
        self.total = {"accounts": 0, "regions": 0, "keys": 0}
        self.finished = {"accounts": 0, "regions": 0, "keys": 0}

    def add(self, accounts: int = 0, regions: int = 0, keys: int = 0) -> None:
        self._count(self.total, accounts, regions, keys)

    def done(self, accounts: int = 0, regions: int = 0, keys: int = 0) -> None:
        self._count(self.finished, accounts, regions, keys)

    def _count(self, into: dict[str, int], accounts: int, regions: int, keys: int) -> None:
        with self._lock:
            into["accounts"] += accounts
            into["regions"] += regions
            into["keys"] += keys
            if self._enabled and self._now() - self._last >= REDRAW_SECONDS:
                self._last = self._now()
                self._draw()

    def text(self) -> str:
        parts = [
            f"{name} {self.finished[name]}/{self.total[name]}" for name in ("accounts", "regions", "keys")
        ]
        if self._calls is not None:
            parts.append(f"{self._calls()} calls")
        return "kmsguard audit: " + "  ".join(parts)

    def _draw(self) -> None:
        # \x1b[K clears what a longer previous line left on the right.
        self._stream.write(f"\r{self.text()}\x1b[K")
        self._stream.flush()

    def finish(self) -> None:
        """The last counts, then the line is cleared so the report starts on a clean line."""
        if not self._enabled:
            return
        with self._lock:
            self._draw()
            self._stream.write("\r\x1b[K")
            self._stream.flush()


def _is_tty(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (OSError, ValueError):  # a closed or detached stream
        return False


@dataclass(frozen=True)
class SummaryRow:
    account: str
    region: str  # a Region, or "global" (IAM, Organizations, S3)
    keys: int | None  # None: the Region's keys could not be listed
    customer_managed: int
    aws_managed: int
    findings: Mapping[str, int]  # by severity
    calls: int
    denied: int


def summary_rows(
    accounts: Sequence[Mapping[str, Any]],
    findings: Iterable[Any],
    calls: Mapping[str, Mapping[str | None, int]],
) -> list[SummaryRow]:
    """One row per account and Region, and one per account for its global services. A finding
    counts where its resource's ARN says it is (arn:partition:service:region:account:...)."""
    by_place: dict[tuple[str, str], dict[str, int]] = {}
    for finding in findings:
        place = _place_of(str(getattr(finding, "resource", "")))
        if place is None:
            continue
        severity = getattr(getattr(finding, "severity", None), "value", "info")
        counts = by_place.setdefault(place, {})
        counts[severity] = counts.get(severity, 0) + 1
    rows: list[SummaryRow] = []
    for record in accounts:
        account = str(record["account"])
        account_calls = calls.get(account, {})
        gaps = record.get("gaps") or []
        rows.append(
            SummaryRow(
                account,
                GLOBAL,
                None if record.get("regions") is None else 0,
                0,
                0,
                by_place.get((account, GLOBAL), {}),
                account_calls.get(None, 0),
                sum(1 for g in gaps if g.get("access_denied") and not g.get("region")),
            )
        )
        for region in record.get("regions") or []:
            name = str(region["region"])
            keys = region.get("keys")
            managers = [str((k.get("metadata") or {}).get("KeyManager", "")) for k in keys or []]
            rows.append(
                SummaryRow(
                    account,
                    name,
                    None if keys is None else len(keys),
                    managers.count("CUSTOMER"),
                    managers.count("AWS"),
                    by_place.get((account, name), {}),
                    account_calls.get(name, 0),
                    sum(1 for g in gaps if g.get("access_denied") and g.get("region") == name),
                )
            )
    return rows


def _place_of(resource: str) -> tuple[str, str] | None:
    """(account, Region or "global") of an ARN; a bare account id (a gap on the account) is global."""
    if resource.isdigit() and len(resource) == 12:
        return resource, GLOBAL
    parts = resource.split(":")
    if len(parts) < 6 or parts[0] != "arn" or not parts[4]:
        return None
    return parts[4], parts[3] or GLOBAL


def render_summary(rows: Sequence[SummaryRow]) -> str:
    """A plain-text table, columns aligned, one line per row."""
    header = ("account", "region", "keys", "customer", "aws", *SEVERITIES, "calls", "denied")
    lines: list[tuple[str, ...]] = [header]
    for row in rows:
        lines.append(
            (
                row.account,
                row.region,
                "-" if row.region == GLOBAL else ("?" if row.keys is None else str(row.keys)),
                "-" if row.region == GLOBAL else str(row.customer_managed),
                "-" if row.region == GLOBAL else str(row.aws_managed),
                *(str(row.findings.get(s, 0)) for s in SEVERITIES),
                str(row.calls),
                str(row.denied),
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    # Text columns left-aligned, numbers right-aligned.
    return (
        "\n".join(
            "  ".join(
                cell.ljust(w) if i < 2 else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(line, widths, strict=True))
            )
            for line in lines
        ).rstrip()
        + "\n"
    )
