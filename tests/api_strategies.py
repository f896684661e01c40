"""Hypothesis strategies for API calls, drawn from botocore's service models.

:func:`calls_of_services` draws one call of an operation: a body valid for its input shape,
or that body broken in one place — a member missing, of the wrong type, out of range, off its
pattern or enum, unknown, nested too deep, huge — or broken as bytes: invalid UTF-8, truncated,
not an object, over the size cap. Each :class:`Call` says what the server must answer.

Everything is built from the shapes (structure, list, map, string, integer, long, float,
double, boolean, timestamp, blob and their ``min``/``max``/``pattern``/``enum``); the only
per-service knowledge is :data:`HINTS`, a few values per shape name (names of things that
exist, S3 URIs of a bucket that exists) so that valid calls get past existence checks.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
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
from hypothesis import strategies as st

from batchform.api.protocol import MAX_JSON_DEPTH, MAX_REQUEST_BYTES
from batchform.api.validation import SAGEMAKER

FUZZ_BUCKET = "fuzz-bucket"
NAMES = ("fuzz-a", "fuzz-b", "fuzz-c")
# Values that make valid calls meet existing things: the names the calls themselves create,
# the bucket the harness fills, the built-in images, the log groups.
HINTS: Mapping[str, tuple[str, ...]] = {
    "ModelName": NAMES,
    "TransformJobName": NAMES,
    "AutoMLJobName": NAMES,
    "ContainerImage": ("xgboost", "sklearn", "no-such-image"),
    "S3Uri": (f"s3://{FUZZ_BUCKET}/in/", f"s3://{FUZZ_BUCKET}/out/", "s3://no-such-bucket/x"),
    "Url": (f"s3://{FUZZ_BUCKET}/model.tar.gz",),
    "ResourceArn": tuple(
        f"arn:aws:sagemaker:us-east-1:123456789012:{kind}/{name}"
        for kind in ("model", "transform-job", "automl-job")
        for name in NAMES
    ),
    "LogGroupName": ("/aws/sagemaker/TransformJobs", "/aws/sagemaker/AutoMLJobs"),
    "LogStreamName": tuple(f"{name}/i-0-1700000000" for name in NAMES),
}
MAX_GENERATED_DEPTH = 6  # optional members below this are left out
MAX_GENERATED_ITEMS = 3  # beyond a list's or map's minimum
HUGE_STRING_CHARS = 100_000
UNKNOWN_MEMBER = "FuzzUnknownMember"
# Strings that break most patterns; those with "://" are not local paths, which the server
# takes in S3 URI members without a pattern check (our extension).
PATTERN_BREAKERS = ("gopher:// x/\x00", "a b://!", " ", "!!!", "\x00", "-", "ä", "\n")


class Expect(StrEnum):
    """What the server must answer a call (besides never a 5xx)."""

    ANY = "any"  # a valid call: an answer, or an error in the service's shape
    VALIDATION = "validation"  # 400 naming the broken member
    SERIALIZATION = "serialization"  # 400 SerializationException
    TOO_LARGE = "too-large"  # 413


@dataclass(frozen=True, slots=True)
class Call:
    """One request: its target, its raw body, how it was broken and what must come back."""

    target: str
    operation: str
    body: bytes
    broken: str  # "valid" or the mutation's name
    expect: Expect
    member: str = ""  # the member a validation error must name


@cache
def service_model(service: str) -> ServiceModel:
    model: ServiceModel = botocore.session.get_session().get_service_model(service)
    return model


def operation_model(service: str, operation: str) -> OperationModel:
    return service_model(service).operation_model(operation)


def calls_of_services(operations: list[tuple[str, str, str]]) -> st.SearchStrategy[Call]:
    """Calls, valid or broken, of ``(service, target prefix, operation)`` triples, each
    operation as likely as any other whatever its service."""
    return st.sampled_from(operations).flatmap(lambda triple: _calls_of(*triple))


@cache
def _calls_of(service: str, target_prefix: str, operation: str) -> st.SearchStrategy[Call]:
    shape = operation_model(service, operation).input_shape
    assert isinstance(shape, StructureShape)

    @st.composite
    def draw_call(draw: st.DrawFn) -> Call:
        body = draw(values(shape))
        target = target_prefix + operation
        kind = draw(st.sampled_from(("valid", "member", "member", "bytes")))
        if kind == "valid":
            return Call(target, operation, _dump(body), "valid", Expect.ANY)
        if kind == "member":
            broken = draw(_break_a_member(shape, body))
            if broken is not None:
                name, member, broken_body = broken
                raw = _dump(broken_body)
                return Call(target, operation, raw, name, Expect.VALIDATION, member)
        name, raw, expect = draw(_break_the_bytes(body))
        return Call(target, operation, raw, name, expect)

    return draw_call()


# --- valid values ------------------------------------------------------------------------------


def values(shape: Shape, depth: int = 0) -> st.SearchStrategy[Any]:
    """Values valid for ``shape`` (as far as its metadata says)."""
    return _values(shape, min(depth, MAX_GENERATED_DEPTH))


@cache
def _values(shape: Shape, depth: int) -> st.SearchStrategy[Any]:
    if isinstance(shape, StructureShape):
        return _structures(shape, depth)
    if isinstance(shape, ListShape):
        low, high = _size_range(shape)
        return st.lists(values(shape.member, depth + 1), min_size=low, max_size=high)
    if isinstance(shape, MapShape):
        low, high = _size_range(shape)
        keys, items = values(shape.key, depth + 1), values(shape.value, depth + 1)
        return st.dictionaries(keys, items, min_size=low, max_size=high)
    return _SCALARS[shape.type_name](shape)


def _structures(shape: StructureShape, depth: int) -> st.SearchStrategy[Any]:
    required = set(shape.required_members)
    mandatory = {name: values(shape.members[name], depth + 1) for name in required}
    optional = {
        name: values(member, depth + 1)
        for name, member in shape.members.items()
        if name not in required and depth < MAX_GENERATED_DEPTH
    }
    return st.fixed_dictionaries(mandatory, optional=optional)


def _size_range(shape: Shape) -> tuple[int, int]:
    low = int(shape.metadata.get("min", 0))
    high = min(int(shape.metadata.get("max", low + MAX_GENERATED_ITEMS)), low + MAX_GENERATED_ITEMS)
    return low, high


def _strings(shape: Shape) -> st.SearchStrategy[str]:
    meta = shape.metadata
    if "enum" in meta:
        return st.sampled_from(meta["enum"])
    low, high = int(meta.get("min", 0)), int(meta.get("max", 64))
    pattern = compiled_pattern(shape)
    if pattern is None:
        drawn = st.text(min_size=low, max_size=min(high, low + 64))
    else:
        fallback = _valid_example(shape, pattern)
        drawn = st.from_regex(pattern, fullmatch=True).map(
            lambda text: text if low <= len(text) <= high or fallback is None else fallback
        )
    hints = HINTS.get(shape.name)
    return st.one_of(st.sampled_from(hints), drawn) if hints else drawn


def _valid_example(shape: Shape, pattern: re.Pattern[str]) -> str | None:
    low, high = int(shape.metadata.get("min", 0)), int(shape.metadata.get("max", 64))
    for candidate in (
        *HINTS.get(shape.name, ()),
        "a",
        "a1",
        "abc",
        "s3://b/k",
        "1",
        "0",
        "x" * low,
    ):
        if low <= len(candidate) <= high and pattern.fullmatch(candidate):
            return candidate
    return None


def compiled_pattern(shape: Shape) -> re.Pattern[str] | None:
    """``shape``'s pattern, when Python can compile it (Java's ``\\p{L}`` it cannot)."""
    pattern = shape.metadata.get("pattern")
    if not pattern:
        return None
    try:
        return re.compile(pattern, re.DOTALL)
    except re.error:
        return None


def _integers(shape: Shape) -> st.SearchStrategy[int]:
    bits = 63 if shape.type_name == "long" else 31
    low = int(shape.metadata.get("min", -(2**bits)))
    high = int(shape.metadata.get("max", 2**bits - 1))
    return st.integers(low, high)


def _floats(shape: Shape) -> st.SearchStrategy[float]:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    return st.floats(low, high, allow_nan=False, allow_infinity=False)


def _timestamps(shape: Shape) -> st.SearchStrategy[Any]:
    seconds = st.integers(0, 4_000_000_000)
    return st.one_of(seconds, seconds.map(float), st.datetimes().map(lambda t: t.isoformat()))


def _blobs(shape: Shape) -> st.SearchStrategy[str]:
    return st.binary(max_size=64).map(lambda data: base64.b64encode(data).decode("ascii"))


_SCALARS: Mapping[str, Callable[[Shape], st.SearchStrategy[Any]]] = {
    "string": _strings,
    "integer": _integers,
    "long": _integers,
    "float": _floats,
    "double": _floats,
    "boolean": lambda shape: st.booleans(),
    "timestamp": _timestamps,
    "blob": _blobs,
}


# --- one member broken -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Site:
    """A place in a body: the container holding it, its key there, its shape, and the
    member name a validation error about it names."""

    container: Any
    key: Any
    shape: Shape
    member: str


def sites(shape: StructureShape, body: dict[str, Any]) -> Iterator[Site]:
    """Every value of ``body`` with its shape, parents before children (the root excluded)."""
    pending: list[tuple[Shape, Any, str]] = [(shape, body, "")]
    while pending:
        current, value, member = pending.pop()
        if isinstance(current, StructureShape) and isinstance(value, dict):
            for name, item in value.items():
                if name in current.members:
                    yield Site(value, name, current.members[name], name)
                    pending.append((current.members[name], item, name))
        elif isinstance(current, ListShape) and isinstance(value, list):
            for index, item in enumerate(value):
                yield Site(value, index, current.member, member)
                pending.append((current.member, item, member))
        elif isinstance(current, MapShape) and isinstance(value, dict):
            for key, item in value.items():
                yield Site(value, key, current.value, member)
                pending.append((current.value, item, member))


def _break_a_member(
    shape: StructureShape, body: dict[str, Any]
) -> st.SearchStrategy[tuple[str, str, Any] | None]:
    """Break ``body`` at one site: the mutation's name, the member to name, the new body
    (``body`` itself, changed in place, unless the root was replaced)."""
    holder = {"": body}
    places = [Site(holder, "", shape, ""), *sites(shape, body)]

    @st.composite
    def mutate(draw: st.DrawFn) -> tuple[str, str, Any] | None:
        site = draw(st.sampled_from(places))
        options = _mutations(site)
        if not options:
            return None
        name, make = draw(st.sampled_from(options))
        value, member = draw(make)
        site.container[site.key] = value
        return name, member, holder[""]

    return mutate()


Mutation = tuple[str, st.SearchStrategy[tuple[Any, str]]]


def _mutations(site: Site) -> list[Mutation]:
    """The ways to break the value at ``site``, each drawing (new value, member to name)."""
    shape, member, value = site.shape, site.member, site.container[site.key]
    found: list[Mutation] = []
    if isinstance(shape, StructureShape):
        found += _structure_mutations(shape, value)
    if member:  # the root must stay an object: that is a bytes-level break
        wrong = _WRONG_TYPES.get(shape.type_name, ())
        found += (
            [("wrong type", st.sampled_from(wrong).map(lambda v: (v, member)))] if wrong else []
        )
        found.append(("deep nesting", st.integers(4, 20).map(lambda d: (_nested(d), member))))
        found += [(name, make.map(lambda v: (v, member))) for name, make in _range_breaks(shape)]
    return found


def _structure_mutations(shape: StructureShape, value: dict[str, Any]) -> list[Mutation]:
    found: list[Mutation] = [
        ("unknown member", st.just(({**value, UNKNOWN_MEMBER: 1}, UNKNOWN_MEMBER)))
    ]
    present = [name for name in shape.required_members if name in value]
    if present:
        found.append(
            (
                "missing required",
                st.sampled_from(present).map(
                    lambda name: ({k: v for k, v in value.items() if k != name}, name)
                ),
            )
        )
    return found


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


_WRONG_TYPES: Mapping[str, tuple[Any, ...]] = {
    "structure": ("a string", [1], 7),
    "list": ("a string", {"a": 1}, 7),
    "map": ("a string", [1], 7),
    "string": (12, 1.5, True, ["x"], {"a": "b"}),
    "integer": ("12", 1.5, True, [1], {}),
    "long": ("12", 1.5, False, [1]),
    "float": ("1.5", True, [1.5], {}),
    "double": ("1.5", True, [1.5], {}),
    "boolean": ("true", 1, [True], {}),
    "timestamp": (True, [1], {}, "not a time"),
    "blob": (12, True, [1], {}),
}


def _range_breaks(shape: Shape) -> list[tuple[str, st.SearchStrategy[Any]]]:
    """Values of the right type that break ``shape``'s min, max, pattern or enum."""
    meta, kind = shape.metadata, shape.type_name
    found: list[tuple[str, st.SearchStrategy[Any]]] = []
    if kind in ("integer", "long", "float", "double"):
        if "min" in meta:
            found.append(("below min", st.just(meta["min"] - 1)))
        if "max" in meta:
            found.append(("above max", st.just(meta["max"] + 1)))
    elif kind == "string":
        found += _string_breaks(shape)
    elif isinstance(shape, ListShape | MapShape) and meta.get("max", 1000) < 1000:
        too_many = int(meta["max"]) + 1
        item = values(shape.member if isinstance(shape, ListShape) else shape.value)
        if isinstance(shape, ListShape):
            found.append(("too many", st.lists(item, min_size=too_many, max_size=too_many)))
        else:
            keys = [f"K{index}" for index in range(too_many)]
            found.append(
                (
                    "too many",
                    st.lists(item, min_size=too_many, max_size=too_many).map(
                        lambda items: dict(zip(keys, items, strict=True))
                    ),
                )
            )
    return found


