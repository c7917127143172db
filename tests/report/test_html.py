"""The HTML report (kmsguard/report/html.py): escaping, ranking, the "allowed iff" text, blast
radius, an empty report, determinism, and that the page loads nothing from anywhere.

Expected texts are derived by hand from the policies and findings written in each test (or in
tests/report/html_fixture/main.tf), never copied from the output."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path
from typing import Any

import pytest

from kmsguard.check import CheckOptions, run_check
from kmsguard.findings import Finding, InputError, Severity, Witness
from kmsguard.load.policy_builder import build_policy
from kmsguard.model import (
    Condition,
    Inventory,
    Key,
    KeyConsumer,
    Policy,
    PolicyKind,
    ResourceRef,
    Source,
    Span,
    Statement,
    Unknown,
)
from kmsguard.report import ReportInput, render
from kmsguard.report.html import (
    SEVERITY_WEIGHT,
    access_text,
    actions_text,
    condition_text,
    principals_text,
    rank_by_risk,
)
from tests.report.html_text import by_id, read_page, section_of, with_class

FIXTURE = Path(__file__).parent / "html_fixture"


def _statement(doc: dict[str, Any]) -> Statement:
    """The first statement of a key policy built the way every loader builds one."""
    policy, diagnostics = build_policy(
        {"Version": "2012-10-17", "Statement": [doc]},
        PolicyKind.KEY,
        resource="aws_kms_key.k",
        span=Span("k.json", 1),
    )
    assert isinstance(policy, Policy) and diagnostics == []
    return policy.statements[0]


def _allow(condition: dict[str, Any] | None = None, **elements: Any) -> Statement:
    doc: dict[str, Any] = {"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*"}
    doc.update(elements)
    if condition is not None:
        doc["Condition"] = condition
    return _statement(doc)


def _key(address: str, path: str = "main.tf", line: int = 1) -> Key:
    return Key(address=address, resource_type="aws_kms_key", source=Source.TERRAFORM, span=Span(path, line))


def _consumer(address: str, key_address: str, service: str = "sqs", line: int = 20) -> KeyConsumer:
    return KeyConsumer(
        address=address,
        resource_type="aws_sqs_queue",
        service=service,
        source=Source.TERRAFORM,
        key=ResourceRef(key_address, "arn"),
        span=Span("main.tf", line),
    )


# -- "allowed iff ..." ----------------------------------------------------------------------------


def test_the_conditions_of_an_allow_statement_read_as_allowed_iff():
    # source: IAM User Guide, "IAM JSON policy elements: Condition" -- condition keys of one
    # statement are ANDed.
    statement = _allow(
        {
            "StringEquals": {
                "aws:PrincipalOrgID": "o-a1b2c3d4e5",
                "kms:ViaService": "s3.us-east-1.amazonaws.com",
            }
        }
    )
    assert access_text(statement) == (
        "allowed iff aws:PrincipalOrgID = o-a1b2c3d4e5 and kms:ViaService = s3.us-east-1.amazonaws.com"
    )


def test_a_statement_without_conditions_applies_unconditionally():
    assert access_text(_allow()) == "allowed unconditionally"
    deny = _statement({"Effect": "Deny", "Principal": "*", "Action": "kms:*", "Resource": "*"})
    assert access_text(deny) == "denied unconditionally"


def test_a_deny_statement_reads_as_denied_iff():
    deny = _statement(
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": "kms:*",
            "Resource": "*",
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    )
    assert access_text(deny) == "denied iff aws:SecureTransport = false"


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        # source: IAM User Guide, "Creating a condition with multiple keys or values": values of
        # one key are ORed.
        (
            {
                "StringEquals": {
                    "kms:ViaService": ["s3.us-east-1.amazonaws.com", "sqs.us-east-1.amazonaws.com"]
                }
            },
            "kms:ViaService is one of (s3.us-east-1.amazonaws.com, sqs.us-east-1.amazonaws.com)",
        ),
        # source: IAM User Guide, "Condition operators", "...IfExists condition operators": a key
        # absent from the request makes the condition true.
        (
            {"StringEqualsIfExists": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}},
            "aws:PrincipalOrgID = o-a1b2c3d4e5 (or aws:PrincipalOrgID is absent)",
        ),
        # source: IAM User Guide, "Condition operators": for a negated operator (StringNotEquals,
        # ArnNotLike...) a key absent from the request makes the condition true.
        (
            {"StringNotEquals": {"aws:PrincipalAccount": "111122223333"}},
            "aws:PrincipalAccount ≠ 111122223333 (or aws:PrincipalAccount is absent)",
        ),
        (
            {"ArnNotLike": {"aws:PrincipalArn": ["arn:aws:iam::*:role/a", "arn:aws:iam::*:role/b"]}},
            "aws:PrincipalArn matches none of (arn:aws:iam::*:role/a, arn:aws:iam::*:role/b)"
            " (or aws:PrincipalArn is absent)",
        ),
        (
            {"StringLike": {"kms:EncryptionContext:tenant": "team-*"}},
            "kms:EncryptionContext:tenant matches team-*",
        ),
        # source: IAM User Guide, "Set operators for multivalued context keys": ForAnyValue is
        # false when the key is absent, ForAllValues is true.
        (
            {"ForAnyValue:StringEquals": {"kms:EncryptionContextKeys": "tenant"}},
            "some value of kms:EncryptionContextKeys = tenant",
        ),
        (
            {"ForAllValues:StringEquals": {"kms:GrantOperations": ["Decrypt", "Encrypt"]}},
            "every value of kms:GrantOperations is one of (Decrypt, Encrypt)"
            " (or kms:GrantOperations is absent)",
        ),
        # source: IAM User Guide, "Condition operator to check existence of condition keys":
        # Null true means the key is absent, false that it is present.
        ({"Null": {"aws:SourceVpc": "true"}}, "aws:SourceVpc is absent"),
        ({"Null": {"aws:SourceVpc": "false"}}, "aws:SourceVpc is present"),
        ({"NumericLessThanEquals": {"kms:GrantConstraintType": "5"}}, "kms:GrantConstraintType ≤ 5"),
        ({"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, "aws:SourceIp is in 203.0.113.0/24"),
        (
            {"DateGreaterThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}},
            "aws:CurrentTime is after 2030-01-01T00:00:00Z",
        ),
    ],
)
def test_each_condition_operator_in_words(condition, expected):
    (clause,) = _allow(condition).conditions
    assert condition_text(clause) == expected


def test_a_value_not_known_statically_is_shown_as_the_reference_it_depends_on():
    clause = Condition("StringEquals", "aws:PrincipalOrgID", (Unknown("var.org_id"),))
    assert condition_text(clause) == "aws:PrincipalOrgID = ${var.org_id}"
    statement = Statement(sid="S", effect="Allow", conditions=Unknown("local.conditions"))
    assert access_text(statement) == "allowed iff conditions not known statically hold (${local.conditions})"


def test_principals_and_actions_in_words():
    statement = _statement(
        {
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::111122223333:role/app", "Service": "logs.amazonaws.com"},
            "NotAction": ["kms:PutKeyPolicy", "kms:ScheduleKeyDeletion"],
            "Resource": "*",
        }
    )
    assert principals_text(statement) == "arn:aws:iam::111122223333:role/app, logs.amazonaws.com (Service)"
    assert actions_text(statement) == "every action except kms:PutKeyPolicy, kms:ScheduleKeyDeletion"
    assert principals_text(_allow()) == "everyone (*)"
    excepted = _statement(
        {
            "Effect": "Deny",
            "NotPrincipal": {"AWS": "arn:aws:iam::111122223333:root"},
            "Action": "kms:*",
            "Resource": "*",
        }
    )
    assert principals_text(excepted) == "every principal except arn:aws:iam::111122223333:root"


# -- escaping ---------------------------------------------------------------------------------------


def test_every_string_from_the_input_is_escaped(make_finding):
    message = 'statement allows <script>alert("pwned")</script> & more'
    finding = make_finding(
        message=message,
        title="<b>bold</b>",
        resource='aws_kms_key.x"><img src=x onerror=alert(1)>',
        help_uri="javascript:alert(1)",
        witness=Witness(text="t", principal="<svg onload=alert(2)>", action="kms:Decrypt"),
    )
    suppressed = make_finding("KMS009", line=2, suppressed_reason="<iframe src=//evil>")
    error = InputError("bad<1>.tf", 3, "unexpected </style><script>x()</script>")
    page = render("html", ReportInput([finding, suppressed], errors=[error]))

    assert page.count("<script") == 1  # the report's own filter script, nothing else
    assert "&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt; &amp; more" in page
    for raw in ("<img", "<svg", "<iframe", "<b>bold", "</style><script>"):
        assert raw not in page
    assert 'href="javascript:' not in page
    # Read back as a browser would, the texts are the input's texts.
    (message_element,) = with_class(page, "message")
    assert message_element.text == message
    (error_row,) = with_class(page, "input-error")
    assert error_row.text == "bad<1>.tf | 3 | unexpected </style><script>x()</script>"


def test_control_and_bidirectional_characters_are_shown_escaped(make_finding):
    # "Trojan Source" (CVE-2021-42574): a right-to-left override would reorder what the reader sees.
    finding = make_finding(message="allows \u202eevil\u202c and \x1b[31mred")
    page = render("html", ReportInput([finding]))
    assert "\u202e" not in page and "\x1b" not in page
    assert "\\u202eevil\\u202c and \\x1b[31mred" in page


# -- ranking ----------------------------------------------------------------------------------------


def test_keys_are_ranked_by_severity_weighted_findings(make_finding):
    findings = [
        make_finding("KMS001", resource="aws_kms_key.a", severity=Severity.HIGH),
        make_finding("KMS002", resource="aws_kms_key.b", severity=Severity.MEDIUM),
        make_finding("KMS003", resource="aws_kms_key.b", severity=Severity.MEDIUM),
        make_finding("KMS004", resource="aws_kms_key.c", severity=Severity.CRITICAL),
        *(make_finding(f"KMS01{n}", resource="aws_kms_key.d", severity=Severity.LOW) for n in range(3)),
    ]
    weights = {
        "aws_kms_key.a": SEVERITY_WEIGHT[Severity.HIGH],
        "aws_kms_key.b": 2 * SEVERITY_WEIGHT[Severity.MEDIUM],
        "aws_kms_key.c": SEVERITY_WEIGHT[Severity.CRITICAL],
        "aws_kms_key.d": 3 * SEVERITY_WEIGHT[Severity.LOW],
    }
    expected = sorted(weights, key=lambda name: -weights[name])
    assert expected == ["aws_kms_key.c", "aws_kms_key.b", "aws_kms_key.a", "aws_kms_key.d"]

    ranked = rank_by_risk(findings)
    assert [item.name for item in ranked] == expected
    assert [item.score for item in ranked] == [weights[name] for name in expected]
    # The page's ranking table lists them in that order too.
    page = render("html", ReportInput(findings))
    assert [row.text.split(" | ")[1] for row in with_class(page, "rank")] == expected


def test_the_weights_follow_the_severity_order():
    ordered = [SEVERITY_WEIGHT[s] for s in sorted(Severity, key=lambda s: s.rank)]
    assert ordered == sorted(ordered) and len(set(ordered)) == len(ordered)


def test_equal_scores_put_the_most_severe_finding_first(make_finding):
    # One high finding weighs as much as one medium and thirty low ones: the high one ranks first.
    assert (
        SEVERITY_WEIGHT[Severity.HIGH]
        == SEVERITY_WEIGHT[Severity.MEDIUM] + 30 * SEVERITY_WEIGHT[Severity.LOW]
    )
    findings = [
        make_finding("KMS002", resource="aws_kms_key.a", severity=Severity.MEDIUM),
        *(make_finding(f"KMS1{n:02}", resource="aws_kms_key.a", severity=Severity.LOW) for n in range(30)),
        make_finding("KMS001", resource="aws_kms_key.z", severity=Severity.HIGH),
    ]
    assert [item.name for item in rank_by_risk(findings)] == ["aws_kms_key.z", "aws_kms_key.a"]


def test_equal_findings_put_the_key_with_the_larger_blast_radius_first(make_finding):
    inventory = Inventory(
        keys=(_key("aws_kms_key.a", line=1), _key("aws_kms_key.b", line=5)),
        consumers=(_consumer("aws_sqs_queue.q", "aws_kms_key.b"),),
    )
    findings = [
        make_finding("KMS001", resource="aws_kms_key.a", line=1, severity=Severity.MEDIUM),
        make_finding("KMS001", resource="aws_kms_key.b", line=5, severity=Severity.MEDIUM),
    ]
    ranked = rank_by_risk(findings, inventory)
    assert [(item.name, len(item.users)) for item in ranked[:2]] == [
        ("aws_kms_key.b", 1),
        ("aws_kms_key.a", 0),
    ]


def test_suppressed_findings_do_not_count_towards_risk(make_finding):
    findings = [
        make_finding("KMS001", resource="aws_kms_key.a", severity=Severity.CRITICAL, suppressed_reason="ok"),
        make_finding("KMS002", resource="aws_kms_key.b", severity=Severity.LOW),
    ]
    page = render("html", ReportInput(findings))
    assert [row.text.split(" | ")[1] for row in with_class(page, "rank")] == ["aws_kms_key.b"]
    (suppressed,) = with_class(page, "suppressed-finding")
    assert "KMS001" in suppressed.text and suppressed.text.endswith("ok")


def test_every_key_of_the_inventory_is_listed_even_without_findings(make_finding):
    inventory = Inventory(keys=(_key("aws_kms_key.quiet", line=1), _key("aws_kms_key.loud", line=9)))
    findings = [make_finding("KMS001", resource="aws_kms_key.loud", line=9)]
    ranked = rank_by_risk(findings, inventory)
    assert [(item.name, item.score) for item in ranked] == [
        ("aws_kms_key.loud", SEVERITY_WEIGHT[Severity.HIGH]),
        ("aws_kms_key.quiet", 0),
    ]


def test_findings_on_two_keys_with_one_address_stay_apart(make_finding):
    # Two CloudFormation templates may both declare "DataKey": each finding goes with the key of
    # its own file.
    inventory = Inventory(keys=(_key("DataKey", "a/app.yaml", 3), _key("DataKey", "b/app.yaml", 3)))
    findings = [
        make_finding("KMS001", resource="DataKey", path="b/app.yaml", line=3),
        make_finding("KMS002", resource="DataKey", path="b/app.yaml", line=8),
    ]
    ranked = rank_by_risk(findings, inventory)
    assert [(item.location, len(item.findings)) for item in ranked] == [
        ("b/app.yaml:3:1", 2),
        ("a/app.yaml:3:1", 0),
    ]


# -- witness, blast radius, access: a real run on tests/report/html_fixture ---------------------------


@pytest.fixture(scope="module")
def fixture_page() -> str:
    result = run_check(CheckOptions(paths=(str(FIXTURE),)))
    assert result.errors == []
    return render("html", _report_of(result))


def _report_of(result: Any) -> ReportInput:
    return ReportInput(
        findings=[*result.findings, *result.suppressed],
        sources=result.sources,
        errors=result.errors,
        files_checked=result.files,
        inventory=result.inventory,
    )


def test_the_blast_radius_lists_the_resources_that_use_the_key(fixture_page):
    # main.tf: the bucket's encryption configuration and the queue name aws_kms_key.open.arn.
    section = section_of(fixture_page, "aws_kms_key.open")
    users = [row.text.split(" | ")[:2] for row in with_class(fixture_page, "user") if row.section == section]
    assert users == [
        ["aws_s3_bucket_server_side_encryption_configuration.data", "s3"],
        ["aws_sqs_queue.jobs", "sqs"],
    ]
    heading = [e.text for e in read_page(fixture_page).elements if e.tag == "h3" and e.section == section]
    assert "Blast radius: 2 resources encrypt with this key" in heading
    # aws_kms_key.org_s3 is used by nothing in main.tf.
    org = section_of(fixture_page, "aws_kms_key.org_s3")
    assert [row for row in with_class(fixture_page, "user") if row.section == org] == []


def test_the_access_table_gives_the_conditions_of_each_statement(fixture_page):
    section = section_of(fixture_page, "aws_kms_key.org_s3")
    rows = [row.text for row in with_class(fixture_page, "access") if row.section == section]
    # main.tf, statement "OrgThroughS3": "*" may Decrypt and GenerateDataKey iff both keys match.
    assert rows[1].startswith('statement "OrgThroughS3"')
    assert rows[1].endswith(
        "everyone (*) | kms:Decrypt, kms:GenerateDataKey | allowed iff aws:PrincipalOrgID = o-a1b2c3d4e5"
        " and kms:ViaService = s3.us-east-1.amazonaws.com"
    )
    assert rows[0].endswith("kms:* | allowed unconditionally")


def test_the_witness_request_is_a_table_in_its_finding(fixture_page):
    # A stranger is allowed through "OrgThroughS3" only with both of its conditions met, so the
    # request that proves the finding must carry both context keys with the policy's values.
    section = section_of(fixture_page, "aws_kms_key.org_s3")
    (witness,) = [w for w in with_class(fixture_page, "witness") if w.section == section]
    cells = dict(row.split(" | ") for row in _rows(witness.text))
    assert cells["aws:PrincipalOrgID"] == "o-a1b2c3d4e5"
    assert cells["kms:ViaService"] == "s3.us-east-1.amazonaws.com"
    assert cells["action"] in ("kms:Decrypt", "kms:GenerateDataKey")
    assert not cells["principal"].startswith("arn:aws:iam::${")


def _rows(text: str) -> list[str]:
    """ "a request that proves it principal | x | action | y" -> ["principal | x", "action | y"]."""
    cells = text.removeprefix("a request that proves it").split(" | ")
    return [f"{cells[i].strip()} | {cells[i + 1].strip()}" for i in range(0, len(cells) - 1, 2)]


def test_a_grant_is_shown_on_its_key_and_links_back_to_it(fixture_page):
    key_section = section_of(fixture_page, "aws_kms_key.unrotated")
    assert "aws_kms_grant.worker" in by_id(fixture_page, key_section).text
    assert "arn:aws:iam::111122223333:role/worker" in by_id(fixture_page, key_section).text
    grant_section = by_id(fixture_page, section_of(fixture_page, "aws_kms_grant.worker"))
    assert f'href="#{key_section}"' in _inner(fixture_page, grant_section.attrs["id"])


def _inner(page: str, section_id: str) -> str:
    start = page.index(f'<section class="item" id="{section_id}">')
    return page[start : page.index("</section>", start)]


# -- the page as a whole ------------------------------------------------------------------------------


def test_a_report_with_no_findings(make_finding):
    page = render("html", ReportInput(files_checked=["main.tf"]))
    assert by_id(page, "total-all").text == "0 findings"
    assert by_id(page, "no-findings").text == "No findings and no keys."
    assert with_class(page, "finding") == [] and with_class(page, "rank") == []
    # With an inventory, its keys are still listed, at risk 0.
    page = render("html", ReportInput(inventory=Inventory(keys=(_key("aws_kms_key.k"),))))
    (row,) = with_class(page, "rank")
    assert row.text.split(" | ")[1:4] == ["aws_kms_key.k", "key", "0"]


def test_totals_by_severity(mixed_report):
    page = render("html", mixed_report)
    # conftest.mixed_report: unsuppressed KMS001 high, KMS002 medium, KMS010 critical, KMS011 info.
    totals = {s.value: by_id(page, f"total-{s.value}").text for s in Severity}
    assert totals == {
        "critical": "1 critical",
        "high": "1 high",
        "medium": "1 medium",
        "low": "0 low",
        "info": "1 info",
    }


def test_same_input_same_bytes(make_finding, fixture_page):
    findings = [make_finding("KMS001", line=n, resource=f"aws_kms_key.k{n % 3}") for n in range(1, 9)]
    assert render("html", ReportInput(findings)) == render("html", ReportInput(list(reversed(findings))))
    again = run_check(CheckOptions(paths=(str(FIXTURE),)))
    assert render("html", _report_of(again)) == fixture_page


def test_the_page_loads_nothing_and_runs_only_its_own_script(fixture_page):
    for loader in (" src=", "<link", "url(", "@import", "<iframe", "<object", "<embed"):
        assert loader not in fixture_page
    # Every URL in the page is a documentation link a reader may follow, never a load.
    for url in re.findall(r"https?://[^\s\"'<>]+", fixture_page):
        assert f'href="{url}"' in fixture_page
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', fixture_page)
    assert policy is not None and "default-src 'none'" in policy.group(1)
    (script,) = read_page(fixture_page).scripts
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in policy.group(1)


def test_input_errors_are_listed(mixed_report):
    page = render("html", mixed_report)
    assert [row.text for row in with_class(page, "input-error")] == [
        "broken.yaml | 3 | mapping values are not allowed here",
        "gone.tf | | cannot read: No such file or directory",
    ]


def test_a_finding_without_a_witness_has_no_witness_table(make_finding):
    page = render("html", ReportInput([make_finding()]))
    assert with_class(page, "witness") == []


def test_a_witness_read_only_as_text_is_shown_whole(make_finding):
    finding: Finding = make_finding(witness=Witness(text="some request in words"))
    (table,) = with_class(render("html", ReportInput([finding])), "witness")
    assert table.text.endswith("request | some request in words")
