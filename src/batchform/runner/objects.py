"""One input object through the pipeline (docs/semantics.md, "Processing one object"):
stream → gunzip → split → filter → mini-batches → ≤ MaxConcurrentTransforms invocations in
flight → answers re-sequenced → join/OutputFilter → assemble → atomic publish of ``<key>.out``.
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import BinaryIO, cast

from batchform.models.base import Model, RecordRunModel
from batchform.runner.batch import Batch, iter_batches
from batchform.runner.dataproc import RecordProcessor
from batchform.runner.invoke import RetryPolicy, invoke_with_retries
from batchform.runner.params import ResolvedParams
from batchform.runner.plan import PlannedObject
from batchform.runner.spec import MIB, AssembleWith, BatchStrategy, RunSpec
from batchform.runner.split import decompressed
from batchform.storage.factory import store_for

# Output is handed to the writer in chunks of this size; each flush briefly holds the chunk
# twice (the buffer and its bytes copy), and writers buffer on their own (S3: 8 MiB parts).
WRITE_CHUNK_BYTES = MIB
PULL_MAX_BATCHES = 256  # batches fetched per hop to the reader thread (amortises the hop)
PULL_MAX_BYTES = MIB  # ...but big batches one at a time: they wait for a free slot in memory
PROGRESS_EVERY_S = 0.25
# SingleRecord to a model that answers runs of records at once (RecordRunModel): consecutive
# records go to it together, up to this many records and bytes a run.
RUN_MAX_RECORDS = 256
RUN_MAX_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class ObjectStats:
    records: int
    input_bytes: int  # read from the source: its size once the object is done
    output_bytes: int


@dataclass(frozen=True, slots=True)
class _Answer:
    output: bytes
    records: int


# Called with (records, input_bytes) more done as answers are consumed, throttled.
ProgressCallback = Callable[[int, int], None]
# Invocations in submission order, then None at the end or the error that ended splitting.
_Pending = asyncio.Queue[asyncio.Task[_Answer] | BaseException | None]


class ObjectTransformer:
    """Runs objects of one instance against its model, sharing one concurrency budget."""

    def __init__(self, spec: RunSpec, params: ResolvedParams, model: Model) -> None:
        self._spec = spec
        self._params = params
        self._model = model
        self._slots = asyncio.Semaphore(params.max_concurrent)
        self._policy = RetryPolicy(
            timeout_s=spec.invocation_timeout_s,
            max_retries=spec.invocation_max_retries,
            backoff_s=spec.retry_backoff_s,
        )
        self._processor = RecordProcessor(
            spec.data_processing, content_type=spec.content_type, accept=spec.accept
        )
        # Runs change how many calls the runtime sees, never a record's answer or its errors.
        self._run_model = (
            model
            if params.batch_strategy is BatchStrategy.SINGLE_RECORD
            and isinstance(model, RecordRunModel)
            and model.answers_record_runs(spec.content_type, spec.accept)
            else None
        )

    async def transform(self, obj: PlannedObject, progress: ProgressCallback) -> ObjectStats:
        """Publish ``obj``'s output, or raise (nothing is published) if any part fails."""
        source = await asyncio.to_thread(store_for(obj.source.uri).open_read, obj.source.uri)
        reader = CountingReader(source)
        try:
            batches = self._batches(cast(BinaryIO, reader))  # a binary stream in all but name
            out_store = store_for(obj.output)
            writer = await asyncio.to_thread(
                out_store.open_write, obj.output, kms_key_id=self._spec.output_kms_key_id
            )
            try:
                stats = await self._write_answers(
                    batches, writer.write, _Reporter(reader, progress)
                )
                await asyncio.to_thread(writer.commit)
            except BaseException:
                writer.abort()
                raise
        finally:
            source.close()
        return stats

    def _batches(self, reader: BinaryIO) -> Iterator[Batch]:
        stream = decompressed(reader, self._spec.compression)
        processor = self._processor
        return iter_batches(
            stream,
            split_type=self._spec.split_type,
            strategy=self._params.batch_strategy,
            max_payload_bytes=self._params.max_payload_bytes,
            transform=processor.input_record if processor.transforms_input else None,
            keep_records=processor.processes_output,
        )

    async def _write_answers(
        self, batches: Iterator[Batch], write: Callable[[bytes], None], reporter: _Reporter
    ) -> ObjectStats:
        buffer = bytearray()
        records = output_bytes = 0
        async for answer in self._answers_in_order(batches):
            buffer += answer.output
            records += answer.records
            output_bytes += len(answer.output)
            if len(buffer) >= WRITE_CHUNK_BYTES:
                await asyncio.to_thread(write, bytes(buffer))
                buffer.clear()
            reporter.add(answer.records)
        if buffer:
            await asyncio.to_thread(write, bytes(buffer))
        reporter.flush()
        return ObjectStats(records, reporter.reader.bytes_read, output_bytes)

    async def _answers_in_order(self, batches: Iterator[Batch]) -> AsyncIterator[_Answer]:
        """Answers in input order with at most ``max_concurrent`` invocations in flight.

        The queue holds tasks in submission order, so awaiting them in turn re-sequences
        the answers; its bound plus the shared semaphore keeps memory constant.
        """
        pending: _Pending = asyncio.Queue(maxsize=self._params.max_concurrent)
        producer = asyncio.create_task(self._submit_all(batches, pending))
        try:
            while (item := await pending.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                yield await item
        finally:
            producer.cancel()
            while not pending.empty():
                leftover = pending.get_nowait()
                if isinstance(leftover, asyncio.Task):
                    leftover.cancel()

    async def _submit_all(self, batches: Iterator[Batch], pending: _Pending) -> None:
        try:
            while await self._submit_next(batches, pending):
                pass
        except Exception as exc:  # a splitting error ends the object after earlier answers
            await pending.put(exc)
            return
        await pending.put(None)

    async def _submit_next(self, batches: Iterator[Batch], pending: _Pending) -> bool:
        """Start the next few batches' invocations; False once there are none left.

        The first slot is taken before those batches are read: a payload read early would
        only wait for a slot, one more MaxPayloadInMB held in memory. The batches are only
        referenced from this frame and their tasks, so each goes as soon as its task is done.
        """
        slot: _Slot | None = await self._acquire()
        try:
            chunk = await asyncio.to_thread(_take, batches)
            for work in self._runs(chunk) if self._run_model else chunk:
                task = self._start(work, slot or await self._acquire())
                slot = None  # the task owns it now
                try:
                    await pending.put(task)
                except asyncio.CancelledError:  # the consumer is gone: nobody awaits it
                    task.cancel()
                    raise
            return bool(chunk)
        finally:
            if slot is not None:
                slot.release()

    async def _acquire(self) -> _Slot:
        await self._slots.acquire()
        return _Slot(self._slots)

    def _start(self, work: Batch | tuple[Batch, ...], slot: _Slot) -> asyncio.Task[_Answer]:
        """Start the invocation of a batch (or a run of them) in a task that owns ``slot``.

        The slot is given back when the task is done, whatever the outcome: also when it is
        cancelled before it ever ran (its own ``finally`` would then never run, and the
        instance's next object would wait forever for the slot).
        """
        answer = self._answer(work, slot) if isinstance(work, Batch) else self._run(work, slot)
        task = asyncio.create_task(answer)
        task.add_done_callback(lambda _: slot.release())
        return task

    @staticmethod
    def _runs(chunk: list[Batch]) -> list[Batch | tuple[Batch, ...]]:
        """``chunk``'s single records in runs of at most RUN_MAX_RECORDS and RUN_MAX_BYTES."""
        runs: list[Batch | tuple[Batch, ...]] = []
        run: list[Batch] = []
        size = 0
        for batch in chunk:
            if run and (len(run) == RUN_MAX_RECORDS or size + len(batch.payload) > RUN_MAX_BYTES):
                runs.append(_run_or_batch(run))
                run, size = [], 0
            run.append(batch)
            size += len(batch.payload)
        if run:
            runs.append(_run_or_batch(run))
        return runs

    async def _run(self, run: tuple[Batch, ...], slot: _Slot) -> _Answer:
        """A run of single records: one call for all of them, or, when the model cannot
        answer them that way (or that call fails), each record as its own invocation."""
        try:
            bodies = await self._run_bodies(run)
            if bodies is None:
                bodies = [await self._invoke(batch) for batch in run]
        finally:
            slot.release()
        pairs = list(zip(run, bodies, strict=True))
        if self._processor.processes_output:
            outputs = await asyncio.to_thread(lambda: [self._processed(*p) for p in pairs])
        else:
            outputs = [self._assembled(body) for _, body in pairs]
        return _Answer(b"".join(outputs), sum(batch.record_count for batch in run))

    async def _run_bodies(self, run: tuple[Batch, ...]) -> list[bytes] | None:
        model = self._run_model
        if model is None:
            return None
        try:
            async with asyncio.timeout(self._policy.timeout_s):
                return await model.invoke_records(
                    [batch.payload for batch in run],
                    content_type=self._spec.content_type,
                    accept=self._spec.accept,
                )
        except Exception:  # each record, invoked alone, meets its own error
            return None

    async def _invoke(self, batch: Batch) -> bytes:
        return await invoke_with_retries(
            self._model,
            batch.payload,
            content_type=self._spec.content_type,
            accept=self._spec.accept,
            policy=self._policy,
        )

    async def _answer(self, batch: Batch, slot: _Slot) -> _Answer:
        try:
            body = await self._invoke(batch)
        finally:  # the slot counts invocations in flight, not answers being assembled
            slot.release()
        if self._processor.processes_output:
            output = await asyncio.to_thread(self._processed, batch, body)
        else:
            output = self._assembled(body)
        return _Answer(output, batch.record_count)

    def _processed(self, batch: Batch, body: bytes) -> bytes:
        """Join/OutputFilter per record (docs/semantics.md, "Output")."""
        single = self._params.batch_strategy is BatchStrategy.SINGLE_RECORD
        return self._processor.output_records(batch.records or (), body, single_record=single)

    def _assembled(self, body: bytes) -> bytes:
        """AssembleWith, when no record is processed (docs/semantics.md, "Output")."""
        if self._spec.assemble_with is AssembleWith.LINE and not body.endswith(b"\n"):
            return body + b"\n"
        return body


def _run_or_batch(run: list[Batch]) -> Batch | tuple[Batch, ...]:
    """A run of several records, or a lone record as an ordinary batch."""
    return tuple(run) if len(run) > 1 else run[0]


class CountingReader(io.BufferedIOBase):
    """Reads ``source`` and counts the bytes read: how far into the object the run is."""

    def __init__(self, source: BinaryIO) -> None:
        super().__init__()
        self._source = source
        self.bytes_read = 0  # written by the reading thread; an int store is atomic

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        data = self._source.read(-1 if size is None else size)
        self.bytes_read += len(data)
        return data

    def read1(self, size: int = -1) -> bytes:
        return self.read(size)


class _Reporter:
    """Hands records answered and source bytes read to ``progress``, every PROGRESS_EVERY_S."""

    def __init__(self, reader: CountingReader, progress: ProgressCallback) -> None:
        self.reader = reader
        self._progress = progress
        self._records = 0
        self._bytes_reported = 0
        self._last = time.monotonic()

    def add(self, records: int) -> None:
        self._records += records
        if time.monotonic() - self._last >= PROGRESS_EVERY_S:
            self.flush()

    def flush(self) -> None:
        read = self.reader.bytes_read
        if self._records or read > self._bytes_reported:
            self._progress(self._records, read - self._bytes_reported)
        self._records, self._bytes_reported = 0, read
        self._last = time.monotonic()


class _Slot:
    """One acquired unit of the instance's concurrency budget, given back exactly once."""

    __slots__ = ("_semaphore",)

    def __init__(self, semaphore: asyncio.Semaphore) -> None:
        self._semaphore: asyncio.Semaphore | None = semaphore

    def release(self) -> None:
        if self._semaphore is not None:
            self._semaphore.release()
            self._semaphore = None


def _take(batches: Iterator[Batch]) -> list[Batch]:
    """The next few batches (up to PULL_MAX_BATCHES, or PULL_MAX_BYTES of payload)."""
    taken: list[Batch] = []
    size = 0
    for batch in islice(batches, PULL_MAX_BATCHES):
        taken.append(batch)
        size += len(batch.payload)
        if size >= PULL_MAX_BYTES:
            break
    return taken
