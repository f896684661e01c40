"""Header helpers of the toolkit: how it reads Content-Type and splits Accept."""

from __future__ import annotations

import re
from collections.abc import Mapping

CONTENT_TYPE_REGEX = re.compile("^[Cc]ontent-?[Tt]ype")


def retrieve_content_type_header(request_property: Mapping[str, str]) -> str | None:
    """The value of the first header spelled like Content-Type (``content-type``, ...)."""
    for key in request_property:
        if CONTENT_TYPE_REGEX.match(key):
            return request_property[key]
    return None


def parse_accept(accept: str) -> list[str]:
    """The Accept list as the toolkit splits it: spaces removed, split on commas.

    Parameters are kept (``text/csv;q=0.5`` stays one entry), so such an entry never
    matches a supported type, exactly as in the toolkit.
    """
    return accept.replace(" ", "").split(",")


def remove_crlf(illegal_string: str) -> str:
    """``illegal_string`` with CR and LF replaced by spaces (they cannot go in a reason phrase)."""
    return illegal_string.replace("\r", " ").replace("\n", " ")
