"""One node outage through the real control plane: one page naming the node and its
workloads, one recovery message on the kubelet's ``NodeReady``.

The real node lifecycle controller marks the node NotReady once its Lease stops being
renewed, and writes the Node's ``NodeNotReady`` and every pod's ``NodeNotReady`` ("Node is
not ready"); the real taint-eviction controller then evicts the pods (``TaintManagerEviction``).
Neither Pod Event names the node: the processor knows it from the scheduler's ``Scheduled``.
There is no kubelet, so the test plays the parts a kubelet plays and no more: it registers
the Node, renews its Lease, reports its pods Running and Ready, and, on recovery, posts the
Node's status and its ``NodeReady`` Event.

A control plane of its own: the node controller's grace period is shortened (the default
50 s would make the test slow), and a fresh API server holds no Events of other tests, so
every request the webhook receives is this outage's.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from kubernetes.client import AppsV1Api, CoordinationV1Api, CoreV1Api, CoreV1Event

from tests.cluster.kube import (
    ControlPlane,
    control_plane_running,
    kubelet_node_event,
    new_namespace,
    now,
    watch_cluster,
)
from tests.support.kafka import Namespace
from tests.support.processes import herald_process
from tests.support.waiting import observe_for, wait_until
from tests.support.webhook_server import WebhookServer, webhook_server

pytestmark = pytest.mark.e2e

CLUSTER = "outage-cluster"
NODE = "node-7"
SPARE = "node-8"
"""A second, healthy node. With every node of a zone NotReady the node controller assumes
its own connectivity failed ("master disruption mode") and evicts nothing; here the zone
keeps one Ready node, and the evicted pods' replacements are scheduled onto it."""
WORKLOADS = ("cart", "ledger", "search")
GRACE_SECONDS = 12
"""kube-controller-manager --node-monitor-grace-period (default 50 s): an unrenewed Lease
this old makes the node NotReady (Ready=Unknown)."""
CONTROLLER_MANAGER_FLAGS = f"--node-monitor-period=1s --node-monitor-grace-period={GRACE_SECONDS}s"
TOLERATION_SECONDS = 5
"""The pods' NoExecute toleration of not-ready/unreachable (the admission default is 300 s)."""
GROUP_INTERVAL = 6


@pytest.fixture(scope="module")
def outage_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    directory: Path = tmp_path_factory.mktemp("control-plane-nodes")
    with control_plane_running(directory, controller_manager_flags=CONTROLLER_MANAGER_FLAGS) as plane:
        yield plane


