"""The notifier's delivery guarantees on the real broker, counted per incident update:
exactly once and in order, paced into a robot's limits, unaffected by another receiver's
outage, nothing resent after kill -9 but the message in flight, silences and inhibition
recorded rather than sent, routing per receiver.
"""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from schemas import IncidentStatus, NotifyLogEntry, Severity, decode
from tests.support.alerts import configure, delivered, publish, update, webhook
from tests.support.broker import free_port
from tests.support.kafka import Namespace, read_topic
from tests.support.processes import herald_command, herald_process
from tests.support.vendors.wecom import ROBOT_PATH, Robot
from tests.support.waiting import observe_for, wait_until
from tests.support.webhook_server import Reply, Request, webhook_server

pytestmark = pytest.mark.integration

ROBOT_KEY = "693a91f6-7f0e-4c8a-9a5e-5f3c2d1b0a99"


def notifier(
    namespace: Namespace, tmp_path: Path, receiver: str, name: str | None = None, *extra: str
) -> Any:
    return herald_process(
        namespace.config_path,
        "notifier",
        "--receiver",
        receiver,
        *extra,
        log_dir=tmp_path,
        name=name or receiver,
    )


def test_every_update_is_delivered_once_in_order(namespace: Namespace, tmp_path: Path) -> None:
    updates = [update(i, 1) for i in range(30)]
    updates += [update(i, 2) for i in range(30)]
    updates += [update(i, 3, status=IncidentStatus.RESOLVED) for i in range(30)]
    with webhook_server() as server:
        configure(namespace, [webhook("hook", server.url)])
        with notifier(namespace, tmp_path, "hook"):
            publish(namespace, updates[:30])
            wait_until(lambda: len(server.accepted()) >= 30, timeout=90, what="the first versions")
            publish(namespace, updates[30:])
            wait_until(
                lambda: sum(v == 3 for _, v in delivered([r.body for r in server.accepted()])) >= 30,
                timeout=90,
                what="every resolution",
            )
            observe_for(2)
        seen = delivered([r.body for r in server.accepted()])
    assert len(seen) == len(set(seen)), "no update delivered twice"
    by_incident: dict[str, list[int]] = {}
    for fingerprint, version in seen:
        by_incident.setdefault(fingerprint, []).append(version)
    assert len(by_incident) == 30
    for versions in by_incident.values():
        assert versions == sorted(versions), "per-incident order kept"
        assert versions[0] == 1
        assert versions[-1] == 3, "the resolution always arrives (a later version may supersede v2)"


def test_a_burst_of_200_to_one_wecom_robot_is_merged_within_its_limits(
    namespace: Namespace, tmp_path: Path
) -> None:
    robot = Robot(ROBOT_KEY)  # the real limit: 20 messages in any minute
    with webhook_server(robot) as server:
        receiver = {"name": "wecom", "type": "wecom", "url": f"{server.base_url}{ROBOT_PATH}?key={ROBOT_KEY}"}
        configure(namespace, [receiver])
        # Named by workload: a digest entry's title is its category and workload.
        publish(namespace, [update(i, workload=f"incident{i:03d}") for i in range(200)])
        with notifier(namespace, tmp_path, "wecom"):

            def all_titles_seen() -> bool:
                text = "\n".join(m["markdown"]["content"] for m in robot.messages)
                return all(f"incident{i:03d}" in text for i in range(200))

            wait_until(all_titles_seen, timeout=180, what="all 200 incidents in some message")
            observe_for(3)
        replies = [orjson.loads(r.reply) for r in server.all()]
    assert all(reply["errcode"] == 0 for reply in replies), "nothing refused, for rate or size"
    assert 1 < len(robot.messages) <= 20
    assert all(len(m["markdown"]["content"].encode()) <= 4096 for m in robot.messages)
    contents = [m["markdown"]["content"] for m in robot.messages]
    assert all(sum(f"incident{i:03d}" in c for c in contents) == 1 for i in range(200)), "each in one message"


def test_one_receivers_outage_neither_loses_nor_delays_the_other(
    namespace: Namespace, tmp_path: Path
) -> None:
    outage_until = time.monotonic() + 120  # two minutes of 503 and 429

    def failing(index: int, _request: Request) -> Reply:
        if time.monotonic() < outage_until:
            return (429, {"retry-after": "5"}, b"slow down") if index % 2 else (503, {}, b"down")
        return 200, {}, b"ok"

    with webhook_server(failing) as broken, webhook_server() as healthy:
        configure(namespace, [webhook("broken", broken.url), webhook("healthy", healthy.url)])
        publish(namespace, [update(i) for i in range(20)])
        with notifier(namespace, tmp_path, "broken"), notifier(namespace, tmp_path, "healthy"):
            wait_until(lambda: len(healthy.accepted()) >= 20, timeout=90, what="the healthy receiver")
            assert time.monotonic() < outage_until, "the healthy receiver did not wait for the outage"
            assert not broken.accepted()
            wait_until(lambda: len(broken.accepted()) >= 20, timeout=300, what="recovery after the outage")
            observe_for(3)
        assert len(broken.all()) > 20, "it was retrying during the outage"
        for server in (broken, healthy):
            seen = delivered([r.body for r in server.accepted()])
            assert sorted(seen) == sorted((f"{i:016x}", 1) for i in range(20))


