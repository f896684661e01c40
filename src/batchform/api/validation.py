"""Request validation against botocore's ``sagemaker`` service model.

See docs/semantics.md, "The API".

boto3 checks only required members, types and ``min``; the service checks ``max``, ``pattern``
and ``enum`` too. We check everything, and report violations the way the service does::

    1 validation error detected: Value 'my_job' at 'transformJobName' failed to satisfy
    constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from functools import cache
from typing import Any

import botocore.session
from botocore.model import ListShape, MapShape, OperationModel, Shape, StructureShape

from batchform.errors import ValidationError

# Where SageMaker takes an S3 URI we also take file:// URIs and local paths (our extension).
_URI_SHAPES = frozenset({"S3Uri", "Url"})


@cache
def operation_model(operation: str) -> OperationModel:
    service = botocore.session.get_session().get_service_model("sagemaker")
    return service.operation_model(operation)


def validate_request(operation: str, params: Any) -> None:
    """Raise ValidationError listing every violation of ``operation``'s input shape."""
    if not isinstance(params, dict):
        raise ValidationError("The request body must be a JSON object")
    errors: list[str] = []
    shape = operation_model(operation).input_shape
    if shape is not None:
        _check(shape, params, "", errors)
    if errors:
        raise ValidationError(coral_message(errors))


def coral_message(errors: list[str]) -> str:
    noun = "error" if len(errors) == 1 else "errors"
    return f"{len(errors)} validation {noun} detected: " + "; ".join(errors)


def violation(value: Any, path: str, constraint: str) -> str:
    return f"Value {_render(value)} at '{path}' failed to satisfy constraint: {constraint}"


def _check(shape: Shape, value: Any, path: str, errors: list[str]) -> None:
    if isinstance(shape, StructureShape):
        _check_structure(shape, value, path, errors)
    elif isinstance(shape, ListShape):
        _check_list(shape, value, path, errors)
    elif isinstance(shape, MapShape):
        _check_map(shape, value, path, errors)
    else:
        _check_scalar(shape, value, path, errors)


def _check_structure(shape: StructureShape, value: Any, path: str, errors: list[str]) -> None:
    if not isinstance(value, dict):
        errors.append(violation(value, path, "Member must be a structure"))
        return
    for name in shape.required_members:
        if value.get(name) is None:
            errors.append(violation(None, _join(path, name), "Member must not be null"))
    for name, member_value in value.items():
        member = shape.members.get(name)
        if member is None:
            where = path or "the request"
            errors.append(
                f"Unknown parameter '{name}' in {where}; expected one of "
                + ", ".join(shape.members)
            )
        elif member_value is not None:
            _check(member, member_value, _join(path, name), errors)


def _check_list(shape: ListShape, value: Any, path: str, errors: list[str]) -> None:
    if not isinstance(value, list):
        errors.append(violation(value, path, "Member must be a list"))
        return
    _check_length(shape, len(value), value, path, errors)
    for index, item in enumerate(value, start=1):
        _check(shape.member, item, f"{path}.{index}.member", errors)


def _check_map(shape: MapShape, value: Any, path: str, errors: list[str]) -> None:
    if not isinstance(value, dict):
        errors.append(violation(value, path, "Member must be a map"))
        return
    _check_length(shape, len(value), value, path, errors)
    for key, item in value.items():
        _check(shape.key, key, f"{path}.key", errors)
        _check(shape.value, item, f"{path}.value", errors)


def _check_scalar(shape: Shape, value: Any, path: str, errors: list[str]) -> None:
    kind = shape.type_name
    if kind == "string":
        if not isinstance(value, str):
            errors.append(violation(value, path, "Member must be a string"))
            return
        _check_string(shape, value, path, errors)
    elif kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            errors.append(violation(value, path, "Member must be an integer"))
            return
        _check_number(shape, value, path, errors)
    elif kind == "boolean" and not isinstance(value, bool):
        errors.append(violation(value, path, "Member must be a boolean"))
    elif kind == "timestamp" and timestamp_seconds(value) is None:
        errors.append(
            violation(value, path, "Member must be a timestamp: epoch seconds or ISO-8601")
        )


def timestamp_seconds(value: Any) -> float | None:
    """A request timestamp as epoch seconds, or None when ``value`` is not one.

    boto3 sends epoch seconds (a JSON number); ISO-8601 strings are accepted too, read as UTC
    when they carry no offset.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            seconds = float(value)
        except OverflowError:
            return None
        return seconds if math.isfinite(seconds) else None
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _check_string(shape: Shape, value: str, path: str, errors: list[str]) -> None:
    meta = shape.metadata
    enum = meta.get("enum")
    if enum and value not in enum:
        errors.append(
            violation(value, path, "Member must satisfy enum value set: [" + ", ".join(enum) + "]")
        )
        return
    _check_length(shape, len(value), value, path, errors)
    pattern = meta.get("pattern")
    if pattern and not (shape.name in _URI_SHAPES and _is_local_uri(value)):
        compiled = _compile(pattern)
        if compiled is not None and not compiled.fullmatch(value):
            shown = pattern if pattern.startswith("^") else "^" + pattern
            errors.append(
                violation(value, path, f"Member must satisfy regular expression pattern: {shown}")
            )


def _check_number(shape: Shape, value: int, path: str, errors: list[str]) -> None:
    meta = shape.metadata
    if "min" in meta and value < meta["min"]:
        errors.append(
            violation(value, path, f"Member must have value greater than or equal to {meta['min']}")
        )
    if "max" in meta and value > meta["max"]:
        errors.append(
            violation(value, path, f"Member must have value less than or equal to {meta['max']}")
        )


def _check_length(shape: Shape, length: int, value: Any, path: str, errors: list[str]) -> None:
    meta = shape.metadata
    if "min" in meta and length < meta["min"]:
        errors.append(
            violation(
                value, path, f"Member must have length greater than or equal to {meta['min']}"
            )
        )
    if "max" in meta and length > meta["max"]:
        errors.append(
            violation(value, path, f"Member must have length less than or equal to {meta['max']}")
        )


@cache
def _compile(pattern: str) -> re.Pattern[str] | None:
    # The model's patterns are Java regexes; the few Python cannot compile (\p{L} classes in
    # tag patterns) are skipped rather than guessed at.
    try:
        return re.compile(pattern, re.DOTALL)
    except re.error:
        return None


def _is_local_uri(value: str) -> bool:
    return value.startswith("file://") or "://" not in value


def _join(path: str, name: str) -> str:
    member = name[:1].lower() + name[1:]
    return f"{path}.{member}" if path else member


def _render(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "'true'" if value else "'false'"
    if isinstance(value, dict | list):
        return "'" + str(value) + "'"
    return f"'{value}'"
