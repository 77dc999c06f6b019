"""Every worker's view of the firing node-level incidents, read from the inhibitors topic.

A worker announces the node-level incidents it owns on that compacted topic; each reads all
of it, so an incident on any worker is muted by a source that another worker owns.
"""

from __future__ import annotations

import logging

from processors.core.inhibit import Inhibitor
from runtime.config import KafkaSettings
from runtime.kafka import CompactedTopicReader
from schemas import Incident, SchemaError, decode

log = logging.getLogger(__name__)


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
