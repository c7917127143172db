"""Policy templates (``*.json.tpl`` rendered by Terraform's templatefile()) read on their own."""

from pathlib import Path

from kmsguard.load.base import LoadContext
from kmsguard.load.discover import classify
from kmsguard.load.policy_template import load_policy_template
from kmsguard.model import PolicyKind, Template, Unknown

TEMPLATE = """\
{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "Admin",
      "Effect": "Allow",
      "Principal": {"AWS": "arn:aws:iam::${account_id}:root"},
      "Action": "kms:*",
      "Resource": "*"
    }%{ for role in readers },
    {
      "Sid": "Read",
      "Effect": "Allow",
      "Principal": {"AWS": "${role}"},
      "Action": "kms:Decrypt",
      "Resource": "*"
    }%{ endfor }
  ]
}
"""


def test_classified_by_content():
    assert classify("key-policy.json.tpl", TEMPLATE.encode()) == "policy-template"
    assert classify("user-data.sh.tpl", b"#!/bin/bash\necho ${name}\n") is None


def test_placeholders_become_unknown_values_and_lines_are_kept():
    result = load_policy_template("k.json.tpl", TEMPLATE, LoadContext())
    assert result.errors == []
    (standalone,) = result.inventory.policies
    policy = standalone.document
    # source: Terraform docs, "templatefile function": ${...} interpolations and %{for} directives.
    assert policy.kind is PolicyKind.KEY
    admin = policy.statements[0]
    assert admin.sid == "Admin" and admin.span.line == 4  # the line of its opening brace
    principal = admin.principals[0].value
    assert isinstance(principal, Template)
    assert Unknown("template variable account_id") in list(principal.symbols())


def test_invalid_json_is_kms104_not_a_crash():
    result = load_policy_template("bad.json.tpl", '{"Statement": [{"Sid": "${x}"}', LoadContext())
    assert [d.rule_id for d in result.diagnostics] == ["KMS104"]


def test_template_syntax_error_is_an_input_error(tmp_path: Path):
    result = load_policy_template("bad.json.tpl", '{"Statement": [%{ for x in }]}', LoadContext())
    assert len(result.errors) == 1 and result.errors[0].path == "bad.json.tpl"


def test_unknown_directives_keep_known_statements_and_mark_the_rest_unresolved():
    (standalone,) = load_policy_template("k.json.tpl", TEMPLATE, LoadContext()).inventory.policies
    policy = standalone.document
    assert [s.sid for s in policy.statements] == ["Admin"]
    assert policy.unresolved and "readers" in policy.unresolved[0].ref
