"""Retry timing as data: exponential steps with jitter, never shorter than the target asked."""

from __future__ import annotations

import random

BACKOFF_SECONDS: tuple[float, ...] = (1, 2, 4, 8, 15, 30, 60)
JITTER = 0.2


def backoff_delay(
    attempt: int, *, retry_after: float | None = None, rng: random.Random | None = None
) -> float:
    """Delay before retry number ``attempt`` (1-based)."""
    base = BACKOFF_SECONDS[min(attempt, len(BACKOFF_SECONDS)) - 1]
    jittered = base * (1 + JITTER * (2 * (rng or random).random() - 1))
    return max(jittered, retry_after or 0.0)
