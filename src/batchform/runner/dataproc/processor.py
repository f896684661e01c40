"""Per-record DataProcessing: InputFilter before the model, then join with the original record,
OutputFilter and serialization after it (docs/semantics.md, "DataProcessing").

A record is what the splitter produced. For the line-based formats (CSV, JSON Lines) a record
holding ``\\n`` — the whole object, with ``SplitType=None`` — is processed line by line
(batchform's choice): each line is filtered on the way in and matched with one response line
on the way out. An ``application/json`` record is always one document.
"""

from __future__ import annotations

from collections.abc import Sequence

from batchform.errors import InternalError, RecordError
from batchform.runner.dataproc.codec import Format, codec_for, media_format
from batchform.runner.dataproc.jsonpath import Json
from batchform.runner.dataproc.validate import resolve_data_processing
from batchform.runner.spec import DataProcessing

OUTPUT_KEY = "SageMakerOutput"
INPUT_KEY = "SageMakerInput"


class RecordProcessor:
    """Applies one job's DataProcessing to records and responses; cheap to call per record.

    The filters are compiled once here; ``ValidationError`` if ``dp`` is invalid for the
    media types (the same check as ``validate_data_processing``). With the default
    DataProcessing nothing is parsed and both transforming methods return their input.
    """

    __slots__ = (
        "_csv_join",
        "_in_codec",
        "_input_filter",
        "_join",
        "_line_input",
        "_out_codec",
        "_output_filter",
    )

    def __init__(
        self,
        dp: DataProcessing,
        *,
        content_type: str | None,
        accept: str | None,
        slice_end_inclusive: bool = False,
    ) -> None:
        resolved = resolve_data_processing(
            dp, content_type, accept, slice_end_inclusive=slice_end_inclusive
        )
        self._join = resolved.join
        self._input_filter = resolved.input_filter
        self._output_filter = resolved.output_filter
        in_fmt, out_fmt = resolved.input_format, resolved.output_format
        self._in_codec = None if in_fmt is None else codec_for(in_fmt, "input")
        self._out_codec = (
            None if out_fmt is None else codec_for(out_fmt, "output from the algorithm")
        )
        self._csv_join = in_fmt is Format.CSV
        content_format = media_format(content_type)
        self._line_input = content_format is not None and content_format.line_based

    @property
    def transforms_input(self) -> bool:
        """Whether records must go through ``input_record`` (an InputFilter is set)."""
        return self._input_filter is not None

    @property
    def processes_output(self) -> bool:
        """Whether responses must go through ``output_records`` (join or OutputFilter)."""
        return self._join or self._output_filter is not None

    def input_record(self, record: bytes) -> bytes:
        """The bytes to send for ``record``: parsed, filtered, serialized in ContentType.

        ``RecordError`` if the record cannot be parsed or the InputFilter does not apply.
        """
        path, codec = self._input_filter, self._in_codec
        if path is None or codec is None:
            return record
        if self._line_input and b"\n" in record:
            lines, ending = _lines(record)
            return b"\n".join(self.input_record(line) for line in lines) + ending
        return codec.serialize(path.evaluate(codec.parse(record)))

    def output_records(
        self, inputs: Sequence[bytes], response: bytes, *, single_record: bool
    ) -> bytes:
        """The output of one mini-batch: one ``\\n``-terminated line per input record.

        ``inputs`` are the original (unfiltered) records, ``response`` the model's body. With
        ``single_record`` (or a lone record that is not a line, e.g. a JSON document) the whole
        response minus one trailing ``\\n`` is its output; otherwise the response must have
        one line per record. ``RecordError`` on a count mismatch, an unparsable record or
        output, or a filter that does not apply.
        """
        codec = self._out_codec
        if codec is None or not self.processes_output:
            return response
        records = self._line_units(inputs) if self._line_input else list(inputs)
        whole = single_record or not self._line_input
        outputs = _split_response(len(records), response, whole=whole)
        parts: list[bytes] = []
        for record, output in zip(records, outputs, strict=True):
            value = codec.parse(output)
            if self._join:
                value = self._joined(record, value)
            if self._output_filter is not None:
                value = self._output_filter.evaluate(value)
            parts.append(codec.serialize(value))
        parts.append(b"")
        return b"\n".join(parts)

    def _line_units(self, inputs: Sequence[bytes]) -> list[bytes]:
        """The records of a batch, a multi-line record (``SplitType=None``) cut into lines."""
        if not any(b"\n" in record for record in inputs):
            return list(inputs)
        units: list[bytes] = []
        for record in inputs:
            units.extend(_lines(record)[0] if b"\n" in record else (record,))
        return units

    def _joined(self, record: bytes, output: Json) -> Json:
        """The original record joined with its output (docs/semantics.md, "DataProcessing")."""
        codec = self._in_codec
        if codec is None:
            raise InternalError("JoinSource=Input without an input format")
        source = codec.parse(record)
        if self._csv_join:
            return source + output if isinstance(output, list) else [*source, output]
        if isinstance(source, dict):
            source[OUTPUT_KEY] = output  # source is a fresh parse: ours to change
            return source
        return {INPUT_KEY: source, OUTPUT_KEY: output}


def _lines(record: bytes) -> tuple[list[bytes], bytes]:
    """The lines of a multi-line record and its line ending (``b"\\n"`` or ``b""``)."""
    if record.endswith(b"\n"):
        return record[:-1].split(b"\n"), b"\n"
    return record.split(b"\n"), b""


def _split_response(count: int, response: bytes, *, whole: bool) -> list[bytes]:
    """``count`` outputs from ``response``, ignoring one trailing ``\\n``."""
    body = response[:-1] if response.endswith(b"\n") else response
    if whole and count == 1:
        return [body]
    outputs = body.split(b"\n") if body or count else []
    if len(outputs) != count:
        raise RecordError(
            "Fail to join data: mismatched number of records between input "
            f"({count}) and output ({len(outputs)})"
        )
    return outputs
