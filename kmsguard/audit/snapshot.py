"""Write what an audit collected as a snapshot: a documented, versioned JSON document
(docs/audit.md; JSON Schema in kmsguard/data/snapshot.schema.json), gzip-compressed when the file
name ends in ``.gz``. ``kmsguard check snap.json.gz`` reads it back (kmsguard/load/snapshot.py).

``format`` is written first, so that input discovery recognises a snapshot from the first bytes
of the file (or of its decompressed stream) without parsing the whole document.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import tempfile
from collections.abc import Sequence
from typing import Any

from kmsguard.load.snapshot import SNAPSHOT_FORMAT, SNAPSHOT_VERSION


def build_snapshot(
    accounts: Sequence[dict[str, Any]], tool_version: str, created: dt.datetime | None = None
) -> dict[str, Any]:
    """The snapshot document for the account records ``collect_account`` returned."""
    moment = created or dt.datetime.now(dt.timezone.utc)
    return {
        "format": SNAPSHOT_FORMAT,
        "version": SNAPSHOT_VERSION,
        "created": moment.isoformat(),
        "tool": {"name": "kmsguard", "version": tool_version},
        "accounts": list(accounts),
    }


def snapshot_bytes(snapshot: dict[str, Any], *, compress: bool) -> bytes:
    # sort_keys=False keeps "format" first; compact separators keep large accounts small.
    text = json.dumps(snapshot, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    # mtime=0: the same snapshot gives the same bytes (reproducible files, stable digests).
    return gzip.compress(text, mtime=0) if compress else text


def write_snapshot(snapshot: dict[str, Any], path: str) -> None:
    """Write atomically: a reader never sees half a snapshot."""
    data = snapshot_bytes(snapshot, compress=path.endswith(".gz"))
    directory = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(prefix=".kmsguard-snapshot-", dir=directory)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
