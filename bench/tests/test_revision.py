"""Benchmarking a committed revision: its src/ exported read-only and imported first."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench import revision


def test_a_revision_is_exported_and_imported_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(revision, "DATA_DIR", tmp_path)
    monkeypatch.setenv("PYTHONPATH", "/elsewhere")

    described = revision.use_revision("HEAD")

    sha = revision.git("rev-parse", "HEAD").strip()
    exported = tmp_path / "src" / sha / "src"
    assert (exported / "batchform" / "__init__.py").is_file()
    assert os.environ["PYTHONPATH"] == f"{exported}{os.pathsep}/elsewhere"
    assert described.startswith(f"`{sha[:7]}")
    imported = subprocess.run(
        [sys.executable, "-c", "import batchform; print(batchform.__file__)"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    assert imported.startswith(str(exported))


def test_an_unknown_revision_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(revision, "DATA_DIR", tmp_path)

    with pytest.raises(SystemExit, match="not a commit"):
        revision.use_revision("no-such-revision-anywhere")
