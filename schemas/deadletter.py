"""A dead letter: an incident a receiver refused for good, with the reason and a redacted target."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from schemas.base import TopicModel, UtcDatetime
from schemas.incident import Incident


class DeadLetter(TopicModel):
    """Published to ``alerts.deadletter`` keyed by receiver/fingerprint. Never holds a secret."""

    SCHEMA: ClassVar[str] = "herald.dead-letter"
    VERSION: ClassVar[int] = 1

    schema_: Literal["herald.dead-letter"] = Field("herald.dead-letter", alias="schema")
    v: Literal[1] = 1
    receiver: str
    receiver_type: str
    target: str = Field(description="Where it was sent, with keys and tokens redacted.")
    reason: str = Field(max_length=2000)
    attempts: int = Field(ge=1)
    incident: Incident
    at: UtcDatetime

    model_config = TopicModel.model_config | {"populate_by_name": True}
