"""A tiny model server speaking SageMaker's container contract, for ``command`` image tests.

Run as ``python contract_server.py <mode>``; listens on ``$SAGEMAKER_BIND_TO_PORT``.
Modes (one answer line per CSV request line, ``text/csv``):
- ``drop-first``: drops the first column (an id) of every line;
- ``sum``: the sum of the values of every line.
``$DELAY_S`` makes every answer wait that long (to stop or kill a job mid-way).
It prints the ``SAGEMAKER_*`` environment it was started with, so tests can read its log.
"""

from __future__ import annotations

import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def answer(mode: str, body: bytes) -> bytes:
    lines = body.decode().splitlines()
    if mode == "drop-first":
        out = [line.split(",", 1)[1] if "," in line else "" for line in lines]
    else:
        out = [repr(sum(float(v) for v in line.split(","))) for line in lines]
    return ("\n".join(out) + "\n").encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    mode = "sum"

    def do_GET(self) -> None:
        self._send(200 if self.path == "/ping" else 404, b"")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path != "/invocations":
            self._send(404, b"")
            return
        if self.headers.get("Content-Type") != "text/csv":
            self._send(415, f"unsupported {self.headers.get('Content-Type')}".encode())
            return
        time.sleep(float(os.environ.get("DELAY_S", "0")))
        try:
            self._send(200, answer(self.mode, body), "text/csv")
        except ValueError as exc:
            self._send(400, f"bad record: {exc}".encode())

    def _send(self, status: int, body: bytes, content_type: str | None = None) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return None


def main() -> None:
    Handler.mode = sys.argv[1]
    for key in sorted(os.environ):
        if key.startswith(("SAGEMAKER_", "SM_", "GREETING")):
            print(f"{key}={os.environ[key]}", flush=True)
    port = int(os.environ["SAGEMAKER_BIND_TO_PORT"])
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main()
