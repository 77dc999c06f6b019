"""Batches of records in offset order and without holes, whatever the stream skipped.

:func:`contiguous` turns a stream's batches of events into :class:`Delivered` batches of
:class:`~processors.delivery.gaps.Record`: each event's record preceded by what the stream
skipped before it (read back), records it handed over twice left out, gap probes dropped.
Iterating a batch enters each event's scope around its records, which is where a stream
framework keeps what a table write needs (Faust's current event, see processors.faustkit);
``within(record)`` enters it again for work on a record done after the batch was read.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Generic, TypeVar

from processors.delivery.gaps import OffsetGaps, Record

E = TypeVar("E")
Scope = Callable[[E], AbstractContextManager[None]]


class Delivered(Generic[E]):
    """The records of one batch of events, in order."""

    def __init__(self, brought: list[tuple[E, list[Record]]], scope: Scope[E]) -> None:
        self._brought = brought
        self._scope = scope
        self._event_of = {id(record): event for event, records in brought for record in records}

    @classmethod
    def of(cls, records: Iterable[Record]) -> Delivered[Record]:
        """Records that need no scope (a unit test's, a replay's): each is its own event."""
        return Delivered([(record, [record]) for record in records], lambda _record: nullcontext())

    def __iter__(self) -> Iterator[Record]:
        """Each record inside its event's scope."""
        for event, records in self._brought:
            with self._scope(event):
                yield from records

    def within(self, record: Record) -> AbstractContextManager[None]:
        """The scope of the event that brought ``record``: for work on it done after iterating."""
        return self._scope(self._event_of[id(record)])

    def __len__(self) -> int:
        return sum(len(records) for _, records in self._brought)


async def contiguous(
    batches: AsyncIterable[Sequence[E]],
    gaps: OffsetGaps,
    *,
    record_of: Callable[[E], Record],
    scope: Scope[E],
) -> AsyncIterator[Delivered[E]]:
    async for events in batches:
        yield Delivered([(event, await gaps.contiguous(record_of(event))) for event in events], scope)
