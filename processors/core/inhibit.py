"""Inhibition in Alertmanager's shape: a firing source incident mutes the targets it explains.

A node that is not ready explains the crash loops and evictions of the pods on it; paging
for all of them buries the one message that matters. Inhibited incidents are still
emitted, marked ``inhibited_by`` the source's fingerprint, so nothing is lost: the
notifiers record them as inhibited instead of sending them, and when the source resolves
the target is emitted again, no longer inhibited.

Sources can live on any partition, so every worker keeps a view of all of them: the
aggregate agent publishes each update of a source-matching incident to the compacted
``inhibitors`` topic (a tombstone once resolved), and
:func:`processors.stages.inhibitors.inhibitor_feed` reads that
topic whole into :class:`Inhibitor`. Equal labels must be present and equal (unlike
Alertmanager, two empty values do not count as equal: a wrong inhibition hides a page).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence

from runtime.config import InhibitRule
from schemas import Incident, IncidentStatus, RelatedIncident, match_all


def is_node_level(labels: Mapping[str, str]) -> bool:
    """An incident of a node itself (OOM, pressure, NotReady): what a pod's incident on that
    node may have started after."""
    return labels.get("kind") == "Node" and bool(labels.get("node"))


class Inhibitor:
    """The rules, the firing sources and the firing node-level incidents known to this
    worker (thread-safe)."""

    def __init__(self, rules: Sequence[InhibitRule], *, related_window: float = 600.0) -> None:
        self._rules = tuple(rules)
        self._related_window = related_window
        self._sources: dict[str, dict[str, str]] = {}
        self._nodes: dict[str, Incident] = {}
        self._lock = threading.Lock()

    def is_source(self, labels: Mapping[str, str]) -> bool:
        return any(match_all(rule.source_matchers, labels) for rule in self._rules)

    def tracks(self, labels: Mapping[str, str], fingerprint: str) -> bool:
        """Whether an update of this incident belongs on the inhibitors topic: it is a source
        or a node-level incident, or was one (its labels changed), so the view must hear it."""
        with self._lock:
            known = fingerprint in self._sources or fingerprint in self._nodes
        return known or self.is_source(labels) or is_node_level(labels)

    def related_to(self, labels: Mapping[str, str], first_seen: float) -> list[RelatedIncident]:
        """Node-level incidents on this incident's node that started at most
        ``related_window`` seconds before it (or a tenth of that after: clocks and batches differ)."""
        node, cluster = labels.get("node"), labels.get("cluster")
        if not node or is_node_level(labels):
            return []
        with self._lock:
            candidates = list(self._nodes.values())
        found = [
            incident
            for incident in candidates
            if incident.cluster == cluster
            and incident.node == node
            and -self._related_window / 10
            <= first_seen - incident.first_seen.timestamp()
            <= self._related_window
        ]
        return [
            RelatedIncident(
                fingerprint=i.fingerprint,
                category=i.category,
                reason=i.labels.get("reason") or (i.samples[-1].reason if i.samples else i.category),
                node=node,
                at=i.first_seen,
            )
            for i in sorted(found, key=lambda i: i.first_seen)
        ]

    def record(self, incident: Incident) -> None:
        """Remember a source while it fires; forget it once resolved."""
        self.apply(incident.fingerprint, incident if incident.status is IncidentStatus.FIRING else None)

    def apply(self, fingerprint: str, incident: Incident | None) -> None:
        with self._lock:
            if incident is None or not self.is_source(incident.labels):
                self._sources.pop(fingerprint, None)
            else:
                self._sources[fingerprint] = dict(incident.labels)
            if incident is None or not is_node_level(incident.labels):
                self._nodes.pop(fingerprint, None)
            else:
                self._nodes[fingerprint] = incident

    def inhibitor_of(self, fingerprint: str, labels: Mapping[str, str]) -> str | None:
        """The fingerprint of a firing source that inhibits this incident, if any."""
        with self._lock:
            sources = list(self._sources.items())
        for rule in self._rules:
            if not match_all(rule.target_matchers, labels):
                continue
            for source_fingerprint, source_labels in sources:
                if source_fingerprint == fingerprint or not match_all(rule.source_matchers, source_labels):
                    continue
                if all(
                    labels.get(name) and labels.get(name) == source_labels.get(name) for name in rule.equal
                ):
                    return source_fingerprint
        return None
