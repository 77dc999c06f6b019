"""The small HTTP endpoint every process serves: /metrics, /healthz and /readyz, plus a
process's own JSON API under /api/ (the notifier's silences) and its HTML pages, if any
(the notifier's incidents and silences board)."""

from __future__ import annotations

import errno
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar
from urllib.parse import urlsplit

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from runtime.errors import SetupError

Check = Callable[[], tuple[bool, str]]
ApiHandler = Callable[[str, str, bytes], tuple[int, object]]
"""(method, path, body) -> (status, JSON-serializable answer) for requests under /api/."""
MAX_API_BODY = 64 * 1024
FORM = "application/x-www-form-urlencoded"


class PortInUseError(SetupError):
    """``producer.metrics_port: port 9464 is in use by another process``."""


@dataclass(frozen=True, slots=True)
class Page:
    """An answer to a page request: HTML, or a 303 back to a page after a form POST."""

    status: int
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def redirect(cls, location: str) -> Page:
        return cls(303, b"", "text/plain; charset=utf-8", (("location", location),))


PageHandler = Callable[[str, str, bytes], Page]
"""(method, path with query, form body) -> Page for GETs outside /api/ and form POSTs."""
Guard = Callable[[str, str, Mapping[str, str]], Page | None]
"""(method, path, headers with lower-case names) -> None to answer, or the refusal (401, 403)
for the pages and /api/; /metrics, /healthz and /readyz are never guarded (probes)."""


@dataclass(frozen=True, slots=True)
class _Routes:
    """What one server answers with: the probes' checks and the process's own API and pages."""

    live: Check
    ready: Check
    api: ApiHandler | None
    pages: PageHandler | None
    guard: Guard | None


class _Handler(BaseHTTPRequestHandler):
    """Routes one request; each server subclasses it with its own ``routes``."""

    routes: ClassVar[_Routes]

    def _refused(self) -> bool:
        guard = self.routes.guard
        if guard is None:
            return False
        headers = {name.lower(): value for name, value in self.headers.items()}
        refusal = guard(self.command, self.path, headers)
        if refusal is None:
            return False
        self._reply(refusal.status, refusal.body, refusal.content_type, refusal.headers)
        return True

    def _api(self) -> None:
        if self._refused():
            return
        api = self.routes.api
        if api is None:
            self._reply(404, b"not found\n", "text/plain")
            return
        length = int(self.headers.get("content-length") or 0)
        if length > MAX_API_BODY:
            self._reply(413, b'{"error":"body too large"}', "application/json")
            return
        status, answer = api(self.command, self.path, self.rfile.read(length))
        self._reply(status, orjson.dumps(answer), "application/json")

    def _page(self) -> None:
        pages = self.routes.pages
        assert pages is not None
        if self._refused():
            return
        length = int(self.headers.get("content-length") or 0)
        if self.command == "POST":
            if length > MAX_API_BODY:
                self._reply(413, b"form too large\n", "text/plain")
                return
            if (self.headers.get("content-type") or "").split(";")[0].strip().lower() != FORM:
                self._reply(415, b"expected an HTML form\n", "text/plain")
                return
            if not self._same_origin():
                self._reply(403, b"cross-origin form refused\n", "text/plain")
                return
        page = pages(self.command, self.path, self.rfile.read(length) if self.command == "POST" else b"")
        self._reply(page.status, page.body, page.content_type, page.headers)

    def _same_origin(self) -> bool:
        """A form POST must come from our own pages: Origin (else Referer), if sent, names our host."""
        source = self.headers.get("origin") or self.headers.get("referer")
        if source is None:
            return True  # not a browser: a script could as well use the JSON API
        return urlsplit(source).netloc.lower() == (self.headers.get("host") or "").lower()

    def do_POST(self) -> None:
        if self.routes.pages is None or self.path.startswith("/api/"):
            self._api()
        else:
            self._page()

    def do_DELETE(self) -> None:
        self._api()

    def do_GET(self) -> None:
        if self.path.startswith("/api/"):
            self._api()
        elif self.path == "/metrics":
            self._reply(200, generate_latest(REGISTRY), CONTENT_TYPE_LATEST)
        elif self.path in ("/healthz", "/readyz"):
            ok, reason = (self.routes.live if self.path == "/healthz" else self.routes.ready)()
            self._reply(200 if ok else 503, (reason or "ok").encode() + b"\n", "text/plain")
        elif self.routes.pages is not None:
            self._page()
        else:
            self._reply(404, b"not found\n", "text/plain")

    def _reply(
        self, status: int, body: bytes, content_type: str, headers: tuple[tuple[str, str], ...] = ()
    ) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


def serve_health(
    port: int,
    *,
    live: Check,
    ready: Check,
    api: ApiHandler | None = None,
    pages: PageHandler | None = None,
    guard: Guard | None = None,
    host: str = "0.0.0.0",  # noqa: S104
    setting: str = "port",
) -> ThreadingHTTPServer:
    """Start serving in a daemon thread; ``live``/``ready`` return (ok, reason).

    A port another process listens on is a :class:`PortInUseError` naming ``setting``, the key
    (or option) the port came from: one line, not a traceback.

    ``pages`` answers every other GET, and POSTs outside /api/ that are HTML forms sent
    from a page of this same origin (a browser always says where a form POST came from).
    """

    class Handler(_Handler):
        routes = _Routes(live=live, ready=ready, api=api, pages=pages, guard=guard)

    try:
        server = ThreadingHTTPServer((host, port), Handler)
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        raise PortInUseError(f"{setting}: port {port} is in use by another process") from None
    threading.Thread(target=server.serve_forever, name="health-http", daemon=True).start()
    return server
