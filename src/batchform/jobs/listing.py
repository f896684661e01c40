"""ListModels / ListTransformJobs: filters, sort order and keyset pagination.

See docs/semantics.md, "Listing and pagination".

Filters are SQL conditions, so they apply before pagination: a page is never empty while
later pages hold matches (moto's bug). Every sort ends with the creation time and then the
unique ``name_key``, which makes the order total; a ``NextToken`` carries the sort key of the
last row returned, and the next page starts strictly after it. So pages neither repeat nor skip
rows while jobs are being created. A token also carries a fingerprint of the filters and sort
it was issued for; using it with other ones is a ValidationError, as is any garbage.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from batchform.errors import ValidationError
from batchform.jobs.schema import epoch

ASCENDING = "Ascending"
DESCENDING = "Descending"
DEFAULT_SORT_BY = "CreationTime"
DEFAULT_SORT_ORDER = DESCENDING
DEFAULT_MAX_RESULTS = 10
_TOKEN_VERSION = 1

# SortBy value → the columns that order rows, most significant first; each ends with name_key.
MODEL_SORT_KEYS: Mapping[str, tuple[str, ...]] = {
    "Name": ("name_key",),
    "CreationTime": ("creation_time", "name_key"),
}
JOB_SORT_KEYS: Mapping[str, tuple[str, ...]] = {
    **MODEL_SORT_KEYS,
    "Status": ("status", "creation_time", "name_key"),
}


@dataclass(frozen=True, slots=True)
class PageRequest:
    """Sort and page parameters of one List call (the wire values of SortBy / SortOrder)."""

    sort_by: str = DEFAULT_SORT_BY
    sort_order: str = DEFAULT_SORT_ORDER
    max_results: int = DEFAULT_MAX_RESULTS
    next_token: str | None = None


class Filters:
    """Builds a listing's SQL conditions and, alongside, the fingerprint its tokens carry."""

    def __init__(self) -> None:
        self.conditions: list[sa.ColumnElement[bool]] = []
        self.values: dict[str, Any] = {}

    def contains(self, field: str, column: sa.ColumnElement[str], text: str | None) -> None:
        """Case-insensitive substring; ``column`` must hold lower-cased text."""
        if text is not None:
            self.values[field] = text.lower()
            self.conditions.append(column.contains(text.lower(), autoescape=True))

    def equals(self, field: str, column: sa.ColumnElement[str], value: str | None) -> None:
        if value is not None:
            self.values[field] = value
            self.conditions.append(column == value)

    def after(self, field: str, column: sa.ColumnElement[float], when: datetime | None) -> None:
        """Strictly later than ``when`` (``column`` holds epoch seconds)."""
        if when is not None:
            self.values[field] = epoch(when)
            self.conditions.append(column > epoch(when))

    def before(self, field: str, column: sa.ColumnElement[float], when: datetime | None) -> None:
        """Strictly earlier than ``when`` (``column`` holds epoch seconds)."""
        if when is not None:
            self.values[field] = epoch(when)
            self.conditions.append(column < epoch(when))

    def fingerprint(self, page: PageRequest) -> str:
        """A short hash of the filters and the sort: what a token is valid for."""
        scope = {"filters": self.values, "sort": [page.sort_by, page.sort_order]}
        canonical = json.dumps(scope, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:24]


def fetch_page(
    conn: sa.Connection,
    table: sa.Table,
    filters: Filters,
    page: PageRequest,
    sort_keys: Mapping[str, tuple[str, ...]],
) -> tuple[list[sa.Row[Any]], str | None]:
    """One page of ``table``'s rows matching ``filters``, and the token of the next page."""
    columns = _sort_columns(table, page, sort_keys)
    descending = _is_descending(page.sort_order)
    if page.max_results < 1:
        raise ValidationError(f"MaxResults must be at least 1, got {page.max_results}")
    fingerprint = filters.fingerprint(page)
    query = sa.select(table).where(*filters.conditions)
    if page.next_token is not None:
        last = decode_token(page.next_token, fingerprint, columns)
        query = query.where(_after_key(columns, last, descending))
    order = [column.desc() if descending else column.asc() for column in columns]
    rows = list(conn.execute(query.order_by(*order).limit(page.max_results + 1)))
    if len(rows) <= page.max_results:
        return rows, None
    kept = rows[: page.max_results]
    key = [kept[-1]._mapping[column.name] for column in columns]
    return kept, encode_token(key, fingerprint)


def encode_token(key: Sequence[Any], fingerprint: str) -> str:
    """An opaque token: URL-safe base64 of the last row's sort key and the fingerprint."""
    document = {"v": _TOKEN_VERSION, "k": list(key), "f": fingerprint}
    raw = json.dumps(document, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii")


def decode_token(token: str, fingerprint: str, columns: Sequence[sa.Column[Any]]) -> list[Any]:
    """The sort key ``token`` carries; ValidationError unless it was issued for ``fingerprint``."""
    try:
        document = json.loads(base64.urlsafe_b64decode(token.encode("ascii")))
    except ValueError as exc:  # bad base64 (binascii.Error), bad UTF-8 or bad JSON
        raise _bad_token("it is not a token returned by a previous call") from exc
    if not isinstance(document, dict) or document.get("v") != _TOKEN_VERSION:
        raise _bad_token("it is not a token returned by a previous call")
    if document.get("f") != fingerprint:
        raise _bad_token("it was returned for a request with other filters or another sort order")
    key = document.get("k")
    if not isinstance(key, list) or not _key_fits(key, columns):
        raise _bad_token("it is not a token returned by a previous call")
    return key


def _bad_token(reason: str) -> ValidationError:
    return ValidationError(f'Invalid pagination token because "{reason}".')


def _key_fits(key: list[Any], columns: Sequence[sa.Column[Any]]) -> bool:
    if len(key) != len(columns):
        return False
    for value, column in zip(key, columns, strict=True):
        numeric = isinstance(column.type, sa.Double)
        if numeric and (isinstance(value, bool) or not isinstance(value, int | float)):
            return False
        if not numeric and not isinstance(value, str):
            return False
    return True


def _sort_columns(
    table: sa.Table, page: PageRequest, sort_keys: Mapping[str, tuple[str, ...]]
) -> list[sa.Column[Any]]:
    names = sort_keys.get(page.sort_by)
    if names is None:
        allowed = ", ".join(sort_keys)
        raise ValidationError(f"SortBy must be one of [{allowed}], got {page.sort_by!r}")
    return [table.c[name] for name in names]


def _is_descending(sort_order: str) -> bool:
    if sort_order not in (ASCENDING, DESCENDING):
        raise ValidationError(
            f"SortOrder must be one of [{ASCENDING}, {DESCENDING}], got {sort_order!r}"
        )
    return sort_order == DESCENDING


def _after_key(
    columns: Sequence[sa.Column[Any]], key: Sequence[Any], descending: bool
) -> sa.ColumnElement[bool]:
    """Rows strictly after ``key`` in the listing order, written without row-value syntax.

    (a, b, c) after (x, y, z) is: a ≻ x, or a = x and b ≻ y, or a = x and b = y and c ≻ z.
    """
    alternatives = []
    for position, (column, value) in enumerate(zip(columns, key, strict=True)):
        equal_prefix = [columns[i] == key[i] for i in range(position)]
        beyond = column < value if descending else column > value
        alternatives.append(sa.and_(*equal_prefix, beyond))
    return sa.or_(*alternatives)
