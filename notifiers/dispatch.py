"""What a receiver does with one incident update, before any delivery: Alertmanager's
pipeline stages (route, dedup against the notification log, inhibit, silence, news, repeat)
as one pure decision, so every stage has its own tests and the runner only acts on it.

"News" is the route's ``notify_on``: the processor says why it emitted an update
(``Incident.changes``), and a route hears only of the changes it asked for, besides the
first page, repeats and closes. Alertmanager re-notifies a group only when its set of
alerts changes, otherwise at repeat_interval; this is the same, with finer changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from notifiers.routing import RouteMatch
from runtime.config import ALWAYS_NEWS
from schemas import Change, Incident, IncidentStatus, NotifyLogEntry, Outcome, ResolvedBy, Silence


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
        if incident.resolved_by is ResolvedBy.QUIET and not route.send_quiet:
            return Decision(Action.SKIP, "quiet-not-wanted")  # closed for want of Events, not proof
        if logged is None or logged.delivered_status is not IncidentStatus.FIRING:
            return Decision(Action.SKIP, "never-notified")  # nobody was told it fired
    if incident.inhibited_by:
        return Decision(Action.RECORD, "inhibited", Outcome.INHIBITED)
    if silence is not None:
        return Decision(Action.RECORD, "silenced", Outcome.SILENCED, silence.id)
    if not _is_news(incident, route, logged):
        return Decision(Action.SKIP, "not-material")
    if _repeats_too_soon(incident, route, logged, now):
        return Decision(Action.SKIP, "repeat-interval")
    return DELIVER


def _is_news(incident: Incident, route: RouteMatch, logged: NotifyLogEntry | None) -> bool:
    """Whether an update says something this route asked to hear (``notify_on``).

    An update without ``changes`` comes from a processor older than them: it is news, so an
    upgrade loses nothing. So is any update to a receiver not told that the incident fires
    (it was inhibited, silenced or resolved when last considered), whatever changed: for it
    this is the first page.
    """
    if incident.status is IncidentStatus.RESOLVED or not incident.changes:
        return True
    if logged is None or logged.delivered_status is not IncidentStatus.FIRING:
        return True
    return any(change in ALWAYS_NEWS or change in route.notify_on for change in incident.changes)


def _repeats_too_soon(
    incident: Incident, route: RouteMatch, logged: NotifyLogEntry | None, now: datetime
) -> bool:
    """A route's repeat interval: the same firing news at most that often.

    The same news is an update whose changes are nothing the route asked for (a repeat),
    or, from a processor that does not say what changed, the same status and severity.
    """
    interval = route.repeat_interval_seconds
    if interval is None or logged is None or logged.delivered_at is None:
        return False
    if any(change in route.notify_on or change is Change.OPENED for change in incident.changes):
        return False  # news for this route is never held for the repeat interval
    return (
        incident.status is IncidentStatus.FIRING
        and logged.delivered_status is IncidentStatus.FIRING
        and logged.delivered_severity == incident.severity.value
        and (now - logged.delivered_at).total_seconds() < interval
    )
