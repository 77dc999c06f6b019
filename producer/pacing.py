"""Publishing a timed stream at a chosen speed: shared by ``herald replay`` and ``herald simulate``."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from producer.publisher import Publisher
from schemas import RawMessage

PROGRESS_EVERY = 256


@dataclass(frozen=True, slots=True)
class Timed:
    at: float
    """Seconds from the start of the stream at which the envelope is due."""
    message: RawMessage


def paced(stream: Iterable[Timed], *, speed: float) -> Iterator[RawMessage]:
    """Yield each message when it is due at ``speed`` times real time (0 = as fast as possible)."""
    started = time.monotonic()
    for item in stream:
        if speed > 0:
            delay = started + item.at / speed - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        yield item.message


def publish_paced(
    publisher: Publisher,
    stream: Iterable[Timed],
    *,
    speed: float,
    total: int | None,
    label: str,
    quiet: bool = False,
) -> int:
    """Publish the stream with a progress bar; returns how many envelopes were published."""
    published = 0
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        disable=quiet,
        transient=False,
    ) as progress:
        task = progress.add_task(label, total=total)
        for message in paced(stream, speed=speed):
            publisher.publish(message)
            published += 1
            if published % PROGRESS_EVERY == 0:
                progress.update(task, completed=published)
        progress.update(task, completed=published)
    return published
