"""``kmsguard check``: discover inputs, load them into one inventory, run the rule packs, apply
suppressions and the baseline. No output formatting here (see report/).

Two caches make a second run cheap (both under the cache directory: ``KMSGUARD_CACHE_DIR``
relocates it, ``KMSGUARD_NO_CACHE=1`` turns it off). The load cache (``kmsguard.load.cache``) keeps
each loading unit's result; the result cache here keeps a whole run's findings, keyed by every
unit's cache identity (its key and what each file it read contained), the rule packs as parsed, the
rule parameters, the deployment context and a digest of all of kmsguard's code and of the parsing
and solving libraries' installs. Findings are reused only when every one of those is identical;
anything else (an edited, new or deleted file, another pack, parameter, context or kmsguard) runs
the incremental path: load what changed, run the rules.
"""

from __future__ import annotations

import json
import os
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache as memoized
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kmsguard.findings import Finding, InputError, Severity
from kmsguard.load.base import LoadContext, LoadResult, deployment_org
from kmsguard.model import Inventory
from kmsguard.rules_engine import Pack, PackError, Rule, load_packs, rules_of, run_packs
from kmsguard.rules_engine.runtime import RuleRunner, run_rule

if TYPE_CHECKING:
    from kmsguard.findings import Suppression
    from kmsguard.load.cache import CachedUnit, LoadUnit
    from kmsguard.load.discover import Input


@dataclass(frozen=True)
class CheckOptions:
    paths: tuple[str, ...]
    context: LoadContext = field(default_factory=LoadContext)
    severity: Severity = Severity.INFO
    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    packs: tuple[str, ...] = ()
    baseline: str | None = None
    exclude: tuple[str, ...] = ()
    params: dict[str, object] = field(default_factory=dict)
    jobs: int | None = None  # processes for loading and rules; None: the CPUs


@dataclass
class CheckResult:
    findings: list[Finding]  # reported: selected, at/above the threshold, not in the baseline
    suppressed: list[Finding]
    baselined: list[Finding]
    errors: list[InputError]
    rules: list[Rule]
    sources: dict[str, str]
    files: list[str]
    # The inventory on demand: a run served by the result cache does not unpickle it unless asked.
    inventory_source: Callable[[], Inventory] = field(repr=False, compare=False)

    @cached_property
    def inventory(self) -> Inventory:
        return self.inventory_source()

    @property
    def exit_code(self) -> int:
        if self.errors:
            return 2
        return 1 if self.findings else 0


def _selected(rule_id: str, select: Sequence[str], ignore: Sequence[str]) -> bool:
    # Prefix matching, as ruff does: "KMS1" selects KMS100-KMS199.
    if select and not any(rule_id.startswith(s) for s in select):
        return False
    return not any(rule_id.startswith(i) for i in ignore)


# Below this many units to load (cache misses), a process pool costs more than it saves: a
# pre-commit run over a few files never starts one.
PARALLEL_MIN_UNITS = 32


