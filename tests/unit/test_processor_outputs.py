"""The processor's outputs stay within bounds, and a refused one quarantines its input.

Pure parts here (chunking by size, the bounds of a clean event and of an incident, what
happens to a refused message); tests/integration/test_processor_bounds.py runs them
through a real worker and broker.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka.errors import KafkaTimeoutError, MessageSizeTooLargeError, NotLeaderForPartitionError
from faust.exceptions import ProducerSendError
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import REGISTRY

from processors.core.incident import Timing, observe, tick
from processors.core.validate import Processed, Rejected, validate_and_classify
from processors.delivery.gaps import Record
from processors.delivery.outputs import (
    OCCURRENCE_OVERHEAD,
    RECORD_OVERHEAD,
    Cause,
    Outputs,
    grouped_budget,
    runs,
)
from processors.faustkit.producer import too_large
from schemas import CleanEvent, GroupedOccurrence, GroupInput, RawEnvelope, encode
from schemas.bounds import MESSAGE_MAX_BYTES, STRING_MAX_BYTES, original_size, utf8_size
from tests.support.events import k8s_event

KAFKA_DEFAULT = 1_000_000
"""What a topic takes by default, as Faust's producer and librdkafka see it."""


# --- chunking by size ---------------------------------------------------------------------


@given(
    sizes=st.lists(st.integers(min_value=1, max_value=3000), max_size=300),
    budget=st.integers(min_value=1, max_value=20_000),
    most=st.integers(min_value=1, max_value=120),
)
def test_runs_cover_every_item_in_order_within_count_and_budget(
    sizes: list[int], budget: int, most: int
) -> None:
    chunks = list(runs(sizes, budget=budget, most=most))
    assert [i for chunk in chunks for i in range(len(sizes))[chunk]] == list(range(len(sizes)))
    for chunk in chunks:
        held = sizes[chunk]
        assert 1 <= len(held) <= most
        assert len(held) == 1 or sum(held) + len(held) <= budget, "only an item alone may exceed the budget"
    # As few as fit: two neighbours together would break a bound.
    for first, second in itertools.pairwise(chunks):
        joined = sizes[first.start : second.start + 1]
        assert len(joined) > most or sum(joined) + len(joined) > budget


def raw(event: dict[str, Any]) -> bytes:
    envelope = RawEnvelope(
        cluster="prod-a",
        producer_id="p1",
        observed_at=datetime(2026, 11, 27, 8, tzinfo=UTC),
        observation="ADDED",
        event=event,
    )
    return encode(envelope)


def clean_event(index: int, message: str) -> CleanEvent:
    outcome = validate_and_classify(raw(k8s_event(index, message=message)))
    assert isinstance(outcome, Processed), outcome
    return outcome.clean


MESSAGES = st.one_of(
    st.text(max_size=300),
    st.builds(
        lambda n, c: c * n, st.integers(0, 400_000), st.sampled_from(["m", "\x01", "é", "\U0001f525", '"'])
    ),
)


@settings(max_examples=40, deadline=None)
@given(
    messages=st.lists(MESSAGES, min_size=1, max_size=40),
    limit=st.sampled_from([KAFKA_DEFAULT, 262_144, 65_536]),
)
def test_grouped_messages_fit_the_topic_whatever_the_occurrences(messages: list[str], limit: int) -> None:
    """Occurrences of one incident as the classify agent groups them: each grouped message, as
    encoded, fits a record the topic takes (an occurrence too large alone goes alone)."""
    occurrences = [
        GroupedOccurrence(clean=clean_event(i, m), source_partition=i % 3, source_offset=2**62 + i)
        for i, m in enumerate(messages)
    ]
    sizes = [len(encode(o.clean)) + OCCURRENCE_OVERHEAD for o in occurrences]
    for run in runs(sizes, budget=grouped_budget(limit), most=100):
        value = encode(GroupInput(occurrences=occurrences[run]))
        assert len(value) + RECORD_OVERHEAD <= limit or len(occurrences[run]) == 1


