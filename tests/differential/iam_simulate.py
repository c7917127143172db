"""@cloud-copilot/iam-simulate as a peer: install it, translate CASE dicts, run batches in one node process.

Only the standard library: the benchmark imports this module too.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NODE_DIR = Path(__file__).resolve().parent / "node"
DRIVER = NODE_DIR / "simulate.mjs"
PACKAGE = "@cloud-copilot/iam-simulate"

# iam-simulate's overall results, and kmsguard's labels for the same outcomes.
PEER_LABELS = {"Allowed": "Allow", "ExplicitlyDenied": "ExplicitDeny", "ImplicitlyDenied": "ImplicitDeny"}


class PeerUnavailable(Exception):
    """node / npm are not installed: the peer cannot run at all on this machine."""


class PeerSetupError(Exception):
    """node and npm are there, but installing or running the peer failed."""


@dataclass(frozen=True)
class PeerDecision:
    """What iam-simulate decided for one request.

    ``label`` is the engine's decision on the full request context, in kmsguard's vocabulary
    ("Allow", "ExplicitDeny", "ImplicitDeny", or "Error:<message>"); ``api_label`` is what the
    validating ``runSimulation`` entry point returned, after it dropped ``ignored_keys``."""

    label: str
    api_label: str
    ignored_keys: tuple[str, ...]
    statements: tuple[str, ...]
    error: str | None = None

    @classmethod
    def from_driver(cls, raw: Mapping[str, Any]) -> PeerDecision:
        label = PEER_LABELS.get(raw["result"], f"Error:{raw.get('engineError')}")
        api_label = PEER_LABELS.get(raw["apiResult"], f"Error:{raw.get('apiError')}")
        return cls(
            label=label,
            api_label=api_label,
            ignored_keys=tuple(raw.get("ignoredKeys") or ()),
            statements=tuple(raw.get("statements") or ()),
            error=raw.get("engineError"),
        )


def installed_version() -> str | None:
    manifest = NODE_DIR / "node_modules" / "@cloud-copilot" / "iam-simulate" / "package.json"
    if not manifest.is_file():
        return None
    return str(json.loads(manifest.read_text(encoding="utf-8"))["version"])


def pinned_version() -> str:
    manifest = json.loads((NODE_DIR / "package.json").read_text(encoding="utf-8"))
    return str(manifest["dependencies"][PACKAGE])


def ensure_installed() -> str:
    """Install the pinned package from the committed lockfile (``npm ci``) unless it is there.

    Returns the installed version. Raises PeerUnavailable without node/npm, PeerSetupError when
    the install fails or installs another version than the one pinned."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        raise PeerUnavailable("node and npm are needed to run @cloud-copilot/iam-simulate")
    if installed_version() != pinned_version():
        completed = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"],
            cwd=NODE_DIR,
            capture_output=True,
            text=True,
            check=False,
        )
        if completed.returncode != 0:
            tail = "\n".join(completed.stderr.strip().splitlines()[-10:])
            raise PeerSetupError(f"npm ci in {NODE_DIR} failed (exit {completed.returncode}):\n{tail}")
    version = installed_version()
    if version != pinned_version():
        raise PeerSetupError(f"{PACKAGE} {version} installed, {pinned_version()} pinned")
    return version


def _node(args: Sequence[str], payload: str, timeout: float) -> str:
    completed = subprocess.run(
        ["node", str(DRIVER), *args],
        cwd=NODE_DIR,
        input=payload,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )
    if completed.returncode != 0:
        raise PeerSetupError(
            f"{DRIVER.name} failed (exit {completed.returncode}): {completed.stderr.strip()}"
        )
    return completed.stdout


def run_batch(simulations: Sequence[Mapping[str, Any]], timeout: float = 240.0) -> list[PeerDecision]:
    """Decisions for ``simulations`` (iam-simulate ``Simulation`` objects), in order, one process."""
    output = _node([], json.dumps(list(simulations)), timeout)
    decisions = [PeerDecision.from_driver(json.loads(line)) for line in output.splitlines() if line.strip()]
    if len(decisions) != len(simulations):
        raise PeerSetupError(f"{DRIVER.name} answered {len(decisions)} of {len(simulations)} requests")
    return decisions


