"""The rate budget counts like the robots do: never more than the limit in any window."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from notifiers.pacing import Budget, RateLimit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@settings(max_examples=200, deadline=None)
@given(gaps=st.lists(st.floats(min_value=0, max_value=10), min_size=1, max_size=120))
def test_no_window_of_the_limit_ever_holds_more_than_the_limit(gaps: list[float]) -> None:
    clock = Clock()
    budget = Budget([RateLimit(messages=20, per_seconds=60)], clock=clock)
    sent: list[float] = []
    for gap in gaps:
        clock.now += gap
        clock.now += budget.wait_seconds()
        budget.take()
        sent.append(clock.now)
    for index, start in enumerate(sent):
        in_window = [t for t in sent[index:] if t - start < 60]
        assert len(in_window) <= 20


def test_a_burst_goes_at_once_then_waits_for_the_window() -> None:
    clock = Clock()
    budget = Budget([RateLimit(messages=20, per_seconds=60)], clock=clock)
    for _ in range(20):
        assert budget.wait_seconds() == 0
        budget.take()
    assert budget.available() == 0
    assert 60 <= budget.wait_seconds() <= 61.5


def test_every_limit_applies_and_none_means_unlimited() -> None:
    clock = Clock()
    feishu = Budget(
        [RateLimit(messages=5, per_seconds=1), RateLimit(messages=100, per_seconds=60)], clock=clock
    )
    for _ in range(5):
        feishu.take()
    assert feishu.available() == 0
    assert 1 <= feishu.wait_seconds() <= 1.1
    unlimited = Budget([], clock=clock)
    assert unlimited.available() == float("inf")
    assert unlimited.wait_seconds() == 0
