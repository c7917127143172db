"""Rule checks the prover answers (``when: [{question: NAME}]``): access questions about every
request at once, each "yes" with a witness request the simulator confirmed.

A pack puts cheap pattern tests before a question (the runtime stops at the first predicate that
is false), so z3 is imported only when a policy could give the answer "yes": a key policy with no
wildcard or foreign principal never reaches the prover.

Symbolic values are bound before asking: the deployment's account (``AWS::AccountId``), region
and partition to the key's, the key's own ARN, and the roles and users of the policy's own folder.
When the key's account is not known (no ``--account``, no ARN), the question is asked for a stand-in
account (one the policy does not name) and for each account the policy names -- the key may be in
any of them; answers that differ make the finding unresolved, naming the accounts it holds for.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from kmsguard.model import Identity, Inventory, Policy, PolicyKind, ResourceRef, Statement, Template, Unknown
from kmsguard.model.values import THIS_ACCOUNT, THIS_PARTITION, THIS_REGION, refs_of
from kmsguard.rules_engine.access_tests import admitting_principals, key_account
from kmsguard.rules_engine.key_links import folder_of
from kmsguard.rules_engine.logic import FALSE, TRUE, unresolved
from kmsguard.rules_engine.predicates import Subject, TestResult

if TYPE_CHECKING:
    from kmsguard.authz.types import AuthzInputs
    from kmsguard.prove.questions import ProofResult
    from kmsguard.rules_engine.answer_cache import StoredAnswer

    # A fresh answer, or one read back from the answer cache (no z3 needed to use it).
    Answer = ProofResult | StoredAnswer

# A rule's question has a budget of z3 resource units per solver check rather than a time limit:
# the same budget gives the same answer on every machine and under any load, so a finding never
# depends on how busy the CI runner was. Past it the answer is "unknown" -- reported as unresolved,
# never as "no access". One million units take about a second on the slowest checks measured here;
# 99% of the checks on the shared corpus need under 300,000 (and a Deny on kms:PutKeyPolicy for
# every principal but one role, about 800,000). The clock limit only guards against a runaway.
RULE_RLIMIT = 1_000_000
RULE_TIMEOUT_MS = 10_000

# The key's account when nothing says which it is. Not a real account (AWS account ids are not all
# zeros), so it never equals an account a policy names.
STAND_IN_ACCOUNT = "000000000000"
_DEPLOYMENT_UNKNOWN = "the key's account (pass --account)"


def _bound_policy(subject: Subject, policy: Policy, account: str) -> tuple[Policy, str]:
    """``policy`` with the deployment context and the key's ARN bound; and that ARN."""
    from kmsguard.model.bind import ArnResolver

    org = subject.org
    partition = org.partition if org else "aws"
    region = (org.region if org else None) or "us-east-1"
    key = subject.key
    if key is not None and isinstance(key.arn, str):
        key_arn = key.arn
    else:
        key_id = key.key_id if key is not None and isinstance(key.key_id, str) else "example-key"
        key_arn = f"arn:{partition}:kms:{region}:{account}:key/{key_id}"
    context = {THIS_ACCOUNT: account, THIS_PARTITION: partition, THIS_REGION: region}
    values = _identity_arns(subject, policy, account, partition)
    if key is not None:
        values[key.address] = key_arn
    return ArnResolver(values, context).policy(policy), key_arn


def _identity_arns(subject: Subject, policy: Policy, account: str, partition: str) -> dict[str, str]:
    """ARNs of the roles and users the configuration creates that ``policy`` refers to, by address:
    they live in the deployment's account (as KMS012 assumes too). Only an identity of the policy's
    own folder counts (a CloudFormation logical id, a Terraform address, is unique only there), and
    only when one identity has that address there; only literal names give an ARN."""
    from kmsguard.model.resources import IdentityKind, Source

    if subject.inventory is None:
        return {}
    index = _identities_by_address(subject.inventory)
    folder = folder_of(subject.span.path)
    arns: dict[str, str] = {}
    for address in _referenced_addresses(policy):
        here = index.get((address, folder), ())
        if len(here) != 1:
            continue
        ident = here[0]
        if isinstance(ident.arn, str):
            arns[address] = ident.arn
        elif (
            ident.kind in (IdentityKind.ROLE, IdentityKind.USER)
            and ident.source in (Source.TERRAFORM, Source.CLOUDFORMATION)
            and isinstance(ident.name, str)
        ):
            path = ident.path if isinstance(ident.path, str) and ident.path else "/"
            arns[address] = f"arn:{partition}:iam::{account}:{ident.kind.value}{path}{ident.name}"
    return arns


