"""What a receiver does with one incident update, before any delivery: Alertmanager's
pipeline stages (route, dedup against the notification log, inhibit, silence, repeat)
as one pure decision, so every stage has its own tests and the runner only acts on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from notifiers.routing import RouteMatch
from schemas import Incident, IncidentStatus, NotifyLogEntry, Outcome, Silence


class Action(StrEnum):
    DELIVER = "deliver"
    RECORD = "record"  # decided without sending (silenced, inhibited): logged so it is not reconsidered
    SKIP = "skip"  # nothing to do for this receiver


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    reason: str
    outcome: Outcome | None = None
    silence_id: str | None = None


DELIVER = Decision(Action.DELIVER, "due")


def decide(
    incident: Incident,
    *,
    route: RouteMatch | None,
    logged: NotifyLogEntry | None,
    silence: Silence | None,
    now: datetime,
) -> Decision:
    if route is None:
        return Decision(Action.SKIP, "not-routed")
    if logged is not None and incident.version <= logged.version:
        return Decision(Action.SKIP, "already-handled")  # a replay after a restart or rebalance
    if incident.status is IncidentStatus.RESOLVED:
        if not route.send_resolved:
            return Decision(Action.SKIP, "resolved-not-wanted")
        if logged is None or logged.delivered_status is not IncidentStatus.FIRING:
            return Decision(Action.SKIP, "never-notified")  # nobody was told it fired
    if incident.inhibited_by:
        return Decision(Action.RECORD, "inhibited", Outcome.INHIBITED)
    if silence is not None:
        return Decision(Action.RECORD, "silenced", Outcome.SILENCED, silence.id)
    if _repeats_too_soon(incident, route, logged, now):
        return Decision(Action.SKIP, "repeat-interval")
    return DELIVER


def _repeats_too_soon(
    incident: Incident, route: RouteMatch, logged: NotifyLogEntry | None, now: datetime
) -> bool:
    """A route's repeat interval: the same firing news (status and severity) at most that often."""
    interval = route.repeat_interval_seconds
    if interval is None or logged is None or logged.delivered_at is None:
        return False
    return (
        incident.status is IncidentStatus.FIRING
        and logged.delivered_status is IncidentStatus.FIRING
        and logged.delivered_severity == incident.severity.value
        and (now - logged.delivered_at).total_seconds() < interval
    )
