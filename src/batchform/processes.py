"""Process helpers for the processes batchform starts (transform instances, AutoML children)."""

from __future__ import annotations

import os


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie counts as dead).

    A job's child checks its owner this way rather than through its parent: an instance's
    parent is the forkserver, which outlives a killed owner, so an orphan would never notice.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True
