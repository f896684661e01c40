"""``import sagemaker_inference`` for user scripts, without installing the toolkit.

Scripts written for SageMaker often do ``from sagemaker_inference import errors, encoder,
decoder, content_types, default_inference_handler``. When the real package is not
installed, :func:`install_sagemaker_inference` registers :mod:`batchform.models.toolkit`
under that name (and its modules under ``sagemaker_inference.<module>``), so such scripts
run unchanged. When the real package is importable it is left alone: scripts then use it,
and batchform still recognises its error classes (by name, see
:func:`~batchform.models.toolkit.errors.toolkit_error_of`).

Only the modules a script uses are provided: ``content_types``, ``decoder``,
``default_inference_handler``, ``encoder``, ``errors`` and ``utils``; the model-server
modules (``model_server``, ``transformer``, ``default_handler_service``) are not.
"""

from __future__ import annotations

import importlib.util
import sys
import threading

PACKAGE = "sagemaker_inference"

_lock = threading.Lock()


def install_sagemaker_inference() -> bool:
    """Register the shim unless ``sagemaker_inference`` is importable; True if it is ours."""
    from batchform.models import toolkit

    with _lock:
        current = sys.modules.get(PACKAGE)
        if current is not None:
            return current is toolkit
        if importlib.util.find_spec(PACKAGE) is not None:
            return False
        modules = {
            "content_types": toolkit.content_types,
            "decoder": toolkit.decoder,
            "default_inference_handler": toolkit.default_inference_handler,
            "encoder": toolkit.encoder,
            "errors": toolkit.errors,
            "utils": toolkit.utils,
        }
        for name, module in modules.items():
            sys.modules[f"{PACKAGE}.{name}"] = module
        sys.modules[PACKAGE] = toolkit
        return True
