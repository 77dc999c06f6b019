"""A producer's resume point: the resourceVersion up to which every occurrence was delivered."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from schemas.base import TopicModel, UtcDatetime


class ProducerCheckpoint(TopicModel):
    """Kept in the compacted ``producer.checkpoints`` topic keyed by :attr:`key`.

    A checkpoint at resourceVersion X promises that some producer delivered every
    occurrence the watch reported up to X, so any replica of the same watch may resume
    from it.
    """

    SCHEMA: ClassVar[str] = "herald.producer-checkpoint"
    VERSION: ClassVar[int] = 1

    schema_: Literal["herald.producer-checkpoint"] = Field("herald.producer-checkpoint", alias="schema")
    v: Literal[1] = 1
    key: str = Field(description="cluster/api/scope: what was watched")
    cluster: str
    producer_id: str
    resource_version: str = Field(min_length=1)
    at: UtcDatetime

    model_config = TopicModel.model_config | {"populate_by_name": True}
