"""The XGBoost runtime reads ``application/x-recordio-protobuf`` as the SDK writes it."""

from __future__ import annotations

import asyncio
import struct
from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb

from batchform.errors import InvocationError
from batchform.models import recordio_protobuf
from batchform.models.base import ContainerSpec, Model, ModelSpec
from batchform.models.registry import open_model
from tests.integration.models.builders import Floats, csv_body, make_archive

ECR_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
PROTOBUF = "application/x-recordio-protobuf"


@pytest.fixture
def model(tmp_path: Path, booster_bytes: bytes) -> Model:
    archive = make_archive(tmp_path / "model.tar.gz", {"xgboost-model": booster_bytes})
    spec = ModelSpec("xgb", (ContainerSpec(ECR_IMAGE, str(archive)),))
    environment = {"SAGEMAKER_BATCH": "true"}
    return asyncio.run(open_model(spec, cache_dir=tmp_path / "cache", environment=environment))


@pytest.fixture
def rows(breast_cancer: tuple[Floats, np.ndarray]) -> Floats:
    return breast_cancer[0][:60]


def invoke(model: Model, body: bytes, content_type: str | None, accept: str | None) -> bytes:
    return asyncio.run(model.invoke(body, content_type=content_type, accept=accept)).body


def sparse_record(values: list[float], keys: list[int], columns: int) -> bytes:
    """One framed record as ``write_spmatrix_to_sparse_tensor`` writes a CSR row."""

    def varint(value: int) -> bytes:
        out = bytearray()
        while value > 0x7F:
            out.append(value & 0x7F | 0x80)
            value >>= 7
        return bytes([*out, value])

    def field(number: int, payload: bytes) -> bytes:
        return varint(number << 3 | 2) + varint(len(payload)) + payload

    tensor = field(1, np.array(values, dtype="<f4").tobytes()) if values else b""
    tensor += field(2, b"".join(map(varint, keys))) if keys else b""
    tensor += field(3, varint(columns))
    data = field(1, field(1, b"values") + field(2, field(2, tensor)))
    return struct.pack("<II", 0xCED7230A, len(data)) + data + bytes(-len(data) % 4)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dense_protobuf_predicts_exactly_like_csv(
    model: Model, booster: xgb.Booster, rows: Floats, dtype: type
) -> None:
    body = recordio_protobuf.encode_dense(rows.astype(dtype), labels=np.ones(len(rows)))

    from_protobuf = invoke(model, body, PROTOBUF, "text/csv")

    assert from_protobuf == invoke(model, csv_body(rows.astype(dtype)), "text/csv", "text/csv")
    scores = np.array(from_protobuf.decode().split(), dtype=np.float32)
    np.testing.assert_array_equal(scores, booster.predict(xgb.DMatrix(rows.astype(dtype))))


def test_short_alias_and_json_accept(model: Model, rows: Floats) -> None:
    body = recordio_protobuf.encode_dense(rows.astype(np.float32))

    answer = asyncio.run(
        model.invoke(body, content_type="recordio-protobuf", accept="application/json")
    )

    assert answer.content_type == "application/json"
    csv_json = invoke(model, csv_body(rows.astype(np.float32)), "text/csv", "application/json")
    assert answer.body == csv_json


def test_sparse_protobuf_predicts_like_libsvm(model: Model) -> None:
    records = [([1.5, 20.0, 0.25], [0, 3, 29]), ([], []), ([17.0], [1])]
    body = b"".join(sparse_record(values, keys, 30) for values, keys in records)
    libsvm = "\n".join(
        "0 " + " ".join(f"{k}:{v!r}" for k, v in zip(keys, values, strict=True))
        for values, keys in records
    ).encode()

    assert invoke(model, body, PROTOBUF, None) == invoke(model, libsvm, "text/libsvm", None)


def test_single_record_body_without_framing(model: Model, rows: Floats) -> None:
    framed = recordio_protobuf.encode_dense(rows[:1].astype(np.float32))
    bare = framed[8 : 8 + struct.unpack_from("<I", framed, 4)[0]]

    assert invoke(model, bare, PROTOBUF, None) == invoke(model, framed, PROTOBUF, None)


def test_more_features_than_the_model_is_400(model: Model, rows: Floats) -> None:
    wide = np.hstack([rows, rows]).astype(np.float32)

    with pytest.raises(InvocationError) as caught:
        invoke(model, recordio_protobuf.encode_dense(wide), PROTOBUF, None)

    assert caught.value.status == 400
    assert "recordio-protobuf inference data 60 is larger than" in caught.value.message


def test_corrupt_protobuf_is_400_naming_the_record(model: Model, rows: Floats) -> None:
    body = recordio_protobuf.encode_dense(rows[:3].astype(np.float32))

    with pytest.raises(InvocationError) as caught:
        invoke(model, body[:-10], PROTOBUF, None)

    assert caught.value.status == 400
    assert "record 3" in caught.value.message


def test_unsupported_content_type_lists_protobuf(model: Model) -> None:
    with pytest.raises(InvocationError) as caught:
        invoke(model, b"[1]", "application/json", None)

    assert caught.value.status == 415
    assert "application/x-recordio-protobuf" in caught.value.message
