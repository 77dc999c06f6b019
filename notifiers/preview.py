"""``herald render``: what a receiver would send for a realistic incident, without sending it.

Users edit templates against this preview (``templates_dir``), and it shows the escaping,
the mentions, the truncation, the language and the times exactly as ``send`` applies them.
The same samples are the golden messages of the tests, so what the docs show is what ships.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

from notifiers.notification import Notification
from notifiers.runner import build_receiver
from runtime.config import HeraldConfig
from schemas import (
    Change,
    Incident,
    IncidentStatus,
    RelatedIncident,
    ResolvedBy,
    SampleMessage,
    Severity,
    decode,
)
from schemas.base import utc_now
from schemas.categories import Language, title

Closing = Literal["recovery", "quiet"]
NODE = "node-7"


def _incident(
    index: int,
    *,
    category: str,
    severity: Severity,
    namespace: str | None,
    workload: str,
    kind: str,
    reason: str,
    samples: list[SampleMessage],
    now: datetime,
    node: str | None = NODE,
    occurrences: int = 47,
    objects_total: int | None = None,
    workloads: list[str] | None = None,
    related: list[RelatedIncident] | None = None,
) -> Incident:
    objects = sorted({sample.object for sample in samples})
    return Incident(
        fingerprint=f"{0x5EED0000 + index:016x}",
        version=3,
        status=IncidentStatus.FIRING,
        severity=severity,
        category=category,
        title=title(category, namespace=namespace, workload=workload, node=node, kind=kind, language="en"),
        cluster="prod-eu-1",
        namespace=namespace,
        workload=None if kind == "Node" else workload,
        labels={
            "cluster": "prod-eu-1",
            "namespace": namespace or "",
            "workload": workload,
            "category": category,
            "severity": severity.value,
            "kind": kind,
            "object_kind": "Node" if kind == "Node" else "Pod",
            "reason": reason,
            "node": node or "",
            "team": "payments",
        },
        occurrences=occurrences,
        first_seen=now - timedelta(minutes=12),
        last_seen=now,
        objects=objects,
        objects_total=objects_total if objects_total is not None else len(objects),
        samples=samples,
        emitted_at=now,
        node=node,
        changes=[Change.OPENED],
        related=related or [],
        workloads=workloads or [],
    )


def crash_loop(index: int = 0, *, now: datetime) -> Incident:
    """A crash-looping Deployment on a node that had a kernel OOM just before: the page."""
    name = "checkout" if not index else f"checkout-{index}"
    pods = [f"Pod/payments/{name}-7d9c8b6f5d-{suffix}" for suffix in ("x2kqp", "b8wzt", "m4nvr")]
    return _incident(
        index,
        category="crash-loop",
        severity=Severity.CRITICAL,
        namespace="payments",
        workload=name,
        kind="Deployment",
        reason="BackOff",
        samples=[
            SampleMessage(
                reason="BackOff",
                message=f"Back-off restarting failed container {name} in pod {pod.rsplit('/', 1)[1]}",
                object=pod,
                at=now - timedelta(seconds=40 * n),
            )
            for n, pod in enumerate(reversed(pods))
        ],
        now=now,
        objects_total=6,
        related=[
            RelatedIncident(
                fingerprint="0badc0de0badc0de",
                category="oom",
                reason="OOMKilling",
                node=NODE,
                at=now - timedelta(minutes=13),
            )
        ],
    )


def image_pull(index: int, *, now: datetime) -> Incident:
    pod = "Pod/payments/api-5f7b9c6d4-q8r2t"
    return _incident(
        index,
        category="image-pull",
        severity=Severity.WARNING,
        namespace="payments",
        workload="api" if index < 3 else f"api-{index}",
        kind="Deployment",
        reason="Failed",
        samples=[
            SampleMessage(
                reason="Failed",
                message='Failed to pull image "registry.example/payments/api:1.8.3": not found',
                object=pod,
                at=now - timedelta(seconds=20),
            )
        ],
        now=now,
        node="node-3",
        occurrences=12,
    )


def node_not_ready(index: int, *, now: datetime) -> Incident:
    """A node's own incident: it names the node and the workloads it took down."""
    node = NODE if index < 3 else f"node-{index + 5}"
    return _incident(
        index,
        category="node-not-ready",
        severity=Severity.CRITICAL,
        namespace=None,
        workload=node,
        kind="Node",
        reason="NodeNotReady",
        samples=[
            SampleMessage(
                reason="NodeNotReady",
                message=f"Node {node} status is now: NodeNotReady",
                object=f"Node/{node}",
                at=now - timedelta(minutes=11),
            )
        ],
        now=now,
        node=node,
        occurrences=1,
        workloads=["payments/checkout", "payments/api", "shop/web"],
    )


