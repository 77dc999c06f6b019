"""Local HTTP stand-ins that enforce each chat vendor's contract as its docs describe it.

Each module holds one vendor's contract as a :data:`tests.support.webhook_server.Responder`:
request format, signature check with the shared secret, byte limit, and the rate limit
answered with the vendor's own error code. The helpers here are what they share.
"""

from __future__ import annotations

import threading
import time
from collections import deque

import orjson

from tests.support.webhook_server import Reply


class SlidingWindow:
    """At most ``limit`` accepted requests in any ``seconds``-long window, as a robot counts."""

    def __init__(self, limit: int, seconds: float) -> None:
        self.limit = limit
        self.seconds = seconds
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    def admit(self) -> bool:
        with self._lock:
            now = time.monotonic()
            while self._times and now - self._times[0] >= self.seconds:
                self._times.popleft()
            if len(self._times) >= self.limit:
                return False
            self._times.append(now)
            return True


def json_reply(payload: object, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    return status, {"content-type": "application/json", **(headers or {})}, orjson.dumps(payload)
