"""Quality: what an on-call engineer is paged for, across a library of realistic scenarios.

    python -m bench.quality [--scale 720] [--report-only] [--no-docs]

Replays the scenarios of tests/support/scenarios.py (a crash loop, a day-long image pull
failure, an OOM kill followed by a crash loop, a quota, a registry outage in two clusters,
FailedScheduling, a node outage, a volume attach failure, readiness probes, a failed Job and
a normal rollout, on three clusters at once) through the real pipeline: one fake API server
per cluster, written to as Kubernetes' components write (tests/support/fake_apiserver.py),
watched by ``herald producer``; a ``herald processor`` worker; one ``herald notifier`` for a
WeCom group robot and one for a Slack webhook, each a local stand-in enforcing that
vendor's contract (tests/support/vendors), all on the real broker.

Time is scaled: a scenario second lasts 1/scale of a wall second (a day in two minutes at
720). Event timestamps are written on the scaled clock, as a cluster running that much faster
would stamp them, and every timing setting of the processor (group_wait, group_interval,
repeat_interval, resolve_timeout and any other ``*_seconds`` of its section but the
session, gap-probe, dedup and tick settings) is its default divided by the scale, as are the
robots' rate limits (20 messages a scenario minute for WeCom). The pipeline's own latency is
not scaled; the tick is 20 ms.

Each receiver's messages are attributed to incident updates by the link every message carries
(``notifier.link_template`` names the fingerprint and version); the updates themselves are read
from the ``alerts`` topic. Per scenario and receiver:

- pages: a firing message of an incident not paged before, or paged and closed since;
- false pages: pages of an incident no scenario expects (in the scenario's namespaces and
  nodes), and every page of an expected incident beyond its first;
- missed pages: expected incidents never paged;
- messages per incident: every message naming it (pages, updates, repeats, the close);
- false recoveries: a closing message that claims recovery (``resolved_by: recovery``, or the
  status words "RECOVERED", "RESOLVED" or "已恢复" in a message about that incident alone) for
  an incident expected to close on quiet, or before the scenario wrote its recovery evidence;
- closes: how each expected incident closed (recovery or quiet) against the scenario's
  expectation;
- time to page: from the incident's first Event to the first page, as it would be in real time:
  the default group_wait plus the pipeline's measured latency (the wall delay less the scaled
  group_wait).

It exits non-zero when a scenario has false pages, missed pages or false recoveries
(``--report-only`` reports without failing). The table is printed, written to
bench/results/quality.{md,json} and, unless ``--no-docs``, to the Quality section of
docs/benchmarks.md. tests/e2e/test_quality.py runs the same scenarios as tests.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import yaml
from confluent_kafka import Consumer, TopicPartition

from notifiers.receivers import REGISTRY
from runtime.config import ProcessorSettings
from schemas import Incident, IncidentStatus, SchemaError, decode
from tests.support.fake_apiserver import FakeApiServer
from tests.support.kafka import Namespace, ensure_namespace_topics, make_namespace
from tests.support.processes import herald_process
from tests.support.scenarios import (
    ExpectedPage,
    Scenario,
    World,
    build_world,
    render,
    warmup_event,
)
from tests.support.vendors.slack import SlackWebhook
from tests.support.vendors.wecom import ROBOT_PATH, Robot
from tests.support.waiting import wait_until
from tests.support.webhook_server import Reply, Request, webhook_server

ROOT = Path(__file__).parents[1]
RESULTS = Path(__file__).parent / "results"
DOC = ROOT / "docs" / "benchmarks.md"
SECTION = "## Quality"

DEFAULT_SCALE = 720.0
TICK_SECONDS = 0.02
UNSCALED = frozenset({"session_timeout_seconds", "gap_probe_seconds", "dedup_ttl_seconds", "tick_seconds"})
"""Processor settings that are about the machinery (Kafka sessions, dedup of Event repeats,
the timer), not about what a user is told when: left at their defaults, the tick set apart."""

RECEIVERS = ("wecom", "slack")
ROBOT_KEY = "quality-robot-key"
SLACK_PATH = "/services/T0QUALITY/B0QUALITY/quality-secret"
LINK_TEMPLATE = "https://herald.invalid/i/{{ incident.fingerprint }}/{{ incident.version }}"
LINK = re.compile(r"https://herald\.invalid/i/([0-9a-f]{8,64})/(\d+)")
RECOVERY_WORDING = re.compile(r"\bRECOVERED\b|\bRESOLVED\b|已恢复")
"""The status words that announce a recovery ("[已恢复]", "RESOLVED"): a quiet close must use
others ("not confirmed as recovered" is not a claim)."""
WARMUP_NAMESPACE = "herald-warmup"


# ---- the run ------------------------------------------------------------------------------------


def scaled_processor(scale: float) -> dict[str, float]:
    """The processor's timing settings at ``scale``: each default divided by it (those a
    validator refuses at that value keep their default)."""
    out: dict[str, float] = {"tick_seconds": TICK_SECONDS}
    for name, info in ProcessorSettings.model_fields.items():
        if not name.endswith("_seconds") or name in UNSCALED:
            continue
        default = info.get_default(call_default_factory=True)
        if isinstance(default, bool) or not isinstance(default, int | float) or default <= 0:
            continue
        try:
            ProcessorSettings.model_validate({name: default / scale})
        except ValueError:
            continue
        out[name] = default / scale
    return out


def receiver_configs(wecom_url: str, slack_url: str, scale: float) -> list[dict[str, Any]]:
    """A WeCom robot and a Slack webhook, their rate limits scaled like the clock; each reads
    its own language where receivers take one."""
    receivers: list[dict[str, Any]] = [
        {
            "name": "wecom",
            "type": "wecom",
            "url": wecom_url,
            "rate_limits": [{"messages": 20, "per_seconds": 60 / scale}],
        },
        {
            "name": "slack",
            "type": "slack",
            "url": slack_url,
            "rate_limits": [{"messages": 1, "per_seconds": 1 / scale}],
        },
    ]
    for receiver, language in zip(receivers, ("zh", "en"), strict=True):
        if "language" in REGISTRY[receiver["type"]].config_model.model_fields:
            receiver["language"] = language
    return receivers


@dataclass(frozen=True)
class Receipt:
    at: float
    """Wall clock (time.time) of the request."""
    accepted: bool
    text: str
    """Every string of the body, joined: what the channel shows."""
    refs: tuple[tuple[str, int], ...]
    """(fingerprint, version) of every incident update the message names, by its link."""


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


class Recorded:
    """A vendor's contract, with every request it answered, timed and decoded."""

    def __init__(self, contract: Any) -> None:
        self.contract = contract
        self.receipts: list[Receipt] = []
        self._lock = threading.Lock()

    def __call__(self, index: int, request: Request) -> Reply:
        at = time.time()
        status, headers, body = self.contract(index, request)
        accepted = 200 <= status < 300
        if accepted and body.startswith(b"{"):
            accepted = orjson.loads(body).get("errcode", 0) == 0
        try:
            text = "\n".join(strings(orjson.loads(request.body)))
        except orjson.JSONDecodeError:
            text = request.body.decode(errors="replace")
        refs = tuple(dict.fromkeys((fp, int(version)) for fp, version in LINK.findall(text)))
        with self._lock:
            self.receipts.append(Receipt(at, accepted, text, refs))
        return status, headers, body

    def accepted(self) -> list[Receipt]:
        with self._lock:
            return [r for r in self.receipts if r.accepted]

    def refused(self) -> int:
        with self._lock:
            return sum(not r.accepted for r in self.receipts)


