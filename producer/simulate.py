"""Simulated Kubernetes Event streams: realistic core/v1 Events without a cluster.

``herald simulate`` (and ``make demo``, benchmarks and tests) uses :func:`simulate` to
produce what one or several API servers would have shown a watching producer: mostly
rollout noise, with incidents (crash loops, image pull failures, OOM kills, ...) starting
at random times. Each incident is a *scenario*: a small generator of Event occurrences
on a timeline. Everything is derived from a seeded :class:`random.Random`, so a seed and
a start time always give the same stream.

Repeats are what the kubelet's event recorder really does: it PATCHes the same Event
object (same ``metadata.name`` and ``uid``) with ``count + 1``, a new ``lastTimestamp``
and a new ``resourceVersion``; the simulator emits those as ``MODIFIED`` and every new
Event object as ``ADDED``. Object names follow Kubernetes' generators (pod-template
hashes in the vowel-free alphabet, StatefulSet ordinals, CronJob schedule minutes) so
that the processors derive the right workloads.

The generator is lazy: it holds only the next occurrence of each running incident, so
``duration=None`` streams forever in bounded memory.
"""

from __future__ import annotations

import hashlib
import heapq
import inspect
import itertools
import math
import random
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any, Final, NamedTuple

from schemas.raw import CLUSTER_ID_PATTERN, Observation, RawEnvelope

__all__ = [
    "DEFAULT_NAMESPACES",
    "DEFAULT_SCENARIOS",
    "SCENARIOS",
    "EventSeries",
    "Ref",
    "Scenario",
    "ScenarioContext",
    "SimulatedEvent",
    "Source",
    "Step",
    "Workload",
    "describe",
    "simulate",
    "to_envelope",
]

NORMAL: Final = "Normal"
WARNING: Final = "Warning"

DEFAULT_NAMESPACES: Final[tuple[str, ...]] = ("shop", "payments", "data", "platform", "kube-system")

# k8s.io/apimachinery/pkg/util/rand: pod-template hashes and generated name suffixes.
_SAFE_ALPHABET: Final = "bcdfghjklmnpqrstvwxz2456789"
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_NAMESPACE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_CLUSTER_NAME = re.compile(CLUSTER_ID_PATTERN)
_CALIBRATION_RUNS: Final = 150


# --------------------------------------------------------------------------- output


@dataclass(frozen=True, slots=True)
class SimulatedEvent:
    """One occurrence to emit: ``event`` as the API server would return it, ``at`` seconds in."""

    cluster: str
    observation: Observation
    event: dict[str, Any]
    at: float


