"""Notifier throughput: herald's webhook delivery against a bare httpx POST loop, same bodies, same run.

    python -m bench.notifier_bench [--updates 3000] [--incidents 2000] [--runs 3] [--pipeline-runs 2]

Receiver level: N incident updates (5 samples, 20 objects each) rendered by the real
WebhookReceiver and POSTed one after another (as the notifier does per receiver), against
a bare loop POSTing the same pre-rendered bodies with the same httpx.AsyncClient settings
to the same server. Render-only rows (no HTTP) for the webhook and the WeCom markdown
receivers show where the time goes.

Pipeline level: the real Notifier, in this process, consuming M incidents already on a
fresh topic namespace of the real broker and delivering them to the same server with no
rate limit, timed from its first non-empty poll to the server's receipt of the last one;
against the bare POST loop of M bodies, and a plain confluent-kafka consume-and-POST loop.
In-process rather than ``herald notifier``: the first poll that returns messages can be
timed exactly (a subprocess would mix its start-up and group join into the figure), and
``herald notifier`` runs this same ``Notifier.run`` with only signal handlers around it.

The HTTP server is a minimal keep-alive asyncio server in a subprocess pinned to another
core (when there is one), so it never competes with the client for the GIL or its core;
the tests' ThreadingHTTPServer is measured once with the bare loop to show why.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
from confluent_kafka import Consumer, Producer

from bench.common import RESULTS, Measurement, alternate, pin_to_one_core, report
from notifiers.notification import Notification
from notifiers.receivers.webhook import WebhookReceiver
from notifiers.receivers.wecom import WeComReceiver
from notifiers.runner import Notifier, build_receiver
from runtime.config import HeraldConfig
from runtime.kafka import ensure_topics
from schemas import Incident, IncidentStatus, SampleMessage, Severity, encode
from tests.support.webhook_server import webhook_server

TIMEOUT_SECONDS = 10.0  # the webhook receiver's default timeout_seconds
HEADERS = {"content-type": "application/json"}  # what WebhookReceiver.send sends without extra headers

# -- realistic incident updates ------------------------------------------------------------

SAMPLES = [
    (
        "BackOff",
        "Back-off restarting failed container {w} in pod {pod}_{ns}(8f2c41e0-1b7d-4c9e-a4f3-2d6b90c1e7aa)",
    ),
    (
        "Unhealthy",
        'Readiness probe failed: Get "http://10.42.3.17:8080/healthz": context deadline exceeded '
        "(Client.Timeout exceeded while awaiting headers)",
    ),
    ("Killing", "Container {w} failed liveness probe, will be restarted"),
    (
        "FailedScheduling",
        "0/12 nodes are available: 3 Insufficient memory, 9 node(s) didn't match Pod's node "
        "affinity/selector. preemption: 0/12 nodes are available: 3 No preemption victims found.",
    ),
    ("OOMKilling", "Memory cgroup out of memory: Killed process 28311 ({w}) total-vm:4012344kB"),
]
CATEGORIES = ["crash-loop", "probe-failure", "oom", "scheduling", "image-pull"]


def incidents(count: int, *, seed: int = 7) -> list[Incident]:
    """Distinct fingerprints (so every one is due), 5 samples and 20 objects of 37 each."""
    rng = random.Random(seed)
    base = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
    out = []
    for index in range(count):
        ns = f"team-{rng.randrange(40):02d}"
        workload = f"{rng.choice(['checkout', 'payments', 'search', 'ingest', 'web'])}-{index % 97}"
        pods = [f"{workload}-7d9f{rng.randrange(16**4):04x}-{rng.randrange(36**5):07x}" for _ in range(20)]
        category = CATEGORIES[index % len(CATEGORIES)]
        severity = [Severity.WARNING, Severity.CRITICAL, Severity.INFO][index % 3]
        first = base + timedelta(seconds=index)
        samples = []
        for n, (reason, text) in enumerate(SAMPLES):
            pod = pods[n]
            samples.append(
                SampleMessage(
                    reason=reason,
                    message=text.format(w=workload, pod=pod, ns=ns),
                    object=f"Pod/{ns}/{pod}",
                    at=first + timedelta(seconds=30 * n),
                )
            )
        out.append(
            Incident(
                fingerprint=f"{rng.getrandbits(64):016x}{index:08x}",
                version=1,
                status=IncidentStatus.FIRING,
                severity=severity,
                category=category,
                title=f"{category} in {ns}/{workload}",
                cluster=f"prod-{index % 3}",
                namespace=ns,
                workload=workload,
                labels={
                    "cluster": f"prod-{index % 3}",
                    "namespace": ns,
                    "workload": workload,
                    "severity": severity.value,
                    "category": category,
                    "team": ns,
                },
                occurrences=37 + index % 50,
                first_seen=first,
                last_seen=first + timedelta(minutes=4),
                objects=[f"Pod/{ns}/{pod}" for pod in pods],
                objects_total=37,
                samples=samples,
                emitted_at=first + timedelta(minutes=4),
            )
        )
    return out


# -- the HTTP server: a subprocess on its own core --------------------------------------------

OK = b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{"ok":true}'


class _Hook(asyncio.Protocol):
    """HTTP/1.1 keep-alive with content-length bodies: enough for httpx, and fast."""

    def __init__(self, stats: dict[str, dict[str, Any]]) -> None:
        self._stats = stats
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while (end := self._buffer.find(b"\r\n\r\n")) >= 0:
            lines = bytes(self._buffer[:end]).decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            if len(self._buffer) < end + 4 + length:
                return
            body = bytes(self._buffer[end + 4 : end + 4 + length])
            del self._buffer[: end + 4 + length]
            assert self._transport is not None
            self._transport.write(self._answer(method, path, body))

    def _answer(self, method: str, path: str, body: bytes) -> bytes:
        if method == "GET" and path.startswith("/stats/"):
            out = orjson.dumps(self._stats.get(path.removeprefix("/stats/"), {}))
            return b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(out), out)
        now = time.perf_counter()  # CLOCK_MONOTONIC: comparable with the client process's
        entry = self._stats.setdefault(
            path.removeprefix("/hook/"), {"requests": 0, "incidents": 0, "bytes": 0, "first": now}
        )
        entry["requests"] += 1
        entry["incidents"] += body.count(b'"fingerprint":')
        entry["bytes"] += len(body)
        entry["last"] = now
        return OK


def serve(core: int | None) -> None:
    if core is not None:
        os.sched_setaffinity(0, {core})
    stats: dict[str, dict[str, Any]] = {}

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _Hook(stats), "127.0.0.1", 0, backlog=128)
        print(server.sockets[0].getsockname()[1], flush=True)
        await server.serve_forever()

    asyncio.run(main())


class Server:
    def __init__(self, client_core: int) -> None:
        other = sorted(set(range(os.cpu_count() or 1)) - {client_core})
        self.core = other[0] if other else None
        self._process = subprocess.Popen(
            [sys.executable, "-m", "bench.notifier_bench", "--serve", str(self.core)],
            stdout=subprocess.PIPE,
        )
        assert self._process.stdout is not None
        self.port = int(self._process.stdout.readline())

    def url(self, key: str) -> str:
        return f"http://127.0.0.1:{self.port}/hook/{key}"

    def stats(self, key: str) -> dict[str, Any]:
        reply = httpx.get(f"http://127.0.0.1:{self.port}/stats/{key}", timeout=10)
        result: dict[str, Any] = reply.json()
        return result

    def close(self) -> None:
        self._process.terminate()
        self._process.wait(10)


# -- receiver level --------------------------------------------------------------------------


def config(bootstrap: str, prefix: str, receivers: list[dict[str, Any]]) -> HeraldConfig:
    return HeraldConfig.model_validate(
        {
            "kafka": {"bootstrap_servers": bootstrap, "topic_prefix": prefix, "partitions": 6},
            "receivers": receivers,
        }
    )


def webhook_receiver(url: str) -> WebhookReceiver:
    receiver, _filters = build_receiver(
        config("unused:9092", "bench.", [{"name": "hook", "type": "webhook", "url": url}]), "hook"
    )
    assert isinstance(receiver, WebhookReceiver)
    return receiver


def wecom_receiver() -> WeComReceiver:
    entry = {"name": "robot", "type": "wecom", "url": "http://127.0.0.1:9/cgi-bin/webhook/send?key=bench"}
    receiver, _filters = build_receiver(config("unused:9092", "bench.", [entry]), "robot")
    assert isinstance(receiver, WeComReceiver)
    return receiver


async def bare_posts(url: str, bodies: list[bytes]) -> None:
    async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS) as client:
        for body in bodies:
            response = await client.request("POST", url, content=body, headers=HEADERS)
            if response.status_code != 200:
                raise RuntimeError(f"server answered {response.status_code}")


async def receiver_sends(url: str, notifications: list[Notification]) -> None:
    receiver = webhook_receiver(url)
    try:
        for notification in notifications:
            await receiver.send(notification)
    finally:
        await receiver.aclose()


class Runs:
    """A fresh server path per run, checked after it: every request and incident arrived."""

    def __init__(self, server: Server, name: str, expected: int) -> None:
        self.server, self.name, self.expected, self.count = server, name, expected, 0

    def next(self) -> str:
        self.count += 1
        return f"{self.name}-{self.count}"

    def check(self) -> None:
        for n in range(1, self.count + 1):
            got = self.server.stats(f"{self.name}-{n}").get("incidents", 0)
            if got != self.expected:
                raise RuntimeError(
                    f"{self.name} run {n}: server saw {got} incidents, expected {self.expected}"
                )


def receiver_level(server: Server, count: int, runs: int) -> tuple[list[Measurement], dict[str, Any]]:
    notifications = [Notification((i,)) for i in incidents(count)]
    webhook, wecom = webhook_receiver(server.url("unused")), wecom_receiver()
    bodies = [webhook.render(n) for n in notifications]
    wecom_bodies = [orjson.dumps(wecom.payload(n)) for n in notifications]
    bare, real = Runs(server, "bare", count), Runs(server, "receiver", count)

    def render_webhook() -> None:
        for notification in notifications:
            webhook.render(notification)

    def render_wecom() -> None:
        for notification in notifications:
            orjson.dumps(wecom.payload(notification))  # what send() posts

    def context_only() -> None:
        for notification in notifications:
            webhook._renderer.context(notification)

    measurements = alternate(
        runs,
        ("bare httpx POST loop", count, lambda: asyncio.run(bare_posts(server.url(bare.next()), bodies))),
        (
            "WebhookReceiver.send",
            count,
            lambda: asyncio.run(receiver_sends(server.url(real.next()), notifications)),
        ),
        ("render only: webhook", count, render_webhook),
        ("render only: wecom markdown", count, render_wecom),
        ("Renderer.context only", count, context_only),
    )
    bare.check()
    real.check()
    return measurements, {
        "updates": count,
        "webhook_body_bytes": sum(map(len, bodies)) // count,
        "wecom_body_bytes": sum(map(len, wecom_bodies)) // count,
    }


def threaded_server_baseline(count: int) -> float:
    """The bare loop against the tests' ThreadingHTTPServer (a thread of this process)."""

    bodies = [webhook_receiver("http://unused/").render(Notification((i,))) for i in incidents(count)]
    with webhook_server() as server:
        started = time.perf_counter()
        asyncio.run(bare_posts(server.url, bodies))
        elapsed = time.perf_counter() - started
        assert len(server.accepted()) == count
    return count / elapsed


