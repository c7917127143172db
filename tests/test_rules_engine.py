"""The rule runtime: three-valued predicates, named tests, pack validation."""

from pathlib import Path

import pytest

from kmsguard.load.policy_builder import build_policy
from kmsguard.model import Inventory, Key, PolicyKind, ResourceRef, Source, Span, Template, Unknown
from kmsguard.model.values import THIS_ACCOUNT, THIS_PARTITION, THIS_REGION
from kmsguard.rules_engine import PackError, load_pack, load_packs, run_packs
from kmsguard.rules_engine.logic import FALSE, TRUE, all_of, any_of, negate, unresolved


def key(**kw):
    return Key(
        address=kw.pop("address", "aws_kms_key.k"),
        resource_type="aws_kms_key",
        source=Source.TERRAFORM,
        span=Span("main.tf", 3),
        **kw,
    )


def key_with_policy(doc, **kw):
    policy, diags = build_policy(doc, PolicyKind.KEY, resource="aws_kms_key.k", span=Span("main.tf", 1))
    assert diags == []
    return key(policy=policy, rotation_enabled=True, **kw)


# Whole-policy access questions (outsiders, lockout) have their own tests (tests/rules/); the
# partial policies here would trip them.
POLICY_QUESTIONS = ("KMS025", "KMS027")


def run(*keys):
    return [f for f in run_packs(load_packs(), Inventory(keys=keys)) if f.rule_id not in POLICY_QUESTIONS]


def ids(findings):
    return sorted(f.rule_id for f in findings)


def test_kleene_logic():
    u = unresolved("var.x")
    assert all_of([TRUE, u]).is_unresolved and all_of([FALSE, u]).is_false
    assert any_of([TRUE, u]).is_true and any_of([FALSE, u]).is_unresolved
    assert negate(u).is_unresolved and negate(TRUE).is_false
    assert all_of([u, unresolved("var.y")]).depends_on == ("var.x", "var.y")


# source: AWS KMS API Reference, "EnableKeyRotation": "Automatic key rotation is supported only on
# symmetric encryption KMS keys. You cannot enable automatic rotation of asymmetric KMS keys, HMAC
# KMS keys, KMS keys with imported key material, or KMS keys in a custom key store."
@pytest.mark.parametrize(
    ("attrs", "expected"),
    [
        ({}, ["KMS001"]),
        ({"rotation_enabled": True}, []),
        ({"key_spec": "RSA_2048", "key_usage": "SIGN_VERIFY"}, []),
        ({"key_spec": "HMAC_256", "key_usage": "GENERATE_VERIFY_MAC"}, []),
        ({"origin": "EXTERNAL"}, []),
        ({"custom_key_store_id": "cks-1234567890abcdef0"}, []),
        ({"is_replica": True}, []),
        ({"key_manager": "AWS"}, []),
    ],
)
def test_rotation_rule_only_where_aws_supports_rotation(attrs, expected):
    assert ids(run(key(**attrs))) == expected


def test_unresolved_rotation_is_reported_as_unresolved_not_passed():
    findings = run(key(rotation_enabled=Unknown("var.rotate")))
    assert ids(findings) == ["KMS001"]
    assert findings[0].unresolved == ("var.rotate",)
    assert "unresolved: depends on var.rotate" in findings[0].message


def test_unknown_key_spec_makes_rotation_unresolved():
    findings = run(key(key_spec=Unknown("var.spec")))
    assert findings[0].unresolved == ("var.spec",)


def test_rotation_finding_points_at_the_attribute_when_written():
    findings = run(key(rotation_enabled=False, attr_spans={"rotation_enabled": Span("main.tf", 7, 3)}))
    assert findings[0].span == Span("main.tf", 7, 3)


def test_bypass_lockout():
    assert ids(run(key(rotation_enabled=True, bypass_policy_lockout_safety_check=True))) == ["KMS003"]


def _stmt(principal, condition=None, effect="Allow"):
    s = {"Sid": "S", "Effect": effect, "Principal": principal, "Action": "kms:Decrypt", "Resource": "*"}
    if condition is not None:
        s["Condition"] = condition
    return {"Version": "2012-10-17", "Statement": [s]}


