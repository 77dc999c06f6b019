"""Driving the real control plane: start and stop it through its script, create namespaces,
post events as a kubelet would, compact etcd, and read the producer's checkpoint back."""

from __future__ import annotations

import base64
import os
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import httpx
from kubernetes import config as kube_config
from kubernetes.client import ApiClient, CoreV1Api

from producer.checkpoints import checkpoint_key, load_checkpoints
from tests.support.kafka import Namespace
from tests.support.producer import configure_producer, kubeconfig_entry
from tests.support.waiting import wait_until

ROOT = Path(__file__).parents[2]
SCRIPT = ROOT / "tests" / "e2e" / "control-plane"
CONTEXT = "local"  # the context name the script writes into DIR/kubeconfig


@dataclass(frozen=True)
class ControlPlane:
    directory: Path

    @property
    def kubeconfig(self) -> Path:
        return self.directory / "kubeconfig"

    @cached_property
    def env(self) -> dict[str, str]:
        lines = (self.directory / "env").read_text().splitlines()
        return dict(line.split("=", 1) for line in lines if "=" in line and not line.endswith(")"))

    @property
    def etcd_url(self) -> str:
        return self.env["ETCD_URL"]

    def client(self) -> ApiClient:
        client: ApiClient = kube_config.new_client_from_config(config_file=str(self.kubeconfig))
        return client

    def restart_apiserver(self, *, crash: bool = False) -> None:
        """SIGTERM waits for open watches to end; ``crash`` (SIGKILL) cuts them mid-stream."""
        run_script("restart-apiserver", str(self.directory), *(["--kill"] if crash else []))


def run_script(*args: str, extra_env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
        env={**os.environ, **(extra_env or {})},
    )
    assert done.returncode == 0, f"control-plane {' '.join(args)} failed:\n{done.stderr[-4000:]}"
    return done.stdout


@contextmanager
def control_plane_running(
    directory: Path, *, apiserver_flags: str = "", controller_manager_flags: str = ""
) -> Iterator[ControlPlane]:
    """Start a control plane in ``directory`` and stop exactly the processes it started."""
    try:
        run_script(
            "start",
            str(directory),
            extra_env={
                "HERALD_CP_APISERVER_FLAGS": apiserver_flags,
                "HERALD_CP_CONTROLLER_MANAGER_FLAGS": controller_manager_flags,
            },
        )
        yield ControlPlane(directory)
    finally:
        run_script("stop", str(directory))


def new_namespace(core: CoreV1Api, prefix: str, *, labels: dict[str, str] | None = None) -> str:
    """A namespace as users get one: with its default ServiceAccount, which pods need to be admitted."""
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    core.create_namespace({"metadata": {"name": name, "labels": labels or {}}})
    wait_until(
        lambda: any(a.metadata.name == "default" for a in core.list_namespaced_service_account(name).items),
        timeout=60,
        what=f"the default ServiceAccount in {name}",
    )
    return name


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def kubelet_event(
    namespace: str, pod: str, *, reason: str, message: str, node: str = "e2e-node-1", container: str = "app"
) -> dict[str, Any]:
    """An Event shaped like the kubelet's (core/v1 recorder): source, count, first/last timestamps."""
    stamp = now()
    return {
        "metadata": {"name": f"{pod}.{uuid.uuid4().hex[:16]}", "namespace": namespace},
        "involvedObject": {
            "apiVersion": "v1",
            "kind": "Pod",
            "namespace": namespace,
            "name": pod,
            "fieldPath": f"spec.containers{{{container}}}",
        },
        "reason": reason,
        "message": message,
        "type": "Warning",
        "source": {"component": "kubelet", "host": node},
        "reportingComponent": "kubelet",
        "reportingInstance": node,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }


def kubelet_node_event(node: str, *, reason: str, message: str, event_type: str = "Normal") -> dict[str, Any]:
    """An Event about a Node as its kubelet writes it: the kubelet's node reference (UID is the
    node's name, no apiVersion), in the default namespace, source kubelet on that host."""
    stamp = now()
    return {
        "metadata": {"name": f"{node}.{uuid.uuid4().hex[:16]}", "namespace": "default"},
        "involvedObject": {"kind": "Node", "name": node, "uid": node},
        "reason": reason,
        "message": message,
        "type": event_type,
        "source": {"component": "kubelet", "host": node},
        "reportingComponent": "kubelet",
        "reportingInstance": node,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }


def repeat_event(core: CoreV1Api, namespace: str, name: str, count: int) -> Any:
    """What the kubelet's recorder does when the same event happens again: PATCH count and lastTimestamp."""
    return core.patch_namespaced_event(name, namespace, {"count": count, "lastTimestamp": now()})


def etcd_revision(etcd_url: str) -> int:
    reply = httpx.post(f"{etcd_url}/v3/kv/range", json={"key": base64.b64encode(b"/").decode()}, timeout=10)
    reply.raise_for_status()
    return int(reply.json()["header"]["revision"])


def compact_etcd(etcd_url: str) -> int:
    """Compact etcd's history up to now (etcd's JSON gateway): older resourceVersions expire."""
    revision = etcd_revision(etcd_url)
    reply = httpx.post(
        f"{etcd_url}/v3/kv/compaction", json={"revision": str(revision), "physical": True}, timeout=30
    )
    reply.raise_for_status()
    return revision


def watch_cluster(namespace: Namespace, plane: ControlPlane, /, *, cluster: str, **settings: object) -> None:
    """Point the namespace's producer at the real API server (timeouts a real watch tolerates)."""
    configure_producer(
        namespace,
        [kubeconfig_entry(plane.kubeconfig, cluster=cluster, context=CONTEXT)],
        **{"watch_timeout_seconds": 30, "read_timeout_seconds": 60, **settings},
    )


def checkpoint(namespace: Namespace, *, cluster: str, scope: str | None) -> str | None:
    """The resourceVersion the producer saved for its watch of ``scope``, if any."""
    key = checkpoint_key(cluster, api="v1", namespace=scope)
    saved = load_checkpoints(namespace.config.kafka, {key}, timeout=30).get(key)
    return saved.resource_version if saved else None
