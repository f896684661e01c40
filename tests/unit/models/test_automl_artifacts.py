"""The AutoML artifact format: CSV rows, the feature transformer, labels, save and load."""

from __future__ import annotations

import csv
import io
import math
import pickle
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
import scipy.sparse  # type: ignore[import-untyped]
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression

from batchform.errors import ModelLoadError
from batchform.models import automl_artifacts
from batchform.models.automl_artifacts import (
    ARTIFACT_FILE,
    COLUMN_TYPES,
    DATETIME_PARTS,
    MISSING_CATEGORY,
    NO_TEXT_TOKEN,
    TabularEnsemble,
    TabularPreprocessor,
    build_feature_transformer,
    clean_categorical_columns,
    datetime_parts,
    load_artifact,
    parse_numeric_columns,
    save_artifact,
    text_documents,
)
from batchform.models.csv_records import csv_module_rows, parse_csv_rows

TYPES = ["numeric", "categorical", "text", "datetime"]
NAMES = ["age", "plan", "comment", "signup"]


def rows_of(*records: tuple[str, ...]) -> np.ndarray:
    table = np.empty((len(records), len(records[0])), dtype=object)
    for i, record in enumerate(records):
        table[i, :] = record
    return table


def mixed_rows(n: int, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    comments = ["great service", "slow support, cancel soon", "cheap and fast", "", "love it"]
    records = []
    labels = []
    for i in range(n):
        age = "" if i % 7 == 0 else str(int(rng.integers(18, 80)))
        plan = "" if i % 11 == 0 else str(rng.choice(["basic", "plus", "pro"]))
        comment = str(rng.choice(comments))
        signup = f"2024-{int(rng.integers(1, 13)):02d}-{int(rng.integers(1, 29)):02d}T10:30:00"
        records.append((age, plan, comment, signup))
        labels.append("yes" if "cancel" in comment or plan == "pro" else "no")
    return rows_of(*records), labels


def fitted(rows: np.ndarray, classes: list[str] | None = None) -> TabularPreprocessor:
    transformer = build_feature_transformer(TYPES).fit(rows)
    return TabularPreprocessor(NAMES, list(TYPES), "churn", transformer, classes)


def dense(matrix: object) -> np.ndarray:
    if scipy.sparse.issparse(matrix):
        return np.asarray(matrix.toarray())  # type: ignore[attr-defined]
    return np.asarray(matrix)


# --- CSV rows ---


def test_csv_rows_follow_rfc_4180_and_keep_the_header() -> None:
    body = b'age,comment\n42,"slow, ""very"" slow"\n,"two\nlines"\r\n'

    rows = parse_csv_rows(body)

    assert rows.dtype == object
    assert rows.tolist() == [
        ["age", "comment"],
        ["42", 'slow, "very" slow'],
        ["", "two\nlines"],
    ]


def test_csv_rows_skip_blank_lines_unless_there_is_one_column() -> None:
    assert parse_csv_rows(b"1,2\n\n3,4\n").tolist() == [["1", "2"], ["3", "4"]]
    assert parse_csv_rows(b"a\n\nb\n").tolist() == [["a"], [""], ["b"]]
    assert parse_csv_rows(b"\xef\xbb\xbfx,y\n").tolist() == [["x", "y"]]
    assert parse_csv_rows(b"").shape == (0, 0)


@pytest.mark.parametrize("seed", range(30))
def test_csv_rows_are_the_csv_modules_records(seed: int) -> None:
    rng = np.random.default_rng(seed)
    width = int(rng.integers(1, 5))
    cells = ["a", "", " b ", '"q,1"', '"two\nlines"', '""', "é", "1.5"]
    blank = rng.random(int(rng.integers(1, 30))) < 0.2
    blank[0] = False  # blank lines, but never only blank lines
    lines = ["" if b else ",".join(rng.choice(cells, width)) for b in blank]
    body = str(rng.choice(["\n", "\r\n"])).join(lines).encode()
    records = list(csv.reader(io.StringIO(body.decode(), newline="")))
    expected = [r or [""] for r in records] if width == 1 else [r for r in records if r]

    rows = parse_csv_rows(body)

    assert rows.dtype == object
    assert rows.shape == (len(expected), width)
    assert rows.tolist() == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"1,2\n3\n", "Record 2 of the CSV payload has a different number of columns"),
        (b"\xff\xfe,1\n", "not valid UTF-8"),
        (b'"open\n', "Could not parse the CSV payload"),
    ],
)
def test_bad_csv_is_a_value_error(body: bytes, expected: str) -> None:
    with pytest.raises(ValueError, match=expected):
        parse_csv_rows(body)


