"""Scenario files for ``kmsguard verify``: what they say, and reading them (docs/verify.md).

A scenario declares keys (inline, or taken from IaC by address), principals (an ARN with identity
policies, or an IAM role / user from IaC), and steps: a principal calls a KMS operation with
boto3's parameters and expects ``ok``, an AWS error code, or a decision. This module only reads
and checks the file (JSON Schema, then the cross-references the schema cannot express); running a
scenario is ``kmsguard.dryrun.run``. Nothing here imports the crypto engine.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kmsguard.findings import InputError
from kmsguard.model.values import LDict, LList, key_span, span_of

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "data" / "scenario.schema.json"

DEFAULT_ACCOUNT = "111122223333"
DEFAULT_REGION = "us-east-1"

# The operations a step may call: LocalKMS's (boto3's) method names.
OPERATIONS = frozenset(
    {
        "cancel_key_deletion",
        "create_alias",
        "create_grant",
        "create_key",
        "decrypt",
        "delete_alias",
        "describe_key",
        "disable_key",
        "disable_key_rotation",
        "enable_key",
        "enable_key_rotation",
        "encrypt",
        "generate_data_key",
        "generate_data_key_without_plaintext",
        "generate_mac",
        "generate_random",
        "get_key_policy",
        "get_key_rotation_status",
        "get_public_key",
        "list_aliases",
        "list_grants",
        "list_key_rotations",
        "list_keys",
        "put_key_policy",
        "re_encrypt",
        "retire_grant",
        "revoke_grant",
        "rotate_key_on_demand",
        "schedule_key_deletion",
        "sign",
        "update_alias",
        "verify",
        "verify_mac",
    }
)
# Parameters naming a key: a scenario key name there stands for that key's ARN.
KEY_PARAMS = frozenset({"KeyId", "SourceKeyId", "DestinationKeyId", "TargetKeyId"})
# Parameters naming a principal: a scenario principal name there stands for its ARN.
PRINCIPAL_PARAMS = frozenset({"GranteePrincipal", "RetiringPrincipal"})

# ``${steps.<id>.<Field>[.<Field>...]}``, ``${keys.<name>.Arn|KeyId}``, ``${principals.<name>.Arn}``.
REFERENCE = re.compile(
    r"\$\{(?P<kind>steps|keys|principals)\.(?P<name>[A-Za-z][A-Za-z0-9_-]*)\.(?P<path>[A-Za-z][\w.]*)\}"
)
_ANY_REFERENCE = re.compile(r"\$\{[^}]*\}")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
KEY_FIELDS = ("Arn", "KeyId")
DECISIONS = ("Allow", "ExplicitDeny", "ImplicitDeny")


class ScenarioError(ValueError):
    """A scenario that cannot be run: one line, ``path:line: message``."""

    def __init__(self, path: str, line: int, message: str) -> None:
        self.path, self.line, self.message = path, line, message
        super().__init__(str(InputError(path, line, message)))


@dataclass(frozen=True)
class KeyDecl:
    """A key: declared inline, or ``source`` (a Terraform address / CloudFormation logical id)."""

    name: str
    line: int
    source: str | None = None
    spec: str = "SYMMETRIC_DEFAULT"
    usage: str = "ENCRYPT_DECRYPT"
    description: str = ""
    policy: str | None = None  # JSON text; None: AWS's default key policy
    enabled: bool | None = None  # None: as declared by the IaC (inline keys: enabled)
    rotation_enabled: bool | None = None
    rotation_period_days: int | None = None
    aliases: tuple[str, ...] = ()
    tags: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class PrincipalDecl:
    """A caller: ``arn`` with its identity policies (JSON texts), or ``source`` (an IAM role or user
    in the IaC, whose policies come from there)."""

    name: str
    line: int
    arn: str | None = None
    source: str | None = None
    policies: tuple[str, ...] = ()
    permissions_boundary: str | None = None
    session_policy: str | None = None
    context: Mapping[str, str | tuple[str, ...]] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    org_id: str | None = None


@dataclass(frozen=True)
class Expectation:
    """``outcome``: "ok" or an AWS error code (None: any); ``decision``: the simulator's decision
    (None: any). At least one is set."""

    outcome: str | None = None
    decision: str | None = None

    def describe(self) -> str:
        parts = [self.outcome] if self.outcome else []
        if self.decision:
            parts.append(f"decision {self.decision}")
        return ", ".join(parts)


@dataclass(frozen=True)
class Step:
    id: str
    line: int
    principal: str  # a principal name of the scenario, or an ARN
    operation: str  # boto3's method name
    params: Mapping[str, Any]
    expect: Expectation
    description: str = ""


@dataclass(frozen=True)
class Scenario:
    path: str
    name: str
    account: str
    region: str
    partition: str
    keys: tuple[KeyDecl, ...]
    principals: tuple[PrincipalDecl, ...]
    steps: tuple[Step, ...]

    @property
    def needs_iac(self) -> bool:
        return any(k.source for k in self.keys) or any(p.source for p in self.principals)


# -- reading -------------------------------------------------------------------------------------


def load_scenario(path: str) -> Scenario:
    """Read, validate and parse a scenario file; ``ScenarioError`` for anything wrong."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ScenarioError(path, 0, f"cannot read the scenario: {err.__class__.__name__}") from None
    return parse_scenario(path, text)


