"""The event loop of batchform's I/O-bound processes: uvloop where it is installed.

A SingleRecord job over HTTP is one round trip per record between two event loops (the job's
instance and ``serve-model``): uvloop's socket and callback machinery takes ~0.4 ms less per
round trip than asyncio's own on the bench machine (bench/RESULTS.md, issue 14). It is a
dependency on every platform it supports; elsewhere asyncio's loop runs the same code.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)`` on uvloop's event loop when uvloop is installed."""
    try:
        import uvloop
    except ImportError:  # Windows: uvloop does not exist there
        return asyncio.run(main)
    return uvloop.run(main)
