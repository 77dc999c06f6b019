"""Events of MB size through a real processor worker: its outputs stay within bounds.

Anything can be on the raw topic (an old producer, a replayed file, a hostile writer), up
to what the topic takes. A burst of Events with ~900 KB messages, all for one incident,
between ordinary ones: every clean event, grouped message and incident update fits, cut
text carries the marker naming its size, and every occurrence is counted exactly once. And
when a topic takes less than an output needs, the broker's refusal quarantines the input
that caused it and the worker goes on.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiokafka.partitioner import murmur2
from confluent_kafka import Message, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from processors.delivery.outputs import OUTPUT_TOO_LARGE, RECORD_OVERHEAD
from runtime.kafka import topic_config
from schemas import CleanEvent, GroupInput, Incident, QuarantineRecord, RawEnvelope, decode, encode
from schemas.bounds import MESSAGE_MAX_BYTES, STRING_MAX_BYTES, original_size, utf8_size
from schemas.topics import TOPIC_SPECS
from tests.support.broker import free_port
from tests.support.events import k8s_event
from tests.support.kafka import Namespace, ensure_namespace_topics, read_topic
from tests.support.processes import herald_process
from tests.support.scrape import metric, scrape
from tests.support.waiting import observe_for, wait_until

pytestmark = pytest.mark.integration

BIG_MESSAGE = 900_000
"""An Event message that leaves its raw envelope just under the topic's limit (~1 MB)."""
CLEAN_BOUND = MESSAGE_MAX_BYTES + 5 * STRING_MAX_BYTES
"""The most a clean event of these Events takes: the message and its few other strings, cut."""
ALERT_BOUND = 5 * CLEAN_BOUND
"""The most an incident update of these Events takes: five samples and twenty object names."""
TOPIC_LIMIT = 1_000_000
"""What each of the namespace's topics takes, as Faust's producer sees it (the broker: 1 MiB)."""
SAFE = "bcdfghjklmnpqrstvwxz2456789"
"""The alphabet of pod name suffixes."""


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


def envelope(index: int, *, workload: str, message: str, pod: str | None = None) -> tuple[bytes, bytes]:
    """(partition key, raw envelope) of one occurrence of ``workload``."""
    event = k8s_event(
        index,
        name=pod or f"{workload}-7d9c8b6f5d-{'bcdfg'[index % 5]}x2kq",
        uid=f"uid-{workload}-{index}",
        message=message,
    )
    raw = RawEnvelope(
        cluster="prod-a", producer_id="p1", observed_at=datetime.now(UTC), observation="ADDED", event=event
    )
    return raw.partition_key.encode(), encode(raw)


def big_message(index: int) -> str:
    return f"Back-off restarting failed container {index} " + "m" * BIG_MESSAGE


def produce_at(namespace: Namespace, messages: list[tuple[bytes, bytes]]) -> list[tuple[int, int]]:
    """Write to the raw topic, spread over its partitions in turn; where each one landed."""
    where: list[tuple[int, int] | None] = [None] * len(messages)
    producer = Producer({"bootstrap.servers": namespace.bootstrap, "enable.idempotence": True})
    partitions = namespace.config.kafka.partitions
    for index, (key, value) in enumerate(messages):

        def landed(error: Any, message: Message, index: int = index) -> None:
            assert error is None, error
            where[index] = (message.partition() or 0, message.offset() or 0)

        producer.produce(
            namespace.topic("events.raw"),
            key=key,
            value=value,
            partition=index % partitions,
            on_delivery=landed,
        )
        producer.poll(0)
    assert producer.flush(60) == 0
    assert all(w is not None for w in where)
    return [w for w in where if w is not None]


def messages_of(namespace: Namespace, suffix: str, *, expected: int, timeout: float = 60) -> list[Message]:
    return read_topic(
        namespace.bootstrap, namespace.topic(suffix), expected=expected, timeout=timeout, settle=3
    )


def latest_updates(namespace: Namespace) -> dict[str | None, Incident]:
    """The last update of each incident on the alerts topic, by workload."""
    latest: dict[str | None, Incident] = {}
    for message in messages_of(namespace, "alerts", expected=10**6, timeout=3):
        update = decode(message.value() or b"", Incident)
        if update.workload not in latest or update.version > latest[update.workload].version:
            latest[update.workload] = update
    return latest


