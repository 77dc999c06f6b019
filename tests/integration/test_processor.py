"""The processor workers on the real broker: dedup, quarantine, aggregation, restarts.

Every test counts: clean events once per distinct occurrence, incidents whose last
update holds exactly the number of occurrences that went in.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from confluent_kafka import Producer

from processors.delivery.gaps import PROBE_HEADER
from processors.stages.classify import seen_key_of
from schemas import CleanEvent, Incident, IncidentStatus, QuarantineRecord, RawEnvelope, decode, encode
from tests.support.broker import free_port
from tests.support.events import TAXONOMY_CORPUS, k8s_event
from tests.support.kafka import Namespace, ensure_namespace_topics, produce, read_topic
from tests.support.processes import herald_process
from tests.support.scrape import metric, scrape
from tests.support.waiting import observe_for, wait_until

pytestmark = pytest.mark.integration


def configure(namespace: Namespace, **processor: Any) -> None:
    config = yaml.safe_load(namespace.config_path.read_text())
    config["processor"] = {
        **config["processor"],
        "group_wait_seconds": 1,
        "group_interval_seconds": 3,
        "tick_seconds": 0.2,
        **processor,
    }
    namespace.config_path.write_text(yaml.safe_dump(config))
    ensure_namespace_topics(namespace)


def raw(
    index: int, *, workload: str = "web", cluster: str = "prod-a", producer: str = "p1"
) -> tuple[bytes, bytes]:
    event = k8s_event(
        index, name=f"{workload}-7d9c8b6f5d-{'bcdfg'[index % 5]}x2kq", uid=f"uid-{workload}-{index}"
    )
    return as_raw(event, cluster=cluster, producer=producer)


def as_raw(event: dict[str, Any], *, cluster: str = "prod-a", producer: str = "p1") -> tuple[bytes, bytes]:
    """An Event as a producer publishes it: (partition key, envelope)."""
    envelope = RawEnvelope(
        cluster=cluster, producer_id=producer, observed_at=datetime.now(UTC), observation="ADDED", event=event
    )
    return envelope.partition_key.encode(), encode(envelope)


def incidents(namespace: Namespace, expected: int, timeout: float = 60.0) -> list[Incident]:
    messages = read_topic(namespace.bootstrap, namespace.topic("alerts"), expected=expected, timeout=timeout)
    return [decode(m.value() or b"", Incident) for m in messages]


def latest(updates: list[Incident]) -> dict[str, Incident]:
    out: dict[str, Incident] = {}
    for update in updates:
        if update.fingerprint not in out or update.version > out[update.fingerprint].version:
            out[update.fingerprint] = update
    return out


def cleans(namespace: Namespace, expected: int, timeout: float = 60.0) -> list[CleanEvent]:
    messages = read_topic(
        namespace.bootstrap, namespace.topic("events.clean"), expected=expected, timeout=timeout
    )
    return [decode(m.value() or b"", CleanEvent) for m in messages]


def bad_inputs() -> list[bytes]:
    valid = orjson.loads(raw(0)[1])
    malformed_event = {**valid, "event": {**valid["event"], "count": "lots", "involvedObject": []}}
    return [
        os.urandom(64),
        b'{"schema": "herald.raw-event", "v": 1',
        orjson.dumps({**valid, "v": 99}),
        orjson.dumps({**valid, "cluster": "UPPER CASE"}),
        orjson.dumps(malformed_event),
        b"\xff\xfe\xfd invalid utf-8",
        orjson.dumps({"deep": [[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]}),
    ]


def send_gap_probes(namespace: Namespace) -> None:
    producer = Producer({"bootstrap.servers": namespace.bootstrap})
    for topic in (namespace.topic("events.raw"), namespace.topic("events.grouped")):
        for partition in range(namespace.config.kafka.partitions):
            producer.produce(topic, value=b"", partition=partition, headers=[(PROBE_HEADER, b"1")])
    assert producer.flush(30) == 0


def test_exact_repeats_are_dropped_bad_input_quarantined_and_occurrences_aggregated(
    namespace: Namespace, tmp_path: Path
) -> None:
    configure(
        namespace,
        rules=[
            {"match": {"workload": "noisy"}, "drop": True},
            {"match_re": {"namespace": "sh.p"}, "labels": {"team": "storefront"}},
        ],
    )
    valid = [raw(i) for i in range(40)]
    repeats = [raw(i, producer="p2") for i in range(40)]  # a second producer replica: exact repeats
    noisy = [raw(i, workload="noisy") for i in range(5)]  # dropped from alerting by a user rule
    bad = bad_inputs()
    with herald_process(namespace.config_path, "processor", log_dir=tmp_path, name="processor") as worker:
        produce(
            namespace.bootstrap, namespace.topic("events.raw"), [*valid[:20], *repeats, *noisy, *valid[20:]]
        )
        produce(namespace.bootstrap, namespace.topic("events.raw"), [(b"junk", b) for b in bad])
        send_gap_probes(namespace)  # what a worker sends to a quiet partition: skipped, never quarantined
        clean = cleans(namespace, expected=45)
        invalid = read_topic(namespace.bootstrap, namespace.topic("events.invalid"), expected=len(bad))
        wait_until(
            lambda: max((i.occurrences for i in incidents(namespace, 1, timeout=3)), default=0) >= 40,
            timeout=60,
            what="the incident to count all 40",
        )
        observe_for(4)
        updates = incidents(namespace, expected=1)
        assert worker.poll() is None, "the worker must survive bad input"

    assert len(clean) == 45, "40 distinct + 5 dropped-from-alerting still reach events.clean"
    assert len({c.occurrence_id for c in clean}) == 45
    records = [decode(m.value() or b"", QuarantineRecord) for m in invalid]
    assert len(records) == len(bad)
    assert {r.reason for r in records} >= {"not-json", "unsupported-version", "invalid", "invalid-event"}
    (incident,) = latest(updates).values()  # none for the noisy workload
    assert incident.occurrences == 40
    assert incident.labels["team"] == "storefront"
    assert incident.workload == "web"
    assert incident.category == "crash-loop"
    assert len(updates) <= 4
    assert [u.version for u in updates] == list(range(1, len(updates) + 1))


def test_a_storm_of_ten_thousand_occurrences_yields_a_few_updates_with_exact_counts(
    namespace: Namespace, tmp_path: Path
) -> None:
    configure(namespace, group_wait_seconds=5, group_interval_seconds=30)
    storm = [raw(i) for i in range(10_000)]
    with herald_process(namespace.config_path, "processor", log_dir=tmp_path, name="processor"):
        produce(namespace.bootstrap, namespace.topic("events.raw"), storm)
        wait_until(
            lambda: max((i.occurrences for i in incidents(namespace, 1, timeout=3)), default=0) >= 10_000,
            timeout=240,
            interval=2,
            what="the incident to count all 10,000",
        )
        observe_for(3)
        updates = incidents(namespace, expected=1)
    assert len(updates) <= 3, f"{len(updates)} updates for one storm"
    assert max(u.occurrences for u in updates) == 10_000


def test_an_unchanged_firing_incident_is_sent_again_after_repeat_interval(
    namespace: Namespace, tmp_path: Path
) -> None:
    configure(namespace, group_wait_seconds=1, group_interval_seconds=2, repeat_interval_seconds=6)
    with herald_process(namespace.config_path, "processor", log_dir=tmp_path, name="processor"):
        produce(namespace.bootstrap, namespace.topic("events.raw"), [raw(i) for i in range(3)])
        wait_until(
            lambda: max((u.version for u in incidents(namespace, 1, timeout=3)), default=0) >= 2,
            timeout=90,
            what="a repeat of the unchanged incident",
        )
        updates = incidents(namespace, expected=2)
    first, repeat = sorted(updates, key=lambda u: u.version)[:2]
    assert (first.version, repeat.version) == (1, 2)
    assert first.occurrences == repeat.occurrences == 3, "nothing new: the repeat carries the same count"
    assert repeat.status == first.status == IncidentStatus.FIRING
    gap = (repeat.emitted_at - first.emitted_at).total_seconds()
    assert gap >= 6, f"repeated after {gap:.1f} s, before repeat_interval"


def test_a_corpus_of_realistic_events_is_classified_into_every_builtin_category(
    namespace: Namespace, tmp_path: Path
) -> None:
    configure(namespace)
    corpus = [
        as_raw(k8s_event(index, reason=reason, message=message, name=f"app-{index}-7d9c8b6f5d-x2kqp"))
        for index, (reason, message, _, _) in enumerate(TAXONOMY_CORPUS)
    ]
    with herald_process(namespace.config_path, "processor", log_dir=tmp_path, name="processor"):
        produce(namespace.bootstrap, namespace.topic("events.raw"), corpus)
        clean = cleans(namespace, expected=len(corpus))
    got = sorted((c.reason, c.message, c.category, c.severity) for c in clean)
    assert got == sorted(TAXONOMY_CORPUS)


@pytest.mark.fault
def test_dedup_and_counts_survive_a_killed_worker(namespace: Namespace, tmp_path: Path) -> None:
    configure(namespace)
    first = [raw(i) for i in range(30)]
    with herald_process(namespace.config_path, "processor", log_dir=tmp_path, name="first") as worker:
        produce(namespace.bootstrap, namespace.topic("events.raw"), first)
        cleans(namespace, expected=30)
        observe_for(2)
        worker.kill()  # SIGKILL: no commit, no goodbye
        worker.wait()
    # A producer relist repeats the first 30 exactly; 10 are new.
    produce(namespace.bootstrap, namespace.topic("events.raw"), [*first, *(raw(i) for i in range(30, 40))])
    with herald_process(namespace.config_path, "processor", log_dir=tmp_path, name="second"):
        wait_until(
            lambda: max((i.occurrences for i in incidents(namespace, 1, timeout=3)), default=0) >= 40,
            timeout=240,
            what="the incident to count all 40",
        )
        observe_for(5)
        clean = cleans(namespace, expected=40)
        updates = incidents(namespace, expected=1)
    assert len({c.occurrence_id for c in clean}) == 40
    assert len(clean) <= 40 + 30, "clean repeats only from the killed worker's own uncommitted replay"
    assert max(u.occurrences for u in updates) == 40, "no occurrence counted twice or lost"


@pytest.mark.fault
def test_two_workers_share_the_work_and_the_survivor_keeps_exact_counts(
    namespace: Namespace, tmp_path: Path
) -> None:
    configure(namespace)
    second_config = tmp_path / "worker-b.yaml"
    config = yaml.safe_load(namespace.config_path.read_text())
    config["processor"]["data_dir"] = str(tmp_path / "worker-b-data")
    second_config.write_text(yaml.safe_dump(config))
    workloads = ["cart", "checkout", "search", "ledger", "profile", "report"]
    first = [raw(i, workload=w) for w in workloads for i in range(10)]
    later = [raw(i, workload=w) for w in workloads for i in range(10, 20)]

    def counts() -> dict[str | None, int]:
        return {i.workload: i.occurrences for i in latest(incidents(namespace, 1, timeout=3)).values()}

    with (
        herald_process(namespace.config_path, "processor", log_dir=tmp_path, name="worker-a") as worker_a,
        herald_process(second_config, "processor", log_dir=tmp_path, name="worker-b"),
    ):
        produce(namespace.bootstrap, namespace.topic("events.raw"), first)
        wait_until(lambda: counts() == dict.fromkeys(workloads, 10), timeout=240, what="10 per workload")
        worker_a.kill()
        worker_a.wait()
        produce(namespace.bootstrap, namespace.topic("events.raw"), later)
        wait_until(
            lambda: counts() == dict.fromkeys(workloads, 20),
            timeout=240,
            what="the survivor to count 20 each",
        )
        observe_for(5)
        assert counts() == dict.fromkeys(workloads, 20), "no occurrence counted twice after the failover"


def occurrence_on(node: str, index: int, *, kind: str = "Pod", workload: str = "web") -> tuple[bytes, bytes]:
    """A pod's BackOff on ``node``, or (kind Node) the node's own NotReady."""
    pod_suffix = {"n1": "x2kq", "n2": "z4mw"}[node] + "bcd"[index % 3]
    name = node if kind == "Node" else f"{workload}-7d9c8b6f5d-{pod_suffix}"
    event = k8s_event(
        index,
        kind=kind,
        name=name,
        reason="NodeNotReady" if kind == "Node" else "BackOff",
        message=f"Node {node} status is now: NodeNotReady" if kind == "Node" else "Back-off restarting",
        host=node,
        uid=f"uid-{kind}-{node}-{workload}-{index}",
    )
    return as_raw(event)


def test_a_node_that_is_not_ready_inhibits_its_pods_until_it_resolves(
    namespace: Namespace, tmp_path: Path
) -> None:
    # The node's incident closes 12 s after its last occurrence (a node-not-ready incident waits
    # evidence_timeout for its NodeReady, shortened here too); the pods keep failing.
    configure(
        namespace,
        group_wait_seconds=2,
        group_interval_seconds=2,
        resolve_timeout_seconds=12,
        evidence_timeout_seconds=12,
    )
    node_down = [occurrence_on("n1", i, kind="Node") for i in range(3)]
    with herald_process(namespace.config_path, "processor", log_dir=tmp_path, name="processor"):
        produce(namespace.bootstrap, namespace.topic("events.raw"), node_down)
        wait_until(
            lambda: any(u.labels.get("kind") == "Node" for u in incidents(namespace, 1, timeout=3)),
            timeout=90,
            what="the node incident",
        )
        pods = [occurrence_on("n1", i, workload="web") for i in range(5)]
        pods += [occurrence_on("n2", i, workload="api") for i in range(5)]
        produce(namespace.bootstrap, namespace.topic("events.raw"), pods)

        def by_workload() -> dict[str, list[Incident]]:
            out: dict[str, list[Incident]] = {}
            for update in incidents(namespace, 1, timeout=3):
                out.setdefault(update.workload or update.labels.get("kind", ""), []).append(update)
            return out

        wait_until(lambda: {"web", "api"} <= by_workload().keys(), timeout=90, what="both pod incidents")
        # Keep web failing on n1 while the node incident times out and resolves.
        for round_ in range(10):
            produce(
                namespace.bootstrap,
                namespace.topic("events.raw"),
                [occurrence_on("n1", 100 + round_, workload="web")],
            )
            if any(u.inhibited_by is None for u in by_workload()["web"][1:]):
                break
            observe_for(2)
        wait_until(
            lambda: any(u.status == "resolved" for u in by_workload()["Node"]),
            timeout=90,
            what="the node incident to resolve",
        )
        wait_until(
            lambda: by_workload()["web"][-1].inhibited_by is None,
            timeout=90,
            what="web re-emitted, no longer inhibited",
        )
        updates = by_workload()

    (node_fingerprint,) = {u.fingerprint for u in updates["Node"]}
    web, api = updates["web"], updates["api"]
    assert web[0].inhibited_by == node_fingerprint, "pods on the node that is not ready are inhibited"
    assert web[0].labels["node"] == "n1"
    assert all(u.inhibited_by is None for u in api), "pods on a healthy node are not"
    assert web[-1].inhibited_by is None
    assert web[-1].status == "firing"
    assert [u.version for u in web] == list(range(1, len(web) + 1)), "inhibited updates are emitted, not lost"


def test_seen_ids_are_forgotten_once_they_can_no_longer_repeat(namespace: Namespace, tmp_path: Path) -> None:
    configure(namespace, dedup_ttl_seconds=4)  # buckets of 2 s: an id is kept 4 to 6 s
    changelog = namespace.topic("herald-processor-seen-changelog")
    with herald_process(namespace.config_path, "processor", log_dir=tmp_path, name="processor"):
        produce(namespace.bootstrap, namespace.topic("events.raw"), [raw(i) for i in range(30)])
        cleans(namespace, expected=30)
        observe_for(7)
        # New occurrences drive expiry on their partitions; keep them coming until all 30 are gone.
        batch = 100

        def tombstones() -> int:
            records = read_topic(namespace.bootstrap, changelog, expected=10**6, timeout=3)
            return sum(1 for r in records if r.value() is None)

        def drive() -> bool:
            nonlocal batch
            produce(
                namespace.bootstrap, namespace.topic("events.raw"), [raw(i) for i in range(batch, batch + 20)]
            )
            batch += 20
            return tombstones() >= 30

        wait_until(drive, timeout=120, interval=1, what="30 expired ids deleted from the seen table")
    records = read_topic(namespace.bootstrap, changelog, expected=10**6, timeout=3)
    deleted = {r.key() for r in records if r.value() is None}
    first = {seen_key_of(f"prod-a/uid-web-{i}/{10_000 + i}") for i in range(30)}
    assert first <= deleted, "the first ids expired"
    assert len(deleted) < len({r.key() for r in records}), "recent ids are kept"


def test_metrics_count_exactly_what_went_in_and_json_logs_name_the_incident(
    namespace: Namespace, tmp_path: Path
) -> None:
    port = free_port()
    configure(namespace, metrics_port=port)
    config = yaml.safe_load(namespace.config_path.read_text())
    namespace.config_path.write_text(yaml.safe_dump({**config, "logging": {"format": "json"}}))
    first, second, third = raw(0), raw(1), raw(2)
    repeat = raw(1, producer="p2")  # an exact repeat of the second, from another replica
    counts = {
        "herald_processor_raw_messages_total": 5,
        'herald_processor_clean_events_total{cluster="prod-a"}': 3,
        'herald_processor_duplicates_total{cluster="prod-a"}': 1,
        'herald_processor_quarantined_total{reason="not-json",stage="processor.validate"}': 1,
        'herald_processor_latency_seconds_count{cluster="prod-a"}': 3,
        'herald_processor_incident_updates_total{cluster="prod-a",status="firing"}': 1,
    }

    def scraped() -> dict[str, float]:
        response = scrape(port, "/metrics")
        return {name: metric(response.text, name) for name in counts} if response else {}

    with herald_process(namespace.config_path, "processor", log_dir=tmp_path, name="processor"):
        wait_until(
            lambda: (r := scrape(port, "/readyz")) is not None and r.status_code == 200,
            timeout=120,
            what="the worker to have partitions (/readyz)",
        )
        produce(namespace.bootstrap, namespace.topic("events.raw"), [first, second, repeat, third])
        produce(namespace.bootstrap, namespace.topic("events.raw"), [(b"junk", b"not json")])
        wait_until(lambda: scraped() == counts, timeout=90, what=f"exactly {counts}")
        lag = f'herald_processor_consumer_lag{{partition="0",topic="{namespace.topic("events.raw")}"}}'
        wait_until(
            lambda: (r := scrape(port, "/metrics")) is not None and lag in r.text,
            timeout=60,
            what="the raw topic's lag reported",
        )
        observe_for(3)
        final = scraped()
        health = scrape(port, "/healthz")
    assert final == counts, "nothing counted twice"
    assert health is not None
    assert health.status_code == 200

    lines = [orjson.loads(text) for text in (tmp_path / "processor.log").read_text().splitlines() if text]
    assert all({"ts", "level", "logger", "msg"} <= set(entry) for entry in lines), "every line is JSON"
    (update,) = incidents(namespace, expected=1)
    emitted = [entry for entry in lines if entry.get("incident") == update.fingerprint]
    assert emitted
    assert emitted[0]["cluster"] == "prod-a"
