"""An Event of any size, between ordinary ones, never stops a cluster's alerting.

A tenant who may create Events can write one as large as the API server accepts (about
1.5 MB), larger than the raw topic takes (about 1 MB). Before the producer fitted Events
to the topic, one such Event raised MSG_SIZE_TOO_LARGE in the watch thread: nothing after
it was published, health stayed green, and a restart died on it again.
"""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

from schemas import QuarantineRecord, RawEnvelope, decode
from schemas.bounds import MESSAGE_MAX_BYTES, original_size, utf8_size
from tests.support.broker import free_port
from tests.support.fake_apiserver import FakeApiServer, make_event
from tests.support.kafka import Namespace, ensure_namespace_topics, read_topic
from tests.support.processes import herald_command, herald_process
from tests.support.producer import configure_producer, kubeconfig_entry
from tests.support.scrape import metric, scrape
from tests.support.waiting import observe_for, wait_until
from tests.support.webhook_server import WebhookServer, webhook_server

pytestmark = pytest.mark.integration

BIG_MESSAGE = ("容器日志 " * 70_000)[:350_000] + "x" * 200_000
"""1.1 MB of UTF-8 (three-byte characters, then ASCII): more than Kafka takes, less than the API server."""
WORKLOADS = ("cart", "checkout", "search")


def pod(workload: str, index: int) -> str:
    """A ReplicaSet pod's name (its suffix from Kubernetes' alphabet), so pods group by workload."""
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    return f"{workload}-7d9c8b6f5d-x2kq{alphabet[index % len(alphabet)]}"


def envelopes(namespace: Namespace, *, expected: int) -> list[RawEnvelope]:
    messages = read_topic(namespace.bootstrap, namespace.topic("events.raw"), expected=expected, timeout=120)
    return [decode(m.value() or b"", RawEnvelope) for m in messages]


def quarantined(namespace: Namespace, *, expected: int) -> list[QuarantineRecord]:
    messages = read_topic(
        namespace.bootstrap, namespace.topic("events.invalid"), expected=expected, timeout=60
    )
    return [decode(m.value() or b"", QuarantineRecord) for m in messages]


def latest_incidents(server: WebhookServer) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for request in server.accepted():
        for incident in orjson.loads(request.body)["incidents"]:
            known = out.get(incident["fingerprint"])
            if known is None or incident["version"] > known["version"]:
                out[incident["fingerprint"]] = incident
    return out


@contextmanager
def pipeline(
    namespace: Namespace, tmp_path: Path, server: WebhookServer
) -> Iterator[tuple[FakeApiServer, int]]:
    """A fake API server watched by a producer, a processor and a webhook notifier: (api, producer port)."""
    port = free_port()
    with FakeApiServer(bookmark_interval=0.5) as api:
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig", context="fake")
        configure_producer(
            namespace, [kubeconfig_entry(kubeconfig, cluster="prod-a", context="fake")], metrics_port=port
        )
        config = yaml.safe_load(namespace.config_path.read_text())
        config["processor"].update(group_wait_seconds=1, group_interval_seconds=3, tick_seconds=0.2)
        config["receivers"] = [{"name": "hook", "type": "webhook", "url": server.url}]
        namespace.config_path.write_text(yaml.safe_dump(config))
        ensure_namespace_topics(namespace)
        with (
            herald_process(namespace.config_path, "producer", log_dir=tmp_path, name="producer"),
            herald_process(namespace.config_path, "processor", log_dir=tmp_path, name="processor"),
            herald_process(
                namespace.config_path, "notifier", "--receiver", "hook", log_dir=tmp_path, name="notifier"
            ),
        ):
            wait_until(
                lambda: (r := scrape(port, "/readyz")) is not None and r.status_code == 200,
                timeout=90,
                what="the producer ready",
            )
            yield api, port


