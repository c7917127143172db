"""Wildcard, ARN and policy-variable matching (kmsguard.authz.conditions)."""

from __future__ import annotations

import pytest

from kmsguard.authz.conditions import arn_like, string_like, substitute_variables

# --- StringLike wildcards --------------------------------------------------------------------
# source: IAM User Guide, "IAM JSON policy elements: Condition operators", "String condition
# operators": StringLike is "Case-sensitive matching. The values can include multi-character match
# wildcards (*) and single-character match wildcards (?) anywhere in the string. You must specify
# wildcards to achieve partial string matches."


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("home/*", "home/alice/notes.txt", True),  # * spans several characters, '/' included
        ("home/*", "home/", True),  # * also matches nothing
        ("home/*", "home", False),  # the literal part must be there
        ("*", "", True),
        ("*", "anything at all", True),
        ("file-?.txt", "file-1.txt", True),  # ? is exactly one character
        ("file-?.txt", "file-.txt", False),
        ("file-?.txt", "file-12.txt", False),
        ("a*b*c", "a-x-b-y-c", True),
        ("a*b*c", "a-x-c-y-b", False),
        ("exact", "exact", True),
        ("exact", "exactly", False),  # no partial match without a wildcard
        ("exact", "Exact", False),  # case-sensitive
        ("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket/a:b", True),  # StringLike ignores ARN parts
        ("a.c", "abc", False),  # '.' is literal, not a regex
        ("a+", "aa", False),  # regex metacharacters are literal
        ("(x)[y]", "(x)[y]", True),
        ("line*", "line1\nline2", True),  # * also spans a newline
    ],
)
def test_string_like(pattern: str, value: str, expected: bool) -> None:
    assert string_like(pattern, value) is expected


def test_string_like_ignore_case_option() -> None:
    # source: IAM User Guide, "Condition operators": StringEqualsIgnoreCase is "Exact matching,
    # ignoring case"; the ignore_case option of string_like serves that family.
    assert string_like("Alice*", "alice-admin", ignore_case=True)
    assert not string_like("Alice*", "alice-admin")


# --- ArnLike: per ARN component ----------------------------------------------------------------
# source: IAM User Guide, "Condition operators", "Amazon Resource Name (ARN) condition operators":
# "Each of the six colon-delimited components of the ARN is checked separately and each can include
# multi-character match wildcards (*) or single-character match wildcards (?)", with the example
# pattern arn:aws:someservice:*:111122223333:finance/* that StringLike matches but ArnLike does not.

DOC_PATTERN = "arn:aws:someservice:*:111122223333:finance/*"
DOC_VALUE = "arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt"


def test_arn_like_documented_example_fails_where_string_like_succeeds() -> None:
    assert string_like(DOC_PATTERN, DOC_VALUE)
    assert not arn_like(DOC_PATTERN, DOC_VALUE)


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("arn:aws:iam::*:role/app-*", "arn:aws:iam::111122223333:role/app-web", True),
        ("arn:aws:iam::*:role/app-*", "arn:aws:iam::111122223333:role/other", False),
        # * in the account component cannot swallow the resource's colons or slashes elsewhere
        ("arn:aws:iam::*:root", "arn:aws:iam::111122223333:root", True),
        ("arn:aws:iam::*", "arn:aws:iam::111122223333:root", False),  # five components only
        ("arn:aws:iam::111122223333:*", "arn:aws:iam::111122223333:user/a/b", True),
        ("arn:aws:iam::111122223333:*", "arn:aws:iam::444455556666:user/a", False),
        ("arn:*:iam::111122223333:root", "arn:aws-us-gov:iam::111122223333:root", True),
        ("arn:aws:kms:us-east-?:*:key/*", "arn:aws:kms:us-east-1:1:key/abc", True),
        ("arn:aws:kms:us-east-?:*:key/*", "arn:aws:kms:us-west-1:1:key/abc", False),
        # the sixth component (the resource) keeps its own colons
        ("arn:aws:logs:*:*:log-group:/app/*", "arn:aws:logs:us-east-1:1:log-group:/app/x:*", True),
        ("arn:aws:iam::*:role/App", "arn:aws:iam::1:role/app", False),  # case-sensitive
        ("arn:aws:iam::*:role/app", "not-an-arn", False),
        ("*", "arn:aws:iam::1:role/app", False),  # not six components: matches no ARN (assumption)
        ("arn:aws:sts::1:assumed-role/r/*", "arn:aws:sts::1:assumed-role/r/session-1", True),
    ],
)
def test_arn_like(pattern: str, value: str, expected: bool) -> None:
    assert arn_like(pattern, value) is expected


def test_arn_like_region_wildcard_does_not_cross_a_colon() -> None:
    # source: as above -- "The first asterisk matches only us-east-2": one component, no colon.
    assert not arn_like("arn:aws:kms:*:key/k", "arn:aws:kms:us-east-1:111122223333:key/k")


# --- Policy variables ----------------------------------------------------------------------------
# source: IAM User Guide, "IAM policy elements: Variables and tags": "${aws:username}" is replaced by
# the request's value; "Specifying default values" (", 'default'"); "Special characters": ${*},
# ${?}, ${$}; "Policy variables with no value"; key names are case-insensitive; multivalued keys
# cannot be variables.

CTX = {
    "aws:username": "alice",
    "aws:principaltag/team": "blue",
    "aws:userid": "AIDAEXAMPLE",
    "aws:principalorgpaths": ("o-a/r-b/ou-c/",),
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("home/${aws:username}/", "home/alice/"),
        ("${aws:PrincipalTag/team}", "blue"),
        ("${AWS:USERNAME}", "alice"),  # key names are case-insensitive
        ("${aws:userid}", "AIDAEXAMPLE"),
        ("bucket-${aws:PrincipalTag/team, 'company-wide'}", "bucket-blue"),
        ("bucket-${aws:PrincipalTag/dept, 'company-wide'}", "bucket-company-wide"),
        ("${*}", "*"),
        ("${?}", "?"),
        ("${$}", "$"),
        ("price${$}{x}", "price${x}"),
        ("a${*}b${?}", "a*b?"),
        ("no variables", "no variables"),
        ("$notavariable", "$notavariable"),
        ("${unterminated", "${unterminated"),
        ("${aws:principalorgpaths, 'none'}", "none"),  # a multivalued key cannot be a variable
    ],
)
def test_substitute_variables(text: str, expected: str) -> None:
    assert substitute_variables(text, CTX) == expected


@pytest.mark.parametrize(
    "text",
    [
        "${aws:PrincipalTag/dept}",  # missing, no default
        "home/${aws:SourceIdentity}/",
        "${aws:principalorgpaths}",  # multivalued: "You can't use a multivalued condition key"
    ],
)
def test_variable_without_value_gives_none(text: str) -> None:
    # source: "Policy variables with no value": "the value is effectively null".
    assert substitute_variables(text, CTX) is None
