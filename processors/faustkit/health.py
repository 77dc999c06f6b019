"""The worker's health for /healthz and /readyz, and its consumer lag, from Faust's view."""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any

import faust
from faust.types import TP

from processors.metrics import CONSUMER_LAG

log = logging.getLogger(__name__)

LAG_REPORT_SECONDS = 15.0


class WorkerHealth:
    """Tracks what /readyz and the lag gauge need from a running Faust worker.

    Ready once the group gave this worker partitions of its input topics and it has
    restored its tables: before that it processes nothing, and one replica more than
    there are partitions never gets work.
    """

    def __init__(self, app: faust.App, inputs: Collection[str]) -> None:
        self._app = app
        self._inputs = frozenset(inputs)
        self._assigned: frozenset[TP] = frozenset()
        self._reported: set[TP] = set()
        app.on_partitions_assigned.connect(self._on_assigned)
        app.timer(interval=LAG_REPORT_SECONDS)(self._report_lag)

    async def _on_assigned(self, _app: Any, /, *args: Any, signal: Any, **_kwargs: Any) -> None:
        (assigned,) = args  # the whole new assignment
        self._assigned = frozenset(tp for tp in assigned if tp.topic in self._inputs)
        for tp in self._reported - self._assigned:
            CONSUMER_LAG.remove(tp.topic, str(tp.partition))  # its new owner reports it now
        self._reported &= self._assigned

    def ready(self) -> tuple[bool, str]:
        if not self._assigned:
            return False, "no partitions assigned"
        if self._app.rebalancing:
            return False, "rebalancing: restoring tables"
        return True, ""

    def live(self) -> tuple[bool, str]:
        crash = self._app.crash_reason
        return (crash is None, f"crashed: {crash!r}" if crash else "")

    async def _report_lag(self) -> None:
        """Log-end offsets (one ListOffsets request) minus the last offset read per partition."""
        owned = sorted(self._assigned)
        if not owned:
            return
        try:
            ends = await self._app.consumer.highwaters(*owned)
        except Exception as exc:  # a metric must never stop the worker
            log.warning("consumer lag not measured: %s", exc)
            return
        read_offsets = self._app.monitor.tp_read_offsets
        for tp in self._assigned.intersection(owned):  # the assignment may have changed meanwhile
            end, read = ends.get(tp), read_offsets.get(tp)
            if end is not None and read is not None:
                CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(max(0, end - read - 1))
                self._reported.add(tp)
