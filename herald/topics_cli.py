"""``herald topics create|verify``: the documented topics, made and checked before the stages run.

Every stage can create its topics on first use, but a production cluster usually forbids
auto-creation and wants them made once, with the right partitions, compaction and
retention. ``verify`` says what differs on a cluster whose topics were made by hand.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from confluent_kafka import KafkaException
from rich.table import Table

from herald.console import PipeConsole
from runtime.config import HeraldConfig, KafkaSettings
from runtime.kafka import (
    TopicMismatch,
    TopicState,
    describe_topics,
    ensure_topics,
    topic_config,
    topic_mismatches,
)
from schemas.topics import DAY_MS

SETTLE_SECONDS = 10.0
"""How long ``create`` waits for the topics it made to show up in the broker's metadata."""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    topics = sub.add_parser(
        "topics",
        help="create or verify the topics (partitions, compaction, retention)",
        description="Create or verify the documented topics (kafka.topic_prefix, kafka.partitions, "
        "compaction and retention), for clusters that forbid auto-creation. Exit 1 on a difference.",
    )
    actions = topics.add_subparsers(dest="topics_command", required=True, metavar="ACTION")
    for name, text, description in (
        (
            "create",
            "create the missing topics (idempotent), then verify them all",
            "Create the topics that do not exist yet (an existing one is left as it is), then "
            "verify them all as verify does.",
        ),
        (
            "verify",
            "check that every topic exists with the expected partitions and configs",
            "Check that every topic exists with the expected partitions, cleanup policy and "
            "retention; print the command that fixes each difference; exit 1 if any.",
        ),
    ):
        action = actions.add_parser(name, help=text, description=description)
        action.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the broker")


def run(config: HeraldConfig, args: argparse.Namespace) -> int:
    """0 when every topic is as documented, 1 otherwise (or when the broker cannot be reached)."""
    kafka = config.kafka
    try:
        if args.topics_command == "create":
            with _without_created_logs():
                created = ensure_topics(kafka, timeout=args.timeout)
            for name in created:
                print(f"created {name}")
            if not created:
                print("every topic exists already")
            states = _settled(kafka, set(created), timeout=args.timeout)
        else:
            states = describe_topics(kafka, [name for name, _ in kafka.topics.all()], timeout=args.timeout)
    except KafkaException as exc:
        print(f"herald topics: Kafka at {kafka.bootstrap_servers}: {exc.args[0]}", file=sys.stderr)
        return 1
    return report(kafka, states, herald=herald_prefix(args))


def herald_prefix(args: argparse.Namespace) -> str:
    """``herald`` with the global options the user gave, so a suggested command reads the same
    file: ``herald -c prod.yaml topics create``, not a bare one that reads $HERALD_CONFIG."""
    words = ["herald"]
    if args.config is not None:
        words += ["-c", str(args.config)]
    if getattr(args, "log_level", "INFO") != "INFO":
        words += ["--log-level", args.log_level]
    if getattr(args, "log_format", None):
        words += ["--log-format", args.log_format]
    if getattr(args, "log_json", False):
        words.append("--log-json")
    return shlex.join(words)


class _CreatedFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("created topic")


@contextmanager
def _without_created_logs() -> Iterator[None]:
    """``create`` prints each topic it made on stdout; the log line saying the same is dropped."""
    logger, only = logging.getLogger("runtime.kafka"), _CreatedFilter()
    logger.addFilter(only)
    try:
        yield
    finally:
        logger.removeFilter(only)


def _settled(kafka: KafkaSettings, created: set[str], *, timeout: float) -> dict[str, TopicState]:
    """The topics' states once those just created are visible (metadata can lag creation)."""
    names = [name for name, _ in kafka.topics.all()]
    deadline = time.monotonic() + min(timeout, SETTLE_SECONDS)
    while True:
        states = describe_topics(kafka, names, timeout=timeout)
        if created <= states.keys() or time.monotonic() > deadline:
            return states
        time.sleep(0.5)


def report(kafka: KafkaSettings, states: dict[str, TopicState], *, herald: str = "herald") -> int:
    """Print one row per topic and how to fix each difference; 1 if any. ``herald`` is the
    command as the user runs it, options included, for the suggested fixes."""
    table = Table()
    table.add_column("topic", no_wrap=True, min_width=max(len(name) for name, _ in kafka.topics.all()))
    for header in ("partitions", "policy", "retention", "status"):
        table.add_column(header)
    mismatches: list[TopicMismatch] = []
    for name, spec in kafka.topics.all():
        state = states.get(name)
        found = topic_mismatches(name, spec, state, partitions=kafka.partitions)
        mismatches.extend(found)
        if state is None:
            table.add_row(name, "-", "-", "-", "[red]missing[/red]")
            continue
        expected = topic_config(spec)
        retention = state.configs.get("retention.ms")
        table.add_row(
            name,
            str(state.partitions),
            state.configs.get("cleanup.policy", "?"),
            _duration(retention) if "retention.ms" in expected else "-",
            "[red]" + ", ".join(m.setting for m in found) + " differ[/red]" if found else "[green]ok[/green]",
        )
    PipeConsole().print(table)
    for mismatch in mismatches:
        print(f"{mismatch.topic}: {describe(mismatch)}\n  fix: {fix(kafka, mismatch, herald=herald)}")
    if mismatches:
        print(f"{len(mismatches)} difference(s) from the documented topics", file=sys.stderr)
        return 1
    return 0


def describe(mismatch: TopicMismatch) -> str:
    if mismatch.setting == "exists":
        return "does not exist"
    return f"{mismatch.setting} is {mismatch.actual or 'unset'}, expected {mismatch.expected}"


def fix(kafka: KafkaSettings, mismatch: TopicMismatch, *, herald: str = "herald") -> str:
    """The command (or config change) that makes the topic as documented."""
    server = f"--bootstrap-server {kafka.bootstrap_servers.split(',')[0]}"
    if mismatch.setting == "exists":
        return f"{herald} topics create"
    if mismatch.setting == "partitions":
        actual, expected = int(mismatch.actual or 0), int(mismatch.expected)
        if actual < expected:
            return (
                f"kafka-topics.sh {server} --alter --topic {mismatch.topic} --partitions {expected}"
                " (with the pipeline stopped: keys move to other partitions), or set"
                f" kafka.partitions: {actual} if every topic has {actual}"
            )
        return (
            f"partitions cannot be removed: set kafka.partitions: {actual} if every topic has {actual},"
            f" or delete the topic and run {herald} topics create (its records are lost)"
        )
    return (
        f"kafka-configs.sh {server} --alter --entity-type topics --entity-name {mismatch.topic}"
        f" --add-config {mismatch.setting}={mismatch.expected}"
    )


def _duration(retention_ms: str | None) -> str:
    if retention_ms is None:
        return "?"
    if retention_ms.lstrip("-").isdigit() and int(retention_ms) > 0 and int(retention_ms) % DAY_MS == 0:
        return f"{int(retention_ms) // DAY_MS}d"
    return f"{retention_ms} ms"