class AlertsTail:
    """Every incident update on the alerts topic, read from the beginning as they come."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"quality-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
            }
        )
        self._topic = topic
        self.updates: dict[tuple[str, int], Incident] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="alerts-tail", daemon=True)

    def __enter__(self) -> AlertsTail:
        metadata = self._consumer.list_topics(self._topic, timeout=30).topics[self._topic]
        self._consumer.assign([TopicPartition(self._topic, p, 0) for p in metadata.partitions])
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(10)
        self._consumer.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            for message in self._consumer.consume(500, 0.2):
                if message.error() or not message.value():
                    continue
                try:
                    incident = decode(message.value() or b"", Incident)
                except SchemaError:
                    continue
                with self._lock:
                    self.updates[(incident.fingerprint, incident.version)] = incident

    def snapshot(self) -> dict[tuple[str, int], Incident]:
        with self._lock:
            return dict(self.updates)


@dataclass
class Run:
    """What one pass of the world through the pipeline produced."""

    scale: float
    started: float
    """Wall clock of scenario time 0."""
    processor: dict[str, float]
    updates: dict[tuple[str, int], Incident]
    receipts: dict[str, list[Receipt]]
    refused: dict[str, int]
    unlinked: dict[str, int]
    """Accepted messages that name no incident update (no link): unscorable, so a harness fault."""
    lateness: float
    """The most any write was made after its time, in wall seconds."""
    wall_seconds: float

    def wall(self, at: float) -> float:
        return self.started + at / self.scale


def _write(server: FakeApiServer, namespace: str, name: str, verb: str, body: dict[str, Any]) -> None:
    if verb == "create":
        server.create_event(body)
    else:
        server.patch_event(namespace, name, lambda obj: obj.update(body))


@contextmanager
def _pipeline(
    namespace: Namespace, work: Path, world: World, scale: float
) -> Iterator[tuple[dict[str, FakeApiServer], dict[str, Recorded], dict[str, float]]]:
    """API servers, receivers and the herald processes, configured and started."""
    robot = Recorded(Robot(ROBOT_KEY, limit=20, seconds=60 / scale))
    slack = Recorded(SlackWebhook(path=SLACK_PATH, per_seconds=1 / scale, messages=1))
    with ExitStack() as stack:
        servers = {name: stack.enter_context(FakeApiServer()) for name in world.clusters}
        kubeconfig = work / "kubeconfig"
        for name, server in servers.items():
            server.write_kubeconfig(kubeconfig, context=name)
        wecom_server = stack.enter_context(webhook_server(robot))
        slack_server = stack.enter_context(webhook_server(slack))
        processor = scaled_processor(scale)
        config = yaml.safe_load(namespace.config_path.read_text())
        config["producer"] = {
            "clusters": [
                {"cluster": name, "kubeconfig": str(kubeconfig), "context": name} for name in servers
            ],
            "linger_ms": 5,
            "checkpoint_interval_seconds": 0.5,
        }
        # The product's news (make_namespace's counting tests add count bumps).
        config["processor"].update(processor, notify_on=ProcessorSettings().notify_on)
        config["notifier"] = {"link_template": LINK_TEMPLATE, "language": "zh"}
        config["receivers"] = receiver_configs(
            f"{wecom_server.base_url}{ROBOT_PATH}?key={ROBOT_KEY}",
            f"{slack_server.base_url}{SLACK_PATH}",
            scale,
        )
        namespace.config_path.write_text(yaml.safe_dump(config))
        ensure_namespace_topics(namespace)
        path = namespace.config_path
        stack.enter_context(herald_process(path, "processor", log_dir=work, name="processor"))
        for receiver in RECEIVERS:
            stack.enter_context(
                herald_process(
                    path, "notifier", "--receiver", receiver, log_dir=work, name=f"notifier-{receiver}"
                )
            )
        stack.enter_context(herald_process(path, "producer", log_dir=work, name="producer"))
        yield servers, {"wecom": robot, "slack": slack}, processor


def _write_world(servers: dict[str, FakeApiServer], world: World, started: float, scale: float) -> float:
    """Write the world's Events, each at its time on the scaled clock that starts at ``started``;
    the latest any write came (seconds), since a late write changes what the pipeline sees."""
    lateness = 0.0

    def clock(at: float) -> datetime:
        return datetime.fromtimestamp(started + at / scale, UTC)

    for write in world.writes:
        due = started + write.at / scale
        if (wait := due - time.time()) > 0:
            time.sleep(wait)  # pacing the writes on the scaled clock, not synchronisation
        lateness = max(lateness, time.time() - due)
        body = render(write.body, clock)
        _write(servers[write.cluster], write.namespace, write.name, write.verb, body)
    return lateness


def run_world(namespace: Namespace, work: Path, world: World, *, scale: float = DEFAULT_SCALE) -> Run:
    """Write the world's Events on the scaled clock through the running pipeline; wait until
    every incident has closed and the receivers are quiet."""
    began = time.monotonic()
    topic = namespace.config.kafka.topics.alerts
    with _pipeline(namespace, work, world, scale) as (servers, receivers, processor):
        now = time.time()
        first = world.clusters[0]
        servers[first].create_event(render(warmup_event(0.0), lambda _at: datetime.fromtimestamp(now, UTC)))
        wait_until(
            lambda: all(r.accepted() for r in receivers.values()),
            timeout=240,
            interval=0.2,
            what="the pipeline to deliver a first incident to every receiver",
        )
        with AlertsTail(namespace.bootstrap, topic) as alerts:
            started = time.time() + 0.5
            lateness = _write_world(servers, world, started, scale)

            def all_closed() -> bool:
                latest: dict[str, Incident] = {}
                for incident in alerts.snapshot().values():
                    if (
                        incident.fingerprint not in latest
                        or incident.version > latest[incident.fingerprint].version
                    ):
                        latest[incident.fingerprint] = incident
                return bool(latest) and all(i.status is IncidentStatus.RESOLVED for i in latest.values())

            tail = (processor["resolve_timeout_seconds"] + processor["group_interval_seconds"]) * 3
            wait_until(all_closed, timeout=tail + 120, interval=0.5, what="every incident to close")

            def receivers_quiet() -> bool:
                last = max((r.at for rec in receivers.values() for r in rec.receipts), default=0.0)
                return time.time() - last > max(3.0, 2 * processor["group_interval_seconds"])

            wait_until(receivers_quiet, timeout=120, interval=0.5, what="the receivers to be quiet")
            updates = alerts.snapshot()
    return Run(
        scale=scale,
        started=started,
        processor=processor,
        updates=updates,
        receipts={name: rec.accepted() for name, rec in receivers.items()},
        refused={name: rec.refused() for name, rec in receivers.items()},
        unlinked={name: sum(not r.refs for r in rec.accepted()) for name, rec in receivers.items()},
        lateness=lateness,
        wall_seconds=time.monotonic() - began,
    )


# ---- scoring ------------------------------------------------------------------------------------


def subject_of(incident: Incident) -> str:
    """The workload, or for a node's own incident the node."""
    return incident.workload or incident.node or incident.labels.get("workload") or ""


