"""Hostile Events through the real producer, processor and notifier, against the fake API server.

The seeded generator of tests/support/hostile_events.py writes some seventy Events a tenant
could create (1 MB and 2 MB messages, every Unicode plane, control characters, RTL
overrides, nulls, wrong types, unknown and deep fields, huge labels, annotations and
managedFields, extreme counts and timestamps, many namespaces and kinds). A third exist
before the producer starts (it lists them), the rest arrive on its watch, some repeated
(MODIFIED), interleaved with ordinary kubelet BackOff Events. Asserted with counts, per
category: every occurrence is on ``events.raw`` exactly once, within its bounds (a string
over its bound cut with the marker and listed in ``cut``, nothing else changed), or
quarantined by the producer with a reason; the watch never fails or lists again; the
producer stays live and ready, its metrics and log say what was cut and quarantined (by
identity, never content); and the ordinary Events before, between and after page with
exact counts. The per-category table is printed and recorded (``record_property``).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from tests.support.broker import free_port
from tests.support.fake_apiserver import FakeApiServer, make_event
from tests.support.hostile_events import (
    SEED,
    Ledger,
    Topics,
    collect,
    content_canaries,
    forged_lines,
    generate,
)
from tests.support.kafka import Namespace, ensure_namespace_topics
from tests.support.processes import herald_process
from tests.support.producer import configure_producer, kubeconfig_entry
from tests.support.scrape import scrape
from tests.support.waiting import wait_until
from tests.support.webhook_server import WebhookServer, webhook_server

pytestmark = pytest.mark.integration

CLUSTER = "fuzz-a"
TENANTS = [f"tenant-{index:02d}" for index in range(12)]
BETWEEN = "ordinary"
"""Ordinary Events created before, between and after the hostile ones."""
AFTER = "later"
"""Ordinary Events created once every hostile one was."""
WORKLOADS = ("cart", "search", "ledger")
ORDINARY_EVERY = 4
"""One ordinary occurrence after every this many hostile Events."""
HEALTHY_CAUSES = {"ended", "quiet", "empty"}
"""Why a watch may restart without anything being wrong (its server-side timeout, mostly)."""


class Ordinary:
    """Kubelet BackOff Events for a few pods, created then repeated: the counts a user must see."""

    def __init__(self, api: FakeApiServer, ledger: Ledger) -> None:
        self.api, self.ledger = api, ledger
        self.names: dict[tuple[str, str], str] = {}
        self.expected: Counter[tuple[str, str]] = Counter()

    def occur(self, namespace: str, workload: str) -> None:
        key = (namespace, workload)
        if key in self.names:
            stored = self.api.bump(namespace, self.names[key])
        else:
            pod = f"{workload}-7d9c8b6f5d-x2kqp"
            body = make_event(
                len(self.names),
                namespace=namespace,
                name=pod,
                message=f"Back-off restarting failed container app in pod {pod}",
            )
            stored = self.api.create_event(body)
            self.names[key] = stored["metadata"]["name"]
        self.ledger.occurred("ordinary", stored)
        self.expected[key] += 1


def delivered(server: WebhookServer) -> dict[tuple[str, str], int]:
    """Occurrences of the latest delivered version of each ordinary incident."""
    latest: dict[str, dict[str, Any]] = {}
    for request in server.accepted():
        for incident in orjson.loads(request.body)["incidents"]:
            if incident.get("namespace") not in (BETWEEN, AFTER):
                continue
            known = latest.get(incident["fingerprint"])
            if known is None or incident["version"] > known["version"]:
                latest[incident["fingerprint"]] = incident
    return {(i["namespace"], i["workload"]): i["occurrences"] for i in latest.values()}


def wait_for_incidents(server: WebhookServer, expected: dict[tuple[str, str], int]) -> None:
    try:
        wait_until(
            lambda: delivered(server) == expected,
            timeout=120,
            what=f"ordinary incidents with exactly {expected} occurrences",
        )
    except AssertionError as failure:
        failure.add_note(f"delivered: {delivered(server)}")
        raise


def metric_samples(port: int, name: str) -> dict[str, float]:
    """Every sample of ``name``, by its label text."""
    response = scrape(port, "/metrics")
    assert response is not None, "the producer's /metrics does not answer"
    found = {}
    for line in response.text.splitlines():
        if line.startswith(name + "{"):
            labels, value = line[len(name) :].rsplit(" ", 1)
            found[labels] = float(value)
    return found


def test_hostile_events_are_published_cut_or_quarantined_and_ordinary_ones_still_page(
    namespace: Namespace, tmp_path: Path, record_property: Any
) -> None:
    hostile = generate(SEED, namespaces=TENANTS)
    listed, watched = hostile[: len(hostile) // 3], hostile[len(hostile) // 3 :]
    ledger = Ledger()
    port = free_port()

    with FakeApiServer(bookmark_interval=0.5) as api, webhook_server() as server:
        ordinary = Ordinary(api, ledger)

        def create(index: int, event: Any, *, watching: bool) -> None:
            ledger.created(event.category, api.create_event(event.body))
            workload = WORKLOADS[index // ORDINARY_EVERY % len(WORKLOADS)]
            # A list shows only an Event's latest state: repeats begin once the watch runs.
            if index % ORDINARY_EVERY == 0 and (watching or (BETWEEN, workload) not in ordinary.names):
                ordinary.occur(BETWEEN, workload)

        for index, event in enumerate(listed):
            create(index, event, watching=False)
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig", context="fake")
        configure_producer(
            namespace, [kubeconfig_entry(kubeconfig, cluster=CLUSTER, context="fake")], metrics_port=port
        )
        config = yaml.safe_load(namespace.config_path.read_text())
        config["processor"].update(group_wait_seconds=2, group_interval_seconds=5, tick_seconds=0.2)
        config["receivers"] = [{"name": "hook", "type": "webhook", "url": server.url}]
        namespace.config_path.write_text(yaml.safe_dump(config))
        ensure_namespace_topics(namespace)

        with (
            herald_process(namespace.config_path, "producer", log_dir=tmp_path, name="producer") as producer,
            herald_process(namespace.config_path, "processor", log_dir=tmp_path, name="processor"),
            herald_process(
                namespace.config_path, "notifier", "--receiver", "hook", log_dir=tmp_path, name="notifier"
            ),
        ):
            wait_until(lambda: ready(port), timeout=90, what="the producer ready (listed)")
            for index, event in enumerate(watched, start=len(listed)):
                create(index, event, watching=True)
            for event in hostile:  # a recorder's repeat: the same Event, count + 1 (MODIFIED)
                if event.repeat:
                    ledger.occurred(event.category, api.bump(event.namespace, event.name))
            for workload in WORKLOADS:
                for _ in range(2):
                    ordinary.occur(AFTER, workload)

            topics: Topics = collect(
                namespace.bootstrap,
                raw_topic=namespace.topic("events.raw"),
                invalid_topic=namespace.topic("events.invalid"),
                done=lambda found: ledger.accounted(found.raw, found.quarantined),
                timeout=120,
            )
            wait_for_incidents(server, dict(ordinary.expected))
            assert producer.poll() is None, "the producer exited"
            assert ready(port), "the producer is no longer ready"
            health = scrape(port, "/healthz")
            assert health is not None, "the producer's /healthz does not answer"
            assert health.status_code == 200, health.text
            cut_metric = metric_samples(port, "herald_producer_events_cut_total")
            quarantined_metric = metric_samples(port, "herald_producer_events_quarantined_total")
            restarts = metric_samples(port, "herald_producer_watch_restarts_total")
            relists = metric_samples(port, "herald_producer_relists_total")
        assert delivered(server) == dict(ordinary.expected), "an ordinary incident changed afterwards"

    report = ledger.account(topics.raw, topics.quarantined, api="fake API server")
    print("\n" + report.table())
    record_property("hostile_events_fake_apiserver", report.as_dict())
    record_property("hostile_events_fake_apiserver_table", report.table())
    assert not report.problems, "\n".join(report.problems[:40])
    total = report.total
    assert total.lost == 0
    assert total.doubled == 0
    assert total.cut > 0, "the generator no longer exercises cutting"
    assert total.quarantined > 0, "the generator no longer exercises the quarantine"

    # The metrics say what happened: every cut occurrence, every quarantined one by reason.
    assert sum(cut_metric.values()) == total.cut, (cut_metric, total.cut)
    by_reason = Counter(
        {labels.split('reason="')[1].split('"')[0]: int(v) for labels, v in quarantined_metric.items() if v}
    )
    assert by_reason == total.reasons, (quarantined_metric, total.reasons)
    troubled = {
        labels: v for labels, v in restarts.items() if v and not any(c in labels for c in HEALTHY_CAUSES)
    }
    assert not troubled, f"the watch failed or restarted on hostile input: {troubled}"
    assert sum(relists.values()) == 1, f"listed again: {relists}"

    # And the log, one line per cut or quarantined occurrence, by identity, never by content.
    log = (tmp_path / "producer.log").read_text(errors="replace")
    assert not content_canaries(log), f"Event content in the producer log: {content_canaries(log)[:5]}"
    unlogged = [
        rv for rv, fate in report.fates.items() if fate != "published" and f"resourceVersion {rv})" not in log
    ]
    assert not unlogged, f"cut or quarantined but not logged: resourceVersions {unlogged}"
    # Identity is logged, but an Event's name may hold a newline: it must not forge a line.
    assert not forged_lines(log), f"an Event's name forged lines of the producer log: {forged_lines(log)}"


def ready(port: int) -> bool:
    response = scrape(port, "/readyz")
    return response is not None and response.status_code == 200
