"""The dashboard's Starlette app, which ``batchform server`` mounts at ``/ui``.

Pages are rendered on the server from the job service's records (never from the store around
it); live parts are small HTML fragments that the vendored htmx polls and swaps in. A fragment
drops its polling trigger once its job has ended, so the browser stops asking by itself.
Nothing is fetched from another origin: the page's script, style and charts all come from here.

While access keys are configured, every page is refused (401): the dashboard does not sign in
yet, and the API's door must not have a side entrance.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from batchform.ui.pages import DEFAULT_POLL_S, DashboardService, Pages
from batchform.ui.render import BASE_KEY, Renderer

__all__ = ["DEFAULT_POLL_S", "build_ui"]

STATIC = Path(__file__).parent / "static"


def build_ui(
    service: DashboardService,
    *,
    refuse: Callable[[], bool] = lambda: False,
    poll_s: float = DEFAULT_POLL_S,
) -> ASGIApp:
    """The dashboard over ``service``; while ``refuse()`` holds, every request gets the 401
    page. ``poll_s`` is how often live fragments are asked for again."""
    renderer = Renderer(poll_s=poll_s)
    pages = Pages(service, renderer)
    app = Starlette(
        routes=[
            Route("/", pages.jobs, methods=["GET"]),
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
    return _Refusing(app, refuse, renderer)


class _Refusing:
    """Answers the 401 page instead of ``app`` while ``refuse()`` holds."""

    def __init__(self, app: ASGIApp, refuse: Callable[[], bool], renderer: Renderer) -> None:
        self._app = app
        self._refuse = refuse
        self._renderer = renderer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope = {**scope, BASE_KEY: scope.get("root_path", "")}
        if scope["type"] == "http" and self._refuse():
            request = Request(scope, receive)
            page = self._renderer.page(request, "refused.html", {}, status_code=401)
            await page(scope, receive, send)
            return
        await self._app(scope, receive, send)


def _error_page(renderer: Renderer) -> Callable[[Request, Exception], Response]:
    def answer(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        detail = exc.detail if isinstance(exc, HTTPException) else "Internal error"
        context = {"status": status, "detail": detail}
        return renderer.page(request, "error.html", context, status_code=status)

    return answer
