"""Faust's aiokafka transport with a consumer that resumes where this process left off.

Registered under the ``herald`` URL scheme through Faust's own plug-in point (the
``faust.transports`` entry point in pyproject.toml), so an app whose broker URL is
``herald://host:port`` gets it; nothing is patched. The app's offset trackers are found
by app: :func:`track_gaps` says which they are.

After recovery Faust seeks every partition to its committed offset, and aiokafka's
``seek_to_committed`` skips a partition whose committed offset is none or 0, leaving it
where the fetch that recovery discarded left it. Faust also resumes the flow before that
seek, so a partition can be handed records that the seek then hands over again: a restarted
worker processed them twice (87 clean events for 40 in the kill -9 test). Going back to the
beginning every time would replay, at each rebalance, what this worker already processed.
So a partition of a tracked topic resumes after what this process was already handed from
it, or, never committed, at its beginning; each tracker learns where, and a first delivery
beyond that reveals a hole (see :mod:`processors.delivery.gaps`).
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Mapping
from typing import Any, ClassVar

from faust.transport.drivers import aiokafka as faust_aiokafka

from processors.delivery.gaps import OffsetGaps

log = logging.getLogger(__name__)

SCHEME = "herald"
"""The broker URL scheme of this transport (see pyproject.toml's ``faust.transports``)."""

_trackers: weakref.WeakKeyDictionary[Any, Mapping[str, OffsetGaps]] = weakref.WeakKeyDictionary()


def track_gaps(app: Any, trackers: Mapping[str, OffsetGaps]) -> None:
    """The trackers of ``app``'s source topics: where their partitions resume after recovery."""
    _trackers[app] = trackers


class RewindingConsumer(faust_aiokafka.Consumer):
    async def seek_to_committed(self) -> Mapping[Any, int]:
        committed: Mapping[Any, int] = await super().seek_to_committed()
        trackers = _trackers.get(self.app, {})
        resumed, unread = 0, []
        for tp in sorted(tp for tp in committed if tp.topic in trackers):
            tracker, committed_offset = trackers[tp.topic], committed[tp] or 0
            handed = tracker.resume_offset(tp.partition)
            if handed is not None and handed > committed_offset:
                self._thread.seek(tp, handed)  # as Faust's own _seek does
                tracker.expect(tp.partition, handed)
                resumed += 1
            elif committed_offset:
                tracker.expect(tp.partition, committed_offset)
            else:
                unread.append(tp)
        if unread:
            await self._thread.seek_to_beginning(*unread)
            for tp, offset in (await self._thread.earliest_offsets(*unread)).items():
                trackers[tp.topic].expect(tp.partition, offset)
        if resumed or unread:
            log.info(
                "after recovery: %d partitions resume after what this worker was handed, "
                "%d never committed start at their beginning",
                resumed,
                len(unread),
            )
        return committed


class Transport(faust_aiokafka.Transport):
    Consumer: ClassVar[type[Any]] = RewindingConsumer
