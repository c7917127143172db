"""Callers and Principal / NotPrincipal matching (kmsguard.authz.principals)."""

from __future__ import annotations

import pytest

from kmsguard.authz.principals import (
    CallerError,
    PrincipalMatch,
    caller_identities,
    is_service_linked_role,
    match_principal,
    not_principal_excludes,
    parse_caller,
)
from kmsguard.authz.types import PrincipalKind
from kmsguard.model import Principal, PrincipalType
from kmsguard.model.values import ResourceRef, Template, Unknown

A = "111122223333"
B = "444455556666"
ROOT_A = f"arn:aws:iam::{A}:root"
ROLE = f"arn:aws:iam::{A}:role/app"
SESSION = f"arn:aws:sts::{A}:assumed-role/app/worker-1"


def aws(value: object) -> Principal:
    return Principal(PrincipalType.AWS, value)  # type: ignore[arg-type]


# --- parse_caller -------------------------------------------------------------------------------
# source: IAM User Guide, "IAM identifiers", "IAM ARNs": the ARN forms of the root user, users,
# roles, assumed-role sessions and federated users.


def test_parse_root_arn_and_bare_account() -> None:
    for text in (ROOT_A, A):
        caller = parse_caller(text)
        assert caller.kind is PrincipalKind.ROOT
        assert caller.account == A
        assert caller.arn == ROOT_A


def test_parse_user_with_path() -> None:
    caller = parse_caller(f"arn:aws:iam::{A}:user/division/alice")
    assert caller.kind is PrincipalKind.USER
    assert caller.username == "alice"
    assert caller.account == A


def test_parse_assumed_role_session() -> None:
    # source: IAM User Guide, "IAM identifiers": arn:aws:sts::account:assumed-role/role-name/session;
    # aws:PrincipalArn of a session is the role's ARN ("AWS global condition context keys").
    caller = parse_caller(SESSION)
    assert caller.kind is PrincipalKind.ASSUMED_ROLE
    assert caller.session_arn == SESSION
    assert caller.arn == ROLE


def test_parse_session_with_role_path() -> None:
    # source: IAM User Guide, "IAM identifiers": the assumed-role ARN does not include the role path.
    with_path = f"arn:aws:iam::{A}:role/teams/app"
    caller = parse_caller(SESSION, role_arn=with_path)
    assert caller.arn == with_path


def test_parse_federated_user() -> None:
    fed = f"arn:aws:sts::{A}:federated-user/carol"
    caller = parse_caller(fed)
    assert caller.kind is PrincipalKind.FEDERATED_USER
    assert caller.session_arn == fed


def test_parse_service_and_anonymous() -> None:
    service = parse_caller("s3.amazonaws.com")
    assert service.kind is PrincipalKind.SERVICE and service.account is None
    assert service.service == "s3.amazonaws.com"
    for text in ("*", "anonymous"):
        assert parse_caller(text).kind is PrincipalKind.ANONYMOUS


def test_parse_attributes_pass_through() -> None:
    caller = parse_caller(SESSION, tags={"team": "blue"}, org_id="o-abc", org_paths=["o-abc/r-1/"])
    assert caller.tags == {"team": "blue"}
    assert caller.org_id == "o-abc"
    assert caller.org_paths == ("o-abc/r-1/",)


@pytest.mark.parametrize("bad", ["arn:aws:s3:::bucket", "bob", f"arn:aws:iam::{A}:group/devs"])
def test_parse_rejects_non_callers(bad: str) -> None:
    with pytest.raises(CallerError):
        parse_caller(bad)


def test_parse_rejects_unknown_attribute() -> None:
    with pytest.raises(CallerError, match="colour"):
        parse_caller(ROLE, colour="red")


# --- Principal matching ---------------------------------------------------------------------------


def test_wildcard_matches_everyone() -> None:
    # source: IAM User Guide, "AWS JSON policy elements: Principal", "All principals".
    for text in (SESSION, ROOT_A, "s3.amazonaws.com", "anonymous"):
        assert match_principal(aws("*"), parse_caller(text)) is PrincipalMatch.WILDCARD


def test_account_principal() -> None:
    # source: IAM User Guide, "Principal", "AWS account principals".
    assert match_principal(aws(ROOT_A), parse_caller(SESSION)) is PrincipalMatch.ACCOUNT
    assert match_principal(aws(f"arn:aws:iam::{B}:root"), parse_caller(SESSION)) is PrincipalMatch.NONE
    assert match_principal(aws(ROOT_A), parse_caller("s3.amazonaws.com")) is PrincipalMatch.NONE


