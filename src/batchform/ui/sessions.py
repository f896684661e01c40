"""Who is looking at the dashboard while access keys are configured: sessions held on the
server, each opened by a key pair typed into the sign-in page.

A session is a random token (the HttpOnly cookie's value) mapped to the key that signed in, a
deadline and its own CSRF token. Sessions live in the server's memory: a restart signs everyone
out, and nothing about them is ever written anywhere.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.requests import Request

from batchform.auth.keys import AccessKey

SESSION_TTL_S = 3600.0
# Enough for every person and tab of a team; beyond it the oldest session is closed, so that
# a script opening sessions in a loop cannot grow the server's memory without bound.
MAX_SESSIONS = 10_000
# The request scope's key holding the signed-in visitor (absent while auth is off).
VISITOR_KEY = "batchform.ui.visitor"


class Door(Protocol):
    """What the dashboard needs of the API's ``Guard``: is auth on, check a key pair, tell
    whether a key still stands, and whether it may perform an action."""

    @property
    def active(self) -> bool: ...

    def sign_in(self, access_key_id: str, secret: str) -> AccessKey | None: ...
    def current(self, key: AccessKey) -> AccessKey | None: ...
    def denial(self, key: AccessKey, action: str, request: Mapping[str, Any]) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Session:
    """One sign-in: the key as it signed in, its CSRF token, when it ends (monotonic s)."""

    key: AccessKey
    csrf_token: str
    ends_at: float


@dataclass(frozen=True, slots=True)
class Visitor:
    """The signed-in key of the request being served, as the keys file has it now."""

    key: AccessKey
    csrf_token: str
    door: Door

    def denial(self, action: str, **members: str) -> str | None:
        """AWS's AccessDenied message if this key may not perform ``action``; else None."""
        return self.door.denial(self.key, action, members)


class Sessions:
    """The open sessions, by token; safe to use from several threads."""

    def __init__(
        self, *, ttl_s: float = SESSION_TTL_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._ttl_s = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._open: dict[str, Session] = {}

    @property
    def ttl_s(self) -> float:
        return self._ttl_s

    def open(self, key: AccessKey) -> str:
        """A new session for ``key``; returns its token."""
        token = secrets.token_urlsafe(32)
        now = self._clock()
        session = Session(key, secrets.token_urlsafe(32), now + self._ttl_s)
        with self._lock:
            self._drop_ended(now)
            while len(self._open) >= MAX_SESSIONS:
                del self._open[next(iter(self._open))]  # dicts keep order: the oldest
            self._open[token] = session
        return token

    def find(self, token: str | None) -> Session | None:
        """The session ``token`` names, unless it has ended or was closed."""
        if not token:
            return None
        with self._lock:
            session = self._open.get(token)
            if session is not None and session.ends_at <= self._clock():
                del self._open[token]
                return None
            return session

    def close(self, token: str | None) -> None:
        with self._lock:
            self._open.pop(token or "", None)

    def _drop_ended(self, now: float) -> None:
        for token in [t for t, s in self._open.items() if s.ends_at <= now]:
            del self._open[token]


def visitor(request: Request) -> Visitor | None:
    """The signed-in visitor of ``request``; None while auth is off."""
    found = request.scope.get(VISITOR_KEY)
    return found if isinstance(found, Visitor) else None


def permitted(found: Visitor | None, action: str, **members: str) -> bool:
    """Whether ``found`` may perform ``action`` (everyone may while auth is off): what decides
    that a button is shown."""
    return found is None or found.denial(action, **members) is None
