"""Delivery budgets: a token bucket per destination at the vendor's published limit.

Chat robots refuse (and some throttle for ten minutes) above their limit, so the notifier
spends a token per message and, when more incidents are due than tokens allow, merges
them into one digest message rather than dropping or queueing them for an hour.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from pydantic import BaseModel, ConfigDict, Field


class RateLimit(BaseModel):
    """At most ``messages`` per ``per_seconds``, as the vendor documents it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    messages: int = Field(ge=1)
    per_seconds: float = Field(gt=0)


class TokenBucket:
    """Starts full (a burst of ``messages`` is allowed) and refills continuously."""

    def __init__(self, limit: RateLimit, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(limit.messages)
        self.rate = limit.messages / limit.per_seconds
        self._clock = clock
        self._tokens = self.capacity
        self._at = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate)
        self._at = now

    def available(self) -> float:
        self._refill()
        return self._tokens

    def wait_seconds(self) -> float:
        """How long until one whole token is available (0 when one is)."""
        self._refill()
        return max(0.0, (1.0 - self._tokens) / self.rate)

    def take(self) -> None:
        self._refill()
        self._tokens -= 1.0


class Budget:
    """Every limit of one destination at once (Feishu has two: 5/s and 100/min)."""

    def __init__(self, limits: Sequence[RateLimit], *, clock: Callable[[], float] = time.monotonic) -> None:
        self._buckets = [TokenBucket(limit, clock=clock) for limit in limits]

    def wait_seconds(self) -> float:
        return max((bucket.wait_seconds() for bucket in self._buckets), default=0.0)

    def scarce(self) -> bool:
        """True when fewer than two messages may go now: time to merge what is due."""
        return any(bucket.available() < 2.0 for bucket in self._buckets)

    def take(self) -> None:
        for bucket in self._buckets:
            bucket.take()
