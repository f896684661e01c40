"""Loading a model's ``inference.py`` and picking its hooks, as sagemaker-inference-toolkit does.

* The script is ``SAGEMAKER_PROGRAM`` (default ``inference.py``) in ``<model_dir>/code/``, or at
  the model directory's root as older artifacts have it. The toolkit silently falls back to its
  defaults when the module is missing; batchform does that only for the default name: a
  ``SAGEMAKER_PROGRAM`` naming a file that is not there fails to load.
* It is imported under a unique module name (``_batchform_script_<n>_<stem>``), so that two
  models whose scripts share a name never meet in ``sys.modules``. Its directory is put first
  on ``sys.path`` only while it is imported and while ``pre_model_fn``/``model_fn``/
  ``model_warmup_fn`` run, and the sibling modules it imported from that directory are then
  dropped from ``sys.modules`` (the script keeps its references), so another model's
  ``code/utils.py`` is imported afresh. Import siblings at the top of the script or in
  ``model_fn``: an import inside ``input_fn``/``predict_fn``/... no longer sees ``code/``.
* The container's environment is laid over ``os.environ`` during the same window, so a script
  reading its variables at import time or in ``model_fn`` sees them.
* ``code/requirements.txt`` is not installed (a run needs no network): install the script's
  dependencies where batchform runs beforehand. A missing one fails the load, naming it.
* Hooks and fallbacks are the toolkit's: ``model_fn``, ``input_fn``, ``predict_fn``,
  ``output_fn`` or ``transform_fn`` (not both kinds), optional ``pre_model_fn`` and
  ``model_warmup_fn``; each may take a trailing ``context`` argument, detected from its
  signature as the toolkit does. A hook with another number of parameters fails at load
  (the toolkit fails every request instead).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import inspect
import itertools
import os
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import batchform
from batchform.errors import ModelLoadError
from batchform.models.toolkit import compat
from batchform.models.toolkit.handlers import DefaultInferenceHandler

DEFAULT_PROGRAM = "inference.py"
CODE_DIR = "code"
MODULE_PREFIX = "_batchform_script_"

# The toolkit's arguments of each hook, without the optional trailing context.
HOOK_PARAMETERS: dict[str, tuple[str, ...]] = {
    "pre_model_fn": ("model_dir",),
    "model_fn": ("model_dir",),
    "model_warmup_fn": ("model_dir", "model"),
    "input_fn": ("input_data", "content_type"),
    "predict_fn": ("data", "model"),
    "output_fn": ("prediction", "accept"),
    "transform_fn": ("model", "input_data", "content_type", "accept"),
}

# sys.path, sys.modules and os.environ are process-wide: one script loads at a time.
_SCOPE_LOCK = threading.RLock()
_module_numbers = itertools.count()


@dataclass(frozen=True, slots=True)
class Context:
    """What a hook's trailing ``context`` receives: the model server's start-up context.

    The toolkit passes the context the model server gave at initialisation; scripts read
    ``context.system_properties`` (``model_dir``, ``gpu_id`` — None here, no GPU is
    assigned — ``batch_size``, ``server_name``, ``server_version``).
    """

    model_name: str
    system_properties: Mapping[str, Any]
    manifest: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def for_model(cls, model_dir: Path, model_name: str = "model") -> Context:
        """The start-up context of the model unpacked at ``model_dir``."""
        properties = {
            "model_dir": str(model_dir),
            "gpu_id": None,
            "batch_size": 1,
            "server_name": "batchform",
            "server_version": batchform.__version__,
        }
        manifest = {"model": {"modelName": model_name}}
        return cls(model_name, properties, manifest)


@dataclass(frozen=True, slots=True)
class Hook:
    """One handler function, from the script or the image's defaults."""

    name: str
    func: Callable[..., Any]
    takes_context: bool
    from_script: bool

    def call(self, context: Context, *args: Any) -> Any:
        """Call the function, with ``context`` appended when it takes one."""
        if self.takes_context:
            return self.func(*args, context)
        return self.func(*args)


@dataclass(frozen=True, slots=True)
class Hooks:
    """The hooks a model answers with; ``transform_fn`` is None unless the script has one."""

    model_fn: Hook
    input_fn: Hook
    predict_fn: Hook
    output_fn: Hook
    transform_fn: Hook | None = None
    pre_model_fn: Hook | None = None
    model_warmup_fn: Hook | None = None


def find_script(model_dir: Path, program: str | None) -> Path | None:
    """The script named by ``program`` (or ``inference.py``) under ``code/`` or the root.

    None when no program is configured and ``inference.py`` is absent; a configured
    ``program`` that is absent raises :class:`ModelLoadError`.
    """
    name = program or DEFAULT_PROGRAM
    # The toolkit takes a module name: "inference" and "inference.py" mean the same file.
    if not name.endswith(".py"):
        name += ".py"
    root = model_dir.resolve()
    for candidate in (model_dir / CODE_DIR / name, model_dir / name):
        if candidate.is_file() and candidate.resolve().is_relative_to(root):
            return candidate
    if program is None:
        return None
    raise ModelLoadError(
        f"SAGEMAKER_PROGRAM={program!r} names a script that is not in the model: put it in "
        f"model.tar.gz as {CODE_DIR}/{name} (batchform does not fetch SAGEMAKER_SUBMIT_DIRECTORY)."
    )


