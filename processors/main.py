"""``herald processor``: run one Faust worker of the processing app."""

from __future__ import annotations

import faust

from processors.app import create_app
from runtime.config import HeraldConfig
from runtime.kafka import ensure_topics


def run_worker(config: HeraldConfig, *, loglevel: str = "info") -> None:
    """Blocks until the worker stops (SIGTERM/SIGINT); Faust owns the event loop."""
    ensure_topics(
        config.kafka,
        ["events.raw", "events.clean", "events.grouped", "events.invalid", "alerts", "inhibitors"],
    )
    config.processor.data_dir.mkdir(parents=True, exist_ok=True)
    app = create_app(config)
    worker = faust.Worker(app, loglevel=loglevel, quiet=True, redirect_stdouts=False)
    worker.execute_from_commandline()
