"""The dashboard in a real browser (the system's Chromium), on a server running real jobs.

Each test also fails on a console error or a request to another origin (the ``watched`` page),
and the tests write the README's screenshots (1280×800) to docs/screenshots/.
"""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Dialog, Page, expect

from batchform.jobs.records import JobStatus
from tests.integration.ui.conftest import POLL_S, Dashboard, Watch, screenshot

pytestmark = pytest.mark.browser

LIVE_S = 20_000  # ms: a bound on any change the page must show by itself
AUTOML_S = 90_000  # ms: a bound on a small AutoML job's trials, on a busy machine


def test_the_jobs_list_updates_live_as_a_job_runs(
    watched: tuple[Page, Watch], dashboard: Dashboard
) -> None:
    page, _ = watched
    page.goto(f"{dashboard.url}/ui/")
    expect(page.get_by_role("heading", name="Jobs")).to_be_visible()
    # Marks this document: a reload would lose it, so finding it at the end proves none came.
    page.evaluate("window.notReloaded = true")
    dashboard.run_job("list-live", objects=2, records=5, delay_s=0.05)
    row = page.locator('tr[data-job="list-live"]')
    expect(row).to_be_visible(timeout=LIVE_S)  # a job created after the page was loaded
    expect(row.get_by_text("InProgress")).to_be_visible()
    expect(row.get_by_text("Completed")).to_be_visible(timeout=LIVE_S)
    expect(row.locator(".objects")).to_have_text("2/2 objects")
    expect(row.locator(".records")).to_have_text("10 records")
    expect(row.get_by_role("progressbar")).to_have_attribute("value", "2")
    assert page.evaluate("window.notReloaded") is True
    # The name filter narrows the list in place.
    page.get_by_label("Name contains").fill("no-such-job")
    expect(page.get_by_text("No job matches these filters.")).to_be_visible()
    page.get_by_label("Name contains").fill("")
    expect(row).to_be_visible()


def test_the_job_page_shows_progress_objects_chart_and_log_then_stops_polling(
    watched: tuple[Page, Watch], dashboard: Dashboard
) -> None:
    page, watch = watched
    url = dashboard.run_job("detail", objects=3, records=10, delay_s=0.02)
    page.goto(url)
    expect(page.get_by_role("heading", name="detail")).to_be_visible()
    expect(page.locator("#job-status")).to_have_text("Completed", timeout=LIVE_S)
    objects = page.locator("#objects tbody tr")
    expect(objects).to_have_count(3)
    expect(page.locator("#objects .state-published")).to_have_count(3, timeout=LIVE_S)
    expect(page.locator('tr[data-object="obj-00.csv"] td').nth(2)).to_have_text("10")
    expect(page.locator("#records-count")).to_have_text("30")
    chart = page.get_by_role("img", name="Records per second")
    expect(chart).to_have_attribute("aria-label", _has_points())
    expect(page.get_by_role("log")).to_contain_text("counter model ready", timeout=LIVE_S)
    expect(page.get_by_role("list", name="Status timeline")).to_contain_text("Completed")
    # The job has ended: every live part drops its trigger, so the page stops asking.
    asked = len(watch.requests)
    time.sleep(4 * POLL_S)  # several poll periods: none may come
    assert watch.requests[asked:] == []
    screenshot(page, "transform-job")
    page.get_by_text("Request as submitted").click()  # the collapsible request, opened
    expect(page.locator("details.request pre")).to_contain_text('"BatchStrategy": "SingleRecord"')
    # Readable in a narrow window: nothing wider than the screen but the scrollable tables.
    page.set_viewport_size({"width": 375, "height": 800})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_stop_stops_a_running_job(watched: tuple[Page, Watch], dashboard: Dashboard) -> None:
    page, _ = watched
    url = dashboard.run_job("to-stop", objects=2, records=200, delay_s=0.05)
    page.goto(url)
    expect(page.locator("#objects .state-running").first).to_be_visible(timeout=LIVE_S)
    asked: list[str] = []

    def confirm(dialog: Dialog) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.once("dialog", confirm)
    stop = page.get_by_role("button", name="Stop job")
    stop.focus()
    page.keyboard.press("Enter")  # by keyboard, as anyone without a mouse would
    # Stopping shows until the job has let go of its objects (the next polls may already see
    # Stopped): either proves the stop was taken.
    expect(page.locator("#job-status")).to_have_text(re.compile("Stopping|Stopped"))
    assert asked and "Stop transform job to-stop?" in asked[0]
    expect(page.locator("#job-status")).to_have_text("Stopped", timeout=LIVE_S)
    # The log follows: the model's exit, written after the page was loaded, was appended.
    expect(page.get_by_role("log")).to_contain_text("model process stopped", timeout=LIVE_S)
    expect(page.get_by_role("button", name="Stop job")).to_have_count(0)
    assert dashboard.service.describe_transform_job("to-stop").status is JobStatus.STOPPED


def test_an_automl_job_s_leaderboard_fills_as_candidates_finish(
    watched: tuple[Page, Watch], dashboard: Dashboard
) -> None:
    page, _ = watched
    page.goto(dashboard.run_automl_job("churn", candidates=3))
    expect(page.get_by_role("heading", name="churn")).to_be_visible()
    # The job's child process takes seconds to start: the page opens before any candidate.
    expect(page.get_by_text("No candidate has finished yet.")).to_be_visible()
    page.evaluate("window.notReloaded = true")
    board = page.locator(".leaderboard tbody tr[data-candidate]")
    expect(board).to_have_count(3, timeout=AUTOML_S)
    expect(page.locator("#job-status")).to_have_text("Completed", timeout=AUTOML_S)
    assert page.evaluate("window.notReloaded") is True
    chart = page.get_by_role("img", name=re.compile("Best .* over trials: 3 points"))
    expect(chart).to_be_visible()
    expect(page.get_by_role("heading", name=re.compile("Best candidate: "))).to_be_visible()
    screenshot(page, "automl-job")
    page.once("dialog", lambda dialog: dialog.accept("churn-best"))  # the model's name
    page.get_by_role("button", name="Create model from this candidate").click()
    expect(page.get_by_role("status")).to_contain_text("Created model churn-best")
    page.goto(f"{dashboard.url}/ui/models/churn-best")
    expect(page.get_by_role("list", name="Containers, in the order they run")).to_contain_text(
        "built-in runtime sklearn-automl"
    )
    screenshot(page, "model")
    page.goto(f"{dashboard.url}/ui/")  # the list, with this session's jobs, for the README
    expect(page.locator('tr[data-job="churn"]').get_by_text("AutoML")).to_be_visible()
    screenshot(page, "jobs")


def _has_points() -> re.Pattern[str]:
    return re.compile(r"Records per second: \d+ points?, last [\d.,]+ records/s")
