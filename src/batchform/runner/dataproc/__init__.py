"""DataProcessing: InputFilter, JoinSource and OutputFilter (docs/semantics.md, "DataProcessing").

The API validates a job's DataProcessing at create time with ``validate_data_processing``; the
runner builds one ``RecordProcessor`` per job and calls ``input_record`` for every record sent
and ``output_records`` for every response received.
"""

from __future__ import annotations

from batchform.runner.dataproc.codec import SUPPORTED_MEDIA_TYPES, Format, media_format
from batchform.runner.dataproc.csvrow import format_row, parse_row
from batchform.runner.dataproc.jsonpath import JsonPath
from batchform.runner.dataproc.processor import RecordProcessor
from batchform.runner.dataproc.validate import (
    MAX_FILTER_CHARS,
    ResolvedDataProcessing,
    resolve_data_processing,
    validate_data_processing,
)

__all__ = [
    "MAX_FILTER_CHARS",
    "SUPPORTED_MEDIA_TYPES",
    "Format",
    "JsonPath",
    "RecordProcessor",
    "ResolvedDataProcessing",
    "format_row",
    "media_format",
    "parse_row",
    "resolve_data_processing",
    "validate_data_processing",
]
