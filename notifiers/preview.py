"""``herald render``: what a receiver would send for a realistic incident, without sending it.

Users edit templates against this preview (``templates_dir``), and it shows the escaping,
the mentions and the truncation exactly as ``send`` applies them.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from notifiers.notification import Notification
from notifiers.runner import build_receiver
from runtime.config import HeraldConfig
from schemas import Incident, IncidentStatus, SampleMessage, Severity, decode
from schemas.base import utc_now


def sample_incident(index: int = 0, *, resolved: bool = False) -> Incident:
    """A crash-looping Deployment in a payments namespace: the incident people get paged for."""
    now = utc_now()
    first = now - timedelta(minutes=12)
    pods = [f"Pod/payments/checkout-7d9c8b6f5d-{suffix}" for suffix in ("x2kqp", "b8wzt", "m4nvr")]
    return Incident(
        fingerprint=f"{0x5EED0000 + index:016x}",
        version=3,
        status=IncidentStatus.RESOLVED if resolved else IncidentStatus.FIRING,
        severity=Severity.CRITICAL,
        category="crash-loop",
        title=f"BackOff: checkout{'-' + str(index) if index else ''}",
        cluster="prod-eu-1",
        namespace="payments",
        workload="checkout" if not index else f"checkout-{index}",
        labels={
            "cluster": "prod-eu-1",
            "namespace": "payments",
            "workload": "checkout",
            "category": "crash-loop",
            "severity": "critical",
            "kind": "Deployment",
            "reason": "BackOff",
            "team": "payments",
        },
        occurrences=47,
        first_seen=first,
        last_seen=now,
        objects=pods,
        objects_total=6,
        samples=[
            SampleMessage(
                reason="BackOff",
                message=f"Back-off restarting failed container checkout in pod {pod.rsplit('/', 1)[1]}",
                object=pod,
                at=now - timedelta(seconds=40 * n),
            )
            for n, pod in enumerate(pods)
        ],
        emitted_at=now,
    )


def render_preview(
    config: HeraldConfig,
    receiver_name: str,
    *,
    incidents: int = 1,
    resolved: bool = False,
    incident_file: Path | None = None,
) -> str:
    receiver, _filters = build_receiver(config, receiver_name)
    chosen: tuple[Incident, ...]
    if incident_file is not None:
        chosen = (decode(incident_file.read_bytes(), Incident),)
    else:
        chosen = tuple(sample_incident(n, resolved=resolved) for n in range(incidents))
    return receiver.preview(Notification(chosen))
