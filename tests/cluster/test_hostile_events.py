"""Hostile Events through the real kube-apiserver, the producer, processor and notifier.

First a 1 MB Event between ordinary kubelet BackOff Events: the ordinary ones page with
exact counts, the big one reaches ``events.raw`` cut (or the quarantine topic), and the
producer's metrics and log say so. A 1 MB message is larger than a Kafka record may be by
default: a producer that did not bound it would be refused by the client
(MSG_SIZE_TOO_LARGE) and, before issue 15, stopped watching.

Then every Event of the seeded hostile generator (tests/support/hostile_events.py) is
POSTed as a client would send it. The API server refuses some (its validation, etcd's
1.5 MiB limit): those are counted and reported, not hidden. Every occurrence it stored is
accounted for, per category: on ``events.raw`` within its bounds, or quarantined by the
producer with a reason; later ordinary Events still page with exact counts.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
import pytest
import yaml
from kubernetes.client import ApiClient, CoreV1Api

from schemas.bounds import original_size
from tests.cluster.kube import ControlPlane, kubelet_event, now, watch_cluster
from tests.support.broker import free_port
from tests.support.hostile_events import (
    ONE_MB_MESSAGE,
    SEED,
    HostileEvent,
    Ledger,
    Topics,
    collect,
    content_canaries,
    forged_lines,
    generate,
)
from tests.support.kafka import Namespace
from tests.support.processes import herald_process
from tests.support.scrape import scrape
from tests.support.waiting import observe_for, wait_until
from tests.support.webhook_server import WebhookServer, webhook_server

pytestmark = pytest.mark.e2e

CLUSTER = "hostile-cluster"
TENANTS = 6
ORDINARY_EVERY = 8
"""One ordinary occurrence after every this many hostile Events."""
BIG = "big-between-ordinary"
HEALTHY_CAUSES = {"ended", "quiet", "empty"}


class RealApi:
    """POST and PATCH Events as raw JSON through the client's own authenticated connection
    pool: the request body is exactly the generator's, and a refusal is an answer, not an
    exception."""

    def __init__(self, client: ApiClient) -> None:
        self.client = client
        self.headers = {"Accept": "application/json"}
        for setting in client.configuration.auth_settings().values():
            if setting.get("in") == "header" and setting.get("value"):
                self.headers[setting["key"]] = setting["value"]

    def request(self, method: str, path: str, body: bytes, content_type: str) -> tuple[int, dict[str, Any]]:
        response = self.client.rest_client.pool_manager.request(
            method,
            self.client.configuration.host + path,
            body=body,
            headers={**self.headers, "Content-Type": content_type},
            timeout=120,
        )
        return response.status, orjson.loads(response.data or b"{}")

    def create(self, namespace: str, body: bytes) -> tuple[int, dict[str, Any]]:
        return self.request("POST", f"/api/v1/namespaces/{namespace}/events", body, "application/json")

    def repeat(self, obj: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """The recorder's PATCH of a repeated Event: count + 1, a new lastTimestamp."""
        count = obj.get("count")
        patch = {"count": max(count, 0) + 1 if isinstance(count, int) else 1, "lastTimestamp": now()}
        meta = obj["metadata"]
        path = f"/api/v1/namespaces/{meta['namespace']}/events/{quote(meta['name'], safe='')}"
        return self.request("PATCH", path, orjson.dumps(patch), "application/merge-patch+json")


def refusal(status: int, answer: dict[str, Any]) -> str:
    """How the API server refused a request: status, reason and the first cause's field."""
    causes = (answer.get("details") or {}).get("causes") or [{}]
    where = causes[0].get("field") or ""
    reason = answer.get("reason") or "(no reason given)"
    return f"{status} {reason}{f' {where}' if where else ''}"


