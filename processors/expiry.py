"""Forgetting occurrence ids once they can no longer repeat, so the ``seen`` table stays bounded.

Faust writes a table change to the changelog partition of the event being processed, so a
key may only be deleted while processing an event of the partition it belongs to. Each id
is remembered with its partition and time bucket; this queue hands back, per partition,
the ids whose bucket has passed, a few at a time, so expiry costs O(1) per event and never
stalls the stream. After a start or a rebalance the queue is rebuilt from the table once.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator

EXPIRE_PER_EVENT = 4
"""Ids expired per processed event: more than one, so expiry outpaces arrivals after a pause."""


class ExpiryQueue:
    def __init__(self) -> None:
        self._queues: dict[int, deque[tuple[int, str]]] = {}
        self.loaded = False

    def reset(self) -> None:
        """Partitions moved: rebuild from the table at the next event."""
        self._queues.clear()
        self.loaded = False

    def load(self, entries: Iterable[tuple[str, int, int]]) -> None:
        """(key, partition, bucket) of everything in the table, in any order."""
        by_partition: dict[int, list[tuple[int, str]]] = {}
        for key, partition, bucket in entries:
            by_partition.setdefault(partition, []).append((bucket, key))
        self._queues = {p: deque(sorted(items)) for p, items in by_partition.items()}
        self.loaded = True

    def add(self, partition: int, bucket: int, key: str) -> None:
        self._queues.setdefault(partition, deque()).append((bucket, key))

    def expired(
        self, partition: int, *, before: int, limit: int = EXPIRE_PER_EVENT
    ) -> Iterator[tuple[str, int]]:
        """Up to ``limit`` (key, bucket) of ``partition`` whose bucket is older than ``before``."""
        queue = self._queues.get(partition)
        while queue and limit > 0 and queue[0][0] < before:
            bucket, key = queue.popleft()
            limit -= 1
            yield key, bucket

    def __len__(self) -> int:
        return sum(len(q) for q in self._queues.values())
