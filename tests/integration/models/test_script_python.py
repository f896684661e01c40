"""Script mode with the toolkit's own defaults (the ``python`` image), from files on disk."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import textwrap
from pathlib import Path

import pytest

from batchform.errors import InvocationError, ModelLoadError
from batchform.models.base import Answer, Model
from batchform.models.inprocess import InProcessModel
from batchform.models.runtimes.script_rt import python_runtime


def model_dir(root: Path, files: dict[str, str]) -> Path:
    """A model directory holding ``files`` (relative name → text, dedented)."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def open_python(directory: Path, env: dict[str, str] | None = None) -> Model:
    runtime = python_runtime()
    runtime.load(directory, env or {})
    return InProcessModel(runtime, name="py")


def invoke(model: Model, body: bytes, content_type: str | None, accept: str | None) -> Answer:
    return asyncio.run(model.invoke(body, content_type=content_type, accept=accept))


DOUBLER = """
    import json

    def model_fn(model_dir):
        return 2

    def predict_fn(data, model):
        return [value * model for value in data]
"""


def test_model_fn_and_predict_fn_with_default_io(tmp_path: Path) -> None:
    model = open_python(model_dir(tmp_path, {"code/inference.py": DOUBLER}))

    assert invoke(model, b"[1, 2.5]", "application/json", None) == Answer(
        b"[2.0, 5.0]", "application/json"
    )
    assert invoke(model, b"1.5\n2.5", "text/csv", "text/csv") == Answer(b"3.0\n5.0\n", "text/csv")


def test_without_model_fn_the_python_image_cannot_load(tmp_path: Path) -> None:
    directory = model_dir(tmp_path, {"code/inference.py": "def predict_fn(data, model): 1"})

    with pytest.raises(ModelLoadError) as caught:
        open_python(directory)

    assert caught.value.message.startswith(
        "The python image needs model_fn in code/inference.py: it has no default way to load"
    )


def test_without_any_script_the_python_image_says_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError) as caught:
        open_python(model_dir(tmp_path, {"model.bin": "x"}))

    assert "needs model_fn in code/inference.py (no script was found at code/inference.py)" in (
        caught.value.message
    )


def test_without_predict_fn_the_python_image_cannot_load(tmp_path: Path) -> None:
    directory = model_dir(tmp_path, {"code/inference.py": "def model_fn(model_dir): 1"})

    with pytest.raises(ModelLoadError, match="needs predict_fn \\(or transform_fn\\)"):
        open_python(directory)


def test_transform_fn_with_input_fn_fails_to_load(tmp_path: Path) -> None:
    script = """
        def model_fn(model_dir): return 1
        def input_fn(data, content_type): return data
        def transform_fn(model, data, content_type, accept): return data
    """
    with pytest.raises(ModelLoadError, match="Cannot use transform_fn implementation"):
        open_python(model_dir(tmp_path, {"code/inference.py": script}))


SIBLING_SCRIPT = """
    import helper

    def model_fn(model_dir):
        return helper.NAME

    def transform_fn(model, data, content_type, accept):
        return model + ":" + __name__.split("_", 4)[-1]
"""


def test_two_scripts_in_one_process_do_not_collide(tmp_path: Path) -> None:
    path_before = list(sys.path)
    first = open_python(
        model_dir(
            tmp_path / "a", {"code/inference.py": SIBLING_SCRIPT, "code/helper.py": "NAME = 'a'"}
        )
    )
    second = open_python(
        model_dir(
            tmp_path / "b", {"code/inference.py": SIBLING_SCRIPT, "code/helper.py": "NAME = 'b'"}
        )
    )

    assert invoke(first, b"", None, "text/plain").body == b"a:inference"
    assert invoke(second, b"", None, "text/plain").body == b"b:inference"
    assert "helper" not in sys.modules
    assert sys.path == path_before


def test_the_shim_serves_sagemaker_inference_imports(tmp_path: Path) -> None:
    script = """
        from sagemaker_inference import content_types, decoder, default_inference_handler
        from sagemaker_inference import encoder, errors

        class Handler(default_inference_handler.DefaultInferenceHandler):
            pass

        def model_fn(model_dir):
            return Handler()

        def transform_fn(model, data, content_type, accept):
            if content_type != content_types.JSON:
                raise errors.GenericInferenceToolkitError(415, "JSON only")
            array = model.default_input_fn(data, content_type)
            return encoder.encode(decoder.decode(data, content_type) + array, accept), accept
    """
    model = open_python(model_dir(tmp_path, {"code/inference.py": script}))

    assert invoke(model, b"[1, 2]", "application/json", "text/csv").body == b"2\n4\n"
    with pytest.raises(InvocationError) as caught:
        invoke(model, b"1", "text/csv", None)
    assert caught.value.status == 415
    assert caught.value.body.startswith(b"JSON only\nTraceback")


