"""Producer throughput: herald's replay path against a plain confluent-kafka loop, same bytes, same run.

    python -m bench.producer_bench [--events 100000] [--runs 3]

The plain loop produces pre-encoded envelopes with the same librdkafka settings
(idempotent, acks=all, zstd, linger): the ratio is what herald's own per-event work
(parsing the line, validating the envelope, keys, headers, delivery tracking) costs.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import uuid
from pathlib import Path

from confluent_kafka import Producer

from bench.common import alternate, pin_to_one_core, report
from producer.pacing import publish_paced
from producer.publisher import Publisher, delivery_settings
from producer.replay import timed_file
from producer.simulate import simulate, to_envelope
from runtime.config import KafkaSettings, ProducerSettings
from runtime.kafka import ensure_topics
from schemas import encode


def write_events(path: Path, count: int) -> list[tuple[bytes, bytes]]:
    """A realistic stream as bare Event objects (what replay reads) and its encoded envelopes."""
    lines, encoded = [], []
    for event in simulate(clusters=["bench"], rate=1000.0, duration=None, seed=1):
        envelope = to_envelope(event)
        lines.append(__import__("orjson").dumps(event.event))
        encoded.append((envelope.partition_key.encode(), encode(envelope)))
        if len(lines) == count:
            break
    path.write_bytes(b"\n".join(lines) + b"\n")
    return encoded


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    core = pin_to_one_core()
    bootstrap = os.environ.get("HERALD_KAFKA_BOOTSTRAP", "127.0.0.1:19092")
    kafka = KafkaSettings(
        bootstrap_servers=bootstrap, topic_prefix=f"bench-{uuid.uuid4().hex[:8]}.", partitions=6
    )
    ensure_topics(kafka, ["events.raw", "events.invalid"])
    settings = ProducerSettings(cluster="bench", producer_id="bench")
    path = Path(tempfile.mkdtemp()) / "events.jsonl"
    encoded = write_events(path, args.events)

    def herald_replay() -> None:
        publisher = Publisher(kafka, settings).start()
        stream = timed_file(path, settings, publisher, paced=False)
        publish_paced(publisher, stream, speed=0, total=None, label="", quiet=True)
        assert publisher.close(120) == 0

    def plain_loop() -> None:
        producer = Producer({"bootstrap.servers": bootstrap, **delivery_settings(settings)})
        topic = kafka.topics.raw
        for key, value in encoded:
            while True:
                try:
                    producer.produce(topic, value=value, key=key)
                    break
                except BufferError:
                    producer.poll(0.01)
            producer.poll(0)
        assert producer.flush(120) == 0

    results = alternate(
        args.runs,
        ("plain confluent-kafka loop", len(encoded), plain_loop),
        ("herald replay", len(encoded), herald_replay),
    )
    report(
        "producer",
        results,
        baseline="plain confluent-kafka loop",
        extra={
            "events": len(encoded),
            "core": core,
            "bytes_per_event": sum(len(v) for _, v in encoded) // len(encoded),
        },
    )


if __name__ == "__main__":
    main()
