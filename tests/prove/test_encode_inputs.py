"""Properties of the full encoding proved over *every* request, one rule of AWS's logic at a time:
grants, SCPs, RCPs, permission boundaries and session policies. Each "sat" answer's witness is re-run
through ``decide``, which must agree; each "unsat" is a proof that no request of that shape exists.
"""

from __future__ import annotations

from typing import Any

import z3

from kmsguard.authz.case import parse_case
from kmsguard.authz.evaluate import decide, parse_caller
from kmsguard.authz.types import AuthzInputs, Outcome, Request
from kmsguard.prove.encode import Encoding, Kind, _s, encode_inputs, key_actions, witness_request

KEY = "111122223333"
OTHER = "444455556666"
KEY_ARN = f"arn:aws:kms:us-east-1:{KEY}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
VERSION = "2012-10-17"
ROOT_ONLY = {
    "Version": VERSION,
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{KEY}:root"},
            "Action": "kms:*",
            "Resource": "*",
        }
    ],
}
APP_ROLE = f"arn:aws:iam::{KEY}:role/app"
ALLOW_ALL_KMS = {"Version": VERSION, "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}


def _inputs(**fields: Any) -> AuthzInputs:
    raw = {"key_policy": ROOT_ONLY, **fields}
    raw["request"] = {"action": "kms:Decrypt", "principal": APP_ROLE, "resource": KEY_ARN}
    return parse_case(raw, "test").inputs


def _solve(
    inputs: AuthzInputs, kind: Kind, action: str, *extra: Any, identity_known: bool = True
) -> tuple[Encoding, Request | None]:
    """A request of ``kind`` for ``action`` that the prover allows under ``extra`` constraints
    (functions of the encoding), confirmed by the simulator; None when there is none (unsat)."""
    actions = key_actions(with_retire_grant=True)
    enc = encode_inputs(inputs, KEY_ARN, KEY, kind, actions=actions, identity_known=identity_known)
    req = enc.request
    solver = z3.Solver()
    solver.add(*enc.domain(), *enc.sent, enc.allowed, req.action == req.action_index(action))
    solver.add(*(constraint(enc) for constraint in extra))
    if solver.check() == z3.unsat:
        return enc, None
    request, _ = witness_request(req, solver.model())
    assert decide(inputs, request).outcome is Outcome.ALLOW, request
    return enc, request


def _key_context(enc: Encoding, name: str, value: str | None) -> z3.BoolRef:
    var = enc.request.key(name)
    if value is None:
        return z3.Not(var.present)
    assert var.value is not None
    return z3.And(var.present, var.value == _s(value))


def _is_role(enc: Encoding, arn: str) -> z3.BoolRef:
    return enc.request.arn == _s(arn)


# -- grants ---------------------------------------------------------------------------------------
# source: KMS API Reference, "GrantConstraints": "the key in each key-value pair is not case
# sensitive, but the value is case sensitive"; EncryptionContextEquals: the encryption context must
# be exactly the one given; constraints apply only to operations that take an encryption context.

GRANT_EQUALS = {
    "grantee_principal": APP_ROLE,
    "operations": ["Decrypt", "DescribeKey"],
    "constraints": {"EncryptionContextEquals": {"Tenant": "a"}},
}


def test_grant_with_equals_constraint_needs_exactly_that_context() -> None:
    inputs = _inputs(grants=[GRANT_EQUALS])
    role = (lambda enc: _is_role(enc, APP_ROLE),)
    _, witness = _solve(inputs, Kind.ROLE, "kms:Decrypt", *role)
    assert witness is not None  # the grant lets the role decrypt (no identity policy needed)
    assert witness.context["kms:encryptioncontext:tenant"] == "a"
    # The value is case sensitive: "A" is not "a".
    assert (
        _solve(
            inputs,
            Kind.ROLE,
            "kms:Decrypt",
            *role,
            lambda e: _key_context(e, "kms:EncryptionContext:tenant", "A"),
        )[1]
        is None
    )
    # An extra key the policies never mention breaks "equals".
    _, extra = _solve(inputs, Kind.ROLE, "kms:Decrypt", *role, lambda e: e.request.other_context_keys())
    assert extra is None


def test_grant_with_subset_constraint_allows_extra_keys() -> None:
    grant = {**GRANT_EQUALS, "constraints": {"EncryptionContextSubset": {"tenant": "a"}}}
    inputs = _inputs(grants=[grant])
    _, witness = _solve(
        inputs,
        Kind.ROLE,
        "kms:Decrypt",
        lambda e: _is_role(e, APP_ROLE),
        lambda e: e.request.other_context_keys(),
    )
    assert witness is not None
    assert len([k for k in witness.context if k.startswith("kms:encryptioncontext:")]) >= 2


def test_constraints_do_not_limit_operations_without_an_encryption_context() -> None:
    """DescribeKey takes no encryption context, so the grant's constraint does not apply: every
    request of the grantee is allowed (proved: no DescribeKey request of the role is denied)."""
    inputs = _inputs(grants=[GRANT_EQUALS])
    enc = encode_inputs(inputs, KEY_ARN, KEY, Kind.ROLE, actions=key_actions())
    req = enc.request
    solver = z3.Solver()
    solver.add(*enc.domain(), *enc.sent, req.action == req.action_index("kms:DescribeKey"))
    solver.add(_is_role(enc, APP_ROLE), z3.Not(enc.allowed))
    assert solver.check() == z3.unsat


def test_grant_is_the_only_way_in_for_another_accounts_role() -> None:
    """A grant to another account's role lets it decrypt with no key policy statement for it, and
    no identity policy (KMS Developer Guide, "Grants in AWS KMS"); without the grant it cannot."""
    foreign = f"arn:aws:iam::{OTHER}:role/partner"
    grant = {"grantee_principal": foreign, "operations": ["Decrypt"]}
    outside = (lambda e: e.request.account != _s(KEY),)
    assert _solve(_inputs(), Kind.ROLE, "kms:Decrypt", *outside)[1] is None
    _, witness = _solve(_inputs(grants=[grant]), Kind.ROLE, "kms:Decrypt", *outside)
    assert witness is not None and witness.caller.arn == foreign


def test_create_grant_through_a_grant_is_no_wider_than_it() -> None:
    """KMS Developer Guide, "Controlling access to grants": a grantee with CreateGrant may create
    grants only for the parent grant's operations (kms:GrantOperations, which CreateGrant always
    sends: KMS API Reference, "CreateGrant", Operations is required)."""
    grant = {"grantee_principal": APP_ROLE, "operations": ["CreateGrant", "Decrypt"]}
    inputs = _inputs(grants=[grant])

    def grant_operations(*wanted: str) -> Any:
        def constrain(e: Encoding) -> z3.BoolRef:
            var = e.request.key("kms:GrantOperations")
            assert var.length is not None
            has = [
                z3.Or([z3.And(var.length > i, item == _s(w)) for i, item in enumerate(var.items)])
                for w in wanted
            ]
            return z3.And(var.present, *has)

        return constrain

    role = lambda e: _is_role(e, APP_ROLE)  # noqa: E731
    _, witness = _solve(inputs, Kind.ROLE, "kms:CreateGrant", role, grant_operations("Decrypt"))
    assert witness is not None
    assert _solve(inputs, Kind.ROLE, "kms:CreateGrant", role, grant_operations("Encrypt"))[1] is None
    # Operation names compare in any case (``grants._derived_grant_allowed`` lower-cases them).
    assert _solve(inputs, Kind.ROLE, "kms:CreateGrant", role, grant_operations("DECRYPT"))[1] is not None


def test_retiring_principal_may_retire_and_strangers_may_not() -> None:
    """KMS Developer Guide, "Retiring and revoking grants": the retiring principal may retire the
    grant; a principal of another account that is neither it nor the grantee may not."""
    retiring = f"arn:aws:iam::{OTHER}:role/retirer"
    grant = {"grantee_principal": APP_ROLE, "operations": ["Decrypt"], "retiring_principal": retiring}
    inputs = _inputs(grants=[grant])
    _, witness = _solve(inputs, Kind.ROLE, "kms:RetireGrant", lambda e: e.request.account != _s(KEY))
    assert witness is not None and witness.caller.arn == retiring
    _, none = _solve(
        inputs,
        Kind.ROLE,
        "kms:RetireGrant",
        lambda e: e.request.account != _s(KEY),
        lambda e: e.request.arn != _s(retiring),
    )
    assert none is None


# -- SCPs and RCPs ---------------------------------------------------------------------------------

DENY_KMS = {"Version": VERSION, "Statement": [{"Effect": "Deny", "Action": "kms:*", "Resource": "*"}]}
FULL_ACCESS = {"Version": VERSION, "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
RCP_DENY_KMS = {
    "Version": VERSION,
    "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "kms:*", "Resource": "*"}],
}
RCP_FULL_ACCESS = {
    "Version": VERSION,
    "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}],
}


def test_an_scp_denying_kms_leaves_only_service_linked_roles() -> None:
    """AWS Organizations User Guide, "Service control policies (SCPs)": SCPs do not affect
    service-linked roles. With an SCP denying kms:*, the only role of the account that can decrypt
    is a service-linked one."""
    inputs = _inputs(scps=[[FULL_ACCESS, DENY_KMS]], identity_policies=[ALLOW_ALL_KMS])
    _, witness = _solve(inputs, Kind.ROLE, "kms:Decrypt")
    assert witness is not None and ":role/aws-service-role/" in witness.caller.arn
    not_service_linked = (lambda e: z3.Not(z3.PrefixOf(_s("aws-service-role/"), e.request.path)),)
    assert _solve(inputs, Kind.ROLE, "kms:Decrypt", *not_service_linked)[1] is None
    assert _solve(inputs, Kind.ROOT, "kms:Decrypt")[1] is None  # the root user is limited too


def test_scps_apply_to_the_given_account_only_with_scp_account() -> None:
    inputs = _inputs(scps=[[DENY_KMS]])
    enc = encode_inputs(inputs, KEY_ARN, KEY, Kind.ROOT, scp_account=OTHER)
    solver = z3.Solver()
    solver.add(*enc.domain(), *enc.sent, enc.allowed)
    assert solver.check(enc.request.account == _s(KEY)) == z3.sat
    assert solver.check(enc.request.account == _s(OTHER)) == z3.unsat


def test_rcps_limit_services_too_but_not_aws_managed_keys() -> None:
    """KMS Developer Guide, "Resource control policies in AWS KMS": RCPs limit AWS service
    principals too, and do not apply to AWS managed keys."""
    policy = {
        "Version": VERSION,
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "logs.amazonaws.com"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ],
    }
    rcps = [[RCP_FULL_ACCESS, RCP_DENY_KMS]]
    assert _solve(_inputs(key_policy=policy), Kind.SERVICE, "kms:Decrypt")[1] is not None
    assert _solve(_inputs(key_policy=policy, rcps=rcps), Kind.SERVICE, "kms:Decrypt")[1] is None
    managed = _inputs(key_policy=policy, rcps=rcps, key_manager="AWS")
    assert _solve(managed, Kind.SERVICE, "kms:Decrypt")[1] is not None


# -- permission boundaries and session policies ------------------------------------------------------
# source: IAM User Guide, "Policy evaluation logic" ("Evaluating identity-based policies with
# resource-based policies"; "Permissions boundaries"; "Session policies"): a resource-based policy
# naming a role ARN is limited by the boundary and the session policy; one naming the user or
# session ARN itself is not.

DENY_NOTHING_USEFUL = {
    "Version": VERSION,
    "Statement": [{"Effect": "Allow", "Action": "kms:DescribeKey", "Resource": "*"}],
}


def _policy_for(principal: str) -> dict[str, Any]:
    statement = {"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "kms:Decrypt", "Resource": "*"}
    return {"Version": VERSION, "Statement": [statement]}


def test_boundary_limits_a_role_named_by_the_key_policy_but_not_a_user() -> None:
    role_inputs = _inputs(key_policy=_policy_for(APP_ROLE), permission_boundary=DENY_NOTHING_USEFUL)
    assert _solve(role_inputs, Kind.ASSUMED_ROLE, "kms:Decrypt")[1] is None
    user = f"arn:aws:iam::{KEY}:user/alice"
    user_inputs = _inputs(key_policy=_policy_for(user), permission_boundary=DENY_NOTHING_USEFUL)
    _, witness = _solve(user_inputs, Kind.USER, "kms:Decrypt")
    assert witness is not None and witness.caller.arn == user


def test_session_policy_limits_sessions_of_a_named_role() -> None:
    inputs = _inputs(key_policy=_policy_for(APP_ROLE), session_policy=DENY_NOTHING_USEFUL)
    assert _solve(inputs, Kind.ASSUMED_ROLE, "kms:Decrypt")[1] is None
    # Without the session policy, a session of the role can.
    assert _solve(_inputs(key_policy=_policy_for(APP_ROLE)), Kind.ASSUMED_ROLE, "kms:Decrypt")[1] is not None


def test_not_principal_deny_names_every_caller_with_a_boundary() -> None:
    """IAM User Guide, "Permissions boundaries for IAM entities": a Deny with NotPrincipal always
    denies an IAM principal that has a permissions boundary, whatever NotPrincipal lists."""
    user = f"arn:aws:iam::{KEY}:user/alice"
    policy = _policy_for(user)
    policy["Statement"].append(
        {
            "Effect": "Deny",
            "NotPrincipal": {"AWS": [user, f"arn:aws:iam::{KEY}:root"]},
            "Action": "kms:*",
            "Resource": "*",
        }
    )
    assert _solve(_inputs(key_policy=policy), Kind.USER, "kms:Decrypt")[1] is not None
    with_boundary = _inputs(key_policy=policy, permission_boundary=ALLOW_ALL_KMS)
    assert _solve(with_boundary, Kind.USER, "kms:Decrypt")[1] is None


# -- IaC unknowns stay sound ---------------------------------------------------------------------


def test_a_symbolic_grantee_leaves_retire_grant_open() -> None:
    """A grantee that the IaC does not resolve could be the caller: whether the caller may retire a
    grant that includes RetireGrant then depends on it (KMS Developer Guide, "Retiring and revoking
    grants": the grantee may retire a grant that includes RetireGrant). The encoding keeps it open
    (an opaque atom naming the unknown) rather than answering "no"."""
    from dataclasses import replace

    from kmsguard.model.values import Unknown
    from tests.prove.full_support import prover_outcome

    partner_role = f"arn:aws:iam::{OTHER}:role/x"
    concrete = _inputs(grants=[{"grantee_principal": partner_role, "operations": ["Decrypt", "RetireGrant"]}])
    request = Request("kms:RetireGrant", parse_caller(partner_role), KEY_ARN, KEY)
    assert prover_outcome(concrete, request)[0] is Outcome.ALLOW
    symbolic = replace(concrete, grants=(replace(concrete.grants[0], grantee=Unknown("var.grantee")),))
    outcome, has_opaque = prover_outcome(symbolic, request)
    assert outcome is None and has_opaque
    enc = encode_inputs(symbolic, KEY_ARN, KEY, Kind.ROLE, actions=key_actions(with_retire_grant=True))
    assert any("var.grantee" in refs for _, refs in enc.opaque)
