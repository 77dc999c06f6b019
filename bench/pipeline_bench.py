"""The whole pipeline as a user runs it: producer, processor and notifier processes between a
fake API server and a webhook, on the real broker.

    python -m bench.pipeline_bench [--rates 100,1000,5000] [--seconds 10] [--storm 10000]
    python -m bench.pipeline_bench --storm-only [--background 2000] [--storm-seconds 30]

Latency: each event is a new incident (its own Deployment), ``group_wait`` 0, measured from
the moment the API server stored the Event to the webhook's receipt of its incident, at each
rate. Baseline, same run and rate: a plain loop that produces a message, consumes it and POSTs
it to the same webhook (one Kafka hop and a POST, the floor under herald's three hops).

Storm: 10,000 occurrences of one incident (``group_wait`` 5 s, ``group_interval`` 30 s) in,
webhook messages out.

Time to page under a storm (``--storm-only`` runs it alone and keeps the other figures of
``pipeline.json``): ``group_wait`` 0; five crash-looping pods (five workloads) fire first, then for
``--storm-seconds`` the bench creates ``--background`` Events/s of them (each its own occurrence:
own uid and resourceVersion, so nothing is deduplicated) and, every 0.25-0.5 s, one Event of a new
workload (its own incident). Per new incident: from the API server storing its Event to the
webhook's first receipt of it; p50/p95/p99 and how many of them arrived. The rates reported are
measured: the bench's own creation rate and the rate events.raw grew at (high watermarks), during
the window; beside them the processor's lag on events.raw at the window's end (from its
committed offsets, so up to a commit interval high) and each process's CPU in the window, in
cores. Warnings in the herald processes' logs (such as a full producer buffer) are counted.
Baseline, same run: the plain produce, consume, POST loop under the same background rate into its
own topic; it POSTs only a workload's first message (posting each of 2,000/s would measure the
bench's webhook, and herald pages no more than once per incident either).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
import yaml
from confluent_kafka import Consumer, Producer, TopicPartition

from bench.common import RESULTS, cpu_seconds
from runtime.config import KafkaSettings
from runtime.kafka import ensure_topics
from tests.support.fake_apiserver import FakeApiServer, make_event
from tests.support.processes import herald_process
from tests.support.waiting import wait_until
from tests.support.webhook_server import Reply, Request, webhook_server

POD_SUFFIX = "-7d9c8b6f5d-x2kqb"
CRASHING = [f"crash{n}" for n in range(5)]
"""The storm's already-firing incidents: one crash-looping pod per workload."""
PAGE_GAP = (0.25, 0.5)
"""Seconds between two new incidents during the storm, drawn uniformly."""


