"""The analytics sink on the real broker and a real PostgreSQL server: one row per occurrence
across a kill -9, bad input quarantined, health and metrics served, the documented queries run.
"""

from __future__ import annotations

import re
import signal
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from analytics.store import EventStore
from analytics.table import row_of
from runtime.config import AnalyticsSettings
from schemas import CleanEvent, QuarantineRecord, Severity, decode, encode
from tests.support.broker import free_port
from tests.support.kafka import Namespace, ensure_namespace_topics, produce, read_topic
from tests.support.postgres import PostgresServer, postgres_fixture  # noqa: F401 (the fixture)
from tests.support.processes import herald_process
from tests.support.scrape import metric
from tests.support.scrape import scrape as get
from tests.support.waiting import observe_for, wait_until

pytestmark = pytest.mark.integration

DOCS = Path(__file__).parents[2] / "docs" / "analytics.md"
REASONS = ("BackOff", "FailedScheduling", "Unhealthy", "FailedMount", "Evicted")


def clean_event(index: int, *, cluster: str = "prod-a", reason: str | None = None) -> CleanEvent:
    at = datetime.now(UTC) - timedelta(minutes=index % 90)
    return CleanEvent(
        occurrence_id=f"{cluster}/{uuid.uuid4()}/{10_000 + index}",
        cluster=cluster,
        namespace=f"ns{index % 4}",
        kind="Pod",
        name=f"web{index % 7}-7d9c8b6f5d-x{index:04d}",
        uid=str(uuid.uuid4()),
        workload_kind="Deployment",
        workload_name=f"web{index % 7}",
        node=f"node-{index % 3}",
        reason=reason or REASONS[index % len(REASONS)],
        type="Warning",
        message=f"occurrence {index}",
        count=1 + index % 5,
        first_seen=at - timedelta(minutes=5),
        last_seen=at,
        source_component="kubelet",
        category="crash-loop",
        severity=Severity.WARNING if index % 2 else Severity.CRITICAL,
        observed_at=at,
    )


def publish(namespace: Namespace, events: list[CleanEvent | bytes]) -> None:
    produce(
        namespace.bootstrap,
        namespace.topic("events.clean"),
        [
            (f"{e.cluster}/{e.namespace}/{e.kind}/{e.name}".encode(), encode(e))
            if isinstance(e, CleanEvent)
            else (b"bad", e)
            for e in events
        ],
    )


def configure(namespace: Namespace, analytics: dict[str, Any]) -> None:
    config = yaml.safe_load(namespace.config_path.read_text())
    config["analytics"] = analytics
    namespace.config_path.write_text(yaml.safe_dump(config))
    ensure_namespace_topics(namespace)


def rows(postgres: PostgresServer, database: str) -> list[str]:
    """Occurrence ids in the table (none before the sink created it)."""
    with postgres.connect(database) as connection:
        if connection.execute("SELECT to_regclass('herald_events')").fetchone() == (None,):
            return []
        return [r[0] for r in connection.execute("SELECT occurrence_id FROM herald_events")]


def quarantined(namespace: Namespace, expected: int) -> list[QuarantineRecord]:
    messages = read_topic(namespace.bootstrap, namespace.topic("events.invalid"), expected=expected)
    return [decode(m.value() or b"", QuarantineRecord) for m in messages]


