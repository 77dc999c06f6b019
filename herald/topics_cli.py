"""``herald topics create|verify``: the documented topics, made and checked before the stages run.

Every stage can create its topics on first use, but a production cluster usually forbids
auto-creation and wants them made once, with the right partitions, compaction and
retention. ``verify`` says what differs on a cluster whose topics were made by hand.
"""

from __future__ import annotations

import argparse
import sys
import time

from confluent_kafka import KafkaException
from rich.console import Console
from rich.table import Table

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
    topics = sub.add_parser("topics", help="create or verify the topics (partitions, compaction, retention)")
    actions = topics.add_subparsers(dest="topics_command", required=True, metavar="ACTION")
    for name, text in (
        ("create", "create the missing topics (idempotent), then verify them all"),
        ("verify", "check that every topic exists with the expected partitions and configs"),
    ):
        action = actions.add_parser(name, help=text)
        action.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the broker")


def run(config: HeraldConfig, args: argparse.Namespace) -> int:
    """0 when every topic is as documented, 1 otherwise (or when the broker cannot be reached)."""
    kafka = config.kafka
    try:
        if args.topics_command == "create":
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
    return report(kafka, states)


def _settled(kafka: KafkaSettings, created: set[str], *, timeout: float) -> dict[str, TopicState]:
    """The topics' states once those just created are visible (metadata can lag creation)."""
    names = [name for name, _ in kafka.topics.all()]
    deadline = time.monotonic() + min(timeout, SETTLE_SECONDS)
    while True:
        states = describe_topics(kafka, names, timeout=timeout)
        if created <= states.keys() or time.monotonic() > deadline:
            return states
        time.sleep(0.5)


def report(kafka: KafkaSettings, states: dict[str, TopicState]) -> int:
    """Print one row per topic and how to fix each difference; 1 if any."""
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
    Console().print(table)
    for mismatch in mismatches:
        print(f"{mismatch.topic}: {describe(mismatch)}\n  fix: {fix(kafka, mismatch)}")
    if mismatches:
        print(f"{len(mismatches)} difference(s) from the documented topics", file=sys.stderr)
        return 1
    return 0


def describe(mismatch: TopicMismatch) -> str:
    if mismatch.setting == "exists":
        return "does not exist"
    return f"{mismatch.setting} is {mismatch.actual or 'unset'}, expected {mismatch.expected}"


def fix(kafka: KafkaSettings, mismatch: TopicMismatch) -> str:
    """The command (or config change) that makes the topic as documented."""
    server = f"--bootstrap-server {kafka.bootstrap_servers.split(',')[0]}"
    if mismatch.setting == "exists":
        return "herald topics create"
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
            " or delete the topic and run herald topics create (its records are lost)"
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