def counted(namespace: Namespace, expected: dict[str, int]) -> bool:
    latest = latest_updates(namespace)
    return all(w in latest and latest[w].occurrences >= n for w, n in expected.items())


def test_a_burst_of_mb_scale_events_for_one_incident_is_counted_exactly_and_cut_to_bounds(
    namespace: Namespace, tmp_path: Path
) -> None:
    port = free_port()
    configure(namespace, metrics_port=port)
    ensure_namespace_topics(namespace)
    big = [envelope(i, workload="huge", message=big_message(i)) for i in range(12)]
    ordinary = [envelope(i, workload=w, message=f"Back-off {i}") for w in ("web", "api") for i in range(20)]
    # The big ones between ordinary ones, written before the worker starts: batches are full.
    inputs = [m for pair in zip(ordinary[:12], big, strict=True) for m in pair] + ordinary[12:]
    assert max(len(value) for _, value in big) < TOPIC_LIMIT
    produce_at(namespace, inputs)
    expected = {"huge": len(big), "web": 20, "api": 20}

    with herald_process(namespace.config_path, "processor", log_dir=tmp_path, name="processor") as worker:
        wait_until(
            lambda: worker.poll() is not None or counted(namespace, expected),
            timeout=180,
            interval=2,
            what=f"incidents counting {expected}",
        )
        assert worker.poll() is None, "the worker died on the burst"
        observe_for(5)  # a doubled count or a late update would show now
        clean_messages = messages_of(namespace, "events.clean", expected=len(inputs))
        grouped_messages = messages_of(namespace, "events.grouped", expected=10**6, timeout=5)
        invalid = messages_of(namespace, "events.invalid", expected=10**6, timeout=3)
        latest = latest_updates(namespace)
        alerts = messages_of(namespace, "alerts", expected=10**6, timeout=3)
        response = scrape(port, "/metrics")
        assert worker.poll() is None, "the worker died after the burst"

    assert invalid == [], [decode(m.value() or b"", QuarantineRecord).error for m in invalid]
    clean = [decode(m.value() or b"", CleanEvent) for m in clean_messages]
    assert Counter(c.occurrence_id for c in clean) == Counter(
        decode(value, RawEnvelope).occurrence_id for _, value in inputs
    ), "every occurrence on events.clean exactly once"
    sizes_of_big = {
        decode(value, RawEnvelope).occurrence_id: len(big_message(i)) for i, (_, value) in enumerate(big)
    }
    cut = {c.occurrence_id: c.message for c in clean if c.workload_name == "huge"}
    assert {i: original_size(m) for i, m in cut.items()} == sizes_of_big, (
        "cut, with the marker naming its size"
    )
    assert max(utf8_size(m) for m in cut.values()) <= MESSAGE_MAX_BYTES
    assert max(len(m.value() or b"") for m in clean_messages) <= CLEAN_BOUND

    assert {w: u.occurrences for w, u in latest.items()} == expected, "each counted exactly once"
    samples = latest["huge"].samples
    assert samples
    assert {original_size(s.message) for s in samples} <= set(sizes_of_big.values()), "said cut, and of what"
    assert max(len(m.value() or b"") for m in alerts) <= ALERT_BOUND

    values = [value for m in grouped_messages if (value := m.value())]  # gap probes are empty
    grouped = [decode(value, GroupInput).occurrences for value in values]
    assert sum(len(occurrences) for occurrences in grouped) == len(inputs)
    together = max(sum(o.clean.workload_name == "huge" for o in occurrences) for occurrences in grouped)
    assert together > 1, "large occurrences still travel together, as many as fit"
    assert max(len(value) for value in values) + RECORD_OVERHEAD <= TOPIC_LIMIT
    assert response is not None
    assert "herald_processor_outputs_refused_total{" not in response.text