def default_jobs() -> int:
    """The CPUs this process may run on (a container's limit, not the host's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def discover_inputs(
    paths: Sequence[str], exclude: Sequence[str] = ()
) -> tuple[list[Input], list[InputError]]:
    from kmsguard.load.discover import discover

    inputs, errors = discover(paths)
    if exclude:
        inputs = [i for i in inputs if not any(Path(i.path).match(pattern) for pattern in exclude)]
    return inputs, errors


def load_inputs(
    paths: Sequence[str], ctx: LoadContext, exclude: Sequence[str] = (), jobs: int | None = None
) -> tuple[LoadResult, list[str]]:
    """Discover and load every input under ``paths``. Never raises for bad input.

    Units unchanged since a previous run come from the load cache; the others are loaded in
    ``jobs`` processes (default: the CPUs) when there are at least ``PARALLEL_MIN_UNITS`` of them.
    The result does not depend on the order discovery found the files in, nor on ``jobs``."""
    from kmsguard.load import cache

    inputs, errors = discover_inputs(paths, exclude)
    units = loading_units(inputs)
    cached = [cache.validated(unit, ctx) for unit in units]
    loaded = _load_units(units, cached, ctx, _jobs(jobs))
    return _merged(errors, [result for result, _ in loaded]), [item.path for item in inputs]


def _jobs(jobs: int | None) -> int:
    return default_jobs() if jobs is None else max(1, jobs)


def _merged(errors: Sequence[InputError], results: Sequence[LoadResult]) -> LoadResult:
    merged = LoadResult(inventory=Inventory.merge(r.inventory for r in results))
    merged.errors.extend(errors)
    for part in results:
        merged.diagnostics.extend(part.diagnostics)
        merged.errors.extend(part.errors)
        merged.suppressions.extend(part.suppressions)
        merged.sources.update(part.sources)
    return merged


def loading_units(inputs: Sequence[Input]) -> list[LoadUnit]:
    """One unit per non-Terraform file, one per Terraform directory with .tf files (a directory
    with only tfvars has nothing to load). Sorted, so results never depend on discovery order:
    files first, then Terraform directories, as before the cache existed."""
    from kmsguard.load.cache import LoadUnit

    terraform_dirs: dict[str, list[str]] = defaultdict(list)
    singles: list[LoadUnit] = []
    for item in inputs:
        if item.kind == "terraform":
            terraform_dirs[os.path.dirname(item.path) or "."].append(item.path)
        elif item.kind != "tfvars":
            singles.append(LoadUnit(item.kind, item.path, (item.path,)))
    directories = [
        LoadUnit("terraform", directory, tuple(sorted(files)))
        for directory, files in sorted(terraform_dirs.items())
    ]
    return sorted(singles, key=lambda u: u.path) + directories


# A unit's result and its load cache identity (None: not in the cache, e.g. an audit snapshot).
Loaded = tuple[LoadResult, "str | None"]


def _load_units(
    units: Sequence[LoadUnit], cached: Sequence[CachedUnit | None], ctx: LoadContext, jobs: int
) -> list[Loaded]:
    """Every unit's result: from its current cache entry, else loaded (and stored)."""
    results: list[Loaded | None] = []
    for entry in cached:
        result = entry.result() if entry is not None else None
        results.append(None if result is None or entry is None else (result, entry.identity))
    missing = [i for i, r in enumerate(results) if r is None]
    if jobs > 1 and len(missing) >= PARALLEL_MIN_UNITS:
        loaded = _load_in_processes([units[i] for i in missing], ctx, jobs)
    else:
        loaded = [load_and_cache(units[i], ctx) for i in missing]
    for index, result in zip(missing, loaded, strict=True):
        results[index] = result
    return [r for r in results if r is not None]


def load_and_cache(unit: LoadUnit, ctx: LoadContext) -> Loaded:
    """Load one unit, recording the files it reads, and keep the result in the load cache."""
    from kmsguard.load import cache

    started = time.time_ns()  # before any read: a file changed after this is never trusted by stat
    with cache.recording() as reads:
        result = _load_unit(unit, ctx)
    identity = None
    if unit.kind != "snapshot":  # read outside read_text (gzip), so its reads are not recorded
        identity = cache.store(unit, ctx, result, reads, started)
    return result, identity


def _load_batch(units: Sequence[LoadUnit], ctx: LoadContext) -> list[Loaded]:
    """What a worker process runs (module level, so the pool can pickle it)."""
    return [load_and_cache(unit, ctx) for unit in units]


