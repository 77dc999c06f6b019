"""The processor worker before and after a change, in one command: CPU per event, same stream.

    python -m bench.processor_ab [--before REV] [--rounds 3] [--events 20000]

The worker of revision REV (checked out into a temporary git worktree, run with its code first
on the path) and this checkout's worker take the same messages in turns, each on fresh
topics, pinned to the same core: before, after, before, after... Each run's CPU per event is
the worker's utime + stime (/proc/<pid>/stat, every thread) from just before the first
message is produced until it is idle again (aggregation of the last messages included),
divided by the messages. Alternating exposes both to the same machine noise; the ratio of
medians is the figure to compare.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import uuid
from pathlib import Path

from bench.common import Measurement, cpu_seconds, pin_to_one_core, report
from bench.processor_bench import (
    count_until,
    cpu_until_idle,
    per_event_us,
    produce,
    start_workers,
    stream,
    write_config,
)
from runtime.config import KafkaSettings
from runtime.kafka import ensure_topics

BEFORE = "8076892"
"""The last commit before issue 19 reshaped the processors."""
REPO = Path(__file__).resolve().parent.parent


def worker_run(
    bootstrap: str, messages: list[tuple[bytes, bytes]], checkout: Path | None
) -> tuple[float, float]:
    """(CPU seconds until idle, wall seconds to the last clean event) of one worker on ``messages``."""
    prefix = f"ab-{uuid.uuid4().hex[:8]}."
    kafka = KafkaSettings(bootstrap_servers=bootstrap, topic_prefix=prefix, partitions=6)
    ensure_topics(kafka)
    produce(bootstrap, kafka.topics.raw, messages[:1])  # a warm-up message: the worker is assigned and warm
    work = Path(tempfile.mkdtemp())
    (worker,) = start_workers(write_config(work, bootstrap, prefix), work, 1, checkout=checkout)
    try:
        count_until(bootstrap, kafka.topics.clean, 1, timeout=300)
        cpu = cpu_seconds(worker.pid)
        produce(bootstrap, kafka.topics.raw, messages[1:])
        seconds = count_until(bootstrap, kafka.topics.clean, len(messages), timeout=7200)
        settled, _tail = cpu_until_idle([worker.pid])
    finally:
        worker.terminate()
        worker.wait(60)
    return settled - cpu, seconds


def checkout_of(revision: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix="herald-before-"))
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(path), revision], check=True)
    return path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", default=BEFORE)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--events", type=int, default=20_000)
    args = parser.parse_args()
    pin_to_one_core()
    bootstrap = os.environ.get("HERALD_KAFKA_BOOTSTRAP", "127.0.0.1:19092")
    messages = stream(args.events + 1)
    before = checkout_of(args.before)
    runs: dict[str, list[tuple[float, float]]] = {"before": [], "after": []}
    try:
        for _ in range(args.rounds):
            runs["before"].append(worker_run(bootstrap, messages, before))
            runs["after"].append(worker_run(bootstrap, messages, None))
    finally:
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(before)], check=False)
    events = args.events
    us = {side: [per_event_us(cpu, events) for cpu, _ in done] for side, done in runs.items()}
    medians = {side: statistics.median(values) for side, values in us.items()}
    report(
        "processor-ab",
        [
            Measurement(f"worker at {args.before}", events, [s for _, s in runs["before"]]),
            Measurement("worker now", events, [s for _, s in runs["after"]]),
        ],
        baseline=f"worker at {args.before}",
        extra={
            "before": args.before,
            "events": events,
            "cpu_us_per_event_until_idle": us,
            "median_us": medians,
            "cpu_ratio_after_to_before": round(medians["after"] / medians["before"], 3),
            "method": __doc__.split("\n\n", 2)[2].replace("\n", " ").strip() if __doc__ else "",
        },
    )
    print(
        f"  CPU per event until idle: before {us['before']} us (median {medians['before']}), "
        f"after {us['after']} us (median {medians['after']}): x{medians['after'] / medians['before']:.2f}"
    )


if __name__ == "__main__":
    main()
