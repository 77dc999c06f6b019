"""The deployment manifests: least-privilege RBAC, objects the Kubernetes API accepts, and
workloads that match the image, the configuration and each other."""

from __future__ import annotations

import inspect
import json
import os
import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.client import ApiClient
from kubernetes.client import models as k8s_models

from notifiers.receivers import REGISTRY as RECEIVERS
from runtime.config import ConfigError, HeraldConfig, load_config

ROOT = Path(__file__).parents[2]
DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
IMAGE = "kube-herald:0.1.0"
CONFIG_DIR = "/etc/herald"
CONFIG_PATH = f"{CONFIG_DIR}/herald.yaml"
SECRET_VALUES = {"WECOM_ROBOT_URL": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=test-key"}
NAMESPACED = {
    "ServiceAccount",
    "ConfigMap",
    "Secret",
    "Service",
    "Deployment",
    "StatefulSet",
    "PodDisruptionBudget",
}


def test_producer_role_only_reads_events() -> None:
    documents = list(yaml.safe_load_all((DEPLOY / "producer-rbac.yaml").read_text()))
    roles = [d for d in documents if d["kind"] in ("ClusterRole", "Role")]
    assert roles
    for role in roles:
        for rule in role["rules"]:
            assert rule["resources"] == ["events"]
            assert set(rule["verbs"]) <= {"get", "list", "watch"}
    binding = next(d for d in documents if d["kind"] == "ClusterRoleBinding")
    account = next(d for d in documents if d["kind"] == "ServiceAccount")
    assert binding["subjects"] == [
        {
            "kind": "ServiceAccount",
            "name": account["metadata"]["name"],
            "namespace": account["metadata"]["namespace"],
        }
    ]


# --- every manifest is a valid Kubernetes object -------------------------------------------


def manifest_files() -> list[Path]:
    """Every Kubernetes manifest under deploy/ (the monitoring files are not objects; the Helm
    chart's templates are checked rendered, by tests/cluster/test_helm_chart.py)."""
    return sorted(
        path
        for path in DEPLOY.rglob("*.yaml")
        if path.name != "kustomization.yaml"
        and not {"monitoring", "helm"} & set(path.relative_to(DEPLOY).parts)
    )


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def pipeline() -> list[dict[str, Any]]:
    """The objects kustomize applies from deploy/kubernetes."""
    listed = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())["resources"]
    return [doc for name in listed for doc in documents(KUBERNETES / name)]


def one(kind: str, name: str) -> dict[str, Any]:
    matches = [d for d in pipeline() if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind} {name}"
    return matches[0]


def model_class(doc: dict[str, Any]) -> str:
    version = doc["apiVersion"].rsplit("/", 1)[-1]
    return version[0].upper() + version[1:] + doc["kind"]


def unknown_fields(data: Any, type_name: str, path: str) -> Iterator[str]:
    """Keys the client's model for ``type_name`` does not define, recursively (the client's
    own deserializer silently drops them, so a misspelt field would pass unnoticed)."""
    if match := re.fullmatch(r"[Ll]ist\[(.+)\]", type_name):
        assert isinstance(data, list), f"{path}: expected a list"
        for index, item in enumerate(data):
            yield from unknown_fields(item, match.group(1), f"{path}[{index}]")
        return
    if match := re.fullmatch(r"(?:[Dd]ict\[|dict\()str, (.+)[\])]", type_name):
        assert isinstance(data, dict), f"{path}: expected a mapping"
        for key, item in data.items():
            yield from unknown_fields(item, match.group(1), f"{path}.{key}")
        return
    model = getattr(k8s_models, type_name, None)
    if model is None:  # str, int, bool, object (int-or-string, quantities), datetime...
        return
    assert isinstance(data, dict), f"{path}: expected a {type_name} mapping"
    fields = {json_key: model.openapi_types[attr] for attr, json_key in model.attribute_map.items()}
    for key, value in data.items():
        if key not in fields:
            yield f"{path}.{key} (not a field of {type_name})"
        else:
            yield from unknown_fields(value, fields[key], f"{path}.{key}")


class _Response:
    def __init__(self, doc: dict[str, Any]) -> None:
        self.data = json.dumps(doc)


def deserialize(doc: dict[str, Any], klass: str) -> Any:
    """The client's own deserializer; newer clients take the text, older ones a response."""
    client = ApiClient()
    if "content_type" in inspect.signature(client.deserialize).parameters:
        return client.deserialize(json.dumps(doc), klass, "application/json")
    return client.deserialize(_Response(doc), klass)


