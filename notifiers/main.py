"""``herald notifier --receiver NAME``: run one receiver's delivery loop until SIGTERM."""

from __future__ import annotations

import asyncio
import signal

from notifiers.api import silence_api
from notifiers.runner import Notifier, build_receiver
from notifiers.silences import SilenceStore
from notifiers.ui import board_pages, page_guard
from runtime.config import HeraldConfig
from runtime.http import serve_health
from runtime.kafka import await_topics, stage_topics

TOPICS = ["alerts", "alerts.deadletter", "events.invalid", "notify.log", "silences"]
"""What a notifier reads and writes."""


def run_notifier(config: HeraldConfig, receiver_name: str, *, http_port: int | None = None) -> int:
    receiver, filters = build_receiver(config, receiver_name)
    # Waits (logging why) for the broker, the topics and their leaders, creating those
    # missing: a notifier may start before any of them.
    await_topics(config.kafka, stage_topics(config.kafka, TOPICS))

    async def main() -> None:
        notifier = Notifier(config, receiver, filters=filters)
        port = http_port or config.notifier.http_port
        if port:
            store = SilenceStore(config.kafka, notifier.silences)
            language, timezone = config.locale(receiver.name)
            auth = config.notifier.ui_auth
            pages = board_pages(
                notifier.board,
                store,
                receiver=receiver.name,
                timezone=timezone,
                language=language,
                group_by=config.processor.group_by,
                read_only=auth.read_only,
                refresh_seconds=config.notifier.ui_refresh_seconds,
            )
            serve_health(
                port,
                live=notifier.live,
                ready=notifier.ready,
                api=silence_api(store),
                pages=pages,
                guard=page_guard(auth, language=language),
                setting="--http-port" if http_port else "notifier.http_port",
            )
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, notifier.stop)
        await notifier.run()

    asyncio.run(main())
    return 0
