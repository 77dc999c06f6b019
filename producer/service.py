"""``herald producer``: watch every configured cluster until SIGTERM, saving resume points.

One thread per cluster watches its API server; one Kafka producer serves them all. The
main thread saves each watch's resume point to the compacted checkpoints topic, and on
SIGTERM stops the watches, flushes what is in flight and saves the final resume points.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

from kubernetes import config as kube_config
from kubernetes.client import ApiClient, Configuration

from producer import metrics
from producer.checkpoints import checkpoint_key, load_checkpoints
from producer.publisher import Publisher
from producer.watch import ClusterWatcher
from runtime.config import ClusterSource, HeraldConfig, ProducerSettings
from runtime.http import serve_health
from runtime.kafka import ensure_topics
from schemas import ProducerCheckpoint
from schemas.base import utc_now

log = logging.getLogger(__name__)

SHUTDOWN_FLUSH_SECONDS = 30.0


def api_client_for(source: ClusterSource) -> ApiClient:
    """An authenticated client for one cluster: in-cluster service account or a kubeconfig context."""
    if source.in_cluster:
        configuration = Configuration()
        kube_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        return ApiClient(configuration)
    client: ApiClient = kube_config.new_client_from_config(  # type: ignore[no-untyped-call]
        config_file=str(source.kubeconfig) if source.kubeconfig else None, context=source.context
    )
    return client


def watch_key(settings: ProducerSettings, cluster: str) -> str:
    selectors = "&".join(
        f"{name}={value}"
        for name, value in (("fields", settings.field_selector), ("labels", settings.label_selector))
        if value
    )
    return checkpoint_key(cluster, api=settings.api, namespace=settings.namespace, selectors=selectors)


def run_watch(config: HeraldConfig, settings: ProducerSettings) -> int:
    ensure_topics(config.kafka, ["events.raw", "events.invalid", "producer.checkpoints"])
    sources = settings.sources()
    keys = {source.cluster: watch_key(settings, source.cluster) for source in sources}
    saved = load_checkpoints(config.kafka, set(keys.values()))
    publisher = Publisher(config.kafka, settings).start()
    stop = threading.Event()
    watchers = []
    for source in sources:
        checkpoint = saved.get(keys[source.cluster])
        start = checkpoint.resource_version if checkpoint else None
        log.info(
            "%s: %s",
            source.cluster,
            f"resuming from resourceVersion {start}" if start else "no checkpoint: listing",
            extra={"cluster": source.cluster},
        )
        watchers.append(
            ClusterWatcher(
                source=source,
                settings=settings,
                publisher=publisher,
                api_client=api_client_for(source),
                start_resource_version=start,
                stop=stop,
            )
        )
    threads = [threading.Thread(target=w.run, name=f"watch-{w.cluster}", daemon=True) for w in watchers]

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if settings.metrics_port:
        serve_health(
            settings.metrics_port,
            live=lambda: (publisher.fatal_error is None, publisher.fatal_error or "ok"),
            ready=lambda: _readiness(watchers),
        )
    for thread in threads:
        thread.start()

    saved_versions = {key: c.resource_version for key, c in saved.items()}

    def save_checkpoints() -> None:
        for watcher in watchers:
            key, safe = keys[watcher.cluster], watcher.resume.safe
            metrics.IN_FLIGHT.labels(watcher.cluster).set(watcher.resume.in_flight)
            if safe is not None and saved_versions.get(key) != safe:
                publisher.save_checkpoint(
                    ProducerCheckpoint(
                        key=key,
                        cluster=watcher.cluster,
                        producer_id=settings.producer_id,
                        resource_version=safe,
                        at=utc_now(),
                    )
                )
                saved_versions[key] = safe

    exit_code = 0
    while not stop.wait(settings.checkpoint_interval_seconds):
        if publisher.fatal_error:
            log.critical("stopping on a fatal Kafka error: %s", publisher.fatal_error)
            exit_code = 1
            break
        save_checkpoints()
    stop.set()
    for watcher in watchers:
        watcher.interrupt()
    for thread in threads:
        thread.join(timeout=5)
    remaining = publisher.flush(SHUTDOWN_FLUSH_SECONDS)
    save_checkpoints()
    remaining = publisher.close(SHUTDOWN_FLUSH_SECONDS)
    if remaining:
        log.error("%d occurrences not acknowledged at shutdown; they will be re-read on restart", remaining)
    return exit_code


def _readiness(watchers: list[ClusterWatcher]) -> tuple[bool, str]:
    waiting = [w.cluster for w in watchers if not w.ready.is_set()]
    return (not waiting, f"not yet listed: {', '.join(waiting)}" if waiting else "ok")