@pytest.mark.fault
def test_kill_9_mid_stream_leaves_exactly_one_row_per_occurrence(
    namespace: Namespace, postgres: PostgresServer, tmp_path: Path
) -> None:
    database = postgres.create_database()
    port = free_port()
    configure(namespace, postgres.section(database, batch_size=25, metrics_port=port))
    events = [clean_event(i, cluster=("prod-a", "prod-b")[i % 2]) for i in range(1200)]
    repeats = events[::10]  # exact repeats, as events.clean carries after a processor crash
    bad = b'{"schema": "herald.clean-event", "v": 1, "cluster": '
    stream: list[CleanEvent | bytes] = [*events[:300], bad, *repeats, *events[300:]]

    def publish_slowly() -> None:
        for start in range(0, len(stream), 100):
            publish(namespace, stream[start : start + 100])
            time.sleep(0.2)  # a steady stream, so the kill lands in the middle of it

    publisher = threading.Thread(target=publish_slowly)
    publisher.start()
    try:
        with herald_process(namespace.config_path, "analytics", log_dir=tmp_path, name="first") as first:
            wait_until(lambda: len(rows(postgres, database)) >= 200, timeout=120, what="200 rows")
            first.send_signal(signal.SIGKILL)
            first.wait(30)
        written_before_restart = len(rows(postgres, database))
        with herald_process(namespace.config_path, "analytics", log_dir=tmp_path, name="second"):
            publisher.join(120)
            assert not publisher.is_alive()
            expected = {e.occurrence_id for e in events}
            wait_until(
                lambda: len(rows(postgres, database)) >= len(expected), timeout=180, what="every occurrence"
            )
            observe_for(3)
            stored = rows(postgres, database)
            assert len(stored) == len(set(stored)) == len(expected), "no occurrence lost or doubled"
            assert set(stored) == expected
            assert written_before_restart < len(expected), "the kill landed mid-stream"

            ready = wait_until(
                lambda: (r := get(port, "/readyz")) is not None and r.status_code == 200 and r,
                timeout=60,
                what="/readyz",
            )
            assert ready
            scraped = wait_until(lambda: get(port, "/metrics"), timeout=30, what="/metrics").text
            assert metric(scraped, "herald_analytics_rows_written_total") > 0
            assert metric(scraped, "herald_analytics_duplicates_skipped_total") >= 1
            assert "herald_analytics_batch_seconds_bucket" in scraped
            assert re.search(r'herald_analytics_consumer_lag\{partition="\d+"\}', scraped)
            assert (get(port, "/healthz") or httpx.Response(599)).status_code == 200
    finally:
        publisher.join(120)

    records = quarantined(namespace, expected=1)
    assert records, "the undecodable message is quarantined"
    assert {(r.stage, r.reason, r.payload) for r in records} == {("analytics.postgres", "not-json", bad)}


def test_a_row_the_database_refuses_is_quarantined_and_the_rest_written(
    namespace: Namespace, postgres: PostgresServer, tmp_path: Path
) -> None:
    database = postgres.create_database()
    settings = AnalyticsSettings.model_validate(postgres.section(database))
    store = EventStore(settings)
    store.open()  # the table, so that the test can add a constraint of its own to it
    store.close()
    with postgres.connect(database) as connection:
        connection.execute(
            "ALTER TABLE herald_events ADD CONSTRAINT no_forbidden CHECK (reason <> 'Forbidden')"
        )
    configure(namespace, postgres.section(database))
    events = [clean_event(i, reason="Forbidden" if i == 4 else None) for i in range(10)]
    publish(namespace, list(events))
    with herald_process(namespace.config_path, "analytics", log_dir=tmp_path, name="sink"):
        wait_until(lambda: len(rows(postgres, database)) >= 9, timeout=120, what="the other rows")
        records = quarantined(namespace, expected=1)
    assert set(rows(postgres, database)) == {e.occurrence_id for i, e in enumerate(events) if i != 4}
    assert [(r.reason, decode(r.payload, CleanEvent)) for r in records] == [
        ("rejected-by-database", events[4])
    ]
    assert "no_forbidden" in records[0].error


def test_not_ready_while_the_database_is_unreachable(namespace: Namespace, tmp_path: Path) -> None:
    port = free_port()
    configure(namespace, {"port": free_port(), "metrics_port": port})  # nothing listens there
    with herald_process(namespace.config_path, "analytics", log_dir=tmp_path, name="sink") as sink:
        ready = wait_until(lambda: get(port, "/readyz"), timeout=60, what="the health endpoint")
        assert ready.status_code == 503
        assert "database herald@127.0.0.1" in ready.text
        assert (get(port, "/healthz") or httpx.Response(599)).status_code == 200
        scraped = wait_until(
            lambda: (
                (r := get(port, "/metrics")) is not None
                and metric(r.text, "herald_analytics_database_errors_total") >= 1
                and r
            ),
            timeout=60,
            what="the failed connection counted",
        )
        assert scraped
        assert sink.poll() is None, "it waits for the database instead of exiting"


def sql_blocks(markdown: str) -> list[str]:
    return re.findall(r"```sql\n(.*?)```", markdown, flags=re.DOTALL)


def test_every_documented_query_runs(postgres: PostgresServer) -> None:
    database = postgres.create_database()
    store = EventStore(AnalyticsSettings.model_validate(postgres.section(database)))
    events = [clean_event(i, cluster=("prod-a", "prod-b")[i % 2]) for i in range(60)]
    try:
        assert store.write([row_of(e) for e in events]) == 60
        assert store.write([row_of(e) for e in events[:10]]) == 0, "written once per occurrence"
    finally:
        store.close()
    queries = sql_blocks(DOCS.read_text())
    assert len(queries) >= 3
    with postgres.connect(database) as connection:
        for query in queries:
            result = connection.execute(query).fetchall()
            assert result, f"no rows from:\n{query}"
