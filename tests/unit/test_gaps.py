"""The offset bookkeeping that finds messages the Faust stream skipped (processors.delivery.gaps)."""

from __future__ import annotations

from processors.delivery.gaps import PROBE_HEADER, OffsetGaps, is_probe
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


def test_a_first_delivery_beyond_where_the_stream_was_sought_is_a_hole() -> None:
    tracker = gaps()
    tracker.expect(1, 23)  # recovery sought partition 1 to its committed offset
    assert list(tracker.skipped_before(1, 28)) == [23, 24, 25, 26, 27]


def test_a_seek_back_does_not_expect_again_what_this_process_was_handed() -> None:
    tracker = gaps()
    for offset in range(6):
        tracker.skipped_before(0, offset)
    tracker.reset()
    tracker.expect(0, 2)  # committed behind what was handed: Faust may or may not re-deliver 2..5
    assert list(tracker.skipped_before(0, 6)) == []
    assert list(tracker.skipped_before(0, 3)) == []


def test_only_a_quiet_partition_with_undelivered_messages_is_behind() -> None:
    tracker = gaps()
    tracker.expect(0, 5)
    tracker.skipped_before(1, 7)
    tracker.skipped_before(2, 0)  # expected since its first delivery, not sought: still tracked
    assert tracker.quiet(idle_seconds=0) == [0, 1, 2]
    assert tracker.quiet(idle_seconds=3600) == []
    assert not tracker.behind(0, end=5)
    assert tracker.behind(0, end=6)
    assert not tracker.behind(1, end=8)
    assert not tracker.behind(3, end=9), "a partition never sought nor delivered has no expectation"
    tracker.reset()
    assert tracker.quiet(idle_seconds=0) == []


def test_probes_are_recognised_by_their_header_in_every_client_shape() -> None:
    assert is_probe([("other", b"x"), (PROBE_HEADER, b"1")])
    assert is_probe({PROBE_HEADER: b"1"})
    assert not is_probe([("other", b"x")])
    assert not is_probe(None)
    assert not is_probe([])


def test_what_this_process_was_handed_is_known_across_a_rebalance() -> None:
    tracker = gaps()
    for offset in (40, 41):
        tracker.skipped_before(0, offset)
    tracker.reset()
    assert tracker.handed(0, 38), "delivered again after Faust's seek: processed already"
    assert tracker.handed(0, 41)
    assert not tracker.handed(0, 42)
    assert not tracker.handed(1, 0), "another partition"
