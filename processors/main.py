"""``herald processor``: run one Faust worker of the processing app."""

from __future__ import annotations

from processors.app import create_app
from processors.faustkit.app import changelogs_of, ensure_changelogs
from processors.faustkit.health import WorkerHealth
from processors.faustkit.worker import run, use_uvloop
from runtime.config import HeraldConfig
from runtime.http import serve_health
from runtime.kafka import await_topics, stage_topics


def run_worker(config: HeraldConfig, *, loglevel: str = "info") -> None:
    """Blocks until the worker stops (SIGTERM/SIGINT); Faust owns the event loop.

    Before Faust starts, waits (logging why) for the broker, the topics and changelogs and
    their leaders, creating those missing: the worker may start before any of them.
    """
    use_uvloop()
    kafka = config.kafka
    await_topics(
        kafka,
        stage_topics(
            kafka, ["events.raw", "events.clean", "events.grouped", "events.invalid", "alerts", "inhibitors"]
        ),
    )
    config.processor.data_dir.mkdir(parents=True, exist_ok=True)
    app = create_app(config)
    ensure_changelogs(kafka, changelogs_of(app))
    topics = config.kafka.topics
    health = WorkerHealth(app, (topics.raw, topics.grouped))
    if config.processor.metrics_port:
        serve_health(
            config.processor.metrics_port,
            live=health.live,
            ready=health.ready,
            setting="processor.metrics_port",
        )
    run(app, loglevel=loglevel)
