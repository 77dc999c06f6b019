"""Processor throughput per worker: herald's Faust worker (dedup, classification, aggregation,
RocksDB tables) against a plain confluent-kafka consume-and-produce passthrough of the same
messages, measured in the same run, both pinned to one core.

    python -m bench.processor_bench [--events 20000] [--workers 1] [--profile-seconds 20]

With ``--workers 2`` the workers share the machine's cores (no pinning): the scaling figure.
Each worker's peak RSS (VmHWM) is read before it stops: with ``--events 1000000`` that is
the memory at a million distinct occurrences in the dedup table (its results are kept
apart, as ``processor-1000000-events``, so the rate figures stay those of the default run).
With one worker, py-spy samples it for the first ``--profile-seconds`` of the run (0: off)
and the report shows which layer the time goes to (bench/profile.py).

The same messages also go through herald's own per-event steps alone, in this process with
no Kafka and no Faust (validate, classify, normalize, dedup key, incident fingerprint,
encode): the rate the worker could not exceed even if the streaming layers cost nothing.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import yaml
from confluent_kafka import Consumer, Producer, TopicPartition

from bench import profile
from bench.common import RESULTS, Measurement, pin_to_one_core, report
from processors.aggregate import GROUP_LABELS, fingerprint, labels_of
from processors.app import seen_key_of
from processors.pipeline import Processed, validate_and_classify
from producer.simulate import simulate, to_envelope
from runtime.config import KafkaSettings
from runtime.kafka import ensure_topics
from schemas import encode

DEFAULT_EVENTS = 20_000
PROFILE_RAW = RESULTS / "processor-profile.txt"
PROFILE_RATE = 100
STEPS_ALONE = "steps alone (no Kafka, no Faust)"


def stream(count: int) -> list[tuple[bytes, bytes]]:
    messages = []
    for event in simulate(clusters=["bench-1", "bench-2"], rate=1000.0, duration=None, seed=3):
        message = to_envelope(event).to_message()
        messages.append((message.key.encode(), message.value))
        if len(messages) == count:
            return messages
    return messages


def produce(bootstrap: str, topic: str, messages: list[tuple[bytes, bytes]]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "compression.type": "zstd"})
    for key, value in messages:
        while True:
            try:
                producer.produce(topic, key=key, value=value)
                break
            except BufferError:
                producer.poll(0.05)
    assert producer.flush(60) == 0


def count_until(bootstrap: str, topic: str, expected: int, timeout: float) -> float:
    """Seconds until ``expected`` messages are on ``topic`` (polling its end offsets)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-{uuid.uuid4().hex}"})
    started = time.perf_counter()
    try:
        while time.perf_counter() - started < timeout:
            metadata = consumer.list_topics(topic, timeout=10).topics[topic]
            total = sum(
                consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                for p in metadata.partitions
            )
            if total >= expected:
                return time.perf_counter() - started
            time.sleep(0.2)
    finally:
        consumer.close()
    raise TimeoutError(f"{topic} did not reach {expected} within {timeout}s")


