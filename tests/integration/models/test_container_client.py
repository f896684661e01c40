"""ContainerModel against a real contract server: a small stdlib HTTP server in its own process."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import sys
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import psutil
import pytest

from batchform.errors import InvocationError, ModelLoadError, ModelUnreachableError
from batchform.models.base import Answer, ExecutionParameters
from batchform.models.container import PING_FAILURE_TEXT, ContainerModel
from batchform.models.launcher import ContainerProcess, command_environment, free_port
from tests.conftest import wait_http

T = TypeVar("T")

# Echoes what it received as JSON; a body "<command>:<arg>" asks for a misbehaviour.
SERVER_SCRIPT = r"""
import base64, itertools, json, os, socket, struct, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(os.environ["SAGEMAKER_BIND_TO_PORT"])
EXECUTION_PARAMETERS = os.environ.get("EXECUTION_PARAMETERS")
PING_FAILURES = int(os.environ.get("PING_FAILURES", "0"))
CONNECTIONS = itertools.count(1)
LOCK = threading.Lock()
PINGS = [0]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes

    def setup(self):
        super().setup()
        self.connection_id = next(CONNECTIONS)  # one handler per TCP connection

    def do_GET(self):
        if self.path == "/ping":
            with LOCK:
                PINGS[0] += 1
                failing = PINGS[0] <= PING_FAILURES
            self.reply(503, b"warming up") if failing else self.reply(200, b"")
        elif self.path == "/execution-parameters" and EXECUTION_PARAMETERS is not None:
            self.reply(200, EXECUTION_PARAMETERS.encode(), "application/json")
        else:
            self.reply(404, b"no such route")

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        command, _, arg = body.partition(b":")
        if command == b"status":
            code, _, text = arg.partition(b":")
            self.reply(int(code), text)
        elif command == b"sleep":
            time.sleep(float(arg))
            self.echo(body)
        elif command == b"die":
            os._exit(3)
        elif command == b"reset":
            # Linger 0 + close = RST; detach first, as http.server would shut down with a FIN.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            os.close(self.connection.detach())
            self.close_connection = True
        elif command == b"empty":
            self.send_response(204)
            self.end_headers()
        else:
            self.echo(body)

    def echo(self, body):
        document = {
            "connection": self.connection_id,
            "pings": PINGS[0],
            "headers": {name.lower(): value for name, value in self.headers.items()},
            "body": base64.b64encode(body).decode(),
        }
        self.reply(200, json.dumps(document).encode(), "application/json")

    def reply(self, status, body, content_type="text/plain"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


time.sleep(float(os.environ.get("STARTUP_DELAY_S", "0")))  # a model that loads slowly
server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
server.daemon_threads = True
print(f"contract server listening on {PORT}")
server.serve_forever()
"""


@dataclass(frozen=True)
class Server:
    url: str
    process: ContainerProcess
    log_path: Path


Starter = Callable[..., Server]


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Starter]:
    """Start contract servers (env overrides as keywords), stopped at the end of the test."""
    script = tmp_path / "contract_server.py"
    script.write_text(SERVER_SCRIPT)
    started: list[ContainerProcess] = []

    def start(**env: str) -> Server:
        port = free_port()
        log_path = tmp_path / "logs" / f"server-{len(started)}.log"
        process = ContainerProcess(
            [sys.executable, str(script)],
            env=command_environment(env, model_dir=tmp_path, port=port),
            cwd=tmp_path,
            log_path=log_path,
        )
        process.start()
        started.append(process)
        return Server(f"http://127.0.0.1:{port}", process, log_path)

    yield start
    for process in started:
        process.stop(grace_s=5)


@pytest.fixture
def server(start_server: Starter) -> Server:
    """A healthy default contract server."""
    started = start_server()
    with_model(started.url, lambda m: m.wait_until_healthy(10, process_alive=lambda: True))
    return started


def with_model(url: str, use: Callable[[ContainerModel], Awaitable[T]], **options: Any) -> T:
    """Run ``use(model)`` in a fresh event loop and close the model afterwards."""
    options.setdefault("invocation_timeout_s", 10.0)

    async def main() -> T:
        model = ContainerModel(url, name="contract", **options)
        try:
            return await use(model)
        finally:
            await model.aclose()

    return asyncio.run(main())


def echoed(answer: Answer) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(answer.body)
    document["body"] = base64.b64decode(document["body"])
    return document


def test_wait_until_healthy_polls_through_refusals_and_non_200(start_server: Starter) -> None:
    started = start_server(STARTUP_DELAY_S="0.3", PING_FAILURES="2")

    async def use(model: ContainerModel) -> Answer:
        await model.wait_until_healthy(10, poll_s=0.05, process_alive=lambda: started.process.alive)
        return await model.invoke(b"x", content_type=None, accept=None)

    assert echoed(with_model(started.url, use))["pings"] == 3


def test_wait_until_healthy_fails_at_the_deadline_with_the_ping_reason(
    start_server: Starter,
) -> None:
    started = start_server(PING_FAILURES="1000000")
    wait_http(started.url + "/ping")

    with pytest.raises(ModelLoadError) as caught:
        with_model(started.url, lambda m: m.wait_until_healthy(0.5, poll_s=0.05))

    assert caught.value.message.startswith(PING_FAILURE_TEXT)
    assert "503" in caught.value.message


def test_wait_until_healthy_fails_fast_when_the_process_exits(tmp_path: Path) -> None:
    port = free_port()
    process = ContainerProcess(
        [sys.executable, "-c", "raise SystemExit(3)"],
        env=command_environment({}, model_dir=tmp_path, port=port),
        cwd=tmp_path,
        log_path=tmp_path / "exit.log",
    )
    with process, pytest.raises(ModelLoadError) as caught:
        with_model(
            f"http://127.0.0.1:{port}",
            lambda m: m.wait_until_healthy(60, process_alive=lambda: process.alive),
        )

    # The exit was noticed: waiting out the deadline would say "no HTTP 200 within 60s".
    assert caught.value.message.startswith(PING_FAILURE_TEXT)
    assert "exited" in caught.value.message
    assert "within 60s" not in caught.value.message
    assert process.returncode == 3


def test_ping_other_than_200_is_unreachable(start_server: Starter) -> None:
    started = start_server(PING_FAILURES="1000000")
    wait_http(started.url + "/ping")

    with pytest.raises(ModelUnreachableError, match=f"GET {started.url}/ping answered 503"):
        with_model(started.url, lambda m: m.ping())


@pytest.mark.parametrize(
    ("answered", "expected"),
    [
        (
            '{"MaxConcurrentTransforms": 8, "BatchStrategy": "MULTI_RECORD", "MaxPayloadInMB": 6}',
            ExecutionParameters(8, "MULTI_RECORD", 6),
        ),
        (
            '{"BatchStrategy": "SingleRecord", "MaxPayloadInMB": "big", "Colour": "blue"}',
            ExecutionParameters(None, "SINGLE_RECORD", None),
        ),
        (None, None),  # no route: 404
        ("not json", None),
        ("[8, 6]", None),
    ],
)
def test_execution_parameters(
    start_server: Starter, answered: str | None, expected: ExecutionParameters | None
) -> None:
    env = {"EXECUTION_PARAMETERS": answered} if answered is not None else {}
    started = start_server(**env)

    async def use(model: ContainerModel) -> ExecutionParameters | None:
        await model.wait_until_healthy(10)
        return await model.execution_parameters()

    assert with_model(started.url, use) == expected


@pytest.mark.parametrize(
    ("content_type", "accept"), [("text/csv", None), (None, "application/json"), (None, None)]
)
def test_invoke_sends_the_body_as_is_and_only_the_given_headers(
    server: Server, content_type: str | None, accept: str | None
) -> None:
    body = bytes(range(256)) + b"1,2\r\n\n,\x00"

    answer = with_model(
        server.url, lambda m: m.invoke(body, content_type=content_type, accept=accept)
    )

    seen = echoed(answer)
    assert seen["body"] == body
    assert seen["headers"].get("content-type") == content_type
    assert seen["headers"].get("accept") == accept
    assert seen["headers"]["content-length"] == str(len(body))
    assert "accept-encoding" not in seen["headers"]
    assert answer.content_type == "application/json"


@pytest.mark.parametrize(
    ("status", "text", "retryable"),
    [(400, b"bad record on line 3\nsecond line", False), (415, b"", False), (500, b"boom", True)],
)
def test_invoke_maps_non_2xx_to_invocation_error_with_the_body(
    server: Server, status: int, text: bytes, retryable: bool
) -> None:
    with pytest.raises(InvocationError) as caught:
        with_model(
            server.url,
            lambda m: m.invoke(b"status:%d:%s" % (status, text), content_type=None, accept=None),
        )

    assert (caught.value.status, caught.value.body) == (status, text)
    assert caught.value.retryable is retryable


def test_invoke_204_is_an_empty_answer(server: Server) -> None:
    answer = with_model(server.url, lambda m: m.invoke(b"empty", content_type=None, accept=None))

    assert answer == Answer(b"", None)


def test_invoke_past_the_timeout_is_unreachable(server: Server) -> None:
    # The server would answer (200) after 60 s: an error at all means the timeout cut it short.
    with pytest.raises(ModelUnreachableError) as caught:
        with_model(
            server.url,
            lambda m: m.invoke(b"sleep:60", content_type=None, accept=None),
            invocation_timeout_s=0.3,
        )

    assert caught.value.message == (
        f"Unable to get response from algorithm: no answer from {server.url} within 0.3s"
    )


def test_a_server_killed_mid_request_then_gone_is_unreachable(server: Server) -> None:
    async def use(model: ContainerModel) -> tuple[str, str]:
        with pytest.raises(ModelUnreachableError) as died:
            await model.invoke(b"die", content_type=None, accept=None)
        await asyncio.to_thread(server.process.wait, 10)
        with pytest.raises(ModelUnreachableError) as gone:
            await model.invoke(b"again", content_type=None, accept=None)
        return died.value.message, gone.value.message

    died, gone = with_model(server.url, use)

    assert died.startswith(
        f"Unable to get response from algorithm: connection closed by {server.url}"
    )
    assert gone == f"Unable to get response from algorithm: connection refused by {server.url}"
    assert server.process.returncode == 3


def test_a_reset_connection_is_unreachable(server: Server) -> None:
    with pytest.raises(ModelUnreachableError) as caught:
        with_model(server.url, lambda m: m.invoke(b"reset", content_type=None, accept=None))

    assert caught.value.message.startswith(
        f"Unable to get response from algorithm: connection reset by {server.url} ("
    )
    assert "Connection reset by peer" in caught.value.message


def test_nothing_listening_is_connection_refused(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"

    with pytest.raises(ModelUnreachableError) as caught:
        with_model(url, lambda m: m.invoke(b"1", content_type="text/csv", accept=None))

    assert (
        caught.value.message
        == f"Unable to get response from algorithm: connection refused by {url}"
    )


def test_sequential_invocations_reuse_one_connection(server: Server) -> None:
    async def use(model: ContainerModel) -> list[int]:
        answers = [await model.invoke(b"%d" % i, content_type=None, accept=None) for i in range(5)]
        return [echoed(answer)["connection"] for answer in answers]

    connections = with_model(server.url, use)

    assert len(set(connections)) == 1


def test_concurrent_invocations_stay_within_the_pool(server: Server) -> None:
    async def use(model: ContainerModel) -> list[int]:
        calls = [model.invoke(b"sleep:0.1", content_type=None, accept=None) for _ in range(8)]
        return [echoed(answer)["connection"] for answer in await asyncio.gather(*calls)]

    connections = with_model(server.url, use, max_connections=3)

    assert len(set(connections)) == 3


def test_connections_have_tcp_nodelay(server: Server) -> None:
    port = int(server.url.rsplit(":", 1)[1])

    async def use(model: ContainerModel) -> list[int]:
        await model.invoke(b"1", content_type=None, accept=None)
        return [_nodelay(conn.fd) for conn in _connections_to(port)]  # while still pooled

    flags = with_model(server.url, use)

    assert flags
    assert all(flags)


def _connections_to(port: int) -> list[Any]:
    return [
        conn
        for conn in psutil.Process().net_connections(kind="tcp")
        if conn.raddr and conn.raddr.port == port
    ]


def _nodelay(fd: int) -> int:
    with socket.socket(fileno=os.dup(fd)) as sock:
        return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


class _ImportSearches:
    """A meta path finder that only counts the module searches that reach it."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        self.names.append(name)


def test_invocations_search_for_no_module(server: Server) -> None:
    # A failed import is not cached: an `import x` of a missing module inside the HTTP
    # stack (httpcore's sniffio) searched sys.path on every request, +0.6 ms each.
    searches = _ImportSearches()

    async def invoke_many(model: ContainerModel) -> None:
        await model.invoke(b"warm", content_type="text/csv", accept=None)  # lazy imports
        sys.meta_path.insert(0, searches)
        try:
            for _ in range(20):
                await model.invoke(b"1,2", content_type="text/csv", accept=None)
        finally:
            sys.meta_path.remove(searches)

    with_model(server.url, invoke_many)

    assert searches.names == []
