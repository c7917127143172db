from kmsguard.findings import Suppression
from kmsguard.load.suppress import comment_suppressions
from kmsguard.model import Span

TF = """\
# kmsguard:ignore[KMS001] retired next quarter
resource "aws_kms_key" "a" {
  description = "a"
}

resource "aws_kms_key" "b" {
  description = "b" # kmsguard:ignore[KMS002,kms003] partner needs it
  is_enabled  = true
}
# kmsguard:ignore[KMS001]
resource "aws_kms_key" "c" {}
"""


def test_comment_above_a_resource_covers_the_whole_resource():
    sups, _ = comment_suppressions("main.tf", TF, [(2, 4), (6, 9), (11, 11)])
    first = sups[0]
    assert first.rule_ids == ("KMS001",)
    assert first.reason == "retired next quarter"
    assert first.covers("KMS001", Span("main.tf", 4))
    assert not first.covers("KMS002", Span("main.tf", 3))
    assert not first.covers("KMS001", Span("main.tf", 6))
    assert not first.covers("KMS001", Span("other.tf", 3))


def test_trailing_comment_covers_its_line_and_the_next_and_normalises_ids():
    sups, _ = comment_suppressions("main.tf", TF, [(2, 4), (6, 9), (11, 11)])
    trailing = sups[1]
    assert trailing.rule_ids == ("KMS002", "KMS003")
    assert trailing.covers("KMS003", Span("main.tf", 7))
    assert trailing.covers("KMS003", Span("main.tf", 8))
    assert not trailing.covers("KMS003", Span("main.tf", 9))


def test_suppression_without_reason_is_a_finding_and_suppresses_nothing():
    sups, diags = comment_suppressions("main.tf", TF, [(2, 4), (6, 9), (11, 11)])
    assert len(sups) == 2
    assert [(d.rule_id, d.span.line) for d in diags] == [("KMS900", 10)]


def test_unknown_rule_id_is_reported():
    _, diags = comment_suppressions("t.yaml", "# kmsguard:ignore[KMS1] because\n", [])
    assert diags and "unknown rule id" in diags[0].message


def test_blanket_suppression_covers_every_rule():
    sup = Suppression("f", 1, (), "reason", 1, 3)
    assert sup.covers("KMS002", Span("f", 2))
