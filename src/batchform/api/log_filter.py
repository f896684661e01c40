"""What a CloudWatch Logs request carries besides names and times: filter patterns
(FilterLogEvents' ``filterPattern``) and the paging tokens of the three operations, with the
service's error for an invalid parameter, which a bad pattern or token raises.

GetLogEvents tokens are the service's ``f/<56 digits>/s`` and ``b/<56 digits>/s``: the position
(timestamp, sequence number) of the last (first) event returned. DescribeLogStreams' and
FilterLogEvents' tokens are opaque: base64 of a small JSON document.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

from batchform.errors import ValidationError

BAD_TOKEN = "The specified nextToken is invalid."


class InvalidParameterError(ValidationError):
    """CloudWatch Logs' name for an invalid request."""

    aws_type = "InvalidParameterException"


# --- filter patterns -------------------------------------------------------------------------

_TERM = re.compile(r'\s*([?-]?)(?:"((?:[^"\\]|\\.)*)"|([^\s"]+))\s*')


@dataclass(frozen=True, slots=True)
class FilterPattern:
    """A filter pattern for unstructured events: every plain term, at least one ``?term`` (if
    any) and no ``-term`` must occur (case-sensitive); ``"a quoted phrase"`` is one term; or
    ``%regular expression%``. JSON (``{ … }``) and space-delimited (``[ … ]``) patterns are not
    supported."""

    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()
    regex: re.Pattern[str] | None = None

    @classmethod
    def parse(cls, text: str) -> FilterPattern:
        pattern = text.strip()
        if not pattern:
            return cls()
        if len(pattern) > 1 and pattern.startswith("%") and pattern.endswith("%"):
            try:
                return cls(regex=re.compile(pattern[1:-1]))
            except re.error as exc:
                raise InvalidParameterError(f"Invalid regex in filter pattern: {exc}") from None
        if pattern[0] in "{[":
            raise InvalidParameterError(
                "batchform supports filter patterns of terms, quoted phrases, ?optional and "
                "-excluded terms, and %regex%; JSON and space-delimited patterns are not "
                "supported"
            )
        terms: dict[str, list[str]] = {"": [], "?": [], "-": []}
        position = 0
        while position < len(pattern):
            match = _TERM.match(pattern, position)
            if match is None or match.end() == position:
                raise InvalidParameterError(f"Invalid filter pattern: {text}")
            quoted = match[2]
            term = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else match[3]
            terms[match[1]].append(term)
            position = match.end()
        return cls(tuple(terms[""]), tuple(terms["?"]), tuple(terms["-"]))

    def matches(self, message: str) -> bool:
        if self.regex is not None:
            return self.regex.search(message) is not None
        return (
            all(term in message for term in self.required)
            and (not self.optional or any(term in message for term in self.optional))
            and not any(term in message for term in self.excluded)
        )


# --- tokens ----------------------------------------------------------------------------------

_EVENTS_TOKEN = re.compile(r"([fb])/(\d{20})(\d{36})(?:/s)?")


def events_token(direction: str, ms: int, seq: int) -> str:
    """GetLogEvents' token for the position (ms, seq), ``f`` forward or ``b`` backward."""
    return f"{direction}/{ms:020d}{seq:036d}/s"


def read_events_token(token: str) -> tuple[str, int, int]:
    """GetLogEvents' ``f/…`` or ``b/…`` token: direction, timestamp, sequence number."""
    match = _EVENTS_TOKEN.fullmatch(token)
    if match is None:
        raise InvalidParameterError(BAD_TOKEN)
    return match[1], int(match[2]), int(match[3])


def opaque_token(value: Any) -> str:
    """An opaque token holding ``value`` (JSON, base64)."""
    return base64.urlsafe_b64encode(json.dumps(value, separators=(",", ":")).encode()).decode()


def read_opaque_token(token: str) -> Any:
    """The value an :func:`opaque_token` holds; InvalidParameterError if it holds none."""
    try:
        return json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, binascii.Error):
        raise InvalidParameterError(BAD_TOKEN) from None


def read_filter_token(token: str) -> tuple[bool, tuple[int, str, int]]:
    """FilterLogEvents' token: direction, and the (timestamp, job ARN, seq) last examined."""
    value = read_opaque_token(token)
    try:
        forward, (ms, arn, seq) = value["f"], value["k"]
        if isinstance(forward, bool) and isinstance(arn, str) and _ints(ms, seq):
            return forward, (ms, arn, seq)
    except (KeyError, TypeError, ValueError):
        pass
    raise InvalidParameterError(BAD_TOKEN)


def read_streams_token(token: str, sort: dict[str, Any]) -> list[Any]:
    """DescribeLogStreams' token: the sort key of the last stream returned, in the order
    ``sort`` (``{"o": orderBy, "d": descending}``) the request asks for."""
    after = read_opaque_token(token)
    if not (isinstance(after, dict) and after.get("s") == sort):
        raise InvalidParameterError(BAD_TOKEN)
    last = after.get("k")
    by_time = sort["o"] == "LastEventTime"
    if not (
        isinstance(last, list)
        and len(last) == 1 + by_time
        and isinstance(last[-1], str)
        and (not by_time or _ints(last[0]))
    ):
        raise InvalidParameterError(BAD_TOKEN)
    return last


def _ints(*values: Any) -> bool:
    return all(isinstance(value, int) and not isinstance(value, bool) for value in values)