# source: IAM User Guide, "AWS JSON policy elements: Principal" ("*" and {"AWS": "*"} are
# equivalent and mean everyone); KMS Developer Guide, "Key policies in AWS KMS".
@pytest.mark.parametrize(
    ("principal", "condition", "flagged"),
    [
        ("*", None, True),
        ({"AWS": "*"}, None, True),
        ({"AWS": ["arn:aws:iam::111122223333:root", "*"]}, None, True),
        ({"AWS": "arn:aws:iam::111122223333:root"}, None, False),
        ("*", {"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}}, False),
        ("*", {"StringEquals": {"kms:CallerAccount": "111122223333"}}, False),
        ("*", {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::111122223333:role/app-*"}}, False),
        # IfExists passes when the key is missing, so it restricts nothing.
        # source: IAM User Guide, "IAM JSON policy elements: Condition operators", "...IfExists".
        ("*", {"StringEqualsIfExists": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}}, True),
        # source: IAM User Guide, "Set operators for multivalued context keys": ForAnyValue is
        # false when the key is missing or empty; ForAllValues is true then.
        (
            "*",
            {"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": "o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/*"}},
            False,
        ),
        (
            "*",
            {"ForAllValues:StringLike": {"aws:PrincipalOrgPaths": "o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/*"}},
            True,
        ),
        # A wildcard value matches every caller.
        ("*", {"StringLike": {"aws:PrincipalOrgID": "*"}}, True),
        # A negated operator does not pin the caller down.
        ("*", {"StringNotEquals": {"aws:PrincipalAccount": "111122223333"}}, True),
        # kms:ViaService alone leaves every account's principals able to call through the service.
        ("*", {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}, True),
        # An unrelated condition key.
        ("*", {"Bool": {"aws:SecureTransport": "true"}}, True),
    ],
)
def test_wildcard_principal(principal, condition, flagged):
    findings = run(key_with_policy(_stmt(principal, condition)))
    assert ("KMS002" in ids(findings)) is flagged


KEY_ACCOUNT_111 = "the key's account (pass --account): so if it is 111122223333"


# source: KMS Developer Guide, "Key policies in AWS KMS" (Resource: in a key policy "*" means
# "this KMS key"); a statement whose Resource names something else never matches the key.
@pytest.mark.parametrize(
    ("resource", "flagged", "refs"),
    [
        ("*", True, ()),
        # Names the key only if the key is in account 111122223333, which nothing here says.
        ("arn:aws:kms:us-east-1:111122223333:key/*", True, (KEY_ACCOUNT_111,)),
        ("arn:aws:s3:::logs-bucket", False, ()),
        (["arn:aws:s3:::logs-bucket", "*"], True, ()),
        (ResourceRef("aws_kms_key.k", "arn"), True, ()),
        (ResourceRef("aws_s3_bucket.logs", "arn"), False, ()),
        (
            Template(("arn:", Unknown(THIS_PARTITION), ":kms:", Unknown(THIS_REGION), ":111122223333:key/*")),
            True,
            (KEY_ACCOUNT_111,),
        ),
        (Unknown("module.s3_logs.s3_bucket_arn"), True, ("module.s3_logs.s3_bucket_arn",)),
    ],
)
def test_wildcard_statement_only_counts_when_it_applies_to_the_key(resource, flagged, refs):
    doc = {
        "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Resource": resource}]
    }
    findings = run(key_with_policy(doc))
    assert ("KMS002" in ids(findings)) is flagged
    if flagged:
        assert findings[0].unresolved == refs


def test_deny_with_wildcard_principal_is_not_exposure():
    assert ids(run(key_with_policy(_stmt("*", effect="Deny")))) == []


def test_not_principal_in_allow_is_exposure():
    doc = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "NotPrincipal": {"AWS": "arn:aws:iam::111122223333:root"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ],
    }
    # Open to every account (KMS002), and the NotPrincipal construct itself (KMS024).
    assert ids(run(key_with_policy(doc))) == ["KMS002", "KMS024"]


def test_restriction_to_the_deployment_account_symbol_counts():
    account = Template(("", Unknown(THIS_ACCOUNT)))
    findings = run(key_with_policy(_stmt("*", {"StringEquals": {"kms:CallerAccount": account}})))
    assert ids(findings) == []