def _in_processes(
    work: Callable[[Any], list[Any]], batches: Sequence[Any], jobs: int, start: str | None = None
) -> list[list[Any] | None]:
    """``work(batch)`` for every batch in a pool of ``jobs`` processes, in order; None for a batch
    the pool could not deliver (a worker killed, a result too deep to pickle back, no pool on this
    system): the caller does that batch itself, so parallelism never changes results."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    done: list[list[Any] | None] = [None] * len(batches)
    try:
        context = multiprocessing.get_context(start) if start else None
        with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
            futures = [pool.submit(work, batch) for batch in batches]
            for index, future in enumerate(futures):
                try:
                    done[index] = future.result()
                except Exception:
                    done[index] = None
    except (OSError, RuntimeError, ImportError, ValueError):
        pass  # no process pool on this system (no semaphores, a frozen interpreter): serially
    return done


def _load_in_processes(units: Sequence[LoadUnit], ctx: LoadContext, jobs: int) -> list[Loaded]:
    """Load ``units`` in a pool of ``jobs`` processes, in batches (a few per worker, so a slow
    batch does not leave the others idle)."""
    from functools import partial

    batch_size = max(1, min(64, len(units) // (jobs * 8)))
    batches = [list(units[i : i + batch_size]) for i in range(0, len(units), batch_size)]
    loaded = _in_processes(partial(_load_batch, ctx=ctx), batches, jobs)
    out: list[Loaded] = []
    for batch, results in zip(batches, loaded, strict=True):
        out.extend(results if results is not None else _load_batch(batch, ctx))
    return out


# -- rules across processes ------------------------------------------------------------------------

# Below this many things for the rules to look at (keys, policies, identities, resources using
# keys), the rules run in the main process: a pre-commit run never starts a pool for them.
PARALLEL_MIN_SUBJECTS = 128
# The inventory, rules and parameters the rule workers run on. Set just before the pool forks, so
# workers inherit them instead of receiving a pickle of the whole inventory.
_RULE_WORK: tuple[Sequence[Rule], Inventory, Mapping[str, Any] | None] | None = None


def rule_subjects(inventory: Inventory) -> int:
    """How much there is for the rules to look at: what decides whether a pool is worth it."""
    return (
        len(inventory.keys)
        + len(inventory.policies)
        + len(inventory.identities)
        + len(inventory.consumers)
        + len(inventory.grants)
    )


def _run_rules_at(indexes: Sequence[int]) -> list[list[Finding]]:
    """What a rule worker runs (module level, so the pool can name it): the rules at ``indexes``."""
    assert _RULE_WORK is not None, "rule workers need the inventory set before the pool starts"
    rules, inventory, params = _RULE_WORK
    return [run_rule(rules[index], inventory, params) for index in indexes]


def _asks_prover(rule: Rule) -> bool:
    return any(pred.question is not None for pred in rule.when)


def _rules_in_processes(jobs: int) -> RuleRunner:
    """A runner for ``run_packs`` that runs each rule in a pool of ``jobs`` forked processes,
    the rules that ask the prover (the slowest) first, and gives their findings back in the
    rules' order: the same findings as a serial run, whichever worker ran which rule. A rule the
    pool could not run (a worker killed, no fork on this system) runs here."""

    def run(
        rules: Sequence[Rule], inventory: Inventory, params: Mapping[str, Any] | None
    ) -> list[list[Finding]]:
        import multiprocessing

        global _RULE_WORK
        order = sorted(range(len(rules)), key=lambda i: (not _asks_prover(rules[i]), i))
        if "fork" not in multiprocessing.get_all_start_methods():
            work: list[list[list[Finding]] | None] = [None] * len(order)
        else:
            _RULE_WORK = (rules, inventory, params)
            try:
                work = _in_processes(_run_rules_at, [[i] for i in order], jobs, "fork")
            finally:
                _RULE_WORK = None
        by_rule: dict[int, list[Finding]] = {}
        for index, done in zip(order, work, strict=True):
            by_rule[index] = done[0] if done is not None else run_rule(rules[index], inventory, params)
        return [by_rule[index] for index in range(len(rules))]

    return run


def _load_unit(unit: LoadUnit, ctx: LoadContext) -> LoadResult:
    from kmsguard.load import reader

    if unit.kind == "terraform":
        return _guarded(unit.path, lambda: _load_terraform(unit.path, list(unit.files), ctx))
    if unit.kind == "snapshot":
        # An audit snapshot may be gzip and larger than a text input: its own reader.
        from kmsguard.load.snapshot import load_snapshot_file

        return _guarded(unit.path, lambda: load_snapshot_file(unit.path, ctx))
    # Through the module attribute, so the cache's recording sees this read too.
    text = reader.read_text(unit.path)
    if isinstance(text, InputError):
        return LoadResult(errors=[text])
    return _load_one(unit.kind, unit.path, text, ctx)


def _load_terraform(directory: str, files: list[str], ctx: LoadContext) -> LoadResult:
    from kmsguard.load.terraform import load_terraform

    return load_terraform(directory, sorted(files), ctx)


def _load_one(kind: str, path: str, text: str, ctx: LoadContext) -> LoadResult:
    def run() -> LoadResult:
        if kind == "cloudformation":
            from kmsguard.load.cloudformation import load_cloudformation

            return load_cloudformation(path, text, ctx)
        if kind == "plan":
            from kmsguard.load.tfplan import load_plan

            return load_plan(path, text, ctx)
        if kind == "policy-template":
            from kmsguard.load.policy_template import load_policy_template

            return load_policy_template(path, text, ctx)
        if kind == "policy":
            from kmsguard.load.policy_file import load_policy_file

            return load_policy_file(path, text, ctx)
        if kind == "snapshot":
            from kmsguard.load.snapshot import load_snapshot_text

            return load_snapshot_text(path, text, ctx)
        raise ValueError(f"no loader for input kind {kind!r}")

    return _guarded(path, run)


def _guarded(path: str, load: object) -> LoadResult:
    """A loader bug must not lose the other files' results nor print a traceback."""
    try:
        return load()  # type: ignore[operator]
    except RecursionError:
        return LoadResult(errors=[InputError(path, 0, "input is nested too deeply to analyse")])
    except MemoryError:
        return LoadResult(errors=[InputError(path, 0, "input is too large to analyse")])
    except Exception as err:
        return LoadResult(
            errors=[
                InputError(
                    path, 0, f"internal error while loading ({type(err).__name__}: {err}); please report it"
                )
            ]
        )


