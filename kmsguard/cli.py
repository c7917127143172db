"""The ``kmsguard`` command line. Exit codes: 0 nothing at or above the threshold, 1 findings,
2 usage or input errors."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from kmsguard import __version__

if TYPE_CHECKING:
    from kmsguard.rules_engine.packs import Pack, Rule

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2
FORMATS = ("text", "json", "sarif", "junit", "github", "html")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        sys.stderr.write(f"kmsguard: error: {message}\n")
        raise SystemExit(EXIT_ERROR)


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _param(text: str) -> tuple[str, object]:
    name, sep, raw = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, not {text!r}")
    value: object = raw.strip()
    if raw.strip().lstrip("-").isdigit():
        value = int(raw)
    elif raw.strip().lower() in ("true", "false"):
        value = raw.strip().lower() == "true"
    return name.strip().replace("-", "_"), value


def _jobs(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a number of processes (1 or more), not {text!r}")
    return int(text)


def build_parser(only_check: bool = False) -> argparse.ArgumentParser:
    """The command line; ``only_check``: with the ``check`` command alone, for ``kmsguard check``
    (the pre-commit path), which then does not import and build the other commands' options."""
    parser = _Parser(prog="kmsguard", description="Who can do what with each AWS KMS key, exactly.")
    parser.add_argument("--version", action="version", version=f"kmsguard {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    check = sub.add_parser("check", help="check Terraform, CloudFormation, plans and policy files")
    check.add_argument("paths", nargs="*", help="files or directories (default: .)")
    check.add_argument("--format", "-f", choices=FORMATS, help="output format (default: text)")
    check.add_argument("--output", "-o", help="write the report to this file instead of stdout")
    check.add_argument("--severity", help="report findings at or above: info, low, medium, high, critical")
    check.add_argument("--select", type=_csv, help="only these rule ids or prefixes (comma-separated)")
    check.add_argument("--ignore", type=_csv, help="skip these rule ids or prefixes (comma-separated)")
    check.add_argument(
        "--config", help="configuration file (default: nearest .kmsguard.toml or pyproject.toml)"
    )
    check.add_argument("--account", help="the AWS account id the configuration is deployed to")
    check.add_argument("--region", help="the AWS region the configuration is deployed to")
    check.add_argument("--partition", help="the AWS partition (default: aws)")
    check.add_argument("--org-id", help="the AWS Organizations id (o-...) of the deployment account")
    check.add_argument(
        "--trusted-accounts", type=_csv, help="accounts trusted with keys (default: --account)"
    )
    check.add_argument("--pack", action="append", dest="packs", help="an extra rule pack (YAML file)")
    check.add_argument("--baseline", help="findings recorded in this file are not reported")
    check.add_argument(
        "--write-baseline", action="store_true", help="record the current findings in --baseline"
    )
    check.add_argument("--exclude", type=_csv, help="glob patterns of paths to skip")
    check.add_argument(
        "--param",
        action="append",
        type=_param,
        dest="params",
        metavar="NAME=VALUE",
        help="a rule parameter, e.g. max_rotation_period_days=180 (see `kmsguard rules`)",
    )
    check.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    check.add_argument(
        "--jobs", "-j", type=_jobs, metavar="N", help="processes for loading large trees (default: the CPUs)"
    )
    if only_check:
        return parser

    from kmsguard.prove_cli import add_prove_parser
    from kmsguard.simulate_cli import add_simulate_parser
    from kmsguard.verify_cli import add_verify_parser

    add_simulate_parser(sub)
    add_prove_parser(sub)
    from kmsguard.audit_cli import add_audit_parser

    add_audit_parser(sub)
    from kmsguard.merge_cli import add_merge_parser

    add_merge_parser(sub)
    add_verify_parser(sub)

    rules = sub.add_parser(
        "rules",
        help="list the rules, or explain one (kmsguard rules KMS001)",
        description="List the rules of the default pack and the selected packs, or explain one rule.",
    )
    rules.add_argument("rule_id", nargs="?", metavar="ID", help="a rule id: print its documentation")
    rules.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    rules.add_argument(
        "--pack",
        action="append",
        dest="packs",
        help="an extra rule pack: a built-in pack's name (kms-strict) or a YAML file "
        "(default: the configuration's packs)",
    )
    rules.add_argument(
        "--config", help="configuration file (default: nearest .kmsguard.toml or pyproject.toml)"
    )
    rules.add_argument(
        "--write-docs",
        metavar="DIR",
        help="write DIR/rules.md and DIR/rules/<ID>.md for every rule of the built-in and selected packs",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(only_check=arguments[:1] == ["check"])
    args = parser.parse_args(arguments)
    if args.command is None:
        parser.print_help()
        return EXIT_ERROR
    try:
        if args.command == "check":
            return _check(args)
        if args.command == "rules":
            return _rules(args)
        if args.command == "simulate":
            from kmsguard.simulate_cli import run_simulate

            return run_simulate(args)
        if args.command == "prove":
            from kmsguard.prove_cli import run_prove

            return run_prove(args)
        if args.command == "audit":
            from kmsguard.audit_cli import run_audit

            return run_audit(args)
        if args.command == "merge":
            from kmsguard.merge_cli import run_merge

            return run_merge(args)
        if args.command == "verify":
            from kmsguard.verify_cli import run_verify

            return run_verify(args)
    except KeyboardInterrupt:
        sys.stderr.write("kmsguard: interrupted\n")
        return 130
    except BrokenPipeError:
        return EXIT_ERROR
    return EXIT_ERROR


def _fail(message: str) -> int:
    sys.stderr.write(f"kmsguard: error: {message}\n")
    return EXIT_ERROR


def _check(args: argparse.Namespace) -> int:
    from kmsguard.check import CheckOptions, run_check
    from kmsguard.config import ConfigError, check_context, load_config
    from kmsguard.findings import Severity
    from kmsguard.load.base import LoadContext
    from kmsguard.rules_engine import PackError

    try:
        config = load_config(args.config)
        cli_context = {
            "account": args.account,
            "org-id": args.org_id,
            "partition": args.partition,
            "trusted-accounts": args.trusted_accounts,
        }
        check_context({k: v for k, v in cli_context.items() if v is not None}, "command line")
    except ConfigError as err:
        return _fail(str(err))

    def option(name: str, value: object, default: object = None) -> object:
        return value if value is not None else config.get(name, default)

    try:
        severity = Severity.parse(str(option("severity", args.severity, "info")))
    except ValueError as err:
        return _fail(str(err))
    fmt = str(option("format", args.format, "text"))
    if fmt not in FORMATS:
        return _fail(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
    context = LoadContext(
        account=option("account", args.account),  # type: ignore[arg-type]
        region=option("region", args.region),  # type: ignore[arg-type]
        partition=str(option("partition", args.partition, "aws")),
        org_id=option("org-id", args.org_id),  # type: ignore[arg-type]
        trusted_accounts=tuple(option("trusted-accounts", args.trusted_accounts, ()) or ()),  # type: ignore[arg-type]
    )
    baseline = option("baseline", args.baseline)
    if args.write_baseline and not baseline:
        return _fail("--write-baseline needs --baseline FILE")
    options = CheckOptions(
        paths=tuple(args.paths or ["."]),
        context=context,
        severity=severity,
        select=tuple(option("select", args.select, ()) or ()),  # type: ignore[arg-type]
        ignore=tuple(option("ignore", args.ignore, ()) or ()),  # type: ignore[arg-type]
        packs=tuple(option("packs", args.packs, ()) or ()),  # type: ignore[arg-type]
        baseline=None if args.write_baseline else baseline,  # type: ignore[arg-type]
        exclude=tuple(option("exclude", args.exclude, ()) or ()),  # type: ignore[arg-type]
        params={**(config.get("params") or {}), **dict(args.params or ())},
        jobs=option("jobs", args.jobs),  # type: ignore[arg-type]
    )
    try:
        result = run_check(options)
    except PackError as err:
        return _fail(str(err))
    except _baseline_error() as err:
        return _fail(str(err))

    if args.write_baseline:
        from kmsguard.baseline import write_baseline

        try:
            write_baseline(str(baseline), result.findings)
        except OSError as err:
            return _fail(f"{baseline}: cannot write baseline: {err.strerror}")
        sys.stderr.write(f"kmsguard: wrote {len(result.findings)} finding(s) to baseline {baseline}\n")
        return EXIT_ERROR if result.errors else EXIT_OK

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
        # Only the HTML report shows what uses each key; the others never pay for the inventory.
        inventory=result.inventory if fmt == "html" else None,
    )
    output = option("output", args.output)
    color = args.color == "always" or (
        args.color == "auto" and output is None and sys.stdout.isatty() and "NO_COLOR" not in os.environ
    )
    text = render(fmt, report, color=color)
    if output:
        try:
            Path(str(output)).write_text(text, encoding="utf-8")
        except OSError as err:
            return _fail(f"{output}: cannot write report: {err.strerror}")
        if fmt != "text":
            # Input errors still reach the person running the command.
            for error in result.errors:
                sys.stderr.write(f"{error}\n")
    else:
        sys.stdout.write(text if text.endswith("\n") or not text else text + "\n")
        if fmt not in ("text", "github"):
            for error in result.errors:
                sys.stderr.write(f"{error}\n")
    return result.exit_code


def _baseline_error() -> type[Exception]:
    from kmsguard.baseline import BaselineError

    return BaselineError


def _rules(args: argparse.Namespace) -> int:
    from kmsguard.config import ConfigError, load_config
    from kmsguard.rules_engine.packs import PackError, catalogue, load_packs

    try:
        selected = tuple(args.packs or load_config(args.config).get("packs") or ())
        packs = load_packs(selected)
        documented = catalogue(selected) if (args.rule_id or args.write_docs) else []
    except ConfigError as err:
        return _fail(str(err))
    except PackError as err:
        return _fail(str(err.input_error))
    if args.write_docs:
        return _write_docs(Path(args.write_docs), documented)
    if args.rule_id:
        return _explain(args.rule_id, args.format, documented)
    rules = [rule for pack in packs for rule in pack.rules]
    if args.format == "json":
        import json

        sys.stdout.write(json.dumps([_rule_summary(r) for r in rules], indent=2) + "\n")
    elif args.format == "markdown":
        from kmsguard.rules_engine.docs import index_markdown

        sys.stdout.write(index_markdown(packs))
    else:
        for r in rules:
            sys.stdout.write(f"{r.id}  {r.severity.value:<8}  {r.category:<18}  {r.title}\n")
    return EXIT_OK


def _rule_summary(rule: Rule) -> dict[str, object]:
    return {
        "id": rule.id,
        "title": rule.title,
        "severity": rule.severity.value,
        "category": rule.category,
        "pack": rule.pack,
        "help_uri": rule.help_uri,
        "params": rule.params,
    }


def _explain(rule_id: str, fmt: str, packs: list[Pack]) -> int:
    from kmsguard.rules_engine.docs import pack_overrides, rule_markdown, rule_text

    wanted = rule_id.strip().upper()
    rule = next((r for pack in packs for r in pack.rules if r.id == wanted), None)
    if rule is None:
        return _fail(f"no rule {rule_id!r} in the built-in or selected packs (`kmsguard rules` lists them)")
    overrides = pack_overrides(packs)
    if fmt == "json":
        import json

        detail = {
            **_rule_summary(rule),
            "description": rule.description,
            "why": rule.why,
            "remediation": rule.remediation,
            "references": list(rule.references),
            "examples": rule.examples,
            "param_overrides": {k: dict(v) for k, v in overrides.items() if k in rule.params},
        }
        sys.stdout.write(json.dumps(detail, indent=2) + "\n")
    else:
        sys.stdout.write(rule_markdown(rule, overrides) if fmt == "markdown" else rule_text(rule, overrides))
    return EXIT_OK


def _write_docs(directory: Path, packs: list[Pack]) -> int:
    from kmsguard.rules_engine.docs import write_docs

    try:
        changed = write_docs(directory, packs)
    except OSError as err:
        return _fail(f"{directory}: cannot write the rule docs: {err.strerror or err}")
    sys.stderr.write(f"kmsguard: {len(changed)} rule doc file(s) written or removed under {directory}\n")
    return EXIT_OK