# --- column functions ---


def test_numeric_values_parse_to_float_and_the_rest_is_nan() -> None:
    parsed = parse_numeric_columns(rows_of(("1.5", " 2 "), ("", "abc"), ("inf", "-3e2")))

    assert parsed.dtype == np.float64
    assert parsed[0].tolist() == [1.5, 2.0]
    assert math.isnan(parsed[1, 0]) and math.isnan(parsed[1, 1]) and math.isnan(parsed[2, 0])
    assert parsed[2, 1] == -300.0


def test_categories_are_stripped_and_missing_becomes_a_category() -> None:
    cleaned = clean_categorical_columns(rows_of((" pro ",), ("",)))

    assert cleaned.tolist() == [["pro"], [MISSING_CATEGORY]]


def test_documents_without_words_become_the_no_text_token() -> None:
    documents = text_documents(rows_of(("hello world",), ("",), ("!!",)))

    assert documents.tolist() == ["hello world", NO_TEXT_TOKEN, NO_TEXT_TOKEN]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01", [2024, 5, 1, 2, 0]),
        ("2024/05/01 13:45", [2024, 5, 1, 2, 13]),
        ("2024-05-01T13:45:00.123Z", [2024, 5, 1, 2, 13]),
        ("2024-05-01 13:45:00+02:00", [2024, 5, 1, 2, 13]),
        ("20240501", [2024, 5, 1, 2, 0]),
    ],
)
def test_datetimes_become_year_month_day_weekday_hour(text: str, expected: list[int]) -> None:
    assert datetime_parts(rows_of((text,))).tolist() == [[float(v) for v in expected]]


@pytest.mark.parametrize("text", ["", "yesterday", "2024-13-01", "2024-02-30", "05/01/2024"])
def test_unparsable_datetimes_are_missing(text: str) -> None:
    assert np.isnan(datetime_parts(rows_of((text,)))).all()


# The column functions are vectorised; their results must stay exactly those of the
# per-element definitions trained artifacts were fitted with, kept here as the oracle.


def oracle_numeric(values: Any) -> np.ndarray:
    table = oracle_2d(values)
    out = np.empty(table.shape, dtype=np.float64)
    for (i, j), value in np.ndenumerate(table):
        out[i, j] = oracle_float(value)
    return out


def oracle_categorical(values: Any) -> np.ndarray:
    table = oracle_2d(values)
    out = np.empty(table.shape, dtype=object)
    for (i, j), value in np.ndenumerate(table):
        text = "" if value is None else str(value).strip()
        out[i, j] = text or MISSING_CATEGORY
    return out


def oracle_text(values: Any) -> np.ndarray:
    column = oracle_2d(values)[:, 0]
    out = np.empty(column.shape[0], dtype=object)
    for i, value in enumerate(column):
        text = "" if value is None else str(value)
        out[i] = text if automl_artifacts._WORD.search(text) else NO_TEXT_TOKEN
    return out


def oracle_datetime(values: Any) -> np.ndarray:
    table = oracle_2d(values)
    width = len(DATETIME_PARTS)
    out = np.full((table.shape[0], table.shape[1] * width), np.nan, dtype=np.float64)
    for (i, j), value in np.ndenumerate(table):
        parts = oracle_datetime_tuple("" if value is None else str(value).strip())
        if parts is not None:
            out[i, j * width : (j + 1) * width] = parts
    return out


