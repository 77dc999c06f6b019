"""``herald migrate kube-eventer`` from files: what it carries over (the issue's WeCom setup,
several sinks, every way of writing --sink), what it refuses and why, that check-config and
render accept its output, and that no secret reaches herald.yaml, stdout or stderr."""

from __future__ import annotations

import logging
import shutil
import stat
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from herald.cli import main
from tests.support.kube_eventer import GUIDE_TEMPLATE

ROOT = Path(__file__).parents[2]
KEY = "0f3c6a5e-2b7d-4f1a-9c8e-5d4b3a2f1e0d"
TOKEN = "a5c19f3e02feba7bd5dfc22bfb04afa212359acfe86fd80eb159187097b7d014"
SIGN = "SEC4801ebab0yeuq924909668e5979f7d184b3f4bfac6a63ae36a"
CORP_SECRET = "corp-secret-3f9a8b7c6d5e4f3a2b1c"
HOOK_TOKEN = "hooktoken9d8c7b6a5f4e3d2c1b0a"
BEARER = "bearer-7a6b5c4d3e2f1a0b9c8d"
SECRETS = (KEY, TOKEN, SIGN, CORP_SECRET, HOOK_TOKEN, BEARER)

WECOM_SINK = (
    f"--sink=webhook:https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={KEY}&level=Warning&method=POST"
    "&header=Content-Type=application/json&custom_body_configmap=custom-webhook-body"
    "&custom_body_configmap_namespace=kube-system"
)
TEMPLATE = GUIDE_TEMPLATE
# The issue's example, as users write it (the template folded into one line by `>-`).
ISSUE_MANIFESTS = f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  labels:
    name: kube-eventer
  name: kube-eventer
  namespace: kube-system
spec:
  replicas: 1
  selector:
    matchLabels:
      app: kube-eventer
  template:
    metadata:
      labels:
        app: kube-eventer
    spec:
      serviceAccount: kube-eventer
      containers:
        - image: registry.aliyuncs.com/acs/kube-eventer:v1.2.7-ca03be0-aliyun
          name: kube-eventer
          command:
            - /kube-eventer
          args:
            - --source=kubernetes:https://kubernetes.default
            - {WECOM_SINK}
          env:
            - name: TZ
              value: Asia/Shanghai
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: custom-webhook-body
  namespace: kube-system
data:
  content: >-
    {TEMPLATE}
