"""``herald analytics``: the clean events topic into PostgreSQL, one row per occurrence.

A consumer group (``<prefix>analytics.postgres`` by default) reads ``events.clean`` in
batches. Each batch is written in one database transaction, and its offsets are committed
only after that transaction committed: a crash repeats at most the uncommitted batches,
and the table's key (the occurrence id) turns the repeat into nothing. A message that is
not a clean event goes to ``events.invalid`` (acknowledged before the commit), as does a
row the database refuses. While the database is away, the batch waits with the partitions
paused and the consumer polling, so it stays in its group; nothing is skipped.

The loop is the shared one of :mod:`runtime.committing`; this module writes a batch
(:meth:`AnalyticsSink.write`).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Callable
from types import FrameType

import psycopg
from confluent_kafka import KafkaException

from analytics import metrics
from analytics.store import REFUSED, EventStore
from analytics.table import Row, row_of
from runtime.committing import Batching, CommittingStage, Consumed
from runtime.config import HeraldConfig
from runtime.http import serve_health
from runtime.kafka import acknowledged_producer, committing_consumer, ensure_topics
from schemas import CleanEvent, QuarantineRecord

log = logging.getLogger(__name__)

STAGE = "analytics.postgres"
FILL_SECONDS = 0.5
"""How long a poll waits to fill a batch once its first message came."""
HEALTH_CHECK_SECONDS = 5.0
KAFKA_TIMEOUT_SECONDS = 5.0
RETRY_DELAYS = (0.5, 1, 2, 4, 8, 15, 30)
"""Seconds between attempts to reach the database; the last repeats."""

Written = tuple[int, list[tuple[int, str]]]
"""Rows inserted, and the refused ones: index in the batch and the database's reason."""


class AnalyticsSink(CommittingStage[CleanEvent]):
    def __init__(self, config: HeraldConfig, store: EventStore) -> None:
        self.group_id = config.analytics.consumer_group(config.kafka.topic_prefix)
        super().__init__(
            stage=STAGE,
            model=CleanEvent,
            consumer=committing_consumer(config.kafka, group_id=self.group_id, client_id="herald-analytics"),
            producer=acknowledged_producer(config.kafka),
            invalid_topic=config.kafka.topics.invalid,
            batching=Batching(config.analytics.batch_size, fill_seconds=FILL_SECONDS),
        )
        self._config = config
        self._store = store
        self._topics = config.kafka.topics
        self._database_error: str | None = "not connected yet"
        self._kafka_error: str | None = None
        self._health_checked = 0.0

    def ready(self) -> tuple[bool, str]:
        """Ready while the database and the broker answer and the group gave us partitions."""
        if self._database_error is not None:
            return False, f"database {self._store.where}: {self._database_error}"
        if self._kafka_error is not None:
            return False, f"Kafka: {self._kafka_error}"
        if not self.assigned:
            return False, "no partitions assigned"
        return True, ""

    def run(self) -> None:
        ensure_topics(self._config.kafka, ["events.clean", "events.invalid"])
        asyncio.run(self._run())

    async def _run(self) -> None:
        try:
            if not await self._retrying(self._store.open):
                return
            log.info("writing %s to %s (group %s)", self._topics.clean, self._store.where, self.group_id)
            await self.consume([self._topics.clean])
        finally:
            await self.close()
            self._store.close()

    async def write(self, batch: Consumed[CleanEvent]) -> bool:
        """The batch in one transaction (row by row if the database refuses it, each refused
        row quarantined); False if stopping while the database is away."""
        rows = [row_of(event) for event in batch.items]
        written = await self._write(rows) if rows else (0, [])
        if written is None:
            return False  # stopping: the batch stays uncommitted and is read again
        inserted, refused = written
        for index, error in refused:
            batch.reject(batch.messages[index], "rejected-by-database", error)
        metrics.ROWS_WRITTEN.inc(inserted)
        metrics.DUPLICATES_SKIPPED.inc(len(rows) - len(refused) - inserted)
        metrics.BATCH_SIZE.observe(batch.taken)
        metrics.BATCH_SECONDS.observe(time.monotonic() - batch.started)
        return True

    def quarantined(self, records: list[QuarantineRecord]) -> None:
        for record in records:
            metrics.QUARANTINED.labels(record.reason).inc()

    async def _write(self, rows: list[Row]) -> Written | None:
        """Write the batch, trying again while the database is unreachable; None if stopping first."""
        outcome: Written | None = None

        def attempt() -> None:
            nonlocal outcome
            try:
                outcome = self._store.write(rows), []
            except REFUSED as exc:
                log.warning("the database refused a batch (%s): writing it row by row", exc)
                inserted, refusals = self._store.write_each(rows)
                outcome = inserted, [(r.index, r.error) for r in refusals]

        if not await self._retrying(attempt):
            return None
        return outcome

    async def _retrying(self, work: Callable[[], None]) -> bool:
        """Run ``work`` (in a thread) until it does not raise a database error; False if
        stopped first. Between attempts the batch is held back, its partitions paused and
        the consumer polling, so the group does not give them away for a database outage.
        """
        attempt = 0
        while True:
            try:
                await asyncio.to_thread(work)
            except psycopg.Error as exc:
                self._database_error = f"{type(exc).__name__}: {str(exc).strip()}"
                metrics.DATABASE_ERRORS.inc()
                delay = RETRY_DELAYS[min(attempt, len(RETRY_DELAYS) - 1)]
                attempt += 1
                log.warning("%s: %s; retrying in %.1fs", self._store.where, self._database_error, delay)
                if not await self.hold(delay):
                    return False
                continue
            self._database_error = None
            return True

    async def tick(self) -> None:
        """Every few seconds (in a thread: both ask over the network): the lag per partition
        from the broker, which also tells whether it answers, and a ping of the database."""
        if time.monotonic() - self._health_checked < HEALTH_CHECK_SECONDS:
            return
        self._health_checked = time.monotonic()
        await asyncio.to_thread(self._check_health)

    def _check_health(self) -> None:
        try:
            if not self.assigned:
                self._consumer.list_topics(self._topics.clean, timeout=KAFKA_TIMEOUT_SECONDS)
            for partition, lag in self.lags(timeout=KAFKA_TIMEOUT_SECONDS).items():
                metrics.CONSUMER_LAG.labels(str(partition)).set(lag)
            self._kafka_error = None
        except KafkaException as exc:
            self._kafka_error = str(exc)
        try:
            self._store.ping()
            self._database_error = None
        except psycopg.Error as exc:
            self._database_error = f"{type(exc).__name__}: {str(exc).strip()}"


def run_analytics(config: HeraldConfig, *, metrics_port: int | None = None) -> int:
    """Run the sink until SIGTERM or SIGINT."""
    sink = AnalyticsSink(config, EventStore(config.analytics))

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: stopping", signum)
        sink.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    port = metrics_port or config.analytics.metrics_port
    if port:
        serve_health(
            port,
            live=lambda: (True, ""),
            ready=sink.ready,
            setting="--metrics-port" if metrics_port else "analytics.metrics_port",
        )
    sink.run()
    return 0
