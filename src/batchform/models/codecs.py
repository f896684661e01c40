"""Request and response codecs shared by the in-process runtimes.

Decoders turn an ``/invocations`` body into a 2-D numpy array, encoders turn predictions back
into bytes. Parsing is vectorised (pyarrow's CSV reader, numpy conversions) so the work
happens in C with the GIL released; Python-level loops only run on the error path, to say
which row and column was wrong.

Every client mistake raises :class:`~batchform.errors.InvocationError` with the HTTP status a
real serving container would answer: 400 for an unparsable payload, 406 for an unsupported
Accept, 415 for an unsupported Content-Type.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.csv as pa_csv

from batchform.errors import InvocationError

CSV = "text/csv"
JSON = "application/json"
JSONLINES = "application/jsonlines"
NPY = "application/x-npy"
ANY = "*/*"

FloatMatrix = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class MediaType:
    """A parsed ``Content-Type``/``Accept`` entry: lower-cased type and its parameters."""

    essence: str
    params: dict[str, str] = field(default_factory=dict)


def invocation_error(status: int, message: str) -> InvocationError:
    """An :class:`InvocationError` whose body is ``message``, as a container would answer."""
    return InvocationError(status, message.encode("utf-8"), message)


def parse_media_type(value: str) -> MediaType:
    """Split ``"text/csv; charset=utf-8"`` into ``text/csv`` and ``{"charset": "utf-8"}``."""
    essence, *raw_params = value.split(";")
    params: dict[str, str] = {}
    for raw in raw_params:
        name, _, param_value = raw.partition("=")
        if name.strip():
            params[name.strip().lower()] = param_value.strip().strip('"')
    return MediaType(essence.strip().lower(), params)


def accept_candidates(accept: str | None) -> list[str]:
    """The media types of an Accept header in order, without parameters; empty when absent."""
    if not accept:
        return []
    return [parse_media_type(part).essence for part in accept.split(",") if part.strip()]


def choose_accept(accept: str | None, supported: tuple[str, ...], default: str) -> str:
    """The first supported type of ``accept``; ``default`` when it is missing or ``*/*``.

    Raises 406 naming the supported types when none of the requested types is supported.
    """
    candidates = accept_candidates(accept)
    if not candidates or ANY in candidates:
        return default
    for candidate in candidates:
        if candidate in supported:
            return candidate
    raise invocation_error(
        406,
        f"Accept type {accept} is not supported. "
        f"Please use supported accept types: {', '.join(supported)}.",
    )


def parse_csv_floats(body: bytes) -> FloatMatrix:
    """Header-less CSV records, one per line, as a ``(rows, columns)`` float64 array.

    Empty fields are missing values (NaN), as in SageMaker's XGBoost container. Values are
    parsed as float64 (what the containers do) so that a later float32 conversion rounds
    exactly as theirs does. A row with another number of columns than the first row, or a
    value that is not a number, raises 400 naming the row and column.
    """
    start, end = _stripped_bounds(body)
    if start == end:
        return np.empty((0, 0), dtype=np.float64)
    first_end = body.find(b"\n", start, end)
    columns = body.count(b",", start, end if first_end < 0 else first_end) + 1
    if end - start < _ARROW_FROM_BYTES and body.find(b'"', start, end) < 0:
        # pyarrow's reader costs ~0.3 ms a call whatever the size: a SingleRecord request's
        # record is parsed 10x faster by float(), which accepts every unquoted number it does.
        return _read_csv_leniently(body[start:end], columns)
    try:
        matrix = _read_csv_with_arrow(_with_line_end(body, start, end), columns)
    except pa.ArrowInvalid:
        matrix = None  # pyarrow is stricter than Python's float(): retry leniently below
    # pyarrow reads a blank line as a row of missing values, which the containers reject (a
    # row with the wrong number of columns); only then can there be one, so only then look.
    if matrix is not None and not (columns > 1 and _has_blank_line(body, start, end, matrix)):
        return matrix
    return _read_csv_leniently(body[start:end], columns)


_ARROW_FROM_BYTES = 4096  # smaller unquoted payloads are parsed by float() (same values)
_WHITESPACE = frozenset(b" \t\n\r\x0b\x0c")  # what bytes.strip() removes


def _stripped_bounds(body: bytes) -> tuple[int, int]:
    """``body.strip()`` as bounds into ``body``: payloads are megabytes, their ends a byte."""
    start, end = 0, len(body)
    while end > start and body[end - 1] in _WHITESPACE:
        end -= 1
    while start < end and body[start] in _WHITESPACE:
        start += 1
    return start, end


def _with_line_end(body: bytes, start: int, end: int) -> pa.Buffer:
    """The records ``body[start:end]`` ending in a line break, copied only when they do not.

    pyarrow cannot infer the column count of a last line without one.
    """
    if end < len(body) and body[end] in b"\r\n":
        return pa.py_buffer(memoryview(body)[start : end + 1])
    return pa.py_buffer(body[start:end] + b"\n")


def _has_blank_line(body: bytes, start: int, end: int, matrix: FloatMatrix) -> bool:
    missing_first = np.isnan(matrix[:, 0])  # a blank line's row has every value missing
    if not missing_first.any() or not np.isnan(matrix[missing_first]).all(axis=1).any():
        return False
    return body.find(b"\n\n", start, end) >= 0 or body.find(b"\n\r\n", start, end) >= 0


def _read_csv_with_arrow(payload: pa.Buffer, columns: int) -> FloatMatrix:
    table = pa_csv.read_csv(
        payload,
        read_options=pa_csv.ReadOptions(autogenerate_column_names=True),
        parse_options=pa_csv.ParseOptions(ignore_empty_lines=False),
        convert_options=pa_csv.ConvertOptions(
            column_types={f"f{index}": pa.float64() for index in range(columns)},
            null_values=[""],
            quoted_strings_can_be_null=False,
        ),
    )
    if table.num_columns != columns:
        raise pa.ArrowInvalid("column count differs from the first line")
    arrays = [float_column(column) for column in table.columns]
    return np.column_stack(arrays) if arrays else np.empty((0, 0), dtype=np.float64)


def float_column(column: pa.ChunkedArray) -> FloatMatrix:
    """A float64 Arrow column as numpy, nulls as NaN.

    Read from the Arrow buffers rather than with pyarrow's ``to_numpy``, which imports pandas
    (~40 MB resident in every instance) to ask whether it is installed.
    """
    parts = [_float_chunk(chunk) for chunk in column.chunks]
    if len(parts) == 1:
        return parts[0]
    return np.concatenate(parts) if parts else np.empty(0, dtype=np.float64)


def _float_chunk(chunk: pa.Array) -> FloatMatrix:
    end = chunk.offset + len(chunk)
    if len(chunk) == 0:
        return np.empty(0, dtype=np.float64)
    validity, data = chunk.buffers()
    values = np.frombuffer(data, dtype=np.float64, count=end)[chunk.offset :]
    if chunk.null_count == 0:
        return values
    return np.where(unpacked_bits(validity, chunk.offset, len(chunk)), values, np.nan)


def unpacked_bits(bitmap: pa.Buffer, offset: int, length: int) -> npt.NDArray[np.bool_]:
    """An Arrow bitmap (a validity bitmap, a boolean array's values) as one bool per element."""
    bits = np.frombuffer(bitmap, dtype=np.uint8)
    return np.unpackbits(bits, count=offset + length, bitorder="little")[offset:].astype(bool)


def _read_csv_leniently(payload: bytes, columns: int) -> FloatMatrix:
    """Python's float() rules (spaces, ``+1``, ``1_000``, ``Infinity``), or a precise 400."""
    rows = [line.rstrip(b"\r").split(b",") for line in payload.split(b"\n")]
    for number, row in enumerate(rows, start=1):
        if len(row) != columns:
            raise invocation_error(
                400,
                f"Unable to parse the CSV payload: row {number} has {len(row)} column(s) "
                f"but row 1 has {columns}. Each line must be one record with the same "
                "number of comma-separated values and no header.",
            )
    cells = np.array(rows, dtype=np.bytes_)
    cells = np.where(np.char.strip(cells) == b"", b"nan", cells)
    try:
        return cells.astype(np.float64)
    except ValueError:
        raise _not_a_number(cells) from None


def _not_a_number(cells: npt.NDArray[np.bytes_]) -> InvocationError:
    for (row, column), cell in np.ndenumerate(cells):
        try:
            float(cell)
        except ValueError:
            text = bytes(cell).decode("utf-8", errors="replace")
            return invocation_error(
                400,
                f"Unable to parse the CSV payload: row {row + 1}, column {column + 1}: "
                f"{text!r} is not a number.",
            )
    return invocation_error(400, "Unable to parse the CSV payload as numbers.")


@dataclass(frozen=True, slots=True)
class SparseRows:
    """LIBSVM records in CSR form: row ``i`` holds ``values[indptr[i]:indptr[i + 1]]``."""

    indptr: npt.NDArray[np.int64]
    indices: npt.NDArray[np.int64]
    values: FloatMatrix

    @property
    def rows(self) -> int:
        return len(self.indptr) - 1

    @property
    def min_columns(self) -> int:
        """The number of columns needed to hold the largest feature index."""
        return int(self.indices.max()) + 1 if len(self.indices) else 0


def parse_libsvm(body: bytes) -> SparseRows:
    """LIBSVM lines (``<label> <index>:<value> ...``) as CSR rows; 400 if malformed.

    As in SageMaker's XGBoost container, every token holding a ``:`` is a feature and other
    tokens (the label) are ignored; indices are used as given.
    """
    try:
        lines = body.decode("utf-8").strip().split("\n")
    except UnicodeDecodeError as exc:
        raise invocation_error(400, f"Unable to parse the LIBSVM payload: {exc}.") from None
    features = [[token for token in line.split() if ":" in token] for line in lines]
    counts = np.fromiter(map(len, features), dtype=np.int64, count=len(features))
    pairs = [token.split(":", 1) for row in features for token in row]
    indptr = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    if not pairs:
        empty = np.empty(0)
        return SparseRows(indptr, empty.astype(np.int64), empty.astype(np.float64))
    cells = np.array(pairs, dtype=np.str_)
    try:
        indices = cells[:, 0].astype(np.int64)
        values = cells[:, 1].astype(np.float64)
    except ValueError as exc:
        raise invocation_error(
            400, f"Unable to parse the LIBSVM payload: {exc}; expected <index>:<value> pairs."
        ) from None
    if indices.min() < 0:
        raise invocation_error(400, "Unable to parse the LIBSVM payload: negative feature index.")
    return SparseRows(indptr, indices, values)


def parse_json_rows(body: bytes) -> npt.NDArray[Any]:
    """A JSON array of rows (``[[1, 2], [3, 4]]``) as a 2-D array; 400 if it is not one."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise invocation_error(400, f"Unable to parse the JSON payload: {exc}.") from None
    try:
        array = np.array(data)
    except ValueError as exc:
        raise invocation_error(
            400, f"Unable to use the JSON payload: rows must all have the same length ({exc})."
        ) from None
    return require_rows(array, "JSON")


def parse_npy(body: bytes) -> npt.NDArray[Any]:
    """A ``.npy`` payload (no pickled objects) as a 2-D array; 400 if it is not one."""
    try:
        array = np.load(io.BytesIO(body), allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise invocation_error(400, f"Unable to parse the NPY payload: {exc}.") from None
    return require_rows(np.asarray(array), "NPY")


def require_rows(array: npt.NDArray[Any], what: str) -> npt.NDArray[Any]:
    """``array`` if it is 2-D (rows of features); otherwise 400 saying how to shape it."""
    if array.ndim != 2:
        raise invocation_error(
            400,
            f"The {what} payload must be a 2-D array (a list of rows), got {array.ndim} "
            "dimension(s); send one record as [[v1, v2, ...]].",
        )
    return array


def as_floats(
    array: npt.NDArray[Any], dtype: type[np.floating[Any]], what: str
) -> npt.NDArray[Any]:
    """``array`` converted to ``dtype``; 400 saying why if its values are not numbers."""
    try:
        converted: npt.NDArray[Any] = array.astype(dtype)
        return converted
    except (ValueError, TypeError) as exc:
        raise invocation_error(
            400, f"Unable to use the {what} payload: values must be numbers ({exc})."
        ) from None


def format_values(array: npt.NDArray[Any]) -> list[str]:
    """``str()`` of every element as a scalar of the array's own dtype, flattened.

    float32 keeps its shortest float32 form (``0.1``), as ``numpy.savetxt(fmt="%s")`` does.
    """
    flat = array.ravel()
    if flat.dtype == np.float64 or flat.dtype.kind in "iub":
        # Same text as numpy's own str() for these dtypes, and faster than astype(str).
        return list(map(str, flat.tolist()))
    texts: list[str] = flat.astype(str).tolist()
    return texts


def array_to_csv(array: npt.NDArray[Any]) -> bytes:
    """One line per row, values comma-joined, each line ending in ``\\n``.

    Byte-identical to sagemaker-inference-toolkit's ``np.savetxt(delimiter=",", fmt="%s")``.
    """
    if array.size == 0:
        return b""
    texts = format_values(array)
    width = 1 if array.ndim < 2 else int(np.prod(array.shape[1:]))
    if width == 1:
        lines: list[str] = texts
    else:
        lines = list(map(",".join, zip(*[iter(texts)] * width, strict=True)))
    return ("\n".join(lines) + "\n").encode("utf-8")


def array_to_json(array: npt.NDArray[Any]) -> bytes:
    """``json.dumps(array.tolist())``, as sagemaker-inference-toolkit's JSON encoder."""
    return json.dumps(array.tolist()).encode("utf-8")


def array_to_npy(array: npt.NDArray[Any]) -> bytes:
    """The array in ``.npy`` format."""
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


ROW_CONTENT_TYPES = (CSV, JSON, JSONLINES, NPY)
SCORE_ACCEPTS = (CSV, JSON, JSONLINES)


def choose_content_type(content_type: str | None, supported: tuple[str, ...], default: str) -> str:
    """The media type of ``content_type`` (``default`` when absent) if supported; else 415."""
    if not content_type:
        return default
    media = parse_media_type(content_type).essence
    if media not in supported:
        raise invocation_error(
            415,
            f"Content type {content_type} is not supported. "
            f"Please use supported content types: {', '.join(supported)}.",
        )
    return media


def parse_rows(body: bytes, media: str) -> npt.NDArray[Any]:
    """The records of a body of one of :data:`ROW_CONTENT_TYPES` as a 2-D array.

    CSV gives float64; JSON (a list of rows) and JSON Lines (one row per line) give what
    ``numpy.array`` makes of the numbers; NPY gives the array as sent. 400 if malformed.
    """
    if media == CSV:
        return parse_csv_floats(body)
    if media == JSON:
        return parse_json_rows(body)
    if media == JSONLINES:
        return parse_jsonlines_rows(body)
    return parse_npy(body)


def parse_jsonlines_rows(body: bytes) -> npt.NDArray[Any]:
    """JSON Lines, one JSON array of numbers (a row) per line, as a 2-D array.

    Blank lines are skipped. All lines are parsed in one ``json.loads`` call; a malformed
    line is then looked for line by line, to name it in the 400.
    """
    numbered = [(n, line) for n, line in enumerate(body.split(b"\n"), 1) if line.strip()]
    lines = [line for _, line in numbered]
    try:
        data = json.loads(b"[" + b",".join(lines) + b"]")
    except (ValueError, UnicodeDecodeError):
        data = None
    if not isinstance(data, list) or len(data) != len(lines):
        raise _bad_jsonline(numbered)
    if not all(isinstance(row, list) for row in data):
        raise _bad_jsonline(numbered)
    try:
        array = np.array(data)
    except ValueError as exc:
        raise invocation_error(
            400,
            f"Unable to use the JSON Lines payload: rows must all have the same length ({exc}).",
        ) from None
    return require_rows(array, "JSON Lines")


def _bad_jsonline(numbered: list[tuple[int, bytes]]) -> InvocationError:
    for number, line in numbered:
        try:
            row = json.loads(line)
        except (ValueError, UnicodeDecodeError) as exc:
            return invocation_error(
                400, f"Unable to parse the JSON Lines payload: line {number}: {exc}."
            )
        if not isinstance(row, list):
            return invocation_error(
                400,
                f"Unable to use the JSON Lines payload: line {number} is a "
                f"{type(row).__name__}, not a JSON array of numbers (one record per line).",
            )
    return invocation_error(400, "Unable to parse the JSON Lines payload.")


def encode_scores(predictions: npt.NDArray[Any], accept: str) -> bytes:
    """Predictions as the XGBoost image shapes them, for one of :data:`SCORE_ACCEPTS`.

    ``text/csv``: :func:`array_to_csv` (one line per record, multi-output rows comma-joined);
    ``application/json``: ``{"predictions": [{"score": ...}, ...]}``;
    ``application/jsonlines``: one ``{"score": ...}`` per line. A multi-output score is a list.
    """
    if accept == JSON:
        scores = predictions.tolist()
        return json.dumps({"predictions": [{"score": score} for score in scores]}).encode()
    if accept == JSONLINES:
        return "".join(json.dumps({"score": s}) + "\n" for s in predictions.tolist()).encode()
    return array_to_csv(predictions)
