"""Bad training data fails before any candidate, with a message naming the file, column, rule."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from batchform.automl.data import read_channel
from batchform.automl.spec import PARQUET_CONTENT_TYPE, Channel
from batchform.errors import ValidationError
from tests.integration.automl.conftest import local_spec, run
from tests.integration.automl.tabular_data import HEADER, csv_bytes, gzipped, rows


def write(directory: Path, name: str, data: bytes) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_bytes(data)
    return directory / name


def fails(tmp_path: Path, message: str, **changes: object) -> None:
    spec = local_spec(tmp_path, "bad-data", **changes)
    events: list[object] = []
    with pytest.raises(ValidationError, match=message):
        run(spec, on_event=events.append)
    assert not any(type(e).__name__.startswith("Candidate") for e in events)


def test_missing_target_lists_the_columns(tmp_path: Path) -> None:
    write(tmp_path / "train", "a.csv", csv_bytes(rows(50, 0)))
    fails(
        tmp_path,
        r"Target attribute 'churn' is not a column of .*/train/; the columns found are: "
        r"x1, x2, plan, signup, note, target\.",
        target="churn",
    )


def test_too_few_rows(tmp_path: Path) -> None:
    records = rows(12, 0)
    for record in records[:5]:
        record[-1] = ""  # no target: left out
    write(tmp_path / "train", "a.csv", csv_bytes(records))
    fails(tmp_path, r"has 7 usable rows \(with a target value\); at least 10 are needed")


def test_one_class_target(tmp_path: Path) -> None:
    records = [[*r[:-1], "same"] for r in rows(40, 0)]
    write(tmp_path / "train", "a.csv", csv_bytes(records))
    fails(tmp_path, r"Target column 'target' has only one distinct value \('same'\)")


def test_ragged_csv_names_the_file(tmp_path: Path) -> None:
    data = csv_bytes(rows(30, 0)) + b"1,2,3\n"
    path = write(tmp_path / "train", "broken.csv", data)
    fails(tmp_path, rf"Could not read file://{path} as CSV with a header row: .*Expected 6 columns")


def test_headers_must_match_across_files(tmp_path: Path) -> None:
    write(tmp_path / "train", "a.csv", csv_bytes(rows(30, 0)))
    other = ["x1", "x2", "plan", "signup", "comment", "target"]
    write(tmp_path / "train", "b.csv", csv_bytes(rows(30, 1), header=other))
    fails(
        tmp_path,
        r"b\.csv has a different header than .*a\.csv \(missing \['note'\], unexpected "
        r"\['comment'\]\); every file of a channel must start with the same header row",
    )


def test_gzip_without_compression_type_says_so(tmp_path: Path) -> None:
    write(tmp_path / "train", "a.csv.gz", gzipped(csv_bytes(rows(30, 0))))
    fails(tmp_path, r"a\.csv\.gz is gzip-compressed; set the channel's CompressionType to Gzip")


def test_compression_type_gzip_needs_gzip(tmp_path: Path) -> None:
    write(tmp_path / "train", "a.csv", csv_bytes(rows(30, 0)))
    spec = local_spec(tmp_path, "bad-gzip")
    channel = replace(spec.channels[0], compression="Gzip")
    with pytest.raises(ValidationError, match=r"Could not decompress .*a\.csv.*must be gzip"):
        run(replace(spec, channels=(channel,)))


def test_duplicate_column_names(tmp_path: Path) -> None:
    write(
        tmp_path / "train", "a.csv", csv_bytes(rows(30, 0), header=[*HEADER[:-2], "x1", "target"])
    )
    fails(tmp_path, r"the header names column 'x1' twice")


def test_empty_input(tmp_path: Path) -> None:
    (tmp_path / "train").mkdir()
    fails(tmp_path, r'No files found under path ".*/train/"')


def test_feature_spec_with_unknown_column(tmp_path: Path) -> None:
    write(tmp_path / "train", "a.csv", csv_bytes(rows(30, 0)))
    document = {"FeatureAttributeNames": ["x1", "age"], "FeatureDataTypes": {"x1": "numeric"}}
    spec_path = write(tmp_path, "features.json", json.dumps(document).encode())
    fails(
        tmp_path,
        r"The FeatureSpecification .*features\.json names columns that are not in .*: age",
        feature_spec_uri=str(spec_path),
    )


def test_feature_spec_chooses_columns_and_types(tmp_path: Path) -> None:
    write(tmp_path / "train", "a.csv", csv_bytes(rows(60, 0, kind="binary")))
    document = {"FeatureAttributeNames": ["x1", "plan"], "FeatureDataTypes": {"x1": "categorical"}}
    spec_path = write(tmp_path, "features.json", json.dumps(document).encode())
    spec = local_spec(
        tmp_path,
        "feature-spec",
        feature_spec_uri=str(spec_path),
        mode="ENSEMBLING",
        algorithms=("linear-learner",),
    )
    result = run(spec)
    assert "Column types: x1=categorical, plan=categorical" in result.logs


def test_parquet_columns_become_strings(tmp_path: Path) -> None:
    table = pa.table(
        {
            "n": pa.array([1, None, 3], pa.int64()),
            "f": pa.array([0.5, 2.0, None]),
            "s": pa.array(["a", None, "c"]),
            "b": pa.array([True, False, None]),
        }
    )
    (tmp_path / "in").mkdir()
    pq.write_table(table, tmp_path / "in" / "part.parquet")
    channel = Channel(str(tmp_path / "in") + "/", content_type=PARQUET_CONTENT_TYPE)
    data = read_channel(channel)
    assert data.header == ("n", "f", "s", "b")
    assert data.rows.tolist() == [
        ["1", "0.5", "a", "true"],
        ["", "2", "", "false"],
        ["3", "", "c", ""],
    ]


def test_quoted_newlines_and_bom(tmp_path: Path) -> None:
    data = '\ufeffa,"b\nc",d\n1,"two\nlines",3\n'.encode()
    write(tmp_path / "in", "x.csv", data)
    read = read_channel(Channel(str(tmp_path / "in") + "/"))
    assert read.header == ("a", "b\nc", "d")
    assert read.rows.tolist() == [["1", "two\nlines", "3"]]


def test_regression_validation_labels_must_be_numbers(tmp_path: Path) -> None:
    write(tmp_path / "train", "a.csv", csv_bytes(rows(60, 0, kind="regression")))
    bad = rows(20, 1, kind="regression")
    bad[3][-1] = "n/a"
    write(tmp_path / "valid", "v.csv", csv_bytes(bad))
    spec = local_spec(tmp_path, "reg-valid")
    validation = Channel(str(tmp_path / "valid") + "/", channel_type="validation")
    with pytest.raises(ValidationError, match=r"'target' of the validation channel holds 'n/a'"):
        run(replace(spec, channels=(*spec.channels, validation)))


def test_a_manifest_channel_is_tuned_in_auto_mode(tmp_path: Path) -> None:
    # Autopilot cannot size a manifest's data, so AUTO chooses HYPERPARAMETER_TUNING.
    first = write(tmp_path / "data", "a.csv", csv_bytes(rows(80, 0, kind="binary")))
    second = write(tmp_path / "data", "b.csv", csv_bytes(rows(80, 1, kind="binary")))
    manifest = [{"prefix": str(tmp_path / "data") + "/"}, first.name, second.name]
    manifest_path = write(tmp_path, "train.manifest", json.dumps(manifest).encode())
    spec = local_spec(tmp_path, "manifest", max_candidates=1)
    channel = Channel(str(manifest_path), data_type="ManifestFile")
    result = run(replace(spec, channels=(channel,)))
    assert result.resolved.mode == "HYPERPARAMETER_TUNING"
    assert any("Read 160 rows of 6 columns from 2 object(s)" in line for line in result.logs)
    assert len(result.done) == 1