def identity_of(incident: Incident) -> tuple[str, str, str]:
    return (incident.cluster, incident.category, subject_of(incident))


def claims_recovery(incident: Incident, text: str | None) -> bool:
    """Whether a closing message says the incident recovered (by its field or its words;
    the words only where the message is about this one incident)."""
    if incident.resolved_by is not None and incident.resolved_by.value == "recovery":
        return True
    return text is not None and bool(RECOVERY_WORDING.search(text))


@dataclass
class Delivery:
    at: float
    incident: Incident
    text: str | None
    """The message's text when the message is about this incident alone."""


@dataclass
class PageOutcome:
    """One expected page at one receiver."""

    page: ExpectedPage
    pages: int = 0
    messages: int = 0
    time_to_page: float | None = None
    closed: str = "open"
    """recovery, quiet, unlabelled (says recovered) or unlabelled (quiet), or open."""
    false_recoveries: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """Checks of its content: node, workloads, related, messages at most."""
    changes: dict[str, int] = field(default_factory=dict)
    """Why its messages after the first page were sent (Incident.changes), counted."""


@dataclass
class ScenarioResult:
    scenario: Scenario
    outcomes: dict[str, list[PageOutcome]] = field(default_factory=dict)
    unexpected: dict[str, list[str]] = field(default_factory=dict)
    """Pages of incidents in the scenario's namespaces and nodes that it does not expect."""

    def false_pages(self, receiver: str) -> list[str]:
        """Unexpected pages, and every page of an expected incident beyond its first."""
        again = [
            f"{describe(o.page)} paged again" for o in self.outcomes[receiver] for _ in range(o.pages - 1)
        ]
        return [*self.unexpected[receiver], *again]

    def missed(self, receiver: str) -> list[str]:
        return [describe(o.page) for o in self.outcomes[receiver] if o.pages == 0]

    def false_recoveries(self, receiver: str) -> list[str]:
        return [f for o in self.outcomes[receiver] for f in o.false_recoveries]

    def sent(self, receiver: str) -> int:
        return sum(o.pages for o in self.outcomes[receiver]) + len(self.unexpected[receiver])

    def wrong_closes(self, receiver: str, *, strict_only: bool = False) -> list[str]:
        return [
            f"{describe(o.page)}: expected {o.page.closes}, got {o.closed}"
            for o in self.outcomes[receiver]
            if o.pages and not close_matches(o) and (o.page.strict_close or not strict_only)
        ]

    def problems(self, receiver: str) -> list[str]:
        return [f"{describe(o.page)}: {p}" for o in self.outcomes[receiver] for p in o.problems]

    @property
    def failed(self) -> bool:
        return any(self.false_pages(r) or self.missed(r) or self.false_recoveries(r) for r in self.outcomes)


