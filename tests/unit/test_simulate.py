from __future__ import annotations

import itertools
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processors.core.validate import Processed, validate_and_classify
from producer.simulate import (
    DEFAULT_SCENARIOS,
    SCENARIOS,
    SimulatedEvent,
    describe,
    simulate,
    to_envelope,
)
from schemas import Observation, encode

START = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")

# What each scenario is for, in the processors' taxonomy.
INTENDED = {
    "rollout": {"lifecycle"},
    "cronjob": {"lifecycle"},
    "crash-loop": {"crash-loop"},
    "image-pull": {"image-pull"},
    "oom": {"oom"},
    "failed-scheduling": {"scheduling"},
    "node-not-ready": {"node-not-ready", "eviction"},
    "probe-failure": {"probe"},
    "quota": {"quota"},
    "hostile": {"crash-loop", "probe"},
}


def run(**overrides: Any) -> list[SimulatedEvent]:
    arguments: dict[str, Any] = {
        "clusters": ["prod-eu"],
        "rate": 2.0,
        "duration": 600.0,
        "seed": 7,
        "start": START,
    }
    arguments.update(overrides)
    return list(simulate(**arguments))


@cache
def long_run() -> tuple[SimulatedEvent, ...]:
    """Six simulated hours over two clusters, shared by the volume tests."""
    return tuple(run(clusters=["prod-eu", "prod-us"], rate=0.5, duration=6 * 3600.0, seed=3))


@cache
def scenario_run(name: str) -> tuple[SimulatedEvent, ...]:
    return tuple(run(scenarios=[name], rate=1.0, duration=900.0, seed=11))


def classify(sim: SimulatedEvent) -> Processed:
    result = validate_and_classify(encode(to_envelope(sim)))
    assert isinstance(result, Processed), result
    return result


def check_stream(events: Iterable[SimulatedEvent], *, duration: float | None = None) -> int:
    """Ordering, resourceVersions and the ADDED/MODIFIED life of every Event object."""
    last_at = 0.0
    last_rv: dict[str, int] = {}
    series: dict[tuple[str, str], dict[str, Any]] = {}
    count = 0
    for sim in events:
        count += 1
        assert sim.at >= last_at
        assert duration is None or sim.at < duration
        last_at = sim.at
        event, metadata = sim.event, sim.event["metadata"]
        rv = int(metadata["resourceVersion"])
        assert rv > last_rv.get(sim.cluster, 0)
        last_rv[sim.cluster] = rv
        key = (sim.cluster, metadata["uid"])
        if sim.observation is Observation.ADDED:
            assert key not in series
            assert event["count"] == 1
            assert event["firstTimestamp"] == event["lastTimestamp"] == metadata["creationTimestamp"]
        else:
            assert sim.observation is Observation.MODIFIED
            before = series[key]
            assert metadata["name"] == before["metadata"]["name"]
            assert event["count"] == before["count"] + 1
            assert rv > int(before["metadata"]["resourceVersion"])
            assert event["involvedObject"] == before["involvedObject"]
            assert event["firstTimestamp"] == before["firstTimestamp"]
            assert metadata["creationTimestamp"] == before["metadata"]["creationTimestamp"]
            assert event["lastTimestamp"] >= before["lastTimestamp"]
        series[key] = event
    return count


def test_the_same_seed_gives_the_same_stream_and_another_seed_does_not() -> None:
    first = run(clusters=["a", "b"], seed=5)
    assert first == run(clusters=["a", "b"], seed=5)
    assert first != run(clusters=["a", "b"], seed=6)
    assert first != run(clusters=["a", "b"], seed=5, start=START + timedelta(hours=1))


def test_streams_are_ordered_with_increasing_resource_versions_and_consistent_patches() -> None:
    events = long_run()
    assert check_stream(events, duration=6 * 3600.0) == len(events)
    observations = Counter(sim.observation for sim in events)
    assert observations[Observation.ADDED] > 0
    assert observations[Observation.MODIFIED] > 0
    assert set(observations) == {Observation.ADDED, Observation.MODIFIED}
    assert {sim.cluster for sim in events} == {"prod-eu", "prod-us"}


def test_average_rate_and_warning_share_look_like_a_real_cluster() -> None:
    events = long_run()
    assert 0.6 < len(events) / (6 * 3600 * 0.5) < 1.4
    warnings = sum(sim.event["type"] == "Warning" for sim in events) / len(events)
    assert 0.08 < warnings < 0.35
    reasons = Counter(sim.event["reason"] for sim in events)
    assert reasons.most_common(1)[0][0] in {"Pulled", "Created", "Started", "ScalingReplicaSet", "Scheduled"}


def test_default_streams_are_not_hostile() -> None:
    assert "hostile" not in DEFAULT_SCENARIOS
    assert all(len(sim.event["message"]) < 2000 for sim in long_run())


