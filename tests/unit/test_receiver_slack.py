"""The Slack receiver against a local stand-in that enforces Slack's webhook contract."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from notifiers.errors import PermanentError, RetryableError
from notifiers.markup import TRUNCATION_MARKER
from notifiers.notification import Notification
from notifiers.receivers.slack import (
    MAX_BLOCKS,
    MESSAGE_CHARS,
    SlackConfig,
    SlackReceiver,
    slack_chars,
    truncate_chars,
)
from notifiers.templating import Renderer
from runtime.log import SECRETS
from schemas import Incident, IncidentStatus, ResolvedBy, SampleMessage, Severity
from tests.support.vendors.slack import LIMITS, SlackWebhook, chars, links, mrkdwn_texts, payload_error, pings
from tests.support.webhook_server import webhook_server

SECRET = "q8Zr2LxW9vNcT4hJ6mKp1sYd"
PATH = f"/services/T0HERALD1/B0HERALD2/{SECRET}"
AT = datetime(2026, 11, 27, 8, tzinfo=UTC)
LINK = "https://herald.example/incidents/{{ incident.fingerprint }}"
ONCALL = "<!subteam^S0ONCALL>"

HOSTILE = [
    "<!channel> <!here|here> <@U024BE7LH> <!subteam^SAZ94GDB8> @here @channel @everyone",
    "<https://evil.example/login|click to fix> [x](http://evil.example) https://evil.example/a",
    "*bold* _italic_ ~strike~ `code` ```block``` > quote &lt;!channel&gt; &amp;",
    'he said "hi"\n}{ \\ \r\n\u2028• fake line\x00\x07\x1b[31m',
    b"\xff\xfe<!everyone>\xc3(".decode(errors="replace"),
]


def incident(
    n: int = 0,
    *,
    message: str = "Back-off restarting failed container",
    severity: Severity = Severity.CRITICAL,
    status: IncidentStatus = IncidentStatus.FIRING,
    **fields: Any,
) -> Incident:
    values: dict[str, Any] = {
        "fingerprint": f"{n:016x}",
        "version": 1,
        "status": status,
        "severity": severity,
        "category": "crash-loop",
        "title": f"BackOff: Pod/shop/web-{n}",
        "cluster": "prod",
        "namespace": "shop",
        "workload": "web",
        "occurrences": 3,
        "first_seen": AT,
        "last_seen": AT + timedelta(minutes=5),
        "objects": [f"Pod/shop/web-{n}", "Pod/shop/web-x"],
        "objects_total": 5,
        "samples": [SampleMessage(reason="BackOff", message=message, object=f"Pod/shop/web-{n}", at=AT)],
        "emitted_at": AT,
    }
    values.update(fields)
    return Incident(**values)


def receiver(
    base_url: str, *, path: str = PATH, renderer: Renderer | None = None, **options: Any
) -> SlackReceiver:
    config = SlackConfig(name="oncall", url=f"{base_url}{path}", **options)
    return SlackReceiver(config, renderer or Renderer(link_template=LINK))


def deliver(target: SlackReceiver, *notifications: Notification) -> None:
    """Send in order on one event loop; the first failure propagates."""

    async def run() -> None:
        try:
            for notification in notifications:
                await target.send(notification)
        finally:
            await target.aclose()

    asyncio.run(run())


def text_objects(block: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for t in [block.get("text"), *block.get("fields", []), *block.get("elements", [])] if t]


def texts_of(block: dict[str, Any]) -> list[str]:
    return [t["text"] for t in text_objects(block)]


def test_one_incident_is_a_header_fields_details_and_when() -> None:
    contract = SlackWebhook(path=PATH, messages=100)
    with webhook_server(contract) as server:
        deliver(receiver(server.base_url), Notification((incident(),)))
    [request] = server.all()
    assert request.request.headers["content-type"].startswith("application/json")
    [message] = contract.messages
    assert message["text"] == "[FIRING] critical · Crash loop shop/web · prod"
    assert [b["type"] for b in message["blocks"]] == ["header", "section", "section", "context"]
    header, facts, details, seen = message["blocks"]
    assert header["text"] == {"type": "plain_text", "text": "🔴 FIRING · critical · Crash loop shop/web"}
    assert texts_of(facts) == [
        "*Severity*\ncritical",
        "*Category*\nCrash loop",
        "*Cluster*\nprod",
        "*Namespace*\nshop",
        "*Workload*\nweb",
        "*Reason*\nBackOff",
        "*Occurrences*\n3",
    ]
    assert details["text"]["text"] == (
        "*Objects*: Pod/shop/web-0, Pod/shop/web-x (+3 more)\n"
        "*Recent messages*\n• BackOff · Pod/shop/web-0: Back-off restarting failed container"
    )
    assert details["accessory"]["url"] == "https://herald.example/incidents/0000000000000000"
    assert details["accessory"]["text"]["text"] == "Details"
    assert texts_of(seen) == ["First seen 2026-11-27 08:00:00 +00:00 · Last seen 2026-11-27 08:05:00 +00:00"]
    assert pings(message) == []


def test_no_link_no_button_and_inhibition_is_shown() -> None:
    contract = SlackWebhook(path=PATH, messages=100)
    with webhook_server(contract) as server:
        target = receiver(server.base_url, renderer=Renderer())
        deliver(target, Notification((incident(inhibited_by="NodeNotReady: Node/n1"),)))
    details = contract.messages[0]["blocks"][2]
    assert "accessory" not in details
    assert details["text"]["text"].endswith("_inhibited by_ NodeNotReady: Node/n1")


def test_unknown_webhook_is_permanent_and_the_error_hides_the_key() -> None:
    wrong = "WRONGwrongWRONGwrong1234"
    contract = SlackWebhook(path=PATH, messages=100)
    with webhook_server(contract) as server:
        target = receiver(server.base_url, path=f"/services/T0HERALD1/B0HERALD2/{wrong}")
        with pytest.raises(PermanentError, match="HTTP 404: no_service") as caught:
            deliver(target, Notification((incident(),)))
    assert wrong not in str(caught.value)
    assert wrong not in target.target
    assert "<redacted>" in str(caught.value)
    assert contract.messages == []


def test_over_the_rate_slack_answers_429_and_we_wait_as_told() -> None:
    contract = SlackWebhook(path=PATH)  # one message per second, as Slack allows

    async def run(target: SlackReceiver) -> float | None:
        try:
            await target.send(Notification((incident(1),)))
            with pytest.raises(RetryableError, match="HTTP 429: rate_limited") as caught:
                await target.send(Notification((incident(2),)))
            await asyncio.sleep(caught.value.retry_after or 0)
            await target.send(Notification((incident(2),)))
            return caught.value.retry_after
        finally:
            await target.aclose()

    with webhook_server(contract) as server:
        retry_after = asyncio.run(run(receiver(server.base_url)))
    assert retry_after == 1.0
    assert [m["blocks"][2]["text"]["text"].split(",")[0][-1] for m in contract.messages] == ["1", "2"]


@pytest.mark.parametrize(
    ("status", "code", "retry_after"),
    [(500, "rollup_error", None), (503, "service_unavailable", None), (429, "rate_limited", 30.0)],
)
def test_outages_are_retryable_and_nothing_is_lost_or_doubled(
    status: int, code: str, retry_after: float | None
) -> None:
    contract = SlackWebhook(path=PATH, messages=100)
    contract.fail(status, code, times=2, retry_after=retry_after)
    with webhook_server(contract) as server:
        for _ in range(2):
            with pytest.raises(RetryableError, match=f"HTTP {status}: {code}") as caught:
                deliver(receiver(server.base_url), Notification((incident(),)))
            assert caught.value.retry_after == retry_after
        deliver(receiver(server.base_url), Notification((incident(),)))
    assert len(contract.messages) == 1


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "invalid_payload"),
        (403, "action_prohibited"),
        (404, "channel_not_found"),
        (410, "channel_is_archived"),
    ],
)
def test_refusals_are_permanent(status: int, code: str) -> None:
    contract = SlackWebhook(path=PATH, messages=100)
    contract.fail(status, code)
    with webhook_server(contract) as server, pytest.raises(PermanentError, match=f"HTTP {status}: {code}"):
        deliver(receiver(server.base_url), Notification((incident(),)))
    assert contract.messages == []


def test_a_2xx_that_is_not_ok_is_not_taken_for_a_delivery() -> None:
    with (
        webhook_server(lambda _i, _r: (200, {}, b"invalid_token")) as server,
        pytest.raises(PermanentError, match="HTTP 200: 'invalid_token'"),
    ):
        deliver(receiver(server.base_url), Notification((incident(),)))


def test_megabyte_message_is_cut_within_slack_limits_and_says_so() -> None:
    huge = ("🙂 é <x> " * 200_000)[:1_000_000]
    big = incident(
        workload="W" * 100_000, samples=[SampleMessage(reason="R", message=huge, object="Pod/a", at=AT)]
    )
    contract = SlackWebhook(path=PATH, messages=100)
    with webhook_server(contract) as server:
        target = receiver(server.base_url)
        assert not target.fits(Notification((big,)))
        deliver(target, Notification((big,)))
    [message] = contract.messages
    header, details = message["blocks"][0]["text"]["text"], message["blocks"][2]["text"]["text"]
    assert header.endswith(TRUNCATION_MARKER)
    assert chars(header) <= LIMITS["header"]
    assert details.endswith(TRUNCATION_MARKER)
    assert LIMITS["section"] - 10 <= chars(details) <= LIMITS["section"]
    assert "🙂 é &lt;x&gt;" in details


def test_hostile_event_text_cannot_mention_link_or_format() -> None:
    samples = [SampleMessage(reason=h[:40], message=h, object=h, at=AT) for h in HOSTILE]
    hostile = [
        incident(
            n,
            title=f"BackOff: {HOSTILE[n]}",
            category=HOSTILE[1],
            namespace=HOSTILE[0],
            workload=HOSTILE[2],
            cluster=HOSTILE[3],
            objects=HOSTILE,
            samples=samples,
            inhibited_by=HOSTILE[0],
        )
        for n in range(3)
    ]
    contract = SlackWebhook(path=PATH, messages=100)
    with webhook_server(contract) as server:
        deliver(
            receiver(server.base_url),
            Notification((hostile[0],)),
            Notification(tuple(hostile)),
        )
    assert len(contract.messages) == 2
    for message in contract.messages:
        assert pings(message) == []
        assert links(message) == []
        assert all(
            t.get("verbatim") for b in message["blocks"] for t in text_objects(b) if t["type"] == "mrkdwn"
        )
        for text in mrkdwn_texts(message):
            assert "<" not in text
            for marked in ("*bold*", "_italic_", "~strike~", "`code`", "http:", "https:", "@here", "\x1b"):
                assert marked not in text
    single = contract.messages[0]
    details = single["blocks"][2]["text"]["text"]
    assert 'he said "hi"' in details
    # Emphasis delimiters become look-alikes; & < > become the entities Slack documents and decodes.
    assert "∗bold∗ ＿italic＿ ∼strike∼ ˋcodeˋ" in details
    assert "&amp;lt;!channel&amp;gt;" in details
    assert "\ufffd&lt;!everyone&gt;\ufffd(" in details
    assert "&lt;!channel&gt; &lt;!here|here&gt;" in single["blocks"][1]["fields"][3]["text"]


def test_digest_fits_until_the_block_limit_then_still_sends_within_it() -> None:
    incidents = [incident(n, severity=Severity.WARNING) for n in range(30)]
    contract = SlackWebhook(path=PATH, messages=100)
    with webhook_server(contract) as server:
        target = receiver(server.base_url)
        fitting = [n for n in range(1, 31) if target.fits(Notification(tuple(incidents[:n])))]
        assert fitting == list(range(1, 25))  # header + 2 blocks an incident <= 50
        deliver(target, Notification(tuple(incidents[:24])), Notification(tuple(incidents)))
    full, over = contract.messages
    assert len(full["blocks"]) == 49
    assert full["blocks"][0]["text"]["text"] == "24 incidents · FIRING 24"
    for n in range(24):
        assert f"BackOff Pod/shop/web-{n}:" in full["blocks"][1 + 2 * n]["text"]["text"]
    assert len(over["blocks"]) == MAX_BLOCKS
    assert over["blocks"][-1]["elements"][0]["text"] == "+6 more"
    assert over["text"].count("\n") == 29  # the fallback still names every incident


def test_digest_is_held_to_the_message_budget(tmp_path: Path) -> None:
    # A user template that prints whole messages even in a digest.
    (tmp_path / "slack.mrkdwn.j2").write_text(
        '{% if part == "body" %}{{ incident.title }}: {{ incident.samples[0].message }}'
        "{% else %}{{ incident.title }}{% endif %}"
    )
    incidents = tuple(incident(n, message="m" * 2500) for n in range(12))
    contract = SlackWebhook(path=PATH, messages=100)
    with webhook_server(contract) as server:
        target = receiver(server.base_url, renderer=Renderer(templates_dir=tmp_path))
        assert target.fits(Notification(incidents[:7]))
        assert not target.fits(Notification(incidents[:8]))
        deliver(target, Notification(incidents))
    [message] = contract.messages
    assert sum(chars(t) for b in message["blocks"] for t in texts_of(b)) <= MESSAGE_CHARS
    assert sum(TRUNCATION_MARKER in t for t in mrkdwn_texts(message)) == 12


def test_configured_mention_only_for_firing_at_or_above_the_floor() -> None:
    contract = SlackWebhook(path=PATH, messages=100)
    with webhook_server(contract) as server:
        target = receiver(server.base_url, mention=ONCALL, mention_min_severity=Severity.WARNING)
        deliver(
            target,
            Notification((incident(severity=Severity.INFO),)),
            Notification((incident(severity=Severity.CRITICAL, status=IncidentStatus.RESOLVED),)),
            Notification((incident(severity=Severity.WARNING),)),
            Notification((incident(1, severity=Severity.INFO), incident(2, severity=Severity.CRITICAL))),
        )
    assert [pings(m) for m in contract.messages] == [[], [], [ONCALL, ONCALL], [ONCALL, ONCALL]]
    warning = contract.messages[2]
    assert warning["text"].startswith(f"{ONCALL} [FIRING] warning")
    assert warning["blocks"][1] == {
        "type": "section",
        "text": {"type": "mrkdwn", "text": ONCALL, "verbatim": True},
    }


def test_default_floor_is_critical() -> None:
    target = receiver("http://127.0.0.1:9", mention="<!here>")
    message, _ = target.message(Notification((incident(severity=Severity.WARNING),)))
    assert pings(message) == []
    message, _ = target.message(Notification((incident(severity=Severity.CRITICAL),)))
    assert pings(message) == ["<!here>", "<!here>"]


@pytest.mark.parametrize(
    "mention",
    ["@here", "<!channel> wake up", "<https://evil.example|x>", "<@u024be7lh>", "<!subteam^S1|@ops>", ""],
)
def test_mention_must_be_slack_mention_syntax(mention: str) -> None:
    with pytest.raises(ValidationError, match="Slack mention syntax"):
        SlackConfig(name="s", url="https://hooks.slack.com/services/T/B/x", mention=mention)


def test_several_mentions_are_accepted() -> None:
    config = SlackConfig(
        name="s", url="https://hooks.slack.com/x", mention="<!here> <@U024BE7LH> <!subteam^S0ONCALL>"
    )
    assert config.mention == "<!here> <@U024BE7LH> <!subteam^S0ONCALL>"
    assert config.rate_limits[0].messages == 1
    assert config.rate_limits[0].per_seconds == 1


def test_chinese_labels() -> None:
    contract = SlackWebhook(path=PATH, messages=100)
    with webhook_server(contract) as server:
        target = receiver(server.base_url, renderer=Renderer(language="zh", link_template=LINK))
        deliver(
            target,
            Notification((incident(),)),
            Notification(
                (incident(1), incident(2, status=IncidentStatus.RESOLVED, resolved_by=ResolvedBy.RECOVERY))
            ),
        )
    single, digest = contract.messages
    assert single["blocks"][0]["text"]["text"] == "🔴 告警 · 严重 · 容器崩溃重启 shop/web"
    assert texts_of(single["blocks"][1])[:3] == ["*级别*\n严重", "*类别*\n容器崩溃重启", "*集群*\nprod"]
    assert "*最近消息*" in single["blocks"][2]["text"]["text"]
    assert single["blocks"][2]["accessory"]["text"]["text"] == "详情"
    assert texts_of(single["blocks"][3]) == [
        "首次发生 2026-11-27 08:00:00 +00:00 · 最近发生 2026-11-27 08:05:00 +00:00"
    ]
    assert digest["blocks"][0]["text"]["text"] == "2 条事件 · 告警 1 · 已关闭 1"
    assert digest["blocks"][3]["text"]["text"].startswith("✅ *已恢复 · 严重* · 容器崩溃重启 shop/web")


def test_the_key_never_reaches_errors_target_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="httpx")
    caplog.handler.addFilter(SECRETS)
    contract = SlackWebhook(path=PATH, messages=100)
    with webhook_server(contract) as server:
        target = receiver(server.base_url)
        deliver(target, Notification((incident(),)))
        contract.fail(500, f"rollup_error for {server.base_url}{PATH}")
        with pytest.raises(RetryableError) as outage:
            deliver(receiver(server.base_url), Notification((incident(),)))
    with pytest.raises(RetryableError) as unreachable:
        deliver(receiver(f"http://127.0.0.1:{server.port}"), Notification((incident(),)))
    logged = caplog.text
    assert "HTTP Request: POST" in logged  # httpx did log the URL, and it was scrubbed
    assert "<redacted>" in logged
    for shown in (logged, target.target, str(outage.value), str(unreachable.value)):
        assert SECRET not in shown


def test_contract_rejects_what_slack_rejects() -> None:
    section = {"type": "section", "text": {"type": "mrkdwn", "text": "x"}}
    assert payload_error({"text": "x", "blocks": [section] * 50}) is None
    assert payload_error({"text": "x", "blocks": [section] * 51}) == "invalid_blocks"
    assert payload_error({"blocks": [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}]})
    assert payload_error({"blocks": [{"type": "header", "text": {"type": "mrkdwn", "text": "h"}}]})
    assert payload_error({"blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "🙂" * 1501}}]})
    assert payload_error({"blocks": [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11}]})
    button = {
        "type": "button",
        "text": {"type": "plain_text", "text": "b"},
        "url": "https://x",
        "action_id": "a",
    }
    assert payload_error({"blocks": [{**section, "accessory": button}, {**section, "accessory": button}]})
    assert payload_error({"blocks": []}) == "no_text"
    assert payload_error([]) == "invalid_payload"


@given(st.text(), st.integers(min_value=slack_chars(TRUNCATION_MARKER), max_value=300))
def test_truncation_counts_like_slack_and_keeps_a_prefix(text: str, limit: int) -> None:
    cut = truncate_chars(text, limit)
    assert slack_chars(cut) <= limit
    if slack_chars(text) <= limit:
        assert cut == text
    else:
        assert cut.endswith(TRUNCATION_MARKER)
        assert text.startswith(cut.removesuffix(TRUNCATION_MARKER))
        assert slack_chars(cut) >= limit - 1  # at most half a surrogate pair is given up