def peak_rss(pid: int) -> int:
    """The process's peak resident set so far, in KiB (Linux VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmHWM for {pid}")


def passthrough(bootstrap: str, source: str, target: str, count: int) -> float:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
        }
    )
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "acks": "all"})
    consumer.subscribe([source])
    seen = 0
    started = time.perf_counter()
    while seen < count:
        for message in consumer.consume(1000, 1.0):
            if message.error():
                continue
            while True:
                try:
                    producer.produce(target, key=message.key(), value=message.value())
                    break
                except BufferError:
                    producer.poll(0.05)
            seen += 1
        producer.poll(0)
    producer.flush(60)
    consumer.commit(asynchronous=False)
    consumer.close()
    return time.perf_counter() - started


def steps_alone(messages: list[tuple[bytes, bytes]]) -> float:
    """Seconds for herald's per-event work on ``messages``, without Kafka or Faust."""
    started = time.perf_counter()
    for _, value in messages:
        outcome = validate_and_classify(value)
        assert isinstance(outcome, Processed), outcome
        seen_key_of(outcome.clean.occurrence_id)
        fingerprint(labels_of(outcome.clean), GROUP_LABELS)
        encode(outcome.clean)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=DEFAULT_EVENTS)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--profile-seconds", type=float, default=20.0)
    args = parser.parse_args()
    core = pin_to_one_core()
    bootstrap = os.environ.get("HERALD_KAFKA_BOOTSTRAP", "127.0.0.1:19092")
    prefix = f"bench-{uuid.uuid4().hex[:8]}."
    kafka = KafkaSettings(bootstrap_servers=bootstrap, topic_prefix=prefix, partitions=6)
    ensure_topics(kafka)
    ensure_topics(
        KafkaSettings(bootstrap_servers=bootstrap, topic_prefix=f"{prefix}pass.", partitions=6),
        ["events.raw"],
    )
    warmup, *messages = stream(args.events + 1)
    produce(bootstrap, kafka.topics.raw, [warmup])

    work = Path(tempfile.mkdtemp())
    config = work / "herald.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "kafka": {"bootstrap_servers": bootstrap, "topic_prefix": prefix, "partitions": 6},
                "processor": {"store": "rocksdb://", "data_dir": str(work / "data"), "min_severity": "info"},
            }
        )
    )
    # One worker inherits this process's single-core affinity; several share every core.
    every_core = os.sched_getaffinity(0) if args.workers == 1 else set(range(os.cpu_count() or 1))
    workers = [
        subprocess.Popen(
            # Each its own static member, whatever HOSTNAME the environment exports.
            [
                sys.executable,
                "-m",
                "herald",
                "-c",
                str(config),
                "--log-level",
                "WARNING",
                "processor",
                "--instance-id",
                f"bench-worker-{index}",
            ],
            stdout=(work / f"worker-{index}.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        for index in range(args.workers)
    ]
    for worker in workers:  # set at once, before the worker starts its client threads
        os.sched_setaffinity(worker.pid, every_core)
    try:
        count_until(bootstrap, kafka.topics.clean, 1, timeout=300)  # started, assigned, warm
        spy = None
        if args.workers == 1 and args.profile_seconds > 0:
            RESULTS.mkdir(exist_ok=True)
            spy = profile.record(workers[0].pid, args.profile_seconds, PROFILE_RAW, rate=PROFILE_RATE)
        produce(bootstrap, kafka.topics.raw, messages)
        herald = count_until(bootstrap, kafka.topics.clean, len(messages) + 1, timeout=7200)
        peak_rss_mb = [peak_rss(worker.pid) / 1024 for worker in workers]
        if spy is not None:
            spy.wait(args.profile_seconds + 60)
    finally:
        for worker in workers:
            worker.terminate()
            worker.wait(60)
    baseline = passthrough(bootstrap, kafka.topics.raw, f"{prefix}pass.events.raw", len(messages) + 1)
    steps = steps_alone(messages)
    name = "processor" if args.workers == 1 else f"processor-{args.workers}-workers"
    report(
        name if args.events == DEFAULT_EVENTS else f"{name}-{args.events}-events",
        [
            Measurement("plain consume-produce passthrough", len(messages), [baseline]),
            Measurement(f"herald processor (rocksdb, {args.workers} worker(s))", len(messages), [herald]),
            Measurement(STEPS_ALONE, len(messages), [steps]),
        ],
        baseline="plain consume-produce passthrough",
        extra={
            "events": len(messages),
            "workers": args.workers,
            "peak_rss_mb": [round(mb) for mb in peak_rss_mb],
            "core": core if args.workers == 1 else "all",
            "note": "steady state: from a warm, assigned worker until the last clean event",
            **(
                {"profile": profile.summarize(PROFILE_RAW, seconds=args.profile_seconds, rate=PROFILE_RATE)}
                if spy is not None and PROFILE_RAW.exists()
                else {}
            ),
        },
    )


if __name__ == "__main__":
    main()
