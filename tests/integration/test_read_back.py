"""Reading back what the Faust stream skipped, from the real broker (processors.gaps)."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka import TopicPartition as AIOKafkaTopicPartition
from confluent_kafka import Producer

from processors.gaps import OffsetGaps, rewinding_consumer
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


def test_after_recovery_a_never_committed_partition_resumes_after_what_was_delivered(
    namespace: Namespace,
) -> None:
    """The failover hole: a survivor's discarded fetch left the position at the end; the seek must
    undo it, but not replay what this worker was already handed (a rebalance repeats the seek)."""
    ensure_namespace_topics(namespace)
    raw, clean = namespace.topic("events.raw"), namespace.topic("events.clean")
    for topic in (raw, clean):
        for partition in (0, 1):
            fill(namespace, topic, partition=partition, count=10)
    # Partition 1 is committed at 4 in every case; events.clean is not tracked.
    untouched = {(raw, 1): 4, (clean, 0): 10, (clean, 1): 4}
    fresh = OffsetGaps(namespace.config.kafka, raw)
    assert asyncio.run(seek_after_a_discarded_fetch(namespace, {raw: fresh})) == {(raw, 0): 0, **untouched}
    handed = OffsetGaps(namespace.config.kafka, raw)
    for offset in range(6):
        handed.skipped_before(0, offset)
    handed.reset()  # the rebalance: gap expectations go, what was delivered stays
    assert asyncio.run(seek_after_a_discarded_fetch(namespace, {raw: handed})) == {(raw, 0): 6, **untouched}
    # Faust's own consumer, for contrast: the uncommitted partition stays past what was never delivered.
    assert asyncio.run(seek_after_a_discarded_fetch(namespace, {})) == {(raw, 0): 10, **untouched}


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
        consumer_class = rewinding_consumer(trackers)
        rewinding = consumer_class.__new__(consumer_class)  # no Faust app: only its seek is under test
        rewinding._thread = ThreadOf(consumer)
        await rewinding.seek_to_committed()
        return {(tp.topic, tp.partition): await consumer.position(tp) for tp in partitions}
    finally:
        await consumer.stop()
