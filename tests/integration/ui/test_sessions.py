"""The dashboard's session store: tokens, deadlines, sign-out, the bound on open sessions."""

from __future__ import annotations

import pytest

from batchform.auth.keys import new_access_key
from batchform.auth.permissions import FULL_ACCESS
from batchform.ui import sessions
from batchform.ui.sessions import Sessions


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_session_holds_its_key_and_its_own_csrf_token_until_its_deadline() -> None:
    clock = Clock()
    store = Sessions(ttl_s=3600, clock=clock)
    key = new_access_key("admin", FULL_ACCESS)
    first, second = store.open(key), store.open(key)

    found = store.find(first)
    assert first != second and found is not None and found.key == key
    other = store.find(second)
    assert other is not None and found.csrf_token != other.csrf_token
    clock.now += 3599
    assert store.find(first) is not None
    clock.now += 1
    assert store.find(first) is None and store.find(second) is None


def test_a_closed_or_unknown_session_is_not_found() -> None:
    store = Sessions()
    token = store.open(new_access_key("admin", FULL_ACCESS))
    store.close(token)

    assert store.find(token) is None
    assert store.find("made-up") is None and store.find(None) is None and store.find("") is None


def test_past_the_bound_the_oldest_session_is_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sessions, "MAX_SESSIONS", 3)
    store = Sessions()
    key = new_access_key("admin", FULL_ACCESS)
    tokens = [store.open(key) for _ in range(4)]

    assert store.find(tokens[0]) is None
    assert all(store.find(token) is not None for token in tokens[1:])
