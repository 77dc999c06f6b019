"""Reading back what the Faust stream skipped, from the real broker (processors.delivery.gaps)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka import TopicPartition as AIOKafkaTopicPartition
from confluent_kafka import Producer

from processors.delivery.gaps import PROBE_HEADER, OffsetGaps, Record, probe_stalled
from processors.faustkit.transport import RewindingConsumer, track_gaps
from tests.support.kafka import Namespace, ensure_namespace_topics

pytestmark = pytest.mark.integration


def fill(namespace: Namespace, topic: str, partition: int, count: int) -> None:
    producer = Producer({"bootstrap.servers": namespace.bootstrap, "enable.idempotence": True})
    for index in range(count):
        producer.produce(topic, key=f"k{index}".encode(), value=f"v{index}".encode(), partition=partition)
    assert producer.flush(30) == 0


def test_the_skipped_range_comes_back_whole_and_in_order(namespace: Namespace) -> None:
    ensure_namespace_topics(namespace)
    topic = namespace.topic("events.raw")
    fill(namespace, topic, partition=1, count=10)
    gaps = OffsetGaps(namespace.config.kafka, topic)
    gaps.skipped_before(1, 2)
    missing = gaps.skipped_before(1, 7)
    records = asyncio.run(gaps.read_back(1, missing))
    assert [(r.offset, r.key, r.value) for r in records] == [
        (offset, f"k{offset}".encode(), f"v{offset}".encode()) for offset in (3, 4, 5, 6)
    ]
    assert {(r.topic, r.partition) for r in records} == {(topic, 1)}
    assert all(r.timestamp > 1_600_000_000 for r in records)


def test_offsets_the_broker_no_longer_has_are_reported_not_invented(
    namespace: Namespace, caplog: pytest.LogCaptureFixture
) -> None:
    ensure_namespace_topics(namespace)
    topic = namespace.topic("events.raw")
    fill(namespace, topic, partition=0, count=3)
    gaps = OffsetGaps(namespace.config.kafka, topic)
    records = asyncio.run(gaps.read_back(0, range(1, 9)))
    assert [r.offset for r in records] == [1, 2]
    assert "only 2 of 8 skipped offsets could be read back" in caplog.text


class ThreadOf:
    """The calls the rewinding consumer makes on Faust's consumer thread, on a real aiokafka consumer."""

    def __init__(self, consumer: AIOKafkaConsumer) -> None:
        self.seek_to_committed = consumer.seek_to_committed
        self.seek_to_beginning = consumer.seek_to_beginning
        self.seek = consumer.seek
        self._consumer = consumer

    async def earliest_offsets(
        self, *partitions: AIOKafkaTopicPartition
    ) -> dict[AIOKafkaTopicPartition, int]:
        return dict(await self._consumer.beginning_offsets(list(partitions)))


class NoApp:
    """Stands for the Faust app the trackers belong to: only the consumer's seek is under test."""


def rewinding_over(consumer: AIOKafkaConsumer, trackers: dict[str, OffsetGaps]) -> RewindingConsumer:
    """faustkit's consumer without a Faust app, seeking on a real aiokafka consumer."""
    app = NoApp()
    track_gaps(app, trackers)
    rewinding = RewindingConsumer.__new__(RewindingConsumer)
    rewinding.app = app
    rewinding._thread = ThreadOf(consumer)
    return rewinding


class FaustConsumerOf:
    """What ``probe_stalled`` asks of Faust's consumer, answered by a real aiokafka consumer."""

    def __init__(self, consumer: AIOKafkaConsumer) -> None:
        self._consumer = consumer

    def assignment(self) -> set[AIOKafkaTopicPartition]:
        return set(self._consumer.assignment())

    async def highwaters(self, *partitions: AIOKafkaTopicPartition) -> dict[AIOKafkaTopicPartition, int]:
        return dict(await self._consumer.end_offsets(list(partitions)))


@pytest.mark.fault
def test_after_recovery_a_partition_resumes_after_what_was_delivered_or_committed(
    namespace: Namespace,
) -> None:
    """The failover hole: a survivor's discarded fetch left the position at the end; the seek must
    undo it, but not replay what this worker was already handed (a rebalance repeats the seek, and
    Faust hands records over before it)."""
    ensure_namespace_topics(namespace)
    raw, clean = namespace.topic("events.raw"), namespace.topic("events.clean")
    for topic in (raw, clean):
        for partition in (0, 1):
            fill(namespace, topic, partition=partition, count=10)
    # Partition 1 is committed at 4 in every case; events.clean is not tracked.
    untracked = {(clean, 0): 10, (clean, 1): 4}
    fresh = OffsetGaps(namespace.config.kafka, raw)
    assert asyncio.run(seek_after_a_discarded_fetch(namespace, {raw: fresh})) == {
        (raw, 0): 0,
        (raw, 1): 4,
        **untracked,
    }
    handed = OffsetGaps(namespace.config.kafka, raw)
    for partition, through in ((0, 6), (1, 8)):
        for offset in range(through):
            handed.skipped_before(partition, offset)
    handed.reset()  # the rebalance: gap expectations go, what was delivered stays
    assert asyncio.run(seek_after_a_discarded_fetch(namespace, {raw: handed})) == {
        (raw, 0): 6,
        (raw, 1): 8,
        **untracked,
    }
    behind = OffsetGaps(namespace.config.kafka, raw)
    for offset in range(2):  # handed before another worker committed further
        behind.skipped_before(1, offset)
    behind.reset()
    assert asyncio.run(seek_after_a_discarded_fetch(namespace, {raw: behind})) == {
        (raw, 0): 0,
        (raw, 1): 4,
        **untracked,
    }
    # Faust's own consumer, for contrast: the uncommitted partition stays past what was never delivered.
    faust_own = {(raw, 0): 10, (raw, 1): 4, **untracked}
    assert asyncio.run(seek_after_a_discarded_fetch(namespace, {})) == faust_own


