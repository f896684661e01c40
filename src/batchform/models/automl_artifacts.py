"""The artifact format of batchform's own AutoML (tabular), and what serves it.

Autopilot's tabular candidates are one data-processor model (``dpp``) plus an algorithm model
in HPO mode, or a single model in ENSEMBLING mode (docs/spec: autopilot.md §2.1). batchform's
AutoML writes the same layout with its own pickles, each a ``model.joblib``
(:data:`ARTIFACT_FILE`) inside a ``model.tar.gz``:

* a :class:`TabularPreprocessor` — the data-processor model: the training header, the column
  types, a fitted scikit-learn feature transformer (:func:`build_feature_transformer`) and the
  label encoding. Served by the ``sklearn-automl`` runtime in ``feature-transform`` and
  ``inverse-label-transform`` modes, like Autopilot's ``sagemaker-sklearn-automl`` image.
* a :class:`TabularEnsemble` — ENSEMBLING mode: a preprocessor and a fitted estimator in one
  model.

Everything a pickle refers to is defined in this module or in scikit-learn (the column
functions below are module-level on purpose, and named publicly because renaming one breaks
every saved model), so an artifact unpickles with only batchform and scikit-learn installed.

Real Autopilot artifacts (scikit-learn 0.23 pickles of ``sagemaker_sklearn_extension``'s
``AutoMLTransformer``) cannot be loaded here; :func:`load_artifact` says so and how to run the
real image instead.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from batchform.errors import ModelLoadError

ARTIFACT_FILE = "model.joblib"
COLUMN_TYPES = ("numeric", "categorical", "text", "datetime")
PROBLEM_TYPES = ("BinaryClassification", "MulticlassClassification", "Regression")

MISSING_CATEGORY = "<missing>"
MAX_CATEGORIES = 32  # per categorical column, the rarer ones share one "infrequent" column
TEXT_MAX_FEATURES = 2000  # per text column
NO_TEXT_TOKEN = "bfnotext"  # stands for a document without words, so a vocabulary is never empty
DATETIME_PARTS = ("year", "month", "day", "weekday", "hour")

_WORD = re.compile(r"(?u)\b\w\w+\b")  # TfidfVectorizer's default token_pattern
_DATETIME = re.compile(
    r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})"
    r"(?:[T ](\d{1,2})(?::(\d{1,2})(?::(\d{1,2})(?:[.,]\d+)?)?)?)?"
    r"\s*(?:Z|[+-]\d{2}:?\d{2}|[A-Za-z]{1,5})?$"
)
_COMPACT_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})(?:T(\d{2})(\d{2})?(\d{2})?)?$")


# --- the transformer: built from scikit-learn parts and the module-level column functions ---


def build_feature_transformer(column_types: Sequence[str]) -> Any:
    """An unfitted scikit-learn transformer for rows of ``len(column_types)`` string columns.

    Input: a 2-D numpy object array of ``str`` (``""`` is missing), column ``i`` of type
    ``column_types[i]``. Output: a 2-D float64 ndarray or a scipy CSR matrix.

    * numeric: parsed to float (unparsable or ``""`` → NaN), median-imputed with a missing
      indicator, standard-scaled;
    * categorical: ``""`` becomes the category :data:`MISSING_CATEGORY`, one-hot encoded with
      at most :data:`MAX_CATEGORIES` columns (the rarest share one), unknown values → the
      infrequent column or all zeros;
    * text: TF-IDF over word 1-2 grams, at most :data:`TEXT_MAX_FEATURES` terms per column;
    * datetime: ISO-like dates (``2024-05-01``, ``2024/05/01 13:45``, ``2024-05-01T13:45:00Z``,
      ``20240501``) → year, month, day, weekday, hour; unparsable → missing; median-imputed
      with a missing indicator, standard-scaled.

    Fits on columns whose values are all missing and on a single row.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

    if not column_types:
        raise ValueError("build_feature_transformer needs at least one feature column.")
    unknown = sorted({t for t in column_types if t not in COLUMN_TYPES})
    if unknown:
        raise ValueError(
            f"Unknown column type(s) {', '.join(map(repr, unknown))}; "
            f"use one of {', '.join(COLUMN_TYPES)}."
        )

    def of_type(kind: str) -> list[int]:
        return [i for i, t in enumerate(column_types) if t == kind]

    def scaled(parse: Any) -> Any:
        return Pipeline(
            [
                ("parse", FunctionTransformer(parse)),
                (
                    "impute",
                    SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
                ),
                ("scale", StandardScaler()),
            ]
        )

    parts: list[tuple[str, Any, list[int]]] = []
    if numeric := of_type("numeric"):
        parts.append(("numeric", scaled(parse_numeric_columns), numeric))
    if categorical := of_type("categorical"):
        encoder = OneHotEncoder(
            handle_unknown="infrequent_if_exist",
            max_categories=MAX_CATEGORIES,
            sparse_output=True,
            dtype=np.float64,
        )
        pipeline = Pipeline(
            [("clean", FunctionTransformer(clean_categorical_columns)), ("onehot", encoder)]
        )
        parts.append(("categorical", pipeline, categorical))
    for index in of_type("text"):
        tfidf = TfidfVectorizer(
            ngram_range=(1, 2),
            max_features=TEXT_MAX_FEATURES,
            sublinear_tf=True,
            dtype=np.float64,
        )
        pipeline = Pipeline([("documents", FunctionTransformer(text_documents)), ("tfidf", tfidf)])
        parts.append((f"text_{index}", pipeline, [index]))
    if datetimes := of_type("datetime"):
        parts.append(("datetime", scaled(datetime_parts), datetimes))
    return ColumnTransformer(parts, remainder="drop", sparse_threshold=0.3)


