"""``herald analytics``: the clean events topic into PostgreSQL, one row per occurrence.

A consumer group (``<prefix>analytics.postgres`` by default) reads ``events.clean`` in
batches. Each batch is written in one database transaction, and its offsets are committed
only after that transaction committed: a crash repeats at most the uncommitted batches,
and the table's key (the occurrence id) turns the repeat into nothing. A message that is
not a clean event goes to ``events.invalid`` (acknowledged before the commit), as does a
row the database refuses. While the database is away, the batch waits with the partitions
paused and the consumer polling, so it stays in its group; nothing is skipped.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType

import psycopg
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from analytics import metrics
from analytics.store import REFUSED, EventStore
from analytics.table import Row, row_of
from runtime.config import HeraldConfig
from runtime.http import serve_health
from runtime.kafka import acknowledged_producer, committing_consumer, ensure_topics
from schemas import CleanEvent, QuarantineRecord, SchemaError, decode, encode

log = logging.getLogger(__name__)

STAGE = "analytics.postgres"
POLL_SECONDS = 0.5
IDLE_POLL_SECONDS = 0.2
HEALTH_CHECK_SECONDS = 5.0
KAFKA_TIMEOUT_SECONDS = 5.0
RETRY_DELAYS = (0.5, 1, 2, 4, 8, 15, 30)
"""Seconds between attempts to reach the database; the last repeats."""


def position(message: Message) -> tuple[str, int, int]:
    topic, partition, offset = message.topic(), message.partition(), message.offset()
    if topic is None or partition is None or offset is None:
        raise ValueError("not a consumed message")
    return topic, partition, offset


class AnalyticsSink:
    def __init__(self, config: HeraldConfig, store: EventStore) -> None:
        self._config = config
        self._settings = config.analytics
        self._store = store
        self._topics = config.kafka.topics
        self._stop = threading.Event()
        self._database_error: str | None = "not connected yet"
        self._kafka_error: str | None = None
        self._checked = 0.0
        self._assigned: frozenset[tuple[str, int]] = frozenset()
        """Kept from the rebalance callbacks: asking the consumer from the HTTP thread would
        wait for the polling thread to let go of it."""
        self.group_id = self._settings.consumer_group(config.kafka.topic_prefix)
        self._consumer = committing_consumer(
            config.kafka, group_id=self.group_id, client_id="herald-analytics"
        )
        self._producer = acknowledged_producer(config.kafka)

    def stop(self) -> None:
        self._stop.set()

    def ready(self) -> tuple[bool, str]:
        """Ready while the database and the broker answer and the group gave us partitions."""
        if self._database_error is not None:
            return False, f"database {self._store.where}: {self._database_error}"
        if self._kafka_error is not None:
            return False, f"Kafka: {self._kafka_error}"
        if not self._assigned:
            return False, "no partitions assigned"
        return True, ""

    def run(self) -> None:
        ensure_topics(self._config.kafka, ["events.clean", "events.invalid"])
        try:
            if not self._retrying(self._store.open):
                return
            self._consumer.subscribe(
                [self._topics.clean],
                on_assign=self._on_assign,
                on_revoke=self._on_revoke,
                on_lost=self._on_revoke,
            )
            log.info("writing %s to %s (group %s)", self._topics.clean, self._store.where, self.group_id)
            while not self._stop.is_set():
                messages = self._poll_batch()
                if messages:
                    self._handle(messages)
                self._check_health()
        finally:
            self._consumer.close()
            self._producer.flush(30)
            self._store.close()

    def _poll_batch(self) -> list[Message]:
        polled = self._consumer.consume(num_messages=self._settings.batch_size, timeout=POLL_SECONDS)
        batch = []
        for message in polled:
            error = message.error()
            if error is None:
                batch.append(message)
            else:
                self._consumer_error(error)
        return batch

    def _handle(self, messages: list[Message]) -> None:
        started = time.monotonic()
        rows: list[Row] = []
        decoded: list[Message] = []
        rejects: list[QuarantineRecord] = []
        for message in messages:
            try:
                event = decode(message.value() or b"", CleanEvent)
            except SchemaError as exc:
                rejects.append(self._quarantine_record(message, exc.reason, exc.detail))
                continue
            rows.append(row_of(event))
            decoded.append(message)
        written = self._write(rows) if rows else (0, [])
        if written is None:
            return  # stopping: the batch stays uncommitted and is read again
        inserted, refused = written
        for index, error in refused:
            rejects.append(self._quarantine_record(decoded[index], "rejected-by-database", error))
        self._quarantine(rejects)
        self._commit(messages)
        metrics.ROWS_WRITTEN.inc(inserted)
        metrics.DUPLICATES_SKIPPED.inc(len(rows) - len(refused) - inserted)
        metrics.BATCH_SIZE.observe(len(messages))
        metrics.BATCH_SECONDS.observe(time.monotonic() - started)

    def _write(self, rows: list[Row]) -> tuple[int, list[tuple[int, str]]] | None:
        """Write the batch, trying again while the database is unreachable; None if stopping first."""
        outcome: tuple[int, list[tuple[int, str]]] | None = None

        def attempt() -> None:
            nonlocal outcome
            try:
                outcome = self._store.write(rows), []
            except REFUSED as exc:
                log.warning("the database refused a batch (%s): writing it row by row", exc)
                inserted, refusals = self._store.write_each(rows)
                outcome = inserted, [(r.index, r.error) for r in refusals]

        if not self._retrying(attempt):
            return None
        return outcome

    def _retrying(self, work: Callable[[], None]) -> bool:
        """Run ``work`` until it does not raise a database error; False if stopped first.

        Between attempts the consumer keeps polling with its partitions paused, so the group
        does not give them away for a database outage.
        """
        attempt = 0
        while True:
            try:
                work()
            except psycopg.Error as exc:
                self._database_error = f"{type(exc).__name__}: {str(exc).strip()}"
                metrics.DATABASE_ERRORS.inc()
                delay = RETRY_DELAYS[min(attempt, len(RETRY_DELAYS) - 1)]
                attempt += 1
                log.warning("%s: %s; retrying in %.1fs", self._store.where, self._database_error, delay)
                if not self._idle(delay):
                    return False
                continue
            self._database_error = None
            return True

    def _idle(self, seconds: float) -> bool:
        """Wait while staying in the group; False if stopping."""
        assignment = self._consumer.assignment()
        self._consumer.pause(assignment)
        try:
            until = time.monotonic() + seconds
            while time.monotonic() < until and not self._stop.is_set():
                message = self._consumer.poll(min(IDLE_POLL_SECONDS, max(0.0, until - time.monotonic())))
                if message is not None and message.error() is None:
                    # Fetched before the pause took effect: rewind so it is consumed again later.
                    self._consumer.seek(TopicPartition(*position(message)))
            return not self._stop.is_set()
        finally:
            owned = {(tp.topic, tp.partition) for tp in self._consumer.assignment()}
            self._consumer.resume([tp for tp in assignment if (tp.topic, tp.partition) in owned])

    def _quarantine_record(self, message: Message, reason: str, error: str) -> QuarantineRecord:
        topic, partition, offset = position(message)
        log.error("quarantined %s[%d]@%d: %s: %s", topic, partition, offset, reason, error[:300])
        return QuarantineRecord.of(
            stage=STAGE,
            reason=reason,
            error=error,
            source_topic=topic,
            partition=partition,
            offset=offset,
            payload=message.value(),
        )

    def _quarantine(self, records: list[QuarantineRecord]) -> None:
        """Produce and wait for the broker's acks, so the source offsets can be committed after."""
        if not records:
            return
        errors: list[KafkaError] = []
        for record in records:
            self._producer.produce(
                self._topics.invalid,
                key=f"{record.source_topic}/{record.partition}/{record.offset}".encode(),
                value=encode(record),
                on_delivery=lambda err, _msg: errors.append(err) if err else None,
            )
        if self._producer.flush(60) or errors:
            raise RuntimeError(f"could not write to {self._topics.invalid}: {errors or 'timed out'}")
        for record in records:
            metrics.QUARANTINED.labels(record.reason).inc()

    def _commit(self, messages: list[Message]) -> None:
        """Commit past the batch on the partitions we still own (the rows are in the table:
        if the commit fails, whoever reads them again finds them there and skips them)."""
        owned = {(tp.topic, tp.partition) for tp in self._consumer.assignment()}
        next_offsets: dict[tuple[str, int], int] = {}
        for message in messages:
            topic, partition, offset = position(message)
            next_offsets[(topic, partition)] = max(offset + 1, next_offsets.get((topic, partition), 0))
        offsets = [TopicPartition(t, p, o) for (t, p), o in next_offsets.items() if (t, p) in owned]
        if not offsets:
            return
        try:
            self._consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            log.warning("offset commit failed (the batch will be read again and skipped): %s", exc)

    def _check_health(self) -> None:
        """Every few seconds: the lag per partition from the broker (which also tells whether it
        answers), and a ping of the database, for /readyz and the lag gauge."""
        if time.monotonic() - self._checked < HEALTH_CHECK_SECONDS:
            return
        self._checked = time.monotonic()
        try:
            assigned = self._consumer.assignment()
            if not assigned:
                self._consumer.list_topics(self._topics.clean, timeout=KAFKA_TIMEOUT_SECONDS)
            for tp in self._consumer.position(assigned):
                _low, high = self._consumer.get_watermark_offsets(
                    tp, timeout=KAFKA_TIMEOUT_SECONDS, cached=False
                )
                if tp.offset >= 0:
                    metrics.CONSUMER_LAG.labels(str(tp.partition)).set(max(0, high - tp.offset))
            self._kafka_error = None
        except KafkaException as exc:
            self._kafka_error = str(exc)
        try:
            self._store.ping()
            self._database_error = None
        except psycopg.Error as exc:
            self._database_error = f"{type(exc).__name__}: {str(exc).strip()}"

    def _on_assign(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        log.info("assigned %s", [tp.partition for tp in partitions])
        self._assigned |= {(tp.topic, tp.partition) for tp in partitions}

    def _on_revoke(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        log.info("revoked %s", [tp.partition for tp in partitions])
        self._assigned -= {(tp.topic, tp.partition) for tp in partitions}

    def _consumer_error(self, error: KafkaError) -> None:
        if error.fatal():
            raise KafkaException(error)
        log.warning("consumer: %s", error)


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
