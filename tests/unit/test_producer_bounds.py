"""Fitting Events into one record: strings cut at their bounds with the marker, whole sections
removed in order when that is not enough, and a clear refusal when nothing fits."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from producer.bounds import MAX_LISTED_CUTS, SHED_ORDER, Cuts, TooLargeError, bounded_cuts, fit
from schemas import RawEnvelope, RawMessage, decode, raw_message
from schemas.bounds import (
    CUT_MARKER_PATTERN,
    MESSAGE_MAX_BYTES,
    STRING_MAX_BYTES,
    cut_text,
    original_size,
    utf8_size,
)

NOW = datetime(2026, 12, 6, 8, 12, 7, tzinfo=UTC)


def encoder(event: dict[str, Any], cuts: Cuts) -> RawMessage:
    return raw_message(
        event,
        cluster="prod-a",
        producer_id="p",
        observation="ADDED",
        api="v1",
        observed_at=NOW,
        cut=cuts,  # type: ignore[arg-type]
    )


def event(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "metadata": {"name": "web-1.17", "namespace": "shop", "uid": "u-1", "resourceVersion": "42"},
        "involvedObject": {"kind": "Pod", "namespace": "shop", "name": "web-1"},
        "reason": "BackOff",
        "message": "Back-off restarting failed container",
        "type": "Warning",
    }
    return base | fields


def strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [*value.keys(), *(s for item in value.values() for s in strings(item))]
    if isinstance(value, list):
        return [s for item in value for s in strings(item)]
    return []


def test_an_ordinary_event_is_encoded_once_and_left_as_it_is() -> None:
    calls: list[Cuts] = []

    def counting(event: dict[str, Any], cuts: Cuts) -> RawMessage:
        calls.append(cuts)
        return encoder(event, cuts)

    message, cuts = fit(event(), counting, budget=1_000_000)
    assert cuts == []
    assert len(calls) == 1
    assert message == encoder(event(), [])
    assert b'"cut"' not in message.value, "an envelope with nothing cut is byte for byte as before"


def test_a_1_mb_message_keeps_its_prefix_and_says_how_large_it_was() -> None:
    text = "日志" * 200_000 + "tail"
    message, _cuts = fit(event(message=text), encoder, budget=983_000)
    envelope = decode(message.value, RawEnvelope)
    assert [(c.field, c.bytes, c.action) for c in envelope.cut] == [("message", utf8_size(text), "cut")]
    kept = envelope.event["message"]
    assert utf8_size(kept) <= MESSAGE_MAX_BYTES
    assert original_size(kept) == utf8_size(text)
    assert text.startswith(CUT_MARKER_PATTERN.sub("", kept))
    assert envelope.occurrence_id == "prod-a/u-1/42", "the identity survives every cut"


def test_other_strings_and_keys_are_cut_at_their_own_bound() -> None:
    long_key = "k" * 5000
    message, _cuts = fit(
        event(
            involvedObject={"kind": "Pod", "name": "n" * 9000},
            metadata=event()["metadata"] | {"labels": {long_key: "v"}},
        ),
        encoder,
        budget=983_000,
    )
    envelope = decode(message.value, RawEnvelope)
    assert {c.field for c in envelope.cut} >= {"involvedObject.name"}
    assert any(c.field.startswith("metadata.labels.k") and c.bytes == 5000 for c in envelope.cut)
    assert all(
        utf8_size(s) <= STRING_MAX_BYTES for s in strings(envelope.event) if s != envelope.event["message"]
    )


def test_sections_go_in_order_until_the_envelope_fits() -> None:
    annotations = {f"a{n}": "v" * 4000 for n in range(100)}
    managed = [{"manager": "m" * 4000} for _ in range(100)]
    big = event(metadata=event()["metadata"] | {"annotations": annotations, "managedFields": managed})
    message, cuts = fit(big, encoder, budget=300_000)
    assert [(c["field"], c["action"]) for c in cuts] == [
        ("metadata.managedFields", "removed"),
        ("metadata.annotations", "removed"),
    ]
    assert len(message.value) <= 300_000
    assert [field for field, *_ in SHED_ORDER][:1] == ["metadata"]


def test_what_cannot_fit_is_refused_with_the_sizes() -> None:
    with pytest.raises(TooLargeError, match="the topic takes 100000"):
        fit(event(padding=list(range(50_000))), encoder, budget=100_000)


def test_json_nested_deeper_than_any_event_needs_is_removed_and_the_rest_published() -> None:
    """The real API server stores managedFields nested 300 levels deep, past what orjson encodes."""
    deep: Any = "bottom"
    for _ in range(300):
        deep = {"f:x": deep}
    managed = [{"manager": "tenant", "fieldsV1": deep}]
    message, cuts = fit(
        event(metadata=event()["metadata"] | {"managedFields": managed}), encoder, budget=983_000
    )
    (cut,) = cuts
    assert cut["field"].startswith("metadata.managedFields[0].fieldsV1.f:x")
    assert cut["action"] == "removed"
    assert cut["bytes"] > 300 * 6
    assert decode(message.value, RawEnvelope).occurrence_id == "prod-a/u-1/42"


def test_the_list_of_cuts_cannot_outgrow_the_record() -> None:
    cuts = [{"field": f"f{n}", "bytes": 5000, "action": "cut"} for n in range(1000)]
    listed = bounded_cuts(cuts)
    assert len(listed) == MAX_LISTED_CUTS
    assert listed[-1]["field"] == f"({1000 - MAX_LISTED_CUTS + 1} more fields)"
    assert sum(c["bytes"] for c in listed) == 5000 * 1000


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=0, max_size=3000), st.integers(min_value=60, max_value=4000))
def test_cut_text_never_splits_a_character_and_keeps_within_the_bound(text: str, limit: int) -> None:
    cut = cut_text(text, limit)
    assert utf8_size(cut) <= limit or (cut == text and utf8_size(text) <= limit)
    if cut != text:
        assert original_size(cut) == utf8_size(text)
        assert text.startswith(CUT_MARKER_PATTERN.sub("", cut))
    cut.encode()  # no half character


@settings(max_examples=50, deadline=None)
@given(
    st.dictionaries(
        st.text(min_size=1, max_size=20),
        st.one_of(
            st.text(max_size=9000),
            st.integers(-(2**63), 2**63 - 1),
            st.none(),
            st.lists(st.text(max_size=6000), max_size=5),
        ),
        max_size=30,
    )
)
def test_whatever_the_event_holds_the_envelope_fits_or_is_refused(extra: dict[str, Any]) -> None:
    budget = 40_000
    original = event(annotations_like=extra)
    snapshot = orjson.dumps(original)
    try:
        message, _cuts = fit(original, encoder, budget=budget)
    except TooLargeError:
        return
    assert len(message.value) <= budget
    assert orjson.dumps(original) == snapshot, "the caller's Event is never changed"
    assert decode(message.value, RawEnvelope).occurrence_id == "prod-a/u-1/42"
