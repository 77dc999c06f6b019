"""The processor worker on the real broker: valid occurrences flow on, bad input is quarantined."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from schemas import CleanEvent, Incident, QuarantineRecord, RawEnvelope, decode, encode
from tests.support.events import k8s_event
from tests.support.kafka import Namespace, produce, read_topic
from tests.support.processes import herald_process

pytestmark = pytest.mark.integration

VALID = 40


def envelope_bytes(index: int) -> tuple[bytes, bytes]:
    envelope = RawEnvelope(
        cluster="prod-a",
        producer_id="p1",
        observed_at=datetime.now(UTC),
        observation="ADDED",
        event=k8s_event(index, name=f"web-7d9c8b6f5d-{'bcdfg'[index % 5]}x2kq"),
    )
    return envelope.partition_key.encode(), encode(envelope)


def bad_inputs() -> list[bytes]:
    valid = orjson.loads(envelope_bytes(0)[1])
    malformed_event = {**valid, "event": {**valid["event"], "count": "lots", "involvedObject": []}}
    return [
        os.urandom(64),
        b'{"schema": "herald.raw-event", "v": 1',
        orjson.dumps({**valid, "v": 99}),
        orjson.dumps({**valid, "cluster": "UPPER CASE"}),
        orjson.dumps(malformed_event),
        b"\xff\xfe\xfd invalid utf-8",
        orjson.dumps({"deep": [[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]}),
    ]


def test_valid_events_become_clean_events_and_incidents_bad_ones_are_quarantined(
    namespace: Namespace, tmp_path: Path
) -> None:
    bad = bad_inputs()
    messages = [envelope_bytes(i) for i in range(VALID)]
    mixed: list[tuple[bytes | None, bytes]] = []
    for index, item in enumerate(messages):
        mixed.append(item)
        if index % 6 == 0 and bad:
            mixed.append((b"junk", bad.pop()))
    mixed.extend((None, b) for b in bad)
    produced_bad = len(bad_inputs())

    with herald_process(namespace.config_path, "processor", log_dir=tmp_path, name="processor") as worker:
        from tests.support.kafka import ensure_namespace_topics

        ensure_namespace_topics(namespace)
        produce(namespace.bootstrap, namespace.topic("events.raw"), mixed)
        alerts = read_topic(namespace.bootstrap, namespace.topic("alerts"), expected=VALID, timeout=120)
        clean = read_topic(namespace.bootstrap, namespace.topic("events.clean"), expected=VALID, timeout=30)
        invalid = read_topic(namespace.bootstrap, namespace.topic("events.invalid"), expected=produced_bad)
        assert worker.poll() is None, "the worker must survive bad input"

    incidents = [decode(m.value() or b"", Incident) for m in alerts]
    cleans = [decode(m.value() or b"", CleanEvent) for m in clean]
    records = [decode(m.value() or b"", QuarantineRecord) for m in invalid]
    assert len(incidents) == VALID
    assert len({c.occurrence_id for c in cleans}) == len(cleans) == VALID
    assert {c.workload_name for c in cleans} == {"web"}
    assert len(records) == produced_bad
    assert {r.reason for r in records} >= {"not-json", "unsupported-version", "invalid", "invalid-event"}
    assert all(
        r.stage == "processor.validate" and r.source_topic == namespace.topic("events.raw") for r in records
    )
