"""ContainerModel over an in-memory transport: requests it sends, how it maps every outcome."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
import pytest

from batchform.errors import InvocationError, ModelLoadError, ModelUnreachableError
from batchform.models.base import Answer, ExecutionParameters
from batchform.models.container import PING_FAILURE_TEXT, UNREACHABLE_TEXT, ContainerModel

T = TypeVar("T")
URL = "http://127.0.0.1:8080"
Handler = Callable[[httpx.Request], httpx.Response]


def run(handler: Handler, use: Callable[[ContainerModel], Awaitable[T]], **options: Any) -> T:
    options.setdefault("invocation_timeout_s", 600.0)

    async def main() -> T:
        model = ContainerModel(
            URL + "/", name="unit", transport=httpx.MockTransport(handler), **options
        )
        try:
            return await use(model)
        finally:
            await model.aclose()

    return asyncio.run(main())


def raising(exc: Exception) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return handler


def invoke(model: ContainerModel) -> Awaitable[Answer]:
    return model.invoke(b"1,2\n", content_type="text/csv", accept="text/csv")


def test_invoke_posts_the_body_with_only_the_contract_headers() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=b"0.5\n", headers={"Content-Type": "text/csv"})

    answer = run(handler, lambda m: m.invoke(b"\x00a,b\r\n", content_type=None, accept=None))

    assert answer == Answer(b"0.5\n", "text/csv")
    request = seen[0]
    assert (request.method, str(request.url)) == ("POST", URL + "/invocations")
    assert request.content == b"\x00a,b\r\n"
    assert request.headers["content-length"] == "6"
    for absent in ("content-type", "accept", "accept-encoding"):
        assert absent not in request.headers
    assert request.headers["user-agent"].startswith("batchform/")


def test_invoke_sends_content_type_and_accept_when_given() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, content=b"ok")

    answer = run(handler, invoke)

    assert answer == Answer(b"ok", None)  # any 2xx is an answer; no Content-Type → None
    assert seen[0].headers["content-type"] == "text/csv"
    assert seen[0].headers["accept"] == "text/csv"


@pytest.mark.parametrize("status", [302, 400, 413, 500, 503])
def test_invoke_non_2xx_is_an_invocation_error_with_the_body(status: int) -> None:
    handler = lambda request: httpx.Response(status, content=b"line 1\nline 2")  # noqa: E731

    with pytest.raises(InvocationError) as caught:
        run(handler, invoke)

    assert (caught.value.status, caught.value.body) == (status, b"line 1\nline 2")


@pytest.mark.parametrize(
    ("exc", "what"),
    [
        (
            httpx.ConnectError("All connection attempts failed"),
            f"cannot connect to {URL} (All connection attempts failed)",
        ),
        (httpx.ConnectTimeout(""), f"no connection to {URL} within 10s"),
        (httpx.ReadTimeout(""), f"no answer from {URL} within 600s"),
        (httpx.WriteTimeout(""), f"could not send the request to {URL} within 600s"),
        (
            httpx.RemoteProtocolError("Server disconnected without sending a response."),
            f"connection closed by {URL} before a complete answer "
            "(Server disconnected without sending a response.)",
        ),
        (httpx.ReadError(""), f"connection reset by {URL} (ReadError)"),
        (httpx.DecodingError("bad gzip"), f"undecodable answer from {URL} (bad gzip)"),
    ],
)
def test_invoke_without_an_answer_is_unreachable_and_says_why(exc: Exception, what: str) -> None:
    with pytest.raises(ModelUnreachableError) as caught:
        run(raising(exc), invoke)

    assert caught.value.message == f"{UNREACHABLE_TEXT}: {what}"
    assert caught.value.__cause__ is exc


def test_a_refused_connection_is_named_as_such() -> None:
    exc = httpx.ConnectError("All connection attempts failed")
    exc.__cause__ = ConnectionRefusedError(111, "Connect call failed")

    with pytest.raises(ModelUnreachableError) as caught:
        run(raising(exc), invoke)

    assert caught.value.message == f"{UNREACHABLE_TEXT}: connection refused by {URL}"


def test_pool_timeout_names_max_connections() -> None:
    with pytest.raises(ModelUnreachableError, match="max_connections=7"):
        run(raising(httpx.PoolTimeout("")), invoke, max_connections=7)


def test_ping_needs_200() -> None:
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        return httpx.Response(500, content=b"still loading")

    with pytest.raises(ModelUnreachableError) as caught:
        run(handler, lambda m: m.ping())

    assert paths == ["/ping"]
    assert caught.value.message == f"GET {URL}/ping answered 500: still loading"


def test_wait_until_healthy_returns_on_the_first_200() -> None:
    statuses = iter([503, 503, 200])
    handler = lambda request: httpx.Response(next(statuses))  # noqa: E731

    run(handler, lambda m: m.wait_until_healthy(10, poll_s=0.01))

    assert next(statuses, None) is None


def test_wait_until_healthy_gives_the_ping_reason_at_the_deadline() -> None:
    with pytest.raises(ModelLoadError) as caught:
        run(lambda request: httpx.Response(404), lambda m: m.wait_until_healthy(0.05, poll_s=0.01))

    assert caught.value.message.startswith(PING_FAILURE_TEXT + " (no HTTP 200 within 0.05s")
    assert "answered 404" in caught.value.message


def test_wait_until_healthy_fails_fast_once_the_process_is_gone() -> None:
    with pytest.raises(ModelLoadError, match="exited before it was healthy"):
        run(
            raising(httpx.ConnectError("refused")),
            lambda m: m.wait_until_healthy(3600, process_alive=lambda: False),
        )


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (
            httpx.Response(
                200, json={"MaxConcurrentTransforms": 2, "BatchStrategy": "MultiRecord"}
            ),
            ExecutionParameters(2, "MULTI_RECORD", None),
        ),
        (httpx.Response(404), None),
        (httpx.Response(500, json={"MaxConcurrentTransforms": 2}), None),
        (httpx.Response(200, content=b"\xff\xfe"), None),
        (httpx.Response(200, content=b'"MULTI_RECORD"'), None),
    ],
)
def test_execution_parameters(response: httpx.Response, expected: ExecutionParameters) -> None:
    assert run(lambda request: response, lambda m: m.execution_parameters()) == expected


def test_execution_parameters_without_a_connection_is_unreachable() -> None:
    with pytest.raises(ModelUnreachableError, match=f"GET {URL}/execution-parameters: no answer"):
        run(raising(httpx.ReadTimeout("")), lambda m: m.execution_parameters())