def test_a_burst_of_large_occurrences_is_spread_over_messages_that_fit() -> None:
    """By count alone (100 a message), 100 cut occurrences of 16 KiB made one message of 1.7 MB."""
    occurrences = [
        GroupedOccurrence(clean=clean_event(i, "m" * 900_000), source_partition=0, source_offset=i)
        for i in range(100)
    ]
    sizes = [len(encode(o.clean)) + OCCURRENCE_OVERHEAD for o in occurrences]
    values = [
        encode(GroupInput(occurrences=occurrences[run]))
        for run in runs(sizes, budget=grouped_budget(KAFKA_DEFAULT), most=100)
    ]
    assert sum(len(GroupInput.model_validate_json(v).occurrences) for v in values) == 100
    assert max(len(v) for v in values) + RECORD_OVERHEAD <= KAFKA_DEFAULT
    assert len(values) == 2, [len(v) for v in values]


# --- bounded clean events and incidents -----------------------------------------------------


def test_text_from_the_event_is_cut_with_the_marker_naming_its_size() -> None:
    # Beyond the cut, the message says "pulling image": classified on what it carries, as its
    # alert will show it (a crash loop), not on what was cut.
    event = k8s_event(1, message="m" * 900_000 + " pulling image", event_type="W" * 50_000)
    event["involvedObject"]["uid"] = "u" * 50_000
    event["source"]["component"] = "c" * 50_000
    event["reportingComponent"] = "r" * 50_000
    outcome = validate_and_classify(raw(event))
    assert isinstance(outcome, Processed), outcome
    clean = outcome.clean
    assert original_size(clean.message) == 900_014
    assert utf8_size(clean.message) <= MESSAGE_MAX_BYTES
    for text in (clean.type, clean.uid, clean.source_component, clean.reporting_component):
        assert text is not None
        assert original_size(text) == 50_000
        assert utf8_size(text) <= STRING_MAX_BYTES
    assert len(encode(clean)) < MESSAGE_MAX_BYTES + 5 * STRING_MAX_BYTES
    assert clean.category == "crash-loop"


def test_an_event_whose_identity_no_api_server_would_give_is_refused() -> None:
    event = k8s_event(1, uid="u" * (3 * STRING_MAX_BYTES))
    outcome = validate_and_classify(raw(event))
    assert isinstance(outcome, Rejected)
    assert outcome.reason == "invalid-event"
    assert "occurrence_id" in outcome.error
    cut_by_a_producer = k8s_event(
        1, uid="u" * (STRING_MAX_BYTES - 64), resource_version="9" * STRING_MAX_BYTES
    )
    assert isinstance(validate_and_classify(raw(cut_by_a_producer)), Processed)


SAFE = "bcdfghjklmnpqrstvwxz2456789"
"""The alphabet of pod name suffixes."""