class Receipts:
    """Webhook receipt time of each incident (by workload), and the messages received."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}
        self.messages = 0
        self.occurrences = 0

    def respond(self, _index: int, request: Request) -> Reply:
        now = time.time()
        body = orjson.loads(request.body)
        self.messages += 1
        for incident in body.get("incidents", [body]):
            self.at.setdefault(str(incident["workload"]), now)
            self.occurrences = max(self.occurrences, int(incident.get("occurrences", 0)))
        return 200, {"content-type": "application/json"}, b'{"ok":true}'


def percentiles(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1)

    return {"p50_ms": at(0.50), "p95_ms": at(0.95), "p99_ms": at(0.99), "events": len(ordered)}


def paced(rate: float, count: int) -> Iterator[int]:
    """Yield 0..count-1 on an absolute schedule, so a slow step is caught up, not accumulated."""
    started = time.perf_counter()
    for index in range(count):
        delay = started + index / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        yield index


@contextmanager
def pipeline(
    bootstrap: str, work: Path, hook_url: str, api: FakeApiServer, **processor: Any
) -> Iterator[tuple[KafkaSettings, dict[str, int]]]:
    """The three herald processes on fresh topics; yields their Kafka settings and pids."""
    prefix = f"bench-{uuid.uuid4().hex[:8]}."
    kubeconfig = api.write_kubeconfig(work / "kubeconfig", context="bench")
    config = work / "herald.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "kafka": {"bootstrap_servers": bootstrap, "topic_prefix": prefix, "partitions": 6},
                "producer": {
                    "clusters": [{"cluster": "bench", "kubeconfig": str(kubeconfig), "context": "bench"}],
                    "linger_ms": 5,
                },
                "processor": {"data_dir": str(work / "data"), **processor},
                "receivers": [{"name": "hook", "type": "webhook", "url": hook_url}],
            }
        )
    )
    kafka = KafkaSettings(bootstrap_servers=bootstrap, topic_prefix=prefix, partitions=6)
    ensure_topics(kafka)
    with ExitStack() as stack:
        pids = {}
        for args in (("processor",), ("notifier", "--receiver", "hook"), ("producer",)):
            pids[args[0]] = stack.enter_context(
                herald_process(config, "--log-level", "WARNING", *args, log_dir=work, name=args[0])
            ).pid
        yield kafka, pids


def herald_latency(bootstrap: str, rate: float, count: int) -> dict[str, float]:
    receipts = Receipts()
    created: dict[str, float] = {}
    with (
        tempfile.TemporaryDirectory() as work,
        webhook_server(receipts.respond) as hook,
        FakeApiServer(bookmark_interval=0.5) as api,
        pipeline(bootstrap, Path(work), hook.url, api, group_wait_seconds=0),
    ):
        warm = "warmup"
        api.create_event(make_event(0, name=warm + POD_SUFFIX))
        wait_until(lambda: warm in receipts.at, timeout=300, what="the pipeline to deliver a first incident")
        for index in paced(rate, count):
            workload = f"lat{index:06d}"
            api.create_event(make_event(index + 1, name=workload + POD_SUFFIX))
            created[workload] = time.time()
        wait_until(lambda: len(receipts.at) > count, timeout=600, interval=0.5, what="every incident")
    return percentiles([receipts.at[w] - t for w, t in created.items()])


def baseline_latency(bootstrap: str, rate: float, count: int) -> dict[str, float]:
    receipts = Receipts()
    sent: dict[str, float] = {}
    with plain_loop(bootstrap, receipts, first_only=False) as (producer, topic):
        producer.produce(topic, orjson.dumps({"workload": "warmup"}))
        producer.flush()
        wait_until(lambda: "warmup" in receipts.at, timeout=120, what="the plain loop's first message")
        for index in paced(rate, count):
            workload = f"lat{index:06d}"
            sent[workload] = time.time()
            producer.produce(topic, orjson.dumps({"workload": workload}))
            producer.poll(0)
        producer.flush()
        wait_until(lambda: len(receipts.at) > count, timeout=600, interval=0.5, what="every message")
    return percentiles([receipts.at[w] - t for w, t in sent.items()])


def storm(bootstrap: str, occurrences: int) -> dict[str, int]:
    receipts = Receipts()
    with (
        tempfile.TemporaryDirectory() as work,
        webhook_server(receipts.respond) as hook,
        FakeApiServer(bookmark_interval=0.5) as api,
        pipeline(bootstrap, Path(work), hook.url, api, group_wait_seconds=5, group_interval_seconds=30),
    ):
        for index in range(occurrences):
            api.create_event(make_event(index, name="storm" + POD_SUFFIX))
        wait_until(
            lambda: receipts.occurrences >= occurrences,
            timeout=900,
            interval=1,
            what=f"the incident to count all {occurrences}",
        )
        time.sleep(1)  # the bench reports what arrived; a message doubled now would show here
    return {"occurrences_in": occurrences, "messages_out": receipts.messages}


def drive_storm(
    rate: float, seconds: float, background: Callable[[int], object], new: Callable[[str], None]
) -> dict[str, float]:
    """For ``seconds``: ``background(i)`` at ``rate`` a second (in 10 ms steps, on an absolute
    schedule, a late step catching up at most 50 ms' worth), and ``new(workload)`` every
    0.25-0.5 s. Returns the background rate actually reached and how late it fell."""
    gaps = random.Random(19)
    started = time.perf_counter()
    sent, pages, behind = 0, 0, 0
    next_page = started + gaps.uniform(*PAGE_GAP)
    while (now := time.perf_counter()) < started + seconds:
        due = int((now - started) * rate)
        behind = max(behind, due - sent)
        for index in range(sent, min(due, sent + int(rate * 0.05) + 1)):
            background(index)
            sent += 1
        if time.perf_counter() >= next_page:
            new(f"page{pages:04d}")
            pages += 1
            next_page += gaps.uniform(*PAGE_GAP)
        time.sleep(max(0.0, 0.01 - (time.perf_counter() - now)))
    elapsed = time.perf_counter() - started
    return {
        "background_sent": sent,
        "background_per_second": round(sent / elapsed),
        "max_behind_events": behind,
        "seconds": round(elapsed, 1),
        "new_incidents": pages,
    }


def raw_offsets(bootstrap: str, topic: str, group: str | None = None) -> tuple[int, int]:
    """How many messages ``topic`` holds (its partitions' high watermarks summed) and, with
    ``group``, how many of them that consumer group has committed."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group or f"marks-{uuid.uuid4().hex}"})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        each = [TopicPartition(topic, p) for p in partitions]
        high = sum(consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in each)
        done = consumer.committed(each, timeout=10) if group else []
        return high, sum(max(tp.offset, 0) for tp in done)
    finally:
        consumer.close()


def arrivals(receipts: Receipts, created: dict[str, float], timeout: float) -> dict[str, float]:
    """Each new incident's time to page, once all arrived or at ``timeout`` (those not arrived
    are counted as missing, not as latencies)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not all(w in receipts.at for w in created):
        time.sleep(0.2)
    arrived = [receipts.at[w] - t for w, t in created.items() if w in receipts.at]
    figures = percentiles(arrived) if arrived else {"events": 0}
    return {
        **figures,
        "sent": len(created),
        "arrived": len(arrived),
        "max_ms": round(max(arrived, default=0) * 1000, 1),
    }


def log_warnings(work: Path, window: tuple[float, float]) -> dict[str, Any]:
    """Warning and error lines in each herald process's log: how many, how many of them during
    the storm's window (by their timestamp), and a few of them to read."""
    found: dict[str, Any] = {}
    for log in sorted(work.glob("*.log")):
        lines = [
            line.strip()
            for line in log.read_text(errors="replace").splitlines()
            if any(word in line.lower() for word in ("warn", "error", "buffer full"))
        ]
        found[log.stem] = {
            "lines": len(lines),
            "in_window": sum(window[0] <= logged_at(line) <= window[1] for line in lines),
            "buffer_full": sum("buffer full" in line.lower() for line in lines),
            "samples": list(dict.fromkeys(line[:200] for line in lines))[:3],
        }
    return found


def logged_at(line: str) -> float:
    """The epoch time of a text log line's ``2026-12-06 08:42:33,889`` prefix (NaN without one)."""
    try:
        return time.mktime(time.strptime(line[:19], "%Y-%m-%d %H:%M:%S")) + int(line[20:23]) / 1000
    except ValueError:
        return float("nan")


def herald_under_storm(bootstrap: str, rate: float, seconds: float) -> dict[str, Any]:
    receipts = Receipts()
    created: dict[str, float] = {}

    def new(workload: str) -> None:
        api.create_event(make_event(1_000_000 + len(created), name=workload + POD_SUFFIX))
        created[workload] = time.time()

    with (
        tempfile.TemporaryDirectory() as work,
        webhook_server(receipts.respond) as hook,
        FakeApiServer(bookmark_interval=0.5) as api,
        pipeline(bootstrap, Path(work), hook.url, api, group_wait_seconds=0) as (kafka, pids),
    ):
        for n, workload in enumerate(CRASHING):
            api.create_event(make_event(2_000_000 + n, name=workload + POD_SUFFIX))
        wait_until(
            lambda: all(w in receipts.at for w in CRASHING), timeout=300, what="the storm's incidents to fire"
        )
        group = f"{kafka.topic_prefix}herald-processor"  # the processor's default app id
        raw_before, window_start = raw_offsets(bootstrap, kafka.topics.raw)[0], time.time()
        pids["bench"] = os.getpid()
        cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        driven = drive_storm(
            rate,
            seconds,
            lambda i: api.create_event(make_event(i, name=CRASHING[i % len(CRASHING)] + POD_SUFFIX)),
            new,
        )
        window = (window_start, time.time())
        cpu = {n: round((cpu_seconds(pid) - cpu_before[n]) / driven["seconds"], 2) for n, pid in pids.items()}
        raw_end, committed_end = raw_offsets(bootstrap, kafka.topics.raw, group)
        pages = arrivals(receipts, created, timeout=180)
        raw_total = raw_offsets(bootstrap, kafka.topics.raw)[0]
        warnings = log_warnings(Path(work), window)
    return {
        **pages,
        **driven,
        "raw_per_second_in_window": round((raw_end - raw_before) / driven["seconds"]),
        "raw_after_window": raw_total - raw_end,
        "processor_lag_at_window_end": raw_end - committed_end,
        "cores_busy_in_window": cpu,
        "warnings": warnings,
    }


@contextmanager
def plain_loop(bootstrap: str, receipts: Receipts, *, first_only: bool) -> Iterator[tuple[Producer, str]]:
    """The baseline: produce to a fresh topic, a thread consumes it and POSTs each message (with
    ``first_only``, only a workload's first) to a webhook recording ``receipts``."""
    kafka = KafkaSettings(
        bootstrap_servers=bootstrap, topic_prefix=f"bench-{uuid.uuid4().hex[:8]}.", partitions=6
    )
    ensure_topics(kafka, ["events.raw"])
    topic = kafka.topics.raw
    with webhook_server(receipts.respond) as hook:
        consumer = Consumer(
            {"bootstrap.servers": bootstrap, "group.id": topic, "auto.offset.reset": "earliest"}
        )
        consumer.subscribe([topic])
        done = threading.Event()

        def forward() -> None:
            posted: set[bytes] = set()
            with httpx.Client(timeout=10) as client:
                while not done.is_set():
                    for message in consumer.consume(100, 0.1):
                        if message.error() or (first_only and message.key() in posted):
                            continue
                        posted.add(message.key() or b"")
                        client.post(hook.url, content=message.value())

        forwarder = threading.Thread(target=forward)
        forwarder.start()
        producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "acks": "all"})
        try:
            yield producer, topic
        finally:
            producer.flush()
            done.set()
            forwarder.join()
            consumer.close()


