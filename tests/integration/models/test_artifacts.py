"""fetch_model_data on real files and a real (moto) S3: unpacking, the shared cache, errors."""

from __future__ import annotations

import io
import tarfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from batchform.config import Settings
from batchform.errors import ModelLoadError
from batchform.models.artifacts import fetch_model_data
from tests.integration.models.builders import make_archive

FILES = {"xgboost-model": b"model bytes", "code/inference.py": b"print('hi')\n"}


def tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` by relative POSIX path (what the runtime will see)."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def visible_entries(cache_dir: Path) -> list[str]:
    return sorted(p.name for p in cache_dir.iterdir())


def test_local_archive_is_unpacked_into_the_cache(tmp_path: Path, cache_dir: Path) -> None:
    archive = make_archive(tmp_path / "model.tar.gz", FILES)

    model_dir = fetch_model_data(str(archive), cache_dir)

    assert tree(model_dir) == FILES
    assert model_dir.parent == cache_dir
    assert model_dir.name.startswith("archive-")
    # Only the published copy remains: no temp dirs or downloads left behind.
    assert visible_entries(cache_dir) == [model_dir.name]


def test_second_fetch_reuses_the_copy_without_unpacking_again(
    tmp_path: Path, cache_dir: Path
) -> None:
    archive = make_archive(tmp_path / "model.tar.gz", FILES)
    first = fetch_model_data(str(archive), cache_dir)
    (first / "marker").write_bytes(b"left by the first fetch")
    before = first.stat()

    second = fetch_model_data(f"file://{archive}", cache_dir)

    assert second == first
    after = second.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert (second / "marker").read_bytes() == b"left by the first fetch"


def test_same_bytes_under_another_name_share_one_copy(tmp_path: Path, cache_dir: Path) -> None:
    first = make_archive(tmp_path / "a" / "model.tar.gz", FILES)
    copy = tmp_path / "b" / "renamed.tar.gz"
    copy.parent.mkdir()
    copy.write_bytes(first.read_bytes())

    assert fetch_model_data(str(copy), cache_dir) == fetch_model_data(str(first), cache_dir)


def test_changed_archive_gets_a_new_copy(tmp_path: Path, cache_dir: Path) -> None:
    archive = make_archive(tmp_path / "model.tar.gz", FILES)
    old = fetch_model_data(str(archive), cache_dir)
    make_archive(archive, {"xgboost-model": b"retrained"})

    new = fetch_model_data(str(archive), cache_dir)

    assert new != old
    assert tree(new) == {"xgboost-model": b"retrained"}
    assert tree(old) == FILES


def test_racing_fetches_end_with_one_complete_copy(
    tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = make_archive(tmp_path / "model.tar.gz", FILES)
    racers = 4
    # Every racer finishes unpacking before any of them publishes, so all but one lose.
    barrier = threading.Barrier(racers, timeout=30)
    extractall = tarfile.TarFile.extractall

    def slow_extractall(self: tarfile.TarFile, *args: Any, **kwargs: Any) -> None:
        extractall(self, *args, **kwargs)
        barrier.wait()

    monkeypatch.setattr(tarfile.TarFile, "extractall", slow_extractall)
    with ThreadPoolExecutor(racers) as pool:
        results = list(pool.map(lambda _: fetch_model_data(str(archive), cache_dir), range(4)))

    assert len(set(results)) == 1
    assert tree(results[0]) == FILES
    assert visible_entries(cache_dir) == [results[0].name]


def test_directory_is_copied_and_reused_until_it_changes(tmp_path: Path, cache_dir: Path) -> None:
    source = tmp_path / "model"
    for name, data in FILES.items():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_bytes(data)

    first = fetch_model_data(str(source) + "/", cache_dir)
    again = fetch_model_data(f"file://{source}", cache_dir)
    (source / "xgboost-model").write_bytes(b"retrained, longer than before")
    changed = fetch_model_data(str(source), cache_dir)

    assert first.name.startswith("dir-")
    assert tree(first) == FILES
    assert again == first
    assert changed != first
    assert tree(changed)["xgboost-model"] == b"retrained, longer than before"


def test_no_model_data_gives_an_empty_directory(cache_dir: Path) -> None:
    model_dir = fetch_model_data(None, cache_dir)

    assert model_dir.is_dir()
    assert list(model_dir.iterdir()) == []
    assert fetch_model_data(None, cache_dir) == model_dir


def test_missing_model_data_says_where_it_looked(tmp_path: Path, cache_dir: Path) -> None:
    url = str(tmp_path / "nope.tar.gz")

    with pytest.raises(ModelLoadError) as caught:
        fetch_model_data(url, cache_dir)

    assert caught.value.message == f"Could not find model data at {url}."


@pytest.mark.parametrize(
    "content",
    [b"this is not an archive", b"\x1f\x8b\x08\x00garbage after a gzip magic number"],
    ids=["text", "broken-gzip"],
)
def test_corrupt_archive_is_reported_with_its_url(
    tmp_path: Path, cache_dir: Path, content: bytes
) -> None:
    archive = tmp_path / "model.tar.gz"
    archive.write_bytes(content)

    with pytest.raises(ModelLoadError) as caught:
        fetch_model_data(str(archive), cache_dir)

    assert caught.value.message.startswith(f"ModelDataUrl {archive} is not a valid tar.gz: ")
    assert visible_entries(cache_dir) == []


def test_truncated_archive_is_corrupt(tmp_path: Path, cache_dir: Path) -> None:
    whole = make_archive(tmp_path / "whole.tar.gz", {"xgboost-model": bytes(range(256)) * 400})
    archive = tmp_path / "model.tar.gz"
    archive.write_bytes(whole.read_bytes()[:200])

    with pytest.raises(ModelLoadError, match=r"is not a valid tar\.gz"):
        fetch_model_data(str(archive), cache_dir)


def test_parent_references_are_rejected(tmp_path: Path, cache_dir: Path) -> None:
    archive = tmp_path / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("../escape.txt")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"evil"))

    with pytest.raises(ModelLoadError, match="contains an unsafe member"):
        fetch_model_data(str(archive), cache_dir)
    assert not (tmp_path / "escape.txt").exists()
    assert visible_entries(cache_dir) == []


def test_absolute_members_land_inside_the_model_directory(tmp_path: Path, cache_dir: Path) -> None:
    outside = tmp_path / "outside.txt"
    archive = tmp_path / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo(str(outside))
        info.size = 4
        tar.addfile(info, io.BytesIO(b"evil"))

    model_dir = fetch_model_data(str(archive), cache_dir)

    assert not outside.exists()
    assert tree(model_dir) == {str(outside).lstrip("/"): b"evil"}


def test_symlink_leaving_the_directory_is_rejected(tmp_path: Path, cache_dir: Path) -> None:
    archive = tmp_path / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        link = tarfile.TarInfo("xgboost-model")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/passwd"
        tar.addfile(link)

    with pytest.raises(ModelLoadError, match="contains an unsafe member"):
        fetch_model_data(str(archive), cache_dir)


def test_unsupported_url_scheme_is_a_load_error(cache_dir: Path) -> None:
    with pytest.raises(ModelLoadError, match="is not supported"):
        fetch_model_data("https://example.com/model.tar.gz", cache_dir)


def test_s3_archive_is_downloaded_and_unpacked(s3: Any, tmp_path: Path, cache_dir: Path) -> None:
    archive = make_archive(tmp_path / "model.tar.gz", FILES)
    s3.put_object(Bucket="bucket", Key="models/m1/model.tar.gz", Body=archive.read_bytes())

    model_dir = fetch_model_data("s3://bucket/models/m1/model.tar.gz", cache_dir)
    local_copy = fetch_model_data(str(archive), cache_dir)

    assert tree(model_dir) == FILES
    assert local_copy == model_dir  # content-addressed: same bytes, same directory
    assert visible_entries(cache_dir) == [model_dir.name]


def test_s3_prefix_copies_every_object_and_follows_overwrites(s3: Any, cache_dir: Path) -> None:
    for name, data in FILES.items():
        s3.put_object(Bucket="bucket", Key=f"models/m1/{name}", Body=data)
    s3.put_object(Bucket="bucket", Key="models/m1-old/xgboost-model", Body=b"sibling")

    first = fetch_model_data("s3://bucket/models/m1", cache_dir)
    same = fetch_model_data("s3://bucket/models/m1/", cache_dir)
    s3.put_object(Bucket="bucket", Key="models/m1/xgboost-model", Body=b"MODEL BYTES")
    overwritten = fetch_model_data("s3://bucket/models/m1/", cache_dir)

    assert tree(first) == FILES  # the sibling prefix m1-old is not swallowed
    assert same == first
    assert overwritten != first  # same size, new bytes: a new copy
    assert tree(overwritten)["xgboost-model"] == b"MODEL BYTES"
    assert sorted(visible_entries(cache_dir)) == sorted([first.name, overwritten.name])


def test_missing_s3_model_data(s3: Any, cache_dir: Path) -> None:
    with pytest.raises(ModelLoadError) as caught:
        fetch_model_data("s3://bucket/models/none/model.tar.gz", cache_dir)

    assert caught.value.message == (
        "Could not find model data at s3://bucket/models/none/model.tar.gz."
    )


def test_corrupt_s3_archive(s3: Any, cache_dir: Path) -> None:
    s3.put_object(Bucket="bucket", Key="model.tar.gz", Body=b"not gzip")

    with pytest.raises(ModelLoadError) as caught:
        fetch_model_data("s3://bucket/model.tar.gz", cache_dir)

    assert caught.value.message.startswith(
        "ModelDataUrl s3://bucket/model.tar.gz is not a valid tar.gz: "
    )
    assert visible_entries(cache_dir) == []


def test_unusable_cache_directory_is_a_load_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_bytes(b"")
    archive = make_archive(tmp_path / "model.tar.gz", FILES)

    with pytest.raises(ModelLoadError, match="into the model cache"):
        fetch_model_data(str(archive), blocker / "cache")


def test_a_server_job_process_reads_model_data_only_under_its_allowed_paths(
    tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CreateModel checked the path; the job process checks where the path leads when it
    reads: a link swapped in since then cannot take it outside the roots."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    inside = make_archive(root / "model.tar.gz", FILES)
    secret = make_archive(outside / "model.tar.gz", FILES)
    settings = Settings(home=tmp_path).restricted((root,), script_mode=True)
    for name, value in settings.job_process_environment().items():
        monkeypatch.setenv(name, value)

    assert tree(fetch_model_data(str(inside), cache_dir)) == FILES
    (root / "swapped.tar.gz").symlink_to(secret)
    for url in (str(secret), f"file://{root}/swapped.tar.gz"):
        with pytest.raises(ModelLoadError, match=r"^ModelDataUrl .* is outside the paths this"):
            fetch_model_data(url, cache_dir)