def test_events_look_like_the_api_servers() -> None:
    names: set[tuple[str, str]] = set()
    for sim in run(clusters=["prod-eu", "staging"], rate=2.0, duration=1200.0):
        event, metadata, obj = sim.event, sim.event["metadata"], sim.event["involvedObject"]
        assert (event["apiVersion"], event["kind"]) == ("v1", "Event")
        assert re.fullmatch(re.escape(obj["name"]) + r"\.[0-9a-f]{16}", metadata["name"])
        if sim.observation is Observation.ADDED:
            assert (sim.cluster, metadata["name"]) not in names
            names.add((sim.cluster, metadata["name"]))
        for stamp in (metadata["creationTimestamp"], event["firstTimestamp"], event["lastTimestamp"]):
            assert RFC3339.match(stamp)
        assert event["lastTimestamp"] == (START + timedelta(seconds=int(sim.at))).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
        assert event["type"] in {"Normal", "Warning"}
        assert event["eventTime"] is None
        assert event["reportingComponent"] == event["source"]["component"]
        assert isinstance(event["reportingInstance"], str)
        assert obj["uid"]
        assert obj["apiVersion"]
        if obj["kind"] == "Node":
            assert "namespace" not in obj
            assert metadata["namespace"] == "default"
        else:
            assert obj["namespace"] == metadata["namespace"]
            assert obj["resourceVersion"].isdigit()
        if "fieldPath" in obj:
            assert re.fullmatch(r"spec\.containers\{[a-z0-9-]+\}", obj["fieldPath"])
        if event["source"]["component"] == "kubelet":
            assert event["source"]["host"] == event["reportingInstance"]


def test_every_event_passes_validation_and_pod_workloads_are_derived() -> None:
    derived: Counter[str | None] = Counter()
    for sim in run(rate=2.0, duration=900.0):
        clean = classify(sim).clean
        if clean.kind == "Pod":
            derived[clean.workload_kind] += 1
            assert clean.workload_name
            assert clean.name.startswith(f"{clean.workload_name}-")
    assert derived["Deployment"] > 0
    assert set(derived) <= {"Deployment", "StatefulSet", "CronJob"}


def test_pods_of_a_deployment_derive_that_deployment() -> None:
    events = scenario_run("rollout")
    replica_sets: dict[str, str] = {}
    for sim in events:
        if sim.event["reason"] == "ScalingReplicaSet":
            assert sim.event["involvedObject"]["kind"] == "Deployment"
            replica_set = sim.event["message"].split()[4]
            replica_sets[replica_set] = sim.event["involvedObject"]["name"]
    owner: dict[str, str] = {}
    for sim in events:
        if sim.event["reason"] in {"SuccessfulCreate", "SuccessfulDelete"}:
            replica_set = sim.event["involvedObject"]["name"]
            assert classify(sim).clean.workload_name == replica_sets[replica_set]
            if sim.event["reason"] == "SuccessfulCreate":
                owner[sim.event["message"].removeprefix("Created pod: ")] = replica_sets[replica_set]
    assert owner
    checked = 0
    for sim in events:
        pod = sim.event["involvedObject"]
        if pod["kind"] == "Pod" and pod["name"] in owner:
            clean = classify(sim).clean
            assert (clean.workload_kind, clean.workload_name) == ("Deployment", owner[pod["name"]])
            checked += 1
    assert checked > len(owner)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_each_scenario_alone_classifies_as_intended(name: str) -> None:
    events = scenario_run(name)
    assert check_stream(events) > 0
    categories = {classify(sim).clean.category for sim in events}
    assert INTENDED[name] <= categories
    assert categories <= SCENARIOS[name].categories
    assert SCENARIOS[name].summary in describe()


def test_crash_loop_backs_off_10_20_40_seconds_up_to_5_minutes() -> None:
    occurrences: dict[str, list[float]] = defaultdict(list)
    for sim in scenario_run("crash-loop"):
        if sim.event["reason"] == "BackOff":
            message = sim.event["message"]
            assert re.fullmatch(
                r"Back-off restarting failed container \S+ in pod \S+_\S+\([0-9a-f-]{36}\)", message
            )
            occurrences[sim.event["metadata"]["uid"]].append(sim.at)
    longest = max(occurrences.values(), key=len)
    assert len(longest) >= 4
    for attempt, (before, after) in enumerate(itertools.pairwise(longest)):
        expected = min(10 * 2**attempt, 300)
        assert expected <= after - before <= expected + 12


