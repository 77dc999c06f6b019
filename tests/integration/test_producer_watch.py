"""The producer against a fake API server (real HTTP, real kubeconfig) and the real broker.

Each test records every occurrence the API server emitted and counts, from the raw
topic, that each was published: lost = 0, and anything published twice is an exact
repeat (same cluster, uid and resourceVersion) that the processors drop.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
import yaml

from tests.support.fake_apiserver import FakeApiServer, make_event
from tests.support.kafka import Namespace, ensure_namespace_topics
from tests.support.processes import herald_process
from tests.support.producer import (
    Occurrence,
    configure_producer,
    kubeconfig_entry,
    occurrence,
    occurrences,
    published,
)
from tests.support.waiting import observe_for, wait_until

pytestmark = pytest.mark.integration

CLUSTER = "prod-a"


@pytest.fixture
def api(tmp_path: Path) -> Iterator[FakeApiServer]:
    with FakeApiServer(bookmark_interval=0.5) as server:
        yield server


def start_producer(
    namespace: Namespace, tmp_path: Path, name: str = "producer"
) -> AbstractContextManager[subprocess.Popen[bytes]]:
    return herald_process(namespace.config_path, "producer", log_dir=tmp_path, name=name)


def watch_one_cluster(
    api: FakeApiServer, namespace: Namespace, tmp_path: Path, /, **settings: object
) -> None:
    """Configure the producer to watch ``api`` as cluster CLUSTER, and create the topics."""
    kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig", context="fake")
    configure_producer(namespace, [kubeconfig_entry(kubeconfig, cluster=CLUSTER, context="fake")], **settings)
    ensure_namespace_topics(namespace)


class Recorder:
    """Creates and bumps Events on the fake API server and remembers every occurrence it caused."""

    def __init__(self, api: FakeApiServer, cluster: str = CLUSTER) -> None:
        self.api, self.cluster = api, cluster
        self.expected: set[Occurrence] = set()
        self.created: list[dict[str, object]] = []
        self._lock = threading.Lock()
        self._next = 0

    def create(self, count: int = 1) -> None:
        for _ in range(count):
            with self._lock:
                self._next += 1
                index = self._next
            obj = self.api.create_event(make_event(index, name=f"web-7d9c8b6f5d-x{index:04d}"))
            with self._lock:
                self.created.append(obj)
                self.expected.add(occurrence(obj, self.cluster))

    def bump_all(self) -> None:
        for obj in list(self.created):
            metadata = obj["metadata"]
            assert isinstance(metadata, dict)
            bumped = self.api.bump(metadata["namespace"], metadata["name"])
            with self._lock:
                self.expected.add(occurrence(bumped, self.cluster))


def assert_complete(seen: dict[Occurrence, int], expected: set[Occurrence]) -> None:
    missing = expected - set(seen)
    assert not missing, f"{len(missing)} occurrences lost, e.g. {sorted(missing)[:3]}"
    unexpected = set(seen) - expected
    assert not unexpected, f"published occurrences the API never emitted: {sorted(unexpected)[:3]}"


def test_no_occurrence_lost_across_watch_faults(
    api: FakeApiServer, namespace: Namespace, tmp_path: Path
) -> None:
    watch_one_cluster(api, namespace, tmp_path)
    events = Recorder(api)
    events.create(20)  # before the producer starts: found by the initial list

    def raw_has(count: int) -> bool:
        return (
            len(occurrences(published(namespace, expected=count, timeout=5)).keys() & events.expected)
            >= count
        )

    with start_producer(namespace, tmp_path):
        wait_until(lambda: raw_has(20), timeout=90, what="the initial list")
        events.create(10)
        events.bump_all()  # MODIFIED: count + 1, new resourceVersion, a new occurrence each
        wait_until(lambda: raw_has(len(events.expected)), timeout=60, what="watched ADDED and MODIFIED")

        # A watch that times out (watch_timeout_seconds=3) resumes: covered by waiting across it.
        wait_until(lambda: len(api.watch_requests()) >= 3, timeout=30, what="watch timeouts and resumes")

        api.drop_watches(reset=True)  # dropped connections
        events.create(5)
        api.fail_next(3, status=500)  # API 500s on the reconnects
        api.drop_watches()
        events.create(5)
        wait_until(lambda: raw_has(len(events.expected)), timeout=60, what="recovery from drops and 500s")

        for http_status in (False, True):  # 410 as an ERROR event in the stream, then as HTTP status
            api.expire_with_http_410 = http_status
            watches = len(api.watch_requests())
            api.stall_watches(120)  # silent longer than read_timeout_seconds=3: the producer reconnects
            events.create(5)
            wait_until(lambda: len(api.watch_requests()) >= watches + 2, timeout=60, what="reconnects")  # noqa: B023
            api.compact()  # meanwhile its resume point expired: 410 Gone, and a relist
            api.stall_watches(0)
            wait_until(
                lambda: raw_has(len(events.expected)), timeout=60, what="recovery from a stall and 410"
            )
        observe_for(2)
        seen = occurrences(published(namespace, expected=len(events.expected), timeout=30))

    assert_complete(seen, events.expected)
    lists = [r for r in api.requests if not r.is_watch and r.path.endswith("/events")]
    assert len(lists) >= 3, "each 410 must have forced a relist"


@pytest.mark.fault
def test_sigkill_and_restart_resume_without_republishing(
    api: FakeApiServer, namespace: Namespace, tmp_path: Path
) -> None:
    watch_one_cluster(api, namespace, tmp_path)
    events = Recorder(api)
    events.create(15)

    with start_producer(namespace, tmp_path, "first") as first:
        events.create(15)
        wait_until(
            lambda: len(occurrences(published(namespace, expected=30, timeout=5))) >= 30,
            timeout=90,
            what="30 occurrences",
        )
        observe_for(1)  # the resume point is saved every 0.2 s
        first.kill()  # SIGKILL: no flush, no goodbye
        first.wait()

    events.create(10)  # while the producer is down
    with start_producer(namespace, tmp_path, "second"):
        wait_until(
            lambda: len(occurrences(published(namespace, expected=40, timeout=5))) >= 40,
            timeout=90,
            what="the 10 created while down",
        )
        observe_for(2)
        seen = occurrences(published(namespace, expected=40, timeout=30))

    assert_complete(seen, events.expected)
    doubled = {o: n for o, n in seen.items() if n > 1}
    assert not doubled, f"restart republished {len(doubled)} delivered occurrences"
    lists = [r for r in api.requests if not r.is_watch and r.path.endswith("/events")]
    assert len(lists) == 1, "the restart must resume from its checkpoint, not list again"


@pytest.mark.fault
def test_sigkill_mid_stream_loses_nothing(api: FakeApiServer, namespace: Namespace, tmp_path: Path) -> None:
    watch_one_cluster(api, namespace, tmp_path)
    events = Recorder(api)
    stop = threading.Event()

    def keep_creating() -> None:
        while not stop.is_set():
            events.create(1)
            stop.wait(0.02)

    writer = threading.Thread(target=keep_creating, daemon=True)
    with start_producer(namespace, tmp_path, "first") as first:
        writer.start()
        wait_until(
            lambda: len(published(namespace, expected=50, timeout=5)) >= 50, timeout=90, what="50 published"
        )
        first.kill()
        first.wait()
    with start_producer(namespace, tmp_path, "second"):
        observe_for(2)
        stop.set()
        writer.join()
        wait_until(
            lambda: (
                set(occurrences(published(namespace, expected=len(events.expected), timeout=5)))
                >= events.expected
            ),
            timeout=90,
            what="every occurrence after the restart",
        )
        seen = occurrences(published(namespace, expected=len(events.expected), timeout=30))
    assert_complete(seen, events.expected)


def test_two_clusters_fan_in_and_two_replicas_produce_only_exact_repeats(
    namespace: Namespace, tmp_path: Path
) -> None:
    with FakeApiServer(bookmark_interval=0.5) as api_a, FakeApiServer(bookmark_interval=0.5) as api_b:
        kubeconfig = tmp_path / "kubeconfig"
        api_a.write_kubeconfig(kubeconfig, context="cluster-a")
        api_b.write_kubeconfig(kubeconfig, context="cluster-b")
        a, b = Recorder(api_a, "cluster-a"), Recorder(api_b, "cluster-b")
        a.create(10)
        b.create(10)
        configure_producer(
            namespace,
            [
                kubeconfig_entry(kubeconfig, cluster="cluster-a", context="cluster-a"),
                kubeconfig_entry(kubeconfig, cluster="cluster-b", context="cluster-b"),
            ],
            producer_id="replica-1",
        )
        ensure_namespace_topics(namespace)
        replica = yaml.safe_load(namespace.config_path.read_text())
        replica["producer"].update(producer_id="replica-2", clusters=replica["producer"]["clusters"][:1])
        replica_config = tmp_path / "replica-2.yaml"
        replica_config.write_text(yaml.safe_dump(replica))
        with (
            start_producer(namespace, tmp_path, "replica-1"),
            herald_process(replica_config, "producer", log_dir=tmp_path, name="replica-2"),
        ):
            wait_until(lambda: api_a.open_watches >= 2, timeout=90, what="both replicas watching cluster-a")
            before = set(a.expected)
            a.create(5)
            b.create(5)
            expected = a.expected | b.expected
            while_both_ran = a.expected - before

            def complete() -> bool:
                envelopes = published(namespace, expected=len(expected), timeout=5)
                by_replica = {(e.producer_id, *occurrence(e.event, e.cluster)) for e in envelopes}
                return set(occurrences(envelopes)) >= expected and all(
                    ("replica-2", *o) in by_replica for o in while_both_ran
                )

            wait_until(complete, timeout=180, what="both clusters, and both replicas' latest occurrences")
            observe_for(2)
            envelopes = published(namespace, expected=len(expected) + len(while_both_ran), timeout=30)

    seen = occurrences(envelopes)
    by_cluster = {e.cluster for e in envelopes}
    assert {"cluster-a", "cluster-b"} <= by_cluster
    assert set(seen) >= expected
    # Keys carry the cluster, so the same object name in two clusters never collides.
    assert all(e.partition_key.startswith(f"{e.cluster}/") for e in envelopes)
    # cluster-a is watched by both replicas. Replicas share the watch's checkpoint, so one that
    # starts after the other saved it resumes there instead of listing: what it publishes is
    # an exact repeat, and everything that happened while both ran it publishes too.
    replicas: dict[Occurrence, list[str]] = {}
    for envelope in envelopes:
        replicas.setdefault(occurrence(envelope.event, envelope.cluster), []).append(envelope.producer_id)
    assert set(seen) == expected, "only occurrences the API emitted, possibly repeated"
    # (Which replica published cluster-a's first occurrences depends on which listed first.)
    assert all(sorted(replicas[o]) == ["replica-1", "replica-2"] for o in while_both_ran)
    assert all(sorted(replicas[o]) == ["replica-1"] for o in b.expected)
    assert all(len(r) == len(set(r)) for r in replicas.values()), "a replica published an occurrence twice"


def test_events_api_v1_source_in_one_namespace(
    api: FakeApiServer, namespace: Namespace, tmp_path: Path
) -> None:
    watch_one_cluster(api, namespace, tmp_path, api="events.k8s.io/v1", namespace="shop")
    events = Recorder(api)
    events.create(5)
    other = api.create_event(make_event(999, namespace="data", name="db-0"))
    with start_producer(namespace, tmp_path):
        events.create(5)
        wait_until(
            lambda: set(occurrences(published(namespace, expected=10, timeout=5))) >= events.expected,
            timeout=90,
            what="the namespace's events through the new API",
        )
        observe_for(2)
        envelopes = published(namespace, expected=10, timeout=10)
    assert all(e.api == "events.k8s.io/v1" and "regarding" in e.event for e in envelopes)
    assert occurrence(other, CLUSTER) not in occurrences(envelopes), "another namespace leaked in"
    assert_complete(occurrences(envelopes), events.expected)
