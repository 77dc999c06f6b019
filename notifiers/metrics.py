"""Prometheus metrics of the notifiers, labelled by receiver (never by target: it holds secrets)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

DECISIONS = Counter(
    "herald_notifier_decisions_total",
    "Incident updates by what the receiver decided (due, silenced, inhibited, not-routed, "
    "not-material, quiet-not-wanted, ...).",
    ["receiver", "decision"],
)
DELIVERIES = Counter(
    "herald_notifier_deliveries_total",
    "Messages sent, by outcome (delivered, dead-lettered).",
    ["receiver", "outcome"],
)
RETRIES = Counter("herald_notifier_retries_total", "Delivery attempts that will be retried.", ["receiver"])
DEAD_LETTERS = Counter(
    "herald_notifier_dead_letters_total", "Incident updates written to the dead-letter topic.", ["receiver"]
)
DIGEST_MERGES = Counter(
    "herald_notifier_digest_incidents_total",
    "Incident updates merged into a digest message because the rate budget was short.",
    ["receiver"],
)
DELIVERY_LATENCY = Histogram(
    "herald_notifier_delivery_latency_seconds",
    "From the incident update's emission by the processors to the receiver's acceptance.",
    ["receiver"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900),
)
CONSUMER_LAG = Gauge(
    "herald_notifier_consumer_lag",
    "Incident updates not yet consumed, per partition.",
    ["receiver", "partition"],
)
