"""The offset bookkeeping that finds messages the Faust stream skipped (processors.gaps)."""

from __future__ import annotations

import time

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


def test_a_stream_gone_quiet_short_of_the_partitions_end_is_sent_back_to_its_first_unprocessed_offset() -> (
    None
):
    tracker = gaps()
    for offset in range(16):
        tracker.skipped_before(0, offset)
    tracker.skipped_before(1, 4)
    now = time.monotonic()
    assert tracker.stalled({0: 32, 1: 5}, now=now) == {}, "quiet for less than the threshold"
    later = now + 11
    assert tracker.stalled({0: 32, 1: 5}, now=later) == {0: 16}, "partition 1 is at its end"
    assert tracker.stalled({0: 32}, now=later + 1) == {}, "given time to re-deliver"
    assert tracker.stalled({0: 32}, now=later + 11) == {0: 16}


def test_an_unknown_end_or_an_unseen_partition_is_never_stalled() -> None:
    tracker = gaps()
    tracker.skipped_before(0, 3)
    assert tracker.stalled({2: 100}, now=time.monotonic() + 60) == {}
