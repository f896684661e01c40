"""Reading an AutoML channel into a table of strings.

A channel is read through :mod:`batchform.storage` (local paths, ``file://``, ``s3://``; a
prefix or a manifest, exactly as transform jobs list their input), object by object, each
streamed and optionally gunzipped:

* CSV (``text/csv;header=present``): every object starts with the same header row; all columns
  are read as strings, so ``007`` stays ``007`` and type inference sees what the user wrote.
* Parquet: read whole (the format needs random access), every column cast to string, nulls
  become ``""``.

Empty objects (``_SUCCESS`` markers and the like) are skipped. Problems a user can fix raise
:class:`~batchform.errors.ValidationError` naming the object.
"""

from __future__ import annotations

import csv
import gzip
import io
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from batchform.automl.spec import MANIFEST_FILE, PARQUET_CONTENT_TYPE, Channel
from batchform.errors import ObjectNotFoundError, ValidationError
from batchform.storage import InputObject, ObjectURI, list_inputs, store_for

CHANNEL_FIELD = "AutoMLJobInputDataConfig.DataSource.S3DataSource.S3Uri"
HEADER_MAX_BYTES = 4 * 1024 * 1024  # a header longer than this is surely not a header
_CHUNK_BYTES = 64 * 1024
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True, slots=True)
class ChannelData:
    """A channel's records: ``rows[i, j]`` is the string of column ``header[j]`` ("" = missing).

    ``size_bytes`` is the stored (compressed) size of its objects, or None when a manifest
    listed them (their sizes are not looked up, as in Autopilot).
    """

    header: tuple[str, ...]
    rows: npt.NDArray[Any]
    objects: int
    size_bytes: int | None
    source: str  # the channel's URI, for messages


def read_channel(channel: Channel, check: Callable[[], None] = lambda: None) -> ChannelData:
    """Every record of ``channel``; objects must share one header (their columns, in order).

    ``check`` is called before each object; it raises to stop the reading (a stop request).
    """
    objects = list_inputs(channel.uri, channel.data_type, field=CHANNEL_FIELD)
    header: tuple[str, ...] | None = None
    first: InputObject | None = None
    parts: list[npt.NDArray[Any]] = []
    for obj in objects:
        check()
        if obj.size_bytes == 0:
            continue
        table = _read_object(channel, obj)
        names = tuple(table.column_names)
        if header is None or first is None:
            header, first = names, obj
            _check_unique(header, obj)
        elif names != header:
            raise ValidationError(_header_mismatch(first, header, obj, names))
        parts.append(_as_strings(table))
    if header is None:
        raise ValidationError(f"The {channel.channel_type} channel {channel.uri} has no data.")
    rows = np.concatenate(parts) if len(parts) > 1 else parts[0]
    sizes = [o.size_bytes for o in objects]
    size_bytes = None if channel.data_type == MANIFEST_FILE else sum(s or 0 for s in sizes)
    return ChannelData(header, rows, len(objects), size_bytes, channel.uri)


def read_bytes(uri: str, *, field: str) -> bytes:
    """The whole object at ``uri`` (small files such as a FeatureSpecification)."""
    location = ObjectURI.parse(uri, field=field)
    try:
        with store_for(location).open_read(location) as stream:
            return stream.read()
    except ObjectNotFoundError as exc:
        raise ValidationError(f"{field}: {uri} does not exist.") from exc


def _read_object(channel: Channel, obj: InputObject) -> pa.Table:
    with store_for(obj.uri).open_read(obj.uri) as raw:
        stream = _decompressed(raw, channel)
        try:
            if channel.content_type.split(";")[0].strip() == PARQUET_CONTENT_TYPE:
                return _read_parquet(stream, obj)
            return _read_csv(stream, obj)
        except (OSError, EOFError, zlib.error) as exc:
            if channel.compression != "Gzip":
                raise
            # gzip.BadGzipFile is an OSError: the object is not gzip data
            raise ValidationError(
                f"Could not decompress {obj.uri}: {exc}. CompressionType is Gzip, so every "
                "object of the channel must be gzip-compressed."
            ) from exc


def _decompressed(raw: BinaryIO, channel: Channel) -> BinaryIO:
    if channel.compression == "Gzip":
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    return raw


