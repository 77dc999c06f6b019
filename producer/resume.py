"""Where a restarted watch may resume without losing anything.

Kafka acknowledges deliveries out of order (partitions are independent), but a watch
resumes from one resourceVersion. So the resume point advances only over the longest
prefix of observations that are all delivered, in the order the API reported them.
Items from a list carry no usable order; the list's own snapshot resourceVersion
becomes the resume point once every listed item is delivered.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field


@dataclass(slots=True)
class ResumeToken:
    """One observation handed to Kafka, until it is delivered (or quarantined)."""

    resource_version: str | None
    delivered: bool = False
    since: float = field(default_factory=time.monotonic)


class ResumePoint:
    """Thread-safe: the watch thread observes, Kafka's delivery callbacks deliver."""

    def __init__(self, start: str | None = None) -> None:
        self._lock = threading.Lock()
        self._pending: deque[ResumeToken] = deque()
        self._safe = start

    @property
    def safe(self) -> str | None:
        """The resourceVersion up to which every observation has been delivered."""
        with self._lock:
            return self._safe

    @property
    def oldest_undelivered_since(self) -> float | None:
        """When (monotonic) the oldest observation not yet acknowledged was handed to Kafka."""
        with self._lock:
            return next((entry.since for entry in self._pending if not entry.delivered), None)

    @property
    def in_flight(self) -> int:
        with self._lock:
            return sum(1 for entry in self._pending if not entry.delivered)

    def observed(self, resource_version: str | None) -> ResumeToken:
        """Record an occurrence handed to Kafka; pass the returned token to :meth:`delivered`.

        ``resource_version`` is None for listed items, which are no resume point alone.
        """
        entry = ResumeToken(resource_version)
        with self._lock:
            self._pending.append(entry)
        return entry

    def delivered(self, entry: ResumeToken) -> None:
        with self._lock:
            entry.delivered = True
            self._advance()

    def reached(self, resource_version: str) -> None:
        """A position with nothing to deliver: a bookmark, a DELETED, a list's snapshot."""
        with self._lock:
            self._pending.append(ResumeToken(resource_version, delivered=True))
            self._advance()

    def _advance(self) -> None:
        while self._pending and self._pending[0].delivered:
            entry = self._pending.popleft()
            if entry.resource_version is not None:
                self._safe = entry.resource_version
