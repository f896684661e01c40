"""``PathPolicy``: local paths judged by where they really lead."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from batchform.config import ALLOW_PATHS_ENV, Settings
from batchform.errors import StorageError, ValidationError
from batchform.storage.local import LocalWriter
from batchform.storage.policy import Access, PathPolicy
from batchform.storage.uri import ObjectURI


def test_unrestricted_allows_everything() -> None:
    PathPolicy.for_roots(None).check("/etc/passwd", "f", Access.READ)


def test_s3_is_never_restricted() -> None:
    PathPolicy.for_roots(()).check("s3://bucket/key", "f", Access.WRITE)


def test_a_string_prefix_reaching_a_sibling_is_judged_per_object(tmp_path: Path) -> None:
    policy = PathPolicy.for_roots((tmp_path / "data",))
    sibling = ObjectURI.parse(str(tmp_path / "data2" / "x.csv"))

    assert policy.refusal(ObjectURI.parse(str(tmp_path / "data")), Access.READ) is None
    assert policy.refusal(sibling, Access.READ) is not None


def test_a_root_given_through_a_link_is_resolved(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "real", target_is_directory=True)
    policy = PathPolicy.for_roots((tmp_path / "alias",))

    policy.check(str(tmp_path / "real" / "a.csv"), "f", Access.READ)


def test_the_server_exports_its_roots_to_its_job_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(home=tmp_path).restricted((tmp_path / "a",), script_mode=True)
    for name, value in settings.job_process_environment().items():
        monkeypatch.setenv(name, value)

    policy = PathPolicy.of_process()

    assert policy.roots == (Path(os.path.realpath(tmp_path / "a")),)
    with pytest.raises(ValidationError, match="outside the paths this server may write"):
        policy.check(str(tmp_path / "b"), "f", Access.WRITE)
    monkeypatch.delenv(ALLOW_PATHS_ENV)
    assert not PathPolicy.of_process().restricts


def test_a_write_through_a_link_swapped_in_is_refused_and_nothing_published(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "out").mkdir(parents=True)
    outside.mkdir()
    monkeypatch.setenv(ALLOW_PATHS_ENV, str(root))
    writer = LocalWriter(ObjectURI.parse(str(root / "out" / "a.csv.out")))
    writer.write(b"1\n")
    (root / "out").rename(root / "was-out")  # the directory is swapped for a link leading out
    (root / "out").symlink_to(outside, target_is_directory=True)

    with pytest.raises(StorageError, match="outside the paths this server may write"):
        writer.commit()
    with pytest.raises(StorageError, match="outside the paths this server may write"):
        LocalWriter(ObjectURI.parse(str(root / "out" / "b.csv.out")))
    assert list(outside.iterdir()) == []