def micro_now() -> str:
    """A MicroTime, as Leases carry it."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def node_conditions(*, ready: bool) -> list[dict[str, Any]]:
    stamp = now()
    pressure = [
        {
            "type": kind,
            "status": "False",
            "reason": f"KubeletHasSufficient{what}" if what else f"KubeletHasNo{kind}",
            "message": "kubelet is posting its status",
            "lastHeartbeatTime": stamp,
            "lastTransitionTime": stamp,
        }
        for kind, what in (("MemoryPressure", "Memory"), ("DiskPressure", ""), ("PIDPressure", "PID"))
    ]
    readiness = {
        "type": "Ready",
        "status": "True" if ready else "False",
        "reason": "KubeletReady" if ready else "KubeletNotReady",
        "message": "kubelet is posting ready status",
        "lastHeartbeatTime": stamp,
        "lastTransitionTime": stamp,
    }
    return [*pressure, readiness]


class Kubelets:
    """Plays the kubelets of fake nodes: registers each Node as Ready and renews its Lease in
    kube-node-lease every second (a kubelet renews every 10 s of a 40 s lease) until told to
    stop, which is how the node controller sees a kubelet die."""

    def __init__(self, plane: ControlPlane) -> None:
        self.core = CoreV1Api(plane.client())
        self.leases = CoordinationV1Api(plane.client())
        self.alive: set[str] = set()
        self.failures: list[str] = []
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._renew, name="kubelets", daemon=True)
        self.thread.start()

    def register(self, name: str) -> None:
        capacity = {"cpu": "4", "memory": "8Gi", "pods": "110"}
        self.core.create_node(
            {
                "metadata": {
                    "name": name,
                    "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"},
                },
                "status": {
                    "capacity": capacity,
                    "allocatable": capacity,
                    "conditions": node_conditions(ready=True),
                    "addresses": [{"type": "Hostname", "address": name}],
                },
            }
        )
        self.leases.create_namespaced_lease(
            "kube-node-lease",
            {
                "metadata": {"name": name},
                "spec": {"holderIdentity": name, "leaseDurationSeconds": 40, "renewTime": micro_now()},
            },
        )
        with self.lock:
            self.alive.add(name)

    def die(self, name: str) -> None:
        with self.lock:
            self.alive.discard(name)

    def come_back(self, name: str) -> CoreV1Event:
        """What a kubelet does when it is back: post a Ready status, renew its Lease, and record
        the node's status change (it finds the node controller's Ready=Unknown)."""
        self.core.patch_node_status(name, {"status": {"conditions": node_conditions(ready=True)}})
        self._renew_one(name)
        with self.lock:
            self.alive.add(name)
        message = f"Node {name} status is now: NodeReady"
        event: CoreV1Event = self.core.create_namespaced_event(
            "default", kubelet_node_event(name, reason="NodeReady", message=message)
        )
        return event

    def _renew_one(self, name: str) -> None:
        self.leases.patch_namespaced_lease(name, "kube-node-lease", {"spec": {"renewTime": micro_now()}})

    def _renew(self) -> None:
        while not self.stopped.wait(1.0):
            with self.lock:
                names = sorted(self.alive)
            for name in names:
                try:
                    self._renew_one(name)
                except Exception as error:  # reported by the test, not lost in a thread
                    self.failures.append(f"{name}: {error}")

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=10)


def deployment(name: str) -> dict[str, Any]:
    labels = {"app": name}
    tolerations = [
        {
            "key": f"node.kubernetes.io/{taint}",
            "operator": "Exists",
            "effect": "NoExecute",
            "tolerationSeconds": TOLERATION_SECONDS,
        }
        for taint in ("not-ready", "unreachable")
    ]
    return {
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [{"name": "app", "image": f"registry.invalid/{name}:1"}],
                    "tolerations": tolerations,
                },
            },
        },
    }


def pods_on(core: CoreV1Api, namespace: str, node: str) -> dict[str, str]:
    """Workload -> its pod bound to ``node``."""
    pods = core.list_namespaced_pod(namespace, field_selector=f"spec.nodeName={node}").items
    return {pod.metadata.labels["app"]: pod.metadata.name for pod in pods}


def report_running(core: CoreV1Api, namespace: str, pod: str) -> None:
    """The kubelet's status for a started pod: Running and Ready (the node controller marks
    NotReady, and writes its Pod Event for, only pods whose Ready condition is True)."""
    stamp = now()
    conditions = [
        {"type": kind, "status": "True", "lastTransitionTime": stamp}
        for kind in ("PodScheduled", "Initialized", "ContainersReady", "Ready")
    ]
    core.patch_namespaced_pod_status(
        pod,
        namespace,
        {"status": {"phase": "Running", "hostIP": "10.0.0.7", "startTime": stamp, "conditions": conditions}},
    )


def events(core: CoreV1Api, namespace: str, *, reason: str, kind: str = "Pod") -> list[CoreV1Event]:
    selector = f"reason={reason},involvedObject.kind={kind}"
    found: list[CoreV1Event] = core.list_namespaced_event(namespace, field_selector=selector).items
    return found


def events_in(core: CoreV1Api, namespace: str) -> list[CoreV1Event]:
    found: list[CoreV1Event] = core.list_namespaced_event(namespace).items
    return found


def of_every(found: list[CoreV1Event], pods: Iterable[str]) -> list[CoreV1Event]:
    """``found`` once it holds an Event about each of ``pods``, else nothing."""
    return found if {e.involved_object.name for e in found} >= set(pods) else []


def describe(event: CoreV1Event) -> str:
    source = event.source
    return (
        f"{event.reason} type={event.type} source={source.component if source else None}"
        f"/host={source.host if source else None} reporting={event.reporting_component}"
        f"/{event.reporting_instance} involved={event.involved_object.kind}/"
        f"{event.involved_object.namespace or ''}/{event.involved_object.name} message={event.message!r}"
    )


def gist(update: dict[str, Any]) -> str:
    keys = ("title", "status", "node", "workloads", "changes", "resolved_by", "recovery")
    return orjson.dumps({key: update.get(key) for key in keys}).decode()


def delivered(server: WebhookServer) -> list[dict[str, Any]]:
    return [incident for request in server.all() for incident in orjson.loads(request.body)["incidents"]]


def test_a_node_outage_in_a_real_cluster_pages_once_and_resolves_on_node_ready(
    outage_plane: ControlPlane, namespace: Namespace, tmp_path: Path, record_property: Any
) -> None:
    api = outage_plane.client()
    core, apps = CoreV1Api(api), AppsV1Api(api)
    shop = new_namespace(core, "shop")
    kubelets = Kubelets(outage_plane)

    with webhook_server() as server:
        watch_cluster(namespace, outage_plane, cluster=CLUSTER)
        config = yaml.safe_load(namespace.config_path.read_text())
        config["processor"].update(
            group_wait_seconds=4,
            group_interval_seconds=GROUP_INTERVAL,
            resolve_timeout_seconds=600,
            tick_seconds=0.2,
            notify_on=["new-object", "severity", "new-reason", "recovered-objects", "rate"],  # the default
        )
        config["receivers"] = [{"name": "hook", "type": "webhook", "url": server.url}]
        namespace.config_path.write_text(yaml.safe_dump(config))

        try:
            with (
                herald_process(namespace.config_path, "producer", log_dir=tmp_path, name="producer"),
                herald_process(namespace.config_path, "processor", log_dir=tmp_path, name="processor"),
                herald_process(
                    namespace.config_path, "notifier", "--receiver", "hook", log_dir=tmp_path, name="notifier"
                ),
            ):
                # The node, and workloads the scheduler places on it (the only node yet).
                kubelets.register(NODE)
                for name in WORKLOADS:
                    apps.create_namespaced_deployment(shop, deployment(name))
                placed = wait_until(
                    lambda: (found := pods_on(core, shop, NODE)).keys() == set(WORKLOADS) and found,
                    timeout=60,
                    what=f"the scheduler to bind {WORKLOADS} to {NODE}",
                )
                for pod in placed.values():
                    report_running(core, shop, pod)
                kubelets.register(SPARE)
                wait_until(
                    lambda: any(
                        e.involved_object.name == SPARE
                        for e in events(core, "default", reason="RegisteredNode", kind="Node")
                    ),
                    timeout=30,
                    what=f"the node controller to register {SPARE}",
                )

                # The kubelet of node-7 dies: its Lease is no longer renewed.
                kubelets.die(NODE)
                marked = wait_until(
                    lambda: of_every(events(core, shop, reason="NodeNotReady"), placed.values()),
                    timeout=GRACE_SECONDS + 45,
                    what="the node controller's NodeNotReady for every pod",
                )
                wait_until(lambda: delivered(server), timeout=120, what="the node's page")
                evicted = wait_until(
                    lambda: of_every(events(core, shop, reason="TaintManagerEviction"), placed.values()),
                    timeout=TOLERATION_SECONDS + 60,
                    what="the taint-eviction controller's TaintManagerEviction for every pod",
                )
                wait_until(
                    lambda: pods_on(core, shop, SPARE).keys() == set(WORKLOADS),
                    timeout=60,
                    what=f"the replacements to be scheduled onto {SPARE}",
                )
                observe_for(GROUP_INTERVAL + 4)  # past a group interval: evictions are no news
                pages = delivered(server)

                # node-7's kubelet is back.
                ready = kubelets.come_back(NODE)
                wait_until(lambda: len(delivered(server)) >= 2, timeout=120, what="the recovery message")
                observe_for(GROUP_INTERVAL + 2)
        except AssertionError as failure:
            every = [*events_in(core, shop), *events_in(core, "default")]
            failure.add_note("Events in the cluster:\n" + "\n".join(map(describe, every)))
            failure.add_note(f"webhook received: {[r.body[:2000] for r in server.all()]}")
            raise
        finally:
            kubelets.stop()
        requests = server.all()

    node_down = [
        e
        for e in events(core, "default", reason="NodeNotReady", kind="Node")
        if e.involved_object.name == NODE
    ]
    scheduled = [
        e for e in events(core, shop, reason="Scheduled") if e.involved_object.name in placed.values()
    ]
    written = [describe(e) for e in [*scheduled, *node_down, *marked, *evicted, ready]]
    print("\nEvents of the outage, as written:\n" + "\n".join(written))
    record_property("events", written)
    updates = delivered(server)
    print("Delivered to the webhook:\n" + "\n".join(map(gist, updates)))

    # Events as the real components write them: where a pod runs is said by the scheduler
    # only; the node controllers' Pod Events carry no host.
    assert {(e.reporting_component, e.message) for e in scheduled} == {
        ("default-scheduler", f"Successfully assigned {shop}/{pod} to {NODE}") for pod in placed.values()
    }, written
    assert [e.source.component for e in node_down] == ["node-controller"], written
    assert {(e.source.component, e.reporting_component) for e in marked} == {
        ("node-controller", "node-controller")
    }, written
    assert {(e.source.component, e.reporting_component) for e in evicted} == {
        ("taint-eviction-controller", "taint-eviction-controller")
    }, written
    assert not any(e.source.host or e.reporting_instance for e in [*marked, *evicted]), written
    assert not kubelets.failures, kubelets.failures

    summary = [(u["title"], u["status"], u["labels"].get("kind"), u.get("changes")) for u in updates]
    assert len(requests) == 2, f"one page and one recovery message, received {len(requests)}: {summary}"
    assert len(pages) == 1, f"one outage, one page: {summary}"
    page, closing = updates
    assert (page["status"], page["node"], page["labels"]["kind"], page["labels"]["workload"]) == (
        "firing",
        NODE,
        "Node",
        NODE,
    ), summary
    assert sorted(page["workloads"]) == [f"{shop}/{name}" for name in WORKLOADS], page["workloads"]
    assert (closing["fingerprint"], closing["status"], closing["resolved_by"]) == (
        page["fingerprint"],
        "resolved",
        "recovery",
    ), summary
    assert closing["recovery"]["reason"] == "NodeReady", closing["recovery"]
