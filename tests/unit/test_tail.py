"""``herald tail``'s lines and filters, without a broker (tests/integration/test_tail.py runs it)."""

from __future__ import annotations

import argparse

from herald.tail_cli import labels_of, line, matchers_of
from schemas import IncidentStatus, Severity
from schemas.matchers import match_all
from tests.support.incidents import make_incident


def tail_args(*matchers: str, **options: str | None) -> argparse.Namespace:
    return argparse.Namespace(
        matchers=list(matchers),
        cluster=options.get("cluster"),
        namespace=options.get("namespace"),
        severity=options.get("severity"),
    )


def test_a_line_shows_status_severity_where_what_count_version_and_message() -> None:
    update = make_incident(1, cluster="prod-a", version=3, occurrences=40, severity=Severity.CRITICAL)
    text = line(update)
    assert text.endswith(
        " firing critical prod-a/shop/web crash-loop/BackOff x40 v3 Back-off restarting failed container"
    )
    assert text.startswith(update.emitted_at.strftime("%Y-%m-%d %H:%M:%S +00:00"))
    resolved = make_incident(1, status=IncidentStatus.RESOLVED)
    assert " resolved warning " in line(resolved)


def test_event_text_cannot_forge_a_line_or_reach_the_terminal() -> None:
    hostile = make_incident(1, message="ok\n2026-01-01T00:00:00Z resolved\x1b[2J" + "x" * 500)
    text = line(hostile)
    assert "\n" not in text
    assert "\x1b" not in text
    assert len(text) < 250


def test_options_and_matchers_must_all_match() -> None:
    matchers = matchers_of(tail_args('workload=~"web|api"', cluster="prod-a", severity="critical"))
    assert match_all(matchers, labels_of(make_incident(1, cluster="prod-a", severity=Severity.CRITICAL)))
    assert not match_all(matchers, labels_of(make_incident(1, cluster="prod-b", severity=Severity.CRITICAL)))
    assert not match_all(matchers, labels_of(make_incident(1, cluster="prod-a")))
    assert not match_all(
        matchers, labels_of(make_incident(1, cluster="prod-a", severity=Severity.CRITICAL, workload="db"))
    )