@pytest.mark.parametrize("path", manifest_files(), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_every_manifest_deserializes_into_the_client_models(path: Path) -> None:
    docs = documents(path)
    assert docs
    for doc in docs:
        klass = model_class(doc)
        where = f"{path.name}: {doc['kind']} {doc['metadata']['name']}"
        assert hasattr(k8s_models, klass), f"{where}: the kubernetes client has no model {klass}"
        assert list(unknown_fields(doc, klass, doc["kind"])) == [], where
        # Builds the typed object: required fields and enum-like values are checked here.
        obj = deserialize(doc, klass)
        assert type(obj).__name__ == klass


def test_the_kustomizations_list_every_manifest() -> None:
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    files = {
        p.name
        for p in KUBERNETES.glob("*.yaml")
        if p.name != "kustomization.yaml" and not p.name.endswith(".example.yaml")
    }
    assert sorted(kustomization["resources"]) == sorted(files)
    assert "namespace" not in kustomization, "deploy/kubernetes stays namespace-agnostic"
    top = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    assert sorted(top["resources"]) == ["kubernetes", "producer-rbac.yaml"]
    rbac_namespace = next(
        d for d in documents(DEPLOY / "producer-rbac.yaml") if d["kind"] == "ServiceAccount"
    )["metadata"]["namespace"]
    assert top["namespace"] == rbac_namespace


def test_pipeline_manifests_name_no_namespace_and_commit_no_secret() -> None:
    for doc in pipeline():
        assert "namespace" not in doc["metadata"], f"{doc['kind']} {doc['metadata']['name']}"
        assert doc["kind"] != "Secret", "a Secret is referenced, never committed"
    for example in KUBERNETES.glob("*.example.yaml"):
        for doc in documents(example):
            values = {**doc.get("stringData", {}), **doc.get("data", {})}
            assert all("REPLACE-ME" in value for value in values.values()), example.name


KUBECTL = shutil.which("kubectl")


def kustomize(directory: Path) -> list[dict[str, Any]]:
    assert KUBECTL is not None
    built = subprocess.run(
        [KUBECTL, "kustomize", str(directory)], capture_output=True, text=True, check=True, timeout=60
    )
    return [doc for doc in yaml.safe_load_all(built.stdout) if doc]


@pytest.mark.skipif(KUBECTL is None, reason="kubectl (with its built-in kustomize) is not installed")
def test_an_overlay_moves_everything_into_its_namespace(tmp_path: Path) -> None:
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump({"namespace": "team-x", "resources": [os.path.relpath(DEPLOY, overlay)]})
    )
    built = kustomize(overlay)
    assert {d["kind"] for d in built} >= {"ClusterRoleBinding", "Deployment", "StatefulSet", "ConfigMap"}
    for doc in built:
        if doc["kind"] in NAMESPACED:
            assert doc["metadata"]["namespace"] == "team-x", f"{doc['kind']} {doc['metadata']['name']}"
    binding = next(d for d in built if d["kind"] == "ClusterRoleBinding")
    accounts = {d["metadata"]["name"] for d in built if d["kind"] == "ServiceAccount"}
    assert [(s["name"], s["namespace"]) for s in binding["subjects"]] == [("herald-producer", "team-x")]
    producer = next(
        d for d in built if d["kind"] == "Deployment" and d["metadata"]["name"] == "herald-producer"
    )
    assert producer["spec"]["template"]["spec"]["serviceAccountName"] in accounts
    assert all("namespace" not in d["metadata"] for d in kustomize(KUBERNETES))
    for doc in kustomize(DEPLOY):
        if doc["kind"] in NAMESPACED:
            assert doc["metadata"]["namespace"] == "kube-herald", f"{doc['kind']} {doc['metadata']['name']}"


# --- workloads agree with the image and the configuration ----------------------------------


def herald_config(env: dict[str, str] | None = None, *, tmp_path: Path) -> HeraldConfig:
    config_map = one("ConfigMap", "herald-config")
    path = tmp_path / "herald.yaml"
    path.write_text(config_map["data"]["herald.yaml"])
    return load_config(path, env=SECRET_VALUES if env is None else env)


def workloads() -> list[dict[str, Any]]:
    return [d for d in pipeline() if d["kind"] in ("Deployment", "StatefulSet")]


