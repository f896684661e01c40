"""run_forecast on generated demand data: candidates, metrics, backtest files, the best
candidate served, resume, data errors, and the training in a child process."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from batchform.automl.budget import Budget
from batchform.automl.child import run_in_child
from batchform.automl.events import (
    AutoMLEvent,
    CandidateDone,
    CandidateFailed,
    LogLine,
    Resolved,
    SecondaryStatus,
)
from batchform.automl.forecast import offered_forecast_algorithms, run_forecast, training
from batchform.automl.spec import (
    PARQUET_CONTENT_TYPE,
    Channel,
    ForecastSpec,
    TimeSeriesColumns,
)
from batchform.errors import ValidationError
from batchform.models.base import ContainerSpec, ModelSpec
from batchform.models.registry import open_model
from tests.forecast_data import HEADER, HORIZON, csv_bytes, demand_rows, read_csv

METRICS = {"RMSE", "MAPE", "MASE", "WAPE", "AverageWeightedQuantileLoss"}
ITEMS, DAYS = 8, 80


@dataclass
class Run:
    spec: ForecastSpec
    events: list[AutoMLEvent] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def statuses(self) -> list[str]:
        return [e.value for e in self.events if isinstance(e, SecondaryStatus)]

    @property
    def done(self) -> list[CandidateDone]:
        return [e for e in self.events if isinstance(e, CandidateDone)]

    @property
    def logs(self) -> list[str]:
        return [e.text for e in self.events if isinstance(e, LogLine)]


def run(spec: ForecastSpec, done: frozenset[str] = frozenset()) -> Run:
    result = Run(spec)
    started = time.monotonic()
    run_forecast(spec, emit=result.events.append, cancelled=lambda: False, done=done)
    result.seconds = time.monotonic() - started
    return result


def job_spec(
    root: Path, name: str, rows: list[list[str]] | None = None, **changes: Any
) -> ForecastSpec:
    """A job on ``rows`` (default: the demand data) written to ``root/train/``."""
    (root / "train").mkdir(parents=True, exist_ok=True)
    (root / "train" / "demand.csv").write_bytes(csv_bytes(rows or demand_rows(ITEMS, DAYS)))
    spec = ForecastSpec(
        job_name=name,
        channels=(Channel(str(root / "train") + "/"),),
        output_path=str(root / "output"),
        columns=TimeSeriesColumns(
            target="sales", timestamp="day", item_id="item", grouping=("store",)
        ),
        frequency="D",
        horizon=HORIZON,
        holiday_country="US",
    )
    return dataclasses.replace(spec, **changes)


@pytest.fixture(scope="session")
def demand(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """Every model and the ensemble on 8 series × 80 days with a price feature."""
    return run(job_spec(tmp_path_factory.mktemp("forecast"), "demand"))


def test_statuses_and_the_resolved_problem(demand: Run) -> None:
    assert demand.statuses == ["Starting", "AnalyzingData", "TrainingModels", "Completed"]
    [resolved] = [e for e in demand.events if isinstance(e, Resolved)]
    assert resolved == Resolved(
        "TimeSeriesForecasting", "AverageWeightedQuantileLoss", "Minimize", "ENSEMBLING"
    )
    assert any(
        "8 series, 80 time steps of D, season 7; 3 backtest window(s)" in line
        for line in demand.logs
    )
    assert any("regressors: price, holiday" in line for line in demand.logs)
    assert any("Features category are not numeric" in line for line in demand.logs)


def test_a_candidate_per_offered_algorithm_and_the_ensemble(demand: Run) -> None:
    algorithms = [d.algorithm for d in demand.done]
    assert algorithms == [*offered_forecast_algorithms(), "theta", "seasonal-naive", "ensemble"]
    assert not [e for e in demand.events if isinstance(e, CandidateFailed)]
    for done in demand.done:
        candidate = done.candidate
        assert candidate["CandidateName"] == done.name
        assert candidate["CandidateStatus"] == "Completed"
        [container] = candidate["InferenceContainers"]
        assert container["Image"] == (
            "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-automl-forecasting:1.0-cpu-py3"
        )
        assert container["ModelDataUrl"].endswith(
            f"/demand/forecasting/{done.name}/output/model.tar.gz"
        )
        metrics = {
            m["MetricName"]: m["Value"]
            for m in candidate["CandidateProperties"]["CandidateMetrics"]
        }
        assert set(metrics) == METRICS
        assert all(0 <= value < 10 for value in metrics.values()), metrics
        final = candidate["FinalAutoMLJobObjectiveMetric"]
        assert final == {
            "MetricName": "AverageWeightedQuantileLoss",
            "Value": metrics["AverageWeightedQuantileLoss"],
            "Type": "Minimize",
            "StandardMetricName": "AverageWeightedQuantileLoss",
        }
        assert done.objective_value == final["Value"]


def test_the_ensemble_is_the_best_candidate(demand: Run) -> None:
    best = min(demand.done, key=lambda d: d.objective_value)
    ensemble = demand.done[-1]
    assert ensemble.objective_value == best.objective_value
    weights = ensemble.hyperparameters["models"]
    assert sum(weights.values()) == pytest.approx(1.0)


def test_backtest_files_parse(demand: Run) -> None:
    for done in demand.done:
        locations = done.candidate["CandidateProperties"]["CandidateArtifactLocations"]
        folder = Path(locations["BacktestResults"].removeprefix("file://"))
        forecasts = read_csv((folder / "forecasted-values.csv").read_bytes())
        assert forecasts[0] == [
            "item",
            "store",
            "day",
            "backtest_window",
            "sales",
            "mean",
            "p10",
            "p50",
            "p90",
        ]
        assert len(forecasts) == 1 + ITEMS * 3 * HORIZON
        assert {row[3] for row in forecasts[1:]} == {"1", "2", "3"}
        assert all(float(r[6]) <= float(r[7]) <= float(r[8]) for r in forecasts[1:])
        metrics = read_csv((folder / "accuracy-metrics-values.csv").read_bytes())
        assert metrics[0][:6] == [
            "backtest_window",
            "RMSE",
            "MAPE",
            "MASE",
            "WAPE",
            "AverageWeightedQuantileLoss",
        ]
        assert metrics[0][6:] == ["wQL[0.1]", "wQL[0.5]", "wQL[0.9]"]
        assert [row[0] for row in metrics[1:]] == ["1", "2", "3", "average"]
        insights = Path(locations["ModelInsights"].removeprefix("file://")) / "model_insights.json"
        assert json.loads(insights.read_text())["backtest_windows"] == 3
        analysis = Path(locations["Explainability"].removeprefix("file://")) / "analysis.json"
        assert "forecast_features" in json.loads(analysis.read_text())["explanations"]


def test_the_best_candidate_forecasts_new_and_known_items(demand: Run, tmp_path: Path) -> None:
    [container] = demand.done[-1].candidate["InferenceContainers"]
    spec = ModelSpec(
        "best",
        (ContainerSpec(container["Image"], container["ModelDataUrl"], container["Environment"]),),
    )
    rows = demand_rows(3, DAYS, seed=100, future=HORIZON)
    body = csv_bytes([["new-" + row[0], *row[1:]] for row in rows] + demand_rows(1, DAYS))

    async def forecast() -> bytes:
        model = await open_model(spec, cache_dir=tmp_path, environment={"SAGEMAKER_BATCH": "true"})
        try:
            answer = await model.invoke(body, content_type="text/csv", accept="text/csv")
        finally:
            await model.aclose()
        return answer.body

    answer = read_csv(asyncio.run(forecast()))
    assert answer[0] == ["item", "store", "day", "mean", "p10", "p50", "p90"]
    assert [row[0] for row in answer[1::HORIZON]] == [
        "new-item-0",
        "new-item-1",
        "new-item-2",
        "item-0",
    ]


def test_a_resumed_job_does_not_train_finished_candidates_again(demand: Run) -> None:
    finished = frozenset(d.name for d in demand.done[:-1])
    again = run(demand.spec, done=finished)
    assert [d.name for d in again.done] == [demand.done[-1].name]
    assert sum(
        "finished in an earlier run; not trained again" in line for line in again.logs
    ) == len(finished)
    weights = again.done[0].hyperparameters["models"]
    assert weights == demand.done[-1].hyperparameters["models"]
    assert again.seconds < demand.seconds


def test_parquet_training_data(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = demand_rows(3, 40)
    columns = {name: [row[i] for row in rows] for i, name in enumerate(HEADER)}
    table = pa.table(
        {
            **columns,
            "day": pa.array([date.fromisoformat(d) for d in columns["day"]]),
            "price": pa.array([float(p) for p in columns["price"]]),
            "sales": pa.array([float(s) if s else None for s in columns["sales"]]),
        }
    )
    spec = job_spec(tmp_path, "parquet", rows, algorithms=("npts",))
    (tmp_path / "train" / "demand.csv").unlink()
    pq.write_table(table, tmp_path / "train" / "demand.parquet")
    channel = dataclasses.replace(spec.channels[0], content_type=PARQUET_CONTENT_TYPE)
    result = run(dataclasses.replace(spec, channels=(channel,)))
    assert [d.algorithm for d in result.done] == ["npts"]
    assert any("3 series, 40 time steps of D" in line for line in result.logs)


def test_max_candidates_one_reports_the_ensemble(tmp_path: Path) -> None:
    spec = job_spec(tmp_path, "one", algorithms=("npts", "ets"), max_candidates=1)
    result = run(spec)
    assert [d.algorithm for d in result.done] == ["ensemble"]
    assert result.statuses[-1] == "MaxCandidatesReached"


# --- data errors: each names the column, the item and the rule ---


def failure(tmp_path: Path, rows: list[list[str]], **changes: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        run(job_spec(tmp_path, "bad", rows, **changes))
    return str(caught.value)


def test_a_missing_column(tmp_path: Path) -> None:
    columns = TimeSeriesColumns(target="units", timestamp="day", item_id="item")
    message = failure(tmp_path, demand_rows(2, 40), columns=columns)
    assert "The training data has no column 'units' (the target column)" in message


def test_a_bad_timestamp(tmp_path: Path) -> None:
    rows = demand_rows(2, 40)
    rows[50][2] = "01/32/2024"
    message = failure(tmp_path, rows)
    assert (
        "the timestamp column 'day' has '01/32/2024' in row 51 (item 'item-1' (store='north'))"
        in message
    )


def test_a_non_numeric_target(tmp_path: Path) -> None:
    rows = demand_rows(2, 40, missing=0)
    rows[5][5] = "n/a yet"
    message = failure(tmp_path, rows)
    assert "the target column 'sales' must be numeric, but row 6 (item 'item-0' " in message
    assert "(store='south')) has 'n/a yet'" in message


def test_duplicate_timestamps(tmp_path: Path) -> None:
    rows = demand_rows(2, 40)
    rows.append(list(rows[3]))
    message = failure(tmp_path, rows)
    assert "item 'item-0' (store='south') has more than one row for timestamp" in message
    assert "'2024-01-04' (rows 4, 81)" in message


def test_a_series_with_too_few_values(tmp_path: Path) -> None:
    rows = demand_rows(2, 40, missing=0)
    rows += [["late", "north", f"2024-02-{d:02d}", "1.00", "snacks", "5"] for d in (7, 8, 9)]
    message = failure(tmp_path, rows)
    assert "item 'late' (store='north') has 3 values in the target column 'sales'" in message
    assert "every series needs at least 4 valid historical values" in message


def test_a_series_too_short_for_a_backtest(tmp_path: Path) -> None:
    rows = demand_rows(2, 40, missing=0)
    rows += [["late", "north", f"2024-02-{d:02d}", "1.00", "snacks", "5"] for d in range(1, 10)]
    message = failure(tmp_path, rows)
    assert "item 'late' (store='north') has 9 time steps" in message
    assert "needs at least 11" in message


def test_a_horizon_longer_than_a_quarter_of_the_data(tmp_path: Path) -> None:
    message = failure(tmp_path, demand_rows(2, 40), horizon=11)
    assert "ForecastHorizon 11 is too large for the training data: it has 40 time steps" in message


def test_feature_specification_names_the_features(tmp_path: Path) -> None:
    spec_file = tmp_path / "features.json"
    spec_file.write_text(json.dumps({"FeatureAttributeNames": ["discount"]}))
    message = failure(tmp_path, demand_rows(2, 40), feature_spec_uri=str(spec_file))
    assert "FeatureAttributeNames names 'discount', which is not a column" in message
    spec_file.write_text(json.dumps({"FeatureAttributeNames": []}))
    result = run(
        job_spec(
            tmp_path,
            "nofeatures",
            demand_rows(2, 40),
            feature_spec_uri=str(spec_file),
            algorithms=("npts",),
        )
    )
    assert any("regressors: holiday" in line for line in result.logs)


# --- in a child process, and stopping ---


def test_run_in_child_takes_a_forecast_spec(tmp_path: Path) -> None:
    spec = job_spec(tmp_path, "child", demand_rows(3, 40), algorithms=("npts",))
    received: list[Any] = []
    run_in_child(spec, received.append, threading.Event())
    statuses = [e.value for e in received if isinstance(e, SecondaryStatus)]
    assert statuses == ["Starting", "AnalyzingData", "TrainingModels", "Completed"]
    [done] = [e for e in received if isinstance(e, CandidateDone)]
    assert done.algorithm == "npts"


def test_run_in_child_raises_data_errors(tmp_path: Path) -> None:
    spec = job_spec(tmp_path, "child-bad", demand_rows(2, 40), horizon=30)
    with pytest.raises(ValidationError, match="ForecastHorizon 30 is too large"):
        run_in_child(spec, lambda _: None, threading.Event())


def test_the_runtime_limit_keeps_the_finished_candidates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[AutoMLEvent] = []

    def clock() -> float:  # the limit runs out as soon as a candidate has finished
        finished = any(isinstance(e, CandidateDone) for e in events)
        return time.monotonic() + (10**6 if finished else 0)

    monkeypatch.setattr(training, "Budget", functools.partial(Budget, clock=clock))
    spec = job_spec(tmp_path, "limit", demand_rows(3, 40), max_job_runtime_s=3600)
    run_forecast(spec, emit=events.append, cancelled=lambda: False)
    statuses = [e.value for e in events if isinstance(e, SecondaryStatus)]
    assert statuses[-1] == "MaxAutoMLJobRuntimeReached"
    assert len([e for e in events if isinstance(e, CandidateDone)]) == 1


def test_another_objective(tmp_path: Path) -> None:
    result = run(
        job_spec(tmp_path, "mase", demand_rows(3, 40), algorithms=("npts",), objective="MASE")
    )
    [resolved] = [e for e in result.events if isinstance(e, Resolved)]
    assert resolved.objective_metric == "MASE"
    final = result.done[0].candidate["FinalAutoMLJobObjectiveMetric"]
    assert (final["MetricName"], final["Type"]) == ("MASE", "Minimize")


def test_a_stop_returns_quietly(tmp_path: Path) -> None:
    spec = job_spec(tmp_path, "stop", demand_rows(3, 40))
    events: list[AutoMLEvent] = []
    stop: Callable[[], bool] = lambda: any(isinstance(e, CandidateDone) for e in events)  # noqa: E731
    run_forecast(spec, emit=events.append, cancelled=stop)
    assert [e.text for e in events if isinstance(e, LogLine)][-1] == "Stopped on request"
    assert len([e for e in events if isinstance(e, CandidateDone)]) == 1
