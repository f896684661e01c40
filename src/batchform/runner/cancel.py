"""Cancelling a run: the protocol every executor takes, and the in-process token.

StopTransformJob, Ctrl-C and a lost lease all end in ``cancel()``; an executor only reads
``cancelled`` and passes the request on to its instances in its own way (an event shared with
child processes, ``ray.cancel`` for actors). The token is a plain thread-safe flag, so the jobs
layer and the CLI need nothing of multiprocessing or Ray to stop a run.
"""

from __future__ import annotations

import threading
from typing import Protocol


class Cancel(Protocol):
    """A request to stop a run: set once, read by the executor."""

    def cancel(self) -> None: ...

    @property
    def cancelled(self) -> bool: ...


class CancelToken:
    """Set once to stop a run; safe to set from any thread or a signal handler."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    @property
    def event(self) -> threading.Event:
        """The flag itself, for code that polls ``is_set()`` (the AutoML child's pump)."""
        return self._event

    def wait(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for a cancel; whether one came."""
        return self._event.wait(timeout_s)
