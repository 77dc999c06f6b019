"""Producer, processor and notifier may start in any order: before their topics exist, before
the topics have leaders, before the broker itself is up. Each waits, saying what for, and
then every event pages, counted exactly.

"May not create a topic" is modelled with a replication factor the single test broker
cannot give (it refuses with INVALID_REPLICATION_FACTOR, as a broker refuses a client
without the right to create): such a process must wait until `herald topics create` made it.
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
import uuid
from collections import Counter
from contextlib import ExitStack
from functools import partial
from pathlib import Path
from subprocess import Popen
from typing import Any

import orjson
import pytest
import yaml
from confluent_kafka import Consumer, KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

from producer.checkpoints import load_checkpoints
from runtime.config import KafkaSettings
from runtime.kafka import ensure_topics
from schemas import ProducerCheckpoint, encode
from schemas.base import utc_now
from tests.support.broker import PrivateBroker, free_port
from tests.support.fake_apiserver import FakeApiServer, make_event
from tests.support.kafka import Namespace, make_namespace, produce
from tests.support.processes import herald_command, herald_process
from tests.support.producer import configure_producer, kubeconfig_entry
from tests.support.waiting import observe_for, wait_until
from tests.support.webhook_server import WebhookServer, webhook_server

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

WORKLOADS = ("cart", "search", "ledger")


def pod_suffix(index: int) -> str:
    """A ReplicaSet pod's random suffix, from the alphabet Kubernetes draws it from, so that
    the pods of one workload make one incident."""
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    return "".join(alphabet[index // len(alphabet) ** i % len(alphabet)] for i in range(5))


class Cluster:
    """Crash-looping pods on a fake API server; remembers how many Events each workload got."""

    def __init__(self, api: FakeApiServer) -> None:
        self.api = api
        self.created: Counter[str] = Counter()
        self._next = 0
        self._lock = threading.Lock()

    def emit(self, per_workload: int) -> None:
        for workload in WORKLOADS:
            for _ in range(per_workload):
                with self._lock:
                    self._next += 1
                    index = self._next
                self.api.create_event(make_event(index, name=f"{workload}-7d9c8b6f5d-{pod_suffix(index)}"))
                self.created[workload] += 1


def delivered(server: WebhookServer) -> tuple[Counter[str], Counter[tuple[str, int]]]:
    """Occurrences counted in each workload's newest delivered update, and how often each
    update (fingerprint, version) arrived."""
    latest: dict[str, dict[str, object]] = {}
    updates: Counter[tuple[str, int]] = Counter()
    for request in server.accepted():
        for incident in orjson.loads(request.body)["incidents"]:
            updates[(str(incident["fingerprint"]), int(incident["version"]))] += 1
            workload = str(incident["workload"])
            if workload not in latest or int(incident["version"]) > int(str(latest[workload]["version"])):
                latest[workload] = incident
    return Counter({w: int(str(i["occurrences"])) for w, i in latest.items()}), updates


def configure_pipeline(
    namespace: Namespace, api: FakeApiServer, server: WebhookServer, tmp_path: Path
) -> None:
    kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig", context="fake")
    configure_producer(namespace, [kubeconfig_entry(kubeconfig, cluster="order-a", context="fake")])
    config = yaml.safe_load(namespace.config_path.read_text())
    config["processor"].update(group_wait_seconds=1, group_interval_seconds=3, tick_seconds=0.2)
    config["receivers"] = [{"name": "hook", "type": "webhook", "url": server.url}]
    namespace.config_path.write_text(yaml.safe_dump(config))


def variant(namespace: Namespace, name: str, **kafka: object) -> Path:
    """A copy of the namespace's config file with some Kafka settings changed."""
    config = yaml.safe_load(namespace.config_path.read_text())
    config["kafka"].update(kafka)
    path = namespace.config_path.with_name(name)
    path.write_text(yaml.safe_dump(config))
    return path


