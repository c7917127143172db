"""Rules answered by the prover (KMS002 public, KMS025 external): pattern tests first, then the
question, with a witness the simulator confirmed in the message."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from kmsguard.check import CheckOptions, run_check
from kmsguard.load.base import LoadContext

ROOT_STATEMENT = {
    "Sid": "Root",
    "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
    "Action": "kms:*",
    "Resource": "*",
}
ANYONE_DECRYPT = {
    "Sid": "Anyone",
    "Effect": "Allow",
    "Principal": "*",
    "Action": "kms:Decrypt",
    "Resource": "*",
}


def _check(tmp_path: Path, statements: list[dict], name: str = "key-policy.json", **context):
    (tmp_path / name).write_text(json.dumps({"Version": "2012-10-17", "Statement": statements}))
    result = run_check(CheckOptions(paths=(str(tmp_path / name),), context=LoadContext(**context)))
    assert result.errors == []
    return result.findings


def _ids(findings) -> list[str]:
    return sorted(f.rule_id for f in findings if f.rule_id in ("KMS002", "KMS025"))


def test_wildcard_with_irrelevant_condition_is_public_and_the_message_names_a_witness(tmp_path):
    # source: IAM User Guide, "AWS global condition context keys", aws:SecureTransport -- it says
    # how the request was sent, not who sent it, so any account's principal can meet it.
    stmt = {**ANYONE_DECRYPT, "Condition": {"Bool": {"aws:SecureTransport": "true"}}}
    findings = _check(tmp_path, [ROOT_STATEMENT, stmt], account="111122223333")
    public = [f for f in findings if f.rule_id == "KMS002"]
    assert len(public) == 1 and not public[0].unresolved
    assert "e.g. arn:aws:iam::999999999999:root calling kms:Decrypt with aws:SecureTransport=true" in (
        public[0].message
    )
    assert "KMS025" not in _ids(findings)  # public access is KMS002's finding alone


def test_deny_outside_own_account_clears_a_wildcard_allow(tmp_path):
    # source: IAM User Guide, "Policy evaluation logic" -- an explicit deny in any policy overrides
    # an allow; the Deny below applies to every caller whose account is not 111122223333.
    deny = {
        "Sid": "OnlyOwnAccount",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "kms:*",
        "Resource": "*",
        "Condition": {"StringNotEquals": {"aws:PrincipalAccount": "111122223333"}},
    }
    assert _ids(_check(tmp_path, [ROOT_STATEMENT, ANYONE_DECRYPT, deny], account="111122223333")) == []
    assert _ids(_check(tmp_path, [ROOT_STATEMENT, ANYONE_DECRYPT], account="111122223333")) == ["KMS002"]


def test_deny_naming_the_deployment_account_in_terraform_clears_it_without_account(tmp_path):
    # The deployment's account (data.aws_caller_identity) is the key's account: a Deny for every
    # other account leaves only the key's own principals, whatever that account is.
    (tmp_path / "main.tf").write_text(
        """
