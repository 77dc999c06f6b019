"""``herald producer``: watch every configured cluster until SIGTERM, saving resume points.

One thread per cluster watches its API server; one Kafka producer serves them all. The
main thread saves each watch's resume point to the compacted checkpoints topic, and on
SIGTERM stops the watches, flushes what is in flight and saves the final resume points.

With ``leader_election.enabled`` a cluster is watched only while this replica holds that
cluster's Lease (producer/leader.py), resuming from the checkpoint the previous leader
saved. Losing a Lease stops the whole process with exit code 1, as client-go's
OnStoppedLeading does: re-entering candidacy in place would mean restarting one watch
with fresh resume state while the others run on, and a restart gives that for free;
the orchestrator restarts the pod, which then waits as a candidate.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from types import FrameType

from confluent_kafka import KafkaException
from kubernetes.client import ApiClient

from producer import metrics
from producer.checkpoints import checkpoint_key, load_checkpoints
from producer.leader import LeaseElector
from producer.publisher import Publisher
from producer.watch import ClusterWatcher
from runtime.config import ClusterSource, HeraldConfig, ProducerSettings
from runtime.http import Check, serve_health
from runtime.kafka import await_topics, stage_topics
from runtime.kube import KubeError, api_client
from schemas import ProducerCheckpoint
from schemas.base import utc_now

log = logging.getLogger(__name__)

SHUTDOWN_FLUSH_SECONDS = 30.0
DELIVERY_STALL_SECONDS = 60.0
"""An occurrence Kafka has not acknowledged for this long makes the producer unready (not
unhealthy: a restart would not bring the broker back)."""


def api_client_for(source: ClusterSource) -> ApiClient:
    """An authenticated client for one cluster: in-cluster service account or a kubeconfig context."""
    return api_client(in_cluster=source.in_cluster, kubeconfig=source.kubeconfig, context=source.context)


def api_clients(config: HeraldConfig, settings: ProducerSettings) -> dict[str, ApiClient]:
    """Cluster id -> its client, each built before anything waits: a kubeconfig, context or
    in-cluster mistake is one line located at the cluster's setting (``ConfigError``), at once."""
    clients: dict[str, ApiClient] = {}
    for index, source in enumerate(settings.sources()):
        try:
            clients[source.cluster] = api_client_for(source)
        except KubeError as exc:
            at: tuple[str | int, ...] = (
                ("producer", "clusters", index, exc.setting) if settings.clusters else ("producer", "cluster")
            )
            raise config.error_at(at, str(exc)) from None
    return clients


def watch_key(settings: ProducerSettings, cluster: str) -> str:
    selectors = "&".join(
        f"{name}={value}"
        for name, value in (("fields", settings.field_selector), ("labels", settings.label_selector))
        if value
    )
    return checkpoint_key(cluster, api=settings.api, namespace=settings.namespace, selectors=selectors)


def run_watch(config: HeraldConfig, settings: ProducerSettings) -> int:
    # Health is served from the start: while it waits for Kafka the producer is alive (a
    # restart would not bring the broker) but not ready, and says what it waits for.
    checks: dict[str, Check] = {"live": lambda: (True, "ok"), "ready": lambda: (False, "waiting for Kafka")}

    def live() -> tuple[bool, str]:
        return checks["live"]()

    def ready() -> tuple[bool, str]:
        return checks["ready"]()

    if settings.metrics_port:
        serve_health(settings.metrics_port, live=live, ready=ready, setting="producer.metrics_port")
    clients = api_clients(config, settings)
    # Waits (logging why) for the broker, the topics and their leaders: start in any order.
    await_topics(
        config.kafka, stage_topics(config.kafka, ["events.raw", "events.invalid", "producer.checkpoints"])
    )
    run = _Run(config, settings)
    checks.update(live=run.liveness, ready=run.readiness)
    election = settings.leader_election
    # Without election every watch starts now; with it, each reads its checkpoint once it
    # leads, since until then another replica keeps moving it.
    saved = {} if election.enabled else load_checkpoints(config.kafka, set(run.keys.values()))
    for source in run.sources:
        api_client = clients[source.cluster]
        if election.enabled:
            run.campaign(source, api_client)
        else:
            run.start_watching(source, api_client, saved.get(run.keys[source.cluster]))

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: stopping", signum)
        run.stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    publisher = run.publisher
    for thread in run.campaigns:
        thread.start()
    exit_code = 0
    while not run.stop.wait(settings.checkpoint_interval_seconds):
        if publisher.fatal_error:
            log.critical("stopping on a fatal Kafka error: %s", publisher.fatal_error)
            exit_code = 1
            break
        run.save_checkpoints()
    return run.shutdown() or exit_code


