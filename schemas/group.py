"""Input of the aggregation stage: an occurrence for an incident, or a clock tick for it."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from schemas.base import TopicModel
from schemas.clean import CleanEvent


class GroupInput(TopicModel):
    """On the internal ``events.grouped`` topic, keyed by incident fingerprint.

    Ticks travel through the topic (rather than a timer touching state directly) so that
    every change of an incident happens in stream order, in its partition, and is
    recorded in the changelog like any other.
    """

    SCHEMA: ClassVar[str] = "herald.group-input"
    VERSION: ClassVar[int] = 1

    schema_: Literal["herald.group-input"] = Field("herald.group-input", alias="schema")
    v: Literal[1] = 1
    clean: CleanEvent | None = None
    source_partition: int | None = Field(None, description="Raw partition the occurrence was read from.")
    source_offset: int | None = Field(None, description="Its raw offset: replays are recognised by it.")
    tick_at: float | None = None

    model_config = TopicModel.model_config | {"populate_by_name": True}
