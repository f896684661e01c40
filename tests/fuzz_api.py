"""Fuzz the API server with calls drawn from botocore's service models (tests.api_strategies).

Each call goes over real HTTP to a real server. After each, the invariants hold: no 5xx; every
error is ``{"__type", "Message"}``; a broken member is named by the validation error; an
unreadable body is a SerializationException and an oversize one a 413; and, every
``check_every`` calls, the server still answers and its store is consistent (every model and
job a List returns Describes).

``make test`` runs a few hundred calls (tests/integration/api/test_fuzz_api.py); the long run
starts its own server, S3 (moto) and database::

    python -m tests.fuzz_api --examples 10000

and prints the counts per operation, per mutation and per answer.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import httpx
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from batchform.api import cloudwatch_logs
from batchform.api.app import OPERATIONS, build_app
from batchform.api.protocol import CONTENT_TYPE, LOGS_TARGET_PREFIX, TARGET_PREFIX
from batchform.config import Settings
from batchform.jobs.service import JobService
from batchform.jobs.store import JobStore
from tests.api_strategies import FUZZ_BUCKET, Call, Expect, calls_of_services
from tests.integration.api.guarded_serving import serving_guarded

_REQUEST_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
VALIDATION_CODES = frozenset({"ValidationException", "InvalidParameterException"})
REQUEST_TIMEOUT_S = 60.0
MOTO_START_DEADLINE_S = 30.0


@dataclass
class Tally:
    """What was sent and what came back."""

    operations: Counter[str] = field(default_factory=Counter)
    mutations: Counter[str] = field(default_factory=Counter)
    answers: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)  # broken invariant → times
    failing_calls: dict[str, Call] = field(default_factory=dict)  # one call per invariant

    def count(self, call: Call, response: httpx.Response) -> None:
        self.operations[call.operation] += 1
        self.mutations[call.broken] += 1
        self.answers[f"{response.status_code} {_error_code(response) or 'OK'}"] += 1

    def report(self) -> str:
        sections = [("operation", self.operations), ("mutation", self.mutations)]
        sections.append(("answer", self.answers))
        lines = [f"{sum(self.operations.values())} calls"]
        for title, counter in sections:
            lines.append(f"\nper {title}:")
            lines += [f"  {count:7d}  {key}" for key, count in sorted(counter.items())]
        for failure, count in self.failures.most_common():
            call = self.failing_calls[failure]
            lines.append(
                f"\nFAILED {count} times: {failure}\n  e.g. {call.target} {call.body[:300]!r}"
            )
        return "\n".join(lines)

    def record_failure(self, call: Call, failure: AssertionError) -> None:
        # Grouped by what broke: the request id in an InternalFailure's message varies.
        text = _REQUEST_ID.sub("<request id>", str(failure).splitlines()[0][:300])
        self.failures[text] += 1
        self.failing_calls.setdefault(text, call)


def all_calls() -> st.SearchStrategy[Call]:
    """Calls of every operation the server serves, SageMaker's and CloudWatch Logs', each
    operation as likely as any other (not half the calls for the few Logs operations)."""
    return calls_of_services(
        [("sagemaker", TARGET_PREFIX, op) for op in OPERATIONS]
        + [("logs", LOGS_TARGET_PREFIX, op) for op in cloudwatch_logs.OPERATIONS]
    )


def run_fuzz(
    endpoint: str,
    examples: int,
    *,
    tally: Tally | None = None,
    derandomize: bool = True,
    seed_value: int | None = None,
    check_every: int = 10,
    keep_going: bool = False,
    stop_at: float = float("inf"),
) -> Tally:
    """Send ``examples`` drawn calls to ``endpoint``, checking the invariants; raises
    AssertionError (Hypothesis' smallest failing call) when one breaks, or with
    ``keep_going`` counts it in the tally and goes on. No call is sent after the
    ``time.monotonic()`` value ``stop_at``."""
    counts = tally or Tally()
    sent = Counter[str]()
    with httpx.Client(base_url=endpoint, timeout=REQUEST_TIMEOUT_S) as client:

        @settings(
            max_examples=examples,
            deadline=None,
            derandomize=derandomize,
            database=None,
            phases=(Phase.generate, Phase.shrink),
            suppress_health_check=list(HealthCheck),
        )
        @given(call=all_calls())
        def fuzz(call: Call) -> None:
            if time.monotonic() > stop_at:
                return
            try:
                fuzz_one(client, call, counts)
            except AssertionError as failure:
                if not keep_going:
                    raise
                counts.record_failure(call, failure)
            sent["calls"] += 1
            if sent["calls"] % check_every == 0:
                check_store(client)

        (fuzz if seed_value is None else seed(seed_value)(fuzz))()
        check_store(client)
    return counts


def fuzz_one(client: httpx.Client, call: Call, tally: Tally) -> None:
    """Send ``call``, check its answer, and that the server still answers after it."""
    response = send(client, call.target, call.body)
    tally.count(call, response)
    check_answer(call, response)
    _ok(client, "ListModels", {"MaxResults": 1})


def send(client: httpx.Client, target: str, body: bytes) -> httpx.Response:
    headers = {"X-Amz-Target": target, "Content-Type": CONTENT_TYPE}
    return client.post("/", content=body, headers=headers)


def check_answer(call: Call, response: httpx.Response) -> None:
    """The invariants of one answer (see the module's docstring)."""
    status, what = response.status_code, f"{call.operation} ({call.broken})"
    assert status < 500, f"{what}: {status} {response.text[:500]}"
    if status == 200:
        assert isinstance(response.json(), dict), f"{what}: {response.text[:200]}"
        assert call.expect is Expect.ANY, f"{what}: accepted; expected {call.expect}"
        return
    code, message = _error_code(response), _error_message(response)
    assert code and message, f"{what}: not the service's error shape: {response.text[:500]}"
    if call.expect is Expect.VALIDATION:
        assert (status, code in VALIDATION_CODES) == (400, True), f"{what}: {status} {code}"
        assert call.member.lower() in message.lower(), f"{what}: {call.member} not in {message}"
    elif call.expect is Expect.SERIALIZATION:
        assert (status, code) == (400, "SerializationException"), f"{what}: {status} {message}"
    elif call.expect is Expect.TOO_LARGE:
        assert status == 413, f"{what}: {status} {message}"


def check_store(client: httpx.Client) -> None:
    """The server answers, and every model and job its lists name can be described."""
    for lister, key, describers in _LISTINGS:
        answer = _ok(client, lister, {"MaxResults": 100})
        for summary in answer[key]:
            name = next(value for name, value in summary.items() if name.endswith("Name"))
            statuses = [
                send(client, TARGET_PREFIX + describer, _body({member: name})).status_code
                for describer, member in describers
            ]
            assert 200 in statuses, f"{name} is listed but {describers} answer {statuses}"


_LISTINGS: list[tuple[str, str, list[tuple[str, str]]]] = [
    ("ListModels", "Models", [("DescribeModel", "ModelName")]),
    ("ListTransformJobs", "TransformJobSummaries", [("DescribeTransformJob", "TransformJobName")]),
    (
        "ListAutoMLJobs",
        "AutoMLJobSummaries",
        [("DescribeAutoMLJobV2", "AutoMLJobName"), ("DescribeAutoMLJob", "AutoMLJobName")],
    ),
]


def _ok(client: httpx.Client, operation: str, body: dict[str, Any]) -> dict[str, Any]:
    response = send(client, TARGET_PREFIX + operation, _body(body))
    assert response.status_code == 200, f"{operation}: {response.status_code} {response.text}"
    answer: dict[str, Any] = response.json()
    return answer


def _body(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode("utf-8")


def _error_code(response: httpx.Response) -> str:
    return str(_error_field(response, "__type"))


def _error_message(response: httpx.Response) -> str:
    return str(_error_field(response, "Message") or _error_field(response, "message"))


def _error_field(response: httpx.Response, name: str) -> Any:
    if response.status_code == 200:
        return ""
    try:
        payload = response.json()
    except ValueError:
        return ""
    return payload.get(name, "") if isinstance(payload, dict) else ""


# --- the server under test -----------------------------------------------------------------


def fill_bucket() -> None:
    """The bucket the calls' S3 URIs name: one input object and a model archive."""
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=FUZZ_BUCKET)
    s3.put_object(Bucket=FUZZ_BUCKET, Key="in/data.csv", Body=b"1,2\n3,4\n")
    s3.put_object(Bucket=FUZZ_BUCKET, Key="model.tar.gz", Body=b"not really a model")


def server_settings(home: Path) -> Settings:
    """Settings as ``batchform server --no-script-mode`` has them without ``--allow-path``:
    no local path may be named."""
    return Settings(home=home).restricted((), script_mode=False)


@contextmanager
def fuzz_server(directory: Path) -> Iterator[str]:
    """A JobService over SQLite in ``directory`` behind the guarded server; no scheduler."""
    store = JobStore(f"sqlite:///{directory / 'jobs.db'}")
    store.create_schema()
    service = JobService(store, settings=server_settings(directory / "home"))
    try:
        with serving_guarded(build_app(service)) as url:
            yield url
    finally:
        store.close()


@contextmanager
def moto_s3() -> Iterator[str]:
    """moto's S3 server on a free loopback port, as the standard AWS variables point to it."""
    from tests.conftest import free_port, wait_http

    port = free_port()
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/moto-api/", MOTO_START_DEADLINE_S)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _isolated_aws_environment(s3_url: str, home: Path) -> None:
    for name in list(os.environ):
        if name.startswith(("AWS_", "BATCHFORM_")):
            del os.environ[name]
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": str(home / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-aws-credentials"),
            "AWS_ENDPOINT_URL_S3": s3_url,
        }
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz_api", description=__doc__)
    parser.add_argument("--examples", type=int, default=10_000, help="calls to draw")
    parser.add_argument("--seed", type=int, default=None, help="repeat a run (default: random)")
    parser.add_argument("--check-every", type=int, default=10, help="calls per store check")
    parser.add_argument("--max-minutes", type=float, default=float("inf"), help="time budget")
    args = parser.parse_args(argv)
    tally = Tally()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="batchform-fuzz-") as scratch, moto_s3() as s3_url:
        directory = Path(scratch)
        _isolated_aws_environment(s3_url, directory)
        fill_bucket()
        with fuzz_server(directory) as endpoint:
            run_fuzz(
                endpoint,
                args.examples,
                tally=tally,
                derandomize=False,
                seed_value=args.seed,
                check_every=args.check_every,
                keep_going=True,
                stop_at=started + args.max_minutes * 60,
            )
    verdict = "invariants broken" if tally.failures else "all invariants held"
    print(tally.report(), f"\n{verdict}; {time.monotonic() - started:.0f} s")
    return 1 if tally.failures else 0


if __name__ == "__main__":
    sys.exit(main())
