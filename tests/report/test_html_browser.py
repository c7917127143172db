"""The HTML report in a real browser: Debian's chromium, headless.

A report of a real run (tests/report/html_fixture, plus one hostile finding) is opened from disk
with the network unused: the page must render every finding, run its own script (which writes the
"Showing N of N findings" line and reveals the filters), log nothing to the console (a script
error or a Content-Security-Policy violation would), run no script smuggled in through a finding,
and give a screenshot that is not blank.

chromium is installed by .ci/run; without it the tests fail when CI is set and skip otherwise.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kmsguard.check import CheckOptions, run_check
from kmsguard.findings import Finding, Severity
from kmsguard.model import Span
from kmsguard.report import ReportInput, render
from tests.report.html_text import by_id, read_page, with_class

FIXTURE = Path(__file__).parent / "html_fixture"
WINDOW = (1280, 2000)
BROWSER_TIMEOUT_S = 120

# Sets a mark on <body> if it ever runs; it must show as text instead.
HOSTILE_MESSAGE = (
    'policy quotes <script>document.body.setAttribute("data-pwned", "script")</script>'
    " and <img src=x onerror=\"document.body.setAttribute('data-pwned', 'img')\">"
)


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is not None:
        return path
    if os.environ.get("CI"):
        pytest.fail(
            "chromium is not installed: .ci/run must `apt-get install -y --no-install-recommends chromium`"
        )
    pytest.skip("chromium is not installed (apt-get install -y chromium); CI requires it")


def _run_chromium(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        *args,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=BROWSER_TIMEOUT_S)
    assert result.returncode == 0, result.stderr[-2000:]
    return result


def _console_messages(stderr: str) -> list[str]:
    """Console messages chromium logs with --enable-logging=stderr: "...:INFO:CONSOLE:12] "text"..."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


@dataclass(frozen=True)
class Rendered:
    page: str  # the report as written
    dom: str  # the DOM after the page loaded and its script ran
    console: list[str]
    screenshot: Path
    findings: list[Finding]  # the active findings of the report


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rendered]:
    browser = _chromium()
    work = tmp_path_factory.mktemp("html-browser")
    result = run_check(CheckOptions(paths=(str(FIXTURE),)))
    assert result.errors == [] and result.findings
    hostile = Finding(
        rule_id="KMS002",
        title="Key policy allows any principal",
        severity=Severity.HIGH,
        category="exposure",
        message=HOSTILE_MESSAGE,
        span=Span("hostile.json", 3, 5),
        resource="hostile.json",
    )
    findings = [*result.findings, hostile]
    report = ReportInput(
        findings=[*findings, *result.suppressed],
        sources=result.sources,
        errors=result.errors,
        files_checked=result.files,
        inventory=result.inventory,
    )
    page_path = work / "report.html"
    page = render("html", report)
    page_path.write_text(page, encoding="utf-8")
    url = page_path.as_uri()

    dumped = _run_chromium(
        browser, work / "profile-dom", "--enable-logging=stderr", "--v=0", "--dump-dom", url
    )
    screenshot = work / "report.png"
    _run_chromium(
        browser,
        work / "profile-shot",
        f"--screenshot={screenshot}",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        "--hide-scrollbars",
        url,
    )
    yield Rendered(page, dumped.stdout, _console_messages(dumped.stderr), screenshot, findings)


def test_the_console_check_sees_console_messages(tmp_path: Path):
    # Not vacuous: a page that logs, fails and breaks the report's policy is seen doing so.
    browser = _chromium()
    page = tmp_path / "noisy.html"
    page.write_text(
        '<!DOCTYPE html><meta http-equiv="Content-Security-Policy" content="default-src \'none\'">'
        '<img src="https://example.invalid/x.png"><p>noisy</p>',
        encoding="utf-8",
    )
    dumped = _run_chromium(
        browser, tmp_path / "profile", "--enable-logging=stderr", "--v=0", "--dump-dom", page.as_uri()
    )
    assert "<p>noisy</p>" in dumped.stdout
    assert any("Content Security Policy" in line for line in _console_messages(dumped.stderr))


def test_the_page_logs_nothing_to_the_console(rendered: Rendered):
    assert rendered.console == []


def test_every_finding_is_rendered(rendered: Rendered):
    rows = with_class(rendered.dom, "finding")
    assert len(rows) == len(rendered.findings)
    shown = sorted((row.attrs["data-severity"], row.text.split(" | ")[1].split()[0]) for row in rows)
    assert shown == sorted((f.severity.value, f.rule_id) for f in rendered.findings)
    for finding in rendered.findings:
        assert any(finding.message in row.text for row in rows), finding.message


def test_the_script_ran(rendered: Rendered):
    # The count and the visible filters exist only once the page's own script has run.
    total = len(rendered.findings)
    assert 'id="shown-count" class="meta"></span>' in rendered.page
    assert by_id(rendered.dom, "shown-count").text == f"Showing {total} of {total} findings"
    assert "hidden" not in by_id(rendered.dom, "filters").attrs
    assert "hidden" in by_id(rendered.page, "filters").attrs


def test_a_script_inside_a_finding_does_not_run(rendered: Rendered):
    (body,) = [e for e in read_page(rendered.dom).elements if e.tag == "body"]
    assert "data-pwned" not in body.attrs
    messages = [e.text for e in with_class(rendered.dom, "message")]
    assert " ".join(HOSTILE_MESSAGE.split()) in messages


def test_witness_and_blast_radius_are_in_the_rendered_page(rendered: Rendered):
    witnessed = [f for f in rendered.findings if f.witness is not None]
    assert witnessed  # main.tf's open key and its organisation key have prover findings
    assert len(with_class(rendered.dom, "witness")) == len(witnessed)
    # main.tf: the bucket and the queue encrypt with aws_kms_key.open.
    users = [row.text.split(" | ")[0] for row in with_class(rendered.dom, "user")]
    assert users == ["aws_s3_bucket_server_side_encryption_configuration.data", "aws_sqs_queue.jobs"]


def test_the_screenshot_is_a_png_of_the_report(rendered: Rendered):
    from PIL import Image  # the "test" extra installs pillow

    data = rendered.screenshot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(rendered.screenshot) as image:
        assert image.size == WINDOW
        pixels = image.convert("RGB")
        colours = pixels.getcolors(maxcolors=1 << 20)
    assert colours is not None
    background = max(colours)[1]
    drawn = sum(count for count, colour in colours if colour != background)
    # A blank page is one colour; the report draws text, tables and badges over a good part of it.
    assert len(colours) > 50
    assert drawn > 0.05 * WINDOW[0] * WINDOW[1]
    # The "high" badges (background #c62828 in the report's CSS) are drawn: the findings are visible.
    high_badge = (0xC6, 0x28, 0x28)
    assert any(_near(colour, high_badge) and count > 100 for count, colour in colours)


def _near(colour: tuple[int, int, int], target: tuple[int, int, int], tolerance: int = 3) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(colour, target, strict=True))
