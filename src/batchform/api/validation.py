"""Request validation against botocore's service models (``sagemaker``, ``logs``).

See docs/semantics.md, "The API".

boto3 checks only required members, types and ``min``; the service checks ``max``, ``pattern``
and ``enum`` too. We check everything, and report violations the way the service does::

    1 validation error detected: Value 'my_job' at 'transformJobName' failed to satisfy
    constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}

What differs between services is in a :class:`ServiceRules`: the model's name, the error the
violations are raised as (SageMaker: ``ValidationException``; CloudWatch Logs:
``InvalidParameterException``), and how a pattern is shown.
"""

from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

import botocore.session
from botocore.model import (
    ListShape,
    MapShape,
    OperationModel,
    ServiceModel,
    Shape,
    StructureShape,
)

from batchform.errors import ValidationError

# The API's one look into the runner: its instance table is pure data (no executor, no Ray),
# and an instance type it cannot size must be refused at create time, not when the job runs.
from batchform.runner.resources import INSTANCE_SHAPES, unknown_type_message

SIZED_SHAPES = frozenset({"TransformInstanceType"})  # enum shapes whose values we must size


@dataclass(frozen=True, slots=True)
class ServiceRules:
    """How one service's requests are checked and their violations reported."""

    model: str  # botocore's name of the service model
    error: type[ValidationError]  # what the violations are raised as
    anchor_patterns: bool  # the service shows a pattern with a leading ^ even if it has none
    local_uri_shapes: frozenset[str] = frozenset()  # shapes that also take local paths


# Where SageMaker takes an S3 URI we also take file:// URIs and local paths (our extension).
SAGEMAKER = ServiceRules(
    "sagemaker",
    ValidationError,
    anchor_patterns=True,
    local_uri_shapes=frozenset({"S3Uri", "Url"}),
)


_SERVICE_MODELS_LOCK = threading.Lock()


def service_model(service: str) -> ServiceModel:
    """botocore's model of ``service``, loaded once per process.

    Loading SageMaker's takes ~0.4 s; without the lock, requests arriving together before it
    was loaded each loaded their own copy (20 threads: 20 loads, 4 s), stalling the server.
    """
    with _SERVICE_MODELS_LOCK:
        return _loaded_service_model(service)


@cache
def _loaded_service_model(service: str) -> ServiceModel:
    return botocore.session.get_session().get_service_model(service)


@cache
def operation_model(operation: str, service: str = "sagemaker") -> OperationModel:
    return service_model(service).operation_model(operation)


def load_service_models(services: tuple[str, ...] = ("sagemaker", "logs")) -> None:
    """Load the service models now (the server does this before it reports ready)."""
    for service in services:
        service_model(service)


def validate_request(operation: str, params: Any, rules: ServiceRules = SAGEMAKER) -> None:
    """Raise ``rules.error`` listing every violation of ``operation``'s input shape."""
    if not isinstance(params, dict):
        raise rules.error("The request body must be a JSON object")
    errors: list[str] = []
    shape = operation_model(operation, rules.model).input_shape
    if shape is not None:
        _check(shape, params, "", errors, rules)
    if errors:
        raise rules.error(coral_message(errors))


def coral_message(errors: list[str]) -> str:
    noun = "error" if len(errors) == 1 else "errors"
    return f"{len(errors)} validation {noun} detected: " + "; ".join(errors)


def violation(value: Any, path: str, constraint: str) -> str:
    return f"Value {_render(value)} at '{path}' failed to satisfy constraint: {constraint}"


def _check(shape: Shape, value: Any, path: str, errors: list[str], rules: ServiceRules) -> None:
    if isinstance(shape, StructureShape):
        _check_structure(shape, value, path, errors, rules)
    elif isinstance(shape, ListShape):
        _check_list(shape, value, path, errors, rules)
    elif isinstance(shape, MapShape):
        _check_map(shape, value, path, errors, rules)
    else:
        _check_scalar(shape, value, path, errors, rules)


def _check_structure(
    shape: StructureShape, value: Any, path: str, errors: list[str], rules: ServiceRules
) -> None:
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
            _check(member, member_value, _join(path, name), errors, rules)


def _check_list(
    shape: ListShape, value: Any, path: str, errors: list[str], rules: ServiceRules
) -> None:
    if not isinstance(value, list):
        errors.append(violation(value, path, "Member must be a list"))
        return
    _check_length(shape, len(value), value, path, errors)
    for index, item in enumerate(value, start=1):
        _check(shape.member, item, f"{path}.{index}.member", errors, rules)


def _check_map(
    shape: MapShape, value: Any, path: str, errors: list[str], rules: ServiceRules
) -> None:
    if not isinstance(value, dict):
        errors.append(violation(value, path, "Member must be a map"))
        return
    _check_length(shape, len(value), value, path, errors)
    for key, item in value.items():
        _check(shape.key, key, f"{path}.key", errors, rules)
        _check(shape.value, item, f"{path}.value", errors, rules)


def _check_scalar(
    shape: Shape, value: Any, path: str, errors: list[str], rules: ServiceRules
) -> None:
    kind = shape.type_name
    if kind == "string":
        if not isinstance(value, str):
            errors.append(violation(value, path, "Member must be a string"))
            return
        _check_string(shape, value, path, errors, rules)
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


def _check_string(
    shape: Shape, value: str, path: str, errors: list[str], rules: ServiceRules
) -> None:
    meta = shape.metadata
    enum = meta.get("enum")
    if enum and value not in enum:
        errors.append(
            violation(value, path, "Member must satisfy enum value set: [" + ", ".join(enum) + "]")
        )
        return
    if shape.name in SIZED_SHAPES and value not in INSTANCE_SHAPES:
        # botocore's enum grows with new instance types before our table knows their sizes.
        errors.append(violation(value, path, unknown_type_message(value)))
        return
    _check_length(shape, len(value), value, path, errors)
    pattern = meta.get("pattern")
    if pattern and not (shape.name in rules.local_uri_shapes and _is_local_uri(value)):
        compiled = _compile(pattern)
        if compiled is not None and not compiled.fullmatch(value):
            anchor = rules.anchor_patterns and not pattern.startswith("^")
            shown = "^" + pattern if anchor else pattern
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
