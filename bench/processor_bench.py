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

CPU per event, which a shared, noisy machine disturbs far less than a rate: the workers'
utime + stime (/proc/<pid>/stat, every thread) from just before the first message is produced
to the moment the last clean event is on its topic, and again once the worker has gone quiet
(its aggregation of the last events included); the passthrough's, in this process, from the
assignment of its partitions to the flush of its last message (time.process_time, every
thread). The steady rates run from the first output's Kafka timestamp to the last one's, so
neither start-up nor the wait for the last offsets counts.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition

from bench import profile
from bench.common import RESULTS, Measurement, cpu_seconds, pin_to_one_core, report
from processors.core.incident import GROUP_LABELS, fingerprint, labels_of
from processors.core.validate import Processed, validate_and_classify
from processors.stages.classify import seen_key_of
from producer.simulate import simulate, to_envelope
from runtime.config import KafkaSettings
from runtime.kafka import ensure_topics
from schemas import encode

DEFAULT_EVENTS = 20_000
PROFILE_RAW = RESULTS / "processor-profile.txt"
PROFILE_RATE = 100
STEPS_ALONE = "steps alone (no Kafka, no Faust)"
HERALD = [sys.executable, "-m", "herald"]


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
            try:
                total = sum(
                    consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                    for p in metadata.partitions
                )
            except KafkaException:  # a topic just created: its leaders may not be known yet
                total = 0
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


@dataclass
class Timed:
    """Wall-clock seconds (the existing rate figure) and CPU seconds of one run."""

    seconds: float
    cpu: float


def passthrough(bootstrap: str, source: str, target: str, count: int) -> Timed:
    """Consume ``count`` messages and produce them again, in this process. Its CPU is
    time.process_time (every thread of this process, librdkafka's included, in nanoseconds where
    /proc/self/stat counts 10 ms ticks), from the assignment of its partitions to the flush of
    its last message: the group join before it is not counted."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
        }
    )
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "acks": "all"})
    assigned: list[float] = []
    # The client assigns the partitions itself after this callback; nothing is fetched before.
    consumer.subscribe([source], on_assign=lambda *_: assigned.append(time.process_time()))
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
    timed = Timed(time.perf_counter() - started, time.process_time() - assigned[0])
    consumer.commit(asynchronous=False)
    consumer.close()
    return timed


def steps_alone(messages: list[tuple[bytes, bytes]]) -> Timed:
    """Seconds for herald's per-event work on ``messages``, without Kafka or Faust; CPU from
    time.thread_time (this loop runs in this one thread)."""
    started, cpu = time.perf_counter(), time.thread_time()
    for _, value in messages:
        outcome = validate_and_classify(value)
        assert isinstance(outcome, Processed), outcome
        seen_key_of(outcome.clean.occurrence_id)
        fingerprint(labels_of(outcome.clean), GROUP_LABELS)
        encode(outcome.clean)
    return Timed(time.perf_counter() - started, time.thread_time() - cpu)


def output_times(bootstrap: str, topic: str, expected: int) -> list[float]:
    """The Kafka timestamps (producer's create time) of the messages on ``topic``, sorted."""
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"bench-{uuid.uuid4().hex}", "enable.auto.commit": False}
    )
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    times: list[float] = []
    deadline = time.monotonic() + 300
    while len(times) < expected and time.monotonic() < deadline:
        times += [m.timestamp()[1] / 1000 for m in consumer.consume(1000, 1.0) if not m.error()]
    consumer.close()
    return sorted(times)


def steady_rate(times: list[float], events: int) -> float:
    """Events per second from the first of the last ``events`` outputs to the last one: the
    rate once running, start-up (and a warm-up message before them) excluded."""
    last = times[-events:]
    return (len(last) - 1) / max(last[-1] - last[0], 0.001)


def idle_cpu(pids: list[int], seconds: float = 1.0) -> float:
    """Share of a core the processes use together while they have nothing to do."""
    before = sum(cpu_seconds(pid) for pid in pids)
    time.sleep(seconds)
    return (sum(cpu_seconds(pid) for pid in pids) - before) / seconds


