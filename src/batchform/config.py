"""Typed settings, read once at the edge (the CLI) and passed down."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from batchform.errors import ValidationError

DEFAULT_HOME = "~/.batchform"
# How `batchform server` hands its trust boundary to the job processes it starts (instances
# and AutoML children inherit the server's environment); nothing else should set them.
ALLOW_PATHS_ENV = "BATCHFORM_ALLOW_PATHS"
SCRIPT_MODE_ENV = "BATCHFORM_SCRIPT_MODE"


@dataclass(frozen=True, slots=True)
class Settings:
    """Where batchform keeps its state, and what API callers may make it touch.

    ``home`` holds the model cache (``models/``), job logs (``logs/``) and, for the server,
    the database. ``allowed_paths`` are the local roots that ``file://`` URIs and paths in
    API requests must lie under: ``None`` is unrestricted (the one-shot ``batchform
    transform``, and a library user), an empty tuple allows no local path at all (``batchform
    server`` without ``--allow-path``). ``script_mode`` False refuses to run code shipped in
    model data (``code/inference.py``, ``SAGEMAKER_PROGRAM``).
    """

    home: Path
    allowed_paths: tuple[Path, ...] | None = None
    script_mode: bool = True

    @property
    def model_cache_dir(self) -> Path:
        return self.home / "models"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def images_path(self) -> Path:
        """The user's registered images (``batchform images add``)."""
        return self.home / "images.toml"

    @property
    def keys_path(self) -> Path:
        """The access keys the server accepts (``batchform keys create``); mode 0600."""
        return self.home / "keys.json"

    def restricted(self, allowed_paths: tuple[Path, ...], *, script_mode: bool) -> Settings:
        """These settings with a server's trust boundary; the roots made absolute."""
        roots = tuple(Path(os.path.abspath(os.path.expanduser(root))) for root in allowed_paths)
        return replace(self, allowed_paths=roots, script_mode=script_mode)

    def job_process_environment(self) -> dict[str, str]:
        """The variables that carry the trust boundary to the server's job processes."""
        environment = {SCRIPT_MODE_ENV: "on" if self.script_mode else "off"}
        if self.allowed_paths is not None:
            environment[ALLOW_PATHS_ENV] = os.pathsep.join(str(p) for p in self.allowed_paths)
        return environment

    @classmethod
    def load(cls, home: str | None = None, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from an explicit ``--home``, else ``BATCHFORM_HOME``, else ``~/.batchform``."""
        env = os.environ if environ is None else environ
        raw = home or env.get("BATCHFORM_HOME") or DEFAULT_HOME
        path = Path(raw).expanduser()
        if path.exists() and not path.is_dir():
            raise ValidationError(f"BATCHFORM_HOME={raw!r} exists and is not a directory")
        return cls(home=path.resolve())


def script_mode_allowed(environ: Mapping[str, str] | None = None) -> bool:
    """Whether this process may run code from model data: off only in the job processes of a
    ``batchform server --no-script-mode``."""
    env = os.environ if environ is None else environ
    return env.get(SCRIPT_MODE_ENV, "on") != "off"


def allowed_paths_of_process(environ: Mapping[str, str] | None = None) -> tuple[Path, ...] | None:
    """The local roots of this process: None (unrestricted) unless it is, or was started by,
    a ``batchform server``, which exports them (:meth:`Settings.job_process_environment`)."""
    env = os.environ if environ is None else environ
    raw = env.get(ALLOW_PATHS_ENV)
    if raw is None:
        return None
    return tuple(Path(part) for part in raw.split(os.pathsep) if part)
