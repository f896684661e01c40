"""Signing in to the dashboard while access keys are configured.

* ``GET /login`` shows a form for an access key id and secret; ``POST /login`` checks the pair
  with the API's guard (the same keys file, re-read as for every API call) and opens a session:
  an HttpOnly, ``SameSite=Strict`` cookie (``Secure`` over https) valid for an hour, and only
  while its key is still in the keys file with the same secret.
* Every other page and fragment needs the session (``/static`` excepted: vendored files, no
  data). A page asked for without one is sent to the sign-in page; a fragment, a button's POST
  or any other request gets the 401 page.
* Each page and button then needs its action from the key's permissions (:func:`require`); a
  refusal is a 403 in AWS's AccessDenied words.
* State-changing requests carry a CSRF token: the session's, sent by htmx as ``X-CSRF-Token``
  or by the sign-out form; the sign-in form's is a double-submit cookie, as no session exists.

Without keys, none of this runs and the dashboard is open, as on a loopback server.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from urllib.parse import parse_qs, quote

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from batchform.ui.render import BASE_KEY, Renderer, base_path
from batchform.ui.sessions import VISITOR_KEY, Door, Sessions, Visitor, visitor

logger = logging.getLogger(__name__)

SESSION_COOKIE = "batchform_session"
LOGIN_COOKIE = "batchform_login"  # the sign-in form's CSRF token, double-submitted
LOGIN_FORM_TTL_S = 900
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
MAX_FORM_BYTES = 8192  # a key id, a secret, two tokens and a path fit many times over
NOT_SIGNED_IN = "The access key ID or secret access key is wrong, or the key was revoked."


class Gate:
    """Lets a request through to the dashboard only with a live session, while auth is on."""

    def __init__(self, app: ASGIApp, door: Door, sessions: Sessions, renderer: Renderer) -> None:
        self._app = app
        self._door = door
        self._sessions = sessions
        self._renderer = renderer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope = {**scope, BASE_KEY: scope.get("root_path", "")}
        if scope["type"] != "http" or not self._door.active or _public(_route_path(scope)):
            await self._app(scope, receive, send)
            return
        request = Request(scope, receive)
        found = self._visitor(request)
        if found is None:
            await self._refusal(request)(scope, receive, send)
            return
        await self._app({**scope, VISITOR_KEY: found}, receive, send)

    def _visitor(self, request: Request) -> Visitor | None:
        token = request.cookies.get(SESSION_COOKIE)
        session = self._sessions.find(token)
        if session is None:
            return None
        key = self._door.current(session.key)  # re-reads the keys file if it changed
        if key is None:
            self._sessions.close(token)  # revoked: this session is over, for good
            return None
        return Visitor(key, session.csrf_token, self._door)

    def _refusal(self, request: Request) -> Response:
        base = base_path(request)
        if request.method == "GET" and request.headers.get("hx-request") != "true":
            wanted = _route_path(request.scope)
            if request.url.query:
                wanted += "?" + request.url.query
            return RedirectResponse(f"{base}/login?next={quote(wanted, safe='')}", 303)
        # htmx follows HX-Redirect even on a 401: a page whose session ended goes to sign-in.
        page = self._renderer.page(request, "refused.html", {}, status_code=401)
        page.headers["HX-Redirect"] = f"{base}/login"
        return page


class SignIn:
    """The sign-in and sign-out endpoints."""

    def __init__(self, door: Door, sessions: Sessions, renderer: Renderer) -> None:
        self._door = door
        self._sessions = sessions
        self._render = renderer

    async def form(self, request: Request) -> Response:
        if not self._door.active:
            return RedirectResponse(f"{base_path(request)}/", 303)
        return self._form(request, next_path=request.query_params.get("next", "/"))

    async def submit(self, request: Request) -> Response:
        if not self._door.active:
            return RedirectResponse(f"{base_path(request)}/", 303)
        check_origin(request)
        fields = await _form_fields(request)
        next_path = fields.get("next", "/")
        if not _same(fields.get(CSRF_FIELD), request.cookies.get(LOGIN_COOKIE)):
            error = "This sign-in form has expired or came from elsewhere: please try again."
            return self._form(request, next_path=next_path, error=error, status_code=403)
        key_id = fields.get("access_key_id", "").strip()
        secret = fields.get("secret_access_key", "")
        if not key_id or not secret:
            error = "Enter both the access key ID and the secret access key."
            return self._form(request, next_path=next_path, key_id=key_id, error=error)
        key = self._door.sign_in(key_id, secret)
        if key is None:
            # Only the id's first characters: a secret pasted into the id field stays unlogged.
            logger.info("dashboard sign-in refused for access key id %s…", key_id[:4])
            return self._form(
                request, next_path=next_path, key_id=key_id, error=NOT_SIGNED_IN, status_code=401
            )
        logger.info("dashboard: %s signed in (access key %s)", key.name, key.access_key_id)
        response = RedirectResponse(base_path(request) + _safe_next(next_path), 303)
        self._cookie(response, request, SESSION_COOKIE, self._sessions.open(key))
        response.delete_cookie(LOGIN_COOKIE, path=_cookie_path(request))
        return response

    async def logout(self, request: Request) -> Response:
        check_origin(request)
        fields = await _form_fields(request)
        check_csrf(request, fields.get(CSRF_FIELD))
        self._sessions.close(request.cookies.get(SESSION_COOKIE))
        response = RedirectResponse(f"{base_path(request)}/login", 303)
        response.delete_cookie(SESSION_COOKIE, path=_cookie_path(request))
        return response

    def _form(
        self,
        request: Request,
        *,
        next_path: str,
        key_id: str = "",
        error: str = "",
        status_code: int = 200,
    ) -> Response:
        token = secrets.token_urlsafe(32)
        context = {
            "error": error,
            "key_id": key_id,
            "next": _safe_next(next_path),
            "login_csrf": token,
        }
        page = self._render.page(request, "login.html", context, status_code=status_code)
        self._cookie(page, request, LOGIN_COOKIE, token, max_age=LOGIN_FORM_TTL_S)
        return page

    def _cookie(
        self, response: Response, request: Request, name: str, value: str, max_age: int = 0
    ) -> None:
        response.set_cookie(
            name,
            value,
            max_age=max_age or int(self._sessions.ttl_s),
            path=_cookie_path(request),
            secure=request.url.scheme == "https",
            httponly=True,
            samesite="strict",
        )


def require(request: Request, action: str, **members: str) -> None:
    """Refuse (403, AWS's AccessDenied words) unless the visitor's key may perform ``action``
    on what ``members`` name (``TransformJobName=…``); everyone may while auth is off."""
    found = visitor(request)
    message = found.denial(action, **members) if found is not None else None
    if message is not None:
        raise HTTPException(403, message)


def check_csrf(request: Request, sent: str | None) -> None:
    """Refuse a state-changing request without the session's CSRF token (none while auth is
    off: then no session exists and the origin check stands alone)."""
    found = visitor(request)
    if found is not None and not _same(sent, found.csrf_token):
        raise HTTPException(403, "This request lacks the page's CSRF token: reload the page")


def check_origin(request: Request) -> None:
    """Refuse a request that a page of another origin sent (browsers name it in ``Origin``)."""
    origin = request.headers.get("origin")
    own = f"{request.url.scheme}://{request.url.netloc}"
    if origin is not None and origin != own:
        raise HTTPException(403, f"Refused a request from another origin ({origin})")


def _same(sent: str | None, expected: str | None) -> bool:
    if not sent or not expected:
        return False
    return hmac.compare_digest(sent.encode("utf-8", "replace"), expected.encode())


async def _form_fields(request: Request) -> dict[str, str]:
    """An urlencoded form's fields (the first value of each), refusing an oversized body."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise HTTPException(413, "This form is too large")
    parsed = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {name: values[0] for name, values in parsed.items()}


def _safe_next(path: str) -> str:
    """``path`` if it is a path inside the dashboard; else its front page (no open redirect)."""
    if path.startswith("/") and not path.startswith("//") and "\\" not in path:
        return path
    return "/"


def _public(path: str) -> bool:
    return path == "/login" or path.startswith("/static/")


def _route_path(scope: Scope) -> str:
    """The path below the dashboard's mount (``/transform-jobs/x``)."""
    path, root = str(scope["path"]), str(scope.get("root_path", ""))
    return path[len(root) :] if root and path.startswith(root) else path


def _cookie_path(request: Request) -> str:
    return base_path(request) or "/"
