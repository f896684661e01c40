"""Plan a run: which input object goes to which instance, and where its output goes.

A pure function of the listing, so it is unit-testable with a fake listing and is what progress
counts against. Whole objects in listing order, object ``j`` to instance ``j mod N``
(docs/semantics.md, "Instances").

A resumed job passes the relative names it already published as ``skip``: those objects stay
in the plan (totals and indices count every object) but no instance runs them again.
"""

from __future__ import annotations

from collections.abc import Sequence, Set
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
    """Every input object in order (``objects[i].index == i``) and those already done."""

    spec: RunSpec
    objects: tuple[PlannedObject, ...]
    skipped: frozenset[int] = frozenset()  # indices of objects published by an earlier run

    @property
    def pending(self) -> tuple[PlannedObject, ...]:
        """The objects this run must transform, in order."""
        return tuple(obj for obj in self.objects if obj.index not in self.skipped)

    def for_instance(self, instance: int) -> tuple[PlannedObject, ...]:
        """The pending objects of ``instance``."""
        return tuple(obj for obj in self.pending if obj.instance == instance)

    @property
    def busy_instances(self) -> tuple[int, ...]:
        """Instances with at least one pending object; the others stay idle, as on SageMaker."""
        return tuple(sorted({obj.instance for obj in self.pending}))

    @property
    def total_input_bytes(self) -> int | None:
        sizes = [obj.source.size_bytes for obj in self.objects]
        return None if any(size is None for size in sizes) else sum(s or 0 for s in sizes)


def make_plan(
    spec: RunSpec, inputs: Sequence[InputObject], *, skip: Set[str] = frozenset()
) -> Plan:
    """Assign objects round-robin in listing order and name their outputs ``<relative>.out``.

    The listing is already in key order for S3Prefix and in manifest order for ManifestFile.
    Objects whose relative name is in ``skip`` are marked skipped; they keep their instance, so
    a resumed run assigns every object where the first run did. Names of ``skip`` that are not
    in the listing are ignored.
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
    skipped = frozenset(obj.index for obj in objects if obj.source.relative in skip)
    return Plan(spec=spec, objects=objects, skipped=skipped)
