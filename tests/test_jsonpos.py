import pytest

from kmsguard.load.jsonpos import MAX_DEPTH, JSONPosError, loads_with_positions
from kmsguard.model import LDict, LList, LStr


def test_positions_of_objects_keys_and_strings():
    text = '{\n  "Statement": [\n    {"Sid": "A"}\n  ]\n}'
    value, dups = loads_with_positions(text, "p.json")
    assert dups == []
    assert isinstance(value, LDict) and value.span.line == 1
    stmts = value["Statement"]
    assert isinstance(stmts, LList) and stmts.span.line == 2 and stmts.span.col == 16
    assert stmts[0].span.line == 3 and stmts[0].span.col == 5
    sid = stmts[0]["Sid"]
    assert isinstance(sid, LStr) and (sid.span.line, sid.span.col) == (3, 13)
    assert value.key_spans["Statement"].line == 2


def test_offsets_shift_positions_into_the_enclosing_file():
    value, _ = loads_with_positions('{"a": "b"}', "main.tf", line_offset=9, col_offset=4)
    assert value["a"].span.line == 10
    assert value["a"].span.col == 7 + 4


def test_values_equal_plain_json():
    import json

    text = '{"a": [1, 2.5, true, false, null, "x\\u00e9\\n"], "b": {"c": -3e2}}'
    value, _ = loads_with_positions(text, "x")
    assert value == json.loads(text)


def test_duplicate_keys_are_reported():
    _, dups = loads_with_positions('{"a": 1,\n "a": 2}', "x")
    assert [(d.key, d.span.line) for d in dups] == [("a", 2)]


@pytest.mark.parametrize(
    ("text", "line", "col"),
    [
        ('{"a": }', 1, 7),
        ('{"a": 1,,}', 1, 9),
        ("[1, 2", 1, 6),
        ('{"a"\n 1}', 2, 2),
        ('"abc', 1, 1),
        ("{} x", 1, 4),
    ],
)
def test_syntax_errors_carry_line_and_column(text, line, col):
    with pytest.raises(JSONPosError) as info:
        loads_with_positions(text, "x")
    assert (info.value.line, info.value.col) == (line, col)


def test_deep_nesting_is_a_clean_error_not_a_recursion_crash():
    with pytest.raises(JSONPosError, match="nesting deeper"):
        loads_with_positions("[" * 100_000 + "]" * 100_000, "x")
    value, _ = loads_with_positions("[" * MAX_DEPTH + "]" * MAX_DEPTH, "x")
    assert isinstance(value, list)