def close_matches(outcome: PageOutcome) -> bool:
    if outcome.page.closes == "recovery":
        return outcome.closed == "recovery"
    return outcome.closed in ("quiet", "unlabelled (quiet)")


def describe(page: ExpectedPage) -> str:
    return f"{page.cluster} {page.category} {page.subject}"


def describe_incident(incident: Incident) -> str:
    where = incident.namespace or (f"node {incident.node}" if incident.node else "")
    return f"{incident.cluster} {incident.category} {subject_of(incident)} ({where})".replace(" ()", "")


@dataclass
class Report:
    run: Run
    world: World
    results: list[ScenarioResult]
    unattributed: dict[str, list[str]]

    def result(self, name: str) -> ScenarioResult:
        return next(r for r in self.results if r.scenario.name == name)

    @property
    def failed(self) -> bool:
        return any(r.failed for r in self.results) or any(self.unattributed.values())


def deliveries(run: Run, receiver: str) -> dict[str, list[Delivery]]:
    """Per fingerprint, the messages naming each of its updates at this receiver, in order."""
    out: dict[str, list[Delivery]] = {}
    for receipt in sorted(run.receipts[receiver], key=lambda r: r.at):
        single = len({fp for fp, _ in receipt.refs}) == 1
        for fp, version in receipt.refs:
            incident = run.updates.get((fp, version))
            if incident is None:
                continue  # not (yet) read from the alerts topic: cannot happen once all closed
            out.setdefault(fp, []).append(Delivery(receipt.at, incident, receipt.text if single else None))
    return out


