"""What AutoML jobs record: their secondary status, what they resolved, their candidates; and
the tags of every kind of resource.

A running AutoML job writes under its lease, as a transform job does (see ``jobs.database``):
its secondary status, its resolved attributes, and each candidate as it finishes. A candidate
is stored as the JSON document the API returns (the ``AutoMLCandidate`` shape), with the few
fields listings filter and sort on beside it.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from batchform.errors import ValidationError
from batchform.jobs import schema
from batchform.jobs.database import Database, hold
from batchform.jobs.names import JobKind, job_key
from batchform.jobs.records import Lease, Page

jobs, candidates, tags = schema.jobs, schema.candidates, schema.tags

# ListCandidatesForAutoMLJob SortBy → the column; every order ends with the candidate's place.
CANDIDATE_SORT_KEYS: Mapping[str, Any] = {
    "CreationTime": candidates.c.creation_time,
    "Status": candidates.c.status,
    "FinalObjectiveMetricValue": candidates.c.objective_value,
}
MAX_TAGS = 50


class AutoMLRecords(Database):
    """The part of the job store that AutoML jobs write and their readers read."""

    def set_progress(
        self,
        lease: Lease,
        *,
        now: datetime,
        secondary_status: str | None = None,
        result: Mapping[str, Any] | None = None,
    ) -> None:
        """Record the job's secondary status and/or what it resolved, under ``lease``."""
        values: dict[str, Any] = {"last_modified_time": schema.epoch(now)}
        if secondary_status is not None:
            values["secondary_status"] = secondary_status
        if result is not None:
            values["result"] = json.dumps(dict(result))
        with self._write() as conn:
            hold(conn, lease)
            conn.execute(sa.update(jobs).where(jobs.c.name_key == lease.key).values(values))

    def set_secondary_status(self, name: str, status: str, *, now: datetime) -> None:
        """Set an AutoML job's secondary status outside a run (StopAutoMLJob says Stopping)."""
        statement = (
            sa.update(jobs)
            .where(jobs.c.name_key == job_key(JobKind.AUTOML, name))
            .values(secondary_status=status, last_modified_time=schema.epoch(now))
        )
        with self._write() as conn:
            conn.execute(statement)

    def record_candidate(self, lease: Lease, document: Mapping[str, Any]) -> None:
        """Store (or replace) a candidate; its place is the order candidates were recorded."""
        name = document["CandidateName"]
        objective = (document.get("FinalAutoMLJobObjectiveMetric") or {}).get("Value")
        mine = candidates.c.job_key == lease.key
        with self._write() as conn:
            hold(conn, lease)
            ordinal = conn.execute(sa.select(sa.func.count()).where(mine)).scalar_one()
            row = {
                "job_key": lease.key,
                "name": name,
                "ordinal": ordinal,
                "status": document["CandidateStatus"],
                "objective_value": objective,
                "creation_time": float(document["CreationTime"]),
                "document": json.dumps(dict(document)),
            }
            insert = self._insert(candidates)
            conn.execute(
                insert.values(row).on_conflict_do_update(
                    index_elements=[candidates.c.job_key, candidates.c.name],
                    set_={k: insert.excluded[k] for k in ("status", "objective_value", "document")},
                )
            )

    def candidate_names(self, name: str) -> set[str]:
        """Names of the candidates a job has recorded (a resumed job does not train them again)."""
        query = sa.select(candidates.c.name).where(
            candidates.c.job_key == job_key(JobKind.AUTOML, name)
        )
        with self._read() as conn:
            return set(conn.execute(query).scalars())

    def best_candidate(self, name: str, *, maximize: bool) -> dict[str, Any] | None:
        """The completed candidate with the best objective value (the first recorded on ties)."""
        value = candidates.c.objective_value
        query = (
            sa.select(candidates.c.document)
            .where(
                candidates.c.job_key == job_key(JobKind.AUTOML, name),
                candidates.c.status == "Completed",
                value.is_not(None),
            )
            .order_by(value.desc() if maximize else value.asc(), candidates.c.ordinal)
            .limit(1)
        )
        with self._read() as conn:
            document = conn.execute(query).scalar()
        return None if document is None else dict(json.loads(document))

    def list_candidates(
        self,
        name: str,
        *,
        status_equals: str | None = None,
        name_equals: str | None = None,
        sort_by: str | None = None,
        sort_order: str = "Ascending",
        max_results: int = 10,
        next_token: str | None = None,
    ) -> Page:
        """One page of a job's candidates (items are AutoMLCandidate documents)."""
        query = sa.select(candidates.c.document).where(
            candidates.c.job_key == job_key(JobKind.AUTOML, name)
        )
        if status_equals is not None:
            query = query.where(candidates.c.status == status_equals)
        if name_equals is not None:
            query = query.where(candidates.c.name == name_equals)
        order: list[Any] = []
        if sort_by is not None:
            column = CANDIDATE_SORT_KEYS[sort_by]
            order.append(column.desc() if sort_order == "Descending" else column.asc())
        order.append(candidates.c.ordinal)
        offset = _offset(next_token)
        query = query.order_by(*order).offset(offset).limit(max_results + 1)
        with self._read() as conn:
            documents = list(conn.execute(query).scalars())
        more = len(documents) > max_results
        items = [json.loads(document) for document in documents[:max_results]]
        return Page(items=items, next_token=_token(offset + max_results) if more else None)

    # --- tags, for every kind of resource -----------------------------------------------

    def add_tags(self, arn: str, pairs: Sequence[tuple[str, str]]) -> None:
        """Add or overwrite tags; more than MAX_TAGS on one resource is a ValidationError."""
        if not pairs:
            return
        rows = [{"resource_arn": arn, "key": k, "value": v} for k, v in dict(pairs).items()]
        insert = self._insert(tags)
        statement = insert.on_conflict_do_update(
            index_elements=[tags.c.resource_arn, tags.c.key], set_={"value": insert.excluded.value}
        )
        with self._write() as conn:
            conn.execute(statement, rows)
            count = conn.execute(
                sa.select(sa.func.count()).where(tags.c.resource_arn == arn)
            ).scalar_one()
            if count > MAX_TAGS:
                raise ValidationError(
                    f"Too many tags: a resource can have at most {MAX_TAGS} tags, "
                    f"{arn} would have {count}"
                )

    def list_tags(self, arn: str) -> list[tuple[str, str]]:
        query = sa.select(tags.c.key, tags.c.value).where(tags.c.resource_arn == arn)
        with self._read() as conn:
            return [(row.key, row.value) for row in conn.execute(query.order_by(tags.c.key))]

    def delete_tags(self, arn: str, keys: Sequence[str]) -> None:
        statement = sa.delete(tags).where(tags.c.resource_arn == arn, tags.c.key.in_(list(keys)))
        with self._write() as conn:
            conn.execute(statement)


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def _offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        offset = json.loads(base64.urlsafe_b64decode(token.encode()))["offset"]
        if isinstance(offset, int) and offset >= 0:
            return offset
    except (ValueError, TypeError, KeyError, binascii.Error):
        pass
    raise ValidationError("Invalid pagination token.")
