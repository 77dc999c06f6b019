"""Publishing envelopes to Kafka without losing or reordering them.

Idempotent producer with ``acks=all`` and no delivery timeout, so broker retries never
duplicate or reorder a partition and an unreachable broker delays events instead of
dropping them. ``BufferError`` (the local queue is full) is backpressure onto the
watch: we wait for room, never drop. A fatal client error stops the process so an
orchestrator restarts it from its last checkpoint.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from confluent_kafka import KafkaError, Message, Producer

from runtime.config import KafkaSettings, ProducerSettings
from runtime.kafka import client_config
from schemas import ProducerCheckpoint, QuarantineRecord, RawEnvelope, RawMessage, encode

log = logging.getLogger(__name__)

DeliveryCallback = Callable[[], None]
Headers = list[tuple[str, str | bytes | None]]
RAW_SCHEMA_HEADER = f"{RawEnvelope.SCHEMA}.v{RawEnvelope.VERSION}".encode()
BACKPRESSURE_WAIT_SECONDS = 0.01


def delivery_settings(settings: ProducerSettings) -> dict[str, object]:
    """The librdkafka settings that make publishing lossless and ordered (also the bench's baseline)."""
    return {
        "enable.idempotence": True,
        "acks": "all",
        "compression.type": settings.compression,
        "linger.ms": settings.linger_ms,
        "batch.size": 1_000_000,
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
    quarantined: int = 0
    backpressure_waits: int = 0

    @property
    def pending(self) -> int:
        return self.published - self.delivered - self.failed


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
        self._producer = Producer(
            client_config(
                kafka,
                **delivery_settings(settings),
                **{
                    "client.id": f"herald-producer-{settings.default_cluster}-{settings.producer_id}",
                    "error_cb": self._on_error,
                },
            )
        )

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
        on_failed: DeliveryCallback | None = None,
    ) -> None:
        """Queue one raw envelope; ``on_delivered`` runs once the broker has acknowledged it,
        ``on_failed`` if it refused it for good."""

        def report(err: KafkaError | None, _msg: Message) -> None:
            if err is None:
                self._count("delivered")
                if on_delivered is not None:
                    on_delivered()
            else:
                self._count("failed")
                if on_failed is not None:
                    on_failed()
                log.error("delivery of an event about %s failed: %s", message.key, err)

        headers = self._headers.get(message.cluster)
        if headers is None:
            headers = self._headers[message.cluster] = [
                ("herald-schema", RAW_SCHEMA_HEADER),
                ("herald-cluster", message.cluster.encode()),
            ]
        self._produce(self._topics.raw, message.key.encode(), message.value, headers, report)
        self._count("published")

    def save_checkpoint(self, checkpoint: ProducerCheckpoint) -> None:
        def report(err: KafkaError | None, _msg: Message) -> None:
            if err is not None:
                log.warning("checkpoint %s not saved: %s", checkpoint.key, err)

        self._produce(self._topics.checkpoints, checkpoint.key.encode(), encode(checkpoint), [], report)

    def quarantine(self, record: QuarantineRecord, key: str) -> None:
        """Keep bad input with its reason instead of dropping it."""

        def report(err: KafkaError | None, _msg: Message) -> None:
            if err is not None:
                log.error("quarantine delivery failed: %s", err)

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
