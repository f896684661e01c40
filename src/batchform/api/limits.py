"""How long and how much the API server waits for a client: uvicorn's settings, in one place.

uvicorn alone does not bound a client that connects and then sends nothing, half a request
line, half the headers, or less body than its ``Content-Length``: its keep-alive timeout only
runs *between* requests, so each such client holds a connection (and a task waiting on the
body) for ever. :class:`GuardedH11Protocol` adds the missing clock: a request must be read
whole — request line, headers and body — within ``request_read_timeout_s`` of its first byte
(or of the connection, for the first request), or the connection is closed. The deadline is
for the whole request, not per read, so dripping one byte at a time does not extend it.

Use :func:`uvicorn_settings` as keyword arguments of ``uvicorn.Config`` / ``uvicorn.run``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

# The whole request must arrive within this: 4 MiB (protocol.MAX_REQUEST_BYTES) in 30 s is
# ~140 KB/s, slower than any client we serve; a stalled one is dropped well before it matters.
REQUEST_READ_TIMEOUT_S = 30.0
# Idle time allowed between requests on a kept-alive connection (uvicorn's default).
KEEP_ALIVE_TIMEOUT_S = 5
# Request line plus headers; a SigV4-signed call's are about 2 KiB (h11's default).
MAX_HEADER_BYTES = 16 * 1024
# Connections plus running requests before new requests are answered 503: a bound on memory
# (each request may hold a 4 MiB body) that stays below the usual 1024 open files.
MAX_CONCURRENCY = 512

# The client's h11 states in which its request has been read whole (or never will be).
_REQUEST_READ = frozenset({h11.DONE, h11.MUST_CLOSE, h11.CLOSED, h11.ERROR})


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for reading each request."""

    request_read_timeout_s = REQUEST_READ_TIMEOUT_S
    _read_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_read_deadline()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state in _REQUEST_READ:
            self._disarm_read_deadline()
        else:  # a request has begun (or continues): it has until the deadline set at its start
            self._arm_read_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_read_deadline()
        super().connection_lost(exc)

    def _arm_read_deadline(self) -> None:
        if self._read_deadline is None:
            self._read_deadline = self.loop.call_later(
                self.request_read_timeout_s, self._read_timed_out
            )

    def _disarm_read_deadline(self) -> None:
        if self._read_deadline is not None:
            self._read_deadline.cancel()
            self._read_deadline = None

    def _read_timed_out(self) -> None:
        self._read_deadline = None
        if not self.transport.is_closing():
            # asyncio then calls connection_lost, which tells a task waiting for the body that
            # the client is gone.
            self.transport.close()


def guarded_protocol(request_read_timeout_s: float) -> type[GuardedH11Protocol]:
    """A :class:`GuardedH11Protocol` with another deadline (tests use a short one)."""
    return type(
        "GuardedH11Protocol",
        (GuardedH11Protocol,),
        {"request_read_timeout_s": request_read_timeout_s},
    )


def uvicorn_settings(request_read_timeout_s: float = REQUEST_READ_TIMEOUT_S) -> dict[str, Any]:
    """The keyword arguments of ``uvicorn.Config`` that bound what one client can hold."""
    return {
        "http": guarded_protocol(request_read_timeout_s),
        "timeout_keep_alive": KEEP_ALIVE_TIMEOUT_S,
        "h11_max_incomplete_event_size": MAX_HEADER_BYTES,
        "limit_concurrency": MAX_CONCURRENCY,
    }
