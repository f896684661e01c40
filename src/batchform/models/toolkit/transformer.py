"""One ``/invocations`` request through a script's hooks, as the toolkit's ``Transformer``.

Per request: a missing or ``*/*`` Accept becomes ``SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT``
(default ``application/json``); a body whose Content-Type is exactly ``application/json`` or
``text/csv`` reaches ``input_fn`` as str, others as bytes; then ``transform_fn(model,
input_data, content_type, accept)`` — the script's, or ``input_fn`` → ``predict_fn`` →
``output_fn``. A ``(body, content_type)`` result answers with that type, any other result
with the Accept value. The body is sent as the model server sends it: bytes as they are,
str as UTF-8, anything else as ``json.dumps(value, indent=2)`` (503 if it cannot be).

Errors answer ``"<message>\\n<traceback>"``: a ``BaseInferenceToolkitError`` with its
``status_code``, anything else with 500 (a :class:`Flavor` may answer an
``UnsupportedFormatError`` from the default pipeline's ``input_fn``/``output_fn`` otherwise,
as the scikit-learn image answers 415/406). Hooks run one request at a time, as in one
model-server worker, so scripts need not be thread-safe.
"""

from __future__ import annotations

import json
import logging
import threading
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batchform.errors import BatchformError, InvocationError, ModelLoadError
from batchform.models.base import Answer
from batchform.models.toolkit import content_types, errors, script
from batchform.models.toolkit.handlers import DefaultInferenceHandler, overrides
from batchform.models.toolkit.script import Context, Hook, Hooks

_log = logging.getLogger(__name__)


class ResponseStatusError(Exception):
    """A failure the server answers with ``status`` rather than 500 (wraps ``cause``)."""

    def __init__(self, status: int, message: str, cause: BaseException) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.cause = cause


def serialize_response(value: Any) -> bytes:
    """The body the model server sends for a hook's result (MMS/TorchServe rules)."""
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    try:
        return json.dumps(value, indent=2).encode("utf-8")
    except TypeError as exc:
        raise ResponseStatusError(503, "Unsupported model output data type.", exc) from exc


@dataclass(frozen=True, slots=True)
class Flavor:
    """What a framework image adds to the toolkit: default hooks and a few answers."""

    image: str
    handler: DefaultInferenceHandler
    default_content_type: str | None = None
    unsupported_input_status: int = 500
    unsupported_output_status: int = 500
    serialize: Callable[[Any], bytes] = serialize_response


@dataclass(frozen=True, slots=True)
class Settings:
    """The container environment the toolkit reads, read once at load."""

    program: str | None
    default_accept: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        return cls(
            program=env.get("SAGEMAKER_PROGRAM") or None,
            default_accept=env.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT") or content_types.JSON,
        )


class Transformer:
    """A loaded model and its hooks; :meth:`transform` answers one request."""

    def __init__(
        self, flavor: Flavor, hooks: Hooks, model: Any, context: Context, default_accept: str
    ) -> None:
        self._flavor = flavor
        self._hooks = hooks
        self._model = model
        self._context = context
        self._default_accept = default_accept
        self._lock = threading.Lock()

    @classmethod
    def load(cls, model_dir: Path, env: Mapping[str, str], flavor: Flavor) -> Transformer:
        """Import the script (if any), pick its hooks and run ``model_fn`` once.

        Raises :class:`ModelLoadError` naming the script, the hook and what to fix.
        """
        settings = Settings.from_env(env)
        found = script.find_script(model_dir, settings.program)
        where = script.describe(found, model_dir) if found else f"{script.CODE_DIR}/inference.py"
        _warn_about_requirements(model_dir)
        context = Context.for_model(model_dir)
        code_dir = found.parent if found else model_dir / script.CODE_DIR
        with script.user_code_scope(code_dir, env):
            module = script.import_script(found, model_dir) if found else None
            hooks = script.select_hooks(module, flavor.handler, where)
            _require_hooks(hooks, flavor, where, found is not None)
            model = _load_model(hooks, model_dir, context, flavor, where)
        return cls(flavor, hooks, model, context, settings.default_accept)

    def transform(self, body: bytes, content_type: str | None, accept: str | None) -> Answer:
        """Answer one request; raises :class:`InvocationError` for a non-2xx answer."""
        if not accept or accept == content_types.ANY:
            accept = self._default_accept
        content_type = content_type or self._flavor.default_content_type
        try:
            with self._lock:
                result = self._run(body, content_type, accept)
            if isinstance(result, tuple):
                payload, answer_type = result[0], result[1]
            else:
                payload, answer_type = result, accept
            data = self._flavor.serialize(payload)
        except InvocationError:
            raise  # batchform's own codecs, used by some defaults, already chose a status
        except Exception as exc:
            raise _error_answer(exc) from exc
        return Answer(data, None if answer_type is None else str(answer_type))

    def _run(self, body: bytes, content_type: str | None, accept: str) -> Any:
        input_data: str | bytes = body
        if content_type in content_types.UTF8_TYPES:
            input_data = body.decode("utf-8")
        if self._hooks.transform_fn is not None:
            return self._hooks.transform_fn.call(
                self._context, self._model, input_data, content_type, accept
            )
        data = self._call_refusing(
            self._hooks.input_fn, self._flavor.unsupported_input_status, input_data, content_type
        )
        prediction = self._hooks.predict_fn.call(self._context, data, self._model)
        return self._call_refusing(
            self._hooks.output_fn, self._flavor.unsupported_output_status, prediction, accept
        )

    def _call_refusing(self, hook: Hook, status: int, *args: Any) -> Any:
        """``hook(*args)``, answering an UnsupportedFormatError with ``status``."""
        try:
            return hook.call(self._context, *args)
        except Exception as exc:
            if status != 500 and errors.is_unsupported_format(exc):
                raise ResponseStatusError(status, str(exc), exc) from exc
            raise


