"""Attribute comparisons on values only partly known: a template's literal parts decide what they can."""

from __future__ import annotations

from kmsguard.model import Template, Unknown
from kmsguard.rules_engine.logic import FALSE, TRUE
from kmsguard.rules_engine.runtime import compare


def _template(*parts: str | Unknown) -> Template:
    return Template(tuple(parts))


def test_a_template_with_literal_text_is_never_empty_nor_null() -> None:
    described = _template(Unknown("var.name"), " data key")
    assert compare(described, "in", [None, ""]) == FALSE
    assert compare(described, "equals", "") == FALSE
    assert compare(described, "not_in", [None, ""]) == TRUE


def test_a_template_that_could_be_the_value_stays_unresolved() -> None:
    described = _template(Unknown("var.name"), " data key")
    result = compare(described, "equals", "billing data key")
    assert result.is_unresolved
    assert "var.name" in " ".join(result.depends_on)


def test_literal_parts_must_appear_in_order_and_at_the_ends() -> None:
    arn = _template("arn:aws:kms:", Unknown("var.region"), ":111122223333:key/abc")
    assert compare(arn, "equals", "arn:aws:kms:eu-west-1:111122223333:key/abc").is_unresolved
    assert compare(arn, "equals", "arn:aws:kms:eu-west-1:444455556666:key/abc") == FALSE
    assert compare(arn, "not_equals", "xarn:aws:kms:eu-west-1:111122223333:key/abc") == TRUE


def test_a_template_of_symbols_only_can_be_anything() -> None:
    assert compare(_template(Unknown("var.a"), Unknown("var.b")), "in", [None, ""]).is_unresolved
