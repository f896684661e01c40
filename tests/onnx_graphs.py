"""ONNX models written as ``ModelProto`` bytes (field numbers from onnx.proto3).

Neither ``onnx`` nor ``skl2onnx`` is installed, and ``torch.onnx.export`` needs ``onnx``, so
tests build their graphs here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.pipeline import Pipeline

FLOAT, INT64, DOUBLE = 1, 7, 11  # onnx.TensorProto.DataType
Dim = int | str


# --- ONNX ModelProto writer -----------------------------------------------------------------


def _varint(value: int) -> bytes:
    out = bytearray()
    value &= (1 << 64) - 1
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    return bytes([*out, value])


def _bytes(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _text(number: int, value: str) -> bytes:
    return _bytes(number, value.encode())


def _int(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


def tensor_type(elem_type: int, dims: Sequence[Dim]) -> bytes:
    """TypeProto{tensor_type{elem_type, shape{dim{dim_value | dim_param}}}}."""
    shape = b"".join(_bytes(1, _int(1, d) if isinstance(d, int) else _text(2, d)) for d in dims)
    return _bytes(1, _int(1, elem_type) + _bytes(2, shape))


def zipmap_type() -> bytes:
    """TypeProto of skl2onnx's default probabilities: seq(map(int64, tensor(float)))."""
    value = _bytes(1, _int(1, FLOAT))
    return _bytes(4, _bytes(1, _bytes(5, _int(1, INT64) + _bytes(2, value))))


def value_info(name: str, type_proto: bytes) -> bytes:
    return _text(1, name) + _bytes(2, type_proto)


def initializer(name: str, array: np.ndarray) -> bytes:
    elem_type = (
        DOUBLE if array.dtype == np.float64 else FLOAT if array.dtype == np.float32 else INT64
    )
    dims = b"".join(_int(1, d) for d in array.shape)
    return (
        dims
        + _int(2, elem_type)
        + _text(8, name)
        + _bytes(9, array.astype(array.dtype.newbyteorder("<")).tobytes())
    )


def attribute(name: str, value: int | list[int]) -> bytes:
    if isinstance(value, int):
        return _text(1, name) + _int(3, value) + _int(20, 2)  # INT
    return _text(1, name) + b"".join(_int(8, v) for v in value) + _int(20, 7)  # INTS


def node(
    op: str, inputs: list[str], outputs: list[str], domain: str = "", **attrs: int | list[int]
) -> bytes:
    out = b"".join(_text(1, i) for i in inputs) + b"".join(_text(2, o) for o in outputs)
    out += _text(4, op) + b"".join(_bytes(5, attribute(k, v)) for k, v in attrs.items())
    return out + (_text(7, domain) if domain else b"")


def model_bytes(
    nodes: list[bytes],
    inputs: list[bytes],
    outputs: list[bytes],
    initializers: Sequence[bytes] = (),
) -> bytes:
    graph = b"".join(_bytes(1, n) for n in nodes) + _text(2, "test")
    graph += b"".join(_bytes(5, t) for t in initializers)
    graph += b"".join(_bytes(11, i) for i in inputs) + b"".join(_bytes(12, o) for o in outputs)
    opsets = _bytes(8, _int(2, 13)) + _bytes(8, _text(1, "ai.onnx.ml") + _int(2, 1))
    return _int(1, 8) + opsets + _bytes(7, graph)


def classifier_graph(
    pipeline: Pipeline, *, zipmap: bool = False, batch: Dim = "N", dtype: type = np.float32
) -> bytes:
    """The fitted StandardScaler + LogisticRegression as skl2onnx would convert it."""
    scaler, logistic = pipeline[0], pipeline[-1]
    features = len(scaler.mean_)
    weights: np.ndarray = np.zeros((features, 2), dtype=dtype)
    weights[:, 1] = logistic.coef_[0]
    bias: np.ndarray = np.array([0.0, logistic.intercept_[0]], dtype=dtype)
    elem = DOUBLE if dtype == np.float64 else FLOAT
    nodes = [
        node("Sub", ["x", "mean"], ["centred"]),
        node("Div", ["centred", "scale"], ["scaled"]),
        node("Gemm", ["scaled", "weights", "bias"], ["logits"]),
        node("Softmax", ["logits"], ["probabilities"], axis=1),
        node("ArgMax", ["probabilities"], ["label"], axis=1, keepdims=0),
    ]
    outputs = [value_info("label", tensor_type(INT64, [batch]))]
    if zipmap:
        nodes.append(
            node(
                "ZipMap",
                ["probabilities"],
                ["output_probability"],
                "ai.onnx.ml",
                classlabels_int64s=[0, 1],
            )
        )
        outputs.append(value_info("output_probability", zipmap_type()))
    else:
        outputs.append(value_info("probabilities", tensor_type(elem, [batch, 2])))
    inits = [
        initializer("mean", scaler.mean_.astype(dtype)),
        initializer("scale", scaler.scale_.astype(dtype)),
        initializer("weights", weights),
        initializer("bias", bias),
    ]
    inputs = [value_info("x", tensor_type(elem, [batch, features]))]
    return model_bytes(nodes, inputs, outputs, inits)


def identity_graph(inputs: list[tuple[str, int, list[Dim]]]) -> bytes:
    name, elem, dims = inputs[0]
    return model_bytes(
        [node("Identity", [name], ["y"])],
        [value_info(n, tensor_type(e, d)) for n, e, d in inputs],
        [value_info("y", tensor_type(elem, dims))],
    )