def to_envelope(
    sim: SimulatedEvent, *, producer_id: str = "herald-simulate", observed_at: datetime | None = None
) -> RawEnvelope:
    """Wrap a simulated occurrence as the producer would publish it.

    ``observed_at`` defaults to the simulated ``lastTimestamp`` of the event, which keeps
    the envelope deterministic; pass the wall clock when publishing live.
    """
    when = observed_at or datetime.strptime(sim.event["lastTimestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=UTC
    )
    return RawEnvelope(
        cluster=sim.cluster,
        producer_id=producer_id,
        observed_at=when,
        observation=sim.observation,
        event=sim.event,
    )


# --------------------------------------------------------------------------- building blocks


@dataclass(frozen=True, slots=True)
class Ref:
    """An ``involvedObject``: what an Event is about."""

    kind: str
    name: str
    namespace: str | None
    uid: str
    api_version: str
    resource_version: str | None = None
    field_path: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        if self.namespace:
            out["namespace"] = self.namespace
        out["name"] = self.name
        out["uid"] = self.uid
        out["apiVersion"] = self.api_version
        if self.resource_version:
            out["resourceVersion"] = self.resource_version
        if self.field_path:
            out["fieldPath"] = self.field_path
        return out


@dataclass(frozen=True, slots=True)
class Source:
    """Who recorded an Event (``source`` and ``reportingComponent``/``reportingInstance``)."""

    component: str
    host: str | None = None
    instance: str = ""

    def to_json(self) -> dict[str, Any]:
        return (
            {"component": self.component, "host": self.host} if self.host else {"component": self.component}
        )


@dataclass(slots=True)
class EventSeries:
    """One Event object: its first occurrence is ADDED, every later one a count-bumping PATCH."""

    ref: Ref
    reason: str
    message: str
    type: str
    source: Source
    uid: str
    name: str | None = None
    count: int = 0
    first_timestamp: str = ""


class Step(NamedTuple):
    """One occurrence of ``series`` ``offset`` seconds after the incident began.

    ``message`` replaces the series' message from this occurrence on (the recorder's
    PATCH carries the message, which changes for aggregated "combined" events).
    """

    offset: float
    series: EventSeries
    message: str | None = None


@dataclass(frozen=True, slots=True)
class Workload:
    namespace: str
    kind: str  # Deployment, StatefulSet or CronJob
    name: str
    container: str
    image: str
    template_hash: str
    replicas: int


@dataclass(frozen=True, slots=True)
class _Topology:
    cluster: str
    seed: int
    nodes: tuple[str, ...]
    workloads: tuple[Workload, ...]
    namespaces: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Pod:
    ref: Ref
    node: str | None
    container: str
    image: str
    ip: str

    @property
    def name(self) -> str:
        return self.ref.name

    @property
    def namespace(self) -> str:
        return self.ref.namespace or ""

    @property
    def container_ref(self) -> Ref:
        return replace(self.ref, field_path=f"spec.containers{{{self.container}}}")


def _rng(material: str | int) -> random.Random:
    """A reproducible random source; this is simulation, nothing here needs secrecy."""
    return random.Random(material)  # noqa: S311


def _uuid4(value: int) -> str:
    value = (value & ~(0xF000 << 64) & ~(0xC000 << 48)) | (0x4000 << 64) | (0x8000 << 48)
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _random_uid(rng: random.Random) -> str:
    return _uuid4(rng.getrandbits(128))


def _stable_uid(seed: int, *parts: str) -> str:
    """The same uid for the same object of the same simulated cluster, whatever else happens."""
    digest = hashlib.blake2b("/".join((str(seed), *parts)).encode(), digest_size=16).digest()
    return _uuid4(int.from_bytes(digest))


def _safe(rng: random.Random, length: int) -> str:
    return "".join(rng.choices(_SAFE_ALPHABET, k=length))


def _template_hash(rng: random.Random) -> str:
    """A pod-template hash; never all digits, which would read as a CronJob's schedule."""
    while True:
        value = _safe(rng, rng.choice((9, 10)))
        if not value.isdigit():
            return value


def _ip(rng: random.Random) -> str:
    return f"10.{rng.randint(0, 3)}.{rng.randint(0, 255)}.{rng.randint(2, 254)}"


# --------------------------------------------------------------------------- cluster topology

_CATALOG: Final[dict[str, tuple[tuple[str, str, str], ...]]] = {
    # namespace: (kind, name, container)
    "shop": (
        ("Deployment", "checkout", "app"),
        ("Deployment", "cart", "app"),
        ("Deployment", "frontend", "app"),
        ("Deployment", "search", "app"),
        ("StatefulSet", "redis", "redis"),
    ),
    "payments": (
        ("Deployment", "ledger", "app"),
        ("Deployment", "payments-api", "app"),
        ("Deployment", "fraud-check", "app"),
        ("CronJob", "settlement-report", "report"),
    ),
    "data": (
        ("Deployment", "ingest", "app"),
        ("StatefulSet", "kafka", "kafka"),
        ("StatefulSet", "postgres", "postgres"),
        ("CronJob", "nightly-etl", "etl"),
    ),
    "platform": (
        ("Deployment", "grafana", "grafana"),
        ("Deployment", "cert-manager", "cert-manager"),
        ("Deployment", "ingress-nginx-controller", "controller"),
        ("StatefulSet", "prometheus", "prometheus"),
    ),
    "kube-system": (
        ("Deployment", "coredns", "coredns"),
        ("Deployment", "metrics-server", "metrics-server"),
        ("Deployment", "cluster-autoscaler", "cluster-autoscaler"),
    ),
}
_GENERIC: Final[tuple[tuple[str, str, str], ...]] = (
    ("Deployment", "api", "app"),
    ("Deployment", "web", "app"),
    ("Deployment", "worker", "app"),
    ("StatefulSet", "db", "db"),
    ("CronJob", "cleanup", "cleanup"),
)


def _node_names(rng: random.Random, cluster: str) -> tuple[str, ...]:
    count = rng.randint(3, 12)
    style = rng.choice(("eks", "eks", "gke", "plain"))
    names: list[str] = []
    pool = f"{rng.getrandbits(32):08x}"  # GKE: one instance group per node pool
    while len(names) < count:
        if style == "eks":
            name = f"ip-10-0-{rng.randint(1, 3)}-{rng.randint(2, 254)}.ec2.internal"
        elif style == "gke":
            short = re.sub(r"[^a-z0-9-]", "-", cluster[:20]).strip("-") or "cluster"
            name = f"gke-{short}-default-pool-{pool}-{_safe(rng, 4)}"
        else:
            name = f"node-{chr(ord('a') + len(names))}"
        if name not in names:
            names.append(name)
    return tuple(names)


def _build_topology(cluster: str, seed: int, namespaces: Sequence[str]) -> _Topology:
    rng = _rng(f"{seed}/{cluster}/topology")
    workloads = []
    for namespace in namespaces:
        for kind, name, container in _CATALOG.get(namespace, _GENERIC):
            version = f"v{rng.randint(1, 3)}.{rng.randint(0, 24)}.{rng.randint(0, 9)}"
            image = f"registry.example.com/{namespace}/{name}:{version}"
            replicas = 3 if kind == "StatefulSet" else rng.randint(2, 6)
            workloads.append(Workload(namespace, kind, name, container, image, _template_hash(rng), replicas))
    return _Topology(cluster, seed, _node_names(rng, cluster), tuple(workloads), tuple(namespaces))


# --------------------------------------------------------------------------- scenario context


@dataclass(slots=True)
class ScenarioContext:
    """What a scenario may use: its own random source, the cluster's shape and helpers."""

    rng: random.Random
    topology: _Topology
    started: datetime
    rv_hint: int

    @property
    def nodes(self) -> tuple[str, ...]:
        return self.topology.nodes

    def node(self) -> str:
        return self.rng.choice(self.topology.nodes)

    def workload(self, *kinds: str) -> Workload:
        """A random workload of one of ``kinds``; invented if the namespaces have none."""
        candidates = [w for w in self.topology.workloads if w.kind in kinds]
        if candidates:
            return self.rng.choice(candidates)
        kind = self.rng.choice(kinds)
        _, name, container = next(g for g in _GENERIC if g[0] == kind)
        namespace = self.rng.choice(self.topology.namespaces)
        image = f"registry.example.com/{namespace}/{name}:v1.0.0"
        return Workload(namespace, kind, name, container, image, _template_hash(self.rng), 2)

    def object_rv(self) -> str:
        return str(max(1, self.rv_hint - self.rng.randrange(1, 50_000)))

    def ref(self, kind: str, name: str, namespace: str | None, api_version: str) -> Ref:
        uid = _stable_uid(self.topology.seed, self.topology.cluster, kind, namespace or "", name)
        return Ref(kind, name, namespace, uid, api_version, self.object_rv())

    def node_ref(self, node: str, *, by_kubelet: bool = False) -> Ref:
        """A Node reference; the kubelet and node-problem-detector use the node name as uid."""
        if by_kubelet:
            return Ref("Node", node, None, node, "v1")
        return self.ref("Node", node, None, "v1")

    def pod(
        self,
        workload: Workload,
        *,
        node: str | None = None,
        scheduled: bool = True,
        template_hash: str | None = None,
        image: str | None = None,
    ) -> _Pod:
        """A new pod of ``workload``, named the way its controller would name it."""
        rng = self.rng
        if workload.kind == "Deployment":
            name = f"{workload.name}-{template_hash or workload.template_hash}-{_safe(rng, 5)}"
        elif workload.kind == "StatefulSet":
            name = f"{workload.name}-{rng.randrange(workload.replicas)}"
        else:  # CronJob -> Job -> Pod
            minutes = int((self.started - _EPOCH).total_seconds() // 60)
            name = f"{workload.name}-{minutes}-{_safe(rng, 5)}"
        ref = Ref("Pod", name, workload.namespace, _random_uid(rng), "v1", self.object_rv())
        where = (node or self.node()) if scheduled else None
        return _Pod(ref, where, workload.container, image or workload.image, _ip(rng))

    def series(
        self, ref: Ref, reason: str, message: str, source: Source, *, type: str = NORMAL
    ) -> EventSeries:
        return EventSeries(ref, reason, message, type, source, _random_uid(self.rng))


def _kubelet(node: str) -> Source:
    return Source("kubelet", node, node)


def _controller(name: str) -> Source:
    return Source(name)


_SCHEDULER: Final = Source("default-scheduler")
_DEPLOYMENT_CONTROLLER: Final = Source("deployment-controller")
_REPLICASET_CONTROLLER: Final = Source("replicaset-controller")


def _backoff(attempt: int, base: float = 10.0, cap: float = 300.0) -> float:
    """The kubelet's container and image back-off: 10s, 20s, 40s, ... capped at 5 minutes."""
    return float(min(base * 2**attempt, cap))


def _pull_message(rng: random.Random, image: str) -> str:
    seconds = rng.uniform(0.4, 9.0)
    size = rng.randint(8_000_000, 400_000_000)
    return (
        f'Successfully pulled image "{image}" in {seconds:.3f}s ({seconds:.3f}s including waiting). '
        f"Image size: {size} bytes."
    )


def _container_start(ctx: ScenarioContext, pod: _Pod, *, pull: bool = False) -> tuple[EventSeries, ...]:
    """The kubelet's Pulled/Created/Started (with Pulling first when ``pull``)."""
    assert pod.node is not None
    ref, kubelet = pod.container_ref, _kubelet(pod.node)
    out = []
    if pull:
        out.append(ctx.series(ref, "Pulling", f'Pulling image "{pod.image}"', kubelet))
        out.append(ctx.series(ref, "Pulled", _pull_message(ctx.rng, pod.image), kubelet))
    else:
        message = f'Container image "{pod.image}" already present on machine'
        out.append(ctx.series(ref, "Pulled", message, kubelet))
    out.append(ctx.series(ref, "Created", f"Created container {pod.container}", kubelet))
    out.append(ctx.series(ref, "Started", f"Started container {pod.container}", kubelet))
    return tuple(out)


def _burst(at: float, series: Iterable[EventSeries], gap: float = 0.05) -> Iterator[Step]:
    for index, item in enumerate(series):
        yield Step(at + index * gap, item)


def _crash_backoff(pod: _Pod) -> str:
    return (
        f"Back-off restarting failed container {pod.container} in pod "
        f"{pod.name}_{pod.namespace}({pod.ref.uid})"
    )


# --------------------------------------------------------------------------- scenarios


def _crash_loop(ctx: ScenarioContext) -> Iterator[Step]:
    """A container that exits soon after every start.

    Pulled/Created/Started, then the kubelet's ``BackOff`` "Back-off restarting failed
    container"; each restart PATCHes the same Event objects (count + 1) after a back-off
    that doubles from 10 s up to 5 minutes.
    """
    rng = ctx.rng
    pod = ctx.pod(ctx.workload("Deployment", "Deployment", "StatefulSet"))
    assert pod.node is not None
    start = _container_start(ctx, pod)
    backoff = ctx.series(pod.container_ref, "BackOff", _crash_backoff(pod), _kubelet(pod.node), type=WARNING)
    restarts = rng.randint(3, 12)
    t = 0.0
    for attempt in range(restarts + 1):
        yield from _burst(t, start)
        t += 0.2 + rng.uniform(1.0, 6.0)  # runs a few seconds, exits
        yield Step(t, backoff)
        t += _backoff(attempt) + rng.uniform(0.0, 2.0)


def _image_pull(ctx: ScenarioContext) -> Iterator[Step]:
    """A new pod whose image tag does not exist (or whose registry refuses us).

    Scheduled, Pulling, ``Failed`` "Failed to pull image ...: not found", ``Failed``
    "Error: ErrImagePull", then ``BackOff`` "Back-off pulling image" and ``Failed``
    "Error: ImagePullBackOff" while the kubelet backs off; each retry bumps the counts.
    """
    rng = ctx.rng
    workload = ctx.workload("Deployment")
    tag = f"v{rng.randint(1, 4)}.{rng.randint(0, 30)}.{rng.randint(0, 20)}"
    image = f"registry.example.com/{workload.namespace}/{workload.name}:{tag}"
    pod = ctx.pod(workload, template_hash=_template_hash(rng), image=image)
    assert pod.node is not None
    ref, kubelet = pod.container_ref, _kubelet(pod.node)
    if rng.random() < 0.75:
        cause = (
            f'rpc error: code = NotFound desc = failed to pull and unpack image "{image}": '
            f'failed to resolve reference "{image}": {image}: not found'
        )
    else:
        manifest = f"https://registry.example.com/v2/{workload.namespace}/{workload.name}/manifests/{tag}"
        cause = (
            f'rpc error: code = Unknown desc = failed to pull and unpack image "{image}": '
            f'failed to resolve reference "{image}": unexpected status from HEAD request to '
            f"{manifest}: 401 Unauthorized"
        )
    scheduled = ctx.series(
        pod.ref, "Scheduled", f"Successfully assigned {pod.namespace}/{pod.name} to {pod.node}", _SCHEDULER
    )
    pulling = ctx.series(ref, "Pulling", f'Pulling image "{image}"', kubelet)
    failed = ctx.series(ref, "Failed", f'Failed to pull image "{image}": {cause}', kubelet, type=WARNING)
    err_pull = ctx.series(ref, "Failed", "Error: ErrImagePull", kubelet, type=WARNING)
    backoff = ctx.series(ref, "BackOff", f'Back-off pulling image "{image}"', kubelet)
    err_backoff = ctx.series(ref, "Failed", "Error: ImagePullBackOff", kubelet, type=WARNING)
    yield Step(0.0, scheduled)
    t = rng.uniform(0.2, 1.0)
    for attempt in range(rng.randint(3, 9)):
        yield Step(t, pulling)
        t += rng.uniform(0.3, 2.5)
        yield Step(t, failed)
        yield Step(t + 0.001, err_pull)
        wait = _backoff(attempt)
        reports = 1 + min(attempt, 2)  # pod syncs during the wait report the back-off again
        for index in range(reports):
            at = t + (index + 0.5) * wait / reports
            yield Step(at, backoff)
            yield Step(at + 0.001, err_backoff)
        t += wait


_OOM_PROCESS: Final = {
    "postgres": "postgres",
    "kafka": "java",
    "prometheus": "prometheus",
    "redis": "redis-server",
}


def _oom(ctx: ScenarioContext) -> Iterator[Step]:
    """A container killed by the kernel's OOM killer, again and again.

    node-problem-detector's ``OOMKilling`` on the Node (source kernel-monitor), sometimes
    the kubelet's ``SystemOOM``, then ``BackOff`` for the pod while it restarts.
    """
    rng = ctx.rng
    workload = ctx.workload("Deployment", "StatefulSet", "CronJob")
    pod = ctx.pod(workload)
    assert pod.node is not None
    node_ref = ctx.node_ref(pod.node, by_kubelet=True)
    kernel_monitor = Source("kernel-monitor", pod.node, pod.node)
    process = _OOM_PROCESS.get(workload.name, rng.choice(("java", "python3", "node", "app")))
    backoff = ctx.series(pod.container_ref, "BackOff", _crash_backoff(pod), _kubelet(pod.node), type=WARNING)
    start = _container_start(ctx, pod)
    system_oom = rng.random() < 0.5
    t = 0.0
    for attempt in range(rng.randint(2, 6)):
        pid = rng.randint(2_000, 4_000_000)
        rss = rng.randint(200_000, 8_000_000)
        message = (
            f"Memory cgroup out of memory: Killed process {pid} ({process}) "
            f"total-vm:{rss + rng.randint(100_000, 900_000)}kB, anon-rss:{rss}kB, "
            f"file-rss:{rng.randint(0, 40_000)}kB, shmem-rss:0kB, UID:{rng.choice((0, 1000, 65532))} "
            f"pgtables:{rss // 500}kB oom_score_adj:{rng.choice((-997, 936, 999, 1000))}"
        )
        yield Step(t, ctx.series(node_ref, "OOMKilling", message, kernel_monitor, type=WARNING))
        if system_oom:
            note = f"System OOM encountered, victim process: {process}, pid: {pid}"
            oom = ctx.series(node_ref, "SystemOOM", note, _kubelet(pod.node), type=WARNING)
            yield Step(t + 0.3, oom)
        t += rng.uniform(0.5, 3.0)
        yield Step(t, backoff)
        t += _backoff(attempt) + rng.uniform(0.0, 2.0)
        yield from _burst(t, start)
        t += rng.uniform(20.0, 240.0)  # memory grows again


def _failed_scheduling(ctx: ScenarioContext) -> Iterator[Step]:
    """A pod that fits on no node.

    default-scheduler's ``FailedScheduling`` "0/N nodes are available: N Insufficient cpu.
    preemption: ...", retried with growing intervals (the same Event, count + 1), and
    sometimes the cluster-autoscaler's ``NotTriggerScaleUp``.
    """
    rng = ctx.rng
    workload = ctx.workload("Deployment", "Deployment", "StatefulSet")
    pod = ctx.pod(workload, scheduled=False)
    n = len(ctx.nodes)
    resource = rng.choice(("cpu", "cpu", "memory"))
    variant = rng.random()
    if workload.kind == "StatefulSet" and variant < 0.3:
        message = (
            f"0/{n} nodes are available: pod has unbound immediate PersistentVolumeClaims. "
            f"preemption: 0/{n} nodes are available: {n} Preemption is not helpful for scheduling."
        )
    elif variant < 0.5:
        message = (
            f"0/{n} nodes are available: 1 node(s) had untolerated taint "
            f"{{node-role.kubernetes.io/control-plane: }}, {n - 1} Insufficient {resource}. "
            f"preemption: 0/{n} nodes are available: 1 Preemption is not helpful for scheduling, "
            f"{n - 1} No preemption victims found for incoming pod."
        )
    else:
        message = (
            f"0/{n} nodes are available: {n} Insufficient {resource}. preemption: 0/{n} nodes are "
            f"available: {n} No preemption victims found for incoming pod."
        )
    failed = ctx.series(pod.ref, "FailedScheduling", message, _SCHEDULER, type=WARNING)
    autoscaler = None
    if rng.random() < 0.5:
        note = f"pod didn't trigger scale-up: {rng.randint(1, 3)} Insufficient {resource}"
        autoscaler = ctx.series(pod.ref, "NotTriggerScaleUp", note, _controller("cluster-autoscaler"))
    t = 0.0
    for attempt in range(rng.randint(3, 15)):
        yield Step(t, failed)
        if autoscaler is not None and attempt % 2 == 0:
            yield Step(t + rng.uniform(1.0, 5.0), autoscaler)
        t += _backoff(attempt) * rng.uniform(0.8, 1.2)
    if rng.random() < 0.3:  # capacity freed up at last
        node = ctx.node()
        note = f"Successfully assigned {pod.namespace}/{pod.name} to {node}"
        yield Step(t, ctx.series(pod.ref, "Scheduled", note, _SCHEDULER))


def _node_not_ready(ctx: ScenarioContext) -> Iterator[Step]:
    """A node stops reporting and its pods are evicted.

    node-controller's ``NodeNotReady`` on the Node and a ``NodeNotReady`` Warning on each
    of its pods, then after the 300 s not-ready toleration the taint-eviction controller's
    ``TaintManagerEviction`` "Marking for deletion Pod ns/name" and the kubelet's ``Killing``;
    often the node comes back with ``NodeReady``.
    """
    rng = ctx.rng
    node = ctx.node()
    node_controller = _controller("node-controller")
    eviction = _controller("taint-eviction-controller")
    steps = [
        Step(
            0.0,
            ctx.series(
                ctx.node_ref(node),
                "NodeNotReady",
                f"Node {node} status is now: NodeNotReady",
                node_controller,
            ),
        )
    ]
    grace = 300.0 + rng.uniform(0.0, 5.0)
    for _ in range(rng.randint(3, 8)):
        pod = ctx.pod(ctx.workload("Deployment", "Deployment", "StatefulSet"), node=node)
        noticed = rng.uniform(0.05, 3.0)
        steps.append(
            Step(
                noticed,
                ctx.series(pod.ref, "NodeNotReady", "Node is not ready", node_controller, type=WARNING),
            )
        )
        marked = grace + rng.uniform(0.0, 2.0)
        note = f"Marking for deletion Pod {pod.namespace}/{pod.name}"
        steps.append(Step(marked, ctx.series(pod.ref, "TaintManagerEviction", note, eviction)))
        killing = ctx.series(
            pod.container_ref, "Killing", f"Stopping container {pod.container}", _kubelet(node)
        )
        steps.append(Step(marked + rng.uniform(0.1, 30.0), killing))
    if rng.random() < 0.6:
        back = grace + rng.uniform(40.0, 900.0)
        note = f"Node {node} status is now: NodeReady"
        steps.append(
            Step(back, ctx.series(ctx.node_ref(node, by_kubelet=True), "NodeReady", note, _kubelet(node)))
        )
    yield from sorted(steps, key=lambda step: step.offset)


def _probe_failure(ctx: ScenarioContext) -> Iterator[Step]:
    """A container whose probes fail.

    ``Unhealthy`` "Readiness probe failed: HTTP probe failed with statuscode: 503" every
    probe period, and in most cases ``Unhealthy`` "Liveness probe failed: Get ...: context
    deadline exceeded" three times, then ``Killing`` "Container app failed liveness probe,
    will be restarted" and a restart; all repeats bump the same Events.
    """
    rng = ctx.rng
    pod = ctx.pod(ctx.workload("Deployment", "Deployment", "StatefulSet"))
    assert pod.node is not None
    ref, kubelet = pod.container_ref, _kubelet(pod.node)
    port = rng.choice((8080, 8080, 9090, 3000))
    readiness = ctx.series(
        ref,
        "Unhealthy",
        "Readiness probe failed: HTTP probe failed with statuscode: 503",
        kubelet,
        type=WARNING,
    )
    liveness = ctx.series(
        ref,
        "Unhealthy",
        f'Liveness probe failed: Get "http://{pod.ip}:{port}/healthz": context deadline exceeded '
        "(Client.Timeout exceeded while awaiting headers)",
        kubelet,
        type=WARNING,
    )
    killing = ctx.series(
        ref, "Killing", f"Container {pod.container} failed liveness probe, will be restarted", kubelet
    )
    start = _container_start(ctx, pod)
    period = 10.0
    t = 0.0
    if rng.random() < 0.3:  # only readiness: the pod is taken out of its Service, nothing restarts
        for _ in range(rng.randint(4, 20)):
            yield Step(t, readiness)
            t += period
        return
    for _ in range(rng.randint(1, 4)):
        cycle: list[Step] = []
        for index in range(rng.randint(2, 6)):
            cycle.append(Step(t + index * period, readiness))
        for index in range(3):  # failureThreshold
            cycle.append(Step(t + 5.0 + index * period, liveness))
        killed = t + 5.0 + 2 * period + 0.01
        cycle.append(Step(killed, killing))
        cycle.extend(_burst(killed + rng.uniform(0.5, 31.0), start))
        yield from sorted(cycle, key=lambda step: step.offset)
        t = max(step.offset for step in cycle) + rng.uniform(30.0, 400.0)


def _quota(ctx: ScenarioContext) -> Iterator[Step]:
    """A rollout whose new ReplicaSet cannot create pods: the namespace quota is spent.

    ``ScalingReplicaSet``, then replicaset-controller's ``FailedCreate`` "Error creating: pods
    ... is forbidden: exceeded quota: compute-resources, ..." on the ReplicaSet, retried
    with the controller's back-off. Like client-go's event correlator, after 9 distinct
    messages the rest are "(combined from similar events): ..." PATCHes of one Event.
    """
    rng = ctx.rng
    workload = ctx.workload("Deployment")
    namespace = workload.namespace
    replica_set = f"{workload.name}-{_template_hash(rng)}"
    deployment = ctx.ref("Deployment", workload.name, namespace, "apps/v1")
    rs_ref = ctx.ref("ReplicaSet", replica_set, namespace, "apps/v1")
    scale = f"Scaled up replica set {replica_set} from 0 to {workload.replicas}"
    yield Step(0.0, ctx.series(deployment, "ScalingReplicaSet", scale, _DEPLOYMENT_CONTROLLER))
    requested = rng.choice((1, 2, 4))
    limited = rng.choice((8, 16, 32))
    used = limited - rng.randint(0, requested - 1)  # so that used + requested > limited
    quota = rng.choice(("compute-resources", "compute-resources", f"{namespace}-quota"))

    def message() -> str:
        return (
            f'Error creating: pods "{replica_set}-{_safe(rng, 5)}" is forbidden: exceeded quota: {quota}, '
            f"requested: limits.memory={requested}Gi, used: limits.memory={used}Gi, "
            f"limited: limits.memory={limited}Gi"
        )

    combined: EventSeries | None = None
    t = 0.05
    for attempt in range(rng.randint(11, 18)):
        text = message()
        if attempt < 9:
            yield Step(t, ctx.series(rs_ref, "FailedCreate", text, _REPLICASET_CONTROLLER, type=WARNING))
        else:
            text = f"(combined from similar events): {text}"
            if combined is None:
                combined = ctx.series(rs_ref, "FailedCreate", text, _REPLICASET_CONTROLLER, type=WARNING)
            yield Step(t, combined, text)
        t += min(0.005 * 2**attempt, 1000.0) + rng.uniform(0.0, 0.05)


def _rollout(ctx: ScenarioContext) -> Iterator[Step]:
    """A Deployment rolling out a new version: the bulk of a healthy cluster's events.

    deployment-controller's ``ScalingReplicaSet`` up and down, replicaset-controller's
    ``SuccessfulCreate``/``SuccessfulDelete``, the scheduler's ``Scheduled``, the kubelet's
    ``Pulling``/``Pulled``/``Created``/``Started`` for new pods and ``Killing`` for old ones.
    """
    rng = ctx.rng
    workload = ctx.workload("Deployment")
    namespace = workload.namespace
    new_hash = _template_hash(rng)
    while new_hash == workload.template_hash:
        new_hash = _template_hash(rng)
    new_rs, old_rs = f"{workload.name}-{new_hash}", f"{workload.name}-{workload.template_hash}"
    image = (
        f"{workload.image.rsplit(':', 1)[0]}:v{rng.randint(1, 3)}.{rng.randint(25, 60)}.{rng.randint(0, 9)}"
    )
    deployment = ctx.ref("Deployment", workload.name, namespace, "apps/v1")
    new_ref = ctx.ref("ReplicaSet", new_rs, namespace, "apps/v1")
    old_ref = ctx.ref("ReplicaSet", old_rs, namespace, "apps/v1")
    replicas = rng.randint(1, workload.replicas)
    pulled_on: set[str] = set()
    t = 0.0
    for index in range(1, replicas + 1):
        up = f"Scaled up replica set {new_rs} from {index - 1} to {index}"
        yield Step(t, ctx.series(deployment, "ScalingReplicaSet", up, _DEPLOYMENT_CONTROLLER))
        pod = ctx.pod(workload, template_hash=new_hash, image=image)
        assert pod.node is not None
        created = ctx.series(new_ref, "SuccessfulCreate", f"Created pod: {pod.name}", _REPLICASET_CONTROLLER)
        yield Step(t + 0.02, created)
        assigned = f"Successfully assigned {namespace}/{pod.name} to {pod.node}"
        yield Step(t + 0.05, ctx.series(pod.ref, "Scheduled", assigned, _SCHEDULER))
        t += rng.uniform(0.5, 2.0)
        start = _container_start(ctx, pod, pull=pod.node not in pulled_on)
        pulled_on.add(pod.node)
        for item in start:
            yield Step(t, item)
            t += rng.uniform(0.05, 4.0) if item.reason == "Pulling" else 0.05
        t += rng.uniform(5.0, 30.0)  # becomes ready
        down = f"Scaled down replica set {old_rs} from {replicas - index + 1} to {replicas - index}"
        yield Step(t, ctx.series(deployment, "ScalingReplicaSet", down, _DEPLOYMENT_CONTROLLER))
        old = ctx.pod(workload)
        assert old.node is not None
        deleted = ctx.series(old_ref, "SuccessfulDelete", f"Deleted pod: {old.name}", _REPLICASET_CONTROLLER)
        yield Step(t + 0.02, deleted)
        stop = ctx.series(
            old.container_ref, "Killing", f"Stopping container {old.container}", _kubelet(old.node)
        )
        yield Step(t + rng.uniform(0.05, 0.5), stop)
        t += rng.uniform(0.6, 3.0)


def _cronjob(ctx: ScenarioContext) -> Iterator[Step]:
    """A CronJob run: a Job, its pod, completion and the history clean-up (all Normal)."""
    rng = ctx.rng
    workload = ctx.workload("CronJob")
    namespace = workload.namespace
    pod = ctx.pod(workload)
    assert pod.node is not None
    job = pod.name.rsplit("-", 1)[0]
    minutes = int(job.rsplit("-", 1)[1])
    cronjob = ctx.ref("CronJob", workload.name, namespace, "batch/v1")
    job_ref = ctx.ref("Job", job, namespace, "batch/v1")
    cronjob_controller, job_controller = _controller("cronjob-controller"), _controller("job-controller")
    yield Step(0.0, ctx.series(cronjob, "SuccessfulCreate", f"Created job {job}", cronjob_controller))
    yield Step(0.03, ctx.series(job_ref, "SuccessfulCreate", f"Created pod: {pod.name}", job_controller))
    assigned = f"Successfully assigned {namespace}/{pod.name} to {pod.node}"
    yield Step(0.06, ctx.series(pod.ref, "Scheduled", assigned, _SCHEDULER))
    yield from _burst(rng.uniform(0.5, 2.0), _container_start(ctx, pod, pull=rng.random() < 0.3), gap=1.0)
    t = rng.uniform(10.0, 180.0)
    yield Step(t, ctx.series(job_ref, "Completed", "Job completed", job_controller))
    saw = f"Saw completed job: {job}, condition: Complete"
    yield Step(t + 0.5, ctx.series(cronjob, "SawCompletedJob", saw, cronjob_controller))
    oldest = f"{workload.name}-{minutes - rng.choice((60, 240, 1440)) * 3}"
    yield Step(t + 0.6, ctx.series(cronjob, "SuccessfulDelete", f"Deleted job {oldest}", cronjob_controller))


def _hostile_long_text() -> str:
    chunk = '磁盘已满 disk full 🚨 @all <!channel> <at user_id="all"></at> [x](https://evil.example.com) '
    return (chunk * (100_000 // len(chunk) + 1))[:100_000]


_HOSTILE_LONG: Final = _hostile_long_text()


def _hostile(ctx: ScenarioContext) -> Iterator[Step]:
    """Messages that try to break alert rendering and chat robots.

    Quotes, newlines and code fences, markdown and links, ``@all``/``@here``,
    ``<at user_id="all">``, ``<!channel>``, HTML, template syntax, terminal escapes,
    bidi overrides, Chinese and emoji, and a 100 000-character message.
    """
    rng = ctx.rng
    pod = ctx.pod(ctx.workload("Deployment"))
    assert pod.node is not None
    ref, kubelet = pod.container_ref, _kubelet(pod.node)
    payloads = (
        (
            "BackOff",
            f"{_crash_backoff(pod)} @all @here <!channel> <!here> <!everyone> "
            '<at user_id="all">所有人</at> <@U024BE7LH> @oncall',
        ),
        (
            "Unhealthy",
            "Liveness probe failed: **URGENT** "
            "[reset your password](https://evil.example.com/login?next=%2F) "
            '<https://evil.example.com|click here> ![x](https://evil.example.com/p.png "t") _x_ ~~y~~',
        ),
        (
            "Failed",
            'Error: failed to start container "app": "double" \'single\' `backtick`\n```\n'
            "$(rm -rf /) ${HOME} {{ config.SECRET_KEY }} {% raw %}{# x #}\n```\n"
            "| a | b |\n|---|---|\n> quoted\n# Heading\n\\ backslash \\n literal %s %(x)s",
        ),
        (
            "Unhealthy",
            "Readiness probe failed: 就绪探针失败：HTTP 探测失败，状态码：503。节点内存不足，请立即处理 🚨🔥 "
            "Ünïcödé ‘smart’ «guillemets» עברית العربية",
        ),
        (
            "Failed",
            "\x1b[31mANSI red\x1b[0m \u202eRTL override\u202c zero\u200bwidth\u200djoiner \ufeffBOM "
            "tab\tcarriage\rreturn line\u2028separator <script>alert(1)</script>"
            '<img src=x onerror="alert(1)"> &amp; &lt;b&gt; </div>',
        ),
        ("FailedMount", f'MountVolume.SetUp failed for volume "config" : {_HOSTILE_LONG}'),
    )
    t = 0.0
    for reason, message in payloads:
        series = ctx.series(ref, reason, message, kubelet, type=WARNING)
        for _ in range(rng.randint(1, 3)):
            yield Step(t, series)
            t += rng.uniform(1.0, 20.0)


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True, slots=True)
class Scenario:
    """A named kind of incident (or of routine activity) that :func:`simulate` can start."""

    name: str
    summary: str
    categories: frozenset[str]
    """What ``processors.core.taxonomy`` makes of this scenario's events."""
    share: float
    """Default fraction of the event volume (relative to the other selected scenarios)."""
    default: bool
    run: Callable[[ScenarioContext], Iterator[Step]]

    @property
    def description(self) -> str:
        return inspect.getdoc(self.run) or self.summary


def _scenario(
    name: str,
    run: Callable[[ScenarioContext], Iterator[Step]],
    share: float,
    categories: str,
    *,
    default: bool = True,
) -> Scenario:
    summary = (inspect.getdoc(run) or name).split("\n", 1)[0]
    return Scenario(name, summary, frozenset(categories.split()), share, default, run)


SCENARIOS: Final[dict[str, Scenario]] = {
    s.name: s
    for s in (
        _scenario("rollout", _rollout, 0.55, "lifecycle"),
        _scenario("cronjob", _cronjob, 0.10, "lifecycle"),
        _scenario("crash-loop", _crash_loop, 0.08, "crash-loop lifecycle"),
        _scenario("image-pull", _image_pull, 0.06, "image-pull lifecycle"),
        _scenario("oom", _oom, 0.04, "oom crash-loop lifecycle"),
        _scenario("failed-scheduling", _failed_scheduling, 0.05, "scheduling lifecycle"),
        _scenario("node-not-ready", _node_not_ready, 0.04, "node-not-ready eviction lifecycle"),
        _scenario("probe-failure", _probe_failure, 0.05, "probe lifecycle"),
        _scenario("quota", _quota, 0.03, "quota lifecycle"),
        _scenario("hostile", _hostile, 0.02, "crash-loop probe other volume", default=False),
    )
}
"""Every scenario by name; ``categories`` lists what each one's events classify as."""

DEFAULT_SCENARIOS: Final[tuple[str, ...]] = tuple(name for name, s in SCENARIOS.items() if s.default)


def describe(name: str | None = None) -> str:
    """A human-readable list of the scenarios (or the full description of one)."""
    if name is not None:
        scenario = SCENARIOS[name]
        return f"{scenario.name}\n\n{scenario.description}"
    width = max(map(len, SCENARIOS))
    lines = []
    for scenario in SCENARIOS.values():
        flag = "" if scenario.default else " (off by default)"
        lines.append(f"{scenario.name:<{width}}  {scenario.summary}{flag}")
    return "\n".join(lines)


@cache
def _mean_events(name: str) -> float:
    """How many occurrences one incident of ``name`` yields on average (for pacing)."""
    topology = _build_topology("calibration", 0, DEFAULT_NAMESPACES)
    rng = _rng(f"calibration/{name}")
    started = datetime(2026, 1, 1, tzinfo=UTC)
    total = 0
    for _ in range(_CALIBRATION_RUNS):
        ctx = ScenarioContext(_rng(rng.getrandbits(64)), topology, started, 1_000_000)
        total += sum(1 for _ in SCENARIOS[name].run(ctx))
    return total / _CALIBRATION_RUNS


# --------------------------------------------------------------------------- the stream


class _Cluster:
    """Per-cluster emission state: the resourceVersion counter and the clock."""

    def __init__(self, topology: _Topology, start: datetime) -> None:
        self.topology = topology
        self.name = topology.cluster
        self.start = start
        self.start_ns = (start - _EPOCH) // timedelta(microseconds=1) * 1000
        self.rng = _rng(f"{topology.seed}/{topology.cluster}/resource-version")
        self.rv = self.rng.randrange(1_000_000, 90_000_000)
        self.last_ns = 0
        self.start_floor = start.replace(microsecond=0)
        self.start_micros = start.microsecond
        self.last_second = -1
        self.last_stamp = ""

    def timestamp(self, at: float) -> str:
        """RFC 3339 at whole seconds, as core/v1 Event timestamps are."""
        second = (self.start_micros + round(at * 1e6)) // 1_000_000
        if second != self.last_second:
            self.last_second = second
            self.last_stamp = (self.start_floor + timedelta(seconds=second)).strftime("%Y-%m-%dT%H:%M:%SZ")
        return self.last_stamp

    def emit(self, at: float, series: EventSeries, message: str | None) -> SimulatedEvent:
        self.rv += 1 + self.rng.randrange(40)  # other objects' writes share the counter
        now = self.timestamp(at)
        series.count += 1
        if message is not None:
            series.message = message
        if series.count == 1:
            # The recorder names Events "<object>.<unix nanoseconds in hex>"; keep them unique.
            ns = max(self.start_ns + int(at * 1e9), self.last_ns + 1)
            self.last_ns = ns
            series.name = f"{series.ref.name}.{ns:016x}"
            series.first_timestamp = now
            observation = Observation.ADDED
        else:
            observation = Observation.MODIFIED
        ref = series.ref
        event: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "name": series.name,
                "namespace": ref.namespace or "default",
                "uid": series.uid,
                "resourceVersion": str(self.rv),
                "creationTimestamp": series.first_timestamp,
            },
            "involvedObject": ref.to_json(),
            "reason": series.reason,
            "message": series.message,
            "source": series.source.to_json(),
            "firstTimestamp": series.first_timestamp,
            "lastTimestamp": now,
            "count": series.count,
            "type": series.type,
            "eventTime": None,
            "reportingComponent": series.source.component,
            "reportingInstance": series.source.instance,
        }
        return SimulatedEvent(self.name, observation, event, at)


def simulate(
    *,
    clusters: Sequence[str],
    rate: float,
    duration: float | None,
    seed: int = 0,
    start: datetime | None = None,
    scenarios: Sequence[str] | None = None,
    namespaces: Sequence[str] | None = None,
) -> Iterator[SimulatedEvent]:
    """Occurrences from ``clusters``, merged in non-decreasing ``at`` order.

    ``rate`` is the average number of occurrences per simulated second over all
    clusters (the first minutes run a little below it, while long incidents build up).
    The stream holds the occurrences with ``at < duration`` (``None``: it never ends).
    ``scenarios`` picks from :data:`SCENARIOS` (default :data:`DEFAULT_SCENARIOS`,
    weighted by their ``share``); ``namespaces`` (default :data:`DEFAULT_NAMESPACES`)
    hold the workloads. Timestamps are ``start`` (default: now, whole seconds) plus
    ``at``. The same arguments give the same stream. Arguments are checked here, before
    the first event is asked for.
    """
    if not (math.isfinite(rate) and rate > 0):
        raise ValueError("rate must be a positive, finite number of events per second")
    if duration is not None and not (duration >= 0):
        raise ValueError("duration must be >= 0 seconds (or None for no end)")
    cluster_ids = _names("cluster", clusters, None, _CLUSTER_NAME)
    names = _names("scenario", scenarios, DEFAULT_SCENARIOS, None)
    unknown = [name for name in names if name not in SCENARIOS]
    if unknown:
        raise ValueError(f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(SCENARIOS)}")
    spaces = _names("namespace", namespaces, DEFAULT_NAMESPACES, _NAMESPACE_NAME)
    if start is None:
        start = datetime.now(UTC).replace(microsecond=0)
    elif start.tzinfo is None:
        raise ValueError("start must carry a time zone")
    return _stream(
        clusters=cluster_ids,
        rate=float(rate),
        duration=duration,
        seed=seed,
        start=start.astimezone(UTC),
        scenarios=tuple(SCENARIOS[name] for name in names),
        namespaces=spaces,
    )


def _names(
    what: str, given: Sequence[str] | None, default: tuple[str, ...] | None, pattern: re.Pattern[str] | None
) -> tuple[str, ...]:
    """``given`` (or ``default``) without repeats, each checked against ``pattern``."""
    if isinstance(given, str):
        raise TypeError(f"{what}s must be a sequence of names, not one string")
    names = tuple(dict.fromkeys(default if given is None and default is not None else given or ()))
    if not names:
        raise ValueError(f"at least one {what} is needed")
    for name in names:
        if pattern is not None and not pattern.match(name):
            raise ValueError(f"invalid {what} {name!r} (expected {pattern.pattern})")
    return names


class _Running(NamedTuple):
    cluster: _Cluster
    steps: Iterator[Step]
    began: float
    step: Step


def _stream(
    *,
    clusters: tuple[str, ...],
    rate: float,
    duration: float | None,
    seed: int,
    start: datetime,
    scenarios: tuple[Scenario, ...],
    namespaces: tuple[str, ...],
) -> Iterator[SimulatedEvent]:
    states = [_Cluster(_build_topology(name, seed, namespaces), start) for name in clusters]
    total_share = sum(s.share for s in scenarios)
    # Incidents of scenario s start at rate * share_s / mean_events_s per second.
    incident_rates = [rate * (s.share / total_share) / _mean_events(s.name) for s in scenarios]
    incidents_per_second = sum(incident_rates)
    rng = _rng(f"{seed}/incidents")
    order = itertools.count()
    pending: list[tuple[float, int, _Running]] = []

    def push(running: _Running, after: float) -> None:
        step = next(running.steps, None)
        if step is not None:
            at = max(after, running.began + step.offset)  # scenarios yield in order; be sure
            heapq.heappush(pending, (at, next(order), running._replace(step=step)))

    next_start = rng.expovariate(incidents_per_second)
    while True:
        if pending and pending[0][0] <= next_start:
            at, _, running = heapq.heappop(pending)
            if duration is not None and at >= duration:
                return
            yield running.cluster.emit(at, running.step.series, running.step.message)
            push(running, at)
            continue
        if duration is not None and next_start >= duration:
            return
        state = states[rng.randrange(len(states))] if len(states) > 1 else states[0]
        scenario = rng.choices(scenarios, weights=incident_rates)[0]
        ctx = ScenarioContext(
            _rng(rng.getrandbits(64)),
            state.topology,
            start + timedelta(seconds=next_start),
            state.rv,
        )
        steps = scenario.run(ctx)
        first = next(steps, None)
        if first is not None:
            running = _Running(state, steps, next_start, first)
            heapq.heappush(pending, (next_start + max(0.0, first.offset), next(order), running))
        next_start += rng.expovariate(incidents_per_second)
