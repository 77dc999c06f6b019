"""Turning occurrences into incidents, with Alertmanager's timing: pure, so every rule is testable.

An incident groups the occurrences that share a group key (default: cluster, namespace,
workload, category). Its state lives in a changelog-backed table keyed by fingerprint;
this module decides, for an occurrence or a clock tick, how the state changes and whether
an update is due:

- group_wait: a new incident waits this long before its first notification, so a burst
  arrives as one message;
- group_interval: later changes are flushed at most this often;
- repeat_interval: an unchanged firing incident is re-sent this often;
- resolve_timeout: with no occurrence for this long, the incident resolves.

Every emitted update carries a version one higher than the last, so notifiers can tell
new updates from replays.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from schemas import CleanEvent, Incident, IncidentStatus, SampleMessage, Severity
from schemas.incident import MAX_OBJECTS, MAX_SAMPLES

MAX_TRACKED_OBJECTS = 1000
"""Distinct objects remembered per incident to count them (as short hashes); beyond, counting stops."""

GROUP_LABELS = ("cluster", "namespace", "workload", "category")
SHARED_LABELS = ("kind", "object_kind", "reason", "node")
"""Labels an incident carries only while every occurrence agrees on them ("" once they differ)."""

InhibitorLookup = Callable[[str, Mapping[str, str]], str | None]
"""(fingerprint, labels) -> the fingerprint of a firing incident that inhibits it, if any."""


def not_inhibited(_fingerprint: str, _labels: Mapping[str, str]) -> str | None:
    return None


@dataclass(frozen=True)
class Timing:
    group_wait: float = 30.0
    group_interval: float = 300.0
    repeat_interval: float = 4 * 3600.0
    resolve_timeout: float = 15 * 60.0
    retention_after_resolve: float = 24 * 3600.0


def labels_of(clean: CleanEvent) -> dict[str, str]:
    """Routing labels of an occurrence; the group key is a subset of them."""
    return {
        "cluster": clean.cluster,
        "namespace": clean.namespace or "",
        # A Node stands in for the workload: each node's trouble is its own incident.
        "workload": clean.workload_name or clean.name,
        "kind": clean.workload_kind or clean.kind,
        "object_kind": clean.kind,  # what the event is about (Pod), where kind names its workload
        "node": clean.node or "",
        "category": clean.category,
        "severity": clean.severity.value,
        "reason": clean.reason,
        **clean.labels,
    }


def fingerprint(labels: dict[str, str], group_by: tuple[str, ...] = GROUP_LABELS) -> str:
    material = "\x1f".join(f"{name}={labels.get(name, '')}" for name in sorted(group_by))
    return hashlib.sha256(material.encode()).hexdigest()[:32]


def object_ref(clean: CleanEvent) -> str:
    return f"{clean.kind}/{clean.namespace}/{clean.name}" if clean.namespace else f"{clean.kind}/{clean.name}"


@dataclass
class IncidentState:
    fingerprint: str
    labels: dict[str, str]
    severity: str
    category: str
    title: str
    first_seen: float
    last_seen: float
    last_occurrence_at: float
    occurrences: int = 0
    objects: list[str] = field(default_factory=list)
    object_hashes: list[str] = field(default_factory=list)
    samples: list[dict[str, Any]] = field(default_factory=list)
    version: int = 0
    status: str = IncidentStatus.FIRING.value
    dirty: bool = True
    due_at: float = 0.0
    last_emitted_at: float | None = None
    resolved_at: float | None = None
    inhibited_by: str | None = None
    applied: dict[str, int] = field(default_factory=dict)
    """Highest raw offset counted, per raw partition: a replayed occurrence is not counted twice."""

    def already_applied(self, partition: int, offset: int) -> bool:
        return self.applied.get(str(partition), -1) >= offset

    def mark_applied(self, partition: int, offset: int) -> None:
        self.applied[str(partition)] = max(offset, self.applied.get(str(partition), -1))

    def to_bytes(self) -> bytes:
        """orjson serializes the dataclass itself: 100 times faster than ``asdict`` and its deep copy."""
        return orjson.dumps(self)

    @classmethod
    def from_bytes(cls, data: bytes) -> IncidentState:
        return cls(**orjson.loads(data))


def observe(
    state: IncidentState | None,
    clean: CleanEvent,
    *,
    now: float,
    timing: Timing,
    group_by: tuple[str, ...] = GROUP_LABELS,
) -> IncidentState:
    """Count one (deduplicated) occurrence into its incident."""
    labels = labels_of(clean)
    seen_at = clean.last_seen.timestamp()
    if state is None or state.status == IncidentStatus.RESOLVED.value:
        previous_version = state.version if state else 0
        state = IncidentState(
            fingerprint=fingerprint(labels, group_by),
            labels={
                **clean.labels,
                **{name: labels.get(name, "") for name in (*SHARED_LABELS, *group_by)},
            },
            severity=clean.severity.value,
            category=clean.category,
            title=f"{clean.reason}: {labels['workload'] or object_ref(clean)}",
            first_seen=seen_at,
            last_seen=seen_at,
            last_occurrence_at=now,
            version=previous_version,
            due_at=now + timing.group_wait,
        )
    elif not state.dirty:
        # Changes after a notification wait for the next group interval.
        state.dirty = True
        state.due_at = (state.last_emitted_at or now) + timing.group_interval
    for name in SHARED_LABELS:
        if name not in group_by and state.labels.get(name) != labels.get(name, ""):
            state.labels[name] = ""
    state.occurrences += 1
    state.first_seen = min(state.first_seen, clean.first_seen.timestamp())
    state.last_seen = max(state.last_seen, seen_at)
    state.last_occurrence_at = now
    if Severity(clean.severity).rank > Severity(state.severity).rank:
        state.severity = clean.severity.value
    _remember_object(state, object_ref(clean))
    _remember_sample(state, clean)
    return state


def _remember_object(state: IncidentState, ref: str) -> None:
    digest = hashlib.blake2s(ref.encode(), digest_size=6).hexdigest()
    if digest in state.object_hashes or len(state.object_hashes) >= MAX_TRACKED_OBJECTS:
        return
    state.object_hashes.append(digest)
    if len(state.objects) < MAX_OBJECTS:
        state.objects.append(ref)


def _remember_sample(state: IncidentState, clean: CleanEvent) -> None:
    # Whole: normalize bounded it, and a cut one ends with the marker naming the Event's size.
    message = clean.message
    state.samples = [s for s in state.samples if s["message"] != message][-(MAX_SAMPLES - 1) :]
    state.samples.append(
        {
            "reason": clean.reason,
            "message": message,
            "object": object_ref(clean),
            "at": clean.last_seen.timestamp(),
        }
    )


def is_due(
    state: IncidentState, *, now: float, timing: Timing, inhibitor_of: InhibitorLookup = not_inhibited
) -> bool:
    """Whether a tick at ``now`` would change or emit anything (cheap; used to nominate ticks)."""
    return next_action(state, now=now, timing=timing, inhibitor_of=inhibitor_of) is not None


def next_action(
    state: IncidentState, *, now: float, timing: Timing, inhibitor_of: InhibitorLookup = not_inhibited
) -> str | None:
    if state.status == IncidentStatus.RESOLVED.value:
        return (
            "forget"
            if state.resolved_at and now >= state.resolved_at + timing.retention_after_resolve
            else None
        )
    if now >= state.last_occurrence_at + timing.resolve_timeout:
        return "resolve"
    if state.dirty and now >= state.due_at:
        return "flush"
    if state.inhibited_by and inhibitor_of(state.fingerprint, state.labels) is None:
        return "uninhibit"  # its source resolved: the target must now be heard
    if (
        not state.dirty
        and state.last_emitted_at is not None
        and now >= state.last_emitted_at + timing.repeat_interval
    ):
        return "repeat"
    return None


def wake_at(state: IncidentState, timing: Timing) -> float:
    """The earliest time at which :func:`next_action` returns a timed action for ``state``
    (an inhibited incident can also change whenever its source resolves)."""
    if state.status == IncidentStatus.RESOLVED.value:
        return state.resolved_at + timing.retention_after_resolve if state.resolved_at else math.inf
    resolve_at = state.last_occurrence_at + timing.resolve_timeout
    if state.dirty:
        return min(resolve_at, state.due_at)
    if state.last_emitted_at is not None:
        return min(resolve_at, state.last_emitted_at + timing.repeat_interval)
    return resolve_at


def tick(
    state: IncidentState, *, now: float, timing: Timing, inhibitor_of: InhibitorLookup = not_inhibited
) -> tuple[IncidentState | None, Incident | None]:
    """Apply the clock: returns the new state (None = forget it) and the update to emit, if any.

    Every emitted update says whether a firing source inhibits it at that moment.
    """
    action = next_action(state, now=now, timing=timing, inhibitor_of=inhibitor_of)
    if action is None:
        return state, None
    if action == "forget":
        return None, None
    if action == "resolve":
        state.status = IncidentStatus.RESOLVED.value
        state.resolved_at = now
        if state.last_emitted_at is None:
            return state, None  # never notified (still in group_wait): nothing to resolve for anyone
    state.version += 1
    state.dirty = False
    state.last_emitted_at = now
    state.inhibited_by = inhibitor_of(state.fingerprint, state.labels)
    return state, to_incident(state, now=now)


def to_incident(state: IncidentState, *, now: float) -> Incident:
    labels = state.labels
    return Incident(
        fingerprint=state.fingerprint,
        version=state.version,
        status=IncidentStatus(state.status),
        severity=Severity(state.severity),
        category=state.category,
        title=state.title,
        cluster=labels.get("cluster", ""),
        namespace=labels.get("namespace") or None,
        workload=(labels.get("workload") or None) if labels.get("kind") != "Node" else None,
        labels={**labels, "severity": state.severity},
        occurrences=max(1, state.occurrences),
        first_seen=_utc(state.first_seen),
        last_seen=_utc(state.last_seen),
        objects=state.objects,
        objects_total=len(state.object_hashes),
        samples=[
            SampleMessage(reason=s["reason"], message=s["message"], object=s["object"], at=_utc(s["at"]))
            for s in state.samples
        ],
        inhibited_by=state.inhibited_by,
        emitted_at=_utc(now),
    )


def _utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)
