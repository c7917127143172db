"""Loaded inputs kept between runs: a second ``kmsguard check`` over a tree where little changed
parses only what changed.

One entry per loading unit (a CloudFormation template, a policy file, a plan, or a Terraform
module directory with the local modules it calls). The entry is found by a digest of kmsguard's
loading code, the ``LoadContext``, the working directory and the unit itself (its kind, path and
the files discovery handed to it), and it is used only if EVERY file the unit read still reads the
same (same text, or the same error) and every directory whose listing the loader consulted still
holds the same Terraform file names. Which files a unit read is recorded while it loads
(``recording``), so ``file()`` / ``templatefile()`` targets and local modules count too, and a
target that did not exist is recorded as such: creating it invalidates the entry.

Entries are pickles of our own dataclasses in the user's cache directory (``KMSGUARD_CACHE_DIR``
relocates it, ``KMSGUARD_NO_CACHE=1`` turns it off), written atomically. An entry that cannot be
read, does not unpickle, or is not what this code wrote is ignored and overwritten; a cache that
cannot be written is simply not used. Because an entry is keyed by the unit and not by its
content, an edited file replaces its entry instead of adding one: the cache stays the size of the
tree (old entries remain only when kmsguard itself or the context changes).

Checking that a file still reads the same does not always re-read it. As git's index does, an
entry records each file's ``os.stat`` (size, mtime, ctime, inode, device) next to the digest of its
text, and a file whose stat is unchanged is taken as unchanged -- but only when its mtime is older
than the moment the entry's digests were taken by more than ``RACY_MARGIN_NS``: a file written in
the same instant as it was read ("racily clean") could change again without its stat changing, so
it is re-hashed, and content decides. (ctime cannot be set back by a user, so ``touch -d`` to an
old time does not hide an edit.) An entry whose files were re-hashed and found equal is rewritten
with fresh stats, so the next run trusts them.

An entry is a pickle of its header (``CacheEntry``: the key, the reads, the listings, the stats)
followed by a pickle of the ``LoadResult``: validating an entry does not unpickle the result, and a
run whose every input is unchanged may not need the results at all (``kmsguard.check``'s result
cache).
"""

from __future__ import annotations

import copyreg
import json
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

from kmsguard.findings import InputError
from kmsguard.load import reader
from kmsguard.load.base import LoadContext, LoadResult
from kmsguard.model.span import Span
from kmsguard.model.values import LStr

ENTRY_FORMAT = 2
# A file modified less than this before its digest was taken is re-hashed, whatever its stat says:
# file timestamps come from a coarse clock (a few ms on Linux, 2 s on FAT), so a write right after
# the read may carry an mtime from before it.
RACY_MARGIN_NS = 2_000_000_000
# The code a LoadResult depends on: the loaders, the model they build, the findings types.
_CODE_DIRS = ("load", "model")
_CODE_FILES = ("findings.py", "__init__.py")
# Third-party parsers the loaders use: an upgrade may parse differently.
_LIBRARIES = ("tree_sitter", "tree_sitter_hcl", "yaml")
# Names in a directory the Terraform loader lists that it may read (module files, tfvars).
_TERRAFORM_NAME_ENDINGS = (".tf", ".tf.json", ".tfvars", ".tfvars.json")


@dataclass(frozen=True)
class LoadUnit:
    """What one loader call loads: ``kind`` is "terraform" (``path`` is the module directory,
    ``files`` its .tf files as discovered) or the kind of one file (``files == (path,)``)."""

    kind: str
    path: str
    files: tuple[str, ...]


@dataclass(frozen=True)
class FileRead:
    """One read of a file as the loader saw it: the digest of its text, or of the error."""

    path: str
    limit: int
    digest: str


@dataclass(frozen=True)
class DirectoryListing:
    """The Terraform file names in a directory the loader listed (None: it could not be listed)."""

    path: str
    names: tuple[str, ...] | None


# What os.stat says of a file: (size, mtime_ns, ctime_ns, inode, device); None if it failed.
FileStat = tuple[int, int, int, int, int]


@dataclass(frozen=True)
class CacheEntry:
    """An entry's header: everything needed to decide whether it is current. ``stats`` are the
    reads' files' stats, in the order of ``reads``, taken after ``digested_ns`` (when their
    digests were taken, or the load that read them started)."""

    format: int
    key: str
    reads: tuple[FileRead, ...]
    listings: tuple[DirectoryListing, ...]
    stats: tuple[FileStat | None, ...]
    digested_ns: int


@dataclass(frozen=True)
class CachedUnit:
    """A current entry: ``identity`` names the result it holds (a digest of the unit's key and of
    what every file it read contained), ``payload`` is the pickled ``LoadResult``."""

    identity: str
    payload: bytes

    def result(self) -> LoadResult | None:
        import pickle

        try:
            result = pickle.loads(self.payload)
        except Exception:  # a corrupt entry can fail in many ways: it is just a miss
            return None
        return result if isinstance(result, LoadResult) else None


