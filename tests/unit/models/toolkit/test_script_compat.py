"""``import sagemaker_inference`` works for scripts without the real toolkit installed."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from batchform.models import toolkit
from batchform.models.toolkit import compat


@pytest.fixture(autouse=True)
def no_shim() -> Iterator[None]:
    """Each test starts and ends without any ``sagemaker_inference`` module registered."""

    def forget() -> None:
        for name in [n for n in sys.modules if n.split(".")[0] == "sagemaker_inference"]:
            del sys.modules[name]

    forget()
    yield
    forget()


def test_the_shim_answers_the_imports_scripts_use() -> None:
    assert compat.install_sagemaker_inference() is True
    imported: dict[str, Any] = {}

    exec(
        "import sagemaker_inference\n"
        "import sagemaker_inference.errors as errors_module\n"
        "from sagemaker_inference import (\n"
        "    content_types, decoder, default_inference_handler, encoder, errors, utils\n"
        ")\n",
        imported,
    )

    assert imported["sagemaker_inference"] is toolkit
    assert imported["errors"] is imported["errors_module"] is toolkit.errors
    assert imported["content_types"].CSV == "text/csv"
    assert imported["decoder"].decode is toolkit.decoder.decode
    assert imported["encoder"].encode is toolkit.encoder.encode
    handler_module = imported["default_inference_handler"]
    assert handler_module.DefaultInferenceHandler is toolkit.handlers.DefaultInferenceHandler
    assert imported["utils"].parse_accept("a/b, c/d") == ["a/b", "c/d"]


def test_installing_twice_is_harmless() -> None:
    assert compat.install_sagemaker_inference() is True
    assert compat.install_sagemaker_inference() is True
    assert sys.modules["sagemaker_inference"] is toolkit


def test_a_real_installation_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, package: str | None = None) -> object:
        if name == "sagemaker_inference":
            return object()  # as if the real package were on sys.path
        return real_find_spec(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)

    assert compat.install_sagemaker_inference() is False
    assert "sagemaker_inference" not in sys.modules
