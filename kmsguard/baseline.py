"""Baselines: accept today's findings so a CI gate only fails on new ones.

A baseline records findings by ``Finding.fingerprint`` (rule, path, resource, element, message;
no line numbers), so editing a file above a finding does not make it new, while a finding whose
message changed (a different principal, a different action) is new. Identical fingerprints are
counted: if the baseline holds 2 and the code now has 3, one of them is new.

Only unsuppressed findings are written: a suppressed finding is already explained in the source,
and if its suppression comment is removed later it must come back rather than hide in a baseline.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from kmsguard.findings import Finding

BASELINE_VERSION = 1
_FINGERPRINT = re.compile(r"[0-9a-f]{32}")
_NEW_FILE_MODE = 0o644


class BaselineError(Exception):
    """A baseline file that cannot be used; the message is one line, naming the file."""


class Baseline:
    """The recorded fingerprints and how many findings had each.

    ``contains`` is meant to be asked once per current finding, and each "yes" uses up one
    recorded occurrence: with 2 recorded and 3 identical findings now, the third answer is "no",
    so one of them is reported as new. ``new_findings`` answers for a whole list at once without
    using anything up."""

    def __init__(self, counts: Mapping[str, int]) -> None:
        self.counts: Mapping[str, int] = MappingProxyType(dict(counts))  # fingerprint -> count
        self._unused = dict(counts)  # occurrences not yet matched by ``contains``

    def contains(self, finding: Finding) -> bool:
        """Whether ``finding`` is accounted for by a recorded occurrence not matched before."""
        if self._unused.get(finding.fingerprint, 0) <= 0:
            return False
        self._unused[finding.fingerprint] -= 1
        return True

    def new_findings(self, findings: Sequence[Finding]) -> list[Finding]:
        """The findings the baseline does not account for. Of N findings sharing a fingerprint
        that the baseline holds M times, the first M in report order are accounted for and the
        remaining N - M are new. Suppressed findings are never new."""
        unused = dict(self.counts)
        new: list[Finding] = []
        for finding in sorted(findings, key=lambda f: (*f.sort_key, f.message)):
            if finding.suppressed_by is not None:
                continue
            if unused.get(finding.fingerprint, 0) > 0:
                unused[finding.fingerprint] -= 1
            else:
                new.append(finding)
        return new

    def __len__(self) -> int:
        return sum(self.counts.values())


def make_baseline(findings: Sequence[Finding]) -> Baseline:
    counts = Counter(f.fingerprint for f in findings if f.suppressed_by is None)
    return Baseline(counts)


def write_baseline(path: str, findings: Sequence[Finding]) -> None:
    """Write the unsuppressed ``findings`` to ``path`` as JSON: one entry per fingerprint with
    its count, sorted, with the rule, path, resource and message so a reviewer can read the
    baseline's diff. Written atomically, so an interrupted run never leaves half a file.
    Raises ``OSError`` when the file cannot be written (the CLI reports its ``strerror``)."""
    import tempfile  # only when writing: keeps `kmsguard check --baseline` start-up lean

    text = json.dumps(baseline_document(findings), indent=2) + "\n"
    directory = os.path.dirname(os.path.abspath(path))
    # mkstemp creates the file 0600; a baseline is meant to be committed and shared.
    mode = os.stat(path).st_mode & 0o777 if os.path.exists(path) else _NEW_FILE_MODE
    handle, temporary = tempfile.mkstemp(prefix=".kmsguard-baseline-", dir=directory)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        _remove_quietly(temporary)
        raise


def _remove_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def baseline_document(findings: Sequence[Finding]) -> dict[str, Any]:
    first_by_fingerprint: dict[str, Finding] = {}
    counts: Counter[str] = Counter()
    for finding in findings:
        if finding.suppressed_by is not None:
            continue
        first_by_fingerprint.setdefault(finding.fingerprint, finding)
        counts[finding.fingerprint] += 1
    entries = [
        {
            "fingerprint": fingerprint,
            "count": counts[fingerprint],
            "rule_id": finding.rule_id,
            "path": finding.span.path,
            "resource": finding.resource,
            "message": finding.message,
        }
        for fingerprint, finding in first_by_fingerprint.items()
    ]
    entries.sort(key=lambda e: (e["path"], e["rule_id"], e["resource"], e["message"], e["fingerprint"]))
    return {"version": BASELINE_VERSION, "tool": "kmsguard", "findings": entries}


def read_baseline(path: str) -> Baseline:
    """Read a baseline written by ``write_baseline``; raises ``BaselineError`` on a missing,
    unreadable or malformed file."""
    try:
        with open(path, encoding="utf-8") as stream:
            text = stream.read()
    except OSError as error:
        raise BaselineError(f"{path}: cannot read baseline: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise BaselineError(f"{path}: baseline is not UTF-8 text") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise BaselineError(f"{path}:{error.lineno}: baseline is not valid JSON: {error.msg}") from None
    return Baseline(_parse_counts(path, document))


def _parse_counts(path: str, document: object) -> dict[str, int]:
    if not isinstance(document, dict):
        raise BaselineError(f"{path}: baseline must be a JSON object")
    version = document.get("version")
    if version != BASELINE_VERSION:
        raise BaselineError(f"{path}: unsupported baseline version {version!r} (expected {BASELINE_VERSION})")
    entries = document.get("findings")
    if not isinstance(entries, list):
        raise BaselineError(f"{path}: baseline has no 'findings' list")
    counts: Counter[str] = Counter()
    for index, entry in enumerate(entries):
        fingerprint, count = _parse_entry(path, index, entry)
        counts[fingerprint] += count
    return dict(counts)


def _parse_entry(path: str, index: int, entry: object) -> tuple[str, int]:
    where = f"{path}: baseline entry {index}"
    if not isinstance(entry, dict):
        raise BaselineError(f"{where} must be an object")
    fingerprint = entry.get("fingerprint")
    if not isinstance(fingerprint, str) or not _FINGERPRINT.fullmatch(fingerprint):
        raise BaselineError(f"{where} has no valid 'fingerprint'")
    count = entry.get("count", 1)
    # bool is an int in Python; `true` is not a count.
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise BaselineError(f"{where} has an invalid 'count' {count!r} (expected a positive integer)")
    return fingerprint, count
