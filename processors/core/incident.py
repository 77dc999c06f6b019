"""Turning occurrences into incidents, with Alertmanager's timing: pure, so every rule is testable.

An incident groups the occurrences that share a group key (default: cluster, namespace,
workload, category). Its state lives in a changelog-backed table keyed by fingerprint;
this module decides, for an occurrence or a clock tick, how the state changes and whether
an update is due:

- group_wait: a new incident waits this long before its first notification, so a burst
  arrives as one message;
- group_interval: later news is flushed at most this often. News is what an on-call
  engineer would want to read again (a new object or workload, a higher severity, a new
  reason, some objects recovered, a rate jump): a count bump alone is not, as Alertmanager
  re-notifies a group only when its alerts change;
- repeat_interval: a firing incident with no news is re-sent this often, with its count;
- recovery: an Event that proves every open object recovered (processors/recovery.py)
  resolves the incident, its message respecting group_interval;
- resolve_timeout: with no occurrence for this long the incident closes as *quiet*, which
  the update says: silence is not proof of recovery. A category whose recovery an Event
  proves waits ``evidence_timeout`` instead: a NotReady node or a ReplicaSet retrying
  every 17 minutes is silent, not over.

Every emitted update carries a version one higher than the last, so notifiers can tell
new updates from replays, and the changes that made it news.
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeGuard

import orjson

from processors.core.recovery import NODE_OUTAGE_CATEGORY
from schemas import (
    Change,
    CleanEvent,
    Incident,
    IncidentStatus,
    RelatedIncident,
    ResolvedBy,
    SampleMessage,
    Severity,
)
from schemas.categories import title as category_title
from schemas.incident import MAX_OBJECTS, MAX_SAMPLES

MAX_TRACKED_OBJECTS = 1000
"""Distinct objects remembered per incident to count them (as short hashes); beyond, counting stops."""

GROUP_LABELS = ("cluster", "namespace", "workload", "category")
SHARED_LABELS = ("kind", "object_kind", "reason", "node")
"""Labels an incident carries only while every occurrence agrees on them ("" once they differ)."""

MAX_REASONS = 16
"""Distinct reasons remembered per incident, to tell a new one."""
MAX_WORKLOADS = 200
"""Affected workloads remembered per node incident."""
RATE_WINDOWS_PER_INTERVAL = 5
"""A rate is measured over windows of a fifth of group_interval at least (a minute by
default), so that a few occurrences close together are no jump."""
DEFAULT_NEWS = frozenset({"new-object", "severity", "new-reason", "recovered-objects", "rate"})

InhibitorLookup = Callable[[str, Mapping[str, str]], str | None]
"""(fingerprint, labels) -> the fingerprint of a firing incident that inhibits it, if any."""
RelatedLookup = Callable[[Mapping[str, str], float], list[RelatedIncident]]
"""(labels, first seen) -> node-level incidents on its node that it started shortly after."""


def not_inhibited(_fingerprint: str, _labels: Mapping[str, str]) -> str | None:
    return None


def no_related(_labels: Mapping[str, str], _first_seen: float) -> list[RelatedIncident]:
    return []


@dataclass(frozen=True)
class Timing:
    group_wait: float = 30.0
    group_interval: float = 300.0
    repeat_interval: float = 4 * 3600.0
    resolve_timeout: float = 15 * 60.0
    evidence_timeout: float = 3600.0
    retention_after_resolve: float = 24 * 3600.0
    news: frozenset[str] = DEFAULT_NEWS
    """Which changes make a notified incident news (``processor.notify_on``)."""
    rate_jump_factor: float = 5.0


def labels_of(clean: CleanEvent, *, echo: bool = False) -> dict[str, str]:
    """Routing labels of an occurrence; the group key is a subset of them.

    An ``echo`` (a pod's Event that only repeats its node's outage, processors/recovery.py)
    belongs to its node's incident when the pod's node is known, else to one incident per
    cluster for the pods of a node not yet known, which the node's incident inhibits.
    """
    if echo:
        node = clean.node or ""
        return {
            "cluster": clean.cluster,
            "namespace": "",
            "workload": node,
            "kind": "Node" if node else clean.kind,
            "object_kind": "Node" if node else clean.kind,
            "node": node,
            "category": NODE_OUTAGE_CATEGORY,
            "severity": Severity.CRITICAL.value,
            "reason": "NodeNotReady",
            **clean.labels,
        }
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
    return _digest_of("\x1f".join(f"{name}={labels.get(name, '')}" for name in sorted(group_by)))


@functools.lru_cache(maxsize=1 << 14)
def _digest_of(material: str) -> str:
    """An incident's fingerprint from its grouping labels; a storm asks for the same few again and again."""
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
    changes: list[str] = field(default_factory=list)
    """What is news since the last update (schemas.Change values)."""
    reasons: list[str] = field(default_factory=list)
    workloads: list[str] = field(default_factory=list)
    open_objects: list[str] = field(default_factory=list)
    """Hashes of the objects still failing, for categories whose recovery an Event proves."""
    recovery: dict[str, Any] | None = None
    """The Event that proved every open object recovered: the incident resolves as recovered."""
    emitted_rate: float = 0.0
    """Occurrences a second when it was last notified, to tell a rate jump."""
    window_start: float = 0.0
    window_count: int = 0
    window_rate: float = 0.0
    """Occurrences a second over the last window of at least a minute."""
    resolved_by: str | None = None
    has_evidence: bool = False
    """Its category's recovery is proven by an Event (processors/recovery.py)."""
    opened_at: float = 0.0
    """When this worker opened it (processing time): rates are measured on that clock."""

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
    echo: bool = False,
    has_evidence: bool = False,
) -> IncidentState:
    """Count one (deduplicated) occurrence into its incident.

    ``echo``: the occurrence only repeats its node's outage (see :func:`labels_of`): it adds
    its workload to the node's incident, and nothing else is news. ``has_evidence``: the
    incident's category has Events that prove recovery, so its objects are tracked as open.
    """
    labels = labels_of(clean, echo=echo)
    seen_at = clean.last_seen.timestamp()
    if _before_recovery(state, seen_at):
        # Written late (a scheduler's series update) about a time before the Event that
        # proved recovery: counted, but it neither reopens the incident nor undoes the proof.
        state.occurrences += 1
        return state
    if state is None or state.status == IncidentStatus.RESOLVED.value:
        state = _opened(state, clean, labels, now=now, timing=timing, group_by=group_by, echo=echo)
    news = _news(state, clean, labels, now=now, timing=timing, echo=echo)
    _count(state, clean, labels, now=now, group_by=group_by, echo=echo, has_evidence=has_evidence)
    _remember_sample(state, clean)
    _note_news(state, news, now=now, timing=timing)
    return state


