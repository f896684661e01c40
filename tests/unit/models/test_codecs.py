"""Request decoders and response encoders shared by the runtimes (pure, no I/O)."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batchform.errors import InvocationError
from batchform.models import codecs


def status_and_message(call: object, *args: object) -> tuple[int, str]:
    with pytest.raises(InvocationError) as caught:
        call(*args)  # type: ignore[operator]
    return caught.value.status, caught.value.message


def test_csv_rows_become_a_float64_matrix() -> None:
    parsed = codecs.parse_csv_floats(b"1,2.5,-3e2\n4,5,6\n")

    assert parsed.dtype == np.float64
    assert parsed.tolist() == [[1.0, 2.5, -300.0], [4.0, 5.0, 6.0]]


def test_csv_single_line_without_newline_and_crlf() -> None:
    assert codecs.parse_csv_floats(b"7,8").tolist() == [[7.0, 8.0]]
    assert codecs.parse_csv_floats(b"1,2\r\n3,4\r\n").tolist() == [[1.0, 2.0], [3.0, 4.0]]


def test_csv_empty_fields_and_nan_spellings_are_missing() -> None:
    parsed = codecs.parse_csv_floats(b"1,,3\nnan,NaN,inf")

    assert np.isnan(parsed[0, 1])
    assert np.isnan(parsed[1, :2]).all()
    assert parsed[1, 2] == np.inf


def test_csv_accepts_what_pythons_float_accepts() -> None:
    parsed = codecs.parse_csv_floats(b" 1 , +2,1_000,.5,Infinity")

    assert parsed.tolist() == [[1.0, 2.0, 1000.0, 0.5, np.inf]]


def test_csv_values_are_exact_float64() -> None:
    values = np.random.default_rng(3).standard_normal((50, 4)) * 1e5
    body = "\n".join(",".join(map(repr, row)) for row in values.tolist()).encode()

    np.testing.assert_array_equal(codecs.parse_csv_floats(body), values)


def test_csv_row_with_another_column_count_is_400() -> None:
    status, message = status_and_message(codecs.parse_csv_floats, b"1,2,3\n4,5\n7,8,9")

    assert status == 400
    assert "row 2 has 2 column(s) but row 1 has 3" in message


def test_csv_blank_line_inside_is_a_short_row() -> None:
    status, message = status_and_message(codecs.parse_csv_floats, b"1,2\n\n3,4")

    assert status == 400
    assert "row 2 has 1 column(s) but row 1 has 2" in message


@pytest.mark.parametrize(
    "body",
    [b"1,2\r\n\r\n3,4\r\n", b",\n\n,\n", b"1,2\n3,4\n\n\n5,6\n", b"\n\n1,2\n\n3,4\n\n"],
)
def test_csv_blank_lines_between_records_are_short_rows(body: bytes) -> None:
    status, message = status_and_message(codecs.parse_csv_floats, body)

    assert status == 400
    assert "column(s) but row 1 has 2" in message


def test_csv_rows_of_empty_fields_are_missing_values_not_blank_lines() -> None:
    parsed = codecs.parse_csv_floats(b",\n1,2\n,\n")

    assert parsed.shape == (3, 2)
    assert np.isnan(parsed[[0, 2]]).all() and parsed[1].tolist() == [1.0, 2.0]


def test_csv_records_ending_without_or_with_any_line_break() -> None:
    for body in (b"1,2\n3,4", b"1,2\n3,4\n", b"1,2\r\n3,4\r", b"  1,2\n3,4 \t\n\n", b"1,2\n3,4 "):
        assert codecs.parse_csv_floats(body).tolist() == [[1.0, 2.0], [3.0, 4.0]], body


def test_csv_non_numeric_value_is_400_naming_row_and_column() -> None:
    status, message = status_and_message(codecs.parse_csv_floats, b"1,2\n3,4\n5,abc")

    assert status == 400
    assert "row 3, column 2: 'abc' is not a number" in message


def test_csv_header_row_is_data_and_fails() -> None:
    _, message = status_and_message(codecs.parse_csv_floats, b"age,height\n1,2")

    assert "row 1, column 1: 'age' is not a number" in message


def test_csv_blank_payload_has_no_rows() -> None:
    assert codecs.parse_csv_floats(b" \n").shape == (0, 0)


def test_libsvm_rows_in_csr_form() -> None:
    rows = codecs.parse_libsvm(b"1 0:1.5 3:2\n0\n0 2:-1\n")

    assert rows.indptr.tolist() == [0, 2, 2, 3]
    assert rows.indices.tolist() == [0, 3, 2]
    assert rows.values.tolist() == [1.5, 2.0, -1.0]
    assert (rows.rows, rows.min_columns) == (3, 4)


def test_libsvm_bad_pair_is_400() -> None:
    status, _ = status_and_message(codecs.parse_libsvm, b"1 a:1\n")

    assert status == 400


def test_json_rows_and_their_errors() -> None:
    assert codecs.parse_json_rows(b"[[1, 2], [3, 4]]").tolist() == [[1, 2], [3, 4]]
    assert status_and_message(codecs.parse_json_rows, b"[1, 2]")[0] == 400
    assert status_and_message(codecs.parse_json_rows, b"[[1], [2, 3]]")[0] == 400
    assert status_and_message(codecs.parse_json_rows, b"{")[0] == 400


def test_npy_round_trip_refuses_pickles() -> None:
    array = np.arange(6, dtype=np.float32).reshape(2, 3)
    objects = io.BytesIO()
    np.save(objects, np.array([[{"a": 1}]], dtype=object), allow_pickle=True)

    np.testing.assert_array_equal(codecs.parse_npy(codecs.array_to_npy(array)), array)
    assert status_and_message(codecs.parse_npy, objects.getvalue())[0] == 400


def test_media_type_parameters_are_split_off() -> None:
    media = codecs.parse_media_type('Text/CSV; charset="utf-8"; label_size=1')

    assert media.essence == "text/csv"
    assert media.params == {"charset": "utf-8", "label_size": "1"}


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        (None, "application/json"),
        ("", "application/json"),
        ("*/*", "application/json"),
        ("text/csv", "text/csv"),
        ("image/png, text/csv; q=0.5, application/json", "text/csv"),
    ],
)
def test_accept_choice(accept: str | None, chosen: str) -> None:
    supported = ("application/json", "text/csv")

    assert codecs.choose_accept(accept, supported, "application/json") == chosen


def test_unsupported_accept_is_406_listing_the_supported() -> None:
    status, message = status_and_message(
        codecs.choose_accept, "image/png", ("text/csv", "application/json"), "text/csv"
    )

    assert status == 406
    assert message.endswith("supported accept types: text/csv, application/json.")


@pytest.mark.parametrize(
    "array",
    [
        np.array([0.1, 1.0, 1e-7, 123456789.0], dtype=np.float32),
        np.array([0.1, 2.0 / 3.0, -0.0, np.nan, np.inf]),
        np.array([[1, 2], [3, 4]], dtype=np.int64),
        np.array([[0.5, 1.5, 2.5]], dtype=np.float32),
        np.array(["cat", "dog"]),
        np.array([True, False]),
    ],
    ids=["float32", "float64", "int-2d", "float32-2d", "strings", "bools"],
)
def test_csv_encoding_is_byte_identical_to_numpy_savetxt(array: np.ndarray) -> None:
    reference = io.StringIO()
    np.savetxt(reference, array, delimiter=",", fmt="%s")

    assert codecs.array_to_csv(array) == reference.getvalue().encode()


def test_json_encoding_is_json_dumps_of_tolist() -> None:
    array = np.array([[0.1, 2.0]], dtype=np.float32)

    assert codecs.array_to_json(array) == json.dumps(array.tolist()).encode()
    assert codecs.array_to_json(np.array([1, 0])) == b"[1, 0]"


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    chunks=st.lists(
        st.lists(st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)), max_size=40),
        min_size=1,
        max_size=4,
    ),
    start=st.integers(0, 5),
)
def test_float_columns_are_read_from_arrow_buffers_as_to_numpy_reads_them(
    chunks: list[list[float | None]], start: int
) -> None:
    """Nulls as NaN, values bit for bit, several chunks and sliced (offset) chunks; the
    reference is pyarrow's own to_numpy (which the reader avoids: it imports pandas)."""
    column = pa.chunked_array([pa.array(c, pa.float64())[start:] for c in chunks], pa.float64())

    got = codecs.float_column(column)

    expected = column.to_numpy()
    assert got.dtype == np.float64 and got.shape == expected.shape
    assert got.tobytes() == expected.astype(np.float64).tobytes()


