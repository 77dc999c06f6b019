"""The incident: what the notifiers route, render and deliver."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar, Literal

from pydantic import Field

from schemas.base import NestedModel, TopicModel, UtcDatetime
from schemas.clean import Severity

MAX_SAMPLES = 5
MAX_OBJECTS = 20


class IncidentStatus(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


class Change(StrEnum):
    """Why an update of an incident was emitted: what an on-call engineer reads as news."""

    OPENED = "opened"
    NEW_OBJECT = "new-object"
    SEVERITY = "severity"
    NEW_REASON = "new-reason"
    RECOVERED_OBJECTS = "recovered-objects"
    RATE = "rate"
    COUNT = "count"
    """Only more occurrences: not news by default (``processor.notify_on`` may make it so)."""
    REPEAT = "repeat"
    """Nothing new: the repeat interval passed (the current count is shown)."""
    UNINHIBITED = "uninhibited"
    RESOLVED = "resolved"


class ResolvedBy(StrEnum):
    RECOVERY = "recovery"
    """An Event proved it: NodeReady, Scheduled, Pulled/Started, SuccessfulCreate..."""
    QUIET = "quiet"
    """No new Event for resolve_timeout_seconds: quiet, which is not proof of recovery."""


class RelatedIncident(NestedModel):
    """A node-level incident this one started shortly after, on the same node."""

    fingerprint: str
    category: str
    reason: str
    node: str
    at: UtcDatetime


class SampleMessage(NestedModel):
    reason: str
    message: str
    object: str
    at: UtcDatetime


class Incident(TopicModel):
    """One update of an incident, keyed by its fingerprint on the ``alerts`` topic.

    ``version`` increases with every emitted update of the same fingerprint, so a
    notifier can tell a new update from a replay of one it already delivered.
    """

    SCHEMA: ClassVar[str] = "herald.incident"
    VERSION: ClassVar[int] = 1

    schema_: Literal["herald.incident"] = Field("herald.incident", alias="schema")
    v: Literal[1] = 1
    fingerprint: str = Field(min_length=8, max_length=64, pattern=r"^[0-9a-f]+$")
    version: int = Field(ge=1)
    status: IncidentStatus
    severity: Severity
    category: str
    title: str
    cluster: str
    namespace: str | None = None
    workload: str | None = None
    labels: dict[str, str] = Field(default_factory=dict, description="Routing labels.")
    occurrences: int = Field(ge=1, description="Occurrences counted into this incident so far.")
    first_seen: UtcDatetime
    last_seen: UtcDatetime
    objects: list[str] = Field(default_factory=list, max_length=MAX_OBJECTS)
    objects_total: int = Field(ge=0, default=0)
    samples: list[SampleMessage] = Field(default_factory=list, max_length=MAX_SAMPLES)
    inhibited_by: str | None = None
    emitted_at: UtcDatetime
    node: str | None = Field(None, description="The node it is on, when all its occurrences share one.")
    changes: list[Change] = Field(default_factory=list, description="Why this update was emitted.")
    resolved_by: ResolvedBy | None = Field(None, description="On a resolved update: evidence or quiet.")
    recovery: SampleMessage | None = Field(None, description="The Event that proved recovery, if any.")
    quiet_seconds: float | None = Field(None, description="On a quiet close: how long no Event came.")
    related: list[RelatedIncident] = Field(default_factory=list, max_length=3)
    workloads: list[str] = Field(
        default_factory=list, max_length=MAX_OBJECTS, description="Affected workloads (a node's incident)."
    )

    model_config = TopicModel.model_config | {"populate_by_name": True}
