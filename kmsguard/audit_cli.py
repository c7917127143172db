"""``kmsguard audit``: collect one AWS account read-only, save it as a snapshot if asked, and run
every rule on it through the same pipeline as ``kmsguard check`` (collect -> snapshot ->
run_check). Exit codes as for ``check``: 0 clean, 1 findings, 2 errors.

Only the standard library is imported at module level: ``kmsguard check`` builds this parser too.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from dataclasses import dataclass, replace
from typing import Any, TextIO

EXIT_ERROR = 2
AUDIT_FORMATS = ("text", "json", "sarif", "html")


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _accounts(text: str) -> list[str]:
    ids = _csv(text)
    bad = [i for i in ids if not (i.isdigit() and len(i) == 12)]
    if bad or not ids:
        raise argparse.ArgumentTypeError(f"expected 12-digit account ids, not {', '.join(bad) or repr(text)}")
    return ids


def _positive(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a number (1 or more), not {text!r}")
    return int(text)


def add_audit_parser(subparsers: Any) -> None:
    audit = subparsers.add_parser(
        "audit",
        help="audit a live AWS account, read-only (keys, policies, grants, aliases, IAM)",
        description="Collect what kmsguard needs from an AWS account with read-only calls and run "
        "every rule on it. --save keeps the collected data for `kmsguard check snap.json.gz`.",
    )
    audit.add_argument("--profile", help="AWS profile (default: the environment's credentials)")
    audit.add_argument(
        "--role-name",
        help="assume this role in each member account (sts:AssumeRole, the one call that is not a read); "
        "the caller's own account is read with the caller's credentials",
    )
    audit.add_argument(
        "--accounts",
        type=_accounts,
        help="comma-separated account ids (default with --role-name: the organisation's active accounts)",
    )
    audit.add_argument(
        "--concurrency",
        type=_positive,
        default=8,
        metavar="N",
        help="accounts, Regions and keys read at once (default: 8)",
    )
    audit.add_argument(
        "--regions", type=_csv, help="comma-separated Regions (default: every Region enabled in the account)"
    )
    audit.add_argument(
        "--save", metavar="FILE", help="write the snapshot here (.json, or .json.gz to compress)"
    )
    audit.add_argument("--format", "-f", choices=AUDIT_FORMATS, default="text", help="output format")
    audit.add_argument("--output", "-o", help="write the report to this file instead of stdout")
    audit.add_argument("--severity", default="info", help="report findings at or above this severity")
    audit.add_argument(
        "--endpoint-url", help="send every call to this endpoint (a local test endpoint such as moto)"
    )


def _fail(message: str) -> int:
    sys.stderr.write(f"kmsguard: error: {message}\n")
    return EXIT_ERROR


def run_audit(args: argparse.Namespace) -> int:
    from kmsguard.findings import Severity

    try:
        severity = Severity.parse(args.severity)
    except ValueError as err:
        return _fail(str(err))
    options = CollectOptions(
        profile=args.profile,
        regions=args.regions,
        endpoint_url=args.endpoint_url,
        role_name=getattr(args, "role_name", None),
        accounts=getattr(args, "accounts", None),
        concurrency=getattr(args, "concurrency", 8),
    )
    try:
        snapshot, calls = collect_snapshot(options, sys.stderr)
    except AuditStartError as err:
        return _fail(str(err))
    if args.save:
        from kmsguard.audit.snapshot import write_snapshot

        try:
            write_snapshot(snapshot, args.save)
        except OSError as err:
            return _fail(f"{args.save}: cannot write snapshot: {err.strerror or err}")
    accounts = [str(a["account"]) for a in snapshot["accounts"]]
    label = args.save or "aws-account-" + "-".join(accounts)
    result = check_snapshot(snapshot, label, severity)
    code = _report(result, args.format, args.output)
    write_summary(sys.stderr, snapshot, result.findings, calls)
    return code


class AuditStartError(Exception):
    """The audit could not start: credentials, profile, Regions, the list of accounts."""


@dataclass(frozen=True)
class CollectOptions:
    profile: str | None = None
    regions: list[str] | None = None
    endpoint_url: str | None = None
    role_name: str | None = None
    accounts: list[str] | None = None
    concurrency: int = 8


def collect_snapshot(options: CollectOptions, stream: TextIO | None = None) -> tuple[dict[str, Any], Any]:
    """Collect the accounts and wrap them as a snapshot document; also the calls sent per account
    and Region. A progress line is drawn on ``stream`` when it is a terminal."""
    from botocore.exceptions import BotoCoreError

    from kmsguard import __version__
    from kmsguard.audit.client import AuditSession
    from kmsguard.audit.collect import AuditError
    from kmsguard.audit.progress import ProgressLine
    from kmsguard.audit.run import collect_accounts
    from kmsguard.audit.snapshot import build_snapshot

    try:
        session = AuditSession(options.profile, endpoint_url=options.endpoint_url)
        progress = ProgressLine(stream, calls=lambda: session.calls) if stream is not None else None
        try:
            collection = collect_accounts(
                session,
                accounts=options.accounts,
                role_name=options.role_name,
                regions=options.regions,
                concurrency=options.concurrency,
                progress=progress,
            )
        finally:
            if progress is not None:
                progress.finish()
    except (AuditError, BotoCoreError) as err:
        raise AuditStartError(str(err)) from err
    return build_snapshot(collection.accounts, __version__), collection.calls


def write_summary(stream: TextIO, snapshot: dict[str, Any], findings: Any, calls: Any) -> None:
    """The summary table, for people: only on a terminal."""
    from kmsguard.audit.progress import render_summary, summary_rows

    isatty = getattr(stream, "isatty", None)
    if not (isatty and isatty()):
        return
    stream.write(render_summary(summary_rows(snapshot["accounts"], findings, calls)))
    stream.flush()


def check_snapshot(snapshot: dict[str, Any], label: str, severity: Any) -> Any:
    """Run ``run_check`` on the snapshot (written to a temporary file), naming it ``label``."""
    from kmsguard.audit.snapshot import write_snapshot
    from kmsguard.check import CheckOptions, run_check
    from kmsguard.load.base import LoadContext
    from kmsguard.load.snapshot import deployment_context

    # run_check takes the deployment context from its options: give it the snapshot's.
    context = deployment_context(snapshot, LoadContext())
    with tempfile.TemporaryDirectory(prefix="kmsguard-audit-") as directory:
        path = os.path.join(directory, "snapshot.json")
        write_snapshot(snapshot, path)
        result = run_check(CheckOptions(paths=(path,), context=context, severity=severity))
        _ = result.inventory  # the HTML report reads it; load it while the snapshot file exists
    relabel = _relabeller(path, label)
    result.findings = [relabel(f) for f in result.findings]
    result.suppressed = [relabel(f) for f in result.suppressed]
    result.errors = [replace(e, path=label) if e.path == path else e for e in result.errors]
    result.files = [label]
    return result


def _relabeller(path: str, label: str) -> Any:
    def relabel(finding: Any) -> Any:
        if finding.span.path != path:
            return finding
        return replace(finding, span=replace(finding.span, path=label))

    return relabel


def _report(result: Any, fmt: str, output: str | None) -> int:
    from pathlib import Path

    from kmsguard import __version__
    from kmsguard.report import ReportInput, RuleInfo, render

    report = ReportInput(
        findings=[*result.findings, *result.suppressed],
        rules=[
            RuleInfo(r.id, r.title, r.severity, r.category, r.description, r.remediation, r.help_uri)
            for r in result.rules
        ],
        sources=result.sources,
        errors=result.errors,
        files_checked=result.files,
        tool_version=__version__,
        inventory=result.inventory if fmt == "html" else None,
    )
    text = render(fmt, report, color=False)
    if output:
        try:
            Path(output).write_text(text, encoding="utf-8")
        except OSError as err:
            return _fail(f"{output}: cannot write report: {err.strerror}")
    else:
        sys.stdout.write(text if text.endswith("\n") or not text else text + "\n")
    return int(result.exit_code)
