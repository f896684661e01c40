"""Built-in model runtimes: synchronous, in-process equivalents of SageMaker's framework images.

A runtime is constructed empty, loaded once from an unpacked model directory, then invoked
with ``/invocations`` bytes. :class:`~batchform.models.inprocess.InProcessModel` adapts one to
the async :class:`~batchform.models.base.Model` seam; an HTTP server can serve the same object,
so both give byte-identical answers. Runtimes import their framework lazily (the frameworks are
optional extras), so importing this package never needs xgboost or scikit-learn.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

from batchform.errors import BatchformError, InvocationError
from batchform.models.base import Answer, ExecutionParameters


class Runtime(Protocol):
    """A model framework behind the container contract, without HTTP.

    ``invoke`` answers like ``POST /invocations``: it returns the response body of a 2xx
    answer and raises :class:`~batchform.errors.InvocationError` with the status a real
    container would send otherwise (400/406/413/415 for bad requests, 500 for a failure).
    Implementations must be safe to invoke from several threads at once.
    """

    def load(self, model_dir: Path, env: Mapping[str, str]) -> None:
        """Load the model from ``model_dir`` (``/opt/ml/model``) with the container's env.

        Raises :class:`~batchform.errors.ModelLoadError` naming the file and what to fix.
        """
        ...

    def execution_parameters(self) -> ExecutionParameters | None:
        """What ``GET /execution-parameters`` answers, or None when the image has no route."""
        ...

    def invoke(self, body: bytes, content_type: str | None, accept: str | None) -> Answer:
        """One ``POST /invocations``; header values are None when the header is absent."""
        ...


@runtime_checkable
class DecodedRuntime(Runtime, Protocol):
    """A runtime that can also take a request already decoded (see ``Answer.deferred``)."""

    def invoke_decoded(
        self, decoded: object, content_type: str | None, accept: str | None
    ) -> Answer | None:
        """The answer to a request whose body decodes to ``decoded``; None if this runtime
        does not read ``decoded`` for ``content_type`` (then the body is sent as usual)."""
        ...


@runtime_checkable
class RecordRunRuntime(Runtime, Protocol):
    """A runtime that answers a run of single-record requests with one prediction.

    ``invoke_records`` returns each record's answer body, byte for byte what ``invoke`` of
    that record alone returns, or None when it cannot promise that for these records (the
    caller then invokes them one by one). ``answers_record_runs`` says whether it may for
    requests of this type at all.
    """

    def answers_record_runs(self, content_type: str | None, accept: str | None) -> bool: ...

    def invoke_records(
        self, records: Sequence[bytes], content_type: str | None, accept: str | None
    ) -> list[bytes] | None: ...


LogSink = Callable[[str], None]


@runtime_checkable
class LoggingRuntime(Runtime, Protocol):
    """A runtime with lines for the job's log (progress of long requests, for instance).

    In a transform job the sink writes to the instance's log stream named after the
    container, as a started container's output does; it may be called from any thread.
    """

    def set_log_sink(self, sink: LogSink) -> None: ...


RuntimeFactory = Callable[[], Runtime]


def invoke_runtime(
    runtime: Runtime,
    body: bytes | Answer,
    content_type: str | None,
    accept: str | None,
    *,
    write: bool = True,
) -> Answer:
    """``runtime.invoke``, with any foreign exception turned into a 500 answer.

    ``body`` may be the answer of the container before (in a pipeline): its decoded value is
    used when the runtime reads it, else its bytes. With ``write`` (the default) the answer's
    body is written here, in the calling thread, rather than by whoever reads it later.
    The 500 body is ``"<message>\\n<traceback>"``, as sagemaker-inference-toolkit sends it.
    """
    try:
        answer = _decoded_answer(runtime, body, content_type, accept)
        if answer is None:
            raw = body.body if isinstance(body, Answer) else body
            answer = runtime.invoke(raw, content_type, accept)
        if write:
            answer.body  # noqa: B018 - writes a deferred answer in this thread
        return answer
    except BatchformError:
        raise
    except Exception as exc:
        text = f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"
        raise InvocationError(500, text.encode("utf-8"), f"{type(exc).__name__}: {exc}") from exc


def _decoded_answer(
    runtime: Runtime, body: bytes | Answer, content_type: str | None, accept: str | None
) -> Answer | None:
    if not isinstance(body, Answer) or body.decoded is None:
        return None
    if not isinstance(runtime, DecodedRuntime):
        return None
    return runtime.invoke_decoded(body.decoded, content_type, accept)
