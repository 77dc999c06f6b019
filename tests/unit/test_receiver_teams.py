"""The Teams receiver against a local stand-in that enforces the Workflows webhook contract."""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from notifiers.errors import PermanentError, RetryableError
from notifiers.markup import TRUNCATION_MARKER, ZERO_WIDTH_SPACE, json_size, truncate_json_text
from notifiers.notification import Notification
from notifiers.receivers.teams import (
    MAX_PAYLOAD_BYTES,
    TeamsConfig,
    TeamsReceiver,
)
from notifiers.templating import Renderer
from runtime.log import SECRETS
from schemas import Incident, IncidentStatus, ResolvedBy, SampleMessage, Severity
from tests.support.vendors.teams import TeamsWorkflow, card_error, markdown_texts, mentions, walk
from tests.support.webhook_server import webhook_server

WORKFLOW = "3f2a9c7e5b1d4e8fa0c6b2d9e7f1a3c5"
SIG = "Xy7-Qm2Lp9Rt4Vn8Kc1Wz6Hb3Jd5Fg0SaE2uIoP4k"
PATH = f"/workflows/{WORKFLOW}/triggers/manual/paths/invoke"
QUERY = "api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig="
AT = datetime(2026, 11, 27, 8, tzinfo=UTC)
LINK = "https://herald.example/incidents/{{ incident.fingerprint }}"
ONCALL = {"upn": "oncall@contoso.com", "name": "On-call"}

HOSTILE = [
    '<at>On-call</at> <at id="0">x</at> @all @here <script>alert(1)</script>',
    "[click](https://evil.example/login) ![img](http://evil.example/p.png) https://evil.example/a",
    "**bold** *em* _em_ ~~strike~~ `code` # heading > quote &lt;at&gt; &amp;",
    'he said "hi"\n- fake item\n\n1. fake\r\n\u2028# fake heading\x00\x07\x1b[31m',
    b"\xff\xfe<at>On-call</at>\xc3(".decode(errors="replace"),
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
    base_url: str, *, sig: str = SIG, renderer: Renderer | None = None, **options: Any
) -> TeamsReceiver:
    config = TeamsConfig(name="oncall", url=f"{base_url}{PATH}?{QUERY}{sig}", **options)
    return TeamsReceiver(config, renderer or Renderer(link_template=LINK))


def deliver(target: TeamsReceiver, *notifications: Notification) -> None:
    """Send in order on one event loop; the first failure propagates."""

    async def run() -> None:
        try:
            for notification in notifications:
                await target.send(notification)
        finally:
            await target.aclose()

    asyncio.run(run())


def contract(**options: Any) -> TeamsWorkflow:
    return TeamsWorkflow(path=PATH, sig=SIG, **{"messages": 100, **options})


def of_type(card: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e for e in walk(card["body"]) if e["type"] == kind]


def test_one_incident_is_a_card_with_title_facts_details_and_link() -> None:
    workflow = contract()
    with webhook_server(workflow) as server:
        deliver(receiver(server.base_url), Notification((incident(),)))
    [received] = server.all()
    assert received.status == 202
    assert received.request.headers["content-type"].startswith("application/json")
    assert orjson.loads(received.body)["type"] == "message"
    [card] = workflow.cards
    assert card["version"] == "1.4"
    assert "entities" not in card["msteams"]
    [container] = card["body"]
    title, facts, details, actions = container["items"]
    assert title["text"] == "🔴 FIRING · critical · Crash loop shop/web"
    assert (title["weight"], title["color"]) == ("Bolder", "Attention")
    assert facts["facts"] == [
        {"title": "Severity", "value": "critical"},
        {"title": "Category", "value": "Crash loop"},
        {"title": "Cluster", "value": "prod"},
        {"title": "Namespace", "value": "shop"},
        {"title": "Workload", "value": "web"},
        {"title": "Reason", "value": "BackOff"},
        {"title": "Occurrences", "value": "3"},
    ]
    assert details["text"] == (
        "**First seen** 2026-11-27 08:00:00 +00:00 · **Last seen** 2026-11-27 08:05:00 +00:00\n\n"
        "**Objects**: Pod/shop/web-0, Pod/shop/web-x (+3 more)\n\n"
        "**Recent messages**\n\n"
        "- BackOff · Pod/shop/web-0: Back-off restarting failed container"
    )
    assert actions["actions"] == [
        {
            "type": "Action.OpenUrl",
            "title": "Details",
            "url": "https://herald.example/incidents/0000000000000000",
        }
    ]
    assert mentions(card) == []


