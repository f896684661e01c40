"""Picking a script's hooks: the toolkit's names, fallbacks and context detection."""

from __future__ import annotations

import textwrap
import types
from pathlib import Path
from typing import Any

import pytest

from batchform.errors import ModelLoadError
from batchform.models.toolkit import script
from batchform.models.toolkit.handlers import DefaultInferenceHandler
from batchform.models.toolkit.script import Context

WHERE = "code/inference.py"


def module_of(source: str) -> types.ModuleType:
    """A module built from ``source`` in memory, as if imported from inference.py."""
    module = types.ModuleType("inference")
    exec(textwrap.dedent(source), module.__dict__)
    return module


CONTEXT = Context.for_model(Path("/opt/ml/model"))


def test_missing_hooks_fall_back_to_the_handler() -> None:
    handler = DefaultInferenceHandler()
    hooks = script.select_hooks(module_of("def model_fn(model_dir): return 'm'"), handler, WHERE)

    assert hooks.model_fn.from_script
    assert hooks.model_fn.call(CONTEXT, "/opt/ml/model") == "m"
    assert not hooks.input_fn.from_script
    assert hooks.input_fn.func == handler.default_input_fn
    assert hooks.output_fn.func == handler.default_output_fn
    assert hooks.transform_fn is None
    assert hooks.pre_model_fn is None and hooks.model_warmup_fn is None


def test_no_module_means_every_default() -> None:
    hooks = script.select_hooks(None, DefaultInferenceHandler(), WHERE)

    assert not any(hook.from_script for hook in (hooks.model_fn, hooks.input_fn, hooks.predict_fn))


def test_a_trailing_context_parameter_receives_the_context() -> None:
    module = module_of(
        """
        def input_fn(data, content_type, context):
            return (data, content_type, context)

        def predict_fn(data, model):
            return (data, model)
        """
    )
    hooks = script.select_hooks(module, DefaultInferenceHandler(), WHERE)

    assert hooks.input_fn.takes_context and not hooks.predict_fn.takes_context
    assert hooks.input_fn.call(CONTEXT, "x", "text/csv") == ("x", "text/csv", CONTEXT)
    assert hooks.predict_fn.call(CONTEXT, "x", "m") == ("x", "m")


def test_a_defaulted_context_parameter_counts_as_context() -> None:
    module = module_of("def output_fn(prediction, accept, context=None): return context")
    hooks = script.select_hooks(module, DefaultInferenceHandler(), WHERE)

    assert hooks.output_fn.call(CONTEXT, 1, "application/json") is CONTEXT


def test_context_carries_the_model_server_properties() -> None:
    assert CONTEXT.system_properties["model_dir"] == "/opt/ml/model"
    assert CONTEXT.system_properties["gpu_id"] is None
    assert CONTEXT.model_name == "model"


@pytest.mark.parametrize("other", ["input_fn", "predict_fn", "output_fn"])
def test_transform_fn_with_another_handler_is_a_load_error(other: str) -> None:
    module = module_of(
        f"""
        def transform_fn(model, data, content_type, accept): return data
        def {other}(a, b): return a
        """
    )

    with pytest.raises(ModelLoadError) as caught:
        script.select_hooks(module, DefaultInferenceHandler(), WHERE)

    assert "code/inference.py: Cannot use transform_fn implementation in conjunction" in str(
        caught.value
    )


def test_transform_fn_alone_is_kept() -> None:
    module = module_of("def transform_fn(model, data, content_type, accept, context): return 1")
    hooks = script.select_hooks(module, DefaultInferenceHandler(), WHERE)

    assert hooks.transform_fn is not None and hooks.transform_fn.takes_context


def test_a_hook_with_the_wrong_arity_fails_at_load() -> None:
    module = module_of("def predict_fn(data): return data")

    with pytest.raises(ModelLoadError) as caught:
        script.select_hooks(module, DefaultInferenceHandler(), WHERE)

    assert str(caught.value) == (
        "predict_fn in code/inference.py takes 1 parameter(s), but the toolkit calls it as "
        "predict_fn(data, model) or predict_fn(data, model, context)."
    )


def test_a_hook_that_is_not_a_function_fails_at_load() -> None:
    with pytest.raises(ModelLoadError, match=r"model_fn in code/inference\.py is a str"):
        script.select_hooks(module_of("model_fn = 'model.pt'"), DefaultInferenceHandler(), WHERE)


def test_optional_load_hooks_are_picked_up() -> None:
    module = module_of(
        """
        def pre_model_fn(model_dir): return None
        def model_warmup_fn(model_dir, model, context): return None
        """
    )
    hooks = script.select_hooks(module, DefaultInferenceHandler(), WHERE)

    assert hooks.pre_model_fn is not None and not hooks.pre_model_fn.takes_context
    assert hooks.model_warmup_fn is not None and hooks.model_warmup_fn.takes_context


def test_a_handler_default_for_an_optional_hook_is_used() -> None:
    calls: list[Any] = []

    class Warming(DefaultInferenceHandler):
        def default_model_warmup_fn(self, model_dir: str, model: Any) -> None:
            calls.append(model)

    hooks = script.select_hooks(None, Warming(), WHERE)

    assert hooks.model_warmup_fn is not None
    hooks.model_warmup_fn.call(CONTEXT, "/opt/ml/model", "m")
    assert calls == ["m"]
