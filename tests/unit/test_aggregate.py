from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from processors.core.incident import IncidentState, Timing, fingerprint, labels_of, observe, tick
from schemas import Change, CleanEvent, Incident, IncidentStatus, Severity

TIMING = Timing(
    group_wait=10, group_interval=60, repeat_interval=600, resolve_timeout=300, retention_after_resolve=900
)
T0 = 1_800_000_000.0


def clean(
    index: int = 0, *, pod: str = "web-7d9c8b6f5d-x2kqp", severity: Severity = Severity.CRITICAL
) -> CleanEvent:
    at = datetime.fromtimestamp(T0, UTC) + timedelta(seconds=index)
    return CleanEvent(
        occurrence_id=f"c/uid-{index}/{index}",
        cluster="c",
        namespace="shop",
        kind="Pod",
        name=pod,
        workload_kind="Deployment",
        workload_name="web",
        reason="BackOff",
        type="Warning",
        message=f"Back-off restarting failed container ({index})",
        count=1,
        first_seen=at,
        last_seen=at,
        category="crash-loop",
        severity=severity,
        observed_at=at,
    )


def run(
    occurrences: list[tuple[float, CleanEvent]], *, until: float, step: float = 1.0, timing: Timing = TIMING
) -> list[Incident]:
    """Feed occurrences at their times and tick every ``step`` seconds, as the worker does."""
    state: IncidentState | None = None
    emitted: list[Incident] = []
    pending = sorted(occurrences, key=lambda item: item[0])
    now = T0
    while now <= until:
        while pending and pending[0][0] <= now:
            state = observe(state, pending.pop(0)[1], now=now, timing=timing)
        if state is not None:
            state, update = tick(state, now=now, timing=timing)
            if update is not None:
                emitted.append(update)
        now += step
    return emitted


def test_group_wait_collects_a_burst_into_one_notification() -> None:
    updates = run([(T0 + i * 0.1, clean(i)) for i in range(50)], until=T0 + 30)
    assert [(u.version, u.occurrences) for u in updates] == [(1, 50)]
    assert updates[0].emitted_at.timestamp() == T0 + 10


def test_group_interval_paces_later_news() -> None:
    # A new pod every 2 s for 200 s: each is news, flushed at most every group_interval.
    burst = [(T0 + s, clean(s, pod=f"web-7d9c8b6f5d-{s:05d}")) for s in range(0, 200, 2)]
    updates = run(burst, until=T0 + 250)
    times = [u.emitted_at.timestamp() - T0 for u in updates]
    assert times == [10, 70, 130, 190, 250]
    assert updates[-1].occurrences == 100
    assert [u.version for u in updates] == [1, 2, 3, 4, 5]


def test_a_storm_of_ten_thousand_from_one_pod_is_one_page() -> None:
    storm = [(T0 + i * 0.005, clean(i)) for i in range(10_000)]  # 10,000 in 50 s
    updates = run(storm, until=T0 + 75)  # group_wait 10 s, then one group_interval (60 s)
    assert [u.occurrences for u in updates] == [2001], "more of the same is not news"


def test_when_count_is_news_a_storm_is_a_handful_of_updates() -> None:
    storm = [(T0 + i * 0.005, clean(i)) for i in range(10_000)]
    updates = run(storm, until=T0 + 75, timing=replace(TIMING, news=TIMING.news | {"count"}))
    assert [u.occurrences for u in updates] == [2001, 10_000]
    assert updates[1].changes == [Change.COUNT]


def test_repeat_interval_resends_an_incident_without_news_with_its_count() -> None:
    # Keep it firing (occurrences every 200 s < resolve_timeout); count bumps are no news.
    updates = run([(T0, clean(0)), (T0 + 200, clean(1)), (T0 + 400, clean(2))], until=T0 + 650)
    assert [u.status for u in updates] == [IncidentStatus.FIRING] * len(updates)
    assert [round(u.emitted_at.timestamp() - T0) for u in updates] == [10, 610]
    assert [(u.changes, u.occurrences) for u in updates] == [([Change.OPENED], 1), ([Change.REPEAT], 3)]


def test_resolve_timeout_resolves_and_a_new_occurrence_fires_again_with_a_higher_version() -> None:
    updates = run([(T0, clean(0)), (T0 + 400, clean(1))], until=T0 + 420)
    assert [(u.status, u.version) for u in updates] == [
        (IncidentStatus.FIRING, 1),
        (IncidentStatus.RESOLVED, 2),
        (IncidentStatus.FIRING, 3),
    ]


def test_objects_are_counted_and_bounded() -> None:
    updates = run([(T0, clean(i, pod=f"web-7d9c8b6f5d-{i:05d}")) for i in range(30)], until=T0 + 20)
    assert updates[-1].objects_total == 30
    assert len(updates[-1].objects) == 20
    assert len(updates[-1].samples) == 5


def test_state_round_trips_through_the_table_encoding() -> None:
    state = observe(None, clean(1), now=T0, timing=TIMING)
    assert IncidentState.from_bytes(state.to_bytes()) == state


@given(st.text(max_size=30), st.text(max_size=30), st.text(max_size=30))
def test_fingerprint_depends_only_on_the_group_labels(namespace: str, workload: str, reason: str) -> None:
    base = labels_of(clean())
    one = {**base, "namespace": namespace, "workload": workload, "reason": reason}
    two = {**one, "reason": reason + "x", "node": "other"}
    assert fingerprint(one) == fingerprint(two)
    assert fingerprint(one) != fingerprint({**one, "namespace": namespace + "x"})
