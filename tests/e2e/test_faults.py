"""The fault suite, end to end: every process killed mid-stream, the broker restarted, the
webhook refusing with 429s and then down, while a cluster keeps emitting events.

Counted per input occurrence: the last delivered update of each incident must count exactly
the occurrences created for its workload (none lost, none counted twice), and an update may
reach the webhook twice only once per killed notifier (its one message in flight).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import Popen

import orjson
import pytest
import yaml

from tests.support.broker import private_broker
from tests.support.fake_apiserver import FakeApiServer, make_event
from tests.support.kafka import Namespace, ensure_namespace_topics, make_namespace
from tests.support.processes import herald_process
from tests.support.producer import configure_producer, kubeconfig_entry
from tests.support.waiting import observe_for, wait_until
from tests.support.webhook_server import Reply, Request, WebhookServer, webhook_server

pytestmark = [pytest.mark.e2e, pytest.mark.fault, pytest.mark.timeout(1500)]

WORKLOADS = ("cart", "checkout", "search", "ledger")
EVENTS_PER_SECOND = 2.0


@dataclass
class Webhook:
    """The receiving end: healthy, throttling (429 with Retry-After) or down (503), as scripted."""

    mode: str = "ok"

    def respond(self, _index: int, _request: Request) -> Reply:
        if self.mode == "throttle":
            return 429, {"retry-after": "1"}, b'{"error":"rate limited"}'
        if self.mode == "down":
            return 503, {}, b"service unavailable"
        return 200, {"content-type": "application/json"}, b'{"ok":true}'


def pod_suffix(index: int) -> str:
    """A ReplicaSet pod's random suffix, from the alphabet Kubernetes draws it from."""
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    return "".join(alphabet[index // len(alphabet) ** i % len(alphabet)] for i in range(5))


@dataclass
class Cluster:
    """Crash-looping pods in a fake API server, one new Event every 1/EVENTS_PER_SECOND s."""

    api: FakeApiServer
    created: Counter[str] = field(default_factory=Counter)
    stopped: threading.Event = field(default_factory=threading.Event)

    def emit(self) -> None:
        index = 0
        while not self.stopped.wait(1 / EVENTS_PER_SECOND):
            workload = WORKLOADS[index % len(WORKLOADS)]
            pod = f"{workload}-7d9c8b6f5d-{pod_suffix(index)}"
            self.api.create_event(make_event(index, name=pod))
            self.created[workload] += 1
            index += 1

    def total(self) -> int:
        return sum(self.created.values())


@dataclass
class Stage:
    """One herald process that the test kills with SIGKILL and starts again."""

    stack: ExitStack
    config: Path
    args: tuple[str, ...]
    log_dir: Path
    name: str
    runs: int = 0
    process: Popen[bytes] | None = None

    def start(self) -> None:
        """Under the same instance id each time, as a container restarted in its pod."""
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

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill_and_restart(self) -> None:
        assert self.alive(), f"{self.name} died on its own"
        assert self.process is not None
        self.process.kill()
        self.process.wait()
        self.start()


def latest_by_workload(server: WebhookServer) -> dict[str, dict[str, object]]:
    latest: dict[str, dict[str, object]] = {}
    for request in server.accepted():
        for incident in orjson.loads(request.body)["incidents"]:
            workload = str(incident["workload"])
            if workload not in latest or int(incident["version"]) > int(str(latest[workload]["version"])):
                latest[workload] = incident
    return latest


def counted(server: WebhookServer) -> Counter[str]:
    return Counter({w: int(str(i["occurrences"])) for w, i in latest_by_workload(server).items()})


@contextmanager
def pipeline(namespace: Namespace, log_dir: Path) -> Iterator[dict[str, Stage]]:
    with ExitStack() as stack:
        stages = {
            "producer": Stage(stack, namespace.config_path, ("producer",), log_dir, "producer"),
            "processor": Stage(stack, namespace.config_path, ("processor",), log_dir, "processor"),
            "notifier": Stage(
                stack, namespace.config_path, ("notifier", "--receiver", "hook"), log_dir, "notifier"
            ),
        }
        for stage in stages.values():
            stage.start()
        yield stages


def test_nothing_is_lost_or_doubled_through_every_fault(tmp_path: Path) -> None:
    webhook = Webhook()
    with (
        private_broker(tmp_path / "kafka") as broker,
        FakeApiServer(bookmark_interval=0.5) as api,
        webhook_server(webhook.respond) as server,
    ):
        namespace = make_namespace(broker.bootstrap, tmp_path)
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig", context="fake")
        configure_producer(namespace, [kubeconfig_entry(kubeconfig, cluster="fault-a", context="fake")])
        config = yaml.safe_load(namespace.config_path.read_text())
        config["processor"].update(
            group_wait_seconds=1, group_interval_seconds=3, tick_seconds=0.2, resolve_timeout_seconds=3600
        )
        config["notifier"] = {"retry_budget_seconds": 3600}
        config["receivers"] = [{"name": "hook", "type": "webhook", "url": server.url}]
        namespace.config_path.write_text(yaml.safe_dump(config))
        ensure_namespace_topics(namespace)

        cluster = Cluster(api)
        emitter = threading.Thread(target=cluster.emit, daemon=True)

        def caught_up(what: str, timeout: float = 300) -> None:
            """Everything created so far is counted in a delivered update (the stream goes on)."""
            target = Counter(cluster.created)
            wait_until(lambda: counted(server) >= target, timeout=timeout, what=what)

        def while_emitting(seconds: float) -> None:
            """Let the cluster emit about ``seconds`` worth of events (waits on the count, not the clock)."""
            goal = cluster.total() + int(seconds * EVENTS_PER_SECOND)
            wait_until(lambda: cluster.total() >= goal, timeout=seconds * 20, what="events created")

        def fault(description: str, inject: Callable[[], None]) -> None:
            inject()
            caught_up(f"every occurrence delivered after: {description}")

        with pipeline(namespace, tmp_path) as stages:
            emitter.start()
            try:
                caught_up("the first occurrences delivered", timeout=420)
                for name in ("producer", "processor", "notifier"):

                    def kill(stage: Stage = stages[name]) -> None:
                        while_emitting(5)
                        stage.kill_and_restart()
                        while_emitting(5)

                    fault(f"kill -9 of the {name}", kill)

                def restart_broker() -> None:
                    while_emitting(3)
                    broker.stop()
                    while_emitting(15)
                    broker.start()

                fault("a broker stop and start", restart_broker)

                def webhook_trouble(mode: str, seconds: float) -> Callable[[], None]:
                    def inject() -> None:
                        webhook.mode = mode
                        while_emitting(seconds)
                        webhook.mode = "ok"

                    return inject

                fault("a 429 storm", webhook_trouble("throttle", 20))
                fault("a webhook outage", webhook_trouble("down", 60))
            finally:
                cluster.stopped.set()
                emitter.join()
            caught_up("the last occurrences delivered")
            observe_for(5)
            for stage in stages.values():
                assert stage.alive(), f"{stage.name} died on its own"

        updates = Counter(
            (str(incident["fingerprint"]), int(incident["version"]))
            for request in server.accepted()
            for incident in orjson.loads(request.body)["incidents"]
        )

    assert counted(server) == cluster.created, "each occurrence counted exactly once, none lost"
    assert set(counted(server)) == set(WORKLOADS)
    doubled = sum(times - 1 for times in updates.values())
    assert doubled <= stages["notifier"].runs - 1, f"{doubled} updates delivered twice"
    refused = [r for r in server.all() if r.status >= 400]
    assert refused, "the webhook faults must have been exercised"
