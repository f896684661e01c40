"""A few hundred calls drawn from the service models, over HTTP to a real server (see
tests/fuzz_api.py; `python -m tests.fuzz_api` runs the long version)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fuzz_api import fill_bucket, fuzz_server, run_fuzz

EXAMPLES = 200  # about 30 s on two busy cores


@pytest.fixture
def fuzz_endpoint(s3_endpoint: str, tmp_path: Path) -> Iterator[str]:
    fill_bucket()
    with fuzz_server(tmp_path) as url:
        yield url


@pytest.mark.timeout(240)
def test_drawn_calls_keep_every_invariant(fuzz_endpoint: str) -> None:
    tally = run_fuzz(fuzz_endpoint, EXAMPLES)
    assert len(tally.operations) > 15  # nearly every operation was called
    assert sum(tally.operations.values()) >= EXAMPLES
