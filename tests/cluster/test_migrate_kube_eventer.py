"""``herald migrate kube-eventer`` against a real kube-apiserver, then the migrated pipeline.

The issue's kube-eventer setup (a Deployment in kube-system whose webhook sink is a WeCom
robot with a body template in a ConfigMap) is created in the API server; ``herald migrate``
reads both from there, as a user would run it. Its manifests must pass server-side dry run,
and its herald.yaml, given the test's broker, must run: the WeCom-contract robot has to
receive the user's own template filled in from Events posted as the kubelet posts them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from kubernetes.client import AppsV1Api, CoreV1Api, RbacAuthorizationV1Api
from kubernetes.dynamic import DynamicClient

from tests.cluster.kube import (
    CONTEXT,
    ControlPlane,
    kubelet_event,
    new_namespace,
    repeat_event,
    watch_cluster,
)
from tests.support.kafka import Namespace
from tests.support.kube_eventer import GUIDE_TEMPLATE
from tests.support.processes import herald_process
from tests.support.vendors.wecom import ROBOT_PATH, Robot
from tests.support.waiting import observe_for, wait_until
from tests.support.webhook_server import webhook_server

pytestmark = pytest.mark.e2e

CLUSTER = "migrated-cluster"
TEMPLATE = GUIDE_TEMPLATE


def create_kube_eventer(api: Any, *, sink: str) -> None:
    """kube-eventer as users install it: ServiceAccount and RBAC, the body's ConfigMap, the Deployment."""
    core, apps, rbac = CoreV1Api(api), AppsV1Api(api), RbacAuthorizationV1Api(api)
    core.create_namespaced_service_account("kube-system", {"metadata": {"name": "kube-eventer"}})
    rbac.create_cluster_role(
        {
            "metadata": {"name": "kube-eventer"},
            "rules": [
                {"apiGroups": [""], "resources": ["events"], "verbs": ["get", "list", "watch"]},
                {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]},
            ],
        }
    )
    rbac.create_cluster_role_binding(
        {
            "metadata": {"name": "kube-eventer"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "kube-eventer",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "kube-eventer", "namespace": "kube-system"}],
        }
    )
    core.create_namespaced_config_map(
        "kube-system", {"metadata": {"name": "custom-webhook-body"}, "data": {"content": TEMPLATE}}
    )
    labels = {"app": "kube-eventer"}
    apps.create_namespaced_deployment(
        "kube-system",
        {
            "metadata": {"name": "kube-eventer", "labels": {"name": "kube-eventer"}},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "serviceAccountName": "kube-eventer",
                        "containers": [
                            {
                                "name": "kube-eventer",
                                "image": "registry.aliyuncs.com/acs/kube-eventer:v1.2.7-ca03be0-aliyun",
                                "command": ["/kube-eventer"],
                                "args": ["--source=kubernetes:https://kubernetes.default", sink],
                                "env": [{"name": "TZ", "value": "Asia/Shanghai"}],
                            }
                        ],
                    },
                },
            },
        },
    )


