"""The raw event envelope: one observed occurrence of a Kubernetes Event, as the API returned it."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from schemas.base import TopicModel, UtcDatetime

CLUSTER_ID_PATTERN = r"^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$"


class Observation(StrEnum):
    """How the producer saw the Event: from a list, or as a watch notification."""

    LISTED = "LISTED"
    ADDED = "ADDED"
    MODIFIED = "MODIFIED"
    REPLAYED = "REPLAYED"


class RawEnvelope(TopicModel):
    """One occurrence as observed in one cluster.

    The ``event`` is kept verbatim so nothing the API said is lost before the
    processors decide what matters. An occurrence is identified by
    (cluster, metadata.uid, metadata.resourceVersion): a recorder PATCH that bumps
    ``count`` yields a new resourceVersion, a relist or a second producer replica yields
    an exact repeat.
    """

    SCHEMA: ClassVar[str] = "herald.raw-event"
    VERSION: ClassVar[int] = 1

    schema_: Literal["herald.raw-event"] = Field("herald.raw-event", alias="schema")
    v: Literal[1] = 1
    cluster: str = Field(pattern=CLUSTER_ID_PATTERN, description="Cluster id from the producer's config.")
    producer_id: str = Field(min_length=1, max_length=253, description="Which producer replica observed it.")
    observed_at: UtcDatetime
    observation: Observation
    api: Literal["v1", "events.k8s.io/v1"] = "v1"
    event: dict[str, Any] = Field(description="The Event object exactly as the API returned it.")

    model_config = TopicModel.model_config | {"populate_by_name": True}

    @field_validator("event")
    @classmethod
    def _event_has_identity(cls, event: dict[str, Any]) -> dict[str, Any]:
        metadata = event.get("metadata")
        if not isinstance(metadata, dict):
            raise ValueError("event.metadata must be an object")
        for key in ("uid", "resourceVersion"):
            value = metadata.get(key)
            if not isinstance(value, str) or not value:
                raise ValueError(f"event.metadata.{key} must be a non-empty string")
        return event

    @property
    def occurrence_id(self) -> str:
        """The identity that deduplication uses: exact repeats share it."""
        metadata = self.event["metadata"]
        return f"{self.cluster}/{metadata['uid']}/{metadata['resourceVersion']}"

    @property
    def partition_key(self) -> str:
        return raw_partition_key(self.cluster, self.event, api=self.api)


def involved_object(event: dict[str, Any], *, api: str = "v1") -> dict[str, Any]:
    """The object an Event is about, under either API's field name."""
    field = "regarding" if api == "events.k8s.io/v1" else "involvedObject"
    value = event.get(field)
    return value if isinstance(value, dict) else {}


def raw_partition_key(cluster: str, event: dict[str, Any], *, api: str = "v1") -> str:
    """Key of the raw and clean topics: cluster + involved object.

    All events about one object land in one partition and keep their order there.
    """
    obj = involved_object(event, api=api)
    return f"{cluster}/{obj.get('namespace') or ''}/{obj.get('kind', '')}/{obj.get('name', '')}"