"""


def deployment(
    *, command: list[str] | None = None, args: list[str] | None = None, **container: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "kube-eventer", "namespace": "kube-system"},
        "spec": {
            "selector": {"matchLabels": {"app": "kube-eventer"}},
            "template": {
                "metadata": {"labels": {"app": "kube-eventer"}},
                "spec": {
                    "containers": [
                        {
                            "name": "kube-eventer",
                            "image": "registry.aliyuncs.com/acs/kube-eventer:v1.2.7",
                            **({"command": command} if command is not None else {}),
                            **({"args": args} if args is not None else {}),
                            **container,
                        }
                    ]
                },
            },
        },
    }


def write_yaml(path: Path, *documents: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump_all(documents, allow_unicode=True))
    return path


def migrate(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["migrate", "kube-eventer", *args])
    out, err = capsys.readouterr()
    return code, out, err


def config_of(out: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((out / "herald.yaml").read_text())
    return loaded


def receiver(config: dict[str, Any], name: str) -> dict[str, Any]:
    return next(r for r in config["receivers"] if r["name"] == name)


def assert_no_secret(out: Path, *texts: str) -> None:
    """No secret in what was printed, in herald.yaml or in the manifests; only in secrets/."""
    written = [p.read_text() for p in out.rglob("*") if p.is_file() and "secrets" not in p.parts]
    for secret in SECRETS:
        for text in (*texts, *written):
            assert secret not in text


@pytest.fixture(autouse=True)
def _no_secrets_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    """Secrets are read from OUTDIR/secrets, as on a workstation (pods set HERALD_SECRETS_DIR)."""
    monkeypatch.delenv("HERALD_SECRETS_DIR", raising=False)
    monkeypatch.delenv("HERALD_CONFIG", raising=False)


@pytest.fixture(autouse=True)
def _logging_restored() -> Iterator[None]:
    """``main`` sets logging up as a process would (handlers, quiet HTTP loggers): undo it for
    the tests that run after these in the same process."""
    root = logging.getLogger()
    named = [logging.getLogger(name) for name in ("httpx", "httpcore", "urllib3", "urllib3.connectionpool")]
    saved = (list(root.handlers), root.level, [logger.level for logger in named])
    yield
    root.handlers[:], root.level = saved[0], saved[1]
    for logger, level in zip(named, saved[2], strict=True):
        logger.setLevel(level)


# --- the issue's setup -------------------------------------------------------------------------


def test_the_issues_wecom_robot_with_its_template(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "kube-eventer.yaml"
    source.write_text(ISSUE_MANIFESTS)
    out = tmp_path / "kube-herald"

    code, stdout, stderr = migrate(capsys, "-f", str(source), "-o", str(out))

    assert code == 0, stderr
    config = config_of(out)
    (wecom,) = [r for r in config["receivers"] if r["type"] != "console"]
    assert wecom["type"] == "wecom"
    assert wecom["url_file"] == "${HERALD_SECRETS_DIR:-secrets}/wecom-url"
    assert "集群事件告警" in wecom["custom_body"]
    assert "{{ .Reason }}" in wecom["custom_body"]
    assert "custom_body: |" in (out / "herald.yaml").read_text()
    assert config["notifier"]["timezone"] == "Asia/Shanghai"
    assert config["notifier"]["language"] == "zh"
    assert config["producer"]["clusters"][0]["in_cluster"] is True
    assert config["route"]["receiver"] == "wecom"
    assert config["route"]["routes"] == [
        {"receiver": "wecom", "matchers": ['severity=~"critical|warning"'], "continue": True}
    ]
    secret = out / "secrets" / "wecom-url"
    assert secret.read_text() == f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={KEY}"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert stat.S_IMODE((out / "secrets").stat().st_mode) == 0o700
    assert "wrote" in stdout
    assert "herald.yaml" in stdout
    assert (
        "# --sink=webhook:https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=<redacted>"
        in (out / "herald.yaml").read_text()
    )
    assert_no_secret(out, stdout, stderr)

    assert main(["-c", str(out / "herald.yaml"), "check-config"]) == 0
    checked = capsys.readouterr().out
    assert KEY not in checked

    assert main(["-c", str(out / "herald.yaml"), "render", "--receiver", "wecom"]) == 0
    rendered = capsys.readouterr().out
    assert "集群事件告警" in rendered
    assert "事件原因: BackOff" in rendered
    assert "名称空间: payments" in rendered
    assert "Back-off restarting failed container" in rendered


def test_the_configmap_may_come_from_its_own_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    deployment_only, configmap = ISSUE_MANIFESTS.split("---\n")
    (tmp_path / "deploy.yaml").write_text(deployment_only)
    (tmp_path / "cm.yaml").write_text(configmap)
    out = tmp_path / "out"

    code, _, stderr = migrate(capsys, "-f", str(tmp_path / "deploy.yaml"), "-o", str(out))
    assert code == 2
    assert stderr.count("\n") == 1, stderr
    assert "ConfigMap kube-system/custom-webhook-body" in stderr
    assert "--configmap FILE" in stderr
    assert not out.exists()

    code, _, stderr = migrate(
        capsys, "-f", str(tmp_path / "deploy.yaml"), "--configmap", str(tmp_path / "cm.yaml"), "-o", str(out)
    )
    assert code == 0, stderr
    assert "集群事件告警" in receiver(config_of(out), "wecom")["custom_body"]


# --- several sinks -------------------------------------------------------------------------------


def several_sinks(tmp_path: Path) -> Path:
    args = [
        "--source=kubernetes:https://kubernetes.default",
        f"--sink=dingtalk:https://oapi.dingtalk.com/robot/send?access_token={TOKEN}&sign={SIGN}"
        "&label=prod-eu-1&level=Warning&namespaces=shop,pay",
        "--sink",
        "wechat:?corp_id=ww1234&corp_secret=$(CORP_SECRET)&agent_id=1000002&to_user=zhangsan,lisi&kinds=Node",
        f"--sink=webhook:https://hooks.example.com/k8s?token={HOOK_TOKEN}&header=Authorization=Bearer%20{BEARER}"
        "&header=Content-Type=application/json&reason=BackOff",
        "--sink=sls:https://sls.aliyuncs.com?logStore=k8s&project=p&topic=t",
    ]
    env = [
        {"name": "TZ", "value": "Europe/Berlin"},
        {"name": "CORP_SECRET", "valueFrom": {"secretKeyRef": {"name": "wechat", "key": "secret"}}},
    ]
    wechat = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "wechat", "namespace": "kube-system"},
        "stringData": {"secret": CORP_SECRET},
    }
    return write_yaml(
        tmp_path / "kube-eventer.yaml", deployment(command=["/kube-eventer"], args=args, env=env), wechat
    )


def test_several_sinks_become_receivers_with_routes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code, stdout, stderr = migrate(capsys, "-f", str(several_sinks(tmp_path)), "-o", str(out))

    assert code == 0, stderr
    config = config_of(out)
    dingtalk, app, hook = (receiver(config, n) for n in ("dingtalk", "wecom-app", "webhook"))
    assert dingtalk["secret_file"] == "${HERALD_SECRETS_DIR:-secrets}/dingtalk-secret"
    assert dingtalk["keyword"] == "prod-eu-1"
    assert (out / "secrets" / "dingtalk-secret").read_text() == SIGN
    assert (out / "secrets" / "dingtalk-url").read_text().endswith(TOKEN)
    assert app["type"] == "wecom_app"
    assert app["corp_id"] == "ww1234"
    assert app["to_user"] == ["zhangsan", "lisi"]
    assert (out / "secrets" / "wecom-app-corp_secret").read_text() == CORP_SECRET  # via $(CORP_SECRET)
    assert hook["headers"] == {
        "authorization": "${HERALD_WEBHOOK_AUTHORIZATION:-}",
        "content-type": "application/json",
    }
    assert (out / "secrets" / "webhook-header-authorization").read_text() == f"Bearer {BEARER}"
    assert config["producer"]["clusters"][0]["cluster"] == "prod-eu-1"  # the dingtalk label
    assert config["notifier"]["timezone"] == "Europe/Berlin"
    assert "language" not in config["notifier"]
    # Every sink filters, so what none passes goes to a receiver no notifier runs for.
    assert config["route"]["receiver"] == "unrouted"
    assert receiver(config, "unrouted")["type"] == "console"
    assert not (out / "notifier-unrouted.yaml").exists()
    routes = {r["receiver"]: r for r in config["route"]["routes"]}
    assert routes["dingtalk"]["matchers"] == ['severity=~"critical|warning"', 'namespace=~"shop|pay"']
    assert routes["wecom-app"]["matchers"] == ['severity=~"critical|warning"', 'object_kind=~"Node"']
    assert all(r["continue"] is True for r in routes.values())

    warnings = [line for line in stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1, stderr
    assert warnings[0].startswith("warning: sink 4 (sls:https://sls.aliyuncs.com?logStore=<redacted>")
    assert "not carried over" in warnings[0]
    assert "'sls'" in warnings[0]
    for path in (out / "secrets").iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
    assert_no_secret(out, stdout, stderr)
    assert main(["-c", str(out / "herald.yaml"), "check-config", "--quiet"]) == 0


def test_the_manifests_mount_each_notifier_its_own_secrets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert migrate(capsys, "-f", str(several_sinks(tmp_path)), "-o", str(out))[0] == 0
    kustomization = yaml.safe_load((out / "kustomization.yaml").read_text())
    assert kustomization["namespace"] == "kube-herald"
    assert kustomization["configMapGenerator"] == [{"name": "herald-config", "files": ["herald.yaml"]}]
    (secrets,) = kustomization["secretGenerator"]
    assert sorted(secrets["files"]) == sorted(f"secrets/{p.name}" for p in (out / "secrets").iterdir())
    assert "SENSITIVE" in (out / "kustomization.yaml").read_text()
    assert (out / ".gitignore").read_text().splitlines()[-1] == "secrets/"
    for name in kustomization["resources"]:
        assert (out / name).is_file(), name

    documents = list(yaml.safe_load_all((out / "notifier-dingtalk.yaml").read_text()))
    (notifier,) = [d for d in documents if d["kind"] == "Deployment"]
    pod = notifier["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["args"][-2:] == ["--receiver", "dingtalk"]
    assert {"name": "HERALD_SECRETS_DIR", "value": "/etc/herald-secrets"} in container["env"]
    (volume,) = [v for v in pod["volumes"] if v["name"] == "secrets"]
    assert [item["key"] for item in volume["secret"]["items"]] == ["dingtalk-url", "dingtalk-secret"]
    assert notifier["metadata"]["name"] == "herald-notifier-dingtalk"
    assert notifier["spec"]["selector"]["matchLabels"]["app.kubernetes.io/instance"] == "dingtalk"

    (hook,) = [
        d
        for d in yaml.safe_load_all((out / "notifier-webhook.yaml").read_text())
        if d["kind"] == "Deployment"
    ]
    env = hook["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {
        "name": "HERALD_WEBHOOK_AUTHORIZATION",
        "valueFrom": {"secretKeyRef": {"name": "herald-secrets", "key": "webhook-header-authorization"}},
    } in env


KUBECTL = shutil.which("kubectl")


@pytest.mark.skipif(KUBECTL is None, reason="kubectl (with its built-in kustomize) is not installed")
def test_kustomize_builds_the_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert migrate(capsys, "-f", str(several_sinks(tmp_path)), "-o", str(out))[0] == 0
    assert KUBECTL is not None
    built = subprocess.run(
        [KUBECTL, "kustomize", str(out)], capture_output=True, text=True, check=True, timeout=60
    )
    documents = [d for d in yaml.safe_load_all(built.stdout) if d]
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for doc in documents:
        by_kind.setdefault(doc["kind"], []).append(doc)
    (secret,) = by_kind["Secret"]
    (config_map,) = by_kind["ConfigMap"]
    assert config_map["data"]["herald.yaml"] == (out / "herald.yaml").read_text()
    assert {d["metadata"]["name"] for d in by_kind["Deployment"]} == {
        "herald-producer",
        "herald-notifier-dingtalk",
        "herald-notifier-wecom-app",
        "herald-notifier-webhook",
    }
    for workload in [*by_kind["Deployment"], *by_kind["StatefulSet"]]:
        assert workload["metadata"]["namespace"] == "kube-herald"
        volumes = {v["name"]: v for v in workload["spec"]["template"]["spec"]["volumes"]}
        assert volumes["config"]["configMap"]["name"] == config_map["metadata"]["name"]  # hashed, followed
        if "secrets" in volumes:
            assert volumes["secrets"]["secret"]["secretName"] == secret["metadata"]["name"]
    assert by_kind["Namespace"][0]["metadata"]["name"] == "kube-herald"


# --- how --sink is written -----------------------------------------------------------------------

ROBOT = f"dingtalk:https://oapi.dingtalk.com/robot/send?access_token={TOKEN}"


@pytest.mark.parametrize(
    ("command", "args"),
    [
        pytest.param(
            ["/kube-eventer", "--source=kubernetes:https://kubernetes.default", f"--sink={ROBOT}"],
            None,
            id="command",
        ),
        pytest.param(["/kube-eventer"], [f"--sink={ROBOT}"], id="args"),
        pytest.param(None, ["--sink", ROBOT], id="split"),
        pytest.param(None, ["-sink", ROBOT], id="go-single-dash"),
        pytest.param(["sh", "-c", f"exec /kube-eventer --sink='{ROBOT}&level=Warning'"], None, id="shell"),
    ],
)
def test_every_way_of_writing_the_sink(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str] | None, args: list[str] | None
) -> None:
    source = write_yaml(tmp_path / "d.yaml", deployment(command=command, args=args))
    code, stdout, stderr = migrate(capsys, "-f", str(source), "-o", str(tmp_path / "out"))
    assert code == 0, stderr
    (carried,) = config_of(tmp_path / "out")["receivers"]
    assert carried["type"] == "dingtalk"
    assert (tmp_path / "out" / "secrets" / "dingtalk-url").read_text().endswith(TOKEN)
    assert_no_secret(tmp_path / "out", stdout, stderr)


def test_a_variable_that_cannot_be_read_leaves_its_sink_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "robot", "key": "token"}}}]
    source = write_yaml(
        tmp_path / "d.yaml",
        deployment(
            args=[
                "--sink=dingtalk:https://oapi.dingtalk.com/robot/send?access_token=$(TOKEN)",
                f"--sink={ROBOT}",
            ],
            env=env,
        ),
    )
    code, _, stderr = migrate(capsys, "-f", str(source), "-o", str(tmp_path / "out"))
    assert code == 0
    (warning,) = [line for line in stderr.splitlines() if line.startswith("warning:")]
    assert warning.startswith("warning: sink 1 (dingtalk:")
    assert "Secret kube-system/robot key token" in warning
    assert "--configmap FILE" in warning
    assert [r["name"] for r in config_of(tmp_path / "out")["receivers"]] == ["dingtalk"]


# --- refusals: one line, exit 2, nothing written ------------------------------------------------


def test_an_existing_output_is_not_overwritten_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_yaml(tmp_path / "d.yaml", deployment(args=[f"--sink={ROBOT}"]))
    out = tmp_path / "out"
    assert migrate(capsys, "-f", str(source), "-o", str(out))[0] == 0
    (out / "secrets" / "dingtalk-url").chmod(0o644)
    before = (out / "herald.yaml").read_text()

    code, stdout, stderr = migrate(capsys, "-f", str(source), "-o", str(out), "--cluster", "other")
    assert (code, stdout) == (2, "")
    assert stderr.count("\n") == 1
    assert "--force" in stderr
    assert (out / "herald.yaml").read_text() == before

    assert migrate(capsys, "-f", str(source), "-o", str(out), "--cluster", "other", "--force")[0] == 0
    assert config_of(out)["producer"]["clusters"][0]["cluster"] == "other"
    assert stat.S_IMODE((out / "secrets" / "dingtalk-url").stat().st_mode) == 0o600


def unreachable_kubeconfig(tmp_path: Path) -> Path:
    return write_yaml(
        tmp_path / "kubeconfig",
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "gone", "cluster": {"server": "https://127.0.0.1:9"}}],
            "users": [{"name": "u", "user": {"token": "t0k3n-not-shown-anywhere"}}],
            "contexts": [{"name": "gone", "context": {"cluster": "gone", "user": "u"}}],
            "current-context": "gone",
        },
    )


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("missing-file", "no such file"),
        ("not-yaml", "not valid YAML"),
        ("no-deployment", "no Deployment"),
        ("no-sink", "no --sink"),
        ("nothing-carried", "no sink can be carried over"),
        ("bad-target", "expected deploy/NAME"),
        ("unreachable", "unreachable"),
        ("bad-cluster-id", "--cluster"),
    ],
)
def test_errors_are_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, expected: str
) -> None:
    out = tmp_path / "out"
    sinkless = write_yaml(
        tmp_path / "sinkless.yaml", deployment(args=["--source=kubernetes:https://kubernetes.default"])
    )
    arguments = {
        "missing-file": ["-f", str(tmp_path / "nope.yaml")],
        "not-yaml": ["-f", str(tmp_path / "bad.yaml")],
        "no-deployment": [
            "-f",
            str(write_yaml(tmp_path / "cm.yaml", {"kind": "ConfigMap", "apiVersion": "v1"})),
        ],
        "no-sink": ["-f", str(sinkless)],
        "nothing-carried": [
            "-f",
            str(
                write_yaml(
                    tmp_path / "sls.yaml", deployment(args=["--sink=sls:https://sls.aliyuncs.com?project=p"])
                )
            ),
        ],
        "bad-target": ["pod/kube-eventer"],
        "unreachable": ["deploy/kube-eventer", "--kubeconfig", str(unreachable_kubeconfig(tmp_path))],
        "bad-cluster-id": ["-f", str(several_sinks(tmp_path)), "--cluster", "Prod EU"],
    }[case]
    (tmp_path / "bad.yaml").write_text("kind: [unclosed\n")

    code, stdout, stderr = migrate(capsys, *arguments, "-o", str(out))

    assert (code, stdout) == (2, "")
    errors = [line for line in stderr.splitlines() if not line.startswith(("warning:", "note:"))]
    assert len(errors) == 1, stderr
    assert errors[0].startswith("herald migrate kube-eventer: ")
    assert expected in errors[0]
    assert "Traceback" not in stderr
    assert "t0k3n" not in stderr
    assert not out.exists()


# --- the manifests are deploy/'s -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("packaged", "deployed"),
    [
        ("producer-rbac.yaml", "producer-rbac.yaml"),
        ("producer.yaml", "kubernetes/producer.yaml"),
        ("processor.yaml", "kubernetes/processor.yaml"),
        ("notifier.yaml", "kubernetes/notifier-wecom.yaml"),
    ],
)
def test_the_packaged_manifests_are_deploys(packaged: str, deployed: str) -> None:
    """herald/data/migrate/ is what an installed herald writes out: a copy of deploy/, kept equal."""
    assert (ROOT / "herald" / "data" / "migrate" / packaged).read_text() == (
        ROOT / "deploy" / deployed
    ).read_text()


def test_the_packaged_manifests_are_in_the_package_data() -> None:
    """An installed herald (the image, a wheel) has them only if pyproject.toml lists them."""
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"][
        "herald"
    ]
    data = ROOT / "herald"
    for path in (data / "data" / "migrate").iterdir():
        assert any(path.relative_to(data).match(pattern) for pattern in patterns), path.name
