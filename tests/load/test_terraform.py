"""Terraform HCL loader: expressions, references, modules, policies and their line numbers."""

from __future__ import annotations

from pathlib import Path

import pytest

from kmsguard.load.base import LoadContext, LoadResult
from kmsguard.load.terraform import load_terraform
from kmsguard.load.terraform.evaluate import Evaluator, Namespace, UnknownRoot
from kmsguard.load.terraform.hcl import parse_hcl
from kmsguard.model import IdentityKind, Policy, Template, Unknown
from kmsguard.model.span import Span
from kmsguard.model.values import THIS_ACCOUNT, ResourceRef

DATA = Path(__file__).parent.parent / "data" / "tf"


def load_dir(directory: Path, ctx: LoadContext | None = None) -> LoadResult:
    files = sorted(str(p) for p in directory.glob("*.tf"))
    return load_terraform(str(directory), files, ctx or LoadContext())


def load_text(tmp_path: Path, text: str, ctx: LoadContext | None = None, name: str = "main.tf") -> LoadResult:
    (tmp_path / name).write_text(text)
    return load_dir(tmp_path, ctx)


def line_of(path: Path, needle: str, occurrence: int = 1) -> int:
    """1-based line of the n-th line containing ``needle`` (expected lines come from the input)."""
    seen = 0
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if needle in line:
            seen += 1
            if seen == occurrence:
                return number
    raise AssertionError(f"{needle!r} not in {path}")


def evaluate(expression: str, variables: dict[str, object] | None = None) -> object:
    parsed = parse_hcl(f"x = {expression}\n".encode(), "expr.tf")
    assert parsed.body is not None, parsed.error_message
    values = variables or {}

    def root(name: str, span: Span) -> object:
        if name == "var":
            return Namespace("var", lambda member, s: values.get(member, Unknown(f"var.{member}", s)))
        raise UnknownRoot(name)

    return Evaluator(root).evaluate(parsed.body.attributes[0].expr)


def policy_of(result: LoadResult, address: str) -> Policy:
    key = result.inventory.key_by_address(address)
    assert key is not None, [k.address for k in result.inventory.keys]
    assert isinstance(key.policy, Policy), key.policy
    return key.policy


# -- expressions --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('"a-${"b"}-c"', "a-b-c"),
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("10 / 4", 2.5),
        ("!true || 2 > 1", True),
        ('true && !false ? "yes" : "no"', "yes"),
        ("[1, 2, 3][1]", 2),
        ('{ a = { b = ["x", "y"] } }.a.b[1]', "y"),
        ('[for s in ["a", "b"] : upper(s)]', ["A", "B"]),
        ('[for s in ["a", "b", "c"] : s if s != "b"]', ["a", "c"]),
        ("{ for k, v in { a = 1, b = 2 } : v => k }", {"1": "a", "2": "b"}),
        ('{ for k, v in toset(["y", "x"]) : k => v }', {"x": "x", "y": "y"}),
        ("[{ n = 1 }, { n = 2 }][*].n", [1, 2]),
        ('format("arn:aws:iam::%s:root", "111122223333")', "arn:aws:iam::111122223333:root"),
        ('join(",", ["a", "b"])', "a,b"),
        ('split(",", "a,b")', ["a", "b"]),
        ('concat(["a"], ["b", "c"])', ["a", "b", "c"]),
        ("merge({ a = 1 }, { b = 2, a = 3 })", {"a": 3, "b": 2}),
        ('flatten([["a"], [["b"]], "c"])', ["a", "b", "c"]),
        ('compact(["a", "", null, "b"])', ["a", "b"]),
        ('distinct(["a", "b", "a"])', ["a", "b"]),
        ('lookup({ a = "x" }, "b", "default")', "default"),
        ('element(["a", "b"], 3)', "b"),
        ("length({ a = 1, b = 2 })", 2),
        ('lower("ABC")', "abc"),
        ('replace("a-b-c", "-", "_")', "a_b_c"),
        ('coalesce("", null, "first")', "first"),
        ('try([][0], "fallback")', "fallback"),
        ("can([][0])", False),
        ('contains(["a", "b"], "b")', True),
        ("keys({ b = 1, a = 2 })", ["a", "b"]),
        ("values({ b = 1, a = 2 })", [2, 1]),
        ('zipmap(["a", "b"], [1, 2])', {"a": 1, "b": 2}),
        ('jsondecode("{\\"a\\": [1, true]}")', {"a": [1, True]}),
        ('"tab\\there $${literal}"', "tab\there ${literal}"),
    ],
)
def test_expressions_evaluate_like_terraform(expression: str, expected: object) -> None:
    # source: Terraform language documentation, "Expressions" and "Functions" (one page each).
    assert evaluate(expression) == expected


