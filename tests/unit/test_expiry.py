from __future__ import annotations

import pytest

from processors.core.expiry import ExpiryQueue


def test_hands_back_only_old_ids_of_the_partition_a_few_at_a_time() -> None:
    queue = ExpiryQueue()
    queue.load([(b"a", 0, 5), (b"b", 0, 3), (b"c", 1, 3), (b"d", 0, 9)])
    queue.add(0, 10, b"e")
    assert list(queue.expired(0, before=6, limit=1)) == [(b"b", 3)]
    assert list(queue.expired(0, before=6)) == [(b"a", 5)]
    assert list(queue.expired(0, before=6)) == []
    assert list(queue.expired(1, before=4)) == [(b"c", 3)]
    assert list(queue.expired(0, before=11)) == [(b"d", 9), (b"e", 10)]
    assert len(queue) == 0


def test_keys_of_any_length_come_back_exactly_in_the_order_added() -> None:
    keys = [b"", b"x", bytes(range(256)) * 3, b"prod-a/9f1c2d3e/1000"] + [
        i.to_bytes(16, "big") for i in range(50)
    ]
    queue = ExpiryQueue()
    for key in keys:
        queue.add(2, 7, key)
    assert len(queue) == len(keys)
    handed = [key for _ in range(len(keys)) for key, _bucket in queue.expired(2, before=8, limit=1)]
    assert handed == keys
    assert len(queue) == 0


def test_a_bucket_in_progress_is_kept_and_later_ones_wait_their_turn() -> None:
    queue = ExpiryQueue()
    for bucket, key in [(1, b"a"), (1, b"b"), (2, b"c"), (3, b"d")]:
        queue.add(0, bucket, key)
    assert list(queue.expired(0, before=3, limit=10)) == [(b"a", 1), (b"b", 1), (b"c", 2)]
    queue.add(0, 3, b"e")
    assert list(queue.expired(0, before=4, limit=10)) == [(b"d", 3), (b"e", 3)]


def test_a_key_too_long_for_its_length_prefix_is_refused_not_truncated() -> None:
    with pytest.raises(ValueError, match="at most 65535"):
        ExpiryQueue().add(0, 1, b"k" * 65536)


def test_a_load_after_a_rebalance_holds_exactly_what_the_table_holds() -> None:
    queue = ExpiryQueue()
    queue.add(2, 1, b"x")
    queue.load([(b"y", 3, 1)])
    assert len(queue) == 1
    assert list(queue.expired(2, before=5)) == []
    assert list(queue.expired(3, before=5)) == [(b"y", 1)]
