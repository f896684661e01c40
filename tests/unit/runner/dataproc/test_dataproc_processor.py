"""RecordProcessor: the documented examples, joins, alignment, runtime errors.

The examples are the service's, listed in docs/semantics.md, "DataProcessing".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from batchform.errors import RecordError, ValidationError
from batchform.runner.dataproc import RecordProcessor
from batchform.runner.spec import DataProcessing, JoinSource

CSV = "text/csv"
JSON = "application/json"
JSONL = "application/jsonlines"

Model = Callable[[bytes], bytes]


def _dp(input_filter: str = "$", output_filter: str = "$", join: bool = False) -> DataProcessing:
    source = JoinSource.INPUT if join else JoinSource.NONE
    return DataProcessing(
        input_filter=input_filter, output_filter=output_filter, join_source=source
    )


def _processor(dp: DataProcessing, content_type: str | None, accept: str | None) -> RecordProcessor:
    return RecordProcessor(dp, content_type=content_type, accept=accept)


def _run_multi_record(processor: RecordProcessor, data: bytes, model: Model) -> tuple[bytes, bytes]:
    """What the runner does for one Line-split object in one mini-batch: (body, output)."""
    records = data[:-1].split(b"\n") if data.endswith(b"\n") else data.split(b"\n")
    if processor.transforms_input:
        sent = [processor.input_record(record) for record in records]
    else:
        sent = records
    body = b"".join(record + b"\n" for record in sent)
    response = model(body)
    if not processor.processes_output:
        return body, response
    return body, processor.output_records(records, response, single_record=False)


def _per_line(answers: dict[bytes, bytes]) -> Model:
    """A model answering each body line from ``answers``, one output line per input line."""

    def model(body: bytes) -> bytes:
        return b"".join(answers[line] + b"\n" for line in body[:-1].split(b"\n"))

    return model


# --- examples, CSV (ContentType = Accept = text/csv, SplitType = AssembleWith = Line) ------

CSV_OBJECT = b"id1,1.0,2.0\nid2,3.0,4.0\n"
CSV_MODEL = _per_line(
    {b"1.0,2.0": b"0.1", b"3.0,4.0": b"0.9", b"id1,1.0,2.0": b"0.1", b"id2,3.0,4.0": b"0.9"}
)


@pytest.mark.parametrize(
    ("dp", "body", "output"),
    [
        (_dp(), CSV_OBJECT, b"0.1\n0.9\n"),
        (_dp(join=True), CSV_OBJECT, b"id1,1.0,2.0,0.1\nid2,3.0,4.0,0.9\n"),
        (_dp("$[1:]", join=True), b"1.0,2.0\n3.0,4.0\n", b"id1,1.0,2.0,0.1\nid2,3.0,4.0,0.9\n"),
        (_dp("$[1:]", "$[0,-1]", join=True), b"1.0,2.0\n3.0,4.0\n", b"id1,0.1\nid2,0.9\n"),
    ],
    ids=["1-default", "2-join", "3-filter-join", "4-filter-join-output-filter"],
)
def test_documented_csv_vectors(dp: DataProcessing, body: bytes, output: bytes) -> None:
    processor = _processor(dp, CSV, CSV)
    assert _run_multi_record(processor, CSV_OBJECT, CSV_MODEL) == (body, output)


def test_default_data_processing_touches_nothing() -> None:
    processor = _processor(_dp(), "image/jpeg", None)
    record = b"\xff\xd8 not json, not csv"
    assert not processor.transforms_input
    assert not processor.processes_output
    assert processor.input_record(record) is record
    assert processor.output_records([record], b"raw\n", single_record=True) == b"raw\n"


# --- examples, JSON Lines ---------------------------------------------------------------

JSON_RECORD = b'{"id":7,"features":[1,2]}'


@pytest.mark.parametrize(
    ("record", "dp", "sent", "returned", "output"),
    [
        (JSON_RECORD, _dp("$.features"), b"[1,2]", b'{"label":1}', None),
        (
            JSON_RECORD,
            _dp("$.features", join=True),
            b"[1,2]",
            b'{"label":1}',
            b'{"id":7,"features":[1,2],"SageMakerOutput":{"label":1}}\n',
        ),
        (
            JSON_RECORD,
            _dp("$.features", "$['id','SageMakerOutput']", join=True),
            b"[1,2]",
            b'{"label":1}',
            b'{"id":7,"SageMakerOutput":{"label":1}}\n',
        ),
        (
            b"[1,2,3]",
            _dp(join=True),
            b"[1,2,3]",
            b"0.5",
            b'{"SageMakerInput":[1,2,3],"SageMakerOutput":0.5}\n',
        ),
    ],
    ids=["filter", "filter-join", "filter-join-output-filter", "non-object-join"],
)
def test_documented_json_lines_vectors(
    record: bytes, dp: DataProcessing, sent: bytes, returned: bytes, output: bytes | None
) -> None:
    processor = _processor(dp, JSONL, JSONL)
    assert processor.input_record(record) == sent
    if output is None:  # no join, no OutputFilter: the model's bytes are written as they are
        assert not processor.processes_output
        return
    assert processor.output_records([record], returned + b"\n", single_record=False) == output


def test_json_lines_output_filter_with_underscore_rejected_at_construction() -> None:
    with pytest.raises(ValidationError, match='Unexpected "_" in JsonPath'):
        _processor(_dp(output_filter="$['account_id','SageMakerOutput']", join=True), JSONL, JSONL)


# --- joins ----------------------------------------------------------------------------------


def test_json_join_overwrites_an_existing_sagemaker_output() -> None:
    processor = _processor(_dp(join=True), JSONL, JSONL)
    record = b'{"SageMakerOutput":"old","k":1}'
    out = processor.output_records([record], b"[0.2]\n", single_record=False)
    assert out == b'{"SageMakerOutput":[0.2],"k":1}\n'


def test_json_output_is_compact_unescaped_and_keeps_key_order() -> None:
    processor = _processor(_dp(join=True), JSONL, JSONL)
    record = '{ "z" : "é",  "a" : [1, 2.5, null, true] }'.encode()
    out = processor.output_records([record], '{"b": "ß", "a": 1}'.encode(), single_record=True)
    assert out == '{"z":"é","a":[1,2.5,null,true],"SageMakerOutput":{"b":"ß","a":1}}\n'.encode()


def test_lone_surrogate_is_written_escaped() -> None:
    processor = _processor(_dp("$.a"), JSONL, JSONL)
    assert processor.input_record(b'{"a":"\\ud800"}') == b'"\\ud800"'


def test_csv_join_appends_every_output_column() -> None:
    processor = _processor(_dp(join=True), CSV, CSV)
    out = processor.output_records([b"a,b"], b"0.1,0.9,label\n", single_record=False)
    assert out == b"a,b,0.1,0.9,label\n"


def test_csv_quoted_fields_survive_byte_for_byte() -> None:
    processor = _processor(_dp("$[1]", join=True), CSV, CSV)
    record = b'id1,"Smith, John ""JJ""",3.5'
    assert processor.input_record(record) == b'"Smith, John ""JJ"""'
    out = processor.output_records([record], b'"x,y"\n', single_record=False)
    assert out == record + b',"x,y"\n'


