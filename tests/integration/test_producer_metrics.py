"""The producer's /metrics, /healthz and /readyz, scraped over HTTP while it watches."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.support.broker import free_port
from tests.support.fake_apiserver import FakeApiServer, make_event
from tests.support.kafka import Namespace, ensure_namespace_topics
from tests.support.processes import herald_process
from tests.support.producer import configure_producer, kubeconfig_entry
from tests.support.scrape import metric, scrape
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration


@contextmanager
def producer_watching(
    namespace: Namespace, tmp_path: Path, *, events: int, **settings: Any
) -> Iterator[tuple[FakeApiServer, int]]:
    """A fake API server holding ``events`` events and a ready producer watching it: (server, port)."""
    port = free_port()
    with FakeApiServer(bookmark_interval=0.5) as api:
        for index in range(events):
            api.create_event(make_event(index))
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig", context="fake")
        configure_producer(
            namespace,
            [kubeconfig_entry(kubeconfig, cluster="prod-a", context="fake")],
            metrics_port=port,
            **settings,
        )
        ensure_namespace_topics(namespace)
        with herald_process(namespace.config_path, "producer", log_dir=tmp_path, name="producer"):
            wait_until(
                lambda: (r := scrape(port, "/readyz")) is not None and r.status_code == 200,
                timeout=60,
                what="the producer ready",
            )
            yield api, port


def scraped(port: int, name: str) -> float:
    response = scrape(port, "/metrics")
    return metric(response.text, name) if response is not None else 0.0


def test_metrics_count_what_was_published_per_cluster(namespace: Namespace, tmp_path: Path) -> None:
    with producer_watching(namespace, tmp_path, events=12) as (api, port):
        published = 'herald_producer_events_published_total{cluster="prod-a"}'
        wait_until(lambda: scraped(port, published) >= 12, timeout=60, what="12 published in the metrics")
        api.drop_watches()
        restarts = 'herald_producer_watch_restarts_total{cause="connection",cluster="prod-a"}'
        wait_until(lambda: scraped(port, restarts) >= 1, timeout=60, what="the dropped watch counted")
        health = scrape(port, "/healthz")
    assert health is not None
    assert health.status_code == 200


def test_a_quiet_watch_is_reconnected_without_counting_a_failure(
    namespace: Namespace, tmp_path: Path
) -> None:
    """A default kube-apiserver sends Events no bookmarks (they have no watch cache), so a quiet
    namespace's watch is silent until read_timeout_seconds: normal, not an error to alert on."""
    with producer_watching(namespace, tmp_path, events=1, watch_timeout_seconds=60) as (api, port):
        api.stall_watches(300)
        quiet = 'herald_producer_watch_restarts_total{cause="quiet",cluster="prod-a"}'
        wait_until(lambda: scraped(port, quiet) >= 3, timeout=90, what="three quiet watches reconnected")
        response = scrape(port, "/metrics")
        api.stall_watches(0)
    assert response is not None
    failures = [
        line for line in response.text.splitlines() if "watch_restarts_total{" in line and "quiet" not in line
    ]
    assert all(line.endswith(" 0.0") for line in failures), failures
    assert "watch interrupted" not in (tmp_path / "producer.log").read_text()


def test_a_watch_that_keeps_failing_makes_the_producer_unready_then_unhealthy(
    namespace: Namespace, tmp_path: Path
) -> None:
    """Health tells the truth: a producer whose watch cannot follow its cluster is not ready at
    once, and past ``unhealthy_after_seconds`` not live either, so the orchestrator restarts it;
    when the API answers again it is both again, without a restart."""
    with producer_watching(namespace, tmp_path, events=1, unhealthy_after_seconds=10) as (api, port):
        api.fail_next(1_000_000, status=500)
        api.drop_watches()

        def status(path: str) -> int:
            response = scrape(port, path)
            return response.status_code if response is not None else 0

        unready = wait_until(
            lambda: (r := scrape(port, "/readyz")) is not None and r.status_code == 503 and r,
            timeout=60,
            what="/readyz failing",
        )
        live_while_unready = status("/healthz")
        unhealthy = wait_until(
            lambda: (r := scrape(port, "/healthz")) is not None and r.status_code == 503 and r,
            timeout=60,
            what="/healthz failing",
        )
        api.clear_faults()
        wait_until(lambda: status("/readyz") == 200, timeout=60, what="ready again")
        wait_until(lambda: status("/healthz") == 200, timeout=60, what="live again")
    assert "prod-a: watch failing: " in unready.text
    assert "http-500" in unready.text
    assert live_while_unready == 200, "unhealthy only once the failure has lasted"
    assert "(for " in unhealthy.text
