"""The toolkit's exceptions, with its constructor signatures and messages.

A script raises :class:`BaseInferenceToolkitError` (or a subclass) to answer with its
``status_code``; any other exception answers 500. :func:`toolkit_error_of` also recognises the
classes of a real ``sagemaker_inference`` installation, so scripts work with either.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass


class UnsupportedFormatError(Exception):
    """A content type that the default handlers cannot decode or encode."""

    def __init__(self, content_type: object, **kwargs: object) -> None:
        # The toolkit's text, kept verbatim (its typo too): users search for it.
        self._message = textwrap.dedent(
            f"""Content type {content_type} is not supported by this framework.

            Please implement input_fn to to deserialize the request data or an output_fn to
            serialize the response. For more information, see the SageMaker Python SDK README."""
        )
        super().__init__(self._message, **kwargs)


class BaseInferenceToolkitError(Exception):
    """An error a script raises to answer with ``status_code``; extend it for your own errors."""

    def __init__(self, status_code: int, message: str, phrase: str) -> None:
        self.status_code = status_code
        self.message = message
        self.phrase = phrase
        super().__init__(status_code, message, phrase)


class GenericInferenceToolkitError(BaseInferenceToolkitError):
    """A :class:`BaseInferenceToolkitError` with defaults for the message and phrase."""

    def __init__(
        self, status_code: int, message: str | None = None, phrase: str | None = None
    ) -> None:
        message = message or "Invalid Request"
        phrase = phrase or message
        super().__init__(status_code, message, phrase)


@dataclass(frozen=True, slots=True)
class ToolkitErrorInfo:
    """What a toolkit error asks the server to answer."""

    status_code: int
    message: str
    phrase: str


def toolkit_error_of(exc: BaseException) -> ToolkitErrorInfo | None:
    """The status and message of a ``BaseInferenceToolkitError``, or None for other errors.

    Matched by class name along the MRO, so that errors of the real ``sagemaker_inference``
    package (when it is installed and a script imports it) are recognised as well as ours.
    """
    if not _has_base_named(exc, "BaseInferenceToolkitError"):
        return None
    status = getattr(exc, "status_code", None)
    if not isinstance(status, int) or not 100 <= status <= 599:
        return None
    message = str(getattr(exc, "message", exc))
    return ToolkitErrorInfo(status, message, str(getattr(exc, "phrase", message)))


def is_unsupported_format(exc: BaseException) -> bool:
    """True for our or the real toolkit's ``UnsupportedFormatError``."""
    return _has_base_named(exc, "UnsupportedFormatError")


def _has_base_named(exc: BaseException, name: str) -> bool:
    return any(cls.__name__ == name for cls in type(exc).__mro__)
