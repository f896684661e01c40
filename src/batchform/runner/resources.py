"""SageMaker instance types as compute resources, and how a job's instances are sized.

Pure data and arithmetic, no Ray: the Ray executor turns an :class:`InstanceResources` into
actor options, the API checks ``InstanceType`` against :data:`INSTANCE_SHAPES`, and both are
unit-tested without a cluster.

Sources of the table (an ``ml.`` instance is the EC2 instance of the same name):
- vCPU and memory: Amazon EC2's instance-type pages (aws.amazon.com/ec2/instance-types/), as
  generated from EC2's DescribeInstanceTypes in kubernetes/kops
  ``upup/pkg/fi/cloudup/awsup/machine_types.go``;
- GPU counts: aws/sagemaker-python-sdk ``src/sagemaker/serve/utils/hardware_detector.py``
  (``fallback_gpu_resource_mapping``); NeuronCores: the AWS Neuron docs (trn1, inf2).
SageMaker keeps part of the memory for its agents, so a container sees a little less.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from batchform.errors import BatchformError

GIB = 1024**3
DEFAULT_MEMORY_FRACTION = 0.6  # Ray offers ~70% of a node's RAM; 0.6 fits a same-size node

Policy = Literal["strict", "fit"]


class CapacityError(BatchformError):
    """The cluster cannot hold a job's instances; the text starts ``CapacityError:`` as the
    SageMaker SDK expects of such a FailureReason."""


@dataclass(frozen=True, slots=True)
class InstanceShape:
    """One instance type: what a SageMaker instance of it offers."""

    name: str
    vcpu: int
    memory_gib: float
    gpus: int = 0
    accelerator: str | None = None  # GPU or Neuron model, e.g. "T4", "Inferentia2"
    neuron_cores: int = 0


def _family(
    family: str,
    sizes: Sequence[tuple[str, int, float, int]],
    accelerator: str | None = None,
    cores_per_device: int = 0,
) -> dict[str, InstanceShape]:
    """Rows ``(size, vCPU, GiB, devices)``; devices are GPUs, or Neuron chips for Neuron."""
    shapes = {}
    for size, vcpu, memory_gib, devices in sizes:
        name = f"ml.{family}.{size}"
        neuron = devices * cores_per_device
        gpus = 0 if cores_per_device else devices
        shapes[name] = InstanceShape(name, vcpu, memory_gib, gpus, accelerator, neuron)
    return shapes


# Sizes shared by families whose memory is a fixed multiple of the vCPUs.
def _ratio(
    sizes: Sequence[tuple[str, int]], gib_per_vcpu: float
) -> list[tuple[str, int, float, int]]:
    return [(size, vcpu, vcpu * gib_per_vcpu, 0) for size, vcpu in sizes]


_GEN6 = [
    ("large", 2),
    ("xlarge", 4),
    ("2xlarge", 8),
    ("4xlarge", 16),
    ("8xlarge", 32),
    ("12xlarge", 48),
    ("16xlarge", 64),
    ("24xlarge", 96),
    ("32xlarge", 128),
]
_GEN7 = [*_GEN6[:-1], ("48xlarge", 192)]
_M5 = [
    ("large", 2),
    ("xlarge", 4),
    ("2xlarge", 8),
    ("4xlarge", 16),
    ("12xlarge", 48),
    ("24xlarge", 96),
]
_C5 = [
    ("large", 2),
    ("xlarge", 4),
    ("2xlarge", 8),
    ("4xlarge", 16),
    ("9xlarge", 36),
    ("18xlarge", 72),
]
# (size, vCPU, GiB, GPUs) of the g4dn/g5/g6 sizes; g6e has twice the memory.
_G_SIZES = [
    ("xlarge", 4, 16, 1),
    ("2xlarge", 8, 32, 1),
    ("4xlarge", 16, 64, 1),
    ("8xlarge", 32, 128, 1),
    ("12xlarge", 48, 192, 4),
    ("16xlarge", 64, 256, 1),
    ("24xlarge", 96, 384, 4),
    ("48xlarge", 192, 768, 8),
]
_G4DN = [row for row in _G_SIZES if row[0] not in ("24xlarge", "48xlarge")]

INSTANCE_SHAPES: Mapping[str, InstanceShape] = {
    **_family(
        "m4",
        [
            ("xlarge", 4, 16, 0),
            ("2xlarge", 8, 32, 0),
            ("4xlarge", 16, 64, 0),
            ("10xlarge", 40, 160, 0),
            ("16xlarge", 64, 256, 0),
        ],
    ),
    **_family(
        "c4",
        [
            ("xlarge", 4, 7.5, 0),
            ("2xlarge", 8, 15, 0),
            ("4xlarge", 16, 30, 0),
            ("8xlarge", 36, 60, 0),
        ],
    ),
    **_family("m5", _ratio(_M5, 4)),
    **_family("c5", [row for row in _ratio(_C5, 2) if row[0] != "large"]),
    **_family("m6i", _ratio(_GEN6, 4)),
    **_family("c6i", _ratio(_GEN6, 2)),
    **_family("r6i", _ratio(_GEN6, 8)),
    **_family("m7i", _ratio(_GEN7, 4)),
    **_family("c7i", _ratio(_GEN7, 2)),
    **_family("r7i", _ratio(_GEN7, 8)),
    **_family(
        "p2", [("xlarge", 4, 61, 1), ("8xlarge", 32, 488, 8), ("16xlarge", 64, 732, 16)], "K80"
    ),
    **_family(
        "p3", [("2xlarge", 8, 61, 1), ("8xlarge", 32, 244, 4), ("16xlarge", 64, 488, 8)], "V100"
    ),
    **_family("g4dn", _G4DN, "T4"),
    **_family("g5", _G_SIZES, "A10G"),
    **_family("g6", _G_SIZES, "L4"),
    **_family("g6e", [(s, v, m * 2, g) for s, v, m, g in _G_SIZES], "L40S"),
    **_family("trn1", [("2xlarge", 8, 32, 1), ("32xlarge", 128, 512, 16)], "Trainium", 2),
    **_family(
        "inf2",
        [
            ("xlarge", 4, 16, 1),
            ("8xlarge", 32, 128, 1),
            ("24xlarge", 96, 384, 6),
            ("48xlarge", 192, 768, 12),
        ],
        "Inferentia2",
        2,
    ),
}


@dataclass(frozen=True, slots=True)
class NodeView:
    """What one alive node of a cluster offers (Ray's totals)."""

    cpus: float
    gpus: float = 0.0
    memory_bytes: int = 0


@dataclass(frozen=True, slots=True)
class ClusterView:
    nodes: tuple[NodeView, ...]

    @property
    def cpus(self) -> float:
        return sum(node.cpus for node in self.nodes)

    @property
    def largest(self) -> NodeView:
        return max(self.nodes, key=lambda n: (n.cpus, n.gpus, n.memory_bytes), default=NodeView(0))


@dataclass(frozen=True, slots=True)
class InstanceResources:
    """What one instance reserves; ``notes`` are lines for the job's log (what was scaled)."""

    num_cpus: float
    num_gpus: float = 0.0
    memory_bytes: int | None = None
    neuron_cores: int = 0
    notes: tuple[str, ...] = field(default=())


def plan_resources(
    shape: InstanceShape,
    count: int,
    cluster: ClusterView,
    policy: Policy,
    memory_fraction: float = DEFAULT_MEMORY_FRACTION,
) -> InstanceResources:
    """Resources of each of ``count`` instances of ``shape``.

    ``strict`` asks for the instance as SageMaker sells it (the caller reserves all instances
    at once, and fails with :func:`capacity_message` when that does not happen in time).
    ``fit`` keeps ``count`` instances but scales them to the cluster: CPUs shared out, no
    memory reservation, GPUs only where some exist; never fewer instances.
    """
    if policy == "strict":
        memory = int(shape.memory_gib * memory_fraction * GIB)
        return InstanceResources(shape.vcpu, shape.gpus, memory, shape.neuron_cores)
    return _fit(shape, count, cluster)


def _fit(shape: InstanceShape, count: int, cluster: ClusterView) -> InstanceResources:
    share = cluster.cpus / max(count, 1)
    # Two decimals, rounded down: Ray refuses finer fractions, and n shares must fit the total.
    cpus = min(float(shape.vcpu), math.floor(share * 100) / 100)
    notes = []
    if cpus < shape.vcpu:
        notes.append(
            f"resource policy fit: {count} x {shape.name} share {cluster.cpus:g} CPUs of this "
            f"Ray cluster, {cpus:g} CPUs each instead of {shape.vcpu}; memory not reserved"
        )
    gpus = float(min(shape.gpus, cluster.largest.gpus))
    if gpus < shape.gpus:
        notes.append(
            f"resource policy fit: {shape.name} asks for {shape.gpus} GPUs per instance; the "
            f"cluster's largest node has {cluster.largest.gpus:g}, so each instance gets {gpus:g}"
            + (" and the model runs on CPU" if gpus == 0 else "")
        )
    return InstanceResources(max(cpus, 0.01), gpus, None, 0, tuple(notes))


def capacity_message(
    shape: InstanceShape,
    count: int,
    wanted: InstanceResources,
    cluster: ClusterView,
    waited_s: float,
) -> str:
    """The FailureReason of a job whose instances could not all be placed in ``waited_s``."""
    node = cluster.largest
    need = _describe(wanted.num_cpus, wanted.num_gpus, wanted.memory_bytes)
    offer = _describe(node.cpus, node.gpus, node.memory_bytes)
    return (
        f"CapacityError: {shape.name} x {count} needs {count} x ({need}) but the largest alive "
        f"Ray node offers ({offer}); nothing became available within {waited_s:g} s. Use a "
        "smaller InstanceType or InstanceCount, or the resource policy 'fit'."
    )


def _describe(cpus: float, gpus: float, memory_bytes: int | None) -> str:
    parts = [f"{cpus:g} CPU"]
    if gpus:
        parts.append(f"{gpus:g} GPU")
    if memory_bytes:
        parts.append(f"{memory_bytes / GIB:.1f} GiB")
    return ", ".join(parts)


def unknown_type_message(instance_type: str) -> str:
    """Why ``instance_type`` is refused: the table has no resources for it."""
    return (
        f"InstanceType {instance_type!r} has no known vCPU/memory/GPU figures in batchform's "
        "instance table, so its instances cannot be sized; use one of: "
        + ", ".join(sorted(INSTANCE_SHAPES))
    )
