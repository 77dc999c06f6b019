"""The web page's view of what the notifier saw and decided: bounded, one row per version."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from notifiers.board import DUE, SUPERSEDED, Board, Filters
from schemas import Incident, IncidentStatus, Severity
from tests.support.alerts import update

NOW = datetime(2026, 11, 27, 8, tzinfo=UTC)


def test_history_keeps_every_version_with_its_decision_and_how_a_due_one_ended() -> None:
    board = Board()
    board.seen(update(1, 1), DUE, at=NOW)
    board.settled(f"{1:016x}", 1, "delivered", at=NOW + timedelta(seconds=1))
    board.seen(update(1, 2), "silenced", at=NOW + timedelta(seconds=2), silence_id="s1")
    board.seen(update(1, 3), DUE, at=NOW + timedelta(seconds=3))
    board.settled(f"{1:016x}", 3, SUPERSEDED, at=NOW + timedelta(seconds=3))
    board.seen(update(1, 4), DUE, at=NOW + timedelta(seconds=3))
    board.settled(f"{1:016x}", 4, "dead-lettered", at=NOW + timedelta(seconds=9))

    entry = board.entry(f"{1:016x}")
    assert entry is not None
    assert entry.incident.version == 4
    assert [(s.version, s.decision) for s in entry.history] == [
        (1, "delivered"),
        (2, "silenced"),
        (3, SUPERSEDED),
        (4, "dead-lettered"),
    ]
    assert entry.history[1].silence_id == "s1"
    assert entry.history[3].decided_at == NOW + timedelta(seconds=9)
    assert entry.latest.decision == "dead-lettered"


def test_a_replayed_version_keeps_its_first_decision_and_an_older_one_does_not_roll_back() -> None:
    board = Board()
    board.seen(update(1, 2), DUE, at=NOW)
    board.settled(f"{1:016x}", 2, "delivered", at=NOW)
    board.seen(update(1, 2), "already-handled", at=NOW)
    board.seen(update(1, 1), "already-handled", at=NOW)
    entry = board.entry(f"{1:016x}")
    assert entry is not None
    assert entry.incident.version == 2
    assert [(s.version, s.decision) for s in entry.history] == [(2, "delivered"), (1, "already-handled")]
    assert entry.latest.decision == "delivered"


def test_settling_a_version_it_never_saw_changes_nothing() -> None:
    board = Board()
    board.settled(f"{9:016x}", 1, "delivered", at=NOW)
    board.seen(update(1, 1), "silenced", at=NOW)
    board.settled(f"{1:016x}", 1, "delivered", at=NOW)
    entry = board.entry(f"{1:016x}")
    assert entry is not None
    assert entry.latest.decision == "silenced"
    assert board.entry(f"{9:016x}") is None


def test_bounded_the_least_recently_updated_incident_goes_first() -> None:
    board = Board(max_incidents=3)
    for index in range(3):
        board.seen(update(index), DUE, at=NOW)
    board.seen(update(0, 2), DUE, at=NOW)  # incident 0 updated: incident 1 is now the oldest
    board.seen(update(3), DUE, at=NOW)
    assert {e.incident.fingerprint for e in board.entries()} == {f"{i:016x}" for i in (0, 2, 3)}


def test_history_per_incident_is_bounded() -> None:
    board = Board()
    for version in range(1, 200):
        board.seen(update(1, version), "repeat-interval", at=NOW)
    entry = board.entry(f"{1:016x}")
    assert entry is not None
    assert len(entry.history) == 50
    assert entry.history[-1].version == 199


def emitted(incident: Incident, minute: int) -> Incident:
    return incident.model_copy(update={"emitted_at": NOW + timedelta(minutes=minute)})


def test_filters_and_order_firing_then_most_severe_then_newest() -> None:
    board = Board()
    board.seen(emitted(update(1, severity=Severity.INFO), 1), DUE, at=NOW)
    board.seen(emitted(update(2, severity=Severity.CRITICAL, namespace="payments"), 2), DUE, at=NOW)
    board.seen(emitted(update(3, status=IncidentStatus.RESOLVED, severity=Severity.CRITICAL), 3), DUE, at=NOW)
    board.seen(emitted(update(4, cluster="staging"), 4), DUE, at=NOW)
    board.seen(emitted(update(5), 5), DUE, at=NOW)

    order = [int(e.incident.fingerprint, 16) for e in board.entries()]
    assert order == [2, 5, 4, 1, 3]
    assert [int(e.incident.fingerprint, 16) for e in board.entries(Filters(cluster="staging"))] == [4]
    assert [int(e.incident.fingerprint, 16) for e in board.entries(Filters(namespace="payments"))] == [2]
    critical = board.entries(Filters(severity="critical", status="firing"))
    assert [int(e.incident.fingerprint, 16) for e in critical] == [2]
    assert board.facets() == {
        "cluster": ["prod", "staging"],
        "namespace": ["payments", "shop"],
        "severity": ["critical", "info", "warning"],
        "status": ["firing", "resolved"],
    }