def episodes(messages: list[Delivery]) -> list[Delivery]:
    """The pages among an incident's messages: firing, first or after a close."""
    pages, open_ = [], False
    for message in messages:
        firing = message.incident.status is IncidentStatus.FIRING
        if firing and not open_:
            pages.append(message)
        open_ = firing
    return pages


def evaluate(world: World, run: Run) -> Report:
    expected = {page.identity: (scenario, page) for scenario in world.scenarios for page in scenario.expected}
    results = {s.name: ScenarioResult(s) for s in world.scenarios}
    unattributed: dict[str, list[str]] = {}
    group_wait = float(ProcessorSettings().group_wait_seconds)
    for receiver in run.receipts:
        for result in results.values():
            result.outcomes[receiver] = [PageOutcome(page) for page in result.scenario.expected]
            result.unexpected[receiver] = []
        unattributed[receiver] = []
        found: dict[tuple[str, str, str], list[list[Delivery]]] = {}
        for messages in deliveries(run, receiver).values():
            incident = messages[0].incident
            if incident.namespace == WARMUP_NAMESPACE:
                continue
            if identity_of(incident) in expected:
                found.setdefault(identity_of(incident), []).append(messages)
                continue
            owner = world.owner(incident.cluster, incident.namespace, incident.node or subject_of(incident))
            where = results[owner.name].unexpected[receiver] if owner else unattributed[receiver]
            where.extend(describe_incident(incident) for _ in episodes(messages))
        for result in results.values():
            for outcome in result.outcomes[receiver]:
                per_incident = found.get(outcome.page.identity, [])
                pages = sorted((p for m in per_incident for p in episodes(m)), key=lambda d: d.at)
                messages = sorted((d for m in per_incident for d in m), key=lambda d: d.at)
                outcome.pages, outcome.messages = len(pages), len(messages)
                score(outcome, messages, pages, run, group_wait)
    return Report(run, world, list(results.values()), unattributed)


