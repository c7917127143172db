"""The peer tools kmsguard is compared with, installed in a throwaway virtualenv of their own.

Peers never go into the environment that runs kmsguard: their imports would change kmsguard's
start-up and their dependencies could shadow kmsguard's. Versions are pinned so that numbers from
different days compare.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

CHECKOV_VERSION = "3.3.30"
CFN_LINT_VERSION = "1.58.0"
PINNED_PEERS: dict[str, str] = {"checkov": CHECKOV_VERSION, "cfn-lint": CFN_LINT_VERSION}

# Checkov's checks whose subject is a KMS key (found in checkov 3.3.30 by searching
# checkov/terraform/checks/ for the aws_kms_* resource types), checked again at every run by
# find_missing_checkov_checks because checkov silently runs nothing for an unknown --check id:
#   CKV_AWS_7   resource/aws/KMSRotation.py              rotation enabled
#   CKV_AWS_33  resource/aws/KMSKeyWildcardPrincipal.py  no wildcard principal in the key policy
#   CKV_AWS_227 resource/aws/KMSKeyIsEnabled.py          key enabled
#   CKV2_AWS_64 graph_checks/aws/KmsKeyPolicyIsDefined.json  key policy defined
CHECKOV_KMS_CHECK_IDS: tuple[str, ...] = ("CKV_AWS_7", "CKV_AWS_33", "CKV_AWS_227", "CKV2_AWS_64")

DEFAULT_PEERS_VENV = Path.home() / ".cache" / "kmsguard-bench" / "peers-venv"

# Printed by the venv's interpreter: the installed version of each pinned peer (None if absent),
# its Python version, and where the checkov package lives.
_PROBE = """
import importlib.metadata, importlib.util, json, platform, sys
names = json.loads(sys.argv[1])
versions = {}
for name in names:
    try:
        versions[name] = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        versions[name] = None
spec = importlib.util.find_spec("checkov")
location = list(spec.submodule_search_locations)[0] if spec and spec.submodule_search_locations else None
print(json.dumps({"versions": versions, "python": platform.python_version(), "checkov_dir": location}))
"""


@dataclass(frozen=True)
class PeerEnv:
    """An installed peers virtualenv and what is in it."""

    venv: Path
    python_version: str
    versions: tuple[tuple[str, str], ...]
    checkov_dir: Path

    def executable(self, name: str) -> Path:
        return self.venv / ("Scripts" if sys.platform == "win32" else "bin") / name

    def version(self, name: str) -> str:
        return dict(self.versions)[name]


class PeerSetupError(Exception):
    """The peers virtualenv could not be created or does not hold the pinned versions."""


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


def probe(venv: Path) -> dict[str, object] | None:
    """What the venv holds, or None if it is not a working virtualenv."""
    python = venv_python(venv)
    if not python.exists():
        return None
    completed = subprocess.run(
        [str(python), "-c", _PROBE, json.dumps(sorted(PINNED_PEERS))],
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        return None
    result: dict[str, object] = json.loads(completed.stdout)
    return result


def has_pinned_versions(found: dict[str, object] | None) -> bool:
    return found is not None and found.get("versions") == PINNED_PEERS


def ensure_peers_venv(venv: Path, log: Callable[[str], None] = print) -> PeerEnv:
    """Reuse ``venv`` if it holds exactly the pinned peers; otherwise (re)create it and install them."""
    found = probe(venv)
    if not has_pinned_versions(found):
        log(f"installing {_requirements_text()} into {venv} (once; later runs reuse it)")
        if found is None:
            _run_or_raise([sys.executable, "-m", "venv", "--clear", str(venv)], "create the virtualenv")
        pip = [str(venv_python(venv)), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        _run_or_raise([*pip, *_requirements()], "install the pinned peers")
        found = probe(venv)
        if not has_pinned_versions(found):
            raise PeerSetupError(f"{venv} does not hold {_requirements_text()} after installing: {found}")
    assert found is not None  # for the type checker: has_pinned_versions implies it
    return PeerEnv(
        venv=venv,
        python_version=str(found["python"]),
        versions=tuple(sorted(PINNED_PEERS.items())),
        checkov_dir=Path(str(found["checkov_dir"])),
    )


def find_missing_checkov_checks(checkov_dir: Path, check_ids: tuple[str, ...]) -> list[str]:
    """The ids among ``check_ids`` that no Terraform check of the installed checkov declares."""
    declared: set[str] = set()
    checks_dir = checkov_dir / "terraform" / "checks"
    # Python checks declare `id = "CKV_..."`; graph checks (JSON/YAML) declare `"id": "CKV2_..."`
    # or `id: CKV2_...`.
    declaration = re.compile(r"""\bid"?\s*[=:]\s*["']?(CKV2?_[A-Z]+_\d+)""")
    for path in checks_dir.rglob("*"):
        if path.suffix in {".py", ".json", ".yaml", ".yml"} and path.is_file():
            declared.update(declaration.findall(path.read_text(encoding="utf-8", errors="replace")))
    return [check_id for check_id in check_ids if check_id not in declared]


def _requirements() -> list[str]:
    return [f"{name}=={version}" for name, version in sorted(PINNED_PEERS.items())]


def _requirements_text() -> str:
    return ", ".join(_requirements())


def _run_or_raise(argv: list[str], purpose: str) -> None:
    completed = subprocess.run(argv, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        tail = "\n".join(completed.stderr.strip().splitlines()[-10:])
        raise PeerSetupError(f"could not {purpose} ({' '.join(argv)}):\n{tail}")