@pytest.mark.parametrize(
    ("value", "flagged", "unresolved_refs"),
    [
        # An id AWS assigns (a data source attribute, a resource attribute) is one concrete value,
        # never a wildcard: the statement is restricted to that organisation / account.
        (Unknown("data.aws_organizations_organization.org.id"), False, ()),
        (Unknown("module.net.data.aws_caller_identity.peer.account_id"), False, ()),
        (
            Template((Unknown("data.aws_organizations_organization.org.id"), "/*/ou-ab12-11111111/*")),
            False,
            (),
        ),
        # A variable could be "*": unresolved, never assumed safe.
        (Template(("arn:aws:iam::", Unknown("var.account"), ":root")), True, ("var.account",)),
        (Unknown("ImportValue SharedOrg"), True, ("ImportValue SharedOrg",)),
    ],
)
def test_restriction_by_aws_assigned_ids(value, flagged, unresolved_refs):
    # aws:PrincipalOrgPaths is multivalued: AWS documents it with ForAnyValue (IAM User Guide, "AWS
    # global condition context keys", aws:PrincipalOrgPaths).
    condition = {"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": [value]}}
    findings = run(key_with_policy(_stmt("*", condition)))
    assert ("KMS002" in ids(findings)) is flagged
    if flagged:
        assert findings[0].unresolved == unresolved_refs


def test_one_wildcard_value_among_several_restricts_nothing():
    # Values of one condition key are ORed (IAM User Guide, "Creating a condition with multiple
    # keys or values").
    # (With StringEquals "*" is the literal string, which no account id equals: StringLike here.)
    condition = {"StringLike": {"aws:PrincipalAccount": ["111122223333", "*"]}}
    assert ids(run(key_with_policy(_stmt("*", condition)))) == ["KMS002"]


def test_restriction_to_an_unresolved_value_is_unresolved():
    findings = run(key_with_policy(_stmt("*", {"StringEquals": {"aws:PrincipalOrgID": Unknown("var.org")}})))
    assert ids(findings) == ["KMS002"]
    assert findings[0].unresolved == ("var.org",)


def test_unresolved_principals_are_unresolved():
    findings = run(
        key_with_policy(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": Unknown("var.p"), "Action": "kms:*", "Resource": "*"}
                ],
            }
        )
    )
    assert [(f.rule_id, f.unresolved) for f in findings] == [("KMS002", ("var.p",))]


def test_wildcard_finding_points_at_the_principal():
    from kmsguard.load.jsonpos import loads_with_positions

    doc, _ = loads_with_positions(
        '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",\n "Principal": "*",\n'
        ' "Action": "kms:*", "Resource": "*"}]}',
        "p.json",
    )
    policy, _ = build_policy(doc, PolicyKind.KEY, resource="p.json")
    findings = run(key(policy=policy, rotation_enabled=True))
    assert findings[0].span.line == 2


def _write_pack(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "pack.yaml"
    path.write_text(body)
    return path


RULE = """
pack: mine
rules:
  - id: {id}
    title: t
    severity: {severity}
    category: {category}
    description: d
    remediation: r
    subject: key
    message: m
    references: [https://docs.aws.amazon.com/kms/]
    when:
      - {when}
"""


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"id": "KMS1"}, "id must be 'KMS'"),
        ({"severity": "urgent"}, "unknown severity"),
        ({"category": "misc"}, "category must be one of"),
        ({"when": "{test: nonsense}"}, "unknown test 'nonsense'"),
        ({"when": "{attr: enabled}"}, "needs exactly one of"),
    ],
)
def test_bad_packs_are_rejected_with_one_line(tmp_path, fields, error):
    values = {
        "id": "KMS801",
        "severity": "low",
        "category": "hygiene",
        "when": "{attr: enabled, equals: false}",
    } | fields
    with pytest.raises(PackError, match=error) as info:
        load_pack(_write_pack(tmp_path, RULE.format(**values)))
    assert "\n" not in str(info.value)


def test_user_pack_runs_next_to_the_builtin_pack(tmp_path):
    path = _write_pack(
        tmp_path,
        RULE.format(id="KMS801", severity="low", category="hygiene", when="{attr: enabled, equals: false}"),
    )
    findings = run_packs(
        load_packs([str(path)]), Inventory(keys=(key(enabled=False, rotation_enabled=True),))
    )
    assert ids(findings) == ["KMS801"]


def test_user_pack_may_not_redefine_a_builtin_rule(tmp_path):
    path = _write_pack(
        tmp_path,
        RULE.format(id="KMS001", severity="low", category="hygiene", when="{attr: enabled, equals: false}"),
    )
    with pytest.raises(PackError, match="already defined"):
        load_packs([str(path)])