def run_bench(simulations: Sequence[Mapping[str, Any]], seconds: float) -> dict[str, Any]:
    """Decisions per second inside node (process start-up excluded): ``{"authorize": {...},
    "runSimulation": {...}}``, each with ``decisions``, ``seconds``, ``perSecond``."""
    output = _node(["--bench", str(seconds)], json.dumps(list(simulations)), timeout=60 + 4 * seconds)
    return dict(json.loads(output))


# --- CASE -> iam-simulate ------------------------------------------------------------------------

ANONYMOUS_PRINCIPALS = frozenset({"anonymous", "*"})


def _session_role_arn(session_arn: str) -> str:
    """arn:aws:sts::A:assumed-role/R/S -> arn:aws:iam::A:role/R."""
    prefix, _, resource = session_arn.partition(":assumed-role/")
    account = prefix.split(":")[4]
    partition = prefix.split(":")[1]
    role_name = resource.split("/")[0]
    return f"arn:{partition}:iam::{account}:role/{role_name}"


def implied_context(principal: str) -> dict[str, str]:
    """The global condition keys AWS sets from the caller's identity alone.

    iam-simulate takes every context key from its caller (its README: "Features coming soon ...
    Automatically populating context keys from the request"); kmsguard derives them. Sources:
    IAM User Guide, "AWS global condition context keys": aws:PrincipalArn ("for a role session,
    the ARN of the role", the root user's ARN for the root user), aws:PrincipalAccount,
    aws:username (IAM users only), aws:PrincipalIsAWSService / aws:PrincipalServiceName (service
    principals; not present for others' ServiceName); KMS Developer Guide, "kms:CallerAccount"
    (the account of the caller, for every KMS operation)."""
    if principal in ANONYMOUS_PRINCIPALS:
        return {}
    if principal.endswith(".amazonaws.com"):
        return {"aws:PrincipalIsAWSService": "true", "aws:PrincipalServiceName": principal}
    parts = principal.split(":")
    account = parts[4]
    principal_arn = _session_role_arn(principal) if ":assumed-role/" in principal else principal
    context = {
        "aws:PrincipalArn": principal_arn,
        "aws:PrincipalAccount": account,
        "kms:CallerAccount": account,
        "aws:PrincipalIsAWSService": "false",
    }
    resource = parts[5]
    if resource.startswith("user/"):
        context["aws:username"] = resource.rsplit("/", 1)[-1]
    return context


def to_simulation(case: Mapping[str, Any]) -> dict[str, Any]:
    """The iam-simulate ``Simulation`` for a CASE dict (the request context keys the case gives win
    over the implied ones, as in kmsguard's ``request_context``)."""
    request = case["request"]
    principal = request["principal"]
    context = {**implied_context(principal), **request.get("context", {})}

    def org_levels(policies: Sequence[Mapping[str, Any]], kind: str) -> list[dict[str, Any]]:
        # One organisation level holding every policy the case lists (the generator lists at most one).
        if not policies:
            return []
        return [
            {
                "orgIdentifier": f"{kind}-level-1",
                "policies": [
                    {"name": f"{kind}-{index + 1}", "policy": policy} for index, policy in enumerate(policies)
                ],
            }
        ]

    simulation: dict[str, Any] = {
        "request": {
            "principal": {"type": "Anonymous"} if principal in ANONYMOUS_PRINCIPALS else principal,
            "action": request["action"],
            "resource": {"resource": request["resource"], "accountId": request["resource_account"]},
            "contextVariables": context,
        },
        "identityPolicies": [
            {"name": f"identity-{index + 1}", "policy": policy}
            for index, policy in enumerate(case.get("identity_policies") or ())
        ],
        "serviceControlPolicies": org_levels(case.get("scps") or (), "scp"),
        "resourceControlPolicies": org_levels(case.get("rcps") or (), "rcp"),
        "resourcePolicy": case.get("key_policy"),
    }
    if case.get("permission_boundary"):
        simulation["permissionBoundaryPolicies"] = [
            {"name": "boundary", "policy": case["permission_boundary"]}
        ]
    if case.get("session_policy"):
        simulation["sessionPolicy"] = case["session_policy"]
    # Grants have no counterpart in iam-simulate: they are dropped (see KNOWN_DIFFERENCES.md).
    return simulation
