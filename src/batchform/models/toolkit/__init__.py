"""sagemaker-inference-toolkit's serving contract, in process: script mode for built-in images.

One concern per module, named as in the toolkit so that user scripts can import them as
``sagemaker_inference`` (see :mod:`~batchform.models.toolkit.compat`):

* :mod:`content_types`, :mod:`utils` — MIME constants, Accept/Content-Type helpers;
* :mod:`decoder`, :mod:`encoder` — the default body ↔ array conversions;
* :mod:`errors` — ``UnsupportedFormatError`` and ``BaseInferenceToolkitError``;
* :mod:`handlers` (also ``default_inference_handler``) — ``DefaultInferenceHandler``;
* :mod:`script` — finding and importing ``inference.py``, picking its hooks;
* :mod:`transformer` — one request through the hooks, errors mapped to statuses.
"""

from __future__ import annotations

from batchform.models.toolkit import content_types, decoder, encoder, errors, handlers, utils
from batchform.models.toolkit import handlers as default_inference_handler

__all__ = [
    "content_types",
    "decoder",
    "default_inference_handler",
    "encoder",
    "errors",
    "handlers",
    "utils",
]