def cpu_until_idle(pids: list[int], timeout: float = 120.0) -> tuple[float, float]:
    """The processes' CPU seconds so far, once a quarter second passes in which they use less
    than two clock ticks (what is left after the last clean event, aggregation, is done), and
    the seconds it took to get there."""
    quiet = 2 / os.sysconf("SC_CLK_TCK")
    started = time.monotonic()
    now = sum(cpu_seconds(pid) for pid in pids)
    while time.monotonic() < started + timeout:
        time.sleep(0.25)
        then, now = now, sum(cpu_seconds(pid) for pid in pids)
        if now - then < quiet:
            return then, time.monotonic() - started - 0.25
    return now, timeout


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=DEFAULT_EVENTS)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--profile-seconds", type=float, default=20.0)
    return parser.parse_args()


def write_config(work: Path, bootstrap: str, prefix: str) -> Path:
    config = work / "herald.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "kafka": {"bootstrap_servers": bootstrap, "topic_prefix": prefix, "partitions": 6},
                "processor": {"store": "rocksdb://", "data_dir": str(work / "data"), "min_severity": "info"},
            }
        )
    )
    return config


def start_workers(
    config: Path, work: Path, count: int, *, checkout: Path | None = None
) -> list[subprocess.Popen[bytes]]:
    """``count`` workers of this checkout, or of another (its code first on the path)."""
    # One worker inherits this process's single-core affinity; several share every core.
    every_core = os.sched_getaffinity(0) if count == 1 else set(range(os.cpu_count() or 1))
    env = {**os.environ, "PYTHONPATH": str(checkout)} if checkout else None
    workers = [
        subprocess.Popen(
            # Each its own static member, whatever HOSTNAME the environment exports.
            [
                *HERALD,
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
            cwd=checkout,
            env=env,
        )
        for index in range(count)
    ]
    for worker in workers:  # set at once, before the worker starts its client threads
        os.sched_setaffinity(worker.pid, every_core)
    return workers


@dataclass
class WorkerRun:
    timed: Timed
    cpu_until_idle: float
    tail_seconds: float
    idle_share: float
    peak_rss_mb: list[float]
    profiled: bool


def run_workers(
    args: argparse.Namespace, kafka: KafkaSettings, messages: list[tuple[bytes, bytes]]
) -> WorkerRun:
    """The workers on ``messages``: wall time from the end of producing them to the last clean
    event (the existing figure), and the workers' CPU (/proc/<pid>/stat) from just before the
    first message is produced to the moment the last clean event is seen on the topic."""
    work = Path(tempfile.mkdtemp())
    workers = start_workers(
        write_config(work, kafka.bootstrap_servers, kafka.topic_prefix), work, args.workers
    )
    pids = [worker.pid for worker in workers]
    try:
        count_until(kafka.bootstrap_servers, kafka.topics.clean, 1, timeout=300)  # started, assigned, warm
        idle_share = idle_cpu(pids)
        spy = None
        if args.workers == 1 and args.profile_seconds > 0:
            RESULTS.mkdir(exist_ok=True)
            spy = profile.record(pids[0], args.profile_seconds, PROFILE_RAW, rate=PROFILE_RATE)
        cpu = sum(cpu_seconds(pid) for pid in pids)
        produce(kafka.bootstrap_servers, kafka.topics.raw, messages)
        seconds = count_until(kafka.bootstrap_servers, kafka.topics.clean, len(messages) + 1, timeout=7200)
        timed = Timed(seconds, sum(cpu_seconds(pid) for pid in pids) - cpu)
        peak_rss_mb = [peak_rss(pid) / 1024 for pid in pids]
        settled, tail = cpu_until_idle(pids)
        if spy is not None:
            spy.wait(args.profile_seconds + 60)
    finally:
        for worker in workers:
            worker.terminate()
            worker.wait(60)
    return WorkerRun(timed, settled - cpu, tail, idle_share, peak_rss_mb, spy is not None)


def per_event_us(cpu: float, events: int) -> float:
    return round(cpu / events * 1e6, 1)


def cpu_figures(events: int, worker: WorkerRun, plain: Timed, steps: Timed) -> dict[str, object]:
    herald_us, plain_us = per_event_us(worker.timed.cpu, events), per_event_us(plain.cpu, events)
    return {
        "cpu_us_per_event": {
            "worker": herald_us,
            "worker_until_idle": per_event_us(worker.cpu_until_idle, events),
            "passthrough": plain_us,
            "steps_alone": per_event_us(steps.cpu, events),
        },
        "cpu_ratio": round(herald_us / plain_us, 3),
        "worker_idle_cpu_share": round(worker.idle_share, 4),
        "worker_tail_seconds": round(worker.tail_seconds, 2),
        "cpu_method": (
            "worker: utime+stime of the worker process(es) from /proc/<pid>/stat (all threads), from "
            "just before the first message is produced to the moment the last clean event is seen "
            "(until_idle: to the first quarter second with under two clock ticks after it, "
            "tail_seconds later); passthrough: time.process_time of this process (all threads), "
            "from partition assignment to the flush of its last message; steps alone: "
            "time.thread_time across its loop"
        ),
    }


def steady_figures(bootstrap: str, kafka: KafkaSettings, prefix: str, events: int) -> dict[str, object]:
    herald = steady_rate(output_times(bootstrap, kafka.topics.clean, events + 1), events)
    plain = steady_rate(output_times(bootstrap, f"{prefix}pass.events.raw", events + 1), events)
    return {
        "steady_per_second": {"worker": round(herald), "passthrough": round(plain)},
        "steady_ratio": round(herald / plain, 3),
        "steady_method": "Kafka create timestamps of the outputs, first to last of the measured events",
    }


def main() -> None:
    args = parse_args()
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
    worker = run_workers(args, kafka, messages)
    plain = passthrough(bootstrap, kafka.topics.raw, f"{prefix}pass.events.raw", len(messages) + 1)
    steps = steps_alone(messages)
    extra = {
        "events": len(messages),
        "workers": args.workers,
        "peak_rss_mb": [round(mb) for mb in worker.peak_rss_mb],
        "core": core if args.workers == 1 else "all",
        "note": "steady state: from a warm, assigned worker until the last clean event",
        **cpu_figures(len(messages), worker, plain, steps),
        **steady_figures(bootstrap, kafka, prefix, len(messages)),
        **(
            {"profile": profile.summarize(PROFILE_RAW, seconds=args.profile_seconds, rate=PROFILE_RATE)}
            if worker.profiled and PROFILE_RAW.exists()
            else {}
        ),
    }
    name = "processor" if args.workers == 1 else f"processor-{args.workers}-workers"
    report(
        name if args.events == DEFAULT_EVENTS else f"{name}-{args.events}-events",
        [
            Measurement("plain consume-produce passthrough", len(messages), [plain.seconds]),
            Measurement(
                f"herald processor (rocksdb, {args.workers} worker(s))", len(messages), [worker.timed.seconds]
            ),
            Measurement(STEPS_ALONE, len(messages), [steps.seconds]),
        ],
        baseline="plain consume-produce passthrough",
        extra=extra,
    )
    print_cpu(extra)


def print_cpu(extra: dict[str, Any]) -> None:
    cpu, steady = extra["cpu_us_per_event"], extra["steady_per_second"]
    print(
        f"  CPU per event: worker {cpu['worker']} us ({cpu['worker_until_idle']} us until idle), "
        f"passthrough {cpu['passthrough']} us, x{extra['cpu_ratio']:.2f}; steps alone {cpu['steps_alone']} us"
    )
    print(
        f"  steady (first to last output): worker {steady['worker']:,} /s, passthrough "
        f"{steady['passthrough']:,} /s, x{extra['steady_ratio']:.2f}; worker idle "
        f"{extra['worker_idle_cpu_share']:.1%} of a core, busy {extra['worker_tail_seconds']} s "
        "after the last clean event"
    )


if __name__ == "__main__":
    main()