def test_a_missing_dependency_names_the_module(tmp_path: Path) -> None:
    script = "import surely_not_installed_xyz\n"
    with pytest.raises(ModelLoadError) as caught:
        open_python(model_dir(tmp_path, {"code/inference.py": script}))

    message = caught.value.message
    assert message.startswith("code/inference.py imports 'surely_not_installed_xyz', which is not")
    assert "does not install them at run time" in message


def test_requirements_are_not_installed_but_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    files = {"code/inference.py": DOUBLER, "code/requirements.txt": "surely-not-a-package==0.0\n"}

    with caplog.at_level(logging.WARNING):
        open_python(model_dir(tmp_path, files))

    assert "requirements.txt is not installed by batchform" in caplog.text


def test_an_import_error_of_the_script_is_a_load_error(tmp_path: Path) -> None:
    script = "raise RuntimeError('no GPU here')\n"
    with pytest.raises(ModelLoadError) as caught:
        open_python(model_dir(tmp_path, {"code/inference.py": script}))

    assert caught.value.message == (
        "code/inference.py failed while being imported: RuntimeError: no GPU here"
    )


def test_a_failing_model_fn_names_itself(tmp_path: Path) -> None:
    script = """
        def model_fn(model_dir):
            raise FileNotFoundError("weights.bin")
        def predict_fn(data, model): return data
    """
    with pytest.raises(ModelLoadError) as caught:
        open_python(model_dir(tmp_path, {"code/inference.py": script}))

    assert caught.value.message == (
        "model_fn in code/inference.py failed: FileNotFoundError: weights.bin"
    )


def test_load_hooks_run_in_order_with_the_environment(tmp_path: Path) -> None:
    script = """
        import os
        STEPS = [("import", os.environ.get("GREETING"))]

        def pre_model_fn(model_dir):
            STEPS.append(("pre", os.path.basename(model_dir)))

        def model_fn(model_dir, context):
            STEPS.append(("model", context.system_properties["model_dir"] == model_dir))
            return STEPS

        def model_warmup_fn(model_dir, model):
            model.append(("warmup", len(model)))

        def transform_fn(model, data, content_type, accept):
            return model
    """
    directory = model_dir(tmp_path / "m", {"code/inference.py": script})
    assert "GREETING" not in os.environ

    model = open_python(directory, {"GREETING": "hello"})

    steps = json.loads(invoke(model, b"", None, None).body)
    assert steps == [["import", "hello"], ["pre", "m"], ["model", True], ["warmup", 3]]
    assert "GREETING" not in os.environ


def test_sagemaker_program_selects_the_script(tmp_path: Path) -> None:
    files = {
        "code/inference.py": "raise AssertionError('not this one')",
        "code/serve.py": "def model_fn(d): return 1\ndef transform_fn(m, d, c, a): return 'serve'",
    }

    model = open_python(model_dir(tmp_path, files), {"SAGEMAKER_PROGRAM": "serve.py"})

    assert invoke(model, b"", None, None).body == b"serve"


def test_a_sagemaker_program_that_is_missing_fails_to_load(tmp_path: Path) -> None:
    env = {"SAGEMAKER_PROGRAM": "serve.py"}
    with pytest.raises(ModelLoadError, match=r"SAGEMAKER_PROGRAM='serve\.py' names a script"):
        open_python(model_dir(tmp_path, {"code/inference.py": DOUBLER}), env)


def test_a_script_at_the_model_root_is_accepted(tmp_path: Path) -> None:
    model = open_python(model_dir(tmp_path, {"inference.py": DOUBLER}))

    assert invoke(model, b"[3]", "application/json", None).body == b"[6]"


def test_a_program_outside_the_model_is_not_imported(tmp_path: Path) -> None:
    (tmp_path / "outside.py").write_text(DOUBLER)
    directory = model_dir(tmp_path / "model", {"code/inference.py": DOUBLER})

    with pytest.raises(ModelLoadError, match="names a script that is not in the model"):
        open_python(directory, {"SAGEMAKER_PROGRAM": "../../outside.py"})


def test_hooks_run_one_request_at_a_time(tmp_path: Path) -> None:
    script = """
        import threading
        import time

        LOCK = threading.Lock()
        STATE = {"in_flight": 0, "most": 0}

        def model_fn(model_dir):
            return STATE

        def transform_fn(model, data, content_type, accept):
            with LOCK:
                model["in_flight"] += 1
                model["most"] = max(model["most"], model["in_flight"])
            time.sleep(0.01)  # a slow, thread-unsafe model
            with LOCK:
                model["in_flight"] -= 1
            return str(model["most"])
    """
    model = open_python(model_dir(tmp_path, {"code/inference.py": script}))

    async def many() -> list[Answer]:
        calls = [model.invoke(b"", content_type=None, accept=None) for _ in range(8)]
        return await asyncio.gather(*calls)

    answers = asyncio.run(many())

    assert {answer.body for answer in answers} == {b"1"}