def test_every_loader_diagnostic_rule_exists_in_the_default_pack():
    from kmsguard.load import policy_builder, suppress

    defined = {r.id for r in load_packs()[0].rules}
    used = {
        policy_builder.RULE_GRAMMAR,
        policy_builder.RULE_DUPLICATE_SID,
        policy_builder.RULE_SIZE,
        policy_builder.RULE_CONDITION,
        policy_builder.RULE_NOT_JSON,
        suppress.RULE_SUPPRESSION_WITHOUT_REASON,
    }
    assert used <= defined


def test_a_key_policy_that_cannot_be_known_is_reported_unresolved_not_passed():
    findings = run(key(rotation_enabled=True, policy=Unknown("var.key_policy")))
    assert [(f.rule_id, f.unresolved) for f in findings] == [("KMS002", ("var.key_policy",))]
    assert "not known statically" in findings[0].message


def test_unresolved_statements_of_a_known_policy_are_reported_unresolved():
    doc = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
                "Action": "kms:*",
                "Resource": "*",
            },
            Unknown("local.extra_statements"),
        ],
    }
    policy, _ = build_policy(doc, PolicyKind.KEY, resource="aws_kms_key.k", span=Span("main.tf", 1))
    findings = run(key(policy=policy, rotation_enabled=True))
    assert [(f.rule_id, f.unresolved) for f in findings] == [("KMS002", ("local.extra_statements",))]


def test_parsed_packs_are_cached_and_the_cache_follows_the_content(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("KMSGUARD_CACHE_DIR", str(cache))
    path = _write_pack(
        tmp_path,
        RULE.format(id="KMS801", severity="low", category="hygiene", when="{attr: enabled, equals: false}"),
    )
    assert load_pack(path).rules[0].title == "t"
    (cached,) = cache.iterdir()
    # Same content: served from the cache (prove it by planting a different title there).
    cached.write_text(cached.read_text().replace('"title": "t"', '"title": "from cache"'))
    assert load_pack(path).rules[0].title == "from cache"
    # Changed content: a new key, so the edit is seen.
    path.write_text(path.read_text().replace("title: t", "title: edited"))
    assert load_pack(path).rules[0].title == "edited"
    # A corrupt cache entry is ignored, not an error.
    for entry in cache.iterdir():
        entry.write_text("{not json")
    assert load_pack(path).rules[0].title == "edited"


def test_cache_can_be_turned_off(tmp_path, monkeypatch):
    monkeypatch.setenv("KMSGUARD_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("KMSGUARD_NO_CACHE", "1")
    load_packs()
    assert not (tmp_path / "cache").exists()


def test_a_statement_aws_would_reject_is_a_validity_finding_not_an_exposure():
    policy, diags = build_policy(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "allow", "Principal": "*", "Action": "kms:*", "Resource": "*"}],
        },
        PolicyKind.KEY,
        resource="aws_kms_key.k",
    )
    findings = run_packs(load_packs(), Inventory(keys=(key(policy=policy, rotation_enabled=True),)), diags)
    assert ids(findings) == ["KMS100"]


def _grant(**kw):
    from kmsguard.model import Grant

    return Grant(
        address=kw.pop("address", "aws_kms_grant.g"),
        key="k",
        grantee=kw.pop("grantee", "arn:aws:iam::111122223333:role/app"),
        operations=kw.pop("operations", ("Decrypt",)),
        source=Source.TERRAFORM,
        span=Span("main.tf", 1),
        **kw,
    )


def run_grants(*grants, org=None):
    from kmsguard.model import OrgContext

    return run_packs(load_packs(), Inventory(grants=grants, org=org or OrgContext()))


# source: KMS Developer Guide, "Grants in AWS KMS", "Grant constraints": constraints apply only to
# operations that take an encryption context.
@pytest.mark.parametrize(
    ("operations", "constraints", "flagged"),
    [
        (("Decrypt",), None, True),
        (("GenerateDataKeyWithoutPlaintext", "DescribeKey"), None, True),
        (("Sign", "Verify", "DescribeKey"), None, False),
        (("Decrypt",), {"encryption_context_equals": {"tenant": "a"}}, False),
        (("Decrypt",), {"encryption_context_subset": {"tenant": "a"}}, False),
        (("Decrypt",), {"encryption_context_equals": {}}, True),
    ],
)
def test_grant_without_constraints(operations, constraints, flagged):
    from kmsguard.model import GrantConstraints

    grant = _grant(
        operations=operations, constraints=GrantConstraints(**constraints) if constraints else None
    )
    assert ("KMS010" in ids(run_grants(grant))) is flagged


