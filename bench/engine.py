"""LocalKMS round-trip cost against raw AES-GCM (issue 6, "Speed").

Measures, in one process and one run, a 4 KB ``encrypt`` + ``decrypt`` round trip:

* ``raw``: AES-256-GCM seal + open with ``cryptography`` (the floor: what the bytes cost);
* ``localkms``: the same round trip through ``LocalKMS`` with authorization on (parameter
  validation, key lookup, the simulator against the key policy, the blob, AES-GCM);
* ``authz``: only the two authorization decisions ``LocalKMS`` makes for that round trip, so the
  authorization share of the LocalKMS time can be reported.

The variants run alternately, batch by batch (raw, localkms, authz, raw, ...), so a slow period of
the machine hits all of them; each figure is the median over batches of the time per round trip.
Usage: ``python bench/engine.py [--rounds N] [--batch N] [--clock wall|cpu] [--runs N]``. Target:
ratio <= 3x.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PLAINTEXT_BYTES = 4096
CONTEXT = {"tenant": "a", "purpose": "bench"}


def raw_round_trip() -> Callable[[], None]:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    key = os.urandom(32)
    plaintext = os.urandom(PLAINTEXT_BYTES)
    aad = b"header" + b"context"

    def run() -> None:
        nonce = os.urandom(12)
        sealed = AESGCM(key).encrypt(nonce, plaintext, aad)
        AESGCM(key).decrypt(nonce, sealed, aad)

    return run


def _local_kms() -> tuple[object, str]:
    from kmsguard.crypto import LocalKMS

    kms = LocalKMS(account="111122223333", region="us-east-1")
    key_id = kms.create_key(Description="bench")["KeyMetadata"]["KeyId"]
    return kms, key_id


def localkms_round_trip() -> Callable[[], None]:
    kms, key_id = _local_kms()
    plaintext = os.urandom(PLAINTEXT_BYTES)

    def run() -> None:
        blob = kms.encrypt(KeyId=key_id, Plaintext=plaintext, EncryptionContext=CONTEXT)  # type: ignore[attr-defined]
        kms.decrypt(CiphertextBlob=blob["CiphertextBlob"], EncryptionContext=CONTEXT)  # type: ignore[attr-defined]

    return run


def authz_only() -> Callable[[], None]:
    """The authorization step of a round trip alone: what ``LocalKMS._encrypt`` / ``_decrypt`` do
    to authorize (the request's condition keys, then ``_authorize``: the cached simulator inputs and
    the simulator or its remembered decision)."""
    kms, key_id = _local_kms()
    from kmsguard.crypto import authorize

    key = kms._store.keys[key_id]  # type: ignore[attr-defined]

    def run() -> None:
        for action in ("kms:Encrypt", "kms:Decrypt"):
            extra, frozen_extra = authorize.encryption_request_keys(CONTEXT, "SYMMETRIC_DEFAULT")
            kms._authorize(action, key, extra, frozen_extra=frozen_extra)  # type: ignore[attr-defined]

    return run


def per_call(run: Callable[[], None], batch: int, clock: Callable[[], float]) -> float:
    start = clock()
    for _ in range(batch):
        run()
    return (clock() - start) / batch


def measure(
    variants: dict[str, Callable[[], None]], rounds: int, batch: int, clock: Callable[[], float]
) -> dict[str, float]:
    """The median time per round trip of each variant, batches alternating between the variants."""
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, run in variants.items():
            samples[name].append(per_call(run, batch, clock))
    return {name: statistics.median(values) for name, values in samples.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="wall: time.perf_counter; cpu: time.process_time (steadier on a shared, busy machine)",
    )
    parser.add_argument(
        "--runs",
        type=int,
        default=1,
        help="repeat the whole measurement and report the spread of the ratio (a shared machine moves it)",
    )
    args = parser.parse_args(argv)
    clock = time.perf_counter if args.clock == "wall" else time.process_time

    variants = {"raw": raw_round_trip(), "localkms": localkms_round_trip(), "authz": authz_only()}
    for run in variants.values():  # warm-up: imports, caches, first-call costs
        per_call(run, 20, clock)
    ratios: list[float] = []
    for _ in range(args.runs):
        medians = measure(variants, args.rounds, args.batch, clock)
        raw, local, authz = medians["raw"], medians["localkms"], medians["authz"]
        ratios.append(local / raw)
        batches = f"median of {args.rounds} batches of {args.batch}"
        print(f"4 KB encrypt+decrypt round trip, {batches} ({args.clock} time)")
        print(f"  raw AES-GCM (cryptography)  {raw * 1e6:9.1f} us")
        print(f"  LocalKMS, authorization on  {local * 1e6:9.1f} us")
        print(f"  of which authorization      {authz * 1e6:9.1f} us ({authz / local:.0%} of LocalKMS)")
        print(f"  ratio LocalKMS / raw        {local / raw:9.1f}x  (target <= 3x)")
    if args.runs > 1:
        low, middle, high = min(ratios), statistics.median(ratios), max(ratios)
        print(f"ratio over {args.runs} runs: min {low:.2f}x, median {middle:.2f}x, max {high:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
