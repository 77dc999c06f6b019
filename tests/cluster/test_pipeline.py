"""The whole pipeline on events real Kubernetes components wrote.

The producer watches a real kube-apiserver; the scheduler and the controller manager
write the events a stuck workload causes, and events are posted the way a kubelet posts
them (there is no kubelet: pods never run). Asserts what a user is paged by: one incident
per workload and failure, with the category and reason the taxonomy gives it, each update
delivered once.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from kubernetes.client import AppsV1Api, BatchV1Api, CoreV1Api

from tests.cluster.kube import ControlPlane, kubelet_event, new_namespace, repeat_event, watch_cluster
from tests.support.kafka import Namespace
from tests.support.processes import herald_process
from tests.support.waiting import observe_for, wait_until
from tests.support.webhook_server import webhook_server

pytestmark = pytest.mark.e2e

CLUSTER = "real-cluster"
LABELS = {"app": "e2e"}


def container(image: str = "registry.invalid/app:1") -> dict[str, Any]:
    return {"name": "app", "image": image}


def deployment(name: str, pod_spec: dict[str, Any]) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    }


def provoke_failed_scheduling(apps: AppsV1Api, namespace: str) -> None:
    """Pods no node can take (there are no nodes, and none has this label): FailedScheduling."""
    spec = {"containers": [container()], "nodeSelector": {"kube-herald.test/nowhere": "true"}}
    apps.create_namespaced_deployment(namespace, deployment("unschedulable-web", spec))


def provoke_quota_failed_create(core: CoreV1Api, apps: AppsV1Api, namespace: str) -> None:
    """A ResourceQuota of zero pods: the ReplicaSet controller's FailedCreate."""
    core.create_namespaced_resource_quota(
        namespace, {"metadata": {"name": "no-pods"}, "spec": {"hard": {"pods": "0"}}}
    )
    # Until the quota controller has computed its usage, admission answers "status unknown".
    wait_until(
        lambda: (
            (core.read_namespaced_resource_quota("no-pods", namespace).status.hard or {}).get("pods") == "0"
        ),
        timeout=60,
        what="the quota's status",
    )
    apps.create_namespaced_deployment(namespace, deployment("quota-api", {"containers": [container()]}))


def provoke_job_failed_create(batch: BatchV1Api, namespace: str) -> None:
    """A Job whose pods PodSecurity admission rejects ("restricted"): the Job controller's FailedCreate."""
    batch.create_namespaced_job(
        namespace,
        {
            "metadata": {"name": "migrate"},
            "spec": {
                "backoffLimit": 1,
                "template": {"spec": {"restartPolicy": "Never", "containers": [container()]}},
            },
        },
    )


def post_kubelet_events(core: CoreV1Api, namespace: str) -> None:
    """BackOff, a failed image pull and a failing probe, each repeated as the kubelet repeats them."""
    crash = core.create_namespaced_event(
        namespace,
        kubelet_event(
            namespace,
            "cart-5f7c9d8b6-q2xzt",
            reason="BackOff",
            message="Back-off restarting failed container app in pod cart-5f7c9d8b6-q2xzt_" + namespace,
        ),
    )
    core.create_namespaced_event(
        namespace,
        kubelet_event(
            namespace,
            "search-6d8f9b7c5-k4mwp",
            reason="Failed",
            message='Failed to pull image "registry.invalid/search:2": rpc error: code = Unknown '
            "desc = failed to resolve reference: ErrImagePull",
        ),
    )
    probe = core.create_namespaced_event(
        namespace,
        kubelet_event(
            namespace,
            "ledger-7b9c6d5f8-zt2vr",
            reason="Unhealthy",
            message="Readiness probe failed: HTTP probe failed with statuscode: 503",
        ),
    )
    for count in (2, 3):
        repeat_event(core, namespace, crash.metadata.name, count)
        repeat_event(core, namespace, probe.metadata.name, count)


def test_real_controller_events_become_incidents(
    control_plane: ControlPlane, namespace: Namespace, tmp_path: Path
) -> None:
    api = control_plane.client()
    core, apps, batch = CoreV1Api(api), AppsV1Api(api), BatchV1Api(api)
    sched = new_namespace(core, "sched")
    quota = new_namespace(core, "quota")
    restricted = new_namespace(
        core, "restricted", labels={"pod-security.kubernetes.io/enforce": "restricted"}
    )
    kubelet = new_namespace(core, "kubelet")
    ours = {sched, quota, restricted, kubelet}
    expected = {
        (sched, "unschedulable-web", "scheduling", "FailedScheduling"),
        (quota, "quota-api", "quota", "FailedCreate"),
        (restricted, "migrate", "failed-create", "FailedCreate"),
        (kubelet, "cart", "crash-loop", "BackOff"),
        (kubelet, "search", "image-pull", "Failed"),
        (kubelet, "ledger", "probe", "Unhealthy"),
    }

    with webhook_server() as server:
        watch_cluster(namespace, control_plane, cluster=CLUSTER)
        config = yaml.safe_load(namespace.config_path.read_text())
        config["processor"].update(group_wait_seconds=2, group_interval_seconds=5, tick_seconds=0.2)
        config["receivers"] = [{"name": "hook", "type": "webhook", "url": server.url}]
        namespace.config_path.write_text(yaml.safe_dump(config))

        def delivered() -> dict[str, dict[str, Any]]:
            latest: dict[str, dict[str, Any]] = {}
            for request in server.accepted():
                for incident in orjson.loads(request.body)["incidents"]:
                    if incident.get("namespace") not in ours:
                        continue
                    known = latest.get(incident["fingerprint"])
                    if known is None or incident["version"] > known["version"]:
                        latest[incident["fingerprint"]] = incident
            return latest

        def seen() -> set[tuple[str, str, str, str]]:
            return {
                (i["namespace"], i["workload"], i["category"], sample["reason"])
                for i in delivered().values()
                for sample in i["samples"]
            }

        with (
            herald_process(namespace.config_path, "producer", log_dir=tmp_path, name="producer"),
            herald_process(namespace.config_path, "processor", log_dir=tmp_path, name="processor"),
            herald_process(
                namespace.config_path, "notifier", "--receiver", "hook", log_dir=tmp_path, name="notifier"
            ),
        ):
            provoke_failed_scheduling(apps, sched)
            provoke_quota_failed_create(core, apps, quota)
            provoke_job_failed_create(batch, restricted)
            post_kubelet_events(core, kubelet)
            wait_until(lambda: expected <= seen(), timeout=240, what=f"incidents {sorted(expected)}")
            observe_for(3)
        bodies = [orjson.loads(r.body) for r in server.accepted()]

    missing = expected - seen()
    assert not missing, f"not delivered: {sorted(missing)}"
    incidents = delivered()
    assert all(i["cluster"] == CLUSTER and i["status"] == "firing" for i in incidents.values())
    updates = [(i["fingerprint"], i["version"]) for body in bodies for i in body["incidents"]]
    assert len(updates) == len(set(updates)), "an incident update was delivered twice"
    message = {(i["workload"], i["category"]): i["samples"][0]["message"] for i in incidents.values()}
    # "no nodes available to schedule pods" (a cluster without nodes) or "0/N nodes are available: ..."
    assert re.search(r"nodes (are )?available", message["unschedulable-web", "scheduling"])
    assert "exceeded quota: no-pods" in message["quota-api", "quota"]
    assert "violates PodSecurity" in message["migrate", "failed-create"]
