"""The dashboard under test: a real ``batchform server`` app (API, dashboard and scheduler) on
127.0.0.1 for the whole session, jobs run by a real model process, and Playwright driving the
system's Chromium (``make test`` installs Debian's; no browser is ever downloaded).

Every page a browser test opens is watched: a console error, an uncaught page error or a request
to any origin but the server's fails the test.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import (
    Browser,
    BrowserType,
    ConsoleMessage,
    Page,
    Playwright,
    Request,
    sync_playwright,
)

from batchform.api.app import build_app
from batchform.config import Settings
from batchform.jobs.scheduler import Scheduler
from batchform.jobs.service import JobService
from batchform.jobs.store import JobStore
from tests.integration.api.serving import serving
from tests.integration.jobs.test_execution import (
    counter_job,
    counter_model,
    register_counter_image,
    write_counter_inputs,
)

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
# Chromium still looks up Google's hosts on its own (updates, accounts): resolve nothing but
# the test server, so that no query leaves the machine.
NO_DNS = "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1, EXCLUDE localhost"
POLL_S = 0.3  # the dashboard's refresh in these tests: live enough to see changes quickly
SCREENSHOTS = Path(__file__).parents[3] / "docs" / "screenshots"


@dataclass
class Dashboard:
    """The served app, its service (as the API's handlers use it) and the jobs' folder."""

    url: str
    service: JobService
    root: Path
    made: list[str] = field(default_factory=list)

    def run_job(self, name: str, *, objects: int, records: int, delay_s: float) -> str:
        """Create a transform job on the counter model (one record per request, each taking
        ``delay_s``); returns its page's URL."""
        inputs = self.root / f"{name}-in"
        write_counter_inputs(inputs, objects=objects, records=records)
        request = counter_job(
            name, inputs, self.root / f"{name}-out", self.root / f"{name}.n", delay_s=delay_s
        )
        self.service.create_transform_job(request)
        return f"{self.url}/ui/transform-jobs/{name}"

    def run_automl_job(self, name: str, *, candidates: int) -> str:
        """Create a small tabular AutoML job (HPO of ``candidates`` trials); returns its page."""
        training = self.root / f"{name}-train"
        training.mkdir()
        rows = ["age,plan,churn"] + [
            f"{20 + i % 50},{'ab'[i % 2]},{'yes' if i % 3 else 'no'}" for i in range(60)
        ]
        (training / "data.csv").write_text("\n".join(rows) + "\n")
        source = {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": str(training)}}
        request = {
            "AutoMLJobName": name,
            "AutoMLJobInputDataConfig": [{"DataSource": source}],
            "OutputDataConfig": {"S3OutputPath": str(self.root / f"{name}-out")},
            "AutoMLProblemTypeConfig": {
                "TabularJobConfig": {
                    "TargetAttributeName": "churn",
                    "Mode": "HYPERPARAMETER_TUNING",
                    "CompletionCriteria": {"MaxCandidates": candidates},
                }
            },
            "RoleArn": "arn:aws:iam::123456789012:role/automl",
        }
        self.service.automl.create(request, "CreateAutoMLJobV2")
        return f"{self.url}/ui/automl-jobs/{name}"


@pytest.fixture(scope="session")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    root = tmp_path_factory.mktemp("dashboard")
    settings = Settings(home=root / "home").restricted((root,), script_mode=True)
    register_counter_image(settings, root)
    store = JobStore(f"sqlite:///{root / 'jobs.db'}")
    store.create_schema()
    scheduler = Scheduler(store, settings, owner="ui-tests", max_jobs=2, poll_s=0.2)
    service = JobService(store, settings=settings, on_job_created=scheduler.wake)
    service.create_model(counter_model())
    scheduler.start()
    try:
        with serving(build_app(service, ui_poll_s=POLL_S)) as url:
            yield Dashboard(url, service, root)
    finally:
        scheduler.stop()
        store.close()


# pytest-playwright keeps Playwright running for the whole session, and its sync API leaves an
# event loop marked running in this thread: every later test in the same process that calls
# asyncio.run() fails (make test runs many files per process). Here Playwright lives for one
# module; its stop() clears the loop.


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    started = sync_playwright().start()
    yield started
    started.stop()


@pytest.fixture(scope="module")
def browser_type(playwright: Playwright, browser_name: str) -> BrowserType:
    return getattr(playwright, browser_name)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def launch_browser(
    browser_type_launch_args: dict[str, Any], browser_type: BrowserType
) -> Callable[..., Browser]:
    def launch(**options: Any) -> Browser:
        return browser_type.launch(**{**browser_type_launch_args, **options})

    return launch


@pytest.fixture(scope="module")
def browser(launch_browser: Callable[..., Browser]) -> Iterator[Browser]:
    launched = launch_browser()
    yield launched
    launched.close()


@pytest.fixture(scope="session")
def browser_type_launch_args(
    browser_type_launch_args: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """pytest-playwright's launch, on the system's Chromium."""
    if not os.path.exists(CHROMIUM):
        message = f"{CHROMIUM} not found: apt-get install -y --no-install-recommends chromium"
        if os.environ.get("CI") or os.environ.get("REQUIRE_BROWSER"):
            pytest.fail(message)  # CI must not pass by skipping
        pytest.skip(message)
    # Chromium writes crash reports and dconf state under the user's config and cache folders
    # even with a throwaway profile: keep them in the session's temporary folder.
    home = tmp_path_factory.mktemp("chromium-home")
    env = {**os.environ, "XDG_CONFIG_HOME": str(home / "config"), "XDG_CACHE_HOME": str(home)}
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [NO_DNS],
        "env": env,
    }


@pytest.fixture(scope="session")
def base_url() -> str | None:
    """None: the tests use the dashboard's own URL. (This also replaces pytest-playwright's
    fallback fixture, a method that pytest 9 warns about, and warnings are errors here.)"""
    return None


@pytest.fixture(scope="session")
def browser_context_args() -> dict[str, Any]:
    """Every page at 1280×800 (pytest-playwright's own version would start Playwright for
    the session, for device emulation and video these tests do not use)."""
    return {"viewport": {"width": 1280, "height": 800}}


@dataclass
class Watch:
    """What a page did that a test must not let pass."""

    origin: str
    errors: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text}")

    def request(self, request: Request) -> None:
        self.requests.append(request.url)
        parts = urlsplit(request.url)
        if parts.scheme in ("data", "about", "blob"):
            return
        if f"{parts.scheme}://{parts.netloc}" != self.origin:
            self.foreign.append(request.url)


@pytest.fixture
def watched(page: Page, dashboard: Dashboard) -> Iterator[tuple[Page, Watch]]:
    """A page on the dashboard that fails the test on any console error, page error or
    request to another origin."""
    watch = Watch(origin=dashboard.url)
    page.on("console", watch.console)
    page.on("pageerror", lambda error: watch.errors.append(f"page error: {error}"))
    page.on("request", watch.request)
    page.set_default_timeout(15_000)
    yield page, watch
    assert watch.errors == []
    assert watch.foreign == []


def wait_until(predicate: Callable[[], bool], what: str, deadline_s: float = 30.0) -> None:
    """Poll ``predicate`` until it holds, or fail after ``deadline_s``."""
    end = time.monotonic() + deadline_s
    while not predicate():
        if time.monotonic() > end:
            raise TimeoutError(f"not within {deadline_s}s: {what}")
        time.sleep(0.05)


def screenshot(page: Page, name: str) -> None:
    """A 1280×800 picture of the page for the README (docs/screenshots/<name>.png)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))
