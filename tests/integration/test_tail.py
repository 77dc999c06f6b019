"""``herald tail`` piped (not a terminal): one line per matching incident update, following the topic."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from schemas import Incident, IncidentStatus, Severity, encode
from tests.support.incidents import make_incident
from tests.support.kafka import Namespace, ensure_namespace_topics, produce
from tests.support.processes import herald_process
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d\d:\d\d (firing|resolved) ")


def publish(namespace: Namespace, *updates: Incident) -> None:
    produce(
        namespace.bootstrap,
        namespace.topic("alerts"),
        [(u.fingerprint.encode(), encode(u)) for u in updates],
    )


def test_tail_prints_matching_updates_from_the_beginning_then_follows(
    namespace: Namespace, tmp_path: Path
) -> None:
    ensure_namespace_topics(namespace)
    publish(
        namespace,
        make_incident(1, cluster="prod-a", occurrences=3),
        make_incident(2, cluster="prod-b", workload="db"),
        make_incident(1, cluster="prod-a", status=IncidentStatus.RESOLVED, version=2, occurrences=3),
        make_incident(3, cluster="prod-a", severity=Severity.CRITICAL, workload="api"),
    )
    log = tmp_path / "tail.log"

    def lines() -> list[str]:
        """tail's own lines, not the log lines (stderr) that share the file."""
        return [text for text in log.read_text().splitlines() if LINE.match(text)]

    with herald_process(
        namespace.config_path,
        "tail",
        "--from-beginning",
        "--cluster",
        "prod-a",
        "severity=~warning|info",
        log_dir=tmp_path,
        name="tail",
    ):
        wait_until(lambda: len(lines()) >= 2, timeout=60, what="the two earlier prod-a warnings")
        publish(
            namespace, make_incident(4, cluster="prod-a", workload="cart"), make_incident(5, cluster="prod-b")
        )
        wait_until(lambda: len(lines()) >= 3, timeout=60, what="an update published while tailing")
        shown = lines()
    assert len(shown) == 3
    assert shown[0].endswith(
        "firing warning prod-a/shop/web crash-loop/BackOff x3 v1 Back-off restarting failed container"
    )
    assert " resolved warning prod-a/shop/web crash-loop/BackOff x3 v2 " in shown[1]
    assert " firing warning prod-a/shop/cart " in shown[2]
    assert not [line for line in shown if "prod-b" in line or "/api " in line]