def _referenced_addresses(policy: Policy) -> set[str]:
    """Addresses of the resources a policy's principals and condition values refer to."""
    found: set[str] = set()

    def add(value: Any) -> None:
        if isinstance(value, ResourceRef):
            found.add(value.address)
        elif isinstance(value, Template):
            found.update(s.address for s in value.symbols() if isinstance(s, ResourceRef))

    for stmt in policy.statements:
        for principals in (stmt.principals, stmt.not_principals):
            for principal in principals if isinstance(principals, tuple) else ():
                add(principal.value)
        for cond in stmt.conditions if isinstance(stmt.conditions, tuple) else ():
            for value in cond.values if isinstance(cond.values, tuple) else ():
                add(value)
    return found


# The inventory's identities by address and folder, built once per inventory (a check asks many
# questions; a replicated tree has one identity per address in each of many folders).
_IDENTITY_INDEX: dict[int, tuple[Inventory, dict[tuple[str, str], list[Identity]]]] = {}


def _identities_by_address(inventory: Inventory) -> dict[tuple[str, str], list[Identity]]:
    entry = _IDENTITY_INDEX.get(id(inventory))
    if entry is not None and entry[0] is inventory:
        return entry[1]
    index: dict[tuple[str, str], list[Identity]] = {}
    for ident in inventory.identities:
        index.setdefault((ident.address, folder_of(ident.span.path)), []).append(ident)
    if len(_IDENTITY_INDEX) >= 8:
        _IDENTITY_INDEX.clear()
    _IDENTITY_INDEX[id(inventory)] = (inventory, index)  # holding it keeps its id from being reused
    return index


def _through(policy: Policy, stmt: Statement) -> Policy:
    """The access ``stmt`` gives: it, with every statement that can deny (and the parts of the
    policy not known statically, which might)."""
    kept = tuple(s for s in policy.statements if s is stmt or s.effect != "Allow")
    return replace(policy, statements=kept)


def _spellings(policy: Policy) -> dict[str, str]:
    """Condition keys as the policy writes them, by their lower-cased name."""
    out: dict[str, str] = {}
    for stmt in policy.statements:
        if isinstance(stmt.conditions, tuple):
            for cond in stmt.conditions:
                if isinstance(cond.key, str):
                    out.setdefault(cond.key.lower(), cond.key)
    return out


def _shown(value: Any) -> str:
    # Bool and name matching is case-insensitive, so the solver's "tRUe" is AWS's "true".
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_shown(v) for v in value) + "]"
    return str(value) if value != "" else '""'


def _witness_text(result: Answer, policy: Policy) -> str:
    case = result.witness_case or {}
    if isinstance(case, dict) and isinstance(case.get("requests"), list):
        actions = " and ".join(str(r.get("action", "?")) for r in case["requests"] if isinstance(r, dict))
        return f"{case.get('principal', 'a caller')} can call {actions}"
    who = str(case.get("principal", "a caller"))
    text = f"{who} calling {case.get('action', 'the key')}"
    context = case.get("context") or {}
    if context:
        names = _spellings(policy)
        text += " with " + ", ".join(f"{names.get(k.lower(), k)}={_shown(v)}" for k, v in context.items())
    notes = _witness_notes(result)
    return text + (f" ({notes})" if notes else "")


def _witness_notes(result: Answer) -> str:
    case = result.witness_case if isinstance(result.witness_case, dict) else {}
    notes = []
    if ":role/aws-service-role/" in str(case.get("role_arn", "")):
        # Only an AWS service assumes such a role; said because SCPs and RCPs do not restrict it.
        notes.append("a service-linked role")
    if result.needs_identity_policy:
        notes.append("its own account's IAM policy allowing")
    return "; ".join(notes)


def _witness_request(result: Answer, policy: Policy) -> dict[str, Any] | None:
    """The witness as a request (principal, action, resource, context) for reports to lay out."""
    case = result.witness_case
    if not isinstance(case, dict) or isinstance(case.get("requests"), list):
        return None
    names = _spellings(policy)

    def shown(text: Any) -> str:
        return str(text).replace(STAND_IN_ACCOUNT, "<key-account>")

    return {
        "principal": shown(case.get("principal", "")),
        "action": str(case.get("action", "")),
        "resource": shown(case.get("resource", "")),
        "context": {names.get(k.lower(), k): v for k, v in (case.get("context") or {}).items()},
        "note": _witness_notes(result),
    }