def test_recovered_is_green_quiet_is_not_and_without_a_link_there_is_no_action() -> None:
    workflow = contract()
    closed = {"status": IncidentStatus.RESOLVED, "inhibited_by": "NodeNotReady"}
    with webhook_server(workflow) as server:
        target = receiver(server.base_url, renderer=Renderer())
        deliver(
            target,
            Notification((incident(**closed, resolved_by=ResolvedBy.RECOVERY),)),
            Notification((incident(**closed, resolved_by=ResolvedBy.QUIET, quiet_seconds=600.0),)),
        )
    recovered, quiet = workflow.cards
    assert of_type(recovered, "ActionSet") == []
    title, *_, details = recovered["body"][0]["items"]
    assert (title["text"][:11], title["color"]) == ("✅ RECOVERED", "Good")
    assert details["text"].endswith("\n\n_inhibited by_ NodeNotReady")
    title, *_, details = quiet["body"][0]["items"]
    assert (title["text"][:7], title["color"]) == ("💤 QUIET", "Default")
    assert details["text"].startswith("**Closed**: no new events for 10 min; not confirmed as recovered")


def test_wrong_signature_is_permanent_and_the_error_hides_the_key() -> None:
    wrong = "WRONGwrongWRONGwrong1234WRONGwrong"
    workflow = contract()
    with webhook_server(workflow) as server:
        target = receiver(server.base_url, sig=wrong)
        with pytest.raises(PermanentError, match="HTTP 401") as caught:
            deliver(target, Notification((incident(),)))
    assert wrong not in str(caught.value)
    assert wrong not in target.target
    assert WORKFLOW not in target.target
    assert "sig=<redacted>" in target.target
    assert workflow.cards == []


def test_over_four_a_second_teams_answers_429_and_we_wait_as_told() -> None:
    workflow = contract(messages=4)

    async def run(target: TeamsReceiver) -> float | None:
        try:
            for n in range(4):
                await target.send(Notification((incident(n),)))
            with pytest.raises(RetryableError, match="HTTP 429") as caught:
                await target.send(Notification((incident(4),)))
            await asyncio.sleep(caught.value.retry_after or 0)
            await target.send(Notification((incident(4),)))
            return caught.value.retry_after
        finally:
            await target.aclose()

    with webhook_server(workflow) as server:
        retry_after = asyncio.run(run(receiver(server.base_url)))
    assert retry_after == 1.0
    objects = [c["body"][0]["items"][2]["text"].split("**Objects**: ")[1] for c in workflow.cards]
    assert [o.split(",")[0][-1] for o in objects] == ["0", "1", "2", "3", "4"]


@pytest.mark.parametrize(("status", "retry_after"), [(502, None), (503, 20.0), (429, 7.0)])
def test_outages_are_retryable_and_nothing_is_lost_or_doubled(status: int, retry_after: float | None) -> None:
    workflow = contract()
    workflow.fail(status, times=2, retry_after=retry_after)
    with webhook_server(workflow) as server:
        for _ in range(2):
            with pytest.raises(RetryableError, match=f"HTTP {status}") as caught:
                deliver(receiver(server.base_url), Notification((incident(),)))
            assert caught.value.retry_after == retry_after
        deliver(receiver(server.base_url), Notification((incident(),)))
    assert len(workflow.cards) == 1


@pytest.mark.parametrize("status", [400, 403, 404, 413])
def test_other_refusals_are_permanent(status: int) -> None:
    workflow = contract()
    workflow.fail(status)
    with webhook_server(workflow) as server, pytest.raises(PermanentError, match=f"HTTP {status}"):
        deliver(receiver(server.base_url), Notification((incident(),)))
    assert workflow.cards == []


