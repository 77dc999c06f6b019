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

    model_config = TopicModel.model_config | {"populate_by_name": True}
