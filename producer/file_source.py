"""Events from a JSON-lines file: Event objects or whole envelopes, one per line.

Used for the walking skeleton and ``herald replay``; a line that is not a usable Event
is quarantined with its line number rather than skipped in silence. Events are fitted to
the topic like the watch's (producer/bounds.py): cut where oversized, quarantined as
``too-large`` when even cut they do not fit.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import orjson

from producer.bounds import Cuts, TooLargeError, bounded_cuts, fit
from schemas import Observation, RawEnvelope, RawMessage, SchemaError, raw_message
from schemas.base import utc_now
from schemas.codec import from_object


@dataclass(frozen=True, slots=True)
class GoodLine:
    line: int
    event: dict[str, Any]
    message: RawMessage
    observed_at: datetime
    cuts: Cuts


@dataclass(frozen=True)
class BadLine:
    line: int
    raw: bytes
    error: SchemaError


def read_events(
    path: Path, *, cluster: str, budget: int, producer_id: str | None = None
) -> Iterator[GoodLine | BadLine]:
    """Yield an envelope of at most ``budget`` bytes per good line (stamped with ``cluster``
    unless it is one) or a BadLine.

    ``cluster`` and ``producer_id`` must already be valid (they come from validated settings).
    """
    replica = producer_id or socket.gethostname()
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            line = raw.strip()
            if not line:
                continue
            try:
                yield _envelope(
                    orjson.loads(line), number, cluster=cluster, producer_id=replica, budget=budget
                )
            except orjson.JSONDecodeError as exc:
                yield BadLine(number, line, SchemaError("not-json", str(exc)))
            except SchemaError as exc:
                yield BadLine(number, line, exc)
            except TooLargeError as exc:
                yield BadLine(number, line, SchemaError("too-large", str(exc)))
            except (TypeError, ValueError, RecursionError) as exc:  # e.g. nested past orjson's limit
                yield BadLine(number, line, SchemaError("unpublishable", f"{type(exc).__name__}: {exc}"))


def _envelope(obj: Any, line: int, *, cluster: str, producer_id: str, budget: int) -> GoodLine:
    api: Literal["v1", "events.k8s.io/v1"]
    if isinstance(obj, dict) and obj.get("schema") == RawEnvelope.SCHEMA:
        envelope = from_object(obj, RawEnvelope)
        cluster, producer_id, event = envelope.cluster, envelope.producer_id, envelope.event
        observation, api, observed_at = envelope.observation, envelope.api, envelope.observed_at
        earlier: Cuts = [c.model_dump() for c in envelope.cut]
    elif isinstance(obj, dict):
        event, observation, observed_at, earlier = obj, Observation.REPLAYED, utc_now(), []
        api = "events.k8s.io/v1" if "regarding" in obj else "v1"
    else:
        raise SchemaError("invalid", "event must be an object")

    def encode(bounded: dict[str, Any], cuts: Cuts) -> RawMessage:
        return raw_message(
            bounded,
            cluster=cluster,
            producer_id=producer_id,
            observation=observation,
            api=api,
            observed_at=observed_at,
            cut=bounded_cuts(earlier + cuts),
        )

    message, cuts = fit(event, encode, budget=budget)
    return GoodLine(line, event, message, observed_at, cuts)
