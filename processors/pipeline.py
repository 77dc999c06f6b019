"""The per-occurrence steps, free of Kafka and Faust so they can be tested and benchmarked alone.

Walking-skeleton stage: every valid occurrence becomes one incident of its own. The
aggregation issue replaces :func:`incident_for` with deduplication and grouping over
changelog-backed tables.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from pydantic import ValidationError

from processors.normalize import normalize
from processors.taxonomy import classify
from schemas import CleanEvent, Incident, IncidentStatus, RawEnvelope, SampleMessage, SchemaError, decode
from schemas.base import utc_now
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
        message = event.get("note") if envelope.api == "events.k8s.io/v1" else event.get("message")
        category, severity = classify(
            reason=reason if isinstance(reason, str) else "",
            event_type=str(event.get("type") or ""),
            message=message if isinstance(message, str) else "",
        )
        clean = normalize(envelope, category=category, severity=severity)
    except SchemaError as exc:
        return Rejected(exc.reason, exc.detail)
    except ValidationError as exc:
        return Rejected("invalid-event", describe_validation_error(exc))
    return Processed(envelope, clean)


def fingerprint(*parts: str | None) -> str:
    return hashlib.sha256("\x1f".join(p or "" for p in parts).encode()).hexdigest()[:32]


def incident_for(clean: CleanEvent) -> Incident:
    """One incident per occurrence (skeleton); aggregation replaces this."""
    workload = clean.workload_name or (None if clean.kind == "Node" else clean.name)
    obj = f"{clean.kind}/{clean.namespace}/{clean.name}" if clean.namespace else f"{clean.kind}/{clean.name}"
    labels = {
        "cluster": clean.cluster,
        "namespace": clean.namespace or "",
        "workload": workload or "",
        "kind": clean.kind,
        "reason": clean.reason,
        "category": clean.category,
        "severity": clean.severity.value,
    }
    return Incident(
        fingerprint=fingerprint(clean.occurrence_id),
        version=1,
        status=IncidentStatus.FIRING,
        severity=clean.severity,
        category=clean.category,
        title=f"{clean.reason}: {obj}",
        cluster=clean.cluster,
        namespace=clean.namespace,
        workload=workload,
        labels=labels,
        occurrences=clean.count,
        first_seen=clean.first_seen,
        last_seen=clean.last_seen,
        objects=[obj],
        objects_total=1,
        samples=[
            SampleMessage(reason=clean.reason, message=clean.message[:1000], object=obj, at=clean.last_seen)
        ],
        emitted_at=utc_now(),
    )
