"""LocalStore on a real filesystem (tmp_path)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from batchform.errors import InternalError, ObjectNotFoundError, StorageError
from batchform.storage.local import LocalStore
from batchform.storage.uri import ObjectURI

store = LocalStore()


def _make(root: Path, *relatives: str) -> None:
    for relative in relatives:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(relative.encode())


def _listed(prefix: str) -> list[str]:
    return [info.uri.key for info in store.list(ObjectURI.parse(prefix))]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    _make(
        tmp_path,
        "in/a.csv",
        "in/sub/b.csv",
        "in/sub/deeper/c.csv",
        "in.csv",
        "in-x/d.csv",
        "input2/e.csv",
        "other/f.csv",
    )
    (tmp_path / "in" / "empty-dir").mkdir()
    return tmp_path


def test_prefix_is_a_plain_string_prefix_in_path_order(tree: Path) -> None:
    root = tree.as_posix()
    # "-" and "." sort before "/", so in-x/ and in.csv precede in/ exactly as S3 keys would.
    assert _listed(f"{root}/in") == [
        f"{root}/in-x/d.csv",
        f"{root}/in.csv",
        f"{root}/in/a.csv",
        f"{root}/in/sub/b.csv",
        f"{root}/in/sub/deeper/c.csv",
        f"{root}/input2/e.csv",
    ]


def test_trailing_slash_excludes_sibling_prefixes(tree: Path) -> None:
    root = tree.as_posix()
    assert _listed(f"{root}/in/") == [
        f"{root}/in/a.csv",
        f"{root}/in/sub/b.csv",
        f"{root}/in/sub/deeper/c.csv",
    ]
    assert _listed(f"file://{root}/in/sub/") == [
        f"{root}/in/sub/b.csv",
        f"{root}/in/sub/deeper/c.csv",
    ]


def test_a_prefix_equal_to_a_file_matches_it_and_longer_names(tree: Path) -> None:
    _make(tree, "in/a.csv.bak")
    root = tree.as_posix()
    assert _listed(f"{root}/in/a.csv") == [f"{root}/in/a.csv", f"{root}/in/a.csv.bak"]


def test_sizes_are_reported(tree: Path) -> None:
    (info,) = store.list(ObjectURI.parse(f"{tree}/in/a.csv"))
    assert info.size_bytes == len(b"in/a.csv")


def test_missing_directories_and_empty_folders_yield_nothing(tree: Path) -> None:
    assert _listed(f"{tree}/nowhere/") == []
    assert _listed(f"{tree}/nowhere/x") == []
    assert _listed(f"{tree}/in/empty-dir/") == []
    assert _listed(f"{tree}/in/a.csv/") == []


def test_hidden_files_are_objects(tree: Path) -> None:
    _make(tree, "in/.hidden")
    assert f"{tree}/in/.hidden" in _listed(f"{tree}/in/")


def test_a_symlink_cycle_is_walked_once(tree: Path) -> None:
    os.symlink(tree / "in" / "sub", tree / "in" / "sub" / "loop")
    assert _listed(f"{tree}/in/sub/") == [f"{tree}/in/sub/b.csv", f"{tree}/in/sub/deeper/c.csv"]


def test_open_read_streams_the_bytes(tmp_path: Path) -> None:
    data = os.urandom(300_000)
    (tmp_path / "blob").write_bytes(data)
    with store.open_read(ObjectURI.parse(str(tmp_path / "blob"))) as reader:
        first = reader.read(1000)
        rest = reader.read()
        assert reader.read(10) == b""
    assert first + rest == data
    assert len(first) == 1000


def test_open_read_of_a_missing_file_names_it(tmp_path: Path) -> None:
    uri = ObjectURI.parse(str(tmp_path / "missing.csv"))
    with pytest.raises(ObjectNotFoundError, match=f"file://{tmp_path}/missing.csv does not exist"):
        store.open_read(uri)
    with pytest.raises(ObjectNotFoundError):
        store.open_read(ObjectURI.parse(str(tmp_path)))


def test_exists(tree: Path) -> None:
    assert store.exists(ObjectURI.parse(f"{tree}/in/a.csv"))
    assert not store.exists(ObjectURI.parse(f"{tree}/in"))
    assert not store.exists(ObjectURI.parse(f"{tree}/in/nope"))


def test_a_write_is_invisible_until_commit(tmp_path: Path) -> None:
    target = tmp_path / "out" / "deep" / "a.csv.out"
    uri = ObjectURI.parse(str(target))
    with store.open_write(uri) as writer:
        writer.write(b"hello ")
        writer.write(b"world")
        assert not target.exists()
        assert _listed(f"{tmp_path}/out/") == []
        writer.commit()
    assert target.read_bytes() == b"hello world"
    assert os.listdir(target.parent) == ["a.csv.out"]
    assert _listed(f"{tmp_path}/out/") == [target.as_posix()]


def test_commit_replaces_an_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "a.out"
    target.write_bytes(b"old")
    with store.open_write(ObjectURI.parse(str(target))) as writer:
        writer.write(b"new")
        assert target.read_bytes() == b"old"
        writer.commit()
    assert target.read_bytes() == b"new"


def test_a_failed_write_leaves_nothing_behind(tmp_path: Path) -> None:
    target = tmp_path / "out" / "a.csv.out"
    with (
        pytest.raises(RuntimeError, match="model failed"),
        store.open_write(ObjectURI.parse(str(target))) as writer,
    ):
        writer.write(b"partial")
        raise RuntimeError("model failed")
    assert os.listdir(target.parent) == []


def test_exit_without_commit_aborts(tmp_path: Path) -> None:
    with store.open_write(ObjectURI.parse(str(tmp_path / "a.out"))) as writer:
        writer.write(b"x")
    assert os.listdir(tmp_path) == []
    with pytest.raises(InternalError, match="already closed"):
        writer.commit()


def test_committed_files_get_the_usual_permissions(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        with store.open_write(ObjectURI.parse(str(tmp_path / "a.out"))) as writer:
            writer.commit()
    finally:
        os.umask(previous)
    assert (tmp_path / "a.out").stat().st_mode & 0o777 == 0o644


def test_a_write_that_cannot_start_is_a_storage_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(StorageError, match=f"cannot write file://{tmp_path}/file/a.out"):
        store.open_write(ObjectURI.parse(str(tmp_path / "file" / "a.out")))
