"""A quarantined input: bad bytes kept with the reason, never silently dropped."""

from __future__ import annotations

import base64
from typing import ClassVar, Literal

from pydantic import Field

from schemas.base import TopicModel, UtcDatetime, utc_now

MAX_PAYLOAD_BYTES = 64 * 1024


class QuarantineRecord(TopicModel):
    """Published to ``events.invalid`` keyed by source topic/partition/offset."""

    SCHEMA: ClassVar[str] = "herald.quarantine"
    VERSION: ClassVar[int] = 1

    schema_: Literal["herald.quarantine"] = Field("herald.quarantine", alias="schema")
    v: Literal[1] = 1
    stage: str = Field(description="Which step refused it, e.g. processor.validate.")
    reason: str = Field(description="Short class of failure, e.g. not-json, invalid.")
    error: str = Field(max_length=2000)
    source_topic: str
    partition: int
    offset: int
    payload_b64: str = Field(description=f"The original bytes, base64, at most {MAX_PAYLOAD_BYTES} bytes.")
    payload_size: int
    payload_truncated: bool
    at: UtcDatetime

    model_config = TopicModel.model_config | {"populate_by_name": True}

    @classmethod
    def of(
        cls,
        *,
        stage: str,
        reason: str,
        error: str,
        source_topic: str,
        partition: int,
        offset: int,
        payload: bytes | None,
    ) -> QuarantineRecord:
        """Build a record keeping at most ``MAX_PAYLOAD_BYTES`` of the original bytes."""
        data = payload or b""
        kept = data[:MAX_PAYLOAD_BYTES]
        return cls(
            stage=stage,
            reason=reason,
            error=error[:2000],
            source_topic=source_topic,
            partition=partition,
            offset=offset,
            payload_b64=base64.b64encode(kept).decode("ascii"),
            payload_size=len(data),
            payload_truncated=len(kept) < len(data),
            at=utc_now(),
        )

    @property
    def payload(self) -> bytes:
        return base64.b64decode(self.payload_b64)