@contextlib.contextmanager
def user_code_scope(code_dir: Path, env: Mapping[str, str]) -> Iterator[None]:
    """``code_dir`` first on ``sys.path`` and ``env`` in ``os.environ``, restored on exit.

    Modules imported from ``code_dir`` meanwhile leave ``sys.modules`` on exit, except the
    uniquely named scripts themselves.
    """
    with _SCOPE_LOCK:
        before = set(sys.modules)
        saved_env = {name: os.environ.get(name) for name in env}
        os.environ.update(env)
        sys.path.insert(0, str(code_dir))
        importlib.invalidate_caches()
        try:
            yield
        finally:
            with contextlib.suppress(ValueError):  # the script may have removed it itself
                sys.path.remove(str(code_dir))
            _restore_environ(saved_env)
            _forget_modules_from(code_dir, before)


def import_script(script: Path, model_dir: Path) -> ModuleType:
    """Import ``script`` under a unique module name; :class:`ModelLoadError` if it fails."""
    compat.install_sagemaker_inference()
    where = describe(script, model_dir)
    name = f"{MODULE_PREFIX}{next(_module_numbers)}_{_identifier(script.stem)}"
    spec = importlib.util.spec_from_file_location(name, script)
    if spec is None or spec.loader is None:
        raise ModelLoadError(f"{where} cannot be imported as a Python module.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickle look a module up by its name
    try:
        spec.loader.exec_module(module)
    except ModuleNotFoundError as exc:
        sys.modules.pop(name, None)
        raise ModelLoadError(
            f"{where} imports {exc.name!r}, which is not installed where batchform runs "
            f"({exc}). Install the script's dependencies beforehand (e.g. pip install -r "
            f"{CODE_DIR}/requirements.txt): batchform does not install them at run time."
        ) from exc
    except Exception as exc:
        sys.modules.pop(name, None)
        raise ModelLoadError(
            f"{where} failed while being imported: {type(exc).__name__}: {exc}"
        ) from exc
    return module


def select_hooks(module: ModuleType | None, handler: DefaultInferenceHandler, where: str) -> Hooks:
    """The script's hooks, the ``handler``'s defaults for the missing ones.

    Raises :class:`ModelLoadError` when ``transform_fn`` comes with ``input_fn``,
    ``predict_fn`` or ``output_fn`` (the toolkit's ValueError), or a hook has the wrong
    number of parameters.
    """
    found = {name: _script_function(module, name, where) for name in HOOK_PARAMETERS}
    if found["transform_fn"] and (found["input_fn"] or found["predict_fn"] or found["output_fn"]):
        raise ModelLoadError(
            f"{where}: Cannot use transform_fn implementation in conjunction with input_fn, "
            "predict_fn, and/or output_fn implementation; keep transform_fn alone or the other "
            "three."
        )

    def pick(name: str) -> Hook:
        script_func = found[name]
        if script_func is not None:
            return _hook(name, script_func, True, where)
        return _hook(name, getattr(handler, f"default_{name}"), False, where)

    def optional(name: str) -> Hook | None:
        has_default = callable(getattr(handler, f"default_{name}", None))
        return pick(name) if found[name] is not None or has_default else None

    return Hooks(
        model_fn=pick("model_fn"),
        input_fn=pick("input_fn"),
        predict_fn=pick("predict_fn"),
        output_fn=pick("output_fn"),
        transform_fn=_hook("transform_fn", found["transform_fn"], True, where)
        if found["transform_fn"]
        else None,
        pre_model_fn=optional("pre_model_fn"),
        model_warmup_fn=optional("model_warmup_fn"),
    )


def describe(script: Path, model_dir: Path) -> str:
    """``code/inference.py``: the script's path inside the model, for messages."""
    try:
        return script.relative_to(model_dir).as_posix()
    except ValueError:
        return str(script)


def _script_function(module: ModuleType | None, name: str, where: str) -> Callable[..., Any] | None:
    value = getattr(module, name, None) if module is not None else None
    if value is None:
        return None
    if not callable(value):
        raise ModelLoadError(f"{name} in {where} is a {type(value).__name__}, not a function.")
    return value  # type: ignore[no-any-return]


def _hook(name: str, func: Callable[..., Any], from_script: bool, where: str) -> Hook:
    expected = HOOK_PARAMETERS[name]
    try:
        count = len(inspect.signature(func).parameters)
    except (TypeError, ValueError):
        return Hook(name, func, False, from_script)  # no signature (a builtin): no context
    if count not in (len(expected), len(expected) + 1):
        origin = f"{name} in {where}" if from_script else f"The default {name}"
        raise ModelLoadError(
            f"{origin} takes {count} parameter(s), but the toolkit calls it as "
            f"{name}({', '.join(expected)}) or {name}({', '.join(expected)}, context)."
        )
    return Hook(name, func, count == len(expected) + 1, from_script)


def _identifier(stem: str) -> str:
    return "".join(char if char.isalnum() else "_" for char in stem)


def _restore_environ(saved: Mapping[str, str | None]) -> None:
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def _forget_modules_from(code_dir: Path, before: set[str]) -> None:
    root = code_dir.resolve()
    for name in set(sys.modules) - before:
        if name.startswith(MODULE_PREFIX):
            continue
        location = getattr(sys.modules.get(name), "__file__", None)
        if location and Path(location).resolve().is_relative_to(root):
            sys.modules.pop(name, None)
