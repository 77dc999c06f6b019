"""Publishing envelopes to Kafka without losing or reordering them.

Idempotent producer with ``acks=all`` and no delivery timeout, so broker retries never
duplicate or reorder a partition and an unreachable broker delays events instead of
dropping them. ``BufferError`` (the local queue is full) is backpressure onto the
watch: we wait for room, never drop. A fatal client error stops the process so an
orchestrator restarts it from its last checkpoint.

Records are sized to what the topics accept, read from the broker at start
(``max.message.bytes``). A record refused all the same (the topic's limit was lowered, a
record the broker finds invalid) is a fact about that record, not about the process: its
owner is told (``on_refused``) and quarantines it; the others go on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from runtime.config import KafkaSettings, ProducerSettings
from runtime.kafka import DEFAULT_MESSAGE_LIMIT, BrokerUnreachableError, client_config, topic_message_limit
from schemas import ProducerCheckpoint, QuarantineRecord, RawEnvelope, RawMessage, encode

log = logging.getLogger(__name__)

DeliveryCallback = Callable[[], None]
RefusalCallback = Callable[[str], None]
"""Told why Kafka refused one record for good (a reason with no content in it)."""
Headers = list[tuple[str, str | bytes | None]]
RAW_SCHEMA_HEADER = f"{RawEnvelope.SCHEMA}.v{RawEnvelope.VERSION}".encode()
BACKPRESSURE_WAIT_SECONDS = 0.01
RECORD_ALLOWANCE = 16 * 1024 + 512
"""Kept free of a record's value for its key (cluster and three bounded names), headers and framing."""


def delivery_settings(settings: ProducerSettings, *, limit: int = DEFAULT_MESSAGE_LIMIT) -> dict[str, object]:
    """The librdkafka settings that make publishing lossless and ordered (also the bench's
    baseline); no request larger than the topics' ``limit``."""
    return {
        "enable.idempotence": True,
        "acks": "all",
        "compression.type": settings.compression,
        "linger.ms": settings.linger_ms,
        "message.max.bytes": limit,
        "batch.size": limit,
        "queue.buffering.max.messages": 200_000,
        # Keep retrying while the broker is away; a late occurrence beats a lost one.
        "message.timeout.ms": 0,
    }


class FatalPublishError(RuntimeError):
    """The Kafka client cannot continue (e.g. the idempotent producer was fenced)."""


@dataclass
class DeliveryStats:
    published: int = 0
    delivered: int = 0
    failed: int = 0
    refused: int = 0
    quarantined: int = 0
    backpressure_waits: int = 0

    @property
    def pending(self) -> int:
        return self.published - self.delivered - self.failed - self.refused