def named(entry: str, workload: str) -> bool:
    """Whether a listed workload ("orders", "Deployment/orders", "orders/orders") is this one."""
    return entry == workload or entry.endswith(f"/{workload}")


def score(
    outcome: PageOutcome, messages: list[Delivery], pages: list[Delivery], run: Run, group_wait: float
) -> None:
    """Fill in one expected page's outcome at one receiver from the messages naming it."""
    page = outcome.page
    if pages:
        latency = pages[0].at - run.wall(page.opens_at) - run.processor["group_wait_seconds"]
        outcome.time_to_page = group_wait + max(0.0, latency)
        outcome.problems.extend(check_page(page, pages[0].incident))
    for message in messages:
        if not pages or message is not pages[0]:
            for change in [str(c) for c in message.incident.changes] or ["(none given)"]:
                outcome.changes[change] = outcome.changes.get(change, 0) + 1
    if page.max_messages is not None and outcome.messages > page.max_messages:
        why = ", ".join(f"{change} {count}" for change, count in sorted(outcome.changes.items()))
        outcome.problems.append(f"{outcome.messages} messages (at most {page.max_messages}; sent for: {why})")
    score_closes(outcome, [m for m in messages if m.incident.status is IncidentStatus.RESOLVED], run)


def check_page(page: ExpectedPage, first: Incident) -> Iterator[str]:
    """What the first page must name and does not."""
    if page.node and first.node != page.node:
        yield f"the page does not name node {page.node} (node: {first.node})"
    missing = [w for w in page.workloads if not any(named(entry, w) for entry in first.workloads)]
    if missing:
        yield f"the page does not list workloads {', '.join(missing)}"
    if page.related and not any(r.category == page.related for r in first.related):
        yield f"the page names no related {page.related} incident"


def score_closes(outcome: PageOutcome, closes: list[Delivery], run: Run) -> None:
    """How the page closed (its first close: a later one closes a re-page), and every close
    that claims a recovery no Event showed, or before it."""
    page = outcome.page
    for index, message in enumerate(closes):
        incident = message.incident
        claims = claims_recovery(incident, message.text)
        if index == 0:
            if incident.resolved_by is not None:
                outcome.closed = incident.resolved_by.value
            else:
                outcome.closed = "unlabelled (says recovered)" if claims else "unlabelled (quiet)"
        if not claims:
            continue
        if page.closes == "quiet":
            outcome.false_recoveries.append(f"{describe(page)}: recovery claimed, no recovery Event exists")
        elif page.recovers_at is not None and incident.emitted_at.timestamp() < run.wall(page.recovers_at):
            early = (run.wall(page.recovers_at) - incident.emitted_at.timestamp()) * run.scale
            outcome.false_recoveries.append(
                f"{describe(page)}: recovery claimed {early / 60:.0f} min before the recovery Event"
            )


# ---- reporting ----------------------------------------------------------------------------------


def _per_receiver(values: dict[str, Any]) -> str:
    distinct = list(dict.fromkeys(str(v) for v in values.values()))
    return distinct[0] if len(distinct) == 1 else " / ".join(str(values[r]) for r in values)


