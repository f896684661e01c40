from __future__ import annotations

from typing import Any

import botocore.session
import pytest

from batchform.api.validation import validate_request
from batchform.errors import ValidationError
from batchform.runner import resources
from batchform.runner.resources import (
    GIB,
    INSTANCE_SHAPES,
    ClusterView,
    NodeView,
    capacity_message,
    plan_resources,
)

LAPTOP = ClusterView((NodeView(cpus=2, memory_bytes=16 * GIB),))


def test_every_instance_type_sagemaker_accepts_has_a_size() -> None:
    model = botocore.session.get_session().get_service_model("sagemaker")
    accepted = set(model.shape_for("TransformInstanceType").metadata["enum"])
    assert accepted - set(INSTANCE_SHAPES) == set()


@pytest.mark.parametrize(
    ("name", "vcpu", "memory_gib", "gpus"),
    [
        ("ml.m5.large", 2, 8, 0),
        ("ml.m5.xlarge", 4, 16, 0),
        ("ml.c5.9xlarge", 36, 72, 0),
        ("ml.c4.xlarge", 4, 7.5, 0),
        ("ml.g4dn.12xlarge", 48, 192, 4),
        ("ml.g4dn.16xlarge", 64, 256, 1),
        ("ml.p3.2xlarge", 8, 61, 1),
        ("ml.g5.48xlarge", 192, 768, 8),
        ("ml.g6e.xlarge", 4, 32, 1),
        ("ml.r7i.48xlarge", 192, 1536, 0),
    ],
)
def test_table_rows(name: str, vcpu: int, memory_gib: float, gpus: int) -> None:
    shape = INSTANCE_SHAPES[name]
    assert (shape.vcpu, shape.memory_gib, shape.gpus) == (vcpu, memory_gib, gpus)


def test_neuron_instances_count_cores_not_gpus() -> None:
    shape = INSTANCE_SHAPES["ml.inf2.24xlarge"]
    assert (shape.gpus, shape.neuron_cores, shape.accelerator) == (0, 12, "Inferentia2")


def test_strict_asks_for_the_instance_as_sold() -> None:
    wanted = plan_resources(INSTANCE_SHAPES["ml.m5.xlarge"], 2, LAPTOP, "strict")
    assert (wanted.num_cpus, wanted.num_gpus) == (4, 0)
    assert wanted.memory_bytes == int(16 * 0.6 * GIB)
    assert wanted.notes == ()


def test_fit_shares_the_cpus_and_keeps_every_instance() -> None:
    wanted = plan_resources(INSTANCE_SHAPES["ml.m5.xlarge"], 4, LAPTOP, "fit")
    assert wanted.num_cpus == 0.5
    assert wanted.memory_bytes is None
    assert "4 x ml.m5.xlarge share 2 CPUs" in wanted.notes[0]


def test_fit_rounds_cpus_down_so_all_shares_fit() -> None:
    wanted = plan_resources(INSTANCE_SHAPES["ml.m5.xlarge"], 3, LAPTOP, "fit")
    assert wanted.num_cpus == 0.66
    assert wanted.num_cpus * 3 <= 2


def test_fit_on_a_big_cluster_changes_nothing() -> None:
    big = ClusterView((NodeView(cpus=64), NodeView(cpus=64)))
    wanted = plan_resources(INSTANCE_SHAPES["ml.m5.large"], 4, big, "fit")
    assert (wanted.num_cpus, wanted.notes) == (2, ())


def test_fit_runs_a_gpu_type_on_cpu_where_there_is_no_gpu() -> None:
    wanted = plan_resources(INSTANCE_SHAPES["ml.p3.2xlarge"], 1, LAPTOP, "fit")
    assert (wanted.num_cpus, wanted.num_gpus) == (2, 0)
    assert any("model runs on CPU" in note for note in wanted.notes)


def test_capacity_message_says_what_was_needed_and_what_exists() -> None:
    shape = INSTANCE_SHAPES["ml.p3.2xlarge"]
    wanted = plan_resources(shape, 2, LAPTOP, "strict")
    text = capacity_message(shape, 2, wanted, LAPTOP, 2.0)
    assert text.startswith("CapacityError: ml.p3.2xlarge x 2 needs 2 x (8 CPU, 1 GPU, 36.6 GiB)")
    assert "largest alive Ray node offers (2 CPU, 16.0 GiB)" in text
    assert "within 2 s" in text and "'fit'" in text


def _job(instance_type: str) -> dict[str, Any]:
    return {
        "TransformJobName": "job-1",
        "ModelName": "model-1",
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://b/in/"}}
        },
        "TransformOutput": {"S3OutputPath": "s3://b/out/"},
        "TransformResources": {"InstanceType": instance_type, "InstanceCount": 1},
    }


def test_a_type_the_enum_accepts_but_the_table_cannot_size_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    validate_request("CreateTransformJob", _job("ml.m4.xlarge"))
    # A newer botocore lists types before our table has them: removing a row stands in for it.
    monkeypatch.delitem(resources.INSTANCE_SHAPES, "ml.m4.xlarge")
    with pytest.raises(ValidationError) as caught:
        validate_request("CreateTransformJob", _job("ml.m4.xlarge"))
    assert "'transformResources.instanceType'" in caught.value.message
    assert "no known vCPU/memory/GPU figures" in caught.value.message


def test_an_unknown_type_is_still_refused_by_the_enum() -> None:
    with pytest.raises(ValidationError) as caught:
        validate_request("CreateTransformJob", _job("ml.z9.huge"))
    assert "enum value set" in caught.value.message