def _string_breaks(shape: Shape) -> list[tuple[str, st.SearchStrategy[Any]]]:
    meta = shape.metadata
    if "enum" in meta:
        return [("bad enum", st.just("NotAnEnumValue"))]
    found: list[tuple[str, st.SearchStrategy[Any]]] = []
    if meta.get("min", 0) > 0:
        found.append(("too short", st.just("")))
    if "max" in meta and meta["max"] < HUGE_STRING_CHARS:  # longer ones would pass the cap
        found.append(("too long", st.just("a" * (int(meta["max"]) + 1))))
        found.append(("huge string", st.just("a" * HUGE_STRING_CHARS)))
    breakers = _pattern_breakers(shape)
    if breakers:
        found.append(("bad pattern", st.sampled_from(breakers)))
    return found


def _pattern_breakers(shape: Shape) -> list[str]:
    pattern = compiled_pattern(shape)
    if pattern is None:
        return []
    low, high = int(shape.metadata.get("min", 0)), int(shape.metadata.get("max", 1 << 30))
    remote_only = shape.name in SAGEMAKER.local_uri_shapes
    return [
        text
        for text in PATTERN_BREAKERS
        if low <= len(text) <= high
        and not pattern.fullmatch(text)
        and (not remote_only or "://" in text)
    ]


# --- the bytes broken --------------------------------------------------------------------------


def _break_the_bytes(body: dict[str, Any]) -> st.SearchStrategy[tuple[str, bytes, Expect]]:
    raw = _dump(body)
    return st.one_of(
        st.integers(0, len(raw)).map(
            lambda at: ("invalid UTF-8", raw[:at] + b"\xff" + raw[at:], Expect.SERIALIZATION)
        ),
        st.integers(1, len(raw) - 1).map(lambda at: ("truncated", raw[:at], Expect.SERIALIZATION)),
        st.sampled_from((b"[]", b'"text"', b"12", b"null", b"{", b'{"a": NaN}')).map(
            lambda text: ("not an object", text, Expect.SERIALIZATION)
        ),
        st.just(body).map(
            lambda body: (
                "too deep",
                _dump({**body, UNKNOWN_MEMBER: _nested(MAX_JSON_DEPTH + 1)}),
                Expect.SERIALIZATION,
            )
        ),
        st.just(body).map(
            lambda body: (
                "over the size cap",
                _dump({**body, UNKNOWN_MEMBER: "a" * MAX_REQUEST_BYTES}),
                Expect.TOO_LARGE,
            )
        ),
    )


def _dump(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False).encode("utf-8")
