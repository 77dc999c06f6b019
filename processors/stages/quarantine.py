"""Input the processor cannot use goes to the quarantine topic with its cause, never lost."""

from __future__ import annotations

import logging

from processors.delivery.gaps import Record
from processors.delivery.outputs import OUTPUT_TOO_LARGE, Cause
from processors.metrics import QUARANTINED
from processors.stages.ports import Publish
from schemas import QuarantineRecord, encode

log = logging.getLogger(__name__)


class Quarantine:
    def __init__(self, publish: Publish, topic: str) -> None:
        self._publish = publish
        self._topic = topic

    async def __call__(self, record: Record, stage: str, reason: str, error: str) -> None:
        QUARANTINED.labels(stage, reason).inc()
        log.warning(
            "quarantined %s[%d]@%d: %s: %s",
            record.topic,
            record.partition,
            record.offset,
            reason,
            error[:300],
        )
        quarantined = QuarantineRecord.of(
            stage=stage,
            reason=reason,
            error=error,
            source_topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            payload=record.value,
        )
        key = f"{record.topic}/{record.partition}/{record.offset}".encode()
        await self._publish(self._topic, key, encode(quarantined))

    async def refused(self, cause: Cause, error: str) -> None:
        """An output made from ``cause`` was refused by Kafka for its size."""
        await self(cause.record, cause.stage, OUTPUT_TOO_LARGE, error)
