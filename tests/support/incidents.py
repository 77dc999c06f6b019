"""Incident updates for tests, as the processors publish them on ``alerts``."""

from __future__ import annotations

from datetime import UTC, datetime

from schemas import Incident, IncidentStatus, SampleMessage, Severity


def make_incident(
    index: int,
    *,
    cluster: str = "prod",
    namespace: str = "shop",
    workload: str = "web",
    version: int = 1,
    occurrences: int = 1,
    severity: Severity = Severity.WARNING,
    status: IncidentStatus = IncidentStatus.FIRING,
    message: str = "Back-off restarting failed container",
) -> Incident:
    at = datetime.now(UTC)
    return Incident(
        fingerprint=f"{index:016x}",
        version=version,
        status=status,
        severity=severity,
        category="crash-loop",
        title=f"BackOff: {workload}",
        cluster=cluster,
        namespace=namespace,
        workload=workload,
        labels={
            "cluster": cluster,
            "namespace": namespace,
            "workload": workload,
            "severity": severity.value,
            "category": "crash-loop",
            "reason": "BackOff",
        },
        occurrences=occurrences,
        first_seen=at,
        last_seen=at,
        samples=[
            SampleMessage(reason="BackOff", message=message, object=f"Pod/{namespace}/{workload}", at=at)
        ],
        emitted_at=at,
    )
