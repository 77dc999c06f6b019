"""Prometheus metrics of the producer, labelled by cluster."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS_OBSERVED = Counter(
    "herald_producer_events_observed_total",
    "Event occurrences seen by list or watch.",
    ["cluster", "observation"],
)
EVENTS_PUBLISHED = Counter(
    "herald_producer_events_published_total", "Occurrences acknowledged by Kafka.", ["cluster"]
)
EVENTS_FAILED = Counter(
    "herald_producer_events_failed_total", "Occurrences Kafka refused (then quarantined).", ["cluster"]
)
EVENTS_CUT = Counter(
    "herald_producer_events_cut_total",
    "Occurrences published with fields cut to fit the topic (the envelope's cut list says which).",
    ["cluster"],
)
EVENTS_QUARANTINED = Counter(
    "herald_producer_events_quarantined_total",
    "Events or watch lines kept on the quarantine topic instead of published, by reason.",
    ["cluster", "reason"],
)
EVENTS_SKIPPED = Counter(
    "herald_producer_events_skipped_total", "Occurrences not published, by reason.", ["cluster", "reason"]
)
WATCH_RESTARTS = Counter(
    "herald_producer_watch_restarts_total", "Watches resumed after ending.", ["cluster", "cause"]
)
RELISTS = Counter(
    "herald_producer_relists_total", "Full lists (start, or resourceVersion expired).", ["cluster"]
)
LAST_EVENT = Gauge(
    "herald_producer_last_event_timestamp_seconds",
    "When the last occurrence was observed (unix time).",
    ["cluster"],
)
IN_FLIGHT = Gauge(
    "herald_producer_in_flight_events", "Occurrences handed to Kafka, not yet acknowledged.", ["cluster"]
)
DELIVERY_LATENCY = Histogram(
    "herald_producer_delivery_latency_seconds",
    "From observation to Kafka's acknowledgement.",
    ["cluster"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
LEADER = Gauge(
    "herald_producer_leader",
    "1 while this replica holds the cluster's Lease (leader election on), else 0.",
    ["cluster"],
)
LEADER_TRANSITIONS = Counter(
    "herald_producer_leadership_transitions_total",
    "Times this replica acquired, lost or released the cluster's Lease.",
    ["cluster", "change"],
)
