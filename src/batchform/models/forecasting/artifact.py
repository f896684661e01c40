"""A forecasting model as stored: one JSON document, :data:`ARTIFACT_FILE`, in ``model.tar.gz``.

It holds what inference needs to repeat the training's preparation and models on a request's
history: the column roles, ``ForecastFrequency``, ``ForecastHorizon``, the quantiles, the
filling and aggregation rules, the holiday country, the season length, whether forecasts are
clipped at zero, and the models with their ensemble weights. Statistical models are local to a
series, so there is no fitted state to store: every request refits them (which is what makes
forecasts for new item ids possible). JSON rather than a pickle: any version of batchform (or
a person) can read it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from batchform.errors import ModelLoadError
from batchform.models.forecasting.catalogue import MODELS
from batchform.models.forecasting.combine import quantile_fraction

ARTIFACT_FILE = "forecast-model.json"
FORMAT = "batchform-forecast-model/1"
AGGREGATIONS = ("sum", "avg", "first", "min", "max")

Filling = tuple[tuple[str, tuple[tuple[str, str], ...]], ...]


@dataclass(frozen=True, slots=True)
class SeriesConfig:
    """How a long-format table becomes series: column roles and transformations.

    ``covariates`` are the numeric feature columns the models may use; ``filling`` maps a
    column to its ``Transformations.Filling`` methods; ``aggregation`` is the target's
    ``Transformations.Aggregation`` (None: not given, then ``sum`` for timestamps finer than
    the frequency and an error for repeated timestamps).
    """

    item_id: str
    timestamp: str
    target: str
    frequency: str
    grouping: tuple[str, ...] = ()
    covariates: tuple[str, ...] = ()
    filling: Filling = ()
    aggregation: str | None = None
    holiday_country: str | None = None

    @property
    def key_columns(self) -> tuple[str, ...]:
        """The series key: the item id and the grouping columns."""
        return (self.item_id, *self.grouping)

    def filling_of(self, column: str) -> dict[str, str]:
        return next((dict(methods) for name, methods in self.filling if name == column), {})


@dataclass(frozen=True, slots=True)
class Member:
    """One model of a forecast and its weight in the ensemble (1.0 for a single model)."""

    model: str
    weight: float = 1.0


@dataclass(frozen=True, slots=True)
class ForecastModel:
    """Everything inference needs (see the module docstring)."""

    series: SeriesConfig
    horizon: int
    quantiles: tuple[str, ...]
    members: tuple[Member, ...]
    season_length: int = 1
    nonnegative: bool = False
    details: dict[str, Any] = field(default_factory=dict)  # e.g. the candidate's name

    def to_document(self) -> dict[str, Any]:
        s = self.series
        return {
            "format": FORMAT,
            "columns": {
                "item_id": s.item_id,
                "grouping": list(s.grouping),
                "timestamp": s.timestamp,
                "target": s.target,
                "covariates": list(s.covariates),
            },
            "frequency": s.frequency,
            "horizon": self.horizon,
            "quantiles": list(self.quantiles),
            "filling": {column: dict(methods) for column, methods in s.filling},
            "aggregation": s.aggregation,
            "holiday_country": s.holiday_country,
            "season_length": self.season_length,
            "nonnegative": self.nonnegative,
            "models": [{"model": m.model, "weight": m.weight} for m in self.members],
            "details": self.details,
        }


def save_model(model: ForecastModel, directory: Path) -> Path:
    """Write :data:`ARTIFACT_FILE` into ``directory``."""
    path = directory / ARTIFACT_FILE
    path.write_text(json.dumps(model.to_document(), indent=2), encoding="utf-8")
    return path


def load_model(directory: Path) -> ForecastModel:
    """Read :data:`ARTIFACT_FILE` from an unpacked ``model.tar.gz``; ModelLoadError if bad."""
    path = directory / ARTIFACT_FILE
    if not path.is_file():
        found = ", ".join(sorted(p.name for p in directory.iterdir())) or "no files"
        raise ModelLoadError(
            f"The model archive has no {ARTIFACT_FILE} at its root (it has {found}); the "
            "forecasting image serves models trained by batchform's time-series AutoML."
        )
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        return _from_document(document)
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelLoadError(f"{ARTIFACT_FILE} is not a forecasting model: {exc}") from exc


def _from_document(document: dict[str, Any]) -> ForecastModel:
    if document.get("format") != FORMAT:
        raise ValueError(f"format is {document.get('format')!r}, expected {FORMAT!r}")
    columns = document["columns"]
    series = SeriesConfig(
        item_id=str(columns["item_id"]),
        timestamp=str(columns["timestamp"]),
        target=str(columns["target"]),
        frequency=str(document["frequency"]),
        grouping=tuple(str(c) for c in columns["grouping"]),
        covariates=tuple(str(c) for c in columns["covariates"]),
        filling=tuple(
            (str(column), tuple(sorted((str(k), str(v)) for k, v in methods.items())))
            for column, methods in sorted(document["filling"].items())
        ),
        aggregation=document["aggregation"],
        holiday_country=document["holiday_country"],
    )
    members = tuple(Member(str(m["model"]), float(m["weight"])) for m in document["models"])
    model = ForecastModel(
        series=series,
        horizon=int(document["horizon"]),
        quantiles=tuple(str(q) for q in document["quantiles"]),
        members=members,
        season_length=int(document["season_length"]),
        nonnegative=bool(document["nonnegative"]),
        details=dict(document.get("details") or {}),
    )
    _check(model)
    return model


def _check(model: ForecastModel) -> None:
    if model.horizon < 1:
        raise ValueError(f"horizon {model.horizon} is not a positive number of steps")
    unknown = [m.model for m in model.members if m.model not in MODELS]
    if not model.members or unknown:
        raise ValueError(f"models must be some of {', '.join(MODELS)}, got {unknown or 'none'}")
    if not all(math.isfinite(m.weight) and m.weight > 0 for m in model.members):
        raise ValueError("every model weight must be a positive number")
    for name in model.quantiles:
        quantile_fraction(name)
    if model.series.aggregation not in (None, *AGGREGATIONS):
        raise ValueError(f"aggregation {model.series.aggregation!r} is not one of {AGGREGATIONS}")