def parse_numeric_columns(values: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    """Strings → float64; ``""``, unparsable and non-finite values → NaN."""
    table = _as_2d(values)
    out = np.empty(table.shape, dtype=np.float64)
    for j, column in enumerate(_columns(table)):
        out[:, j] = _numeric_column(column)
    out[~np.isfinite(out)] = np.nan
    return out


def clean_categorical_columns(values: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """Strings, stripped; missing → :data:`MISSING_CATEGORY`."""
    table = _as_2d(values)
    out = np.empty(table.shape, dtype=object)
    for j, column in enumerate(_columns(table)):
        texts, codes = _distinct_texts(column.tolist())
        out[:, j] = np.array([text or MISSING_CATEGORY for text in texts], dtype=object)[codes]
    return out


def text_documents(values: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """One text column → 1-D documents; one without any word becomes :data:`NO_TEXT_TOKEN`."""
    column = _as_2d(values)[:, 0]
    texts = ["" if value is None else str(value) for value in list(column)]  # rows if 3-D
    out = np.empty(column.shape[0], dtype=object)
    out[:] = [text if _WORD.search(text) else NO_TEXT_TOKEN for text in texts]
    return out


def datetime_parts(values: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    """Each column → :data:`DATETIME_PARTS` as floats (NaN when missing or unparsable)."""
    table = _as_2d(values)
    width = len(DATETIME_PARTS)
    out = np.full((table.shape[0], table.shape[1] * width), np.nan, dtype=np.float64)
    for j, column in enumerate(_columns(table)):
        texts, codes = _distinct_texts(column.tolist())
        out[:, j * width : (j + 1) * width] = _datetime_table(texts)[codes]
    return out


def _as_2d(values: Any) -> npt.NDArray[Any]:
    table = np.asarray(values, dtype=object)
    return table.reshape(-1, 1) if table.ndim == 1 else table


def _columns(table: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """The columns of a 2-D table; ``ValueError`` otherwise, as the per-value loops gave."""
    if table.ndim != 2:
        raise ValueError(f"Expected 1-D or 2-D values, got {table.ndim} dimension(s).")
    return table.T


# The types whose float(value) is float(str(value).strip()) whenever float(value) succeeds:
# float() strips the same whitespace as str.strip() (all but \x1c-\x1f, which float() refuses,
# sending such a column to _to_float), a float's str round-trips and an int rounds the same.
# Not so for a bool (float(True) is 1.0, float("True") fails) or a numpy float32.
_FLOAT_LIKE_TYPES = frozenset({str, float, int, type(None)})


def _numeric_column(column: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    """One object column → float64, as :func:`_to_float` gives per value, but through numpy's
    float() loop; non-finite values are left for the caller to turn into NaN."""
    items = column.tolist()
    if not set(map(type, items)) <= _FLOAT_LIKE_TYPES:
        return np.array([_to_float(value) for value in items], dtype=np.float64)
    try:
        if "" not in items:
            return column.astype(np.float64)  # None casts to NaN, as _to_float gives
        out = np.full(len(items), np.nan, dtype=np.float64)
        present = column != ""  # "" is the usual missing value
        out[present] = column[present].astype(np.float64)
        return out
    except (ValueError, TypeError, OverflowError):  # "abc", "  ", "\x1c1", 10**400 ...
        return np.array([_to_float(value) for value in items], dtype=np.float64)


def _to_float(value: Any) -> float:
    if value is None:
        return math.nan
    try:
        number = float(str(value).strip())
    except ValueError:
        return math.nan
    return number if math.isfinite(number) else math.nan


def _distinct_texts(items: list[Any]) -> tuple[list[str], npt.NDArray[np.intp]]:
    """The distinct stripped texts of a column's values (None → ""), and each value's index
    into them: a column repeats its values, so work per text is done once per distinct one."""
    keys: list[Any]
    if set(map(type, items)) == {str}:
        keys = items
        distinct = list(dict.fromkeys(items))
        texts = [text.strip() for text in distinct]  # str(text) is text itself
    else:  # strip first: 1, 1.0 and True are one dict key but three texts
        keys = [_stripped(value) for value in items]
        texts = distinct = list(dict.fromkeys(keys))
    code_of = {value: code for code, value in enumerate(distinct)}
    codes = np.fromiter(map(code_of.__getitem__, keys), dtype=np.intp, count=len(keys))
    return texts, codes


def _stripped(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _datetime_table(texts: list[str]) -> npt.NDArray[np.float64]:
    """:data:`DATETIME_PARTS` of each text, a row of NaN where it is not a valid date.

    numpy checks the fields as ``datetime(year, month, day, hour)`` would and finds the
    weekday (both use the proleptic Gregorian calendar).
    """
    matched, fields = _date_fields(texts)
    year, month, day, hour = fields.T
    month_start = (year - 1970).astype("datetime64[Y]").astype("datetime64[M]")
    month_start += np.clip(month, 1, 12) - 1
    first_day = month_start.astype("datetime64[D]")
    month_days = ((month_start + 1).astype("datetime64[D]") - first_day).astype(np.int64)
    valid = (year >= 1) & (month >= 1) & (month <= 12) & (day >= 1) & (day <= month_days)
    valid &= hour <= 23
    days = first_day.astype(np.int64) + day - 1  # since 1970-01-01, a Thursday (weekday 3)
    weekday = (days + 3) % 7
    found = np.column_stack([year, month, day, weekday, hour]).astype(np.float64)
    parts = np.full((len(texts), len(DATETIME_PARTS)), np.nan, dtype=np.float64)
    parts[matched[valid]] = found[valid]
    return parts


def _date_fields(texts: list[str]) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.int64]]:
    """Which texts the date patterns match, and their year, month, day and hour (0 if none)."""
    matched, fields = _plain_dates(texts)
    rest = np.ones(len(texts), dtype=bool)
    rest[matched] = False
    others: list[int] = []
    numbers: list[list[int]] = []
    for index in np.flatnonzero(rest).tolist():
        text = texts[index]
        match = _DATETIME.match(text) or _COMPACT_DATE.match(text)
        if match is not None:
            others.append(index)
            numbers.append([int(group or 0) for group in match.group(1, 2, 3, 4)])
    return (
        np.concatenate([matched, np.array(others, dtype=np.intp)]),
        np.concatenate([fields, np.array(numbers, dtype=np.int64).reshape(-1, 4)]),
    )


_PLAIN_DATE_DIGITS = [0, 1, 2, 3, 5, 6, 8, 9]  # of YYYY-MM-DD


def _plain_dates(texts: list[str]) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.int64]]:
    """The texts shaped ``YYYY-MM-DD`` (ASCII digits; ``-``, ``/`` or ``.`` between), read
    without a regex each: _DATETIME matches them with these fields and no hour."""
    sizes = np.fromiter(map(len, texts), dtype=np.intp, count=len(texts))
    # Each text's first 10 characters as code points (a longer text is no candidate anyway).
    chars = np.array(texts, dtype="<U10").view(np.uint32).reshape(-1, 10)
    digits = chars[:, _PLAIN_DATE_DIGITS].astype(np.int64) - ord("0")
    separators = np.isin(chars[:, [4, 7]], [ord("-"), ord("/"), ord(".")])
    plain = (sizes == 10) & ((digits >= 0) & (digits <= 9)).all(axis=1) & separators.all(axis=1)
    digits = digits[plain]
    year = digits[:, :4] @ np.array([1000, 100, 10, 1])
    month, day = digits[:, 4:6] @ np.array([10, 1]), digits[:, 6:] @ np.array([10, 1])
    return np.flatnonzero(plain), np.column_stack([year, month, day, np.zeros_like(year)])


# --- the artifacts ---


@dataclass
class TabularPreprocessor:
    """A data-processor model (Autopilot's ``dpp``): features and label encoding."""

    feature_names: list[str]  # the training feature columns, in order (target excluded)
    column_types: list[str]  # one of COLUMN_TYPES per feature column
    target_name: str
    transformer: Any  # a fitted build_feature_transformer(column_types)
    classes: list[str] | None  # original label strings in encoded order 0..k-1; None: regression

    def features(self, rows: npt.NDArray[Any]) -> Any:
        """Transformed features (float64 ndarray or CSR matrix) of an object array of str.

        A width other than ``len(feature_names)`` raises ``ValueError`` with the text of
        Autopilot's container ("Received data of unknown size. …").
        """
        table = np.asarray(rows, dtype=object)
        if table.ndim != 2:
            raise ValueError(f"Expected a 2-D array of rows, got {table.ndim} dimension(s).")
        expected = len(self.feature_names)
        if table.shape[1] != expected:
            raise ValueError(
                "Received data of unknown size. Expected number of columns is "
                f"{expected}. Number of columns in the received data is {table.shape[1]}."
            )
        result = self.transformer.transform(table)
        if hasattr(result, "tocsr"):
            return result.tocsr().astype(np.float64, copy=False)
        return np.asarray(result, dtype=np.float64)

    def encode_labels(self, labels: Sequence[str]) -> npt.NDArray[Any]:
        """Label strings → int codes (classification) or floats (regression).

        An unknown label (or, for regression, an unparsable value) raises ``ValueError``
        naming it.
        """
        if self.classes is None:
            out = np.empty(len(labels), dtype=np.float64)
            for i, label in enumerate(labels):
                try:
                    out[i] = float(str(label).strip())
                except ValueError:
                    raise ValueError(
                        f"Target value {label!r} of {self.target_name} is not a number."
                    ) from None
            return out
        codes = {label: code for code, label in enumerate(self.classes)}
        encoded = np.empty(len(labels), dtype=np.int64)
        for i, label in enumerate(labels):
            code = codes.get(str(label))
            if code is None:
                raise ValueError(
                    f"Unknown label {label!r} for {self.target_name}; the labels seen in "
                    f"training are {self.classes!r}."
                )
            encoded[i] = code
        return encoded

    def decode_labels(self, codes: Sequence[int]) -> list[str]:
        """Int codes → the original label strings; ``ValueError`` for a code out of range."""
        if self.classes is None:
            raise ValueError(f"{self.target_name} is a regression target: it has no labels.")
        out: list[str] = []
        for code in codes:
            index = int(code)
            if not 0 <= index < len(self.classes):
                raise ValueError(
                    f"Label code {code!r} is out of range: {self.target_name} has "
                    f"{len(self.classes)} classes (0..{len(self.classes) - 1})."
                )
            out.append(self.classes[index])
        return out


@dataclass
class TabularEnsemble:
    """ENSEMBLING mode: one model that transforms the features and predicts."""

    preprocessor: TabularPreprocessor
    # a fitted estimator on preprocessor.features(...) output: predict_proba with columns in
    # preprocessor.classes order (classification) or predict (regression)
    estimator: Any
    problem_type: str  # "BinaryClassification" | "MulticlassClassification" | "Regression"
    # Binary only: class 1 is predicted when its probability exceeds this (None: the argmax).
    # A class attribute too, so an ensemble pickled before the field existed loads as None.
    decision_threshold: float | None = None


Artifact = TabularPreprocessor | TabularEnsemble


def save_artifact(artifact: Artifact, directory: Path) -> Path:
    """``joblib.dump`` ``artifact`` to ``directory/model.joblib`` (creating ``directory``)."""
    import joblib

    if not isinstance(artifact, TabularPreprocessor | TabularEnsemble):
        raise TypeError(f"Not an AutoML artifact: {type(artifact).__name__}.")
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / ARTIFACT_FILE
    joblib.dump(artifact, path)
    return path


def load_artifact(model_dir: Path) -> Artifact:
    """The artifact in ``model_dir/model.joblib``.

    Raises :class:`~batchform.errors.ModelLoadError` when it is missing, does not unpickle or
    is not a batchform AutoML artifact; for a real Autopilot artifact the message says how to
    run Autopilot's own image instead.
    """
    path = model_dir / ARTIFACT_FILE
    autopilot_code = (model_dir / "code" / "sagemaker_serve.py").is_file()
    if not path.is_file():
        if autopilot_code:
            raise ModelLoadError(autopilot_artifact_message(model_dir))
        found = ", ".join(sorted(p.name for p in model_dir.iterdir())) if model_dir.is_dir() else ""
        raise ModelLoadError(
            f"Could not find the AutoML model: the model archive has {found or 'no files'} at "
            f"its root, and the sklearn-automl runtime needs {ARTIFACT_FILE} written by "
            "batchform's AutoML (batchform.models.automl_artifacts.save_artifact)."
        )
    try:
        import joblib
    except ImportError as exc:
        raise ModelLoadError(
            "The sklearn-automl runtime needs scikit-learn and joblib: "
            "pip install 'batchform[sklearn]'."
        ) from exc
    try:
        artifact = joblib.load(path)
    except Exception as exc:
        if autopilot_code or _mentions_autopilot(exc):
            raise ModelLoadError(autopilot_artifact_message(model_dir)) from exc
        raise ModelLoadError(
            f"Could not load {ARTIFACT_FILE} with joblib ({type(exc).__name__}: {exc}); the "
            "sklearn-automl runtime loads models written by batchform's AutoML with the "
            "scikit-learn version installed here."
        ) from exc
    if isinstance(artifact, TabularPreprocessor | TabularEnsemble):
        return artifact
    kind = f"{type(artifact).__module__}.{type(artifact).__qualname__}"
    if autopilot_code or kind.startswith("sagemaker_sklearn_extension"):
        raise ModelLoadError(autopilot_artifact_message(model_dir))
    raise ModelLoadError(
        f"{ARTIFACT_FILE} holds a {kind}, not a batchform AutoML artifact (TabularPreprocessor "
        "or TabularEnsemble); serve a plain scikit-learn model with the sklearn image instead."
    )


def autopilot_artifact_message(model_dir: Path) -> str:
    """Why a real Autopilot model cannot be loaded here, and how to run it anyway."""
    return (
        f"{model_dir / ARTIFACT_FILE} looks like a SageMaker Autopilot model (a scikit-learn "
        "0.23 pickle of sagemaker_sklearn_extension's AutoMLTransformer, served by "
        "code/sagemaker_serve.py). The built-in sklearn-automl runtime cannot load it: it only "
        "serves models trained by batchform's own AutoML. Run Autopilot's image itself and "
        "register it as a url image: for each container, start the image with that container's "
        "Environment and the unpacked model data, e.g. `docker run -p 8080:8080 -v "
        "<model dir>:/opt/ml/model -e AUTOML_TRANSFORM_MODE=feature-transform ... "
        "<account>.dkr.ecr.<region>.amazonaws.com/sagemaker-sklearn-automl:<tag> serve`, then "
        "`batchform images add <Image> --url http://host:port` (a registered image takes "
        "precedence over the built-in runtime; give containers that need different "
        "Environments distinct Image names). See README, 'Your own images'."
    )


def _mentions_autopilot(exc: BaseException) -> bool:
    if isinstance(exc, ModuleNotFoundError) and (exc.name or "").split(".")[0] in {
        "sagemaker_sklearn_extension",
        "mlio",
    }:
        return True
    return "sagemaker_sklearn_extension" in str(exc)