# -- pipeline level --------------------------------------------------------------------------


def publish(bootstrap: str, topic: str, updates: list[Incident]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 20})
    for update in updates:
        while True:
            try:
                producer.produce(topic, key=update.fingerprint.encode(), value=encode(update))
                break
            except BufferError:
                producer.poll(0.05)
    assert producer.flush(60) == 0


def fresh_namespace(bootstrap: str, updates: list[Incident], url: str) -> HeraldConfig:
    herald = config(
        bootstrap, f"bench-{uuid.uuid4().hex[:8]}.", [{"name": "hook", "type": "webhook", "url": url}]
    )
    ensure_topics(herald.kafka)
    publish(bootstrap, herald.kafka.topics.alerts, updates)
    return herald


def notifier_run(herald: HeraldConfig, server: Server, key: str, expected: int) -> tuple[float, float]:
    """Seconds from the first non-empty poll to the server's last receipt, and start-up seconds."""
    receiver, filters = build_receiver(herald, "hook")
    notifier = Notifier(herald, receiver, filters=filters)
    first: list[float] = []
    poll = notifier._poll_batch

    def timed_poll() -> list[Any]:
        batch = poll()
        if batch and not first:
            first.append(time.perf_counter())
        return batch

    notifier._poll_batch = timed_poll  # type: ignore[method-assign]

    async def main() -> float:
        started = time.perf_counter()
        task = asyncio.create_task(notifier.run())
        deadline = started + 600
        while notifier.stats.delivered < expected:
            if task.done():
                task.result()
                raise RuntimeError("the notifier stopped early")
            if time.perf_counter() > deadline:
                raise TimeoutError(f"delivered {notifier.stats.delivered} of {expected}")
            await asyncio.sleep(0.05)
        notifier.stop()
        await task
        return started

    started = asyncio.run(main())
    stats = server.stats(key)
    if stats["incidents"] != expected or notifier.stats.digests:
        raise RuntimeError(f"server saw {stats}, digests {notifier.stats.digests}")
    return stats["last"] - first[0], first[0] - started


