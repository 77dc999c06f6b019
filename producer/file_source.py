"""Events from a JSON-lines file: Event objects or whole envelopes, one per line.

Used for the walking skeleton and ``herald replay``; a line that is not a usable Event
is quarantined with its line number rather than skipped in silence.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from schemas import Observation, RawEnvelope, RawMessage, SchemaError, raw_message
from schemas.base import utc_now
from schemas.codec import from_object


@dataclass(frozen=True, slots=True)
class GoodLine:
    event: dict[str, Any]
    message: RawMessage
    observed_at: datetime


@dataclass(frozen=True)
class BadLine:
    line: int
    raw: bytes
    error: SchemaError


def read_events(path: Path, *, cluster: str, producer_id: str | None = None) -> Iterator[GoodLine | BadLine]:
    """Yield an envelope per good line (stamped with ``cluster`` unless it is one) or a BadLine.

    ``cluster`` and ``producer_id`` must already be valid (they come from validated settings).
    """
    replica = producer_id or socket.gethostname()
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            line = raw.strip()
            if not line:
                continue
            try:
                yield _envelope(orjson.loads(line), cluster=cluster, producer_id=replica)
            except orjson.JSONDecodeError as exc:
                yield BadLine(number, line, SchemaError("not-json", str(exc)))
            except SchemaError as exc:
                yield BadLine(number, line, exc)


def _envelope(obj: Any, *, cluster: str, producer_id: str) -> GoodLine:
    if isinstance(obj, dict) and obj.get("schema") == RawEnvelope.SCHEMA:
        envelope = from_object(obj, RawEnvelope)
        return GoodLine(envelope.event, envelope.to_message(), envelope.observed_at)
    observed_at = utc_now()
    message = raw_message(
        obj,
        cluster=cluster,
        producer_id=producer_id,
        observation=Observation.REPLAYED,
        api="events.k8s.io/v1" if isinstance(obj, dict) and "regarding" in obj else "v1",
        observed_at=observed_at,
    )
    return GoodLine(obj, message, observed_at)