def _in_scope(finding: Finding, requested: Sequence[str]) -> bool:
    """Findings are reported for the files asked about (a Terraform module is loaded whole, for
    its variables and locals, but a pre-commit run only asks about the staged files)."""
    path = os.path.normpath(finding.span.path)
    for item in requested:
        target = os.path.normpath(item)
        if path == target or target == "." or path.startswith(target.rstrip(os.sep) + os.sep):
            return True
    return False


# -- the result cache: a whole run's findings, reused only when every input is identical ----------

RESULT_FORMAT = 1
# Below this many loading units the result cache is not used: computing a run's key (a digest of
# kmsguard's code and of the packs, ~15 ms) would cost a pre-commit run more than the rules it
# saves (their slow part, the prover, has its own answer cache).
RESULT_CACHE_MIN_UNITS = 16
# What the result of a run depends on besides kmsguard's own files: the parsers and the solver.
_RUN_LIBRARIES = ("tree_sitter", "tree_sitter_hcl", "yaml", "z3")


@memoized
def run_code_stamp() -> str:
    """A digest of all of kmsguard's code and data (loaders, rules, simulator, prover, reports'
    inputs) and of where the libraries it depends on are installed: any change reruns the rules."""
    import sys

    from kmsguard import __version__
    from kmsguard.load.cache import installed_stamp

    libraries = "\0".join(f"{lib}={installed_stamp(lib)}" for lib in _RUN_LIBRARIES)
    return package_stamp(
        os.path.dirname(os.path.abspath(__file__)), f"{__version__}\0{sys.version}\0{libraries}"
    )


