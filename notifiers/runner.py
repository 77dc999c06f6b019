"""The delivery loop of one receiver: consume incidents, deliver, then commit.

One consumer group per receiver (``<prefix>notifier.<receiver>``), so a slow or dead
receiver never delays another, and more instances of one receiver share its partitions.
An offset is committed only after its incident was delivered or dead-lettered: a crash
can repeat at most the message in flight. While a delivery waits to be retried, the
consumer keeps polling with its partitions paused, so it stays in its group without
holding up a rebalance.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition

from notifiers.errors import PermanentError, RetryableError
from notifiers.notification import Notification
from notifiers.receivers import REGISTRY, Receiver
from notifiers.retry import backoff_delay
from notifiers.templating import Renderer
from runtime.config import ConfigError, ConfigIssue, HeraldConfig
from runtime.kafka import client_config, ensure_topics
from schemas import DeadLetter, Incident, QuarantineRecord, SchemaError, decode, encode
from schemas.base import utc_now

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5
IDLE_POLL_SECONDS = 0.2


def build_receiver(config: HeraldConfig, name: str) -> Receiver:
    index, entry = config.receiver(name)
    factory = REGISTRY.get(entry.type)
    if factory is None:
        known = ", ".join(sorted(REGISTRY))
        raise ConfigError(
            [
                ConfigIssue(
                    config.source_file,
                    ("receivers", index, "type"),
                    None,
                    f"unknown type {entry.type!r} ({known})",
                )
            ]
        )
    settings = config.validate_section(("receivers", index), factory.config_model, entry.model_dump())
    renderer = Renderer(
        timezone=config.notifier.timezone,
        templates_dir=config.notifier.templates_dir,
        language=config.notifier.language,
        link_template=config.notifier.link_template,
    )
    return factory(settings, renderer)


def position(message: Message) -> tuple[str, int, int]:
    """Topic, partition and offset of a consumed message (always set on those)."""
    topic, partition, offset = message.topic(), message.partition(), message.offset()
    if topic is None or partition is None or offset is None:
        raise ValueError("not a consumed message")
    return topic, partition, offset


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a delivery ended: after how many attempts, and why it failed ('' when delivered)."""

    attempts: int
    failure: str = ""


@dataclass
class RunStats:
    delivered: int = 0
    dead_lettered: int = 0
    quarantined: int = 0
    retries: int = 0
    revoked: set[tuple[str, int]] = field(default_factory=set)


