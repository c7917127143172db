"""For people at a terminal: a progress line redrawn with "\\r" and a summary table, both only when
stderr is a terminal (tested with a fake tty stream), nothing in logs or files."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from kmsguard.audit.progress import ProgressLine
from kmsguard.cli import main
from tests.audit.conftest import ACCOUNT, REGIONS, seed_world
from tests.audit.moto_support import answer_ebs_default_key


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def _ticking() -> object:
    moments = iter(range(1000))
    return lambda: float(next(moments))  # a second between calls: every update is drawn


def test_progress_line_counts_accounts_regions_and_keys_on_a_terminal() -> None:
    stream = FakeTTY()
    line = ProgressLine(stream, calls=lambda: 42, now=_ticking())
    line.add(accounts=1)
    line.add(regions=2)
    line.add(keys=3)
    line.done(keys=3)
    line.done(regions=2, accounts=1)
    line.finish()
    drawn = stream.getvalue()
    assert drawn.startswith("\r")
    last = drawn.split("\r")[-2]  # the last state drawn before the line is cleared
    assert "accounts 1/1" in last and "regions 2/2" in last and "keys 3/3" in last and "42 calls" in last
    assert drawn.endswith("\r\x1b[K")


def test_progress_line_draws_nothing_when_not_a_terminal() -> None:
    stream = io.StringIO()
    line = ProgressLine(stream, now=_ticking())
    line.add(accounts=1, regions=1, keys=1)
    line.done(accounts=1, regions=1, keys=1)
    line.finish()
    assert stream.getvalue() == ""


def _rows(table: str) -> dict[tuple[str, str], dict[str, str]]:
    lines = [line.split() for line in table.strip().splitlines()]
    header = lines[0]
    return {(row[0], row[1]): dict(zip(header, row, strict=True)) for row in lines[1:]}


def test_audit_on_a_terminal_shows_progress_and_a_summary_table(
    endpoint: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from kmsguard.rules_engine import load_packs

    answer_ebs_default_key(monkeypatch)  # the table's counts are about keys (see moto_support)
    seed_world(endpoint)
    terminal = FakeTTY()
    monkeypatch.setattr(sys, "stderr", terminal)
    code = main(["audit", "--endpoint-url", endpoint, "--regions", ",".join(REGIONS), "--format", "json"])
    report = json.loads(capsys.readouterr().out)
    shown = terminal.getvalue()
    assert "\rkmsguard audit: accounts" in shown
    table = shown[shown.index("account ") :]
    rows = _rows(table)
    # The seeded world (tests/audit/conftest.py): two customer keys in us-east-1, one in eu-west-1.
    assert (rows[(ACCOUNT, "us-east-1")]["keys"], rows[(ACCOUNT, "us-east-1")]["customer"]) == ("2", "2")
    assert (rows[(ACCOUNT, "eu-west-1")]["keys"], rows[(ACCOUNT, "eu-west-1")]["aws"]) == ("1", "0")
    # us-east-1 holds the public key (KMS002) and the key without rotation (KMS001); each counts
    # under the severity its rule pack gives it.
    severity = {r.id: r.severity.value for pack in load_packs(()) for r in pack.rules}
    us = rows[(ACCOUNT, "us-east-1")]
    expected: dict[str, int] = {}
    for rule in ("KMS002", "KMS001"):
        expected[severity[rule]] = expected.get(severity[rule], 0) + 1
    assert {s: int(us[s]) for s in expected} == expected
    assert int(rows[(ACCOUNT, "global")]["calls"]) >= 3  # caller identity, organisation, IAM at least
    assert int(us["calls"]) >= 2 * 6  # at least six reads per key
    assert all(row["denied"] == "0" for row in rows.values())
    assert report["findings"] and code == 1


def test_audit_output_to_a_pipe_has_no_progress_nor_table(
    endpoint: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    seed_world(endpoint)
    main(["audit", "--endpoint-url", endpoint, "--regions", ",".join(REGIONS), "--format", "json"])
    assert capsys.readouterr().err == ""
