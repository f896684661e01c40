"""The JSONPath subset of DataProcessing filters, parsed once, evaluated per record.

See docs/semantics.md, "DataProcessing".

Grammar (``$`` first, then any number of steps)::

    .name            one member of an object            (letters, digits, "-")
    .*  [*]          every member / element             (always a list of matches)
    ['a']            one member                          (the element itself)
    ['a','b']        several members                     (an object with those keys, in order)
    [1]  [-1]        one element                         (the element itself)
    [1,3,-1]         several elements                    (a list)
    [2:5] [:5] [2:]  a slice, clamped to the bounds      (a list)
    .[ ... ]         the same brackets after a dot       ($.field1.['child1','child2'])

Result shapes follow Jayway JsonPath, which the AWS documentation links to: a path made only of
single names/indexes (optionally ending with a multi-name bracket) is *definite* and yields one
value; any wildcard, index list, slice or inner multi-name bracket makes it *indefinite*, and then
every later step applies to each match and the result is the list of all matches.

Strictness (batchform's choice): every explicit step needs a node of the right type and an
existing member or an in-range index, else the record fails with ``RecordError``; only ``*``
is lenient (over a scalar it matches nothing) and slices clamp. A bracket holding several
ranges (``[0:2,246:]``) parses, because the service accepts it at create time, and fails every
record at run time.

Character whitelisting and format rules (CSV takes indexes only) live in ``validate``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from batchform.errors import RecordError, ValidationError

# A value produced by json.loads (or a CSV row as a list of strings).
Json = Any

_INT = re.compile(r"-?[0-9]+")


class _Miss(Exception):
    """A step found nothing where it needed something; JsonPath turns it into RecordError."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class _OutOfRange(_Miss):
    """An explicit index outside the array; the message wording depends on the format."""

    def __init__(self, index: int, size: int) -> None:
        super().__init__(f"index {index} is out of range")
        self.index = index
        self.size = size


def _kind(node: Json) -> str:
    if isinstance(node, dict):
        return "an object"
    if isinstance(node, list):
        return "an array"
    if isinstance(node, str):
        return "a string"
    if isinstance(node, bool):
        return "a boolean"
    if node is None:
        return "null"
    return "a number"


def _require_object(node: Json, what: str) -> dict[str, Json]:
    if not isinstance(node, dict):
        raise _Miss(f"cannot select {what} from {_kind(node)}")
    return node


def _require_array(node: Json, what: str) -> list[Json]:
    if not isinstance(node, list):
        raise _Miss(f"cannot select {what} from {_kind(node)}")
    return node


def _member(node: Json, name: str) -> Json:
    obj = _require_object(node, f'"{name}"')
    try:
        return obj[name]
    except KeyError:
        raise _Miss(f'attribute "{name}" not found') from None


def _element(node: Json, index: int) -> Json:
    array = _require_array(node, f"index {index}")
    size = len(array)
    if not -size <= index < size:
        raise _OutOfRange(index, size)
    return array[index]


@dataclass(frozen=True, slots=True)
class Name:
    """``.name`` or ``['name']``: one member of an object."""

    name: str

    def select(self, node: Json) -> Json:
        return _member(node, self.name)

    def extend(self, node: Json, out: list[Json]) -> None:
        out.append(_member(node, self.name))


@dataclass(frozen=True, slots=True)
class Names:
    """``['a','b']``: as the last step an object of those members, else each member in turn."""

    names: tuple[str, ...]

    def select(self, node: Json) -> Json:
        return {name: _member(node, name) for name in self.names}

    def extend(self, node: Json, out: list[Json]) -> None:
        out.extend(_member(node, name) for name in self.names)


@dataclass(frozen=True, slots=True)
class Wildcard:
    """``*``: every member of an object or element of an array; nothing for a scalar."""

    def select(self, node: Json) -> Json:
        out: list[Json] = []
        self.extend(node, out)
        return out

    def extend(self, node: Json, out: list[Json]) -> None:
        if isinstance(node, dict):
            out.extend(node.values())
        elif isinstance(node, list):
            out.extend(node)


@dataclass(frozen=True, slots=True)
class Index:
    """``[i]``: one element; negative counts from the end."""

    index: int

    def select(self, node: Json) -> Json:
        return _element(node, self.index)

    def extend(self, node: Json, out: list[Json]) -> None:
        out.append(_element(node, self.index))


