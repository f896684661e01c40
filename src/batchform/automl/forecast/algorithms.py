"""Which models a forecasting job trains, and the names of its candidates.

Autopilot's algorithm names map to models as :mod:`batchform.models.forecasting.catalogue`
says (``ets``, ``arima``, ``npts``, ``prophet`` when installed; ``cnn-qr`` and ``deepar`` are
not offered). A job without ``AlgorithmsConfig`` trains every installed model, ``theta`` and
``seasonal-naive`` too; a job naming algorithms trains exactly those. Then the ensemble.

Candidate names follow Autopilot's time-series tags (``tsets``, ``tsarima``, ``tsnpts``,
``tsprophet``; ``tstheta``, ``tssnaive``; ``tsme`` for the ensemble) and each model's fixed
position, so a resumed job finds the same names.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from batchform.automl.layout import candidate_name
from batchform.automl.spec import ForecastSpec
from batchform.errors import ValidationError
from batchform.models.forecasting import catalogue

ENSEMBLE = "ensemble"
TAGS = {
    catalogue.ETS: "tsets",
    catalogue.ARIMA: "tsarima",
    catalogue.NPTS: "tsnpts",
    catalogue.PROPHET: "tsprophet",
    catalogue.THETA: "tstheta",
    catalogue.SEASONAL_NAIVE: "tssnaive",
    ENSEMBLE: "tsme",
}
_NEEDED = ("pandas", "statsforecast", "holidays")


def offered_forecast_algorithms() -> tuple[str, ...]:
    """Autopilot's algorithm names this installation trains (none without the forecast extra)."""
    if any(importlib.util.find_spec(name) is None for name in _NEEDED):
        return ()
    installed = catalogue.installed_models()
    return tuple(name for name in catalogue.AUTOPILOT_MODELS if name in installed)


@dataclass(frozen=True, slots=True)
class Plan:
    """The models to backtest, and which candidates to report (by name)."""

    models: tuple[str, ...]
    names: dict[str, str]  # model (or ENSEMBLE) → candidate name
    reported: tuple[str, ...]  # models reported as candidates, ENSEMBLE last
    limited: bool  # MaxCandidates kept some model from being reported


def plan(spec: ForecastSpec) -> Plan:
    """What ``spec`` trains: every model, then the ensemble; MaxCandidates ``n`` reports the
    ensemble and the first ``n - 1`` models (all models are still backtested for it). One
    model alone has no ensemble."""
    models = _models(spec)
    positions = {name: i for i, name in enumerate((*catalogue.MODELS, ENSEMBLE))}
    names = {m: candidate_name(spec, TAGS[m], positions[m]) for m in (*models, ENSEMBLE)}
    if len(models) == 1:
        return Plan(models, names, models, limited=False)
    shown = models if spec.max_candidates is None else models[: max(0, spec.max_candidates - 1)]
    return Plan(models, names, (*shown, ENSEMBLE), limited=len(shown) < len(models))


def _models(spec: ForecastSpec) -> tuple[str, ...]:
    if not spec.algorithms:
        return catalogue.installed_models()
    offered = offered_forecast_algorithms()
    missing = [name for name in spec.algorithms if name not in offered]
    if missing:
        raise ValidationError(
            f"AutoMLAlgorithms {', '.join(missing)} cannot be trained by this installation; "
            f"it offers {', '.join(offered) or 'none (install batchform[forecast])'}."
        )
    return tuple(name for name in catalogue.MODELS if name in spec.algorithms)
