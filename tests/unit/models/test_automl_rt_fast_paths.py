"""The sklearn-automl runtime's fast paths give the general path's exact answers.

The inverse label transform of one code per line (what the XGBoost container answers for
``predicted_label``) skips the csv module; these tests compare it with the general path,
reached by bodies the fast path leaves alone (``0.0``, no final newline), and with the
reference formula: ``csv.writer`` over ``classes[int(float(code))]``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from pathlib import Path

import pytest

from batchform.errors import InvocationError
from batchform.models.automl_artifacts import TabularPreprocessor, save_artifact
from batchform.models.runtimes.automl_rt import AutoMLRuntime

CLASSES = ["no", "a,b", 'say "hi"', "", " padded ", "two\nlines", "ünï"]
KEYED = {
    "AUTOML_TRANSFORM_MODE": "inverse-label-transform",
    "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/csv",
    "SAGEMAKER_INFERENCE_INPUT": "predicted_label",
    "SAGEMAKER_INFERENCE_OUTPUT": "predicted_label",
}
PLAIN = {"AUTOML_TRANSFORM_MODE": "inverse-label-transform"}


def runtime(tmp_path: Path, env: Mapping[str, str]) -> AutoMLRuntime:
    preprocessor = TabularPreprocessor(["x"], ["numeric"], "y", None, list(CLASSES))
    save_artifact(preprocessor, tmp_path)
    loaded = AutoMLRuntime()
    loaded.load(tmp_path, env)
    return loaded


def reference(codes: list[str]) -> bytes:
    stream = io.StringIO()
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerows([CLASSES[int(float(code))]] for code in codes)
    return stream.getvalue().encode()


@pytest.mark.parametrize("env", [KEYED, PLAIN], ids=["keyed", "plain"])
def test_code_lines_match_the_reference_and_the_general_path(
    tmp_path: Path, env: Mapping[str, str]
) -> None:
    model = runtime(tmp_path, env)
    codes = [str(i % len(CLASSES)) for i in range(50)] + ["000", "6"]
    fast = model.invoke("\n".join(codes).encode() + b"\n", "text/csv", "text/csv")
    general = model.invoke("\n".join(f"{c}.0" for c in codes).encode(), "text/csv", None)
    assert fast.body == reference(codes) == general.body
    assert fast.content_type == general.content_type == "text/csv"


def test_an_out_of_range_code_answers_the_general_400(tmp_path: Path) -> None:
    model = runtime(tmp_path, KEYED)
    with pytest.raises(InvocationError) as fast:
        model.invoke(b"0\n7\n", "text/csv", None)
    with pytest.raises(InvocationError) as general:
        model.invoke(b"0\n7.0\n", "text/csv", None)
    assert fast.value.status == general.value.status == 400
    assert fast.value.body == general.value.body


@pytest.mark.parametrize("accept", ["application/json", "application/jsonlines", "text/plain"])
def test_other_accepts_answer_as_the_general_path(tmp_path: Path, accept: str) -> None:
    model = runtime(tmp_path, KEYED)

    def answer(body: bytes) -> tuple[int, bytes]:
        try:
            return 200, model.invoke(body, "text/csv", accept).body
        except InvocationError as exc:
            return exc.status, exc.body

    assert answer(b"1\n0\n") == answer(b"1.0\n0.0\n")


def test_more_output_keys_take_the_general_path(tmp_path: Path) -> None:
    env = {**KEYED, "SAGEMAKER_INFERENCE_OUTPUT": "predicted_label,labels"}
    model = runtime(tmp_path, env)
    assert (
        model.invoke(b"1\n", "text/csv", None).body == model.invoke(b"1.0", "text/csv", None).body
    )
