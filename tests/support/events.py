"""Realistic core/v1 Event objects for tests."""

from __future__ import annotations

import uuid
from typing import Any


def k8s_event(
    index: int,
    *,
    reason: str = "BackOff",
    message: str = "Back-off restarting failed container app in pod web-7d9c8b6f5d-x2kqp",
    kind: str = "Pod",
    name: str | None = None,
    namespace: str = "shop",
    event_type: str = "Warning",
    count: int = 1,
    uid: str | None = None,
    resource_version: str | None = None,
    host: str = "node-a",
) -> dict[str, Any]:
    """A Node's events live in ``default`` and their involved object has no namespace, as the
    kubelet records them."""
    name = name or f"web-7d9c8b6f5d-x{index:04d}"
    involved = {"kind": kind, "namespace": namespace, "name": name, "uid": str(uuid.uuid4())}
    if kind == "Node":
        namespace = "default"
        del involved["namespace"]
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": f"{name}.{index:016x}",
            "namespace": namespace,
            "uid": uid or str(uuid.uuid4()),
            "resourceVersion": resource_version or str(10_000 + index),
            "creationTimestamp": "2026-11-27T08:00:00Z",
        },
        "involvedObject": involved,
        "reason": reason,
        "message": message,
        "type": event_type,
        "source": {"component": "kubelet", "host": host},
        "firstTimestamp": "2026-11-27T08:00:00Z",
        "lastTimestamp": "2026-11-27T08:00:05Z",
        "count": count,
    }