def test_jsonencode_returns_the_structure_not_a_string() -> None:
    value = evaluate('jsonencode({ Statement = [{ Effect = "Allow" }] })')
    assert isinstance(value, dict)
    assert value["Statement"][0]["Effect"] == "Allow"


def test_unresolved_variable_is_unknown_with_its_reference() -> None:
    value = evaluate("var.account")
    assert isinstance(value, Unknown)
    assert value.ref == "var.account"


def test_interpolating_an_unknown_keeps_the_literal_parts() -> None:
    value = evaluate('"arn:aws:iam::${var.account}:root"')
    assert isinstance(value, Template)
    assert value.parts[0] == "arn:aws:iam::" and value.parts[2] == ":root"
    assert isinstance(value.parts[1], Unknown) and value.parts[1].ref == "var.account"


def test_conditional_with_unknown_condition_is_unknown_unless_branches_agree() -> None:
    assert isinstance(evaluate('var.flag ? "a" : "b"'), Unknown)
    assert evaluate('var.flag ? "same" : "same"') == "same"
    assert evaluate('var.flag ? "a" : "b"', {"flag": False}) == "b"


def test_unknown_function_is_unknown_named_after_it() -> None:
    value = evaluate('sha256("x")')
    assert isinstance(value, Unknown) and value.ref == "sha256(...)"


def test_format_and_join_with_unknown_build_templates() -> None:
    joined = evaluate('join(":", ["arn", var.partition])')
    assert isinstance(joined, Template) and joined.parts[0] == "arn:"
    formatted = evaluate('format("%s-%s", "a", var.b)')
    assert isinstance(formatted, Template) and formatted.parts[0] == "a-"


def test_heredocs_plain_and_indented() -> None:
    parsed = parse_hcl(b"a = <<EOF\n  x\n  ${1 + 1}\nEOF\nb = <<-EOT\n    one\n      two\n    EOT\n", "h.tf")
    assert parsed.body is not None
    evaluator = Evaluator(lambda name, span: (_ for _ in ()).throw(UnknownRoot(name)))
    # source: Terraform language, "Strings and Templates", "Heredoc Strings": <<- removes the
    # common leading indentation; the result ends with a newline.
    assert evaluator.evaluate(parsed.body.attributes[0].expr) == "  x\n  2\n"
    assert evaluator.evaluate(parsed.body.attributes[1].expr) == "one\n  two\n"


def test_template_directives() -> None:
    assert evaluate('"%{ for x in ["a", "b"] }${x};%{ endfor }"') == "a;b;"
    assert evaluate('"%{ if true }yes%{ else }no%{ endif }"') == "yes"


# -- resources, references, count and for_each --------------------------------------------------


def test_basic_module_policies_point_at_their_lines() -> None:
    main = DATA / "basic" / "main.tf"
    result = load_dir(DATA / "basic")
    assert not result.errors
    policy = policy_of(result, "aws_kms_key.this")
    by_sid = {s.sid: s for s in policy.statements}
    # Statements inside jsonencode(...) point at their object's opening line.
    assert by_sid["Root"].span.line == line_of(main, 'Sid       = "Root"') - 1
    assert by_sid["Admins"].span.line == line_of(main, 'Sid       = "Admins"') - 1
    admins = by_sid["Admins"].principals
    assert isinstance(admins, tuple) and admins[0].value == "arn:aws:iam::111122223333:role/admin"
    root = by_sid["Root"].principals[0].value  # type: ignore[index]
    assert isinstance(root, Template) and any(
        isinstance(p, Unknown) and p.ref == THIS_ACCOUNT for p in root.parts
    )


def test_heredoc_json_policy_lines_and_count_addresses() -> None:
    main = DATA / "basic" / "main.tf"
    result = load_dir(DATA / "basic")
    addresses = {k.address for k in result.inventory.keys}
    assert {"aws_kms_key.heredoc[0]", "aws_kms_key.heredoc[1]"} <= addresses
    statement = policy_of(result, "aws_kms_key.heredoc[0]").statements[0]
    assert statement.span.line == line_of(main, '"Statement": [{')
    principal = statement.principals[0].value  # type: ignore[index]
    assert isinstance(principal, Template)
    assert any(isinstance(p, Unknown) and p.ref == "var.account" for p in principal.parts)


