from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from producer.resume import ResumePoint


def test_resume_point_waits_for_every_earlier_delivery() -> None:
    resume = ResumePoint("10")
    first, second = resume.observed("11"), resume.observed("12")
    resume.delivered(second)
    assert resume.safe == "10", "12 is delivered but 11 is not: resuming from 12 would lose 11"
    resume.delivered(first)
    assert resume.safe == "12"


def test_listed_items_are_no_resume_point_until_the_snapshot() -> None:
    resume = ResumePoint()
    items = [resume.observed(None) for _ in range(3)]
    resume.reached("500")
    for item in items[:2]:
        resume.delivered(item)
    assert resume.safe is None
    resume.delivered(items[2])
    assert resume.safe == "500"


def test_bookmarks_advance_only_past_delivered_work() -> None:
    resume = ResumePoint("1")
    pending = resume.observed("2")
    resume.reached("3")
    assert resume.safe == "1"
    resume.delivered(pending)
    assert resume.safe == "3"
    assert resume.in_flight == 0


@given(st.integers(min_value=1, max_value=60), st.randoms(use_true_random=False))
def test_any_delivery_order_never_skips_an_undelivered_occurrence(count: int, rng: random.Random) -> None:
    resume = ResumePoint("0")
    tokens = [(version, resume.observed(str(version))) for version in range(1, count + 1)]
    order = tokens[:]
    rng.shuffle(order)
    delivered: set[int] = set()
    for version, token in order:
        resume.delivered(token)
        delivered.add(version)
        longest_prefix = 0
        while longest_prefix + 1 in delivered:
            longest_prefix += 1
        assert int(resume.safe or 0) == longest_prefix
    assert resume.safe == str(count)