class Publisher:
    """Thread-safe: several watch threads may publish; one thread serves delivery reports."""

    def __init__(self, kafka: KafkaSettings, settings: ProducerSettings) -> None:
        self._topics = kafka.topics
        self._fatal: KafkaError | None = None
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._poller: threading.Thread | None = None
        self.stats = DeliveryStats()
        self._headers: dict[str, Headers] = {}
        self.limit = record_limit(kafka)
        self._producer = Producer(
            client_config(
                kafka,
                **delivery_settings(settings, limit=self.limit),
                **{
                    "client.id": f"herald-producer-{settings.default_cluster}-{settings.producer_id}",
                    "error_cb": self._on_error,
                },
            )
        )

    @property
    def budget(self) -> int:
        """The most bytes one envelope (a record's value) may have."""
        return self.limit - RECORD_ALLOWANCE

    def start(self) -> Publisher:
        """Serve delivery reports in the background (needed when publishers block elsewhere)."""
        self._poller = threading.Thread(target=self._poll_forever, name="kafka-delivery-reports", daemon=True)
        self._poller.start()
        return self

    def _poll_forever(self) -> None:
        while not self._closing.is_set():
            self._producer.poll(0.1)

    def publish(
        self,
        message: RawMessage,
        on_delivered: DeliveryCallback | None = None,
        on_refused: RefusalCallback | None = None,
    ) -> None:
        """Queue one raw envelope; ``on_delivered`` runs once the broker has acknowledged it,
        ``on_refused`` with the reason if the client or the broker refused it for good (its
        owner quarantines it; without an owner it is counted as failed)."""

        def refused(reason: str) -> None:
            if on_refused is None:
                self._count("failed")
                log.error("an event about %s was refused: %s", message.key[:300], reason)
            else:
                self._count("refused")
                on_refused(reason)

        def report(err: KafkaError | None, _msg: Message) -> None:
            if err is None:
                self._count("delivered")
                if on_delivered is not None:
                    on_delivered()
            else:
                refused(f"the broker refused it: {err.name()}")

        headers = self._headers.get(message.cluster)
        if headers is None:
            headers = self._headers[message.cluster] = [
                ("herald-schema", RAW_SCHEMA_HEADER),
                ("herald-cluster", message.cluster.encode()),
            ]
        try:
            self._produce(self._topics.raw, message.key.encode(), message.value, headers, report)
        except KafkaException as exc:  # refused before queueing, e.g. larger than message.max.bytes
            error = exc.args[0]
            if isinstance(error, KafkaError) and error.fatal():
                raise
            self._count("published")
            refused(f"the client refused it: {error.name() if isinstance(error, KafkaError) else error}")
            return
        self._count("published")

    def save_checkpoint(self, checkpoint: ProducerCheckpoint) -> None:
        def report(err: KafkaError | None, _msg: Message) -> None:
            if err is not None:
                log.warning("checkpoint %s not saved: %s", checkpoint.key, err)

        self._produce(self._topics.checkpoints, checkpoint.key.encode(), encode(checkpoint), [], report)

    def quarantine(
        self, record: QuarantineRecord, key: str, on_delivered: DeliveryCallback | None = None
    ) -> None:
        """Keep bad input with its reason instead of dropping it; ``on_delivered`` runs once
        the record is safe (the input is then accounted for)."""

        def report(err: KafkaError | None, _msg: Message) -> None:
            if err is not None:
                log.error("quarantine delivery failed: %s", err)
            elif on_delivered is not None:
                on_delivered()

        self._produce(self._topics.invalid, key.encode(), encode(record), [], report)
        self._count("quarantined")

    def _produce(
        self,
        topic: str,
        key: bytes,
        value: bytes,
        headers: Headers,
        report: Callable[[KafkaError | None, Message], None],
    ) -> None:
        self._raise_if_fatal()
        while True:
            try:
                self._producer.produce(topic, value=value, key=key, headers=headers, on_delivery=report)
                return
            except BufferError:
                # Local queue full: the broker is slow or away. Wait for room; never drop.
                self._count("backpressure_waits")
                if self._poller is None:
                    self._producer.poll(BACKPRESSURE_WAIT_SECONDS)
                else:
                    time.sleep(BACKPRESSURE_WAIT_SECONDS)
                self._raise_if_fatal()

    def _count(self, field: str) -> None:
        with self._lock:
            stats = self.stats.__dict__
            stats[field] += 1

    def flush(self, timeout: float = 30.0) -> int:
        """Wait for outstanding deliveries; returns how many are still pending."""
        remaining: int = self._producer.flush(timeout)
        self._raise_if_fatal()
        return remaining

    def close(self, timeout: float = 30.0) -> int:
        """Flush, stop the delivery-report thread; returns how many deliveries are still pending."""
        remaining = self._producer.flush(timeout)
        self._closing.set()
        if self._poller is not None:
            self._poller.join(timeout)
        return int(remaining)

    @property
    def fatal_error(self) -> str | None:
        return str(self._fatal) if self._fatal is not None else None

    def _on_error(self, err: KafkaError) -> None:
        if err.fatal():
            self._fatal = err
            log.critical("fatal Kafka producer error: %s", err)
        else:
            log.warning("Kafka producer: %s", err)

    def _raise_if_fatal(self) -> None:
        if self._fatal is not None:
            raise FatalPublishError(str(self._fatal))


def record_limit(kafka: KafkaSettings) -> int:
    """The largest record both the raw and the quarantine topic accept, as the broker says.

    Unreadable (no right to describe configs, say), librdkafka's default is assumed, and
    a record the broker refuses all the same is quarantined as it would be anyway.
    """
    try:
        return topic_message_limit(kafka, [kafka.topics.raw, kafka.topics.invalid])
    except (KafkaException, BrokerUnreachableError) as exc:
        log.warning(
            "cannot read max.message.bytes of %s (%s); assuming %d bytes",
            kafka.topics.raw,
            exc,
            DEFAULT_MESSAGE_LIMIT,
        )
        return DEFAULT_MESSAGE_LIMIT
