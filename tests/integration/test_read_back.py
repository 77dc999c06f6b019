"""Reading back what the Faust stream skipped, from the real broker (processors.gaps)."""

from __future__ import annotations

import asyncio

import pytest
from confluent_kafka import Producer

from processors.gaps import OffsetGaps
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
