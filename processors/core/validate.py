"""The per-occurrence steps, free of Kafka and Faust so they can be tested and benchmarked alone.

Deduplication and aggregation, which need state, live in :mod:`processors.app` and
:mod:`processors.core.incident`.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

from processors.core.normalize import message_of, normalize
from processors.core.taxonomy import classify
from schemas import CleanEvent, RawEnvelope, SchemaError, decode
from schemas.codec import describe_validation_error


@dataclass(frozen=True, slots=True)
class Processed:
    envelope: RawEnvelope
    clean: CleanEvent


@dataclass(frozen=True, slots=True)
class Rejected:
    reason: str
    error: str


def validate_and_classify(value: bytes | None) -> Processed | Rejected:
    """Parse a raw message, check its contract, normalize and classify it; never raises on input."""
    if value is None:
        return Rejected("empty", "message has no value")
    try:
        envelope = decode(value, RawEnvelope)
        event = envelope.event
        reason = event.get("reason")
        category, severity = classify(
            reason=reason if isinstance(reason, str) else "",
            event_type=str(event.get("type") or ""),
            message=message_of(envelope),
        )
        clean = normalize(envelope, category=category, severity=severity)
    except SchemaError as exc:
        return Rejected(exc.reason, exc.detail)
    except ValidationError as exc:
        return Rejected("invalid-event", describe_validation_error(exc))
    except Exception as exc:
        # A bug met by input. Raising would restart the Faust agent past this message: a
        # silent drop. Quarantined, the message is kept with the cause.
        return Rejected("processor-error", f"{type(exc).__name__}: {exc}")
    return Processed(envelope, clean)
