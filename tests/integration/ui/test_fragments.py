"""The HTML each dashboard endpoint returns, read with httpx from a real server (no browser).

``idle``: a server without a scheduler, so its jobs stay InProgress until a test moves them;
``dashboard`` (the session's): one whose jobs run to their end.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from batchform.api.app import build_app
from batchform.api.auth import Guard
from batchform.auth.keyring import Keyring
from batchform.auth.keys import KeyFile, new_access_key
from batchform.auth.permissions import FULL_ACCESS
from batchform.config import Settings
from batchform.jobs import sink
from batchform.jobs.records import JobStatus
from batchform.jobs.service import JobService
from batchform.jobs.store import JobStore
from tests.integration.api.serving import serving
from tests.integration.jobs.test_execution import (
    counter_job,
    counter_model,
    register_counter_image,
    write_counter_inputs,
)
from tests.integration.ui.conftest import Dashboard, wait_until

HX = {"HX-Request": "true"}


@dataclass
class Idle:
    url: str
    service: JobService
    root: Path

    def create(self, name: str) -> None:
        inputs = self.root / f"{name}-in"
        write_counter_inputs(inputs, objects=1, records=1)
        request = counter_job(name, inputs, self.root / "out", self.root / "n")
        self.service.create_transform_job(request)

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.url + path, timeout=10)


@pytest.fixture
def idle(store: JobStore, tmp_path: Path) -> Iterator[Idle]:
    settings = Settings(home=tmp_path / "home").restricted((tmp_path,), script_mode=True)
    register_counter_image(settings, tmp_path)
    service = JobService(store, settings=settings)
    service.create_model(counter_model())
    with serving(build_app(service)) as url:
        yield Idle(url, service, tmp_path)


def rows(html: str) -> list[str]:
    return re.findall(r'<tr data-job="([^"]+)"', html)


def test_the_jobs_page_lists_jobs_newest_first_and_its_rows_filter(idle: Idle) -> None:
    for name in ("alpha-1", "beta-1", "alpha-2"):
        idle.create(name)
    idle.service.stop_transform_job("beta-1")
    page = idle.get("/ui/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert rows(page.text) == ["alpha-2", "beta-1", "alpha-1"]
    assert '<label>Name contains <input type="search" name="name"' in page.text
    assert 'hx-trigger="every 2s"' in page.text  # the rows refresh themselves
    assert rows(idle.get("/ui/jobs/rows?name=alpha").text) == ["alpha-2", "alpha-1"]
    assert rows(idle.get("/ui/jobs/rows?status=Stopping").text) == ["beta-1"]
    assert rows(idle.get("/ui/?status=Stopping&name=beta").text) == ["beta-1"]
    assert "No job matches these filters." in idle.get("/ui/jobs/rows?kind=automl").text
    refused = idle.get("/ui/jobs/rows?status=Bogus").text
    assert 'role="alert"' in refused and "No such status: &#39;Bogus&#39;" in refused
    assert "ml.m5.large × 1" in page.text


def test_a_running_job_s_fragments_keep_polling_and_offer_stop(idle: Idle) -> None:
    idle.create("running")
    live = idle.get("/ui/transform-jobs/running/live").text
    assert 'hx-get="/ui/transform-jobs/running/live" hx-trigger="every 2s"' in live
    assert "Stop job" in live and 'hx-confirm="Stop transform job running?' in live
    assert 'aria-label="Records per second: no data yet"' in live
    objects = idle.get("/ui/transform-jobs/running/objects").text
    assert 'hx-trigger="every 2s"' in objects
    follow = idle.get("/ui/transform-jobs/running/log?after=0").text
    assert 'hx-swap-oob="beforeend:#log-lines"' in follow
    assert 'hx-get="/ui/transform-jobs/running/log?after=0" hx-trigger="every 2s"' in follow


def test_stop_needs_the_page_s_own_request_and_then_stops(idle: Idle) -> None:
    idle.create("victim")
    url = idle.url + "/ui/transform-jobs/victim/stop"
    assert httpx.post(url).status_code == 403  # a plain form post, as another site could send
    foreign = {**HX, "Origin": "http://evil.example"}
    assert httpx.post(url, headers=foreign).status_code == 403
    assert idle.service.describe_transform_job("victim").status is JobStatus.IN_PROGRESS
    answer = httpx.post(url, headers={**HX, "Origin": idle.url})
    assert answer.status_code == 200 and "Stop requested" in answer.text
    assert idle.service.describe_transform_job("victim").status is JobStatus.STOPPING
    assert "Stop job" not in answer.text  # no second stop
    assert "Stop requested" in idle.get("/ui/transform-jobs/victim/live").text  # while Stopping
    again = httpx.post(url, headers=HX).text
    assert "The request was rejected because the transform job is in status Stopping." in again


def test_an_ended_job_s_fragments_stop_polling(dashboard: Dashboard) -> None:
    dashboard.run_job("ended", objects=2, records=3, delay_s=0.0)

    def status() -> JobStatus:
        return dashboard.service.describe_transform_job("ended").status

    wait_until(lambda: status().terminal, "the job to end")
    base = f"{dashboard.url}/ui/transform-jobs/ended"
    page = httpx.get(base, timeout=10).text
    assert status() is JobStatus.COMPLETED
    assert "hx-trigger" not in page  # no part of an ended job's page asks again
    assert page.count('<span class="state state-published">published</span>') == 2
    assert re.search(r'aria-label="Records per second: \d+ points?, last [\d.,]+ records/s', page)
    assert "counter model ready" in page  # the log's tail
    assert "&#34;BatchStrategy&#34;: &#34;SingleRecord&#34;" in page  # the request, escaped
    failed = httpx.get(base + "/objects?state=failed", timeout=10).text
    assert "No objects in state failed" in failed
    assert "hx-trigger" not in httpx.get(base + "/log?after=0", timeout=10).text


def test_unknown_jobs_are_404_pages_and_assets_are_served(idle: Idle) -> None:
    missing = idle.get("/ui/transform-jobs/nope")
    assert missing.status_code == 404 and "Could not find transform job" in missing.text
    assert missing.headers["content-type"].startswith("text/html")
    script = idle.get("/ui/static/vendor/htmx-2.0.11.min.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert "Zero-Clause BSD" in idle.get("/ui/static/vendor/htmx-LICENSE").text
    assert idle.get("/ui/no/such/page").status_code == 404


def test_with_access_keys_nothing_shows_before_signing_in(store: JobStore, tmp_path: Path) -> None:
    """Without a session, pages send the browser to sign in and fragments and buttons get 401:
    not even a job's name shows. Only the sign-in page and the vendored files are served."""
    settings = Settings(home=tmp_path / "home")
    register_counter_image(settings, tmp_path)
    service = JobService(store, settings=settings)
    service.create_model(counter_model())
    key_file = KeyFile(tmp_path / "auth" / "keys.json")
    key_file.add(new_access_key("admin", FULL_ACCESS))
    with serving(build_app(service, guard=Guard(Keyring(key_file.path)))) as url:
        for path in ("/ui/", "/ui/transform-jobs/x", "/ui/models/counter"):
            answer = httpx.get(url + path, timeout=10)
            assert answer.status_code == 303, path
            assert answer.headers["location"].startswith("/ui/login?next=%2F"), path
        for path in ("/ui/jobs/rows", "/ui/transform-jobs/x/live", "/ui/models"):
            answer = httpx.get(url + path, headers=HX, timeout=10)
            assert answer.status_code == 401, path
            assert "Sign-in needed" in answer.text and "counter" not in answer.text
        assert httpx.post(url + "/ui/transform-jobs/x/stop", headers=HX).status_code == 401
        assert httpx.get(url + "/ui/static/app.css", timeout=10).status_code == 200
        login = httpx.get(url + "/ui/login", timeout=10).text
        assert '<label for="access-key-id">Access key ID</label>' in login
        assert '<label for="secret-access-key">Secret access key</label>' in login


