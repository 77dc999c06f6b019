"""Prometheus metrics of the processors, and the worker's health for /healthz and /readyz.

Labels stay bounded: a cluster id, a quarantine stage and reason code, an incident status,
an input topic and partition; never text taken from an event.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any

import faust
from faust.types import TP
from prometheus_client import Counter, Gauge, Histogram

log = logging.getLogger(__name__)

RAW_CONSUMED = Counter("herald_processor_raw_messages_total", "Raw messages consumed from events.raw.")
QUARANTINED = Counter(
    "herald_processor_quarantined_total",
    "Messages written to events.invalid, by stage and reason (not-json, invalid, ...).",
    ["stage", "reason"],
)
OUTPUTS_REFUSED = Counter(
    "herald_processor_outputs_refused_total",
    "Messages Kafka refused to take, by output topic and Kafka error; one refused for its size "
    "quarantines its inputs (reason output-too-large).",
    ["topic", "error"],
)
DUPLICATES = Counter(
    "herald_processor_duplicates_total",
    "Exact repeats dropped (a relist, or a second producer replica).",
    ["cluster"],
)
CLEAN_PUBLISHED = Counter(
    "herald_processor_clean_events_total", "Occurrences published to events.clean.", ["cluster"]
)
INCIDENT_UPDATES = Counter(
    "herald_processor_incident_updates_total", "Incident updates emitted to alerts.", ["cluster", "status"]
)
INHIBITED = Counter(
    "herald_processor_inhibited_updates_total",
    "Incident updates emitted marked as inhibited by another incident.",
    ["cluster"],
)
READ_BACK = Counter(
    "herald_processor_read_back_total",
    "Messages the Faust stream skipped and the worker read back from the broker, by input topic.",
    ["topic"],
)
REDELIVERED = Counter(
    "herald_processor_redelivered_total",
    "Messages the Faust stream delivered again after its own seek, which this worker had processed: skipped.",
    ["topic"],
)
GAP_PROBES = Counter(
    "herald_processor_gap_probes_total",
    "Probes sent to an input partition that held undelivered messages but delivered none for a while.",
    ["topic"],
)
SEEN_EXPIRED = Counter(
    "herald_processor_seen_expired_total",
    "Occurrence ids the dedup table forgot: they can no longer repeat.",
)
LATENCY = Histogram(
    "herald_processor_latency_seconds",
    "From the raw message's Kafka timestamp to its clean event's publication.",
    ["cluster"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
CONSUMER_LAG = Gauge(
    "herald_processor_consumer_lag",
    "Messages not yet processed, per input topic and partition this worker owns.",
    ["topic", "partition"],
)

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