class Notifier:
    def __init__(self, config: HeraldConfig, receiver: Receiver) -> None:
        self._config = config
        self._receiver = receiver
        self._topics = config.kafka.topics
        self._budget = config.notifier.retry_budget_seconds
        self._stop = asyncio.Event()
        self.stats = RunStats()
        self.group_id = f"{config.kafka.topic_prefix}notifier.{receiver.name}"
        self._consumer = Consumer(
            client_config(
                config.kafka,
                **{
                    "group.id": self.group_id,
                    "client.id": f"herald-notifier-{receiver.name}",
                    "enable.auto.commit": False,
                    "auto.offset.reset": "earliest",
                    "partition.assignment.strategy": "cooperative-sticky",
                    "isolation.level": "read_committed",
                },
            )
        )
        self._producer = Producer(
            client_config(config.kafka, **{"enable.idempotence": True, "acks": "all", "linger.ms": 0})
        )

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        ensure_topics(self._config.kafka, ["alerts", "alerts.deadletter", "events.invalid"])
        self._consumer.subscribe([self._topics.alerts], on_revoke=self._on_revoke, on_assign=self._on_assign)
        log.info(
            "notifier %s (%s -> %s) consuming %s",
            self._receiver.name,
            self._receiver.type,
            self._receiver.target,
            self._topics.alerts,
        )
        loop = asyncio.get_running_loop()
        try:
            while not self._stop.is_set():
                message = await loop.run_in_executor(None, self._consumer.poll, POLL_SECONDS)
                if message is None:
                    continue
                error = message.error()
                if error is not None:
                    self._log_consumer_error(error)
                    continue
                await self._handle(message)
        finally:
            await loop.run_in_executor(None, self._consumer.close)
            self._producer.flush(30)
            await self._receiver.aclose()

    async def _handle(self, message: Message) -> None:
        topic, partition_id, _ = position(message)
        partition = (topic, partition_id)
        self.stats.revoked.discard(partition)
        try:
            incident = decode(message.value() or b"", Incident)
        except SchemaError as exc:
            self._quarantine(message, exc)
            self._commit(message)
            return
        outcome = await self._deliver(Notification((incident,)), partition)
        if outcome is None:
            return  # partition revoked or stopping: its next owner delivers it; do not commit
        if outcome.failure:
            self._dead_letter(incident, outcome)
        else:
            self.stats.delivered += 1
        self._commit(message)

    async def _deliver(self, notification: Notification, partition: tuple[str, int]) -> Outcome | None:
        """Deliver with retries, bounded by the retry budget; None means abandon (do not commit)."""
        deadline = time.monotonic() + self._budget
        attempt = 0
        while True:
            attempt += 1
            try:
                await self._receiver.send(notification)
                return Outcome(attempt)
            except PermanentError as exc:
                log.error("%s: permanent failure: %s", self._receiver.name, exc)
                return Outcome(attempt, f"permanent: {exc}")
            except RetryableError as exc:
                delay = backoff_delay(attempt, retry_after=exc.retry_after)
                if time.monotonic() + delay > deadline:
                    log.error("%s: retry budget of %.0fs spent: %s", self._receiver.name, self._budget, exc)
                    return Outcome(attempt, f"retry budget of {self._budget:.0f}s spent: {exc}")
                self.stats.retries += 1
                log.warning(
                    "%s: attempt %d failed, retrying in %.1fs: %s", self._receiver.name, attempt, delay, exc
                )
                if not await self._idle(delay, partition):
                    return None

    async def _idle(self, seconds: float, partition: tuple[str, int]) -> bool:
        """Wait while staying in the group; False if our partition was revoked or we are stopping."""
        loop = asyncio.get_running_loop()
        assignment = self._consumer.assignment()
        self._consumer.pause(assignment)
        try:
            until = time.monotonic() + seconds
            while time.monotonic() < until:
                if self._stop.is_set() or partition in self.stats.revoked:
                    return False
                message = await loop.run_in_executor(None, self._consumer.poll, IDLE_POLL_SECONDS)
                if message is not None and not message.error():
                    # Fetched before the pause took effect: rewind so it is consumed again later.
                    self._consumer.seek(TopicPartition(*position(message)))
            return not self._stop.is_set() and partition not in self.stats.revoked
        finally:
            current = {(tp.topic, tp.partition) for tp in self._consumer.assignment()}
            self._consumer.resume([tp for tp in assignment if (tp.topic, tp.partition) in current])

    def _on_revoke(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.stats.revoked.update((tp.topic, tp.partition) for tp in partitions)

    def _on_assign(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        log.info("%s: assigned %s", self._receiver.name, [tp.partition for tp in partitions])

    def _commit(self, message: Message) -> None:
        self._consumer.commit(message=message, asynchronous=False)

    def _dead_letter(self, incident: Incident, outcome: Outcome) -> None:
        letter = DeadLetter(
            receiver=self._receiver.name,
            receiver_type=self._receiver.type,
            target=self._receiver.target,
            reason=outcome.failure[:2000],
            attempts=outcome.attempts,
            incident=incident,
            at=utc_now(),
        )
        self._produce_durably(
            self._topics.deadletter, f"{self._receiver.name}/{incident.fingerprint}", encode(letter)
        )
        self.stats.dead_lettered += 1

    def _quarantine(self, message: Message, exc: SchemaError) -> None:
        topic, partition, offset = position(message)
        log.error("%s: quarantined %s[%d]@%d: %s", self._receiver.name, topic, partition, offset, exc)
        record = QuarantineRecord.of(
            stage=f"notifier.{self._receiver.name}",
            reason=exc.reason,
            error=exc.detail,
            source_topic=topic,
            partition=partition,
            offset=offset,
            payload=message.value(),
        )
        key = f"{topic}/{partition}/{offset}"
        self._produce_durably(self._topics.invalid, key, encode(record))
        self.stats.quarantined += 1

    def _produce_durably(self, topic: str, key: str, value: bytes) -> None:
        """Produce and wait for the broker's ack, so the source offset can be committed after it."""
        errors: list[KafkaError] = []
        self._producer.produce(
            topic,
            value=value,
            key=key.encode(),
            on_delivery=lambda err, _msg: errors.append(err) if err else None,
        )
        if self._producer.flush(60) or errors:
            raise RuntimeError(f"could not write to {topic}: {errors or 'timed out'}")

    def _log_consumer_error(self, error: KafkaError) -> None:
        if error.fatal():
            raise RuntimeError(f"fatal consumer error: {error}")
        log.warning("%s: consumer: %s", self._receiver.name, error)
