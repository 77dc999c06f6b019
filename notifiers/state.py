"""What every notifier replica must agree on, read whole from compacted topics: the
notification log (what each receiver already dealt with) and the silences.

Each is a plain in-memory view fed by :class:`runtime.kafka.CompactedTopicReader`; the
topics are the truth, so a restarted or added replica rebuilds the same view.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import Generic, TypeVar

from schemas import Incident, IncidentStatus, NotifyLogEntry, Outcome, SchemaError, Silence, decode
from schemas.base import TopicModel, utc_now

log = logging.getLogger(__name__)

RecordT = TypeVar("RecordT", bound=TopicModel)


class CompactedView(Generic[RecordT]):
    """Latest record per key; tombstones delete. Unreadable records are logged, not fatal."""

    def __init__(self, model: type[RecordT]) -> None:
        self._model = model
        self._records: dict[str, RecordT] = {}
        self._lock = threading.Lock()

    def on_record(self, key: bytes, value: bytes | None) -> None:
        name = key.decode(errors="replace")
        if value is None:
            with self._lock:
                self._records.pop(name, None)
            return
        try:
            record = decode(value, self._model)
        except SchemaError as exc:
            log.error("skipped an unreadable %s record %r: %s", self._model.SCHEMA, name, exc)
            return
        self.put(name, record)

    def put(self, key: str, record: RecordT) -> None:
        with self._lock:
            self._records[key] = record

    def get(self, key: str) -> RecordT | None:
        with self._lock:
            return self._records.get(key)

    def values(self) -> list[RecordT]:
        with self._lock:
            return list(self._records.values())


def log_key(receiver: str, fingerprint: str) -> str:
    return f"{receiver}/{fingerprint}"


class NotificationLog(CompactedView[NotifyLogEntry]):
    def __init__(self) -> None:
        super().__init__(NotifyLogEntry)

    def put(self, key: str, record: NotifyLogEntry) -> None:
        """Never back to an older version: the reader replays this replica's own entries
        after it has already recorded newer ones (and another replica's may arrive late),
        and an older entry in view would let an older update be sent after a newer one."""
        with self._lock:
            current = self._records.get(key)
            if current is None or record.version >= current.version:
                self._records[key] = record

    def entry(self, receiver: str, fingerprint: str) -> NotifyLogEntry | None:
        return self.get(log_key(receiver, fingerprint))

    def decided(
        self, receiver: str, incident: Incident, outcome: Outcome, *, silence_id: str | None = None
    ) -> NotifyLogEntry:
        """The entry recording ``outcome`` for this version, carrying the last delivery forward."""
        previous = self.entry(receiver, incident.fingerprint)
        now = utc_now()
        last: tuple[int | None, IncidentStatus | None, str | None, datetime | None]
        if outcome is Outcome.DELIVERED:
            last = (incident.version, incident.status, incident.severity.value, now)
        elif previous is not None:
            last = (
                previous.delivered_version,
                previous.delivered_status,
                previous.delivered_severity,
                previous.delivered_at,
            )
        else:
            last = (None, None, None, None)
        return NotifyLogEntry(
            receiver=receiver,
            fingerprint=incident.fingerprint,
            version=incident.version,
            outcome=outcome,
            at=now,
            delivered_version=last[0],
            delivered_status=last[1],
            delivered_severity=last[2],
            delivered_at=last[3],
            silence_id=silence_id,
        )


class SilenceBook(CompactedView[Silence]):
    def __init__(self) -> None:
        super().__init__(Silence)

    def silencing(self, labels: dict[str, str], at: datetime) -> Silence | None:
        """An active silence whose matchers all match, if any."""
        for silence in self.values():
            if silence.starts_at <= at < silence.ends_at and all(m.matches(labels) for m in silence.matchers):
                return silence
        return None

    def active(self, at: datetime) -> list[Silence]:
        return sorted((s for s in self.values() if s.ends_at > at), key=lambda s: (s.starts_at, s.id))


def was_delivered_firing(entry: NotifyLogEntry | None) -> bool:
    return entry is not None and entry.delivered_status is IncidentStatus.FIRING
