"""Slow, half-open and idle clients against the server's limits (batchform.api.limits).

A client that stops half way through its request is disconnected within the read deadline
while other clients are served; many idle connections do not keep new requests out.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from batchform.api.app import build_app
from batchform.api.limits import uvicorn_settings
from batchform.jobs.service import JobService
from tests.integration.api.guarded_serving import serving_guarded

READ_TIMEOUT_S = 1.0  # the server's deadline in these tests
CLOSE_WITHIN_S = READ_TIMEOUT_S + 4.0  # the deadline, plus slack for loaded CI machines
IDLE_CONNECTIONS = 100

HALF_REQUESTS = {
    "nothing": b"",
    "half a request line": b"POST / HT",
    "half the headers": b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Tar",
    "less body than declared": (
        b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Target: SageMaker.ListModels\r\n"
        b"Content-Type: application/x-amz-json-1.1\r\nContent-Length: 100\r\n\r\n{}"
    ),
}


@pytest.fixture
def guarded_endpoint(service: JobService) -> Iterator[str]:
    with serving_guarded(build_app(service), request_read_timeout_s=READ_TIMEOUT_S) as url:
        yield url


def test_the_settings_bound_every_wait() -> None:
    settings = uvicorn_settings()
    assert settings["timeout_keep_alive"] > 0
    assert settings["h11_max_incomplete_event_size"] > 0
    assert settings["limit_concurrency"] > IDLE_CONNECTIONS
    assert settings["http"].request_read_timeout_s > 0


@pytest.mark.parametrize("sent", list(HALF_REQUESTS.values()), ids=list(HALF_REQUESTS))
def test_a_half_sent_request_is_disconnected_while_others_are_served(
    guarded_endpoint: str, sent: bytes
) -> None:
    with _connect(guarded_endpoint) as stalled:
        stalled.sendall(sent)
        started = time.monotonic()
        assert _list_models(guarded_endpoint).status_code == 200
        _wait_closed(stalled, CLOSE_WITHIN_S)
        assert time.monotonic() - started >= READ_TIMEOUT_S * 0.5
    assert _list_models(guarded_endpoint).status_code == 200


def test_dripping_bytes_does_not_extend_the_deadline(guarded_endpoint: str) -> None:
    request = HALF_REQUESTS["half the headers"]
    with _connect(guarded_endpoint) as dripping:
        deadline = time.monotonic() + CLOSE_WITHIN_S
        for byte in request:
            try:
                dripping.sendall(bytes([byte]))
            except OSError:
                break  # closed: what we want
            if _closed_within(dripping, READ_TIMEOUT_S / 5):
                break
            assert time.monotonic() < deadline, "the dripping client is still connected"
        else:
            _wait_closed(dripping, max(0.1, deadline - time.monotonic()))


def test_many_idle_connections_do_not_keep_new_requests_out(guarded_endpoint: str) -> None:
    idle = [_connect(guarded_endpoint) for _ in range(IDLE_CONNECTIONS)]
    try:
        started = time.monotonic()
        assert _list_models(guarded_endpoint).status_code == 200
        assert time.monotonic() - started < READ_TIMEOUT_S
        for connection in idle:  # and the server lets them go
            _wait_closed(connection, CLOSE_WITHIN_S)
        assert _list_models(guarded_endpoint).status_code == 200
    finally:
        for connection in idle:
            connection.close()


def test_an_endless_header_block_is_refused_before_the_deadline(guarded_endpoint: str) -> None:
    padding = b"x" * (2 * uvicorn_settings()["h11_max_incomplete_event_size"])
    with _connect(guarded_endpoint) as endless:
        started = time.monotonic()
        endless.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + padding)
        endless.settimeout(CLOSE_WITHIN_S)
        answer = endless.recv(65536)
        assert answer.startswith(b"HTTP/1.1 400"), answer[:100]
        assert time.monotonic() - started < READ_TIMEOUT_S
    assert _list_models(guarded_endpoint).status_code == 200


def _connect(endpoint: str) -> socket.socket:
    address = urlsplit(endpoint)
    assert address.hostname is not None and address.port is not None
    return socket.create_connection((address.hostname, address.port), timeout=CLOSE_WITHIN_S)


def _list_models(endpoint: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(
        endpoint,
        content=b"{}",
        headers={
            "X-Amz-Target": "SageMaker.ListModels",
            "Content-Type": "application/x-amz-json-1.1",
            **(headers or {}),
        },
        timeout=CLOSE_WITHIN_S,
    )


def _closed_within(connection: socket.socket, timeout_s: float) -> bool:
    """Whether the server closed ``connection`` within ``timeout_s`` (data it sends, such as
    an error answer, is read and dropped)."""
    connection.settimeout(timeout_s)
    try:
        while connection.recv(65536):
            pass
    except TimeoutError:
        return False
    except ConnectionError:
        return True
    return True


def _wait_closed(connection: socket.socket, timeout_s: float) -> None:
    assert _closed_within(connection, timeout_s), f"still connected after {timeout_s} s"