def _read_csv(stream: BinaryIO, obj: InputObject) -> pa.Table:
    head = _read_header_bytes(stream, obj)
    header = _header_names(head, obj)
    _check_unique(header, obj)
    body = io.BufferedReader(_Prefixed(head, stream), _CHUNK_BYTES)
    try:
        return pacsv.read_csv(
            body,
            read_options=pacsv.ReadOptions(use_threads=True),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in header},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid as exc:
        raise ValidationError(
            f"Could not read {obj.uri} as CSV with a header row: {exc}. Every record must have "
            f"the {len(header)} columns of the header, text must be UTF-8."
        ) from exc


def _read_header_bytes(stream: BinaryIO, obj: InputObject) -> bytes:
    """The bytes read up to and including the end of the first record (quotes respected)."""
    data = b""
    while True:
        end = _record_end(data)
        if end is not None:
            return data
        chunk = stream.read(_CHUNK_BYTES)
        if not chunk:
            return data
        if not data and chunk.startswith(_GZIP_MAGIC):
            raise ValidationError(
                f"{obj.uri} is gzip-compressed; set the channel's CompressionType to Gzip."
            )
        data += chunk
        if len(data) > HEADER_MAX_BYTES and _record_end(data) is None:
            raise ValidationError(
                f"{obj.uri}: the first line is longer than {HEADER_MAX_BYTES} bytes; "
                "the CSV must start with a header row."
            )


def _record_end(data: bytes) -> int | None:
    in_quotes = False
    for index, byte in enumerate(data):
        if byte == 0x22:  # '"'; a doubled quote toggles twice, which is right
            in_quotes = not in_quotes
        elif byte == 0x0A and not in_quotes:
            return index
    return None


def _header_names(head: bytes, obj: InputObject) -> tuple[str, ...]:
    end = _record_end(head)
    line = head if end is None else head[:end]
    try:
        text = line.decode("utf-8-sig").rstrip("\r")
    except UnicodeDecodeError as exc:
        raise ValidationError(f"{obj.uri}: the header row is not UTF-8 text ({exc}).") from exc
    names = next(csv.reader([text]), [])
    if not any(name.strip() for name in names):
        raise ValidationError(f"{obj.uri} is empty or does not start with a header row.")
    return tuple(names)


def _read_parquet(stream: BinaryIO, obj: InputObject) -> pa.Table:
    try:
        table = pq.read_table(io.BytesIO(stream.read()))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise ValidationError(f"Could not read {obj.uri} as Parquet: {exc}.") from exc
    columns = [
        _stringified(column, name, obj)
        for column, name in zip(table.columns, table.column_names, strict=True)
    ]
    return pa.table(columns, names=table.column_names)


def _stringified(column: pa.ChunkedArray, name: str, obj: InputObject) -> pa.ChunkedArray:
    try:
        as_text = column if pa.types.is_string(column.type) else pc.cast(column, pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise ValidationError(
            f"{obj.uri}: column {name!r} of type {column.type} cannot be used as a feature "
            f"({exc}); store it as a number, string, boolean or timestamp."
        ) from exc
    return pc.fill_null(as_text, "")


def _as_strings(table: pa.Table) -> npt.NDArray[Any]:
    rows = np.empty((table.num_rows, table.num_columns), dtype=object)
    for j, column in enumerate(table.columns):
        rows[:, j] = column.to_numpy(zero_copy_only=False)
    return rows


def _check_unique(header: tuple[str, ...], obj: InputObject) -> None:
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise ValidationError(
                f"{obj.uri}: the header names column {name!r} twice; column names must be unique."
            )
        seen.add(name)


def _header_mismatch(
    first: InputObject, header: tuple[str, ...], obj: InputObject, names: tuple[str, ...]
) -> str:
    missing = [n for n in header if n not in names]
    extra = [n for n in names if n not in header]
    detail = (
        f"missing {missing}, unexpected {extra}"
        if missing or extra
        else "the same columns in another order"
    )
    return (
        f"{obj.uri} has a different header than {first.uri} ({detail}); every file of a "
        f"channel must start with the same header row: {','.join(header)}"
    )


class _Prefixed(io.RawIOBase):
    """Bytes already read (the header), then the rest of the stream."""

    def __init__(self, prefix: bytes, rest: BinaryIO) -> None:
        super().__init__()
        self._prefix = memoryview(prefix.removeprefix(b"\xef\xbb\xbf"))
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self._prefix:
            count = min(len(view), len(self._prefix))
            view[:count] = self._prefix[:count]
            self._prefix = self._prefix[count:]
            return count
        data = self._rest.read(len(view))
        view[: len(data)] = data
        return len(data)
