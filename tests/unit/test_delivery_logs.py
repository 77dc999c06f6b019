"""The notifier's log lines an operator follows: one per delivery outcome (delivered,
retrying, dead-lettered) and one per update it sends nothing for, in text and as JSON
fields, never with a secret and never split or coloured by an incident's (untrusted) title.

The runner's delivery path runs with a fake receiver and no broker: what it would write to
Kafka is kept in a list instead.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest

from notifiers import runner
from notifiers.errors import PermanentError, RetryableError
from notifiers.notification import Notification
from notifiers.pacing import RateLimit
from notifiers.runner import Batch, Notifier, outcome_line
from runtime.committing import Output
from runtime.config import load_config
from runtime.log import SECRETS, JsonFormatter, TextFormatter, register_secrets
from runtime.redact import redact_url
from schemas import Incident, IncidentStatus
from tests.support.alerts import update as alert_update

KEY = "5f0c9a1e-77aa-4c1b-9d0e-3b2a1c0d9e8f"
URL = f"https://hook.example/send?key={KEY}"
MakeNotifier = Callable[["FakeReceiver"], Notifier]
Logs = tuple[io.StringIO, io.StringIO]
"""What was logged as text, and as JSON."""
TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"  # setup_logging's


class FakeReceiver:
    """Answers each send with the next scripted outcome (None: accepted); errors name the URL
    with its key, as a careless vendor client's would."""

    name = "hook"
    type = "webhook"
    rate_limits: tuple[RateLimit, ...] = ()

    def __init__(self, *script: int | None) -> None:
        self.script = list(script)
        self.sent: list[Notification] = []

    @property
    def target(self) -> str:
        return redact_url(URL)

    def fits(self, notification: Notification) -> bool:
        return True

    def preview(self, notification: Notification) -> str:
        return ""

    async def send(self, notification: Notification) -> None:
        self.sent.append(notification)
        status = self.script.pop(0) if self.script else None
        if status == 503:
            raise RetryableError(f"POST {URL}: HTTP 503 busy")
        if status == 400:
            raise PermanentError(f"POST {URL}: HTTP 400 invalid body")
        if status == 0:  # a receiver's bug, or input it cannot render
            raise OverflowError("date value out of range")

    async def aclose(self) -> None:
        pass


@pytest.fixture
def logs() -> Iterator[Logs]:
    """What the notifier logs, as setup_logging's text and JSON handlers would write it."""
    register_secrets([KEY])
    text, json = io.StringIO(), io.StringIO()
    handlers = []
    for stream, formatter in ((text, TextFormatter(TEXT_FORMAT)), (json, JsonFormatter())):
        handler = logging.StreamHandler(stream)
        handler.addFilter(SECRETS)
        handler.setFormatter(formatter)
        handlers.append(handler)
    logger = logging.getLogger("notifiers.runner")
    level = logger.level
    logger.setLevel(logging.DEBUG)
    for handler in handlers:
        logger.addHandler(handler)
    try:
        yield text, json
    finally:
        for handler in handlers:
            logger.removeHandler(handler)
        logger.setLevel(level)


@pytest.fixture
def make_notifier(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MakeNotifier]:
    """Notifiers of receiver ``hook`` (routed incidents of namespace shop), writing to a list."""
    path = tmp_path / "herald.yaml"
    path.write_text(
        "route:\n  receiver: other\n  routes:\n    - {receiver: hook, matchers: ['namespace=shop']}\n"
        f"receivers:\n  - {{name: hook, type: webhook, url: '{URL}'}}\n  - {{name: other, type: console}}\n"
        "notifier: {retry_budget_seconds: 30}\n"
    )
    config = load_config(path, env={"HERALD_KAFKA_BOOTSTRAP": "127.0.0.1:9"})
    monkeypatch.setattr(runner, "backoff_delay", lambda attempt, retry_after=None: 0.01)
    made: list[Notifier] = []

    def make(receiver: FakeReceiver) -> Notifier:
        notifier = Notifier(config, receiver)
        notifier.produce_durably = written  # type: ignore[method-assign]
        made.append(notifier)
        return notifier

    yield make
    for notifier in made:
        notifier._consumer.close()


