"""One committing loop for the stages that consume, write, then commit: the notifier
(deliveries) and the analytics sink (database rows).

A stage subclasses :class:`CommittingStage` and implements :meth:`~CommittingStage.write`,
the way a quix-streams BatchingSink implements only ``write``. The loop owns the rest:

- polling a batch, and, for a stage that asks (:class:`Batching`), the backlog already
  waiting behind it, so it is taken together;
- decoding each message into the stage's model; one that does not decode is quarantined
  (:func:`quarantine_record`, one line in the log);
- the assignment bookkeeping: what the group gave us (readiness) and what it took back since
  a batch began (that batch is abandoned: never committed, its partitions still ours read again);
- back-pressure: :meth:`~CommittingStage.hold` waits with the partitions paused while the
  consumer polls on, so the member stays in its group; what was fetched before the pause took
  effect is sought back;
- side outputs (quarantine, dead letters, a notification log) produced together and
  acknowledged by the broker before the offsets are committed, waited for in a thread so the
  event loop goes on;
- committing past the batch, on the partitions still ours;
- on stop, leaving the group: a static member's ``close()`` alone does not (KIP-345).

The core is asyncio, as the notifier's receivers are; the analytics sink runs it with
``asyncio.run`` and its database calls in threads. Blocking Kafka calls go through the
default executor.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Set
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from schemas import QuarantineRecord, SchemaError, decode, encode
from schemas.base import TopicModel

log = logging.getLogger(__name__)

T = TypeVar("T", bound=TopicModel)
Partition = tuple[str, int]
"""Topic and partition."""

POLL_SECONDS = 0.5
"""How long a poll waits for a batch's first message."""
HOLD_POLL_SECONDS = 0.2
"""How long each poll waits while a batch is held back."""
ACK_SECONDS = 60.0
"""How long side outputs may take to be acknowledged before the stage stops."""
CLOSE_FLUSH_SECONDS = 30.0
LEAVE_SECONDS = 5.0
"""How long leaving the group may take before the consumer is closed regardless."""


def position(message: Message) -> tuple[str, int, int]:
    """Topic, partition and offset of a consumed message (always set on those)."""
    topic, partition, offset = message.topic(), message.partition(), message.offset()
    if topic is None or partition is None or offset is None:
        raise ValueError("not a consumed message")
    return topic, partition, offset


def quarantine_record(message: Message, *, stage: str, reason: str, error: str) -> QuarantineRecord:
    """What goes to ``events.invalid`` for a consumed message ``stage`` cannot take; logged."""
    topic, partition, offset = position(message)
    log.error(
        "%s: quarantined %s[%d]@%d: %s: %s",
        stage,
        topic,
        partition,
        offset,
        reason,
        error[:300],
        extra={"stage": stage},
    )
    return QuarantineRecord.of(
        stage=stage,
        reason=reason,
        error=error,
        source_topic=topic,
        partition=partition,
        offset=offset,
        payload=message.value(),
    )


@dataclass(frozen=True, slots=True)
class Output:
    """A record written besides a batch's own effect, acknowledged before its commit."""

    topic: str
    key: str
    value: bytes

    @classmethod
    def quarantine(cls, topic: str, record: QuarantineRecord) -> Output:
        """Keyed by where the input was, so a repeat of it replaces the first under compaction."""
        return cls(topic, f"{record.source_topic}/{record.partition}/{record.offset}", encode(record))


@dataclass(frozen=True, slots=True)
class Batching:
    """How much one batch takes."""

    max_messages: int
    """Per poll."""
    fill_seconds: float = 0.0
    """How long a poll waits for more once its first message came (0: what is already fetched)."""
    backlog_seconds: float = 0.0
    """While the batch's partitions hold more than was read (a backlog), poll on for up to this
    long, so what is waiting is taken together; 0: never."""
    backlog_messages: int = 0
    """...and up to this many messages."""