def test_policy_document_statements_and_for_each_addresses() -> None:
    main = DATA / "basic" / "main.tf"
    result = load_dir(DATA / "basic")
    addresses = {k.address for k in result.inventory.keys}
    assert {'aws_kms_key.fe["a"]', 'aws_kms_key.fe["b"]'} <= addresses
    key = result.inventory.key_by_address('aws_kms_key.fe["b"]')
    assert key is not None and key.description == "b"
    statement = policy_of(result, 'aws_kms_key.fe["a"]').statements[0]
    assert statement.sid == "A"
    assert statement.span.line == line_of(main, "statement {")
    assert statement.principals[0].value == ResourceRef("aws_iam_role.app", "arn")  # type: ignore[index]
    condition = statement.conditions[0]  # type: ignore[index]
    assert condition.operator == "StringEquals" and condition.values == ("s3.us-east-1.amazonaws.com",)


def test_alias_tags_locals_and_iam_folding() -> None:
    result = load_dir(DATA / "basic")
    key = result.inventory.key_by_address("aws_kms_key.this")
    assert key is not None
    assert key.aliases == ("alias/app-prod",)  # local.name = "app-${var.env}" with the default
    assert key.tags == {"team": "sec", "env": "prod"}
    assert key.rotation_enabled is True
    assert key.rotation_period_days == 365  # KMS Developer Guide, "Rotating AWS KMS keys": default 365 days
    role = next(i for i in result.inventory.identities if i.address == "aws_iam_role.app")
    assert role.kind is IdentityKind.ROLE
    assert len(role.inline_policies) == 1  # aws_iam_role_policy folded in through role = .name
    assert isinstance(role.trust_policy, Policy)
    consumer = result.inventory.consumers[0]
    assert consumer.service == "s3" and consumer.key == ResourceRef("aws_kms_key.this", "arn")


def test_count_zero_gives_no_instance_and_unknown_count_one_star_instance(tmp_path: Path) -> None:
    result = load_text(
        tmp_path,
        'variable "n" {}\n'
        'resource "aws_kms_key" "none" {\n  count = 0\n}\n'
        'resource "aws_kms_key" "some" {\n  count = var.n\n  description = "k-${count.index}"\n}\n',
    )
    addresses = [k.address for k in result.inventory.keys]
    assert addresses == ["aws_kms_key.some[*]"]
    description = result.inventory.keys[0].description
    assert isinstance(description, Template)
    assert any(isinstance(p, Unknown) and p.ref == "count.index" for p in description.parts)


def test_key_without_policy_gets_the_default_key_policy(tmp_path: Path) -> None:
    result = load_text(tmp_path, 'resource "aws_kms_key" "k" {}\n', LoadContext(account="111122223333"))
    key = result.inventory.keys[0]
    # source: AWS KMS Developer Guide, "Default key policy": the account principal gets kms:*.
    assert isinstance(key.policy, Policy)
    statement = key.policy.statements[0]
    assert statement.principals[0].value == "arn:aws:iam::111122223333:root"  # type: ignore[index]
    assert statement.actions == ("kms:*",)
    # source: Terraform registry, aws_kms_key: deletion_window_in_days defaults to 30,
    # enable_key_rotation to false, is_enabled to true.
    assert key.deletion_window_days == 30 and key.rotation_enabled is False and key.enabled is True


def test_wrong_type_is_kms100_at_its_line_and_unknown(tmp_path: Path) -> None:
    result = load_text(
        tmp_path, 'resource "aws_kms_key" "k" {\n  description = "x"\n  enable_key_rotation = [1]\n}\n'
    )
    key = result.inventory.keys[0]
    assert isinstance(key.rotation_enabled, Unknown)
    diagnostic = next(d for d in result.diagnostics if d.rule_id == "KMS100")
    assert diagnostic.span.line == 3


def test_key_policy_resource_replaces_the_key_policy(tmp_path: Path) -> None:
    result = load_text(
        tmp_path,
        'resource "aws_kms_key" "k" {}\n'
        'resource "aws_kms_key_policy" "p" {\n'
        "  key_id = aws_kms_key.k.id\n"
        '  policy = jsonencode({ Version = "2012-10-17", Statement = [{ Sid = "Only", Effect = "Allow",\n'
        '    Principal = { AWS = "arn:aws:iam::111122223333:root" }, Action = "kms:*", Resource = "*" }] })\n'
        "}\n",
    )
    policy = policy_of(result, "aws_kms_key.k")
    assert [s.sid for s in policy.statements] == ["Only"]
    assert not result.inventory.policies