def parse_scenario(path: str, text: str) -> Scenario:
    from kmsguard.load.cfn_yaml import TemplateDecodeError, decode_template

    try:
        document = decode_template(path, text)
    except TemplateDecodeError as err:
        message = err.message.replace("a template must be", "a scenario must be")
        raise ScenarioError(path, err.line, message) from None
    check_schema(path, document)
    return _scenario(path, document)


def check_schema(path: str, document: LDict) -> None:
    """The first error of the JSON Schema, in file order, on the line it is about."""
    from jsonschema import Draft202012Validator

    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    errors = list(Draft202012Validator(schema).iter_errors(document))
    if not errors:
        return
    placed = [
        (_line_at(document, list(e.absolute_path)), -len(e.absolute_path), i) for i, e in enumerate(errors)
    ]
    line, _, index = min(placed)
    raise ScenarioError(path, line, _schema_message(errors[index]))


def _line_at(document: Any, json_path: list[Any]) -> int:
    node, line = document, span_of(document).line
    for step in json_path:
        if isinstance(node, dict) and step in node:
            line = key_span(node, str(step)).line or line
            node = node[step]
        elif isinstance(node, list) and isinstance(step, int) and step < len(node):
            node = node[step]
            line = span_of(node).line or line
        else:
            break
    return line


def _schema_message(error: Any) -> str:
    where = "/".join(str(p) for p in error.absolute_path) or "the scenario"
    described = error.schema.get("description") if isinstance(error.schema, dict) else None
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(known))
        return f"{where}: unknown field {', '.join(map(repr, extra))} (known: {', '.join(known)})"
    if error.validator in ("anyOf", "oneOf", "not", "pattern") and described:
        return f"{where}: {_short(error.instance)} is not valid: expected {described}"
    return f"{where}: {error.message}"


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


# -- the document into dataclasses (after the schema: shapes are known to be right) ----------------


def _scenario(path: str, doc: LDict) -> Scenario:
    keys = tuple(
        _key(name, value, key_span(doc["keys"], name).line) for name, value in (doc.get("keys") or {}).items()
    )
    principals = tuple(
        _principal(name, value, key_span(doc["principals"], name).line)
        for name, value in (doc.get("principals") or {}).items()
    )
    steps = tuple(_step(index, value) for index, value in enumerate(doc["steps"]))
    scenario = Scenario(
        path=path,
        name=str(doc.get("name") or Path(path).stem),
        account=str(doc.get("account") or DEFAULT_ACCOUNT),
        region=str(doc.get("region") or DEFAULT_REGION),
        partition=str(doc.get("partition") or "aws"),
        keys=keys,
        principals=principals,
        steps=steps,
    )
    check_references(scenario)
    return scenario


def _policy_text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value)


def _key(name: str, value: LDict, line: int) -> KeyDecl:
    rotation = value.get("rotation")
    rotation_enabled: bool | None = None
    period: int | None = None
    if isinstance(rotation, bool):
        rotation_enabled = rotation
    elif isinstance(rotation, dict):
        rotation_enabled = bool(rotation.get("enabled", True))
        period = rotation.get("period_days")
    return KeyDecl(
        name=name,
        line=line,
        source=value.get("from"),
        spec=str(value.get("spec") or "SYMMETRIC_DEFAULT"),
        usage=str(value.get("usage") or "ENCRYPT_DECRYPT"),
        description=str(value.get("description") or ""),
        policy=_policy_text(value.get("policy")),
        enabled=value.get("enabled"),
        rotation_enabled=rotation_enabled,
        rotation_period_days=period,
        aliases=tuple(str(a) for a in value.get("aliases") or ()),
        tags=tuple((str(k), str(v)) for k, v in (value.get("tags") or {}).items()),
    )


def _principal(name: str, value: LDict, line: int) -> PrincipalDecl:
    context = {
        str(k): (tuple(str(x) for x in v) if isinstance(v, list) else str(v))
        for k, v in (value.get("context") or {}).items()
    }
    return PrincipalDecl(
        name=name,
        line=line,
        arn=value.get("arn"),
        source=value.get("from"),
        policies=tuple(t for t in (_policy_text(p) for p in value.get("policies") or ()) if t is not None),
        permissions_boundary=_policy_text(value.get("permissions_boundary")),
        session_policy=_policy_text(value.get("session_policy")),
        context=context,
        tags={str(k): str(v) for k, v in (value.get("tags") or {}).items()},
        org_id=value.get("org_id"),
    )


