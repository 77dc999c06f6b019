"""Publishing envelopes to Kafka without losing or reordering them.

Idempotent producer with ``acks=all``, so broker retries never duplicate or reorder a
partition. ``BufferError`` (the local queue is full) is backpressure: we serve delivery
reports until there is room, never drop. A fatal client error stops the process so an
orchestrator restarts it from its last checkpoint.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from confluent_kafka import KafkaError, Message, Producer

from runtime.config import KafkaSettings, ProducerSettings
from runtime.kafka import client_config
from schemas import QuarantineRecord, RawEnvelope, encode

log = logging.getLogger(__name__)

DeliveryCallback = Callable[[RawEnvelope], None]


class FatalPublishError(RuntimeError):
    """The Kafka client cannot continue (e.g. the idempotent producer was fenced)."""


@dataclass
class DeliveryStats:
    published: int = 0
    delivered: int = 0
    failed: int = 0
    quarantined: int = 0

    @property
    def pending(self) -> int:
        return self.published - self.delivered - self.failed


class Publisher:
    def __init__(self, kafka: KafkaSettings, settings: ProducerSettings) -> None:
        self._topics = kafka.topics
        self._settings = settings
        self._fatal: KafkaError | None = None
        self.stats = DeliveryStats()
        conf = client_config(
            kafka,
            **{
                "client.id": f"herald-producer-{settings.cluster}-{settings.producer_id}",
                "enable.idempotence": True,
                "acks": "all",
                "compression.type": settings.compression,
                "linger.ms": settings.linger_ms,
                "batch.size": 1_000_000,
                # Keep retrying while the broker is away; a lost occurrence is worse than a late one.
                "message.timeout.ms": 0,
                "error_cb": self._on_error,
            },
        )
        self._producer = Producer(conf)

    def publish(self, envelope: RawEnvelope, on_delivered: DeliveryCallback | None = None) -> None:
        """Queue one envelope; ``on_delivered`` runs once the broker has acknowledged it."""

        def report(err: KafkaError | None, _msg: Message) -> None:
            if err is None:
                self.stats.delivered += 1
                if on_delivered is not None:
                    on_delivered(envelope)
            else:
                self.stats.failed += 1
                log.error("delivery failed for %s: %s", envelope.occurrence_id, err)

        headers: list[tuple[str, str | bytes | None]] = [
            ("herald-schema", f"{RawEnvelope.SCHEMA}.v{RawEnvelope.VERSION}".encode()),
            ("herald-cluster", envelope.cluster.encode()),
        ]
        self._produce(self._topics.raw, envelope.partition_key.encode(), encode(envelope), headers, report)
        self.stats.published += 1

    def quarantine(
        self, *, stage: str, reason: str, error: str, source: str, line: int, payload: bytes
    ) -> None:
        """Keep bad input with its reason instead of dropping it."""
        record = QuarantineRecord.of(
            stage=stage,
            reason=reason,
            error=error,
            source_topic=source,
            partition=-1,
            offset=line,
            payload=payload,
        )

        def report(err: KafkaError | None, _msg: Message) -> None:
            if err is not None:
                log.error("quarantine delivery failed: %s", err)

        self._produce(self._topics.invalid, f"{source}:{line}".encode(), encode(record), [], report)
        self.stats.quarantined += 1

    def _produce(
        self,
        topic: str,
        key: bytes,
        value: bytes,
        headers: list[tuple[str, str | bytes | None]],
        report: Callable[[KafkaError | None, Message], None],
    ) -> None:
        self._raise_if_fatal()
        while True:
            try:
                self._producer.produce(topic, value=value, key=key, headers=headers, on_delivery=report)
                break
            except BufferError:
                # Local queue full: wait for the broker to take some, then try again.
                self._producer.poll(0.1)
                self._raise_if_fatal()
        self._producer.poll(0)

    def flush(self, timeout: float = 30.0) -> int:
        """Wait for outstanding deliveries; returns how many are still pending."""
        remaining: int = self._producer.flush(timeout)
        self._raise_if_fatal()
        return remaining

    def _on_error(self, err: KafkaError) -> None:
        if err.fatal():
            self._fatal = err
            log.critical("fatal Kafka producer error: %s", err)
        else:
            log.warning("Kafka producer: %s", err)

    def _raise_if_fatal(self) -> None:
        if self._fatal is not None:
            raise FatalPublishError(str(self._fatal))
