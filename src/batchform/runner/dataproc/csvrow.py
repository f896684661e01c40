"""One RFC 4180 CSV row ↔ a list of field strings, keeping every field's text exactly.

Rows are single lines: batch transform does not support embedded newlines (docs/semantics.md,
"DataProcessing"), so the caller has already cut the record at ``\\n`` and removed a CRLF
file's ``\\r``.
Fields are never converted (``"1.0"`` stays ``"1.0"``). Writing quotes only the fields that
need it (``,`` ``"`` ``\\r`` ``\\n``), so a minimally quoted row round-trips byte for byte.

Most rows hold no ``"`` at all; those are split with ``str.split`` (C speed), and only rows with
a quote go through the small parser below. Errors are ``RecordError`` carrying the reason only;
the codec adds "Failed to parse ... as CSV: ".
"""

from __future__ import annotations

from collections.abc import Sequence

from batchform.errors import RecordError

_NEAR_CHARS = 40  # how much of the row an error message quotes


def parse_row(text: str) -> list[str]:
    """The fields of one CSV row (an empty row is one empty field)."""
    if '"' not in text:
        return text.split(",")
    return _parse_quoted(text)


def format_row(fields: Sequence[str]) -> str:
    """One CSV row of ``fields``, quoting only where RFC 4180 requires it."""
    line = ",".join(fields)
    # One scan of the joined text decides for all fields: no quote, no line break, and no comma
    # beyond the separators means no field needs quoting.
    if (
        '"' not in line
        and "\n" not in line
        and "\r" not in line
        and line.count(",") == len(fields) - 1
    ):
        return line
    return ",".join(_quote(field) for field in fields)


def _quote(field: str) -> str:
    if '"' in field or "," in field or "\n" in field or "\r" in field:
        return '"' + field.replace('"', '""') + '"'
    return field


def _parse_quoted(text: str) -> list[str]:
    fields: list[str] = []
    pos, size = 0, len(text)
    while True:
        if pos < size and text[pos] == '"':
            field, pos = _quoted_field(text, pos)
            fields.append(field)
            if pos == size:
                return fields
            if text[pos] != ",":
                raise RecordError(_error('extraneous or missing " in quoted field', text, pos))
            pos += 1
            continue
        comma = text.find(",", pos)
        end = size if comma < 0 else comma
        field = text[pos:end]
        if '"' in field:
            raise RecordError(_error('bare " in non quoted field', text, pos))
        fields.append(field)
        if comma < 0:
            return fields
        pos = comma + 1


def _quoted_field(text: str, start: int) -> tuple[str, int]:
    """The value of the quoted field opening at ``start`` and the position after its close."""
    parts: list[str] = []
    pos = start + 1
    while True:
        quote = text.find('"', pos)
        if quote < 0:
            raise RecordError(_error('extraneous or missing " in quoted field', text, start))
        parts.append(text[pos:quote])
        if text.startswith('"', quote + 1):
            parts.append('"')
            pos = quote + 2
            continue
        return "".join(parts), quote + 1


def _error(reason: str, text: str, pos: int) -> str:
    near = text[pos : pos + _NEAR_CHARS]
    return f"{reason} found near: {near}"