def test_grant_and_consumers(tmp_path: Path) -> None:
    result = load_text(
        tmp_path,
        'resource "aws_kms_key" "k" {}\n'
        'resource "aws_kms_grant" "g" {\n'
        "  key_id            = aws_kms_key.k.key_id\n"
        '  grantee_principal = "arn:aws:iam::111122223333:role/app"\n'
        '  operations        = ["Encrypt", "Decrypt"]\n'
        '  constraints {\n    encryption_context_equals = { tenant = "a" }\n  }\n'
        "}\n"
        'resource "aws_sns_topic" "plain" {}\n'
        'resource "aws_sqs_queue" "q" {\n  kms_master_key_id = aws_kms_key.k.arn\n}\n',
    )
    grant = result.inventory.grants[0]
    assert grant.operations == ("Encrypt", "Decrypt")
    assert grant.constraints is not None and grant.constraints.encryption_context_equals == {"tenant": "a"}
    by_address = {c.address: c for c in result.inventory.consumers}
    # source: Terraform registry, aws_sns_topic: without kms_master_key_id the topic is not encrypted.
    assert by_address["aws_sns_topic.plain"].encrypted is False
    assert by_address["aws_sqs_queue.q"].key == ResourceRef("aws_kms_key.k", "arn")


def test_dynamic_blocks_expand_and_unknown_for_each_stays_unknown(tmp_path: Path) -> None:
    result = load_text(
        tmp_path,
        'variable "extra" {}\n'
        'data "aws_iam_policy_document" "d" {\n'
        '  dynamic "statement" {\n'
        '    for_each = ["kms:Encrypt", "kms:Decrypt"]\n'
        "    content {\n"
        "      actions   = [statement.value]\n"
        '      resources = ["*"]\n'
        '      principals {\n        type = "AWS"\n        identifiers = ["*"]\n      }\n'
        "    }\n"
        "  }\n"
        '  dynamic "statement" {\n'
        "    for_each = var.extra\n"
        "    content {\n"
        '      actions = ["kms:*"]\n'
        "    }\n"
        "  }\n"
        "}\n"
        'resource "aws_kms_key" "k" {\n  policy = data.aws_iam_policy_document.d.json\n}\n',
    )
    policy = policy_of(result, "aws_kms_key.k")
    assert [s.actions for s in policy.statements] == [("kms:Encrypt",), ("kms:Decrypt",)]
    assert len(policy.unresolved) == 1  # the statements of the unknown dynamic block


def test_policy_document_source_and_override_merge_by_sid(tmp_path: Path) -> None:
    # source: Terraform registry, data source "aws_iam_policy_document", arguments
    # source_policy_documents / override_policy_documents: "the order of precedence is
    # override > statement > source"; statements with the same sid replace earlier ones.
    result = load_text(
        tmp_path,
        'data "aws_iam_policy_document" "src" {\n'
        '  statement {\n    sid = "Shared"\n    actions = ["kms:Decrypt"]\n    resources = ["*"]\n  }\n'
        '  statement {\n    sid = "SourceOnly"\n    actions = ["kms:Encrypt"]\n    resources = ["*"]\n  }\n'
        "}\n"
        'data "aws_iam_policy_document" "over" {\n'
        '  statement {\n    sid = "Shared"\n    actions = ["kms:ReEncrypt*"]\n    resources = ["*"]\n  }\n'
        "}\n"
        'data "aws_iam_policy_document" "d" {\n'
        "  source_policy_documents   = [data.aws_iam_policy_document.src.json]\n"
        "  override_policy_documents = [data.aws_iam_policy_document.over.json]\n"
        '  statement {\n    sid = "Shared"\n    actions = ["kms:Sign"]\n    resources = ["*"]\n  }\n'
        "}\n"
        'resource "aws_iam_policy" "p" {\n  name = "p"\n  policy = data.aws_iam_policy_document.d.json\n}\n',
    )
    document = result.inventory.managed_policies[0].document
    assert isinstance(document, Policy)
    assert [(s.sid, s.actions) for s in document.statements] == [
        ("Shared", ("kms:ReEncrypt*",)),
        ("SourceOnly", ("kms:Encrypt",)),
    ]


