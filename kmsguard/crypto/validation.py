"""Request parameters checked against botocore's KMS service model, as boto3 and KMS check them.

Two layers, as in real use:

* client side (boto3's default ``parameter_validation=True``): botocore's own ``ParamValidator``
  -- unknown or missing parameters, wrong types, string / list lengths and values below the
  shape's ``min`` (not blob lengths: botocore does not check those) -- raising
  ``botocore.exceptions.ParamValidationError`` before any request is made;
* server side (KMS): values above the shape's ``max``, values outside an enum (and, when client
  validation is off, below ``min``) -> ``ValidationException`` worded as AWS words it: "1 validation
  error detected: Value '<v>' at '<member>' failed to satisfy constraint: Member must have length
  less than or equal to 4096". Blob and sensitive members never show their value ("Value at
  'plaintext'").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kmsguard.crypto.engine import KmsFailure
from kmsguard.crypto.errors import service_model


def _member_name(name: str) -> str:
    # AWS names members in lowerCamelCase in validation messages ("plaintext", "pendingWindowInDays").
    return name[:1].lower() + name[1:]


def normalise_blobs(operation: str, params: dict[str, Any]) -> dict[str, Any]:
    """boto3 accepts ``str`` for blob members and sends its UTF-8 bytes."""
    shape = service_model().operation_model(operation).input_shape
    out = dict(params)
    for name, member in shape.members.items():
        if member.type_name == "blob" and isinstance(out.get(name), str):
            out[name] = out[name].encode("utf-8")
        elif member.type_name == "blob" and isinstance(out.get(name), (bytearray, memoryview)):
            out[name] = bytes(out[name])
    return out


def client_side(operation: str, params: Mapping[str, Any]) -> None:
    from botocore.exceptions import ParamValidationError
    from botocore.validate import ParamValidator

    shape = service_model().operation_model(operation).input_shape
    report = ParamValidator().validate(dict(params), shape)
    if report.has_errors():
        raise ParamValidationError(report=report.generate_report())


def server_side(operation: str, params: Mapping[str, Any], check_min: bool) -> None:
    shape = service_model().operation_model(operation).input_shape
    problems: list[str] = []
    for name, member in shape.members.items():
        if name not in params or params[name] is None:
            continue
        problems.extend(_member_problems(member, name, params[name], check_min))
    if problems:
        count = len(problems)
        noun = "error" if count == 1 else "errors"
        raise KmsFailure("ValidationException", f"{count} validation {noun} detected: " + "; ".join(problems))


def _member_problems(member: Any, name: str, value: Any, check_min: bool) -> list[str]:
    metadata = member.metadata
    hidden = member.type_name == "blob" or metadata.get("sensitive", False)
    where = f"Value at '{_member_name(name)}'" if hidden else f"Value '{value}' at '{_member_name(name)}'"
    constraint = f"{where} failed to satisfy constraint: Member must"
    found: list[str] = []
    if member.type_name in ("blob", "string", "list", "map") and isinstance(value, (bytes, str, list, dict)):
        size = len(value)
        if "max" in metadata and size > metadata["max"]:
            found.append(f"{constraint} have length less than or equal to {metadata['max']}")
        # botocore's client-side validator checks no blob lengths, so KMS sees short blobs itself.
        if (check_min or member.type_name == "blob") and "min" in metadata and size < metadata["min"]:
            found.append(f"{constraint} have length greater than or equal to {metadata['min']}")
    if member.type_name == "integer" and isinstance(value, int):
        if "max" in metadata and value > metadata["max"]:
            found.append(f"{constraint} have value less than or equal to {metadata['max']}")
        if check_min and "min" in metadata and value < metadata["min"]:
            found.append(f"{constraint} have value greater than or equal to {metadata['min']}")
    enum = getattr(member, "enum", None)
    if enum and isinstance(value, str) and value not in enum:
        found.append(f"{constraint} satisfy enum value set: [{', '.join(enum)}]")
    if member.type_name == "list" and isinstance(value, list):
        item_enum = getattr(member.member, "enum", None)
        for item in value:
            if item_enum and isinstance(item, str) and item not in item_enum:
                allowed = ", ".join(item_enum)
                found.append(
                    f"{constraint} satisfy constraint: [Member must satisfy enum value set: [{allowed}]]"
                )
                break
    return found


def range_problem(name: str, value: int, low: int, high: int) -> KmsFailure | None:
    """A range KMS enforces beyond the model's (PendingWindowInDays: 7-30 where the shape says 1-365)."""
    if low <= value <= high:
        return None
    bound = f"greater than or equal to {low}" if value < low else f"less than or equal to {high}"
    return KmsFailure(
        "ValidationException",
        f"1 validation error detected: Value '{value}' at '{_member_name(name)}' failed to satisfy "
        f"constraint: Member must have value {bound}",
    )
