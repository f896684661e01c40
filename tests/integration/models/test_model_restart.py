"""A command image's process that exits is started again before the next invocation, at most
three times per container and instance; the failed invocation names the exit.

Real processes throughout: the misbehaving model server of ``tests/faults/model.py``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from batchform.errors import ModelUnreachableError
from batchform.models.base import ContainerSpec, Model, ModelSpec
from batchform.models.images import CommandImage, ImageCatalog
from batchform.models.launcher import describe_exit
from batchform.models.registry import open_model
from batchform.models.user_images import MAX_RESTARTS, ProcessModel
from batchform.runner.events import Event, LogLine, ObjectDone, ObjectFailed
from batchform.runner.instance import Instance, InstanceTask
from batchform.runner.plan import make_plan
from batchform.runner.spec import BatchStrategy, SplitType
from batchform.storage.inputs import list_inputs
from tests.integration.runner.test_instance import make_spec, write_inputs

MODEL_SCRIPT = str(Path(__file__).resolve().parents[2] / "faults" / "model.py")
MODES = ("echo", "exit-on", "exit-always", "hang")
HANG_GUARD_S = 120.0  # a busy machine starts five model processes well within this


def catalog(tmp_path: Path) -> ImageCatalog:
    images = ImageCatalog(tmp_path / "images.toml")
    for mode in MODES:
        images.add(CommandImage(f"faults/{mode}:1", (sys.executable, MODEL_SCRIPT, mode)))
    return images


async def open_images(
    tmp_path: Path, *modes: str, on_log: Any = None, timeout_s: float = 30.0
) -> Model:
    containers = tuple(ContainerSpec(f"faults/{mode}:1") for mode in modes)
    return await open_model(
        ModelSpec("restart", containers),
        cache_dir=tmp_path / "cache",
        environment={},
        catalog=catalog(tmp_path),
        log_dir=tmp_path / "logs",
        invocation_timeout_s=timeout_s,
        on_log=on_log,
    )


async def echo(model: Model, body: bytes) -> bytes:
    return (await model.invoke(body, content_type="text/csv", accept=None)).body


def test_a_model_process_that_died_is_started_again_before_the_next_invocation(
    tmp_path: Path,
) -> None:
    lines: list[tuple[str, str]] = []

    async def scenario() -> None:
        model = await open_images(tmp_path, "exit-on", on_log=lambda *line: lines.append(line))
        assert isinstance(model, ProcessModel)
        try:
            assert await echo(model, b"a,1\n") == b"a,1\n"
            with pytest.raises(ModelUnreachableError) as died:
                await echo(model, b"KILL\n")
            assert died.value.message.endswith(
                "; the model process exited with exit status 3 during the request"
            ), died.value.message
            first_pid = model.pid
            assert await echo(model, b"b,2\n") == b"b,2\n"
            assert model.restarts == 1 and model.pid != first_pid
        finally:
            await model.aclose()

    asyncio.run(scenario())
    texts = [text for _, text in lines]
    note = "[batchform] model process exited with exit status 3; restarting it (restart 1 of 3)"
    assert note in texts, texts
    assert sum(text.startswith("[batchform] starting ") for text in texts) == 2


def test_a_model_process_killed_by_a_signal_during_a_request_says_so(tmp_path: Path) -> None:
    async def scenario() -> str:
        model = await open_images(tmp_path, "hang")
        assert isinstance(model, ProcessModel)
        pid = model.pid
        assert pid is not None
        try:
            request = asyncio.create_task(echo(model, b"a,1\n"))
            await asyncio.sleep(0.5)  # the request is in the server's hands
            os.kill(pid, signal.SIGKILL)
            with pytest.raises(ModelUnreachableError) as died:
                await request
            return died.value.message
        finally:
            await model.aclose()

    message = asyncio.run(scenario())
    assert message.endswith("the model process was killed by SIGKILL during the request"), message


def test_an_exit_is_described_in_words() -> None:
    assert describe_exit(3) == "exited with exit status 3"
    assert describe_exit(0) == "exited with exit status 0"
    assert describe_exit(-signal.SIGKILL) == "was killed by SIGKILL"
    assert describe_exit(-(signal.SIGRTMIN + 2)) == f"was killed by signal {signal.SIGRTMIN + 2}"


def test_each_container_of_a_pipeline_is_restarted_on_its_own(tmp_path: Path) -> None:
    lines: list[tuple[str, str]] = []

    async def scenario() -> str:
        model = await open_images(
            tmp_path, "echo", "exit-on", on_log=lambda *line: lines.append(line)
        )
        try:
            with pytest.raises(ModelUnreachableError) as died:
                await echo(model, b"KILL\n")
            assert await echo(model, b"a,1\n") == b"a,1\n"
            return died.value.message
        finally:
            await model.aclose()

    message = asyncio.run(scenario())
    assert message.startswith("container container-2: "), message
    assert message.endswith("exited with exit status 3 during the request"), message
    restarts = [name for name, text in lines if "restarting it" in text]
    assert restarts == ["container-2"], lines


def test_a_model_that_keeps_exiting_fails_the_remaining_objects_after_three_restarts(
    tmp_path: Path,
) -> None:
    objects = MAX_RESTARTS + 3
    write_inputs(tmp_path, {f"obj-{i}.csv": b"r,%d\n" % i for i in range(objects)})
    spec = make_spec(
        tmp_path,
        model=ModelSpec("exit-always", (ContainerSpec("faults/exit-always:1"),)),
        split_type=SplitType.LINE,
        batch_strategy=BatchStrategy.SINGLE_RECORD,
        max_concurrent=1,
        invocation_max_retries=1,
        invocation_timeout_s=30.0,
    )
    catalog(tmp_path)
    events = run_instance(tmp_path, spec)

    failed = {e.object_index: e for e in events if isinstance(e, ObjectFailed)}
    assert not [e for e in events if isinstance(e, ObjectDone)]
    assert sorted(failed) == list(range(objects)), events
    # obj-0 dies and dies again after restart 1; obj-1 after restarts 2 and 3; then no more.
    died = "exited with exit status 3 during the request"
    assert died in failed[0].message and died in failed[1].message, failed
    kept = (
        "the model process kept exiting: started again 3 times, it exited with exit status 3 "
        "the last time"
    )
    for index in range(2, objects):
        assert failed[index].category == "AlgorithmError"
        assert failed[index].message == kept, failed[index]
    notes = [e.text for e in events if isinstance(e, LogLine) and "restarting it (" in e.text]
    assert [note[-len("(restart 1 of 3)") :] for note in notes] == [
        f"(restart {n} of 3)" for n in range(1, MAX_RESTARTS + 1)
    ]
    gave_up = [e.text for e in events if isinstance(e, LogLine) and "not restarting" in e.text]
    assert gave_up == [
        "[batchform] model process exited with exit status 3; not restarting it again"
    ], gave_up


def run_instance(tmp_path: Path, spec: Any) -> list[Event]:
    """One instance with the real registry opener, under a hang guard."""
    plan = make_plan(spec, list_inputs(spec.input_uri, spec.data_type))
    events: list[Event] = []
    task = InstanceTask(
        spec, 0, plan.objects, tmp_path / "cache", tmp_path / "logs", tmp_path / "images.toml"
    )

    async def run() -> None:
        async with asyncio.timeout(HANG_GUARD_S):
            await Instance(task, events.append, lambda: False).run()

    asyncio.run(run())
    return events