@dataclass
class Consumed(Generic[T]):
    """The messages of one batch: decoded, rejected, and where to commit once it is written."""

    stage: str
    items: list[T] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    """The message of each item, in step with ``items``."""
    rejects: list[QuarantineRecord] = field(default_factory=list)
    """To quarantine before the commit: input that did not decode, and what ``write`` rejects."""
    first_offsets: dict[Partition, int] = field(default_factory=dict)
    next_offsets: dict[Partition, int] = field(default_factory=dict)
    """Per partition, the offset to commit once the batch is written."""
    taken: int = 0
    started: float = field(default_factory=time.monotonic)

    def add(self, message: Message) -> None:
        topic, partition, offset = position(message)
        self.first_offsets.setdefault((topic, partition), offset)
        self.next_offsets[(topic, partition)] = max(offset + 1, self.next_offsets.get((topic, partition), 0))
        self.taken += 1

    def reject(self, message: Message, reason: str, error: str) -> None:
        self.rejects.append(quarantine_record(message, stage=self.stage, reason=reason, error=error))

    @property
    def partitions(self) -> frozenset[Partition]:
        return frozenset(self.next_offsets)


class CommittingStage(ABC, Generic[T]):
    """Consume ``model`` messages in batches, :meth:`write` each, then commit past it."""

    def __init__(
        self,
        *,
        stage: str,
        model: type[T],
        consumer: Consumer,
        producer: Producer,
        invalid_topic: str,
        batching: Batching,
        instance_id: str | None = None,
    ) -> None:
        self.stage = stage
        self._model = model
        self._consumer = consumer
        self._producer = producer
        self._invalid_topic = invalid_topic
        self._batching = batching
        self._instance_id = instance_id
        self._stop = threading.Event()
        self._assigned: frozenset[Partition] = frozenset()
        """Kept from the rebalance callbacks for readiness: asking the consumer from the HTTP
        thread would wait for the polling thread to let go of it, seconds at a time."""
        self._revoked: set[Partition] = set()
        """Revoked, and not read from since: a batch with one of these is abandoned."""

    @abstractmethod
    async def write(self, batch: Consumed[T]) -> bool:
        """Take the batch's items. True once done: its rejects are then quarantined and its
        offsets committed. False abandons it uncommitted (stopping, or a partition revoked
        while it was held back): its partitions still ours are read again."""

    async def tick(self) -> None:
        """After every poll: periodic work (lag metrics, health checks)."""

    def quarantined(self, records: list[QuarantineRecord]) -> None:
        """Called once ``records`` are acknowledged on the invalid topic."""

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    @property
    def assigned(self) -> frozenset[Partition]:
        return self._assigned

    async def consume(self, topics: list[str]) -> None:
        """Subscribe, then handle batches until stopped; :meth:`close` after."""
        loop = asyncio.get_running_loop()
        self._consumer.subscribe(
            topics, on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_revoke
        )
        while not self.stopping:
            messages = await loop.run_in_executor(None, self._poll_batch)
            if messages:
                await self._handle(await self._read(messages))
            await self.tick()

    async def close(self) -> None:
        """Leave the group and close the consumer, then send what is left to send."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._leave_group)
        await loop.run_in_executor(None, self._producer.flush, CLOSE_FLUSH_SECONDS)

    async def hold(self, seconds: float, partitions: Set[Partition] = frozenset()) -> bool:
        """Wait, partitions paused and polling on so the member stays in its group; False
        if stopping or one of ``partitions`` (a batch's) was revoked meanwhile."""
        loop = asyncio.get_running_loop()
        assignment = self._consumer.assignment()
        self._consumer.pause(assignment)
        try:
            until = time.monotonic() + seconds
            while time.monotonic() < until:
                if self._abandoned(partitions):
                    return False
                wait = min(HOLD_POLL_SECONDS, max(0.0, until - time.monotonic()))
                message = await loop.run_in_executor(None, self._consumer.poll, wait)
                if message is not None and message.error() is None:
                    # Fetched before the pause took effect: rewind so it is consumed again later.
                    self._consumer.seek(TopicPartition(*position(message)))
            return not self._abandoned(partitions)
        finally:
            owned = {(tp.topic, tp.partition) for tp in self._consumer.assignment()}
            self._consumer.resume([tp for tp in assignment if (tp.topic, tp.partition) in owned])

    async def produce_durably(self, outputs: list[Output]) -> None:
        """Produce together, then wait for the broker's acks (in a thread: the event loop goes
        on), so the input that caused them can be committed after."""
        if not outputs:
            return
        errors: list[KafkaError] = []

        def delivered(error: KafkaError | None, _message: Message) -> None:
            if error is not None:
                errors.append(error)

        for output in outputs:
            self._producer.produce(
                output.topic, value=output.value, key=output.key.encode(), on_delivery=delivered
            )
        left = await asyncio.get_running_loop().run_in_executor(None, self._producer.flush, ACK_SECONDS)
        if left or errors:
            topics = ", ".join(sorted({o.topic for o in outputs}))
            raise RuntimeError(f"could not write to {topics}: {errors or 'timed out'}")

    def lags(self, *, timeout: float | None = None) -> dict[int, int]:
        """Per assigned partition, how many messages are past our position: from what the
        consumer last fetched (no broker round trip), or with ``timeout``, asking the broker
        (raising KafkaException when it does not answer)."""
        lags: dict[int, int] = {}
        for tp in self._consumer.position(self._consumer.assignment()):
            if timeout is None:
                _low, high = self._consumer.get_watermark_offsets(tp, cached=True)
            else:
                _low, high = self._consumer.get_watermark_offsets(tp, timeout=timeout, cached=False)
            if tp.offset >= 0 and high >= 0:
                lags[tp.partition] = max(0, high - tp.offset)
        return lags

    def _abandoned(self, partitions: Set[Partition]) -> bool:
        return self.stopping or not self._revoked.isdisjoint(partitions)

    def _poll_batch(self) -> list[Message]:
        """One message, waiting up to POLL_SECONDS, then more up to the batch's size."""
        first = self._consumer.poll(POLL_SECONDS)
        if first is None:
            return []
        more = self._batching.max_messages - 1
        rest = self._consumer.consume(num_messages=more, timeout=self._batching.fill_seconds) if more else []
        return self._checked([first, *rest])

    def _checked(self, polled: list[Message]) -> list[Message]:
        """The messages, consumer errors left out (logged; a fatal one raises)."""
        messages = []
        for message in polled:
            error = message.error()
            if error is None:
                messages.append(message)
            elif error.fatal() or error.code() == KafkaError._FATAL:
                # One such: another process joined with this group.instance.id, fencing this one.
                member = f" (instance id {self._instance_id!r})" if self._instance_id else ""
                raise RuntimeError(f"{self.stage}: fatal consumer error{member}: {error.str()}")
            else:
                log.warning("%s: consumer: %s", self.stage, error)
        return messages

    async def _read(self, messages: list[Message]) -> Consumed[T]:
        """A batch of these messages, and of the backlog behind them if the stage asks."""
        batch = Consumed[T](self.stage)
        while messages:
            self._take(batch, messages)
            messages = await self._more_backlog(batch)
        return batch

    def _take(self, batch: Consumed[T], messages: list[Message]) -> None:
        for message in messages:
            batch.add(message)
            self._revoked.discard(position(message)[:2])
            try:
                item = decode(message.value() or b"", self._model)
            except SchemaError as exc:
                batch.reject(message, exc.reason, exc.detail)
                continue
            batch.items.append(item)
            batch.messages.append(message)

    async def _more_backlog(self, batch: Consumed[T]) -> list[Message]:
        """More of the batch's partitions while the consumer knows they hold more than it has
        read; empty when caught up, past the backlog bounds, or abandoned."""
        limits = self._batching
        if (
            not limits.backlog_seconds
            or self._abandoned(batch.partitions)
            or time.monotonic() - batch.started > limits.backlog_seconds
            or batch.taken >= limits.backlog_messages
            or not self._behind(batch.partitions)
        ):
            return []
        return await asyncio.get_running_loop().run_in_executor(None, self._poll_batch)

    def _behind(self, partitions: Set[Partition]) -> bool:
        """Whether the last fetch of any of these partitions showed messages past our position
        (local state only: no broker round trip)."""
        for tp in self._consumer.position([TopicPartition(t, p) for t, p in partitions]):
            _low, high = self._consumer.get_watermark_offsets(tp, cached=True)
            if tp.error is None and tp.offset >= 0 and high > tp.offset:
                return True
        return False

    async def _handle(self, batch: Consumed[T]) -> None:
        if not await self.write(batch):
            self._rewind(batch)
            return
        await self.produce_durably([Output.quarantine(self._invalid_topic, r) for r in batch.rejects])
        self.quarantined(batch.rejects)
        await self._commit(batch)

    def _owned(self) -> set[Partition]:
        """The partitions ours now and since the batch began."""
        return {(tp.topic, tp.partition) for tp in self._consumer.assignment()} - self._revoked

    def _rewind(self, batch: Consumed[T]) -> None:
        """An abandoned batch's partitions still ours are read again from its start (the
        consumer has moved past it); a revoked one is its next owner's."""
        if self.stopping:
            return
        owned = self._owned()
        for (topic, partition), offset in batch.first_offsets.items():
            if (topic, partition) in owned:
                try:
                    self._consumer.seek(TopicPartition(topic, partition, offset))
                except KafkaException as exc:
                    log.warning("%s: could not rewind %s[%d]: %s", self.stage, topic, partition, exc)

    async def _commit(self, batch: Consumed[T]) -> None:
        """Commit past the batch on the partitions still ours (should the commit fail, its
        input is read again: each stage recognizes what it already wrote)."""
        owned = self._owned()
        offsets = [TopicPartition(t, p, o) for (t, p), o in batch.next_offsets.items() if (t, p) in owned]
        if not offsets:
            return
        commit = functools.partial(self._consumer.commit, offsets=offsets, asynchronous=False)
        try:
            await asyncio.get_running_loop().run_in_executor(None, commit)
        except KafkaException as exc:
            log.warning("%s: offset commit failed (the batch will be read again): %s", self.stage, exc)

    def _leave_group(self) -> None:
        """Leave the group, then close, so the partitions move to another member at once.

        A static member's ``close()`` alone never sends LeaveGroup (KIP-345: it is expected
        back under its id), so its partitions would wait out the session timeout.
        ``unsubscribe()`` does send it, once polls have served the revocation; librdkafka
        then forgets the member id, which is what is waited for.
        """
        try:
            if self._consumer.memberid():
                self._consumer.unsubscribe()
                deadline = time.monotonic() + LEAVE_SECONDS
                while self._consumer.memberid() and time.monotonic() < deadline:
                    self._consumer.poll(0.1)  # what it fetched is dropped: the next owner reads it
        except (KafkaException, RuntimeError) as exc:  # fenced or failed: close it all the same
            log.warning("%s: could not leave the consumer group: %s", self.stage, exc)
        finally:
            self._consumer.close()

    def _on_assign(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._assigned |= {(tp.topic, tp.partition) for tp in partitions}
        log.info("%s: assigned %s", self.stage, [tp.partition for tp in partitions])

    def _on_revoke(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        gone = {(tp.topic, tp.partition) for tp in partitions}
        self._revoked |= gone
        self._assigned -= gone
        log.info("%s: revoked %s", self.stage, [tp.partition for tp in partitions])
