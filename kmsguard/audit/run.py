"""Collect many accounts and Regions at once, with a bounded pool of threads, into account records
whose content and order do not depend on which call finished first.

The work is split into tasks of three sizes -- open an account (assume its role, read its IAM,
organisation record and S3 buckets, list its Regions), list a Region (keys, aliases, key-using
resources), read a key -- and the main thread hands each task to the pool as soon as the task it
needs has finished, so the pool never waits on itself. Every task records its failures in a
``Collector`` of its own; the account record gathers them in a fixed order. Keys, aliases, grants,
resources, Regions and accounts are sorted, so ``--concurrency 1`` and ``--concurrency 8`` write
the same snapshot.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

from kmsguard.audit.client import AuditSession
from kmsguard.audit.collect import (
    AuditError,
    Collector,
    OrgReader,
    RegionListing,
    collect_iam,
    collect_key,
    collect_s3,
    enabled_regions,
    identify,
    list_region,
    partition_of,
)

DEFAULT_CONCURRENCY = 8


class ProgressSink(Protocol):
    """What the collection tells about its progress (kmsguard/audit/progress.py draws it)."""

    def add(self, accounts: int = 0, regions: int = 0, keys: int = 0) -> None: ...

    def done(self, accounts: int = 0, regions: int = 0, keys: int = 0) -> None: ...


@dataclass
class AccountRun:
    """One account's collection: its session and what its tasks found."""

    account: str
    session: AuditSession | None
    caller: str = ""
    partition: str = "aws"
    globals_collector: Collector | None = None
    organization: dict[str, Any] = field(default_factory=dict)
    iam: dict[str, Any] | None = None
    global_consumers: list[dict[str, Any]] = field(default_factory=list)
    regions: list[str] | None = None
    listings: dict[str, tuple[RegionListing, Collector]] = field(default_factory=dict)
    keys: dict[str, tuple[dict[str, Any], Collector]] = field(default_factory=dict)
    opening_gaps: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Collection:
    """The account records, and the calls each account's session sent (by Region, None: global)."""

    accounts: list[dict[str, Any]]
    calls: dict[str, dict[str | None, int]]


def role_arn(partition: str, account: str, role_name: str) -> str:
    return f"arn:{partition}:iam::{account}:role/{role_name.strip('/')}"


def collect_accounts(
    base: AuditSession,
    *,
    accounts: Sequence[str] | None = None,
    role_name: str | None = None,
    regions: Sequence[str] | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: ProgressSink | None = None,
    clock: Callable[[], dt.datetime] | None = None,
) -> Collection:
    """Collect ``accounts`` (default: with ``role_name``, the organisation's ACTIVE accounts;
    without, the caller's own account). Member accounts are read through ``role_name``, assumed
    in each; the caller's own account with the caller's credentials. ``AuditError`` when the
    audit cannot start (no caller identity, no account list)."""
    collected_at = (clock or (lambda: dt.datetime.now(dt.timezone.utc)))().isoformat()
    base_account, base_arn = identify(base)
    partition = partition_of(base_arn)
    org = OrgReader(Collector(base, base_account))
    targets = _target_accounts(accounts, role_name, base_account, org)
    if progress:
        progress.add(accounts=len(targets))
    runs = {account: AccountRun(account, None) for account in targets}
    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="kmsguard-audit") as pool:
        # Each running task, with what to do with its result: that returns the tasks to start next.
        pending: dict[Future[Any], Callable[[Any], list[Any]]] = {}

        def submit(work: Callable[[], Any], then: Callable[[Any], list[Any]]) -> None:
            pending[pool.submit(work)] = then

        def opened(run: AccountRun) -> list[Any]:
            if progress:
                progress.add(regions=len(run.regions or ()))
                if not run.regions:
                    progress.done(accounts=1)
            return [
                (lambda r=run, n=name: _list_region(r, n), lambda pair, r=run: listed(r, pair))
                for name in run.regions or ()
            ]

        def listed(run: AccountRun, pair: tuple[RegionListing, Collector]) -> list[Any]:
            listing, _ = pair
            run.listings[listing.region] = pair
            if progress:
                progress.add(keys=len(listing.key_arns or ()))
                progress.done(regions=1)
            follow = [
                (lambda r=run, g=listing.region, a=arn: _read_key(r, g, a), lambda got, r=run: read(r, got))
                for arn in listing.key_arns or ()
            ]
            if not follow:
                _maybe_account_done(run)
            return follow

        def read(run: AccountRun, got: tuple[str, dict[str, Any], Collector]) -> list[Any]:
            arn, record, collector = got
            run.keys[arn] = (record, collector)
            if progress:
                progress.done(keys=1)
            _maybe_account_done(run)
            return []

        def _maybe_account_done(run: AccountRun) -> None:
            expected = sum(len(lst.key_arns or ()) for lst, _ in run.listings.values())
            if progress and len(run.listings) == len(run.regions or ()) and len(run.keys) == expected:
                progress.done(accounts=1)

        for account in targets:
            submit(
                partial(_open_account, runs[account], base, base_account, partition, role_name, regions, org),
                opened,
            )
        while pending:
            finished, _ = wait(list(pending), return_when=FIRST_COMPLETED)
            for future in finished:
                then = pending.pop(future)
                for work, follow in then(future.result()):
                    submit(work, follow)
    records = [_account_record(runs[a], collected_at) for a in sorted(runs)]
    calls = {a: _calls(runs[a].session) for a in sorted(runs)}
    return Collection(records, calls)


