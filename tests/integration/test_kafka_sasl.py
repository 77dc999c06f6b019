"""Kafka security exercised for real: a local broker with a SASL_PLAINTEXT (PLAIN) listener.

Every herald client speaks it: the producer and notifier (confluent-kafka) and the
processor (Faust over aiokafka, whose credentials are built separately). The password comes
from a ``*_file`` secret and appears in no log; a wrong one is refused with a clear error.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from tests.support.broker import PrivateBroker, private_broker
from tests.support.events import k8s_event
from tests.support.processes import herald_command, herald_process
from tests.support.waiting import wait_until
from tests.support.webhook_server import webhook_server

pytestmark = pytest.mark.integration

PASSWORD = "sasl-secret-7f3a9c"


def sasl_config(broker: PrivateBroker, directory: Path, password: str, **sections: Any) -> Path:
    secret = directory / f"kafka-password-{len(list(directory.glob('kafka-password-*')))}"
    secret.write_text(password + "\n")
    path = directory / "herald.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "kafka": {
                    "bootstrap_servers": broker.sasl_bootstrap,
                    "topic_prefix": "sasl.",
                    "partitions": 3,
                    "security_protocol": "SASL_PLAINTEXT",
                    "sasl_mechanism": "PLAIN",
                    "sasl_username": "herald",
                    "sasl_password_file": str(secret),
                },
                "processor": {"data_dir": str(directory / "processor-data")},
                **sections,
            }
        )
    )
    return path


def herald(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("HERALD_")}
    return subprocess.run(
        herald_command(config, *args), capture_output=True, text=True, env=env, timeout=180, check=False
    )


def test_the_pipeline_runs_over_sasl_and_a_wrong_password_is_refused(tmp_path: Path) -> None:
    events = [k8s_event(i, name=f"cart-7d9c8b6f5d-x2kq{'bcdfg'[i]}") for i in range(5)]
    events_file = tmp_path / "events.jsonl"
    events_file.write_bytes(b"\n".join(orjson.dumps(e) for e in events) + b"\n")
    with private_broker(tmp_path / "kafka", sasl_password=PASSWORD) as broker, webhook_server() as server:
        config = sasl_config(
            broker,
            tmp_path,
            PASSWORD,
            producer={"cluster": "sasl-cluster"},
            receivers=[{"name": "hook", "type": "webhook", "url": server.url}],
        )
        config_data = yaml.safe_load(config.read_text())
        config_data["processor"].update(group_wait_seconds=1, tick_seconds=0.2)
        config.write_text(yaml.safe_dump(config_data))

        created = herald(config, "topics", "create")
        assert created.returncode == 0, created.stderr

        def delivered() -> int:
            counts = [
                int(incident["occurrences"])
                for request in server.accepted()
                for incident in orjson.loads(request.body)["incidents"]
            ]
            return max(counts, default=0)

        with (
            herald_process(config, "processor", log_dir=tmp_path, name="processor"),
            herald_process(config, "notifier", "--receiver", "hook", log_dir=tmp_path, name="notifier"),
        ):
            produced = herald(config, "producer", "--events-file", str(events_file))
            assert produced.returncode == 0, produced.stderr
            wait_until(lambda: delivered() == len(events), timeout=240, what="the incident over SASL")

        wrong = herald(sasl_config(broker, tmp_path, "not-the-password"), "topics", "verify")
        assert wrong.returncode != 0
        assert "authentication" in (wrong.stdout + wrong.stderr).lower(), wrong.stderr

    logs = "".join(path.read_text(errors="replace") for path in tmp_path.glob("*.log"))
    for output in (logs, created.stdout, created.stderr, produced.stdout, produced.stderr, wrong.stderr):
        assert PASSWORD not in output
        assert "not-the-password" not in output