def test_wildcard_principal_block_renders_star(tmp_path: Path) -> None:
    # source: Terraform registry, "aws_iam_policy_document", principals: type "*" with
    # identifiers ["*"] is rendered as "Principal": "*".
    result = load_text(
        tmp_path,
        'data "aws_iam_policy_document" "d" {\n  statement {\n'
        '    actions = ["kms:*"]\n    resources = ["*"]\n'
        '    principals {\n      type = "*"\n      identifiers = ["*"]\n    }\n  }\n}\n'
        'resource "aws_kms_key" "k" {\n  policy = data.aws_iam_policy_document.d.json\n}\n',
    )
    statement = policy_of(result, "aws_kms_key.k").statements[0]
    assert statement.principals is not None and statement.principals[0].is_wildcard  # type: ignore[union-attr]


# -- modules, tfvars, files, errors, suppressions -------------------------------------------------


def test_local_module_with_variables_tfvars_and_outputs() -> None:
    result = load_dir(DATA / "modules" / "root")
    assert not result.errors
    addresses = sorted(k.address for k in result.inventory.keys)
    assert addresses == ['module.kms["a"].aws_kms_key.this', 'module.kms["b"].aws_kms_key.this']
    key = result.inventory.key_by_address('module.kms["b"].aws_kms_key.this')
    assert key is not None and key.description == "b"
    assert key.span.path.endswith("kms/main.tf")
    # The root variable comes from terraform.tfvars and is passed down as a module argument.
    statement = policy_of(result, 'module.kms["a"].aws_kms_key.this').statements[0]
    assert statement.principals[0].value == "arn:aws:iam::111122223333:role/from-tfvars"  # type: ignore[index]
    topic = result.inventory.consumers[0]
    assert topic.key == ResourceRef('module.kms["a"].aws_kms_key.this', "arn")  # a local module output
    alias = result.inventory.aliases[0]
    assert isinstance(alias.target_key, Unknown) and alias.target_key.ref == "module.remote.key_id"
    assert any(path.endswith("terraform.tfvars") for path in result.sources)


def test_syntax_error_is_an_input_error_and_other_files_load() -> None:
    result = load_dir(DATA / "broken")
    assert [(Path(e.path).name, e.line) for e in result.errors] == [("bad.tf", 4)]
    assert "HCL syntax error" in result.errors[0].message
    assert [k.address for k in result.inventory.keys] == ["aws_kms_key.ok"]


def test_invalid_utf8_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "bad.tf").write_bytes(b'resource "aws_kms_key" "k" {\n  description = "\xff"\n}\n')
    result = load_dir(tmp_path)
    assert len(result.errors) == 1 and result.errors[0].line == 2
    assert "UTF-8" in result.errors[0].message


def test_file_and_templatefile_read_policies_relative_to_the_module(tmp_path: Path) -> None:
    (tmp_path / "policy.json").write_text(
        '{\n  "Version": "2012-10-17",\n  "Statement": [\n    {"Effect": "Allow", "Principal": {"AWS": "*"},'
        ' "Action": "kms:Decrypt", "Resource": "*"}\n  ]\n}\n'
    )
    (tmp_path / "policy.tpl").write_text(
        '{\n  "Version": "2012-10-17",\n  "Statement": [\n'
        '    {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::${account}:root"},\n'
        '     "Action": "kms:*", "Resource": "*"}\n'
        "  ]\n}\n"
    )
    result = load_text(
        tmp_path,
        'resource "aws_kms_key" "f" {\n  policy = file("${path.module}/policy.json")\n}\n'
        'resource "aws_kms_key" "t" {\n'
        '  policy = templatefile("${path.module}/policy.tpl", { account = "111122223333" })\n}\n'
        'resource "aws_kms_key" "outside" {\n  policy = file("/etc/hostname")\n}\n',
    )
    from_file = policy_of(result, "aws_kms_key.f").statements[0]
    assert from_file.span.path.endswith("policy.json") and from_file.span.line == 4
    from_template = policy_of(result, "aws_kms_key.t").statements[0]
    assert from_template.principals[0].value == "arn:aws:iam::111122223333:root"  # type: ignore[index]
    outside = result.inventory.key_by_address("aws_kms_key.outside")
    assert outside is not None and isinstance(outside.policy, Unknown)


def test_suppression_comment_covers_the_resource(tmp_path: Path) -> None:
    result = load_text(
        tmp_path,
        "# kmsguard:ignore[KMS001] shared key reviewed by security\n"
        'resource "aws_kms_key" "k" {\n  description = "x"\n}\n',
    )
    assert len(result.suppressions) == 1
    suppression = result.suppressions[0]
    assert (suppression.first_line, suppression.last_line) == (1, 4)
    assert suppression.rule_ids == ("KMS001",)


