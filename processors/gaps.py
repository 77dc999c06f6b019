"""Messages Faust skipped, found by their offsets and read back from the broker.

Around a restart, faust-streaming (0.15) can hand the agent a partition's messages with a
hole in them: records fetched while recovery kept the partition inactive are discarded,
and the later seek to the committed offset does not rewind when there is none (or it is
0). The kill -9 test caught it: raw offsets 24 and 26 processed, 25 never. An occurrence
lost there is lost for good, so each agent checks that its offsets advance one by one and
reads a skipped range back itself, in order, before the message that revealed it.

Offsets of ``events.raw`` and ``events.grouped`` are dense (neither is compacted nor
written in transactions), so any forward jump is a hole. Going back is Faust replaying
after a seek, which the stages already tolerate; it does not move the expectation back.

A hole at a partition's head or tail has no message on its far side to reveal it: a
partition that no worker had committed yet, moved to a survivor whose discarded fetch ran
to its end, is never delivered at all. ``rewinding_consumer`` closes that at the source:
after recovery, a source partition with no committed offset goes back to just after what
this process was handed from it, or to its beginning (what ``auto_offset_reset="earliest"``
promised in the first place).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, TopicPartition
from faust.transport.drivers import aiokafka as faust_aiokafka

from runtime.config import KafkaSettings
from runtime.kafka import client_config

log = logging.getLogger(__name__)

READ_BACK_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class Record:
    """The parts of a message the stages use, whether Faust delivered it or it was read back."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: float


def rewinding_consumer(trackers: Mapping[str, OffsetGaps]) -> type[Any]:
    """Faust's aiokafka consumer, but a never-committed partition of the trackers' topics
    resumes after what this process delivered from it, or at its beginning.

    After recovery Faust seeks every partition to its committed offset, and aiokafka's
    ``seek_to_committed`` skips a partition whose committed offset is none or 0, leaving it
    where the fetch that recovery discarded left it. Going back to the beginning every time
    would replay, at each rebalance, what this worker already processed (a restarted worker
    sees two: one when it joins, one when its dead predecessor's session expires).
    Set as the transport's ``Consumer``.
    """

    class RewindingConsumer(faust_aiokafka.Consumer):
        async def seek_to_committed(self) -> Mapping[Any, int]:
            committed: Mapping[Any, int] = await super().seek_to_committed()
            uncommitted = sorted(
                tp for tp, offset in committed.items() if not offset and tp.topic in trackers
            )
            if not uncommitted:
                return committed
            resume = {tp: trackers[tp.topic].resume_offset(tp.partition) for tp in uncommitted}
            unread = [tp for tp, offset in resume.items() if offset is None]
            log.info(
                "uncommitted partitions: %d resume after what this worker delivered, %d from their beginning",
                len(uncommitted) - len(unread),
                len(unread),
            )
            for tp, offset in resume.items():
                if offset is not None:
                    self._thread.seek(tp, offset)  # as Faust's own _seek does
            if unread:
                await self._thread.seek_to_beginning(*unread)
            return committed

    return RewindingConsumer


class OffsetGaps:
    """Per partition of one topic: the next offset expected, and reading back what was skipped."""

    def __init__(self, kafka: KafkaSettings, topic: str) -> None:
        self._kafka = kafka
        self._topic = topic
        self._expected: dict[int, int] = {}
        self._delivered: dict[int, int] = {}  # kept across rebalances: see rewinding_consumer

    def reset(self) -> None:
        """Partitions moved: expect anything at first, as after a start."""
        self._expected.clear()

    def skipped_before(self, partition: int, offset: int) -> range:
        """The offsets skipped before ``offset`` (empty unless this message jumped ahead)."""
        expected = self._expected.get(partition)
        self._expected[partition] = max(offset + 1, expected or 0)
        self._delivered[partition] = max(offset + 1, self._delivered.get(partition, 0))
        return range(expected, offset) if expected is not None and offset > expected else range(0)

    def resume_offset(self, partition: int) -> int | None:
        """The offset after the last this process was handed from ``partition``, if any."""
        return self._delivered.get(partition)

    async def read_back(self, partition: int, missing: range) -> list[Record]:
        log.warning(
            "%s[%d]: offsets %d..%d were skipped by the stream; reading them back",
            self._topic,
            partition,
            missing.start,
            missing.stop - 1,
        )
        records = await asyncio.to_thread(self._read, partition, missing)
        if len(records) < len(missing):
            log.error(
                "%s[%d]: only %d of %d skipped offsets could be read back (deleted by retention?)",
                self._topic,
                partition,
                len(records),
                len(missing),
            )
        return records

    def _read(self, partition: int, missing: range) -> list[Record]:
        consumer = Consumer(
            client_config(
                self._kafka,
                **{
                    "group.id": f"herald-read-back-{uuid.uuid4().hex}",  # never commits
                    "enable.auto.commit": False,
                    "enable.partition.eof": True,
                    "auto.offset.reset": "earliest",
                },
            )
        )
        records: list[Record] = []
        try:
            consumer.assign([TopicPartition(self._topic, partition, missing.start)])
            deadline = time.monotonic() + READ_BACK_TIMEOUT_SECONDS
            while time.monotonic() < deadline:
                message = consumer.poll(1.0)
                if message is None:
                    continue
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:  # nothing more to read
                        break
                    continue
                offset = message.offset()
                if offset is None or offset >= missing.stop:
                    break
                records.append(
                    Record(
                        topic=self._topic,
                        partition=partition,
                        offset=offset,
                        key=message.key(),
                        value=message.value(),
                        timestamp=(message.timestamp()[1] or 0) / 1000,
                    )
                )
        finally:
            consumer.close()
        return records
