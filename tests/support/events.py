"""Realistic core/v1 Event objects for tests."""

from __future__ import annotations

import uuid
from typing import Any

from schemas import Severity


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


TAXONOMY_CORPUS: list[tuple[str, str, str, Severity]] = [
    ("BackOff", "Back-off restarting failed container app in pod x", "crash-loop", Severity.CRITICAL),
    ("BackOff", 'Back-off pulling image "nginx:nope"', "image-pull", Severity.WARNING),
    ("Failed", 'Failed to pull image "x": rpc error: not found', "image-pull", Severity.WARNING),
    ("Failed", "Error: ErrImagePull", "image-pull", Severity.WARNING),
    ("OOMKilling", "Memory cgroup out of memory", "oom", Severity.CRITICAL),
    ("FailedScheduling", "0/3 nodes are available", "scheduling", Severity.WARNING),
    ("NodeNotReady", "Node n is now: NodeNotReady", "node-not-ready", Severity.CRITICAL),
    ("NodeHasDiskPressure", "", "node-pressure", Severity.WARNING),
    ("Evicted", "The node was low on resource: memory", "eviction", Severity.WARNING),
    ("FailedMount", "MountVolume.SetUp failed", "volume", Severity.WARNING),
    ("Unhealthy", "Liveness probe failed", "probe", Severity.WARNING),
    ("FailedCreate", 'pods "x" is forbidden: exceeded quota: compute', "quota", Severity.WARNING),
    ("FailedCreate", 'admission webhook "v" denied the request', "admission", Severity.WARNING),
    (
        "FailedCreatePodSandBox",
        "failed to setup network for sandbox",
        "sandbox-network",
        Severity.WARNING,
    ),
    ("DNSConfigForming", "Nameserver limits were exceeded", "dns", Severity.WARNING),
    (
        "BackoffLimitExceeded",
        "Job has reached the specified backoff limit",
        "job-failure",
        Severity.WARNING,
    ),
    ("FailedGetResourceMetric", "unable to get metrics", "hpa", Severity.WARNING),
    ("FreeDiskSpaceFailed", "failed to garbage collect", "disk-gc", Severity.WARNING),
    ("FailedCreate", 'Error creating: pods "web-x" is invalid', "failed-create", Severity.WARNING),
    ("FailedKillPod", "error killing pod: failed to stop container", "kill", Severity.WARNING),
    ("Scheduled", "Successfully assigned", "lifecycle", Severity.INFO),
]
"""(reason, message, category, severity): realistic Warning events, at least one per built-in category."""
