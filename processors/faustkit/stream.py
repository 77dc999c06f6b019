"""Reading a Faust stream as batches of records whose table writes land where Faust expects."""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import faust.streams as faust_streams

from processors.delivery.contiguous import Delivered
from processors.delivery.contiguous import contiguous as contiguous_batches
from processors.delivery.gaps import OffsetGaps, Record, is_probe


@contextmanager
def current(event: Any) -> Iterator[None]:
    """Make ``event`` Faust's current event while the records it brought are worked through.

    A table write goes to the changelog partition of the event being processed (tables are
    co-partitioned with their stream), and Faust finds it in a context variable that
    ``take_events`` leaves unset. The variable is private to faust.streams; this is the one
    place that knows it.
    """
    token = faust_streams._current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        faust_streams._current_event.reset(token)


async def batches(stream: Any, size: int, within: float) -> AsyncIterator[list[Any]]:
    """Faust's events, up to ``size`` at a time, waiting at most ``within`` seconds to fill."""
    if size == 1:
        async for event in stream.events():
            yield [event]
        return
    async for events in stream.take_events(size, within=within):
        yield events


def record_of(event: Any) -> Record:
    message = event.message
    return Record(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key,
        value=message.value,
        timestamp=message.timestamp,
        probe=is_probe(message.headers),
    )


def contiguous(
    stream: Any, gaps: OffsetGaps, *, size: int = 1, within: float = 0.0
) -> AsyncIterator[Delivered[Any]]:
    """The stream as batches of records without holes (see :mod:`processors.delivery.contiguous`),
    table writes made while one is processed going to its event's changelog partition."""
    return contiguous_batches(batches(stream, size, within), gaps, record_of=record_of, scope=current)