def _reduce_located_string(value: LStr) -> tuple[type[LStr], tuple[str, Span]]:
    return LStr, (str(value), value.span)


# LStr's constructor needs its span, which pickle's default for str subclasses does not pass.
# (LDict and LList pickle as they are: their spans are slots, which pickle keeps.)
copyreg.pickle(LStr, _reduce_located_string)


def digest_of(data: bytes) -> str:
    """The digest the caches key entries by."""
    return _blake2b(data)


def _blake2b(data: bytes) -> str:
    # _blake2 alone, not hashlib: hashlib loads OpenSSL (~4 ms), paid by every pre-commit run.
    try:
        from _blake2 import blake2b
    except ImportError:  # pragma: no cover - an interpreter without the builtin module
        from hashlib import blake2b
    return blake2b(data, digest_size=20).hexdigest()


@cache
def code_stamp() -> str:
    """A digest of the code a LoadResult depends on: any edit to it invalidates every entry."""
    import sys

    from kmsguard import __version__

    return stamp_of(Path(__file__).resolve().parent.parent, f"{__version__}\0{sys.version}")


def stamp_of(package_root: Path, versions: str) -> str:
    """A digest of the loading code under ``package_root`` (load/, model/, findings.py...), of
    ``versions`` and of where the parsing libraries are installed and when."""
    parts = [f"{versions}\0{ENTRY_FORMAT}".encode()]
    sources = sorted(p for d in _CODE_DIRS for p in (package_root / d).rglob("*.py"))
    sources += [package_root / name for name in _CODE_FILES]
    for path in sources:
        try:
            parts.append(str(path.relative_to(package_root)).encode() + b"\0" + path.read_bytes())
        except OSError:
            parts.append(str(path).encode() + b"\0missing")
    for library in _LIBRARIES:
        parts.append(f"{library}\0{installed_stamp(library)}".encode())
    return _blake2b(b"\0\0".join(parts))


def installed_stamp(library: str) -> str:
    """Where a parsing library is installed and when (its __init__.py's size and mtime), found on
    sys.path as the import system would, without importing it or importlib.util (start-up)."""
    import sys

    for entry in sys.path:
        init = os.path.join(entry or ".", library, "__init__.py")
        try:
            stat = os.stat(init)
        except OSError:
            continue
        return f"{init}\0{stat.st_size}\0{stat.st_mtime_ns}"
    return "absent"


def unit_key(unit: LoadUnit, ctx: LoadContext) -> str:
    identity = [
        code_stamp(),
        os.getcwd(),  # relative paths and file()'s "inside the module" test depend on it
        [ctx.account, ctx.region, ctx.partition, ctx.org_id, list(ctx.trusted_accounts)],
        [unit.kind, unit.path, list(unit.files)],
    ]
    return _blake2b(json.dumps(identity, separators=(",", ":")).encode())


def read_digest(path: str, limit: int) -> str:
    """The digest of what ``reader.read_text`` gives for ``path`` now."""
    text = _original_read_text(path, limit)
    if isinstance(text, InputError):
        return "error:" + _blake2b(f"{text.line}\0{text.message}".encode())
    return _blake2b(text.encode("utf-8", "surrogatepass"))


def _listing(directory: str) -> DirectoryListing:
    try:
        names = tuple(sorted(n for n in os.listdir(directory or ".") if n.endswith(_TERRAFORM_NAME_ENDINGS)))
    except OSError:
        names = None
    return DirectoryListing(directory, names)


_original_read_text = reader.read_text


@contextmanager
def recording() -> Iterator[list[FileRead]]:
    """Record every file read through ``reader.read_text`` while the block runs (the one place
    loaders read files), with the digest of what was read. Nested uses each see the reads."""
    reads: list[FileRead] = []
    previous = reader.read_text

    def recorded(path: str, limit: int = reader.MAX_FILE_BYTES) -> str | InputError:
        text = previous(path, limit)
        if isinstance(text, InputError):
            digest = "error:" + _blake2b(f"{text.line}\0{text.message}".encode())
        else:
            digest = _blake2b(text.encode("utf-8", "surrogatepass"))
        reads.append(FileRead(path, limit, digest))
        return text

    reader.read_text = recorded  # type: ignore[assignment]
    try:
        yield reads
    finally:
        reader.read_text = previous  # type: ignore[assignment]


def listed_directories(unit: LoadUnit, reads: Sequence[FileRead]) -> list[str]:
    """The directories the Terraform loader listed: the unit's directory (tfvars) and every module
    directory it read a .tf file from (local modules are listed for their .tf files)."""
    if unit.kind != "terraform":
        return []
    directories = {os.path.normpath(unit.path)}
    directories.update(os.path.dirname(r.path) or "." for r in reads if r.path.endswith(".tf"))
    return sorted(directories)


def _entry_path(key: str) -> str | None:
    from kmsguard.rules_engine.packs import cache_dir

    directory = cache_dir()
    return None if directory is None else os.path.join(directory, "load", key[:2], f"{key}.pickle")


