"""Messages Faust skipped, found by their offsets and read back from the broker.

Around a restart, faust-streaming (0.15) can hand the agent a partition's messages with a
hole in them: records fetched while recovery kept the partition inactive are discarded,
and the later seek to the committed offset does not rewind when there is none (or it is
0). The kill -9 test caught it: raw offsets 24 and 26 processed, 25 never. An occurrence
lost there is lost for good, so each agent checks that its offsets advance one by one and
reads a skipped range back itself, in order, before the message that revealed it.

Offsets of ``events.raw`` and ``events.grouped`` are dense (neither is compacted nor
written in transactions), so any forward jump is a hole. Going back is Faust delivering
again, after its own seek, what it had queued before: an offset this process was already
handed is skipped (a restarted worker otherwise processed a partition twice, 110 clean
events for 40), and it does not move the expectation back.

A hole at a partition's head or tail has no message on its far side to reveal it: a
partition that no worker had committed yet, moved to a survivor whose discarded fetch ran
to its end, is never delivered at all. The worker's consumer
(:mod:`processors.faustkit.transport`) closes that at the source:
after recovery, a source partition goes back to just after what this process was handed
from it when that is past its committed offset, or, with no committed offset, to its
beginning (what ``auto_offset_reset="earliest"`` promised in the first place).

A hole at a tail is harder: Faust can discard what it fetched around recovery's seek, so the
consumer's position is at the partition's end while this worker was handed nothing past
the committed offset, and no later message may ever come. That consumer therefore
also tells each tracker where its partitions were sought to, and ``probe_stalled`` sends a
probe (an empty message with the ``herald-gap-probe`` header) to a partition that has
messages beyond what was delivered but delivered nothing for a while. The probe is the
later message: its arrival reveals the hole, which is read back as any other, and the
agents then drop it. A probe sent without need (a partition merely slow) is harmless.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, TopicPartition

from processors.metrics import READ_BACK, REDELIVERED
from runtime.config import KafkaSettings
from runtime.kafka import client_config

log = logging.getLogger(__name__)

READ_BACK_TIMEOUT_SECONDS = 30.0
PROBE_HEADER = "herald-gap-probe"
"""Marks the processor's own probe messages on the topics it consumes; every reader skips them."""


def is_probe(headers: Iterable[tuple[str, object]] | Mapping[str, object] | None) -> bool:
    """Whether a message with these headers (aiokafka's and confluent's lists, or a mapping) is a probe."""
    if not headers:
        return False
    names = headers.keys() if isinstance(headers, Mapping) else (name for name, _ in headers)
    return PROBE_HEADER in names


@dataclass(frozen=True, slots=True)
class Record:
    """The parts of a message the stages use, whether Faust delivered it or it was read back."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: float
    probe: bool = False


class OffsetGaps:
    """Per partition of one topic: the next offset expected, and reading back what was skipped."""

    def __init__(self, kafka: KafkaSettings, topic: str) -> None:
        self._kafka = kafka
        self._topic = topic
        self._expected: dict[int, int] = {}
        self._delivered: dict[int, int] = {}  # kept across rebalances: see faustkit.transport
        self._active: dict[int, float] = {}  # monotonic time of the last delivery, seek or probe

    @property
    def topic(self) -> str:
        return self._topic

    def reset(self) -> None:
        """Partitions moved: expect anything at first, as after a start."""
        self._expected.clear()
        self._active.clear()

    def expect(self, partition: int, offset: int) -> None:
        """The stream was sought to ``offset``: a first delivery beyond it reveals a hole.

        What this process was already handed stays handed: Faust may skip re-delivering it.
        """
        self._expected[partition] = max(offset, self._delivered.get(partition, 0))
        self._active[partition] = time.monotonic()

    def handed(self, partition: int, offset: int) -> bool:
        """Whether this process was handed ``offset`` already: Faust delivering again what it had
        queued before its own seek after recovery. The stages processed it; it is skipped."""
        return offset < self._delivered.get(partition, 0)

    async def contiguous(self, record: Record) -> list[Record]:
        """This record, preceded by any the stream skipped before it, gap probes left out;
        nothing if this process was handed it already."""
        if self.handed(record.partition, record.offset):
            REDELIVERED.labels(record.topic).inc()
            return []
        missing = self.skipped_before(record.partition, record.offset)
        records = [record]
        if missing:
            earlier = await self.read_back(record.partition, missing)
            READ_BACK.labels(record.topic).inc(len(earlier))
            records = [*earlier, record]
        return [r for r in records if not r.probe]

    def skipped_before(self, partition: int, offset: int) -> range:
        """The offsets skipped before ``offset`` (empty unless this message jumped ahead)."""
        expected = self._expected.get(partition)
        self._expected[partition] = max(offset + 1, expected or 0)
        self._delivered[partition] = max(offset + 1, self._delivered.get(partition, 0))
        self._active[partition] = time.monotonic()
        return range(expected, offset) if expected is not None and offset > expected else range(0)

    def quiet(self, idle_seconds: float) -> list[int]:
        """Partitions with a known expectation that delivered nothing for ``idle_seconds``."""
        now = time.monotonic()
        return sorted(
            partition
            for partition, since in self._active.items()
            if partition in self._expected and now - since >= idle_seconds
        )

    def behind(self, partition: int, end: int) -> bool:
        """Whether the partition holds messages (up to ``end``) beyond what was delivered."""
        expected = self._expected.get(partition)
        return expected is not None and end > expected

    def probed(self, partition: int) -> None:
        """A probe is on its way: wait another idle period before the next."""
        self._active[partition] = time.monotonic()

    def resume_offset(self, partition: int) -> int | None:
        """The offset after the last this process was handed from ``partition``, if any."""
        return self._delivered.get(partition)

    async def read_back(self, partition: int, missing: range) -> list[Record]:
        """The records at ``missing``, probes among them included (the caller drops those)."""
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
                        probe=is_probe(message.headers()),
                    )
                )
        finally:
            consumer.close()
        return records


async def probe_stalled(
    consumer: Any,
    trackers: Mapping[str, OffsetGaps],
    idle_seconds: float,
    send_probe: Callable[[str, int], Awaitable[None]],
) -> list[tuple[str, int]]:
    """Probe every assigned source partition that holds undelivered messages and has been quiet.

    ``consumer`` is Faust's (its ``assignment`` and ``highwaters``); what was probed is returned.
    """
    quiet_partitions = [
        (topic, partition) for topic, tracker in trackers.items() for partition in tracker.quiet(idle_seconds)
    ]
    if not quiet_partitions:  # as before the consumer started: nothing was sought yet
        return []
    assigned = {(tp.topic, tp.partition): tp for tp in consumer.assignment()}
    quiet = [assigned[key] for key in quiet_partitions if key in assigned]
    if not quiet:
        return []
    ends: Mapping[Any, int] = await consumer.highwaters(*quiet)
    probed: list[tuple[str, int]] = []
    for tp in quiet:
        tracker = trackers[tp.topic]
        end = ends.get(tp)
        if end is None or not tracker.behind(tp.partition, end):
            continue
        log.info(
            "%s[%d]: quiet, messages up to %d undelivered; sending a gap probe", tp.topic, tp.partition, end
        )
        await send_probe(tp.topic, tp.partition)
        tracker.probed(tp.partition)
        probed.append((tp.topic, tp.partition))
    return probed