def migrate(plane: ControlPlane, out: Path) -> subprocess.CompletedProcess[str]:
    """What a user runs, in a process: herald migrate kube-eventer -n kube-system deploy/kube-eventer."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HERALD_", "KUBECONFIG"))}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "herald",
            "migrate",
            "kube-eventer",
            "-n",
            "kube-system",
            "deploy/kube-eventer",
            "--kubeconfig",
            str(plane.kubeconfig),
            "--context",
            CONTEXT,
            "--cluster",
            CLUSTER,
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )


def kustomized(out: Path) -> list[dict[str, Any]]:
    """What `kubectl apply -k OUT` sends: the resources, the generated ConfigMap and Secret
    (without the name hash, which changes nothing the server validates), in its namespace."""
    kustomization = yaml.safe_load((out / "kustomization.yaml").read_text())
    docs = [
        d for name in kustomization["resources"] for d in yaml.safe_load_all((out / name).read_text()) if d
    ]
    for generator in kustomization.get("configMapGenerator", []):
        data = {Path(f).name: (out / f).read_text() for f in generator["files"]}
        docs.append(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": generator["name"]}, "data": data}
        )
    for generator in kustomization.get("secretGenerator", []):
        data = {Path(f).name: (out / f).read_text() for f in generator["files"]}
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": generator["name"]},
                "type": generator.get("type", "Opaque"),
                "stringData": data,
            }
        )
    return docs


def apply(dynamic: DynamicClient, doc: dict[str, Any], namespace: str, *, dry_run: bool) -> Any:
    """Server-side apply, as `kubectl apply --server-side [--dry-run=server]`."""
    resource = dynamic.resources.get(api_version=doc["apiVersion"], kind=doc["kind"])
    body = {**doc, "metadata": {**doc["metadata"], "namespace": namespace}} if resource.namespaced else doc
    return resource.server_side_apply(
        body=body,
        name=doc["metadata"]["name"],
        namespace=namespace if resource.namespaced else None,
        field_manager="kube-herald-e2e-migrate",
        dry_run="All" if dry_run else None,
    )


def pipeline_config(out: Path, namespace: Namespace, plane: ControlPlane) -> Path:
    """The migrated herald.yaml with the test's broker, topics and a producer reaching the API
    server through its kubeconfig (a pod would use in_cluster: true), written beside it so its
    secrets/ paths resolve as on a workstation."""
    watch_cluster(namespace, plane, cluster=CLUSTER)
    ours = yaml.safe_load(namespace.config_path.read_text())
    config = yaml.safe_load((out / "herald.yaml").read_text())
    config["kafka"] = ours["kafka"]
    config["producer"] = ours["producer"]
    config["processor"] = {
        **ours["processor"],
        "group_wait_seconds": 2,
        "group_interval_seconds": 5,
        "tick_seconds": 0.2,
    }
    config["notifier"].pop("http_port", None)
    path = out / "herald-e2e.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True))
    return path


def test_migrated_kube_eventer_sends_the_users_template(
    control_plane: ControlPlane, namespace: Namespace, tmp_path: Path
) -> None:
    api = control_plane.client()
    core = CoreV1Api(api)
    key = f"e2e-{uuid.uuid4()}"
    robot = Robot(key)
    out = tmp_path / "kube-herald"

    with webhook_server(robot) as server:
        sink = (
            f"--sink=webhook:{server.base_url}{ROBOT_PATH}?key={key}&level=Warning&method=POST"
            "&header=Content-Type=application/json&custom_body_configmap=custom-webhook-body"
            "&custom_body_configmap_namespace=kube-system"
        )
        create_kube_eventer(api, sink=sink)

        done = migrate(control_plane, out)
        assert done.returncode == 0, done.stderr
        written = (out / "herald.yaml").read_text()
        for text in (done.stdout, done.stderr, written):
            assert key not in text
        migrated = yaml.safe_load(written)
        (wecom,) = migrated["receivers"]
        assert wecom["type"] == "wecom"
        assert wecom["custom_body"] == TEMPLATE  # read from the ConfigMap in the cluster
        assert migrated["notifier"]["timezone"] == "Asia/Shanghai"
        assert (out / "secrets" / "wecom-url").read_text().endswith(f"key={key}")

        # Every object the kustomization makes passes the API server's validation and admission.
        dynamic = DynamicClient(api)
        docs = kustomized(out)
        (herald_namespace,) = [d for d in docs if d["kind"] == "Namespace"]
        apply(dynamic, herald_namespace, "", dry_run=False)  # the others are dry-run into it
        target = yaml.safe_load((out / "kustomization.yaml").read_text())["namespace"]
        for doc in docs:
            if doc["kind"] != "Namespace":
                accepted = apply(dynamic, doc, target, dry_run=True)
                assert accepted.metadata.uid, f"{doc['kind']}/{doc['metadata']['name']} not validated"
        assert {"Deployment", "StatefulSet", "ConfigMap", "Secret", "ClusterRoleBinding"} <= {
            d["kind"] for d in docs
        }

        config = pipeline_config(out, namespace, control_plane)
        shop = new_namespace(core, "migrated")
        pod = "cart-5f7c9d8b6-q2xzt"
        message = f"Back-off restarting failed container app in pod {pod}_{shop}"

        def received() -> list[str]:
            return [
                m["text"]["content"]
                for m in robot.messages
                if m.get("msgtype") == "text" and f"名称空间: {shop}" in m["text"]["content"]
            ]

        with (
            herald_process(config, "producer", log_dir=tmp_path, name="producer"),
            herald_process(config, "processor", log_dir=tmp_path, name="processor"),
            herald_process(config, "notifier", "--receiver", "wecom", log_dir=tmp_path, name="notifier"),
        ):
            crash = core.create_namespaced_event(
                shop, kubelet_event(shop, pod, reason="BackOff", message=message)
            )
            repeat_event(core, shop, crash.metadata.name, 2)
            wait_until(received, timeout=240, what="the user's template at the WeCom robot")
            observe_for(3)
        bodies = [orjson.loads(r.body) for r in server.accepted()]

    content = received()[0]
    assert content.startswith("集群事件告警\n")
    assert "事件级别: Warning\n" in content
    assert "事件类型: Pod\n" in content
    assert f"事件对象: {pod}\n" in content
    assert "事件原因: BackOff\n" in content
    assert f"详细信息: {message}" in content
    assert "+0800 CST" in content  # 发生时间 in the container's TZ, as kube-eventer printed it
    assert all(b["msgtype"] == "text" for b in bodies)