def _step(index: int, value: LDict) -> Step:
    raw_expect = value["expect"]
    if isinstance(raw_expect, dict):
        expect = Expectation(outcome=raw_expect.get("error"), decision=raw_expect.get("decision"))
    else:
        expect = Expectation(outcome=str(raw_expect))
    return Step(
        id=str(value.get("id") or f"step{index + 1}"),
        line=span_of(value).line,
        principal=str(value["as"]),
        operation=operation_name(str(value["op"])),
        params=_plain(value.get("params") or {}),
        expect=expect,
        description=str(value.get("description") or ""),
    )


def _plain(value: Any) -> Any:
    """Located values into plain ones (``LStr`` stays a ``str``: botocore only needs ``str``)."""
    if isinstance(value, (LDict, dict)):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (LList, list)):
        return [_plain(v) for v in value]
    return str(value) if isinstance(value, str) else value


def operation_name(written: str) -> str:
    """``Encrypt`` / ``GenerateDataKey`` -> boto3's ``encrypt`` / ``generate_data_key``."""
    if "_" in written or written.islower():
        return written
    return re.sub(r"(?<!^)(?=[A-Z])", "_", written).lower()


# -- cross-references ------------------------------------------------------------------------------


def is_principal_arn(text: str) -> bool:
    """An ARN, an account id or a service principal written directly in ``as:``."""
    return text.startswith("arn:") or bool(re.fullmatch(r"\d{12}", text)) or text.endswith(".amazonaws.com")


def check_references(scenario: Scenario) -> None:
    """Every name a step uses exists, every step reference points at an earlier step."""
    path = scenario.path
    key_names = {k.name for k in scenario.keys}
    principal_names = {p.name for p in scenario.principals}
    seen_steps: set[str] = set()
    for step in scenario.steps:
        if step.id in seen_steps:
            raise ScenarioError(path, step.line, f'step id "{step.id}" is used twice')
        if step.operation not in OPERATIONS:
            known = ", ".join(sorted(OPERATIONS))
            raise ScenarioError(
                path, step.line, f'step {step.id}: unknown op "{step.operation}" (known: {known})'
            )
        if step.principal not in principal_names and not is_principal_arn(step.principal):
            raise ScenarioError(
                path,
                step.line,
                f'step {step.id}: as "{step.principal}" is neither a declared principal '
                f"({', '.join(sorted(principal_names)) or 'none'}) nor an ARN",
            )
        for found in _strings(step.params):
            _check_string_references(scenario, step, found, seen_steps, key_names, principal_names)
        for name in KEY_PARAMS & set(step.params):
            value = step.params[name]
            if isinstance(value, str) and _looks_like_a_name(value) and value not in key_names:
                raise ScenarioError(
                    path,
                    step.line,
                    f'step {step.id}: {name} "{value}" is not a declared key '
                    f"({', '.join(sorted(key_names)) or 'none'}), a key id, an alias or an ARN",
                )
        seen_steps.add(step.id)


def _looks_like_a_name(value: str) -> bool:
    """Not a key id (UUID), alias, ARN or reference: meant as a scenario key name."""
    return not (
        _UUID.fullmatch(value) or value.startswith(("alias/", "arn:", "${")) or value.startswith("mrk-")
    )


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _check_string_references(
    scenario: Scenario,
    step: Step,
    text: str,
    earlier: set[str],
    key_names: set[str],
    principal_names: set[str],
) -> None:
    for written in _ANY_REFERENCE.findall(text):
        where = f"step {step.id}: reference {written}"
        found = REFERENCE.fullmatch(written)
        if found is None:
            raise ScenarioError(
                scenario.path,
                step.line,
                f"{where} is not ${{steps.ID.Field}}, ${{keys.NAME.Arn|KeyId}} or ${{principals.NAME.Arn}}",
            )
        if written != text:
            raise ScenarioError(scenario.path, step.line, f"{where} must be the whole value")
        kind, name, field_path = found["kind"], found["name"], found["path"]
        if kind == "steps" and name not in earlier:
            raise ScenarioError(scenario.path, step.line, f"{where} names no earlier step")
        if kind == "keys" and (name not in key_names or field_path not in KEY_FIELDS):
            raise ScenarioError(scenario.path, step.line, f"{where} names no declared key's Arn or KeyId")
        if kind == "principals" and (name not in principal_names or field_path != "Arn"):
            raise ScenarioError(scenario.path, step.line, f"{where} names no declared principal's Arn")
