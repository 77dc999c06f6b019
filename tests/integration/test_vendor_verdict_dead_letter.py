"""A vendor's refusal inside an HTTP 200, through the real notifier on the real broker: the
update is dead-lettered with the vendor's reason, never counted or logged as delivered."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from schemas import DeadLetter, NotifyLogEntry, decode
from tests.support.alerts import configure, publish, update
from tests.support.broker import free_port
from tests.support.kafka import Namespace, read_topic
from tests.support.processes import herald_process, tail
from tests.support.vendors.wecom import ROBOT_PATH, Robot
from tests.support.waiting import observe_for, wait_until
from tests.support.webhook_server import webhook_server

pytestmark = pytest.mark.integration

ROBOT_KEY = "693a91f6-7f0e-4c8a-9a5e-5f3c2d1b0a99"
REMOVED_KEY = "0b1c2d3e-dead-4c8a-9a5e-5f3c2d1b0bad"
"""The key of a robot that was removed from its group: WeCom answers HTTP 200, errcode 93000."""


def _metrics(port: int) -> str:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    except httpx.TransportError:
        return ""


def test_a_wecom_200_with_errcode_93000_is_dead_lettered_not_delivered(
    namespace: Namespace, tmp_path: Path
) -> None:
    robot = Robot(ROBOT_KEY)
    port = free_port()
    dead = 'herald_notifier_dead_letters_total{receiver="wecom"} 1.0'
    with webhook_server(robot) as server:
        url = f"{server.base_url}{ROBOT_PATH}?key={REMOVED_KEY}"
        configure(namespace, [{"name": "wecom", "type": "wecom", "url": url}])
        publish(namespace, [update(1)])
        with herald_process(
            namespace.config_path,
            "notifier",
            "--receiver",
            "wecom",
            "--http-port",
            str(port),
            log_dir=tmp_path,
            name="notifier",
        ):
            letters = read_topic(
                namespace.bootstrap, namespace.topic("alerts.deadletter"), expected=1, timeout=90
            )
            logged = read_topic(namespace.bootstrap, namespace.topic("notify.log"), expected=1, timeout=60)
            entries = [decode(m.value() or b"", NotifyLogEntry) for m in logged]
            wait_until(lambda: dead in _metrics(port), timeout=30, what="the dead letter counted")
            observe_for(2)
            metrics = _metrics(port)
        replies = [r.reply for r in server.all()]
    assert robot.messages == [], "the group saw nothing"
    assert len(replies) == 1, "a permanent refusal is not retried"
    assert b'"errcode":93000' in replies[0]
    assert server.all()[0].status == 200, "WeCom refuses inside an HTTP 200"

    [letter] = [decode(m.value() or b"", DeadLetter) for m in letters]
    assert letter.incident.fingerprint == update(1).fingerprint
    assert letter.receiver == "wecom"
    assert "errcode 93000 (invalid webhook key" in letter.reason
    assert REMOVED_KEY not in (letters[0].value() or b"").decode()

    [entry] = entries
    assert entry.outcome.value == "dead-lettered"
    assert entry.delivered_version is None, "the notification log does not record it as sent"

    assert dead in metrics
    assert 'herald_notifier_deliveries_total{outcome="dead-lettered",receiver="wecom"} 1.0' in metrics
    assert 'outcome="delivered",receiver="wecom"} 1.0' not in metrics
    assert 'herald_notifier_delivery_latency_seconds_count{receiver="wecom"} 1.0' not in metrics
    assert REMOVED_KEY not in tail(tmp_path / "notifier.log", 10_000)
