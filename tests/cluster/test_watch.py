"""The producer's watch against the real kube-apiserver: bookmarks, a restart mid-watch, 410 Gone.

Kubernetes serves Events straight from etcd by default (their watch cache is off), which
the fake API server does not imitate: no bookmarks, and a resourceVersion expires when
etcd compacts, whatever the API server's cache holds. Each test scopes the producer to a
namespace of its own and counts, from Kafka, every occurrence the API server holds.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections import Counter
from pathlib import Path

import pytest
from kubernetes.client import CoreV1Api
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from schemas import CleanEvent, Observation, decode
from tests.cluster.kube import (
    ControlPlane,
    checkpoint,
    compact_etcd,
    kubelet_event,
    new_namespace,
    watch_cluster,
)
from tests.support.kafka import Namespace, ensure_namespace_topics, read_topic
from tests.support.processes import herald_process
from tests.support.producer import Occurrence, occurrences, published
from tests.support.waiting import observe_for, wait_until

pytestmark = pytest.mark.e2e

CLUSTER = "real-cluster"


def create_events(core: CoreV1Api, namespace: str, count: int) -> None:
    for n in range(count):
        core.create_namespaced_event(
            namespace,
            kubelet_event(
                namespace,
                f"web-5f7c9d8b6-{'bcdfg'[n % 5]}{uuid.uuid4().hex[:4]}",
                reason="BackOff",
                message="x",
            ),
        )


def held(core: CoreV1Api, namespace: str) -> set[Occurrence]:
    """Every occurrence the API server holds in ``namespace`` (nothing here modifies an event)."""
    items = core.list_namespaced_event(namespace).items
    return {(CLUSTER, e.metadata.uid, e.metadata.resource_version) for e in items}


def raw_occurrences(namespace: Namespace, expected: int) -> Counter[Occurrence]:
    return occurrences(published(namespace, expected=expected, timeout=10))


@pytest.mark.parametrize("server", ["default", "events-watch-cache"])
def test_bookmarks_move_the_checkpoint_only_where_the_server_sends_them(
    server: str, request: pytest.FixtureRequest, namespace: Namespace, tmp_path: Path
) -> None:
    """A watch of a quiet namespace learns the cluster moved on only from bookmarks.

    With Kubernetes' defaults the API server sends none for Events, so the resume point
    stays where the namespace's last event left it (and ages towards compaction, see
    test_expired_resource_version_relists_and_loses_nothing); served from the watch cache,
    bookmarks carry it forward.
    """
    plane: ControlPlane = request.getfixturevalue(
        "control_plane" if server == "default" else "cached_control_plane"
    )
    core = CoreV1Api(plane.client())
    quiet, busy = new_namespace(core, "quiet"), new_namespace(core, "busy")
    create_events(core, quiet, 1)
    # A bookmark comes 2 s before a watch's timeout (and about every minute).
    watch_cluster(namespace, plane, cluster=CLUSTER, namespace=quiet, watch_timeout_seconds=5)
    ensure_namespace_topics(namespace)

    def saved() -> int:
        return int(checkpoint(namespace, cluster=CLUSTER, scope=quiet) or 0)

    with herald_process(namespace.config_path, "producer", log_dir=tmp_path, name="producer"):
        wait_until(lambda: len(raw_occurrences(namespace, 1)) >= 1, timeout=60, what="the quiet event")
        start = wait_until(saved, timeout=30, what="a first checkpoint")
        create_events(core, busy, 3)  # the cluster moves on; the watched namespace does not
        elsewhere = max(int(rv) for _, _, rv in held(core, busy))
        assert elsewhere > start
        if server == "default":
            observe_for(12)  # two watch timeouts: a bookmark would have been sent in each
            assert saved() == start, "the default API server sent a bookmark for Events"
        else:
            # resourceVersions are opaque to clients; comparing them as numbers is a test's liberty
            wait_until(lambda: saved() >= elsewhere, timeout=30, what="a bookmark past the busy namespace")
    assert len(raw_occurrences(namespace, 1)) == 1, "a bookmark must not publish anything"


def test_apiserver_restart_mid_watch_loses_and_doubles_nothing(
    control_plane: ControlPlane, namespace: Namespace, tmp_path: Path
) -> None:
    core = CoreV1Api(control_plane.client())
    scope = new_namespace(core, "restart")
    create_events(core, scope, 10)  # before the producer starts: found by its list
    # A long server-side timeout: the watch is mid-stream when the API server goes.
    watch_cluster(namespace, control_plane, cluster=CLUSTER, namespace=scope, watch_timeout_seconds=300)
    ensure_namespace_topics(namespace)
    stop = threading.Event()

    def keep_creating() -> None:
        """Creates an event every 50 ms, the API server willing; the test counts what it holds."""
        writer = CoreV1Api(control_plane.client())
        while not stop.is_set():
            with contextlib.suppress(ApiException, HTTPError, OSError):  # the API server is restarting
                create_events(writer, scope, 1)
            stop.wait(0.05)

    with herald_process(namespace.config_path, "producer", log_dir=tmp_path, name="producer"):
        wait_until(lambda: len(raw_occurrences(namespace, 10)) >= 10, timeout=60, what="the initial list")
        writer = threading.Thread(target=keep_creating, daemon=True)
        writer.start()
        try:
            wait_until(lambda: len(held(core, scope)) >= 30, timeout=60, what="events created mid-watch")
            # SIGKILL: the stream is cut mid-chunk, as when the API server crashes or its node dies.
            control_plane.restart_apiserver(crash=True)
            before = len(held(core, scope))
            wait_until(lambda: len(held(core, scope)) >= before + 20, timeout=60, what="events after restart")
        finally:
            stop.set()
            writer.join()
        expected = held(core, scope)
        wait_until(
            lambda: len(raw_occurrences(namespace, len(expected)).keys() & expected) == len(expected),
            timeout=90,
            what=f"all {len(expected)} occurrences on events.raw",
        )
        observe_for(2)
        envelopes = published(namespace, expected=len(expected), timeout=30)

    watching = (tmp_path / "producer.log").read_text().partition("stopping")[0]
    assert "watch interrupted" in watching, "the API server's crash must have cut a watch in progress"
    seen = occurrences(envelopes)
    assert set(seen) == expected, f"lost {len(expected - set(seen))}, unexpected {len(set(seen) - expected)}"
    doubled = {o: n for o, n in seen.items() if n > 1}
    assert not doubled, f"{len(doubled)} occurrences published twice across the restart"
    listed = [e for e in envelopes if e.observation == Observation.LISTED]
    assert len(listed) == 10, "the restart must resume the watch, not list again"


def test_expired_resource_version_relists_and_loses_nothing(
    control_plane: ControlPlane, namespace: Namespace, tmp_path: Path
) -> None:
    """The producer resumes from a checkpoint etcd has compacted away: 410 Gone, a relist, no loss.

    Events bypass the API server's watch cache, so compacting etcd is what expires the
    checkpoint; the API server is restarted too, as a cached resource would need.
    """
    core = CoreV1Api(control_plane.client())
    scope = new_namespace(core, "expired")
    create_events(core, scope, 5)
    watch_cluster(namespace, control_plane, cluster=CLUSTER, namespace=scope)
    ensure_namespace_topics(namespace)

    with herald_process(namespace.config_path, "producer", log_dir=tmp_path, name="first"):
        wait_until(lambda: len(raw_occurrences(namespace, 5)) >= 5, timeout=60, what="the first 5")
        resume_from = wait_until(
            lambda: checkpoint(namespace, cluster=CLUSTER, scope=scope), timeout=30, what="a checkpoint"
        )
    create_events(core, scope, 10)  # while the producer is down
    compacted = compact_etcd(control_plane.etcd_url)
    assert compacted > int(resume_from)
    control_plane.restart_apiserver(crash=True)
    expected = held(core, scope)
    assert len(expected) == 15

    with (
        herald_process(namespace.config_path, "producer", log_dir=tmp_path, name="second"),
        herald_process(namespace.config_path, "processor", log_dir=tmp_path, name="processor"),
    ):
        wait_until(
            lambda: len(raw_occurrences(namespace, 20).keys() & expected) == len(expected),
            timeout=90,
            what="all 15 occurrences on events.raw",
        )
        clean_topic = namespace.topic("events.clean")
        wait_until(
            lambda: len(read_topic(namespace.bootstrap, clean_topic, expected=15, timeout=5)) >= 15,
            timeout=180,
            what="15 clean events",
        )
        observe_for(3)
        clean = [
            decode(m.value() or b"", CleanEvent)
            for m in read_topic(namespace.bootstrap, clean_topic, expected=15, timeout=30)
        ]

    log = (tmp_path / "second.log").read_text()
    assert f"resuming from resourceVersion {resume_from}" in log
    assert "expired; listing again" in log, "the stale resume point must have been answered with 410"
    seen = occurrences(published(namespace, expected=20, timeout=30))
    assert set(seen) == expected, f"lost {len(expected - set(seen))}"
    clean_ids = Counter(c.occurrence_id for c in clean)
    assert len(clean_ids) == 15
    assert all(n == 1 for n in clean_ids.values()), "the relist's repeats must be dropped before events.clean"
