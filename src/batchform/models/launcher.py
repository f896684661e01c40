"""Start and stop a local process that serves the container contract.

batchform runs "containers" without Docker: an image registered as a ``command`` is a process
on this host that serves ``/ping``, ``/execution-parameters`` and ``/invocations`` on
``127.0.0.1:$SAGEMAKER_BIND_TO_PORT`` (docs/semantics.md, "Model containers"). It cannot see
``/opt/ml/model``, so the conventions are:

* ``SM_MODEL_DIR`` holds the absolute path of the unpacked ``ModelDataUrl`` (what a container
  finds in ``/opt/ml/model``); a command written for a real image reads it instead of the
  hard-coded path.
* Callers start the command in that model directory (``cwd``), so a command that opens model
  files by relative name finds them; commands name their programs by absolute path or
  through ``PATH``.
* ``SAGEMAKER_BIND_TO_PORT`` (and ``SAGEMAKER_SAFE_PORT_RANGE`` when extra ports are given) say
  where to listen; every process gets its own free port, as each pipeline container does.
* The command is run as given: ``serve`` is not appended (put it in the command if the
  program expects it).

The process starts in its own process group, so :meth:`ContainerProcess.stop` reaches every
process it spawned (model-server workers). Its stdout and stderr go, line by line, to a log
file and to a callback (an instance turns them into the job's log stream).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack, suppress
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from batchform.errors import InternalError, ModelLoadError

DEFAULT_GRACE_S = 30.0
MAX_LINE_BYTES = 1024 * 1024
READER_JOIN_S = 5.0  # for the output reader to pass on the last lines after the group died
_PORT_RANGE_FIRST, _PORT_RANGE_LAST = 20000, 32000  # below Linux's ephemeral 32768-60999
_PORT_RANGE_ATTEMPTS = 50


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def free_port_range(count: int, host: str = "127.0.0.1") -> range:
    """``count`` consecutive free ports (for ``SAGEMAKER_SAFE_PORT_RANGE``).

    Raises ``InternalError`` if no such run is found after a few random tries.
    """
    for _ in range(_PORT_RANGE_ATTEMPTS):
        first = random.randint(_PORT_RANGE_FIRST, _PORT_RANGE_LAST - count)
        if _all_free(range(first, first + count), host):
            return range(first, first + count)
    raise InternalError(f"no {count} consecutive free ports found on {host}")


def _all_free(ports: range, host: str) -> bool:
    with ExitStack() as stack:
        for port in ports:
            sock = stack.enter_context(socket.socket())
            try:
                sock.bind((host, port))
            except OSError:
                return False
    return True


def command_environment(
    environment: Mapping[str, str],
    *,
    model_dir: Path,
    port: int,
    safe_ports: range | None = None,
) -> dict[str, str]:
    """The container environment of a command: ``environment`` plus where to listen and load.

    ``environment`` is what the container gets under SageMaker (model env < ``SAGEMAKER_*`` <
    job env); this adds ``SAGEMAKER_BIND_TO_PORT``, ``SAGEMAKER_SAFE_PORT_RANGE``
    (``"first-last"``, inclusive) and ``SM_MODEL_DIR`` (docs/semantics.md, "Parameters and
    environment").
    """
    env = dict(environment)
    env["SAGEMAKER_BIND_TO_PORT"] = str(port)
    if safe_ports is not None and len(safe_ports) > 0:
        env["SAGEMAKER_SAFE_PORT_RANGE"] = f"{safe_ports[0]}-{safe_ports[-1]}"
    env["SM_MODEL_DIR"] = str(model_dir)
    return env


class ContainerProcess:
    """One command serving the container contract, on this host, in its own process group.

    ``env`` is the container environment (see :func:`command_environment`). With
    ``inherit_env`` (the default) it is laid over this process's environment, which plays the
    part of the image's own ``ENV`` (``PATH``, virtualenvs); ``PYTHONUNBUFFERED=1`` is added
    unless set, as SageMaker's Python images do, so log lines appear as they are written.
    stdout and stderr are appended to ``log_path`` and each line is handed to ``on_line``
    (from a reader thread) as it arrives. Use as a context manager, or call
    :meth:`start` and then :meth:`stop` (or :meth:`astop` from async code).
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        log_path: Path,
        on_line: Callable[[str], None] | None = None,
        inherit_env: bool = True,
    ) -> None:
        if not argv:
            raise InternalError("ContainerProcess needs a command")
        self._argv = list(argv)
        self._env = {**os.environ, **env} if inherit_env else dict(env)
        self._env.setdefault("PYTHONUNBUFFERED", "1")
        self._cwd = cwd
        self._log_path = log_path
        self._on_line = on_line
        self._popen: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._stopped = False

    @property
    def pid(self) -> int | None:
        return self._popen.pid if self._popen else None

    @property
    def alive(self) -> bool:
        """True while the command (the process-group leader) is running."""
        return self._popen is not None and self._popen.poll() is None

    @property
    def returncode(self) -> int | None:
        """The exit status once it ended; ``-N`` when killed by signal N."""
        return self._popen.poll() if self._popen else None

    def start(self) -> None:
        """Start the command; ``ModelLoadError`` if it cannot be executed."""
        if self._popen is not None:
            raise InternalError(f"{self._argv[0]} was already started")
        self.note(f"starting {self._argv} in {self._cwd}")
        try:
            self._popen = subprocess.Popen(
                self._argv,
                env=self._env,
                cwd=self._cwd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() reaches workers
            )
        except OSError as exc:
            self.note(f"could not start: {exc}")
            raise ModelLoadError(f"Could not start model command {self._argv}: {exc}") from exc
        self._reader = threading.Thread(
            target=self._forward_output, name=f"log-{self._argv[0]}", daemon=True
        )
        self._reader.start()

    def _forward_output(self) -> None:
        """Copy the command's output, line by line, to the log file and to ``on_line``."""
        assert self._popen is not None and self._popen.stdout is not None
        with self._popen.stdout as output, self._log_path.open("ab") as log:
            # Ends when every process of the group has closed the pipe; a longer line is
            # passed on in pieces rather than held whole in memory.
            raw = b"\n"
            while piece := output.readline(MAX_LINE_BYTES):
                raw = piece
                log.write(raw)
                log.flush()
                if self._on_line is not None:
                    self._on_line(raw.decode("utf-8", errors="replace").rstrip("\r\n"))
            if not raw.endswith(b"\n"):  # an unterminated last line: ours start on a new one
                log.write(b"\n")

    def wait(self, timeout_s: float) -> int | None:
        """The exit status once the command ends, or None if it still runs after ``timeout_s``."""
        if self._popen is None:
            return None
        try:
            return self._popen.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, grace_s: float = DEFAULT_GRACE_S) -> int | None:
        """SIGTERM the process group, SIGKILL it after ``grace_s``; return the exit status.

        Whatever is left of the group once the command has exited is killed too, so no
        worker outlives it. Safe to call more than once, or when the command already ended.
        """
        popen = self._popen
        if popen is None or self._stopped:
            return popen.returncode if popen else None
        self._stopped = True
        already_ended = popen.poll() is not None
        if not already_ended:
            _signal_group(popen.pid, signal.SIGTERM)
            with suppress(subprocess.TimeoutExpired):
                popen.wait(timeout=grace_s)
        _signal_group(popen.pid, signal.SIGKILL)
        returncode = popen.wait()
        if self._reader is not None:  # the pipe closes once the whole group is gone
            self._reader.join(READER_JOIN_S)
        how = "had exited" if already_ended else "stopped"
        self.note(f"model process {how} (exit status {returncode})")
        return returncode

    async def astop(self, grace_s: float = DEFAULT_GRACE_S) -> int | None:
        """:meth:`stop` without blocking the event loop."""
        return await asyncio.to_thread(self.stop, grace_s)

    def __enter__(self) -> ContainerProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def note(self, text: str) -> None:
        """A line of ours about the process, in its log beside its own output."""
        self._log_path.parent.mkdir(parents=True, exist_ok=True)
        with self._log_path.open("a", buffering=1, encoding="utf-8") as log:
            log.write(f"{_now()} [batchform] {text}\n")
        if self._on_line is not None:
            self._on_line(f"[batchform] {text}")


def describe_exit(returncode: int) -> str:
    """An exit status in words: ``exited with exit status 3``, ``was killed by SIGKILL``."""
    if returncode >= 0:
        return f"exited with exit status {returncode}"
    try:
        name = signal.Signals(-returncode).name
    except ValueError:  # a real-time signal has no name
        name = f"signal {-returncode}"
    return f"was killed by {name}"


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    with suppress(ProcessLookupError):  # the group is already empty
        os.killpg(pgid, signum)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
