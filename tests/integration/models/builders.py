"""Helpers to build model artifacts and request bodies for the models tests."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]


def make_archive(path: Path, files: dict[str, bytes]) -> Path:
    """A gzip-compressed tar at ``path`` holding ``files`` (name → content) at its root."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def csv_body(rows: Floats) -> bytes:
    """Header-less CSV with every float written exactly (``repr``), one record per line."""
    return "\n".join(",".join(map(repr, row)) for row in rows.tolist()).encode()