def test_csv_values_are_not_converted() -> None:
    processor = _processor(_dp("$[1:]", join=True), CSV, CSV)
    assert processor.input_record(b"007,1e5,0.10,") == b"1e5,0.10,"
    out = processor.output_records([b"007,1e5,0.10,"], b"1.000\n", single_record=False)
    assert out == b"007,1e5,0.10,,1.000\n"


def test_crlf_records_lose_their_carriage_return_when_parsed() -> None:
    processor = _processor(_dp("$[1:]", join=True), CSV, CSV)
    assert processor.input_record(b"id1,1.0,2.0\r") == b"1.0,2.0"
    out = processor.output_records([b"id1,1.0,2.0\r"], b"0.1\r\n", single_record=False)
    assert out == b"id1,1.0,2.0,0.1\n"


def test_accept_absent_reads_the_response_as_content_type() -> None:
    processor = _processor(_dp(join=True), CSV, None)
    assert processor.output_records([b"a"], b"1\n", single_record=False) == b"a,1\n"


def test_slice_end_inclusive_switch() -> None:
    dp = _dp("$[1:2]")
    exclusive = RecordProcessor(dp, content_type=CSV, accept=CSV)
    inclusive = RecordProcessor(dp, content_type=CSV, accept=CSV, slice_end_inclusive=True)
    assert exclusive.input_record(b"a,b,c,d") == b"b"
    assert inclusive.input_record(b"a,b,c,d") == b"b,c"


