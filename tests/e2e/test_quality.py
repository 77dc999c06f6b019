"""The quality scenarios through the real pipeline: what an on-call engineer is paged for.

One run of the scenario day of tests/support/scenarios.py (three clusters; a day-long image
pull failure, a two-hour crash loop, a node outage, ...) through producer, processor and a
WeCom and a Slack notifier, on the real broker, at 720 times real time with every timing
setting scaled alike (bench/quality.py: about three minutes in all), feeds every test here.
`make quality` runs the same and writes the table to docs/benchmarks.md.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import sys

import pytest

from bench.quality import DEFAULT_SCALE, Report, evaluate, markdown, run_world
from runtime.config import ProcessorSettings
from tests.support.kafka import make_namespace
from tests.support.scenarios import HOUR, MINUTE, SCENARIO_NAMES, Cluster, Obj, build_world

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def report(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Report:
    work = tmp_path_factory.mktemp("quality")
    world = build_world()
    scale = float(os.environ.get("HERALD_QUALITY_SCALE", DEFAULT_SCALE))  # lower on a slow machine
    outcome = evaluate(world, run_world(make_namespace(kafka_bootstrap, work), work, world, scale=scale))
    capture = request.config.pluginmanager.getplugin("capturemanager")
    # The table, in the run's log whatever passes.
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        sys.stdout.write("\n" + markdown(outcome))
    return outcome


@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_scenario_pages_what_it_should_and_closes_as_it_should(report: Report, name: str) -> None:
    """Every expected incident pages once per receiver, nothing else in the scenario's
    namespaces and nodes pages, no close claims a recovery no Event showed, incidents with
    built-in recovery evidence close on it, and pages name what they must."""
    result = report.result(name)
    found = {
        receiver: [
            *(f"false page: {p}" for p in result.false_pages(receiver)),
            *(f"missed page: {p}" for p in result.missed(receiver)),
            *(f"false recovery: {p}" for p in result.false_recoveries(receiver)),
            *(f"closed otherwise: {p}" for p in result.wrong_closes(receiver, strict_only=True)),
            *result.problems(receiver),
        ]
        for receiver in result.outcomes
    }
    assert found == {receiver: [] for receiver in result.outcomes}


def test_a_two_hour_crash_loop_sends_at_most_3_messages_per_receiver(report: Report) -> None:
    """With default timing (scaled): the first page, no re-page for count bumps, the close."""
    for receiver, (outcome,) in report.result("crash-loop-2h").outcomes.items():
        assert outcome.pages == 1, receiver
        assert outcome.messages <= 3, f"{receiver}: {outcome.messages} messages"
        assert outcome.closed in ("quiet", "unlabelled (quiet)"), receiver


def test_a_day_long_image_pull_failure_pages_once_then_repeats_only_at_repeat_interval(
    report: Report,
) -> None:
    """A day of ErrImagePull: the first page, one message per material change (a jump in the
    rate is one), a reminder each repeat_interval at most, and the close; never a count bump
    alone. The kubelet's spam filter drops the Pulled and Started that end it (see
    scenarios.PullOutcome), so the close can only be quiet, and must say so."""
    repeats = math.floor(24 * HOUR / ProcessorSettings().repeat_interval_seconds)
    for receiver, (outcome,) in report.result("image-pull-24h").outcomes.items():
        assert outcome.pages == 1, receiver
        assert "count" not in outcome.changes, f"{receiver}: a count bump alone was sent"
        assert outcome.changes.get("repeat", 0) <= repeats, receiver
        assert outcome.messages <= 1 + sum(outcome.changes.values()), f"{receiver}: {outcome.changes}"
        assert outcome.closed == outcome.page.closes == "quiet", receiver


def test_a_node_outage_is_one_page_naming_the_node_and_its_workloads(report: Report) -> None:
    """The node's NotReady, its pods' node-controller Events (no source.host) and the
    evictions: one page naming the node and the workloads, one recovery on NodeReady."""
    result = report.result("node-outage")
    for receiver, (outcome,) in result.outcomes.items():
        assert result.false_pages(receiver) == [], receiver
        assert outcome.pages == 1, receiver
        assert outcome.problems == [], receiver
        assert outcome.closed == "recovery", receiver


def test_receivers_refused_nothing_and_nothing_paged_outside_the_scenarios(report: Report) -> None:
    assert report.run.refused == dict.fromkeys(report.run.receipts, 0)
    assert report.run.unlinked == dict.fromkeys(report.run.receipts, 0), "every message is scored"
    assert report.unattributed == {receiver: [] for receiver in report.run.receipts}


def test_the_scenarios_repeat_events_as_client_go_recorders_write_them() -> None:
    """The library's Events repeat as on a real cluster (no pipeline needed): a repeat is a
    count bump of the same Event, past a burst of 25 one write in 5 min carries the count of
    all (the spam filter drops writes, not counts), ten messages of one reason become a
    combined Event, and the scheduler's series is finished 6 to 12 min after its last one."""
    cluster = Cluster("c", random.Random(1))
    pod = Obj("Pod", "web-0", "shop", "uid-web-0")
    kubelet = cluster.kubelet("node-1")
    for n in range(60):
        kubelet.event(n * 10.0, pod, "Warning", "BackOff", "Back-off restarting failed container app")
    writes = cluster.writes
    assert [w.verb for w in writes] == ["create"] + ["update"] * (len(writes) - 1)
    assert len({w.name for w in writes}) == 1
    assert 25 <= len(writes) < 30
    counts = [w.body["count"] for w in writes]
    assert counts[:25] == list(range(1, 26))
    assert counts == sorted(counts)
    assert counts[-1] > len(writes)

    cluster.writes.clear()
    rs = Obj("ReplicaSet", "web-7d9c8b6f5d", "shop", "uid-rs", "apps/v1")
    for n in range(12):
        cluster.recorder("replicaset-controller").event(
            n * 1.0,
            rs,
            "Warning",
            "FailedCreate",
            f'Error creating: pods "web-7d9c8b6f5d-{n:05d}" is forbidden',
        )
    messages = [w.body["message"] for w in cluster.writes]
    assert len({w.name for w in cluster.writes}) == 10
    assert messages[9].startswith("(combined from similar events): Error creating:")
    assert messages[10:] == [messages[9].replace("00009", f"{n:05d}") for n in (10, 11)]

    cluster.writes.clear()
    for at in (0.0, 1.0, 2.0, 60.0, 120.0):
        cluster.scheduler.event(at, pod, "Warning", "FailedScheduling", action="Scheduling", note="0/3 nodes")
    cluster.scheduler.close(HOUR)
    series = [(w.at, w.verb, w.body.get("series", {}).get("count")) for w in cluster.writes]
    assert series[:2] == [(0.0, "create", None), (1.0, "update", 2)]
    *_, (finished_at, verb, count) = series  # after any 30-minute refresh on the way
    assert (verb, count) == ("update", 5)
    assert 120.0 + 6 * MINUTE < finished_at <= 120.0 + 12 * MINUTE