def test_megabyte_message_is_cut_under_28_kb_and_says_so() -> None:
    huge = ('🙂 é "q" \\ <x> ' * 100_000)[:1_000_000]
    big = incident(
        workload="W" * 100_000, samples=[SampleMessage(reason="R", message=huge, object="Pod/a", at=AT)]
    )
    workflow = contract()
    with webhook_server(workflow) as server:
        target = receiver(server.base_url)
        assert not target.fits(Notification((big,)))
        deliver(target, Notification((big,)))
    [card] = workflow.cards
    [size] = workflow.sizes
    assert MAX_PAYLOAD_BYTES * 0.95 <= size <= MAX_PAYLOAD_BYTES  # cut near the limit, not far below
    title, _, details, _ = card["body"][0]["items"]
    assert title["text"].endswith(TRUNCATION_MARKER)
    assert details["text"].endswith(TRUNCATION_MARKER)
    assert f'🙂 é "q" \\ <{ZERO_WIDTH_SPACE}x>' in details["text"]  # no entity, no backslash escape


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
    workflow = contract()
    with webhook_server(workflow) as server:
        target = receiver(server.base_url, mention=ONCALL)
        deliver(target, Notification((hostile[0],)), Notification(tuple(hostile)))
    assert len(workflow.cards) == 2
    for card in workflow.cards:
        assert mentions(card) == ["oncall@contoso.com"]
        texts = markdown_texts(card)
        assert sum(t.count("<at>") for t in texts) == 1  # the configured mention, once
        for text in texts:
            assert not re.search(r"<[A-Za-z/!@]", text.replace("<at>On-call</at>", ""))
            assert "\n- fake" not in text
            assert "\n#" not in text
            for marked in ("**bold**", "](", "~~", "`code`", "http:", "https:", "\x1b", "\\*", "&amp;lt;"):
                assert marked not in text
    details = workflow.cards[0]["body"][1]["items"][2]["text"]
    assert 'he said "hi" - fake item  1. fake' in details
    assert "∗∗bold∗∗ ∗em∗ ＿em＿ ∼∼strike∼∼ ˋcodeˋ" in details
    assert f"\ufffd<{ZERO_WIDTH_SPACE}at>On-call<{ZERO_WIDTH_SPACE}/at>\ufffd(" in details


def test_digest_fits_until_28_kb_then_still_sends_within_it() -> None:
    incidents = [incident(n, message="x" * 250, severity=Severity.WARNING) for n in range(60)]
    workflow = contract()
    with webhook_server(workflow) as server:
        target = receiver(server.base_url)
        fitting = [n for n in range(1, 61) if target.fits(Notification(tuple(incidents[:n])))]
        largest = fitting[-1]
        assert fitting == list(range(1, largest + 1))
        assert 10 <= largest < 60
        assert len(target.message(Notification(tuple(incidents[:largest])))[0]) <= MAX_PAYLOAD_BYTES
        deliver(target, Notification(tuple(incidents[:largest])), Notification(tuple(incidents)))
    full, over = workflow.cards
    assert full["body"][0]["text"] == f"{largest} incidents · FIRING {largest}"
    titles = [c["items"][0]["text"] for c in full["body"][1:]]
    assert titles == ["🟠 FIRING · warning · Crash loop shop/web"] * largest
    assert all(s <= MAX_PAYLOAD_BYTES for s in workflow.sizes)
    shown = len(over["body"]) - 2
    assert over["body"][-1]["text"] == f"+{60 - shown} more"
    assert shown >= largest - 1


def test_configured_mention_only_for_firing_at_or_above_the_floor() -> None:
    workflow = contract()
    with webhook_server(workflow) as server:
        target = receiver(server.base_url, mention=ONCALL, mention_min_severity=Severity.WARNING)
        deliver(
            target,
            Notification((incident(severity=Severity.INFO),)),
            Notification((incident(severity=Severity.CRITICAL, status=IncidentStatus.RESOLVED),)),
            Notification((incident(severity=Severity.WARNING),)),
            Notification((incident(1, severity=Severity.INFO), incident(2, severity=Severity.CRITICAL))),
        )
    assert [mentions(c) for c in workflow.cards] == [[], [], ["oncall@contoso.com"], ["oncall@contoso.com"]]
    assert [("entities" in c["msteams"]) for c in workflow.cards] == [False, False, True, True]
    warning = workflow.cards[2]
    assert warning["body"][0] == {"type": "TextBlock", "text": "<at>On-call</at>", "wrap": True}
    assert warning["msteams"]["entities"] == [
        {
            "type": "mention",
            "text": "<at>On-call</at>",
            "mentioned": {"id": "oncall@contoso.com", "name": "On-call"},
        }
    ]