def _opened(
    resolved: IncidentState | None,
    clean: CleanEvent,
    labels: dict[str, str],
    *,
    now: float,
    timing: Timing,
    group_by: tuple[str, ...],
    echo: bool,
) -> IncidentState:
    """A new incident (or a resolved one opened again, its version going on) for ``clean``."""
    seen_at = clean.last_seen.timestamp()
    return IncidentState(
        fingerprint=fingerprint(labels, group_by),
        labels={
            **clean.labels,
            **{name: labels.get(name, "") for name in (*SHARED_LABELS, *group_by)},
        },
        severity=labels["severity"],
        category=labels["category"],
        title=category_title(
            labels["category"],
            namespace=labels["namespace"] or None,
            workload=labels["workload"] or None,
            node=labels["node"] or None,
            kind=labels["kind"],
            language="en",
        ),
        first_seen=seen_at,
        last_seen=seen_at,
        last_occurrence_at=now,
        version=resolved.version if resolved else 0,
        # Pods of a node not known yet wait longer, so that the node's own incident,
        # which inhibits theirs, is out first.
        due_at=now + timing.group_wait * (3 if echo and not labels["node"] else 1),
        changes=[Change.OPENED.value],
        opened_at=now,
        window_start=now,
    )


def _count(
    state: IncidentState,
    clean: CleanEvent,
    labels: dict[str, str],
    *,
    now: float,
    group_by: tuple[str, ...],
    echo: bool,
    has_evidence: bool,
) -> None:
    """Count the occurrence into ``state``: times, severity, and what it names."""
    seen_at = clean.last_seen.timestamp()
    for name in SHARED_LABELS:
        if name not in group_by and state.labels.get(name) != labels.get(name, ""):
            state.labels[name] = ""
    state.occurrences += 1
    state.window_count += 1
    state.first_seen = min(state.first_seen, clean.first_seen.timestamp())
    state.last_seen = max(state.last_seen, seen_at)
    state.last_occurrence_at = now
    if Severity(labels["severity"]).rank > Severity(state.severity).rank:
        state.severity = labels["severity"]
    if echo:
        _remember(state.workloads, f"{clean.namespace}/{clean.workload_name or clean.name}", MAX_WORKLOADS)
    else:
        object_hash = _remember_object(state, object_ref(clean))
        _remember(state.reasons, clean.reason, MAX_REASONS)
        if has_evidence:
            state.has_evidence = True
            _remember(state.open_objects, object_hash, MAX_TRACKED_OBJECTS)
            if state.recovery is None or seen_at > state.recovery["at"]:
                state.recovery = None  # failing again: whatever proved recovery no longer holds


