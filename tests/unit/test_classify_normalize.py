from __future__ import annotations

from datetime import UTC, datetime

import pytest

from processors.core.normalize import derive_workload
from processors.core.taxonomy import BUILTIN_RULES, classify
from processors.core.validate import Processed, Rejected, validate_and_classify
from schemas import RawEnvelope, Severity, encode
from tests.support.events import TAXONOMY_CORPUS, k8s_event


@pytest.mark.parametrize(("reason", "message", "category", "severity"), TAXONOMY_CORPUS)
def test_builtin_taxonomy(reason: str, message: str, category: str, severity: Severity) -> None:
    assert classify(reason=reason, event_type="Warning", message=message) == (category, severity)


def test_the_corpus_covers_every_builtin_category() -> None:
    assert {category for _, _, category, _ in TAXONOMY_CORPUS} == {rule.category for rule in BUILTIN_RULES}


def test_unknown_reasons_keep_their_type() -> None:
    assert classify(reason="Whatever", event_type="Warning", message="") == ("other", Severity.WARNING)
    assert classify(reason="Whatever", event_type="Normal", message="") == ("other", Severity.INFO)


@pytest.mark.parametrize(
    ("kind", "name", "expected"),
    [
        ("Pod", "checkout-7d9c8b6f5d-x2kqp", ("Deployment", "checkout")),
        ("Pod", "postgres-0", ("StatefulSet", "postgres")),
        ("Pod", "backup-29112345-abcde", ("CronJob", "backup")),
        ("Pod", "fluentd-x2kqp", (None, "fluentd")),
        ("ReplicaSet", "ledger-84d5f7c9b8", ("Deployment", "ledger")),
        ("Job", "backup-29112345", ("CronJob", "backup")),
        ("Deployment", "web", ("Deployment", "web")),
        ("Node", "node-a", (None, None)),
    ],
)
def test_workload_derivation(kind: str, name: str, expected: tuple[str | None, str | None]) -> None:
    assert derive_workload(kind, name) == expected


def raw(event: dict[str, object], **fields: object) -> bytes:
    base: dict[str, object] = {
        "cluster": "c1",
        "producer_id": "p",
        "observed_at": datetime(2026, 11, 27, 9, tzinfo=UTC),
        "observation": "ADDED",
        "event": event,
    }
    base.update(fields)
    return encode(RawEnvelope.model_validate(base))


def test_valid_event_is_normalized() -> None:
    outcome = validate_and_classify(raw(k8s_event(3, name="web-7d9c8b6f5d-x2kqp", count=4)))
    assert isinstance(outcome, Processed)
    clean = outcome.clean
    assert (clean.cluster, clean.namespace, clean.kind, clean.workload_name) == ("c1", "shop", "Pod", "web")
    assert clean.count == 4
    assert clean.node == "node-a"
    assert clean.category == "crash-loop"


def test_events_api_v1_is_normalized_to_the_same_fields() -> None:
    event = {
        "metadata": {"uid": "u", "resourceVersion": "9", "namespace": "ns"},
        "regarding": {"kind": "Pod", "name": "db-0", "namespace": "ns"},
        "note": "Readiness probe failed",
        "reason": "Unhealthy",
        "type": "Warning",
        "reportingController": "kubelet",
        "eventTime": "2026-11-27T08:00:00.000000Z",
        "series": {"count": 7, "lastObservedTime": "2026-11-27T08:05:00.000000Z"},
    }
    outcome = validate_and_classify(raw(event, api="events.k8s.io/v1"))
    assert isinstance(outcome, Processed)
    assert outcome.clean.message == "Readiness probe failed"
    assert outcome.clean.count == 7
    assert outcome.clean.workload_kind == "StatefulSet"


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (None, "empty"),
        (b"garbage", "not-json"),
        (b'{"schema":"herald.raw-event","v":1}', "invalid"),
    ],
)
def test_bad_input_is_rejected_with_a_reason(payload: bytes | None, reason: str) -> None:
    outcome = validate_and_classify(payload)
    assert isinstance(outcome, Rejected)
    assert outcome.reason == reason


def test_malformed_event_inside_a_valid_envelope_is_rejected() -> None:
    event = k8s_event(1)
    event["count"] = "many"
    event["lastTimestamp"] = {"not": "a time"}
    outcome = validate_and_classify(raw(event))
    assert isinstance(outcome, Rejected)
    assert outcome.reason == "invalid-event"
    assert "count" in outcome.error


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"lastTimestamp": "9999-12-31T23:59:59-23:59"}, "last_seen"),  # past year 9999 in UTC
        ({"firstTimestamp": "0001-01-01T00:00:00+01:00"}, "first_seen"),  # before year 1 in UTC
        ({"count": "18446744073709551616"}, "count"),  # parses, but no JSON writer takes it
        ({"count": 2**64 - 1}, "count"),
    ],
)
def test_event_values_out_of_range_are_rejected_not_raised(change: dict[str, object], field: str) -> None:
    outcome = validate_and_classify(raw({**k8s_event(1), **change}))
    assert isinstance(outcome, Rejected)
    assert (outcome.reason, outcome.error.split(":")[0]) == ("invalid-event", field)


def test_a_bug_met_by_input_is_rejected_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise KeyError("surprise")

    monkeypatch.setattr("processors.core.validate.normalize", broken)
    outcome = validate_and_classify(raw(k8s_event(1)))
    assert isinstance(outcome, Rejected)
    assert outcome.reason == "processor-error"
    assert "KeyError" in outcome.error


@pytest.mark.parametrize(
    "change",
    [
        {"involvedObject": {"kind": "Pod", "namespace": "shop", "name": "w" * 254}},
        {"involvedObject": {"kind": "Pod", "namespace": "n" * 64, "name": "web-0"}},
        {"source": {"host": "h" * 254}},
        {"reason": "R" * 254},
    ],
)
def test_names_longer_than_kubernetes_allows_are_rejected(change: dict[str, object]) -> None:
    outcome = validate_and_classify(raw({**k8s_event(1), **change}))
    assert isinstance(outcome, Rejected)
    assert outcome.reason == "invalid-event"
    assert "at most" in outcome.error