class Ordinary:
    """Kubelet BackOff Events for a few pods, created then repeated: the counts a user must see."""

    def __init__(self, api: RealApi, ledger: Ledger, namespace: str) -> None:
        self.api, self.ledger, self.namespace = api, ledger, namespace
        self.stored: dict[str, dict[str, Any]] = {}
        self.expected: Counter[str] = Counter()

    def occur(self, workload: str) -> None:
        if workload in self.stored:
            status, obj = self.api.repeat(self.stored[workload])
        else:
            pod = f"{workload}-5f7c9d8b6-q2xzt"
            event = kubelet_event(
                self.namespace,
                pod,
                reason="BackOff",
                message=f"Back-off restarting failed container app in pod {pod}_{self.namespace}",
            )
            status, obj = self.api.create(self.namespace, orjson.dumps(event))
        assert status in (200, 201), f"an ordinary Event was refused: {refusal(status, obj)}"
        self.stored[workload] = obj
        self.ledger.occurred("ordinary", obj)
        self.expected[workload] += 1


def delivered(server: WebhookServer, namespace: str) -> dict[str, int]:
    """Occurrences of the latest delivered version of each incident of ``namespace``, by workload."""
    latest: dict[str, dict[str, Any]] = {}
    for request in server.accepted():
        for incident in orjson.loads(request.body)["incidents"]:
            if incident.get("namespace") != namespace:
                continue
            known = latest.get(incident["fingerprint"])
            if known is None or incident["version"] > known["version"]:
                latest[incident["fingerprint"]] = incident
    return {i["workload"]: i["occurrences"] for i in latest.values()}


def metric_samples(port: int, name: str) -> dict[str, float]:
    response = scrape(port, "/metrics")
    assert response is not None, "the producer's /metrics does not answer"
    found = {}
    for line in response.text.splitlines():
        if line.startswith(name + "{"):
            labels, value = line[len(name) :].rsplit(" ", 1)
            found[labels] = float(value)
    return found


def status(port: int, path: str) -> int | None:
    response = scrape(port, path)
    return None if response is None else response.status_code