def oracle_2d(values: Any) -> np.ndarray:
    table = np.asarray(values, dtype=object)
    return table.reshape(-1, 1) if table.ndim == 1 else table


def oracle_float(value: Any) -> float:
    if value is None:
        return math.nan
    try:
        number = float(str(value).strip())
    except ValueError:
        return math.nan
    return number if math.isfinite(number) else math.nan


def oracle_datetime_tuple(text: str) -> tuple[float, ...] | None:
    match = automl_artifacts._DATETIME.match(text) or automl_artifacts._COMPACT_DATE.match(text)
    if match is None:
        return None
    year, month, day = (int(g) for g in match.groups()[:3])
    hour = int(match.group(4) or 0)
    try:
        moment = datetime(year, month, day, hour)
    except ValueError:
        return None
    return tuple(
        float(part)
        for part in (moment.year, moment.month, moment.day, moment.weekday(), moment.hour)
    )


COLUMN_FUNCTIONS = [
    (parse_numeric_columns, oracle_numeric),
    (clean_categorical_columns, oracle_categorical),
    (text_documents, oracle_text),
    (datetime_parts, oracle_datetime),
]
FUNCTION_IDS = ["numeric", "categorical", "text", "datetime"]

NUMBERS = ["1.5", " 2 ", "-3e2", "+.5", "1.", "0", "-0", "-0.0", "1e-320", "5e-324", "007"]
ODD_NUMBERS = [
    *("nan", "-nan", "NaN", "inf", "-inf", "Infinity", "1e400", "-1e400", "1_000", "1__0"),
    *("0x10", "١٢", "\u0662.5", "\u00a02\u2003", "\u30003\u3000", "\x1c1", "1\x1f", "\t4\n"),
    *("", "  ", "abc", "1,5", "e5", "--1", "1e", "\x00", "١_٢"),
]
DATES = [
    *("2024-05-01", "2024/05/01 13:45", "2024-05-01T13:45:00.123Z", "2024-05-01 13:45:00+02:00"),
    *("20240501", "20240501T13", "20240501T1330", "2024.05.01", "2024-05/01", " 2024-05-01 "),
    *("2024-02-29", "2023-02-29", "1900-02-29", "2000-02-29", "1600-03-01", "1969-12-31"),
    *("0000-01-01", "0001-01-01", "9999-12-31", "2024-13-01", "2024-00-10", "2024-01-00"),
    *("2024-01-32", "2024-04-31", "2024-1-5", "2024-05-01 23:59", "2024-05-01 24:00", "2024-5-1 7"),
    *("٢٠٢٤-٠٥-٠١", "2024-05-0١", "2024-05-01\x00", "2024-05-01x", "2024-05-01 PST", "05/01/2024"),
    *("yesterday", "", "   ", "\ud800", "2024-05-0\ud800", "\U0001f600-05-01"),
]
OBJECTS = [
    *(None, 0, 1, -7, 2**53 + 1, 2**63 + 1, 10**400, True, False, 20240501),
    *(0.1, -0.0, 2.5e-310, math.nan, math.inf, -math.inf, 1e308),
    *(np.float32(0.1), np.float64(2.5), np.int64(3), np.str_(" 4 "), b"5", Decimal("0.1")),
    *(" pro ", "pro", "\u3000plus\u3000", "hello world", "!!", "a_b", "x"),
]
EDGE_VALUES = NUMBERS + ODD_NUMBERS + DATES + OBJECTS


def assert_same_result(function: Any, oracle: Any, table: np.ndarray) -> None:
    try:
        expected = oracle(table)
    except Exception as exc:  # text_documents of no column at all: both fail alike
        with pytest.raises(type(exc)):
            function(table)
        return
    assert_same(function(table), expected)