def worst_event(index: int) -> dict[str, Any]:
    """Every field as long as it may be, in the character JSON escapes the longest (6 bytes)."""
    escaped = "\x01"
    suffix = "".join(SAFE[index // len(SAFE) ** k % len(SAFE)] for k in range(5))
    name = escaped * 236 + f"-7d9c8b6f5d-{suffix}"  # one workload, a pod each, 253 characters
    message = f"{index:06d}" + escaped * 899_994  # distinct: samples keep distinct messages
    return k8s_event(index, message=message, name=name, namespace=escaped * 63)


def test_an_incident_stays_under_the_alerts_topic_limit_whatever_its_occurrences() -> None:
    timing = Timing(group_wait=0)
    state = None
    for index in range(200):
        outcome = validate_and_classify(raw(worst_event(index)))
        assert isinstance(outcome, Processed), outcome
        state = observe(state, outcome.clean, now=1000.0 + index, timing=timing)
    assert state is not None
    state, update = tick(state, now=2000.0, timing=timing)
    assert update is not None
    assert state is not None
    size = len(encode(update))
    assert size + RECORD_OVERHEAD <= KAFKA_DEFAULT, size
    assert len(state.to_bytes()) + RECORD_OVERHEAD <= KAFKA_DEFAULT, "the table's changelog record too"
    assert len(update.samples) == 5
    assert all(original_size(s.message) == 900_000 for s in update.samples)
    assert len(update.objects) == 20
    assert update.objects_total == 200


# --- refused messages -------------------------------------------------------------------------


def cause(offset: int) -> Cause:
    record = Record(topic="raw", partition=1, offset=offset, key=b"k", value=b"v" * 10, timestamp=0.0)
    return Cause(record, "processor.classify", f"prod-a/uid-{offset}/1")


class FakeProducer:
    """Faust's producer as Outputs sees it: ``send`` raises or returns the delivery's future."""

    def __init__(self, *, raises: BaseException | None = None) -> None:
        self.raises = raises
        self.deliveries: list[asyncio.Future[Any]] = []

    async def send(self, *_args: Any) -> asyncio.Future[Any]:
        if self.raises is not None:
            raise self.raises
        delivery: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.deliveries.append(delivery)
        return delivery


def refused(topic: str, error: str) -> float:
    """The refusals counted so far (the registry is the process's: tests read differences)."""
    labels = {"topic": topic, "error": error}
    return REGISTRY.get_sample_value("herald_processor_outputs_refused_total", labels) or 0.0


def run_outputs(
    producer: FakeProducer, scenario: Callable[[Outputs], Awaitable[None]]
) -> list[tuple[Cause, str]]:
    quarantined: list[tuple[Cause, str]] = []

    async def quarantine(cause: Cause, error: str) -> None:
        quarantined.append((cause, error))

    async def main() -> None:
        await scenario(Outputs(producer.send, quarantine, too_large=too_large))
        for _ in range(5):
            await asyncio.sleep(0)  # let the deliveries' callbacks run

    asyncio.run(main())
    return quarantined


def size_error_at_send() -> BaseException:
    """What Faust raises when aiokafka's own check refuses a message."""
    try:
        try:
            raise MessageSizeTooLargeError("The message is 1700000 bytes when serialized")
        except MessageSizeTooLargeError as exc:
            raise ProducerSendError(f"Error while sending: {exc!r}") from exc
    except ProducerSendError as wrapped:
        return wrapped


def test_a_message_refused_at_send_quarantines_each_of_its_inputs_and_nothing_raises() -> None:
    before = refused("t.grouped", "MessageSizeTooLargeError")

    async def scenario(outputs: Outputs) -> None:
        await outputs.publish("t.grouped", b"key", b"x" * 100, causes=[cause(7), cause(8)])

    quarantined = run_outputs(FakeProducer(raises=size_error_at_send()), scenario)
    assert [c.record.offset for c, _ in quarantined] == [7, 8]
    assert quarantined[0][1].startswith("prod-a/uid-7/1: its 100-byte message to t.grouped was refused")
    assert refused("t.grouped", "MessageSizeTooLargeError") == before + 1


def test_a_message_the_broker_refuses_in_its_future_quarantines_its_input() -> None:
    producer = FakeProducer()
    before = refused("t.clean", "MessageSizeTooLargeError")

    async def scenario(outputs: Outputs) -> None:
        await outputs.publish("t.clean", b"key", b"big", causes=[cause(3)])
        await outputs.publish("t.clean", b"key", b"fine", causes=[cause(4)])
        producer.deliveries[0].set_exception(MessageSizeTooLargeError())
        producer.deliveries[1].set_result(None)

    quarantined = run_outputs(producer, scenario)
    assert [c.record.offset for c, _ in quarantined] == [3]
    assert refused("t.clean", "MessageSizeTooLargeError") == before + 1


def test_another_refusal_is_counted_and_logged_with_the_inputs_identity(
    caplog: pytest.LogCaptureFixture,
) -> None:
    producer = FakeProducer()
    before = refused("t.alerts", "NotLeaderForPartitionError")

    async def scenario(outputs: Outputs) -> None:
        await outputs.publish("t.alerts", b"key", b"update", causes=[cause(5)])
        producer.deliveries[0].set_exception(NotLeaderForPartitionError())

    with caplog.at_level(logging.ERROR, logger="processors.delivery.outputs"):
        assert run_outputs(producer, scenario) == []
    assert refused("t.alerts", "NotLeaderForPartitionError") == before + 1
    (line,) = [r.getMessage() for r in caplog.records]
    assert "prod-a/uid-5/1 (raw[1]@5)" in line
    assert "vvvv" not in line, "identity, never content"


def test_an_error_that_is_not_about_size_still_raises_at_send() -> None:
    async def scenario(outputs: Outputs) -> None:
        await outputs.publish("t.clean", b"key", b"v", causes=[cause(1)])

    with pytest.raises(KafkaTimeoutError):
        run_outputs(FakeProducer(raises=KafkaTimeoutError()), scenario)
