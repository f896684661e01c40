"""The user's image catalog: ``$BATCHFORM_HOME/images.toml``.

An image that no built-in runtime answers to is served by something the user registers:

- a :class:`CommandImage`, a process started for each instance that serves the container
  contract (``GET /ping``, ``POST /invocations``) on ``$SAGEMAKER_BIND_TO_PORT``;
- a :class:`UrlImage`, a server that is already running.

The file holds one table per image and may be edited by hand::

    [images."my-registry/churn-model:3"]
    kind = "command"
    command = ["python", "serve.py"]
    ping_deadline_s = 300.0

    [images."my-registry/churn-model:3".environment]
    "THREADS" = "4"

    [images."scorer"]
    kind = "url"
    url = "http://127.0.0.1:8080"

It is read with :mod:`tomllib` and written by the small serializer below (the schema is flat).
Writes replace the file atomically under an exclusive lock on ``images.toml.lock``, so two
concurrent ``add`` calls never lose each other's entry.
"""

from __future__ import annotations

import fcntl
import math
import os
import shlex
import tempfile
import tomllib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from batchform.config import Settings
from batchform.errors import StorageError, ValidationError

MAX_NAME_CHARS = 255  # CreateModel's limit on Image, so a longer name could never be used
DEFAULT_PING_DEADLINE_S = 300.0
_T = TypeVar("_T")
_HEADER = "# batchform image catalog: edit with `batchform images add|remove`, or by hand.\n"


@dataclass(frozen=True, slots=True)
class CommandImage:
    """An image served by a process started for each instance.

    ``command`` is the argv (no shell); the process must answer ``GET /ping`` with 200 within
    ``ping_deadline_s`` of its start. ``environment`` is added to the process's environment.
    """

    name: str
    command: tuple[str, ...]
    ping_deadline_s: float = DEFAULT_PING_DEADLINE_S
    environment: Mapping[str, str] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        _check_name(self.name)
        command = tuple(self.command)
        if not command or not command[0]:
            raise ValidationError(f"Image {self.name!r}: the command must not be empty.")
        for arg in command:
            _check_text(arg, f"Image {self.name!r}: command argument {arg!r}")
        deadline_s = float(self.ping_deadline_s)
        if not math.isfinite(deadline_s) or deadline_s <= 0:
            raise ValidationError(
                f"Image {self.name!r}: ping_deadline_s must be a positive number of seconds, "
                f"got {self.ping_deadline_s!r}."
            )
        environment = dict(self.environment)  # a private copy: the caller's dict may change
        for key, value in environment.items():
            _check_env_entry(self.name, key, value)
        object.__setattr__(self, "command", command)
        object.__setattr__(self, "ping_deadline_s", deadline_s)
        object.__setattr__(self, "environment", environment)


@dataclass(frozen=True, slots=True)
class UrlImage:
    """An image served by a server that is already running at ``url`` (http or https)."""

    name: str
    url: str

    def __post_init__(self) -> None:
        _check_name(self.name)
        _check_url(self.name, self.url)


ImageDefinition = CommandImage | UrlImage


def unknown_image_hint(image: str) -> str:
    """The sentence that tells a user how to register ``image``, ready to copy into a shell."""
    name = shlex.quote(image)
    return (
        f"Register it with: batchform images add {name} --command '<command that serves "
        "GET /ping and POST /invocations on the port in $SAGEMAKER_BIND_TO_PORT>' (a process "
        f"started for each instance), or: batchform images add {name} --url http://host:port "
        "(a server already running)."
    )


