"""What the processor writes fits, and what Kafka still refuses stops nothing.

Every output is bounded (a clean event by schemas/bounds.py, an incident by its samples and
objects), but one grouped message carries an incident's occurrences from a whole batch:
:func:`runs` cuts them by encoded size to what the grouped topic takes, as the broker says.

A message too large for Kafka is refused by the client at send (Faust wraps the error), or
by the broker later, in the send's future, together with the batch it travelled in. Either
way :class:`Outputs` quarantines the inputs the message was made from, counts the refusal
and goes on: raised, the error would stop the agent and the worker with it; unread in its
future, it would lose the message without a word.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from processors.delivery.gaps import Record
from processors.metrics import OUTPUTS_REFUSED

log = logging.getLogger(__name__)

RECORD_OVERHEAD = 1024
"""Bytes a record takes beyond its value, with room to spare: the record batch's header (61),
the record's own varints and the key (an incident fingerprint, 32)."""
GROUP_INPUT_OVERHEAD = 128
"""Bytes of a grouped message around its occurrences: schema name, version, tick, brackets."""
OCCURRENCE_OVERHEAD = 96
"""Bytes of a grouped occurrence around its clean event: two field names and two int64s."""
OUTPUT_TOO_LARGE = "output-too-large"
"""The quarantine reason of an input whose output Kafka refused for its size."""
_SHOWN_CAUSES = 3


def grouped_budget(limit: int) -> int:
    """Bytes the occurrences of one grouped message may take, separators included, on a topic
    that takes records of up to ``limit`` bytes."""
    return limit - RECORD_OVERHEAD - GROUP_INPUT_OVERHEAD


def runs(sizes: Sequence[int], *, budget: int, most: int) -> Iterator[slice]:
    """Consecutive runs of the items whose ``sizes`` are given, in order and covering them all:
    none holds more than ``most`` items or more than ``budget`` bytes (one separator per item),
    but for an item over the budget, which goes alone."""
    start, used = 0, 0
    for index, size in enumerate(sizes):
        if index > start and (index - start >= most or used + size + 1 > budget):
            yield slice(start, index)
            start, used = index, 0
        used += size + 1
    if start < len(sizes):
        yield slice(start, len(sizes))


def _root(error: BaseException) -> BaseException:
    """The Kafka error under Faust's wrapping: what the metric and the log name."""
    while error.__cause__ is not None:
        error = error.__cause__
    return error


@dataclass(frozen=True, slots=True)
class Cause:
    """An input an output was made from: quarantined in its place if Kafka refuses the output."""

    record: Record
    stage: str
    identity: str
    """What the output carried, for the log: an occurrence id or an incident, never content."""


Headers = Mapping[str, bytes] | None
Send = Callable[[str, bytes | None, bytes | None, int | None, Headers], Awaitable["asyncio.Future[Any]"]]
"""(topic, key, value, partition, headers) -> the future of the message's delivery."""
Quarantine = Callable[[Cause, str], Awaitable[None]]
"""(cause, error) -> the input is on the quarantine topic with reason :data:`OUTPUT_TOO_LARGE`."""
TooLarge = Callable[[BaseException | None], bool]
"""Whether an error is Kafka refusing a message for its size (the client's own error types)."""


class Outputs:
    """Sends the processor's messages without waiting for each, and sees to each one's fate."""

    def __init__(self, send: Send, quarantine: Quarantine, *, too_large: TooLarge) -> None:
        self._send = send
        self._quarantine = quarantine
        self._too_large = too_large
        self._settling: set[asyncio.Task[None]] = set()  # referenced until done: the loop holds them weakly

    async def publish(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        *,
        causes: Sequence[Cause] = (),
        partition: int | None = None,
        headers: Headers = None,
    ) -> None:
        """Hand a message to the producer, which Faust flushes before every offset commit."""
        size = len(value or b"")
        try:
            delivery = await self._send(topic, key, value, partition, headers)
        except Exception as exc:
            if not self._too_large(exc):
                raise
            await self._refused(topic, size, exc, causes)
            return
        delivery.add_done_callback(partial(self._delivered, topic, size, causes))

    def _delivered(
        self, topic: str, size: int, causes: Sequence[Cause], delivery: asyncio.Future[Any]
    ) -> None:
        error = None if delivery.cancelled() else delivery.exception()
        if error is None:
            return
        task = asyncio.ensure_future(self._settle(topic, size, error, causes))
        self._settling.add(task)
        task.add_done_callback(self._settling.discard)

    async def _settle(self, topic: str, size: int, error: BaseException, causes: Sequence[Cause]) -> None:
        try:
            await self._refused(topic, size, error, causes)
        except Exception:
            log.exception("a refused message to %s could not be quarantined", topic)

    async def _refused(self, topic: str, size: int, error: BaseException, causes: Sequence[Cause]) -> None:
        """Count the refusal; quarantine the inputs of a message too large, or say what was lost."""
        root = _root(error)
        OUTPUTS_REFUSED.labels(topic, type(root).__name__).inc()
        what = f"its {size}-byte message to {topic} was refused: {root}"  # Kafka's errors name their class
        if self._too_large(error) and causes:
            for cause in causes:
                await self._quarantine(cause, f"{cause.identity}: {what}")
            return
        shown = ", ".join(
            f"{c.identity} ({c.record.topic}[{c.record.partition}]@{c.record.offset})"
            for c in causes[:_SHOWN_CAUSES]
        )
        more = f" and {len(causes) - _SHOWN_CAUSES} more" if len(causes) > _SHOWN_CAUSES else ""
        log.error("output lost, %s; made from %s", what, f"{shown}{more}" if causes else "no input")