def test_without_access_keys_there_is_nothing_to_sign_in_to(idle: Idle) -> None:
    assert idle.get("/ui/login").headers["location"] == "/ui/"
    page = idle.get("/ui/")
    assert "Sign out" not in page.text and "X-CSRF-Token" not in page.text


def test_models_show_their_containers_resolution_and_the_jobs_that_used_them(idle: Idle) -> None:
    idle.service.create_model(
        {
            "ModelName": "boosted",
            "PrimaryContainer": {"Image": "xgboost", "ModelDataUrl": str(idle.root / "m.tar.gz")},
            "ExecutionRoleArn": "arn:aws:iam::123456789012:role/x",
        }
    )
    idle.create("uses-counter")
    listed = idle.get("/ui/models").text
    assert re.findall(r'<tr data-model="([^"]+)"', listed) == ["boosted", "counter"]
    assert "No model matches this name." in idle.get("/ui/models?name=zzz").text
    counter = idle.get("/ui/models/counter").text
    assert "acme/counter:1</code> — registered image" in counter
    assert 'href="/ui/transform-jobs/uses-counter"' in counter
    boosted = idle.get("/ui/models/boosted").text
    assert "xgboost</code> — built-in runtime xgboost" in boosted
    assert "None among the newest 100 transform jobs." in boosted
    assert idle.get("/ui/models/nope").status_code == 404