def test_scenario_messages_are_the_real_ones() -> None:
    messages = {sim.event["message"] for name in SCENARIOS for sim in scenario_run(name)}
    patterns = [
        r'Failed to pull image "registry\.example\.com/[^"]+": rpc error: code = \w+ desc = .*',
        r"Error: ErrImagePull",
        r'Back-off pulling image "registry\.example\.com/[^"]+"',
        r"Error: ImagePullBackOff",
        r"Memory cgroup out of memory: Killed process \d+ \(\S+\) .*",
        r"0/\d+ nodes are available: .*preemption: .*",
        r"Node \S+ status is now: NodeNotReady",
        r"Marking for deletion Pod [a-z-]+/[a-z0-9-]+",
        r"Readiness probe failed: HTTP probe failed with statuscode: 503",
        r'Liveness probe failed: Get "http://10\.\d+\.\d+\.\d+:\d+/healthz": context deadline exceeded.*',
        r"Container \S+ failed liveness probe, will be restarted",
        r'Error creating: pods "[a-z0-9-]+" is forbidden: exceeded quota: \S+, '
        r"requested: limits\.memory=\d+Gi, used: limits\.memory=\d+Gi, limited: limits\.memory=\d+Gi",
        r"\(combined from similar events\): Error creating: .*",
        r"Scaled (up|down) replica set [a-z0-9-]+ from \d+ to \d+",
        r"Created pod: [a-z0-9-]+",
        r"Successfully assigned [a-z-]+/[a-z0-9-]+ to \S+",
        r'Successfully pulled image "[^"]+" in [\d.]+s \([\d.]+s including waiting\)\. '
        r"Image size: \d+ bytes\.",
        r"Stopping container \S+",
    ]
    for pattern in patterns:
        assert any(re.fullmatch(pattern, message, re.DOTALL) for message in messages), pattern


def test_node_events_come_from_the_node_components() -> None:
    oom = [sim.event for sim in scenario_run("oom") if sim.event["reason"] == "OOMKilling"]
    assert oom
    assert all(
        e["involvedObject"]["kind"] == "Node" and e["source"]["component"] == "kernel-monitor" for e in oom
    )
    not_ready = [sim.event for sim in scenario_run("node-not-ready") if sim.event["reason"] == "NodeNotReady"]
    assert {e["involvedObject"]["kind"] for e in not_ready} == {"Node", "Pod"}
    assert {e["source"]["component"] for e in not_ready} == {"node-controller"}


def test_hostile_messages_carry_every_payload() -> None:
    messages = [sim.event["message"] for sim in scenario_run("hostile")]
    text = "\n".join(messages)
    for payload in ("@all", "<!channel>", '<at user_id="all">', "```", "](https://", "<script>", "节点", '"'):
        assert payload in text
    assert any("\n" in message for message in messages)
    assert max(map(len, messages)) >= 100_000


def test_a_stream_without_duration_is_endless_and_lazy() -> None:
    stream = simulate(clusters=["prod-eu"], rate=50.0, duration=None, seed=1, start=START)
    events = list(itertools.islice(stream, 3000))
    assert len(events) == 3000
    assert check_stream(events) == 3000


def test_custom_namespaces_are_used() -> None:
    events = run(namespaces=["team-a", "team-b"], duration=600.0)
    assert {sim.event["metadata"]["namespace"] for sim in events} <= {"team-a", "team-b", "default"}
    assert all(isinstance(validate_and_classify(encode(to_envelope(sim))), Processed) for sim in events)


@pytest.mark.parametrize(
    "overrides",
    [
        {"clusters": []},
        {"clusters": ["Bad_Cluster"]},
        {"clusters": "prod-eu"},
        {"rate": 0},
        {"rate": float("inf")},
        {"duration": -1.0},
        {"scenarios": ["nope"]},
        {"scenarios": []},
        {"namespaces": ["Not A Namespace"]},
        {"start": datetime(2026, 1, 1)},  # naive
    ],
)
def test_bad_arguments_fail_at_the_call(overrides: dict[str, Any]) -> None:
    arguments: dict[str, Any] = {"clusters": ["prod-eu"], "rate": 1.0, "duration": 10.0, **overrides}
    with pytest.raises((ValueError, TypeError)):
        simulate(**arguments)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=2**63),
    rate=st.floats(min_value=0.05, max_value=5.0),
    duration=st.floats(min_value=0.0, max_value=120.0),
    clusters=st.lists(
        st.sampled_from(["a", "b", "prod-eu", "k8s.lab-2"]), min_size=1, max_size=3, unique=True
    ),
    scenarios=st.none() | st.lists(st.sampled_from(sorted(SCENARIOS)), min_size=1, max_size=3),
)
def test_any_arguments_give_a_valid_ordered_stream(
    seed: int, rate: float, duration: float, clusters: list[str], scenarios: list[str] | None
) -> None:
    events = run(seed=seed, rate=rate, duration=duration, clusters=clusters, scenarios=scenarios)
    check_stream(events, duration=duration)
    assert {sim.cluster for sim in events} <= set(clusters)
    for sim in events[:50]:
        classify(sim)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**32), minutes=st.integers(min_value=0, max_value=10**6))
def test_timestamps_follow_the_start(seed: int, minutes: int) -> None:
    start = START + timedelta(minutes=minutes, microseconds=250_000)
    for sim in run(seed=seed, start=start, duration=120.0):
        expected = (start + timedelta(seconds=sim.at)).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert sim.event["lastTimestamp"] == expected
