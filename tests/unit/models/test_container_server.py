"""build_app: the container contract served over a fake Model, in memory (ASGI, no sockets)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from batchform.errors import InvocationError, ModelUnreachableError
from batchform.models.base import Answer, ExecutionParameters
from batchform.models.server import build_app


class FakeModel:
    """Records what it was asked; answers by the body: ``bad`` → 400, ``boom`` → RuntimeError."""

    def __init__(self, params: ExecutionParameters | None = None, healthy: bool = True) -> None:
        self.params = params
        self.healthy = healthy
        self.calls: list[tuple[bytes, str | None, str | None]] = []

    async def ping(self) -> None:
        if not self.healthy:
            raise ModelUnreachableError("model fake is closed")

    async def execution_parameters(self) -> ExecutionParameters | None:
        return self.params

    async def invoke(self, body: bytes, *, content_type: str | None, accept: str | None) -> Answer:
        self.calls.append((body, content_type, accept))
        if body == b"bad":
            raise InvocationError(415, b"unsupported\ncontent type")
        if body == b"boom":
            raise RuntimeError("the model fell over")
        return Answer(body[::-1], accept)

    async def aclose(self) -> None:
        return None


def request(
    model: FakeModel, method: str, path: str, max_payload_bytes: int | None = None, **kw: Any
) -> httpx.Response:
    async def main() -> httpx.Response:
        transport = httpx.ASGITransport(app=build_app(model, max_payload_bytes=max_payload_bytes))
        async with httpx.AsyncClient(transport=transport, base_url="http://model") as client:
            del client.headers["Accept"]  # httpx's default */*: let tests decide
            return await client.request(method, path, **kw)

    return asyncio.run(main())


def test_ping_is_200_with_an_empty_body() -> None:
    response = request(FakeModel(), "GET", "/ping")

    assert (response.status_code, response.content) == (200, b"")


def test_ping_of_an_unhealthy_model_is_not_200() -> None:
    response = request(FakeModel(healthy=False), "GET", "/ping")

    assert response.status_code == 503
    assert response.text == "model fake is closed"


def test_execution_parameters_are_json_in_the_container_spelling() -> None:
    model = FakeModel(ExecutionParameters(4, "MULTI_RECORD", 6))

    response = request(model, "GET", "/execution-parameters")

    assert response.status_code == 200
    assert response.json() == {
        "MaxConcurrentTransforms": 4,
        "BatchStrategy": "MULTI_RECORD",
        "MaxPayloadInMB": 6,
    }


def test_execution_parameters_are_404_when_the_model_has_none() -> None:
    assert request(FakeModel(), "GET", "/execution-parameters").status_code == 404


def test_invocations_pass_bytes_and_headers_through_unchanged() -> None:
    model = FakeModel()
    body = b"\xff\x00a,b\r\n"

    response = request(
        model,
        "POST",
        "/invocations",
        content=body,
        headers={"Content-Type": "text/csv", "Accept": "text/csv"},
    )

    assert model.calls == [(body, "text/csv", "text/csv")]
    assert response.status_code == 200
    assert response.content == body[::-1]
    assert response.headers["content-type"] == "text/csv"  # no "; charset=utf-8" added


def test_absent_headers_reach_the_model_as_none_and_no_type_is_invented() -> None:
    model = FakeModel()

    response = request(model, "POST", "/invocations", content=b"12")

    assert model.calls == [(b"12", None, None)]
    assert response.content == b"21"
    assert "content-type" not in response.headers


def test_an_invocation_error_keeps_its_status_and_body() -> None:
    response = request(FakeModel(), "POST", "/invocations", content=b"bad")

    assert (response.status_code, response.content) == (415, b"unsupported\ncontent type")


def test_any_other_exception_is_a_500_with_the_message() -> None:
    response = request(FakeModel(), "POST", "/invocations", content=b"boom")

    assert response.status_code == 500
    assert response.text == "RuntimeError: the model fell over"


@pytest.mark.parametrize("size", [10, 11])
def test_max_payload_bytes_refuses_larger_bodies_with_413(size: int) -> None:
    model = FakeModel()

    response = request(model, "POST", "/invocations", max_payload_bytes=10, content=b"x" * size)

    if size <= 10:
        assert response.status_code == 200
        assert len(model.calls) == 1
    else:
        assert response.status_code == 413
        assert model.calls == []


def test_a_streamed_body_over_the_limit_is_refused_too() -> None:
    model = FakeModel()

    async def chunks() -> Any:
        for _ in range(4):
            yield b"x" * 4

    response = request(model, "POST", "/invocations", max_payload_bytes=10, content=chunks())

    assert response.status_code == 413
    assert model.calls == []


def test_other_methods_and_paths_are_refused() -> None:
    assert request(FakeModel(), "GET", "/invocations").status_code == 405
    assert request(FakeModel(), "POST", "/ping").status_code == 405
    assert request(FakeModel(), "GET", "/metrics").status_code == 404
