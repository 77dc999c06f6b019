"""Prometheus metrics of the analytics sink (one group writing one database)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

ROWS_WRITTEN = Counter("herald_analytics_rows_written_total", "Occurrences inserted into PostgreSQL.")
DUPLICATES_SKIPPED = Counter(
    "herald_analytics_duplicates_skipped_total",
    "Clean events already in the table (a replay after a crash or rebalance), not inserted again.",
)
QUARANTINED = Counter(
    "herald_analytics_quarantined_total",
    "Messages sent to the quarantine topic instead of the table, by reason.",
    ["reason"],
)
DATABASE_ERRORS = Counter(
    "herald_analytics_database_errors_total",
    "Failed attempts to write a batch (it is retried; its offsets stay uncommitted).",
)
BATCH_SECONDS = Histogram(
    "herald_analytics_batch_seconds",
    "Time to write one batch: quarantine, database transaction and offset commit.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
BATCH_SIZE = Histogram(
    "herald_analytics_batch_messages",
    "Messages per written batch.",
    buckets=(1, 10, 50, 100, 250, 500, 1000, 2500, 5000),
)
CONSUMER_LAG = Gauge(
    "herald_analytics_consumer_lag",
    "Clean events not yet written, per partition of the clean topic.",
    ["partition"],
)
