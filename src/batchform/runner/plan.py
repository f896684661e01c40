"""Plan a run: which input object goes to which instance, and where its output goes.

A pure function of the listing, so it is unit-testable with a fake listing and is what progress
counts against (spec §9.2: whole objects, sorted keys, object ``j`` to instance ``j mod N``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from batchform.runner.spec import RunSpec
from batchform.storage.inputs import InputObject, output_uri_for
from batchform.storage.uri import ObjectURI


@dataclass(frozen=True, slots=True)
class PlannedObject:
    """One input object, its place in the run and its output address."""

    index: int
    source: InputObject
    output: ObjectURI
    instance: int


@dataclass(frozen=True, slots=True)
class Plan:
    spec: RunSpec
    objects: tuple[PlannedObject, ...]

    def for_instance(self, instance: int) -> tuple[PlannedObject, ...]:
        return tuple(obj for obj in self.objects if obj.instance == instance)

    @property
    def busy_instances(self) -> tuple[int, ...]:
        """Instances with at least one object; the others stay idle, as on SageMaker."""
        return tuple(sorted({obj.instance for obj in self.objects}))

    @property
    def total_input_bytes(self) -> int | None:
        sizes = [obj.source.size_bytes for obj in self.objects]
        return None if any(size is None for size in sizes) else sum(s or 0 for s in sizes)


def make_plan(spec: RunSpec, inputs: Sequence[InputObject]) -> Plan:
    """Assign objects round-robin in listing order and name their outputs ``<relative>.out``.

    The listing is already in key order for S3Prefix and in manifest order for ManifestFile.
    """
    objects = tuple(
        PlannedObject(
            index=j,
            source=item,
            output=output_uri_for(spec.output_uri, item),
            instance=j % spec.instance_count,
        )
        for j, item in enumerate(inputs)
    )
    return Plan(spec=spec, objects=objects)