# Answers by question and bound policy, keyed as the answer cache keys them (by the policy as data:
# where it was written does not matter), so a module instantiated many times, or a policy shared by
# keys, is proved once per run even with the cache on disk turned off.
_ANSWERS: dict[str, Answer] = {}
_MEMO_LIMIT = 4096


def _canonical(result: Answer, policy: Policy, inputs: AuthzInputs | None = None) -> Answer:
    if result.witness is None:  # nothing to rewrite (an answer from the cache is already canonical)
        return result
    from kmsguard.prove.witness import canonical

    return canonical(result, policy, inputs)  # type: ignore[arg-type]


def _memo(
    key: tuple[Any, ...], ask: Callable[[], ProofResult], policy: Policy, inputs: AuthzInputs | None = None
) -> Answer:
    """The answer from this run's memo, else from the answer cache on disk, else asked (and then
    kept in both, with its witness already in the form reports show). The prover (z3) is imported
    only here, by ``ask``: a run whose every answer is cached never loads it."""
    from kmsguard.rules_engine import answer_cache

    disk_key = answer_cache.key_of(*key)
    known = _ANSWERS.get(disk_key)
    if known is not None:
        return known
    if len(_ANSWERS) >= _MEMO_LIMIT:
        _ANSWERS.clear()
    stored = answer_cache.load(disk_key)
    answer = answer_cache.stored_answer(stored) if stored is not None else None
    if answer is None:
        answer = _canonical(ask(), policy, inputs)
        answer_cache.store(
            disk_key,
            {
                "answer": answer.answer,
                "depends_on": list(answer.depends_on),
                "explanation": answer.explanation,
                "witness_case": answer.witness_case,
                "needs_identity_policy": answer.needs_identity_policy,
            },
        )
    _ANSWERS[disk_key] = answer
    return answer


def _named_accounts(policy: Policy) -> list[str]:
    """The account ids ``policy`` names, sorted: kept in the answer cache beside the answers, since
    computing them needs the prover's module (and with it z3)."""
    from kmsguard.rules_engine import answer_cache

    disk_key = answer_cache.key_of("named-accounts", policy)
    stored = answer_cache.load(disk_key)
    accounts = stored.get("accounts") if stored is not None else None
    if isinstance(accounts, list) and all(isinstance(a, str) for a in accounts):
        return sorted(accounts)
    from kmsguard.prove.witness import named_accounts

    found = sorted(named_accounts(policy))
    answer_cache.store(disk_key, {"accounts": found})
    return found


def _evidence(result: Answer, policy: Policy) -> dict[str, Any]:
    # The stand-in for a key account nothing names is shown as what it stands for.
    shown = _canonical(result, policy)
    witness = _witness_text(shown, policy).replace(STAND_IN_ACCOUNT, "<key-account>")
    fields: dict[str, Any] = {
        "witness": witness,
        "evidence": f": e.g. {witness}",
        "explanation": result.explanation,
    }
    request = _witness_request(shown, policy)
    if request is not None:
        fields["witness_request"] = request
    return fields


Asker = Callable[[Policy, str, str], "ProofResult"]


def _answers(
    subject: Subject,
    policy: Policy,
    name: str,
    ask: Callable[..., ProofResult],
    extra: tuple[Any, ...] = (),
    rcps: tuple[tuple[Policy, ...], ...] = (),
) -> list[Any]:
    """The question for each account the key may be in: the known one; else a stand-in for "an
    account the policy does not name" and each account it names (the key may be in any of them).
    ``rcps``: the key account's RCP levels, among the inputs of the question and of the witness's
    re-checks."""
    account = key_account(subject)
    if account is not None:
        candidates = [account]
    else:
        probe, _ = _bound_policy(subject, policy, STAND_IN_ACCOUNT)
        candidates = [STAND_IN_ACCOUNT, *_named_accounts(probe)]
    out = []
    for candidate in candidates:
        bound, key_arn = _bound_policy(subject, policy, candidate)
        inputs = _inputs_with(bound, rcps)
        result = _memo(
            (name, bound, candidate, key_arn, *extra, *((rcps,) if rcps else ())),
            (lambda b=bound, c=candidate, k=key_arn, i=inputs: ask(b, c, k, i))
            if inputs is not None
            else (lambda b=bound, c=candidate, k=key_arn: ask(b, c, k)),
            bound,
            inputs,
        )
        out.append((candidate, bound, result))
    return out


