"""Incident updates published to an isolated alerts topic, and reading back what a webhook got:
shared by the notifier's integration tests and the web page's end-to-end test."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import yaml

from schemas import Incident, IncidentStatus, SampleMessage, Severity, encode
from tests.support.kafka import Namespace, ensure_namespace_topics, produce


def update(
    index: int,
    version: int = 1,
    *,
    status: IncidentStatus = IncidentStatus.FIRING,
    namespace: str = "shop",
    severity: Severity = Severity.WARNING,
    inhibited_by: str | None = None,
    cluster: str = "prod",
    category: str = "crash-loop",
    reason: str = "BackOff",
    title: str | None = None,
    workload: str | None = None,
    message: str | None = None,
) -> Incident:
    """Version ``version`` of incident number ``index`` (its fingerprint is the index in hex)."""
    at = datetime.now(UTC)
    workload = workload or f"web{index}"
    labels = {"cluster": cluster, "namespace": namespace, "severity": severity.value, "category": category}
    return Incident(
        fingerprint=f"{index:016x}",
        version=version,
        status=status,
        severity=severity,
        category=category,
        title=title or f"Crash loop in incident{index:03d}",
        cluster=cluster,
        namespace=namespace,
        workload=workload,
        labels=labels,
        occurrences=version,
        first_seen=at,
        last_seen=at,
        samples=[
            SampleMessage(
                reason=reason, message=message or f"back-off {index}", object=f"Pod/x/{index}", at=at
            )
        ],
        inhibited_by=inhibited_by,
        emitted_at=at,
    )


def publish(namespace: Namespace, updates: list[Incident]) -> None:
    produce(
        namespace.bootstrap, namespace.topic("alerts"), [(u.fingerprint.encode(), encode(u)) for u in updates]
    )


def configure(namespace: Namespace, receivers: list[dict[str, Any]], **sections: Any) -> None:
    config = yaml.safe_load(namespace.config_path.read_text())
    config["receivers"] = receivers
    config.update(sections)
    namespace.config_path.write_text(yaml.safe_dump(config))
    ensure_namespace_topics(namespace)


def webhook(name: str, url: str) -> dict[str, Any]:
    return {"name": name, "type": "webhook", "url": url}


def delivered(bodies: list[bytes]) -> list[tuple[str, int]]:
    """(fingerprint, version) of every incident in every accepted webhook body."""
    out = []
    for body in bodies:
        for incident in orjson.loads(body)["incidents"]:
            out.append((incident["fingerprint"], incident["version"]))
    return out
