from __future__ import annotations

from processors.expiry import ExpiryQueue


def test_hands_back_only_old_ids_of_the_partition_a_few_at_a_time() -> None:
    queue = ExpiryQueue()
    queue.load([("a", 0, 5), ("b", 0, 3), ("c", 1, 3), ("d", 0, 9)])
    queue.add(0, 10, "e")
    assert list(queue.expired(0, before=6, limit=1)) == [("b", 3)]
    assert list(queue.expired(0, before=6)) == [("a", 5)]
    assert list(queue.expired(0, before=6)) == []
    assert list(queue.expired(1, before=4)) == [("c", 3)]
    assert list(queue.expired(0, before=11)) == [("d", 9), ("e", 10)]
    assert len(queue) == 0


def test_reset_asks_for_a_rebuild() -> None:
    queue = ExpiryQueue()
    queue.load([])
    assert queue.loaded
    queue.add(2, 1, "x")
    queue.reset()
    assert not queue.loaded
    assert len(queue) == 0
