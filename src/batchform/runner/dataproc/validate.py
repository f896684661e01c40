"""Create-time checks of DataProcessing (docs/semantics.md, "DataProcessing").

``resolve_data_processing`` checks everything that does not depend on the data and returns the
compiled filters; ``validate_data_processing`` is the same check for the API layer. Errors are
``ValidationError`` with the service's wording where it is known:

    Invalid OutputFilter: "$['account_id','SageMakerOutput']". Unexpected "_" in JsonPath.
    Supported operators for "application/jsonlines" are ['$', '[', ']', '*', '.', ' ', ',', ...]

Which media type must be parseable depends on what is done (batchform's choice):
``ContentType`` when an ``InputFilter`` is set or records are joined; ``Accept`` when an
``OutputFilter`` is set or records are joined (the response is parsed). When ``Accept`` is
absent the response is read in the ``ContentType`` format, since a join requires both to match
anyway. A join between CSV and JSON is rejected; ``application/json`` with
``application/jsonlines`` is allowed.
"""

from __future__ import annotations

from dataclasses import dataclass

from batchform.errors import ValidationError
from batchform.runner.dataproc.codec import SUPPORTED_MEDIA_TYPES, Format, media_format
from batchform.runner.dataproc.jsonpath import INDEX_STEPS, JsonPath
from batchform.runner.spec import DataProcessing, JoinSource

MAX_FILTER_CHARS = 63
DEFAULT_FILTER = "$"

# The operator characters of the documented table; letters and digits are allowed besides.
_OPERATOR_CHARS = frozenset("$[]*., :-'")
# Rendered exactly as the service renders it in its error, including the unescaped quote.
_OPERATORS_TEXT = "['$', '[', ']', '*', '.', ' ', ',', ':', '-', ''']"


@dataclass(frozen=True, slots=True)
class ResolvedDataProcessing:
    """What per-record processing needs: the formats to parse and the compiled filters.

    A format is ``None`` when that side is never parsed; a filter is ``None`` when it is ``$``.
    """

    join: bool
    input_format: Format | None
    output_format: Format | None
    input_filter: JsonPath | None
    output_filter: JsonPath | None


def validate_data_processing(
    dp: DataProcessing, content_type: str | None, accept: str | None
) -> None:
    """Raise ``ValidationError`` if ``dp`` cannot run with these media types."""
    resolve_data_processing(dp, content_type, accept)


def resolve_data_processing(
    dp: DataProcessing,
    content_type: str | None,
    accept: str | None,
    *,
    slice_end_inclusive: bool = False,
) -> ResolvedDataProcessing:
    """Check ``dp`` against the media types and compile its filters."""
    join = dp.join_source is JoinSource.INPUT
    parse_input = join or dp.input_filter != DEFAULT_FILTER
    parse_output = join or dp.output_filter != DEFAULT_FILTER
    output_type = accept if accept is not None else content_type
    input_format = _input_format(content_type) if parse_input else None
    output_format = _output_format(output_type, accept is None) if parse_output else None
    if join and input_format is not None and output_format is not None:
        _check_join_formats(input_format, output_format, content_type, output_type)
    return ResolvedDataProcessing(
        join=join,
        input_format=input_format,
        output_format=output_format,
        input_filter=_compile(
            "InputFilter", dp.input_filter, content_type, input_format, slice_end_inclusive
        ),
        output_filter=_compile(
            "OutputFilter", dp.output_filter, output_type, output_format, slice_end_inclusive
        ),
    )


def _supported_text() -> str:
    return ", ".join(SUPPORTED_MEDIA_TYPES)


def _input_format(content_type: str | None) -> Format:
    fmt = media_format(content_type)
    if fmt is None:
        raise ValidationError(
            "DataProcessing with an InputFilter or JoinSource=Input needs "
            f"TransformInput.ContentType to be one of {_supported_text()}; "
            f"got {_shown(content_type)}"
        )
    return fmt


def _output_format(output_type: str | None, from_content_type: bool) -> Format:
    fmt = media_format(output_type)
    if fmt is None:
        field = (
            "TransformOutput.Accept (absent, so TransformInput.ContentType is used)"
            if from_content_type
            else "TransformOutput.Accept"
        )
        raise ValidationError(
            "DataProcessing with an OutputFilter or JoinSource=Input needs "
            f"{field} to be one of {_supported_text()}; got {_shown(output_type)}"
        )
    return fmt


def _check_join_formats(
    input_format: Format, output_format: Format, content_type: str | None, accept: str | None
) -> None:
    if (input_format is Format.CSV) != (output_format is Format.CSV):
        raise ValidationError(
            "JoinSource=Input needs TransformInput.ContentType and TransformOutput.Accept to "
            f"match; got {_shown(content_type)} and {_shown(accept)}"
        )


def _shown(media_type: str | None) -> str:
    return "none" if media_type is None else f'"{media_type}"'


def _compile(
    field: str, expr: str, media_type: str | None, fmt: Format | None, slice_end_inclusive: bool
) -> JsonPath | None:
    if expr == DEFAULT_FILTER or fmt is None:
        return None
    prefix = f'Invalid {field}: "{expr}". '
    if len(expr) > MAX_FILTER_CHARS:
        raise ValidationError(
            f"{prefix}JsonPath must be at most {MAX_FILTER_CHARS} characters long, got {len(expr)}."
        )
    if not expr.startswith("$"):
        raise ValidationError(f'{prefix}JsonPath must start with "$".')
    for char in expr:
        if not (char.isalnum() or char in _OPERATOR_CHARS):
            raise ValidationError(
                f'{prefix}Unexpected "{char}" in JsonPath. '
                f'Supported operators for "{media_type}" are {_OPERATORS_TEXT}'
            )
    try:
        path = JsonPath(expr, csv=fmt is Format.CSV, slice_end_inclusive=slice_end_inclusive)
    except ValidationError as exc:
        raise ValidationError(f"{prefix}{exc.message}.") from exc
    if fmt is Format.CSV and not _is_column_selection(path):
        raise ValidationError(
            f'{prefix}For "{media_type}" each row is a JSON array, so only one index-based '
            "selection is supported, e.g. $[0], $[1:], $[0,-1] or $[*]."
        )
    return path


def _is_column_selection(path: JsonPath) -> bool:
    # A CSV row is a flat array of strings: one index step is all that can apply to it.
    return len(path.steps) <= 1 and all(isinstance(step, INDEX_STEPS) for step in path.steps)
