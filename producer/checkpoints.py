"""Reading the last resume point of a watch back from the compacted checkpoints topic."""

from __future__ import annotations

import logging
import uuid

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from runtime.config import KafkaSettings
from runtime.kafka import Patience, client_config, has_leaders, not_yet_served
from schemas import ProducerCheckpoint, SchemaError, decode

log = logging.getLogger(__name__)


def checkpoint_key(cluster: str, *, api: str, namespace: str | None, selectors: str = "") -> str:
    """What was watched: replicas of the same watch share (and may resume from) one checkpoint."""
    scope = namespace or "*"
    return f"{cluster}/{api}/{scope}" + (f"?{selectors}" if selectors else "")


def load_checkpoints(
    kafka: KafkaSettings, keys: set[str], *, timeout: float = 30.0
) -> dict[str, ProducerCheckpoint]:
    """Read the checkpoints topic to its end and keep the latest checkpoint of each key.

    A partition created a moment ago can have a leader in the metadata before that broker
    serves it, and a broker can be away for a while: both are waited out, logging each
    pause, for as long as it takes. Exiting would only restart the producer into the same
    wait, and resuming without its checkpoint would repeat a whole list.
    """
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
        ends = _end_offsets(consumer, topic, timeout)
        remaining = {p for p, end in ends.items() if end > 0}
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in ends])
        stalled = Patience(log)
        while remaining:
            message = consumer.poll(0.5)
            if message is None or message.error():
                if stalled.waited > timeout:
                    stalled.pause(f"{topic} partitions {sorted(remaining)} to be read to their ends")
                continue
            stalled = Patience(log)
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


BROKER_AWAY = frozenset({KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN})
"""A broker that does not answer (restarting, not up yet): waited for like a partition not served."""


def _end_offsets(consumer: Consumer, topic: str, timeout: float) -> dict[int, int]:
    """Each partition's end offset, once every partition is served by its leader."""
    patience = Patience(log)
    while True:
        try:
            metadata = consumer.list_topics(topic, timeout=timeout).topics.get(topic)
            if not has_leaders(metadata, 1):
                patience.pause(f"{topic} to have a leader for every partition")
                continue
            ends: dict[int, int] = {}
            for partition in sorted(metadata.partitions):
                _low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=timeout)
                ends[partition] = int(high)
            return ends
        except KafkaException as exc:
            error = exc.args[0]
            away = isinstance(error, KafkaError) and error.code() in BROKER_AWAY
            if not (away or not_yet_served(exc)):
                raise
            patience.pause(f"{topic} to be served: {error.str() if isinstance(error, KafkaError) else error}")
