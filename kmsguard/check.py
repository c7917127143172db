"""``kmsguard check``: discover inputs, load them into one inventory, run the rule packs, apply
suppressions and the baseline. No output formatting here (see report/)."""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from kmsguard.findings import Finding, InputError, Severity
from kmsguard.load.base import LoadContext, LoadResult
from kmsguard.model import Inventory
from kmsguard.rules_engine import Pack, PackError, Rule, load_packs, rules_of, run_packs

if TYPE_CHECKING:
    from kmsguard.load.cache import LoadUnit
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
    jobs: int | None = None  # processes for loading; None: the CPUs


@dataclass
class CheckResult:
    findings: list[Finding]  # reported: selected, at/above the threshold, not in the baseline
    suppressed: list[Finding]
    baselined: list[Finding]
    errors: list[InputError]
    rules: list[Rule]
    sources: dict[str, str]
    files: list[str]
    inventory: Inventory

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


def load_inputs(
    paths: Sequence[str], ctx: LoadContext, exclude: Sequence[str] = (), jobs: int | None = None
) -> tuple[LoadResult, list[str]]:
    """Discover and load every input under ``paths``. Never raises for bad input.

    Units unchanged since a previous run come from the load cache; the others are loaded in
    ``jobs`` processes (default: the CPUs) when there are at least ``PARALLEL_MIN_UNITS`` of them.
    The result does not depend on the order discovery found the files in, nor on ``jobs``."""
    from kmsguard.load.discover import discover

    inputs, errors = discover(paths)
    if exclude:
        inputs = [i for i in inputs if not any(Path(i.path).match(pattern) for pattern in exclude)]
    units = loading_units(inputs)
    results = _load_units(units, ctx, default_jobs() if jobs is None else max(1, jobs))
    merged = LoadResult(inventory=Inventory.merge(r.inventory for r in results))
    merged.errors.extend(errors)
    for part in results:
        merged.diagnostics.extend(part.diagnostics)
        merged.errors.extend(part.errors)
        merged.suppressions.extend(part.suppressions)
        merged.sources.update(part.sources)
    return merged, [item.path for item in inputs]


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


def _load_units(units: Sequence[LoadUnit], ctx: LoadContext, jobs: int) -> list[LoadResult]:
    from kmsguard.load import cache

    results: list[LoadResult | None] = [cache.lookup(unit, ctx) for unit in units]
    missing = [i for i, r in enumerate(results) if r is None]
    if jobs > 1 and len(missing) >= PARALLEL_MIN_UNITS:
        loaded = _load_in_processes([units[i] for i in missing], ctx, jobs)
    else:
        loaded = [load_and_cache(units[i], ctx) for i in missing]
    for index, result in zip(missing, loaded, strict=True):
        results[index] = result
    return [r for r in results if r is not None]


def load_and_cache(unit: LoadUnit, ctx: LoadContext) -> LoadResult:
    """Load one unit, recording the files it reads, and keep the result in the load cache."""
    from kmsguard.load import cache

    with cache.recording() as reads:
        result = _load_unit(unit, ctx)
    if unit.kind != "snapshot":  # read outside read_text (gzip), so its reads are not recorded
        cache.store(unit, ctx, result, reads)
    return result


def _load_batch(units: Sequence[LoadUnit], ctx: LoadContext) -> list[LoadResult]:
    """What a worker process runs (module level, so the pool can pickle it)."""
    return [load_and_cache(unit, ctx) for unit in units]


def _load_in_processes(units: Sequence[LoadUnit], ctx: LoadContext, jobs: int) -> list[LoadResult]:
    """Load ``units`` in a pool of ``jobs`` processes, in batches (a few per worker, so a slow
    batch does not leave the others idle). A batch the pool could not deliver (a worker killed,
    a result too deep to pickle back) is loaded here instead: parallelism never changes results."""
    from concurrent.futures import ProcessPoolExecutor

    batch_size = max(1, min(64, len(units) // (jobs * 8)))
    batches = [list(units[i : i + batch_size]) for i in range(0, len(units), batch_size)]
    loaded: list[list[LoadResult] | None] = [None] * len(batches)
    try:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(_load_batch, batch, ctx) for batch in batches]
            for index, future in enumerate(futures):
                try:
                    loaded[index] = future.result()
                except Exception:
                    loaded[index] = None
    except (OSError, RuntimeError, ImportError):
        pass  # no process pool on this system (no semaphores, a frozen interpreter): serially
    out: list[LoadResult] = []
    for batch, results in zip(batches, loaded, strict=True):
        out.extend(results if results is not None else _load_batch(batch, ctx))
    return out


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


def run_check(options: CheckOptions, packs: list[Pack] | None = None) -> CheckResult:
    packs = packs if packs is not None else load_packs(options.packs)
    loaded, files = load_inputs(options.paths, options.context, options.exclude, options.jobs)
    inventory = Inventory.merge([loaded.inventory], org=options.context.org())
    declared = {name for pack in packs for rule in pack.rules for name in rule.params}
    unknown_params = sorted(set(options.params) - declared)
    if unknown_params:
        raise PackError(f"unknown rule parameter(s): {', '.join(unknown_params)}")
    all_findings = run_packs(packs, inventory, loaded.diagnostics, options.params)

    kept = [
        f
        for f in all_findings
        if _selected(f.rule_id, options.select, options.ignore)
        and f.severity.rank >= options.severity.rank
        and _in_scope(f, options.paths)
    ]
    reported: list[Finding] = []
    suppressed: list[Finding] = []
    for finding in kept:
        rule_suppression = next(
            (s for s in loaded.suppressions if s.covers(finding.rule_id, finding.span)), None
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
        errors=sorted(set(loaded.errors), key=lambda e: (e.path, e.line, e.message)),
        rules=[r for r in rules_of(packs) if _selected(r.id, options.select, options.ignore)],
        sources=loaded.sources,
        files=files,
        inventory=inventory,
    )