def prefixed_topics(bootstrap: str, prefix: str) -> list[str]:
    topics = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=30).topics
    return sorted(name for name in topics if name.startswith(prefix))


def logged(tmp_path: Path, name: str, text: str) -> bool:
    path = tmp_path / f"{name}.log"
    return path.exists() and text in path.read_text(errors="replace")


def waiting_says(process: Popen[bytes], tmp_path: Path, name: str, text: str) -> bool:
    """Whether a process still waiting has logged ``text``; one that exited fails at once."""
    assert process.poll() is None, f"{name} exited with {process.returncode} instead of waiting"
    return logged(tmp_path, name, text)


def start(stack: ExitStack, config: Path, *args: str, tmp_path: Path, name: str) -> Popen[bytes]:
    return stack.enter_context(herald_process(config, *args, log_dir=tmp_path, name=name))


def assert_every_event_pages(
    server: WebhookServer, cluster: Cluster, processes: dict[str, Popen[bytes]]
) -> None:
    wait_until(
        lambda: delivered(server)[0] >= cluster.created,
        timeout=300,
        what=f"every occurrence counted in a delivered update ({dict(cluster.created)})",
    )
    observe_for(3)
    counted, updates = delivered(server)
    assert counted == cluster.created, "each occurrence counted exactly once, none lost"
    assert set(counted) == set(WORKLOADS)
    doubled = {update: times for update, times in updates.items() if times > 1}
    assert not doubled, f"updates delivered twice: {doubled}"
    exited = {name: p.returncode for name, p in processes.items() if p.poll() is not None}
    assert not exited, f"exited on their own: {exited}"