def baseline_under_storm(bootstrap: str, rate: float, seconds: float) -> dict[str, Any]:
    receipts = Receipts()
    sent: dict[str, float] = {}
    with plain_loop(bootstrap, receipts, first_only=True) as (producer, topic):

        def send(workload: str, index: int = 0) -> None:
            producer.produce(topic, orjson.dumps({"workload": workload, "seq": index}), key=workload)
            producer.poll(0)

        def new(workload: str) -> None:
            sent[workload] = time.time()
            send(workload)

        for workload in CRASHING:
            send(workload)
        wait_until(
            lambda: all(w in receipts.at for w in CRASHING), timeout=120, what="the plain loop's first"
        )
        driven = drive_storm(rate, seconds, lambda i: send(CRASHING[i % len(CRASHING)], i), new)
        pages = arrivals(receipts, sent, timeout=180)
    return {**pages, **driven}


def time_to_page(bootstrap: str, rate: float, seconds: float) -> dict[str, Any]:
    loads = [Path("/proc/loadavg").read_text().split()[0]]
    herald = herald_under_storm(bootstrap, rate, seconds)
    loads.append(Path("/proc/loadavg").read_text().split()[0])
    plain = baseline_under_storm(bootstrap, rate, seconds)
    loads.append(Path("/proc/loadavg").read_text().split()[0])
    return {
        "background_rate": rate,
        "seconds": seconds,
        "herald": herald,
        "baseline": plain,
        "baseline_is": "plain produce, consume, POST loop under the same background rate, POSTing a "
        "workload's first message only",
        "loadavg_1m": loads,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rates", default="100,1000,5000")
    parser.add_argument("--seconds", type=float, default=5.0, help="how long each rate is sustained")
    parser.add_argument("--storm", type=int, default=10_000)
    parser.add_argument("--background", type=float, default=2000.0, help="storm events/s under time to page")
    parser.add_argument("--storm-seconds", type=float, default=30.0, help="how long the storm lasts")
    parser.add_argument("--storm-only", action="store_true", help="run only the time to page under a storm")
    args = parser.parse_args()
    bootstrap = os.environ.get("HERALD_KAFKA_BOOTSTRAP", "127.0.0.1:19092")
    path = RESULTS / "pipeline.json"
    results: dict[str, Any]
    if args.storm_only:
        results = orjson.loads(path.read_bytes()) if path.exists() else {"bench": "pipeline"}
    else:
        results = everything_else(bootstrap, args)
    results["time_to_page"] = time_to_page(bootstrap, args.background, args.storm_seconds)
    print_time_to_page(results["time_to_page"])
    RESULTS.mkdir(exist_ok=True)
    path.write_text(orjson.dumps(results, option=orjson.OPT_INDENT_2).decode() + "\n")


def everything_else(bootstrap: str, args: argparse.Namespace) -> dict[str, Any]:
    """The latency at each rate beside its baseline, and the storm's compression."""
    latency: dict[str, Any] = {}
    for rate in (float(r) for r in args.rates.split(",")):
        count = max(100, int(rate * args.seconds))
        latency[f"{rate:.0f}"] = {
            "herald": herald_latency(bootstrap, rate, count),
            "baseline": baseline_latency(bootstrap, rate, count),
        }
        print(f"{rate:>6.0f}/s  herald {latency[f'{rate:.0f}']['herald']}")
        print(f"{'':>8}  plain  {latency[f'{rate:.0f}']['baseline']}")
    compression = storm(bootstrap, args.storm)
    print(f"storm: {compression}")
    return {
        "bench": "pipeline",
        "latency": latency,
        "latency_baseline": "plain produce, consume, POST loop at the same rate",
        "storm": compression,
        "cores": os.cpu_count(),
        "median_p99_ratio": statistics.median(
            v["herald"]["p99_ms"] / max(v["baseline"]["p99_ms"], 0.1) for v in latency.values()
        ),
    }


def print_time_to_page(result: dict[str, Any]) -> None:
    for name in ("herald", "baseline"):
        figures = {k: v for k, v in result[name].items() if k != "warnings"}
        print(f"time to page under {result['background_rate']:.0f}/s, {name}: {figures}")
    for process, found in result["herald"]["warnings"].items():
        print(f"  {process} log: {found}")
    print(f"  load average (1 min) before, between, after: {result['loadavg_1m']}")


if __name__ == "__main__":
    main()