def test_a_1_mb_event_is_published_cut_and_the_ordinary_ones_around_it_page_with_exact_counts(
    namespace: Namespace, tmp_path: Path
) -> None:
    with webhook_server() as server, pipeline(namespace, tmp_path, server) as (api, port):
        for index in range(3):  # before the big one
            for workload in WORKLOADS:
                api.create_event(make_event(index, name=pod(workload, index)))
        big = api.create_event(make_event(99, name=pod("ledger", 99), message=BIG_MESSAGE))
        for index in range(3, 6):  # after it: the watch must go on
            for workload in WORKLOADS:
                api.create_event(make_event(index, name=pod(workload, index)))
        ordinary = 6 * len(WORKLOADS)

        def counted() -> dict[str, int]:
            return {str(i["workload"]): int(i["occurrences"]) for i in latest_incidents(server).values()}

        wait_until(
            lambda: counted() == {**dict.fromkeys(WORKLOADS, 6), "ledger": 1},
            timeout=240,
            what="every workload's incident delivered with its exact count",
        )
        observe_for(2)
        metrics = scrape(port, "/metrics")
        ready, live = scrape(port, "/readyz"), scrape(port, "/healthz")
        raw = envelopes(namespace, expected=ordinary + 1)

    assert counted() == {**dict.fromkeys(WORKLOADS, 6), "ledger": 1}
    assert ready is not None
    assert ready.status_code == 200
    assert live is not None
    assert live.status_code == 200
    assert len(raw) == ordinary + 1, "each occurrence published once"
    (cut,) = [e for e in raw if e.event["metadata"]["uid"] == big["metadata"]["uid"]]
    assert [(c.field, c.action, c.bytes) for c in cut.cut] == [("message", "cut", utf8_size(BIG_MESSAGE))]
    assert original_size(cut.event["message"]) == utf8_size(BIG_MESSAGE)
    assert utf8_size(cut.event["message"]) <= MESSAGE_MAX_BYTES
    assert cut.event["message"].startswith(BIG_MESSAGE[:1000])
    assert all(not e.cut for e in raw if e is not cut)
    ledger = next(i for i in latest_incidents(server).values() if i["workload"] == "ledger")
    assert original_size(ledger["samples"][0]["message"]) == utf8_size(BIG_MESSAGE), "the reader sees the cut"
    assert metrics is not None
    assert metric(metrics.text, 'herald_producer_events_cut_total{cluster="prod-a"}') == 1
    assert metric(metrics.text, 'herald_producer_events_published_total{cluster="prod-a"}') == ordinary + 1
    log = (tmp_path / "producer.log").read_text()
    assert f"cut Event shop/{big['metadata']['name']}" in log
    assert "message (cut, " in log
    assert "容器日志" not in log, "the log names the Event, never its content"


def test_replay_cuts_what_fits_and_quarantines_what_cannot_and_goes_on(
    namespace: Namespace, tmp_path: Path
) -> None:
    """``herald replay`` used to raise MSG_SIZE_TOO_LARGE and exit after the line before it."""
    ordinary = [make_event(i, name=pod("cart", i)) | {"metadata": meta(i)} for i in range(4)]
    big = make_event(10, name=pod("ledger", 10), message=BIG_MESSAGE) | {"metadata": meta(10)}
    annotated = make_event(11, name=pod("ledger", 11)) | {
        "metadata": meta(11) | {"annotations": {f"note-{n}": "v" * 3000 for n in range(400)}}
    }
    hopeless = make_event(12, name=pod("ledger", 12)) | {
        "metadata": meta(12),
        "padding": list(range(300_000)),
    }
    lines = [*ordinary[:2], big, annotated, hopeless, *ordinary[2:]]
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(e) for e in lines) + b"\n")
    config = yaml.safe_load(namespace.config_path.read_text())
    config["producer"] = {"cluster": "prod-a"}
    namespace.config_path.write_text(yaml.safe_dump(config))

    replay = subprocess.run(
        herald_command(namespace.config_path, "replay", str(path), "--speed", "0"),
        check=False,
        capture_output=True,
        timeout=180,
    )

    output = replay.stdout.decode() + replay.stderr.decode()
    assert replay.returncode == 0, output
    raw = {e.event["metadata"]["uid"]: e for e in envelopes(namespace, expected=6)}
    assert sorted(raw) == sorted(e["metadata"]["uid"] for e in [*ordinary, big, annotated])
    assert [(c.field, c.action) for c in raw["uid-10"].cut] == [("message", "cut")]
    assert [(c.field, c.action) for c in raw["uid-11"].cut] == [("metadata.annotations", "removed")]
    assert "annotations" not in raw["uid-11"].event["metadata"]
    (record,) = quarantined(namespace, expected=1)
    assert (record.stage, record.reason, record.offset) == ("producer.replay", "too-large", 5)
    assert "the topic takes" in record.error
    assert f"{path}:3: cut to fit" in output
    assert f"{path}:5: quarantined: too-large" in output


