"""Generated tabular data with a learnable target: numbers (some blank), a category, a date,
free text, and string labels; written as CSV with a header, as Autopilot's training data."""

from __future__ import annotations

import csv
import gzip
import io
from pathlib import Path

import numpy as np

WORDS = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "zeta",
    "eta",
    "theta",
    "iota",
    "kappa",
    "lambda",
    "mu",
    "nu",
    "xi",
    "omicron",
    "pi",
    "rho",
    "sigma",
    "tau",
    "upsilon",
    "phi",
    "chi",
    "psi",
    "omega",
]
HEADER = ["x1", "x2", "plan", "signup", "note", "target"]
INFORMATIVE = "x1"


def rows(n: int, seed: int, kind: str = "multiclass") -> list[list[str]]:
    """``kind``: "binary" (yes/no), "multiclass" (low/mid/high) or "regression"."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x2 = rng.uniform(0, 10, size=n)
    plan = rng.choice(["basic", "plus", "pro"], size=n)
    score = 2.5 * x1 + (plan == "pro") * 1.0 - 0.1 * x2 + rng.normal(scale=0.3, size=n)
    out = []
    for i in range(n):
        month, day = rng.integers(1, 13), rng.integers(1, 28)
        note = " ".join(rng.choice(WORDS, size=5))
        out.append(
            [
                "" if i % 29 == 0 else f"{x1[i]:.4f}",
                f"{x2[i]:.3f}",
                str(plan[i]),
                f"2024-{month:02d}-{day:02d}",
                note,
                _target(score[i], kind),
            ]
        )
    return out


def _target(score: float, kind: str) -> str:
    if kind == "regression":
        return f"{score:.4f}"
    if kind == "binary":
        return "yes" if score > 0 else "no"
    return "low" if score < -1 else ("high" if score > 1 else "mid")


def csv_bytes(records: list[list[str]], header: list[str] | None = HEADER) -> bytes:
    stream = io.StringIO()
    writer = csv.writer(stream, lineterminator="\n")
    if header is not None:
        writer.writerow(header)
    writer.writerows(records)
    return stream.getvalue().encode()


def write_csv(
    directory: Path, n: int, seed: int, kind: str = "multiclass", *, parts: int = 1
) -> Path:
    """``parts`` files of the same header under ``directory``; returns the directory."""
    directory.mkdir(parents=True, exist_ok=True)
    records = rows(n, seed, kind)
    size = -(-n // parts)
    for part in range(parts):
        chunk = records[part * size : (part + 1) * size]
        (directory / f"part-{part:03d}.csv").write_bytes(csv_bytes(chunk))
    return directory


def gzipped(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def features_only(records: list[list[str]]) -> tuple[bytes, list[str]]:
    """Headerless CSV of the features (target dropped, as for batch transform) and the labels."""
    return csv_bytes([r[:-1] for r in records], header=None), [r[-1] for r in records]
