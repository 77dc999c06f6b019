"""The small HTTP endpoint every process serves: /metrics, /healthz and /readyz, plus a
process's own JSON API under /api/ (the notifier's silences)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

Check = Callable[[], tuple[bool, str]]
ApiHandler = Callable[[str, str, bytes], tuple[int, object]]
"""(method, path, body) -> (status, JSON-serializable answer) for requests under /api/."""
MAX_API_BODY = 64 * 1024


def serve_health(
    port: int,
    *,
    live: Check,
    ready: Check,
    api: ApiHandler | None = None,
    host: str = "0.0.0.0",  # noqa: S104
) -> ThreadingHTTPServer:
    """Start serving in a daemon thread; ``live``/``ready`` return (ok, reason)."""

    class Handler(BaseHTTPRequestHandler):
        def _api(self) -> None:
            if api is None:
                self._reply(404, b"not found\n", "text/plain")
                return
            length = int(self.headers.get("content-length") or 0)
            if length > MAX_API_BODY:
                self._reply(413, b'{"error":"body too large"}', "application/json")
                return
            status, answer = api(self.command, self.path, self.rfile.read(length))
            self._reply(status, orjson.dumps(answer), "application/json")

        def do_POST(self) -> None:
            self._api()

        def do_DELETE(self) -> None:
            self._api()

        def do_GET(self) -> None:
            if self.path.startswith("/api/"):
                self._api()
            elif self.path == "/metrics":
                self._reply(200, generate_latest(REGISTRY), CONTENT_TYPE_LATEST)
            elif self.path in ("/healthz", "/readyz"):
                ok, reason = (live if self.path == "/healthz" else ready)()
                self._reply(200 if ok else 503, (reason or "ok").encode() + b"\n", "text/plain")
            else:
                self._reply(404, b"not found\n", "text/plain")

        def _reply(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="health-http", daemon=True).start()
    return server