def test_processes_started_before_their_topics_exist_page_every_event(
    namespace: Namespace, tmp_path: Path
) -> None:
    """The producer and notifier may not create topics and start first, the processor then
    creates its own, and `herald topics create` the rest: every topic is used a moment after
    it was created, while each waiting process has been polling for it."""
    with FakeApiServer(bookmark_interval=0.5) as api, webhook_server() as server, ExitStack() as stack:
        configure_pipeline(namespace, api, server, tmp_path)
        refused = variant(namespace, "may-not-create.yaml", replication_factor=2)
        assert prefixed_topics(namespace.bootstrap, namespace.prefix) == [], "a fresh prefix"
        cluster = Cluster(api)
        cluster.emit(3)  # found by the producer's first list

        processes = {
            "producer": start(stack, refused, "producer", tmp_path=tmp_path, name="producer"),
            "notifier": start(
                stack, refused, "notifier", "--receiver", "hook", tmp_path=tmp_path, name="notifier"
            ),
        }
        for name, process in processes.items():
            wait_until(
                partial(waiting_says, process, tmp_path, name, "missing (cannot create it: "),
                timeout=120,
                what=f"{name} saying which topics it waits for and why",
            )
        processes["processor"] = start(
            stack, namespace.config_path, "processor", tmp_path=tmp_path, name="processor"
        )
        wait_until(
            lambda: namespace.topic("events.raw") in prefixed_topics(namespace.bootstrap, namespace.prefix),
            timeout=120,
            what="the processor creating its topics",
        )
        exited = {name: p.returncode for name, p in processes.items() if p.poll() is not None}
        assert not exited, f"exited instead of waiting: {exited}"

        created = subprocess.run(
            herald_command(namespace.config_path, "topics", "create"),
            env={key: value for key, value in os.environ.items() if not key.startswith("HERALD_")},
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert created.returncode == 0, created.stdout + created.stderr
        cluster.emit(2)  # watched
        assert_every_event_pages(server, cluster, processes)
    assert logged(tmp_path, "producer", f"{namespace.topic('producer.checkpoints')} missing")
    assert logged(tmp_path, "notifier", f"{namespace.topic('notify.log')} missing")


def test_checkpoints_are_read_once_a_refusing_partition_is_served(
    kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A partition created a moment ago can be in the metadata with a leader that does not
    serve it yet: its watermarks are refused with NOT_LEADER_FOR_PARTITION (the producer's
    first start used to exit 1 on it). The broker answers that only in a short window, so
    the refusals are injected into an otherwise real consumer; the read waits them out."""
    settings = KafkaSettings(
        bootstrap_servers=kafka_bootstrap, topic_prefix=f"t{uuid.uuid4().hex[:10]}.", partitions=3
    )
    ensure_topics(settings, ["producer.checkpoints"])
    saved = ProducerCheckpoint(
        key="order-a/v1/*", cluster="order-a", producer_id="p1", resource_version="42", at=utc_now()
    )
    produce(kafka_bootstrap, settings.topics.checkpoints, [(saved.key.encode(), encode(saved))])
    refusals = [3]

    class JustCreated(Consumer):
        def get_watermark_offsets(self, *args: Any, **kwargs: Any) -> Any:
            if refusals[0] > 0:
                refusals[0] -= 1
                raise KafkaException(
                    KafkaError(KafkaError.NOT_LEADER_FOR_PARTITION, "Broker: Not leader for partition")
                )
            return super().get_watermark_offsets(*args, **kwargs)

    monkeypatch.setattr("producer.checkpoints.Consumer", JustCreated)
    caplog.set_level(logging.INFO)
    assert load_checkpoints(settings, {saved.key, "other/v1/*"}) == {saved.key: saved}
    assert refusals == [0]
    waits = [r.getMessage() for r in caplog.records if "to be served" in r.getMessage()]
    assert len(waits) == 3, waits
    assert f"waiting for {settings.topics.checkpoints} to be served: Broker: Not leader" in waits[0]


def test_checkpoints_read_from_partitions_created_a_moment_ago(kafka_bootstrap: str) -> None:
    """The same without injection: read at once after creation, as on a producer's first
    start. On a busy broker about one read in four met NOT_LEADER_FOR_PARTITION; on an idle
    one the window is rarely hit, so this proves the read works, the test above the wait."""
    names: list[str] = []
    try:
        for _ in range(10):
            settings = KafkaSettings(
                bootstrap_servers=kafka_bootstrap, topic_prefix=f"t{uuid.uuid4().hex[:10]}.", partitions=3
            )
            names += ensure_topics(settings, ["producer.checkpoints"])  # as `herald topics create` does
            assert load_checkpoints(settings, {"order-a/v1/*"}) == {}
    finally:
        if names:
            AdminClient({"bootstrap.servers": kafka_bootstrap}).delete_topics(names)


def test_processes_started_before_the_broker_wait_for_it_then_page_every_event(tmp_path: Path) -> None:
    """Started before the broker: each retries it, saying where and for how long, then creates
    its topics on a broker that has only just elected itself controller and leader."""
    with (
        ExitStack() as brokers,
        FakeApiServer(bookmark_interval=0.5) as api,
        webhook_server() as server,
        ExitStack() as stack,
    ):
        broker = PrivateBroker(tmp_path / "kafka", free_port(), free_port())
        brokers.callback(broker.stop)
        namespace = make_namespace(broker.bootstrap, tmp_path)
        configure_pipeline(namespace, api, server, tmp_path)
        cluster = Cluster(api)
        cluster.emit(3)
        processes = {
            name: start(stack, namespace.config_path, *args, tmp_path=tmp_path, name=name)
            for name, args in (
                ("producer", ("producer",)),
                ("processor", ("processor",)),
                ("notifier", ("notifier", "--receiver", "hook")),
            )
        }
        for name, process in processes.items():
            wait_until(
                partial(waiting_says, process, tmp_path, name, f"waiting for Kafka at {broker.bootstrap}"),
                timeout=120,
                what=f"{name} saying it waits for the broker",
            )
        exited = {name: p.returncode for name, p in processes.items() if p.poll() is not None}
        assert not exited, f"exited instead of waiting: {exited}"
        broker.start()
        cluster.emit(2)
        assert_every_event_pages(server, cluster, processes)
