"""Signing in to the dashboard while access keys are configured, read with httpx from a real
server (no browser): the session cookie, refusals, revoked keys, permissions and CSRF tokens.

The server has no scheduler, so its job stays InProgress and its Stop button stays offered.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from batchform.api.app import build_app
from batchform.api.auth import Guard
from batchform.auth.keyring import Keyring
from batchform.auth.keys import AccessKey, KeyFile, new_access_key
from batchform.auth.permissions import FULL_ACCESS, READ_ONLY
from batchform.config import Settings
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

JOB = "guarded-job"
HX = {"HX-Request": "true"}


@dataclass
class Guarded:
    url: str
    service: JobService
    keys: KeyFile
    admin: AccessKey
    reader: AccessKey
    clients: list[httpx.Client] = field(default_factory=list)

    def client(self) -> httpx.Client:
        """A client of its own (a browser's cookie jar), closed with the server."""
        client = httpx.Client(base_url=self.url, timeout=10, follow_redirects=False)
        self.clients.append(client)
        return client

    def signed_in(self, key: AccessKey) -> httpx.Client:
        client = self.client()
        answer = sign_in(client, key.access_key_id, key.secret_access_key)
        assert answer.status_code == 303, answer.text
        return client


@pytest.fixture
def guarded(store: JobStore, tmp_path: Path) -> Iterator[Guarded]:
    settings = Settings(home=tmp_path / "home").restricted((tmp_path,), script_mode=True)
    register_counter_image(settings, tmp_path)
    service = JobService(store, settings=settings)
    service.create_model(counter_model())
    write_counter_inputs(tmp_path / "in", objects=1, records=1)
    service.create_transform_job(counter_job(JOB, tmp_path / "in", tmp_path / "out", tmp_path))
    keys = KeyFile(tmp_path / "auth" / "keys.json")
    admin, reader = new_access_key("admin", FULL_ACCESS), new_access_key("reader", READ_ONLY)
    keys.add(admin)
    keys.add(reader)
    with serving(build_app(service, guard=Guard(Keyring(keys.path)))) as url:
        served = Guarded(url, service, keys, admin, reader)
        yield served
        for client in served.clients:
            client.close()


def sign_in(client: httpx.Client, key_id: str, secret: str, **extra: str) -> httpx.Response:
    """Submit the sign-in form as a browser would: its page first, for the form's token."""
    form = client.get("/ui/login")
    assert form.status_code == 200
    fields = {"csrf_token": hidden(form.text, "csrf_token"), "next": "/"}
    fields.update(access_key_id=key_id, secret_access_key=secret, **extra)
    return client.post("/ui/login", data=fields)


def hidden(html: str, name: str) -> str:
    found = re.search(rf'<input type="hidden" name="{name}" value="([^"]*)"', html)
    assert found is not None, f"no hidden {name} in the page"
    return found.group(1)


def csrf_token(html: str) -> str:
    found = re.search(r'hx-headers=\'\{"X-CSRF-Token": "([^"]+)"\}\'', html)
    assert found is not None, "no CSRF token in the page's hx-headers"
    return found.group(1)


def test_a_key_pair_opens_an_httponly_strict_session_that_shows_the_jobs(
    guarded: Guarded,
) -> None:
    client = guarded.client()
    page = client.get(f"/ui/transform-jobs/{JOB}?x=1")
    assert page.status_code == 303
    assert page.headers["location"] == "/ui/login?next=%2Ftransform-jobs%2Fguarded-job%3Fx%3D1"
    signed = sign_in(
        client, guarded.admin.access_key_id, guarded.admin.secret_access_key, next="/models"
    )
    assert signed.status_code == 303 and signed.headers["location"] == "/ui/models"
    cookie = next(c for c in signed.headers.get_list("set-cookie") if "batchform_session" in c)
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie
    assert "Max-Age=3600" in cookie and "Secure" not in cookie  # served over http here
    jobs = client.get("/ui/")
    assert jobs.status_code == 200 and f'data-job="{JOB}"' in jobs.text
    assert "Signed in as admin" in jobs.text and csrf_token(jobs.text)
    assert client.get("/ui/jobs/rows", headers=HX).status_code == 200


def test_a_wrong_pair_is_refused_plainly_and_the_secret_never_comes_back(
    guarded: Guarded,
) -> None:
    client = guarded.client()
    wrong = "not-the-secret-" + "x" * 30
    refused = sign_in(client, guarded.admin.access_key_id, wrong)
    assert refused.status_code == 401
    assert "The access key ID or secret access key is wrong" in refused.text
    assert wrong not in refused.text and guarded.admin.secret_access_key not in refused.text
    assert f'value="{guarded.admin.access_key_id}"' in refused.text  # the id is kept
    unknown = sign_in(client, "BFKNOSUCHKEY00000000", guarded.admin.secret_access_key)
    assert unknown.status_code == 401 and "is wrong" in unknown.text
    assert "Enter both" in sign_in(client, "", "").text
    assert "batchform_session" not in client.cookies
    assert client.get("/ui/").status_code == 303


def test_the_sign_in_form_needs_its_own_token(guarded: Guarded) -> None:
    client = guarded.client()
    client.get("/ui/login")
    key = guarded.admin
    fields = {"access_key_id": key.access_key_id, "secret_access_key": key.secret_access_key}
    forged = client.post("/ui/login", data={**fields, "csrf_token": "forged"})
    assert forged.status_code == 403 and "has expired or came from elsewhere" in forged.text
    assert client.post("/ui/login", data=fields).status_code == 403
    elsewhere = sign_in(client, key.access_key_id, key.secret_access_key)
    assert elsewhere.status_code == 303  # the same form, its token sent back: accepted
    other_origin = client.post("/ui/login", data=fields, headers={"Origin": "http://evil.example"})
    assert other_origin.status_code == 403


def test_a_revoked_key_s_session_is_refused_at_once(guarded: Guarded) -> None:
    client = guarded.signed_in(guarded.admin)
    assert client.get("/ui/").status_code == 200
    guarded.keys.revoke(guarded.admin.access_key_id)
    assert client.get("/ui/").status_code == 303
    fragment = client.get(f"/ui/transform-jobs/{JOB}/live", headers=HX)
    assert fragment.status_code == 401 and "Sign-in needed" in fragment.text
    assert fragment.headers["hx-redirect"] == "/ui/login" and JOB not in fragment.text
    again = sign_in(client, guarded.admin.access_key_id, guarded.admin.secret_access_key)
    assert again.status_code == 401


def test_a_read_only_key_sees_the_job_without_stop_and_a_forced_stop_is_denied(
    guarded: Guarded,
) -> None:
    reader = guarded.signed_in(guarded.reader)
    page = reader.get(f"/ui/transform-jobs/{JOB}")
    assert page.status_code == 200 and "Status:" in page.text and "Stop job" not in page.text
    assert reader.get("/ui/models").status_code == 200
    stop = reader.post(
        f"/ui/transform-jobs/{JOB}/stop", headers={**HX, "X-CSRF-Token": csrf_token(page.text)}
    )
    assert stop.status_code == 403 and "Access denied" in stop.text
    assert (
        "User: arn:aws:iam::123456789012:user/reader is not authorized to perform: "
        "sagemaker:StopTransformJob on resource: "
        f"arn:aws:sagemaker:us-east-1:123456789012:transform-job/{JOB} because no "
        "identity-based policy allows the sagemaker:StopTransformJob action"
    ) in stop.text
    assert guarded.service.describe_transform_job(JOB).status is JobStatus.IN_PROGRESS
    admin_page = guarded.signed_in(guarded.admin).get(f"/ui/transform-jobs/{JOB}")
    assert "Stop job" in admin_page.text


def test_stop_needs_the_session_s_csrf_token_and_sign_out_ends_the_session(
    guarded: Guarded,
) -> None:
    client = guarded.signed_in(guarded.admin)
    token = csrf_token(client.get("/ui/").text)
    stop_url = f"/ui/transform-jobs/{JOB}/stop"
    assert client.post(stop_url, headers=HX).status_code == 403
    assert client.post(stop_url, headers={**HX, "X-CSRF-Token": "x" + token}).status_code == 403
    assert guarded.service.describe_transform_job(JOB).status is JobStatus.IN_PROGRESS
    stopped = client.post(stop_url, headers={**HX, "X-CSRF-Token": token})
    assert stopped.status_code == 200 and "Stop requested" in stopped.text
    assert client.post("/ui/logout", data={"csrf_token": "forged"}).status_code == 403
    session = client.cookies["batchform_session"]
    out = client.post("/ui/logout", data={"csrf_token": token})
    assert out.status_code == 303 and out.headers["location"] == "/ui/login"
    copy = guarded.client()  # a copy of the cookie kept elsewhere is dead too
    copy.cookies.set("batchform_session", session)
    assert copy.get("/ui/").status_code == 303


def test_over_https_the_cookies_are_secure(guarded: Guarded) -> None:
    """Behind a TLS proxy (uvicorn trusts X-Forwarded-Proto from 127.0.0.1), the browser may
    send the cookies only over https."""
    https = {"X-Forwarded-Proto": "https"}
    client = guarded.client()
    form = client.get("/ui/login", headers=https)
    login_cookie = form.headers["set-cookie"]
    assert login_cookie.startswith("batchform_login=") and "; Secure" in login_cookie
    token = hidden(form.text, "csrf_token")
    key = guarded.admin
    fields = {"access_key_id": key.access_key_id, "secret_access_key": key.secret_access_key}
    signed = httpx.post(
        guarded.url + "/ui/login",
        data={**fields, "csrf_token": token},
        headers={**https, "Cookie": f"batchform_login={token}"},
        timeout=10,
    )
    assert signed.status_code == 303
    session = next(c for c in signed.headers.get_list("set-cookie") if "batchform_session" in c)
    assert "; Secure" in session and "HttpOnly" in session
