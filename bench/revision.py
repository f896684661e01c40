"""Benchmark a committed revision of the product instead of the (shared, changing) work tree.

``python -m bench.run --rev a11c2d9`` exports ``src/`` of that commit with ``git archive``
(read-only: no checkout, no worktree) into ``bench/data/src/<sha>/`` and puts it first on
``PYTHONPATH`` for every batchform process the run starts, ahead of the editable install.
"""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from pathlib import Path

from bench.data import DATA_DIR

ROOT = Path(__file__).resolve().parent.parent


def git(*args: str) -> str:
    """``git`` output in the repository (read-only commands only)."""
    done = subprocess.run(
        ["git", "-C", str(ROOT), *args], check=False, capture_output=True, text=True
    )
    return done.stdout if done.returncode == 0 else "unknown"


def use_revision(rev: str) -> str:
    """Export ``src/`` at ``rev`` (once) and make child processes import it; its description."""
    source, sha = exported(rev)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(source), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    return f"`{git('log', '-1', '--format=%h %s', sha).strip()[:90]}` (exported with git archive)"


def exported(rev: str) -> tuple[Path, str]:
    """``src/`` of ``rev`` exported (once) under ``bench/data/src/<sha>/``, and the sha."""
    sha = git("rev-parse", "--verify", f"{rev}^{{commit}}").strip()
    if not sha or sha == "unknown":
        raise SystemExit(f"--rev {rev}: not a commit of this repository")
    target = DATA_DIR / "src" / sha
    if not (target / "src").is_dir():
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", "--format=tar", sha, "src"],
            check=True,
            capture_output=True,
        ).stdout
        partial = target.with_name(f"{sha}.partial")
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(partial, filter="data")
        partial.rename(target)
    return target / "src", sha


def work_tree() -> str:
    """The commit under the work tree, and the product files changed since (it is shared)."""
    head = git("log", "-1", "--format=%h %s").strip()
    changed = git("status", "--porcelain", "--", "src").splitlines()
    dirty = ", ".join(line[3:] for line in changed) if changed else "none"
    return f"work tree at `{head[:90]}`; uncommitted changes under src/: {dirty}"
