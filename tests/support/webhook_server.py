"""A real HTTP server on 127.0.0.1 that records every request and answers as scripted.

A vendor's contract (``tests/support/vendors/``) is a :data:`Responder`: it sees each
request as the vendor would (path, query, headers, body) and answers with the vendor's
status and error body.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Received:
    request: Request
    status: int
    reply: bytes

    @property
    def body(self) -> bytes:
        return self.request.body


Reply = tuple[int, dict[str, str], bytes]
Responder = Callable[[int, Request], Reply]


def always_ok(_index: int, _request: Request) -> Reply:
    return 200, {"content-type": "application/json"}, b'{"ok":true}'


@dataclass
class WebhookServer:
    respond: Responder = always_ok
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.base_url}/hook"

    def all(self) -> list[Received]:
        with self.lock:
            return list(self.requests)

    def accepted(self) -> list[Received]:
        """Requests answered 2xx; a vendor that reports errors in a 200 body filters further."""
        with self.lock:
            return [r for r in self.requests if 200 <= r.status < 300]

    def _handle(self, request: Request) -> Reply:
        with self.lock:
            index = len(self.requests)
            status, headers, body = self.respond(index, request)
            self.requests.append(Received(request, status, body))
        return status, headers, body


@contextmanager
def webhook_server(respond: Responder = always_ok) -> Iterator[WebhookServer]:
    state = WebhookServer(respond=respond)

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            url = urlsplit(self.path)
            request = Request(
                method=self.command,
                path=url.path,
                query=parse_qs(url.query, keep_blank_values=True),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=self.rfile.read(length),
            )
            status, headers, out = state._handle(request)
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("content-length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        do_GET = do_POST = do_PUT = do_PATCH = _serve  # noqa: N815 (http.server dispatches on these names)

        def log_message(self, format: str, *args: object) -> None:
            return

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
