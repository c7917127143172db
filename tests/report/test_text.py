"""The text report: exact lines people and editors read."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kmsguard.findings import Finding, InputError, Severity
from kmsguard.model.span import Span
from kmsguard.report import FORMATS, ReportInput, render
from kmsguard.report.text import MAX_SOURCE_WIDTH, printable

SOURCE_LINE_4 = '    Statement = [{ Effect = "Allow", Principal = "*", Action = "kms:*" }]'


def test_finding_block_has_header_source_line_and_caret_under_the_column(make_finding, mixed_report):
    finding = make_finding(remediation="Name the principals.")
    report = ReportInput([finding], sources=mixed_report.sources, files_checked=["main.tf"])

    lines = render("text", report).splitlines()

    assert lines[:4] == [
        "main.tf:4:38: KMS001 [high] Key policy allows kms:* to every principal",
        "  4 | " + SOURCE_LINE_4,
        "    | " + " " * 37 + "^",
        "  help: Name the principals.",
    ]
    caret_line = lines[2][len("    | ") :]
    assert SOURCE_LINE_4[caret_line.index("^")] == "P"  # the caret sits under "Principal"


def test_caret_copies_tabs_so_it_lines_up_however_tabs_render(make_finding):
    finding = make_finding(line=1, col=3)
    report = ReportInput([finding], sources={"main.tf": "\t\tkey = 1\n"})

    lines = render("text", report).splitlines()

    assert lines[1] == "  1 | \t\tkey = 1"
    assert lines[2] == "    | \t\t^"


def test_no_caret_when_column_unknown_and_no_excerpt_without_source(make_finding):
    known_line = make_finding(line=2, col=0)
    unknown_file = make_finding(path="elsewhere.tf", line=2, col=5)
    past_end = make_finding(line=99, col=1)
    report = ReportInput([known_line, unknown_file, past_end], sources={"main.tf": "a\nb = 2\n"})

    blocks = render("text", report).split("\n\n")

    assert blocks[0] == "elsewhere.tf:2:5: KMS001 [high] Key policy allows kms:* to every principal"
    # Span prints an unknown column as 1 (editors need one); no caret claims a column, though.
    assert blocks[1] == "main.tf:2:1: KMS001 [high] Key policy allows kms:* to every principal\n  2 | b = 2"
    assert blocks[2] == "main.tf:99:1: KMS001 [high] Key policy allows kms:* to every principal"


def test_findings_sorted_by_path_then_line_whatever_the_input_order(make_finding):
    findings = [
        make_finding("KMS002", path="b.tf", line=1, col=1),
        make_finding("KMS003", path="a.tf", line=9, col=1),
        make_finding("KMS001", path="a.tf", line=2, col=1),
    ]
    headers = [line for line in render("text", ReportInput(findings)).splitlines() if "[high]" in line]

    assert [h.split(" ")[0] for h in headers] == ["a.tf:2:1:", "a.tf:9:1:", "b.tf:1:1:"]


def test_mixed_report_errors_findings_notes_and_summary(mixed_report):
    text = render("text", mixed_report)

    assert text.endswith(
        "4 findings (1 critical, 1 high, 1 medium, 1 info), 1 suppressed, 5 files checked, 2 input errors\n"
    )
    lines = text.splitlines()
    assert lines[0] == "broken.yaml:3: error: mapping values are not allowed here"
    assert "gone.tf: error: cannot read: No such file or directory" in lines
    # A live-account finding has no line: the header is the ARN alone.
    arn = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    assert f"{arn}: KMS010 [critical] any AWS account can call kms:Decrypt" in lines
    assert "  note: depends on values not known statically: var.rotation" in lines
    # The suppressed finding is counted, never shown.
    assert "placeholder description" not in text
    assert "\x1b[" not in text


def test_summary_forms():
    assert render("text", ReportInput()) == "no findings, 0 suppressed, 0 files checked\n"
    assert (
        render("text", ReportInput(files_checked=["a.tf"])) == "no findings, 0 suppressed, 1 file checked\n"
    )


def test_summary_counts_a_single_finding_in_the_singular(make_finding):
    report = ReportInput([make_finding(severity=Severity.LOW)], files_checked=["main.tf", "x.tf"])
    assert render("text", report).splitlines()[-1] == "1 finding (1 low), 0 suppressed, 2 files checked"


def test_only_suppressed_findings_means_no_findings(make_finding):
    report = ReportInput([make_finding(suppressed_reason="accepted")], files_checked=["main.tf"])
    assert render("text", report) == "no findings, 1 suppressed, 1 file checked\n"


def test_colour_only_when_asked(make_finding, mixed_report):
    report = ReportInput([make_finding()], sources=mixed_report.sources)

    coloured = render("text", report, color=True)

    assert "\x1b[1;31m[high]\x1b[0m" in coloured
    assert "\x1b[" not in render("text", report, color=False)


def test_input_controlled_text_cannot_drive_the_terminal(make_finding):
    # An ESC sequence or a bidi override in a file under review is shown, not obeyed.
    # source: Unicode Technical Report #36 / CVE-2021-42574 ("Trojan Source")
    hostile = 'name = "\x1b[2J\u202eevil"'
    finding = make_finding(line=1, col=1, message="bad name \x1b]0;pwned\x07")
    report = ReportInput([finding], sources={"main.tf": hostile + "\n"})

    text = render("text", report)

    assert "\x1b" not in text and "\u202e" not in text and "\x07" not in text
    assert 'name = "\\x1b[2J\\u202eevil"' in text
    assert "bad name \\x1b]0;pwned\\x07" in text


def test_printable_keeps_tabs_and_ordinary_unicode():
    assert printable("a\tb é ключ") == "a\tb é ключ"
    assert printable("a\nb") == "a\\x0ab"


def test_long_lines_are_cut_around_the_column_and_the_caret_still_points_at_it(make_finding):
    line = '{"Statement":[' + '{"Effect":"Deny","Action":"kms:Foo"},' * 20 + '{"Principal":"*"}]}'
    col = line.index('"Principal"') + 1
    report = ReportInput([make_finding(path="policy.json", line=1, col=col)], sources={"policy.json": line})

    lines = render("text", report).splitlines()

    shown = lines[1][len("  1 | ") :]
    caret = lines[2][len("    | ") :]
    assert len(shown) <= MAX_SOURCE_WIDTH + 2 * len("...")
    assert shown.startswith("...")
    assert shown[caret.index("^") :].startswith('"Principal"')


def test_crlf_sources_show_no_carriage_return(make_finding):
    report = ReportInput([make_finding(line=2, col=1)], sources={"main.tf": "a = 1\r\nb = 2\r\n"})
    assert render("text", report).splitlines()[1] == "  2 | b = 2"


def test_line_numbers_count_newlines_only_like_the_loaders(make_finding):
    # A form feed is not a line break for the loaders; str.splitlines() would say it is.
    report = ReportInput([make_finding(line=2, col=1)], sources={"main.tf": "a\x0cb\nsecond\n"})
    assert render("text", report).splitlines()[1] == "  2 | second"


def test_unknown_format_is_a_one_line_error():
    with pytest.raises(ValueError, match=r"unknown report format 'xml' \(choose from text, json"):
        render("xml", ReportInput())


def test_every_format_renders_an_empty_report():
    for fmt in FORMATS:
        assert isinstance(render(fmt, ReportInput(errors=[InputError("x.tf", 1, "bad")])), str)


@settings(max_examples=200, deadline=None)
@given(
    source=st.text(max_size=400),
    line=st.integers(0, 8),
    col=st.integers(0, 500),
    message=st.text(max_size=30),
)
def test_any_source_and_position_render_without_control_characters(source, line, col, message):
    finding = Finding("KMS001", "t", Severity.HIGH, "exposure", message, Span("f.tf", line, col))
    text = render("text", ReportInput([finding], sources={"f.tf": source}))
    assert all(ch == "\t" or ch == "\n" or ord(ch) >= 0x20 for ch in text)
    assert "\x7f" not in text and "\u202e" not in text
    assert text.splitlines()[0].startswith("f.tf")