def stage_of(workload: dict[str, Any]) -> str:
    (container,) = workload["spec"]["template"]["spec"]["containers"]
    return str(container["args"][2])


def container_of(stage: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(pod spec, container) of the one workload running ``stage``."""
    (workload,) = [w for w in workloads() if stage_of(w) == stage]
    pod = workload["spec"]["template"]["spec"]
    return pod, pod["containers"][0]


def test_the_configmap_loads_for_every_stage(tmp_path: Path) -> None:
    config = herald_config(tmp_path=tmp_path)
    assert config.producer is not None
    assert all(source.in_cluster for source in config.producer.sources())
    assert config.processor.store == "rocksdb://"
    index, entry = config.receiver("wecom")
    config.validate_section(("receivers", index), RECEIVERS[entry.type].config_model, entry.model_dump())
    # The producer and the processor get no secret, and must still load the file ...
    bare = herald_config({}, tmp_path=tmp_path)
    index, entry = bare.receiver("wecom")
    # ... while a notifier whose secret is missing refuses to start.
    with pytest.raises(ConfigError):
        bare.validate_section(("receivers", index), RECEIVERS[entry.type].config_model, entry.model_dump())


def test_every_workload_runs_the_image_on_the_configmap() -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert version == IMAGE.rsplit(":", 1)[1]
    stages = sorted(stage_of(w) for w in workloads())
    assert stages == ["notifier", "processor", "producer"]
    for workload in workloads():
        pod = workload["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["image"] == IMAGE
        assert container["command"] == ["herald"]
        assert container["args"][:2] == ["-c", CONFIG_PATH]
        mount = next(m for m in container["volumeMounts"] if m["mountPath"] == CONFIG_DIR)
        volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
        assert volume["configMap"]["name"] == "herald-config"
        assert mount.get("readOnly") is True


def test_workloads_run_unprivileged_with_a_read_only_root_and_resources() -> None:
    uid = int(re.search(r"--uid (\d+)", (ROOT / "Dockerfile").read_text()).group(1))  # type: ignore[union-attr]
    for workload in workloads():
        name = workload["metadata"]["name"]
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] == uid, name
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        (container,) = pod["containers"]
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True, name
        assert context["allowPrivilegeEscalation"] is False, name
        assert context["capabilities"]["drop"] == ["ALL"], name
        resources = container["resources"]
        assert {"cpu", "memory"} <= set(resources["requests"]), name
        assert "memory" in resources["limits"], name
        writable = {m["mountPath"] for m in container["volumeMounts"] if not m.get("readOnly")}
        assert "/tmp" in writable, f"{name}: Python and librdkafka may need a writable /tmp"


def test_selectors_match_the_pods_they_select() -> None:
    pods = {w["metadata"]["name"]: w["spec"]["template"]["metadata"]["labels"] for w in workloads()}
    for workload in workloads():
        labels = pods[workload["metadata"]["name"]]
        assert workload["spec"]["selector"]["matchLabels"].items() <= labels.items()
    for doc in pipeline():
        if doc["kind"] in ("Service", "PodDisruptionBudget"):
            selector = doc["spec"]["selector"]
            selector = selector.get("matchLabels", selector)
            selected = [name for name, labels in pods.items() if selector.items() <= labels.items()]
            assert len(selected) == 1, f"{doc['kind']} {doc['metadata']['name']} selects {selected}"


def resolve_port(container: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    return int(next(p["containerPort"] for p in container["ports"] if p["name"] == port))


def assert_probes_and_port(pod: dict[str, Any], container: dict[str, Any], port: int) -> None:
    assert [p["containerPort"] for p in container["ports"]] == [port]
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        action = container[probe]["httpGet"]
        assert action["path"] == path
        assert resolve_port(container, action["port"]) == port
    if "startupProbe" in container:
        assert resolve_port(container, container["startupProbe"]["httpGet"]["port"]) == port


def pod_annotations(stage: str) -> dict[str, str]:
    (workload,) = [w for w in workloads() if stage_of(w) == stage]
    return dict(workload["spec"]["template"]["metadata"].get("annotations", {}))


def test_producer_probes_and_metrics_use_the_configured_port(tmp_path: Path) -> None:
    config = herald_config(tmp_path=tmp_path)
    assert config.producer is not None
    assert config.producer.metrics_port
    pod, container = container_of("producer")
    assert_probes_and_port(pod, container, config.producer.metrics_port)
    assert pod_annotations("producer")["prometheus.io/port"] == str(config.producer.metrics_port)


def test_processor_probes_and_metrics_use_the_configured_port(tmp_path: Path) -> None:
    config = herald_config(tmp_path=tmp_path)
    assert config.processor.metrics_port
    pod, container = container_of("processor")
    assert_probes_and_port(pod, container, config.processor.metrics_port)
    assert pod_annotations("processor")["prometheus.io/port"] == str(config.processor.metrics_port)


def test_notifier_probes_service_and_metrics_use_the_configured_port(tmp_path: Path) -> None:
    config = herald_config(tmp_path=tmp_path)
    pod, container = container_of("notifier")
    args = container["args"]
    port = int(args[args.index("--http-port") + 1]) if "--http-port" in args else config.notifier.http_port
    assert port
    assert_probes_and_port(pod, container, port)
    assert pod_annotations("notifier")["prometheus.io/port"] == str(port)
    (workload,) = [w for w in workloads() if stage_of(w) == "notifier"]
    labels = workload["spec"]["template"]["metadata"]["labels"]
    services = [
        d for d in pipeline() if d["kind"] == "Service" and d["spec"]["selector"].items() <= labels.items()
    ]
    assert len(services) == 1
    assert [resolve_port(container, p["targetPort"]) for p in services[0]["spec"]["ports"]] == [port]


def test_only_the_notifier_gets_its_receivers_secrets(tmp_path: Path) -> None:
    text = one("ConfigMap", "herald-config")["data"]["herald.yaml"]
    raw = yaml.safe_load(text)
    _pod, container = container_of("notifier")
    args = container["args"]
    receiver = args[args.index("--receiver") + 1]
    herald_config(tmp_path=tmp_path).receiver(receiver)  # it names a configured receiver
    entry = next(r for r in raw["receivers"] if r["name"] == receiver)
    needed = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", json.dumps(entry)))
    assert needed
    given = {
        env["name"]: env["valueFrom"]["secretKeyRef"]
        for env in container.get("env", [])
        if "secretKeyRef" in env.get("valueFrom", {})
    }
    assert needed <= set(given)
    for stage in ("producer", "processor"):
        _pod, other = container_of(stage)
        assert "envFrom" not in other, stage
        assert all("secretKeyRef" not in e.get("valueFrom", {}) for e in other.get("env", [])), stage


def test_group_members_take_their_instance_id_from_the_pod_name() -> None:
    """A restarted container comes back as the same static member; only a StatefulSet's pod
    keeps its name when re-created, which the processor (with its local tables) needs."""
    for stage in ("processor", "notifier"):
        _pod, container = container_of(stage)
        env = {e["name"]: e for e in container.get("env", [])}
        assert env["POD_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}, stage
    assert one("StatefulSet", "herald-processor")


def test_producer_uses_the_least_privilege_service_account() -> None:
    account = next(d for d in documents(DEPLOY / "producer-rbac.yaml") if d["kind"] == "ServiceAccount")
    pod, _container = container_of("producer")
    assert pod["serviceAccountName"] == account["metadata"]["name"]
    for stage in ("processor", "notifier"):
        pod, _container = container_of(stage)
        assert pod["automountServiceAccountToken"] is False, stage
        assert "serviceAccountName" not in pod, stage


def test_processor_keeps_rocksdb_on_its_claim_and_has_time_to_commit(tmp_path: Path) -> None:
    config = herald_config(tmp_path=tmp_path)
    statefulset = one("StatefulSet", "herald-processor")
    spec = statefulset["spec"]
    pod, container = container_of("processor")
    claims = {t["metadata"]["name"] for t in spec["volumeClaimTemplates"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert config.processor.store == "rocksdb://"
    assert mounts[str(config.processor.data_dir)] in claims
    assert 2 <= spec["replicas"] <= config.kafka.partitions
    assert pod["terminationGracePeriodSeconds"] >= 60  # well past Faust's 15 s session timeout
    assert config.processor.web_port is None  # Faust's web server stays off; metrics_port serves
    service = one("Service", spec["serviceName"])
    assert service["spec"]["clusterIP"] == "None"


def test_the_image_has_the_store_the_processor_uses(tmp_path: Path) -> None:
    assert herald_config(tmp_path=tmp_path).processor.store == "rocksdb://"
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"pip install[^\n]*\[[^\]]*rocksdb", dockerfile), "the image lacks rocksdict"
