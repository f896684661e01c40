from __future__ import annotations

import asyncio

import pytest

from batchform.errors import InvocationError, ModelUnreachableError
from batchform.models.base import Answer, ExecutionParameters
from batchform.runner.invoke import RetryPolicy, failure_log_lines, invoke_with_retries

FAST = RetryPolicy(timeout_s=0.5, max_retries=3, backoff_s=0.001)


class ScriptedModel:
    """Answers each call with the next scripted outcome: bytes, an exception, or a delay."""

    def __init__(self, *outcomes: bytes | Exception | float) -> None:
        self.outcomes = list(outcomes)
        self.calls = 0

    async def ping(self) -> None:
        return None

    async def execution_parameters(self) -> ExecutionParameters | None:
        return None

    async def invoke(self, body: bytes, *, content_type: str | None, accept: str | None) -> Answer:
        outcome = self.outcomes[min(self.calls, len(self.outcomes) - 1)]
        self.calls += 1
        if isinstance(outcome, float):
            await asyncio.sleep(outcome)
            return Answer(b"late")
        if isinstance(outcome, Exception):
            raise outcome
        return Answer(outcome)

    async def aclose(self) -> None:
        return None


def run(model: ScriptedModel, policy: RetryPolicy = FAST) -> bytes:
    return asyncio.run(
        invoke_with_retries(model, b"x", content_type="text/csv", accept=None, policy=policy)
    )


def test_server_errors_are_retried_until_success() -> None:
    model = ScriptedModel(InvocationError(500, b"boom"), InvocationError(503, b"busy"), b"ok")
    assert run(model) == b"ok"
    assert model.calls == 3


def test_client_errors_are_not_retried() -> None:
    model = ScriptedModel(InvocationError(400, b"bad row"), b"ok")
    with pytest.raises(InvocationError) as caught:
        run(model)
    assert caught.value.status == 400
    assert model.calls == 1


def test_retries_stop_after_max_retries() -> None:
    model = ScriptedModel(InvocationError(500, b"boom"))
    with pytest.raises(InvocationError):
        run(model, RetryPolicy(timeout_s=1, max_retries=2, backoff_s=0.001))
    assert model.calls == 3  # 1 + 2 retries


def test_timeout_is_unreachable_and_retried() -> None:
    model = ScriptedModel(5.0, b"ok")
    assert run(model, RetryPolicy(timeout_s=0.05, max_retries=1, backoff_s=0.001)) == b"ok"
    model = ScriptedModel(5.0)
    with pytest.raises(ModelUnreachableError, match=r"InvocationsTimeoutInSeconds=0\.05"):
        run(model, RetryPolicy(timeout_s=0.05, max_retries=0, backoff_s=0.001))


def test_failure_log_lines_follow_the_service_texts() -> None:
    assert failure_log_lines(InvocationError(400, b"line one\nline two")) == [
        "ClientError: 400",
        "",
        "Message:",
        "line one",
        "line two",
    ]
    assert failure_log_lines(InvocationError(500, b"x"))[0] == (
        "Bad HTTP status received from algorithm: 500"
    )
    assert failure_log_lines(ModelUnreachableError("Unable to get response from algorithm")) == [
        "Unable to get response from algorithm"
    ]
    lost = ModelUnreachableError("Unable to get response from algorithm: connection reset")
    assert failure_log_lines(lost) == ["Unable to get response from algorithm", "connection reset"]
