"""Delivery budgets: a sliding window per destination at the vendor's published limit.

Chat robots refuse (and some throttle for ten minutes) above their limit, so the notifier
counts every message it sends and, when more incidents are due than tokens allow, merges
them into one digest message rather than dropping or queueing them for an hour.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Sequence

from pydantic import BaseModel, ConfigDict, Field


class RateLimit(BaseModel):
    """At most ``messages`` per ``per_seconds``, as the vendor documents it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    messages: int = Field(ge=1, description="How many messages the window allows.")
    per_seconds: float = Field(gt=0, description="Length of the sliding window in seconds.")


class SlidingWindow:
    """At most ``messages`` in any ``per_seconds`` window, counted the way robots count.

    A token bucket that starts full and refills would let nearly twice the limit through
    in the first window, and DingTalk answers that with a ten-minute throttle.
    """

    def __init__(self, limit: RateLimit, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit.messages
        # The vendor counts arrivals, a little after our sends and not in the same order:
        # a margin keeps a slow first request from making the window look shorter to them.
        self.seconds = limit.per_seconds + min(1.0, 0.05 * limit.per_seconds)
        self._clock = clock
        self._sent: deque[float] = deque()

    def _forget_old(self) -> float:
        now = self._clock()
        while self._sent and now - self._sent[0] >= self.seconds:
            self._sent.popleft()
        return now

    def available(self) -> int:
        self._forget_old()
        return self.limit - len(self._sent)

    def wait_seconds(self) -> float:
        """How long until one more message may go (0 when one may now)."""
        now = self._forget_old()
        if len(self._sent) < self.limit:
            return 0.0
        return max(0.0, self._sent[len(self._sent) - self.limit] + self.seconds - now)

    def take(self) -> None:
        self._sent.append(self._forget_old())


class Budget:
    """Every limit of one destination at once (Feishu has two: 5/s and 100/min)."""

    def __init__(self, limits: Sequence[RateLimit], *, clock: Callable[[], float] = time.monotonic) -> None:
        self._windows = [SlidingWindow(limit, clock=clock) for limit in limits]

    def wait_seconds(self) -> float:
        return max((window.wait_seconds() for window in self._windows), default=0.0)

    def available(self) -> float:
        """Messages that may go now (infinite without limits): fewer than are due means merge."""
        return min((window.available() for window in self._windows), default=math.inf)

    def take(self) -> None:
        for window in self._windows:
            window.take()
