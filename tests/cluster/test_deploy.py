"""deploy/ against the real API server: every object passes validation and admission
(server-side apply, dryRun=All, as `kubectl apply --server-side --dry-run=server -k deploy/`),
and the RBAC it grants is what the producer needs, checked by the real authorizer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.client import AuthorizationV1Api, CoreV1Api
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient

from tests.cluster.kube import ControlPlane

pytestmark = pytest.mark.e2e

DEPLOY = Path(__file__).parents[2] / "deploy"
FIELD_MANAGER = "kube-herald-e2e"


def rendered() -> list[dict[str, Any]]:
    """What kustomize renders from deploy/: its resources, the namespaced ones in its namespace."""
    top = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    docs: list[dict[str, Any]] = []
    for entry in top["resources"]:
        path = DEPLOY / entry
        files = (
            [path / f for f in yaml.safe_load((path / "kustomization.yaml").read_text())["resources"]]
            if path.is_dir()
            else [path]
        )
        for file in files:
            docs += [d for d in yaml.safe_load_all(file.read_text()) if d]
    return docs


def ensure_namespace(core: CoreV1Api) -> str:
    """deploy/'s namespace, which it does not create: `kubectl apply --dry-run=server` needs it too."""
    name: str = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())["namespace"]
    try:
        core.create_namespace({"metadata": {"name": name}})
    except ApiException as exc:
        if exc.status != 409:
            raise
    return name


def apply(dynamic: DynamicClient, doc: dict[str, Any], namespace: str, *, dry_run: bool) -> Any:
    resource = dynamic.resources.get(api_version=doc["apiVersion"], kind=doc["kind"])
    body = dict(doc)
    if resource.namespaced:
        body["metadata"] = {**doc["metadata"], "namespace": namespace}
    return resource.server_side_apply(
        body=body,
        name=doc["metadata"]["name"],
        namespace=namespace if resource.namespaced else None,
        field_manager=FIELD_MANAGER,
        dry_run="All" if dry_run else None,
    )


def test_deploy_manifests_pass_server_side_dry_run(control_plane: ControlPlane) -> None:
    api = control_plane.client()
    dynamic = DynamicClient(api)
    namespace = ensure_namespace(CoreV1Api(api))
    docs = rendered()
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "StatefulSet", "ConfigMap", "ClusterRole", "RoleBinding"} <= kinds

    for doc in docs:
        accepted = apply(dynamic, doc, namespace, dry_run=True)
        assert accepted.metadata.name == doc["metadata"]["name"]
        assert accepted.metadata.uid, f"{doc['kind']}/{doc['metadata']['name']} not validated by the server"

    # A dry run persists nothing.
    assert (
        dynamic.resources.get(api_version="apps/v1", kind="Deployment").get(namespace=namespace).items == []
    )


def test_producer_rbac_grants_what_the_producer_needs_and_no_more(control_plane: ControlPlane) -> None:
    api = control_plane.client()
    namespace = ensure_namespace(CoreV1Api(api))
    rbac = [
        d
        for d in rendered()
        if d["kind"] in {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}
    ]
    dynamic = DynamicClient(api)
    for doc in rbac:
        apply(dynamic, doc, namespace, dry_run=False)
    (account,) = [d["metadata"]["name"] for d in rbac if d["kind"] == "ServiceAccount"]
    user = f"system:serviceaccount:{namespace}:{account}"
    authz = AuthorizationV1Api(api)

    def allowed(verb: str, resource: str, *, group: str = "", ns: str | None = None, name: str = "") -> bool:
        review = authz.create_subject_access_review(
            {
                "spec": {
                    "user": user,
                    "groups": ["system:serviceaccounts", f"system:serviceaccounts:{namespace}"],
                    "resourceAttributes": {
                        "verb": verb,
                        "resource": resource,
                        "group": group,
                        "namespace": ns or "",
                        "name": name,
                    },
                }
            }
        )
        return bool(review.status.allowed)

    for verb in ("list", "watch"):
        assert allowed(verb, "events"), f"the producer cannot {verb} events cluster-wide"
        assert allowed(verb, "events", group="events.k8s.io")
    assert allowed("create", "leases", group="coordination.k8s.io", ns=namespace)
    for verb in ("get", "update"):
        assert allowed(verb, "leases", group="coordination.k8s.io", ns=namespace, name="kube-herald-producer")
    assert not allowed("update", "leases", group="coordination.k8s.io", ns=namespace, name="another")
    assert not allowed("create", "events")
    assert not allowed("get", "secrets", ns=namespace)
    assert not allowed("create", "leases", group="coordination.k8s.io", ns="default")