def test_reference_cycle_is_unknown_not_a_crash(tmp_path: Path) -> None:
    result = load_text(
        tmp_path,
        "locals {\n  a = local.b\n  b = local.a\n}\n"
        'resource "aws_kms_key" "k" {\n  description = local.a\n}\n',
    )
    assert not result.errors
    assert isinstance(result.inventory.keys[0].description, Unknown)


def test_key_field_spans_point_at_the_terraform_argument(tmp_path: Path) -> None:
    text = (
        'resource "aws_kms_key" "k" {\n'
        '  description             = "x"\n'
        "  enable_key_rotation     = false\n"
        "  deletion_window_in_days = 7\n"
        "  is_enabled              = true\n"
        "}\n"
    )
    (key,) = load_text(tmp_path, text).inventory.keys
    assert key.span_for("rotation_enabled").line == 3
    assert key.span_for("deletion_window_days").line == 4
    assert key.span_for("enabled").line == 5
    # Not written: the resource header.
    assert key.span_for("multi_region").line == 1


def test_unknown_condition_over_lists_keeps_both_branches(tmp_path: Path) -> None:
    text = """\
variable "extra" {
  type = bool
}
resource "aws_kms_key" "k" {
  enable_key_rotation = true
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat([
      {
        Sid = "Admin", Effect = "Allow", Action = "kms:*", Resource = "*",
        Principal = { AWS = "arn:aws:iam::111122223333:root" }
      }
    ], var.extra ? [
      { Sid = "Extra", Effect = "Allow", Principal = "*", Action = "kms:Decrypt", Resource = "*" }
    ] : [])
  })
}
"""
    (key,) = load_text(tmp_path, text).inventory.keys
    assert isinstance(key.policy, Policy)
    assert [s.sid for s in key.policy.statements] == ["Admin", "Extra"]


def test_unknown_scalar_condition_is_named_by_its_condition(tmp_path: Path) -> None:
    text = (
        'variable "rotate" {}\n'
        'resource "aws_kms_key" "k" {\n  enable_key_rotation = var.rotate ? true : false\n}\n'
    )
    (key,) = load_text(tmp_path, text).inventory.keys
    assert isinstance(key.rotation_enabled, Unknown) and key.rotation_enabled.ref == "var.rotate"


def test_consumer_key_span_points_at_the_key_argument(tmp_path: Path) -> None:
    text = (
        'resource "aws_kms_key" "k" {\n  enable_key_rotation = true\n}\n'
        'resource "aws_cloudwatch_log_group" "g" {\n'
        '  name       = "g"\n'
        "  kms_key_id = aws_kms_key.k.arn\n"
        "}\n"
    )
    (consumer,) = load_text(tmp_path, text).inventory.consumers
    assert consumer.attr_spans["key"].line == 6


def test_references_to_resources_declared_elsewhere_keep_their_address(tmp_path: Path) -> None:
    # aws_sqs_queue.q is declared in a file that is not part of this directory: the reference still
    # names the resource (so its type), rather than becoming an anonymous unknown.
    text = (
        'resource "aws_kms_key" "k" {\n  enable_key_rotation = true\n'
        '  policy = jsonencode({ Statement = [{ Effect = "Allow",\n'
        '    Principal = { Service = "sqs.amazonaws.com" },\n'
        '    Action = "kms:Decrypt", Resource = aws_sqs_queue.q.arn }] })\n}\n'
    )
    (key,) = load_text(tmp_path, text).inventory.keys
    (resource,) = key.policy.statements[0].resources
    assert isinstance(resource, ResourceRef) and (resource.address, resource.attribute) == (
        "aws_sqs_queue.q",
        "arn",
    )


def test_an_empty_policy_string_means_the_default_key_policy(tmp_path: Path) -> None:
    # The AWS provider reads "" as "not set" (terraform-plugin-sdk GetOk: zero values are unset), so
    # a module's `policy = var.policy` with default "" gets AWS's default key policy.
    # source: KMS Developer Guide, "Default key policy".
    text = 'variable "policy" {\n  default = ""\n}\nresource "aws_kms_key" "k" {\n  policy = var.policy\n}\n'
    result = load_text(tmp_path, text)
    (key,) = result.inventory.keys
    assert result.diagnostics == []
    assert isinstance(key.policy, Policy) and len(key.policy.statements) == 1
    assert key.policy.statements[0].actions == ("kms:*",)