async def written(outputs: list[Output]) -> None:
    """Where the notifier's records would be produced and acknowledged: nowhere."""


def update(index: int, version: int = 1, **fields: object) -> Incident:
    """Incident ``index`` with a fingerprint whose first 12 hex digits (the log's) tell it apart."""
    incident = alert_update(index, version, **fields)  # type: ignore[arg-type]
    return incident.model_copy(update={"fingerprint": f"{index:02x}3f2a9c0b1d4ec1"})


def deliver(notifier: Notifier, *incidents: Incident) -> None:
    batch = Batch()
    for incident in incidents:
        notifier._decide(batch, incident, incident.emitted_at)
    assert asyncio.run(notifier._deliver_due(batch))


def json_lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in stream.getvalue().splitlines()]


def test_a_delivery_is_one_line_with_its_fields(make_notifier: MakeNotifier, logs: Logs) -> None:
    text, json = logs
    deliver(make_notifier(FakeReceiver()), update(0x3F, 3, title="Crash loop in shop/web"))
    (line,) = text.getvalue().splitlines()
    assert " INFO    notifiers.runner: delivered hook 3f3f2a9c0b1d v3 firing " in line
    assert line.endswith('"Crash loop in shop/web" in 0 ms')
    (record,) = json_lines(json)
    assert record["level"] == "info"
    assert record["msg"] == 'delivered hook 3f3f2a9c0b1d v3 firing "Crash loop in shop/web" in 0 ms'
    assert {k: record[k] for k in ("receiver", "outcome", "incident", "version", "status", "digest")} == {
        "receiver": "hook",
        "outcome": "delivered",
        "incident": "3f3f2a9c0b1d4ec1",
        "version": 3,
        "status": "firing",
        "digest": 1,
    }
    assert record["title"] == "Crash loop in shop/web"
    assert record["attempt"] == 1
    assert isinstance(record["latency_ms"], int)
    assert record["target"] == "https://hook.example/send?key=<redacted>"


def test_a_503_is_a_retry_line_then_a_delivered_line(make_notifier: MakeNotifier, logs: Logs) -> None:
    text, json = logs
    receiver = FakeReceiver(503)
    deliver(make_notifier(receiver), update(1))
    assert len(receiver.sent) == 2
    retry, delivered = text.getvalue().splitlines()
    assert " WARNING notifiers.runner: retrying hook 013f2a9c0b1d v1 firing " in retry
    assert "attempt 1 failed in " in retry
    assert "next in 0.0s: POST https://hook.example/send?key=<redacted>: HTTP 503 busy" in retry
    assert "delivered hook 013f2a9c0b1d v1 firing" in delivered
    assert delivered.endswith(" ms on attempt 2")
    first, second = json_lines(json)
    assert (first["outcome"], first["attempt"], first["retry_in_s"]) == ("retrying", 1, 0.01)
    assert (second["outcome"], second["attempt"]) == ("delivered", 2)
    assert KEY not in text.getvalue() + json.getvalue()


def test_a_400_is_one_dead_letter_line_with_the_reason(make_notifier: MakeNotifier, logs: Logs) -> None:
    text, json = logs
    notifier = make_notifier(FakeReceiver(400))
    deliver(notifier, update(2))
    (line,) = text.getvalue().splitlines()
    assert " ERROR   notifiers.runner: dead-lettered hook 023f2a9c0b1d v1 firing " in line
    assert "after 1 attempt (last in " in line
    assert line.endswith("permanent: POST https://hook.example/send?key=<redacted>: HTTP 400 invalid body")
    (record,) = json_lines(json)
    assert record["outcome"] == "dead-lettered"
    assert str(record["reason"]).startswith("permanent: POST https://hook.example/send?key=<redacted>")
    assert notifier.stats.dead_lettered == 1
    assert KEY not in text.getvalue() + json.getvalue()


