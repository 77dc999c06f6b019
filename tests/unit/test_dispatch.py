"""The decision stage each update goes through before delivery, and the log it reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notifiers.dispatch import Action, decide
from notifiers.routing import RouteMatch
from notifiers.state import NotificationLog, SilenceBook
from runtime.config import ALWAYS_NEWS
from schemas import (
    Change,
    Incident,
    IncidentStatus,
    Matcher,
    NotifyLogEntry,
    Outcome,
    ResolvedBy,
    Severity,
    Silence,
)

NOW = datetime(2026, 11, 27, 8, tzinfo=UTC)
ROUTE = RouteMatch(receiver="chat", send_resolved=True, repeat_interval_seconds=None)


def update(version: int = 1, *, status: IncidentStatus = IncidentStatus.FIRING, **extra: object) -> Incident:
    return Incident(
        fingerprint="00000000000000aa",
        version=version,
        status=status,
        severity=Severity.WARNING,
        category="crash-loop",
        title="BackOff: web",
        cluster="prod",
        namespace="shop",
        labels={"cluster": "prod", "namespace": "shop", "severity": "warning"},
        occurrences=version,
        first_seen=NOW,
        last_seen=NOW,
        emitted_at=NOW,
        **extra,  # type: ignore[arg-type]
    )


def logged(version: int, outcome: Outcome = Outcome.DELIVERED, **extra: object) -> NotifyLogEntry:
    delivered = outcome is Outcome.DELIVERED
    fields: dict[str, object] = {
        "delivered_version": version if delivered else None,
        "delivered_status": IncidentStatus.FIRING if delivered else None,
        "delivered_severity": "warning" if delivered else None,
        "delivered_at": NOW if delivered else None,
        **extra,
    }
    return NotifyLogEntry(
        receiver="chat",
        fingerprint="00000000000000aa",
        version=version,
        outcome=outcome,
        at=NOW,
        **fields,  # type: ignore[arg-type]
    )


def silence(**window: datetime) -> Silence:
    return Silence(
        id="s1",
        matchers=[Matcher.model_validate("namespace=shop")],
        starts_at=window.get("starts_at", NOW - timedelta(hours=1)),
        ends_at=window.get("ends_at", NOW + timedelta(hours=1)),
        created_by="t",
        updated_at=NOW,
    )


def test_a_new_update_routed_here_is_delivered() -> None:
    assert decide(update(), route=ROUTE, logged=None, silence=None, now=NOW).action is Action.DELIVER


def test_not_routed_is_skipped() -> None:
    decision = decide(update(), route=None, logged=None, silence=None, now=NOW)
    assert (decision.action, decision.reason) == (Action.SKIP, "not-routed")


@pytest.mark.parametrize("version", [1, 2])
def test_a_version_the_log_already_holds_is_a_replay(version: int) -> None:
    decision = decide(update(version), route=ROUTE, logged=logged(2), silence=None, now=NOW)
    assert (decision.action, decision.reason) == (Action.SKIP, "already-handled")


def test_a_resolution_goes_only_to_receivers_that_were_told_it_fired() -> None:
    resolved = update(2, status=IncidentStatus.RESOLVED)
    assert decide(resolved, route=ROUTE, logged=logged(1), silence=None, now=NOW).action is Action.DELIVER
    silenced_before = logged(1, Outcome.SILENCED)
    never = decide(resolved, route=ROUTE, logged=silenced_before, silence=None, now=NOW)
    assert never.reason == "never-notified"
    quiet_route = RouteMatch("chat", send_resolved=False, repeat_interval_seconds=None)
    assert decide(resolved, route=quiet_route, logged=logged(1), silence=None, now=NOW).reason == (
        "resolved-not-wanted"
    )


def test_inhibited_and_silenced_are_recorded_not_sent() -> None:
    inhibited = decide(update(inhibited_by="ff" * 8), route=ROUTE, logged=None, silence=None, now=NOW)
    assert (inhibited.action, inhibited.outcome) == (Action.RECORD, Outcome.INHIBITED)
    silenced = decide(update(), route=ROUTE, logged=None, silence=silence(), now=NOW)
    assert (silenced.action, silenced.outcome, silenced.silence_id) == (Action.RECORD, Outcome.SILENCED, "s1")


def test_a_routes_repeat_interval_holds_back_the_same_firing_news() -> None:
    hourly = RouteMatch("chat", send_resolved=True, repeat_interval_seconds=3600)
    soon, later = NOW + timedelta(minutes=10), NOW + timedelta(hours=2)
    assert (
        decide(update(2), route=hourly, logged=logged(1), silence=None, now=soon).reason == "repeat-interval"
    )
    assert decide(update(2), route=hourly, logged=logged(1), silence=None, now=later).action is Action.DELIVER
    worse = update(2).model_copy(update={"severity": Severity.CRITICAL})
    assert decide(worse, route=hourly, logged=logged(1), silence=None, now=soon).action is Action.DELIVER


def test_the_log_carries_the_last_delivery_forward_through_silenced_versions() -> None:
    log = NotificationLog()
    first = log.decided("chat", update(1), Outcome.DELIVERED)
    log.put("chat/00000000000000aa", first)
    second = log.decided("chat", update(2), Outcome.SILENCED, silence_id="s1")
    assert (second.version, second.outcome, second.silence_id) == (2, Outcome.SILENCED, "s1")
    assert (second.delivered_version, second.delivered_status) == (1, IncidentStatus.FIRING)
    assert second.delivered_at == first.delivered_at


def test_silences_apply_only_within_their_window_and_matchers() -> None:
    book = SilenceBook()
    book.put("s1", silence())
    book.put("old", silence(starts_at=NOW - timedelta(hours=3), ends_at=NOW - timedelta(hours=2)))
    assert book.silencing({"namespace": "shop"}, NOW) is not None
    assert book.silencing({"namespace": "other"}, NOW) is None
    assert book.silencing({"namespace": "shop"}, NOW + timedelta(hours=2)) is None
    assert [s.id for s in book.active(NOW)] == ["s1"]
    book.on_record(b"s1", None)
    assert book.silencing({"namespace": "shop"}, NOW) is None


# What is news for a route: notify_on, send_quiet, and updates from older processors

MATERIAL = [change for change in Change if change not in ALWAYS_NEWS]
ONLY_NEW_OBJECTS = RouteMatch(
    "chat", send_resolved=True, repeat_interval_seconds=None, notify_on=frozenset({Change.NEW_OBJECT})
)


def changed(
    version: int,
    *changes: Change,
    status: IncidentStatus = IncidentStatus.FIRING,
    resolved_by: ResolvedBy | None = None,
) -> Incident:
    return update(version, status=status, changes=list(changes), resolved_by=resolved_by)


def reason(incident: Incident, route: RouteMatch, log: NotifyLogEntry | None, now: datetime = NOW) -> str:
    return decide(incident, route=route, logged=log, silence=None, now=now).reason


def test_an_update_with_nothing_the_route_asked_for_is_held_as_not_material() -> None:
    held = decide(changed(2, Change.RATE), route=ONLY_NEW_OBJECTS, logged=logged(1), silence=None, now=NOW)
    assert (held.action, held.reason) == (Action.SKIP, "not-material")
    assert reason(changed(2, Change.COUNT, Change.SEVERITY), ONLY_NEW_OBJECTS, logged(1)) == "not-material"
    assert reason(changed(2, Change.NEW_OBJECT), ONLY_NEW_OBJECTS, logged(1)) == "due"
    assert reason(changed(2, Change.RATE, Change.NEW_OBJECT), ONLY_NEW_OBJECTS, logged(1)) == "due"


@pytest.mark.parametrize("change", MATERIAL)
def test_a_route_without_notify_on_takes_every_update(change: Change) -> None:
    assert reason(changed(2, change), ROUTE, logged(1)) == "due"


def test_the_first_page_repeats_and_closes_pass_any_notify_on() -> None:
    deaf = RouteMatch("chat", send_resolved=True, repeat_interval_seconds=None, notify_on=frozenset())
    assert reason(changed(1, Change.OPENED), deaf, None) == "due"
    assert reason(changed(2, Change.REPEAT), deaf, logged(1)) == "due"
    closed = changed(2, Change.RESOLVED, status=IncidentStatus.RESOLVED, resolved_by=ResolvedBy.RECOVERY)
    assert reason(closed, deaf, logged(1)) == "due"
    assert reason(changed(2, Change.RATE), deaf, logged(1)) == "not-material"


def test_updates_from_a_processor_that_does_not_say_what_changed_are_news() -> None:
    deaf = RouteMatch("chat", send_resolved=True, repeat_interval_seconds=None, notify_on=frozenset())
    assert update(2).changes == []
    assert reason(update(2), deaf, logged(1)) == "due"


@pytest.mark.parametrize("before", [None, Outcome.INHIBITED, Outcome.SILENCED])
def test_a_receiver_not_told_that_it_fires_hears_of_any_change(before: Outcome | None) -> None:
    log = None if before is None else logged(1, before)
    assert reason(changed(2, Change.UNINHIBITED), ONLY_NEW_OBJECTS, log) == "due"
    assert reason(changed(2, Change.RATE), ONLY_NEW_OBJECTS, log) == "due"


def test_quiet_closes_go_only_where_wanted_and_recoveries_follow_send_resolved() -> None:
    no_quiet = RouteMatch("chat", send_resolved=True, repeat_interval_seconds=None, send_quiet=False)
    no_resolved = RouteMatch("chat", send_resolved=False, repeat_interval_seconds=None, send_quiet=True)

    def close(by: ResolvedBy | None) -> Incident:
        return changed(2, Change.RESOLVED, status=IncidentStatus.RESOLVED, resolved_by=by)

    assert reason(close(ResolvedBy.QUIET), no_quiet, logged(1)) == "quiet-not-wanted"
    assert reason(close(ResolvedBy.QUIET), ROUTE, logged(1)) == "due"
    assert reason(close(ResolvedBy.RECOVERY), no_quiet, logged(1)) == "due"
    assert reason(close(None), no_quiet, logged(1)) == "due"  # an older processor's close
    for by in (ResolvedBy.QUIET, ResolvedBy.RECOVERY, None):
        assert reason(close(by), no_resolved, logged(1)) == "resolved-not-wanted"


def test_a_routes_repeat_interval_holds_repeats_but_not_news() -> None:
    hourly = RouteMatch(
        "chat", send_resolved=True, repeat_interval_seconds=3600, notify_on=frozenset({Change.NEW_OBJECT})
    )
    soon, later = NOW + timedelta(minutes=10), NOW + timedelta(hours=2)
    assert reason(changed(2, Change.REPEAT), hourly, logged(1), soon) == "repeat-interval"
    assert reason(changed(2, Change.REPEAT), hourly, logged(1), later) == "due"
    assert reason(changed(2, Change.NEW_OBJECT), hourly, logged(1), soon) == "due"
    # Reopened after a close this route did not get: the first page of a new outage.
    assert reason(changed(2, Change.OPENED), hourly, logged(1), soon) == "due"


@given(
    changes=st.lists(st.sampled_from(list(Change)), max_size=4),
    asked=st.frozensets(st.sampled_from(MATERIAL)),
    more=st.frozensets(st.sampled_from(MATERIAL)),
)
def test_asking_for_more_changes_never_hears_less(
    changes: list[Change], asked: frozenset[Change], more: frozenset[Change]
) -> None:
    def hears(notify_on: frozenset[Change]) -> bool:
        route = RouteMatch("chat", send_resolved=True, repeat_interval_seconds=3600, notify_on=notify_on)
        soon = NOW + timedelta(minutes=1)
        return reason(changed(2, *changes), route, logged(1), soon) == "due"

    if hears(asked):
        assert hears(asked | more)
    if Change.OPENED in changes:
        assert hears(frozenset()), "a first page is always heard, even within the repeat interval"