def _calls(session: AuditSession | None) -> dict[str | None, int]:
    return dict(session.calls_by_region) if session is not None else {}


def _target_accounts(
    accounts: Sequence[str] | None, role_name: str | None, base_account: str, org: OrgReader
) -> list[str]:
    if accounts:
        wanted = sorted(set(accounts))
        if not role_name and wanted != [base_account]:
            raise AuditError(
                f"--accounts names accounts other than the caller's ({base_account}): "
                "give --role-name, the role to assume in each"
            )
        return wanted
    if not role_name:
        return [base_account]
    active = org.active_accounts()
    if active is None:
        raise AuditError(
            "cannot list the organisation's accounts (organizations:ListAccounts); name them with --accounts"
        )
    return active


def _open_account(
    run: AccountRun,
    base: AuditSession,
    base_account: str,
    partition: str,
    role_name: str | None,
    regions: Sequence[str] | None,
    org: OrgReader,
) -> AccountRun:
    """Credentials, identity, organisation record, IAM, S3 and the Regions to read."""
    collector = Collector(base, run.account)
    if run.account == base_account or not role_name:
        session: AuditSession | None = base
    else:
        arn = role_arn(partition, run.account, role_name)
        session = collector.attempt("sts", "AssumeRole", None, run.account, lambda: base.assume_role(arn))
    run.organization = org.record(run.account, collector)
    if session is None:
        run.opening_gaps = collector.gaps  # nothing else of this account can be read
        run.partition = partition
        return run
    run.session = session
    collector.session = session
    try:
        account, caller = identify(session)
    except AuditError as err:
        collector.gaps.append(_gap("sts", "GetCallerIdentity", run.account, "IdentityUnknown", str(err)))
        run.opening_gaps = collector.gaps
        return run
    run.caller, run.partition = caller, partition_of(caller)
    if account != run.account:
        collector.gaps.append(
            _gap(
                "sts",
                "GetCallerIdentity",
                run.account,
                "WrongAccount",
                f"the credentials for {run.account} belong to account {account}",
            )
        )
        run.opening_gaps = collector.gaps
        return run
    try:
        run.regions = sorted(regions) if regions else enabled_regions(collector)
    except AuditError:
        run.regions = None  # enabled_regions recorded the gaps
    run.iam = collect_iam(collector)
    run.global_consumers = collect_s3(collector)
    run.globals_collector = collector
    return run


def _gap(service: str, operation: str, account: str, code: str, message: str) -> dict[str, Any]:
    return {
        "service": service,
        "operation": operation,
        "region": None,
        "resource": account,
        "error_code": code,
        "message": message[:500],
        "access_denied": False,
    }


def _list_region(run: AccountRun, region: str) -> tuple[RegionListing, Collector]:
    assert run.session is not None  # only opened accounts have Regions
    collector = Collector(run.session, run.account)
    return list_region(collector, region), collector


def _read_key(run: AccountRun, region: str, arn: str) -> tuple[str, dict[str, Any], Collector]:
    assert run.session is not None
    collector = Collector(run.session, run.account)
    return arn, collect_key(collector, region, arn), collector


def _account_record(run: AccountRun, collected_at: str) -> dict[str, Any]:
    """The account record, its parts and gaps in a fixed order."""
    gaps: list[dict[str, Any]] = list(run.opening_gaps)
    if run.globals_collector is not None:
        gaps = list(run.globals_collector.gaps)
    regions: list[dict[str, Any]] | None = None
    if run.regions is not None:
        regions = []
        for name in run.regions:
            listing, collector = run.listings[name]
            gaps.extend(collector.gaps)
            keys: list[dict[str, Any]] | None = None
            if listing.key_arns is not None:
                keys = []
                for arn in listing.key_arns:
                    record, key_collector = run.keys[arn]
                    keys.append(record)
                    gaps.extend(key_collector.gaps)
            regions.append(
                {"region": name, "keys": keys, "aliases": listing.aliases, "consumers": listing.consumers}
            )
    unknown_iam = {"status": "unknown", "users": None, "groups": None, "roles": None, "policies": None}
    return {
        "account": run.account,
        "partition": run.partition,
        "caller": run.caller,
        "collected": collected_at,
        "organization": run.organization,
        "iam": run.iam if run.iam is not None else unknown_iam,
        "global_consumers": run.global_consumers,
        "regions": regions,
        "gaps": gaps,
    }