def assert_same(actual: np.ndarray, expected: np.ndarray) -> None:
    assert actual.dtype == expected.dtype
    assert actual.shape == expected.shape
    if actual.dtype == object:
        assert actual.tolist() == expected.tolist()
        assert [type(v) for v in actual.flat] == [type(v) for v in expected.flat]
    else:
        assert actual.tobytes() == expected.tobytes()  # bit for bit, NaN payloads included


def object_table(values: list[Any], shape: tuple[int, ...]) -> np.ndarray:
    table = np.empty(len(values), dtype=object)
    table[:] = values
    return table.reshape(shape)


@pytest.mark.parametrize(("function", "oracle"), COLUMN_FUNCTIONS, ids=FUNCTION_IDS)
@pytest.mark.parametrize("value", EDGE_VALUES, ids=repr)
def test_each_edge_value_gives_what_the_per_element_definition_gives(
    function: Any, oracle: Any, value: Any
) -> None:
    column = object_table([value, "1", value], (3, 1))

    assert_same_result(function, oracle, column)


@pytest.mark.parametrize(("function", "oracle"), COLUMN_FUNCTIONS, ids=FUNCTION_IDS)
@pytest.mark.parametrize(
    "shape",
    [(len(EDGE_VALUES),), (len(EDGE_VALUES), 1), (0,), (0, 3), (4, 0), (), (2, 3, 2)],
    ids=str,
)
def test_whole_columns_of_edge_values_1d_2d_empty_and_other_dimensions(
    function: Any, oracle: Any, shape: tuple[int, ...]
) -> None:
    values = EDGE_VALUES[: math.prod(shape)]
    table = object_table(values, shape)

    assert_same_result(function, oracle, table)