def test_the_object_table_pages_through_a_job_s_objects(dashboard: Dashboard) -> None:
    dashboard.run_job("many", objects=60, records=1, delay_s=0.0)

    def ended() -> bool:
        return dashboard.service.describe_transform_job("many").status.terminal

    wait_until(ended, "the job of 60 objects to end", deadline_s=60)
    objects = f"{dashboard.url}/ui/transform-jobs/many/objects"
    first = httpx.get(objects, timeout=10).text
    keys = re.findall(r'<tr data-object="([^"]+)"', first)
    assert keys == [f"obj-{n:02d}.csv" for n in range(50)]
    assert "Objects 1–50, in input order (page 1)" in first
    next_link = re.search(r'hx-get="([^"]+)"[^>]*rel="next"', first)
    assert next_link is not None
    second = httpx.get(dashboard.url + next_link.group(1).replace("&amp;", "&"), timeout=10).text
    keys = re.findall(r'<tr data-object="([^"]+)"', second)
    assert keys == [f"obj-{n:02d}.csv" for n in range(50, 60)]
    assert "Objects 51–60, in input order (page 2)" in second
    assert 'rel="next"' not in second and "First page" in second


def test_a_job_first_opened_after_it_ended_and_a_restart_charts_its_whole_run(
    dashboard: Dashboard, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The samples are the store's: a server started after the job ended (a new app on the same
    database, which never saw the job run) draws more than the run's one average."""
    monkeypatch.setattr(sink, "SAMPLE_EVERY_S", 0.2)  # several samples in a short run
    dashboard.run_job("charted", objects=2, records=6, delay_s=0.15)

    def ended() -> bool:
        return dashboard.service.describe_transform_job("charted").status.terminal

    wait_until(ended, "the charted job to end")
    restarted = JobStore(f"sqlite:///{dashboard.root / 'jobs.db'}")
    try:
        service = JobService(restarted, settings=Settings(home=dashboard.root / "home"))
        with serving(build_app(service)) as url:
            page = httpx.get(f"{url}/ui/transform-jobs/charted", timeout=10).text
    finally:
        restarted.close()
    found = re.search(
        r'aria-label="Records per second: (\d+) points?, last [\d.,]+ records/s', page
    )
    assert found is not None and int(found.group(1)) > 1, page
