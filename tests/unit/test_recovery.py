"""Resolved only on evidence, quiet said as quiet, news only when something changed, and a
node outage seen from its pods folded into the node's incident."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from processors.core.incident import IncidentState, Timing, labels_of, observe, recover, tick
from processors.core.inhibit import Inhibitor
from processors.core.recovery import BUILTIN_EVIDENCE, Evidence, is_node_outage_echo, scheduled_node
from schemas import Change, CleanEvent, Incident, IncidentStatus, ResolvedBy, Severity

T0 = 1_800_000_000.0
TIMING = Timing(
    group_wait=10, group_interval=60, repeat_interval=600, resolve_timeout=300, evidence_timeout=1000
)
EVIDENCE = Evidence()

FAILURES = {
    "node-not-ready": ("Node", "node-7", "NodeNotReady", "Node node-7 status is now: NodeNotReady"),
    "node-pressure": (
        "Node",
        "node-7",
        "NodeHasDiskPressure",
        "Node node-7 status is now: NodeHasDiskPressure",
    ),
    "scheduling": ("Pod", "api-7d9c8b6f5d-x2kqp", "FailedScheduling", "0/3 nodes are available"),
    "image-pull": ("Pod", "api-7d9c8b6f5d-x2kqp", "Failed", "Failed to pull image: ErrImagePull"),
    "sandbox-network": ("Pod", "api-7d9c8b6f5d-x2kqp", "FailedCreatePodSandBox", "network plugin failed"),
    "volume": ("Pod", "api-7d9c8b6f5d-x2kqp", "FailedAttachVolume", "AttachVolume.Attach failed"),
    "quota": ("ReplicaSet", "api-7d9c8b6f5d", "FailedCreate", "exceeded quota: pods"),
    "admission": ("ReplicaSet", "api-7d9c8b6f5d", "FailedCreate", "admission webhook denied the request"),
    "failed-create": ("ReplicaSet", "api-7d9c8b6f5d", "FailedCreate", "Error creating: pods is forbidden"),
}


def event(
    *,
    kind: str = "Pod",
    name: str = "api-7d9c8b6f5d-x2kqp",
    reason: str = "BackOff",
    message: str = "Back-off restarting failed container app",
    category: str = "crash-loop",
    severity: Severity = Severity.CRITICAL,
    at: float = 0.0,
    node: str | None = None,
    namespace: str | None = "shop",
) -> CleanEvent:
    moment = datetime.fromtimestamp(T0, UTC) + timedelta(seconds=at)
    workload = name.split("-7d9c8b6f5d", maxsplit=1)[0] if kind in ("Pod", "ReplicaSet") else None
    return CleanEvent(
        occurrence_id=f"c/{name}/{reason}/{at}",
        cluster="c",
        namespace=None if kind == "Node" else namespace,
        kind=kind,
        name=name,
        workload_kind="Deployment" if workload else None,
        workload_name=workload,
        node=name if kind == "Node" else node,
        reason=reason,
        type="Warning",
        message=message,
        count=1,
        first_seen=moment,
        last_seen=moment,
        category=category,
        severity=severity,
        observed_at=moment,
    )


def drive(
    steps: list[tuple[float, CleanEvent, str]], *, until: float, timing: Timing = TIMING
) -> list[Incident]:
    """Feed (time, event, how) in order, ticking every second; how is occurrence, echo or evidence."""
    state: IncidentState | None = None
    updates: list[Incident] = []
    pending = sorted(steps, key=lambda step: step[0])
    now = T0
    while now <= T0 + until:
        while pending and pending[0][0] + T0 <= now:
            _at, clean, how = pending.pop(0)
            if how == "evidence":
                if state is not None:
                    recover(state, clean, now=now, timing=timing)
            else:
                state = observe(
                    state,
                    clean,
                    now=now,
                    timing=timing,
                    echo=how == "echo",
                    has_evidence=EVIDENCE.has_evidence(clean.category),
                )
        if state is not None:
            state, update = tick(state, now=now, timing=timing)
            if update is not None:
                updates.append(update)
        now += 1
    return updates


@pytest.mark.parametrize("category", sorted(BUILTIN_EVIDENCE))
def test_each_categorys_recovery_event_resolves_it_as_recovered(category: str) -> None:
    kind, name, reason, message = FAILURES[category]
    failure = event(kind=kind, name=name, reason=reason, message=message, category=category)
    proof_reason = sorted(BUILTIN_EVIDENCE[category])[0]
    assert category in EVIDENCE.categories_proven(proof_reason)
    proof = event(kind=kind, name=name, reason=proof_reason, message="ok", category="lifecycle", at=30)
    updates = drive([(0, failure, "occurrence"), (30, proof, "evidence")], until=200)
    assert [(u.status, u.resolved_by) for u in updates] == [
        (IncidentStatus.FIRING, None),
        (IncidentStatus.RESOLVED, ResolvedBy.RECOVERY),
    ]
    closing = updates[-1]
    assert closing.recovery is not None
    assert closing.recovery.reason == proof_reason
    assert closing.emitted_at.timestamp() - T0 == 70, "at the next group interval after the last update"


def test_without_evidence_an_incident_closes_as_quiet_and_says_for_how_long() -> None:
    updates = drive([(0, event(), "occurrence")], until=400)
    closing = updates[-1]
    assert (closing.status, closing.resolved_by, closing.recovery) == (
        IncidentStatus.RESOLVED,
        ResolvedBy.QUIET,
        None,
    )
    assert closing.quiet_seconds == 300
    assert closing.changes == [Change.RESOLVED]


def test_proof_about_another_object_proves_nothing() -> None:
    kind, name, reason, message = FAILURES["image-pull"]
    failure = event(kind=kind, name=name, reason=reason, message=message, category="image-pull")
    other = event(name="api-7d9c8b6f5d-zzzzz", reason="Pulled", message="ok", category="lifecycle", at=50)
    no_repeat = replace(TIMING, repeat_interval=10_000)
    updates = drive([(0, failure, "occurrence"), (50, other, "evidence")], until=1200, timing=no_repeat)
    assert [u.resolved_by for u in updates] == [None, ResolvedBy.QUIET]
    assert updates[-1].quiet_seconds == 1000, "a category with recovery Events waits longer for one"


def test_some_objects_recovering_is_news_and_the_last_one_resolves() -> None:
    pods = ["api-7d9c8b6f5d-x2kqp", "api-7d9c8b6f5d-x2kqr"]
    fail = [
        (0, event(name=p, reason="Failed", message="ErrImagePull", category="image-pull"), "occurrence")
        for p in pods
    ]
    proofs = [
        (100, event(name=pods[0], reason="Pulled", category="lifecycle", at=100), "evidence"),
        (200, event(name=pods[1], reason="Started", category="lifecycle", at=200), "evidence"),
    ]
    updates = drive([*fail, *proofs], until=300)
    assert [(u.status, u.changes) for u in updates] == [
        (IncidentStatus.FIRING, [Change.OPENED]),
        (IncidentStatus.FIRING, [Change.RECOVERED_OBJECTS]),
        (IncidentStatus.RESOLVED, [Change.RESOLVED]),
    ]
    assert updates[-1].resolved_by is ResolvedBy.RECOVERY


def test_failing_again_before_the_recovery_message_cancels_it() -> None:
    failure = event(reason="Failed", message="ErrImagePull", category="image-pull")
    proof = event(reason="Pulled", category="lifecycle", at=20)
    again = event(reason="Failed", message="ErrImagePull", category="image-pull", at=30)
    updates = drive(
        [(0, failure, "occurrence"), (20, proof, "evidence"), (30, again, "occurrence")], until=200
    )
    assert all(u.status is IncidentStatus.FIRING for u in updates)


def test_a_two_hour_crash_loop_sends_the_first_page_and_the_closing_message() -> None:
    """kubelet's BackOff every 5 minutes for two hours, with the default timing: about 24
    messages when every count bump was news."""
    loop = [(t, event(at=t), "occurrence") for t in range(0, 7200, 300)]
    updates = drive(loop, until=7200 + 1000, timing=Timing())
    assert [(u.status, u.changes) for u in updates] == [
        (IncidentStatus.FIRING, [Change.OPENED]),
        (IncidentStatus.RESOLVED, [Change.RESOLVED]),
    ]
    assert updates[-1].occurrences == 24
    assert updates[-1].resolved_by is ResolvedBy.QUIET


def test_a_jump_in_rate_is_news() -> None:
    slow = [(t, event(at=t), "occurrence") for t in range(0, 300, 60)]
    fast = [(t, event(at=t), "occurrence") for t in range(300, 400)]
    updates = drive(slow + fast, until=420, timing=replace(TIMING, resolve_timeout=1000))
    assert Change.RATE in updates[1].changes


def node_echo(pod: str, *, node: str | None, at: float, reason: str = "NodeNotReady") -> CleanEvent:
    return event(
        name=pod, reason=reason, message="Node is not ready", category="node-not-ready", node=node, at=at
    )


def test_a_node_outage_seen_from_its_pods_is_one_incident_listing_the_workloads() -> None:
    node = event(kind="Node", name="node-7", reason="NodeNotReady", category="node-not-ready", message="x")
    pods = [f"{w}-7d9c8b6f5d-x2kqp" for w in ("cart", "search", "ledger")]
    echoes = [(1, node_echo(p, node="node-7", at=1), "echo") for p in pods]
    evictions = [
        (300, node_echo(p, node="node-7", at=300, reason="TaintManagerEviction"), "echo") for p in pods
    ]
    ready = event(kind="Node", name="node-7", reason="NodeReady", category="lifecycle", at=400)
    steps = [(0, node, "occurrence"), *echoes, *evictions, (400, ready, "evidence")]
    assert all(labels_of(c, echo=True)["workload"] == "node-7" for _t, c, how in steps if how == "echo")
    updates = drive(steps, until=600, timing=replace(TIMING, resolve_timeout=1000))
    assert [(u.status, u.resolved_by) for u in updates] == [
        (IncidentStatus.FIRING, None),
        (IncidentStatus.RESOLVED, ResolvedBy.RECOVERY),
    ], "evictions of the same workloads are no news; NodeReady closes it"
    page = updates[0]
    assert (page.node, page.labels["kind"], page.workload) == ("node-7", "Node", None)
    assert page.workloads == ["shop/cart", "shop/search", "shop/ledger"]


def test_pods_of_a_node_not_known_yet_share_one_incident_the_node_inhibits() -> None:
    unknown = [labels_of(node_echo(f"{w}-7d9c8b6f5d-x2kqp", node=None, at=0), echo=True) for w in ("a", "b")]
    assert unknown[0] == unknown[1]
    from runtime.config import DEFAULT_INHIBIT_RULES

    inhibitor = Inhibitor(DEFAULT_INHIBIT_RULES)
    node_incident = drive(
        [
            (
                0,
                event(kind="Node", name="node-7", reason="NodeNotReady", category="node-not-ready"),
                "occurrence",
            )
        ],
        until=20,
    )[0]
    inhibitor.record(node_incident)
    assert inhibitor.inhibitor_of("f" * 32, unknown[0]) == node_incident.fingerprint


def test_echo_events_are_recognised() -> None:
    assert is_node_outage_echo(node_echo("a-1", node=None, at=0))
    assert is_node_outage_echo(node_echo("a-1", node=None, at=0, reason="TaintManagerEviction"))
    assert not is_node_outage_echo(
        event(kind="Node", name="n", reason="NodeNotReady", category="node-not-ready")
    )
    cancelled = event(
        reason="TaintManagerEviction", message="Cancelling deletion of Pod shop/a", category="lifecycle"
    )
    assert not is_node_outage_echo(cancelled)


def test_the_scheduler_says_where_a_pod_runs() -> None:
    scheduled = event(reason="Scheduled", message="Successfully assigned shop/api-7d9c8b6f5d-x2kqp to node-3")
    assert scheduled_node(scheduled) == "node-3"
    other_pod = event(reason="Scheduled", message="Successfully assigned shop/other-1 to node-3")
    assert scheduled_node(other_pod) is None


def test_an_incident_on_a_node_names_the_node_incident_it_started_after() -> None:
    inhibitor = Inhibitor([], related_window=600)
    oom = event(kind="Node", name="node-3", reason="OOMKilling", category="oom", message="Killed process 1")
    node_incident = drive([(0, oom, "occurrence")], until=20)[0]
    inhibitor.record(node_incident)
    crash = event(node="node-3", at=120)
    labels = labels_of(crash)
    (related,) = inhibitor.related_to(labels, crash.first_seen.timestamp())
    assert (related.category, related.reason, related.node) == ("oom", "OOMKilling", "node-3")
    assert inhibitor.related_to(labels_of(event(node="node-4")), crash.first_seen.timestamp()) == []
    late = crash.first_seen.timestamp() + 3600
    assert inhibitor.related_to(labels, late) == [], "outside the window"


def test_a_failure_retried_slower_than_the_resolve_timeout_stays_one_incident() -> None:
    """The ReplicaSet controller retries a FailedCreate with a backoff capped near 17 minutes,
    past resolve_timeout: a category with recovery Events waits longer before closing."""
    kind, name, reason, message = FAILURES["quota"]
    retries = [
        (t, event(kind=kind, name=name, reason=reason, message=message, category="quota", at=t), "occurrence")
        for t in (0, 500, 1000)
    ]
    created = event(kind=kind, name=name, reason="SuccessfulCreate", category="lifecycle", at=1400)
    updates = drive(
        [*retries, (1400, created, "evidence")], until=1600, timing=replace(TIMING, repeat_interval=10_000)
    )
    assert [(u.status, u.resolved_by) for u in updates] == [
        (IncidentStatus.FIRING, None),
        (IncidentStatus.RESOLVED, ResolvedBy.RECOVERY),
    ]


def test_a_late_write_about_a_time_before_the_proof_does_not_reopen() -> None:
    """The scheduler writes its FailedScheduling series minutes late, about a time before
    the pod's Scheduled."""
    kind, name, reason, message = FAILURES["scheduling"]
    failure = event(kind=kind, name=name, reason=reason, message=message, category="scheduling")
    scheduled = event(kind=kind, name=name, reason="Scheduled", category="lifecycle", at=30)
    late = event(kind=kind, name=name, reason=reason, message=message, category="scheduling", at=25)
    updates = drive(
        [(0, failure, "occurrence"), (30, scheduled, "evidence"), (200, late, "occurrence")], until=400
    )
    assert [(u.status, u.resolved_by) for u in updates] == [
        (IncidentStatus.FIRING, None),
        (IncidentStatus.RESOLVED, ResolvedBy.RECOVERY),
    ]


def test_pods_of_an_unknown_node_stay_muted_when_the_node_recovers() -> None:
    """Alertmanager re-sends a target when its source resolves; the pods' echo of a node that
    recovered is over, not news: it closes unannounced."""
    inhibitor = "f" * 32
    state = observe(None, node_echo("a-7d9c8b6f5d-x2kqp", node=None, at=0), now=T0, timing=TIMING, echo=True)
    updates = []
    for second in range(0, 400):
        source = inhibitor if second < 100 else None  # the node recovers at 100 s
        state, update = tick(state, now=T0 + second, timing=TIMING, inhibitor_of=lambda _f, _l, s=source: s)
        assert state is not None
        if update is not None:
            updates.append(update)
    assert [(u.status, u.inhibited_by) for u in updates] == [
        (IncidentStatus.FIRING, inhibitor),
        (IncidentStatus.RESOLVED, inhibitor),
    ]