def test_grant_with_create_grant_and_unknown_operations():
    assert "KMS011" in ids(run_grants(_grant(operations=("DescribeKey", "CreateGrant"))))
    findings = run_grants(_grant(operations=Unknown("var.ops")))
    assert {(f.rule_id, f.unresolved) for f in findings if f.rule_id != "KMS012"} == {
        ("KMS010", ("var.ops",)),
        ("KMS011", ("var.ops",)),
    }


@pytest.mark.parametrize(
    ("grantee", "trusted", "expected"),
    [
        ("arn:aws:iam::444455556666:role/partner", ("111122223333",), ("KMS012", ())),
        ("arn:aws:iam::111122223333:role/app", ("111122223333",), None),
        ("444455556666", ("111122223333", "444455556666"), None),
        ("logs.us-east-1.amazonaws.com", ("111122223333",), None),
        (ResourceRef("aws_iam_role.app", "arn"), ("111122223333",), None),
        (Template(("arn:aws:iam::", Unknown(THIS_ACCOUNT), ":role/app")), (), None),
        (
            "arn:aws:iam::444455556666:role/partner",
            (),
            ("KMS012", ("the deployment account (--account or --trusted-accounts)",)),
        ),
        (Unknown("var.grantee"), ("111122223333",), ("KMS012", ("var.grantee",))),
    ],
)
def test_grant_to_another_account(grantee, trusted, expected):
    from kmsguard.model import OrgContext

    org = OrgContext(account=trusted[0] if trusted else None, trusted_accounts=trusted)
    findings = [
        f
        for f in run_grants(_grant(operations=("DescribeKey",), grantee=grantee), org=org)
        if f.rule_id == "KMS012"
    ]
    assert [(f.rule_id, f.unresolved) for f in findings] == ([expected] if expected else [])


def test_rotation_period_parameter():
    k = key(rotation_enabled=True, rotation_period_days=400)
    assert "KMS004" in ids(run(k))
    assert "KMS004" not in ids(
        run_packs(load_packs(), Inventory(keys=(k,)), params={"max_rotation_period_days": 400})
    )
    finding = next(f for f in run(k) if f.rule_id == "KMS004")
    assert "400 days" in finding.message and "365 days" in finding.message


def _identity(doc):
    from kmsguard.model import StandalonePolicy

    policy, diags = build_policy(doc, PolicyKind.IDENTITY, resource="p.json", span=Span("p.json", 1))
    assert diags == []
    return StandalonePolicy("p.json", Source.POLICY_FILE, policy)


# source: KMS Developer Guide, "Best practices for IAM policies" (specify keys in Resource; avoid
# "kms:*" on "*").
@pytest.mark.parametrize(
    ("statement", "flagged"),
    [
        ({"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}, True),
        ({"Effect": "Allow", "Action": "kms:*", "Resource": "*"}, True),
        ({"Effect": "Allow", "Action": "KMS:De*", "Resource": "*"}, True),
        ({"Effect": "Allow", "Action": "*", "Resource": "*"}, True),
        ({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}, True),
        ({"Effect": "Allow", "NotAction": "kms:*", "Resource": "*"}, False),
        ({"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "arn:aws:kms:*:111122223333:key/*"}, True),
        (
            {
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": "arn:aws:kms:us-east-1:111122223333:key/1234abcd",
            },
            False,
        ),
        ({"Effect": "Allow", "Action": "kms:Encrypt", "Resource": "*"}, False),
        ({"Effect": "Deny", "Action": "kms:Decrypt", "Resource": "*"}, False),
        (
            {
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": "*",
                "Condition": {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}},
            },
            False,
        ),
        (
            {
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:ResourceTag/team": "a"}},
            },
            False,
        ),
        (
            {
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": "*",
                "Condition": {"Bool": {"aws:SecureTransport": "true"}},
            },
            True,
        ),
    ],
)
def test_identity_policy_decrypt_on_every_key(statement, flagged):
    inventory = Inventory(policies=(_identity({"Version": "2012-10-17", "Statement": [statement]}),))
    assert ("KMS020" in ids(run_packs(load_packs(), inventory))) is flagged