def test_each_incident_of_a_digest_has_its_line(make_notifier: MakeNotifier, logs: Logs) -> None:
    text, json = logs
    notifier = make_notifier(FakeReceiver())
    incidents = tuple(update(i) for i in range(4))
    notifier._settle(Notification(incidents), runner.Attempts(1, seconds=0.182))
    lines = text.getvalue().splitlines()
    assert len(lines) == 4
    assert lines[0].endswith(
        'delivered hook 003f2a9c0b1d v1 firing "Crash loop in incident000" (digest of 4) in 182 ms'
    )
    assert [r["incident"] for r in json_lines(json)] == [i.fingerprint for i in incidents]
    assert {r["digest"] for r in json_lines(json)} == {4}


def test_updates_sent_nowhere_get_one_compact_line_each(make_notifier: MakeNotifier, logs: Logs) -> None:
    text, json = logs
    receiver = FakeReceiver()
    notifier = make_notifier(receiver)
    inhibitor = "abc0123456789def"
    deliver(
        notifier,
        update(5, namespace="kube-system"),
        update(6, inhibited_by=inhibitor),
        update(7, 1),
        update(7, 2),
    )
    lines = [line.split(": ", 1)[1] for line in text.getvalue().splitlines()]
    assert lines == [
        'not-routed hook 053f2a9c0b1d v1 firing "Crash loop in incident005"',
        'inhibited hook 063f2a9c0b1d v1 firing "Crash loop in incident006" by abc012345678',
        'superseded hook 073f2a9c0b1d v1 firing "Crash loop in incident007" by v2',
        'delivered hook 073f2a9c0b1d v2 firing "Crash loop in incident007" in 0 ms',
    ]
    records = json_lines(json)
    assert records[1]["inhibited_by"] == inhibitor
    assert records[2]["superseded_by"] == 2
    assert len(receiver.sent) == 1


def test_a_title_cannot_forge_a_line_or_colour_the_terminal(make_notifier: MakeNotifier, logs: Logs) -> None:
    text, json = logs
    title = 'Crash "loop"\n2026-12-06 07:00:00 INFO notifiers.runner: delivered \x1b[31mforged\u202e'
    deliver(make_notifier(FakeReceiver()), update(8, title=title))
    (line,) = text.getvalue().splitlines()
    assert "\x1b" not in line
    assert "\u202e" not in line
    assert (
        r'"Crash \"loop\"\n2026-12-06 07:00:00 INFO notifiers.runner: delivered \x1b[31mforged\u202e"' in line
    )
    (record,) = json_lines(json)
    assert record["title"] == title


def test_a_long_title_is_cut_in_the_text_only() -> None:
    incident = update(9, title="x" * 500, status=IncidentStatus.RESOLVED)
    line = outcome_line("delivered", "hook", incident, detail="in 3 ms")
    assert line == f'delivered hook 093f2a9c0b1d v1 resolved "{"x" * 119}…" in 3 ms'


def test_an_exception_from_a_receiver_is_a_dead_letter_not_a_stopped_notifier(
    make_notifier: MakeNotifier, logs: Logs
) -> None:
    text, _ = logs
    receiver = FakeReceiver(0)
    notifier = make_notifier(receiver)
    deliver(notifier, update(2), update(3))
    assert len(receiver.sent) == 2, "the next update is still delivered"
    assert notifier.stats.dead_lettered == 1
    assert notifier.stats.delivered == 1
    lines = text.getvalue()
    assert "dead-lettered hook 023f2a9c0b1d v1 firing" in lines
    assert "permanent: OverflowError in rendering or sending (see the notifier's log)" in lines
    assert "Traceback" in lines, "the log keeps the traceback for whoever fixes the cause"