def test_role_arn_names_its_sessions() -> None:
    # source: IAM User Guide, "Principal", "IAM role principals" and "Role session principals".
    caller = parse_caller(SESSION)
    assert match_principal(aws(ROLE), caller) is PrincipalMatch.ROLE
    assert match_principal(aws(SESSION), caller) is PrincipalMatch.DIRECT
    assert match_principal(aws(f"arn:aws:iam::{A}:role/other"), caller) is PrincipalMatch.NONE


def test_role_arn_with_path_names_session_without_path() -> None:
    # source: IAM User Guide, "IAM identifiers": role names are unique in an account whatever the
    # path, and the session ARN omits the path.
    assert (
        match_principal(aws(f"arn:aws:iam::{A}:role/teams/app"), parse_caller(SESSION)) is PrincipalMatch.ROLE
    )


def test_user_arn() -> None:
    # source: IAM User Guide, "Principal", "IAM user principals".
    bob = parse_caller(f"arn:aws:iam::{A}:user/bob")
    assert match_principal(aws(f"arn:aws:iam::{A}:user/bob"), bob) is PrincipalMatch.DIRECT
    assert match_principal(aws(f"arn:aws:iam::{A}:user/alice"), bob) is PrincipalMatch.NONE


def test_service_principal() -> None:
    # source: IAM User Guide, "Principal", "AWS service principals".
    svc = parse_caller("logs.amazonaws.com")
    assert (
        match_principal(Principal(PrincipalType.SERVICE, "logs.amazonaws.com"), svc) is PrincipalMatch.DIRECT
    )
    assert match_principal(Principal(PrincipalType.SERVICE, "s3.amazonaws.com"), svc) is PrincipalMatch.NONE
    assert match_principal(Principal(PrincipalType.SERVICE, "logs.amazonaws.com"), parse_caller(SESSION)) is (
        PrincipalMatch.NONE
    )


def test_symbolic_principals() -> None:
    # source: DESIGN.md: unknown values are never guessed -- but a template whose literal parts
    # cannot fit the caller does not name it.
    caller = parse_caller(SESSION)
    assert match_principal(aws(Unknown("var.users")), caller) is None
    assert match_principal(aws(ResourceRef("aws_iam_role.app", "arn")), caller) is None
    same = Template(("arn:", Unknown("AWS::Partition"), f":iam::{A}:root"))
    other = Template(("arn:", Unknown("AWS::Partition"), f":iam::{B}:root"))
    assert match_principal(aws(same), caller) is None
    assert match_principal(aws(other), caller) is PrincipalMatch.NONE


def test_caller_identities_of_a_session() -> None:
    # source: IAM User Guide, "AWS JSON policy elements: NotPrincipal": a session is identified by its
    # session ARN, its role ARN and its account ARN.
    assert caller_identities(parse_caller(SESSION)) == (SESSION, ROLE, ROOT_A)


# --- NotPrincipal ---------------------------------------------------------------------------------------
# source: IAM User Guide, "AWS JSON policy elements: NotPrincipal": with Deny, list the user (or the
# role and session) together with its account ARN, otherwise the deny applies to it.


def test_not_principal_user_needs_account_too() -> None:
    bob = parse_caller(f"arn:aws:iam::{A}:user/bob")
    assert not_principal_excludes((aws(f"arn:aws:iam::{A}:user/bob"),), bob) is False
    assert not_principal_excludes((aws(f"arn:aws:iam::{A}:user/bob"), aws(ROOT_A)), bob) is True


def test_not_principal_session_needs_session_role_and_account() -> None:
    caller = parse_caller(SESSION)
    assert not_principal_excludes((aws(ROLE), aws(ROOT_A)), caller) is False
    assert not_principal_excludes((aws(SESSION), aws(ROLE), aws(ROOT_A)), caller) is True


def test_not_principal_symbolic_entry_is_unknown() -> None:
    caller = parse_caller(SESSION)
    assert not_principal_excludes((aws(SESSION), aws(ROOT_A), aws(Unknown("var.role"))), caller) is None


def test_service_linked_role() -> None:
    # source: IAM User Guide, "Using service-linked roles": they live under /aws-service-role/.
    slr = parse_caller(
        f"arn:aws:sts::{A}:assumed-role/AWSServiceRoleForX/s",
        role_arn=f"arn:aws:iam::{A}:role/aws-service-role/x.amazonaws.com/AWSServiceRoleForX",
    )
    assert is_service_linked_role(slr)
    assert not is_service_linked_role(parse_caller(SESSION))
