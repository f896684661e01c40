"""Model artifacts: ``ModelDataUrl`` → an unpacked, read-only directory in a shared cache.

SageMaker unpacks ``model.tar.gz`` into ``/opt/ml/model`` before a container starts; here the
archive (or a directory / S3 prefix of files) is unpacked once into a content-addressed
directory under ``cache_dir``, which every process of every job then shares:

* an archive (S3, ``file://`` or a path) is keyed by the sha256 of its bytes: the download
  streams to a temp file while being hashed, and is unpacked only if no copy exists yet;
* a local directory is keyed by its listing (path, size and mtime of every file);
* an S3 prefix is keyed by the sha256 of its objects' names and bytes, hashed while they
  stream down (``ObjectInfo`` carries no ETag, and a listing of names and sizes alone would
  keep serving a model overwritten with one of the same size).

A copy is built in a temp directory and published with one atomic ``rename``; when several
processes race, one rename wins and the others discard their copy, so every process ends with
the same complete directory. Archives are unpacked with tarfile's ``data`` filter, which
rejects absolute paths, ``..`` and links leaving the directory.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import tarfile
import tempfile
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path, PurePosixPath
from typing import IO

from batchform.errors import ModelLoadError, ObjectNotFoundError, StorageError, ValidationError
from batchform.storage.base import ObjectInfo, ObjectStore
from batchform.storage.factory import store_for
from batchform.storage.policy import Access, PathPolicy
from batchform.storage.uri import ObjectURI

CHUNK_BYTES = 1024 * 1024
EMPTY_DIR_NAME = "empty"


def fetch_model_data(model_data_url: str | None, cache_dir: Path) -> Path:
    """The local directory holding ``model_data_url`` unpacked (an empty one for None).

    ``model_data_url`` is an ``s3://`` or ``file://`` URI or a local path, naming a tar.gz
    archive or a directory / prefix of files. Raises :class:`ModelLoadError` when it is
    missing, unreadable or not a valid archive.
    """
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        if model_data_url is None:
            empty = cache_dir / EMPTY_DIR_NAME
            empty.mkdir(exist_ok=True)
            return empty
        return _fetch(model_data_url, cache_dir)
    except OSError as exc:
        raise ModelLoadError(
            f"Could not fetch model data at {model_data_url} into the model cache "
            f"{cache_dir}: {exc}"
        ) from exc


def _fetch(model_data_url: str, cache_dir: Path) -> Path:
    uri = _parse(model_data_url)
    try:
        if uri.scheme == "file":
            _check_allowed(model_data_url, uri)
            return _fetch_local(model_data_url, Path(uri.key), cache_dir)
        return _fetch_s3(model_data_url, uri, store_for(uri), cache_dir)
    except ObjectNotFoundError as exc:
        raise _not_found(model_data_url) from exc
    except StorageError as exc:
        raise ModelLoadError(
            f"Could not read model data at {model_data_url}: {exc.message}"
        ) from exc


def _parse(model_data_url: str) -> ObjectURI:
    try:
        return ObjectURI.parse(model_data_url, field="ModelDataUrl")
    except ValidationError as exc:
        raise ModelLoadError(exc.message) from exc


def _check_allowed(url: str, uri: ObjectURI) -> None:
    """A server's job process checks the path again where it reads it (CreateModel checked it
    too): a link swapped in since, or a server restarted with narrower ``--allow-path``
    roots, must not let a model read outside them."""
    refusal = PathPolicy.of_process().refusal(uri, Access.READ)
    if refusal is not None:
        raise ModelLoadError(f"ModelDataUrl {url} {refusal}")


def _not_found(url: str) -> ModelLoadError:
    return ModelLoadError(f"Could not find model data at {url}.")


def _fetch_local(url: str, path: Path, cache_dir: Path) -> Path:
    if path.is_file():
        with path.open("rb") as stream:
            digest = _sha256(stream)
        return _publish(cache_dir, f"archive-{digest}", lambda target: _unpack(path, target, url))
    if path.is_dir():
        files = _local_listing(path)
        entries = (f"{file}\0{stat.st_size}\0{stat.st_mtime_ns}" for file, stat in files)
        digest = _sha256_of_lines(entries)
        return _publish(cache_dir, f"dir-{digest}", lambda target: _copy_files(path, files, target))
    raise _not_found(url)


def _local_listing(root: Path) -> list[tuple[Path, os.stat_result]]:
    """Every regular file under ``root`` (following links), in path order, with its stat."""
    files: list[tuple[Path, os.stat_result]] = []
    for directory, dirs, names in os.walk(root, followlinks=True):
        dirs.sort()
        for name in sorted(names):
            file = Path(directory) / name
            if file.is_file():
                files.append((file, file.stat()))
    return files


def _copy_files(root: Path, files: Iterable[tuple[Path, os.stat_result]], target: Path) -> None:
    for file, _ in files:
        destination = target / file.relative_to(root)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(file, destination)


def _fetch_s3(url: str, uri: ObjectURI, store: ObjectStore, cache_dir: Path) -> Path:
    if uri.key and not uri.key.endswith("/") and store.exists(uri):
        return _fetch_s3_archive(url, uri, store, cache_dir)
    prefix = uri if not uri.key or uri.key.endswith("/") else uri.with_key(uri.key + "/")
    objects = list(store.list(prefix))
    if not objects:
        raise _not_found(url)
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".download-") as download:
        digest = _download_objects(url, store, prefix, objects, Path(download))
        source = Path(download)
        return _publish(cache_dir, f"prefix-{digest}", lambda target: _move_tree(source, target))


def _fetch_s3_archive(url: str, uri: ObjectURI, store: ObjectStore, cache_dir: Path) -> Path:
    with tempfile.NamedTemporaryFile(dir=cache_dir, prefix=".download-") as archive:
        with store.open_read(uri) as stream:
            digest = _sha256(stream, copy_to=archive)
        archive.flush()
        path = Path(archive.name)
        return _publish(cache_dir, f"archive-{digest}", lambda target: _unpack(path, target, url))


def _download_objects(
    url: str, store: ObjectStore, prefix: ObjectURI, objects: list[ObjectInfo], target: Path
) -> str:
    """Download ``objects`` under ``target``; the sha256 of their names and contents."""
    entries: list[str] = []
    for info in objects:
        relative = _safe_relative(url, info.uri.key[len(prefix.key) :])
        destination = target.joinpath(*relative.parts)
        destination.parent.mkdir(parents=True, exist_ok=True)
        with store.open_read(info.uri) as stream, destination.open("wb") as out:
            entries.append(f"{relative}\0{_sha256(stream, copy_to=out)}")
    return _sha256_of_lines(entries)


def _safe_relative(url: str, relative: str) -> PurePosixPath:
    path = PurePosixPath(relative)
    if not relative or path.is_absolute() or ".." in path.parts:
        raise ModelLoadError(
            f"ModelDataUrl {url} holds an object named {relative!r}, which cannot be placed "
            "inside the model directory; rename it."
        )
    return path


def _move_tree(source: Path, target: Path) -> None:
    for child in source.iterdir():
        child.rename(target / child.name)


def _unpack(archive: Path, target: Path, url: str) -> None:
    try:
        with tarfile.open(archive, mode="r:*") as tar:
            tar.extractall(target, filter="data")
    except tarfile.FilterError as exc:
        raise ModelLoadError(
            f"ModelDataUrl {url} contains an unsafe member ({exc}); rebuild the archive with "
            "relative paths and no links leaving it."
        ) from exc
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise ModelLoadError(
            f"ModelDataUrl {url} is not a valid tar.gz: {exc}. Package the model with "
            "'tar -czf model.tar.gz -C <model dir> .'."
        ) from exc
    except OSError as exc:
        raise ModelLoadError(f"Could not unpack ModelDataUrl {url}: {exc}") from exc


def _publish(cache_dir: Path, name: str, fill: Callable[[Path], None]) -> Path:
    """``cache_dir/name``, built by ``fill`` into a temp dir and renamed atomically.

    If the directory already exists ``fill`` is not called; if another process publishes it
    while ``fill`` runs, that copy wins and this one is discarded.
    """
    final = cache_dir / name
    if final.is_dir():
        return final
    staging = Path(tempfile.mkdtemp(dir=cache_dir, prefix=f".{name}."))
    try:
        fill(staging)
        staging.chmod(0o755)
        try:
            staging.rename(final)
        except OSError:
            if not final.is_dir():
                raise
        return final
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _sha256(stream: IO[bytes], copy_to: IO[bytes] | None = None) -> str:
    """Hex sha256 of everything ``stream`` yields, read in chunks (optionally copied on)."""
    digest = hashlib.sha256()
    while chunk := stream.read(CHUNK_BYTES):
        digest.update(chunk)
        if copy_to is not None:
            copy_to.write(chunk)
    return digest.hexdigest()


def _sha256_of_lines(lines: Iterable[str]) -> str:
    digest = hashlib.sha256()
    for line in lines:
        digest.update(line.encode("utf-8", errors="surrogateescape") + b"\n")
    return digest.hexdigest()
