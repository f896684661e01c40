"""The API app served as `batchform server` serves it: uvicorn with `batchform.api.limits`."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.applications import Starlette

from batchform.api.limits import REQUEST_READ_TIMEOUT_S, uvicorn_settings

STARTUP_DEADLINE_S = 10.0


@contextmanager
def serving_guarded(
    app: Starlette, request_read_timeout_s: float = REQUEST_READ_TIMEOUT_S
) -> Iterator[str]:
    """Serve ``app`` on a free loopback port with the server's limits; yields its base URL."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        ws="none",
        **uvicorn_settings(request_read_timeout_s),
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        _wait_started(server, thread)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        listener.close()


def _wait_started(server: uvicorn.Server, thread: threading.Thread) -> None:
    deadline = time.monotonic() + STARTUP_DEADLINE_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the API server did not start")
        time.sleep(0.01)
