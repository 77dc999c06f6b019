"""The raw event envelope: one observed occurrence of a Kubernetes Event, as the API returned it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Literal

import orjson
from pydantic import Field, field_validator

from schemas.base import NestedModel, TopicModel, UtcDatetime
from schemas.codec import SchemaError

CLUSTER_ID_PATTERN = r"^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$"


class Observation(StrEnum):
    """How the producer saw the Event: from a list, or as a watch notification."""

    LISTED = "LISTED"
    ADDED = "ADDED"
    MODIFIED = "MODIFIED"
    REPLAYED = "REPLAYED"


class CutField(NestedModel):
    """One field of the Event that the producer cut or removed to keep the envelope within bounds."""

    field: str = Field(description="Dotted path in the Event, e.g. message or metadata.annotations.x.")
    bytes: int = Field(ge=0, description="Its size before the cut (UTF-8 of a string, JSON otherwise).")
    action: Literal["cut", "removed"] = Field(
        description="cut: the string keeps its prefix and the marker; removed: the field is gone."
    )


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
    event: dict[str, Any] = Field(
        description="The Event object as the API returned it, but for the fields listed in ``cut``."
    )
    cut: list[CutField] = Field(
        default_factory=list,
        description="Fields cut to the bounds of schemas/bounds.py (strings end with its marker).",
    )

    model_config = TopicModel.model_config | {"populate_by_name": True}

    @field_validator("event")
    @classmethod
    def _event_has_identity(cls, event: dict[str, Any]) -> dict[str, Any]:
        problem = identity_problem(event)
        if problem:
            raise ValueError(problem)
        return event

    def wire(self) -> dict[str, Any]:
        # Shallow: the Event is passed through untouched, not copied field by field.
        cut = [c.model_dump() for c in self.cut]
        return _wire(
            self.event, self.cluster, self.producer_id, self.observation, self.api, self.observed_at, cut
        )

    @property
    def occurrence_id(self) -> str:
        """The identity that deduplication uses: exact repeats share it."""
        metadata = self.event["metadata"]
        return f"{self.cluster}/{metadata['uid']}/{metadata['resourceVersion']}"

    @property
    def partition_key(self) -> str:
        return raw_partition_key(self.cluster, self.event, api=self.api)

    def to_message(self) -> RawMessage:
        return RawMessage(self.cluster, self.partition_key, orjson.dumps(self.wire()))


@dataclass(frozen=True, slots=True)
class RawMessage:
    """A raw envelope serialized for Kafka: what the producer's hot path handles."""

    cluster: str
    key: str
    value: bytes


def raw_message(
    event: Any,
    *,
    cluster: str,
    producer_id: str,
    observation: Observation,
    api: Literal["v1", "events.k8s.io/v1"],
    observed_at: datetime,
    cut: list[dict[str, Any]] | None = None,
) -> RawMessage:
    """Serialize one observed Event without building a model (the producer's hot path).

    ``cluster`` and ``producer_id`` come from validated settings, so only the Event is
    checked: its identity, which deduplication relies on. The bytes are exactly what
    :meth:`RawEnvelope.wire` would produce, and decode as a RawEnvelope. ``cut`` lists what
    the producer cut (see producer/bounds.py).
    """
    problem = identity_problem(event) if isinstance(event, dict) else "event must be an object"
    if problem:
        raise SchemaError("invalid", f"event: {problem}")
    wire = _wire(event, cluster, producer_id, observation, api, observed_at, cut)
    return RawMessage(cluster, raw_partition_key(cluster, event, api=api), orjson.dumps(wire))


def _wire(  # noqa: PLR0917 (private; both callers name every field)
    event: dict[str, Any],
    cluster: str,
    producer_id: str,
    observation: str,
    api: str,
    observed_at: datetime,
    cut: list[dict[str, Any]] | None,
) -> dict[str, Any]:
    wire = {
        "schema": RawEnvelope.SCHEMA,
        "v": RawEnvelope.VERSION,
        "cluster": cluster,
        "producer_id": producer_id,
        "observed_at": observed_at,
        "observation": observation,
        "api": api,
        "event": event,
    }
    if cut:  # absent unless something was cut: most envelopes stay byte for byte as before
        wire["cut"] = cut
    return wire


def identity_problem(event: dict[str, Any]) -> str | None:
    """Why an Event cannot be deduplicated (no uid or resourceVersion), or None."""
    metadata = event.get("metadata")
    if not isinstance(metadata, dict):
        return "event.metadata must be an object"
    uid, version = metadata.get("uid"), metadata.get("resourceVersion")
    if uid and version and isinstance(uid, str) and isinstance(version, str):
        return None
    key = "resourceVersion" if uid and isinstance(uid, str) else "uid"
    return f"event.metadata.{key} must be a non-empty string"


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
