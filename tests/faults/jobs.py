"""Jobs for the fault tests: buckets, requests, and what a finished job left behind."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True, slots=True)
class Bucket:
    """A bucket on moto and a client that reaches moto directly (no faults)."""

    client: Any
    name: str

    @property
    def url(self) -> str:
        return f"s3://{self.name}"

    def put(self, key: str, body: bytes) -> None:
        self.client.put_object(Bucket=self.name, Key=key, Body=body)

    def keys(self, prefix: str) -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.name, Prefix=prefix
        )
        return [item["Key"] for page in pages for item in page.get("Contents", [])]

    def read(self, key: str) -> bytes:
        body: bytes = self.client.get_object(Bucket=self.name, Key=key)["Body"].read()
        return body

    def pending_uploads(self) -> list[str]:
        """Keys with a multipart upload neither completed nor aborted."""
        uploads = self.client.list_multipart_uploads(Bucket=self.name).get("Uploads", [])
        return [upload["Key"] for upload in uploads]


def transform_request(
    name: str, model: str, input_uri: str, output_uri: str, **extra: Any
) -> dict[str, Any]:
    """A CSV job, MultiRecord, ``AssembleWith=None``: with the echo model, ``.out`` == input."""
    return {
        "TransformJobName": name,
        "ModelName": model,
        "BatchStrategy": "MultiRecord",
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": input_uri}},
            "ContentType": "text/csv",
            "SplitType": "Line",
        },
        "TransformOutput": {"S3OutputPath": output_uri},
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
        **extra,
    }


def wait_finished(client: Any, name: str, deadline_s: float = 60) -> dict[str, Any]:
    """Poll DescribeTransformJob (so the API is called all along the fault) until it ends."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        job: dict[str, Any] = client.describe_transform_job(TransformJobName=name)
        if job["TransformJobStatus"] in ("Completed", "Failed", "Stopped"):
            return job
        time.sleep(0.2)
    raise TimeoutError(f"{name} still running after {deadline_s}s")


def object_states(server_url: str, name: str) -> dict[str, tuple[str, str | None]]:
    """Each input object's (state, failure reason), keyed by its relative name."""
    document = httpx.get(f"{server_url}/batchform/jobs/{name}/objects?limit=100").json()
    return {
        str(item["relative"]): (item["state"], item.get("failure_reason"))
        for item in document["objects"]
    }


def csv_body(rows: int, tag: str, width: int = 1) -> bytes:
    """``rows`` CSV lines, each naming ``tag`` (so a proxy rule or the model can spot it)."""
    pad = "x" * width
    return "".join(f"{tag},{i},{pad}\n" for i in range(rows)).encode()
