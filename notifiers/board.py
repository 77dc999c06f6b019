"""What this notifier has seen and decided lately, for its web page: the latest update of
each incident and, per incident, every version with the decision taken on it.

Only a view for people: bounded, in memory, fed by the delivery loop as it decides. It
starts empty after a restart; the topics (``alerts``, ``notify.log``) stay the truth.
"""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from schemas import Incident, IncidentStatus

MAX_INCIDENTS = 2000
MAX_HISTORY = 50

DUE = "due"
"""Decided to deliver, not sent yet; a later :meth:`Board.settled` says how it ended."""
SUPERSEDED = "superseded"
"""A due version replaced by a later one before it was sent: only the later one is sent."""


@dataclass(frozen=True, slots=True)
class Step:
    """One version of an incident as it arrived, and what this notifier did with it."""

    version: int
    status: IncidentStatus
    severity: str
    occurrences: int
    emitted_at: datetime
    decision: str
    decided_at: datetime
    silence_id: str | None = None


@dataclass(frozen=True, slots=True)
class Entry:
    incident: Incident
    """The latest update seen (the highest version)."""
    history: tuple[Step, ...]
    """Oldest first."""

    @property
    def latest(self) -> Step:
        """The step of the latest update."""
        return next((s for s in self.history if s.version == self.incident.version), self.history[-1])


@dataclass(frozen=True, slots=True)
class Filters:
    cluster: str = ""
    namespace: str = ""
    severity: str = ""
    status: str = ""
    text: str = ""
    """Free text, found (ignoring case) in the title, cluster, namespace, workload, a reason or the node."""

    def admit(self, incident: Incident) -> bool:
        return (
            (not self.cluster or incident.cluster == self.cluster)
            and (not self.namespace or (incident.namespace or "") == self.namespace)
            and (not self.severity or incident.severity.value == self.severity)
            and (not self.status or incident.status.value == self.status)
            and (not self.text or self.text.casefold() in searched_text(incident))
        )


def searched_text(incident: Incident) -> str:
    """What the search box looks in, case-folded, one field a line (so no match spans two)."""
    reasons = {sample.reason for sample in incident.samples}
    if incident.labels.get("reason"):
        reasons.add(incident.labels["reason"])
    fields = (
        incident.title,
        incident.cluster,
        incident.namespace or "",
        incident.workload or "",
        *incident.workloads,
        *sorted(reasons),
        incident.node or incident.labels.get("node", ""),
    )
    return "\n".join(fields).casefold()


class _Tracked:
    __slots__ = ("history", "incident")

    def __init__(self, incident: Incident) -> None:
        self.incident = incident
        self.history: deque[Step] = deque(maxlen=MAX_HISTORY)


class Board:
    """Written by the delivery loop, read by the HTTP server's threads."""

    def __init__(self, *, max_incidents: int = MAX_INCIDENTS) -> None:
        self._max = max_incidents
        self._tracked: OrderedDict[str, _Tracked] = OrderedDict()  # least recently updated first
        self._lock = threading.Lock()

    def seen(self, incident: Incident, decision: str, *, at: datetime, silence_id: str | None = None) -> None:
        """An update arrived and was decided on (``due`` if it is to be delivered). A version
        seen again (a replay after a rebalance) keeps the decision first taken on it."""
        step = Step(
            version=incident.version,
            status=incident.status,
            severity=incident.severity.value,
            occurrences=incident.occurrences,
            emitted_at=incident.emitted_at,
            decision=decision,
            decided_at=at,
            silence_id=silence_id,
        )
        with self._lock:
            tracked = self._tracked.get(incident.fingerprint)
            if tracked is None:
                tracked = self._tracked[incident.fingerprint] = _Tracked(incident)
                while len(self._tracked) > self._max:
                    self._tracked.popitem(last=False)
            self._tracked.move_to_end(incident.fingerprint)
            if incident.version >= tracked.incident.version:
                tracked.incident = incident
            if all(s.version != incident.version for s in tracked.history):
                tracked.history.append(step)

    def settled(self, fingerprint: str, version: int, decision: str, *, at: datetime) -> None:
        """How a due version ended: delivered, dead-lettered, or superseded."""
        with self._lock:
            tracked = self._tracked.get(fingerprint)
            if tracked is None:
                return
            for index in range(len(tracked.history) - 1, -1, -1):
                step = tracked.history[index]
                if step.version == version and step.decision == DUE:
                    tracked.history[index] = replace(step, decision=decision, decided_at=at)
                    return

    def entry(self, fingerprint: str) -> Entry | None:
        with self._lock:
            tracked = self._tracked.get(fingerprint)
            return None if tracked is None else Entry(tracked.incident, tuple(tracked.history))

    def entries(self, filters: Filters | None = None) -> list[Entry]:
        """Firing before resolved, then the most severe, then the most recently updated."""
        filters = filters or Filters()
        with self._lock:
            found = [
                Entry(t.incident, tuple(t.history))
                for t in self._tracked.values()
                if filters.admit(t.incident)
            ]
        found.sort(key=lambda e: e.incident.emitted_at, reverse=True)
        found.sort(key=lambda e: (e.incident.status is not IncidentStatus.FIRING, -e.incident.severity.rank))
        return found

    def size(self) -> int:
        with self._lock:
            return len(self._tracked)

    def counts(self, fields: Iterable[str]) -> dict[str, list[tuple[str, int]]]:
        """How many incidents held have each value of each field (status, severity, cluster),
        the most frequent first."""
        with self._lock:
            incidents = [t.incident for t in self._tracked.values()]
        found: dict[str, list[tuple[str, int]]] = {}
        for name in fields:
            counter = Counter(_value(incident, name) for incident in incidents)
            found[name] = sorted(counter.items(), key=lambda item: (-item[1], item[0]))
        return found

    def facets(self) -> dict[str, list[str]]:
        """The values each filter can take among the incidents held, sorted."""
        with self._lock:
            incidents = [t.incident for t in self._tracked.values()]
        return {
            "cluster": sorted({i.cluster for i in incidents}),
            "namespace": sorted({i.namespace for i in incidents if i.namespace}),
            "severity": sorted({i.severity.value for i in incidents}),
            "status": sorted({i.status.value for i in incidents}),
        }


def _value(incident: Incident, name: str) -> str:
    value = getattr(incident, name)
    return str(getattr(value, "value", value) or "")
