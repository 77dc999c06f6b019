"""The events.grouped contract: v2 batches, and v1 messages left in flight by an upgrade."""

from __future__ import annotations

import orjson
import pytest

from schemas import (
    GroupedOccurrence,
    GroupInput,
    SchemaError,
    decode_group_input,
    encode,
    encode_occurrences,
    occurrence_wire,
)
from tests.unit.test_aggregate import clean


def test_a_batch_round_trips_in_order() -> None:
    occurrences = [
        GroupedOccurrence(clean=clean(i), source_partition=i % 2, source_offset=10 + i) for i in range(3)
    ]
    decoded = decode_group_input(encode(GroupInput(occurrences=occurrences)))
    assert decoded.occurrences == occurrences
    assert decoded.tick_at is None


def test_a_tick_has_no_occurrences() -> None:
    decoded = decode_group_input(encode(GroupInput(tick_at=1234.5)))
    assert (decoded.occurrences, decoded.tick_at) == ([], 1234.5)


def test_a_v1_occurrence_from_before_an_upgrade_is_read_as_a_batch_of_one() -> None:
    v1 = {
        "schema": "herald.group-input",
        "v": 1,
        "clean": orjson.loads(encode(clean(7))),
        "source_partition": 2,
        "source_offset": 41,
        "tick_at": None,
    }
    (occurrence,) = decode_group_input(orjson.dumps(v1)).occurrences
    assert (occurrence.clean, occurrence.source_partition, occurrence.source_offset) == (clean(7), 2, 41)


def test_a_v1_tick_stays_a_tick() -> None:
    v1 = {"schema": "herald.group-input", "v": 1, "clean": None, "tick_at": 99.0}
    decoded = decode_group_input(orjson.dumps(v1))
    assert (decoded.occurrences, decoded.tick_at) == ([], 99.0)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"{not json", "not-json"),
        (b'{"schema": "herald.group-input", "v": 3}', "unsupported-version"),
        (b'{"schema": "herald.group-input", "v": true, "clean": null}', "unsupported-version"),
        (b'{"schema": "herald.group-input", "v": 2, "occurrences": [{"source_offset": 1}]}', "invalid"),
        (b'{"schema": "herald.group-input", "v": 1, "clean": {"cluster": 5}, "source_offset": 1}', "invalid"),
    ],
)
def test_what_is_not_a_group_input_says_why(data: bytes, reason: str) -> None:
    with pytest.raises(SchemaError) as raised:
        decode_group_input(data)
    assert raised.value.reason == reason


def test_occurrences_spliced_around_encoded_clean_events_decode_as_the_model_encodes_them() -> None:
    """The processor splices the clean event it already published into the grouped message."""
    wire = occurrence_wire(encode(clean(5)), source_partition=3, source_offset=41, echo=True)
    expected = GroupInput(
        occurrences=[GroupedOccurrence(clean=clean(5), source_partition=3, source_offset=41, echo=True)]
    )
    assert decode_group_input(encode_occurrences([wire])) == expected
    assert orjson.loads(encode_occurrences([wire])) == orjson.loads(encode(expected))
