"""The notifier on the real broker and a real HTTP server: retries, dead letters, restarts."""

from __future__ import annotations

import subprocess
import threading
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
import yaml

from schemas import (
    DeadLetter,
    Incident,
    IncidentStatus,
    QuarantineRecord,
    SampleMessage,
    Severity,
    decode,
    encode,
)
from tests.support.kafka import Namespace, ensure_namespace_topics, produce, read_topic
from tests.support.processes import herald_process, tail
from tests.support.waiting import observe_for, wait_until
from tests.support.webhook_server import Reply, Request, webhook_server

pytestmark = pytest.mark.integration

SECRET = "k3y-9f8e7d6c5b4a3210fedcba"


def incident(index: int) -> Incident:
    at = datetime.now(UTC)
    return Incident(
        fingerprint=f"{index:016x}",
        version=1,
        status=IncidentStatus.FIRING,
        severity=Severity.WARNING,
        category="crash-loop",
        title=f"BackOff: Pod/shop/web-{index}",
        cluster="prod",
        namespace="shop",
        workload="web",
        occurrences=1,
        first_seen=at,
        last_seen=at,
        samples=[
            SampleMessage(
                reason="BackOff", message=f"incident {index}", object=f"Pod/shop/web-{index}", at=at
            )
        ],
        emitted_at=at,
    )


def publish(namespace: Namespace, indexes: range) -> None:
    produce(
        namespace.bootstrap,
        namespace.topic("alerts"),
        [(incident(i).fingerprint.encode(), encode(incident(i))) for i in indexes],
    )


def configure(namespace: Namespace, url: str, **notifier: object) -> None:
    config = yaml.safe_load(namespace.config_path.read_text())
    config["receivers"] = [{"name": "hook", "type": "webhook", "url": f"{url}?key={SECRET}"}]
    config["notifier"] = notifier
    namespace.config_path.write_text(yaml.safe_dump(config))
    ensure_namespace_topics(namespace)


def fingerprints(server_requests: list[bytes]) -> list[str]:
    return [orjson.loads(body)["incidents"][0]["fingerprint"] for body in server_requests]


def run_notifier(
    namespace: Namespace, tmp_path: Path, name: str = "notifier"
) -> AbstractContextManager[subprocess.Popen[bytes]]:
    return herald_process(
        namespace.config_path, "notifier", "--receiver", "hook", log_dir=tmp_path, name=name
    )


@pytest.mark.fault
def test_outage_of_the_webhook_loses_nothing_and_doubles_nothing(
    namespace: Namespace, tmp_path: Path
) -> None:
    outage = threading.Event()
    outage.set()

    def flaky(_index: int, _request: Request) -> Reply:
        if outage.is_set():
            return 503, {"retry-after": "1"}, b"down"
        return 200, {}, b"ok"

    with webhook_server(flaky) as server:
        configure(namespace, server.url)
        publish(namespace, range(10))
        with run_notifier(namespace, tmp_path):
            wait_until(lambda: len(server.requests) >= 3, timeout=90, what="retries during the outage")
            assert not server.accepted()
            outage.clear()
            wait_until(lambda: len(server.accepted()) >= 10, timeout=120, what="10 deliveries after recovery")
            observe_for(2)
        delivered = fingerprints([r.body for r in server.accepted()])
    assert sorted(delivered) == sorted(incident(i).fingerprint for i in range(10))


def test_permanent_failure_goes_to_the_dead_letter_topic_without_the_secret(
    namespace: Namespace, tmp_path: Path
) -> None:
    poisoned = incident(3).fingerprint

    def refuse_one(_index: int, request: Request) -> Reply:
        if poisoned.encode() in request.body:
            return 400, {}, f"bad request for key={SECRET}".encode()
        return 200, {}, b"ok"

    with webhook_server(refuse_one) as server:
        configure(namespace, server.url)
        publish(namespace, range(6))
        with run_notifier(namespace, tmp_path):
            wait_until(lambda: len(server.accepted()) >= 5, timeout=90, what="5 deliveries")
            letters = read_topic(namespace.bootstrap, namespace.topic("alerts.deadletter"), expected=1)
        delivered = fingerprints([r.body for r in server.accepted()])
    assert poisoned not in delivered
    assert len(delivered) == 5
    assert len(letters) == 1
    letter = decode(letters[0].value() or b"", DeadLetter)
    assert letter.incident.fingerprint == poisoned
    assert "HTTP 400" in letter.reason
    assert SECRET not in (letters[0].value() or b"").decode()
    assert SECRET not in tail(tmp_path / "notifier.log", 10_000)


@pytest.mark.fault
def test_restart_resumes_after_the_last_delivery_without_resending(
    namespace: Namespace, tmp_path: Path
) -> None:
    with webhook_server() as server:
        configure(namespace, server.url)
        publish(namespace, range(8))
        with run_notifier(namespace, tmp_path, "first"):
            wait_until(lambda: len(server.accepted()) >= 8, timeout=90, what="first 8 deliveries")
        publish(namespace, range(8, 12))
        with run_notifier(namespace, tmp_path, "second"):
            wait_until(lambda: len(server.accepted()) >= 12, timeout=90, what="4 more deliveries")
            observe_for(2)
        delivered = fingerprints([r.body for r in server.accepted()])
    assert sorted(delivered) == sorted(incident(i).fingerprint for i in range(12))


def test_bad_bytes_on_the_alerts_topic_are_quarantined_and_delivery_goes_on(
    namespace: Namespace, tmp_path: Path
) -> None:
    with webhook_server() as server:
        configure(namespace, server.url)
        publish(namespace, range(2))
        produce(namespace.bootstrap, namespace.topic("alerts"), [(b"x", b"\x00garbage")])
        publish(namespace, range(2, 4))
        with run_notifier(namespace, tmp_path):
            wait_until(lambda: len(server.accepted()) >= 4, timeout=90, what="4 deliveries")
            invalid = read_topic(namespace.bootstrap, namespace.topic("events.invalid"), expected=1)
    records = [decode(m.value() or b"", QuarantineRecord) for m in invalid]
    assert [(r.stage, r.reason, r.payload) for r in records] == [
        ("notifier.hook", "not-json", b"\x00garbage")
    ]