@pytest.mark.parametrize(
    "mention",
    [
        {"upn": "not-an-address", "name": "x"},
        {"upn": "a@b.c", "name": "</at><at>Everyone"},
        {"upn": "a b@b.c", "name": "x"},
        {"upn": "a@b.c", "name": ""},
        {"upn": "a@b.c"},
    ],
)
def test_mention_must_be_a_upn_and_a_plain_name(mention: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        TeamsConfig(name="t", url="https://example.invalid/x", mention=mention)


def test_defaults() -> None:
    config = TeamsConfig(name="t", url="https://example.invalid/x")
    assert [(r.messages, r.per_seconds) for r in config.rate_limits] == [(4, 1)]
    assert config.mention_min_severity is Severity.CRITICAL
    assert config.template == "teams.md.j2"


def test_chinese_labels() -> None:
    workflow = contract()
    with webhook_server(workflow) as server:
        target = receiver(server.base_url, renderer=Renderer(language="zh", link_template=LINK))
        deliver(
            target,
            Notification((incident(),)),
            Notification((incident(1), incident(2, status=IncidentStatus.RESOLVED))),
        )
    single, digest = workflow.cards
    title, facts, details, actions = single["body"][0]["items"]
    assert title["text"] == "🔴 告警 · 严重 · 容器崩溃重启 shop/web"
    assert facts["facts"][0] == {"title": "级别", "value": "严重"}
    assert facts["facts"][1] == {"title": "类别", "value": "容器崩溃重启"}
    assert facts["facts"][2] == {"title": "集群", "value": "prod"}
    assert details["text"].startswith("**首次发生** 2026-11-27 08:00:00 +00:00 · **最近发生**")
    assert "**最近消息**" in details["text"]
    assert actions["actions"][0]["title"] == "详情"
    assert digest["body"][0]["text"] == "2 条事件 · 告警 1 · 已关闭 1"


def test_the_key_never_reaches_errors_target_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="httpx")
    caplog.handler.addFilter(SECRETS)
    workflow = contract()
    with webhook_server(workflow) as server:
        target = receiver(server.base_url)
        deliver(target, Notification((incident(),)))
        workflow.fail(500)
        with pytest.raises(RetryableError) as outage:
            deliver(receiver(server.base_url), Notification((incident(),)))
    with pytest.raises(RetryableError) as unreachable:
        deliver(receiver(f"http://127.0.0.1:{server.port}"), Notification((incident(),)))
    logged = caplog.text
    assert "HTTP Request: POST" in logged  # httpx did log the URL, and it was scrubbed
    assert "<redacted>" in logged
    for shown in (logged, target.target, str(outage.value), str(unreachable.value)):
        assert SIG not in shown


def test_contract_rejects_what_teams_would_not_show() -> None:
    def message(card: dict[str, Any]) -> dict[str, Any]:
        content = {"type": "AdaptiveCard", "version": "1.4", "body": [], **card}
        return {
            "type": "message",
            "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "content": content}],
        }

    assert card_error(message({})) is None
    assert card_error({"text": "hi"})
    assert card_error(message({"version": "2.0"}))
    assert card_error(message({"body": [{"type": "Container", "items": [{"type": "TextBlock"}]}]}))
    assert card_error(message({"body": [{"type": "FactSet", "facts": [{"title": "a"}]}]}))
    assert card_error(
        message(
            {
                "body": [
                    {
                        "type": "ActionSet",
                        "actions": [{"type": "Action.OpenUrl", "title": "x", "url": "javascript:x"}],
                    }
                ]
            }
        )
    )
    entity = {"type": "mention", "text": "<at>A</at>", "mentioned": {"id": "a@b.c", "name": "A"}}
    assert card_error(message({"msteams": {"entities": [entity]}}))  # its <at> text is not in the card
    assert (
        card_error(
            message(
                {"body": [{"type": "TextBlock", "text": "<at>A</at>"}], "msteams": {"entities": [entity]}}
            )
        )
        is None
    )


@given(st.text(), st.integers(min_value=json_size(TRUNCATION_MARKER), max_value=400))
def test_truncation_fits_the_json_budget_and_keeps_a_prefix(text: str, budget: int) -> None:
    cut = truncate_json_text(text, budget)
    if json_size(text) <= budget:
        assert cut == text
    else:
        assert json_size(cut) <= budget
        assert cut.endswith(TRUNCATION_MARKER)
        assert text.startswith(cut.removesuffix(TRUNCATION_MARKER))