SAMPLES = (crash_loop, image_pull, node_not_ready)


def sample_incident(
    index: int = 0, *, closing: Closing | None = None, now: datetime | None = None
) -> Incident:
    """One of the samples (a crash loop, an image that cannot be pulled, a node not ready),
    firing or closed by a recovery Event or by quiet."""
    now = now or utc_now()
    incident = SAMPLES[index % len(SAMPLES)](index, now=now)
    return close(incident, closing, now=now) if closing else incident


def close(incident: Incident, closing: Closing, *, now: datetime) -> Incident:
    """The incident's closing update: on evidence (the Event that proves recovery) or by quiet."""
    update: dict[str, object] = {
        "status": IncidentStatus.RESOLVED,
        "version": incident.version + 1,
        "changes": [Change.RESOLVED],
    }
    if closing == "quiet":
        update |= {
            "resolved_by": ResolvedBy.QUIET,
            "quiet_seconds": 900.0,
            "emitted_at": now + timedelta(minutes=15),
        }
        return incident.model_copy(update=update)
    proofs = {
        "node-not-ready": ("NodeReady", "Node {node} status is now: NodeReady", "Node/{node}"),
        "image-pull": ("Pulled", "Successfully pulled image", "{object}"),
    }
    reason, message, subject = proofs.get(incident.category, ("Started", "Started container", "{object}"))
    fields = {"node": incident.node or "", "object": incident.objects[0] if incident.objects else ""}
    recovery = SampleMessage(
        reason=reason,
        message=message.format(**fields),
        object=subject.format(**fields),
        at=now + timedelta(minutes=6),
    )
    update |= {
        "resolved_by": ResolvedBy.RECOVERY,
        "recovery": recovery,
        "emitted_at": now + timedelta(minutes=6),
    }
    return incident.model_copy(update=update)


def scenarios(now: datetime) -> dict[str, Notification]:
    """What the golden messages and the docs show: a firing crash loop (on a known node, after
    an OOM there), a digest of three categories, a quiet close and a recovery close."""
    return {
        "firing": Notification((sample_incident(0, now=now),)),
        "digest": Notification(tuple(sample_incident(n, now=now) for n in range(3))),
        "quiet": Notification((sample_incident(0, closing="quiet", now=now),)),
        "recovery": Notification((sample_incident(2, closing="recovery", now=now),)),
    }


def localized(
    config: HeraldConfig, receiver_name: str, *, language: Language | None, timezone: str | None
) -> HeraldConfig:
    """The config with the receiver's language and zone overridden (``--language``, ``--timezone``)."""
    if language is None and timezone is None:
        return config
    index, entry = config.receiver(receiver_name)
    update = {key: value for key, value in (("language", language), ("timezone", timezone)) if value}
    data = {**entry.model_dump(), "language": entry.language, "timezone": entry.timezone, **update}
    receivers = list(config.receivers)
    receivers[index] = config.validate_section(("receivers", index), type(entry), data)
    return config.model_copy(update={"receivers": receivers})


def render_preview(
    config: HeraldConfig,
    receiver_name: str,
    *,
    incidents: int = 1,
    closing: Closing | None = None,
    incident_file: Path | None = None,
    language: Language | None = None,
    timezone: str | None = None,
) -> str:
    config = localized(config, receiver_name, language=language, timezone=timezone)
    receiver, _filters = build_receiver(config, receiver_name)
    chosen: tuple[Incident, ...]
    if incident_file is not None:
        chosen = (decode(incident_file.read_bytes(), Incident),)
    else:
        now = utc_now()
        chosen = tuple(sample_incident(n, closing=closing, now=now) for n in range(incidents))
    return receiver.preview(Notification(chosen))
