"""A transform job's input objects and the output name of each.

See docs/semantics.md, "Input" and "Output".

``S3Prefix``: every object whose key starts with the prefix, as a plain string prefix.
``ManifestFile``: a JSON array, optionally led by ``{"prefix": "<uri>"}``, listing the objects.
Local paths and ``file://`` URIs work wherever S3 URIs do, within the server's
``--allow-path`` roots (:mod:`batchform.storage.policy`): the input, each object a listing or
manifest yields, and each output are checked where they are read or named.
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass
from typing import BinaryIO

from batchform.errors import ObjectNotFoundError, ValidationError
from batchform.storage.factory import store_for
from batchform.storage.policy import Access, PathPolicy
from batchform.storage.uri import ObjectURI

INPUT_URI_FIELD = "TransformInput.DataSource.S3DataSource.S3Uri"
OUTPUT_PATH_FIELD = "TransformOutput.S3OutputPath"
MANIFEST_MAX_BYTES = 64 * 1024 * 1024
_READ_CHUNK_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class InputObject:
    """One object to transform."""

    uri: ObjectURI
    relative: str  # name relative to the prefix or manifest; the output is <relative>.out
    size_bytes: int | None  # None for manifest entries, which are not looked up


def list_inputs(
    uri: str, data_type: str, *, field: str = INPUT_URI_FIELD, paths: PathPolicy | None = None
) -> list[InputObject]:
    """The objects of a job's input, in processing order.

    ``data_type`` is the ``S3DataType`` wire value (``"S3Prefix"`` or ``"ManifestFile"``;
    ``runner.spec.DataType`` members are such strings). Raises ValidationError when the input
    names no object, the manifest is missing or malformed, two objects would get the same
    output name, or the input or one of its objects is a local path outside ``paths`` (by
    default this process's, :meth:`PathPolicy.of_process`); other storage failures raise
    StorageError.
    """
    policy = PathPolicy.of_process() if paths is None else paths
    policy.check(uri, field, Access.READ)
    location = ObjectURI.parse(uri, field=field)
    if data_type == "S3Prefix":
        objects = _list_prefix(location, uri)
    elif data_type == "ManifestFile":
        objects = parse_manifest(_read_manifest(location, field), source=str(location))
    else:
        raise ValidationError(
            f"S3DataType {data_type!r} is not supported for batch transform; "
            "use S3Prefix or ManifestFile"
        )
    _check_within(objects, policy, f"{field} {uri}")
    _check_distinct_outputs(objects, field)
    return objects


def check_input(
    uri: str, data_type: str, *, field: str = INPUT_URI_FIELD, paths: PathPolicy | None = None
) -> None:
    """Raise ValidationError unless the input names at least one object (within ``paths``).

    For ``S3Prefix`` this is one listing call that stops at the first object, however large
    the input; a manifest is read and checked whole (it is what the job will run), and so is
    a local prefix when ``paths`` restricts local files (each file must be within a root).
    """
    policy = PathPolicy.of_process() if paths is None else paths
    location = ObjectURI.parse(uri, field=field)
    if data_type != "S3Prefix" or (location.scheme == "file" and policy.restricts):
        list_inputs(uri, data_type, field=field, paths=policy)
        return
    try:
        first = next(iter(store_for(location).list(location)), None)
    except ObjectNotFoundError as exc:  # no such bucket: the service answers the same way
        raise ValidationError(_no_objects_message(location, uri)) from exc
    if first is None:
        raise ValidationError(_no_objects_message(location, uri))


def output_uri_for(
    output_path: str, obj: InputObject, *, paths: PathPolicy | None = None
) -> ObjectURI:
    """``<output_path>/<relative>.out``, with exactly one ``/`` between (none at a bucket root).

    For a local output directory a name with a ``..`` component, which would escape it, is a
    ValidationError, and so is an output that leads outside ``paths`` (by default this
    process's, :meth:`PathPolicy.of_process`), e.g. through a symbolic link.
    """
    base = ObjectURI.parse(output_path, field=OUTPUT_PATH_FIELD)
    if base.scheme == "file" and ".." in obj.relative.split("/"):
        raise ValidationError(
            f"{OUTPUT_PATH_FIELD}: the output name {obj.relative!r}.out of {obj.uri} "
            f"would leave the output directory {base.key}"
        )
    output = base.join(obj.relative + ".out")
    policy = PathPolicy.of_process() if paths is None else paths
    policy.check_uri(
        output, f"{OUTPUT_PATH_FIELD} {output_path}: the output {output}", Access.WRITE
    )
    return output


def relative_name(prefix_key: str, key: str) -> str:
    """The output name of ``key`` listed under ``prefix_key`` (docs/semantics.md, "Output").

    The prefix and any leading ``/`` are cut; when the prefix is the whole key, the key's
    basename is used: ``in/`` + ``in/2024/a.csv`` → ``2024/a.csv``; ``data/part`` +
    ``data/part-0001.csv`` → ``-0001.csv``; ``p/b.csv`` + ``p/b.csv`` → ``b.csv``.
    """
    return key[len(prefix_key) :].lstrip("/") or posixpath.basename(key)


def parse_manifest(data: bytes, *, source: str) -> list[InputObject]:
    """The objects a manifest lists; ``source`` names the manifest in error messages.

    With a leading ``{"prefix": P}`` each entry ``E`` is the object ``P + E`` (plain string
    concatenation) and its relative name is ``E``. Without one, each entry must be a full
    ``s3://`` or ``file://`` URI or an absolute path, and its relative name is its key (the path
    without the leading ``/`` for local files), as if the prefix were the bucket or filesystem
    root. The prefix may be an ``s3://`` or ``file://`` URI or an absolute path.
    """
    entries = _decode_manifest(data, source)
    if entries and isinstance(entries[0], dict):
        prefix = _manifest_prefix(entries[0], source)
        objects = [
            _prefixed_object(prefix, entry, index, source)
            for index, entry in enumerate(entries[1:], start=1)
        ]
    else:
        objects = [_full_uri_object(entry, index, source) for index, entry in enumerate(entries)]
    if not objects:
        raise ValidationError(f"manifest {source} lists no objects")
    return objects


def _check_within(objects: list[InputObject], policy: PathPolicy, source: str) -> None:
    # A listing follows links and a manifest names any path: each object is judged itself.
    for obj in objects:
        policy.check_uri(obj.uri, f"{source} names {obj.uri}, which", Access.READ)


def _list_prefix(location: ObjectURI, uri_text: str) -> list[InputObject]:
    try:
        objects = [
            InputObject(info.uri, relative_name(location.key, info.uri.key), info.size_bytes)
            for info in store_for(location).list(location)
        ]
    except ObjectNotFoundError as exc:  # no such bucket: the service answers the same way
        raise ValidationError(_no_objects_message(location, uri_text)) from exc
    if not objects:
        raise ValidationError(_no_objects_message(location, uri_text))
    return objects


def _no_objects_message(location: ObjectURI, uri_text: str) -> str:
    if location.scheme == "s3":
        return (
            f'No S3 objects found under S3 URL "{uri_text}" given in input data source. '
            "Please ensure that the bucket exists, that objects exist under that S3 prefix "
            "and that the caller can list them."
        )
    return (
        f'No files found under path "{uri_text}" given in input data source. '
        "Please ensure that the directory exists, that files exist under that path prefix "
        "and that the caller can read them."
    )


def _read_manifest(location: ObjectURI, field: str) -> bytes:
    try:
        with store_for(location).open_read(location) as reader:
            return _read_capped(reader, location, field)
    except ObjectNotFoundError as exc:
        raise ValidationError(
            f'{field}: manifest file "{location}" given in input data source does not exist'
        ) from exc


def _read_capped(reader: BinaryIO, location: ObjectURI, field: str) -> bytes:
    chunks: list[bytes] = []
    size_bytes = 0
    while chunk := reader.read(_READ_CHUNK_BYTES):
        size_bytes += len(chunk)
        if size_bytes > MANIFEST_MAX_BYTES:
            raise ValidationError(
                f'{field}: manifest file "{location}" is larger than the '
                f"{MANIFEST_MAX_BYTES // (1024 * 1024)} MiB a manifest may have"
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _decode_manifest(data: bytes, source: str) -> list[object]:
    try:
        document = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise ValidationError(f"manifest {source} is not UTF-8 text: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise ValidationError(f"manifest {source} is not valid JSON: {exc}") from exc
    if not isinstance(document, list):
        raise ValidationError(
            f"manifest {source} must be a JSON array of object names, "
            f"not a JSON {type(document).__name__}"
        )
    return document


def _manifest_prefix(element: dict[object, object], source: str) -> str:
    prefix = element.get("prefix")
    if set(element) != {"prefix"} or not isinstance(prefix, str) or not prefix:
        raise ValidationError(
            f'manifest {source}: the first element must be {{"prefix": "<uri>"}} '
            f"with a non-empty string, got {_shown(element)}"
        )
    if not _is_absolute(prefix):
        raise ValidationError(
            f"manifest {source}: prefix {prefix!r} must be an s3:// or file:// URI "
            "or an absolute path"
        )
    return prefix


def _prefixed_object(prefix: str, entry: object, index: int, source: str) -> InputObject:
    name = _entry_text(entry, index, source)
    return InputObject(_manifest_uri(prefix + name, index, source), name, None)


def _full_uri_object(entry: object, index: int, source: str) -> InputObject:
    text = _entry_text(entry, index, source)
    if not _is_absolute(text):
        raise ValidationError(
            f"manifest {source}: entry {index} ({text!r}) must be a full s3:// or file:// URI "
            'or an absolute path, since the manifest has no {"prefix": ...} element'
        )
    uri = _manifest_uri(text, index, source)
    root = "" if uri.scheme == "s3" else "/"
    return InputObject(uri, relative_name(root, uri.key), None)


def _manifest_uri(text: str, index: int, source: str) -> ObjectURI:
    uri = ObjectURI.parse(text, field=f"manifest {source} entry {index}")
    if not uri.key or uri.key.endswith("/"):
        raise ValidationError(
            f"manifest {source}: entry {index} ({text!r}) names a folder, not an object"
        )
    return uri


def _entry_text(entry: object, index: int, source: str) -> str:
    if not isinstance(entry, str) or not entry:
        raise ValidationError(
            f"manifest {source}: entry {index} must be a non-empty string, got {_shown(entry)}"
        )
    return entry


def _is_absolute(text: str) -> bool:
    return text.startswith(("s3://", "file://", "/"))


def _shown(value: object) -> str:
    text = json.dumps(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _check_distinct_outputs(objects: list[InputObject], field: str) -> None:
    # Two inputs with one output name would overwrite each other's results.
    seen: dict[str, InputObject] = {}
    for obj in objects:
        first = seen.setdefault(obj.relative, obj)
        if first is obj:
            continue
        if first.uri == obj.uri:
            raise ValidationError(f"{field}: input {obj.uri} is listed more than once")
        raise ValidationError(
            f"{field}: inputs {first.uri} and {obj.uri} would both be written to the "
            f"output {obj.relative!r}.out"
        )
