"""Where kmsguard's start-up goes: `python -X importtime -m kmsguard check FILE`, summarised.

    python bench/importtime.py [FILE] [--top N] [--kmsguard-cmd CMD]

Prints the costliest imports (cumulative: the module and everything it imported first) and fails
(exit code 1) if a module that the pre-commit path must not load was imported (DESIGN.md,
"Start-up matters for the pre-commit hook").
"""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FILE = "bench/data/single.tf"
# Top-level packages too slow to import on every hook run (DESIGN.md), plus botocore (boto3's
# heavy half) and jsonschema (only SARIF validation and config checks need it).
FORBIDDEN_ON_CHECK_PATH: tuple[str, ...] = (
    "z3",
    "boto3",
    "botocore",
    "cryptography",
    "cfnlint",
    "hcl2",
    "rich",
    "jsonschema",
)

# "import time:       172 |        172 |   _io" (self and cumulative in microseconds; the
# indentation of the name is its depth in the import tree).
_LINE = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s+)(\S+)\s*$")


@dataclass(frozen=True)
class ImportCost:
    module: str
    self_us: int
    cumulative_us: int
    depth: int  # 0 for an import the program asked for, 1 for one it caused, ...


def parse_importtime(stderr: str) -> list[ImportCost]:
    """The `-X importtime` records in ``stderr``, in the order Python printed them."""
    costs = []
    for line in stderr.splitlines():
        match = _LINE.match(line)
        if match:
            self_us, cumulative_us, indent, module = match.groups()
            # One space follows the bar, then two more per level of nesting.
            costs.append(ImportCost(module, int(self_us), int(cumulative_us), (len(indent) - 1) // 2))
    return costs


def costliest(costs: Iterable[ImportCost], top: int) -> list[ImportCost]:
    return sorted(costs, key=lambda cost: cost.cumulative_us, reverse=True)[:top]


def forbidden_imports(costs: Iterable[ImportCost], forbidden: Sequence[str]) -> list[str]:
    """The imported modules that are, or are inside, a forbidden top-level package."""
    return sorted({c.module for c in costs if c.module.split(".", 1)[0] in forbidden})


def total_us(costs: Iterable[ImportCost]) -> int:
    """All import time: the cumulative times of the imports nobody else caused."""
    return sum(cost.cumulative_us for cost in costs if cost.depth == 0)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", default=DEFAULT_FILE)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--kmsguard-cmd", help="the kmsguard command after `python -X importtime`")
    args = parser.parse_args(argv)
    tail = shlex.split(args.kmsguard_cmd) if args.kmsguard_cmd else ["-m", "kmsguard", "check"]
    argv_run = [sys.executable, "-X", "importtime", *tail, args.file]
    completed = subprocess.run(argv_run, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    costs = parse_importtime(completed.stderr)
    if not costs:
        print(f"importtime: no import records from {shlex.join(argv_run)}", file=sys.stderr)
        return 2
    print(f"`{shlex.join(argv_run)}` (exit code {completed.returncode})")
    crashed = "Traceback (most recent call last)" in completed.stderr
    print(f"total import time: {total_us(costs) / 1000:.1f} ms over {len(costs)} modules\n")
    print("| cumulative ms | self ms | module |")
    print("| ---: | ---: | --- |")
    for cost in costliest(costs, args.top):
        print(f"| {cost.cumulative_us / 1000:.1f} | {cost.self_us / 1000:.1f} | {cost.module} |")
    if crashed:
        print("\nkmsguard crashed: the imports above stop where it did", file=sys.stderr)
        return 2
    bad = forbidden_imports(costs, FORBIDDEN_ON_CHECK_PATH)
    if bad:
        print(f"\nforbidden on the check path: {', '.join(bad)}")
        return 1
    print(f"\nnone of {', '.join(FORBIDDEN_ON_CHECK_PATH)} imported")
    return 0


if __name__ == "__main__":
    sys.exit(main())
