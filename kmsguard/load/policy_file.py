"""Load a file holding one policy document: a key policy, an IAM identity policy, a role trust
policy, or the output of the AWS CLI that wraps one.

Accepted shapes (the document itself, or one of these wrappers):

* ``{"Version": ..., "Statement": [...]}`` -- the document;
* ``{"KeyPolicy": {...}}`` -- a key policy (the CloudFormation ``AWS::KMS::Key`` property name);
* ``{"Policy": "<JSON string>", "PolicyName": "default"}`` -- ``aws kms get-key-policy`` output;
* ``{"PolicyDocument": {...} | "<JSON string>"}`` -- ``aws iam get-role-policy`` and friends;
* ``{"PolicyVersion": {"Document": {...} | "<URL-encoded JSON>"}}`` -- ``aws iam
  get-policy-version`` output (a managed policy, hence an identity policy).

Which kind of policy a bare document is, decided in this order (``classify_document``):

1. a wrapper that says so (``KeyPolicy``, ``get-key-policy`` output, ``PolicyVersion``);
2. no statement has ``Principal`` / ``NotPrincipal`` -> identity policy (IAM User Guide, "AWS JSON
   policy elements: Principal": identity-based policies cannot use ``Principal``);
3. every action is an STS role-assumption action (``sts:AssumeRole*``, with the session
   actions ``sts:TagSession`` / ``sts:SetSourceIdentity`` / ``sts:SetContext`` that trust policies
   also grant) -> trust policy;
4. some statement names a principal, every action is a ``kms:`` action or ``*`` (at least one
   ``kms:``), and every ``Resource`` is ``"*"`` -> key policy (KMS Developer Guide, "Elements in a
   key policy": in a key policy ``Resource`` is ``"*"``, meaning "this KMS key");
5. otherwise ``PolicyKind.UNKNOWN`` (an S3 bucket policy, a mixed document): the grammar is
   checked without the kind-specific Principal rules, and no ``Key`` is invented.

A key policy file also yields a ``Key`` (address = the file path, source ``POLICY_FILE``) so that
key-policy rules run on it. Everything about that key other than its policy is not in the file, so
it is ``Unknown("not in policy file")`` rather than AWS's defaults: a bare policy file must not
produce findings about rotation, key spec, multi-Region or state that nothing in the file supports.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from kmsguard.findings import Diagnostic, InputError
from kmsguard.load.base import LoadContext, LoadResult
from kmsguard.load.jsonpos import JSONPosError, loads_with_positions
from kmsguard.load.policy_builder import RULE_GRAMMAR, PolicyBuilder
from kmsguard.model import Inventory, Policy, PolicyKind, Source, StandalonePolicy
from kmsguard.model.span import Span
from kmsguard.model.values import LStr, is_symbolic, span_of

NOT_IN_FILE = "not in policy file"
KEY_RESOURCE_TYPE = "kms_key_policy_file"

# Actions a role trust policy grants to the principals that may assume the role. Source: IAM User
# Guide, "Role terms and concepts" (trust policy) and "Passing session tags in AWS STS"
# (sts:TagSession must be allowed in the trust policy), "sts:SetSourceIdentity".
_TRUST_ACTIONS = ("sts:tagsession", "sts:setsourceidentity", "sts:setcontext")


def load_policy_file(path: str, text: str, ctx: LoadContext) -> LoadResult:
    """Load one policy document file. A JSON syntax error is one ``InputError``; grammar problems
    are diagnostics; a key policy also becomes a ``Key``."""
    result = LoadResult(sources={path: text})
    try:
        decoded, duplicates = loads_with_positions(text, path)
    except JSONPosError as err:
        result.errors.append(InputError(path, err.line, f"invalid JSON: {err.message}"))
        return result
    if not isinstance(decoded, dict):
        line = span_of(decoded, Span(path, 1)).line
        result.errors.append(InputError(path, line, "not a policy document: expected a JSON object"))
        return result

    unwrapped = unwrap(decoded, path)
    if isinstance(unwrapped, InputError):
        result.errors.append(unwrapped)
        return result
    document, wrapper, hinted_kind = unwrapped
    address = f"{path}#{wrapper}" if wrapper else path
    for dup in duplicates:
        result.diagnostics.append(
            Diagnostic(RULE_GRAMMAR, f'duplicate key "{dup.key}" in policy JSON', dup.span, address)
        )

    kind = hinted_kind or classify_document(document)
    builder = PolicyBuilder(kind, resource=address, partition=ctx.partition)
    # A bare file is what `put-key-policy --policy file://...` sends, whitespace included, so its
    # byte length is the size AWS checks; for wrapped documents the builder measures the document.
    size_hint = len(text.lstrip("\ufeff").encode()) if not wrapper else None
    policy = builder.build(document, span_of(document, Span(path, 1, 1)), size_hint=size_hint)
    result.diagnostics.extend(builder.diagnostics)
    if not isinstance(policy, Policy):
        # The builder explained why (a string that is not JSON, not an object): nothing to analyse.
        return result

    standalone = StandalonePolicy(address, Source.POLICY_FILE, policy, policy.span)
    # A key policy file is a StandalonePolicy of kind KEY: the key-policy rules read those
    # directly. No Key is made up for it, since a file says nothing of rotation, spec or state.
    result.inventory = Inventory(policies=(standalone,), org=ctx.org())
    return result


def unwrap(decoded: dict[str, Any], path: str) -> tuple[Any, str, PolicyKind | None] | InputError:
    """The policy document inside a known wrapper: (document, wrapper name or "", kind hint)."""
    if "Statement" in decoded:
        return decoded, "", None
    if "KeyPolicy" in decoded:
        return decoded["KeyPolicy"], "KeyPolicy", PolicyKind.KEY
    if "Policy" in decoded:
        # `aws kms get-key-policy` answers {"Policy": "...", "PolicyName": "default"}; other
        # services' get-*-policy commands (S3, SQS...) answer {"Policy": "..."} alone, so only the
        # key policy name "default" is taken as proof (KMS API Reference, "GetKeyPolicy").
        hint = PolicyKind.KEY if decoded.get("PolicyName") == "default" else None
        return _one_line(decoded["Policy"]), "Policy", hint
    if "PolicyDocument" in decoded:
        return _one_line(decoded["PolicyDocument"]), "PolicyDocument", None
    version = decoded.get("PolicyVersion")
    if isinstance(version, dict) and "Document" in version:
        document = version["Document"]
        if isinstance(document, str) and document.lstrip().startswith("%7B"):
            # The IAM API returns managed policy documents URL-encoded (RFC 3986); the CLI decodes
            # them, raw API captures do not. Source: IAM API Reference, "GetPolicyVersion".
            document = LStr(unquote(document), span_of(document, Span(path, 1)))
        return _one_line(document), "PolicyVersion.Document", PolicyKind.IDENTITY
    line = span_of(decoded, Span(path, 1)).line
    return InputError(
        path,
        line,
        "not a policy document: no Statement, KeyPolicy, Policy, PolicyDocument or PolicyVersion element",
    )


def classify_document(document: Any) -> PolicyKind:
    """The kind of a policy document from its statements (heuristic in the module docstring)."""
    statements = _raw_statements(document)
    if statements is None:
        return PolicyKind.UNKNOWN
    if not any("Principal" in s or "NotPrincipal" in s for s in statements):
        return PolicyKind.IDENTITY
    actions = [
        a.lower() for s in statements for a in _strings(s.get("Action")) + _strings(s.get("NotAction"))
    ]
    if actions and all(a.startswith("sts:assumerole") or a in _TRUST_ACTIONS for a in actions):
        if any(a.startswith("sts:assumerole") for a in actions):
            return PolicyKind.TRUST
    kms_actions = [a for a in actions if a.startswith("kms:")]
    all_kms = bool(kms_actions) and all(a.startswith("kms:") or a == "*" for a in actions)
    resources = [r for s in statements for r in _strings(s.get("Resource")) + _strings(s.get("NotResource"))]
    if all_kms and all(r == "*" for r in resources):
        return PolicyKind.KEY
    return PolicyKind.UNKNOWN


def _one_line(document: Any) -> Any:
    """A policy held in a JSON string sits on one line of the file, but its decoded text has line
    breaks; putting them on one line makes every statement's span the string's own line instead of
    a line past the end of the file."""
    if not isinstance(document, str) or is_symbolic(document):
        return document
    return LStr(flatten_json_lines(document), span_of(document))


def flatten_json_lines(text: str) -> str:
    """``text`` with every line break outside JSON strings turned into a space.

    Outside strings a line break is plain JSON whitespace, so the meaning is unchanged and the
    length too (byte counts for size limits stay right). A raw line break inside a string is left
    alone: it makes the JSON invalid, and the decoder must still say so."""
    if "\n" not in text and "\r" not in text:
        return text
    chars = list(text)
    in_string = False
    escaped = False
    for index, char in enumerate(chars):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "\r\n":
            chars[index] = " "
    return "".join(chars)


def _raw_statements(document: Any) -> list[dict[str, Any]] | None:
    """The statement objects of a decoded document, or None when it is not an object of them."""
    if isinstance(document, str) and not is_symbolic(document):
        try:
            document, _ = loads_with_positions(document, "<policy>")
        except JSONPosError:
            return None
    if not isinstance(document, dict):
        return None
    raw = document.get("Statement")
    items = raw if isinstance(raw, list) else [raw] if raw is not None else []
    return [s for s in items if isinstance(s, dict)]


def _strings(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return [str(v) for v in items if isinstance(v, str) and not is_symbolic(v)]


__all__ = ["classify_document", "flatten_json_lines", "load_policy_file", "unwrap"]