def test_decoding_csv_does_not_import_pandas() -> None:
    script = (
        "import sys; from batchform.models import codecs; "
        "parsed = codecs.parse_csv_floats(b'1,2\\n,4\\n5,6\\n' * 1000); "  # > 4 KiB: pyarrow
        "print(parsed[:3].tolist()); print('pandas' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert done.stdout.splitlines() == ["[[1.0, 2.0], [nan, 4.0], [5.0, 6.0]]", "False"]


# Payloads under 4 KiB are parsed by float(), larger ones by pyarrow: the same records must
# give the same values or the same 400 either way.
BOTH_PATHS_BODIES = [
    b"1,2.5,-3e2\n4,5,6\n", b"7,8", b"1,2\r\n3,4\r\n", b"1,,3\nnan,NaN,inf", b"-nan,+inf,INF",
    b" 1 , +2,1_000,.5,Infinity", b"1,2,3\n4,5\n7,8,9", b"1,2\n\n3,4", b"1,2\r\n\r\n3,4\r\n",
    b",\n1,2\n,\n", b"1,2\n3,4\n5,abc", b"age,height\n1,2", b"1e400,-1e-400,4.9e-324",
    b"0x10,1", b"1e,1", b'"1.5",2', b"0.1,1e5\n1E5,1.\n-.5,+.5e-3", b"5\n\n6\n",
]  # fmt: skip


def outcome(body: bytes, rows: int) -> object:
    try:
        return codecs.parse_csv_floats(body)[:rows].tobytes()
    except InvocationError as error:
        return error.status, error.message


@pytest.mark.parametrize("body", BOTH_PATHS_BODIES)
def test_small_and_large_payloads_parse_alike(body: bytes) -> None:
    columns = body.strip().split(b"\n")[0].count(b",") + 1
    filler = ",".join(["0.25"] * columns).encode()
    large = body.rstrip() + b"\n" + b"\n".join([filler] * (8192 // len(filler))) + b"\n"
    rows = len(body.strip().split(b"\n"))

    assert len(body) < 4096 < len(large)
    assert outcome(large, rows) == outcome(body, rows)
