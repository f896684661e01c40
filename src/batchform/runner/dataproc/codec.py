"""Records ↔ values for the three DataProcessing formats (docs/semantics.md, "DataProcessing").

* ``text/csv``: a row becomes a list of field strings (``csvrow``); any value is written back
  as one row (a scalar is a one-column row).
* ``application/json`` and ``application/jsonlines``: ``json.loads``; written compactly,
  without ASCII escaping, in key order.

One trailing ``\\r`` (CRLF files) is removed before a CSV row is parsed: the split keeps it in
the record (docs/semantics.md, "Records and payloads") but it is not part of the last field.
JSON ignores it as whitespace.
"""

from __future__ import annotations

import json
from enum import StrEnum

from batchform.errors import RecordError
from batchform.runner.dataproc.csvrow import format_row, parse_row
from batchform.runner.dataproc.jsonpath import Json


class Format(StrEnum):
    """The media types DataProcessing can parse (``ContentType`` / ``Accept``)."""

    CSV = "text/csv"
    JSON = "application/json"
    JSONLINES = "application/jsonlines"

    @property
    def line_based(self) -> bool:
        """One record per line, so a multi-line record holds several records."""
        return self is not Format.JSON


SUPPORTED_MEDIA_TYPES = tuple(fmt.value for fmt in Format)


def media_format(media_type: str | None) -> Format | None:
    """The format of a ``Content-Type``-style value (parameters and case ignored), if any."""
    if media_type is None:
        return None
    base = media_type.split(";", 1)[0].strip().lower()
    try:
        return Format(base)
    except ValueError:
        return None


# Built once: json.dumps with non-default options would build an encoder on every call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_ASCII_ENCODER = json.JSONEncoder(separators=(",", ":"))


def dump_json(value: Json) -> bytes:
    """Compact UTF-8 JSON of ``value``."""
    text = _ENCODER.encode(value)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate ("\ud800" in the input) has no UTF-8 form; escaping keeps it valid.
        return _ASCII_ENCODER.encode(value).encode("ascii")


def _cell(value: Json) -> str:
    return value if isinstance(value, str) else _ENCODER.encode(value)


class CsvCodec:
    """CSV rows; ``source`` names the data in parse errors ("input", "output from ...")."""

    __slots__ = ("_prefix",)

    def __init__(self, source: str) -> None:
        self._prefix = f"Failed to parse {source} as CSV: "

    def parse(self, record: bytes) -> Json:
        try:
            text = record.decode("utf-8")
        except UnicodeDecodeError as exc:
            detail = f"invalid UTF-8 at byte {exc.start}"
            raise RecordError(self._prefix + detail) from exc
        if text.endswith("\r"):
            text = text[:-1]
        try:
            return parse_row(text)
        except RecordError as exc:
            raise RecordError(self._prefix + exc.message) from exc

    def serialize(self, value: Json) -> bytes:
        if not isinstance(value, list):
            return format_row([_cell(value)]).encode("utf-8")
        try:
            return format_row(value).encode("utf-8")
        except TypeError:  # a non-string cell: only possible after a JSON-side filter
            return format_row([_cell(cell) for cell in value]).encode("utf-8")


class JsonCodec:
    """JSON values, one per record; ``source`` as for ``CsvCodec``."""

    __slots__ = ("_prefix",)

    def __init__(self, source: str) -> None:
        self._prefix = f"Failed to parse {source} as JSON: "

    def parse(self, record: bytes) -> Json:
        try:
            return json.loads(record)
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError both derive from it
            raise RecordError(self._prefix + str(exc)) from exc

    def serialize(self, value: Json) -> bytes:
        return dump_json(value)


Codec = CsvCodec | JsonCodec


def codec_for(fmt: Format, source: str) -> Codec:
    """The codec of ``fmt``; ``source`` is used in parse-error messages."""
    return CsvCodec(source) if fmt is Format.CSV else JsonCodec(source)
