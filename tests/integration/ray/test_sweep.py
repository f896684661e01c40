"""Sweeping what killed attempts leave: local temp files and S3 multipart uploads (moto).

No Ray here: the sweep is plain storage code, which the Ray executor runs from its driver.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from batchform.runner.executors.sweep import sweep_temps
from batchform.storage.local import TEMP_SUFFIX
from batchform.storage.uri import ObjectURI


def uploads(s3: Any) -> set[str]:
    return {u["Key"] for u in s3.list_multipart_uploads(Bucket="bucket").get("Uploads", [])}


def test_unfinished_uploads_of_the_outputs_are_aborted_and_others_left(s3: Any) -> None:
    for key in ("out/a.csv.out", "out/a.csv.out", "out/deep/b.csv.out", "out/other.out"):
        s3.create_multipart_upload(Bucket="bucket", Key=key)
    s3.put_object(Bucket="bucket", Key="out/done.csv.out", Body=b"published")
    swept = [ObjectURI.parse(f"s3://bucket/out/{k}") for k in ("a.csv.out", "deep/b.csv.out")]

    assert sweep_temps(swept) == 3
    assert uploads(s3) == {"out/other.out"}  # not ours: another object's live upload
    assert s3.get_object(Bucket="bucket", Key="out/done.csv.out")["Body"].read() == b"published"


def test_temp_files_of_the_outputs_are_removed_and_others_left(tmp_path: Path) -> None:
    output = ObjectURI.parse(str(tmp_path / "a.csv.out"))
    # What a killed writer leaves: the local store's hidden temp names, one per attempt.
    for temp in (".a.csv.out.1f2e", ".a.csv.out.3c4d", ".b.csv.out.5e6f"):
        (tmp_path / f"{temp}{TEMP_SUFFIX}").write_bytes(b"partial")
    (tmp_path / "a.csv.out").write_bytes(b"published")

    assert sweep_temps([output]) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f".b.csv.out.5e6f{TEMP_SUFFIX}",
        "a.csv.out",
    ]
    assert (tmp_path / "a.csv.out").read_bytes() == b"published"


def test_a_store_that_refuses_is_logged_not_raised(s3: Any) -> None:
    assert sweep_temps([ObjectURI.parse("s3://no-such-bucket/out/a.csv.out")]) == 0
