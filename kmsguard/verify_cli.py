"""``kmsguard verify SCENARIO.yaml [--against PATH] [--format text|json|junit]``: run scenario files
(docs/verify.md) on kmsguard's reference KMS, every call authorized by the simulator.

Exit codes: 0 every step as expected, 1 some step not (failed, unresolved, blocked), 2 a scenario
or an input that cannot be used (one ``path:line: message`` line on stderr).
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

# Imported whenever the command line is built (``kmsguard check`` included): the engine, the
# simulator and the loaders are imported only when ``verify`` runs.
if TYPE_CHECKING:
    from kmsguard.dryrun.run import ScenarioResult
    from kmsguard.dryrun.scenario import Scenario
    from kmsguard.model import Inventory

EXIT_AS_EXPECTED, EXIT_NOT_AS_EXPECTED, EXIT_BAD_INPUT = 0, 1, 2


class VerifyError(ValueError):
    """An input ``verify`` cannot use: the message is the one line printed."""


def add_verify_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "verify",
        help="run scenario files (who calls what, expecting what) on kmsguard's reference KMS",
        description="Run scenario files: each step calls KMS as a principal and expects ok, an AWS "
        "error code or a decision. Every call is authorized by the simulator and run by the engine.",
    )
    parser.add_argument("scenarios", nargs="+", metavar="SCENARIO", help="scenario files (YAML or JSON)")
    parser.add_argument(
        "--against",
        action="append",
        default=[],
        metavar="PATH",
        help="Terraform / CloudFormation / policy files or directories that keys and principals "
        "with from: are taken from (repeatable)",
    )
    parser.add_argument("--format", "-f", choices=("text", "json", "junit"), default="text")
    parser.add_argument("--output", "-o", help="write the report to this file instead of stdout")
    return parser


def run_verify(args: argparse.Namespace) -> int:
    from kmsguard.dryrun.scenario import ScenarioError

    try:
        results = [_run_one(path, tuple(args.against)) for path in args.scenarios]
    except (ScenarioError, VerifyError) as err:
        sys.stderr.write(f"kmsguard: error: {err}\n")
        return EXIT_BAD_INPUT
    text = _render(results, args.format)
    if args.output:
        try:
            with open(args.output, "w", encoding="utf-8") as handle:
                handle.write(text)
        except OSError as err:
            sys.stderr.write(f"kmsguard: error: cannot write {args.output}: {err.strerror}\n")
            return EXIT_BAD_INPUT
    else:
        sys.stdout.write(text)
    return EXIT_AS_EXPECTED if all(r.passed for r in results) else EXIT_NOT_AS_EXPECTED


def _run_one(path: str, against: tuple[str, ...]) -> ScenarioResult:
    from kmsguard.dryrun.run import run_scenario
    from kmsguard.dryrun.scenario import load_scenario

    scenario = load_scenario(path)
    inventory = load_against(scenario, against) if against else None
    return run_scenario(scenario, inventory)


def load_against(scenario: Scenario, paths: tuple[str, ...]) -> Inventory:
    """The IaC under ``paths``, loaded for the scenario's account, region and partition."""
    from kmsguard.check import load_inputs
    from kmsguard.load.base import LoadContext

    context = LoadContext(account=scenario.account, region=scenario.region, partition=scenario.partition)
    loaded, files = load_inputs(paths, context)
    if loaded.errors:
        for error in loaded.errors[1:]:
            sys.stderr.write(f"{error}\n")
        raise VerifyError(f"{loaded.errors[0]} (fix the --against inputs to verify)")
    if not files:
        raise VerifyError(f"--against: no Terraform, CloudFormation or policy files under {' '.join(paths)}")
    return loaded.inventory


def _render(results: list[ScenarioResult], fmt: str) -> str:
    from kmsguard.dryrun import report

    if fmt == "json":
        return report.render_json(results)
    if fmt == "junit":
        return report.render_junit(results)
    return report.render_text(results)