def _inputs_with(bound: Policy, rcps: tuple[tuple[Policy, ...], ...]) -> AuthzInputs | None:
    if not rcps:
        return None
    from kmsguard.authz.types import AuthzInputs

    return AuthzInputs(key_policy=bound, rcps=rcps)


def _verdict(answers: list[Any], bad: str = "yes") -> TestResult:
    """One truth from the answers for each account the key may be in: ``bad`` for all of them is
    a finding, for none of them no finding, for some of them a finding that depends on the key's
    account. Any "unknown" makes it unresolved."""
    unknown = [r for _, _, r in answers if r.answer == "unknown"]
    hits = [(account, bound, r) for account, bound, r in answers if r.answer == bad]
    if unknown:
        reasons = tuple(d for r in unknown for d in (r.depends_on or ("the prover could not decide",)))
        fields = _evidence(hits[0][2], hits[0][1]) if hits and hits[0][2].witness_case else {"evidence": ""}
        return TestResult(unresolved(*dict.fromkeys(reasons)), fields=fields)
    if not hits:
        return TestResult(FALSE)
    _, bound, result = hits[0]
    fields = (
        _evidence(result, bound)
        if result.witness_case
        else {"evidence": "", "explanation": result.explanation}
    )
    if len(hits) < len(answers):
        where = ", ".join(
            a if a != STAND_IN_ACCOUNT else "an account the policy does not name" for a, _, _ in hits
        )
        return TestResult(unresolved(f"{_DEPLOYMENT_UNKNOWN}: so if it is {where}"), fields=fields)
    return TestResult(TRUE, fields=fields)


def _statement_policy(subject: Subject) -> Policy | TestResult:
    if subject.kind != "key_policy_statement":
        return subject.policy if subject.policy is not None else TestResult(unresolved("the key policy"))
    stmt = subject.obj
    if isinstance(stmt.effect, Unknown):  # a part of the policy not known statically
        return TestResult(unresolved(*refs_of(stmt.effect)), fields={"evidence": ""})
    if subject.policy is None:
        return TestResult(unresolved("the key policy"), fields={"evidence": ""})
    return _through(subject.policy, stmt)


def _rcp_levels(subject: Subject, account: str | None) -> tuple[tuple[Policy, ...], ...] | Unknown:
    """The RCPs that bound access to the key: its account's levels from the organisation (an
    audit snapshot records them), ``()`` when none apply or nothing was recorded (IaC inputs), and
    Unknown when they apply but could not be read. RCPs never apply to AWS managed keys (KMS
    Developer Guide, "Resource control policies in AWS KMS")."""
    key = subject.key
    if subject.inventory is None or account is None or (key is not None and key.key_manager == "AWS"):
        return ()
    levels = subject.inventory.org_policy_levels(account, PolicyKind.RCP)
    return () if levels is None else levels


def _unless_rcps_unread(verdict: TestResult, levels: tuple[tuple[Policy, ...], ...] | Unknown) -> TestResult:
    """RCPs only take access away: with them unread, "no access" stands, and access found without
    them holds only if they allow it -- unresolved, naming what could not be read."""
    if isinstance(levels, Unknown) and verdict.truth.is_true:
        return replace(
            verdict, truth=unresolved(f"{levels.ref} ({levels.reason})" if levels.reason else levels.ref)
        )
    return verdict


def _public(subject: Subject, params: Mapping[str, Any]) -> TestResult:
    """Can a principal of an account the policy does not name (a stranger) use the key -- through
    this statement when the subject is a statement?"""
    policy = _statement_policy(subject)
    if isinstance(policy, TestResult):
        return policy
    actions = params.get("actions")
    levels = _rcp_levels(subject, key_account(subject))
    known_levels = levels if not isinstance(levels, Unknown) else ()

    def ask(bound: Policy, account: str, key_arn: str, inputs: Any = None) -> ProofResult:
        from kmsguard.prove import questions

        return questions.public(
            bound,
            actions,
            key_account=account,
            key_arn=key_arn,
            timeout_ms=RULE_TIMEOUT_MS,
            rlimit=RULE_RLIMIT,
            inputs=inputs,
        )

    answers = _answers(subject, policy, "public", ask, (actions,), known_levels)
    return _unless_rcps_unread(_verdict(answers), levels)


