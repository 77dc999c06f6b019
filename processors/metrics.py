"""Prometheus metrics of the processors (the worker's health is :mod:`processors.faustkit.health`).

Labels stay bounded: a cluster id, a quarantine stage and reason code, an incident status,
an input topic and partition; never text taken from an event.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase


class Children:
    """A labelled metric's children, each looked up once: ``labels()`` per event (validating
    and joining the values under a lock) was a visible share of the worker's own time."""

    def __init__(self, metric: MetricWrapperBase) -> None:
        self._metric = metric
        self._children: dict[tuple[str, ...], Any] = {}

    def __call__(self, *values: str) -> Any:
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = self._metric.labels(*values)
        return child


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
