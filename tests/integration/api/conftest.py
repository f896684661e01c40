"""boto3 on the API server of ``tests/integration/conftest.py``, and an input prefix for jobs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.integration.api.serving import sagemaker_client


@pytest.fixture
def sagemaker(endpoint: str) -> Any:
    return sagemaker_client(endpoint)


@pytest.fixture
def input_dir(tmp_path: Path) -> Path:
    """A local input prefix with one CSV object (``S3Uri`` may be a local path: our extension)."""
    directory = tmp_path / "in"
    directory.mkdir()
    (directory / "data.csv").write_text("1,2\n3,4\n")
    return directory
