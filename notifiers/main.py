"""``herald notifier --receiver NAME``: run one receiver's delivery loop until SIGTERM."""

from __future__ import annotations

import asyncio
import signal

from notifiers.runner import Notifier, build_receiver
from runtime.config import HeraldConfig


def run_notifier(config: HeraldConfig, receiver_name: str) -> int:
    receiver = build_receiver(config, receiver_name)

    async def main() -> None:
        notifier = Notifier(config, receiver)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, notifier.stop)
        await notifier.run()

    asyncio.run(main())
    return 0
