"""The common guides' kube-eventer setup, pasted into herald.yaml as it is, on the real broker:
the exact sink string and ConfigMap give WeCom text messages in the user's template, paced to
20 a minute, cut to 2048 bytes, filtered by level, with every incident in one message."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from schemas import Incident, IncidentStatus, ResolvedBy, Severity
from tests.support.alerts import publish, update
from tests.support.kafka import Namespace, ensure_namespace_topics
from tests.support.kube_eventer import guide_configmap
from tests.support.processes import herald_command, herald_process
from tests.support.vendors.wecom import Robot
from tests.support.waiting import observe_for, wait_until
from tests.support.webhook_server import webhook_server

pytestmark = pytest.mark.integration

KEY = "7f3a91d6-0c4e-4b8a-9a5e-5f3c2d1b0a42"
CONFIGMAP = guide_configmap()
SINK = (
    "webhook:{base}/cgi-bin/webhook/send?key={key}&level=Warning&method=POST"
    "&header=Content-Type=application/json&custom_body_configmap=custom-webhook-body"
    "&custom_body_configmap_namespace=kube-system"
)
HOSTILE = 'image "registry.local/a\\b:1" failed:\n\tpull access denied'


def configure_legacy(namespace: Namespace, base_url: str) -> None:
    manifest = namespace.config_path.parent / "custom-webhook-body.yaml"
    manifest.write_text(CONFIGMAP)
    config = yaml.safe_load(namespace.config_path.read_text())
    # kube-eventer's TZ; and the language of the template, for the words kube-herald adds.
    config.setdefault("notifier", {}).update(timezone="Asia/Shanghai", language="zh")
    config["receivers"] = [
        {
            "name": "legacy",
            "type": "kube_eventer",
            "sink": SINK.format(base=base_url, key=KEY),
            "custom_body_manifest": manifest.name,
        }
    ]
    namespace.config_path.write_text(yaml.safe_dump(config, allow_unicode=True))
    ensure_namespace_topics(namespace)


def pod(index: int, **fields: Any) -> Incident:
    """A firing incident about pod ``web-<index>`` in namespace ``shop``."""
    incident = update(index, workload=f"web{index}", **fields)
    samples = [s.model_copy(update={"object": f"Pod/shop/web-{index:03d}"}) for s in incident.samples]
    return incident.model_copy(update={"samples": samples})


def test_the_guides_setup_sends_its_template_paced_cut_and_filtered(
    namespace: Namespace, tmp_path: Path
) -> None:
    robot = Robot(KEY)  # WeCom's contract: 20 messages in any minute, text content 2048 bytes
    with webhook_server(robot) as server:
        configure_legacy(namespace, server.base_url)
        checked = subprocess.run(
            herald_command(namespace.config_path, "check-config", "--quiet"),
            capture_output=True,
            text=True,
            check=False,
        )
        assert checked.returncode == 0, checked.stderr
        warning = [
            pod(i, message=f"Back-off restarting failed container web in pod web-{i:03d}") for i in range(60)
        ]
        hostile = pod(60, message=HOSTILE, reason="Failed")
        huge = pod(61, message="x" * 5000 + " END", reason="Failed")
        normal = [pod(100 + i, severity=Severity.INFO, reason="Pulled") for i in range(5)]
        recovered = {"resolved_by": ResolvedBy.RECOVERY}  # an Event proved it: sent by default
        closed = pod(0, version=2, status=IncidentStatus.RESOLVED).model_copy(update=recovered)
        publish(namespace, [*warning, hostile, huge, *normal])
        with herald_process(
            namespace.config_path, "notifier", "--receiver", "legacy", log_dir=tmp_path, name="legacy"
        ):
            expected = {f"web-{i:03d}" for i in range(62)}

            def objects_seen() -> set[str]:
                return {
                    name
                    for message in robot.messages
                    for name in re.findall(r"事件对象: (web-\d{3})", message["text"]["content"])
                }

            wait_until(lambda: expected <= objects_seen(), timeout=240, what="every warning incident")
            publish(namespace, [closed])
            wait_until(
                lambda: any("【已恢复】" in m["text"]["content"] for m in robot.messages),
                timeout=120,
                what="the resolution",
            )
            observe_for(3)
        replies = [orjson.loads(r.reply) for r in server.all()]
    # The robot answers 45009 beyond 20 in any minute and 40058 beyond 2048 bytes: none of either.
    assert all(reply["errcode"] == 0 for reply in replies), "nothing refused, for rate or size"
    contents = [m["text"]["content"] for m in robot.messages]
    assert all(m["msgtype"] == "text" for m in robot.messages)
    assert all(len(c.encode()) <= 2048 for c in contents)
    assert any(c.count("集群事件告警") > 1 for c in contents), "what the budget could not send alone: digests"
    assert objects_seen() == expected, "level=Warning: the Normal (info) incidents are not sent"
    firing = [c for c in contents if "【已恢复】" not in c]
    assert (
        sum(c.count("集群事件告警\n事件级别: Warning\n名称空间: shop\n事件类型: Pod\n") for c in firing) == 62
    )
    assert all(sum(f"事件对象: {name}\n" in c for c in firing) == 1 for name in expected), (
        "each in one message"
    )
    assert any(f"详细信息: {HOSTILE}" in c for c in contents), (
        "quotes, backslash, newline and tab arrive as written"
    )
    [cut] = [c for c in contents if "web-061" in c]
    assert "END" not in cut, "the 5000-byte message is cut to the robot's limit"
    assert re.search(r"发生时间: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0800 CST\n", contents[0]), (
        "TZ=Asia/Shanghai, as Go"
    )
