"""``herald tail``: follow incident updates on the alerts topic as they happen.

On a terminal it keeps a live table of the incidents seen; piped, it prints one plain line
per update, so it can be grepped; times are in ``notifier.timezone``, with their offset.
``--output json`` prints each update as its record on the topic (full fingerprint, ISO 8601
times). It reads by assigning every partition, never joining a consumer group or
committing, so watching never takes partitions from a notifier.
"""

from __future__ import annotations

import argparse
import logging
import os
import queue
import sys
from collections.abc import Iterator, Sequence
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from notifiers.templating import format_time
from runtime.config import HeraldConfig
from runtime.kafka import CompactedTopicReader
from schemas import Incident, IncidentStatus, Matcher, SchemaError, decode, encode
from schemas.matchers import match_all

log = logging.getLogger(__name__)

START_SECONDS = 60.0
MESSAGE_CHARS = 100
STYLES = {
    "firing": "bold red",
    "resolved": "green",
    "critical": "bold red",
    "warning": "yellow",
    "info": "cyan",
}
UTC = ZoneInfo("UTC")
COLUMNS = ("updated", "status", "severity", "incident", "category/reason", "count", "v", "message")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tail = sub.add_parser(
        "tail",
        help="follow incident updates as they happen (a live table on a terminal, lines when piped)",
        description="Follow incident updates on the alerts topic: a live table on a terminal, one "
        "line per update when piped, times in notifier.timezone. Reads without joining a consumer "
        "group, so it never takes partitions from a notifier. Stops on Ctrl-C.",
    )
    tail.add_argument(
        "matchers",
        nargs="*",
        help='only incidents matching every matcher: namespace=shop reason=~"Back.*" (default: all)',
    )
    tail.add_argument("--cluster", help="only this cluster's incidents (default: every cluster)")
    tail.add_argument("--namespace", help="only this namespace's incidents (default: every namespace)")
    tail.add_argument(
        "--severity", choices=["info", "warning", "critical"], help="only this severity (default: any)"
    )
    tail.add_argument(
        "--from-beginning", action="store_true", help="start at the oldest update the topic keeps, not now"
    )
    tail.add_argument(
        "-o",
        "--output",
        choices=["text", "json"],
        default="text",
        help="text: a table on a terminal, lines when piped; json: each update as a JSON line, "
        "full ids and times (default: %(default)s)",
    )


def matchers_of(args: argparse.Namespace) -> list[Matcher]:
    """The positional matchers and the shorthand options, which must all match."""
    shorthands = {"cluster": args.cluster, "namespace": args.namespace, "severity": args.severity}
    return [
        *(Matcher.model_validate(text) for text in args.matchers),
        *(Matcher(name=name, op="=", value=value) for name, value in shorthands.items() if value),
    ]


def labels_of(incident: Incident) -> dict[str, str]:
    """The incident's routing labels, with the fields the line shows as they are now (the
    severity label keeps the first occurrence's; the incident's may have risen since)."""
    return {
        **incident.labels,
        "cluster": incident.cluster,
        "namespace": incident.namespace or "",
        "severity": incident.severity.value,
        "category": incident.category,
        "status": incident.status.value,
    }


def printable(text: str) -> str:
    """Event text is untrusted: no newline may forge a line, no escape sequence reach the terminal."""
    return "".join(ch if ch.isprintable() else " " for ch in text)


def cells(incident: Incident, *, zone: ZoneInfo = UTC) -> list[Text]:
    """One update as the columns of :data:`COLUMNS`, styled; the line and the table share them."""
    status = incident.status.value + (" (inhibited)" if incident.inhibited_by else "")
    where = "/".join(part for part in (incident.cluster, incident.namespace, incident.workload) if part)
    reason = incident.labels.get("reason")
    message = incident.samples[-1].message if incident.samples else incident.title
    return [
        Text(format_time(incident.emitted_at, zone)),
        Text(status, style=STYLES[incident.status.value] if not incident.inhibited_by else "dim"),
        Text(incident.severity.value, style=STYLES[incident.severity.value]),
        Text(printable(where)),
        Text(printable(f"{incident.category}/{reason}" if reason else incident.category)),
        Text(f"x{incident.occurrences}"),
        Text(f"v{incident.version}"),
        Text(printable(message)[:MESSAGE_CHARS]),
    ]


def line(incident: Incident, *, zone: ZoneInfo = UTC) -> str:
    return " ".join(cell.plain for cell in cells(incident, zone=zone))


def table(incidents: Sequence[Incident], *, rows: int, zone: ZoneInfo = UTC) -> Table:
    """The latest update of each incident, most recently updated first."""
    shown = sorted(incidents, key=lambda i: i.emitted_at, reverse=True)[:rows]
    view = Table(*COLUMNS, title=f"{len(incidents)} incidents", title_justify="left")
    for incident in shown:
        dim = incident.status is IncidentStatus.RESOLVED
        view.add_row(*cells(incident, zone=zone), style="dim" if dim else None)
    return view


def run(config: HeraldConfig, args: argparse.Namespace) -> int:
    try:
        matchers = matchers_of(args)
    except ValueError as exc:
        print(f"herald tail: {exc}", file=sys.stderr)
        return 2
    updates: queue.Queue[Incident] = queue.Queue()
    topic = config.kafka.topics.alerts

    def on_record(key: bytes, value: bytes | None) -> None:
        try:
            incident = decode(value or b"", Incident)
        except SchemaError as exc:
            log.warning("skipped an unreadable update %r: %s", key[:80], exc)
            return
        if match_all(matchers, labels_of(incident)):
            updates.put(incident)

    reader = CompactedTopicReader(config.kafka, topic, on_record, from_end=not args.from_beginning)
    reader.start()
    zone = ZoneInfo(config.notifier.timezone)
    try:
        if args.output == "json":
            for incident in _received(reader, updates):
                print(encode(incident).decode(), flush=True)
        elif sys.stdout.isatty():
            _live_table(_received(reader, updates), zone=zone)
        else:
            for incident in _received(reader, updates):
                print(line(incident, zone=zone), flush=True)
    except BrokenPipeError:  # piped into head, which has read enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    finally:
        reader.stop()
    print(f"herald tail: stopped reading {topic}: {reader.failure}", file=sys.stderr)
    return 1


def _received(reader: CompactedTopicReader, updates: queue.Queue[Incident]) -> Iterator[Incident]:
    """Matching updates as they arrive, until the reader fails (or the user interrupts)."""
    while reader.failure is None:
        try:
            yield updates.get(timeout=0.5)
        except queue.Empty:
            continue


def _live_table(received: Iterator[Incident], *, zone: ZoneInfo) -> None:
    console = Console()
    latest: dict[str, Incident] = {}
    with Live(table([], rows=1, zone=zone), console=console, auto_refresh=False) as live:
        for incident in received:
            latest[incident.fingerprint] = incident
            rows = max(1, console.height - 6)
            live.update(table(list(latest.values()), rows=rows, zone=zone), refresh=True)
