"""The offset bookkeeping that finds messages the Faust stream skipped (processors.gaps)."""

from __future__ import annotations

from processors.gaps import OffsetGaps
from runtime.config import KafkaSettings


def gaps() -> OffsetGaps:
    return OffsetGaps(KafkaSettings(bootstrap_servers="127.0.0.1:1"), "t.events.raw")


def test_nothing_is_missing_while_offsets_advance_one_by_one() -> None:
    tracker = gaps()
    assert [list(tracker.skipped_before(0, offset)) for offset in (5, 6, 7)] == [[], [], []]


def test_a_jump_names_exactly_the_offsets_between() -> None:
    tracker = gaps()
    tracker.skipped_before(1, 24)
    assert list(tracker.skipped_before(1, 26)) == [25]
    assert list(tracker.skipped_before(1, 30)) == [27, 28, 29]


def test_partitions_are_tracked_apart() -> None:
    tracker = gaps()
    tracker.skipped_before(0, 10)
    tracker.skipped_before(1, 3)
    assert list(tracker.skipped_before(0, 11)) == []
    assert list(tracker.skipped_before(1, 5)) == [4]


def test_a_replay_going_back_is_not_a_gap_and_does_not_lower_the_expectation() -> None:
    tracker = gaps()
    for offset in (40, 41):
        tracker.skipped_before(0, offset)
    assert list(tracker.skipped_before(0, 38)) == []  # Faust re-delivering after a seek
    assert list(tracker.skipped_before(0, 39)) == []
    assert list(tracker.skipped_before(0, 42)) == []  # 40 and 41 were processed already
    assert list(tracker.skipped_before(0, 44)) == [43]


def test_after_a_rebalance_the_first_offset_is_taken_as_it_comes() -> None:
    tracker = gaps()
    tracker.skipped_before(0, 10)
    tracker.reset()
    assert list(tracker.skipped_before(0, 500)) == []
    assert list(tracker.skipped_before(0, 502)) == [501]
