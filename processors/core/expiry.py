"""Forgetting occurrence ids once they can no longer repeat, so the ``seen`` table stays bounded.

Faust writes a table change to the changelog partition of the event being processed, so a
key may only be deleted while processing an event of the partition it belongs to. Each id
is remembered with its partition and time bucket; this queue hands back, per partition,
the ids whose bucket has passed, a few at a time, so expiry costs O(1) per event and never
stalls the stream. After a start or a rebalance the queue is rebuilt from the table, once it is whole.

It holds every live id, so its size is the worker's memory at a million ids: the keys of
one partition and bucket are packed into one bytearray, each behind a two-byte length,
about 18 bytes per 16-byte digest instead of ~200 for a tuple of Python objects.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator

EXPIRE_PER_EVENT = 4
"""Ids expired per processed event: more than one, so expiry outpaces arrivals after a pause."""

LENGTH_BYTES = 2
MAX_KEY_BYTES = 2 ** (8 * LENGTH_BYTES) - 1


class Bucket:
    """The keys of one partition added in one time bucket, packed, read from the front."""

    __slots__ = ("count", "number", "packed", "read")

    def __init__(self, number: int) -> None:
        self.number = number
        self.packed = bytearray()
        self.read = 0
        self.count = 0

    def append(self, key: bytes) -> None:
        if len(key) > MAX_KEY_BYTES:
            raise ValueError(f"a seen-table key of {len(key)} bytes (at most {MAX_KEY_BYTES})")
        self.packed += len(key).to_bytes(LENGTH_BYTES, "big")
        self.packed += key
        self.count += 1

    def pop(self) -> bytes | None:
        """The oldest key not yet handed back, or None when all were."""
        if self.read >= len(self.packed):
            return None
        start = self.read + LENGTH_BYTES
        end = start + int.from_bytes(self.packed[self.read : start], "big")
        self.read = end
        self.count -= 1
        return bytes(self.packed[start:end])


class ExpiryQueue:
    def __init__(self) -> None:
        self._queues: dict[int, deque[Bucket]] = {}

    def load(self, entries: Iterable[tuple[bytes, int, int]]) -> None:
        """(key, partition, bucket) of everything in the table, in any order: the queue holds
        exactly these (what the table holds after a rebalance)."""
        by_partition: dict[int, dict[int, Bucket]] = {}
        for key, partition, number in entries:
            buckets = by_partition.setdefault(partition, {})
            bucket = buckets.get(number)
            if bucket is None:
                bucket = buckets[number] = Bucket(number)
            bucket.append(key)
        self._queues = {
            p: deque(b for _, b in sorted(buckets.items())) for p, buckets in by_partition.items()
        }

    def add(self, partition: int, number: int, key: bytes) -> None:
        queue = self._queues.setdefault(partition, deque())
        if not queue or queue[-1].number != number:
            queue.append(Bucket(number))  # a clock stepping back only delays what follows
        queue[-1].append(key)

    def expired(
        self, partition: int, *, before: int, limit: int = EXPIRE_PER_EVENT
    ) -> Iterator[tuple[bytes, int]]:
        """Up to ``limit`` (key, bucket) of ``partition`` whose bucket is older than ``before``."""
        queue = self._queues.get(partition)
        while queue and limit > 0 and queue[0].number < before:
            key = queue[0].pop()
            if key is None:
                queue.popleft()
                continue
            limit -= 1
            yield key, queue[0].number

    def __len__(self) -> int:
        return sum(bucket.count for queue in self._queues.values() for bucket in queue)
