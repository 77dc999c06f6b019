"""Realistic incident scenarios, written the way Kubernetes' own components write their Events.

Each scenario is a stretch of a cluster's life (a crash loop, a node outage, a normal rollout)
told as the API writes the real components make, with their reasons, sources and message
formats as found in Kubernetes v1.37 (the version ``make e2e`` builds):

- the kubelet (pkg/kubelet/images, kuberuntime, prober; source ``kubelet`` + ``host``),
  the node lifecycle and taint-eviction controllers (pkg/controller/util/node,
  pkg/controller/tainteviction: Pod Events with no ``source.host``), the ReplicaSet,
  Deployment, StatefulSet, Job and CronJob controllers, the attach/detach controller, the
  scheduler (events.k8s.io: ``eventTime``, ``series``, ``reportingController`` +
  ``reportingInstance``, no ``source``), node-problem-detector's kernel monitor
  (``OOMKilling`` on the Node) and the cluster autoscaler;
- written through an emulation of the recorders, so repeats look as they do on a real
  cluster: client-go ``tools/record``'s correlator (a repeat PATCHes the same Event with
  ``count + 1``; ten different messages for one object and reason within 10 min become
  "(combined from similar events): ..."; a spam filter per source, object and type lets 25
  through, then one per 5 min, while the count keeps counting: after a long image pull
  back-off it drops the very Pulled that would prove recovery) and ``tools/events``'
  series (a repeat is a ``series`` update, written at once for the second occurrence, then
  every 30 min, and a last time 6 to 12 min after the final one: possibly after the
  recovery Event).

Each scenario states what a user must be paged for (cluster, category, workload or node),
whether each incident must close on recovery evidence or on quiet, and, by its scope, that
nothing else in its namespaces or nodes pages. Times are scenario seconds; a runner maps
them onto the wall clock at a chosen scale (see bench/quality.py).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

Json = dict[str, Any]

SECOND = 1.0
MINUTE = 60.0
HOUR = 3600.0

SAFE = "bcdfghjklmnpqrstvwxz2456789"
"""Kubernetes' alphabet for generated names (apimachinery rand.SafeEncodeString)."""
NAME_EPOCH = datetime(2026, 11, 27, tzinfo=UTC).timestamp()
"""Event names carry the recorder's clock in nanoseconds; this anchors them (names only)."""

SPAM_BURST = 25
SPAM_REFILL_SECONDS = 300.0
AGGREGATE_MAX_EVENTS = 10
AGGREGATE_INTERVAL = 600.0
SERIES_REFRESH = 30 * MINUTE
SERIES_FINISH = 6 * MINUTE
"""client-go's constants: tools/record/events_cache.go and tools/events/event_broadcaster.go."""


# ---- what is written ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Stamp:
    """A timestamp field, in scenario seconds until the run renders it on its wall clock."""

    at: float
    micro: bool = False
    """metav1.MicroTime (eventTime, series) rather than metav1.Time (second precision)."""


Clock = Callable[[float], datetime]
"""Scenario seconds -> the wall-clock moment a run writes them at."""


