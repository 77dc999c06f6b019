"""The file producer on the real broker: every good line published once, every bad line quarantined."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from producer.replay import run_replay
from runtime.config import ProducerSettings
from schemas import QuarantineRecord, RawEnvelope, decode
from tests.support.events import k8s_event
from tests.support.kafka import Namespace, read_topic

pytestmark = pytest.mark.integration


def test_publishes_every_event_keyed_by_object_and_quarantines_bad_lines(
    namespace: Namespace, tmp_path: Path
) -> None:
    events = [k8s_event(i, name=f"web-{i % 3}") for i in range(30)]
    lines = [orjson.dumps(e) for e in events]
    lines.insert(5, b"{not json")
    lines.insert(17, orjson.dumps({"metadata": {"uid": "x"}}))  # no resourceVersion: no identity
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")

    config = namespace.config
    settings = ProducerSettings(cluster="prod-a", producer_id="p1")
    assert run_replay(config, settings, path, speed=0, quiet=True) == 0

    raw = read_topic(namespace.bootstrap, namespace.topic("events.raw"), expected=30)
    envelopes = [decode(m.value() or b"", RawEnvelope) for m in raw]
    assert len(envelopes) == 30
    assert sorted(e.event["metadata"]["uid"] for e in envelopes) == sorted(
        e["metadata"]["uid"] for e in events
    )
    for message, envelope in zip(raw, envelopes, strict=True):
        assert envelope.cluster == "prod-a"
        assert message.key() == f"prod-a/shop/Pod/{envelope.event['involvedObject']['name']}".encode()
        assert dict(message.headers() or [])["herald-schema"] == b"herald.raw-event.v1"
    # One object's events share a partition, so their order holds.
    partitions: dict[bytes | None, set[int | None]] = {}
    for message in raw:
        partitions.setdefault(message.key(), set()).add(message.partition())
    assert all(len(p) == 1 for p in partitions.values())

    invalid = read_topic(namespace.bootstrap, namespace.topic("events.invalid"), expected=2)
    records = sorted((decode(m.value() or b"", QuarantineRecord) for m in invalid), key=lambda r: r.offset)
    assert [(r.offset, r.reason) for r in records] == [(6, "not-json"), (18, "invalid")]
    assert records[0].payload == b"{not json"
