"""Two `herald producer` replicas with Lease election, against a fake API server and the real broker.

Each test counts, from the raw topic, what each replica (the envelope's producer_id) published:
only the Lease holder writes, a failover loses nothing, and anything published twice is an
exact repeat (same uid and resourceVersion, same body) from two different replicas.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import yaml

from schemas import RawEnvelope
from tests.integration.test_producer_watch import Recorder, assert_complete
from tests.support.broker import free_port
from tests.support.fake_apiserver import FakeApiServer
from tests.support.kafka import Namespace, ensure_namespace_topics, read_topic
from tests.support.processes import herald_process
from tests.support.producer import (
    Occurrence,
    configure_producer,
    kubeconfig_entry,
    occurrence,
    occurrences,
    published,
)
from tests.support.scrape import metric, scrape
from tests.support.waiting import observe_for, wait_until

pytestmark = pytest.mark.integration

CLUSTER = "prod-a"
LEASE_NAMESPACE, LEASE_NAME = "kube-herald", "kube-herald-producer"
REPLICAS = ("replica-1", "replica-2")
FAST = {"lease_duration_seconds": 3, "renew_deadline_seconds": 2, "retry_period_seconds": 0.5}
# Long enough that a takeover well within it can only come from the leader releasing the Lease.
SLOW = {"lease_duration_seconds": 30, "renew_deadline_seconds": 20, "retry_period_seconds": 0.5}


@pytest.fixture
def api() -> Iterator[FakeApiServer]:
    with FakeApiServer(bookmark_interval=0.5) as server:
        yield server
        assert server.internal_errors == []


class Replicas:
    """Two producer processes with their own producer_id and metrics port, watching one cluster."""

    def __init__(
        self, api: FakeApiServer, namespace: Namespace, tmp_path: Path, timings: dict[str, float]
    ) -> None:
        self.api, self.namespace, self.tmp_path = api, namespace, tmp_path
        self.ports = {name: free_port() for name in REPLICAS}
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig", context="fake")
        configure_producer(
            namespace,
            [kubeconfig_entry(kubeconfig, cluster=CLUSTER, context="fake")],
            leader_election={
                "enabled": True,
                "lease_name": LEASE_NAME,
                "lease_namespace": LEASE_NAMESPACE,
                **timings,
            },
        )
        ensure_namespace_topics(namespace)
        base = yaml.safe_load(namespace.config_path.read_text())
        self.configs: dict[str, Path] = {}
        for name in REPLICAS:
            config: dict[str, Any] = {**base, "producer": {**base["producer"], "producer_id": name}}
            config["producer"]["metrics_port"] = self.ports[name]
            self.configs[name] = tmp_path / f"{name}.yaml"
            self.configs[name].write_text(yaml.safe_dump(config))
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, stack: ExitStack) -> None:
        for name in REPLICAS:
            self.processes[name] = stack.enter_context(
                herald_process(self.configs[name], "producer", log_dir=self.tmp_path, name=name)
            )

    def holder(self) -> str | None:
        return self.api.lease_holder(LEASE_NAMESPACE, LEASE_NAME)

    def wait_for_leader(self) -> tuple[str, str]:
        """(leader, standby) once one replica holds the Lease."""
        leader = wait_until(lambda: self.holder() in REPLICAS and self.holder(), timeout=90, what="a leader")
        assert isinstance(leader, str)
        return leader, next(name for name in REPLICAS if name != leader)

    def wait_ready(self, name: str, says: str) -> None:
        """Until ``name`` answers /readyz with 200 and ``says`` (a standby names the leader once it
        has read the Lease)."""

        def answers() -> bool:
            response = scrape(self.ports[name], "/readyz")
            return response is not None and response.status_code == 200 and response.text == f"{says}\n"

        wait_until(answers, timeout=60, what=f"{name}'s /readyz saying {says!r}")

    def leader_gauge(self, name: str) -> float:
        response = scrape(self.ports[name], "/metrics")
        assert response is not None
        return metric(response.text, f'herald_producer_leader{{cluster="{CLUSTER}"}}')


def raw(namespace: Namespace, expected: int, timeout: float = 5) -> list[RawEnvelope]:
    return published(namespace, expected=expected, timeout=timeout)


def published_all(namespace: Namespace, expected: set[Occurrence]) -> bool:
    return set(occurrences(raw(namespace, len(expected)))) >= expected


def by_replica(envelopes: list[RawEnvelope]) -> dict[Occurrence, list[str]]:
    replicas: dict[Occurrence, list[str]] = {}
    for envelope in envelopes:
        replicas.setdefault(occurrence(envelope.event, envelope.cluster), []).append(envelope.producer_id)
    return replicas


def assert_repeats_are_exact(envelopes: list[RawEnvelope]) -> dict[Occurrence, list[str]]:
    """Every occurrence at most once per replica, and the same object whoever published it
    (compared without kind/apiVersion, which list items leave out and watch events carry)."""
    bodies: dict[Occurrence, dict[str, Any]] = {}
    for envelope in envelopes:
        key = occurrence(envelope.event, envelope.cluster)
        body = {k: v for k, v in envelope.event.items() if k not in ("kind", "apiVersion")}
        assert bodies.setdefault(key, body) == body, f"{key} repeated with another body"
    replicas = by_replica(envelopes)
    doubled = {o: r for o, r in replicas.items() if len(r) != len(set(r))}
    assert not doubled, f"a replica published an occurrence twice: {list(doubled.items())[:3]}"
    return replicas


def test_only_the_leader_publishes(api: FakeApiServer, namespace: Namespace, tmp_path: Path) -> None:
    replicas = Replicas(api, namespace, tmp_path, FAST)
    events = Recorder(api, CLUSTER)
    events.create(10)  # found by the leader's initial list
    with ExitStack() as stack:
        replicas.start(stack)
        leader, standby = replicas.wait_for_leader()
        replicas.wait_ready(leader, f"{CLUSTER}: leading")
        replicas.wait_ready(standby, f"{CLUSTER}: standing by (leader: {leader})")
        events.create(10)
        events.bump_all()
        wait_until(lambda: published_all(namespace, events.expected), timeout=90, what="every occurrence")
        observe_for(3)  # several renewals: the standby must not have started writing meanwhile
        envelopes = raw(namespace, len(events.expected), timeout=30)
        lease = api.lease(LEASE_NAMESPACE, LEASE_NAME)
        assert lease is not None
        assert lease["spec"]["holderIdentity"] == leader, "the Lease changed hands while both replicas ran"
        assert lease["spec"]["leaseTransitions"] == 0
        assert replicas.leader_gauge(leader) == 1
        assert replicas.leader_gauge(standby) == 0

    assert_complete(occurrences(envelopes), events.expected)
    assert {e.producer_id for e in envelopes} == {leader}
    assert len(envelopes) == len(events.expected), "one writer: no occurrence repeated"


@pytest.mark.fault
def test_standby_takes_over_from_a_killed_leader_and_loses_nothing(
    api: FakeApiServer, namespace: Namespace, tmp_path: Path
) -> None:
    replicas = Replicas(api, namespace, tmp_path, FAST)
    events = Recorder(api, CLUSTER)
    stop = threading.Event()

    def keep_creating() -> None:
        while not stop.is_set():
            events.create(1)
            stop.wait(0.02)

    writer = threading.Thread(target=keep_creating, daemon=True)
    with ExitStack() as stack:
        replicas.start(stack)
        leader, standby = replicas.wait_for_leader()
        writer.start()
        wait_until(lambda: len(raw(namespace, 50)) >= 50, timeout=90, what="50 published by the leader")
        wait_until(
            lambda: read_topic(
                namespace.bootstrap, namespace.topic("producer.checkpoints"), expected=1, timeout=5
            ),
            timeout=60,
            what="a checkpoint saved by the leader",
        )
        replicas.processes[leader].kill()  # SIGKILL mid-stream: no flush, no release
        replicas.processes[leader].wait()
        killed_at = time.monotonic()
        wait_until(lambda: replicas.holder() == standby, timeout=60, what="the standby taking over")
        takeover = time.monotonic() - killed_at
        lease = api.lease(LEASE_NAMESPACE, LEASE_NAME)
        assert lease is not None
        assert lease["spec"]["leaseTransitions"] == 1
        wait_until(
            lambda: any(e.producer_id == standby for e in raw(namespace, len(events.expected))),
            timeout=90,
            what="the new leader publishing",
        )
        stop.set()
        writer.join()
        wait_until(lambda: published_all(namespace, events.expected), timeout=90, what="every occurrence")
        observe_for(2)
        envelopes = raw(namespace, len(events.expected), timeout=30)
        replicas.wait_ready(standby, f"{CLUSTER}: leading")

    # The Lease lasts 3 s; generous for slow machines, and still far from "never".
    assert takeover < 20, f"the standby took {takeover:.1f}s to take over"
    assert_complete(occurrences(envelopes), events.expected)
    replicas_of = assert_repeats_are_exact(envelopes)
    assert {e.producer_id for e in envelopes} == {leader, standby}
    repeated = [o for o, r in replicas_of.items() if len(r) > 1]
    assert all(sorted(replicas_of[o]) == sorted(REPLICAS) for o in repeated)
    lists = [r for r in api.requests if not r.is_watch and r.path.endswith("/events")]
    assert len(lists) == 1, "the new leader must resume from the shared checkpoint, not list again"


def test_sigterm_releases_the_lease_and_the_standby_takes_over_at_once(
    api: FakeApiServer, namespace: Namespace, tmp_path: Path
) -> None:
    replicas = Replicas(api, namespace, tmp_path, SLOW)
    events = Recorder(api, CLUSTER)
    events.create(10)
    with ExitStack() as stack:
        replicas.start(stack)
        leader, standby = replicas.wait_for_leader()
        wait_until(lambda: published_all(namespace, events.expected), timeout=90, what="the leader's list")
        events.create(10)
        wait_until(lambda: published_all(namespace, events.expected), timeout=90, what="the leader's watch")
        replicas.processes[leader].send_signal(signal.SIGTERM)
        stopped_at = time.monotonic()
        wait_until(lambda: replicas.holder() == standby, timeout=60, what="the standby taking over")
        takeover = time.monotonic() - stopped_at
        assert replicas.processes[leader].wait(30) == 0
        events.create(10)
        wait_until(
            lambda: published_all(namespace, events.expected), timeout=90, what="the new leader's watch"
        )
        observe_for(2)
        envelopes = raw(namespace, len(events.expected), timeout=30)

    assert takeover < SLOW["lease_duration_seconds"] / 2, f"took {takeover:.1f}s: the Lease was not released"
    assert_complete(occurrences(envelopes), events.expected)
    replicas_of = assert_repeats_are_exact(envelopes)
    # A graceful handover saves the final resume point before releasing: nothing is repeated.
    assert all(len(r) == 1 for r in replicas_of.values()), "a graceful handover repeated occurrences"
    assert {e.producer_id for e in envelopes} == {leader, standby}


def test_a_leader_whose_lease_is_taken_stops_and_exits_non_zero(
    api: FakeApiServer, namespace: Namespace, tmp_path: Path
) -> None:
    replicas = Replicas(api, namespace, tmp_path, SLOW)
    events = Recorder(api, CLUSTER)
    events.create(5)
    with herald_process(
        replicas.configs["replica-1"], "producer", log_dir=tmp_path, name="replica-1"
    ) as only:
        wait_until(lambda: replicas.holder() == "replica-1", timeout=90, what="leading")
        wait_until(lambda: published_all(namespace, events.expected), timeout=90, what="the list")
        lease = api.lease(LEASE_NAMESPACE, LEASE_NAME)
        assert lease is not None
        api.put_lease(LEASE_NAMESPACE, LEASE_NAME, {**lease["spec"], "holderIdentity": "intruder"})
        wait_until(lambda: only.poll() is not None, timeout=60, what="the process exiting")
    assert only.returncode == 1
    assert api.lease_holder(LEASE_NAMESPACE, LEASE_NAME) == "intruder", "it must not release a Lease it lost"
    checkpoints = read_topic(
        namespace.bootstrap, namespace.topic("producer.checkpoints"), expected=1, timeout=10
    )
    assert checkpoints, "the resume point was saved before exiting"
    log = (tmp_path / "replica-1.log").read_text()
    assert "leadership lost" in log
