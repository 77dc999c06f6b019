"""Flatten either Events API into the clean event schema and derive the workload.

Anything can be on the raw topic (an old producer, a replayed file, a hostile writer), so
the text copied from an Event is bounded here again, with the marker of schemas/bounds.py:
a clean event, and the incident samples and grouped messages made of it, stay small
whatever the Event held. (Names are validated instead: see schemas/clean.py.)
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from schemas import CleanEvent, RawEnvelope
from schemas.bounds import MESSAGE_MAX_BYTES, STRING_MAX_BYTES, cut_text
from schemas.raw import involved_object

# Pod template hashes use a vowel-free alphabet (k8s.io/apimachinery rand.SafeEncodeString).
_SAFE = "bcdfghjklmnpqrstvwxz2456789"
_DEPLOYMENT_POD = re.compile(rf"^(?P<name>.+)-[{_SAFE}]{{6,10}}-[{_SAFE}]{{5}}$")
_CRONJOB_POD = re.compile(r"^(?P<name>.+)-\d{8,10}-[a-z0-9]{5}$")
_STATEFULSET_POD = re.compile(r"^(?P<name>.+)-\d+$")
_OWNED_POD = re.compile(rf"^(?P<name>.+)-[{_SAFE}]{{5}}$")
_REPLICASET = re.compile(rf"^(?P<name>.+)-[{_SAFE}]{{6,10}}$")
_CRONJOB_JOB = re.compile(r"^(?P<name>.+)-\d{8,10}$")
_SELF_NAMED = {"Deployment", "StatefulSet", "DaemonSet", "CronJob", "Job", "ReplicaSet"}


def derive_workload(kind: str, name: str) -> tuple[str | None, str | None]:
    """Best guess of the controller that owns an object, from Kubernetes' naming patterns.

    Events do not carry owner references, so names are all we have; an ambiguous pod
    (DaemonSet or Job, both ``<name>-<5 chars>``) gets a name but no kind.
    """
    if kind == "Pod":
        if match := _CRONJOB_POD.match(name):
            return "CronJob", match["name"]
        if match := _DEPLOYMENT_POD.match(name):
            return "Deployment", match["name"]
        if match := _STATEFULSET_POD.match(name):
            return "StatefulSet", match["name"]
        if match := _OWNED_POD.match(name):
            return None, match["name"]
        return None, None
    if kind == "ReplicaSet" and (match := _REPLICASET.match(name)):
        return "Deployment", match["name"]
    if kind == "Job" and (match := _CRONJOB_JOB.match(name)):
        return "CronJob", match["name"]
    if kind in _SELF_NAMED:
        return kind, name
    return None, None


def message_of(envelope: RawEnvelope) -> str:
    """The Event's text within :data:`MESSAGE_MAX_BYTES`: what is classified, published and sampled."""
    event = envelope.event
    text = event.get("note") if envelope.api == "events.k8s.io/v1" else event.get("message")
    return cut_text(text, MESSAGE_MAX_BYTES) if isinstance(text, str) else ""


def normalize(envelope: RawEnvelope, *, category: str, severity: str) -> CleanEvent:
    event = envelope.event
    new_api = envelope.api == "events.k8s.io/v1"
    obj = involved_object(event, api=envelope.api)
    metadata = event["metadata"]
    kind = _text(obj.get("kind")) or "Unknown"
    name = _text(obj.get("name")) or ""
    workload_kind, workload_name = derive_workload(kind, name)
    source = _mapping(event.get("source"))
    series = _mapping(event.get("series"))
    count = series.get("count") or (event.get("deprecatedCount") if new_api else event.get("count")) or 1
    first = (
        (event.get("deprecatedFirstTimestamp") if new_api else event.get("firstTimestamp"))
        or event.get("eventTime")
        or metadata.get("creationTimestamp")
    )
    last = (
        series.get("lastObservedTime")
        or (event.get("deprecatedLastTimestamp") if new_api else event.get("lastTimestamp"))
        or event.get("eventTime")
        or first
    )
    node = _text(source.get("host")) or (name if kind == "Node" else None)
    reporting = event.get("reportingController") if new_api else event.get("reportingComponent")
    return CleanEvent(
        occurrence_id=envelope.occurrence_id,
        cluster=envelope.cluster,
        namespace=_text(obj.get("namespace")),  # cluster-scoped objects (Nodes) have none
        kind=kind,
        name=name,
        uid=_bounded(obj.get("uid")),
        workload_kind=workload_kind,
        workload_name=workload_name,
        node=node,
        reason=_text(event.get("reason")) or "Unknown",
        type=_bounded(event.get("type")) or "Normal",
        message=message_of(envelope),
        count=count,
        first_seen=_timestamp(first, envelope.observed_at),
        last_seen=_timestamp(last, envelope.observed_at),
        source_component=_bounded(source.get("component")) or _bounded(event.get("reportingController")),
        reporting_component=_bounded(reporting),
        category=category,
        severity=severity,
        observed_at=envelope.observed_at,
    )


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _bounded(value: Any) -> str | None:
    text = _text(value)
    return cut_text(text, STRING_MAX_BYTES) if text else None


def _timestamp(value: Any, fallback: datetime) -> Any:
    return value if isinstance(value, str) and value else fallback
