"""One mini-batch to the model: timeout, retries with back-off, and which failures are retried.

See docs/semantics.md, "Invocations" and "Logs".
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from batchform.errors import InvocationError, ModelUnreachableError
from batchform.models.base import Model

UNREACHABLE_TEXT = "Unable to get response from algorithm"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``ModelClientConfig``: per-request timeout and retries (total attempts = 1 + retries)."""

    timeout_s: float = 600.0
    max_retries: int = 3
    backoff_s: float = 1.0  # doubles after every failed attempt


async def invoke_with_retries(
    model: Model,
    body: bytes,
    *,
    content_type: str | None,
    accept: str | None,
    policy: RetryPolicy,
) -> bytes:
    """The model's answer, retrying 5xx, timeouts and lost connections; 4xx fail at once."""
    delay_s = policy.backoff_s
    for attempt in range(policy.max_retries + 1):
        try:
            return await _invoke_once(model, body, content_type, accept, policy.timeout_s)
        except InvocationError as exc:
            if not exc.retryable or attempt == policy.max_retries:
                raise
        except ModelUnreachableError:
            if attempt == policy.max_retries:
                raise
        await asyncio.sleep(delay_s)
        delay_s *= 2
    raise AssertionError("unreachable")  # the loop always returns or raises


async def _invoke_once(
    model: Model, body: bytes, content_type: str | None, accept: str | None, timeout_s: float
) -> bytes:
    # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation (a stop)
    # when the invocation finishes at the same moment.
    try:
        async with asyncio.timeout(timeout_s):
            answer = await model.invoke(body, content_type=content_type, accept=accept)
            return answer.body
    except TimeoutError as exc:
        raise ModelUnreachableError(
            f"{UNREACHABLE_TEXT}: no answer within InvocationsTimeoutInSeconds={timeout_s:g}"
        ) from exc


def failure_log_lines(exc: InvocationError | ModelUnreachableError) -> list[str]:
    """The data-log lines SageMaker writes for a failed invocation (docs/semantics.md, "Logs")."""
    if isinstance(exc, ModelUnreachableError):
        return [UNREACHABLE_TEXT, *_detail(exc.message)]
    if 400 <= exc.status < 500:
        head = f"ClientError: {exc.status}"
    else:
        head = f"Bad HTTP status received from algorithm: {exc.status}"
    body = exc.body.decode("utf-8", errors="replace")
    return [head, "", "Message:", *body.splitlines()]


def _detail(message: str) -> list[str]:
    """What follows SageMaker's first line; the models' messages start with that line's text,
    which the reason (the lines joined) must not say twice."""
    detail = message.removeprefix(UNREACHABLE_TEXT).removeprefix(":").strip()
    return [detail] if detail else []
