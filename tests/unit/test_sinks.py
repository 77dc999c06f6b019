"""kube-eventer ``--sink=`` URIs as receivers: every documented form, its filters, what is
refused (with advice), located config errors, and that no error ever shows a secret."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from notifiers.errors import PermanentError
from notifiers.notification import Notification
from notifiers.receivers.dingtalk import DingTalkReceiver
from notifiers.runner import Batch, Notifier, build_receiver
from notifiers.sinks import ConfigMapRef, KubeEventerEntry, SinkError, SinkSpec, parse_sink
from runtime.config import ConfigError, load_config
from schemas import Incident, IncidentStatus, SampleMessage, Severity
from schemas.matchers import Matcher, match_all
from tests.support.vendors.dingtalk import DingTalkRobot
from tests.support.webhook_server import webhook_server

TOKEN = "a5c19f3e02feba7bd5dfc22bfb04afa212359acfe86fd80eb159187097b7d014"
SIGN = "SEC4801ebab0yeuq924909668e5979f7d184b3f4bfac6a63ae36a"
CORP_SECRET = "a212359acfe86fd80eb1591870-corp-secret"
ROBOT = f"https://oapi.dingtalk.com/robot/send?access_token={TOKEN}"
SEEN = datetime(2026, 11, 27, 8, tzinfo=UTC)


def secret(spec: SinkSpec, key: str) -> str:
    return str(spec.settings[key].get_secret_value())


def passes(spec: SinkSpec, **labels: str) -> bool:
    return match_all(spec.matchers, labels)


def incident(n: int = 0, **labels: str) -> Incident:
    return Incident(
        fingerprint=f"{n:016x}",
        version=1,
        status=IncidentStatus.FIRING,
        severity=Severity(labels.get("severity", "warning")),
        category="crash-loop",
        title=f"BackOff: Pod/shop/web-{n}",
        cluster="prod",
        namespace=labels.get("namespace"),
        labels=labels,
        occurrences=1,
        first_seen=SEEN,
        last_seen=SEEN + timedelta(minutes=1),
        samples=[SampleMessage(reason="BackOff", message="restarting", object=f"Pod/shop/web-{n}", at=SEEN)],
        emitted_at=SEEN,
    )


# DingTalk (docs/en/dingtalk-sink.md)


def test_dingtalk_sink_as_documented() -> None:
    spec = parse_sink(f"dingtalk:{ROBOT}&label=c550367cdf1e84dfabab013b277cc6bc2&level=Normal&sign={SIGN}")
    assert spec.type == "dingtalk"
    assert secret(spec, "url") == ROBOT  # the sink's own parameters do not reach DingTalk
    assert secret(spec, "secret") == SIGN
    assert spec.settings["keyword"] == "c550367cdf1e84dfabab013b277cc6bc2"
    assert spec.settings["msgtype"] == "text"  # kube-eventer's default
    assert spec.matchers == []  # level=Normal: everything
    assert TOKEN not in repr(spec)
    assert SIGN not in repr(spec)


def test_dingtalk_defaults_to_warning_and_maps_every_filter() -> None:
    spec = parse_sink(
        f"dingtalk:{ROBOT}&msg_type=markdown&namespaces=kube-system,shop&kinds=Pod,Node"
        "&exclude_reasons=Pulled,Scheduled"
    )
    assert spec.settings["msgtype"] == "markdown"
    assert "secret" not in spec.settings
    assert "keyword" not in spec.settings
    assert passes(spec, severity="warning", namespace="shop", object_kind="Pod", reason="BackOff")
    assert passes(spec, severity="critical", namespace="kube-system", object_kind="Node")
    assert not passes(spec, severity="info", namespace="shop", object_kind="Pod")  # level defaults to Warning
    assert not passes(spec, severity="warning", namespace="other", object_kind="Pod")
    assert not passes(spec, severity="warning", namespace="shop", object_kind="Deployment")
    assert not passes(spec, severity="warning", namespace="shop", object_kind="Pod", reason="Pulled")
    assert passes(spec, severity="warning", namespace="shop", object_kind="Pod", reason="PulledAgain")


def test_several_labels_all_head_the_message() -> None:
    spec = parse_sink(f"--sink=dingtalk:{ROBOT}&label=prod&label=cn-shenzhen")
    assert spec.settings["keyword"] == "prod cn-shenzhen"


# Webhook (docs/en/webhook-sink.md)


def test_webhook_sink_as_documented() -> None:
    hook = f"https://alerts.example.com/hook?token={TOKEN}"
    spec = parse_sink(
        f"webhook:{hook}&level=Normal&namespaces=a,b&kinds=c,d"
        "&header=contentType=customContentType&header=customHeaderKey=customHeaderValue"
    )
    assert spec.type == "webhook"
    assert secret(spec, "url") == hook  # the target's own parameters stay, kube-eventer's go
    headers = {name: value.get_secret_value() for name, value in spec.settings["headers"].items()}
    assert headers == {"contenttype": "customContentType", "customheaderkey": "customHeaderValue"}
    assert "method" not in spec.settings  # POST, the receiver's default
    assert spec.body_configmap is None
    # kube-eventer's webhook passes Normal and Warning events for level=Normal.
    assert passes(spec, severity="info", namespace="a", object_kind="d")
    assert passes(spec, severity="warning", namespace="a", object_kind="d")
    assert not passes(spec, severity="info", namespace="x", object_kind="d")


def test_a_wecom_robot_url_in_a_webhook_sink_becomes_the_native_wecom_receiver() -> None:
    url = "http://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=633a31f6-7f9c-4bc4-97a0-0ec1eefa5898"
    spec = parse_sink(
        f"webhook:{url}&level=Warning&kinds=Pod&reason=BackOff&reason=^OOM&method=post"
        "&header=Content-Type=application/json&header=Authorization=Bearer%20abc=="
    )
    assert spec.type == "wecom"
    assert spec.settings == {"url": spec.settings["url"]}  # no method, no headers: the robot's own
    assert secret(spec, "url") == url
    assert any("error codes" in note for note in spec.notes)
    assert any("authorization left out" in note for note in spec.notes)
    assert passes(spec, severity="critical", object_kind="Pod", reason="ImagePullBackOff")
    assert passes(spec, severity="warning", object_kind="Pod", reason="OOMKilling")
    assert not passes(spec, severity="warning", object_kind="Pod", reason="Killing")
    assert not passes(spec, severity="info", object_kind="Pod", reason="BackOff")


def test_the_guides_wecom_sink_with_its_configmap_body_is_understood() -> None:
    spec = parse_sink(
        "--sink=webhook:https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=KEY&level=Warning&method=POST"
        "&header=Content-Type=application/json&custom_body_configmap=custom-webhook-body"
        "&custom_body_configmap_namespace=kube-system"
    )
    assert spec.type == "wecom"
    assert secret(spec, "url") == "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=KEY"
    assert spec.body_configmap == ConfigMapRef("kube-system", "custom-webhook-body")
    assert not passes(spec, severity="info")
    assert passes(spec, severity="warning")


def test_a_configmap_without_namespace_is_read_from_default_as_kube_eventer_did() -> None:
    spec = parse_sink("webhook:https://example.com/hook?custom_body_configmap=body")
    assert spec.type == "webhook"
    assert spec.body_configmap == ConfigMapRef("default", "body")
    assert secret(spec, "url") == "https://example.com/hook"


def test_a_dingtalk_robot_url_in_a_webhook_sink_becomes_the_native_dingtalk_receiver() -> None:
    spec = parse_sink(f"webhook:{ROBOT}&level=Warning&method=POST")
    assert spec.type == "dingtalk"
    assert secret(spec, "url") == ROBOT


def test_webhook_without_level_filters_nothing_as_kube_eventer_did() -> None:
    spec = parse_sink("webhook:https://hooks.slack.com/services/d/B00000000/XXX?&method=PUT")
    assert secret(spec, "url") == "https://hooks.slack.com/services/d/B00000000/XXX"
    assert spec.settings["method"] == "PUT"
    assert spec.matchers == []


# WeCom application (docs/en/wechat-sink.md)


def test_wechat_sink_as_documented() -> None:
    spec = parse_sink(
        f"wechat:?corp_id=a5c19f3e02feba7bd5dfc22bfb&corp_secret={CORP_SECRET}&agent_id=1000012"
        "&to_user=zhangshan,xiaowang&level=Normal&namespaces=shop&kinds=Pod"
    )
    assert spec.type == "wecom_app"
    assert spec.settings["corp_id"] == "a5c19f3e02feba7bd5dfc22bfb"
    assert secret(spec, "corp_secret") == CORP_SECRET
    assert spec.settings["agent_id"] == "1000012"
    assert spec.settings["to_user"] == ["zhangshan", "xiaowang"]
    assert passes(spec, severity="info", namespace="shop", object_kind="Pod")
    assert not passes(spec, severity="info", namespace="kube-system", object_kind="Pod")


def test_wechat_without_recipients_sends_to_everyone_at_warning() -> None:
    spec = parse_sink(f"wechat:?corp_id=ww1&corp_secret={CORP_SECRET}&agent_id=1000012&to_user=")
    assert spec.settings["to_user"] == ["@all"]
    assert passes(spec, severity="warning")
    assert not passes(spec, severity="info")


# Left out, with a note; refused, with advice


@pytest.mark.parametrize(
    ("uri", "note"),
    [
        (
            f"dingtalk:{ROBOT}&msg_type=markdown&cluster_id=c550367&region=cn-shenzhen",
            r"cluster_id, region: left out: .*notifier.link_template",
        ),
        (
            f"wechat:?corp_id=ww1&corp_secret={CORP_SECRET}&agent_id=1&label={SIGN}",
            r"label: left out: .*producer.clusters\[\].cluster",
        ),
    ],
)
def test_what_changes_nothing_sent_is_left_out_with_a_note(uri: str, note: str) -> None:
    spec = parse_sink(uri)
    [written] = spec.notes
    assert re.search(note, written)
    assert SIGN not in written


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        (
            "webhook:https://example.com/hook?custom_body_configmap_namespace=kube-system",
            r"custom_body_configmap_namespace is given without custom_body_configmap",
        ),
        ("webhook:https://example.com/hook?method=GET", r"method=GET is not supported: .*POST"),
        ("kafka:?brokers=localhost:9092&eventstopic=k8s", r"not 'kafka'.*configure a receiver"),
        (f"https://oapi.dingtalk.com/robot/send?access_token={TOKEN}", r"webhook:https://"),
        (f"dingtalk:{ROBOT}&reason=BackOff", r"unknown parameter reason .*takes access_token"),
        (
            f"wechat:?corp_id=ww1&corp_secret={CORP_SECRET}&agent_id=1&to_party=2",
            "unknown parameter to_party",
        ),
        ("wechat:https://qyapi.weixin.qq.com/cgi-bin?corp_id=ww1", r"api_url"),
        (f"dingtalk:{ROBOT}&level=Error", r"level must be Normal or Warning, not 'Error'"),
        (f"dingtalk:{ROBOT}&level=Normal&level=Warning", r"level is given 2 times"),
        ("webhook:https://example.com/hook?reason=(BackOff", r"reason: not a valid regular expression"),
        ("webhook:https://example.com/hook?header=NoValue", r"header=<Name>=<value>"),
        ("dingtalk:https://oapi.dingtalk.com/robot/send?label=x", r"needs its \?access_token"),
    ],
)
def test_what_cannot_be_honoured_is_refused_with_advice(uri: str, expected: str) -> None:
    with pytest.raises(SinkError, match=expected):
        parse_sink(uri)


@pytest.mark.parametrize(
    "uri",
    [
        f"dingtalk:{ROBOT}&sign={SIGN}&cluster_id=x&level=Bad",
        f"dingtalk:{ROBOT}&sign={SIGN}&bogus=1&{TOKEN}",
        f"dingtalk:ftp://oapi.dingtalk.com/robot/send?access_token={TOKEN}&sign={SIGN}",
        f"dingtalk:oapi.dingtalk.com/robot/send?access_token={TOKEN}",
        f"webhook:/robot/send?access_token={TOKEN}&header=Authorization=Bearer%20{SIGN}",
        f"webhook:https://example.com/{TOKEN}?header={SIGN}&level=Normal",
        f"webhook:https://example.com/{TOKEN}?custom_body_configmap={SIGN}",
        f"wechat:?corp_id=ww1&corp_secret={CORP_SECRET}&agent_id=1&label={SIGN}&level=Bad",
        f"wechat:?corp_secret={CORP_SECRET}&{SIGN}=1",
        f"{TOKEN}:{SIGN}",
        TOKEN,
    ],
)
def test_errors_never_show_a_secret(uri: str) -> None:
    with pytest.raises(SinkError) as caught:
        parse_sink(uri)
    for value in (TOKEN, SIGN, CORP_SECRET):
        assert value not in str(caught.value)


# Configuration: the entry, its located errors, and the receiver it builds


def write(tmp_path: Path, receiver: str) -> Path:
    path = tmp_path / "herald.yaml"
    path.write_text(f"receivers:\n  - name: legacy\n    type: kube_eventer\n{receiver}")
    return path


def build_error(path: Path, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        build_receiver(load_config(path, env=env or {}), "legacy")
    text = str(caught.value)
    for value in (TOKEN, SIGN, CORP_SECRET):
        assert value not in text
    return text


def test_sink_problems_are_located_at_the_sink_key(tmp_path: Path) -> None:
    sink = f"dingtalk:{ROBOT}&sign={SIGN}&custom=1&cluster_id=abc"
    path = write(tmp_path, f'    sink: "{sink}"\n')
    text = build_error(path)
    assert text.startswith(f"{path}:4: receivers[0].sink: Value error, dingtalk: unknown parameter custom")


def test_settings_errors_name_the_sink_parameter(tmp_path: Path) -> None:
    path = write(tmp_path, f'    sink: "dingtalk:{ROBOT}&sign={SIGN}&msg_type=html"\n')
    text = build_error(path)
    assert f"{path}:4: receivers[0].sink.msg_type: Input should be 'markdown' or 'text'" in text
    path = write(tmp_path, f'    sink: "wechat:?corp_secret={CORP_SECRET}&agent_id=ten"\n')
    lines = build_error(path).splitlines()
    assert f"{path}:4: receivers[0].sink.corp_id: required key is missing" in lines
    assert any(line.startswith(f"{path}:4: receivers[0].sink.agent_id: Input should be") for line in lines)


def test_the_entry_takes_only_a_sink(tmp_path: Path) -> None:
    text = build_error(write(tmp_path, f"    url: {ROBOT}\n"))
    assert f"{tmp_path / 'herald.yaml'}:4: receivers[0].url: unknown key (check its spelling)" in text
    assert "receivers[0].sink: required key is missing" in text


def test_unknown_types_list_kube_eventer(tmp_path: Path) -> None:
    path = tmp_path / "herald.yaml"
    path.write_text("receivers:\n  - name: legacy\n    type: kube-eventer\n")
    assert "kube_eventer" in build_error(path)


def test_dingtalk_sink_builds_a_receiver_that_reaches_the_robot(tmp_path: Path) -> None:
    contract = DingTalkRobot(access_token=TOKEN, secret=SIGN, keyword="prod-cluster")
    with webhook_server(contract) as server:
        sink = (
            f"dingtalk:{server.base_url}/robot/send?access_token=${{ROBOT_TOKEN}}&sign=${{ROBOT_SIGN}}"
            "&label=prod-cluster&msg_type=markdown&namespaces=shop&kinds=Pod"
        )
        path = write(tmp_path, f'    sink: "{sink}"\n')
        config = load_config(path, env={"ROBOT_TOKEN": TOKEN, "ROBOT_SIGN": SIGN})
        receiver, filters = build_receiver(config, "legacy")
        assert isinstance(receiver, DingTalkReceiver)
        assert receiver.name == "legacy"
        assert TOKEN not in receiver.target

        async def send() -> None:
            try:
                await receiver.send(Notification((incident(severity="warning"),)))
            finally:
                await receiver.aclose()

        asyncio.run(send())
    assert contract.refused == []  # token, signature and keyword (the label) all accepted
    [message] = contract.messages
    assert message["msgtype"] == "markdown"
    assert "prod-cluster" in message["markdown"]["text"]
    assert match_all(filters, {"severity": "warning", "namespace": "shop", "object_kind": "Pod"})
    assert not match_all(filters, {"severity": "info", "namespace": "shop", "object_kind": "Pod"})
    assert not match_all(filters, {"severity": "critical", "namespace": "kube-system", "object_kind": "Pod"})


def test_ordinary_receivers_have_no_filters(tmp_path: Path) -> None:
    path = tmp_path / "herald.yaml"
    path.write_text("receivers:\n  - name: hook\n    type: webhook\n    url: http://127.0.0.1:9/hook\n")
    receiver, filters = build_receiver(load_config(path, env={}), "hook")
    assert filters == ()
    asyncio.run(receiver.aclose())


def test_the_notifier_leaves_incidents_its_filters_reject_unrouted(tmp_path: Path) -> None:
    path = write(tmp_path, '    sink: "webhook:http://127.0.0.1:9/hook?level=Warning&namespaces=shop"\n')
    config = load_config(path, env={"HERALD_KAFKA_BOOTSTRAP": "127.0.0.1:9"})
    receiver, filters = build_receiver(config, "legacy")
    notifier = Notifier(config, receiver, filters=filters)
    try:
        batch = Batch()
        wanted = incident(1, severity="warning", namespace="shop")
        for update in (
            wanted,
            incident(2, severity="info", namespace="shop"),
            incident(3, severity="critical", namespace="kube-system"),
        ):
            notifier._decide(batch, update, SEEN)
        assert list(batch.due.values()) == [wanted]
    finally:
        notifier._consumer.close()
        asyncio.run(receiver.aclose())


def test_matchers_are_plain_matchers() -> None:
    spec = parse_sink(f"dingtalk:{ROBOT}&namespaces=shop")
    assert all(isinstance(m, Matcher) for m in spec.matchers)
    assert [Matcher.model_validate(str(m)) for m in spec.matchers] == spec.matchers


# The body template of a webhook sink: from a file or the cluster

BODY = '{"msgtype": "text","text": {"content": "集群事件告警\\n事件原因: {{ .Reason }}"}}'
GUIDE_SINK = (
    "webhook:https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=${ROBOT_KEY}&level=Warning&method=POST"
    "&header=Content-Type=application/json&custom_body_configmap=custom-webhook-body"
    "&custom_body_configmap_namespace=kube-system"
)


def configmap(name: str = "custom-webhook-body", namespace: str = "kube-system") -> str:
    content = BODY.replace("\\", "\\\\").replace('"', '\\"')
    return (
        f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {namespace}\n"
        f'data:\n  content: "{content}"\n'
    )


@pytest.mark.parametrize(
    "file_text",
    [
        configmap(),  # kubectl get configmap -o yaml
        f"{configmap('other')}---\n{configmap()}",  # among others
        "apiVersion: v1\nkind: List\nitems:\n"
        + "".join(
            f"  - {line}\n" if i == 0 else f"    {line}\n" for i, line in enumerate(configmap().splitlines())
        ),
        BODY,  # the content alone
    ],
)
def test_the_body_is_read_from_a_configmap_file(tmp_path: Path, file_text: str) -> None:
    (tmp_path / "body.yaml").write_text(file_text)
    path = write(tmp_path, f'    sink: "{GUIDE_SINK}"\n    custom_body_manifest: body.yaml\n')
    config = load_config(path, env={"ROBOT_KEY": TOKEN})
    entry = config.validate_section(("receivers", 0), KubeEventerEntry, config.receivers[0].settings())
    spec = entry.resolved(config.base_dir)
    assert spec.type == "wecom"
    assert spec.settings["custom_body"] == BODY


def test_a_configmap_missing_from_the_file_is_a_located_error(tmp_path: Path) -> None:
    (tmp_path / "body.yaml").write_text(configmap(namespace="default"))
    path = write(tmp_path, f'    sink: "{GUIDE_SINK}"\n    custom_body_manifest: body.yaml\n')
    text = build_error(path, env={"ROBOT_KEY": TOKEN})
    assert text == (
        f"{path}:5: receivers[0].custom_body_manifest: custom_body_manifest: no ConfigMap "
        "kube-system/custom-webhook-body in the file"
    )


def test_an_unreachable_cluster_is_a_located_error_that_says_what_to_do(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\nusers: [{name: u, user: {token: t}}]\n"
    )
    path = write(tmp_path, f'    sink: "{GUIDE_SINK}"\n    kubeconfig: {kubeconfig}\n')
    text = build_error(path, env={"ROBOT_KEY": TOKEN})
    assert text.startswith(f"{path}:4: receivers[0].sink: custom_body_configmap: cannot read ConfigMap ")
    assert "custom_body_manifest" in text


def test_a_dingtalk_robot_with_a_configmap_body_is_a_webhook_that_reads_its_errcode() -> None:
    spec = parse_sink(f"webhook:{ROBOT}&custom_body_configmap=ding-body&custom_body_configmap_namespace=ops")
    assert spec.type == "webhook"
    assert spec.body_configmap == ConfigMapRef("ops", "ding-body")
    assert spec.settings["success"] == {"field": "errcode", "equals": 0, "retryable": [130101]}
    assert spec.settings["rate_limits"] == [{"messages": 20, "per_seconds": 60}]
    [note] = spec.notes
    assert "errcode" in note


def test_a_dingtalk_configmap_body_reaches_the_robot_in_the_users_template_and_a_refusal_is_no_delivery(
    tmp_path: Path,
) -> None:
    ding_body = '{"msgtype":"text","text":{"content":"k8s {{ .Reason }} {{ .InvolvedObject.Name }}"}}'
    (tmp_path / "body.yaml").write_text(ding_body)
    contract = DingTalkRobot(access_token=TOKEN, keyword="k8s")
    with webhook_server(contract) as server:
        sink = f"webhook:{server.base_url}/robot/send?access_token={TOKEN}&custom_body_configmap=ding-body"
        path = write(tmp_path, f'    sink: "{sink}"\n    custom_body_manifest: body.yaml\n')
        receiver, _ = build_receiver(load_config(path, env={}), "legacy")

        async def send(*incidents: Incident) -> None:
            await receiver.send(Notification(incidents))

        async def scenario() -> str:
            try:
                await send(incident(1, severity="warning"))
                contract.keyword = "prod"  # the robot's keyword setting changed: 310000, in a 200
                with pytest.raises(PermanentError) as refused:
                    await send(incident(2, severity="warning"))
                return str(refused.value)
            finally:
                await receiver.aclose()

        refusal = asyncio.run(scenario())
    [message] = contract.messages
    assert message["text"]["content"].startswith("k8s ")
    assert "310000" in refusal
    assert TOKEN not in refusal