async def seek_after_a_discarded_fetch(
    namespace: Namespace, trackers: dict[str, OffsetGaps]
) -> dict[tuple[str, int], int]:
    """Fetch every partition to its end, commit partition 1 at 4, then seek as Faust does after recovery."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=namespace.bootstrap,
        group_id=f"{namespace.prefix}rewind-{uuid.uuid4().hex[:8]}",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        partitions = [
            AIOKafkaTopicPartition(namespace.topic(suffix), partition)
            for suffix in ("events.raw", "events.clean")
            for partition in (0, 1)
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        fetched: dict[AIOKafkaTopicPartition, int] = {}
        deadline = asyncio.get_running_loop().time() + 60
        while sum(fetched.values()) < 40:
            assert asyncio.get_running_loop().time() < deadline, f"fetched only {fetched}"
            for tp, records in (await consumer.getmany(timeout_ms=1000)).items():
                fetched[tp] = fetched.get(tp, 0) + len(records)
        await consumer.commit({tp: 4 for tp in partitions if tp.partition == 1})
        rewinding = rewinding_over(consumer, trackers)
        await rewinding.seek_to_committed()
        return {(tp.topic, tp.partition): await consumer.position(tp) for tp in partitions}
    finally:
        await consumer.stop()


@pytest.mark.fault
def test_a_hole_at_a_quiet_tail_is_probed_revealed_and_read_back(namespace: Namespace) -> None:
    """The failover tail hole: recovery sought to the committed offset, the records fetched after it
    were discarded, and no later message comes. The probe is that later message."""
    ensure_namespace_topics(namespace)
    raw = namespace.topic("events.raw")
    for partition in (0, 1):
        fill(namespace, raw, partition=partition, count=10)
    gaps = OffsetGaps(namespace.config.kafka, raw)
    probed, revealed, read_back = asyncio.run(probe_a_discarded_tail(namespace, gaps))
    assert probed == [(raw, 1)], "only the partition holding undelivered messages is probed"
    assert revealed == (10, range(4, 10))
    assert [(r.offset, r.value, r.probe) for r in read_back] == [
        (offset, f"v{offset}".encode(), False) for offset in range(4, 10)
    ]


async def probe_a_discarded_tail(
    namespace: Namespace, gaps: OffsetGaps
) -> tuple[list[tuple[str, int]], tuple[int, range], list[Record]]:
    """Partition 0 delivered to its end; partition 1 committed at 4, its tail fetched and dropped."""
    raw = gaps.topic
    consumer = AIOKafkaConsumer(
        bootstrap_servers=namespace.bootstrap,
        group_id=f"{namespace.prefix}probe-{uuid.uuid4().hex[:8]}",
        enable_auto_commit=False,
    )
    producer = Producer({"bootstrap.servers": namespace.bootstrap, "enable.idempotence": True})
    await consumer.start()
    try:
        partitions = [AIOKafkaTopicPartition(raw, partition) for partition in (0, 1)]
        consumer.assign(partitions)
        await consumer.commit({partitions[0]: 10, partitions[1]: 4})
        rewinding = rewinding_over(consumer, {raw: gaps})
        await rewinding.seek_to_committed()
        await fetch_until(consumer, lambda tp, offset: tp.partition == 1 and offset == 9)  # and drop

        async def send_probe(topic: str, partition: int) -> None:
            producer.produce(topic, value=b"", partition=partition, headers=[(PROBE_HEADER, b"1")])
            assert producer.flush(30) == 0

        probed = await probe_stalled(FaustConsumerOf(consumer), {raw: gaps}, 0.0, send_probe)
        probe = await fetch_until(consumer, lambda tp, _offset: tp.partition == 1)
        missing = gaps.skipped_before(1, probe)
        return probed, (probe, missing), await gaps.read_back(1, missing)
    finally:
        await consumer.stop()


async def fetch_until(
    consumer: AIOKafkaConsumer, wanted: Callable[[AIOKafkaTopicPartition, int], bool]
) -> int:
    """Fetch (and drop) records until one is ``wanted``; its offset."""
    deadline = asyncio.get_running_loop().time() + 60
    while asyncio.get_running_loop().time() < deadline:
        for tp, records in (await consumer.getmany(timeout_ms=1000)).items():
            for record in records:
                if wanted(tp, record.offset):
                    return int(record.offset)
    raise AssertionError("the wanted record never came")
