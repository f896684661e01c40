"""A fault-injecting HTTP proxy for S3: put it between batchform and moto.

``FaultProxy(upstream_url)`` listens on a free loopback port (``proxy.url``, to set as
``AWS_ENDPOINT_URL_S3``) and forwards each request to ``upstream_url``, unless a :class:`Rule`
matches it: rules name a request kind (``ListObjectsV2``, ``GetObject``, ``UploadPart``,
``CompleteMultipartUpload``, ``PutObject``, …), optionally a substring of the key, and a fault:

- ``reset``: the connection is closed with a TCP RST, nothing answered;
- ``500`` / ``503`` / ``403``: an S3 XML error (``InternalError``, ``SlowDown``, ``AccessDenied``);
- ``truncate``: the real answer's headers (its full Content-Length), half its body, then close;
- ``stall``: nothing for ``stall_s`` seconds, then close.

A rule fires for its first ``times`` matching requests, or for each with ``probability`` drawn
from a seeded RNG (so a run is repeatable). ``proxy.seen`` records every request's kind, key and
what was done to it. Path-style addressing only (what botocore uses for a loopback endpoint).
"""

from __future__ import annotations

import asyncio
import http.client
import random
import socket
import struct
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

Fault = Literal["reset", "500", "503", "403", "truncate", "stall"]

_ERRORS: dict[str, tuple[int, str, str, str]] = {
    "500": (500, "Internal Server Error", "InternalError", "We encountered an internal error."),
    "503": (503, "Slow Down", "SlowDown", "Please reduce your request rate."),
    "403": (403, "Forbidden", "AccessDenied", "Access Denied"),
}


@dataclass
class Rule:
    """Inject ``fault`` into requests of ``kind`` (whose key contains ``key_contains``)."""

    kind: str
    fault: Fault
    key_contains: str = ""
    times: int | None = 1  # the first N matches; None: every match (or by probability)
    probability: float | None = None
    stall_s: float = 5.0
    fired: int = 0

    def matches(self, kind: str, key: str) -> bool:
        return kind == self.kind and self.key_contains in key


@dataclass(frozen=True, slots=True)
class Seen:
    """One request the proxy handled, and the fault injected (``None``: forwarded)."""

    kind: str
    key: str
    fault: Fault | None


@dataclass
class _Request:
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes

    @property
    def path_and_query(self) -> tuple[str, dict[str, list[str]]]:
        parts = urllib.parse.urlsplit(self.target)
        return urllib.parse.unquote(parts.path), urllib.parse.parse_qs(
            parts.query, keep_blank_values=True
        )


def request_kind(method: str, target: str) -> tuple[str, str]:
    """The S3 operation of a path-style request, and its key (``""`` for bucket operations)."""
    parts = urllib.parse.urlsplit(target)
    query = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
    _, _, key = urllib.parse.unquote(parts.path).lstrip("/").partition("/")
    if not key:
        if method == "GET" and query.get("list-type") == ["2"]:
            return "ListObjectsV2", ""
        if method == "GET" and "uploads" in query:
            return "ListMultipartUploads", ""
        return f"{method}Bucket", ""
    kinds = {
        ("PUT", True): "UploadPart",
        ("POST", True): "CompleteMultipartUpload",
        ("DELETE", True): "AbortMultipartUpload",
    }
    if (method, "uploadId" in query) in kinds:
        return kinds[(method, "uploadId" in query)], key
    if method == "POST" and "uploads" in query:
        return "CreateMultipartUpload", key
    simple = {"GET": "GetObject", "PUT": "PutObject", "HEAD": "HeadObject"}
    return simple.get(method, f"{method}Object"), key


