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
from dataclasses import replace
from typing import Any

EXIT_ERROR = 2
AUDIT_FORMATS = ("text", "json", "sarif")


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def add_audit_parser(subparsers: Any) -> None:
    audit = subparsers.add_parser(
        "audit",
        help="audit a live AWS account, read-only (keys, policies, grants, aliases, IAM)",
        description="Collect what kmsguard needs from an AWS account with read-only calls and run "
        "every rule on it. --save keeps the collected data for `kmsguard check snap.json.gz`.",
    )
    audit.add_argument("--profile", help="AWS profile (default: the environment's credentials)")
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
    try:
        snapshot = collect_snapshot(args.profile, args.regions, args.endpoint_url)
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
    return _report(result, args.format, args.output)


class AuditStartError(Exception):
    """The audit could not start: credentials, profile, Regions."""


def collect_snapshot(
    profile: str | None, regions: list[str] | None, endpoint_url: str | None = None
) -> dict[str, Any]:
    """Collect one account and wrap it as a snapshot document."""
    from botocore.exceptions import BotoCoreError

    from kmsguard import __version__
    from kmsguard.audit.client import AuditSession
    from kmsguard.audit.collect import AuditError, collect_account
    from kmsguard.audit.snapshot import build_snapshot

    progress = _progress_printer() if sys.stderr.isatty() else None
    try:
        session = AuditSession(profile, endpoint_url=endpoint_url)
        record = collect_account(session, regions, progress)
    except (AuditError, BotoCoreError) as err:
        raise AuditStartError(str(err)) from err
    return build_snapshot([record], __version__)


def check_snapshot(snapshot: dict[str, Any], label: str, severity: Any) -> Any:
    """Run ``run_check`` on the snapshot (written to a temporary file), naming it ``label``."""
    from kmsguard.audit.snapshot import write_snapshot
    from kmsguard.check import CheckOptions, run_check
    from kmsguard.load.base import LoadContext

    accounts = {str(a["account"]) for a in snapshot["accounts"]}
    partition = str(snapshot["accounts"][0].get("partition", "aws")) if snapshot["accounts"] else "aws"
    context = LoadContext(account=next(iter(accounts)) if len(accounts) == 1 else None, partition=partition)
    with tempfile.TemporaryDirectory(prefix="kmsguard-audit-") as directory:
        path = os.path.join(directory, "snapshot.json")
        write_snapshot(snapshot, path)
        result = run_check(CheckOptions(paths=(path,), context=context, severity=severity))
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


def _progress_printer() -> Any:
    def show(step: str) -> None:
        sys.stderr.write(f"\rkmsguard audit: reading {step} ...\x1b[K")
        sys.stderr.flush()

    return show