def test_csv_scalar_result_is_a_one_column_row() -> None:
    processor = _processor(_dp("$[1]"), CSV, CSV)
    assert processor.input_record(b'a,"b,c",d') == b'"b,c"'


def test_csv_output_filter_on_json_accept() -> None:
    processor = _processor(_dp(output_filter="$.label"), CSV, JSONL)
    out = processor.output_records(
        [b"1,2", b"3,4"], b'{"label":1}\n{"label":0}\n', single_record=False
    )
    assert out == b"1\n0\n"


# --- alignment: MultiRecord vs SingleRecord -----------------------------------------------


@pytest.mark.parametrize(
    ("response", "outputs"),
    [
        (b"0.1\n", 1),
        (b"0.1\n0.9\n0.5\n", 3),
        (b"0.1\n\n\n", 3),
        (b"", 1),
    ],
)
def test_multi_record_count_mismatch_fails(response: bytes, outputs: int) -> None:
    processor = _processor(_dp(join=True), CSV, CSV)
    with pytest.raises(RecordError) as info:
        processor.output_records([b"a", b"b"], response, single_record=False)
    assert info.value.message == (
        f"Fail to join data: mismatched number of records between input (2) and output ({outputs})"
    )


def test_an_empty_output_line_is_the_output_of_its_record() -> None:
    processor = _processor(_dp(join=True), CSV, CSV)
    assert processor.output_records([b"a", b"b"], b"0.1\n\n", single_record=False) == b"a,0.1\nb,\n"


def test_multi_record_response_without_final_newline_is_accepted() -> None:
    processor = _processor(_dp(join=True), CSV, CSV)
    assert processor.output_records([b"a", b"b"], b"1\n2", single_record=False) == b"a,1\nb,2\n"


def test_single_record_takes_the_whole_response() -> None:
    processor = _processor(_dp(join=True), JSONL, JSONL)
    pretty = b'{\n  "label": 1,\n  "scores": [0.1, 0.9]\n}\n'
    out = processor.output_records([b'{"id":1}'], pretty, single_record=True)
    assert out == b'{"id":1,"SageMakerOutput":{"label":1,"scores":[0.1,0.9]}}\n'
    with pytest.raises(RecordError, match=r"input \(1\) and output \(4\)"):
        processor.output_records([b'{"id":1}'], pretty, single_record=False)


def test_single_record_strips_only_one_trailing_newline() -> None:
    processor = _processor(_dp(join=True), CSV, CSV)
    out = processor.output_records([b"a"], b"0.5\n\n", single_record=True)
    assert out == b'a,"0.5\n"\n'


def test_a_json_document_takes_the_whole_response_even_in_multi_record() -> None:
    # SplitType=None with application/json: one document per request, whatever the strategy.
    processor = _processor(_dp(output_filter="$.label"), JSON, JSON)
    out = processor.output_records(
        [b'{"x": [1, 2]}'], b'{\n "label": "cat"\n}\n', single_record=False
    )
    assert out == b'"cat"\n'


def test_whole_csv_object_as_one_record_is_processed_line_by_line() -> None:
    # SplitType=None: the object is one record, but CSV is filtered and joined per line.
    processor = _processor(_dp("$[1:]", join=True), CSV, CSV)
    assert processor.input_record(CSV_OBJECT) == b"1.0,2.0\n3.0,4.0\n"
    out = processor.output_records([CSV_OBJECT], b"0.1\n0.9\n", single_record=False)
    assert out == b"id1,1.0,2.0,0.1\nid2,3.0,4.0,0.9\n"
    out = processor.output_records([CSV_OBJECT], b"0.1\n0.9\n", single_record=True)
    assert out == b"id1,1.0,2.0,0.1\nid2,3.0,4.0,0.9\n"
    with pytest.raises(RecordError, match=r"input \(2\) and output \(1\)"):
        processor.output_records([CSV_OBJECT], b"0.1\n", single_record=False)


