"""The clean event: a flattened, classified occurrence for the processors and analytics."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar, Literal

from pydantic import Field

from schemas.base import TopicModel, UtcDatetime
from schemas.bounds import MESSAGE_MAX_BYTES, STRING_MAX_BYTES


class Severity(StrEnum):
    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


class CleanEvent(TopicModel):
    """One deduplicated occurrence, normalized from either Events API.

    Published to ``events.clean`` keyed like the raw topic (cluster + object), for
    downstream analytics consumers; exactly one record per occurrence id.
    """

    SCHEMA: ClassVar[str] = "herald.clean-event"
    VERSION: ClassVar[int] = 1

    schema_: Literal["herald.clean-event"] = Field("herald.clean-event", alias="schema")
    v: Literal[1] = 1
    # cluster/uid/resourceVersion: the API server sets both short, a producer cuts any string to
    # STRING_MAX_BYTES; longer, it came from elsewhere and is refused rather than cut (an identity).
    occurrence_id: str = Field(max_length=64 + 2 * STRING_MAX_BYTES)
    cluster: str
    # Kubernetes' own bounds (a namespace is a DNS label, names are DNS subdomains; a kind or a
    # reason is far shorter): an Event naming something longer names nothing real, and these
    # fields are copied into incidents, titles and labels, which must stay under Kafka's limit.
    namespace: str | None = Field(None, max_length=63)
    kind: str = Field(max_length=253)
    name: str = Field(max_length=253)
    uid: str | None = None
    workload_kind: str | None = None
    workload_name: str | None = None
    node: str | None = Field(None, max_length=253)
    reason: str = Field(max_length=253)
    type: str
    message: str = Field(description=f"At most {MESSAGE_MAX_BYTES} bytes of UTF-8, cut with a marker.")
    count: int = Field(ge=1, le=2**63 - 1, description="Occurrences the Event reported (int64).")
    first_seen: UtcDatetime
    last_seen: UtcDatetime
    source_component: str | None = None
    reporting_component: str | None = None
    category: str
    severity: Severity
    labels: dict[str, str] = Field(default_factory=dict)
    observed_at: UtcDatetime

    model_config = TopicModel.model_config | {"populate_by_name": True}