data "aws_caller_identity" "current" {}
resource "aws_kms_key" "k" {
  enable_key_rotation = true
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      { Sid = "Anyone", Effect = "Allow", Principal = "*", Action = "kms:Decrypt", Resource = "*" },
      { Sid = "Own", Effect = "Deny", Principal = "*", Action = "kms:*", Resource = "*",
        Condition = { StringNotEquals = {
          "aws:PrincipalAccount" = data.aws_caller_identity.current.account_id } } }
    ]
  })
}
"""
    )
    result = run_check(CheckOptions(paths=(str(tmp_path),)))
    assert [f.rule_id for f in result.findings if f.rule_id in ("KMS002", "KMS025")] == []


def test_foreign_account_is_external_unless_trusted(tmp_path):
    # source: KMS Developer Guide, "Allowing users in other accounts to use a KMS key" -- naming
    # another account's root in the key policy lets that account (via its IAM) use the key.
    partner = {
        "Sid": "Partner",
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::444455556666:root"},
        "Action": "kms:Decrypt",
        "Resource": "*",
    }
    findings = _check(tmp_path, [ROOT_STATEMENT, partner], account="111122223333")
    external = [f for f in findings if f.rule_id == "KMS025"]
    assert len(external) == 1 and not external[0].unresolved
    assert "444455556666" in external[0].message and "kms:Decrypt" in external[0].message
    trusted = _check(
        tmp_path, [ROOT_STATEMENT, partner], account="111122223333", trusted_accounts=("444455556666",)
    )
    assert "KMS025" not in _ids(trusted)


def test_named_account_is_unresolved_when_the_key_account_is_not_known(tmp_path):
    # Without --account, 444455556666 may be the key's own account: not "fine", not "external".
    partner = {**ROOT_STATEMENT, "Principal": {"AWS": "arn:aws:iam::444455556666:root"}}
    external = [f for f in _check(tmp_path, [partner]) if f.rule_id == "KMS025"]
    assert len(external) == 1
    assert any("account" in ref for ref in external[0].unresolved)


def test_org_restricted_wildcard_is_external_until_the_org_is_trusted(tmp_path):
    # source: IAM User Guide, "aws:PrincipalOrgID" -- every account of the organisation matches.
    stmt = {**ANYONE_DECRYPT, "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}}}
    findings = _check(tmp_path, [ROOT_STATEMENT, stmt], account="111122223333")
    assert _ids(findings) == ["KMS025"]
    assert _ids(_check(tmp_path, [ROOT_STATEMENT, stmt], account="111122223333", org_id="o-a1b2c3d4e5")) == []


def test_witness_message_does_not_depend_on_what_was_checked_before(tmp_path):
    stmt = {**ANYONE_DECRYPT, "Condition": {"Bool": {"aws:SecureTransport": "true"}}}
    first = tmp_path / "a"
    first.mkdir()
    alone = [f.message for f in _check(first, [ROOT_STATEMENT, stmt]) if f.rule_id == "KMS002"]
    other = tmp_path / "b"
    other.mkdir()
    _check(other, [ROOT_STATEMENT, {**ANYONE_DECRYPT, "Action": "kms:Encrypt"}])
    again = [f.message for f in _check(first, [ROOT_STATEMENT, stmt]) if f.rule_id == "KMS002"]
    assert alone == again and alone


def test_prover_is_not_imported_for_policies_of_the_own_account_only(tmp_path):
    (tmp_path / "main.tf").write_text(
        """