def test_empty_batch_gives_empty_output() -> None:
    processor = _processor(_dp(join=True), CSV, CSV)
    assert processor.output_records([], b"", single_record=False) == b""


# --- runtime errors -----------------------------------------------------------------------


def _raises(call: Callable[[], object]) -> str:
    with pytest.raises(RecordError) as info:
        call()
    return info.value.message


def test_output_filter_index_beyond_the_joined_row() -> None:
    processor = _processor(_dp(output_filter="$[0,5]", join=True), CSV, CSV)
    message = _raises(lambda: processor.output_records([b"a,b"], b"1\n", single_record=False))
    assert message == "Invalid JsonPath $[0,5]: index 5 is out of range for a record of 3 columns"


def test_input_filter_index_out_of_range() -> None:
    processor = _processor(_dp("$[5]"), CSV, CSV)
    message = _raises(lambda: processor.input_record(b"a,b,c"))
    assert message == "Invalid JsonPath $[5]: index 5 is out of range for a record of 3 columns"


def test_missing_attribute() -> None:
    processor = _processor(_dp("$.features"), JSONL, JSONL)
    message = _raises(lambda: processor.input_record(b'{"id":1}'))
    assert message == 'Invalid JsonPath $.features: attribute "features" not found'


def test_multi_range_fails_each_record() -> None:
    processor = _processor(_dp("$[0:2,246:]"), CSV, CSV)
    message = _raises(lambda: processor.input_record(b"a,b,c"))
    assert message == (
        "Invalid JsonPath: $[0:2,246:]: only single range filters of format (eg: [1:5]) are "
        "supported. Format [0:2,246:] is not supported"
    )


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (b'a,b"c', 'Failed to parse input as CSV: bare " in non quoted field found near: b"c'),
        (b'"a,b', 'Failed to parse input as CSV: extraneous or missing " in quoted field'),
        (b"a,\xff", "Failed to parse input as CSV: invalid UTF-8 at byte 2"),
    ],
)
def test_unparsable_csv_input(record: bytes, message: str) -> None:
    processor = _processor(_dp("$[0]"), CSV, CSV)
    assert _raises(lambda: processor.input_record(record)).startswith(message)


def test_unparsable_csv_input_in_join() -> None:
    processor = _processor(_dp(join=True), CSV, CSV)
    message = _raises(lambda: processor.output_records([b'x"'], b"1\n", single_record=False))
    assert message.startswith('Failed to parse input as CSV: bare "')


def test_unparsable_csv_output() -> None:
    processor = _processor(_dp(join=True), CSV, CSV)
    message = _raises(lambda: processor.output_records([b"a"], b'1"\n', single_record=False))
    assert message.startswith('Failed to parse output from the algorithm as CSV: bare "')


def test_unparsable_json_output() -> None:
    processor = _processor(_dp(join=True), JSONL, JSONL)
    message = _raises(lambda: processor.output_records([b"{}"], b"label=1\n", single_record=False))
    assert message == (
        "Failed to parse output from the algorithm as JSON: Expecting value: line 1 column 1 "
        "(char 0)"
    )


def test_unparsable_json_input() -> None:
    processor = _processor(_dp("$.a"), JSONL, JSONL)
    message = _raises(lambda: processor.input_record(b"{'a': 1}"))
    assert message.startswith("Failed to parse input as JSON: Expecting property name")


def test_output_records_accepts_any_sequence() -> None:
    processor = _processor(_dp(join=True), CSV, CSV)
    inputs: Sequence[bytes] = (b"a", b"b")
    assert processor.output_records(inputs, b"1\n2\n", single_record=False) == b"a,1\nb,2\n"
