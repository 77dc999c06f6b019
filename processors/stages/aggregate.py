"""Aggregate: keep each incident's state in the ``incidents`` table and emit its updates.

Occurrences (and clock ticks) arrive keyed by incident fingerprint, so one incident is only
ever changed by one worker, in order. Each occurrence is recognised by its raw offset: a
replay after a crash counts nothing twice. The timing rules (:mod:`processors.core.incident`)
decide when an update is due; a node-level incident being announced, on this worker or
another (the inhibitors topic), mutes those it explains.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from processors.core.due import DueIndex
from processors.core.incident import IncidentState, Timing, fingerprint, observe, recover, tick
from processors.core.inhibit import Inhibitor
from processors.core.recovery import NODE_LEVEL_CATEGORIES, Evidence
from processors.delivery.contiguous import Delivered
from processors.delivery.gaps import Record
from processors.delivery.outputs import Cause
from processors.metrics import INCIDENT_UPDATES, INHIBITED
from processors.stages.ports import Publish, Table
from processors.stages.quarantine import Quarantine
from schemas import (
    GroupInput,
    Incident,
    IncidentStatus,
    RelatedIncident,
    SchemaError,
    decode_group_input,
    encode,
)

log = logging.getLogger(__name__)

STAGE = "processor.aggregate"


@dataclass(frozen=True, slots=True)
class Policy:
    timing: Timing
    evidence: Evidence
    group_by: tuple[str, ...]
    related_window: float
    """Seconds after a node-level incident in which an incident on its node is related to it."""


class Aggregator:
    def __init__(
        self,
        *,
        incidents: Table,
        publish: Publish,
        quarantine: Quarantine,
        inhibitor: Inhibitor,
        policy: Policy,
        alerts_topic: str,
        inhibitors_topic: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.incidents = incidents
        self.due = DueIndex(policy.timing)
        self.inhibitor = inhibitor
        self.policy = policy
        self._publish = publish
        self._quarantine = quarantine
        self._alerts_topic = alerts_topic
        self.inhibitors_topic = inhibitors_topic
        self._clock = clock

    def reindex(self) -> None:
        """Index the incidents the table holds now: after a rebalance left it whole."""
        self.due.load(
            (key, IncidentState.from_bytes(stored)) for key, stored in self.incidents.items() if stored
        )

    async def aggregate(self, batch: Delivered[Any]) -> None:
        """A batch of grouped messages: per incident, one table read, every occurrence and tick
        of the batch applied in order, one clock tick and one write (and at most one update)."""
        for_incident: dict[bytes, list[tuple[Record, GroupInput]]] = {}
        for record in batch:
            item = await self._decoded(record)
            if item is not None and record.key is not None:
                for_incident.setdefault(record.key, []).append((record, item))
        for key, items in for_incident.items():
            last = items[-1][0]
            with batch.within(last):  # the table write goes to the partition of the incident's messages
                await self._update(key, last, [item for _, item in items])

    async def one(self, record: Record) -> None:
        """One grouped message, as a batch of one."""
        await self.aggregate(Delivered.of([record]))

    async def _decoded(self, record: Record) -> GroupInput | None:
        """The message's content, or None once it is quarantined (unreadable, or no incident key)."""
        try:
            item = decode_group_input(record.value or b"")
        except SchemaError as exc:
            await self._quarantine(record, STAGE, exc.reason, exc.detail)
            return None
        if record.key is None:
            await self._quarantine(record, STAGE, "no-key", "an incident update needs its fingerprint key")
            return None
        return item

    async def _update(self, key: bytes, last: Record, items: list[GroupInput]) -> None:
        stored = self.incidents.get(key)
        state = IncidentState.from_bytes(stored) if stored else None
        now = self._clock()
        for item in items:
            state = self._apply(state, item, now=now)
        if state is not None:
            await self._tick(last, state, now=now)

    def _apply(self, state: IncidentState | None, item: GroupInput, *, now: float) -> IncidentState | None:
        """Count the occurrences not counted before (a replay's are), evidence included."""
        policy = self.policy
        for occurrence in item.occurrences:
            partition, offset = occurrence.source_partition, occurrence.source_offset
            if state is not None and state.already_applied(partition, offset):
                continue  # replayed after a restart: already counted
            clean = occurrence.clean
            if occurrence.evidence:
                if state is not None:  # proof for an incident that is not open is no news
                    recover(state, clean, now=now, timing=policy.timing)
                    state.mark_applied(partition, offset)
                continue
            state = observe(
                state,
                clean,
                now=now,
                timing=policy.timing,
                group_by=policy.group_by,
                echo=occurrence.echo,
                has_evidence=policy.evidence.has_evidence(clean.category),
            )
            state.mark_applied(partition, offset)
        return state

    async def _tick(self, record: Record, state: IncidentState, *, now: float) -> None:
        """Apply the clock, store (or forget) the state and announce the update it makes."""
        key = record.key or b""
        new_state, update = tick(
            state,
            now=now,
            timing=self.policy.timing,
            inhibitor_of=self.inhibitor.inhibitor_of,
            related_of=self.related_of,
        )
        if new_state is None:
            self.incidents.pop(key, None)
            self.due.forget(key)
        else:
            self.incidents[key] = new_state.to_bytes()
            self.due.track(key, new_state)
        if update is not None:
            await self._announce(
                key, update, Cause(record, STAGE, f"incident {update.fingerprint} v{update.version}")
            )

    async def _announce(self, key: bytes, update: Incident, cause: Cause) -> None:
        await self._publish(self._alerts_topic, key, encode(update), causes=[cause])
        INCIDENT_UPDATES.labels(update.cluster, update.status.value).inc()
        if update.inhibited_by:
            INHIBITED.labels(update.cluster).inc()
        log.info(
            "incident %s v%d %s%s: %d occurrences",
            update.fingerprint[:12],
            update.version,
            update.status.value,
            f", inhibited by {update.inhibited_by[:12]}" if update.inhibited_by else "",
            update.occurrences,
            extra={"cluster": update.cluster, "incident": update.fingerprint},
        )
        if self.inhibitor.tracks(update.labels, update.fingerprint):
            self.inhibitor.record(update)  # this worker's own view, at once; the others via the topic
            firing = update.status is IncidentStatus.FIRING
            await self._publish(
                self.inhibitors_topic, key, encode(update) if firing else None, causes=[cause]
            )

    def related_of(self, labels: Mapping[str, str], first_seen: float) -> list[RelatedIncident]:
        """Node-level incidents this one started after: those already announced (every
        worker's view, through the inhibitors topic) and those of this worker still in their
        group_wait, which may come due in the same tick as this one."""
        found = self.inhibitor.related_to(labels, first_seen)
        node = labels.get("node")
        if not node or labels.get("kind") == "Node":
            return found
        known = {related.fingerprint for related in found}
        for category in NODE_LEVEL_CATEGORIES:
            node_labels = {
                "cluster": labels.get("cluster", ""),
                "namespace": "",
                "workload": node,
                "category": category,
            }
            key = fingerprint(node_labels, self.policy.group_by)
            related = None if key in known else self._firing_on_node(key, category, node, first_seen)
            if related is not None:
                found.append(related)
        return sorted(found, key=lambda related: related.at)

    def _firing_on_node(
        self, key: str, category: str, node: str, first_seen: float
    ) -> RelatedIncident | None:
        """This worker's node-level incident ``key``, if firing and started shortly before ``first_seen``."""
        stored = self.incidents.get(key.encode())
        state = IncidentState.from_bytes(stored) if stored else None
        if state is None or state.status != IncidentStatus.FIRING.value:
            return None
        window = self.policy.related_window
        if not -window / 10 <= first_seen - state.first_seen <= window:
            return None
        reason = state.labels.get("reason") or category
        at = datetime.fromtimestamp(state.first_seen, UTC)
        return RelatedIncident(fingerprint=key, category=category, reason=reason, node=node, at=at)
