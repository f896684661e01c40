"""Signing in to the dashboard in a real browser (the system's Chromium), on a server with
access keys over the session's job service: the page's form, then the live jobs list."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from batchform.api.app import build_app
from batchform.api.auth import Guard
from batchform.auth.keyring import Keyring
from batchform.auth.keys import AccessKey, KeyFile, new_access_key
from batchform.auth.permissions import FULL_ACCESS
from tests.integration.api.serving import serving
from tests.integration.ui.conftest import POLL_S, Dashboard, Watch, screenshot

pytestmark = pytest.mark.browser

LIVE_S = 20_000  # ms: a bound on any change the page must show by itself


@pytest.fixture
def guarded_url(dashboard: Dashboard, tmp_path: Path) -> Iterator[tuple[str, AccessKey]]:
    """A second server over the dashboard's service, this one with an access key."""
    keys = KeyFile(tmp_path / "keys.json")
    admin = new_access_key("admin", FULL_ACCESS)
    keys.add(admin)
    app = build_app(dashboard.service, guard=Guard(Keyring(keys.path)), ui_poll_s=POLL_S)
    with serving(app) as url:
        yield url, admin


def test_signing_in_with_a_full_key_shows_the_jobs_list(
    page: Page, dashboard: Dashboard, guarded_url: tuple[str, AccessKey]
) -> None:
    url, admin = guarded_url
    watch = Watch(origin=url)
    page.on("console", watch.console)
    page.on("pageerror", lambda error: watch.errors.append(f"page error: {error}"))
    page.on("request", watch.request)
    page.set_default_timeout(15_000)
    dashboard.run_job("signed-in", objects=1, records=2, delay_s=0.0)

    page.goto(f"{url}/ui/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    screenshot(page, "sign-in")
    page.get_by_label("Access key ID").fill(admin.access_key_id)
    page.get_by_label("Secret access key").fill(admin.secret_access_key)
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("heading", name="Jobs")).to_be_visible()
    expect(page.locator("#signed-in-as")).to_have_text("Signed in as admin")
    row = page.locator('tr[data-job="signed-in"]')
    expect(row.get_by_text("Completed")).to_be_visible(timeout=LIVE_S)
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.goto(f"{url}/ui/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert watch.errors == [] and watch.foreign == []
