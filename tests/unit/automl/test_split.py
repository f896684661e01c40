"""The seeded train/validation split."""

from __future__ import annotations

import numpy as np

from batchform.automl.dataset import Table, split


def table(labels: list[str]) -> Table:
    rows = np.array([[str(i)] for i in range(len(labels))], dtype=object)
    return Table(rows, np.array(labels, dtype=object), None)


def test_stratified_split_keeps_every_class_in_training() -> None:
    labels = ["a"] * 50 + ["b"] * 30 + ["c"] * 2 + ["d"]
    train, valid = split(table(labels), 0.2, seed=0, stratify=True)
    assert len(train) + len(valid) == len(labels)
    assert set(train.labels) == {"a", "b", "c", "d"}
    assert sorted(valid.labels.tolist()).count("a") == 10
    assert sorted(valid.labels.tolist()).count("b") == 6
    assert "d" not in valid.labels  # a single row must be learned from


def test_split_is_reproducible_and_disjoint() -> None:
    data = table(["x", "y"] * 50)
    first = split(data, 0.3, seed=7, stratify=False)
    again = split(data, 0.3, seed=7, stratify=False)
    assert first[1].rows.tolist() == again[1].rows.tolist()
    assert len(first[1]) == 30
    ids = set(first[0].rows[:, 0]) | set(first[1].rows[:, 0])
    assert len(ids) == 100
    other = split(data, 0.3, seed=8, stratify=False)
    assert other[1].rows.tolist() != first[1].rows.tolist()