@pytest.mark.fault
def test_kill_9_resends_at_most_the_message_in_flight(namespace: Namespace, tmp_path: Path) -> None:
    def slow(_index: int, _request: Request) -> Reply:
        time.sleep(0.2)
        return 200, {}, b"ok"

    with webhook_server(slow) as server:
        configure(namespace, [webhook("hook", server.url)])
        publish(namespace, [update(i) for i in range(60)])
        with notifier(namespace, tmp_path, "hook", "first") as first:
            wait_until(lambda: len(server.accepted()) >= 15, timeout=90, what="some deliveries")
            first.send_signal(signal.SIGKILL)
            first.wait(30)
        with notifier(namespace, tmp_path, "hook", "second"):
            wait_until(lambda: len(set(delivered([r.body for r in server.accepted()]))) >= 60, timeout=120)
            observe_for(3)
        seen = delivered([r.body for r in server.accepted()])
    counts = Counter(seen)
    assert set(counts) == {(f"{i:016x}", 1) for i in range(60)}, "nothing lost"
    assert sum(n - 1 for n in counts.values()) <= 1, (
        f"resent more than the in-flight one: {counts.most_common(3)}"
    )


def test_silenced_inhibited_and_unrouted_updates_are_recorded_not_sent(
    namespace: Namespace, tmp_path: Path
) -> None:
    port = free_port()
    with webhook_server() as chat, webhook_server() as pager:
        configure(
            namespace,
            [webhook("chat", chat.url), webhook("pager", pager.url)],
            route={"receiver": "chat", "routes": [{"matchers": ["severity=critical"], "receiver": "pager"}]},
        )
        subprocess.run(
            herald_command(
                namespace.config_path,
                "silence",
                "add",
                "namespace=batch",
                "--for",
                "1h",
                "--comment",
                "migration",
            ),
            check=True,
            capture_output=True,
            timeout=120,
        )
        with (
            notifier(namespace, tmp_path, "chat", None, "--http-port", str(port)),
            notifier(namespace, tmp_path, "pager"),
        ):
            api = f"http://127.0.0.1:{port}/api/silences"
            wait_until(lambda: _ready(port), timeout=90, what="the notifier ready (silences read)")
            created = httpx.post(
                api,
                json={"matchers": ["namespace=jobs"], "created_by": "test", "duration_seconds": 600},
                timeout=10,
            )
            assert created.status_code == 201
            assert (
                httpx.post(api, json={"matchers": ["bad matcher"], "created_by": "t"}, timeout=10).status_code
                == 400
            )
            listed = _get(api) or []
            assert {s["comment"] for s in listed} >= {"migration"}
            assert all(s["state"] == "active" for s in listed)
            publish(
                namespace,
                [
                    update(1),  # chat
                    update(2, namespace="batch"),  # silenced by the CLI's silence
                    update(3, namespace="jobs"),  # silenced through the API
                    update(4, inhibited_by="f" * 16),  # inhibited
                    update(5, severity=Severity.CRITICAL),  # routed to the pager only
                ],
            )
            wait_until(lambda: len(chat.accepted()) >= 1 and len(pager.accepted()) >= 1, timeout=90)
            entries = [
                decode(m.value() or b"", NotifyLogEntry)
                for m in read_topic(
                    namespace.bootstrap, namespace.topic("notify.log"), expected=5, timeout=60
                )
            ]
            observe_for(3)
            metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        chat_seen, pager_seen = (
            delivered([r.body for r in chat.accepted()]),
            delivered([r.body for r in pager.accepted()]),
        )
    assert chat_seen == [(f"{1:016x}", 1)]
    assert pager_seen == [(f"{5:016x}", 1)]
    assert 'herald_notifier_decisions_total{decision="silenced",receiver="chat"} 2.0' in metrics
    assert 'herald_notifier_decisions_total{decision="inhibited",receiver="chat"} 1.0' in metrics
    assert 'herald_notifier_decisions_total{decision="not-routed",receiver="chat"} 1.0' in metrics
    assert 'herald_notifier_deliveries_total{outcome="delivered",receiver="chat"} 1.0' in metrics
    assert 'herald_notifier_delivery_latency_seconds_count{receiver="chat"} 1.0' in metrics
    outcomes = {(e.receiver, int(e.fingerprint, 16)): e.outcome.value for e in entries}
    assert outcomes == {
        ("chat", 1): "delivered",
        ("chat", 2): "silenced",
        ("chat", 3): "silenced",
        ("chat", 4): "inhibited",
        ("pager", 5): "delivered",
    }


def _ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200
    except httpx.TransportError:
        return False


def _get(url: str) -> list[dict[str, Any]] | None:
    try:
        response = httpx.get(url, timeout=5)
    except httpx.TransportError:
        return None
    return response.json() if response.status_code == 200 else None


def test_two_instances_of_one_receiver_share_the_work_without_doubling(
    namespace: Namespace, tmp_path: Path
) -> None:
    with webhook_server() as server:
        configure(namespace, [webhook("hook", server.url)])
        with notifier(namespace, tmp_path, "hook", "first"), notifier(namespace, tmp_path, "hook", "second"):
            wait_until(
                lambda: all(
                    re.search(r"assigned \[\d", (tmp_path / f"{n}.log").read_text())
                    for n in ("first", "second")
                ),
                timeout=90,
                what="both instances holding partitions",
            )
            publish(namespace, [update(i) for i in range(60)])
            wait_until(lambda: len(server.accepted()) >= 60, timeout=120, what="60 deliveries")
            observe_for(3)
        seen = delivered([r.body for r in server.accepted()])
    assert sorted(seen) == sorted((f"{i:016x}", 1) for i in range(60)), "each once, none lost"