def _minutes(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _wall(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.3g} s"


def table(report: Report) -> list[str]:
    receivers = list(report.run.receipts)
    lines = [
        f"| scenario | pages expected / sent ({' / '.join(receivers)} where they differ) | false pages "
        "| missed pages | messages per incident | false recoveries | closed as expected | time to page |",
        "|---|---:|---:|---:|---|---:|---|---:|",
    ]
    for result in report.results:
        expected = len(result.scenario.expected)
        sent = _per_receiver({r: result.sent(r) for r in receivers})
        false = _per_receiver({r: len(result.false_pages(r)) for r in receivers})
        missed = _per_receiver({r: len(result.missed(r)) for r in receivers})
        recoveries = _per_receiver({r: len(result.false_recoveries(r)) for r in receivers})
        messages = ", ".join(
            f"{o.page.subject} {_per_receiver({r: result.outcomes[r][i].messages for r in receivers})}"
            for i, o in enumerate(result.outcomes[receivers[0]])
        )
        closes = _per_receiver({r: sum(close_matches(o) for o in result.outcomes[r]) for r in receivers})
        worst = max(
            (o.time_to_page for r in receivers for o in result.outcomes[r] if o.time_to_page is not None),
            default=None,
        )
        mark = " **failed**" if result.failed else ""
        lines.append(
            f"| {result.scenario.name}{mark} | {expected} / {sent} | {false} | {missed} | {messages or '–'} "
            f"| {recoveries} | {closes} of {expected} | {_minutes(worst)} |"
        )
    return lines


def problems(report: Report) -> list[str]:
    lines: list[str] = []
    for result in report.results:
        for receiver in report.run.receipts:
            found = [
                *(f"false page: {p}" for p in result.false_pages(receiver)),
                *(f"missed page: {p}" for p in result.missed(receiver)),
                *(f"false recovery: {p}" for p in result.false_recoveries(receiver)),
                *(f"closed otherwise: {p}" for p in result.wrong_closes(receiver)),
                *result.problems(receiver),
            ]
            lines.extend(f"- {result.scenario.name} ({receiver}): {p}" for p in dict.fromkeys(found))
    for receiver, found in report.unattributed.items():
        lines.extend(f"- ({receiver}): false page outside every scenario: {p}" for p in found)
    return lines


def summary(report: Report) -> str:
    receivers = list(report.run.receipts)
    expected = sum(len(r.scenario.expected) for r in report.results)
    part = {
        r: (
            sum(x.sent(r) for x in report.results) + len(report.unattributed[r]),
            sum(len(x.false_pages(r)) for x in report.results) + len(report.unattributed[r]),
            sum(len(x.missed(r)) for x in report.results),
            sum(len(x.false_recoveries(r)) for x in report.results),
            sum(close_matches(o) for x in report.results for o in x.outcomes[r]),
        )
        for r in receivers
    }
    run = report.run
    return (
        f"{len(report.results)} scenarios, {expected} pages expected; "
        + "; ".join(
            f"{r}: {sent} sent, {false} false, {missed} missed, {recov} false recoveries, "
            f"{closes}/{expected} closed as expected, {run.refused[r]} refused"
            + (f", {run.unlinked[r]} naming no incident" if run.unlinked[r] else "")
            for r, (sent, false, missed, recov, closes) in part.items()
        )
        + f". {report.world.ends_at / 3600:.1f} scenario hours at scale {run.scale:.0f} in "
        f"{run.wall_seconds:.0f} s (writes at most {run.lateness * 1000:.0f} ms late)."
    )


def markdown(report: Report) -> str:
    run = report.run
    settings = ", ".join(
        f"{name.removesuffix('_seconds')} {value * run.scale:g} s → {_wall(value)}"
        for name, value in sorted(run.processor.items())
        if name != "tick_seconds"
    )
    lines = [
        SECTION,
        "",
        "Generated by `make quality` (`python -m bench.quality`, bench/quality.py: what it runs and how it "
        "scores); do not edit. The same scenarios run in `make test` as tests/e2e/test_quality.py.",
        "",
        f"Run of {datetime.now(UTC):%Y-%m-%d}: {summary(report)}",
        "",
        f"Timing at scale {run.scale:.0f} (default → wall): {settings}; "
        f"tick {run.processor['tick_seconds'] * 1000:g} ms. Receivers: a WeCom group robot (20 messages "
        "a scenario minute) and a Slack webhook (one a scenario second), each its vendor's contract.",
        "",
        *table(report),
        "",
        "Pages are firing messages of an incident not paged before (or closed since); false pages, "
        "pages of incidents no scenario expects in its namespaces and nodes and re-pages of expected "
        "ones; messages per incident, every message naming it; a false recovery, a close claiming "
        "recovery (`resolved_by: recovery`, or RECOVERED / RESOLVED / 已恢复) with no recovery Event "
        "or before it; closed as expected, on recovery evidence where Kubernetes writes one, on quiet "
        "otherwise; time to page, from the incident's first Event, in real time (group_wait plus the "
        "pipeline's measured latency, slowest receiver).",
        "",
    ]
    found = problems(report)
    if found:
        lines += ["What failed, or closed otherwise than expected:", "", *found, ""]
    lines += ["The scenarios (tests/support/scenarios.py):", ""]
    lines += [f"- **{r.scenario.name}**: {r.scenario.summary}." for r in report.results]
    return "\n".join(lines).rstrip() + "\n"


def quality_section(text: str) -> str:
    """The Quality section of a benchmarks document (empty if it has none): what `make bench`
    keeps when it writes the rest of the document anew."""
    start = text.find(f"\n{SECTION}\n")
    if start < 0:
        return ""
    end = text.find("\n## ", start + len(SECTION) + 2)
    return text[start + 1 : end + 1 if end >= 0 else len(text)]


def write_docs(section: str) -> None:
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    old = quality_section(text)
    text = text.replace(old, section) if old else text.rstrip() + "\n\n" + section
    DOC.write_text(text)


def as_json(report: Report) -> dict[str, Any]:
    receivers = list(report.run.receipts)
    return {
        "bench": "quality",
        "scale": report.run.scale,
        "processor": report.run.processor,
        "wall_seconds": round(report.run.wall_seconds, 1),
        "summary": summary(report),
        "failed": report.failed,
        "scenarios": {
            r.scenario.name: {
                receiver: {
                    "pages_expected": len(r.scenario.expected),
                    "pages_sent": r.sent(receiver),
                    "false_pages": r.false_pages(receiver),
                    "missed_pages": r.missed(receiver),
                    "false_recoveries": r.false_recoveries(receiver),
                    "closed_otherwise": r.wrong_closes(receiver),
                    "problems": r.problems(receiver),
                    "incidents": {
                        describe(o.page): {
                            "pages": o.pages,
                            "messages": o.messages,
                            "closed": o.closed,
                            "sent_for": o.changes,
                            "time_to_page_seconds": o.time_to_page,
                        }
                        for o in r.outcomes[receiver]
                    },
                }
                for receiver in receivers
            }
            for r in report.results
        },
        "unattributed_false_pages": report.unattributed,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--scale", type=float, default=DEFAULT_SCALE, help="scenario seconds per wall second")
    parser.add_argument("--report-only", action="store_true", help="exit 0 whatever the scores")
    parser.add_argument("--no-docs", action="store_true", help="leave docs/benchmarks.md as it is")
    args = parser.parse_args()
    bootstrap = os.environ.get("HERALD_KAFKA_BOOTSTRAP", "127.0.0.1:19092")
    world = build_world()
    with tempfile.TemporaryDirectory(prefix="herald-quality-") as work:
        namespace = make_namespace(bootstrap, Path(work))
        run = run_world(namespace, Path(work), world, scale=args.scale)
    report = evaluate(world, run)
    section = markdown(report)
    print("\n" + section)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "quality.md").write_text(section)
    (RESULTS / "quality.json").write_text(json.dumps(as_json(report), indent=2, ensure_ascii=False) + "\n")
    with (RESULTS / "quality-messages.jsonl").open("w") as out:  # what each channel showed, to read
        for receiver, receipts in run.receipts.items():
            for receipt in receipts:
                at = (receipt.at - run.started) * run.scale
                line = {"receiver": receiver, "scenario_seconds": round(at), "updates": receipt.refs}
                out.write(json.dumps({**line, "text": receipt.text}, ensure_ascii=False) + "\n")
    if not args.no_docs:
        write_docs(section)
        print(f"wrote {DOC.relative_to(ROOT)} ({SECTION[3:]} section)")
    print("wrote bench/results/quality.md, quality.json and quality-messages.jsonl (every message)")
    if report.failed and not args.report_only:
        print("quality: a scenario has false pages, missed pages or false recoveries (see above)")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
