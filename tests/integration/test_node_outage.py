"""One node outage, one page, and "resolved" only on the node's NodeReady.

The node lifecycle controller writes a Pod Event ``NodeNotReady`` ("Node is not ready") for
every pod of the node and the taint-eviction controller ``TaintManagerEviction`` later, and
neither names the node: before the processor learned where pods run, the default inhibit
rule (equal cluster and node) could never match them, and one outage paged once per
workload; quiet was announced as recovery.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from tests.support.events import k8s_event
from tests.support.kafka import Namespace
from tests.support.processes import herald_command, herald_process
from tests.support.waiting import observe_for, wait_until
from tests.support.webhook_server import WebhookServer, webhook_server

pytestmark = pytest.mark.e2e

WORKLOADS = {"cart": "cart-7d9c8b6f5d-x2kqp", "search": "search-5f6b8c9d7f-b7m2n", "ledger": "ledger-0"}
UNPLACED = "profile-6c8d9f7b5c-q4w8z"
"""A pod whose Scheduled and kubelet Events the pipeline never saw: its node is unknown."""


def event(index: int, *, component: str, host: str | None = None, **fields: Any) -> dict[str, Any]:
    body = k8s_event(index, **fields)
    body["source"] = {"component": component, **({"host": host} if host else {})}
    return body


def outage() -> list[dict[str, Any]]:
    scheduled = [
        event(
            i,
            component="default-scheduler",
            reason="Scheduled",
            event_type="Normal",
            name=pod,
            message=f"Successfully assigned shop/{pod} to node-7",
        )
        for i, pod in enumerate(WORKLOADS.values())
    ]
    node_down = event(
        10,
        component="node-controller",
        kind="Node",
        name="node-7",
        reason="NodeNotReady",
        event_type="Normal",
        message="Node node-7 status is now: NodeNotReady",
    )
    marked = [
        event(
            20 + i, component="node-controller", reason="NodeNotReady", name=pod, message="Node is not ready"
        )
        for i, pod in enumerate([*WORKLOADS.values(), UNPLACED])
    ]
    return [*scheduled, node_down, *marked]


def evictions() -> list[dict[str, Any]]:
    return [
        event(
            30 + i,
            component="taint-eviction-controller",
            reason="TaintManagerEviction",
            event_type="Normal",
            name=pod,
            message=f"Marking for deletion Pod shop/{pod}",
        )
        for i, pod in enumerate([*WORKLOADS.values(), UNPLACED])
    ]


def node_ready() -> list[dict[str, Any]]:
    return [
        event(
            40,
            component="kubelet",
            host="node-7",
            kind="Node",
            name="node-7",
            reason="NodeReady",
            event_type="Normal",
            message="Node node-7 status is now: NodeReady",
        )
    ]


def test_a_node_outage_pages_once_naming_the_node_and_its_workloads_and_resolves_on_node_ready(
    namespace: Namespace, tmp_path: Path
) -> None:
    with webhook_server() as server:
        config = yaml.safe_load(namespace.config_path.read_text())
        config["producer"] = {"cluster": "prod"}
        config["processor"].update(
            group_wait_seconds=2,
            group_interval_seconds=6,
            resolve_timeout_seconds=600,
            tick_seconds=0.2,
            notify_on=["new-object", "severity", "new-reason", "recovered-objects", "rate"],  # the default
        )
        config["receivers"] = [{"name": "hook", "type": "webhook", "url": server.url}]
        namespace.config_path.write_text(yaml.safe_dump(config))
        replay = replayer(namespace, tmp_path)

        with (
            herald_process(namespace.config_path, "processor", log_dir=tmp_path, name="processor"),
            herald_process(
                namespace.config_path, "notifier", "--receiver", "hook", log_dir=tmp_path, name="notifier"
            ),
        ):
            replay("outage", outage())
            wait_until(lambda: len(delivered(server)) >= 1, timeout=180, what="the node's page")
            replay("evictions", evictions())
            observe_for(10)  # past a group interval: evictions of the same workloads are no news
            pages = delivered(server)
            replay("ready", node_ready())
            wait_until(lambda: len(delivered(server)) >= 2, timeout=120, what="the recovery message")
            observe_for(8)
        updates = delivered(server)

    assert len(pages) == 1, f"one outage, one page: {[(u['title'], u['version']) for u in pages]}"
    page, closing = updates
    assert (page["status"], page["node"], page["labels"]["kind"]) == ("firing", "node-7", "Node")
    assert sorted(page["workloads"]) == ["shop/cart", "shop/ledger", "shop/search"]
    assert page["changes"] == ["opened"]
    assert (closing["fingerprint"], closing["status"], closing["resolved_by"]) == (
        page["fingerprint"],
        "resolved",
        "recovery",
    )
    assert closing["recovery"]["reason"] == "NodeReady"


def replayer(namespace: Namespace, tmp_path: Path) -> Callable[[str, list[dict[str, Any]]], None]:
    def replay(name: str, events: list[dict[str, Any]]) -> None:
        path = tmp_path / f"{name}.jsonl"
        path.write_bytes(b"\n".join(orjson.dumps(e) for e in events) + b"\n")
        done = subprocess.run(
            herald_command(namespace.config_path, "replay", str(path), "--speed", "0"),
            check=False,
            capture_output=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr.decode()

    return replay


def delivered(server: WebhookServer) -> list[dict[str, Any]]:
    return [incident for request in server.accepted() for incident in orjson.loads(request.body)["incidents"]]