class _Run:
    """What one process's threads share: the publisher, the watches and the Lease electors."""

    def __init__(self, config: HeraldConfig, settings: ProducerSettings) -> None:
        self.config, self.settings = config, settings
        self.sources = settings.sources()
        self.keys = {source.cluster: watch_key(settings, source.cluster) for source in self.sources}
        self.publisher = Publisher(config.kafka, settings).start()
        self.stop = threading.Event()
        self.electors: list[LeaseElector] = []
        self.campaigns: list[threading.Thread] = []
        self.failures: list[str] = []
        """Why this process must exit non-zero (appended from other threads)."""
        self._lock = threading.Lock()
        self._watches: list[tuple[ClusterWatcher, threading.Thread]] = []
        self._saved_versions: dict[str, str] = {}
        self._gone_since: dict[str, float] = {}

    def start_watching(
        self, source: ClusterSource, api_client: ApiClient, checkpoint: ProducerCheckpoint | None
    ) -> None:
        start = checkpoint.resource_version if checkpoint else None
        log.info(
            "%s: %s",
            source.cluster,
            f"resuming from resourceVersion {start}" if start else "no checkpoint: listing",
            extra={"cluster": source.cluster},
        )
        watcher = ClusterWatcher(
            source=source,
            settings=self.settings,
            publisher=self.publisher,
            api_client=api_client,
            start_resource_version=start,
            stop=self.stop,
        )
        thread = threading.Thread(target=watcher.run, name=f"watch-{watcher.cluster}", daemon=True)
        with self._lock:
            if start is not None:
                self._saved_versions[self.keys[source.cluster]] = start
            self._watches.append((watcher, thread))
        thread.start()

    def campaign(self, source: ClusterSource, api_client: ApiClient) -> None:
        """Prepare the thread that watches ``source`` only while this replica holds its Lease."""
        elector = LeaseElector(
            api_client=api_client,
            cluster=source.cluster,
            identity=self.settings.producer_id,
            settings=self.settings.leader_election,
        )
        key = self.keys[source.cluster]

        def resume() -> None:
            # The previous leader saved its resume point before releasing (or up to a
            # checkpoint interval before dying): resuming there repeats, never skips.
            try:
                checkpoint = load_checkpoints(self.config.kafka, {key}).get(key)
            except (KafkaException, TimeoutError) as exc:
                self.fail(f"{source.cluster}: cannot read the checkpoint to resume from: {exc}")
                return
            self.start_watching(source, api_client, checkpoint)

        def lead() -> None:
            # In its own thread, like client-go's OnStartedLeading, so renewals go on meanwhile.
            threading.Thread(target=resume, name=f"resume-{source.cluster}", daemon=True).start()

        def run() -> None:
            if not elector.run(self.stop, on_started_leading=lead):
                # Like client-go's OnStoppedLeading: stop, save what was delivered, exit non-zero;
                # the orchestrator restarts the process, which then waits as a candidate.
                self.fail(f"{source.cluster}: leadership lost; exiting to restart as a candidate")

        self.electors.append(elector)
        self.campaigns.append(threading.Thread(target=run, name=f"lease-{source.cluster}", daemon=True))

    def fail(self, reason: str) -> None:
        log.critical("%s", reason)
        self.failures.append(reason)
        self.stop.set()

    @property
    def watchers(self) -> list[ClusterWatcher]:
        with self._lock:
            return [watcher for watcher, _thread in self._watches]

    def save_checkpoints(self) -> None:
        for watcher in self.watchers:
            key, safe = self.keys[watcher.cluster], watcher.resume.safe
            metrics.IN_FLIGHT.labels(watcher.cluster).set(watcher.resume.in_flight)
            if safe is not None and self._saved_versions.get(key) != safe:
                self.publisher.save_checkpoint(
                    ProducerCheckpoint(
                        key=key,
                        cluster=watcher.cluster,
                        producer_id=self.settings.producer_id,
                        resource_version=safe,
                        at=utc_now(),
                    )
                )
                self._saved_versions[key] = safe

    def shutdown(self) -> int:
        """Stop the watches, flush, save the resume points, then release the Leases held.

        Returns 1 when a Lease was lost or a watch could not resume, else 0.
        """
        self.stop.set()
        for campaign in self.campaigns:
            campaign.join(timeout=self.settings.leader_election.renew_deadline_seconds)
        with self._lock:
            watches = list(self._watches)
        for watcher, _thread in watches:
            watcher.interrupt()
        for _watcher, thread in watches:
            thread.join(timeout=5)
        self.publisher.flush(SHUTDOWN_FLUSH_SECONDS)
        self.save_checkpoints()
        remaining = self.publisher.close(SHUTDOWN_FLUSH_SECONDS)
        if remaining:
            log.error(
                "%d occurrences not acknowledged at shutdown; they will be re-read on restart", remaining
            )
        # Only now, with the resume point saved, may the next leader start from it.
        for elector in self.electors:
            elector.release()
        return 1 if self.failures else 0

    def troubles(self) -> list[tuple[float, str]]:
        """Since when (monotonic) and why each watch of this replica is not doing its job."""
        found = []
        now = time.monotonic()
        with self._lock:
            watches = list(self._watches)
        for watcher, thread in watches:
            if not thread.is_alive() and not self.stop.is_set():
                since = self._gone_since.setdefault(watcher.cluster, now)
                found.append((since, f"{watcher.cluster}: the watch thread has ended"))
            elif (trouble := watcher.trouble()) is not None:
                found.append((trouble[0], f"{watcher.cluster}: watch failing: {trouble[1]}"))
        return found

    def liveness(self) -> tuple[bool, str]:
        """Unhealthy when a restart would help: a fatal Kafka error, or a watch that has been
        failing (or gone) for ``unhealthy_after_seconds``."""
        if self.publisher.fatal_error:
            return False, f"fatal Kafka error: {self.publisher.fatal_error}"
        limit = self.settings.unhealthy_after_seconds
        now = time.monotonic()
        stuck = [f"{why} (for {now - since:.0f} s)" for since, why in self.troubles() if now - since >= limit]
        return (False, "; ".join(stuck)) if stuck else (True, "ok")

    def readiness(self) -> tuple[bool, str]:
        """Ready once every cluster this replica watches is listed, while every watch follows
        its cluster and Kafka acknowledges what it is given. A standby is ready too (it is
        healthy, and an unready standby would stall a rolling update) and names the leader."""
        troubles = [why for _since, why in self.troubles()]
        stalled = self._delivery_stalls()
        if troubles or stalled:
            return False, "; ".join(troubles + stalled)
        return self._listed()

    def _delivery_stalls(self) -> list[str]:
        now = time.monotonic()
        stalls = []
        for watcher in self.watchers:
            since = watcher.resume.oldest_undelivered_since
            if since is not None and now - since >= DELIVERY_STALL_SECONDS:
                stalls.append(
                    f"{watcher.cluster}: Kafka has not acknowledged an occurrence for {now - since:.0f} s"
                )
        return stalls

    def _listed(self) -> tuple[bool, str]:
        listed = {w.cluster for w in self.watchers if w.ready.is_set()}
        standing_by = {e.cluster: e.holder for e in self.electors if not e.leading}
        waiting = [s.cluster for s in self.sources if s.cluster not in listed | standing_by.keys()]
        if waiting:
            return False, f"not yet listed: {', '.join(waiting)}"
        if not self.electors:
            return True, "ok"
        return True, "; ".join(
            f"{s.cluster}: standing by (leader: {standing_by[s.cluster] or 'none'})"
            if s.cluster in standing_by
            else f"{s.cluster}: leading"
            for s in self.sources
        )
