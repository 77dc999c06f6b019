"""A table that forgets: keys not written in the current time bucket or the last are deleted.

Faust writes a table change to the changelog partition of the event being processed, so a
key is deleted only while an event of its own partition is (see :mod:`processors.core.expiry`).
Values are JSON ``[bucket, partition, ...]``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from processors.core.expiry import ExpiryQueue
from processors.stages.ports import Table


class Remembered:
    def __init__(self, table: Table, *, on_forgotten: Callable[[], None] = lambda: None) -> None:
        self._table = table
        self._queue = ExpiryQueue()
        self._on_forgotten = on_forgotten

    def get(self, key: bytes) -> list[Any] | None:
        stored = self._table.get(key)
        return orjson.loads(stored) if stored else None

    def put(self, key: bytes, bucket: int, partition: int, *rest: object) -> None:
        """Remember ``key`` in ``bucket``, then forget a few of the partition's expired keys."""
        self._table[key] = orjson.dumps([bucket, partition, *rest])
        self._queue.add(partition, bucket, key)
        for expired, remembered_bucket in self._queue.expired(partition, before=bucket - 1):
            value = self._table.get(expired)
            if value and orjson.loads(value)[0] == remembered_bucket:
                del self._table[expired]
                self._on_forgotten()

    def reload(self) -> None:
        """Index what the table holds now: after a rebalance left it whole."""
        entries = ((key, orjson.loads(value)) for key, value in self._table.items() if value)
        self._queue.load((key, value[1], value[0]) for key, value in entries)

    def __len__(self) -> int:
        return len(self._queue)
