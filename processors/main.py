"""``herald processor``: run one Faust worker of the processing app."""

from __future__ import annotations

import faust

from processors.app import create_app
from processors.metrics import WorkerHealth
from runtime.config import HeraldConfig
from runtime.http import serve_health
from runtime.kafka import await_topics, changelog_topics, stage_topics


def run_worker(config: HeraldConfig, *, loglevel: str = "info") -> None:
    """Blocks until the worker stops (SIGTERM/SIGINT); Faust owns the event loop.

    Before Faust starts, waits (logging why) for the broker, the topics and changelogs and
    their leaders, creating those missing: the worker may start before any of them.
    """
    kafka = config.kafka
    await_topics(
        kafka,
        stage_topics(
            kafka, ["events.raw", "events.clean", "events.grouped", "events.invalid", "alerts", "inhibitors"]
        ),
    )
    config.processor.data_dir.mkdir(parents=True, exist_ok=True)
    app = create_app(config)
    await_topics(kafka, changelog_topics(table.changelog_topic_name for table in app.tables.values()))
    topics = config.kafka.topics
    health = WorkerHealth(app, (topics.raw, topics.grouped))
    if config.processor.metrics_port:
        serve_health(
            config.processor.metrics_port,
            live=health.live,
            ready=health.ready,
            setting="processor.metrics_port",
        )
    # Faust would replace the process's log handlers with its own: keep herald's (JSON lines,
    # the secret filter). Its start-up spinner writes terminal escapes to stdout even when
    # that is a log file; without it, Faust logs "Ready" instead.
    worker = faust.Worker(app, loglevel=loglevel, quiet=True, redirect_stdouts=False, override_logging=False)
    worker.spinner = None
    worker.execute_from_commandline()