@dataclass
class Scene:
    """One run's pieces: the API, what was created, the webhook and the producer's port and log."""

    api: RealApi
    ledger: Ledger
    ordinary: Ordinary
    server: WebhookServer
    kafka: Namespace
    port: int
    log_path: Path

    @property
    def kubelet(self) -> str:
        return self.ordinary.namespace

    def read(self, done: Callable[[Topics], bool], *, timeout: float, settle: float = 3.0) -> Topics:
        return collect(
            self.kafka.bootstrap,
            raw_topic=self.kafka.topic("events.raw"),
            invalid_topic=self.kafka.topic("events.invalid"),
            done=done,
            timeout=timeout,
            settle=settle,
        )

    def wait_for_incidents(self, expected: dict[str, int], *, only: set[str] | None = None) -> None:
        def current() -> dict[str, int]:
            found = delivered(self.server, self.kubelet)
            return {w: n for w, n in found.items() if only is None or w in only}

        try:
            wait_until(lambda: current() == expected, timeout=240, what=f"incidents {expected}")
        except AssertionError as failure:
            failure.add_note(f"delivered: {delivered(self.server, self.kubelet)}")
            raise

    def big_between_ordinary(self) -> str:
        """A 1 MB Event between ordinary ones; returns its fate (cut or quarantined)."""
        for workload in ("cart", "search", "cart"):
            self.ordinary.occur(workload)
        canary = "kh-canary-9999"
        big = kubelet_event(
            self.kubelet, "noisy-6c8d7f9b5-h7xkq", reason="BackOff", message=canary + "x" * ONE_MB_MESSAGE
        )
        code, stored = self.api.create(self.kubelet, orjson.dumps(big))
        assert code == 201, f"the API server refused the 1 MB Event: {refusal(code, stored)}"
        self.ledger.created(BIG, stored)
        for workload in ("search", "cart", "search"):
            self.ordinary.occur(workload)
        first = {"cart": 3, "search": 3}
        self.wait_for_incidents(first, only=set(first))
        observe_for(3)
        self.wait_for_incidents(first, only=set(first))

        rv = stored["metadata"]["resourceVersion"]
        found = self.read(lambda topics: rv in big_fate(topics, self.ledger), timeout=60, settle=0)
        fate = big_fate(found, self.ledger).get(rv)
        assert fate is not None, "the 1 MB Event is neither on the raw topic nor quarantined"
        log = self.log_path.read_text(errors="replace")
        said = [line for line in log.splitlines() if f"resourceVersion {rv})" in line]
        assert canary not in log, "the 1 MB Event's content is in the producer log"
        if fate == "cut":
            cut = sum(metric_samples(self.port, "herald_producer_events_cut_total").values())
            assert cut >= 1, "herald_producer_events_cut_total does not count the cut Event"
            assert any("cut" in line and "message" in line for line in said), said or log[-2000:]
            self.wait_for_incidents({**first, "noisy": 1})  # the cut Event pages too
        else:
            quarantined = metric_samples(self.port, "herald_producer_events_quarantined_total")
            assert sum(quarantined.values()) >= 1, (
                "herald_producer_events_quarantined_total does not count it"
            )
            assert any("quarantined" in line for line in said), said or log[-2000:]
        return fate

    def hostile(self, events: list[HostileEvent]) -> dict[str, list[str]]:
        """POST every generated Event, an ordinary one after every few; then the repeats.
        Returns the API server's refusals by category."""
        refusals: dict[str, list[str]] = defaultdict(list)
        accepted: list[tuple[HostileEvent, dict[str, Any]]] = []
        for index, event in enumerate(events):
            code, answer = self.api.create(event.namespace, event.json())
            if code == 201:
                self.ledger.created(event.category, answer)
                accepted.append((event, answer))
            else:
                self.ledger.refused(event.category, refusal(code, answer))
                refusals[event.category].append(f"{refusal(code, answer)}: {answer.get('message', '')}"[:300])
            if index % ORDINARY_EVERY == 0:
                self.ordinary.occur("ledger")
        for event, stored in accepted:
            if event.repeat:
                code, answer = self.api.repeat(stored)
                if code == 200:
                    self.ledger.occurred(event.category, answer)
                else:
                    self.ledger.tally(event.category).refusals[f"repeat {refusal(code, answer)}"] += 1
        return refusals