def _external(subject: Subject, params: Mapping[str, Any]) -> TestResult:
    """Can a principal outside the trusted accounts (default: the key's own) and organisation (when
    configured) use the key?"""
    policy = _statement_policy(subject)
    if isinstance(policy, TestResult):
        return policy
    account = key_account(subject)
    org = subject.org
    trusted = tuple(org.trusted_accounts) if org else ()
    org_id = org.org_id if org else None
    actions = params.get("actions")
    shown = {"trusted": _trusted_text(account, trusted)}
    bound, _ = _bound_policy(subject, policy, account or STAND_IN_ACCOUNT)
    definite, symbolic = admitting_principals(bound, account or STAND_IN_ACCOUNT, trusted)
    if not definite and not symbolic and account is not None:
        return TestResult(FALSE)  # once bound, every principal is of the key's or a trusted account
    if not definite and symbolic:
        # Only principals not known statically may be outsiders: that is the answer, and the
        # solver would spend its time on values it cannot see.
        return TestResult(unresolved(*symbolic), fields={"evidence": "", **shown})

    levels = _rcp_levels(subject, account)
    known_levels = levels if not isinstance(levels, Unknown) else ()

    def ask(bound: Policy, key_account: str, key_arn: str, inputs: Any = None) -> ProofResult:
        from kmsguard.prove import questions

        return questions.external(
            bound,
            trusted,
            org_id,
            actions,
            key_account=key_account,
            key_arn=key_arn,
            timeout_ms=RULE_TIMEOUT_MS,
            rlimit=RULE_RLIMIT,
            inputs=inputs,
        )

    answers = _answers(subject, policy, "external", ask, (actions, trusted, org_id), known_levels)
    verdict = _unless_rcps_unread(_verdict(answers), levels)
    if params.get("beyond_public") and verdict.truth.is_true and _public(subject, params).truth.is_true:
        return TestResult(FALSE)  # open to every account: the public-access rule's finding alone
    return replace(verdict, fields={**verdict.fields, **shown})


def _trusted_text(account: str | None, trusted: tuple[str, ...]) -> str:
    return ", ".join((account or "the key's account", *trusted))


def _lockout(subject: Subject, params: Mapping[str, Any]) -> TestResult:
    """Can no principal call kms:PutKeyPolicy on the key any more?"""
    policy = _statement_policy(subject)
    if isinstance(policy, TestResult):
        return policy

    def ask(bound: Policy, account: str, key_arn: str) -> ProofResult:
        from kmsguard.prove import questions

        return questions.lockout(
            bound, key_account=account, key_arn=key_arn, timeout_ms=RULE_TIMEOUT_MS, rlimit=RULE_RLIMIT
        )

    return _verdict(_answers(subject, policy, "lockout", ask))


def _admin_usage(subject: Subject, params: Mapping[str, Any]) -> TestResult:
    """Can a principal the key policy names itself both manage the key and use it? (Principals that
    get both only through the account's IAM, and the root user, are every default policy's.)"""
    policy = _statement_policy(subject)
    if isinstance(policy, TestResult):
        return policy

    def ask(bound: Policy, account: str, key_arn: str) -> ProofResult:
        from kmsguard.prove import control

        named_class = next(c for c in control.ADMIN_USAGE_CLASSES if "allows by itself" in c.label)
        # Creating grants is KMS023's question (a user may create grants for AWS resources, and one
        # that can create others is a delegation finding of its own).
        managing = tuple(a for a in control.management_actions() if a.lower() != "kms:creategrant")
        found = control.admin_usage(
            bound,
            key_account=account,
            key_arn=key_arn,
            management=managing,
            classes=(named_class,),
            timeout_ms=RULE_TIMEOUT_MS,
            rlimit=RULE_RLIMIT,
        )
        return found[named_class.label]

    return _verdict(_answers(subject, policy, "admin-usage", ask))


QUESTIONS: dict[str, Callable[[Subject, Mapping[str, Any]], TestResult]] = {
    "public": _public,
    "external": _external,
    "lockout": _lockout,
    "admin_usage": _admin_usage,
}


def ask(name: str, subject: Subject, params: Mapping[str, Any]) -> TestResult:
    return QUESTIONS[name](subject, params)


__all__ = ["QUESTIONS", "STAND_IN_ACCOUNT", "ask"]
