"""The per-instance data log, in the format SageMaker writes to CloudWatch.

See docs/semantics.md, "Logs".

``2020-10-14T04:08:19.163:[sagemaker logs]: <bucket>/<key>: ClientError: 400``
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO


def timestamp(now: datetime | None = None) -> str:
    """``YYYY-MM-DDTHH:MM:SS.mmm`` in UTC, no zone suffix."""
    moment = now or datetime.now(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def format_line(text: str, now: datetime | None = None) -> str:
    return f"{timestamp(now)}:[sagemaker logs]: {text}"


class DataLog:
    """Appends formatted lines to ``<logs>/<job>/<instance>/data-log`` and forwards the text."""

    def __init__(self, path: Path, forward: Callable[[str], None]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: TextIO = path.open("a", encoding="utf-8")
        self._forward = forward
        self.path = path

    def write(self, text: str) -> None:
        self._file.write(format_line(text) + "\n")
        self._file.flush()
        self._forward(text)

    def object_lines(self, object_name: str, lines: list[str]) -> None:
        """Lines about one object, each prefixed ``<bucket>/<key>: `` as the service does."""
        for line in lines:
            self.write(f"{object_name}: {line}" if line else f"{object_name}:")

    def close(self) -> None:
        self._file.close()
