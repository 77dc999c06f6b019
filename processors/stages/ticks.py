"""Ticks: nominate the incidents whose timed action has fallen due.

Faust only lets state change inside stream iteration, and that is also what keeps every
change of an incident ordered and recorded, so the timer changes nothing itself: it sends a
tick through the grouped topic, keyed by the incident, and aggregation applies the clock.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from processors.core.due import DueIndex
from processors.core.incident import IncidentState, Timing, is_due
from processors.core.inhibit import Inhibitor
from processors.stages.ports import Publish, Table
from schemas import GroupInput, encode

log = logging.getLogger(__name__)

HELD_WARNING_SECONDS = 60.0


class Ticks:
    def __init__(
        self,
        *,
        incidents: Table,
        due: DueIndex,
        publish: Publish,
        inhibitor: Inhibitor,
        timing: Timing,
        grouped_topic: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._incidents = incidents
        self._due = due
        self._publish = publish
        self._inhibitor = inhibitor
        self._timing = timing
        self._grouped_topic = grouped_topic
        self._clock = clock
        self._held_since: float | None = None
        self._held_said = 0.0

    async def nominate(self, *, rebalancing: bool) -> int:
        """Send a tick for each due incident of this worker; returns how many were sent.

        While the worker rebalances its tables are being restored, and their index is rebuilt
        once they are whole: nothing is nominated. A rebalance that never ends would hold
        every due update back, so that is said once a minute.
        """
        if rebalancing:
            self._say_held()
            return 0
        self._held_since = None
        now, sent = self._clock(), 0
        for key in self._due.candidates(now):
            stored = self._incidents.get(key)
            if not stored:
                self._due.forget(key)  # its partition moved to another worker
                continue
            state = IncidentState.from_bytes(stored)
            if is_due(state, now=now, timing=self._timing, inhibitor_of=self._inhibitor.inhibitor_of):
                await self._publish(self._grouped_topic, key, encode(GroupInput(tick_at=now)))
                sent += 1
        return sent

    def _say_held(self) -> None:
        now = time.monotonic()
        if self._held_since is None:
            self._held_since = self._held_said = now
        if now - self._held_said >= HELD_WARNING_SECONDS:
            log.warning(
                "due updates held for %.0f s: the worker is still rebalancing", now - self._held_since
            )
            self._held_said = now
