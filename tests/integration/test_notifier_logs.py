"""What ``kubectl logs -f`` shows of a notifier on the real broker, counted line by line: one
``delivered`` line per delivered update, a ``retrying`` line for a 503 before its
``delivered`` line, a ``dead-lettered`` line for a 400, and never the webhook's key, in text
and (parsed line by line) in JSON.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import orjson
import pytest

from schemas import Incident
from tests.support.alerts import configure, delivered, publish, update, webhook
from tests.support.kafka import Namespace, read_topic
from tests.support.processes import herald_process
from tests.support.waiting import observe_for, wait_until
from tests.support.webhook_server import Reply, Request, webhook_server

pytestmark = pytest.mark.integration

KEY = "c0ffee00-1dea-4bad-8bad-5ec12e7b0a55"


def incident(index: int) -> Incident:
    """Incident ``index``, told apart by the first 12 hex digits of its fingerprint (the text line's)."""
    return update(index).model_copy(update={"fingerprint": f"{index:02x}7e5a0c91b2d4f6"})


INCIDENTS = [incident(i) for i in range(6)]
BUSY, REFUSED = INCIDENTS[2].fingerprint, INCIDENTS[4].fingerprint


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_each_delivery_outcome_is_one_line_without_the_key(
    namespace: Namespace, tmp_path: Path, log_format: str
) -> None:
    busy_once: list[int] = []

    def respond(index: int, request: Request) -> Reply:
        if REFUSED.encode() in request.body:
            return 400, {}, f"bad request for key={KEY}".encode()
        if BUSY.encode() in request.body and not busy_once:
            busy_once.append(index)
            return 503, {}, b"busy"
        return 200, {}, b"ok"

    with webhook_server(respond) as server:
        configure(namespace, [webhook("hook", f"{server.url}?key={KEY}")])
        publish(namespace, INCIDENTS)
        args = ("--log-format", log_format, "notifier", "--receiver", "hook")
        with herald_process(namespace.config_path, *args, log_dir=tmp_path, name="notifier"):
            wait_until(lambda: len(server.accepted()) >= 5, timeout=90, what="5 deliveries")
            read_topic(namespace.bootstrap, namespace.topic("alerts.deadletter"), expected=1)
            observe_for(1)
        accepted = delivered([r.body for r in server.accepted()])
    log = (tmp_path / "notifier.log").read_text()
    assert KEY not in log
    if log_format == "json":
        records = [orjson.loads(line) for line in log.splitlines() if line]  # every line is JSON
        outcomes = [(r["outcome"], r["incident"]) for r in records if "outcome" in r]
        for record in records:
            assert {"ts", "level", "logger", "msg"} <= set(record)
        (letter,) = [r for r in records if r.get("outcome") == "dead-lettered"]
        assert letter["reason"].startswith("permanent: ")
        assert "HTTP 400" in letter["reason"]
        assert letter["target"].endswith("?key=<redacted>")
    else:
        line = re.compile(r" notifiers\.runner: (delivered|retrying|dead-lettered) hook ([0-9a-f]{12}) ")
        outcomes = [(m[1], m[2]) for m in map(line.search, log.splitlines()) if m]
    short = {i.fingerprint[:12]: i.fingerprint for i in INCIDENTS}
    outcomes = [(outcome, short.get(fingerprint, fingerprint)) for outcome, fingerprint in outcomes]
    assert len(accepted) == 5
    assert Counter(outcomes) == Counter(
        [("delivered", fingerprint) for fingerprint, _version in accepted]
        + [("retrying", BUSY), ("dead-lettered", REFUSED)]
    )
    assert outcomes.index(("retrying", BUSY)) < outcomes.index(("delivered", BUSY))