def test_hostile_events_through_the_real_api_server(
    control_plane: ControlPlane, namespace: Namespace, tmp_path: Path, record_property: Any
) -> None:
    client = control_plane.client()
    core, api = CoreV1Api(client), RealApi(client)
    run = uuid.uuid4().hex[:6]
    kubelet = f"kubelet-{run}"
    tenants = [f"tenant-{run}-{index}" for index in range(TENANTS)]
    for name in [kubelet, *tenants]:
        core.create_namespace({"metadata": {"name": name}})
    hostile = generate(SEED, namespaces=tenants, tag=f"{run}-")
    ledger = Ledger()
    port = free_port()

    with webhook_server() as server:
        watch_cluster(namespace, control_plane, cluster=CLUSTER, metrics_port=port)
        config = yaml.safe_load(namespace.config_path.read_text())
        config["processor"].update(group_wait_seconds=2, group_interval_seconds=5, tick_seconds=0.2)
        config["receivers"] = [{"name": "hook", "type": "webhook", "url": server.url}]
        namespace.config_path.write_text(yaml.safe_dump(config))
        scene = Scene(
            api, ledger, Ordinary(api, ledger, kubelet), server, namespace, port, tmp_path / "producer.log"
        )

        with (
            herald_process(namespace.config_path, "producer", log_dir=tmp_path, name="producer") as producer,
            herald_process(namespace.config_path, "processor", log_dir=tmp_path, name="processor"),
            herald_process(
                namespace.config_path, "notifier", "--receiver", "hook", log_dir=tmp_path, name="notifier"
            ),
        ):
            wait_until(lambda: status(port, "/readyz") == 200, timeout=120, what="the producer ready")
            big = scene.big_between_ordinary()
            refusals = scene.hostile(hostile)
            for _ in range(2):
                scene.ordinary.occur("profile")  # after every hostile one
            topics = scene.read(lambda found: ledger.accounted(found.raw, found.quarantined), timeout=240)
            scene.wait_for_incidents({**scene.ordinary.expected, **({"noisy": 1} if big == "cut" else {})})
            assert producer.poll() is None, "the producer exited"
            assert status(port, "/readyz") == 200, "the producer is no longer ready"
            assert status(port, "/healthz") == 200, "the producer is no longer live"
            cut_metric = metric_samples(port, "herald_producer_events_cut_total")
            quarantined_metric = metric_samples(port, "herald_producer_events_quarantined_total")
            restarts = metric_samples(port, "herald_producer_watch_restarts_total")
            relists = sum(metric_samples(port, "herald_producer_relists_total").values())

    # A compaction (every 5 minutes) can expire the watch: the producer lists again and
    # publishes the listed Events a second time, which the processor's dedup absorbs.
    report = ledger.account(
        topics.raw, topics.quarantined, api="real kube-apiserver", allow_repeats=relists > 1
    )
    print("\n" + report.table())
    for category, messages in sorted(refusals.items()):
        print(f"refused {category}: " + " | ".join(sorted(set(messages))))
    record_property("hostile_events_kube_apiserver", report.as_dict())
    record_property("hostile_events_kube_apiserver_table", report.table())
    record_property("hostile_events_kube_apiserver_refusals", dict(refusals))
    assert not report.problems, "\n".join(report.problems[:40])
    total = report.total
    assert total.lost == 0
    assert total.occurrences > total.refused, "the API server refused nearly everything"

    # Other Events of the shared control plane may be cut or quarantined too: at least ours.
    assert sum(cut_metric.values()) >= total.cut, (cut_metric, total.cut)
    quarantined = Counter(
        {labels.split('reason="')[1].split('"')[0]: int(v) for labels, v in quarantined_metric.items() if v}
    )
    assert all(quarantined[reason] >= n for reason, n in total.reasons.items()), (quarantined, total.reasons)
    troubled = {
        labels: v for labels, v in restarts.items() if v and not any(c in labels for c in HEALTHY_CAUSES)
    }
    assert set(troubled) <= {f'{{cause="expired",cluster="{CLUSTER}"}}'}, f"the watch failed: {troubled}"

    log = scene.log_path.read_text(errors="replace")
    assert not content_canaries(log), f"Event content in the producer log: {content_canaries(log)[:5]}"
    unlogged = [
        rv for rv, fate in report.fates.items() if fate != "published" and f"resourceVersion {rv})" not in log
    ]
    assert not unlogged, f"cut or quarantined but not logged: resourceVersions {unlogged}"
    # Identity is logged, but an Event's name may hold a newline: it must not forge a line.
    assert not forged_lines(log), f"an Event's name forged lines of the producer log: {forged_lines(log)}"


def big_fate(topics: Topics, ledger: Ledger) -> dict[str, str]:
    """The fate of the 1 MB Event so far: cut (on events.raw, its message cut) or quarantined."""
    fates = {}
    for envelope, _size in topics.raw:
        rv = str(envelope.event["metadata"].get("resourceVersion"))
        stored = ledger.stored.get(rv)
        if stored is not None and stored.category == BIG:
            message = envelope.event.get("message")
            cut = [c for c in envelope.cut if c.field == "message" and c.action == "cut"]
            assert isinstance(message, str), "the big Event's message is gone"
            assert original_size(message) == len(stored.obj["message"]), (
                "its message is not cut with the marker"
            )
            assert cut, f"its cut does not list the message: {envelope.cut}"
            assert cut[0].bytes == len(stored.obj["message"])
            fates[rv] = "cut"
    for record in topics.quarantined:
        found = ledger.match_quarantined(record) if record.stage == "producer.watch" else None
        if found is not None and found.category == BIG:
            assert record.reason, "quarantined without a reason"
            fates[found.resource_version] = "quarantined"
    return fates
