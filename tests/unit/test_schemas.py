from __future__ import annotations

from datetime import UTC, datetime

import jsonschema
import orjson
import pytest

from schemas import CleanEvent, Incident, RawEnvelope, SchemaError, Topics, decode, encode, raw_partition_key
from schemas.export import JSON_DIR, rendered
from tests.support.events import k8s_event


def envelope(**overrides: object) -> RawEnvelope:
    fields: dict[str, object] = {
        "cluster": "prod-a",
        "producer_id": "p-1",
        "observed_at": datetime(2026, 11, 27, tzinfo=UTC),
        "observation": "ADDED",
        "event": k8s_event(1, uid="uid-1", resource_version="42"),
    }
    fields.update(overrides)
    return RawEnvelope.model_validate(fields)


def test_round_trip_keeps_schema_name_version_and_event() -> None:
    original = envelope()
    data = encode(original)
    assert orjson.loads(data)["schema"] == "herald.raw-event"
    assert orjson.loads(data)["v"] == 1
    assert decode(data, RawEnvelope) == original


def test_occurrence_id_is_cluster_uid_and_resource_version() -> None:
    assert envelope().occurrence_id == "prod-a/uid-1/42"


def test_partition_key_is_cluster_and_involved_object() -> None:
    event = k8s_event(1, name="web-1", namespace="shop", kind="Pod")
    assert raw_partition_key("prod-a", event) == "prod-a/shop/Pod/web-1"
    new_api = {"regarding": {"kind": "Node", "name": "n1"}, "metadata": {"uid": "u", "resourceVersion": "1"}}
    assert raw_partition_key("c", new_api, api="events.k8s.io/v1") == "c//Node/n1"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\xff\xfe", "not-json"),
        (b"[1, 2]", "not-an-object"),
        (b'{"schema": "herald.incident", "v": 1}', "wrong-schema"),
        (b'{"schema": "herald.raw-event", "v": 2}', "unsupported-version"),
        (b'{"schema": "herald.raw-event", "v": true}', "unsupported-version"),
        (b'{"schema": "herald.raw-event", "v": 1.0}', "unsupported-version"),
        (b'{"schema": "herald.raw-event", "v": 1, "cluster": "Bad Cluster"}', "invalid"),
    ],
)
def test_decode_errors_say_what_is_wrong(data: bytes, reason: str) -> None:
    with pytest.raises(SchemaError) as caught:
        decode(data, RawEnvelope)
    assert caught.value.reason == reason


def test_event_without_identity_is_rejected_with_the_field_named() -> None:
    data = encode(envelope()).replace(b'"resourceVersion":"42"', b'"resourceVersion":""')
    with pytest.raises(SchemaError, match=r"event: .*resourceVersion"):
        decode(data, RawEnvelope)


def test_naive_timestamps_are_rejected() -> None:
    with pytest.raises(ValueError, match="time zone"):
        envelope(observed_at=datetime(2026, 11, 27))


def test_timestamps_out_of_range_in_utc_are_invalid_not_an_overflow() -> None:
    data = encode(envelope()).replace(
        b'"observed_at":"2026-11-27T00:00:00+00:00"', b'"observed_at":"9999-12-31T23:59:59-23:59"'
    )
    with pytest.raises(SchemaError, match=r"observed_at: .*out of range") as caught:
        decode(data, RawEnvelope)
    assert caught.value.reason == "invalid"


def test_topic_names_share_the_prefix() -> None:
    topics = Topics("acme.")
    assert topics.raw == "acme.events.raw"
    assert topics.alerts == "acme.alerts"
    assert all(name.startswith("acme.") for name, _ in topics.all())


def test_committed_json_schemas_match_the_models() -> None:
    for name, text in rendered().items():
        assert (JSON_DIR / name).read_text() == text, f"{name} is stale: run make schemas"


@pytest.mark.parametrize("model", [RawEnvelope, CleanEvent, Incident])
def test_json_schema_accepts_what_the_code_writes(model: type) -> None:
    schema = orjson.loads((JSON_DIR / f"{model.SCHEMA}.v{model.VERSION}.json").read_bytes())
    jsonschema.Draft202012Validator.check_schema(schema)
    if model is RawEnvelope:
        jsonschema.validate(orjson.loads(encode(envelope())), schema)
