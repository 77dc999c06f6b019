"""The broker goes away for 30 s while events keep coming: every one arrives after it returns."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tests.support.broker import private_broker
from tests.support.fake_apiserver import FakeApiServer, make_event
from tests.support.kafka import ensure_namespace_topics, make_namespace
from tests.support.processes import herald_process
from tests.support.producer import configure_producer, kubeconfig_entry, occurrence, occurrences, published
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

OUTAGE_SECONDS = 30


@pytest.mark.fault
def test_every_event_arrives_after_a_30_second_broker_outage(tmp_path: Path) -> None:
    with private_broker(tmp_path / "kafka") as broker, FakeApiServer(bookmark_interval=0.5) as api:
        namespace = make_namespace(broker.bootstrap, tmp_path)
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig", context="fake")
        configure_producer(namespace, [kubeconfig_entry(kubeconfig, cluster="prod-a", context="fake")])
        ensure_namespace_topics(namespace)
        expected: set[tuple[str, str, str]] = set()
        for index in range(10):
            expected.add(occurrence(api.create_event(make_event(index)), "prod-a"))

        with herald_process(namespace.config_path, "producer", log_dir=tmp_path, name="producer") as producer:
            wait_until(
                lambda: len(published(namespace, expected=10, timeout=5)) >= 10, timeout=90, what="first 10"
            )
            broker.stop()
            stop = threading.Event()
            index = 10
            while not stop.wait(0.5):  # events keep coming while the broker is away
                expected.add(occurrence(api.create_event(make_event(index)), "prod-a"))
                index += 1
                if index >= 10 + OUTAGE_SECONDS * 2:
                    stop.set()
            assert producer.poll() is None, "the producer must ride out the outage"
            broker.start()
            wait_until(
                lambda: set(occurrences(published(namespace, expected=len(expected), timeout=5))) >= expected,
                timeout=180,
                what="every event after the broker returned",
            )
            seen = occurrences(published(namespace, expected=len(expected), timeout=30))
    assert set(seen) == expected
    assert len(expected) == 10 + OUTAGE_SECONDS * 2
