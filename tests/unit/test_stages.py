"""The processor's stages with a dict for each table and a list for what is published: no broker.

Dedup, classification, node binding, aggregation with exact counts across a replay, ticks,
quarantine and the offset-ordered batches, as the Faust worker runs them
(tests/integration/test_processor.py runs the same stages through a real worker).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from processors.core.incident import GROUP_LABELS, IncidentState, Timing
from processors.core.inhibit import Inhibitor
from processors.core.recovery import Evidence
from processors.delivery.contiguous import Delivered, contiguous
from processors.delivery.gaps import OffsetGaps, Record
from processors.delivery.outputs import Cause
from processors.stages import aggregate, classify
from processors.stages.quarantine import Quarantine
from processors.stages.ticks import Ticks
from runtime.config import KafkaSettings
from schemas import (
    CleanEvent,
    GroupInput,
    Incident,
    IncidentStatus,
    QuarantineRecord,
    RawEnvelope,
    Severity,
    decode,
    decode_group_input,
    encode,
)
from tests.support.events import k8s_event

T0 = 1_800_000_000.0
DEDUP_TTL = 3600.0


@dataclass
class Sent:
    topic: str
    key: bytes | None
    value: bytes | None
    causes: Sequence[Cause]


class Published:
    """The publish function a stage is given, recording what it was handed."""

    def __init__(self) -> None:
        self.sent: list[Sent] = []

    async def __call__(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        *,
        causes: Sequence[Cause] = (),
        partition: int | None = None,
        headers: Mapping[str, bytes] | None = None,
    ) -> None:
        self.sent.append(Sent(topic, key, value, causes))

    def on(self, topic: str) -> list[Sent]:
        return [sent for sent in self.sent if sent.topic == topic]


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class World:
    published: Published
    clock: Clock
    seen: dict[bytes, bytes]
    bindings: dict[bytes, bytes]
    classifier: classify.Classifier


def world(*, min_severity: Severity = Severity.WARNING) -> World:
    published, clock = Published(), Clock()
    seen: dict[bytes, bytes] = {}
    bindings: dict[bytes, bytes] = {}
    policy = classify.Policy(
        rules=(),
        evidence=Evidence(),
        group_by=GROUP_LABELS,
        min_rank=min_severity.rank,
        dedup_ttl_seconds=DEDUP_TTL,
    )
    classifier = classify.Classifier(
        seen=seen,
        bindings=bindings,
        publish=published,
        quarantine=Quarantine(published, "invalid"),
        policy=policy,
        clean_topic="clean",
        grouped_topic="grouped",
        grouped_budget=900_000,
        clock=clock,
    )
    return World(published, clock, seen, bindings, classifier)


def raw_record(event: dict[str, Any], *, offset: int, partition: int = 0, cluster: str = "prod-a") -> Record:
    envelope = RawEnvelope(
        cluster=cluster, producer_id="p1", observed_at=datetime.now(UTC), observation="ADDED", event=event
    )
    return Record(
        topic="raw",
        partition=partition,
        offset=offset,
        key=envelope.partition_key.encode(),
        value=encode(envelope),
        timestamp=T0,
    )


def crash_loop(index: int, **overrides: Any) -> dict[str, Any]:
    return k8s_event(index, name="web-7d9c8b6f5d-x2kqp", uid=f"uid-{index}", **overrides)


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def test_an_exact_repeat_is_dropped_and_a_replay_of_the_same_offset_is_not() -> None:
    w = world()
    event = crash_loop(1)
    run(w.classifier.classify([raw_record(event, offset=10)]))
    run(w.classifier.classify([raw_record(event, offset=11)]))  # a relist: same occurrence id
    assert len(w.published.on("clean")) == 1
    run(w.classifier.classify([raw_record(event, offset=10)]))  # this worker's own replay after a crash
    assert len(w.published.on("clean")) == 2, "a replay is processed again; aggregation counts it once"
    assert len(w.seen) == 1


def test_a_repeat_after_the_dedup_window_is_a_new_occurrence_and_old_ids_are_forgotten() -> None:
    w = world()
    run(w.classifier.classify([raw_record(crash_loop(1), offset=1)]))
    w.clock.now += 2 * DEDUP_TTL  # two buckets on: the id can no longer repeat
    run(w.classifier.classify([raw_record(crash_loop(2), offset=2)]))
    run(w.classifier.classify([raw_record(crash_loop(1), offset=3)]))
    assert len(w.published.on("clean")) == 3
    assert len(w.seen) == 2, "the first id was forgotten when the second was written, then seen anew"


def test_the_seen_index_is_rebuilt_from_the_table_after_a_rebalance() -> None:
    w = world()
    run(w.classifier.classify([raw_record(crash_loop(i), offset=i) for i in range(3)]))
    w.classifier.seen.reload()
    assert len(w.classifier.seen) == 3
    w.seen.clear()
    w.classifier.seen.reload()
    assert len(w.classifier.seen) == 0


def test_bad_input_is_quarantined_with_its_cause_and_nothing_else_is_published() -> None:
    w = world()
    bad = Record(topic="raw", partition=2, offset=7, key=b"k", value=b"{not json", timestamp=T0)
    run(w.classifier.classify([bad]))
    (sent,) = w.published.sent
    assert (sent.topic, sent.key) == ("invalid", b"raw/2/7")
    record = decode(sent.value or b"", QuarantineRecord)
    assert (record.stage, record.source_topic, record.partition, record.offset) == (
        "processor.validate",
        "raw",
        2,
        7,
    )
    assert record.reason == "not-json"


def test_occurrences_of_one_incident_in_a_batch_travel_in_one_grouped_message() -> None:
    w = world()
    records = [raw_record(crash_loop(i), offset=i) for i in range(5)]
    records.append(raw_record(k8s_event(9, name="db-0", uid="db", reason="OOMKilling"), offset=9))
    run(w.classifier.classify(records))
    grouped = w.published.on("grouped")
    assert len(grouped) == 2
    occurrences = {sent.key: decode_group_input(sent.value or b"").occurrences for sent in grouped}
    assert sorted(len(o) for o in occurrences.values()) == [1, 5]
    web = next(o for o in occurrences.values() if len(o) == 5)
    assert [o.source_offset for o in web] == [0, 1, 2, 3, 4]
    assert all(len(sent.causes) == len(occurrences[sent.key]) for sent in grouped)


def test_below_min_severity_is_published_clean_but_not_aggregated() -> None:
    w = world(min_severity=Severity.CRITICAL)
    run(w.classifier.classify([raw_record(k8s_event(1, reason="FailedScheduling"), offset=1)]))
    assert len(w.published.on("clean")) == 1
    assert w.published.on("grouped") == []


def test_a_pod_s_node_is_learned_from_one_event_and_given_to_the_next() -> None:
    w = world()
    run(w.classifier.classify([raw_record(crash_loop(1, host="node-7"), offset=1)]))
    run(w.classifier.classify([raw_record(crash_loop(2, host=""), offset=2)]))
    nodes = [decode(sent.value or b"", CleanEvent).node for sent in w.published.on("clean")]
    assert nodes == ["node-7", "node-7"]
    assert len(w.bindings) == 1


# -- aggregation ---------------------------------------------------------------------------------

TIMING = Timing(group_wait=0.0, group_interval=60.0, repeat_interval=3600.0, resolve_timeout=300.0)


@dataclass
class Aggregation:
    published: Published
    clock: Clock
    incidents: dict[bytes, bytes]
    aggregator: aggregate.Aggregator


def aggregation() -> Aggregation:
    published, clock = Published(), Clock()
    incidents: dict[bytes, bytes] = {}
    aggregator = aggregate.Aggregator(
        incidents=incidents,
        publish=published,
        quarantine=Quarantine(published, "invalid"),
        inhibitor=Inhibitor([]),
        policy=aggregate.Policy(
            timing=TIMING, evidence=Evidence(), group_by=GROUP_LABELS, related_window=600.0
        ),
        alerts_topic="alerts",
        inhibitors_topic="inhibitors",
        clock=clock,
    )
    return Aggregation(published, clock, incidents, aggregator)


def grouped_records(count: int, *, first_offset: int = 0) -> list[Record]:
    """What classification publishes for ``count`` crash-loop occurrences of one pod."""
    w = world()
    run(w.classifier.classify([raw_record(crash_loop(i), offset=first_offset + i) for i in range(count)]))
    return [
        Record(topic="grouped", partition=0, offset=index, key=sent.key, value=sent.value, timestamp=T0)
        for index, sent in enumerate(w.published.on("grouped"))
    ]


def alerts(published: Published) -> list[Incident]:
    return [decode(sent.value or b"", Incident) for sent in published.on("alerts")]


def test_occurrences_become_one_incident_and_a_replay_counts_nothing_twice() -> None:
    a = aggregation()
    records = grouped_records(3)
    run(a.aggregator.aggregate(Delivered.of(records)))
    (first,) = alerts(a.published)
    assert (first.status, first.occurrences, first.version) == (IncidentStatus.FIRING, 3, 1)
    run(a.aggregator.aggregate(Delivered.of(records)))  # redelivered after a crash
    run(a.aggregator.aggregate(Delivered.of(grouped_records(2, first_offset=3))))
    (stored,) = a.incidents.values()
    assert IncidentState.from_bytes(stored).occurrences == 5
    a.clock.now += TIMING.repeat_interval
    run(a.aggregator.aggregate(Delivered.of(grouped_records(1, first_offset=5))))
    assert [u.occurrences for u in alerts(a.published)] == [3, 6], "the repeat carries the exact count"


class CountingTable(dict[bytes, bytes]):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self.writes += 1
        super().__setitem__(key, value)


def test_a_batch_costs_one_table_write_and_one_update_per_incident() -> None:
    a = aggregation()
    counting = CountingTable()
    a.aggregator.incidents = counting
    messages = [grouped_records(1, first_offset=offset)[0] for offset in range(4)]
    batch = [Record("grouped", 0, index, m.key, m.value, T0) for index, m in enumerate(messages)]
    run(a.aggregator.aggregate(Delivered.of(batch)))
    assert counting.writes == 1
    assert [u.occurrences for u in alerts(a.published)] == [4]


def test_the_due_index_is_rebuilt_from_the_table_and_ticks_nominate_due_incidents() -> None:
    a = aggregation()
    run(a.aggregator.aggregate(Delivered.of(grouped_records(1))))
    a.aggregator.due.load([])
    a.aggregator.reindex()
    assert len(a.aggregator.due) == 1
    ticks = Ticks(
        incidents=a.incidents,
        due=a.aggregator.due,
        publish=a.published,
        inhibitor=a.aggregator.inhibitor,
        timing=TIMING,
        grouped_topic="grouped",
        clock=a.clock,
    )
    assert run(ticks.nominate(rebalancing=False)) == 0, "nothing is due yet"
    a.clock.now += TIMING.resolve_timeout + 1
    assert run(ticks.nominate(rebalancing=True)) == 0, "held while the tables are restored"
    assert run(ticks.nominate(rebalancing=False)) == 1
    (tick,) = a.published.on("grouped")
    assert decode_group_input(tick.value or b"").tick_at == a.clock.now
    run(a.aggregator.one(Record("grouped", 0, 99, tick.key, tick.value, a.clock.now)))
    assert alerts(a.published)[-1].status is IncidentStatus.RESOLVED


def test_an_unreadable_or_keyless_grouped_message_is_quarantined() -> None:
    a = aggregation()
    run(a.aggregator.one(Record("grouped", 1, 5, b"fp", b"[1, 2", T0)))
    run(a.aggregator.one(Record("grouped", 1, 6, None, encode(GroupInput(tick_at=T0)), T0)))
    reasons = [decode(sent.value or b"", QuarantineRecord).reason for sent in a.published.on("invalid")]
    assert reasons[1] == "no-key"
    assert len(reasons) == 2
    assert a.incidents == {}


# -- batches in offset order ----------------------------------------------------------------------


@dataclass
class Event:
    record: Record


def test_batches_enter_each_event_s_scope_and_skip_what_was_handed_already() -> None:
    gaps = OffsetGaps(KafkaSettings(), "raw")
    entered: list[int] = []

    @contextmanager
    def scope(event: Event) -> Iterator[None]:
        entered.append(event.record.offset)
        yield

    async def batches() -> Any:
        yield [Event(Record("raw", 0, offset, None, b"v", T0)) for offset in (0, 1)]
        yield [Event(Record("raw", 0, 1, None, b"v", T0)), Event(Record("raw", 0, 2, None, b"v", T0))]

    async def offsets() -> list[list[int]]:
        seen = []
        async for delivered in contiguous(batches(), gaps, record_of=lambda e: e.record, scope=scope):
            seen.append([record.offset for record in delivered])
        return seen

    assert run(offsets()) == [[0, 1], [2]]
    assert entered == [0, 1, 1, 2], "every event's scope is entered, its records (if any) inside it"


@pytest.mark.parametrize("offsets", [[0, 1, 2], [5, 6]])
def test_contiguous_offsets_need_no_read_back(offsets: list[int]) -> None:
    gaps = OffsetGaps(KafkaSettings(), "raw")
    records = [Record("raw", 0, offset, None, b"v", T0) for offset in offsets]
    delivered = [run(gaps.contiguous(record)) for record in records]
    assert delivered == [[record] for record in records]