@dataclass(frozen=True, slots=True)
class Indexes:
    """``[i,j,...]``: several elements, in the order written."""

    indexes: tuple[int, ...]

    def select(self, node: Json) -> Json:
        out: list[Json] = []
        self.extend(node, out)
        return out

    def extend(self, node: Json, out: list[Json]) -> None:
        out.extend(_element(node, index) for index in self.indexes)


@dataclass(frozen=True, slots=True)
class Slice:
    """``[start:end]`` with Python bounds (end exclusive, clamped); ``None`` = open end."""

    start: int | None
    end: int | None

    def select(self, node: Json) -> Json:
        return _require_array(node, "a slice")[self.start : self.end]

    def extend(self, node: Json, out: list[Json]) -> None:
        out.extend(_require_array(node, "a slice")[self.start : self.end])


@dataclass(frozen=True, slots=True)
class MultiRange:
    """``[0:2,246:]``: accepted by the parser, unsupported at run time (as by the service)."""

    bracket: str

    def select(self, node: Json) -> Json:
        raise _Miss(f"format {self.bracket} is not supported")

    def extend(self, node: Json, out: list[Json]) -> None:
        raise _Miss(f"format {self.bracket} is not supported")


Step = Name | Names | Wildcard | Index | Indexes | Slice | MultiRange

# Steps that address array positions: the only ones meaningful for a CSV row.
INDEX_STEPS = (Wildcard, Index, Indexes, Slice, MultiRange)


class JsonPath:
    """A compiled expression. ``evaluate`` raises ``RecordError`` naming the path and the cause.

    ``csv`` only changes the wording of index errors ("a record of N columns");
    ``slice_end_inclusive`` makes ``[a:b]`` include element ``b``, as some AWS examples read;
    batchform uses the default, end-exclusive (docs/semantics.md, "DataProcessing").
    """

    __slots__ = ("_csv", "_definite", "_plan", "_unsupported", "steps", "text")

    def __init__(self, text: str, *, csv: bool = False, slice_end_inclusive: bool = False) -> None:
        steps = parse_steps(text)
        if slice_end_inclusive:
            steps = tuple(_inclusive(step) for step in steps)
        self.text = text
        self.steps = steps
        self._csv = csv
        self._definite = _is_definite(steps)
        # In an indefinite path a multi-name bracket still builds objects when it comes last.
        self._plan = tuple(
            (isinstance(step, Names) and pos == len(steps) - 1, step)
            for pos, step in enumerate(steps)
        )
        self._unsupported = next(
            (_multi_range_message(text, s.bracket) for s in steps if isinstance(s, MultiRange)),
            None,
        )

    def __repr__(self) -> str:
        return f"JsonPath({self.text!r})"

    def evaluate(self, root: Json) -> Json:
        """Apply the path to ``root`` (not modified; the result may share parts of it)."""
        if self._unsupported is not None:
            raise RecordError(self._unsupported)
        try:
            if self._definite:
                node = root
                for step in self.steps:
                    node = step.select(node)
                return node
            nodes: list[Json] = [root]
            for whole, step in self._plan:
                out: list[Json] = []
                if whole:
                    out.extend(step.select(node) for node in nodes)
                else:
                    for node in nodes:
                        step.extend(node, out)
                nodes = out
            return nodes
        except _OutOfRange as miss:
            size = miss.size
            of = f"a record of {size} columns" if self._csv else f"an array of {size} elements"
            raise RecordError(f"Invalid JsonPath {self.text}: {miss.detail} for {of}") from None
        except _Miss as miss:
            raise RecordError(f"Invalid JsonPath {self.text}: {miss.detail}") from None


def _is_definite(steps: tuple[Step, ...]) -> bool:
    if not steps:
        return True
    *inner, last = steps
    singles = all(isinstance(step, Name | Index) for step in inner)
    return singles and isinstance(last, Name | Index | Names)


def _multi_range_message(text: str, bracket: str) -> str:
    # The service's wording, as seen in its job logs (docs/semantics.md, "DataProcessing").
    return (
        f"Invalid JsonPath: {text}: only single range filters of format (eg: [1:5]) are "
        f"supported. Format {bracket} is not supported"
    )


