"""Sending through Faust's producer directly, and knowing when Kafka refused a message for its size."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from aiokafka.errors import (  # type: ignore[import-untyped]
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
)

_SIZE_ERRORS = (MessageSizeTooLargeError, RecordListTooLargeError, RecordTooLargeError)


class RawProducer:
    """Straight to Faust's producer rather than through ``Topic.send``, whose channel, future and
    sensor bookkeeping for every message cost the worker a fifth of its CPU. What it sends is
    flushed by Faust before every offset commit."""

    def __init__(self, app: Any) -> None:
        self._app = app
        self._producer: Any = None

    async def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int | None,
        headers: Mapping[str, bytes] | None,
    ) -> asyncio.Future[Any]:
        if self._producer is None:
            self._producer = await self._app.maybe_start_producer()
        delivery: asyncio.Future[Any] = await self._producer.send(topic, key, value, partition, None, headers)
        return delivery


def too_large(error: BaseException | None) -> bool:
    """Whether Kafka refused a message for its size, by the client's check or the broker's
    (Faust wraps the client's error: the chain of causes is followed)."""
    while error is not None:
        if isinstance(error, _SIZE_ERRORS):
            return True
        error = error.__cause__
    return False