def package_stamp(root: str, versions: str) -> str:
    """A digest of ``versions`` and of every source and data file under ``root`` (.py, .json,
    .yaml; not bytecode), names included: an added, removed or edited file changes it."""
    from kmsguard.load.cache import digest_of

    parts = [f"{versions}\0{RESULT_FORMAT}".encode()]
    for directory, subdirectories, names in os.walk(root):
        subdirectories[:] = sorted(d for d in subdirectories if d != "__pycache__")
        for name in sorted(names):
            if name.endswith((".py", ".json", ".yaml")):
                path = os.path.join(directory, name)
                try:
                    with open(path, "rb") as handle:
                        content = handle.read()
                except OSError:
                    content = b"\0missing"
                parts.append(os.path.relpath(path, root).encode() + b"\0" + content)
    return digest_of(b"\0\0".join(parts))


def run_key(
    units: Sequence[LoadUnit],
    identities: Sequence[str],
    packs: Sequence[Pack],
    params: dict[str, object],
    context: LoadContext,
) -> tuple[str, str]:
    """The result cache's (slot, key) for a run. The slot names the entry's file: the same units
    (kinds, paths), packs, parameters, context, working directory and code -- an edited file
    replaces its run's entry instead of adding one. The key is everything the findings depend on:
    that, and each unit's identity (what every file it read contained)."""
    from kmsguard.load.cache import digest_of
    from kmsguard.rules_engine.answer_cache import plain

    config = json.dumps([plain(packs), plain(params), plain(context)], sort_keys=True, default=repr)
    where = [[unit.kind, unit.path, list(unit.files)] for unit in units]
    slot = digest_of(json.dumps([os.getcwd(), config, run_code_stamp(), where]).encode())
    key = digest_of(json.dumps([slot, list(identities)]).encode())
    return slot, key


@dataclass(frozen=True)
class RunEntry:
    """A run's findings before selection, suppression and baseline (those depend on options the
    key does not cover and are applied again), with what the report needs of the loaded inputs."""

    format: int
    key: str
    findings: tuple[Finding, ...]
    errors: tuple[InputError, ...]
    suppressions: tuple[Suppression, ...]
    sources: dict[str, str]  # the texts of the files findings and errors point at


def _run_entry_path(slot: str) -> str | None:
    from kmsguard.rules_engine.packs import cache_dir

    directory = cache_dir()
    return None if directory is None else os.path.join(directory, "runs", f"{slot}.pickle")


def _cached_run(slot: str, key: str) -> RunEntry | None:
    path = _run_entry_path(slot)
    if path is None:
        return None
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    import pickle

    try:
        entry = pickle.loads(data)
    except Exception:  # a corrupt entry can fail in many ways: it is just a miss
        return None
    if isinstance(entry, RunEntry) and entry.format == RESULT_FORMAT and entry.key == key:
        return entry
    return None


def _store_run(slot: str, entry: RunEntry) -> None:
    path = _run_entry_path(slot)
    if path is None:
        return
    import pickle

    try:
        data = pickle.dumps(entry, protocol=pickle.HIGHEST_PROTOCOL)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        temporary = f"{path}.{os.getpid()}.tmp"
        with open(temporary, "wb") as handle:
            handle.write(data)
        os.replace(temporary, path)
    except (OSError, RecursionError, pickle.PicklingError, TypeError, AttributeError):
        return  # no result cache this time: the next run takes the incremental path


@dataclass(frozen=True)
class _RunOutcome:
    """What the rest of ``run_check`` needs, from the result cache or from a run of the rules."""

    findings: list[Finding]
    errors: list[InputError]
    suppressions: list[Suppression]
    sources: dict[str, str]
    files: list[str]
    inventory: Callable[[], Inventory]


