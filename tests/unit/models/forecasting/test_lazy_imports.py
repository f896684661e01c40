"""The server, the CLI and the API's algorithm check load no forecasting library."""

from __future__ import annotations

import subprocess
import sys

CODE = """
import sys
import batchform.api.app, batchform.cli.main, batchform.models.registry, batchform.automl
from batchform.automl.forecast import offered_forecast_algorithms
offered_forecast_algorithms()
print(sorted({"pandas", "statsforecast", "holidays"} & set(sys.modules)))
"""


def test_importing_batchform_loads_no_forecasting_library() -> None:
    result = subprocess.run(
        [sys.executable, "-c", CODE], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"
