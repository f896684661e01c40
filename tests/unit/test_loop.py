"""batchform.loop.run: uvloop's event loop where uvloop is installed (a base dependency)."""

from __future__ import annotations

import asyncio
import sys

import pytest

from batchform import loop


async def _loop_module() -> str:
    await asyncio.to_thread(lambda: None)  # threads hand results back as on asyncio's loop
    return type(asyncio.get_running_loop()).__module__


@pytest.mark.skipif(sys.platform == "win32", reason="uvloop is not built for Windows")
def test_runs_on_uvloop() -> None:
    assert loop.run(_loop_module()).startswith("uvloop")


def test_without_uvloop_it_is_asyncio_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop now raises ImportError
    assert loop.run(_loop_module()).startswith("asyncio")