def file_stat(path: str) -> FileStat | None:
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


def stat_proves_unchanged(recorded: FileStat | None, now: FileStat | None, digested_ns: int) -> bool:
    """Whether a file may be taken as unchanged without reading it: same stat as recorded, and
    modified well before its digest was taken (else it is racily clean and must be re-hashed)."""
    if recorded is None or now is None or recorded != now:
        return False
    return recorded[1] < digested_ns - RACY_MARGIN_NS


def _is_current(entry: CacheEntry) -> tuple[bool, bool]:
    """Whether every file and listing is as the entry recorded; and whether deciding it needed
    a file re-hashed (then fresh stats are worth recording)."""
    for listing in entry.listings:
        if _listing(listing.path) != listing:
            return False, False
    rehashed = False
    for read, recorded in zip(entry.reads, entry.stats, strict=True):
        if stat_proves_unchanged(recorded, file_stat(read.path), entry.digested_ns):
            continue
        rehashed = True
        if read_digest(read.path, read.limit) != read.digest:
            return False, True
    return True, rehashed


def identity_of(entry: CacheEntry) -> str:
    """What names an entry's result: its key (code, context, unit) and what the unit read."""
    parts = [entry.key]
    parts += [f"{r.path}\0{r.limit}\0{r.digest}" for r in entry.reads]
    parts += [f"{d.path}\0{d.names!r}" for d in entry.listings]
    return _blake2b("\0\0".join(parts).encode("utf-8", "surrogatepass"))


def validated(unit: LoadUnit, ctx: LoadContext) -> CachedUnit | None:
    """The unit's current entry (its result not yet unpickled), or None."""
    key = unit_key(unit, ctx)
    path = _entry_path(key)
    if path is None:
        return None
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    import io
    import pickle

    stream = io.BytesIO(data)
    try:
        entry = pickle.load(stream)
    except Exception:  # a corrupt or foreign entry can fail in many ways: it is just a miss
        return None
    if not (isinstance(entry, CacheEntry) and entry.format == ENTRY_FORMAT and entry.key == key):
        return None
    payload = data[stream.tell() :]
    started = time.time_ns()
    current, rehashed = _is_current(entry)
    if not current:
        return None
    if rehashed:  # content decided: record fresh stats so that the next run need not read again
        fresh = tuple(file_stat(r.path) for r in entry.reads)
        _write(path, _header_bytes(replace(entry, stats=fresh, digested_ns=started)) + payload)
    return CachedUnit(identity_of(entry), payload)


def lookup(unit: LoadUnit, ctx: LoadContext) -> LoadResult | None:
    """The cached result of loading ``unit``, if every file it read is unchanged; else None."""
    cached = validated(unit, ctx)
    return None if cached is None else cached.result()


def _header_bytes(entry: CacheEntry) -> bytes:
    import pickle

    return pickle.dumps(entry, protocol=pickle.HIGHEST_PROTOCOL)


def _write(path: str, data: bytes) -> bool:
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        temporary = f"{path}.{os.getpid()}.tmp"
        with open(temporary, "wb") as handle:
            handle.write(data)
        os.replace(temporary, path)  # readers see the old entry or the new one, never half of one
    except OSError:
        return False
    return True


def store(
    unit: LoadUnit,
    ctx: LoadContext,
    result: LoadResult,
    reads: Sequence[FileRead],
    started_ns: int | None = None,
) -> str | None:
    """Keep ``result`` for ``unit``; ``reads`` are what it read while loading (``recording``),
    ``started_ns`` when that load started (``time.time_ns()``; None: the stats are never trusted
    alone). Returns the entry's identity (``identity_of``), or None when nothing was kept."""
    key = unit_key(unit, ctx)
    path = _entry_path(key)
    if path is None:
        return None
    unique = tuple(sorted(set(reads), key=lambda r: (r.path, r.limit, r.digest)))
    listings = tuple(_listing(d) for d in listed_directories(unit, unique))
    stats = tuple(file_stat(r.path) for r in unique)
    entry = CacheEntry(ENTRY_FORMAT, key, unique, listings, stats, 0 if started_ns is None else started_ns)
    import pickle

    try:
        payload = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
    except (RecursionError, pickle.PicklingError, TypeError, AttributeError):
        return None  # a result too deep or odd to pickle is loaded again next time
    if not _write(path, _header_bytes(entry) + payload):
        return None
    return identity_of(entry)


__all__ = [
    "RACY_MARGIN_NS",
    "CacheEntry",
    "CachedUnit",
    "DirectoryListing",
    "FileRead",
    "LoadUnit",
    "code_stamp",
    "digest_of",
    "file_stat",
    "identity_of",
    "installed_stamp",
    "listed_directories",
    "lookup",
    "read_digest",
    "recording",
    "stamp_of",
    "stat_proves_unchanged",
    "store",
    "unit_key",
    "validated",
]
