"""The tick timer's index must nominate every incident a tick would change, and only those."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from processors.core.due import DueIndex
from processors.core.incident import IncidentState, is_due, observe, tick, wake_at
from tests.unit.test_aggregate import T0, TIMING, clean

# Occurrence arrival times, then tick times, as offsets from T0 in seconds: long enough to
# cover group wait and interval, repeats, resolution and forgetting.
offsets = st.lists(st.floats(0, 3000, allow_nan=False), min_size=1, max_size=12)


@settings(max_examples=200, deadline=None)
@given(arrivals=offsets, probes=offsets)
def test_wake_at_is_exactly_when_a_tick_would_act(arrivals: list[float], probes: list[float]) -> None:
    state: IncidentState | None = None
    events = sorted(arrivals)
    for index, at in enumerate(sorted(probes + events)):
        now = T0 + at
        if events and at >= events[0]:
            state = observe(state, clean(index), now=now, timing=TIMING)
            events.pop(0)
        if state is None:
            continue
        for probe in (now - 1, now, now + 1, now + 700, now + 90_000):
            assert is_due(state, now=probe, timing=TIMING) == (probe >= wake_at(state, TIMING))
        state, _ = tick(state, now=now, timing=TIMING)
        if state is None:
            return


def test_the_index_nominates_due_and_inhibited_incidents_and_forgets() -> None:
    index = DueIndex(TIMING)
    quiet = observe(None, clean(0), now=T0, timing=TIMING)
    inhibited = observe(None, clean(1, pod="db-0"), now=T0, timing=TIMING)
    inhibited.inhibited_by = "node-fingerprint"
    index.load([(b"quiet", quiet), (b"inhibited", inhibited)])
    assert index.candidates(T0) == [b"inhibited"]  # its source may resolve at any tick
    assert index.candidates(T0 + TIMING.group_wait) == [b"quiet", b"inhibited"]
    index.forget(b"quiet")
    inhibited.inhibited_by = None
    index.track(b"inhibited", inhibited)
    assert index.candidates(T0) == []
    index.load([(b"quiet", quiet)])  # after a rebalance: exactly what the table holds
    assert (len(index), index.candidates(T0)) == (1, [])