def render(value: Any, clock: Clock) -> Any:
    """``value`` with every :class:`Stamp` written as the API server writes timestamps."""
    if isinstance(value, Stamp):
        moment = clock(value.at).astimezone(UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if value.micro else "%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, dict):
        return {key: render(item, clock) for key, item in value.items()}
    if isinstance(value, list):
        return [render(item, clock) for item in value]
    return value


@dataclass(frozen=True, slots=True)
class Write:
    """One write to a cluster's API server: a new Event, or fields of an existing one replaced."""

    at: float
    cluster: str
    verb: Literal["create", "update"]
    namespace: str
    name: str
    body: Json
    """create: the whole Event; update: the top-level fields that change."""


@dataclass(frozen=True, slots=True)
class Obj:
    """An involved object, as ``ref.GetReference`` makes it."""

    kind: str
    name: str
    namespace: str | None
    uid: str | None
    api_version: str = "v1"

    def ref(self, field_path: str | None = None) -> Json:
        out: Json = {"kind": self.kind, "apiVersion": self.api_version, "name": self.name}
        if self.namespace:
            out["namespace"] = self.namespace
        if self.uid:
            out["uid"] = self.uid
        if field_path:
            out["fieldPath"] = field_path
        return out

    @property
    def event_namespace(self) -> str:
        """Events of cluster-scoped objects (Nodes) are written to ``default``."""
        return self.namespace or "default"

    def without_uid(self) -> Obj:
        """The taint-eviction controller's reference: kind, namespace and name only."""
        return Obj(self.kind, self.name, self.namespace, None, self.api_version)


def event_name(obj_name: str, at: float, taken: set[str] | None = None) -> str:
    """``<object>.<recorder clock in hex nanoseconds>``, unique among ``taken``."""
    nanos = int((NAME_EPOCH + at) * 1e9)
    while (name := f"{obj_name}.{nanos:x}") in (taken or ()):
        nanos += 1
    if taken is not None:
        taken.add(name)
    return name


# ---- recorders ----------------------------------------------------------------------------------


class _Bucket:
    """flowcontrol's passive token bucket: starts full, refills continuously."""

    def __init__(self, at: float) -> None:
        self.tokens = float(SPAM_BURST)
        self.last = at

    def take(self, at: float) -> bool:
        self.tokens = min(float(SPAM_BURST), self.tokens + (at - self.last) / SPAM_REFILL_SECONDS)
        self.last = at
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@dataclass
class _Logged:
    name: str
    count: int
    first: float


class LegacyRecorder:
    """One component's client-go ``tools/record`` EventRecorder, writing core/v1 Events.

    Aggregation, then the count cache (which counts even what the spam filter then drops),
    then the spam filter, in EventCorrelate's order. A PATCH of an Event the server never got
    (its creation was filtered) is a create, as recordToSink falls back to on NotFound.
    """

    def __init__(self, cluster: Cluster, *, component: str, host: str | None) -> None:
        self.cluster = cluster
        self.component = component
        self.host = host
        self._aggregates: dict[tuple[Any, ...], tuple[set[str], float]] = {}
        self._logged: dict[tuple[Any, ...], _Logged] = {}
        self._buckets: dict[tuple[Any, ...], _Bucket] = {}
        self._written: set[str] = set()

    def event(
        self,
        at: float,
        obj: Obj,
        event_type: str,
        reason: str,
        message: str,
        *,
        field_path: str | None = None,
    ) -> None:
        reporting = (self.component, self.host or "")
        ref = obj.ref(field_path)
        object_key = (ref["kind"], obj.namespace, obj.name, obj.uid, obj.api_version)
        aggregate_key = (self.component, self.host, *object_key, event_type, reason, *reporting)
        keys, last = self._aggregates.get(aggregate_key, (set(), -1e18))
        if at - last > AGGREGATE_INTERVAL:
            keys = set()
        keys.add(message)
        self._aggregates[aggregate_key] = (keys, at)
        if len(keys) < AGGREGATE_MAX_EVENTS:
            cache_key: tuple[Any, ...] = (*aggregate_key, field_path, message)
        else:
            keys.discard(next(iter(keys - {message}), message))
            message, reporting, cache_key = (
                f"(combined from similar events): {message}",
                ("", ""),
                aggregate_key,
            )
        logged = self._logged.get(cache_key)
        if logged is None:
            logged = _Logged(event_name(obj.name, at, self.cluster.names), 0, at)
            self._logged[cache_key] = logged
        logged.count += 1
        spam_key = (self.component, self.host, *object_key, event_type)
        bucket = self._buckets.setdefault(spam_key, _Bucket(at))
        if not bucket.take(at):
            return  # dropped by the spam filter: never written, but counted above
        if logged.name in self._written:
            fields = {"count": logged.count, "lastTimestamp": Stamp(at), "message": message}
            self.cluster.write(at, "update", obj.event_namespace, logged.name, fields)
            return
        self._written.add(logged.name)
        source: Json = {"component": self.component}
        if self.host:
            source["host"] = self.host
        body: Json = {
            "metadata": {"name": logged.name, "namespace": obj.event_namespace},
            "involvedObject": ref,
            "reason": reason,
            "message": message,
            "source": source,
            "firstTimestamp": Stamp(logged.first),
            "lastTimestamp": Stamp(at),
            "count": logged.count,
            "type": event_type,
            "eventTime": None,
            "reportingComponent": reporting[0],
            "reportingInstance": reporting[1],
        }
        self.cluster.write(at, "create", obj.event_namespace, logged.name, body)


@dataclass
class _Series:
    name: str
    namespace: str
    event_time: float
    count: int = 1
    last: float | None = None
    ticked: float = 0.0


class SeriesRecorder:
    """client-go ``tools/events`` (the scheduler's recorder), seen through the core/v1 API.

    Isomorphic Events (same type, action, reason, reporter and object; the note does not
    count) become one Event with a ``series``: the second occurrence is written at once,
    later ones only at the 30-minute refresh and when the series finishes (no occurrence for
    6 minutes, checked every 6 minutes), carrying the first occurrence's note.
    """

    def __init__(self, cluster: Cluster, *, controller: str, instance: str, phase: float) -> None:
        self.cluster = cluster
        self.controller = controller
        self.instance = instance
        self.phase = phase
        """Where the recorder's refresh and finish tickers stand at scenario time 0."""
        self._cache: dict[tuple[Any, ...], _Series] = {}

    def event(self, at: float, obj: Obj, event_type: str, reason: str, *, action: str, note: str) -> None:
        key = (event_type, action, reason, obj.kind, obj.namespace, obj.name, obj.uid)
        series = self._cache.get(key)
        if series is not None:
            self._tick(key, series, at)
            series = self._cache.get(key)
        if series is None:
            name = event_name(obj.name, at, self.cluster.names)
            self._cache[key] = _Series(name, obj.event_namespace, at, ticked=at)
            body: Json = {
                "metadata": {"name": name, "namespace": obj.event_namespace},
                "involvedObject": obj.ref(),
                "reason": reason,
                "message": note,
                "source": {},
                "firstTimestamp": None,
                "lastTimestamp": None,
                "type": event_type,
                "eventTime": Stamp(at, micro=True),
                "action": action,
                "reportingComponent": self.controller,
                "reportingInstance": self.instance,
            }
            self.cluster.write(at, "create", obj.event_namespace, name, body)
            return
        series.count += 1
        first_repeat = series.last is None
        series.last = at
        if first_repeat:
            self._write_series(at, series)

    def close(self, until: float) -> None:
        """Run the tickers of every cached series up to ``until``."""
        for key, series in list(self._cache.items()):
            self._tick(key, series, until)

    def _tick(self, key: tuple[Any, ...], series: _Series, until: float) -> None:
        for at, kind in self._ticks(series.ticked, until):
            if key not in self._cache:
                return
            if kind == "refresh" and series.last is not None:
                self._write_series(at, series)
            elif kind == "finish":
                if series.last is not None and series.last < at - SERIES_FINISH:
                    self._write_series(at, series)
                    del self._cache[key]
                elif series.last is None and series.event_time < at - SERIES_FINISH:
                    del self._cache[key]
        series.ticked = until

    def _ticks(self, after: float, until: float) -> Iterator[tuple[float, str]]:
        ticks = []
        for period, kind in ((SERIES_REFRESH, "refresh"), (SERIES_FINISH, "finish")):
            n = int((after - self.phase) // period) + 1
            while (at := self.phase + n * period) <= until:
                ticks.append((at, kind))
                n += 1
        yield from sorted(ticks)

    def _write_series(self, at: float, series: _Series) -> None:
        assert series.last is not None
        fields = {"series": {"count": series.count, "lastObservedTime": Stamp(series.last, micro=True)}}
        self.cluster.write(at, "update", series.namespace, series.name, fields)


# ---- a cluster and its components ---------------------------------------------------------------


class Cluster:
    """One cluster's recorders, and every write they make, in any order (sorted by the world)."""

    def __init__(self, name: str, rng: random.Random) -> None:
        self.name = name
        self.rng = rng
        self.writes: list[Write] = []
        self.names: set[str] = set()
        self._legacy: dict[tuple[str, str | None], LegacyRecorder] = {}
        self.scheduler = SeriesRecorder(
            self,
            controller="default-scheduler",
            instance=f"default-scheduler-{name}-cp-1",
            phase=rng.uniform(0, SERIES_FINISH),
        )
        self.node_uids: dict[str, str] = {}

    def write(
        self, at: float, verb: Literal["create", "update"], namespace: str, name: str, body: Json
    ) -> None:
        self.writes.append(Write(at, self.name, verb, namespace, name, body))

    def recorder(self, component: str, host: str | None = None) -> LegacyRecorder:
        key = (component, host)
        if key not in self._legacy:
            self._legacy[key] = LegacyRecorder(self, component=component, host=host)
        return self._legacy[key]

    def kubelet(self, node: str) -> LegacyRecorder:
        return self.recorder("kubelet", node)

    def uid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def node(self, name: str) -> Obj:
        uid = self.node_uids.setdefault(name, self.uid())
        return Obj("Node", name, None, uid)

    def suffix(self, length: int = 5) -> str:
        return "".join(self.rng.choice(SAFE) for _ in range(length))

    def jitter(self, seconds: float) -> float:
        return self.rng.uniform(0, seconds)


@dataclass(frozen=True)
class Pod:
    cluster: Cluster
    namespace: str
    name: str
    uid: str
    node: str
    container: str
    image: str

    @property
    def obj(self) -> Obj:
        return Obj("Pod", self.name, self.namespace, self.uid)

    @property
    def container_path(self) -> str:
        return f"spec.containers{{{self.container}}}"

    @property
    def formatted(self) -> str:
        """kubelet's ``format.Pod``: name_namespace(uid)."""
        return f"{self.name}_{self.namespace}({self.uid})"

    @property
    def kubelet(self) -> LegacyRecorder:
        return self.cluster.kubelet(self.node)

    def container_event(self, at: float, event_type: str, reason: str, message: str) -> None:
        self.kubelet.event(at, self.obj, event_type, reason, message, field_path=self.container_path)


def new_pod(cluster: Cluster, namespace: str, name: str, *, node: str, container: str, image: str) -> Pod:
    return Pod(cluster, namespace, name, cluster.uid(), node, container, image)


def replica_set_name(cluster: Cluster, deployment: str) -> str:
    return f"{deployment}-{cluster.suffix(cluster.rng.choice((9, 10)))}"


def deployment_pod(cluster: Cluster, replica_set: str, **kwargs: Any) -> Pod:
    return new_pod(cluster, kwargs.pop("namespace"), f"{replica_set}-{cluster.suffix()}", **kwargs)


# ---- what components do -------------------------------------------------------------------------


def scheduled(pod: Pod, at: float) -> None:
    pod.cluster.scheduler.event(
        at,
        pod.obj,
        "Normal",
        "Scheduled",
        action="Binding",
        note=f"Successfully assigned {pod.namespace}/{pod.name} to {pod.node}",
    )


def starts(pod: Pod, at: float, *, pull: bool = False) -> float:
    """The kubelet starting the pod's container; returns when it runs."""
    if pull:
        pod.container_event(at, "Normal", "Pulling", f'Pulling image "{pod.image}"')
        took = 1.0 + pod.cluster.jitter(4.0)
        size = 20_000_000 + pod.cluster.rng.randrange(200_000_000)
        at += took
        pod.container_event(
            at,
            "Normal",
            "Pulled",
            f'Successfully pulled image "{pod.image}" in {took:.3f}s ({took:.3f}s including waiting). '
            f"Image size: {size} bytes.",
        )
    else:
        pod.container_event(
            at, "Normal", "Pulled", f'Container image "{pod.image}" already present on machine'
        )
    pod.container_event(at + 0.1, "Normal", "Created", f"Created container: {pod.container}")
    pod.container_event(at + 0.3, "Normal", "Started", f"Started container {pod.container}")
    return at + 0.3


def stops(pod: Pod, at: float) -> None:
    pod.container_event(at, "Normal", "Killing", f"Stopping container {pod.container}")


def created_by(cluster: Cluster, controller: Obj, at: float, pod: Pod, *, component: str) -> None:
    """A ReplicaSet's or Job's controller creating a pod (controller_utils.go)."""
    cluster.recorder(component).event(
        at, controller, "Normal", "SuccessfulCreate", f"Created pod: {pod.name}"
    )


def crash_loop(
    pod: Pod,
    *,
    start: float,
    end: float,
    runs_for: float = 5.0,
    on_kill: Callable[[float], None] | None = None,
) -> float:
    """A container that exits ``runs_for`` seconds after each start, restarted with the
    kubelet's back-off (10 s doubling to 5 min); while it waits, every pod sync (about every
    10 s) records BackOff. ``on_kill`` is called at each exit (an OOM kill, say). Returns the
    time of the first BackOff."""
    at = starts(pod, start)
    backoff = 10.0
    first = -1.0
    while True:
        exit_at = at + runs_for + pod.cluster.jitter(2.0)
        if exit_at >= end:
            return first
        if on_kill is not None:
            on_kill(exit_at)
        sync = exit_at + 1.0
        until = exit_at + backoff
        while sync < min(until, end):
            pod.container_event(
                sync,
                "Warning",
                "BackOff",
                f"Back-off restarting failed container {pod.container} in pod {pod.formatted}",
            )
            first = sync if first < 0 else first
            sync += 10.0 + pod.cluster.jitter(1.0)
        if sync >= end:
            return first
        at = starts(pod, sync)
        backoff = min(backoff * 2, 300.0)


@dataclass(frozen=True)
class PullOutcome:
    first_warning: float
    pulled_at: float
    """When the first attempt after the fix pulled the image."""
    evidence_at: float | None
    """When its Pulled or Started reached the API, if either did: after the burst of 25, the
    kubelet's spam filter lets one Normal Event of the pod through per 5 minutes, and
    "Back-off pulling image" (type Normal, every sync) takes each as it comes, so after a long
    back-off the success is usually never written."""


def image_pull_failure(pod: Pod, *, start: float, fixed_at: float, error: str) -> PullOutcome:
    """A container whose image cannot be pulled until ``fixed_at``: pull attempts with the
    image back-off (10 s doubling to 5 min), each Pulling then Failed twice; every sync in
    between, BackOff (type Normal) and Failed "Error: ImagePullBackOff". The first attempt
    after ``fixed_at`` pulls and starts the container."""
    at = start
    backoff = 10.0
    first = -1.0
    while at < fixed_at:
        pod.container_event(at, "Normal", "Pulling", f'Pulling image "{pod.image}"')
        failed = at + 0.5 + pod.cluster.jitter(1.5)
        pod.container_event(failed, "Warning", "Failed", f'Failed to pull image "{pod.image}": {error}')
        pod.container_event(failed, "Warning", "Failed", "Error: ErrImagePull")
        first = failed if first < 0 else first
        sync = failed + 10.0 + pod.cluster.jitter(1.0)
        while sync < failed + backoff:
            pod.container_event(sync, "Normal", "BackOff", f'Back-off pulling image "{pod.image}"')
            pod.container_event(sync, "Warning", "Failed", "Error: ImagePullBackOff")
            sync += 10.0 + pod.cluster.jitter(1.0)
        at = sync
        backoff = min(backoff * 2, 300.0)
    written = len(pod.cluster.writes)
    pulled = starts(pod, at, pull=True) - 0.3
    evidence = [w.at for w in pod.cluster.writes[written:] if w.body.get("reason") in ("Pulled", "Started")]
    return PullOutcome(first, pulled, min(evidence, default=None))


def readiness_failing(pod: Pod, *, start: float, end: float, output: str, period: float = 10.0) -> float:
    at = start
    while at < end:
        pod.container_event(at, "Warning", "Unhealthy", f"Readiness probe failed: {output}")
        at += period
    return start


def rollout(
    cluster: Cluster,
    *,
    namespace: str,
    deployment: str,
    old: list[Pod],
    nodes: list[str],
    image: str,
    container: str,
    at: float,
) -> list[Pod]:
    """A Deployment's rolling update, one pod at a time (maxSurge 1, maxUnavailable 0): only
    Normal Events, from the deployment and ReplicaSet controllers, the scheduler and kubelets."""
    deploy = Obj("Deployment", deployment, namespace, cluster.uid(), "apps/v1")
    new_rs_name = replica_set_name(cluster, deployment)
    new_rs = Obj("ReplicaSet", new_rs_name, namespace, cluster.uid(), "apps/v1")
    old_rs_name = old[0].name.rsplit("-", 1)[0] if old else replica_set_name(cluster, deployment)
    old_rs = Obj("ReplicaSet", old_rs_name, namespace, cluster.uid(), "apps/v1")
    controller = cluster.recorder("deployment-controller")
    pods = []
    for index, node in enumerate(nodes):
        controller.event(
            at,
            deploy,
            "Normal",
            "ScalingReplicaSet",
            f"Scaled up replica set {new_rs_name} from {index} to {index + 1}",
        )
        pod = new_pod(
            cluster,
            namespace,
            f"{new_rs_name}-{cluster.suffix()}",
            node=node,
            container=container,
            image=image,
        )
        created_by(cluster, new_rs, at + 0.05, pod, component="replicaset-controller")
        scheduled(pod, at + 0.1)
        ready = starts(pod, at + 1.0 + cluster.jitter(1.0), pull=True) + 10.0
        pods.append(pod)
        if index < len(old):
            remaining = len(old) - index - 1
            controller.event(
                ready,
                deploy,
                "Normal",
                "ScalingReplicaSet",
                f"Scaled down replica set {old_rs_name} from {remaining + 1} to {remaining}",
            )
            cluster.recorder("replicaset-controller").event(
                ready + 0.05, old_rs, "Normal", "SuccessfulDelete", f"Deleted pod: {old[index].name}"
            )
            stops(old[index], ready + 0.2)
        at = ready + 1.0
    return pods


# ---- expectations -------------------------------------------------------------------------------


Close = Literal["recovery", "quiet"]


@dataclass(frozen=True)
class ExpectedPage:
    """An incident a user must be paged for, once, and how it must close."""

    cluster: str
    category: str
    subject: str
    """The workload, or for a node's own incident the node."""
    opens_at: float
    """The first Event that belongs to the incident: time to page is measured from it."""
    closes: Close
    recovers_at: float | None = None
    """When the recovery evidence is written (closes == "recovery")."""
    strict_close: bool = True
    """Whether Kubernetes writes recovery evidence that herald's built-in table is expected to
    know: then closing the other way is a failure, not only a note."""
    max_messages: int | None = None
    """At most this many messages per receiver (first page, material changes, close)."""
    node: str | None = None
    workloads: tuple[str, ...] = ()
    """A node's incident must name these affected workloads."""
    related: str | None = None
    """The category of a node-level incident this one must name as related."""

    @property
    def identity(self) -> tuple[str, str, str]:
        return (self.cluster, self.category, self.subject)


@dataclass
class Scenario:
    name: str
    summary: str
    starts_at: float
    ends_at: float
    expected: list[ExpectedPage]
    scope: set[tuple[str, str]] = field(default_factory=set)
    """(cluster, namespace) and (cluster, "node/NAME") pairs it owns: an incident there that no
    expected page names is a false page of this scenario."""


@dataclass
class World:
    """Every scenario, and every write they make, across all clusters."""

    scenarios: list[Scenario]
    writes: list[Write]
    clusters: list[str]
    ends_at: float
    """When the last scenario's last write is made (closes come after)."""

    def scenario(self, name: str) -> Scenario:
        return next(s for s in self.scenarios if s.name == name)

    def owner(self, cluster: str, namespace: str | None, node: str | None) -> Scenario | None:
        for scenario in self.scenarios:
            if (cluster, namespace or "") in scenario.scope or (cluster, f"node/{node}") in scenario.scope:
                return scenario
        return None


# ---- the scenarios ------------------------------------------------------------------------------


def crash_loop_two_hours(a: Cluster, at: float) -> Scenario:
    """checkout's new version crashes at start for two hours, until a fixed version rolls out."""
    end = at + 2 * HOUR
    rs = replica_set_name(a, "checkout")
    pod = deployment_pod(
        a,
        rs,
        namespace="shop",
        node="prod-a-node-1",
        container="checkout",
        image="registry.internal/shop/checkout:v4.18.0",
    )
    first = crash_loop(pod, start=at, end=end, runs_for=4.0)
    rollout(
        a,
        namespace="shop",
        deployment="checkout",
        old=[pod],
        nodes=["prod-a-node-1"],
        image="registry.internal/shop/checkout:v4.18.1",
        container="checkout",
        at=end,
    )
    return Scenario(
        "crash-loop-2h",
        "one pod crash-looping for two hours (BackOff repeated as count bumps), then fixed by a rollout",
        at,
        end,
        [ExpectedPage("prod-a", "crash-loop", "checkout", first, "quiet", max_messages=3)],
        {("prod-a", "shop")},
    )


def expect_pull(cluster: str, workload: str, pull: PullOutcome) -> ExpectedPage:
    """An image pull failure's page: closed on the pod's Pulled or Started if the kubelet wrote
    either, else only on quiet."""
    if pull.evidence_at is None:
        return ExpectedPage(cluster, "image-pull", workload, pull.first_warning, "quiet")
    return ExpectedPage(
        cluster, "image-pull", workload, pull.first_warning, "recovery", recovers_at=pull.evidence_at
    )


def image_pull_one_day(a: Cluster, at: float) -> Scenario:
    """api's image tag was never pushed: a day of ErrImagePull / ImagePullBackOff, then the tag
    is pushed and the next attempt pulls it."""
    rs = replica_set_name(a, "api")
    image = "registry.internal/payments/api:v2.14.0"
    pod = deployment_pod(a, rs, namespace="payments", node="prod-a-node-2", container="api", image=image)
    deploy = Obj("Deployment", "api", "payments", a.uid(), "apps/v1")
    a.recorder("deployment-controller").event(
        at, deploy, "Normal", "ScalingReplicaSet", f"Scaled up replica set {rs} from 0 to 1"
    )
    created_by(
        a,
        Obj("ReplicaSet", rs, "payments", a.uid(), "apps/v1"),
        at + 0.05,
        pod,
        component="replicaset-controller",
    )
    scheduled(pod, at + 0.1)
    error = (
        f'rpc error: code = NotFound desc = failed to pull and unpack image "{image}": '
        f'failed to resolve reference "{image}": {image}: not found'
    )
    pull = image_pull_failure(pod, start=at + 1.0, fixed_at=at + 24 * HOUR, error=error)
    return Scenario(
        "image-pull-24h",
        "an image tag that does not exist for a day, then pushed: the same pod pulls and starts, "
        "but after a day of back-off the kubelet's spam filter drops its Pulled and Started, so "
        "only quiet can close it",
        at,
        pull.pulled_at,
        [expect_pull("prod-a", "api", pull)],
        {("prod-a", "payments")},
    )


def oom_then_crash_loop(a: Cluster, at: float) -> Scenario:
    """search-0 is OOM-killed at every start (node-problem-detector's OOMKilling on the Node),
    so it crash-loops, until its memory limit is raised and the StatefulSet recreates it."""
    node = "prod-a-node-3"
    end = at + 40 * MINUTE
    pod = new_pod(
        a, "search", "search-0", node=node, container="search", image="registry.internal/search/search:8.15.2"
    )
    monitor = a.recorder("kernel-monitor", node)
    node_obj = Obj("Node", node, None, node)  # NPD's reference: the node's name as its uid

    kills: list[float] = []

    def oom_kill(when: float) -> None:
        kills.append(when)
        pid = 20_000 + a.rng.randrange(40_000)
        rss = 2_090_000 + a.rng.randrange(9000)
        monitor.event(
            when,
            node_obj,
            "Warning",
            "OOMKilling",
            f"Memory cgroup out of memory: Killed process {pid} (java) total-vm:{rss + 1_900_000}kB, "
            f"anon-rss:{rss}kB, file-rss:{18_000 + a.rng.randrange(900)}kB, shmem-rss:0kB, UID:1000 "
            f"pgtables:{4100 + a.rng.randrange(100)}kB oom_score_adj:{900 + a.rng.randrange(99)}",
        )

    first_backoff = crash_loop(pod, start=at, end=end, runs_for=35.0, on_kill=oom_kill)
    statefulset = Obj("StatefulSet", "search", "search", a.uid(), "apps/v1")
    sts = a.recorder("statefulset-controller")
    stops(pod, end)
    sts.event(
        end + 2,
        statefulset,
        "Normal",
        "SuccessfulDelete",
        "delete Pod search-0 in StatefulSet search successful",
    )
    again = new_pod(a, "search", "search-0", node=node, container="search", image=pod.image)
    sts.event(
        end + 3,
        statefulset,
        "Normal",
        "SuccessfulCreate",
        "create Pod search-0 in StatefulSet search successful",
    )
    scheduled(again, end + 3.1)
    starts(again, end + 4)
    return Scenario(
        "oom-then-crash-loop",
        "a kernel OOM kill (OOMKilling on the Node) at each start of a pod, which therefore crash-loops",
        at,
        end,
        [
            ExpectedPage("prod-a", "oom", node, kills[0], "quiet", node=node),
            ExpectedPage("prod-a", "crash-loop", "search", first_backoff, "quiet", related="oom"),
        ],
        {("prod-a", "search"), ("prod-a", f"node/{node}")},
    )


def quota_then_recovered(a: Cluster, at: float) -> Scenario:
    """report-gen is scaled up past the namespace's quota; the ReplicaSet controller retries
    with its exponential back-off until the quota is raised, then creates the pods."""
    deploy = Obj("Deployment", "report-gen", "batch", a.uid(), "apps/v1")
    rs_name = replica_set_name(a, "report-gen")
    rs = Obj("ReplicaSet", rs_name, "batch", a.uid(), "apps/v1")
    a.recorder("deployment-controller").event(
        at, deploy, "Normal", "ScalingReplicaSet", f"Scaled up replica set {rs_name} from 2 to 6"
    )
    controller = a.recorder("replicaset-controller")
    raised = at + 40 * MINUTE
    attempt, delay, first = at + 0.05, 0.005, at + 0.05
    while attempt < raised:
        used = 8
        controller.event(
            attempt,
            rs,
            "Warning",
            "FailedCreate",
            f'Error creating: pods "{rs_name}-{a.suffix()}" is forbidden: exceeded quota: compute-quota, '
            f"requested: requests.cpu=2, used: requests.cpu={used}, limited: requests.cpu=10",
        )
        attempt += delay
        delay = min(delay * 2, 1000.0)
    pods = [
        new_pod(
            a,
            "batch",
            f"{rs_name}-{a.suffix()}",
            node=f"prod-a-node-{5 + i}",
            container="report-gen",
            image="registry.internal/batch/report-gen:1.9.3",
        )
        for i in range(4)
    ]
    for index, pod in enumerate(pods):
        created_by(a, rs, attempt + index * 0.02, pod, component="replicaset-controller")
        scheduled(pod, attempt + 0.1 + index * 0.02)
        starts(pod, attempt + 1.0 + index)
    return Scenario(
        "quota-then-created",
        "FailedCreate: exceeded quota (retried with back-off, combined by the recorder), then the quota "
        "is raised: SuccessfulCreate",
        at,
        attempt + 5,
        [ExpectedPage("prod-a", "quota", "report-gen", first, "recovery", recovers_at=attempt)],
        {("prod-a", "batch")},
    )


def registry_outage_two_clusters(a: Cluster, c: Cluster, at: float) -> Scenario:
    """The internal registry is down for two and a half minutes while cart v3.2.1 rolls out in
    two clusters: short enough that the kubelet still writes the Pulled that proves recovery."""
    expected = []
    fixed = at + 150.0  # short enough for the kubelet to write the recovery (see PullOutcome)
    ends_at = fixed
    for cluster, node in ((a, "prod-a-node-4"), (c, "prod-c-node-3")):
        image = "registry.internal:5000/storefront/cart:v3.2.1"
        rs = replica_set_name(cluster, "cart")
        pod = deployment_pod(cluster, rs, namespace="storefront", node=node, container="cart", image=image)
        deploy = Obj("Deployment", "cart", "storefront", cluster.uid(), "apps/v1")
        start = at + cluster.jitter(20.0)
        cluster.recorder("deployment-controller").event(
            start, deploy, "Normal", "ScalingReplicaSet", f"Scaled up replica set {rs} from 0 to 1"
        )
        created_by(
            cluster,
            Obj("ReplicaSet", rs, "storefront", cluster.uid(), "apps/v1"),
            start + 0.05,
            pod,
            component="replicaset-controller",
        )
        scheduled(pod, start + 0.1)
        error = (
            f'rpc error: code = Unavailable desc = failed to pull and unpack image "{image}": failed to '
            f'resolve reference "{image}": failed to do request: Head '
            '"https://registry.internal:5000/v2/storefront/cart/manifests/v3.2.1": dial tcp 10.20.0.15:5000: '
            "connect: connection refused"
        )
        pull = image_pull_failure(pod, start=start + 1.0, fixed_at=fixed, error=error)
        assert pull.evidence_at is not None, "the blip is meant to end in a written recovery"
        ends_at = max(ends_at, pull.pulled_at)
        expected.append(expect_pull(cluster.name, "cart", pull))
    return Scenario(
        "registry-outage-2-clusters",
        "the internal registry down for 2.5 minutes during a rollout in two clusters: one page per "
        "cluster, each closed on the same pod's Pulled",
        at,
        ends_at,
        expected,
        {("prod-a", "storefront"), ("prod-c", "storefront")},
    )


def failed_scheduling_then_scheduled(b: Cluster, at: float) -> Scenario:
    """spark-worker cannot be scheduled for 25 minutes (CPU; the autoscaler's group is at its
    maximum), then capacity frees up and it is scheduled. The scheduler's series is finished
    6 to 12 minutes after its last FailedScheduling: after the Scheduled Event."""
    rs = replica_set_name(b, "spark-worker")
    pod = deployment_pod(
        b,
        rs,
        namespace="analytics",
        node="prod-b-node-9",
        container="worker",
        image="registry.internal/analytics/spark:3.5.4",
    )
    autoscaler = b.recorder("cluster-autoscaler")
    created_by(
        b, Obj("ReplicaSet", rs, "analytics", b.uid(), "apps/v1"), at, pod, component="replicaset-controller"
    )
    message = (
        "0/12 nodes are available: 3 node(s) had untolerated taint "
        "{node-role.kubernetes.io/control-plane: }, 9 Insufficient cpu. preemption: 0/12 nodes are "
        "available: 3 Preemption is not helpful for scheduling, 9 No preemption victims found for "
        "incoming pod."
    )
    fits = at + 25 * MINUTE
    attempt, step = at + 0.05, 1.0
    while attempt < fits:
        b.scheduler.event(attempt, pod.obj, "Warning", "FailedScheduling", action="Scheduling", note=message)
        attempt += step
        step = min(step * 2, 10.0) if step < 10.0 else 45.0 + b.jitter(30.0)
    scan = at + 8.0
    while scan < fits:
        autoscaler.event(
            scan,
            pod.obj,
            "Normal",
            "NotTriggerScaleUp",
            "pod didn't trigger scale-up: 1 max node group size reached, "
            "1 node(s) didn't match Pod's node affinity/selector",
        )
        scan += 10.0 + b.jitter(1.0)
    scheduled(pod, fits)
    starts(pod, fits + 1.0, pull=True)
    return Scenario(
        "scheduling-then-scheduled",
        "FailedScheduling (events.k8s.io series from the scheduler) for 25 min, then Scheduled",
        at,
        fits + 15 * MINUTE,
        [ExpectedPage("prod-b", "scheduling", "spark-worker", at + 0.05, "recovery", recovers_at=fits)],
        {("prod-b", "analytics")},
    )


def node_outage(b: Cluster, at: float) -> Scenario:
    """prod-b-node-7 stops reporting for 20 minutes (a network partition): the node controller
    writes NodeNotReady on the Node and on each of its pods (no source.host), the
    taint-eviction controller marks the evictable ones for deletion 5 minutes later
    (TaintManagerEviction, type Normal), their controllers replace them elsewhere; then the
    kubelet reports NodeReady and stops the evicted pods."""
    node = "prod-b-node-7"
    prelude = at - 30 * MINUTE
    node_obj = b.node(node)
    kubelet = b.kubelet(node)
    kubelet.event(prelude - 60, node_obj, "Normal", "Starting", "Starting kubelet.")
    for reason in ("NodeHasSufficientMemory", "NodeHasNoDiskPressure", "NodeHasSufficientPID"):
        kubelet.event(prelude - 59, node_obj, "Normal", reason, f"Node {node} status is now: {reason}")
    kubelet.event(
        prelude - 58,
        node_obj,
        "Normal",
        "NodeAllocatableEnforced",
        "Updated Node Allocatable limit across pods",
    )
    kubelet.event(prelude - 50, node_obj, "Normal", "NodeReady", f"Node {node} status is now: NodeReady")
    b.recorder("node-controller").event(
        prelude - 55,
        node_obj,
        "Normal",
        "RegisteredNode",
        f"Node {node} event: Registered Node {node} in Controller",
    )
    orders_rs = replica_set_name(b, "orders")
    orders = [
        deployment_pod(
            b,
            orders_rs,
            namespace="orders",
            node=node,
            container="orders",
            image="registry.internal/orders/orders:7.2.0",
        )
        for _ in range(2)
    ]
    cache = new_pod(b, "orders", "cache-1", node=node, container="redis", image="redis:7.4.1")
    fluentd = new_pod(
        b, "logging", f"fluentd-{b.suffix()}", node=node, container="fluentd", image="fluent/fluentd:v1.17-1"
    )
    pods = [*orders, cache, fluentd]
    for index, pod in enumerate(pods):
        scheduled(pod, prelude + index)
        starts(pod, prelude + index + 1.0, pull=True)
    # The node stops reporting at `at`; node-monitor-grace-period is 50 s.
    seen = at + 50.0
    controller = b.recorder("node-controller")
    controller.event(seen, node_obj, "Normal", "NodeNotReady", f"Node {node} status is now: NodeNotReady")
    for index, pod in enumerate(pods):
        controller.event(seen + 0.2 + 0.05 * index, pod.obj, "Warning", "NodeNotReady", "Node is not ready")
    evict = seen + 300.0  # the default toleration of node.kubernetes.io/unreachable:NoExecute
    taints = b.recorder("taint-eviction-controller")
    replacements = []
    for index, pod in enumerate([*orders, cache]):
        taints.event(
            evict + 0.1 * index,
            pod.obj.without_uid(),
            "Normal",
            "TaintManagerEviction",
            f"Marking for deletion Pod {pod.namespace}/{pod.name}",
        )
    for index, pod in enumerate(orders):
        replacement = deployment_pod(
            b,
            orders_rs,
            namespace="orders",
            node=f"prod-b-node-{4 + index}",
            container="orders",
            image=pod.image,
        )
        created_by(
            b,
            Obj("ReplicaSet", orders_rs, "orders", b.uid(), "apps/v1"),
            evict + 0.5 + index * 0.1,
            replacement,
            component="replicaset-controller",
        )
        scheduled(replacement, evict + 0.6 + index * 0.1)
        starts(replacement, evict + 2.0 + index, pull=True)
        replacements.append(replacement)
    back = at + 20 * MINUTE
    kubelet.event(back, node_obj, "Normal", "NodeReady", f"Node {node} status is now: NodeReady")
    for index, pod in enumerate([*orders, cache]):
        stops(pod, back + 2.0 + index * 0.1)
    statefulset = Obj("StatefulSet", "cache", "orders", b.uid(), "apps/v1")
    sts = b.recorder("statefulset-controller")
    sts.event(
        back + 5.0,
        statefulset,
        "Normal",
        "SuccessfulCreate",
        "create Pod cache-1 in StatefulSet cache successful",
    )
    again = new_pod(b, "orders", "cache-1", node=node, container="redis", image=cache.image)
    scheduled(again, back + 5.1)
    starts(again, back + 6.0)
    return Scenario(
        "node-outage",
        "a node NotReady for 20 min: node-controller Events on the Node and its 4 pods (no host), "
        "3 evictions, then NodeReady",
        prelude,
        back + 10,
        [
            ExpectedPage(
                "prod-b",
                "node-not-ready",
                node,
                seen,
                "recovery",
                recovers_at=back,
                node=node,
                workloads=("orders", "cache", "fluentd"),
                max_messages=3,
            )
        ],
        {("prod-b", "orders"), ("prod-b", "logging"), ("prod-b", f"node/{node}")},
    )


def volume_attach_failure(b: Cluster, at: float) -> Scenario:
    """postgres-0, moved by a node drain, waits 14 minutes for its volume: the CSI attacher
    times out (FailedAttachVolume, retried with back-off) and the kubelet cannot mount
    (FailedMount every 2 minutes), until SuccessfulAttachVolume."""
    node = "prod-b-node-2"
    statefulset = Obj("StatefulSet", "postgres", "data", b.uid(), "apps/v1")
    pod = new_pod(b, "data", "postgres-0", node=node, container="postgres", image="postgres:16.4")
    b.recorder("statefulset-controller").event(
        at,
        statefulset,
        "Normal",
        "SuccessfulCreate",
        "create Pod postgres-0 in StatefulSet postgres successful",
    )
    scheduled(pod, at + 0.1)
    volume = "pvc-3f9b2c1e-8d4a-4c1b-9e7f-2a6d5c0b8e41"
    attach = b.recorder("attachdetach-controller")
    attached = at + 14 * MINUTE
    attempt, first = at + 0.5, -1.0
    while attempt + 15.0 < attached:
        attempt += 15.0  # the attacher waits for the VolumeAttachment, then gives up
        attach.event(
            attempt,
            pod.obj,
            "Warning",
            "FailedAttachVolume",
            f'AttachVolume.Attach failed for volume "{volume}" : timed out waiting for external-attacher of '
            "ebs.csi.aws.com CSI driver to attach volume vol-0a1b2c3d4e5f6a7b8",
        )
        first = attempt if first < 0 else first
        attempt += 120.0 + b.jitter(5.0)
    mount = at + 0.5 + 123.0
    while mount < attached:
        pod.kubelet.event(
            mount,
            pod.obj,
            "Warning",
            "FailedMount",
            "Unable to attach or mount volumes: unmounted volumes=[data], unattached volumes=[data], "
            "failed to process volumes=[]: context deadline exceeded",
        )
        mount += 123.0
    attach.event(
        attached,
        pod.obj,
        "Normal",
        "SuccessfulAttachVolume",
        f'AttachVolume.Attach succeeded for volume "{volume}"',
    )
    starts(pod, attached + 8.0, pull=True)
    return Scenario(
        "volume-attach-then-attached",
        "FailedAttachVolume and FailedMount for 14 min, then SuccessfulAttachVolume",
        at,
        attached + 10,
        [
            ExpectedPage(
                "prod-b", "volume", "postgres", first, "recovery", recovers_at=attached, strict_close=False
            )
        ],
        {("prod-b", "data")},
    )


def readiness_probes(c: Cluster, at: float) -> Scenario:
    """frontend's two pods fail their readiness probe for 30 minutes while a backend is down;
    a probe that passes again writes no Event, so this can only close on quiet."""
    rs = replica_set_name(c, "frontend")
    end = at + 30 * MINUTE
    for index in range(2):
        pod = deployment_pod(
            c,
            rs,
            namespace="web",
            node=f"prod-c-node-{1 + index}",
            container="frontend",
            image="registry.internal/web/frontend:2.31.0",
        )
        readiness_failing(
            pod, start=at + index * 3.7, end=end, output="HTTP probe failed with statuscode: 503"
        )
    return Scenario(
        "readiness-probe",
        "Unhealthy (readiness probe failed) on two pods for 30 min; passing probes write nothing",
        at,
        end,
        [ExpectedPage("prod-c", "probe", "frontend", at, "quiet")],
        {("prod-c", "web")},
    )


def normal_rollout(c: Cluster, at: float) -> Scenario:
    """A rolling update of landing (3 pods) and the HPA scaling it: Normal Events only."""
    rs = replica_set_name(c, "landing")
    nodes = [f"prod-c-node-{n}" for n in (1, 2, 3)]
    old = [
        deployment_pod(
            c,
            rs,
            namespace="marketing",
            node=node,
            container="landing",
            image="registry.internal/marketing/landing:5.0.3",
        )
        for node in nodes
    ]
    rollout(
        c,
        namespace="marketing",
        deployment="landing",
        old=old,
        nodes=nodes,
        image="registry.internal/marketing/landing:5.1.0",
        container="landing",
        at=at,
    )
    hpa = Obj("HorizontalPodAutoscaler", "landing", "marketing", c.uid(), "autoscaling/v2")
    c.recorder("horizontal-pod-autoscaler").event(
        at + 5 * MINUTE,
        hpa,
        "Normal",
        "SuccessfulRescale",
        "New size: 5; reason: cpu resource utilization (percentage of request) above target",
    )
    return Scenario(
        "normal-rollout",
        "a rolling update and an HPA scale-up: only Normal lifecycle Events, nothing to page",
        at,
        at + 6 * MINUTE,
        [],
        {("prod-c", "marketing")},
    )


def job_backoff_limit(c: Cluster, at: float) -> Scenario:
    """The nightly export's Job fails 4 times (backoffLimit 3) and is marked failed."""
    cronjob = Obj("CronJob", "nightly-export", "etl", c.uid(), "batch/v1")
    job_name = f"nightly-export-{29_418_480 + c.rng.randrange(1000)}"
    job = Obj("Job", job_name, "etl", c.uid(), "batch/v1")
    c.recorder("cronjob-controller").event(
        at, cronjob, "Normal", "SuccessfulCreate", f"Created job {job_name}"
    )
    t = at + 0.2
    for attempt in range(4):
        pod = new_pod(
            c,
            "etl",
            f"{job_name}-{c.suffix()}",
            node=f"prod-c-node-{4 + attempt % 2}",
            container="export",
            image="registry.internal/etl/export:0.9.7",
        )
        created_by(c, job, t, pod, component="job-controller")
        scheduled(pod, t + 0.1)
        started = starts(pod, t + 1.0, pull=attempt == 0)
        t = started + 20.0 + 10.0 * 2**attempt  # it fails after 20 s; the Job's pod back-off
    c.recorder("job-controller").event(
        t, job, "Warning", "BackoffLimitExceeded", "Job has reached the specified backoff limit"
    )
    c.recorder("cronjob-controller").event(
        t + 0.5, cronjob, "Normal", "SawCompletedJob", f"Saw completed job: {job_name}, condition: Failed"
    )
    return Scenario(
        "job-backoff-limit",
        "a CronJob's Job exceeds its backoff limit (BackoffLimitExceeded): a failed Job stays failed",
        at,
        t + 1,
        [ExpectedPage("prod-c", "job-failure", "nightly-export", t, "quiet")],
        {("prod-c", "etl")},
    )


SCENARIO_NAMES = (
    "image-pull-24h",
    "crash-loop-2h",
    "normal-rollout",
    "oom-then-crash-loop",
    "quota-then-created",
    "registry-outage-2-clusters",
    "scheduling-then-scheduled",
    "node-outage",
    "volume-attach-then-attached",
    "readiness-probe",
    "job-backoff-limit",
)


def build_world(seed: int = 16) -> World:
    """Every scenario through one scenario day, on three clusters at once.

    The day-long image pull runs from the first minutes to the end; the others follow each
    other through the day, each in its own namespaces (and nodes), so that an incident can
    be told apart by where it is.
    """
    rng = random.Random(seed)
    a, b, c = (Cluster(name, random.Random(rng.getrandbits(64))) for name in ("prod-a", "prod-b", "prod-c"))
    scenarios = [
        image_pull_one_day(a, 5 * MINUTE),
        crash_loop_two_hours(a, 1 * HOUR),
        normal_rollout(c, 1 * HOUR + 30 * MINUTE),
        oom_then_crash_loop(a, 4 * HOUR),
        quota_then_recovered(a, 6 * HOUR),
        registry_outage_two_clusters(a, c, 8 * HOUR),
        failed_scheduling_then_scheduled(b, 10 * HOUR),
        node_outage(b, 12 * HOUR),
        volume_attach_failure(b, 14 * HOUR),
        readiness_probes(c, 16 * HOUR),
        job_backoff_limit(c, 20 * HOUR),
    ]
    assert tuple(s.name for s in scenarios) == SCENARIO_NAMES
    ends_at = max(s.ends_at for s in scenarios) + 15 * MINUTE
    for cluster in (a, b, c):
        cluster.scheduler.close(ends_at)
    writes = sorted((w for cluster in (a, b, c) for w in cluster.writes), key=lambda w: w.at)
    return World(scenarios, writes, [a.name, b.name, c.name], max(w.at for w in writes))


def warmup_event(at: float) -> Json:
    """A Warning in a namespace no scenario owns: what a run waits for before its clock starts."""
    return {
        "metadata": {"name": event_name("warmup-0", at), "namespace": "herald-warmup"},
        "involvedObject": {
            "kind": "Pod",
            "apiVersion": "v1",
            "namespace": "herald-warmup",
            "name": "warmup-0",
            "uid": str(uuid.uuid4()),
        },
        "reason": "BackOff",
        "message": "Back-off restarting failed container warmup in pod warmup-0_herald-warmup",
        "source": {"component": "kubelet", "host": "warmup-node"},
        "firstTimestamp": Stamp(at),
        "lastTimestamp": Stamp(at),
        "count": 1,
        "type": "Warning",
        "eventTime": None,
        "reportingComponent": "kubelet",
        "reportingInstance": "warmup-node",
    }
