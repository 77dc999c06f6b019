"""Events from a JSON-lines file: Event objects or whole envelopes, one per line.

Used for the walking skeleton and ``herald replay``; a line that is not a usable Event
is quarantined with its line number rather than skipped in silence.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from schemas import Observation, RawEnvelope, SchemaError
from schemas.base import utc_now
from schemas.codec import from_object


@dataclass(frozen=True)
class BadLine:
    line: int
    raw: bytes
    error: SchemaError


def read_events(
    path: Path, *, cluster: str, producer_id: str | None = None
) -> Iterator[RawEnvelope | BadLine]:
    """Yield an envelope per good line (stamped with ``cluster`` unless it is one) or a BadLine."""
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


def _envelope(obj: Any, *, cluster: str, producer_id: str) -> RawEnvelope:
    if isinstance(obj, dict) and obj.get("schema") == RawEnvelope.SCHEMA:
        return from_object(obj, RawEnvelope)
    wrapped = {
        "schema": RawEnvelope.SCHEMA,
        "v": RawEnvelope.VERSION,
        "cluster": cluster,
        "producer_id": producer_id,
        "observed_at": utc_now().isoformat(),
        "observation": Observation.REPLAYED,
        "api": "events.k8s.io/v1" if isinstance(obj, dict) and "regarding" in obj else "v1",
        "event": obj,
    }
    return from_object(wrapped, RawEnvelope)
