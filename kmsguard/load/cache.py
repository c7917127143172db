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
"""

from __future__ import annotations

import copyreg
import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from kmsguard.findings import InputError
from kmsguard.load import reader
from kmsguard.load.base import LoadContext, LoadResult
from kmsguard.model.span import Span
from kmsguard.model.values import LStr

ENTRY_FORMAT = 1
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


@dataclass(frozen=True)
class CacheEntry:
    format: int
    key: str
    reads: tuple[FileRead, ...]
    listings: tuple[DirectoryListing, ...]
    result: LoadResult


def _reduce_located_string(value: LStr) -> tuple[type[LStr], tuple[str, Span]]:
    return LStr, (str(value), value.span)


# LStr's constructor needs its span, which pickle's default for str subclasses does not pass.
# (LDict and LList pickle as they are: their spans are slots, which pickle keeps.)
copyreg.pickle(LStr, _reduce_located_string)


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
        parts.append(f"{library}\0{_installed(library)}".encode())
    return _blake2b(b"\0\0".join(parts))


def _installed(library: str) -> str:
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


def _entry_path(key: str) -> Path | None:
    from kmsguard.rules_engine.packs import cache_dir

    directory = cache_dir()
    return None if directory is None else directory / "load" / key[:2] / f"{key}.pickle"


def _is_current(entry: CacheEntry) -> bool:
    for listing in entry.listings:
        if _listing(listing.path) != listing:
            return False
    return all(read_digest(r.path, r.limit) == r.digest for r in entry.reads)


def lookup(unit: LoadUnit, ctx: LoadContext) -> LoadResult | None:
    """The cached result of loading ``unit``, if every file it read is unchanged; else None."""
    key = unit_key(unit, ctx)
    path = _entry_path(key)
    if path is None:
        return None
    try:
        data = path.read_bytes()
    except OSError:
        return None
    import pickle

    try:
        entry = pickle.loads(data)
    except Exception:  # a corrupt or foreign entry can fail in many ways: it is just a miss
        return None
    if not (
        isinstance(entry, CacheEntry)
        and entry.format == ENTRY_FORMAT
        and entry.key == key
        and isinstance(entry.result, LoadResult)
    ):
        return None
    return entry.result if _is_current(entry) else None


def store(unit: LoadUnit, ctx: LoadContext, result: LoadResult, reads: Sequence[FileRead]) -> None:
    """Keep ``result`` for ``unit``; ``reads`` are what it read while loading (``recording``)."""
    key = unit_key(unit, ctx)
    path = _entry_path(key)
    if path is None:
        return
    unique = tuple(sorted(set(reads), key=lambda r: (r.path, r.limit, r.digest)))
    listings = tuple(_listing(d) for d in listed_directories(unit, unique))
    entry = CacheEntry(ENTRY_FORMAT, key, unique, listings, result)
    import pickle

    try:
        data = pickle.dumps(entry, protocol=pickle.HIGHEST_PROTOCOL)
    except (RecursionError, pickle.PicklingError, TypeError, AttributeError):
        return  # a result too deep or odd to pickle is loaded again next time
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_bytes(data)
        os.replace(temporary, path)  # readers see the old entry or the new one, never half of one
    except OSError:
        return


__all__ = [
    "CacheEntry",
    "DirectoryListing",
    "FileRead",
    "LoadUnit",
    "code_stamp",
    "listed_directories",
    "lookup",
    "read_digest",
    "recording",
    "stamp_of",
    "store",
    "unit_key",
]
