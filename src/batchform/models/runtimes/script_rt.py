"""Script mode: a model's ``inference.py`` run as SageMaker's framework images run it.

The hooks, their fallbacks and the answers are sagemaker-inference-toolkit's (see
:mod:`batchform.models.toolkit`); an image contributes its default hooks as a
:class:`~batchform.models.toolkit.transformer.Flavor`:

* ``python`` (:func:`python_runtime`): the toolkit alone. It decodes and encodes JSON, CSV
  and NPY by default but cannot load a model or predict, so ``inference.py`` must define
  ``model_fn`` and ``predict_fn`` (or ``transform_fn``); without them the load fails.
* ``sklearn`` with a script (:func:`sklearn_script_runtime`): the scikit-learn image's
  defaults, which are those of the built-in sklearn runtime — CSV/JSON rows as float32 (NPY
  as sent), a missing Content-Type read as JSON, ``model.predict(data)``, predictions encoded
  for the first supported Accept type — and, as in that image, 415 for a Content-Type and 406
  for an Accept the default ``input_fn``/``output_fn`` cannot handle. The image has no default
  ``model_fn``: the script must load the model. Hooks may also take a ``context`` and raise
  the toolkit's errors (the image's older sagemaker-containers server does not allow either).
* ``pytorch``: see :mod:`batchform.models.runtimes.pytorch_rt`.

A ``batchform server --no-script-mode`` refuses every script here, at load
(:func:`check_script_mode`).

Dependencies listed in ``code/requirements.txt`` are not installed at run time: install them
where batchform runs before running the job. No image here serves ``/execution-parameters``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from batchform.config import script_mode_allowed
from batchform.errors import ModelLoadError
from batchform.models import codecs
from batchform.models.base import Answer, ExecutionParameters
from batchform.models.runtimes import sklearn_rt
from batchform.models.toolkit import encoder, script
from batchform.models.toolkit.errors import UnsupportedFormatError
from batchform.models.toolkit.handlers import DefaultInferenceHandler
from batchform.models.toolkit.transformer import Flavor, Transformer


class ScriptRuntime:
    """A :class:`~batchform.models.runtimes.Runtime` running a toolkit-style script."""

    def __init__(self, flavor: Flavor) -> None:
        self._flavor = flavor
        self._transformer: Transformer | None = None

    @property
    def flavor(self) -> Flavor:
        return self._flavor

    def load(self, model_dir: Path, env: Mapping[str, str]) -> None:
        """Import the script, pick its hooks and load the model with ``model_fn``."""
        check_script_mode(model_dir, env)
        self._transformer = Transformer.load(model_dir, env, self._flavor)

    def execution_parameters(self) -> ExecutionParameters | None:
        """None: the toolkit's model server has no ``/execution-parameters`` route."""
        return None

    def invoke(self, body: bytes, content_type: str | None, accept: str | None) -> Answer:
        """One request through the script's hooks (see :mod:`batchform.models.toolkit`)."""
        if self._transformer is None:
            raise ModelLoadError(f"the {self._flavor.image} runtime was invoked before load()")
        return self._transformer.transform(body, content_type, accept)


class SklearnInferenceHandler(DefaultInferenceHandler):
    """The scikit-learn image's defaults, identical to the built-in sklearn runtime's."""

    def default_input_fn(self, input_data: Any, content_type: str | None) -> Any:
        """CSV/JSON rows as a float32 2-D array, NPY as sent; 400 for a malformed body."""
        media = codecs.parse_media_type(content_type).essence if content_type else codecs.JSON
        if media not in sklearn_rt.SUPPORTED_CONTENT_TYPES:
            raise UnsupportedFormatError(content_type)
        body = input_data.encode("utf-8") if isinstance(input_data, str) else bytes(input_data)
        if not body:
            raise codecs.invocation_error(400, "The request body is empty.")
        return sklearn_rt.decode_rows(body, media)

    def default_predict_fn(self, data: Any, model: Any) -> Any:
        """``model.predict(data)``."""
        return model.predict(data)

    def default_output_fn(self, prediction: Any, accept: str) -> Any:
        """``(body, type)`` for the first JSON/CSV/NPY type of ``accept``."""
        for candidate in codecs.accept_candidates(accept):
            if candidate in sklearn_rt.SUPPORTED_ACCEPTS:
                return encoder.encode(prediction, candidate), candidate
        raise UnsupportedFormatError(accept)


PYTHON = Flavor("python", DefaultInferenceHandler())
SKLEARN = Flavor(
    "sklearn",
    SklearnInferenceHandler(),
    default_content_type=codecs.JSON,
    unsupported_input_status=415,
    unsupported_output_status=406,
)


def python_runtime() -> ScriptRuntime:
    """The ``python`` image: ``inference.py`` with the toolkit's own defaults."""
    return ScriptRuntime(PYTHON)


def sklearn_script_runtime() -> ScriptRuntime:
    """The scikit-learn image running ``inference.py`` with scikit-learn's defaults."""
    return ScriptRuntime(SKLEARN)


def check_script_mode(model_dir: Path, env: Mapping[str, str]) -> None:
    """Raise ModelLoadError if the model asks for script mode and this process may not run
    code from model data (the job processes of ``batchform server --no-script-mode``)."""
    # Read from this process's environment, which the server set, never from ``env``: that
    # holds the caller's Environment, which must not be able to turn the setting back on.
    if script_mode_allowed() or not has_script(model_dir, env):
        return
    program = env.get("SAGEMAKER_PROGRAM")
    found = None if program else script.find_script(model_dir, None)
    what = (
        f"the model's {script.describe(found, model_dir)}"
        if found
        else f"SAGEMAKER_PROGRAM={program}"
    )
    raise ModelLoadError(
        f"{what} asks for script mode (code from the model data run by the server), which "
        "this server has turned off (batchform server --no-script-mode)"
    )


def has_script(model_dir: Path, env: Mapping[str, str]) -> bool:
    """True when the model asks for script mode: ``SAGEMAKER_PROGRAM`` or an ``inference.py``."""
    if env.get("SAGEMAKER_PROGRAM"):
        return True
    return script.find_script(model_dir, None) is not None
