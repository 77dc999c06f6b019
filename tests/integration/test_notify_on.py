"""Per-route news on the real broker: two receivers read the same incident updates, one
taking every update (no route options), the other only new objects and no quiet closes;
counted per receiver, with the decisions each notifier reports on /metrics.
"""

from __future__ import annotations

import re
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from schemas import Change, Incident, IncidentStatus, ResolvedBy, Severity
from tests.support.alerts import configure, delivered, publish, update, webhook
from tests.support.broker import free_port
from tests.support.kafka import Namespace
from tests.support.processes import herald_process
from tests.support.scrape import scrape
from tests.support.waiting import observe_for, wait_until
from tests.support.webhook_server import webhook_server

pytestmark = pytest.mark.integration

ROUTE = {
    "receiver": "everything",
    "routes": [
        {"receiver": "pager", "continue": True, "notify_on": ["new-object"], "send_quiet": False},
        {"receiver": "everything"},
    ],
}
CRASH, PULL, OLD, NODE, HELD = range(1, 6)
"""The incidents, by fingerprint index: OLD comes from a processor that does not set changes."""


def step(index: int, version: int, *changes: Change, **fields: Any) -> Incident:
    base = update(index, version)
    return base.model_copy(update={"changes": list(changes), **fields})


def closed(index: int, version: int, by: ResolvedBy) -> Incident:
    return step(index, version, Change.RESOLVED, status=IncidentStatus.RESOLVED, resolved_by=by)


STEPS: list[tuple[list[Incident], dict[str, set[tuple[int, int]]]]] = [
    (
        [
            step(CRASH, 1, Change.OPENED),
            step(PULL, 1, Change.OPENED),
            update(OLD, 1),
            step(NODE, 1, Change.OPENED),
            step(HELD, 1, Change.OPENED, inhibited_by="f" * 16),
        ],
        {
            "everything": {(CRASH, 1), (PULL, 1), (OLD, 1), (NODE, 1)},
            "pager": {(CRASH, 1), (PULL, 1), (OLD, 1), (NODE, 1)},
        },
    ),
    (
        [
            step(CRASH, 2, Change.RATE, Change.COUNT),
            step(PULL, 2, Change.NEW_REASON),
            update(OLD, 2),
            step(NODE, 2, Change.SEVERITY, severity=Severity.CRITICAL),
            step(HELD, 2, Change.UNINHIBITED),  # the pager was never told: its first page
        ],
        {
            "everything": {(CRASH, 2), (PULL, 2), (OLD, 2), (NODE, 2), (HELD, 2)},
            "pager": {(OLD, 2), (HELD, 2)},
        },
    ),
    (
        [
            step(CRASH, 3, Change.NEW_OBJECT),
            closed(PULL, 3, ResolvedBy.RECOVERY),
            closed(NODE, 3, ResolvedBy.QUIET),
        ],
        {"everything": {(CRASH, 3), (PULL, 3), (NODE, 3)}, "pager": {(CRASH, 3), (PULL, 3)}},
    ),
    ([step(CRASH, 4, Change.REPEAT)], {"everything": {(CRASH, 4)}, "pager": {(CRASH, 4)}}),
]
_DECISION = re.compile(
    r'^herald_notifier_decisions_total\{decision="([^"]+)",receiver="([^"]+)"\} (\S+)$', re.M
)


def decisions(port: int) -> dict[str, int]:
    """The notifier's decisions so far, by name (nothing while it is not up yet)."""
    response = scrape(port, "/metrics")
    text = response.text if response is not None else ""
    return {name: int(float(value)) for name, _receiver, value in _DECISION.findall(text)}


def test_each_route_hears_only_the_news_it_asked_for(namespace: Namespace, tmp_path: Path) -> None:
    ports = {"everything": free_port(), "pager": free_port()}
    with webhook_server() as everything, webhook_server() as pager:
        servers = {"everything": everything, "pager": pager}
        configure(namespace, [webhook(name, server.url) for name, server in servers.items()], route=ROUTE)

        def seen(name: str) -> list[tuple[int, int]]:
            return [(int(f, 16), v) for f, v in delivered([r.body for r in servers[name].accepted()])]

        def notifier(name: str) -> Any:
            port = str(ports[name])
            return herald_process(
                namespace.config_path,
                "notifier",
                "--receiver",
                name,
                "--http-port",
                port,
                log_dir=tmp_path,
                name=name,
            )

        published = 0
        expected: dict[str, set[tuple[int, int]]] = {name: set() for name in servers}

        def caught_up(name: str) -> bool:
            return sum(decisions(ports[name]).values()) >= published and set(seen(name)) >= expected[name]

        with notifier("everything"), notifier("pager"):
            for updates, sent in STEPS:
                # One version of each incident at a time, so that none supersedes another.
                publish(namespace, updates)
                published += len(updates)
                for name in servers:
                    expected[name] |= sent[name]
                    wait_until(
                        partial(caught_up, name),
                        timeout=90,
                        what=f"{name} to decide {published} updates and deliver {sorted(expected[name])}",
                    )
            observe_for(3)
            made = {name: decisions(port) for name, port in ports.items()}
        for name in servers:
            assert sorted(seen(name)) == sorted(expected[name]), f"{name}: each expected update exactly once"
    assert len(expected["everything"]) == 13
    assert len(expected["pager"]) == 9, "new objects, the old processor's, the first page of each, one close"
    assert made["everything"] == {"due": 13, "inhibited": 1}
    assert made["pager"] == {"due": 9, "inhibited": 1, "not-material": 3, "quiet-not-wanted": 1}
