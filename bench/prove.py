"""Benchmark of the access prover: the ``public`` and ``external`` questions for every key policy in
the shared corpus (issue 4: median <= 20 ms per key, p99 <= 500 ms, no timeouts).

    python bench/prove.py [--corpus DIR ...] [--account ID]

Prints, per question, the distribution of the time per key (median, p90, p99, max), the answers
and the number of unknowns (timeouts among them). A benchmark, not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import Counter
from collections.abc import Sequence

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

DEFAULT_CORPUS = ("/work/shared/corpus/tf", "/work/shared/corpus/cfn")
DEFAULT_ACCOUNT = "111122223333"


def _percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", action="append", help="corpus folder (repeatable)")
    parser.add_argument("--account", default=DEFAULT_ACCOUNT, help="the deployment account for the loaders")
    args = parser.parse_args(argv)

    from kmsguard import simulate_cli
    from kmsguard.check import load_inputs
    from kmsguard.load.base import LoadContext
    from kmsguard.model import Policy
    from kmsguard.prove_cli import _key_policy

    started = time.perf_counter()
    from kmsguard.prove import questions

    import_ms = (time.perf_counter() - started) * 1000
    loaded, files = load_inputs(tuple(args.corpus or DEFAULT_CORPUS), LoadContext(account=args.account))
    keys = []
    for key in loaded.inventory.keys:
        if not isinstance(key.policy, Policy):
            continue
        key_account = simulate_cli.key_account_of(key, args.account)
        key_arn = simulate_cli.key_arn_of(key, key_account, None, "aws")
        keys.append(
            (key, key_account, key_arn, _key_policy(loaded.inventory, key, key_arn, key_account, "aws"))
        )
    print(f"{len(files)} files, {len(loaded.inventory.keys)} keys, {len(keys)} with a concrete key policy")
    print(f"importing the prover (z3): {import_ms:.0f} ms")

    for question in ("public", "external"):
        times: list[float] = []
        answers: Counter[str] = Counter()
        timeouts = 0
        slowest = ("", 0.0)
        for key, key_account, key_arn, policy in keys:
            start = time.perf_counter()
            if question == "public":
                result = questions.public(policy, key_account=key_account, key_arn=key_arn)
            else:
                result = questions.external(policy, (), None, key_account=key_account, key_arn=key_arn)
            elapsed = (time.perf_counter() - start) * 1000
            times.append(elapsed)
            answers[result.answer] += 1
            timeouts += any(d.startswith("solver:") for d in result.depends_on)
            if elapsed > slowest[1]:
                slowest = (f"{key.address} ({key.span.path})", elapsed)
        print(
            f"{question:9} n={len(times)} median={statistics.median(times):.1f} ms "
            f"p90={_percentile(times, 0.9):.1f} ms p99={_percentile(times, 0.99):.1f} ms "
            f"max={max(times):.1f} ms  answers={dict(sorted(answers.items()))} "
            f"unknown={answers['unknown']} (timeouts {timeouts})"
        )
        print(f"          slowest: {slowest[0]} {slowest[1]:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
