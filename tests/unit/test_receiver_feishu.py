"""The Feishu receiver over real HTTP against the bot's contract (tests/support/vendors/feishu.py)."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from datetime import UTC, datetime

import httpx
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from notifiers.errors import PermanentError, RetryableError
from notifiers.markup import TRUNCATION_MARKER, json_size, truncate_json_text
from notifiers.notification import Notification
from notifiers.receivers.feishu import (
    MAX_BODY_BYTES,
    RATE_LIMITED_RETRY_AFTER,
    FeishuConfig,
    FeishuReceiver,
    check_answer,
    defuse_at_tags,
    sign,
)
from notifiers.templating import Renderer
from runtime.log import SECRETS
from schemas import Incident, IncidentStatus, ResolvedBy, SampleMessage, Severity
from tests.support.vendors.feishu import HOOK_PREFIX, FeishuBot, signature_valid, visible_text
from tests.support.webhook_server import WebhookServer, webhook_server

TOKEN = "2f3e4d5c-6b7a-8901-2345-6789abcdef01"
SECRET = "SEC-feishu-signing-s3cret"
AT = datetime(2026, 11, 27, 8, tzinfo=UTC)
LINK = "https://herald.example/i/{{ incident.fingerprint }}"
HOSTILE = [
    '<at id=all></at> <at user_id="all">all</at> <AT ID = all></at> @all @所有人',
    "[click](http://evil.example) https://evil.example/x lark://open",
    'quote " backslash \\ }{ "],"elements":[{"tag":"div"}]',
    "line\n# heading\n> quote\n- item\r\n\u2028**bold** _it_ ~~gone~~ `code` <font color=red>x</font>",
    b"invalid \xff\xfe utf-8 \xc3(".decode(errors="replace"),
]


def incident(
    n: int = 1,
    *,
    status: IncidentStatus = IncidentStatus.FIRING,
    severity: Severity = Severity.CRITICAL,
    message: str = "Back-off restarting failed container web",
    title: str | None = None,
) -> Incident:
    return Incident(
        fingerprint=f"{n:016x}",
        version=1,
        status=status,
        severity=severity,
        category="crash-loop",
        title=title or f"BackOff: Pod/shop/web-{n}",
        cluster="prod",
        namespace="shop",
        workload="web",
        occurrences=3,
        first_seen=AT,
        last_seen=AT,
        objects=[f"Pod/shop/web-{n}", "Pod/shop/web-x"],
        objects_total=5,
        samples=[SampleMessage(reason="BackOff", message=message, object=f"Pod/shop/web-{n}", at=AT)],
        inhibited_by="NodeNotReady/node-3",
        emitted_at=AT,
    )


def one(*incidents: Incident) -> Notification:
    return Notification(incidents or (incident(),))


def make(url: str, *, renderer: Renderer | None = None, **options: object) -> FeishuReceiver:
    config = FeishuConfig.model_validate({"name": "oncall", "url": url, **options})
    return FeishuReceiver(config, renderer or Renderer())


def hook(server: WebhookServer) -> str:
    return f"{server.base_url}{HOOK_PREFIX}{TOKEN}"


def deliver(receiver: FeishuReceiver, *notifications: Notification) -> None:
    async def run() -> None:
        try:
            for notification in notifications:
                await receiver.send(notification)
        finally:
            await receiver.aclose()

    asyncio.run(run())


def lark_md(body: dict[str, object]) -> str:
    card = body["card"]
    assert isinstance(card, dict)
    return str(card["elements"][0]["text"]["content"])


def test_card_shows_the_incident_and_links_to_it() -> None:
    bot = FeishuBot(TOKEN)
    with webhook_server(bot) as server:
        renderer = Renderer(timezone="Asia/Shanghai", link_template=LINK)
        deliver(make(hook(server), renderer=renderer), one())
    [body] = bot.messages
    assert [r.request.path for r in server.all()] == [HOOK_PREFIX + TOKEN]
    assert "timestamp" not in body
    assert "sign" not in body
    assert body["msg_type"] == "interactive"
    header = body["card"]["header"]
    assert header == {
        "template": "red",
        "title": {"tag": "plain_text", "content": "[FIRING] critical · Crash loop shop/web"},
    }
    text = lark_md(body)
    for shown in [
        "**Cluster:** prod",
        "**Namespace:** shop",
        "**Workload:** web",
        "**Occurrences:** 3",
        "**Category:** Crash loop",
        "**Reason:** BackOff",
        "**First seen:** 2026-11-27 16:00:00 +08:00",
        "(+3 more)",
        "Back-off restarting failed container web",
        "**inhibited by:** NodeNotReady/node-3",
    ]:
        assert shown in text
    assert body["card"]["elements"][1] == {
        "tag": "action",
        "actions": [
            {
                "tag": "button",
                "text": {"tag": "plain_text", "content": "Details"},
                "type": "primary",
                "url": "https://herald.example/i/0000000000000001",
            }
        ],
    }
    assert len(body["card"]["elements"]) == 2


def test_text_message_reads_as_plain_text() -> None:
    bot = FeishuBot(TOKEN)
    with webhook_server(bot) as server:
        deliver(make(hook(server), msgtype="text"), one())
    [body] = bot.messages
    lines = body["content"]["text"].splitlines()
    assert lines[0] == "[FIRING] critical Crash loop shop/web"
    assert "- BackOff Pod/shop/web-1: Back-off restarting failed container web" in lines


def test_signed_bot_accepts_our_signature_and_refuses_a_wrong_secret() -> None:
    bot = FeishuBot(TOKEN, secret=SECRET)
    with webhook_server(bot) as server:
        deliver(make(hook(server), secret=SECRET), one())
        with pytest.raises(PermanentError) as refused:
            deliver(make(hook(server), secret="not-the-secret"), one())
    [body] = bot.messages
    assert abs(int(body["timestamp"]) - time.time()) < 60
    assert signature_valid(SECRET, body["timestamp"], body["sign"], now=time.time())
    assert bot.refusals == [19021]
    assert "19021" in str(refused.value)
    assert "secret" in str(refused.value)
    assert "not-the-secret" not in str(refused.value)
    assert TOKEN not in str(refused.value)


def test_keyword_bot_refusal_is_permanent_and_says_why() -> None:
    bot = FeishuBot(TOKEN, keyword="herald")
    with webhook_server(bot) as server, pytest.raises(PermanentError, match=r"19024.*keyword"):
        deliver(make(hook(server)), one())
    assert bot.messages == []


def test_both_rate_windows_answer_11232_and_that_is_retryable() -> None:
    per_second = FeishuBot(TOKEN)
    with webhook_server(per_second) as server, pytest.raises(RetryableError) as first:
        deliver(make(hook(server)), *[one(incident(n)) for n in range(6)])
    assert len(per_second.messages) == 5
    assert per_second.refusals == [11232]
    assert first.value.retry_after == RATE_LIMITED_RETRY_AFTER

    per_minute = FeishuBot(TOKEN, per_second=100, per_minute=3)
    with webhook_server(per_minute) as server, pytest.raises(RetryableError) as second:
        deliver(make(hook(server)), *[one(incident(n)) for n in range(4)])
    assert len(per_minute.messages) == 3
    assert second.value.retry_after == RATE_LIMITED_RETRY_AFTER


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_outage_is_retryable_and_the_retry_delivers_once(status: int) -> None:
    bot = FeishuBot(TOKEN)
    bot.fail_next(1, status=status)
    with webhook_server(bot) as server:
        with pytest.raises(RetryableError, match=str(status)):
            deliver(make(hook(server)), one())
        deliver(make(hook(server)), one())
    assert len(bot.messages) == 1


@pytest.mark.parametrize(
    ("answer", "headers", "error", "shown"),
    [
        ({"code": 0, "data": {}, "msg": "success"}, {}, None, ""),
        ({"StatusCode": 0, "StatusMessage": "success", "Extra": None}, {}, None, ""),
        ({"code": 11232, "msg": "frequency limited"}, {}, RetryableError, "11232"),
        ({"code": 19021, "msg": "sign match fail"}, {}, PermanentError, "19021"),
        ({"StatusCode": 19021, "StatusMessage": "sign match fail"}, {}, PermanentError, "19021"),
        ({"code": 19022, "msg": "Ip Not Allowed"}, {}, PermanentError, "IP address"),
        ({"code": 19024, "msg": "Key Words Not Found"}, {}, PermanentError, "keyword"),
        ({"code": 9499, "msg": "Bad Request"}, {}, PermanentError, "9499"),
        ({"code": 12345, "msg": "something new"}, {}, PermanentError, "12345 (unknown error): something new"),
        ({"msg": "no code"}, {}, PermanentError, "no code"),
        ("<html>proxy login</html>", {}, PermanentError, "without a Feishu verdict"),
    ],
)
def test_answers_are_classified_in_one_place(
    answer: object, headers: dict[str, str], error: type[Exception] | None, shown: str
) -> None:
    content = answer.encode() if isinstance(answer, str) else orjson.dumps(answer)
    response = httpx.Response(200, headers=headers, content=content)
    if error is None:
        check_answer(response, target="https://open.feishu.cn/…", secrets=[TOKEN])
        return
    with pytest.raises(error) as caught:
        check_answer(response, target="https://open.feishu.cn/…", secrets=[TOKEN])
    assert shown in str(caught.value)


def test_rate_limit_honours_a_retry_after_header_and_scrubs_the_answer() -> None:
    answer = orjson.dumps({"code": 11232, "msg": f"limited for hook {TOKEN}"})
    response = httpx.Response(200, headers={"retry-after": "9"}, content=answer)
    with pytest.raises(RetryableError) as caught:
        check_answer(response, target="t", secrets=[TOKEN])
    assert caught.value.retry_after == 9
    assert TOKEN not in str(caught.value)


@pytest.mark.parametrize("msgtype", ["interactive", "text"])
def test_a_megabyte_message_is_cut_under_the_limit_and_keeps_the_mentions(msgtype: str) -> None:
    # Quotes and backslashes double in JSON: the cut must count the escaped size.
    huge = ('a"\\b.-*<' * 140_000)[:1_000_000]
    bot = FeishuBot(TOKEN, secret=SECRET)
    notification = one(incident(message=huge))
    with webhook_server(bot) as server:
        receiver = make(hook(server), secret=SECRET, msgtype=msgtype, mention_user_ids=["ou_7d8a6e"])
        assert not receiver.fits(notification)
        deliver(receiver, notification)
    [received] = server.accepted()
    assert MAX_BODY_BYTES - 64 < len(received.body) <= MAX_BODY_BYTES
    [body] = bot.messages
    text = visible_text(body)
    assert TRUNCATION_MARKER in text
    mention = "<at id=ou_7d8a6e></at>" if msgtype == "interactive" else '<at user_id="ou_7d8a6e"></at>'
    assert text.rstrip().endswith(mention)


@pytest.mark.parametrize("hostile", HOSTILE)
def test_event_text_cannot_mention_link_or_reshape_a_card(hostile: str) -> None:
    bot = FeishuBot(TOKEN)
    with webhook_server(bot) as server:
        deliver(make(hook(server)), one(incident(message=hostile, title=hostile)))
    [body] = bot.messages
    assert len(body["card"]["elements"]) == 1
    text, markdown = visible_text(body), lark_md(body)
    assert not re.search(r"<\s*at\b", text, re.IGNORECASE)
    # lark_md mentions are <at> tags; a bare @all there is text. The plain_text header is defused anyway.
    header = body["card"]["header"]["title"]["content"]
    assert "@all" not in header
    assert "@所有人" not in header
    # The header is plain_text (shown as is); the lark_md body is where markup would act.
    assert not re.search(r"<\s*font\b", markdown, re.IGNORECASE)
    assert "](http" not in markdown
    assert not re.search(r"(?i)\b(https?|lark):", markdown)
    assert "**bold**" not in markdown
    assert "~~gone~~" not in markdown
    for line in markdown.splitlines():
        assert not line.startswith(("#", ">", "- "))
    if "\ufffd" in hostile:
        assert "\ufffd" in markdown


@pytest.mark.parametrize("hostile", HOSTILE)
def test_event_text_cannot_mention_in_a_text_message(hostile: str) -> None:
    bot = FeishuBot(TOKEN)
    with webhook_server(bot) as server:
        deliver(
            make(hook(server), msgtype="text", mention_user_ids=["ou_7d8a6e"]), one(incident(message=hostile))
        )
    text = bot.messages[0]["content"]["text"]
    assert re.findall(r"<\s*at\b[^>]*>", text, re.IGNORECASE) == ['<at user_id="ou_7d8a6e">']
    assert "@all" not in text
    assert "@所有人" not in text


def test_a_digest_grows_only_while_it_fits_and_shows_every_incident() -> None:
    receiver = make("http://127.0.0.1:1" + HOOK_PREFIX + TOKEN)
    incidents = [incident(n, message=f"Crash{n:03d} " + "容器反复崩溃 " * 40) for n in range(300)]
    size = 1
    while size < len(incidents) and receiver.fits(Notification(tuple(incidents[: size + 1]))):
        size += 1
    assert 2 < size < len(incidents)
    fitting = Notification(tuple(incidents[:size]))
    assert TRUNCATION_MARKER not in receiver.render(fitting).decode()
    assert len(receiver.render(fitting)) <= MAX_BODY_BYTES
    assert TRUNCATION_MARKER in receiver.render(Notification(tuple(incidents[: size + 1]))).decode()
    asyncio.run(receiver.aclose())

    bot = FeishuBot(TOKEN)
    with webhook_server(bot) as server:
        deliver(make(hook(server)), fitting)
    [body] = bot.messages
    assert body["card"]["header"]["title"]["content"] == f"[FIRING] critical · {size} incidents · prod"
    text = lark_md(body)
    assert all(f"Crash{n:03d}" in text for n in range(size))


@pytest.mark.parametrize(
    ("incidents", "mentioned"),
    [
        ((incident(severity=Severity.CRITICAL),), True),
        ((incident(severity=Severity.WARNING),), True),
        ((incident(severity=Severity.INFO),), False),
        ((incident(status=IncidentStatus.RESOLVED),), False),
        ((incident(1, severity=Severity.INFO), incident(2, status=IncidentStatus.RESOLVED)), False),
        ((incident(1, severity=Severity.INFO), incident(2, severity=Severity.WARNING)), True),
    ],
)
def test_mentions_only_for_firing_incidents_at_or_above_the_threshold(
    incidents: tuple[Incident, ...], mentioned: bool
) -> None:
    bot = FeishuBot(TOKEN)
    with webhook_server(bot) as server:
        receiver = make(
            hook(server), mention_user_ids=["ou_7d8a6e"], mention_all=True, mention_min_severity="warning"
        )
        deliver(receiver, Notification(incidents))
    elements = bot.messages[0]["card"]["elements"]
    tags = [e["text"]["content"] for e in elements if e["tag"] == "div" and "<at" in e["text"]["content"]]
    assert tags == (["<at id=ou_7d8a6e></at> <at id=all></at>"] if mentioned else [])


def test_configured_mentions_must_be_open_ids() -> None:
    with pytest.raises(ValidationError):
        FeishuConfig(name="f", url="https://h/x", mention_user_ids=("ou_1></at><at id=all",))


def test_chinese_and_english_labels_and_resolved_colour() -> None:
    bot = FeishuBot(TOKEN)
    resolved = incident(status=IncidentStatus.RESOLVED).model_copy(
        update={"resolved_by": ResolvedBy.RECOVERY}
    )
    quiet = incident(status=IncidentStatus.RESOLVED).model_copy(update={"resolved_by": ResolvedBy.QUIET})
    with webhook_server(bot) as server:
        deliver(make(hook(server), renderer=Renderer(language="zh")), one(), one(resolved), one(quiet))
        deliver(make(hook(server), renderer=Renderer(language="en")), one(resolved), one(quiet))
    zh_firing, zh_resolved, zh_quiet, en_resolved, en_quiet = (
        body["card"]["header"] for body in bot.messages
    )
    assert zh_firing["title"]["content"] == "[告警] 严重 · 容器崩溃重启 shop/web"
    assert "**集群：** prod" in lark_md(bot.messages[0])
    assert "**发生次数：** 3" in lark_md(bot.messages[0])
    assert zh_resolved["title"]["content"].startswith("[已恢复]")
    assert zh_resolved["template"] == en_resolved["template"] == "green"
    assert en_resolved["title"]["content"].startswith("[RECOVERED]")
    # Quiet is no recovery: neither the word nor the green.
    assert zh_quiet["title"]["content"].startswith("[已静默]")
    assert en_quiet["title"]["content"].startswith("[QUIET]")
    assert zh_quiet["template"] == en_quiet["template"] == "grey"


def test_secrets_stay_out_of_target_errors_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.handler.addFilter(SECRETS)  # as setup_logging installs it on the real handler
    caplog.set_level(logging.DEBUG)
    bot = FeishuBot(TOKEN, secret=SECRET, per_second=1)
    errors: list[str] = []
    with webhook_server(bot) as server:
        receiver = make(hook(server), secret=SECRET)
        assert TOKEN not in receiver.target
        assert receiver.target.endswith(HOOK_PREFIX + "<redacted>")
        assert SECRET not in repr(receiver._config)
        try:
            deliver(receiver, one(), one())
        except RetryableError as exc:
            errors.append(str(exc))
        try:
            deliver(make(hook(server), secret=SECRET + "x"), one())
        except PermanentError as exc:
            errors.append(str(exc))
    try:
        deliver(make(f"http://127.0.0.1:1{HOOK_PREFIX}{TOKEN}", secret=SECRET), one())
    except RetryableError as exc:
        errors.append(str(exc))
    assert len(errors) == 3
    assert len(bot.messages) == 1
    logged = caplog.text + "".join(r.getMessage() for r in caplog.records)
    assert "<redacted>" in logged  # httpx did log the request URL, scrubbed
    for leaked in (TOKEN, SECRET):
        assert all(leaked not in error for error in errors)
        assert leaked not in logged


@given(
    secret=st.text(min_size=1, max_size=64),
    timestamp=st.integers(min_value=1_500_000_000, max_value=4_000_000_000),
    skew=st.integers(min_value=-3600, max_value=3600),
)
def test_signature_round_trips_through_the_bots_check(secret: str, timestamp: int, skew: int) -> None:
    signature = sign(secret, timestamp)
    assert signature_valid(secret, str(timestamp), signature, now=timestamp + skew)
    assert not signature_valid(secret + "x", str(timestamp), signature, now=timestamp)
    assert not signature_valid(secret, str(timestamp), signature, now=timestamp + 3601 + abs(skew))


@given(
    text=st.text(max_size=3000), room=st.integers(min_value=len(TRUNCATION_MARKER.encode()), max_value=4000)
)
def test_fit_json_respects_the_escaped_size(text: str, room: int) -> None:
    cut = truncate_json_text(text, room)
    assert json_size(cut) <= room
    if json_size(text) <= room:
        assert cut == text
    else:
        assert cut.endswith(TRUNCATION_MARKER)
        assert text.startswith(cut[: -len(TRUNCATION_MARKER)])


@given(st.text(alphabet=st.sampled_from(list("<at AT/=\"'\t\n x")), max_size=60))
def test_no_at_tag_survives_defusing(text: str) -> None:
    assert not re.search(r"<\s*/?\s*at\b", defuse_at_tags(text), re.IGNORECASE)