@dataclass
class FaultProxy:
    """The proxy, served by an asyncio loop in a daemon thread; use as a context manager."""

    upstream: str
    seed: int = 11
    rules: list[Rule] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    port: int = 0

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="fault-proxy", daemon=True)
        self._server: asyncio.Server | None = None
        upstream = urllib.parse.urlsplit(self.upstream)
        self._upstream_host = upstream.hostname or "127.0.0.1"
        self._upstream_port = upstream.port or 80

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        if not self._ready.wait(10):
            raise TimeoutError("the fault proxy did not start")
        return self

    def __exit__(self, *_: object) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def set_rules(self, *rules: Rule) -> None:
        """Replace the rules (and forget what was seen)."""
        with self._lock:
            self.rules = list(rules)
            self.seen = []

    @contextmanager
    def injecting(self, *rules: Rule) -> Iterator[FaultProxy]:
        self.set_rules(*rules)
        try:
            yield self
        finally:
            self.set_rules()

    def faults(self, fault: Fault | None = None) -> list[Seen]:
        """The requests a fault was injected into (of that fault, when given)."""
        with self._lock:
            return [s for s in self.seen if s.fault is not None and fault in (None, s.fault)]

    def _decide(self, kind: str, key: str) -> tuple[Fault | None, float]:
        with self._lock:
            for rule in self.rules:
                if not rule.matches(kind, key):
                    continue
                if rule.probability is not None:
                    fire = self._random.random() < rule.probability
                else:
                    fire = rule.times is None or rule.fired < rule.times
                if fire:
                    rule.fired += 1
                    self.seen.append(Seen(kind, key, rule.fault))
                    return rule.fault, rule.stall_s
            self.seen.append(Seen(kind, key, None))
            return None, 0.0

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._connection, "127.0.0.1", self.port)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._loop.close()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while (request := await _read_request(reader)) is not None:
                kind, key = request_kind(request.method, request.target)
                fault, stall_s = self._decide(kind, key)
                if not await self._answer(request, fault, stall_s, writer):
                    return
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # the client went away, or the proxy is shutting down
        finally:
            writer.close()

    async def _answer(
        self, request: _Request, fault: Fault | None, stall_s: float, writer: asyncio.StreamWriter
    ) -> bool:
        """Answer one request; False when the connection must end."""
        if fault == "reset":
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return False
        if fault == "stall":
            await asyncio.sleep(stall_s)
            return False
        if fault in _ERRORS:
            writer.write(_error_response(fault, request))
            await writer.drain()
            return True
        status, reason, headers, body = await asyncio.to_thread(self._forward, request)
        if fault == "truncate":
            writer.write(
                _response_head(status, reason, headers, len(body)) + body[: len(body) // 2]
            )
            await writer.drain()
            return False
        writer.write(_response_head(status, reason, headers, len(body)) + body)
        await writer.drain()
        return True

    def _forward(self, request: _Request) -> tuple[int, str, list[tuple[str, str]], bytes]:
        connection = http.client.HTTPConnection(
            self._upstream_host, self._upstream_port, timeout=60
        )
        try:
            headers = {
                name: value
                for name, value in request.headers
                if name.lower() not in ("transfer-encoding", "connection", "content-length")
            }
            connection.request(request.method, request.target, body=request.body, headers=headers)
            response = connection.getresponse()
            body = b"" if request.method == "HEAD" else response.read()
            length = response.getheader("Content-Length")
            kept = [
                (name, value)
                for name, value in response.getheaders()
                if name.lower() not in ("transfer-encoding", "connection", "content-length")
            ]
            if request.method == "HEAD" and length is not None:
                kept.append(("X-Head-Length", length))
            return response.status, response.reason, kept, body
        finally:
            connection.close()


async def _read_request(reader: asyncio.StreamReader) -> _Request | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = [(n.strip(), v.strip()) for n, _, v in (x.partition(":") for x in lines[1:] if x)]
    found = {name.lower(): value for name, value in headers}
    if found.get("transfer-encoding", "").lower() == "chunked":
        body = await _read_chunked(reader)
    else:
        body = await reader.readexactly(int(found.get("content-length", "0")))
    return _Request(method, target, headers, body)


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":
                pass  # trailers
            return bytes(body)
        body += await reader.readexactly(size)
        await reader.readexactly(2)


def _response_head(status: int, reason: str, headers: list[tuple[str, str]], length: int) -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}"]
    head_length = [v for n, v in headers if n == "X-Head-Length"]
    for name, value in headers:
        if name != "X-Head-Length":
            lines.append(f"{name}: {value}")
    lines.append(f"Content-Length: {head_length[0] if head_length else length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _error_response(fault: str, request: _Request) -> bytes:
    status, reason, code, message = _ERRORS[fault]
    path, _ = request.path_and_query
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        f"<Resource>{path}</Resource><RequestId>fault-proxy</RequestId></Error>"
    ).encode()
    head = _response_head(status, reason, [("Content-Type", "application/xml")], len(body))
    return head if request.method == "HEAD" else head + body