data "aws_caller_identity" "current" {}
resource "aws_kms_key" "k" {
  enable_key_rotation = true
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{ Sid = "Root", Effect = "Allow", Action = "kms:*", Resource = "*",
      Principal = { AWS = "arn:aws:iam::${data.aws_caller_identity.current.account_id}:root" } }]
  })
}
"""
    )
    code = (
        "import sys; from kmsguard.check import CheckOptions, run_check; "
        f"run_check(CheckOptions(paths=({str(tmp_path)!r},))); print('z3' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr[-2000:]


def test_one_role_with_kms_star_both_administers_and_uses(tmp_path):
    # source: KMS Developer Guide, "Default key policy" -- key administrators and key users are
    # separate statements ("Allows key administrators to administer the KMS key", "Allows key
    # users to use the KMS key"); a role given kms:* in the key policy is both.
    app = {**ROOT_STATEMENT, "Sid": "App", "Principal": {"AWS": "arn:aws:iam::111122223333:role/app"}}
    findings = [
        f for f in _check(tmp_path, [ROOT_STATEMENT, app], account="111122223333") if f.rule_id == "KMS026"
    ]
    assert len(findings) == 1 and not findings[0].unresolved
    assert "arn:aws:sts::111122223333:assumed-role/app/example-session can call kms:" in findings[0].message


def test_admins_and_users_kept_apart_and_grants_for_aws_resources_are_not_administration(tmp_path):
    admin = {
        **ROOT_STATEMENT,
        "Sid": "Admins",
        "Principal": {"AWS": "arn:aws:iam::111122223333:role/admin"},
        "Action": ["kms:Put*", "kms:Disable*", "kms:ScheduleKeyDeletion"],
    }
    user = {
        **ROOT_STATEMENT,
        "Sid": "Users",
        "Principal": {"AWS": "arn:aws:iam::111122223333:role/app"},
        "Action": ["kms:Decrypt", "kms:CreateGrant"],
        # source: KMS Developer Guide, "Default key policy", "Allows key users to use the KMS key
        # with AWS services" -- users create grants for AWS resources.
        "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
    }
    findings = _check(tmp_path, [ROOT_STATEMENT, admin, user], account="111122223333")
    assert [f.rule_id for f in findings if f.rule_id == "KMS026"] == []


def test_answers_are_kept_between_runs_and_asked_again_when_the_policy_changes(tmp_path, monkeypatch):
    from kmsguard.prove import questions as prover
    from kmsguard.rules_engine import questions

    monkeypatch.setenv("KMSGUARD_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("KMSGUARD_NO_CACHE", raising=False)
    asked: list[str] = []
    real = prover.public

    def counting(*args, **kwargs):
        asked.append("public")
        return real(*args, **kwargs)

    monkeypatch.setattr(prover, "public", counting)
    questions._ANSWERS.clear()  # this process's memo: earlier tests asked the same questions
    stmt = {**ANYONE_DECRYPT, "Condition": {"Bool": {"aws:SecureTransport": "true"}}}
    first = _check(tmp_path, [ROOT_STATEMENT, stmt], account="111122223333")
    asked_first = len(asked)
    assert asked_first >= 1
    questions._ANSWERS.clear()  # a new process: only the cache on disk remains
    second = _check(tmp_path, [ROOT_STATEMENT, stmt], account="111122223333")
    assert len(asked) == asked_first  # answered from the cache
    assert [f.message for f in first] == [f.message for f in second]
    questions._ANSWERS.clear()
    changed = {**stmt, "Action": "kms:Encrypt"}
    _check(tmp_path, [ROOT_STATEMENT, changed], account="111122223333")
    assert len(asked) > asked_first  # another policy: asked again


def test_answer_cache_key_ignores_where_a_policy_was_written():
    from kmsguard.load.policy_builder import build_policy
    from kmsguard.model import PolicyKind, Span
    from kmsguard.rules_engine.answer_cache import key_of

    document = {"Version": "2012-10-17", "Statement": [ROOT_STATEMENT]}
    one, _ = build_policy(document, PolicyKind.KEY, resource="a", span=Span("a.json", 1))
    two, _ = build_policy(document, PolicyKind.KEY, resource="b", span=Span("b/c.json", 40))
    other, _ = build_policy(
        {"Version": "2012-10-17", "Statement": [{**ROOT_STATEMENT, "Action": "kms:Decrypt"}]},
        PolicyKind.KEY,
        resource="a",
    )
    assert key_of("public", one) == key_of("public", two)
    assert key_of("public", one) != key_of("public", other)
    assert key_of("public", one) != key_of("external", one)


def test_identities_bind_only_within_the_policys_folder():
    # A CloudFormation logical id (a Terraform address) names a resource of its own template
    # (module) only: "AppRole" of another folder is another role.
    from kmsguard.load.policy_builder import build_policy
    from kmsguard.model import Identity, IdentityKind, Inventory, PolicyKind, ResourceRef, Source, Span
    from kmsguard.rules_engine.predicates import Subject
    from kmsguard.rules_engine.questions import _identity_arns

    def role(folder: str, name: str) -> Identity:
        return Identity(
            IdentityKind.ROLE, "AppRole", Source.CLOUDFORMATION, Span(f"{folder}/t.yaml", 3), name=name
        )

    document = {
        "Version": "2012-10-17",
        "Statement": [{**ROOT_STATEMENT, "Principal": {"AWS": ResourceRef("AppRole", "Arn")}}],
    }
    policy, _ = build_policy(document, PolicyKind.KEY, resource="Key", span=Span("a/t.yaml", 10))
    inventory = Inventory(identities=(role("a", "app-a"), role("b", "app-b")))
    subject = Subject("key_policy", policy, "Key", Span("a/t.yaml", 10), inventory=inventory, policy=policy)
    assert _identity_arns(subject, policy, "111122223333", "aws") == {
        "AppRole": "arn:aws:iam::111122223333:role/app-a"
    }
    twice = Inventory(identities=(role("a", "app-a"), role("a", "app-b")))
    ambiguous = Subject("key_policy", policy, "Key", Span("a/t.yaml", 10), inventory=twice, policy=policy)
    assert _identity_arns(ambiguous, policy, "111122223333", "aws") == {}