def _before_recovery(state: IncidentState | None, seen_at: float) -> TypeGuard[IncidentState]:
    return state is not None and state.recovery is not None and seen_at <= state.recovery["at"]


def _news(
    state: IncidentState,
    clean: CleanEvent,
    labels: Mapping[str, str],
    *,
    now: float,
    timing: Timing,
    echo: bool,
) -> list[str]:
    """What this occurrence changes that a reader would want to hear about (before counting it)."""
    if state.last_emitted_at is None:
        return []  # not notified yet: its first update says everything
    news: list[str] = []
    if echo:
        if f"{clean.namespace}/{clean.workload_name or clean.name}" not in state.workloads:
            news.append(Change.NEW_OBJECT.value)
        return news
    if _digest(object_ref(clean)) not in state.object_hashes:
        news.append(Change.NEW_OBJECT.value)
    if Severity(labels["severity"]).rank > Severity(state.severity).rank:
        news.append(Change.SEVERITY.value)
    if clean.reason not in state.reasons and len(state.reasons) < MAX_REASONS:
        news.append(Change.NEW_REASON.value)
    rate = _completed_window_rate(state, now, timing.group_interval / RATE_WINDOWS_PER_INTERVAL)
    if rate is not None and state.emitted_rate > 0 and rate >= timing.rate_jump_factor * state.emitted_rate:
        news.append(Change.RATE.value)
    return news or [Change.COUNT.value]


def _completed_window_rate(state: IncidentState, now: float, span: float) -> float | None:
    """Occurrences a second over the window that this occurrence closes, if it closes one
    (windows of at least ``span``; this occurrence opens the next)."""
    elapsed = now - state.window_start
    if elapsed < span:
        return None
    rate = state.window_count / elapsed
    state.window_start, state.window_count, state.window_rate = now, 0, rate
    return rate


def _note_news(state: IncidentState, news: list[str], *, now: float, timing: Timing) -> None:
    """Record the changes that count as news; the first makes the incident due at the next
    group interval."""
    wanted = [change for change in news if change in timing.news]
    if not wanted:
        return
    if not state.dirty:
        state.dirty = True
        state.due_at = (state.last_emitted_at or now) + timing.group_interval
    for change in wanted:
        if change not in state.changes:
            state.changes.append(change)


def recover(state: IncidentState, clean: CleanEvent, *, now: float, timing: Timing) -> bool:
    """Apply an Event that proves its object recovered (processors/recovery.py); whether the
    state changed. When no object is left failing the incident resolves as recovered, its
    message at the next group interval; before that, some objects recovering is news."""
    if state.status == IncidentStatus.RESOLVED.value or state.recovery is not None:
        return False
    digest = _digest(object_ref(clean))
    own_node = (
        clean.kind == "Node"
        and state.labels.get("kind") == "Node"
        and clean.name == state.labels.get("workload")
    )
    if digest in state.open_objects:
        state.open_objects.remove(digest)
    elif not (own_node and not state.open_objects):
        return False
    if state.open_objects:
        _note_news(state, [Change.RECOVERED_OBJECTS.value], now=now, timing=timing)
        return True
    state.recovery = {
        "reason": clean.reason,
        "message": clean.message,
        "object": object_ref(clean),
        "at": clean.last_seen.timestamp(),
    }
    state.due_at = max(now, (state.last_emitted_at or now) + timing.group_interval)
    return True


def _remember(values: list[str], value: str, limit: int) -> None:
    if value not in values and len(values) < limit:
        values.append(value)


def _digest(ref: str) -> str:
    return hashlib.blake2s(ref.encode(), digest_size=6).hexdigest()


def _remember_object(state: IncidentState, ref: str) -> str:
    digest = _digest(ref)
    if digest in state.object_hashes or len(state.object_hashes) >= MAX_TRACKED_OBJECTS:
        return digest
    state.object_hashes.append(digest)
    if len(state.objects) < MAX_OBJECTS:
        state.objects.append(ref)
    return digest


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


def _stays_muted(state: IncidentState) -> bool:
    """The pods of a node not known yet, once a NotReady node muted them: when that node
    recovers their echo is over too, not news to be heard at last (it closes as quiet,
    unannounced, as it was never announced)."""
    labels = state.labels
    return (
        state.category == NODE_OUTAGE_CATEGORY
        and labels.get("kind") != "Node"
        and not labels.get("node")
        and state.inhibited_by is not None
    )


