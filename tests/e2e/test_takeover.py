"""Fast takeover, measured: a notifier or a processor killed with SIGKILL mid-stream and
started again under the same instance id (as Kubernetes restarts a container in its pod)
resumes within seconds, instead of waiting for the broker to expire its old group member.

The figures go to the test report (``record_property``) and the output: seconds from the
kill to the next delivery at the webhook; for the processor, to the next delivery of an
update it emitted after the kill.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from subprocess import Popen
from typing import Any

import orjson
import pytest
import yaml
from confluent_kafka import Producer

from schemas import RawEnvelope, encode
from tests.support.events import k8s_event
from tests.support.kafka import Namespace, ensure_namespace_topics
from tests.support.processes import herald_process
from tests.support.waiting import wait_until
from tests.support.webhook_server import Reply, Request, webhook_server

pytestmark = [pytest.mark.e2e, pytest.mark.fault, pytest.mark.timeout(900)]

WORKLOADS = ("cart", "checkout", "search", "ledger")
EVENTS_PER_SECOND = 4.0
NOTIFIER_BOUND_SECONDS = 25.0
"""Generous for a shared CI machine (a restart takes a few seconds), and below what a dynamic
member costs: the broker's session timeout (45 s by librdkafka's default, 30 s ours)."""


@dataclass
class Arrivals:
    """When each update reached the webhook (monotonic clock), answered 200."""

    seen: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def respond(self, _index: int, request: Request) -> Reply:
        at = time.monotonic()
        with self.lock:
            self.seen.extend((at, incident) for incident in orjson.loads(request.body)["incidents"])
        return 200, {"content-type": "application/json"}, b'{"ok":true}'

    def after(self, since: float, *, emitted_after: datetime | None = None) -> float | None:
        """Arrival of the first update after ``since`` (emitted after ``emitted_after``, if given)."""
        with self.lock:
            for at, incident in self.seen:
                emitted = datetime.fromisoformat(str(incident["emitted_at"]))
                if at > since and (emitted_after is None or emitted > emitted_after):
                    return at
        return None

    def workloads(self) -> set[str]:
        with self.lock:
            return {str(incident["workload"]) for _, incident in self.seen}


@dataclass
class Stream:
    """Crash-loop occurrences on every workload, EVENTS_PER_SECOND, straight onto events.raw."""

    namespace: Namespace
    stopped: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        producer = Producer({"bootstrap.servers": self.namespace.bootstrap, "enable.idempotence": True})
        index = 0
        while not self.stopped.wait(1 / EVENTS_PER_SECOND):
            workload = WORKLOADS[index % len(WORKLOADS)]
            event = k8s_event(index, name=f"{workload}-7d9c8b6f5d-x2kqb", uid=f"uid-{workload}-{index}")
            envelope = RawEnvelope(
                cluster="prod-a",
                producer_id="p1",
                observed_at=datetime.now(UTC),
                observation="ADDED",
                event=event,
            )
            topic = self.namespace.topic("events.raw")
            producer.produce(topic, key=envelope.partition_key.encode(), value=encode(envelope))
            producer.poll(0)
            index += 1
        producer.flush(30)


@dataclass
class Restartable:
    """One herald process, killed with SIGKILL and started again under the same instance id."""

    stack: ExitStack
    config: Path
    args: tuple[str, ...]
    log_dir: Path
    name: str
    runs: int = 0
    process: Popen[bytes] | None = None

    def start(self) -> None:
        self.runs += 1
        self.process = self.stack.enter_context(
            herald_process(
                self.config,
                *self.args,
                log_dir=self.log_dir,
                name=f"{self.name}-{self.runs}",
                instance_id=self.name,
            )
        )

    def kill_and_restart(self) -> tuple[float, datetime]:
        """Kill it, start it again; when it was killed (monotonic, and wall clock)."""
        assert self.process is not None
        assert self.process.poll() is None, f"{self.name} died on its own"
        self.process.kill()
        killed = time.monotonic(), datetime.now(UTC)
        self.process.wait()
        self.start()
        return killed


@contextmanager
def pipeline(namespace: Namespace, log_dir: Path) -> Iterator[dict[str, Restartable]]:
    with ExitStack() as stack:
        stages = {
            "processor": Restartable(stack, namespace.config_path, ("processor",), log_dir, "processor-0"),
            "notifier": Restartable(
                stack, namespace.config_path, ("notifier", "--receiver", "hook"), log_dir, "notifier-0"
            ),
        }
        for stage in stages.values():
            stage.start()
        yield stages


def test_a_killed_notifier_or_processor_resumes_within_seconds(
    namespace: Namespace, tmp_path: Path, record_property: Any
) -> None:
    arrivals = Arrivals()
    stream = Stream(namespace)
    emitter = threading.Thread(target=stream.run, daemon=True)
    with webhook_server(arrivals.respond) as server:
        config = yaml.safe_load(namespace.config_path.read_text())
        config["processor"].update(
            group_wait_seconds=1, group_interval_seconds=1, tick_seconds=0.2, resolve_timeout_seconds=3600
        )
        config["receivers"] = [{"name": "hook", "type": "webhook", "url": server.url}]
        namespace.config_path.write_text(yaml.safe_dump(config))
        ensure_namespace_topics(namespace)

        def flowing(what: str) -> None:
            """Deliveries keep arriving: a few more after now."""
            since = time.monotonic()
            wait_until(lambda: arrivals.after(since), timeout=300, what=what)

        with pipeline(namespace, tmp_path) as stages:
            emitter.start()
            try:
                wait_until(
                    lambda: arrivals.workloads() == set(WORKLOADS),
                    timeout=420,
                    what="every workload's incident delivered",
                )
                flowing("deliveries flowing")

                killed, _ = stages["notifier"].kill_and_restart()
                resumed = wait_until(
                    lambda: arrivals.after(killed), timeout=300, what="a delivery after the notifier's kill"
                )
                notifier_seconds = resumed - killed
                flowing("deliveries flowing after the notifier's restart")

                killed, killed_at = stages["processor"].kill_and_restart()
                resumed = wait_until(
                    lambda: arrivals.after(killed, emitted_after=killed_at),
                    timeout=300,
                    what="an update emitted after the processor's kill, delivered",
                )
                processor_seconds = resumed - killed
            finally:
                stream.stopped.set()
                emitter.join()

    record_property("notifier_kill_to_delivery_seconds", round(notifier_seconds, 1))
    record_property("processor_kill_to_delivery_seconds", round(processor_seconds, 1))
    print(
        f"\nkill -9 to the next delivery: notifier {notifier_seconds:.1f} s, "
        f"processor {processor_seconds:.1f} s"
    )
    assert notifier_seconds < NOTIFIER_BOUND_SECONDS, (
        f"the notifier took {notifier_seconds:.1f} s: its partitions waited for the old member to expire"
    )
