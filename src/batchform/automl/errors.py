"""The AutoML training's own failure, beside the data errors it raises as ValidationError.

Bad input (a missing target column, an unreadable file, a one-class target) is a
:class:`batchform.errors.ValidationError` whose message names the file, column and rule; the
jobs layer copies either kind into the job's ``FailureReason``.
"""

from __future__ import annotations

from batchform.errors import BatchformError


class TrainingError(BatchformError):
    """The job ended without any candidate, or its training process died."""