class ImageCatalog:
    """The images registered in one ``images.toml``; a missing file is an empty catalog.

    Every call reads the file afresh, so edits by other processes are seen at once. A
    malformed file raises ``ValidationError`` naming the file and the problem; a file that
    cannot be read or written raises ``StorageError``.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock_path = path.with_name(path.name + ".lock")

    @classmethod
    def for_settings(cls, settings: Settings) -> ImageCatalog:
        """The catalog of ``settings.home``."""
        return cls(settings.images_path)

    def get(self, name: str) -> ImageDefinition | None:
        """The image registered under exactly ``name``, or None."""
        return self._read().get(name)

    def all(self) -> list[ImageDefinition]:
        """Every registered image, sorted by name."""
        return sorted(self._read().values(), key=lambda image: image.name)

    def add(self, image: ImageDefinition, *, replace: bool = False) -> None:
        """Register ``image``; ``ValidationError`` if its name is taken and not ``replace``."""
        with self._locked():
            images = self._read()
            if image.name in images and not replace:
                raise ValidationError(
                    f"Image {image.name!r} is already registered in {self.path}; "
                    "use --replace to overwrite it."
                )
            images[image.name] = image
            self._write(images)

    def remove(self, name: str) -> None:
        """Unregister ``name``; ``ValidationError`` if it is not registered."""
        with self._locked():
            images = self._read()
            if images.pop(name, None) is None:
                raise ValidationError(f"Image {name!r} is not registered in {self.path}.")
            self._write(images)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the exclusive lock that serialises read-modify-write cycles."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            lock = self._lock_path.open("a")
        except OSError as exc:
            raise StorageError(f"Cannot lock {self._lock_path}: {exc}") from exc
        # The lock file is never deleted: removing it would let a waiter lock a stale inode.
        with lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def _read(self) -> dict[str, ImageDefinition]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise StorageError(f"Cannot read {self.path}: {exc}") from exc
        try:
            document = tomllib.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise ValidationError(f"{self.path} is not valid UTF-8: {exc}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ValidationError(f"{self.path} is not valid TOML: {exc}") from exc
        return _parse_document(document, self.path)

    def _write(self, images: Mapping[str, ImageDefinition]) -> None:
        text = _HEADER + "".join("\n" + _format_image(image) for image in images.values())
        _replace_atomically(self.path, text.encode("utf-8"))


def _check_name(name: str) -> None:
    if not name or len(name) > MAX_NAME_CHARS or any(ch.isspace() for ch in name):
        raise ValidationError(
            f"Image name {name!r} must be 1-{MAX_NAME_CHARS} characters without whitespace."
        )
    _check_text(name, f"Image name {name!r}")


def _check_text(text: str, what: str) -> None:
    """Refuse text that cannot reach a process (NUL) or a UTF-8 file (lone surrogates)."""
    if "\0" in text:
        raise ValidationError(f"{what} must not contain a NUL character.")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValidationError(f"{what} is not valid Unicode text: {exc.reason}.") from exc


def _check_env_entry(name: str, key: str, value: str) -> None:
    if not key or "=" in key:
        raise ValidationError(
            f"Image {name!r}: environment variable name {key!r} must be non-empty without '='."
        )
    _check_text(key, f"Image {name!r}: environment variable {key!r}")
    _check_text(value, f"Image {name!r}: the value of {key}")


def _check_url(name: str, url: str) -> None:
    problem = _url_problem(url)
    if problem:
        raise ValidationError(
            f"Image {name!r}: url {url!r} {problem}; expected e.g. http://127.0.0.1:8080."
        )


def _url_problem(url: str) -> str | None:
    """Why ``url`` is not the base URL of an HTTP server, or None if it is one."""
    if any(ch.isspace() for ch in url) or not url.isprintable():
        return "contains whitespace or control characters"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return "is not an http:// or https:// URL"
    if not parts.hostname:
        return "has no host"
    try:
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError:
        return "has an invalid port"
    if parts.query or parts.fragment:
        return "must not have a query or fragment (/ping and /invocations are appended)"
    return None


def _parse_document(document: Mapping[str, Any], path: Path) -> dict[str, ImageDefinition]:
    unknown = set(document) - {"images"}
    if unknown:
        raise ValidationError(f"{path}: unknown top-level keys {sorted(unknown)}.")
    tables = document.get("images", {})
    if not isinstance(tables, dict):
        raise ValidationError(f"{path}: 'images' must be a table of [images.\"NAME\"] tables.")
    images: dict[str, ImageDefinition] = {}
    for name, table in tables.items():
        try:
            images[name] = _parse_image(name, table)
        except ValidationError as exc:
            raise ValidationError(f"{path}: {exc.message}") from exc
    return images


_KEYS = {"command": {"kind", "command", "ping_deadline_s", "environment"}, "url": {"kind", "url"}}


def _parse_image(name: str, table: object) -> ImageDefinition:
    """One ``[images."NAME"]`` table as read by tomllib; the dataclass checks the values."""
    if not isinstance(table, dict):
        raise _bad(name, "must be a table.")
    kind = table.get("kind")
    if kind not in _KEYS:
        raise _bad(name, f'kind must be "command" or "url", got {kind!r}.')
    unknown = set(table) - _KEYS[kind]
    if unknown:
        raise _bad(name, f"unknown keys {sorted(unknown)} for kind = {kind!r}.")
    if kind == "url":
        return UrlImage(name=name, url=_typed(name, table, "url", str))
    command = _typed(name, table, "command", list)
    if not all(isinstance(arg, str) for arg in command):
        raise _bad(name, "command must be an array of strings.")
    environment = table.get("environment", {})
    if not isinstance(environment, dict) or not all(
        isinstance(value, str) for value in environment.values()
    ):
        raise _bad(name, "environment must be a table of strings.")
    deadline_s = table.get("ping_deadline_s", DEFAULT_PING_DEADLINE_S)
    if isinstance(deadline_s, bool) or not isinstance(deadline_s, int | float):
        raise _bad(name, f"ping_deadline_s must be a number, got {deadline_s!r}.")
    return CommandImage(name, tuple(command), float(deadline_s), environment)


def _typed(name: str, table: Mapping[str, object], key: str, kind: type[_T]) -> _T:
    value = table.get(key)
    if not isinstance(value, kind):
        raise _bad(name, f"{key} must be a {kind.__name__}, got {value!r}.")
    return value


def _bad(name: str, problem: str) -> ValidationError:
    return ValidationError(f"Image {name!r}: {problem}")


def _format_image(image: ImageDefinition) -> str:
    header = f"[images.{_toml_string(image.name)}]\n"
    if isinstance(image, UrlImage):
        return header + f'kind = "url"\nurl = {_toml_string(image.url)}\n'
    command = ", ".join(_toml_string(arg) for arg in image.command)
    text = (
        header + f'kind = "command"\ncommand = [{command}]\n'
        f"ping_deadline_s = {image.ping_deadline_s!r}\n"
    )
    if image.environment:
        text += f"\n[images.{_toml_string(image.name)}.environment]\n"
        text += "".join(
            f"{_toml_string(key)} = {_toml_string(value)}\n"
            for key, value in image.environment.items()
        )
    return text


_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}


def _toml_string(text: str) -> str:
    """``text`` as a TOML basic string: quotes, backslashes and control characters escaped."""
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ch < " " or ch == "\x7f":
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _replace_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path`` and rename it over ``path``."""
    try:
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise StorageError(f"Cannot write {path}: {exc}") from exc
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except OSError as exc:
        Path(temp).unlink(missing_ok=True)
        raise StorageError(f"Cannot write {path}: {exc}") from exc