def consume_and_post(herald: HeraldConfig, url: str, bodies: list[bytes]) -> float:
    """A plain consumer of the same topic POSTing a pre-rendered body per message, committing per
    batch: the floor for 'consume from Kafka, deliver over HTTP'. Timed from the first message."""
    consumer = Consumer(
        {
            "bootstrap.servers": herald.kafka.bootstrap_servers,
            "group.id": f"bench-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([herald.kafka.topics.alerts])

    async def main() -> float:
        loop = asyncio.get_running_loop()
        seen, started = 0, 0.0
        async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS) as client:
            while seen < len(bodies):
                messages = await loop.run_in_executor(None, consumer.consume, 500, 0.5)
                if messages and not started:
                    started = time.perf_counter()
                for message in messages:
                    if message.error():
                        continue
                    response = await client.request("POST", url, content=bodies[seen], headers=HEADERS)
                    assert response.status_code == 200
                    seen += 1
                if messages:
                    consumer.commit(asynchronous=False)
        return time.perf_counter() - started

    try:
        return asyncio.run(main())
    finally:
        consumer.close()


def pipeline_level(
    server: Server, bootstrap: str, count: int, runs: int
) -> tuple[list[Measurement], dict[str, Any]]:
    updates = incidents(count, seed=11)
    bodies = [webhook_receiver("http://unused/").render(Notification((u,))) for u in updates]
    bare = Measurement("bare httpx POST loop", count, [])
    plain = Measurement("plain consume + POST loop", count, [])
    herald = Measurement("herald Notifier (webhook)", count, [])
    startup: list[float] = []
    for run in range(runs):
        key = f"pipeline-{run}"
        namespace = fresh_namespace(bootstrap, updates, server.url(key))
        started = time.perf_counter()
        asyncio.run(bare_posts(server.url(f"pipeline-bare-{run}"), bodies))
        bare.seconds.append(time.perf_counter() - started)
        plain.seconds.append(consume_and_post(namespace, server.url(f"pipeline-plain-{run}"), bodies))
        seconds, start = notifier_run(namespace, server, key, count)
        herald.seconds.append(seconds)
        startup.append(start)
    return [bare, plain, herald], {
        "incidents": count,
        "notifier_startup_seconds": startup,
        "note": "Notifier timed from its first non-empty poll to the server's receipt of the last incident; "
        "start-up (topics, notification log, group join) excluded and listed apart",
    }


# -- main ------------------------------------------------------------------------------------


def markdown(sections: list[tuple[str, str, list[Measurement], dict[str, Any]]]) -> str:
    lines = ["# Notifier benchmark", ""]
    for title, baseline, measurements, extra in sections:
        base = next(m for m in measurements if m.name == baseline)
        lines += [f"## {title}", "", "| | per second | x of baseline |", "|---|---:|---:|"]
        lines += [f"| {m.name} | {m.rate:,.0f} | {m.rate / base.rate:.2f} |" for m in measurements]
        lines += ["", "```json", json.dumps(extra, indent=2), "```", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--updates", type=int, default=3000, help="receiver level: incident updates")
    parser.add_argument("--incidents", type=int, default=2000, help="pipeline level: incidents on the topic")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pipeline-runs", type=int, default=2)
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        serve(None if args.serve == "None" else int(args.serve))
        return
    core = pin_to_one_core()
    bootstrap = os.environ.get("HERALD_KAFKA_BOOTSTRAP", "127.0.0.1:19092")
    server = Server(core)
    try:
        receiver, receiver_extra = receiver_level(server, args.updates, args.runs)
        threaded = threaded_server_baseline(min(args.updates, 1000))
        receiver_extra |= {
            "core": core,
            "server_core": server.core,
            "bare_loop_against_tests_threading_server_per_second": round(threaded),
        }
        report("notifier-receiver", receiver, baseline="bare httpx POST loop", extra=receiver_extra)
        print(f"  (bare loop against the tests' ThreadingHTTPServer in-process: {threaded:,.0f} /s)")
        pipeline, pipeline_extra = pipeline_level(server, bootstrap, args.incidents, args.pipeline_runs)
        pipeline_extra |= {"core": core, "server_core": server.core}
        report("notifier-pipeline", pipeline, baseline="bare httpx POST loop", extra=pipeline_extra)
    finally:
        server.close()
    (RESULTS / "notifier.md").write_text(
        markdown(
            [
                ("Receiver level", "bare httpx POST loop", receiver, receiver_extra),
                ("Pipeline level", "bare httpx POST loop", pipeline, pipeline_extra),
            ]
        )
    )


if __name__ == "__main__":
    main()
