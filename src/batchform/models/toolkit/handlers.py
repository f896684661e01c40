"""The toolkit's ``DefaultInferenceHandler``: the hooks used when a script lacks one.

Framework images subclass it (the PyTorch and scikit-learn runtimes do); the base class can
decode and encode but neither load a model nor predict, exactly as in the toolkit.
"""

from __future__ import annotations

import textwrap
from typing import Any

from batchform.models.toolkit import decoder, encoder, utils
from batchform.models.toolkit.errors import UnsupportedFormatError


class DefaultInferenceHandler:
    """Bare-bones default hooks; a script's functions replace them one by one."""

    def default_model_fn(self, model_dir: str) -> Any:
        """Load the model: not provided by the toolkit itself."""
        raise NotImplementedError(
            textwrap.dedent(
                """
            Please provide a model_fn implementation.
            See documentation for model_fn at https://sagemaker.readthedocs.io/en/stable/
            """
            )
        )

    def default_input_fn(self, input_data: Any, content_type: str | None) -> Any:
        """Decode JSON, CSV, NPY or NPZ with :func:`decoder.decode`."""
        return decoder.decode(input_data, content_type)

    def default_predict_fn(self, data: Any, model: Any) -> Any:
        """Predict: not provided by the toolkit itself."""
        raise NotImplementedError(
            textwrap.dedent(
                """
            Please provide a predict_fn implementation.
            See documentation for predict_fn at https://sagemaker.readthedocs.io/en/stable/
            """
            )
        )

    def default_output_fn(self, prediction: Any, accept: str) -> tuple[str | bytes, str]:
        """``(body, content_type)`` for the first type of ``accept`` that can be encoded."""
        for content_type in utils.parse_accept(accept):
            if content_type in encoder.SUPPORTED_CONTENT_TYPES:
                return encoder.encode(prediction, content_type), content_type
        raise UnsupportedFormatError(accept)


def overrides(handler: DefaultInferenceHandler, name: str) -> bool:
    """True when ``handler``'s class provides its own ``name`` (e.g. ``default_model_fn``)."""
    return getattr(type(handler), name) is not getattr(DefaultInferenceHandler, name)
