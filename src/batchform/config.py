"""Typed settings, read once at the edge (the CLI) and passed down."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from batchform.errors import ValidationError

DEFAULT_HOME = "~/.batchform"


@dataclass(frozen=True, slots=True)
class Settings:
    """Where batchform keeps its state.

    ``home`` holds the model cache (``models/``), job logs (``logs/``) and, for the server,
    the database.
    """

    home: Path

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

    @classmethod
    def load(cls, home: str | None = None, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from an explicit ``--home``, else ``BATCHFORM_HOME``, else ``~/.batchform``."""
        env = os.environ if environ is None else environ
        raw = home or env.get("BATCHFORM_HOME") or DEFAULT_HOME
        path = Path(raw).expanduser()
        if path.exists() and not path.is_dir():
            raise ValidationError(f"BATCHFORM_HOME={raw!r} exists and is not a directory")
        return cls(home=path.resolve())