@pytest.mark.parametrize(("function", "oracle"), COLUMN_FUNCTIONS, ids=FUNCTION_IDS)
@pytest.mark.parametrize("seed", range(40))
def test_random_mixes_give_what_the_per_element_definitions_give(
    function: Any, oracle: Any, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    rows, columns = int(rng.integers(1, 60)), int(rng.integers(1, 4))
    # Mostly clean columns (the fast paths), some with a few odd values (the fallbacks).
    pools: list[list[Any]] = [[*NUMBERS, ""], [*DATES[:12], ""], NUMBERS + ODD_NUMBERS, EDGE_VALUES]
    pool = pools[seed % len(pools)]
    values = [pool[i] for i in rng.integers(0, len(pool), rows * columns)]
    for i in rng.integers(0, len(values), int(rng.integers(0, 3))):
        values[i] = f"{rng.normal() * 10.0 ** int(rng.integers(-5, 6))!r}"
    table = object_table(values, (rows, columns))

    assert_same_result(function, oracle, table)


def test_random_dates_give_the_calendars_weekdays() -> None:
    rng = np.random.default_rng(7)
    years = rng.integers(0, 10000, 500)
    texts = [
        f"{y:04d}{rng.choice(['-', '/', '.'])}{m:02d}-{d:02d}"
        for y, m, d in zip(years, rng.integers(0, 14, 500), rng.integers(0, 33, 500), strict=True)
    ]
    table = object_table(texts, (500, 1))

    assert_same(datetime_parts(table), oracle_datetime(table))


# --- the transformer ---


def test_mixed_columns_transform_to_float64_rows() -> None:
    rows, _ = mixed_rows(60)

    features = fitted(rows).features(rows)

    assert features.dtype == np.float64
    assert features.shape[0] == 60
    assert scipy.sparse.issparse(features) or isinstance(features, np.ndarray)
    if scipy.sparse.issparse(features):
        assert features.format == "csr"
    assert np.isfinite(dense(features)).all()


def test_unseen_values_transform_without_warnings() -> None:
    rows, _ = mixed_rows(40)
    preprocessor = fitted(rows)
    unseen = rows_of(("abc", "enterprise", "brand new words", "not a date"))

    assert np.isfinite(dense(preprocessor.features(unseen))).all()


@pytest.mark.parametrize("kind", COLUMN_TYPES)
def test_fits_a_column_whose_values_are_all_missing(kind: str) -> None:
    empty = rows_of(("",), ("",), ("",))
    transformer = build_feature_transformer([kind]).fit(empty)

    out = dense(transformer.transform(rows_of(("1",), ("2024-01-01",), ("x y",))))

    assert out.shape[0] == 3
    assert np.isfinite(out).all()


def test_fits_a_single_row() -> None:
    rows, _ = mixed_rows(5)
    transformer = build_feature_transformer(TYPES).fit(rows[:1])

    assert np.isfinite(dense(transformer.transform(rows))).all()


def test_unknown_or_no_column_types_are_refused() -> None:
    with pytest.raises(ValueError, match=r"Unknown column type.*'float'"):
        build_feature_transformer(["numeric", "float"])
    with pytest.raises(ValueError, match="at least one feature column"):
        build_feature_transformer([])


# --- the preprocessor ---


def test_wrong_width_is_the_containers_message() -> None:
    rows, _ = mixed_rows(20)
    preprocessor = fitted(rows)
    with_target = np.column_stack([rows, np.array(["yes"] * 20, dtype=object)])

    with pytest.raises(ValueError) as caught:
        preprocessor.features(with_target)

    assert str(caught.value) == (
        "Received data of unknown size. Expected number of columns is 4. "
        "Number of columns in the received data is 5."
    )


def test_labels_encode_and_decode_in_class_order() -> None:
    rows, _ = mixed_rows(10)
    preprocessor = fitted(rows, ["no", "yes"])

    assert preprocessor.encode_labels(["yes", "no", "yes"]).tolist() == [1, 0, 1]
    assert preprocessor.decode_labels([1, 0]) == ["yes", "no"]
    with pytest.raises(ValueError, match="Unknown label 'maybe' for churn"):
        preprocessor.encode_labels(["yes", "maybe"])
    with pytest.raises(ValueError, match="Label code 2 is out of range"):
        preprocessor.decode_labels([2])


def test_regression_targets_encode_as_floats_and_have_no_labels() -> None:
    rows, _ = mixed_rows(10)
    preprocessor = fitted(rows)

    assert preprocessor.encode_labels(["1.5", " 2"]).tolist() == [1.5, 2.0]
    with pytest.raises(ValueError, match="'x' of churn is not a number"):
        preprocessor.encode_labels(["x"])
    with pytest.raises(ValueError, match="regression target"):
        preprocessor.decode_labels([0])


# --- save and load ---


def test_a_saved_ensemble_loads_and_predicts_the_same(tmp_path: Path) -> None:
    rows, labels = mixed_rows(80)
    preprocessor = fitted(rows, ["no", "yes"])
    estimator = LogisticRegression(max_iter=1000).fit(
        preprocessor.features(rows), preprocessor.encode_labels(labels)
    )
    ensemble = TabularEnsemble(preprocessor, estimator, "BinaryClassification")

    path = save_artifact(ensemble, tmp_path / "model")
    loaded = load_artifact(tmp_path / "model")

    assert path == tmp_path / "model" / ARTIFACT_FILE
    assert isinstance(loaded, TabularEnsemble)
    np.testing.assert_array_equal(
        loaded.estimator.predict_proba(loaded.preprocessor.features(rows)),
        estimator.predict_proba(preprocessor.features(rows)),
    )


class RecordingUnpickler(pickle.Unpickler):
    """Remembers the top-level package of every class or function a pickle refers to."""

    def __init__(self, data: bytes) -> None:
        super().__init__(io.BytesIO(data))
        self.packages: set[str] = set()

    def find_class(self, module: str, name: str) -> Any:
        self.packages.add(module.split(".", maxsplit=1)[0])
        return super().find_class(module, name)


def test_pickles_refer_only_to_batchform_sklearn_and_their_dependencies() -> None:
    rows, labels = mixed_rows(30)
    preprocessor = fitted(rows, ["no", "yes"])
    estimator = LogisticRegression(max_iter=1000).fit(
        preprocessor.features(rows), preprocessor.encode_labels(labels)
    )
    unpickler = RecordingUnpickler(
        pickle.dumps(TabularEnsemble(preprocessor, estimator, "BinaryClassification"))
    )

    unpickler.load()

    assert "batchform" in unpickler.packages
    assert unpickler.packages <= {"batchform", "sklearn", "numpy", "scipy", "builtins", "copyreg"}


def test_missing_artifact_says_what_the_archive_has(tmp_path: Path) -> None:
    (tmp_path / "xgboost-model").write_bytes(b"x")

    with pytest.raises(ModelLoadError, match=r"has xgboost-model at its root.*model\.joblib"):
        load_artifact(tmp_path)


def test_a_foreign_pickle_is_not_an_automl_artifact(tmp_path: Path) -> None:
    joblib.dump({"not": "ours"}, tmp_path / ARTIFACT_FILE)

    with pytest.raises(ModelLoadError, match=r"holds a builtins\.dict, not a batchform AutoML"):
        load_artifact(tmp_path)


# A protocol-2 pickle of just the class Autopilot saves: unpickling it imports its module.
AUTOPILOT_PICKLE = (
    b"\x80\x02csagemaker_sklearn_extension.externals.automl_transformer\nAutoMLTransformer\n."
)


def test_a_real_autopilot_artifact_says_how_to_run_the_real_image(tmp_path: Path) -> None:
    (tmp_path / ARTIFACT_FILE).write_bytes(AUTOPILOT_PICKLE)

    with pytest.raises(ModelLoadError) as caught:
        load_artifact(tmp_path)

    message = caught.value.message
    assert "SageMaker Autopilot model" in message
    assert "sagemaker_sklearn_extension" in message
    assert "cannot load it" in message
    assert "batchform images add <Image> --url http://host:port" in message
    assert "sagemaker-sklearn-automl" in message


def test_autopilot_serving_code_marks_an_autopilot_artifact(tmp_path: Path) -> None:
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "sagemaker_serve.py").write_text("# This code is auto-generated.\n")
    (tmp_path / ARTIFACT_FILE).write_bytes(b"not a pickle at all")

    with pytest.raises(ModelLoadError, match=r"SageMaker Autopilot model.*--url"):
        load_artifact(tmp_path)
    (tmp_path / ARTIFACT_FILE).unlink()
    with pytest.raises(ModelLoadError, match="SageMaker Autopilot model"):
        load_artifact(tmp_path)


