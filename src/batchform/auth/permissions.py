"""What an access key may call: IAM-style action patterns.

A key carries a list of patterns such as ``sagemaker:Describe*``, ``sagemaker:*`` or
``logs:GetLogEvents``; a call is allowed when one of them matches its action
(``<service>:<Operation>``). As in IAM policies, ``*`` matches any run of characters, ``?`` one
character, and the match ignores case. There is no Deny and no resource condition: a key's
patterns are the whole of its policy.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache

from batchform.errors import ValidationError

# The services whose actions the server answers; a pattern names one of them, or is ``*``.
SERVICES = ("sagemaker", "logs")

FULL_ACCESS: tuple[str, ...] = ("sagemaker:*", "logs:*")
# What AWS's read-only policies grant for these services: look, never change. The server's
# own GET endpoints are read-only too: they map to sagemaker:DescribeTransformJob and
# logs:GetLogEvents (see batchform.api.auth).
READ_ONLY: tuple[str, ...] = (
    "sagemaker:Describe*",
    "sagemaker:List*",
    "sagemaker:Get*",
    "logs:Describe*",
    "logs:Get*",
    "logs:FilterLogEvents",
)

_PATTERN_SHAPE = re.compile(r"[A-Za-z0-9*?]+")


def checked_pattern(pattern: str) -> str:
    """``pattern`` if it is ``*`` or ``<service>:<action pattern>`` for a served service."""
    if pattern == "*":
        return pattern
    service, sep, action = pattern.partition(":")
    if not sep or service.lower() not in SERVICES or not _PATTERN_SHAPE.fullmatch(action):
        raise ValidationError(
            f"permission {pattern!r}: expected '*' or <service>:<action> with * and ? as "
            f"wildcards, service one of {', '.join(SERVICES)} (e.g. sagemaker:Describe*)"
        )
    return pattern


def allows(patterns: Iterable[str], action: str) -> bool:
    """Whether any of ``patterns`` matches ``action`` (``sagemaker:CreateModel``)."""
    return any(_compiled(pattern).fullmatch(action) for pattern in patterns)


def permissions_for(allow: Sequence[str], *, read_only: bool) -> tuple[str, ...]:
    """A new key's patterns: ``allow`` (checked) plus the read-only preset when asked; with
    neither, full access to every served service."""
    chosen = [checked_pattern(pattern) for pattern in allow]
    if read_only:
        chosen += [pattern for pattern in READ_ONLY if pattern not in chosen]
    return tuple(chosen) if chosen else FULL_ACCESS


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    # Escape everything, then give * and ? back their wildcard meaning (IAM has no [...]).
    regex = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
    return re.compile(regex, re.IGNORECASE)
