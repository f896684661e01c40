"""Joining Ray: once per process, with Ray's many connection errors turned into one of ours."""

from __future__ import annotations

import threading
from typing import Any

import ray

from batchform.errors import BatchformError
from batchform.runner.executor import ExecutorConfig

NAMESPACE = "batchform"
_CONNECT_LOCK = threading.Lock()


class RayUnavailableError(BatchformError):
    """The Ray cluster could not be reached, or refused us."""


def connect(config: ExecutorConfig) -> None:
    """Join (or start) Ray once per process; :class:`RayUnavailableError` with the cause."""
    with _CONNECT_LOCK:
        if ray.is_initialized():
            return
        options: dict[str, Any] = {"namespace": NAMESPACE, "log_to_driver": False}
        if config.ray_address is None:
            options["include_dashboard"] = False
            if config.ray_temp_dir is not None:
                options["_temp_dir"] = str(config.ray_temp_dir)
        else:
            options["address"] = config.ray_address
        try:
            ray.init(**options)
        except Exception as exc:  # Ray raises ConnectionError, RuntimeError, ValueError...
            raise RayUnavailableError(_connect_reason(config.ray_address, exc)) from exc


def _connect_reason(address: str | None, exc: Exception) -> str:
    where = f"the Ray cluster at {address}" if address else "a local Ray"
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    hint = ""
    if isinstance(exc, ConnectionError):
        # A rejected token looks like any failed connection (ray.md §8): say both.
        hint = (
            "; check the address, and if the cluster uses token auth, give this server its "
            "token (RAY_AUTH_TOKEN or RAY_AUTH_TOKEN_PATH)"
        )
    return f"ClientError: cannot connect to {where}: {first}{hint}"