UNQUOTED_CELLS = ["a", "", " b ", "é", "1.5", "-0", "x\ty", "\u2028"]


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    width=st.integers(1, 4),
    lines=st.lists(st.lists(st.sampled_from(UNQUOTED_CELLS), min_size=1, max_size=4), max_size=12),
    ending=st.sampled_from(["\n", "\r\n", "\r"]),
    bom=st.booleans(),
    ragged=st.booleans(),
)
def test_the_fast_path_gives_the_csv_modules_records_and_errors(
    width: int, lines: list[list[str]], ending: str, bom: bool, ragged: bool
) -> None:
    """Unquoted payloads (pyarrow's path) against the csv module, blank lines and ragged
    records included: the same records, or the same ValueError."""
    records = [
        (cells if ragged else (cells * width)[:width]) if cells != [""] else [] for cells in lines
    ]
    body = (("\ufeff" if bom else "") + ending.join(",".join(r) for r in records)).encode()

    try:
        expected: object = csv_module_rows(body).tolist()
    except ValueError as exc:
        expected = str(exc)
    try:
        got: object = parse_csv_rows(body).tolist()
    except ValueError as exc:
        got = str(exc)

    assert got == expected


def test_payloads_the_fast_path_leaves_to_the_csv_module() -> None:
    assert parse_csv_rows(b"a,\x00b\n").tolist() == [["a", "\x00b"]]
    with pytest.raises(ValueError, match="not valid UTF-8"):
        parse_csv_rows(b"a,\xff\n")
    with pytest.raises(ValueError, match="Record 2 of the CSV payload has a different number"):
        parse_csv_rows(b"a,b\nc\n")
