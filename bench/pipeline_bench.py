"""The whole pipeline as a user runs it: producer, processor and notifier processes between a
fake API server and a webhook, on the real broker.

    python -m bench.pipeline_bench [--rates 100,1000,5000] [--seconds 10] [--storm 10000]

Latency: each event is a new incident (its own Deployment), ``group_wait`` 0, measured from
the moment the API server stored the Event to the webhook's receipt of its incident, at each
rate. Baseline, same run and rate: a plain loop that produces a message, consumes it and POSTs
it to the same webhook (one Kafka hop and a POST, the floor under herald's three hops).

Storm: 10,000 occurrences of one incident (``group_wait`` 5 s, ``group_interval`` 30 s) in,
webhook messages out.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
import yaml
from confluent_kafka import Consumer, Producer

from bench.common import RESULTS
from runtime.config import KafkaSettings
from runtime.kafka import ensure_topics
from tests.support.fake_apiserver import FakeApiServer, make_event
from tests.support.processes import herald_process
from tests.support.waiting import wait_until
from tests.support.webhook_server import Reply, Request, webhook_server

POD_SUFFIX = "-7d9c8b6f5d-x2kqb"


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
) -> Iterator[None]:
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
    ensure_topics(KafkaSettings(bootstrap_servers=bootstrap, topic_prefix=prefix, partitions=6))
    with ExitStack() as stack:
        for args in (("processor",), ("notifier", "--receiver", "hook"), ("producer",)):
            stack.enter_context(
                herald_process(config, "--log-level", "WARNING", *args, log_dir=work, name=args[0])
            )
        yield


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
    kafka = KafkaSettings(
        bootstrap_servers=bootstrap, topic_prefix=f"bench-{uuid.uuid4().hex[:8]}.", partitions=6
    )
    ensure_topics(kafka, ["events.raw"])
    topic = kafka.topics.raw
    receipts = Receipts()
    sent: dict[str, float] = {}
    with webhook_server(receipts.respond) as hook:
        consumer = Consumer(
            {"bootstrap.servers": bootstrap, "group.id": topic, "auto.offset.reset": "earliest"}
        )
        consumer.subscribe([topic])
        done = threading.Event()

        def forward() -> None:
            with httpx.Client(timeout=10) as client:
                while not done.is_set():
                    for message in consumer.consume(100, 0.1):
                        if not message.error():
                            client.post(hook.url, content=message.value())

        forwarder = threading.Thread(target=forward)
        forwarder.start()
        producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "acks": "all"})
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
        done.set()
        forwarder.join()
        consumer.close()
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rates", default="100,1000,5000")
    parser.add_argument("--seconds", type=float, default=5.0, help="how long each rate is sustained")
    parser.add_argument("--storm", type=int, default=10_000)
    args = parser.parse_args()
    bootstrap = os.environ.get("HERALD_KAFKA_BOOTSTRAP", "127.0.0.1:19092")
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
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "pipeline.json").write_text(
        orjson.dumps(
            {
                "bench": "pipeline",
                "latency": latency,
                "latency_baseline": "plain produce, consume, POST loop at the same rate",
                "storm": compression,
                "cores": os.cpu_count(),
                "median_p99_ratio": statistics.median(
                    v["herald"]["p99_ms"] / max(v["baseline"]["p99_ms"], 0.1) for v in latency.values()
                ),
            },
            option=orjson.OPT_INDENT_2,
        ).decode()
        + "\n"
    )


if __name__ == "__main__":
    main()
