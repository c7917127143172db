"""``kmsguard merge a.json.gz b.json.gz ... -o org.json.gz``: one snapshot from several, so that
organisation-wide questions ("who outside the organisation can decrypt?") are answered on the
whole -- a large organisation is collected in parts (``--accounts`` subsets on a CI matrix) and
merged.

An account present in two inputs: the newer collection wins, and stderr says so. Inputs of
different organisations: exit 2 with one line, nothing written. Standard library only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TextIO

EXIT_OK, EXIT_ERROR = 0, 2


def add_merge_parser(subparsers: Any) -> None:
    merge = subparsers.add_parser(
        "merge",
        help="merge audit snapshots into one (org-wide questions on the whole)",
        description="Merge snapshots written by `kmsguard audit --save`. An account found twice is "
        "taken from the newer collection; snapshots of different organisations are refused.",
    )
    merge.add_argument("snapshots", nargs="+", metavar="SNAPSHOT", help=".json or .json.gz snapshots")
    merge.add_argument(
        "--output", "-o", required=True, metavar="FILE", help="the merged snapshot (.json.gz compresses)"
    )


class MergeError(Exception):
    """The inputs cannot be merged: one line for the user."""


@dataclass(frozen=True)
class _Entry:
    record: dict[str, Any]
    source: str
    collected: str  # ISO 8601: the record's collection time, else its snapshot's


def merge_snapshots(
    documents: Sequence[tuple[str, dict[str, Any]]], notes: TextIO | None = None
) -> dict[str, Any]:
    """The merged snapshot of ``(name, document)`` pairs; ``MergeError`` when organisations
    differ. Accounts are sorted; an account found twice keeps its newer record (a tie: the later
    input), and a line on ``notes`` says which was kept."""
    from kmsguard.audit.snapshot import build_snapshot

    _same_organisation(documents)
    chosen: dict[str, _Entry] = {}
    for name, document in documents:
        for record in document.get("accounts") or []:
            entry = _Entry(record, name, str(record.get("collected") or document.get("created") or ""))
            account = str(record.get("account"))
            seen = chosen.get(account)
            if seen is None:
                chosen[account] = entry
                continue
            newer, older = (
                (entry, seen) if _moment(entry.collected) >= _moment(seen.collected) else (seen, entry)
            )
            chosen[account] = newer
            if notes is not None:
                notes.write(
                    f"kmsguard: account {account} is in {older.source} (collected {older.collected}) and "
                    f"{newer.source} (collected {newer.collected}): keeping the newer, from {newer.source}\n"
                )
    from kmsguard import __version__

    # The newest input's time: the same inputs give the same merged bytes.
    created = max(_moment(str(d.get("created"))) for _, d in documents) if documents else None
    return build_snapshot([chosen[a].record for a in sorted(chosen)], __version__, created)


def _same_organisation(documents: Sequence[tuple[str, dict[str, Any]]]) -> None:
    where: dict[str, str] = {}
    for name, document in documents:
        for record in document.get("accounts") or []:
            org_id = (record.get("organization") or {}).get("id")
            if org_id:
                where.setdefault(str(org_id), name)
    if len(where) > 1:
        listed = ", ".join(f"{org} in {name}" for org, name in sorted(where.items()))
        raise MergeError(
            f"the snapshots belong to different organisations ({listed}); merge one organisation's"
        )


def _moment(text: str) -> dt.datetime:
    """An ISO 8601 time; one that cannot be read sorts first (oldest)."""
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return dt.datetime.min.replace(tzinfo=dt.timezone.utc)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def run_merge(args: argparse.Namespace) -> int:
    from kmsguard.audit.snapshot import write_snapshot
    from kmsguard.findings import InputError
    from kmsguard.load.snapshot import read_snapshot_file

    documents: list[tuple[str, dict[str, Any]]] = []
    failed = False
    for path in args.snapshots:
        document = read_snapshot_file(path)
        if isinstance(document, InputError):
            sys.stderr.write(f"kmsguard: error: {document}\n")
            failed = True
            continue
        documents.append((path, document))
    if failed:
        return EXIT_ERROR
    try:
        merged = merge_snapshots(documents, sys.stderr)
    except MergeError as err:
        sys.stderr.write(f"kmsguard: error: {err}\n")
        return EXIT_ERROR
    try:
        write_snapshot(merged, args.output)
    except OSError as err:
        sys.stderr.write(f"kmsguard: error: {args.output}: cannot write snapshot: {err.strerror or err}\n")
        return EXIT_ERROR
    return EXIT_OK