def _inclusive(step: Step) -> Step:
    if not isinstance(step, Slice) or step.end is None:
        return step
    return Slice(step.start, None if step.end == -1 else step.end + 1)


def parse_steps(text: str) -> tuple[Step, ...]:
    """Split ``text`` into steps; ``ValidationError`` (reason only, no prefix) on bad syntax."""
    if not text.startswith("$"):
        raise ValidationError('JsonPath must start with "$"')
    steps: list[Step] = []
    pos, size = 1, len(text)
    while pos < size:
        char = text[pos]
        if char == ".":
            pos, step = _dot_step(text, pos + 1)
        elif char == "[":
            pos, step = _bracket_step(text, pos)
        else:
            raise ValidationError(f'Unexpected "{char}" at position {pos}, expected "." or "["')
        steps.append(step)
    return tuple(steps)


def _dot_step(text: str, pos: int) -> tuple[int, Step]:
    if pos == len(text):
        raise ValidationError('JsonPath must not end with "."')
    char = text[pos]
    if char == ".":
        raise ValidationError('Recursive descent ".." is not supported')
    if char == "*":
        return pos + 1, Wildcard()
    if char == "[":
        return _bracket_step(text, pos)
    end = pos
    while end < len(text) and (text[end].isalnum() or text[end] == "-"):
        end += 1
    if end == pos:
        raise ValidationError(f'Unexpected "{char}" at position {pos}, expected a name after "."')
    return end, Name(text[pos:end])


def _bracket_step(text: str, pos: int) -> tuple[int, Step]:
    close = _closing_bracket(text, pos)
    body = text[pos + 1 : close].strip(" ")
    if not body:
        raise ValidationError('Empty brackets "[]" are not supported')
    if body == "*":
        return close + 1, Wildcard()
    if body.startswith("'"):
        return close + 1, _names(body)
    return close + 1, _numbers(body, text[pos : close + 1])


def _closing_bracket(text: str, pos: int) -> int:
    quoted = False
    for index in range(pos + 1, len(text)):
        char = text[index]
        if char == "'":
            quoted = not quoted
        elif char == "]" and not quoted:
            return index
    raise ValidationError(f'Unclosed "[" at position {pos}')


def _names(body: str) -> Step:
    names: list[str] = []
    pos = 0
    while True:
        if body[pos] != "'":
            raise ValidationError(f"Expected a quoted name in [{body}]")
        end = body.find("'", pos + 1)
        if end < 0:
            raise ValidationError(f"Unclosed quote in [{body}]")
        names.append(body[pos + 1 : end])
        pos = _skip_spaces(body, end + 1)
        if pos == len(body):
            break
        if body[pos] != ",":
            raise ValidationError(f'Unexpected "{body[pos]}" in [{body}], expected ","')
        pos = _skip_spaces(body, pos + 1)
        if pos == len(body):
            raise ValidationError(f"Expected a quoted name after the last comma in [{body}]")
    return Name(names[0]) if len(names) == 1 else Names(tuple(names))


def _skip_spaces(body: str, pos: int) -> int:
    while pos < len(body) and body[pos] == " ":
        pos += 1
    return pos


def _numbers(body: str, bracket: str) -> Step:
    items = [item.strip(" ") for item in body.split(",")]
    if any(":" in item for item in items):
        if len(items) == 1:
            return _slice(items[0], bracket)
        # Syntax is still checked: only the number of ranges is left for run time.
        for item in items:
            _ = _slice(item, bracket) if ":" in item else _int(item, bracket)
        return MultiRange(bracket)
    indexes = tuple(_int(item, bracket) for item in items)
    return Index(indexes[0]) if len(indexes) == 1 else Indexes(indexes)


def _slice(item: str, bracket: str) -> Slice:
    parts = item.split(":")
    if len(parts) != 2:
        raise ValidationError(f"Slice steps are not supported: {bracket}")
    start, end = (part.strip(" ") for part in parts)
    return Slice(_int(start, bracket) if start else None, _int(end, bracket) if end else None)


def _int(item: str, bracket: str) -> int:
    if not _INT.fullmatch(item):
        raise ValidationError(f'"{item}" is not an index in {bracket}')
    return int(item)
