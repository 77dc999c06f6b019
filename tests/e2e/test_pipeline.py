"""The pipeline end to end: producer, processor and notifier as separate processes.

25 crash-loop events on 5 workloads become 5 incidents. Asserts what a user is paged by:
every incident reaches the webhook, each update exactly once, with every occurrence
counted, and the event text (quotes, newlines, markup) intact inside valid JSON.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import orjson
import pytest
import yaml

from tests.support.events import k8s_event
from tests.support.kafka import Namespace
from tests.support.processes import herald_command, herald_process
from tests.support.waiting import observe_for, wait_until
from tests.support.webhook_server import webhook_server

pytestmark = pytest.mark.e2e

WORKLOADS = ["cart", "checkout", "search", "ledger", "profile"]
PER_WORKLOAD = 5


def test_events_become_incidents_delivered_exactly_once(namespace: Namespace, tmp_path: Path) -> None:
    events = [
        k8s_event(
            i,
            name=f"{workload}-7d9c8b6f5d-x2kq{'bcdfg'[n]}",
            message=f'crash "{i}"\nwith <b>markup</b> & quotes',
        )
        for i, (workload, n) in enumerate((w, n) for w in WORKLOADS for n in range(PER_WORKLOAD))
    ]
    events_file = tmp_path / "events.jsonl"
    events_file.write_bytes(b"\n".join(orjson.dumps(e) for e in events) + b"\n")

    with webhook_server() as server:
        config = yaml.safe_load(namespace.config_path.read_text())
        config["producer"] = {"cluster": "e2e-cluster"}
        config["processor"].update(group_wait_seconds=2, group_interval_seconds=5, tick_seconds=0.2)
        config["receivers"] = [{"name": "hook", "type": "webhook", "url": server.url}]
        namespace.config_path.write_text(yaml.safe_dump(config))

        def latest() -> dict[str, dict[str, object]]:
            out: dict[str, dict[str, object]] = {}
            for request in server.accepted():
                (incident,) = orjson.loads(request.body)["incidents"]
                if (
                    incident["fingerprint"] not in out
                    or incident["version"] > out[incident["fingerprint"]]["version"]
                ):
                    out[incident["fingerprint"]] = incident
            return out

        with (
            herald_process(namespace.config_path, "processor", log_dir=tmp_path, name="processor"),
            herald_process(
                namespace.config_path, "notifier", "--receiver", "hook", log_dir=tmp_path, name="notifier"
            ),
        ):
            produced = subprocess.run(
                herald_command(namespace.config_path, "producer", "--events-file", str(events_file)),
                check=False,
                capture_output=True,
                timeout=120,
            )
            assert produced.returncode == 0, produced.stderr.decode()
            wait_until(
                lambda: sum(int(str(i["occurrences"])) for i in latest().values()) >= len(events),
                timeout=180,
                what="every occurrence counted into delivered incidents",
            )
            observe_for(3)
        bodies = [orjson.loads(r.body) for r in server.accepted()]

    updates = [(body["incidents"][0]["fingerprint"], body["incidents"][0]["version"]) for body in bodies]
    assert len(updates) == len(set(updates)), "an incident update was delivered twice"
    incidents = latest()
    assert sorted(str(i["workload"]) for i in incidents.values()) == sorted(WORKLOADS)
    assert all(i["occurrences"] == PER_WORKLOAD for i in incidents.values())
    assert all(i["cluster"] == "e2e-cluster" and i["category"] == "crash-loop" for i in incidents.values())
    delivered_messages = {s["message"] for body in bodies for s in body["incidents"][0]["samples"]}
    assert delivered_messages <= {e["message"] for e in events}
    assert any('"' in m and "\n" in m for m in delivered_messages), "event text must survive intact"
    assert all(body["incidents"][0]["samples"][0]["message"] in body["text"] for body in bodies)
