"""The CloudFormation decoder: short-form tags, positions, and clean errors on bad input."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from kmsguard.load.cfn_yaml import MAX_EXPANDED_NODES, TemplateDecodeError, decode_template
from kmsguard.model import LDict, LList, LStr, to_plain


def decode(text: str) -> LDict:
    return decode_template("t.yaml", textwrap.dedent(text))


# source: AWS CloudFormation User Guide, "Intrinsic function reference" -- each function's page
# gives the full form ("Fn::Name": ...) and the short form ("!Name ..."); "Ref" and "Condition"
# keep their bare names.
SHORT_FORMS = [
    ("!Ref MyBucket", {"Ref": "MyBucket"}),
    ("!Sub 'arn:${AWS::Partition}:s3:::x'", {"Fn::Sub": "arn:${AWS::Partition}:s3:::x"}),
    ("!Sub ['${A}-b', {A: x}]", {"Fn::Sub": ["${A}-b", {"A": "x"}]}),
    ("!GetAtt Role.Arn", {"Fn::GetAtt": ["Role", "Arn"]}),
    ("!GetAtt [Role, Arn]", {"Fn::GetAtt": ["Role", "Arn"]}),
    # "Fn::GetAtt": attribute names may contain dots; only the first dot splits the short form.
    ("!GetAtt Db.Endpoint.Address", {"Fn::GetAtt": ["Db", "Endpoint.Address"]}),
    ("!Join [':', [a, b]]", {"Fn::Join": [":", ["a", "b"]]}),
    ("!If [IsProd, a, b]", {"Fn::If": ["IsProd", "a", "b"]}),
    ("!Select [0, [a, b]]", {"Fn::Select": [0, ["a", "b"]]}),
    ("!Split [',', 'a,b']", {"Fn::Split": [",", "a,b"]}),
    ("!ImportValue SharedKeyArn", {"Fn::ImportValue": "SharedKeyArn"}),
    ("!FindInMap [M, k1, k2]", {"Fn::FindInMap": ["M", "k1", "k2"]}),
    ("!Base64 hello", {"Fn::Base64": "hello"}),
    ("!Cidr [10.0.0.0/16, 4, 8]", {"Fn::Cidr": ["10.0.0.0/16", 4, 8]}),
    ("!GetAZs ''", {"Fn::GetAZs": ""}),
    ("!Equals [a, b]", {"Fn::Equals": ["a", "b"]}),
    ("!And [!Condition A, !Condition B]", {"Fn::And": [{"Condition": "A"}, {"Condition": "B"}]}),
    ("!Or [!Condition A, !Condition B]", {"Fn::Or": [{"Condition": "A"}, {"Condition": "B"}]}),
    ("!Not [!Condition A]", {"Fn::Not": [{"Condition": "A"}]}),
    ("!Condition IsProd", {"Condition": "IsProd"}),
    (
        "!Transform {Name: AWS::Include, Parameters: {Location: s3://b/k}}",
        {"Fn::Transform": {"Name": "AWS::Include", "Parameters": {"Location": "s3://b/k"}}},
    ),
    ("!Length [a, b]", {"Fn::Length": ["a", "b"]}),
    ("!ToJsonString {a: b}", {"Fn::ToJsonString": {"a": "b"}}),
    ("!ForEach [Id, [a, b], {Out: v}]", {"Fn::ForEach": ["Id", ["a", "b"], {"Out": "v"}]}),
]


@pytest.mark.parametrize(("short", "long"), SHORT_FORMS, ids=[s for s, _ in SHORT_FORMS])
def test_short_form_becomes_long_form(short: str, long: dict) -> None:
    assert to_plain(decode(f"Value: {short}\n")["Value"]) == long


def test_tagged_scalar_stays_the_text_written() -> None:
    # A short-form tag on a scalar takes the scalar's text: "!Ref 123" names "123", not a number.
    assert to_plain(decode("A: !Ref 123\nB: !Sub true\n")) == {"A": {"Ref": "123"}, "B": {"Fn::Sub": "true"}}


def test_nested_short_forms() -> None:
    value = decode("V: !Join ['', [!Ref AWS::Partition, !GetAtt K.Arn]]\n")["V"]
    assert to_plain(value) == {"Fn::Join": ["", [{"Ref": "AWS::Partition"}, {"Fn::GetAtt": ["K", "Arn"]}]]}


def test_positions_of_a_statement_inside_a_key_policy() -> None:
    template = decode(
        """\
        Resources:
          Key:
            Type: AWS::KMS::Key
            Properties:
              KeyPolicy:
                Statement:
                  - Sid: Root
                    Effect: Allow
                  - Sid: Users
                    Effect: Allow
                    Principal: {AWS: !GetAtt Role.Arn}
        """
    )
    statements = template["Resources"]["Key"]["Properties"]["KeyPolicy"]["Statement"]
    assert isinstance(statements, LList)
    assert (statements[0].span.line, statements[0].span.col) == (7, 13)  # at "Sid", after "- "
    assert statements[1].span.line == 9
    assert statements[1].key_spans["Principal"].line == 11
    assert statements[1]["Sid"].span.line == 9 and isinstance(statements[1]["Sid"], LStr)
    assert template["Resources"].key_spans["Key"].line == 2
    assert statements[1]["Principal"]["AWS"].span.line == 11


def test_every_string_mapping_and_list_carries_the_path() -> None:
    template = decode("A: [x]\n")
    assert template.span.path == "t.yaml" and template["A"].span.path == "t.yaml"
    assert template["A"][0].span.path == "t.yaml"


def test_unquoted_date_stays_the_text_written() -> None:
    # CloudFormation User Guide, "Format version": the only valid value is the string 2010-09-09,
    # and templates write it unquoted; YAML 1.1 would otherwise read a date.
    template = decode("AWSTemplateFormatVersion: 2010-09-09\nWhen: 2001-12-14t21:59:43.10-05:00\n")
    assert template["AWSTemplateFormatVersion"] == "2010-09-09"
    assert isinstance(template["AWSTemplateFormatVersion"], str)
    assert template["When"] == "2001-12-14t21:59:43.10-05:00"


def test_yaml_scalars_keep_their_yaml_types() -> None:
    # Same reading as cfn-lint (PyYAML's YAML 1.1 resolvers): booleans, ints, floats, null.
    assert to_plain(decode("A: true\nB: 30\nC: 1.5\nD: ~\nE: '30'\n")) == {
        "A": True,
        "B": 30,
        "C": 1.5,
        "D": None,
        "E": "30",
    }


def test_merge_keys_are_resolved_and_explicit_keys_win() -> None:
    template = decode("Base: &b {A: 1, B: 2}\nUse:\n  <<: *b\n  B: 3\n")
    assert to_plain(template["Use"]) == {"A": 1, "B": 3}


def test_duplicate_key_is_an_error_with_the_line() -> None:
    # CloudFormation rejects a template that repeats a key in one mapping.
    with pytest.raises(TemplateDecodeError) as caught:
        decode("Resources:\n  A: {Type: X}\n  A: {Type: Y}\n")
    assert caught.value.line == 3
    assert 'duplicate key "A"' in caught.value.message and "line 2" in caught.value.message


def test_duplicate_key_in_json_is_an_error() -> None:
    with pytest.raises(TemplateDecodeError) as caught:
        decode_template("t.json", '{\n "A": 1,\n "A": 2\n}')
    assert caught.value.line == 3


def test_alias_bomb_is_rejected_quickly() -> None:
    # "Billion laughs": nine levels of nine aliases would expand to 9**9 nodes.
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 10):
        refs = ", ".join([f"*a{level - 1}"] * 9)
        lines.append(f"a{level}: &a{level} [{refs}]")
    with pytest.raises(TemplateDecodeError) as caught:
        decode_template("bomb.yaml", "\n".join(lines) + "\n")
    assert f"more than {MAX_EXPANDED_NODES} nodes" in caught.value.message


def test_small_aliases_are_expanded() -> None:
    template = decode("A: &tags [{Key: k, Value: v}]\nB: *tags\n")
    assert to_plain(template["B"]) == [{"Key": "k", "Value": "v"}]


def test_recursive_alias_is_an_error() -> None:
    with pytest.raises(TemplateDecodeError) as caught:
        decode("x: &x\n  - *x\n")
    assert "recursive" in caught.value.message


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("Resources:\n  A: [\n", 3),  # unclosed flow sequence: the error is at end of input
        ("A: b\n  c: d\n", 2),  # mapping value where none is allowed
        ("A: 'unterminated\n", 2),
        ("A: b\n---\nC: d\n", 2),  # two documents
    ],
)
def test_malformed_yaml_gives_its_line(text: str, line: int) -> None:
    with pytest.raises(TemplateDecodeError) as caught:
        decode_template("bad.yaml", text)
    assert caught.value.line == line
    assert "\n" not in caught.value.message and caught.value.message.startswith("invalid YAML")


def test_unsafe_tags_are_refused() -> None:
    with pytest.raises(TemplateDecodeError):
        decode("A: !!python/object/apply:os.system ['true']\n")


@pytest.mark.parametrize("text", ["", "\n", "# only a comment\n"])
def test_empty_file_is_an_empty_template(text: str) -> None:
    template = decode_template("empty.yaml", text)
    assert isinstance(template, LDict) and template == {}


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a string\n", "[1, 2]"])
def test_template_must_be_a_mapping(text: str) -> None:
    with pytest.raises(TemplateDecodeError) as caught:
        decode_template("t.yaml", text)
    assert "must be a mapping" in caught.value.message


def test_json_template_keeps_positions() -> None:
    text = '{\n  "Resources": {\n    "Key": {\n      "Type": "AWS::KMS::Key"\n    }\n  }\n}\n'
    template = decode_template("t.json", text)
    assert template["Resources"]["Key"]["Type"].span.line == 4
    assert template["Resources"].key_spans["Key"].line == 3


def test_json_with_tabs_is_read_as_json() -> None:
    # Tabs are valid JSON whitespace but cannot start a YAML token.
    template = decode_template("t.json", '{\n\t"A": {\n\t\t"Ref": "B"\n\t}\n}')
    assert to_plain(template) == {"A": {"Ref": "B"}}


def test_yaml_flow_mapping_that_is_not_json_still_decodes() -> None:
    assert to_plain(decode_template("t.yaml", "{A: !Ref B}")) == {"A": {"Ref": "B"}}


def test_invalid_json_reports_the_json_error() -> None:
    # Neither JSON nor YAML: the JSON error is the one that helps.
    with pytest.raises(TemplateDecodeError) as caught:
        decode_template("t.json", '{\n  "A": 1,\n  "B": [\n}')
    assert caught.value.line == 4 and "invalid JSON" in caught.value.message


def test_json_that_only_yaml_accepts_decodes_like_cfn_lint() -> None:
    # cfn-lint reads templates as YAML first; a missing value is a YAML null, not an error.
    assert to_plain(decode_template("t.json", '{\n  "A": 1,\n  "B": \n}')) == {"A": 1, "B": None}


def test_decoder_does_not_import_cfn_lint() -> None:
    # DESIGN.md: importing cfnlint.decode costs ~2 s; the hook path must not pay it.
    code = (
        "import sys; from kmsguard.load.cfn_yaml import decode_template; "
        "decode_template('t.yaml', 'A: !Ref B\\n'); print(any(m.startswith('cfnlint') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
