"""The walking skeleton end to end: producer, processor and notifier as separate processes.

Asserts the one property a user is paged by: every input event yields exactly one
rendered alert at the webhook, no more, no less.
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

EVENTS = 25


def test_every_event_becomes_exactly_one_delivered_alert(namespace: Namespace, tmp_path: Path) -> None:
    events = [k8s_event(i, message=f'crash "{i}"\nwith <b>markup</b> & quotes') for i in range(EVENTS)]
    events_file = tmp_path / "events.jsonl"
    events_file.write_bytes(b"\n".join(orjson.dumps(e) for e in events) + b"\n")

    with webhook_server() as server:
        config = yaml.safe_load(namespace.config_path.read_text())
        config["producer"] = {"cluster": "e2e-cluster"}
        config["receivers"] = [{"name": "hook", "type": "webhook", "url": server.url}]
        namespace.config_path.write_text(yaml.safe_dump(config))

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
            wait_until(lambda: len(server.accepted()) >= EVENTS, timeout=180, what=f"{EVENTS} deliveries")
            observe_for(3)

        bodies = [orjson.loads(r.body) for r in server.accepted()]

    delivered_messages = []
    for body in bodies:
        (incident,) = body["incidents"]
        assert incident["cluster"] == "e2e-cluster"
        assert incident["category"] == "crash-loop"
        assert incident["samples"][0]["message"] in body["text"]
        delivered_messages.append(incident["samples"][0]["message"])
    assert len(bodies) == EVENTS, f"expected {EVENTS} alerts, got {len(bodies)}"
    assert sorted(delivered_messages) == sorted(e["message"] for e in events), "lost or doubled alerts"
