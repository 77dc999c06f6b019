"""deploy/helm/kube-herald against Helm and the real API server: `helm lint` passes for the
default and the producer-only values, and what `helm template` renders from a full install
(two receivers, monitoring, NetworkPolicies) passes the API server's validation and admission
(server-side apply, dryRun=All, as `helm install --dry-run=server` would), with one notifier
per receiver, no secret in the ConfigMap, and a herald.yaml every stage loads.

helm is built from the Go module proxy and cached by tests/e2e/helm (`make e2e` builds it).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.client import ApiextensionsV1Api, AuthorizationV1Api, CoreV1Api
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient

from notifiers.receivers import REGISTRY as RECEIVERS
from runtime.config import load_config
from tests.cluster.kube import ControlPlane, new_namespace
from tests.cluster.test_deploy import apply
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).parents[2]
CHART = ROOT / "deploy" / "helm" / "kube-herald"
PRODUCER_ONLY = CHART / "values-producer-only.yaml"
HELM_SCRIPT = ROOT / "tests" / "e2e" / "helm"
RELEASE = "herald"
SECRETS_MOUNT = "/etc/herald-secrets"

SECRET_VALUES = {
    "wecom-url": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=wecom-test-key",
    "dingtalk-url": "https://oapi.dingtalk.com/robot/send?access_token=dingtalk-test-token",
    "dingtalk-secret": "SECdingtalk-test-signing-secret",
    "kafka-password": "kafka-test-password",
    "ui-token": "ui-test-bearer-token",
}

# A full install: two receivers, the page behind a token, Kafka over SASL, monitoring and
# NetworkPolicies on.
FULL_VALUES: dict[str, Any] = {
    "config": {
        "kafka": {
            "bootstrap_servers": "kube-herald-kafka-bootstrap.kafka.svc:9093",
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_username": "kube-herald",
            "sasl_password_file": f"{SECRETS_MOUNT}/kafka-password",
            "replication_factor": 3,
        },
        "notifier": {
            "timezone": "Asia/Shanghai",
            "language": "zh",
            "ui_auth": {"bearer_token_file": f"{SECRETS_MOUNT}/ui-token"},
        },
    },
    "receivers": [
        {
            "name": "wecom",
            "type": "wecom",
            "url_file": f"{SECRETS_MOUNT}/wecom-url",
            "deployment": {"secretKeys": ["wecom-url"], "replicas": 2},
        },
        {
            "name": "oncall-dingtalk",
            "type": "dingtalk",
            "url_file": f"{SECRETS_MOUNT}/dingtalk-url",
            "secret_file": f"{SECRETS_MOUNT}/dingtalk-secret",
            "deployment": {"secretKeys": ["dingtalk-url", "dingtalk-secret"]},
        },
    ],
    "secrets": {"values": SECRET_VALUES, "commonKeys": ["kafka-password", "ui-token"]},
    "metrics": {"serviceMonitor": {"enabled": True}, "prometheusRule": {"enabled": True}},
    "networkPolicy": {
        "enabled": True,
        "ingressFrom": [
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
        ],
        "kafka": {
            "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kafka"}}}],
            "ports": [9093],
        },
    },
}

# Just enough of the Prometheus Operator's CRDs (monitoring.coreos.com/v1) for the API server
# to admit a ServiceMonitor and a PrometheusRule; their schemas are the operator's business.
OPERATOR_KINDS = {"ServiceMonitor": "servicemonitors", "PrometheusRule": "prometheusrules"}


def helm(*args: str) -> str:
    done = subprocess.run(
        [str(HELM_SCRIPT), "--", *args], capture_output=True, text=True, timeout=900, check=False
    )
    assert done.returncode == 0, (
        f"helm {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
    return done.stdout


@pytest.fixture(scope="module")
def full_values(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path: Path = tmp_path_factory.mktemp("helm") / "values-full.yaml"
    path.write_text(yaml.safe_dump(FULL_VALUES, sort_keys=False))
    return path


def render(*values: Path, namespace: str = "kube-herald") -> list[dict[str, Any]]:
    options = [arg for path in values for arg in ("-f", str(path))]
    out = helm("template", RELEASE, str(CHART), "--namespace", namespace, *options)
    return [doc for doc in yaml.safe_load_all(out) if doc]


def of_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def containers(docs: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]]:
    """(workload, pod spec, container) of every Deployment and StatefulSet."""
    for doc in docs:
        if doc["kind"] in ("Deployment", "StatefulSet"):
            pod = doc["spec"]["template"]["spec"]
            for container in pod["containers"]:
                yield doc, pod, container


def mounted_keys(pod: dict[str, Any]) -> set[str]:
    return {
        item["key"]
        for volume in pod.get("volumes", [])
        if "secret" in volume
        for item in volume["secret"].get("items", [])
    }


# --- lint ------------------------------------------------------------------------------------


def test_helm_lint_passes_for_the_default_and_producer_only_values(full_values: Path) -> None:
    for options in ([], ["-f", str(PRODUCER_ONLY)], ["-f", str(full_values)]):
        out = helm("lint", "--strict", str(CHART), *options)
        assert "0 chart(s) failed" in out, out


def test_the_chart_alerts_are_deploys() -> None:
    """The PrometheusRule's groups are deploy/monitoring/prometheus-rules.yaml, kept equal
    (a chart cannot read files outside its directory)."""
    assert (CHART / "files" / "prometheus-rules.yaml").read_text() == (
        ROOT / "deploy" / "monitoring" / "prometheus-rules.yaml"
    ).read_text()


# --- what it renders -------------------------------------------------------------------------


def test_one_notifier_per_receiver_and_no_secret_in_the_configmap(full_values: Path, tmp_path: Path) -> None:
    docs = render(full_values)
    notifiers = [
        (w, p, c)
        for w, p, c in containers(docs)
        if w["metadata"]["labels"]["app.kubernetes.io/component"] == "notifier"
    ]
    receivers = [r["name"] for r in FULL_VALUES["receivers"]]
    assert sorted(c["args"][-1] for _, _, c in notifiers) == sorted(receivers)
    assert sorted(w["metadata"]["name"] for w, _, _ in notifiers) == sorted(
        f"{RELEASE}-kube-herald-notifier-{r}" for r in receivers
    )
    assert {w["metadata"]["name"]: w["spec"]["replicas"] for w, _, _ in notifiers}[
        f"{RELEASE}-kube-herald-notifier-wecom"
    ] == 2
    assert len(of_kind(docs, "PodDisruptionBudget")) == 1 + len(receivers)
    assert (
        len([s for s in of_kind(docs, "Service") if "kube-herald.io/receiver" in s["metadata"]["labels"]])
        == 2
    )

    (config_map,) = of_kind(docs, "ConfigMap")
    text = yaml.safe_dump(config_map)
    for key, value in SECRET_VALUES.items():
        assert value not in text, f"the secret {key} is in the ConfigMap"
    herald_yaml = config_map["data"]["herald.yaml"]
    assert "deployment" not in yaml.safe_load(herald_yaml)["receivers"][0], (
        "the chart's key leaked into herald.yaml"
    )
    (secret,) = of_kind(docs, "Secret")
    assert secret["stringData"] == SECRET_VALUES

    # Every stage loads herald.yaml with only the keys its pod mounts, as it would in the pod.
    for workload, pod, container in containers(docs):
        stage = container["args"][2]
        keys = mounted_keys(pod)
        assert keys >= {"kafka-password", "ui-token"}, workload["metadata"]["name"]
        secrets_dir = tmp_path / workload["metadata"]["name"]
        secrets_dir.mkdir()
        for key in keys:
            (secrets_dir / key).write_text(SECRET_VALUES[key] + "\n")
        path = secrets_dir / "herald.yaml"
        path.write_text(herald_yaml.replace(SECRETS_MOUNT, str(secrets_dir)))
        config = load_config(path, env={})
        assert config.kafka.sasl_password is not None
        assert config.kafka.sasl_password.get_secret_value() == SECRET_VALUES["kafka-password"]
        if stage == "notifier":
            receiver = container["args"][-1]
            index, entry = config.receiver(receiver)
            model = RECEIVERS[entry.type].config_model
            settings = config.validate_section(("receivers", index), model, entry.model_dump())
            assert settings.url.get_secret_value().startswith("https://"), receiver  # type: ignore[attr-defined]
            # Only its own receiver's keys: the other receiver's secrets are not in this pod.
            others = {
                k
                for r in FULL_VALUES["receivers"]
                if r["name"] != receiver
                for k in r["deployment"]["secretKeys"]
            }
            assert not keys & others, f"{receiver} mounts another receiver's secrets"
        else:
            assert not keys & {"wecom-url", "dingtalk-url", "dingtalk-secret"}, stage
        assert config.notifier.timezone == "Asia/Shanghai"


def test_every_container_has_probes_resources_and_a_locked_down_context(full_values: Path) -> None:
    docs = render(full_values)
    stages = set()
    for workload, pod, container in containers(docs):
        name = workload["metadata"]["name"]
        stages.add(container["args"][2])
        for probe, path in (
            ("livenessProbe", "/healthz"),
            ("readinessProbe", "/readyz"),
            ("startupProbe", "/healthz"),
        ):
            assert container[probe]["httpGet"] == {"path": path, "port": "http"}, f"{name}: {probe}"
        assert container["resources"]["requests"], name
        assert container["resources"]["limits"]["memory"], name
        assert container["securityContext"]["readOnlyRootFilesystem"] is True, name
        assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}, name
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["automountServiceAccountToken"] is (container["args"][2] == "producer"), name
    assert stages == {"producer", "processor", "notifier"}


def test_monitoring_objects_match_the_rules_and_jobs(full_values: Path) -> None:
    docs = render(full_values)
    (monitor,) = of_kind(docs, "ServiceMonitor")
    (rule,) = of_kind(docs, "PrometheusRule")
    groups = yaml.safe_load((ROOT / "deploy" / "monitoring" / "prometheus-rules.yaml").read_text())["groups"]
    assert rule["spec"]["groups"] == groups
    # The jobs the `up` rules name are the Services' job labels, which the ServiceMonitor uses.
    jobs = {s["metadata"]["labels"].get("kube-herald.io/job") for s in of_kind(docs, "Service")}
    assert jobs == {"herald-producer", "herald-processor", "herald-notifier"}
    assert monitor["spec"]["jobLabel"] == "kube-herald.io/job"
    policies = of_kind(docs, "NetworkPolicy")
    assert sorted(p["metadata"]["labels"]["app.kubernetes.io/component"] for p in policies) == [
        "notifier",
        "processor",
        "producer",
    ]


def test_the_producer_only_values_render_a_producer_and_its_rbac() -> None:
    docs = render(PRODUCER_ONLY)
    assert {d["kind"] for d in docs} == {
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "ConfigMap",
        "Service",
        "Deployment",
    }
    assert [c["args"][2] for _, _, c in containers(docs)] == ["producer"]
    (config_map,) = of_kind(docs, "ConfigMap")
    config = yaml.safe_load(config_map["data"]["herald.yaml"])
    assert "receivers" not in config
    assert "processor" not in config


# --- against the real API server -------------------------------------------------------------


def ensure_operator_crds(api: Any) -> None:
    extensions = ApiextensionsV1Api(api)
    for kind, plural in OPERATOR_KINDS.items():
        body = {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.monitoring.coreos.com"},
            "spec": {
                "group": "monitoring.coreos.com",
                "scope": "Namespaced",
                "names": {
                    "kind": kind,
                    "plural": plural,
                    "singular": kind.lower(),
                    "listKind": f"{kind}List",
                },
                "versions": [
                    {
                        "name": "v1",
                        "served": True,
                        "storage": True,
                        "schema": {
                            "openAPIV3Schema": {
                                "type": "object",
                                "properties": {
                                    "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                                },
                            }
                        },
                    }
                ],
            },
        }
        try:
            extensions.create_custom_resource_definition(body)
        except ApiException as exc:
            if exc.status != 409:
                raise

        def established(name: str = f"{plural}.monitoring.coreos.com") -> bool:
            crd = extensions.read_custom_resource_definition(name)
            return any(c.type == "Established" and c.status == "True" for c in crd.status.conditions or [])

        wait_until(established, timeout=60, what=f"the {kind} CRD established")


def test_the_rendered_chart_passes_server_side_dry_run(
    control_plane: ControlPlane, full_values: Path
) -> None:
    api = control_plane.client()
    ensure_operator_crds(api)
    namespace = new_namespace(CoreV1Api(api), "herald-helm")
    dynamic = DynamicClient(api)  # after the CRDs: its discovery must know their kinds
    for values in ([full_values], [PRODUCER_ONLY]):
        docs = render(*values, namespace=namespace)
        for doc in docs:
            accepted = apply(dynamic, doc, namespace, dry_run=True)
            assert accepted.metadata.uid, (
                f"{doc['kind']}/{doc['metadata']['name']} not validated by the server"
            )
    # A dry run persists nothing.
    assert (
        dynamic.resources.get(api_version="apps/v1", kind="Deployment").get(namespace=namespace).items == []
    )


def test_the_charts_producer_rbac_grants_what_the_producer_needs(control_plane: ControlPlane) -> None:
    api = control_plane.client()
    namespace = new_namespace(CoreV1Api(api), "herald-helm-rbac")
    dynamic = DynamicClient(api)
    docs = render(PRODUCER_ONLY, namespace=namespace)
    for doc in docs:
        if doc["kind"] in {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}:
            apply(dynamic, doc, namespace, dry_run=False)
    (account,) = [d["metadata"]["name"] for d in of_kind(docs, "ServiceAccount")]
    user = f"system:serviceaccount:{namespace}:{account}"
    authz = AuthorizationV1Api(api)

    def allowed(verb: str, resource: str, *, group: str = "", ns: str = "", name: str = "") -> bool:
        review = authz.create_subject_access_review(
            {
                "spec": {
                    "user": user,
                    "groups": ["system:serviceaccounts", f"system:serviceaccounts:{namespace}"],
                    "resourceAttributes": {
                        "verb": verb,
                        "resource": resource,
                        "group": group,
                        "namespace": ns,
                        "name": name,
                    },
                }
            }
        )
        return bool(review.status.allowed)

    for verb in ("list", "watch"):
        assert allowed(verb, "events")
        assert allowed(verb, "events", group="events.k8s.io")
    assert allowed("create", "leases", group="coordination.k8s.io", ns=namespace)
    assert allowed("update", "leases", group="coordination.k8s.io", ns=namespace, name="kube-herald-producer")
    assert not allowed("update", "leases", group="coordination.k8s.io", ns=namespace, name="another")
    assert not allowed("create", "events")
    assert not allowed("get", "secrets", ns=namespace)
    # Cluster-scoped names are per release: clean up what this test really applied.
    for doc in docs:
        if doc["kind"] in {"ClusterRole", "ClusterRoleBinding"}:
            dynamic.resources.get(api_version=doc["apiVersion"], kind=doc["kind"]).delete(
                name=doc["metadata"]["name"]
            )