def quiet_after(state: IncidentState, timing: Timing) -> float:
    """How long without an occurrence closes this incident as quiet."""
    return (
        max(timing.resolve_timeout, timing.evidence_timeout) if state.has_evidence else timing.resolve_timeout
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
    if state.recovery is not None and now >= state.due_at:
        return "recover"
    if now >= state.last_occurrence_at + quiet_after(state, timing):
        return "resolve"
    if state.dirty and now >= state.due_at:
        return "flush"
    if (
        state.inhibited_by
        and not _stays_muted(state)
        and inhibitor_of(state.fingerprint, state.labels) is None
    ):
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
    resolve_at = state.last_occurrence_at + quiet_after(state, timing)
    if state.dirty or state.recovery is not None:
        return min(resolve_at, state.due_at)
    if state.last_emitted_at is not None:
        return min(resolve_at, state.last_emitted_at + timing.repeat_interval)
    return resolve_at


def tick(
    state: IncidentState,
    *,
    now: float,
    timing: Timing,
    inhibitor_of: InhibitorLookup = not_inhibited,
    related_of: RelatedLookup = no_related,
) -> tuple[IncidentState | None, Incident | None]:
    """Apply the clock: returns the new state (None = forget it) and the update to emit, if any.

    Every emitted update says whether a firing source inhibits it at that moment, what
    made it news, and which node-level incidents on its node it started after.
    """
    action = next_action(state, now=now, timing=timing, inhibitor_of=inhibitor_of)
    if action is None:
        return state, None
    if action == "forget":
        return None, None
    if action in ("resolve", "recover"):
        state.status = IncidentStatus.RESOLVED.value
        state.resolved_at = now
        state.resolved_by = (ResolvedBy.RECOVERY if action == "recover" else ResolvedBy.QUIET).value
        state.changes = [Change.RESOLVED.value]
        if state.last_emitted_at is None:
            return state, None  # never notified (still in group_wait): nothing to close for anyone
    elif action == "repeat":
        state.changes = [Change.REPEAT.value]
    elif action == "uninhibit" and not state.dirty:
        state.changes = [Change.UNINHIBITED.value]
    state.version += 1
    state.dirty = False
    inhibited_by = inhibitor_of(state.fingerprint, state.labels)
    if inhibited_by is None and _stays_muted(state):
        inhibited_by = state.inhibited_by
    update = to_incident(state, now=now, inhibited_by=inhibited_by, related=related_of)
    state.inhibited_by = update.inhibited_by
    opened = state.opened_at or state.first_seen
    state.emitted_rate = max(state.window_rate, state.occurrences / max(1.0, now - opened))
    state.last_emitted_at = now
    state.changes = []
    return state, update


def to_incident(
    state: IncidentState,
    *,
    now: float,
    inhibited_by: str | None = None,
    related: RelatedLookup = no_related,
) -> Incident:
    labels = state.labels
    is_node = labels.get("kind") == "Node"
    quiet = state.resolved_by == ResolvedBy.QUIET.value
    return Incident(
        fingerprint=state.fingerprint,
        version=state.version,
        status=IncidentStatus(state.status),
        severity=Severity(state.severity),
        category=state.category,
        title=state.title,
        cluster=labels.get("cluster", ""),
        namespace=labels.get("namespace") or None,
        workload=(labels.get("workload") or None) if not is_node else None,
        labels={**labels, "severity": state.severity},
        occurrences=max(1, state.occurrences),
        first_seen=_utc(state.first_seen),
        last_seen=_utc(state.last_seen),
        objects=state.objects,
        objects_total=len(state.object_hashes),
        samples=[_sample(s) for s in state.samples],
        inhibited_by=inhibited_by,
        emitted_at=_utc(now),
        node=labels.get("node") or None,
        changes=[Change(c) for c in state.changes],
        resolved_by=ResolvedBy(state.resolved_by) if state.resolved_by else None,
        recovery=_sample(state.recovery) if state.recovery and not quiet else None,
        quiet_seconds=(now - state.last_occurrence_at) if quiet else None,
        related=[] if is_node else related(labels, state.first_seen)[:3],
        workloads=state.workloads[:MAX_OBJECTS],
    )


def _sample(stored: Mapping[str, Any]) -> SampleMessage:
    return SampleMessage(
        reason=stored["reason"], message=stored["message"], object=stored["object"], at=_utc(stored["at"])
    )


def _utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)
