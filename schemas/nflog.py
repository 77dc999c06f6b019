"""The notification log: what each receiver last decided about each incident."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar, Literal

from pydantic import Field

from schemas.base import TopicModel, UtcDatetime
from schemas.incident import IncidentStatus


class Outcome(StrEnum):
    DELIVERED = "delivered"
    SILENCED = "silenced"
    INHIBITED = "inhibited"
    DEAD_LETTERED = "dead-lettered"


class NotifyLogEntry(TopicModel):
    """Kept in the compacted ``notify.log`` topic keyed ``receiver/fingerprint``: the latest
    incident version a receiver has dealt with, so a restarted or rebalanced notifier never
    sends it again. ``delivered_*`` remember the last version that was actually sent."""

    SCHEMA: ClassVar[str] = "herald.notify-log"
    VERSION: ClassVar[int] = 1

    schema_: Literal["herald.notify-log"] = Field("herald.notify-log", alias="schema")
    v: Literal[1] = 1
    receiver: str
    fingerprint: str
    version: int = Field(ge=1)
    outcome: Outcome
    at: UtcDatetime
    delivered_version: int | None = None
    delivered_status: IncidentStatus | None = None
    delivered_severity: str | None = None
    delivered_at: UtcDatetime | None = None
    silence_id: str | None = None

    model_config = TopicModel.model_config | {"populate_by_name": True}
