"""Wait on conditions with generous deadlines, never on bare sleeps (CI machines are slow)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    condition: Callable[[], T], *, timeout: float = 60.0, interval: float = 0.1, what: str = ""
) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what or condition}")
        time.sleep(interval)


def observe_for(seconds: float) -> None:
    """Keep watching for a while after a condition held, so that duplicates can show up.

    Not a synchronisation: the condition was already met; this is the window in which a
    doubled delivery would arrive and be counted.
    """
    time.sleep(seconds)