def _error_answer(exc: Exception) -> InvocationError:
    """The toolkit's error answer: ``"<message>\\n<traceback>"`` with the chosen status."""
    if isinstance(exc, ResponseStatusError):
        return _answer(exc.status, exc.message, exc.message, exc.cause)
    toolkit_error = errors.toolkit_error_of(exc)
    if toolkit_error is not None:
        message = toolkit_error.message
        return _answer(toolkit_error.status_code, message, message, exc)
    return _answer(500, str(exc), f"{type(exc).__name__}: {exc}", exc)


def _answer(status: int, message: str, summary: str, cause: BaseException) -> InvocationError:
    trace = "".join(traceback.format_exception(cause))
    body = f"{message}\n{trace}".encode("utf-8", "replace")
    return InvocationError(status, body, summary)


def _require_hooks(hooks: Hooks, flavor: Flavor, where: str, has_script: bool) -> None:
    """Fail at load when a hook the image has no default for is missing."""
    missing = "" if has_script else f" (no script was found at {where})"
    if not hooks.model_fn.from_script and not overrides(flavor.handler, "default_model_fn"):
        raise ModelLoadError(
            f"The {flavor.image} image needs model_fn in {where}{missing}: it has no default "
            "way to load a model. Define def model_fn(model_dir): returning the loaded model."
        )
    needs_predict = hooks.transform_fn is None and not hooks.predict_fn.from_script
    if needs_predict and not overrides(flavor.handler, "default_predict_fn"):
        raise ModelLoadError(
            f"The {flavor.image} image needs predict_fn (or transform_fn) in {where}{missing}: "
            "it has no default way to predict. Define def predict_fn(data, model):."
        )


def _load_model(hooks: Hooks, model_dir: Path, context: Context, flavor: Flavor, where: str) -> Any:
    """``pre_model_fn``, ``model_fn`` and ``model_warmup_fn``, as the toolkit runs them."""
    directory = str(model_dir)
    if hooks.pre_model_fn is not None:
        _run_load_hook(hooks.pre_model_fn, flavor, where, context, directory)
    model = _run_load_hook(hooks.model_fn, flavor, where, context, directory)
    if hooks.model_warmup_fn is not None:
        _run_load_hook(hooks.model_warmup_fn, flavor, where, context, directory, model)
    return model


def _run_load_hook(hook: Hook, flavor: Flavor, where: str, context: Context, *args: Any) -> Any:
    try:
        return hook.call(context, *args)
    except BatchformError:
        raise
    except Exception as exc:
        origin = (
            f"{hook.name} in {where}"
            if hook.from_script
            else f"The {flavor.image} image's default {hook.name}"
        )
        raise ModelLoadError(f"{origin} failed: {type(exc).__name__}: {exc}") from exc


def _warn_about_requirements(model_dir: Path) -> None:
    requirements = model_dir / script.CODE_DIR / "requirements.txt"
    if requirements.is_file():
        _log.warning(
            "%s is not installed by batchform (runs need no network); install the script's "
            "dependencies where batchform runs beforehand.",
            requirements,
        )
