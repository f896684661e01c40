"""A model server speaking SageMaker's container contract that misbehaves on purpose.

Run as ``python model.py <mode>``; listens on ``$SAGEMAKER_BIND_TO_PORT`` and, when healthy,
echoes each request body as its answer (``text/csv``). Modes:
- ``echo``: always healthy;
- ``exit-on``: exits (status 3) on a request containing ``KILL``: the process dies mid-object;
- ``exit-always``: exits (status 3) on every invocation: a model that keeps dying;
- ``garbage``: answers bytes that are not HTTP, then closes the connection;
- ``hang``: never answers an invocation;
- ``exit-at-start``: exits (status 7) before it ever listens.
"""

from __future__ import annotations

import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

EXIT_ON_MARKER = b"KILL"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    mode = "echo"

    def do_GET(self) -> None:
        self._send(200 if self.path == "/ping" else 404, b"")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.mode == "exit-always" or (self.mode == "exit-on" and EXIT_ON_MARKER in body):
            os._exit(3)
        if self.mode == "garbage":
            self.wfile.write(b"\x00\x17garbage, not HTTP\r\n\r\n")
            self.close_connection = True
            return
        if self.mode == "hang":
            time.sleep(3600)
        self._send(200, body, "text/csv")

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
    if Handler.mode == "exit-at-start":
        print("model: cannot load, exiting", flush=True)
        sys.exit(7)
    server = ThreadingHTTPServer(("127.0.0.1", int(os.environ["SAGEMAKER_BIND_TO_PORT"])), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
