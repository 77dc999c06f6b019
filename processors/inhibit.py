"""Inhibition in Alertmanager's shape: a firing source incident mutes the targets it explains.

A node that is not ready explains the crash loops and evictions of the pods on it; paging
for all of them buries the one message that matters. Inhibited incidents are still
emitted, marked ``inhibited_by`` the source's fingerprint, so nothing is lost: the
notifiers record them as inhibited instead of sending them, and when the source resolves
the target is emitted again, no longer inhibited.

Sources can live on any partition, so every worker keeps a view of all of them: the
aggregate agent publishes each update of a source-matching incident to the compacted
``inhibitors`` topic (a tombstone once resolved), and :func:`inhibitor_feed` reads that
topic whole into :class:`Inhibitor`. Equal labels must be present and equal (unlike
Alertmanager, two empty values do not count as equal: a wrong inhibition hides a page).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence

from runtime.config import InhibitRule, KafkaSettings
from runtime.kafka import CompactedTopicReader
from schemas import Incident, IncidentStatus, SchemaError, decode, match_all

log = logging.getLogger(__name__)


class Inhibitor:
    """The rules and the firing sources known to this worker (thread-safe)."""

    def __init__(self, rules: Sequence[InhibitRule]) -> None:
        self._rules = tuple(rules)
        self._sources: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()

    def is_source(self, labels: Mapping[str, str]) -> bool:
        return any(match_all(rule.source_matchers, labels) for rule in self._rules)

    def tracks(self, labels: Mapping[str, str], fingerprint: str) -> bool:
        """Whether an update of this incident belongs on the inhibitors topic: it is a source,
        or was one (its labels changed), so the view must hear it."""
        with self._lock:
            known = fingerprint in self._sources
        return known or self.is_source(labels)

    def record(self, incident: Incident) -> None:
        """Remember a source while it fires; forget it once resolved."""
        self.apply(incident.fingerprint, incident if incident.status is IncidentStatus.FIRING else None)

    def apply(self, fingerprint: str, incident: Incident | None) -> None:
        with self._lock:
            if incident is None or not self.is_source(incident.labels):
                self._sources.pop(fingerprint, None)
            else:
                self._sources[fingerprint] = dict(incident.labels)

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


def inhibitor_feed(kafka: KafkaSettings, inhibitor: Inhibitor) -> CompactedTopicReader:
    """Every worker's view of the sources: the whole ``inhibitors`` topic."""

    def on_record(key: bytes, value: bytes | None) -> None:
        if value is None:
            inhibitor.apply(key.decode(), None)
            return
        try:
            incident = decode(value, Incident)
        except SchemaError as exc:
            log.error("inhibitors: skipped an unreadable record %r: %s", key, exc)
            return
        inhibitor.apply(incident.fingerprint, incident)

    return CompactedTopicReader(kafka, kafka.topics.inhibitors, on_record)
