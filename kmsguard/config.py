"""Configuration from ``[tool.kmsguard]`` in ``pyproject.toml`` or from ``.kmsguard.toml``.

The nearest file at or above the working directory wins; command-line options override it."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OPTIONS: dict[str, type | tuple[type, ...]] = {
    "severity": str,
    "select": list,
    "ignore": list,
    "format": str,
    "output": str,
    "account": str,
    "region": str,
    "partition": str,
    "org-id": str,
    "trusted-accounts": list,
    "packs": list,
    "baseline": str,
    "exclude": list,
    "params": dict,
    "jobs": int,
}
_ACCOUNT = re.compile(r"^\d{12}$")
_ORG = re.compile(r"^o-[a-z0-9]{10,32}$")


class ConfigError(ValueError):
    """One line: the file and what is wrong."""


@dataclass(frozen=True)
class Config:
    values: dict[str, Any] = field(default_factory=dict)
    path: str | None = None

    def get(self, name: str, default: Any = None) -> Any:
        return self.values.get(name, default)


def _load_toml(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except OSError as err:
        raise ConfigError(f"{path}: cannot read: {err.strerror}") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: invalid TOML: {err}") from None


def find_config(start: Path) -> Path | None:
    for directory in [start, *start.parents]:
        dotfile = directory / ".kmsguard.toml"
        if dotfile.is_file():
            return dotfile
        pyproject = directory / "pyproject.toml"
        if pyproject.is_file() and b"[tool.kmsguard" in pyproject.read_bytes():
            return pyproject
    return None


def load_config(explicit: str | None = None, start: Path | None = None) -> Config:
    path = Path(explicit) if explicit else find_config((start or Path.cwd()).resolve())
    if path is None:
        return Config()
    if explicit and not path.is_file():
        raise ConfigError(f"{path}: no such configuration file")
    data = _load_toml(path)
    table = data.get("tool", {}).get("kmsguard", {}) if path.name == "pyproject.toml" else data
    section = "[tool.kmsguard]" if path.name == "pyproject.toml" else ""
    return Config(validate(table, f"{path}{': ' + section if section else ''}"), str(path))


def validate(table: dict[str, Any], where: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for raw_name, value in table.items():
        name = raw_name.replace("_", "-")
        if name not in OPTIONS:
            raise ConfigError(f"{where}: unknown option '{raw_name}' (known: {', '.join(sorted(OPTIONS))})")
        expected = OPTIONS[name]
        if expected is list and isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if expected is dict:
            if not isinstance(value, dict) or not all(_is_param_value(v) for v in value.values()):
                raise ConfigError(
                    f"{where}: option '{raw_name}' must be a table of numbers, strings, booleans "
                    "or lists of strings"
                )
            # Lists become tuples: the form packs give list parameters, so rules compare alike.
            values[name] = {
                str(k).replace("-", "_"): tuple(v) if isinstance(v, list) else v for k, v in value.items()
            }
            continue
        if expected is int:
            # bool is an int subclass in Python: `jobs = true` is a mistake, not 1 process.
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{where}: option '{raw_name}' must be a whole number, 1 or more")
            values[name] = value
            continue
        if not isinstance(value, expected) or (
            expected is list and not all(isinstance(v, str) for v in value)
        ):
            kind = "a list of strings" if expected is list else "a string"
            raise ConfigError(f"{where}: option '{raw_name}' must be {kind}")
        values[name] = value
    check_context(values, where)
    return values


def _is_param_value(value: Any) -> bool:
    if isinstance(value, list):
        return all(isinstance(item, str) for item in value)
    return isinstance(value, (int, str, bool))


def check_context(values: dict[str, Any], where: str) -> None:
    account = values.get("account")
    if account is not None and not _ACCOUNT.match(account):
        raise ConfigError(f"{where}: account must be a 12-digit AWS account id, not {account!r}")
    for trusted in values.get("trusted-accounts") or []:
        if not _ACCOUNT.match(trusted):
            raise ConfigError(
                f"{where}: trusted-accounts entries must be 12-digit account ids, not {trusted!r}"
            )
    org = values.get("org-id")
    if org is not None and not _ORG.match(org):
        raise ConfigError(f"{where}: org-id must look like o-abcd123456, not {org!r}")
    partition = values.get("partition")
    if partition is not None and partition not in (
        "aws",
        "aws-cn",
        "aws-us-gov",
        "aws-iso",
        "aws-iso-b",
        "aws-iso-e",
        "aws-iso-f",
        "aws-eusc",
    ):
        raise ConfigError(f"{where}: unknown partition {partition!r}")
