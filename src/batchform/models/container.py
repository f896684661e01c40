"""``ContainerModel``: the :class:`~batchform.models.base.Model` seam over the container contract.

A model container (or any process serving the same HTTP contract: docs/semantics.md, "Model
containers") answers ``GET /ping``, optionally ``GET /execution-parameters``, and
``POST /invocations``. This client
talks to one such server through a single ``httpx.AsyncClient``: HTTP/1.1 with keep-alive, a
connection pool sized for the runner's concurrency, ``TCP_NODELAY`` so small requests are not
held back by Nagle's algorithm, and no proxy (``trust_env=False``: a proxy must never intercept
loopback traffic).

It never retries: the runner owns timeouts-with-retries (``runner.invoke``). It only maps
every outcome precisely: a non-2xx answer is :class:`~batchform.errors.InvocationError`, no
answer at all is :class:`~batchform.errors.ModelUnreachableError` saying what happened.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from batchform import __version__
from batchform.errors import InvocationError, ModelLoadError, ModelUnreachableError
from batchform.models.base import Answer, BatchStrategyWire, ExecutionParameters

UNREACHABLE_TEXT = "Unable to get response from algorithm"
PING_FAILURE_TEXT = (
    "AlgorithmError: Model container failed to respond to ping. Please ensure /ping endpoint "
    "is implemented and responds with an HTTP 200 status code"
)
DEFAULT_MAX_CONNECTIONS = 100
CONNECT_TIMEOUT_S = 10.0
EXECUTION_PARAMETERS_TIMEOUT_S = 10.0
# Shorter than the idle timeouts of common model servers (gunicorn 2 s, uvicorn 5 s), so we
# drop an idle connection before the server does instead of racing its close.
KEEPALIVE_EXPIRY_S = 1.5
FIRST_POLL_S = 0.02  # wait_until_healthy starts polling fast and backs off to poll_s

_STRATEGIES: dict[str, BatchStrategyWire] = {
    "MULTI_RECORD": "MULTI_RECORD",
    "MultiRecord": "MULTI_RECORD",
    "SINGLE_RECORD": "SINGLE_RECORD",
    "SingleRecord": "SINGLE_RECORD",
}


def container_transport(max_connections: int) -> httpx.AsyncHTTPTransport:
    """The transport every ``ContainerModel`` uses: HTTP/1.1, pooled, ``TCP_NODELAY``, no retry."""
    return httpx.AsyncHTTPTransport(
        http1=True,
        http2=False,
        retries=0,
        limits=httpx.Limits(
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=KEEPALIVE_EXPIRY_S,
        ),
        socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
    )


class ContainerModel:
    """A model behind ``base_url`` (e.g. ``http://127.0.0.1:8080``), spoken to over HTTP.

    ``invocation_timeout_s`` (``InvocationsTimeoutInSeconds``) bounds the wait for an answer;
    ``ping_timeout_s`` bounds one ``/ping`` (2 s in the contract). ``max_connections`` must be
    at least the number of invocations the caller keeps in flight, else requests queue for a
    connection. ``transport`` replaces the network transport (tests, custom networking); it
    then owns pooling and socket options.
    """

    def __init__(
        self,
        base_url: str,
        *,
        name: str,
        invocation_timeout_s: float,
        ping_timeout_s: float = 2.0,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._name = name
        self._invocation_timeout_s = invocation_timeout_s
        self._ping_timeout_s = ping_timeout_s
        self._max_connections = max_connections
        # httpx's read timeout bounds each wait for bytes; the runner bounds the whole call.
        self._invocation_timeout = httpx.Timeout(
            invocation_timeout_s, connect=min(CONNECT_TIMEOUT_S, invocation_timeout_s)
        )
        self._client = httpx.AsyncClient(
            base_url=self._base_url,
            transport=transport or container_transport(max_connections),
            trust_env=False,
            follow_redirects=False,
            headers={"User-Agent": f"batchform/{__version__}"},
        )
        # httpx sends these by default; the contract wants Accept only when the job sets it,
        # and compressing answers on loopback would only cost CPU.
        del self._client.headers["Accept"]
        del self._client.headers["Accept-Encoding"]

    @property
    def name(self) -> str:
        return self._name

    @property
    def base_url(self) -> str:
        return self._base_url

    async def ping(self) -> None:
        """One ``GET /ping``; ``ModelUnreachableError`` unless it answers 200 in time."""
        response = await self._get("/ping", self._ping_timeout_s)
        if response.status_code != 200:
            raise ModelUnreachableError(
                f"GET {self._base_url}/ping answered {response.status_code}"
                f"{_excerpt(response.content)}"
            )

    async def wait_until_healthy(
        self,
        deadline_s: float,
        *,
        poll_s: float = 1.0,
        process_alive: Callable[[], bool] | None = None,
    ) -> None:
        """Poll ``/ping`` until it answers 200; ``ModelLoadError`` after ``deadline_s``.

        Refused connections and non-200 answers mean "not ready yet". Polls start fast and
        back off to every ``poll_s``. When ``process_alive`` is given and returns False, the
        server is gone for good and this fails at once instead of waiting out the deadline.
        """
        loop = asyncio.get_running_loop()
        end = loop.time() + deadline_s
        delay_s = min(FIRST_POLL_S, poll_s)
        while True:
            try:
                await self.ping()
                return
            except ModelUnreachableError as exc:
                last = exc.message
            if process_alive is not None and not process_alive():
                raise ModelLoadError(
                    f"{PING_FAILURE_TEXT} (the model process exited before it was healthy; "
                    f"last ping: {last})"
                )
            remaining_s = end - loop.time()
            if remaining_s <= 0:
                raise ModelLoadError(
                    f"{PING_FAILURE_TEXT} (no HTTP 200 within {deadline_s:g}s; last ping: {last})"
                )
            await asyncio.sleep(min(delay_s, remaining_s))
            delay_s = min(delay_s * 2, poll_s)

    async def execution_parameters(self) -> ExecutionParameters | None:
        """``GET /execution-parameters``; None unless it answers 200 with a JSON object."""
        response = await self._get("/execution-parameters", EXECUTION_PARAMETERS_TIMEOUT_S)
        if response.status_code != 200:
            return None
        try:
            document = json.loads(response.content)
        except ValueError:  # also UnicodeDecodeError
            return None
        return parse_execution_parameters(document) if isinstance(document, dict) else None

    async def invoke(self, body: bytes, *, content_type: str | None, accept: str | None) -> Answer:
        """One ``POST /invocations`` with the body as is; headers only when given."""
        headers = {}
        if content_type is not None:
            headers["Content-Type"] = content_type
        if accept is not None:
            headers["Accept"] = accept
        try:
            response = await self._client.post(
                "/invocations", content=body, headers=headers, timeout=self._invocation_timeout
            )
        except (httpx.TransportError, httpx.DecodingError) as exc:
            what = self._describe(exc, self._invocation_timeout_s)
            raise ModelUnreachableError(f"{UNREACHABLE_TEXT}: {what}") from exc
        if not 200 <= response.status_code < 300:
            raise InvocationError(response.status_code, response.content)
        return Answer(response.content, response.headers.get("content-type"))

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._client.aclose()

    async def _get(self, path: str, timeout_s: float) -> httpx.Response:
        try:
            return await self._client.get(path, timeout=timeout_s)
        except (httpx.TransportError, httpx.DecodingError) as exc:
            what = self._describe(exc, timeout_s)
            raise ModelUnreachableError(f"GET {self._base_url}{path}: {what}") from exc

    def _describe(self, exc: httpx.HTTPError, timeout_s: float) -> str:
        """What went wrong, in words, for a request that got no answer."""
        url = self._base_url
        if isinstance(exc, httpx.ConnectTimeout):
            what = f"no connection to {url} within {min(CONNECT_TIMEOUT_S, timeout_s):g}s"
        elif isinstance(exc, httpx.ConnectError):
            what = (
                f"connection refused by {url}"
                if _refused(exc)
                else f"cannot connect to {url} ({_reason(exc)})"
            )
        elif isinstance(exc, httpx.ReadTimeout):
            what = f"no answer from {url} within {timeout_s:g}s"
        elif isinstance(exc, httpx.WriteTimeout):
            what = f"could not send the request to {url} within {timeout_s:g}s"
        elif isinstance(exc, httpx.PoolTimeout):
            what = (
                f"no free connection to {url} within {timeout_s:g}s "
                f"(more requests in flight than max_connections={self._max_connections})"
            )
        elif isinstance(exc, httpx.RemoteProtocolError):
            what = f"connection closed by {url} before a complete answer ({_reason(exc)})"
        elif isinstance(exc, httpx.ReadError | httpx.WriteError):
            what = f"connection reset by {url} ({_reason(exc)})"
        elif isinstance(exc, httpx.DecodingError):
            what = f"undecodable answer from {url} ({_reason(exc)})"
        else:
            what = f"{type(exc).__name__} talking to {url} ({_reason(exc)})"
        return what


def parse_execution_parameters(document: Mapping[str, Any]) -> ExecutionParameters:
    """An ``/execution-parameters`` JSON object → values; unknown keys and bad values ignored.

    ``BatchStrategy`` may use the container spelling (``MULTI_RECORD``) or the API spelling
    (``MultiRecord``); the result always holds the container spelling.
    """
    strategy = document.get("BatchStrategy")
    return ExecutionParameters(
        max_concurrent_transforms=_int_at_least(document.get("MaxConcurrentTransforms"), 1),
        batch_strategy=_STRATEGIES.get(strategy) if isinstance(strategy, str) else None,
        max_payload_mb=_int_at_least(document.get("MaxPayloadInMB"), 0),
    )


def _int_at_least(value: object, minimum: int) -> int | None:
    # bool is an int in Python, but `true` is no concurrency.
    if isinstance(value, int) and not isinstance(value, bool) and value >= minimum:
        return value
    return None


def _refused(exc: httpx.ConnectError) -> bool:
    # httpcore/anyio wrap the OSError ("All connection attempts failed"); the refusal is
    # further down the chain.
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


def _reason(exc: BaseException) -> str:
    """The first non-empty message down the exception chain (httpx often wraps an empty one)."""
    cause: BaseException | None = exc
    while cause is not None:
        if str(cause):
            return str(cause)
        cause = cause.__cause__ or cause.__context__
    return type(exc).__name__


def _excerpt(body: bytes, limit: int = 200) -> str:
    text = body.decode("utf-8", errors="replace").strip()
    if not text:
        return ""
    return f": {text[:limit]}…" if len(text) > limit else f": {text}"