def meta(index: int) -> dict[str, str]:
    """Identity of an Event as the API server stored it (replay takes Events as listed)."""
    return {
        "name": f"event-{index}",
        "namespace": "shop",
        "uid": f"uid-{index}",
        "resourceVersion": str(100 + index),
    }


def test_the_limit_is_read_from_the_broker_and_a_refused_event_is_quarantined(
    namespace: Namespace, tmp_path: Path
) -> None:
    """A raw topic configured smaller than Kafka's default: the producer fits Events to it. When the
    limit is lowered under a running producer, the broker refuses a record the producer had
    sized for the old limit: that Event is quarantined, and the watch goes on."""
    ensure_namespace_topics(namespace)
    admin = AdminClient({"bootstrap.servers": namespace.bootstrap})
    raw_topic = namespace.topic("events.raw")

    def limit_raw_topic(size: int) -> None:
        entry = ConfigEntry("max.message.bytes", str(size), incremental_operation=AlterConfigOpType.SET)
        resource = ConfigResource(ResourceType.TOPIC, raw_topic, incremental_configs=[entry])
        for future in admin.incremental_alter_configs([resource]).values():
            future.result(30)

    limit_raw_topic(120_000)
    annotations = {f"note-{n}": "v" * 4000 for n in range(40)}  # 160 KB: over 120 KB, under 1 MB
    port = free_port()
    with FakeApiServer(bookmark_interval=0.5) as api:
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig", context="fake")
        configure_producer(
            namespace, [kubeconfig_entry(kubeconfig, cluster="prod-a", context="fake")], metrics_port=port
        )
        with herald_process(namespace.config_path, "producer", log_dir=tmp_path, name="producer"):
            wait_until(
                lambda: (r := scrape(port, "/readyz")) is not None and r.status_code == 200,
                timeout=90,
                what="the producer ready",
            )
            first = api.create_event(with_annotations(make_event(1), annotations))
            wait_until(
                lambda: len(envelopes(namespace, expected=1)) == 1, timeout=60, what="the first published"
            )
            limit_raw_topic(8_000)
            # Sized for 120 KB, and random enough that compression does not bring it under 8 KB.
            refused = api.create_event(make_event(2, message=secrets.token_urlsafe(11_000)))
            after = api.create_event(make_event(3))
            raw = envelopes(namespace, expected=2)
            records = quarantined(namespace, expected=1)
            health = scrape(port, "/healthz")

    by_uid = {e.event["metadata"]["uid"]: e for e in raw}
    assert sorted(by_uid) == sorted([first["metadata"]["uid"], after["metadata"]["uid"]])
    assert [(c.field, c.action) for c in by_uid[first["metadata"]["uid"]].cut] == [
        ("metadata.annotations", "removed")
    ], "fitted to the broker's 120 KB, which Kafka's 1 MB default would not have needed"
    (record,) = records
    assert (record.stage, record.reason) == ("producer.watch", "refused")
    assert refused["metadata"]["uid"] in record.error
    assert "MSG_SIZE_TOO_LARGE" in record.error
    assert health is not None
    assert health.status_code == 200


def with_annotations(event: dict[str, Any], annotations: dict[str, str]) -> dict[str, Any]:
    return event | {"metadata": event["metadata"] | {"annotations": annotations}}
