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

import csv
import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
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
    for (i, j), value in np.ndenumerate(table):
        out[i, j] = _to_float(value)
    return out


def clean_categorical_columns(values: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """Strings, stripped; missing → :data:`MISSING_CATEGORY`."""
    table = _as_2d(values)
    out = np.empty(table.shape, dtype=object)
    for (i, j), value in np.ndenumerate(table):
        text = "" if value is None else str(value).strip()
        out[i, j] = text or MISSING_CATEGORY
    return out


def text_documents(values: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """One text column → 1-D documents; one without any word becomes :data:`NO_TEXT_TOKEN`."""
    column = _as_2d(values)[:, 0]
    out = np.empty(column.shape[0], dtype=object)
    for i, value in enumerate(column):
        text = "" if value is None else str(value)
        out[i] = text if _WORD.search(text) else NO_TEXT_TOKEN
    return out


def datetime_parts(values: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    """Each column → :data:`DATETIME_PARTS` as floats (NaN when missing or unparsable)."""
    table = _as_2d(values)
    width = len(DATETIME_PARTS)
    out = np.full((table.shape[0], table.shape[1] * width), np.nan, dtype=np.float64)
    cache: dict[str, tuple[float, ...] | None] = {}
    for (i, j), value in np.ndenumerate(table):
        text = "" if value is None else str(value).strip()
        if text not in cache:
            cache[text] = _datetime_tuple(text)
        parts = cache[text]
        if parts is not None:
            out[i, j * width : (j + 1) * width] = parts
    return out


def _as_2d(values: Any) -> npt.NDArray[Any]:
    table = np.asarray(values, dtype=object)
    return table.reshape(-1, 1) if table.ndim == 1 else table


def _to_float(value: Any) -> float:
    if value is None:
        return math.nan
    try:
        number = float(str(value).strip())
    except ValueError:
        return math.nan
    return number if math.isfinite(number) else math.nan


def _datetime_tuple(text: str) -> tuple[float, ...] | None:
    match = _DATETIME.match(text) or _COMPACT_DATE.match(text)
    if match is None:
        return None
    year, month, day = (int(g) for g in match.groups()[:3])
    hour = int(match.group(4) or 0)
    try:
        moment = datetime(year, month, day, hour)
    except ValueError:
        return None
    return (
        float(moment.year),
        float(moment.month),
        float(moment.day),
        float(moment.weekday()),
        float(moment.hour),
    )


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


# --- CSV ---


def parse_csv_rows(body: bytes) -> npt.NDArray[Any]:
    """CSV records as a 2-D object array of ``str`` (RFC 4180, quoted newlines allowed).

    No header is skipped: a header line is a record like any other. Blank lines are skipped,
    except in one-column data, where a blank line is a record with one empty value. Raises
    ``ValueError`` for bytes that are not UTF-8 or records of different widths.
    """
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"The CSV payload is not valid UTF-8: {exc}.") from None
    try:
        records = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error as exc:
        raise ValueError(f"Could not parse the CSV payload: {exc}.") from None
    widths = {len(record) for record in records if record}
    if not widths:
        blank = [[""] for _ in records]
        return np.array(blank, dtype=object).reshape(len(blank), 1 if blank else 0)
    if len(widths) > 1:
        first = len(next(r for r in records if r))
        line = next(i for i, r in enumerate(records, 1) if r and len(r) != first)
        raise ValueError(
            f"Record {line} of the CSV payload has a different number of columns than the "
            f"first record ({first})."
        )
    width = widths.pop()
    rows = [record or [""] for record in records] if width == 1 else [r for r in records if r]
    table = np.empty((len(rows), width), dtype=object)
    for i, record in enumerate(rows):
        table[i, :] = record
    return table
