"""Image resolution and the checks open_model makes before touching any file."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from batchform.errors import ModelLoadError, ValidationError
from batchform.models.base import ContainerSpec, ModelSpec
from batchform.models.registry import IMAGES, open_model, resolve_image


@pytest.mark.parametrize(
    ("image", "runtime"),
    [
        ("xgboost", "xgboost"),
        ("XGBoost:1.7-1", "xgboost"),
        ("sklearn", "sklearn"),
        ("scikit-learn", "sklearn"),
        ("683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1", "xgboost"),
        ("246618743249.dkr.ecr.us-west-2.amazonaws.com/sagemaker-xgboost:1.0-1-cpu-py3", "xgboost"),
        ("811284229777.dkr.ecr.us-east-1.amazonaws.com/xgboost:1", "xgboost"),
        (
            "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3",
            "sklearn",
        ),
        (
            "451049120500.dkr.ecr.cn-north-1.amazonaws.com.cn/sagemaker-scikit-learn:1.2-1",
            "sklearn",
        ),
        (
            "123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com/sagemaker-xgboost:1.5-1",
            "xgboost",
        ),
        (
            "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost@sha256:" + "ab" * 32,
            "xgboost",
        ),
        ("683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost", "xgboost"),
        ("763104351884.dkr.ecr.us-west-2.amazonaws.com/pytorch-inference:2.1-cpu-py310", "pytorch"),
        ("python", "python"),
        ("lightgbm", "lightgbm"),
        ("onnx:1", "onnx"),
    ],
)
def test_supported_images(image: str, runtime: str) -> None:
    assert resolve_image(image) == runtime


@pytest.mark.parametrize(
    "image",
    [
        "my-inference:latest",
        "docker.io/library/xgboost:latest",
        "ghcr.io/acme/sagemaker-xgboost:1.7-1",
        "683313688378.dkr.ecr.us-east-1.amazonaws.com/tensorflow-inference:2.13-cpu",
        "",
    ],
)
def test_unknown_images_name_the_image_and_the_supported_ones(image: str) -> None:
    with pytest.raises(ValidationError) as caught:
        resolve_image(image)

    message = caught.value.message
    assert message.startswith(f"Image {image!r} is not supported.")
    for entry in IMAGES:
        assert entry.runtime in message
        for repository in entry.repositories:
            assert repository in message


def test_a_failing_pipeline_container_names_itself(tmp_path: Path) -> None:
    spec = ModelSpec("pipe", (ContainerSpec("sklearn"), ContainerSpec("xgboost")))

    with pytest.raises(ModelLoadError, match="Could not load no model \\(sklearn\\)"):
        asyncio.run(open_model(spec, cache_dir=tmp_path, environment={}))


def test_unknown_image_is_refused_before_fetching(tmp_path: Path) -> None:
    spec = ModelSpec("m", (ContainerSpec("acme/model:1", str(tmp_path / "missing.tar.gz")),))

    with pytest.raises(ValidationError, match="'acme/model:1' is not supported") as caught:
        asyncio.run(open_model(spec, cache_dir=tmp_path, environment={}))
    assert "batchform images add" in caught.value.message
