"""Inhibition rules, the shared labels they rely on, and the aggregate's re-emission."""

from __future__ import annotations

from datetime import UTC, datetime

from processors.core.incident import IncidentState, Timing, observe, tick
from processors.core.inhibit import Inhibitor
from runtime.config import DEFAULT_INHIBIT_RULES, InhibitRule
from schemas import CleanEvent, Incident, IncidentStatus, Matcher, Severity

TIMING = Timing(group_wait=0, group_interval=60, repeat_interval=3600, resolve_timeout=300)
T0 = 1_800_000_000.0


def occurrence(
    *,
    kind: str = "Pod",
    name: str = "web-1",
    node: str = "n1",
    category: str = "crash-loop",
    namespace: str | None = "shop",
    cluster: str = "c",
    reason: str = "BackOff",
) -> CleanEvent:
    at = datetime.fromtimestamp(T0, UTC)
    return CleanEvent(
        occurrence_id=f"{cluster}/{name}/{node}/{reason}",
        cluster=cluster,
        namespace=namespace,
        kind=kind,
        name=name,
        workload_kind="Deployment" if kind == "Pod" else None,
        workload_name="web" if kind == "Pod" else None,
        node=node,
        reason=reason,
        type="Warning",
        message="m",
        count=1,
        first_seen=at,
        last_seen=at,
        category=category,
        severity=Severity.CRITICAL,
        observed_at=at,
    )


def emitted(*clean: CleanEvent, inhibitor: Inhibitor | None = None) -> tuple[IncidentState, Incident]:
    state: IncidentState | None = None
    for item in clean:
        state = observe(state, item, now=T0, timing=TIMING)
    assert state is not None
    lookup = inhibitor.inhibitor_of if inhibitor else (lambda _f, _l: None)
    new_state, update = tick(state, now=T0, timing=TIMING, inhibitor_of=lookup)
    assert new_state is not None
    assert update is not None
    return new_state, update


def node_down(node: str = "n1", cluster: str = "c") -> Incident:
    return emitted(
        occurrence(
            kind="Node",
            name=node,
            node=node,
            category="node-not-ready",
            namespace=None,
            cluster=cluster,
            reason="NodeNotReady",
        )
    )[1]


def test_a_node_incident_is_per_node_and_carries_the_labels_rules_need() -> None:
    one, other = node_down("n1"), node_down("n2")
    assert one.fingerprint != other.fingerprint
    assert one.labels["kind"] == "Node"
    assert one.labels["node"] == "n1"
    assert one.workload is None
    assert one.title == "Node not ready n1"


def test_shared_labels_are_kept_while_occurrences_agree_and_cleared_when_they_differ() -> None:
    _, same = emitted(occurrence(name="web-1"), occurrence(name="web-2"))
    assert same.labels["node"] == "n1"
    assert same.labels["reason"] == "BackOff"
    _, mixed = emitted(occurrence(name="web-1", node="n1"), occurrence(name="web-2", node="n2"))
    assert mixed.labels["node"] == ""
    assert mixed.labels["kind"] == "Deployment", "the kind label names the workload kind"


def test_default_rules_inhibit_pods_on_a_node_that_is_not_ready_and_nothing_else() -> None:
    inhibitor = Inhibitor(DEFAULT_INHIBIT_RULES)
    source = node_down("n1")
    inhibitor.record(source)
    assert emitted(occurrence(node="n1"), inhibitor=inhibitor)[1].inhibited_by == source.fingerprint
    assert emitted(occurrence(node="n2"), inhibitor=inhibitor)[1].inhibited_by is None
    assert emitted(occurrence(node="n1", cluster="d"), inhibitor=inhibitor)[1].inhibited_by is None
    spread = emitted(occurrence(name="a", node="n1"), occurrence(name="b", node="n2"), inhibitor=inhibitor)
    assert spread[1].inhibited_by is None, "pods on several nodes are not explained by one node"
    other_node = node_down("n2")
    inhibitor.record(other_node)
    assert other_node.labels["kind"] == "Node"
    assert inhibitor.inhibitor_of(other_node.fingerprint, other_node.labels) is None, "targets are not Nodes"


def test_quota_inhibits_other_failed_creations_in_its_namespace() -> None:
    inhibitor = Inhibitor(DEFAULT_INHIBIT_RULES)
    quota = emitted(occurrence(name="api-1", category="quota", reason="FailedCreate"))[1]
    inhibitor.record(quota)
    failed = emitted(
        occurrence(name="db-1", category="failed-create", reason="FailedCreate"), inhibitor=inhibitor
    )
    assert failed[1].inhibited_by == quota.fingerprint
    elsewhere = emitted(
        occurrence(name="db-1", category="failed-create", namespace="other"), inhibitor=inhibitor
    )
    assert elsewhere[1].inhibited_by is None


def test_equal_labels_must_be_present_two_empty_values_do_not_match() -> None:
    rule = InhibitRule(
        source_matchers=[Matcher.model_validate("category=a")],
        target_matchers=[Matcher.model_validate("category=b")],
        equal=["team"],
    )
    inhibitor = Inhibitor([rule])
    source = node_down()
    inhibitor.apply("s", source.model_copy(update={"labels": {"category": "a"}}))
    assert inhibitor.inhibitor_of("t", {"category": "b"}) is None
    inhibitor.apply("s", source.model_copy(update={"labels": {"category": "a", "team": "x"}}))
    assert inhibitor.inhibitor_of("t", {"category": "b", "team": "x"}) == "s"
    assert inhibitor.inhibitor_of("t", {"category": "b", "team": "y"}) is None


def test_when_the_source_resolves_the_target_is_emitted_again_uninhibited() -> None:
    inhibitor = Inhibitor(DEFAULT_INHIBIT_RULES)
    source = node_down("n1")
    inhibitor.record(source)
    state, first = emitted(occurrence(node="n1"), inhibitor=inhibitor)
    assert first.inhibited_by == source.fingerprint
    later = T0 + 5
    assert tick(state, now=later, timing=TIMING, inhibitor_of=inhibitor.inhibitor_of)[1] is None
    inhibitor.record(source.model_copy(update={"status": IncidentStatus.RESOLVED}))
    state2, again = tick(state, now=later, timing=TIMING, inhibitor_of=inhibitor.inhibitor_of)
    assert again is not None
    assert again.inhibited_by is None
    assert again.version == first.version + 1
    assert state2 is not None
    assert tick(state2, now=later + 1, timing=TIMING, inhibitor_of=inhibitor.inhibitor_of)[1] is None


def test_only_sources_and_former_sources_are_tracked() -> None:
    inhibitor = Inhibitor(DEFAULT_INHIBIT_RULES)
    source = node_down("n1")
    pod = emitted(occurrence())[1]
    assert inhibitor.tracks(source.labels, source.fingerprint)
    assert not inhibitor.tracks(pod.labels, pod.fingerprint)
    inhibitor.record(source)
    assert inhibitor.tracks({"category": "changed"}, source.fingerprint)
