"""``kmsguard check``: discover inputs, load them into one inventory, run the rule packs, apply
suppressions and the baseline. No output formatting here (see report/)."""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kmsguard.findings import Finding, InputError, Severity
from kmsguard.load.base import LoadContext, LoadResult
from kmsguard.model import Inventory
from kmsguard.rules_engine import Pack, PackError, Rule, load_packs, rules_of, run_packs


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


def load_inputs(
    paths: Sequence[str], ctx: LoadContext, exclude: Sequence[str] = ()
) -> tuple[LoadResult, list[str]]:
    """Discover and load every input under ``paths``. Never raises for bad input."""
    from kmsguard.load.discover import discover
    from kmsguard.load.reader import read_text

    inputs, errors = discover(paths)
    if exclude:
        inputs = [i for i in inputs if not any(Path(i.path).match(pattern) for pattern in exclude)]
    result = LoadResult()
    result.errors.extend(errors)
    terraform_dirs: dict[str, list[str]] = defaultdict(list)
    files: list[str] = []
    for item in inputs:
        files.append(item.path)
        if item.kind in ("terraform", "tfvars"):
            if item.kind == "terraform":
                terraform_dirs[os.path.dirname(item.path) or "."].append(item.path)
            else:
                terraform_dirs.setdefault(os.path.dirname(item.path) or ".", [])
            continue
        text = read_text(item.path)
        if isinstance(text, InputError):
            result.errors.append(text)
            continue
        result.extend(_load_one(item.kind, item.path, text, ctx))
    for directory, tf_files in sorted(terraform_dirs.items()):
        if not tf_files:
            continue
        result.extend(_guarded(directory, lambda d=directory, f=tf_files: _load_terraform(d, f, ctx)))
    return result, files


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
    loaded, files = load_inputs(options.paths, options.context, options.exclude)
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