def _evaluated(options: CheckOptions, packs: list[Pack]) -> _RunOutcome:
    from kmsguard.load import cache

    inputs, discovery_errors = discover_inputs(options.paths, options.exclude)
    files = [item.path for item in inputs]
    units = loading_units(inputs)
    cached = [cache.validated(unit, options.context) for unit in units]
    use_results = len(units) >= RESULT_CACHE_MIN_UNITS
    if use_results and all(entry is not None for entry in cached):
        identities = [entry.identity for entry in cached if entry is not None]
        slot, key = run_key(units, identities, packs, options.params, options.context)
        hit = _cached_run(slot, key)
        if hit is not None:

            def inventory() -> Inventory:
                loaded = _load_units(units, cached, options.context, 1)
                parts = Inventory.merge([r.inventory for r, _ in loaded])
                return Inventory.merge([parts], org=deployment_org(options.context, parts.org))

            errors = [*discovery_errors, *hit.errors]
            return _RunOutcome(
                list(hit.findings), errors, list(hit.suppressions), hit.sources, files, inventory
            )
    loaded = _load_units(units, cached, options.context, _jobs(options.jobs))
    merged = _merged([], [result for result, _ in loaded])
    # A snapshot knows its accounts and organisation; the command line still wins where it says.
    inventory_now = Inventory.merge(
        [merged.inventory], org=deployment_org(options.context, merged.inventory.org)
    )
    jobs = _jobs(options.jobs)
    parallel = jobs > 1 and rule_subjects(inventory_now) >= PARALLEL_MIN_SUBJECTS
    runner = _rules_in_processes(jobs) if parallel else None
    findings = run_packs(packs, inventory_now, merged.diagnostics, options.params, runner)
    loaded_identities = [identity for _, identity in loaded]
    if use_results and all(identity is not None for identity in loaded_identities):
        identities = [identity for identity in loaded_identities if identity is not None]
        slot, key = run_key(units, identities, packs, options.params, options.context)
        shown = {f.span.path for f in findings} | {e.path for e in merged.errors}
        sources = {path: text for path, text in merged.sources.items() if path in shown}
        entry = RunEntry(
            RESULT_FORMAT, key, tuple(findings), tuple(merged.errors), tuple(merged.suppressions), sources
        )
        _store_run(slot, entry)
    errors = [*discovery_errors, *merged.errors]
    return _RunOutcome(findings, errors, merged.suppressions, merged.sources, files, lambda: inventory_now)


def run_check(options: CheckOptions, packs: list[Pack] | None = None) -> CheckResult:
    packs = packs if packs is not None else load_packs(options.packs)
    declared = {name for pack in packs for rule in pack.rules for name in rule.params}
    unknown_params = sorted(set(options.params) - declared)
    if unknown_params:
        raise PackError(f"unknown rule parameter(s): {', '.join(unknown_params)}")
    outcome = _evaluated(options, packs)

    kept = [
        f
        for f in outcome.findings
        if _selected(f.rule_id, options.select, options.ignore)
        and f.severity.rank >= options.severity.rank
        and _in_scope(f, options.paths)
    ]
    reported: list[Finding] = []
    suppressed: list[Finding] = []
    for finding in kept:
        rule_suppression = next(
            (s for s in outcome.suppressions if s.covers(finding.rule_id, finding.span)), None
        )
        if rule_suppression is not None and finding.rule_id != "KMS900":
            from dataclasses import replace

            suppressed.append(replace(finding, suppressed_by=rule_suppression))
        else:
            reported.append(finding)

    baselined: list[Finding] = []
    if options.baseline and Path(options.baseline).is_file():
        from kmsguard.baseline import read_baseline

        baseline = read_baseline(options.baseline)
        still: list[Finding] = []
        for finding in reported:
            (baselined if baseline.contains(finding) else still).append(finding)
        reported = still

    return CheckResult(
        findings=reported,
        suppressed=suppressed,
        baselined=baselined,
        errors=sorted(set(outcome.errors), key=lambda e: (e.path, e.line, e.message)),
        rules=[r for r in rules_of(packs) if _selected(r.id, options.select, options.ignore)],
        sources=outcome.sources,
        files=outcome.files,
        inventory_source=outcome.inventory,
    )
