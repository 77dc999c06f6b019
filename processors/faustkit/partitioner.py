"""Kafka's default partitioner with a memory: murmur2 in pure Python, once per key.

Faust's producer hashes every keyed message with aiokafka's pure-Python murmur2 (as the Java
client does, so every client agrees where a key lives). The processors send the same keys
again and again (an object's clean events, an incident's grouped messages and updates), so
the answer is remembered; what it is does not change.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from functools import lru_cache

from aiokafka.partitioner import murmur2  # type: ignore[import-untyped]

REMEMBERED_KEYS = 1 << 16


@lru_cache(maxsize=REMEMBERED_KEYS)
def _index(key: bytes, partitions: int) -> int:
    return int(murmur2(key) & 0x7FFFFFFF) % partitions


def partition_of(key: bytes | None, all_partitions: Sequence[int], available: Sequence[int]) -> int:
    """Where a message with ``key`` goes: as aiokafka's DefaultPartitioner says, remembered."""
    if key is None:
        return random.choice(available or all_partitions)  # noqa: S311 (spreading load, not secrecy)
    return all_partitions[_index(bytes(key), len(all_partitions))]
