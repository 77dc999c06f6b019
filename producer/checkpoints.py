"""Reading the last resume point of a watch back from the compacted checkpoints topic."""

from __future__ import annotations

import logging
import time
import uuid

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from runtime.config import KafkaSettings
from runtime.kafka import client_config
from schemas import ProducerCheckpoint, SchemaError, decode

log = logging.getLogger(__name__)


def checkpoint_key(cluster: str, *, api: str, namespace: str | None, selectors: str = "") -> str:
    """What was watched: replicas of the same watch share (and may resume from) one checkpoint."""
    scope = namespace or "*"
    return f"{cluster}/{api}/{scope}" + (f"?{selectors}" if selectors else "")


def load_checkpoints(
    kafka: KafkaSettings, keys: set[str], *, timeout: float = 30.0
) -> dict[str, ProducerCheckpoint]:
    """Read the checkpoints topic to its end and keep the latest checkpoint of each key."""
    topic = kafka.topics.checkpoints
    consumer = Consumer(
        client_config(
            kafka,
            **{
                "group.id": f"herald-checkpoint-reader-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
            },
        )
    )
    found: dict[str, ProducerCheckpoint] = {}
    try:
        metadata = consumer.list_topics(topic, timeout=timeout).topics[topic]
        partitions = [TopicPartition(topic, p, OFFSET_BEGINNING) for p in metadata.partitions]
        ends = {tp.partition: consumer.get_watermark_offsets(tp, timeout=timeout)[1] for tp in partitions}
        remaining = {p for p, end in ends.items() if end > 0}
        consumer.assign(partitions)
        deadline = time.monotonic() + timeout
        while remaining:
            if time.monotonic() > deadline:
                raise TimeoutError(f"could not read {topic} to its end within {timeout:.0f}s")
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            partition, offset = message.partition(), message.offset()
            if partition is not None and offset is not None and offset + 1 >= ends[partition]:
                remaining.discard(partition)
            key = (message.key() or b"").decode(errors="replace")
            if key not in keys or message.value() is None:
                continue
            try:
                found[key] = decode(message.value() or b"", ProducerCheckpoint)
            except SchemaError as exc:
                log.warning("ignoring unreadable checkpoint for %s: %s", key, exc)
    finally:
        consumer.close()
    return found
