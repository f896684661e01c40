"""Templates → HTML responses: one Jinja2 environment, autoescaping everything it prints."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse

from batchform.ui.sessions import permitted, visitor

TEMPLATES = Path(__file__).parent / "templates"
HTMX_FILE = "vendor/htmx-2.0.11.min.js"
# The scope key holding the dashboard's mount path: ``root_path`` grows inside nested mounts.
BASE_KEY = "batchform.ui.base"


class Renderer:
    """Renders the dashboard's templates with what every page needs (``base``, ``poll_s``)."""

    def __init__(self, *, poll_s: float) -> None:
        self._poll_s = poll_s
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES),
            autoescape=True,
            # A name a template misspells is an error in the tests, not an empty cell.
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def page(
        self,
        request: Request,
        template: str,
        context: Mapping[str, Any],
        *,
        status_code: int = 200,
    ) -> HTMLResponse:
        html = self.text(request, template, context)
        # Fragments are asked for again and again: never let a cache answer with an old one.
        headers = {"Cache-Control": "no-store"}
        return HTMLResponse(html, status_code=status_code, headers=headers)

    def text(self, request: Request, template: str, context: Mapping[str, Any]) -> str:
        signed_in = visitor(request)
        common = {
            # Who is signed in (None while auth is off), and whether they may do an action:
            # a button the key may not use is not shown.
            "visitor": signed_in,
            "allowed": partial(permitted, signed_in),
            "base": base_path(request),
            "poll_s": self._poll_s,
            "poll_trigger": f"every {self._poll_s:g}s",
            "htmx_file": HTMX_FILE,
        }
        return self._env.get_template(template).render({**common, **context})


def base_path(request: Request) -> str:
    """Where the dashboard is mounted (``/ui`` under ``batchform server``), for its links."""
    scope = request.scope
    return str(scope.get(BASE_KEY, scope.get("root_path", ""))).rstrip("/")
