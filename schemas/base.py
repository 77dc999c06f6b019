"""Common base of every topic model: a schema name and a major version on the wire."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict


def _require_timezone(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamps must carry a time zone (RFC 3339)")
    try:
        return value.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-01:00: pydantic reports only ValueError
        raise ValueError("timestamp is out of range once converted to UTC") from None


UtcDatetime = Annotated[datetime, AfterValidator(_require_timezone)]
"""A timestamp normalized to UTC; naive datetimes are rejected rather than guessed."""


def utc_now() -> datetime:
    return datetime.now(UTC)


class NestedModel(BaseModel):
    """A part of a topic message (no schema name of its own)."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class TopicModel(BaseModel):
    """A message on a kube-herald topic.

    Subclasses set ``SCHEMA`` and ``VERSION`` and declare ``schema``/``v`` fields with
    those literal values, so a consumer can tell what it holds before trusting it.
    Unknown fields are ignored (a newer producer may add optional fields without a
    version bump); removing or retyping a field bumps ``VERSION``.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    SCHEMA: ClassVar[str]
    VERSION: ClassVar[int]

    def wire(self) -> dict[str, Any]:
        """The JSON-ready form (orjson serializes datetimes and enums itself)."""
        return self.model_dump(mode="python", by_alias=True)
