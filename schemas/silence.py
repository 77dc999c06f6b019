"""A silence: matchers over incident labels during a time window."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from schemas.base import TopicModel, UtcDatetime
from schemas.matchers import Matcher


class Silence(TopicModel):
    """Stored in the compacted ``silences`` topic keyed by id; the latest record wins."""

    SCHEMA: ClassVar[str] = "herald.silence"
    VERSION: ClassVar[int] = 1

    schema_: Literal["herald.silence"] = Field("herald.silence", alias="schema")
    v: Literal[1] = 1
    id: str = Field(min_length=1, max_length=64)
    matchers: list[Matcher] = Field(min_length=1)
    starts_at: UtcDatetime
    ends_at: UtcDatetime
    created_by: str
    comment: str = ""
    updated_at: UtcDatetime

    model_config = TopicModel.model_config | {"populate_by_name": True}

    @model_validator(mode="after")
    def _window_is_ordered(self) -> Silence:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self
