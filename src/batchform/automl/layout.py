"""Where a job's artifacts go (Autopilot's layout) and how they are written.

Under ``<S3OutputPath>/<job name>/``::

    data-processor-models/<job>-dpp0-1-<hex>/output/model.tar.gz     the data processor
    tuning/<job>-dpp0-xgb/<candidate>/output/model.tar.gz            an HPO trial's booster
    ensemble/<candidate>/output/model.tar.gz                         an ENSEMBLING model
    documentation/explainability/<candidate>/analysis.json           feature importances

and for time-series forecasting::

    forecasting/<candidate>/output/model.tar.gz                      a forecasting model
    backtest-results/<candidate>/forecasted-values.csv               its backtest forecasts
    backtest-results/<candidate>/accuracy-metrics-values.csv         their accuracy metrics
    documentation/model_insights/<candidate>/model_insights.json     the metrics, per window

Every object is written atomically through :mod:`batchform.storage` (visible only once
complete), so a crash never leaves half an archive that a resumed job or a transform would read.

Names are derived from the job name, the seed and the candidate's position only: a resumed
job computes the same names and can skip the candidates it finished before.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from batchform.automl.spec import ForecastSpec, TabularSpec
from batchform.storage import ObjectURI, store_for

OUTPUT_PATH_FIELD = "OutputDataConfig.S3OutputPath"
MODEL_ARCHIVE = "model.tar.gz"
EXPLAINABILITY_FILE = "analysis.json"
FORECASTED_VALUES_FILE = "forecasted-values.csv"
ACCURACY_METRICS_FILE = "accuracy-metrics-values.csv"
MODEL_INSIGHTS_FILE = "model_insights.json"
CANDIDATE_NAME_MAX = 32  # so that f"{name}-transform-job" fits a TransformJobName (63)
_JOB_PREFIX_CHARS = 12


def stable_hex(*parts: object, length: int = 8) -> str:
    """A hex digest of ``parts``: the same on every run, different between jobs and seeds."""
    text = "\x1f".join(str(p) for p in parts)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def candidate_name(spec: TabularSpec | ForecastSpec, tag: str, index: int) -> str:
    """``<job name, 12 chars>-<tag>-<index>-<hex8>``, at most 32 characters.

    Example: ``churn-model-xgb-003-5e1f02ab``. The hex part keeps two jobs whose names share
    their first 12 characters apart.
    """
    prefix = spec.job_name[:_JOB_PREFIX_CHARS].rstrip("-")
    name = f"{prefix}-{tag}-{index:03d}-{stable_hex(spec.job_name, spec.seed, tag, index)}"
    if len(name) > CANDIDATE_NAME_MAX:  # a tag longer than planned: keep the unique tail
        name = name[len(name) - CANDIDATE_NAME_MAX :].lstrip("-")
    return name


class Layout:
    """The URIs of one job's artifacts."""

    def __init__(self, spec: TabularSpec | ForecastSpec) -> None:
        self.job_name = spec.job_name
        output = ObjectURI.parse(spec.output_path, field=OUTPUT_PATH_FIELD)
        self.base = output.join(spec.job_name)
        self.dpp_name = (
            f"{spec.job_name}-dpp0-1-{stable_hex(spec.job_name, spec.seed, 'dpp', length=24)}"
        )

    @property
    def data_processor(self) -> ObjectURI:
        return self.base.join(f"data-processor-models/{self.dpp_name}/output/{MODEL_ARCHIVE}")

    def tuning_model(self, candidate: str) -> ObjectURI:
        return self.base.join(f"tuning/{self.job_name}-dpp0-xgb/{candidate}/output/{MODEL_ARCHIVE}")

    def ensemble_model(self, candidate: str) -> ObjectURI:
        return self.base.join(f"ensemble/{candidate}/output/{MODEL_ARCHIVE}")

    def explainability(self, candidate: str) -> ObjectURI:
        """The folder: ``CandidateArtifactLocations.Explainability``."""
        return self.base.join(f"documentation/explainability/{candidate}")

    def explainability_report(self, candidate: str) -> ObjectURI:
        return self.explainability(candidate).join(EXPLAINABILITY_FILE)

    def forecast_model(self, candidate: str) -> ObjectURI:
        return self.base.join(f"forecasting/{candidate}/output/{MODEL_ARCHIVE}")

    def backtest_results(self, candidate: str) -> ObjectURI:
        """The folder: ``CandidateArtifactLocations.BacktestResults``."""
        return self.base.join(f"backtest-results/{candidate}")

    def model_insights(self, candidate: str) -> ObjectURI:
        """The folder: ``CandidateArtifactLocations.ModelInsights``."""
        return self.base.join(f"documentation/model_insights/{candidate}")


def write_archive(uri: ObjectURI, fill: Callable[[Path], object]) -> None:
    """Publish a ``model.tar.gz`` of the files ``fill`` writes into a directory.

    The files sit at the archive's root, where SageMaker's containers (and batchform's
    runtimes) look for ``xgboost-model`` or ``model.joblib``.
    """
    with tempfile.TemporaryDirectory(prefix="batchform-automl-") as workdir:
        content = Path(workdir) / "model"
        content.mkdir()
        fill(content)
        archive = Path(workdir) / MODEL_ARCHIVE
        # Level 6, not tarfile's 9: a forest's pickle compresses almost as well, 3x faster.
        with tarfile.open(archive, "w:gz", compresslevel=6) as tar:
            for path in sorted(content.rglob("*")):
                if path.is_file():
                    tar.add(path, arcname=path.relative_to(content).as_posix())
        with archive.open("rb") as source:
            _publish(uri, source)


def write_json(uri: ObjectURI, document: dict[str, Any]) -> None:
    """Publish ``document`` as indented UTF-8 JSON."""
    data = json.dumps(document, indent=2, sort_keys=False).encode("utf-8")
    _publish(uri, io.BytesIO(data))


def write_bytes(uri: ObjectURI, data: bytes) -> None:
    """Publish ``data`` as it is (a CSV file, say)."""
    _publish(uri, io.BytesIO(data))


def _publish(uri: ObjectURI, source: io.BufferedIOBase | Any) -> None:
    with store_for(uri).open_write(uri) as writer:
        while chunk := source.read(1024 * 1024):
            writer.write(chunk)
        writer.commit()
