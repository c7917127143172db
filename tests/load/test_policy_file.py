"""The policy-file loader: wrappers, kind heuristic, the Key a key policy file stands for, errors."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

import pytest

from kmsguard.load.base import LoadContext, LoadResult
from kmsguard.load.policy_file import classify_document, load_policy_file
from kmsguard.model import PolicyKind, PrincipalType, Source
from tests.shared_paths import REALWORLD

DATA = Path(__file__).resolve().parent.parent / "data" / "policy"
REALWORLD = REALWORLD


def load(name: str, ctx: LoadContext | None = None) -> LoadResult:
    path = DATA / name
    return load_policy_file(str(path), path.read_text(), ctx or LoadContext())


def line_of(path: Path, needle: str, occurrence: int = 1) -> int:
    """1-based line of the n-th line containing ``needle`` (computed from the file, not the loader)."""
    hits = [i + 1 for i, line in enumerate(path.read_text().splitlines()) if needle in line]
    return hits[occurrence - 1]


# -- bare documents --------------------------------------------------------------------------


def test_key_policy_file_yields_a_key_policy_and_no_invented_key() -> None:
    result = load("key_policy.json")
    path = str(DATA / "key_policy.json")
    assert result.errors == [] and result.diagnostics == []
    assert result.sources == {path: (DATA / "key_policy.json").read_text()}
    (standalone,) = result.inventory.policies
    assert standalone.address == path
    assert standalone.source is Source.POLICY_FILE
    assert standalone.document.kind is PolicyKind.KEY
    assert [s.sid for s in standalone.document.statements] == ["Enable IAM User Permissions", "AllowUseByApp"]
    # A policy file says nothing of rotation, spec or state: no Key is invented for it.
    assert result.inventory.keys == ()


def test_statement_spans_are_the_lines_in_the_file() -> None:
    path = DATA / "key_policy.json"
    policy = load("key_policy.json").inventory.policies[0].document
    # A statement's span starts at its opening brace: the line before its "Sid".
    assert [s.span.line for s in policy.statements] == [
        line_of(path, '"Sid": "Enable IAM') - 1,
        line_of(path, '"Sid": "AllowUseByApp"') - 1,
    ]
    assert policy.statements[1].conditions[0].span.line == line_of(path, "kms:ViaService")


def test_identity_policy_file_has_no_key() -> None:
    result = load("identity_policy.json")
    assert result.inventory.keys == ()
    assert result.inventory.policies[0].document.kind is PolicyKind.IDENTITY
    assert result.diagnostics == []


def test_trust_policy_file_is_a_trust_policy_and_needs_no_resource() -> None:
    # source: IAM User Guide, "IAM JSON policy elements: Resource" -- role trust policies do not
    # specify Resource; the builder must not ask for one on a trust policy.
    result = load("trust_policy.json")
    document = result.inventory.policies[0].document
    assert document.kind is PolicyKind.TRUST
    assert result.diagnostics == []
    assert document.statements[1].principals[0].type is PrincipalType.FEDERATED


def test_s3_bucket_policy_is_unknown_kind_without_key() -> None:
    result = load("s3_bucket_policy.json")
    assert result.inventory.policies[0].document.kind is PolicyKind.UNKNOWN
    assert result.inventory.keys == ()
    assert result.diagnostics == []


# -- wrappers ---------------------------------------------------------------------------------


def test_get_key_policy_output_is_a_key_policy_on_the_string_line() -> None:
    # source: AWS CLI Command Reference, "kms get-key-policy": output {"Policy": "...",
    # "PolicyName": "default"}; the key policy name is always "default" (KMS API Reference,
    # "GetKeyPolicy", PolicyName).
    path = DATA / "get_key_policy.json"
    result = load("get_key_policy.json")
    assert result.errors == [] and result.diagnostics == []
    (standalone,) = result.inventory.policies
    assert standalone.address == f"{path}#Policy"
    assert standalone.document.kind is PolicyKind.KEY
    (statement,) = standalone.document.statements
    assert statement.principals[0].value == "arn:aws:iam::111122223333:root"
    # The whole document is one JSON string on one line: spans must point there, not past EOF.
    assert statement.span.line == line_of(path, '"Policy"')
    assert result.inventory.keys == ()


def test_policy_wrapper_without_policy_name_is_classified_by_content() -> None:
    # `aws s3api get-bucket-policy` also answers {"Policy": "..."}: no PolicyName, so no key hint.
    bucket = json.loads((DATA / "s3_bucket_policy.json").read_text())
    text = json.dumps({"Policy": json.dumps(bucket)})
    result = load_policy_file("bucket.json", text, LoadContext())
    assert result.inventory.policies[0].document.kind is PolicyKind.UNKNOWN
    assert result.inventory.keys == ()


def test_cfn_key_policy_wrapper_is_key_and_checks_principal() -> None:
    # source: KMS Developer Guide, "Elements in a key policy": Principal is required in every
    # key policy statement. source: IAM User Guide, "AWS JSON policy elements: Principal"
    # (AWS account principals): a bare account id means the account root.
    path = DATA / "cfn_key_policy_wrapper.json"
    result = load("cfn_key_policy_wrapper.json")
    policy = result.inventory.policies[0].document
    assert result.inventory.policies[0].address == f"{path}#KeyPolicy"
    assert policy.kind is PolicyKind.KEY
    assert policy.statements[0].principals[0].value == "arn:aws:iam::111122223333:root"
    (diag,) = result.diagnostics
    assert "Principal" in diag.message
    assert diag.span.line == line_of(path, '"Sid": "NoPrincipal"') - 1
    assert diag.resource == f"{path}#KeyPolicy"


def test_get_policy_version_is_identity_policy() -> None:
    # source: IAM API Reference, "GetPolicyVersion": PolicyVersion.Document is the managed
    # policy's document; managed policies are identity-based policies.
    result = load("get_policy_version.json")
    (standalone,) = result.inventory.policies
    assert standalone.address.endswith("#PolicyVersion.Document")
    assert standalone.document.kind is PolicyKind.IDENTITY
    assert standalone.document.statements[0].actions == ("kms:Decrypt",)


def test_get_policy_version_url_encoded_document_is_decoded() -> None:
    # source: IAM API Reference, "GetPolicyVersion": "The policy document returned in this
    # structure is URL-encoded compliant with RFC 3986".
    document = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Action": "kms:*", "Resource": "*"}],
    }
    text = json.dumps({"PolicyVersion": {"Document": quote(json.dumps(document)), "VersionId": "v1"}})
    result = load_policy_file("raw.json", text, LoadContext())
    assert result.diagnostics == []
    assert result.inventory.policies[0].document.statements[0].effect == "Deny"


def test_policy_document_wrapper_with_string_document() -> None:
    inner = {
        "Version": "2012-10-17",
        "Statement": {"Effect": "Allow", "Action": "kms:Encrypt", "Resource": "*"},
    }
    text = json.dumps({"RoleName": "app", "PolicyName": "p", "PolicyDocument": json.dumps(inner)})
    result = load_policy_file("role-policy.json", text, LoadContext())
    (standalone,) = result.inventory.policies
    assert standalone.address == "role-policy.json#PolicyDocument"
    assert standalone.document.kind is PolicyKind.IDENTITY


# -- errors -----------------------------------------------------------------------------------


def test_syntax_error_is_one_input_error_at_its_line() -> None:
    path = DATA / "broken.json"
    result = load("broken.json")
    (error,) = result.errors
    assert error.path == str(path)
    assert error.line == line_of(path, '"Resource": "*"')
    assert "invalid JSON" in error.message and "\n" not in error.message
    assert result.inventory.policies == ()


@pytest.mark.parametrize("text", ["[]", '"a string"', '{"Hello": 1}'])
def test_json_that_is_not_a_policy_is_an_input_error(text: str) -> None:
    result = load_policy_file("x.json", text, LoadContext())
    (error,) = result.errors
    assert "not a policy document" in error.message
    assert result.inventory.policies == () and result.inventory.keys == ()


def test_empty_file_is_an_input_error() -> None:
    result = load_policy_file("empty.json", "", LoadContext())
    assert len(result.errors) == 1 and result.errors[0].path == "empty.json"


def test_policy_string_that_is_not_json_is_a_diagnostic_not_a_crash() -> None:
    result = load_policy_file(
        "x.json", json.dumps({"Policy": "{not json", "PolicyName": "default"}), LoadContext()
    )
    assert result.errors == []
    assert [d.rule_id for d in result.diagnostics] == ["KMS104"]
    assert result.inventory.policies == ()


def test_duplicate_keys_are_reported_at_the_second_key() -> None:
    # source: IAM User Guide, "Grammar of the IAM JSON policy language" -- each element name
    # appears once in an object; decoders that keep the last value would hide the first.
    text = (
        '{\n "Version": "2012-10-17",\n "Statement": [{"Effect": "Allow",\n'
        ' "Effect": "Deny", "Action": "kms:*", "Resource": "*"}]\n}'
    )
    result = load_policy_file("dup.json", text, LoadContext())
    dups = [d for d in result.diagnostics if "duplicate key" in d.message]
    assert len(dups) == 1 and dups[0].span.line == 4


def test_partition_from_context_is_used_for_account_principals() -> None:
    # source: IAM User Guide, "AWS JSON policy elements: Principal" (AWS account principals);
    # ARNs in the China Regions use the aws-cn partition (AWS General Reference, "Amazon Resource
    # Names (ARNs)").
    result = load("cfn_key_policy_wrapper.json", LoadContext(partition="aws-cn"))
    principal = result.inventory.policies[0].document.statements[0].principals[0]
    assert principal.value == "arn:aws-cn:iam::111122223333:root"


def test_oversized_bare_key_policy_counts_the_file_bytes() -> None:
    # source: KMS Developer Guide, "Key policy format": up to 32 kilobytes (32,768 bytes).
    statement = json.dumps(
        {
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
            "Action": "kms:*",
            "Resource": "*",
        }
    )
    body = '{"Version": "2012-10-17", "Statement": [' + statement + "]}"
    padded = body + " " * (32_768 - len(body) + 1)
    assert len(padded.encode()) == 32_769
    result = load_policy_file("big.json", padded, LoadContext())
    assert [d.rule_id for d in result.diagnostics] == ["KMS102"]
    exact = body + " " * (32_768 - len(body))
    assert load_policy_file("ok.json", exact, LoadContext()).diagnostics == []


# -- the kind heuristic -------------------------------------------------------------------------


def _doc(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


@pytest.mark.parametrize(
    ("document", "kind"),
    [
        (_doc({"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}), PolicyKind.IDENTITY),
        (
            _doc({"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*"}),
            PolicyKind.KEY,
        ),
        (
            _doc({"Effect": "Allow", "Principal": "*", "NotAction": "kms:Decrypt", "Resource": "*"}),
            PolicyKind.KEY,
        ),
        (
            _doc({"Effect": "Allow", "Principal": {"AWS": "1"}, "Action": ["kms:*", "*"], "Resource": "*"}),
            PolicyKind.KEY,
        ),
        # "*" alone is not evidence of a key policy.
        (_doc({"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}), PolicyKind.UNKNOWN),
        # A KMS action on a specific ARN is not how key policies name their key.
        (
            _doc(
                {
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": "kms:Decrypt",
                    "Resource": "arn:aws:kms:::key/1",
                }
            ),
            PolicyKind.UNKNOWN,
        ),
        (
            _doc({"Effect": "Allow", "Principal": {"Service": "x"}, "Action": "sts:AssumeRole"}),
            PolicyKind.TRUST,
        ),
        (
            _doc(
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": "1"},
                    "Action": ["STS:AssumeRoleWithSAML", "sts:TagSession"],
                }
            ),
            PolicyKind.TRUST,
        ),
        # sts:TagSession alone grants no role assumption: not enough to call it a trust policy.
        (
            _doc({"Effect": "Allow", "Principal": {"AWS": "1"}, "Action": "sts:TagSession"}),
            PolicyKind.UNKNOWN,
        ),
        (
            _doc({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}),
            PolicyKind.UNKNOWN,
        ),
        # One statement without a Principal does not stop a key policy being one (it is flagged).
        (
            _doc(
                {"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*"},
                {"Effect": "Allow", "Action": "kms:Encrypt", "Resource": "*"},
            ),
            PolicyKind.KEY,
        ),
        ({"Version": "2012-10-17"}, PolicyKind.IDENTITY),
        ("not json", PolicyKind.UNKNOWN),
    ],
)
def test_classify_document(document: object, kind: PolicyKind) -> None:
    assert classify_document(document) is kind


# -- real files -----------------------------------------------------------------------------------


def test_real_world_key_policies_load_as_key_policies() -> None:
    assert REALWORLD.is_dir(), "the shared real-world corpus must be present"
    files = sorted(REALWORLD.glob("*/*.json"))
    assert files
    for path in files:
        text = path.read_text()
        result = load_policy_file(str(path), text, LoadContext())
        assert result.errors == [], path
        (standalone,) = result.inventory.policies
        assert standalone.document.kind is PolicyKind.KEY, path
        statement_count = len(json.loads(text)["Statement"])
        assert len(standalone.document.statements) == statement_count, path