def pods_on_partitions(workload: str, wanted: list[int], partitions: int) -> list[str]:
    """Pod names of ``workload``, one for each of ``wanted``, whose clean events the worker's
    producer sends to that partition (aiokafka's partitioner: murmur2 of the key)."""
    pods: list[str] = []
    for attempt in range(10_000):
        suffix = "".join(SAFE[attempt // len(SAFE) ** k % len(SAFE)] for k in range(5))
        pod = f"{workload}-7d9c8b6f5d-{suffix}"
        partition = (murmur2(f"prod-a/shop/Pod/{pod}".encode()) & 0x7FFFFFFF) % partitions
        if len(pods) < len(wanted) and partition == wanted[len(pods)]:
            pods.append(pod)
    assert len(pods) == len(wanted)
    return pods


def create_clean_topic(namespace: Namespace, max_message_bytes: int) -> None:
    (spec,) = [s for s in TOPIC_SPECS if s.suffix == "events.clean"]
    config = {**topic_config(spec), "max.message.bytes": str(max_message_bytes)}
    admin = AdminClient({"bootstrap.servers": namespace.bootstrap})
    topic = NewTopic(
        namespace.topic("events.clean"), num_partitions=namespace.config.kafka.partitions, config=config
    )
    for future in admin.create_topics([topic]).values():
        future.result(30)


def test_an_output_the_broker_refuses_for_its_size_quarantines_its_input_and_the_worker_goes_on(
    namespace: Namespace, tmp_path: Path
) -> None:
    """A clean topic that takes 12 kB: the broker refuses the 17 kB clean events of cut Events."""
    port = free_port()
    configure(namespace, metrics_port=port)
    create_clean_topic(namespace, max_message_bytes=12_000)
    ensure_namespace_topics(namespace)
    partitions = namespace.config.kafka.partitions
    # Big ones on one clean partition, ordinary ones on the others: a batch the broker refuses
    # whole holds only big ones.
    big_pods = pods_on_partitions("huge", [0] * 6, partitions)
    big = [envelope(i, workload="huge", message=big_message(i), pod=pod) for i, pod in enumerate(big_pods)]
    web_pods = pods_on_partitions("web", [1 + i % 2 for i in range(9)], partitions)
    ordinary = [
        envelope(i, workload="web", message=f"Back-off {i}", pod=pod) for i, pod in enumerate(web_pods)
    ]
    inputs = [m for pair in zip(ordinary[:6], big, strict=True) for m in pair] + ordinary[6:]
    where = produce_at(namespace, inputs)
    big_at = {where[inputs.index(m)]: decode(m[1], RawEnvelope).occurrence_id for m in big}

    with herald_process(namespace.config_path, "processor", log_dir=tmp_path, name="processor") as worker:
        wait_until(
            lambda: worker.poll() is not None or counted(namespace, {"huge": len(big), "web": len(ordinary)}),
            timeout=180,
            interval=2,
            what="both incidents counted",
        )
        observe_for(5)
        invalid = messages_of(namespace, "events.invalid", expected=len(big))
        clean_messages = messages_of(namespace, "events.clean", expected=len(ordinary))
        latest = latest_updates(namespace)
        response = scrape(port, "/metrics")
        assert worker.poll() is None, "the worker died on a refused message"

    records = [decode(m.value() or b"", QuarantineRecord) for m in invalid]
    assert sorted((r.partition, r.offset) for r in records) == sorted(big_at), "each big input, once"
    for record in records:
        assert (record.stage, record.reason, record.source_topic) == (
            "processor.classify",
            OUTPUT_TOO_LARGE,
            namespace.topic("events.raw"),
        )
        assert record.error.startswith(big_at[(record.partition, record.offset)])
        assert "MessageSizeTooLargeError" in record.error
        assert record.payload_truncated
    clean = [decode(m.value() or b"", CleanEvent) for m in clean_messages]
    assert sorted(c.workload_name or "" for c in clean) == ["web"] * len(ordinary), "the ordinary ones pass"
    assert {w: u.occurrences for w, u in latest.items()} == {"huge": len(big), "web": len(ordinary)}, (
        "the incident still counts what its clean events could not carry"
    )
    assert response is not None
    refused = metric(
        response.text,
        'herald_processor_outputs_refused_total{error="MessageSizeTooLargeError",'
        f'topic="{namespace.topic("events.clean")}"}}',
    )
    assert refused == len(big)
    quarantined = 'herald_processor_quarantined_total{reason="output-too-large",stage="processor.classify"}'
    assert metric(response.text, quarantined) == len(big)
