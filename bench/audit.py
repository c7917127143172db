"""Audit speed against moto in server mode (a separate process on loopback, so the endpoint does not
share this interpreter's lock with the threads that call it).

    python bench/audit.py [--keys 200] [--regions us-east-1,eu-west-1,ap-southeast-2] [--repeat 3]
                          [--keep-snapshot snap.json.gz]

Seeds one account with ``--keys`` keys in each Region (a key policy each, a grant on every fourth,
an alias on every second, rotation on every second), then measures:

* the collection (``kmsguard.audit.run.collect_accounts``) at ``--concurrency 1`` and ``8``: wall
  time, API calls per key, and the speed-up;
* ``kmsguard check snap.json.gz`` on the saved snapshot, in a new process with an empty cache
  (start-up included, bytecode compiled as an installed package has it), against the audit
  (collection + the same check) -- target: >= 50x faster; and the same check with ``--jobs 1``.

Prints one line per figure; the best of ``--repeat`` runs is kept for each timing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

ACCOUNT = "123456789012"  # moto's default account


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1):
                return server, endpoint
        except OSError:
            time.sleep(0.05)
    server.kill()
    raise SystemExit("moto server did not start")


def seed(endpoint: str, regions: Sequence[str], keys_per_region: int) -> None:
    import boto3

    policy = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "Admin",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                },
                {
                    "Sid": "Use",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/app"},
                    "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey*"],
                    "Resource": "*",
                },
            ],
        }
    )
    for region in regions:
        kms = boto3.client("kms", region_name=region, endpoint_url=endpoint)
        for index in range(keys_per_region):
            key = kms.create_key(
                Description=f"bench {index}", Policy=policy, Tags=[{"TagKey": "n", "TagValue": str(index)}]
            )["KeyMetadata"]["KeyId"]
            if index % 2 == 0:
                kms.enable_key_rotation(KeyId=key)
                kms.create_alias(AliasName=f"alias/bench-{index}", TargetKeyId=key)
            if index % 4 == 0:
                kms.create_grant(
                    KeyId=key,
                    GranteePrincipal=f"arn:aws:iam::{ACCOUNT}:role/app",
                    Operations=["Decrypt"],
                    Constraints={"EncryptionContextSubset": {"n": str(index)}},
                )


def best_of(repeat: int, run: Callable[[], Any]) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return best, result


def collect(endpoint: str, regions: Sequence[str], concurrency: int) -> tuple[list[dict[str, Any]], int]:
    from kmsguard.audit.client import AuditSession
    from kmsguard.audit.run import collect_accounts

    session = AuditSession(endpoint_url=endpoint)
    collection = collect_accounts(session, regions=regions, concurrency=concurrency)
    return collection.accounts, session.calls


def check_in_new_process(snapshot: str, pycache: str, extra: Sequence[str] = ()) -> float:
    """``kmsguard check`` in a new process with an empty result cache, start-up included. Bytecode
    comes from ``pycache`` (``PYTHONPYCACHEPREFIX``), as an installed package's would from its
    compiled ``.pyc`` files, whatever ``PYTHONDONTWRITEBYTECODE`` the caller runs with."""
    with tempfile.TemporaryDirectory(prefix="kmsguard-bench-cache-") as cache:
        env = {**os.environ, "KMSGUARD_CACHE_DIR": cache, "PYTHONPYCACHEPREFIX": pycache}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "kmsguard", "check", snapshot, "--format", "json", *extra],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            check=False,
        )
        elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(f"kmsguard check failed: {done.stderr.decode()[-500:]}")
    return elapsed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=200, help="keys per Region")
    parser.add_argument("--regions", default="us-east-1,eu-west-1,ap-southeast-2")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep-snapshot", help="also copy the snapshot here (to profile `check` on it)")
    args = parser.parse_args(argv)
    regions = [r for r in args.regions.split(",") if r]
    for name, value in (
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ):
        os.environ[name] = value
    os.environ["AWS_CONFIG_FILE"] = os.environ["AWS_SHARED_CREDENTIALS_FILE"] = "/nonexistent"
    print(
        f"load average at the start: {' '.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} CPUs)"
    )
    server, endpoint = start_moto()
    try:
        start = time.perf_counter()
        seed(endpoint, regions, args.keys)
        print(f"seeded {args.keys * len(regions)} keys in {time.perf_counter() - start:.1f} s")
        total_keys = args.keys * len(regions)
        timings: dict[int, float] = {}
        accounts: list[dict[str, Any]] = []
        for concurrency in (1, 8):
            timings[concurrency], (accounts, calls) = best_of(
                args.repeat, lambda c=concurrency: collect(endpoint, regions, c)
            )
            print(
                f"collect concurrency={concurrency}: {timings[concurrency]:.2f} s, {calls} calls, "
                f"{calls / total_keys:.2f} calls/key, {total_keys / timings[concurrency]:.0f} keys/s"
            )
        print(f"speed-up from concurrency (1 -> 8): {timings[1] / timings[8]:.2f}x")
        from kmsguard import __version__
        from kmsguard.audit.snapshot import build_snapshot, write_snapshot

        with tempfile.TemporaryDirectory(prefix="kmsguard-bench-") as directory:
            snapshot = os.path.join(directory, "snap.json.gz")
            write_snapshot(build_snapshot(accounts, __version__), snapshot)
            print(f"snapshot: {os.path.getsize(snapshot) / 1024:.0f} KiB gzip")
            if args.keep_snapshot:
                shutil.copyfile(snapshot, args.keep_snapshot)
            pycache = os.path.join(directory, "pycache")
            check_in_new_process(snapshot, pycache)  # compiles the bytecode, as installing would
            check_time, _ = best_of(args.repeat, lambda: check_in_new_process(snapshot, pycache))
            serial_time, _ = best_of(
                args.repeat, lambda: check_in_new_process(snapshot, pycache, ("--jobs", "1"))
            )
        audit_time = timings[8] + check_time  # `kmsguard audit` = collection + the same check
        print(f"check on the snapshot (new process, empty cache): {check_time:.2f} s")
        print(f"  the same with --jobs 1 (rules in this process, no pool): {serial_time:.2f} s")
        print(f"audit (collection at concurrency 8 + check): {audit_time:.2f} s")
        print(f"check vs audit: {audit_time / check_time:.1f}x faster (target >= 50x)")
        print(f"check --jobs 1 vs audit: {(timings[8] + serial_time) / serial_time:.1f}x faster")
        print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        server.terminate()
        server.wait(timeout=10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
