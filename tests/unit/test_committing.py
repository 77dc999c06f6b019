"""The shared committing loop (runtime/committing.py) with a fake consumer and producer: a
batch is committed only after its write and its side outputs were acknowledged, never on a
partition revoked meanwhile; a held batch pauses its partitions and seeks back what was
fetched before the pause; undecodable input is quarantined."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import TopicPartition

from notifiers.notification import Notification
from notifiers.runner import Batch, Notifier
from runtime.committing import Batching, CommittingStage, Consumed, Output
from runtime.config import load_config
from schemas import Incident, QuarantineRecord, decode, encode
from tests.support.alerts import update
from tests.unit.test_delivery_logs import FakeReceiver

TOPIC = "alerts"
INVALID = "events.invalid"


class FakeMessage:
    def __init__(self, partition: int, offset: int, value: bytes) -> None:
        self._partition, self._offset, self._value = partition, offset, value

    def topic(self) -> str:
        return TOPIC

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def value(self) -> bytes:
        return self._value

    def error(self) -> None:
        return None


def message(partition: int, offset: int, value: bytes | None = None) -> FakeMessage:
    return FakeMessage(partition, offset, encode(update(offset)) if value is None else value)


class FakeConsumer:
    """Serves scripted polls; what the loop did to it is appended to ``calls``."""

    def __init__(self, calls: list[Any], batches: list[list[FakeMessage]], partitions: int = 2) -> None:
        self.calls = calls
        self.batches = batches
        self.owned = [TopicPartition(TOPIC, p) for p in range(partitions)]
        self.paused: list[tuple[str, int]] = []
        self.held_polls: list[FakeMessage] = []
        """What a poll while paused returns: fetched before the pause took effect."""
        self.on_revoke: Callable[[Any, list[TopicPartition]], None] | None = None
        self.stage: CommittingStage[Incident] | None = None
        self.member = "member-1"

    def subscribe(self, topics: list[str], **callbacks: Callable[[Any, list[TopicPartition]], None]) -> None:
        self.on_revoke = callbacks["on_revoke"]
        callbacks["on_assign"](self, self.owned)

    def revoke(self, partition: int) -> None:
        gone = [tp for tp in self.owned if tp.partition == partition]
        self.owned = [tp for tp in self.owned if tp.partition != partition]
        assert self.on_revoke is not None
        self.on_revoke(self, gone)

    def poll(self, _timeout: float) -> FakeMessage | None:
        if self.paused:
            return self.held_polls.pop(0) if self.held_polls else None
        if not self.batches:
            assert self.stage is not None
            self.stage.stop()
            return None
        return self.batches[0].pop(0)

    def consume(self, num_messages: int, timeout: float) -> list[FakeMessage]:
        return self.batches.pop(0)

    def assignment(self) -> list[TopicPartition]:
        return list(self.owned)

    def pause(self, partitions: list[TopicPartition]) -> None:
        self.paused = [(tp.topic, tp.partition) for tp in partitions]
        self.calls.append(("pause", sorted(p for _t, p in self.paused)))

    def resume(self, partitions: list[TopicPartition]) -> None:
        self.paused = []
        self.calls.append(("resume", sorted(tp.partition for tp in partitions)))

    def seek(self, tp: TopicPartition) -> None:
        self.calls.append(("seek", tp.partition, tp.offset))

    def commit(self, *, offsets: list[TopicPartition], asynchronous: bool) -> None:
        assert not asynchronous
        self.calls.append(("commit", sorted((tp.partition, tp.offset) for tp in offsets)))

    def position(self, partitions: list[TopicPartition]) -> list[TopicPartition]:
        return [TopicPartition(tp.topic, tp.partition, 0) for tp in partitions]

    def get_watermark_offsets(self, tp: TopicPartition, **_options: Any) -> tuple[int, int]:
        return 0, 0

    def memberid(self) -> str | None:
        return self.member

    def unsubscribe(self) -> None:
        self.calls.append("unsubscribe")
        self.member = ""

    def close(self) -> None:
        self.calls.append("close")


class FakeProducer:
    def __init__(self, calls: list[Any], *, fail: bool = False) -> None:
        self.calls = calls
        self.fail = fail
        self.delay = 0.0
        self.produced: list[tuple[str, bytes, bytes]] = []
        self._pending: list[Callable[[Any, Any], None]] = []

    def produce(
        self, topic: str, *, value: bytes, key: bytes, on_delivery: Callable[[Any, Any], None]
    ) -> None:
        self.produced.append((topic, key, value))
        self._pending.append(on_delivery)
        self.calls.append(("produce", topic))

    def flush(self, _timeout: float) -> int:
        """Acknowledges everything produced (or times out, left unacknowledged)."""
        time.sleep(self.delay)
        if self.fail:
            return len(self._pending)
        for on_delivery in self._pending:
            on_delivery(None, None)
        self._pending.clear()
        self.calls.append("acked")
        return 0


Write = Callable[["Stage", Consumed[Incident]], Awaitable[bool]]


class Stage(CommittingStage[Incident]):
    def __init__(self, consumer: FakeConsumer, producer: FakeProducer, write: Write | None = None) -> None:
        super().__init__(
            stage="test.stage",
            model=Incident,
            consumer=consumer,  # type: ignore[arg-type]
            producer=producer,  # type: ignore[arg-type]
            invalid_topic=INVALID,
            batching=Batching(max_messages=100),
        )
        consumer.stage = self
        self.calls = consumer.calls
        self.batches: list[list[str]] = []
        self.counted: list[QuarantineRecord] = []
        self._write = write

    async def write(self, batch: Consumed[Incident]) -> bool:
        self.batches.append([incident.fingerprint for incident in batch.items])
        self.calls.append("write")
        return True if self._write is None else await self._write(self, batch)

    def quarantined(self, records: list[QuarantineRecord]) -> None:
        self.counted.extend(records)


def run(stage: Stage) -> None:
    async def main() -> None:
        try:
            await stage.consume([TOPIC])
        finally:
            await stage.close()

    asyncio.run(main())


def make(
    batches: list[list[FakeMessage]], write: Write | None = None, *, fail: bool = False
) -> tuple[Stage, FakeConsumer, FakeProducer]:
    calls: list[Any] = []
    consumer = FakeConsumer(calls, batches)
    producer = FakeProducer(calls, fail=fail)
    return Stage(consumer, producer, write), consumer, producer


def test_a_batch_is_committed_past_its_end_after_its_write_and_its_side_outputs_are_acked() -> None:
    async def with_dead_letter(stage: Stage, batch: Consumed[Incident]) -> bool:
        await stage.produce_durably([Output("deadletter", "k", b"letter")])
        return True

    stage, _consumer, producer = make(
        [[message(0, 5), message(1, 7, b"not json"), message(0, 6)]], with_dead_letter
    )
    run(stage)
    assert stage.batches == [[f"{5:016x}", f"{6:016x}"]], "the undecodable one is not written"
    assert stage.calls == [
        "write",
        ("produce", "deadletter"),
        "acked",
        ("produce", INVALID),
        "acked",
        ("commit", [(0, 7), (1, 8)]),
        "unsubscribe",
        "close",
        "acked",
    ]
    assert [topic for topic, _key, _value in producer.produced] == ["deadletter", INVALID]


def test_nothing_is_committed_when_a_side_output_is_not_acknowledged() -> None:
    stage, _consumer, _producer = make([[message(0, 1, b"{}")]], fail=True)
    with pytest.raises(RuntimeError, match=r"could not write to events\.invalid"):
        asyncio.run(stage.consume([TOPIC]))
    assert not [call for call in stage.calls if call[0] == "commit"]


def test_undecodable_input_is_quarantined_once_with_where_it_was_and_its_bytes() -> None:
    stage, _consumer, producer = make([[message(1, 42, b"\xff not json")]])
    run(stage)
    assert stage.batches == [[]]
    ((topic, key, value),) = producer.produced
    assert (topic, key) == (INVALID, f"{TOPIC}/1/42".encode())
    record = decode(value, QuarantineRecord)
    assert (record.stage, record.reason, record.source_topic, record.partition, record.offset) == (
        "test.stage",
        "not-json",
        TOPIC,
        1,
        42,
    )
    assert stage.counted == [record], "counted once acknowledged"
    assert ("commit", [(1, 43)]) in stage.calls, "the bad input is committed past"


def test_a_partition_revoked_during_the_write_is_not_committed() -> None:
    consumer: FakeConsumer

    async def revoking(stage: Stage, batch: Consumed[Incident]) -> bool:
        consumer.revoke(1)
        return True

    stage, consumer, _producer = make([[message(0, 3), message(1, 9)]], revoking)
    run(stage)
    assert ("commit", [(0, 4)]) in stage.calls
    assert stage.assigned == frozenset({(TOPIC, 0)})


def test_holding_pauses_the_partitions_and_seeks_back_what_was_fetched_before_the_pause() -> None:
    async def backing_off(stage: Stage, batch: Consumed[Incident]) -> bool:
        consumer.held_polls.append(message(1, 12))  # already fetched when the pause came
        return await stage.hold(0.5, batch.partitions)

    stage, consumer, _producer = make([[message(0, 3), message(1, 11)]], backing_off)
    run(stage)
    held = stage.calls[stage.calls.index("write") + 1 :]
    assert held[:3] == [("pause", [0, 1]), ("seek", 1, 12), ("resume", [0, 1])]
    assert ("commit", [(0, 4), (1, 12)]) in held


def test_a_held_batch_whose_partition_is_revoked_is_abandoned_and_the_rest_read_again() -> None:
    async def revoked_while_held(stage: Stage, batch: Consumed[Incident]) -> bool:
        consumer.revoke(1)
        return await stage.hold(30, batch.partitions)

    stage, consumer, _producer = make([[message(0, 3), message(0, 4), message(1, 11)]], revoked_while_held)
    run(stage)
    assert not [call for call in stage.calls if call[0] == "commit"]
    assert ("seek", 0, 3) in stage.calls, "the partition still ours is read again from the batch's start"
    assert ("seek", 1, 11) not in stage.calls, "the revoked one is its next owner's"
    assert ("resume", [0]) in stage.calls, "only what is still ours is resumed"


def test_a_stop_while_held_abandons_the_batch_and_leaves_the_group() -> None:
    async def stopped_while_held(stage: Stage, batch: Consumed[Incident]) -> bool:
        stage.stop()
        return await stage.hold(30, batch.partitions)

    stage, _consumer, _producer = make([[message(0, 3)]], stopped_while_held)
    run(stage)
    assert not [call for call in stage.calls if call[0] in ("commit", "seek")]
    assert stage.calls[-3:] == ["unsubscribe", "close", "acked"]


def test_waiting_for_the_acks_leaves_the_event_loop_free() -> None:
    stage, _consumer, producer = make([])
    producer.delay = 0.3

    async def main() -> int:
        ticks = 0

        async def ticking() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        task = asyncio.create_task(ticking())
        await stage.produce_durably([Output("notify.log", "k", b"v")])
        task.cancel()
        return ticks

    assert asyncio.run(main()) >= 10


def test_the_notifier_acks_each_notification_s_records_together_before_its_next_send(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kill -9 then resends at most the notification in flight."""
    path = tmp_path / "herald.yaml"
    path.write_text(
        "route:\n  receiver: hook\n"
        "receivers:\n  - {name: hook, type: webhook, url: 'http://127.0.0.1:9/hook'}\n"
        "notifier: {retry_budget_seconds: 30}\n"
    )
    config = load_config(path, env={"HERALD_KAFKA_BOOTSTRAP": "127.0.0.1:9"})
    events: list[object] = []

    class Receiver(FakeReceiver):
        async def send(self, notification: Notification) -> None:
            events.append("send")
            await super().send(notification)

    async def written(outputs: list[Output]) -> None:
        events.append(sorted(output.topic for output in outputs))

    notifier = Notifier(config, Receiver(400))
    monkeypatch.setattr(notifier, "produce_durably", written)
    try:
        batch = Batch()
        for incident in (update(1), update(2)):
            notifier._decide(batch, incident, incident.emitted_at)
        assert asyncio.run(notifier._deliver_due(batch))
    finally:
        notifier._consumer.close()
    log, deadletter = config.kafka.topics.notify_log, config.kafka.topics.deadletter
    assert events == ["send", sorted([deadletter, log]), "send", [log]]
