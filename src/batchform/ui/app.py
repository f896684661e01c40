"""The dashboard's Starlette app, which ``batchform server`` mounts at ``/ui``.

Pages are rendered on the server from the job service's records (never from the store around
it); live parts are small HTML fragments that the vendored htmx polls and swaps in. A fragment
drops its polling trigger once its job has ended, so the browser stops asking by itself.
Nothing is fetched from another origin: the page's script, style and charts all come from here.

While access keys are configured, every page wants a session opened by signing in with an
access key pair, and each page and button the permission its API call would need
(:mod:`batchform.ui.signin`): the API's door has no side entrance.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from batchform.auth.keys import AccessKey
from batchform.ui.pages import DEFAULT_POLL_S, DashboardService, Pages
from batchform.ui.render import Renderer
from batchform.ui.sessions import Door, Sessions
from batchform.ui.signin import Gate, SignIn

__all__ = ["DEFAULT_POLL_S", "build_ui"]

STATIC = Path(__file__).parent / "static"


def build_ui(
    service: DashboardService,
    *,
    door: Door | None = None,
    sessions: Sessions | None = None,
    poll_s: float = DEFAULT_POLL_S,
) -> ASGIApp:
    """The dashboard over ``service``; while ``door`` is active (access keys are configured),
    every request but the sign-in page's wants a session (``sessions``: held in memory, one
    hour each by default). ``poll_s`` is how often live fragments are asked for again."""
    renderer = Renderer(poll_s=poll_s)
    pages = Pages(service, renderer)
    door = door or _Open()
    sessions = sessions or Sessions()
    sign_in = SignIn(door, sessions, renderer)
    app = Starlette(
        routes=[
            Route("/", pages.jobs, methods=["GET"]),
            Route("/login", sign_in.form, methods=["GET"]),
            Route("/login", sign_in.submit, methods=["POST"]),
            Route("/logout", sign_in.logout, methods=["POST"]),
            Route("/jobs/rows", pages.job_rows, methods=["GET"]),
            Route("/transform-jobs/{name}", pages.transform_job, methods=["GET"]),
            Route("/transform-jobs/{name}/live", pages.transform_live, methods=["GET"]),
            Route("/transform-jobs/{name}/objects", pages.transform_objects, methods=["GET"]),
            Route("/transform-jobs/{name}/log", pages.transform_log, methods=["GET"]),
            Route("/transform-jobs/{name}/stop", pages.stop_transform_job, methods=["POST"]),
            Route("/automl-jobs/{name}", pages.automl_job, methods=["GET"]),
            Route("/automl-jobs/{name}/live", pages.automl_live, methods=["GET"]),
            Route(
                "/automl-jobs/{name}/candidates/{candidate}/model",
                pages.create_model,
                methods=["POST"],
            ),
            Route("/models", pages.models, methods=["GET"]),
            Route("/models/{name}", pages.model, methods=["GET"]),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ],
        exception_handlers={HTTPException: _error_page(renderer)},
    )
    return Gate(app, door, sessions, renderer)


class _Open:
    """The door of a dashboard without access keys: never active, so never consulted."""

    active = False

    def sign_in(self, access_key_id: str, secret: str) -> AccessKey | None:
        return None

    def current(self, key: AccessKey) -> AccessKey | None:
        return None

    def denial(self, key: AccessKey, action: str, request: Mapping[str, Any]) -> str | None:
        return None


def _error_page(renderer: Renderer) -> Callable[[Request, Exception], Response]:
    def answer(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        detail = exc.detail if isinstance(exc, HTTPException) else "Internal error"
        context = {"status": status, "detail": detail}
        return renderer.page(request, "error.html", context, status_code=status)

    return answer
