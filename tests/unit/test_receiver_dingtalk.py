"""The DingTalk receiver against a local robot that enforces DingTalk's contract over real HTTP."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from pydantic import ValidationError

from notifiers.errors import DeliveryError, PermanentError, RetryableError
from notifiers.markup import TRUNCATION_MARKER, truncate_json_text
from notifiers.notification import Notification
from notifiers.receivers.dingtalk import (
    MAX_BODY_BYTES,
    THROTTLED_RETRY_SECONDS,
    DingTalkConfig,
    DingTalkReceiver,
    signed_url,
)
from notifiers.templating import Renderer
from runtime.log import SECRETS
from schemas import Incident, IncidentStatus, ResolvedBy, SampleMessage, Severity
from tests.support.vendors import json_reply
from tests.support.vendors.dingtalk import (
    INVALID_TIMESTAMP,
    SIGN_NOT_MATCH,
    DingTalkRobot,
    signature_problem,
)
from tests.support.webhook_server import Reply, Request, WebhookServer, webhook_server

TOKEN = "5f0c1d2e3a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f"
SECRET = "SEC7a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9"
KEYWORD = "集群告警"
MOBILE = "13800000000"
USER_ID = "ops-lead"
SEEN = datetime(2026, 11, 27, 8, tzinfo=UTC)
HOSTILE = (
    'he said "hi"\n# Fake heading\n}{ \\ <at user_id="all"></at> @all <!channel> '
    "[click](http://evil.example) **bold** <font color=red>x</font> \u2028- [RESOLVED] fake line\r\nend"
)


def incident(
    n: int = 0,
    *,
    message: str = "Back-off restarting failed container web in pod web-1",
    severity: Severity = Severity.CRITICAL,
    status: IncidentStatus = IncidentStatus.FIRING,
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
        first_seen=SEEN,
        last_seen=SEEN + timedelta(minutes=5),
        objects=[f"Pod/shop/web-{n}"],
        objects_total=4,
        samples=[SampleMessage(reason="BackOff", message=message, object=f"Pod/shop/web-{n}", at=SEEN)],
        emitted_at=SEEN,
    )


def one(**fields: Any) -> Notification:
    return Notification((incident(**fields),))


def make_receiver(url: str, renderer: Renderer | None = None, **options: Any) -> DingTalkReceiver:
    config = DingTalkConfig(name="oncall", url=url, **options)
    return DingTalkReceiver(config, renderer or Renderer())


def robot_url(server: WebhookServer, token: str = TOKEN) -> str:
    return f"{server.base_url}/robot/send?access_token={token}"


def deliver(receiver: DingTalkReceiver, *notifications: Notification) -> list[DeliveryError | None]:
    """Send each notification in turn; what each send raised (None when delivered)."""

    async def run() -> list[DeliveryError | None]:
        outcomes: list[DeliveryError | None] = []
        try:
            for notification in notifications:
                try:
                    await receiver.send(notification)
                    outcomes.append(None)
                except DeliveryError as exc:
                    outcomes.append(exc)
        finally:
            await receiver.aclose()
        return outcomes

    return asyncio.run(run())


@contextmanager
def robot(**options: Any) -> Iterator[tuple[DingTalkRobot, WebhookServer]]:
    contract = DingTalkRobot(access_token=TOKEN, **options)
    with webhook_server(contract) as server:
        yield contract, server


def shown(message: dict[str, Any]) -> str:
    part = message["markdown"]["text"] if message["msgtype"] == "markdown" else message["text"]["content"]
    return str(part)


def test_markdown_message_as_the_group_receives_it() -> None:
    with robot() as (contract, server):
        receiver = make_receiver(robot_url(server), at_mobiles=[MOBILE])
        assert deliver(receiver, one()) == [None]
    (message,) = contract.messages
    assert message["msgtype"] == "markdown"
    assert message["markdown"]["title"] == "[FIRING] critical · Crash loop shop/web"
    text = message["markdown"]["text"]
    assert text.startswith(
        "### 🔴 [FIRING] Crash loop shop/web\n\n**Severity**: critical · **Category**: Crash loop\n\n"
    )
    assert "**Cluster**: prod · **Namespace**: shop · **Workload**: web" in text
    assert "**Occurrences**: 3" in text
    assert "**Last seen**: 2026-11-27 08:05:00 +00:00" in text
    assert "(+3 more)" in text
    assert "- **BackOff** Pod/shop/web-0: Back-off restarting failed container" in text
    assert text.endswith(f"\n\n@{MOBILE}")
    assert message["at"] == {"atMobiles": [MOBILE], "atUserIds": [], "isAtAll": False}
    request = server.all()[0].request
    assert request.headers["content-type"] == "application/json"
    assert "sign" not in request.query


def test_text_message_shape() -> None:
    with robot() as (contract, server):
        assert deliver(make_receiver(robot_url(server), msgtype="text"), one(severity=Severity.WARNING)) == [
            None
        ]
    (message,) = contract.messages
    assert set(message) == {"msgtype", "text"}
    assert message["text"]["content"].startswith(
        "[FIRING · warning] Crash loop shop/web\n"
        "Category: Crash loop · Reason: BackOff · Occurrences: 3\nCluster: prod"
    )


def test_signed_request_is_accepted_with_a_fresh_timestamp() -> None:
    with robot(secret=SECRET) as (contract, server):
        before = time.time_ns() // 1_000_000
        assert deliver(make_receiver(robot_url(server), secret=SECRET), one(), one(n=1)) == [None, None]
        after = time.time_ns() // 1_000_000
    assert len(contract.messages) == 2
    stamps = [int(r.request.query["timestamp"][0]) for r in server.all()]
    assert all(before <= stamp <= after for stamp in stamps)


def test_wrong_secret_is_permanent_and_nothing_is_shown() -> None:
    with robot(secret=SECRET) as (contract, server):
        receiver = make_receiver(robot_url(server), secret="SECnot-the-robots-secret")
        (error,) = deliver(receiver, one())
    assert isinstance(error, PermanentError)
    assert "errcode 310000" in str(error)
    assert "sign not match" in str(error)
    assert contract.messages == []


def test_unsigned_request_to_a_signed_robot_is_refused() -> None:
    with robot(secret=SECRET) as (contract, server):
        (error,) = deliver(make_receiver(robot_url(server)), one())
    assert isinstance(error, PermanentError)
    assert "invalid timestamp" in str(error)
    assert contract.messages == []


@pytest.mark.parametrize("msgtype", ["markdown", "text"])
def test_keyword_is_in_every_message(msgtype: str) -> None:
    with robot(keyword=KEYWORD) as (contract, server):
        receiver = make_receiver(robot_url(server), keyword=KEYWORD, msgtype=msgtype)
        assert deliver(receiver, one(), Notification((incident(1), incident(2)))) == [None, None]
        (refused,) = deliver(make_receiver(robot_url(server), msgtype=msgtype), one())
    assert len(contract.messages) == 2
    for message in contract.messages:
        assert shown(message).startswith(f"{KEYWORD}\n\n")
        if msgtype == "markdown":
            assert message["markdown"]["title"].startswith(f"{KEYWORD} ")
    assert isinstance(refused, PermanentError)
    assert "keywords not in content" in str(refused)


def test_keyword_already_in_the_text_is_not_repeated() -> None:
    with robot(keyword="crash-loop") as (contract, server):
        assert deliver(make_receiver(robot_url(server), keyword="crash-loop", msgtype="text"), one()) == [
            None
        ]
    assert shown(contract.messages[0]).count("crash-loop") == 1


def test_rate_limit_answer_is_retryable_after_a_long_pause() -> None:
    with robot() as (contract, server):
        outcomes = deliver(make_receiver(robot_url(server)), *(one(n=n) for n in range(22)))
    assert outcomes[:20] == [None] * 20
    assert len(contract.messages) == 20
    for error in outcomes[20:]:
        assert isinstance(error, RetryableError)
        assert "errcode 130101" in str(error)
        assert error.retry_after == THROTTLED_RETRY_SECONDS >= 60
    assert contract.refused == [130101, 130101]


def test_outage_is_retryable_and_the_retry_delivers_once() -> None:
    with robot() as (contract, server):
        contract.outage(503, 429)
        outcomes = deliver(make_receiver(robot_url(server)), one(), one(), one())
    unavailable, throttled, delivered = outcomes
    assert isinstance(unavailable, RetryableError)
    assert "HTTP 503" in str(unavailable)
    assert isinstance(throttled, RetryableError)
    assert throttled.retry_after == 2
    assert delivered is None
    assert len(contract.messages) == 1


@pytest.mark.parametrize(
    ("reply", "error", "fragment"),
    [
        (json_reply({"errcode": 0, "errmsg": "ok"}), None, ""),
        (json_reply({"errcode": 130101, "errmsg": "send too fast"}), RetryableError, "errcode 130101"),
        (json_reply({"errcode": -1, "errmsg": "系统繁忙"}), RetryableError, "errcode -1"),
        (json_reply({"errcode": 310000, "errmsg": "ip not in whitelist"}), PermanentError, "IP not allowed"),
        (json_reply({"errcode": 460101, "errmsg": "too long"}), PermanentError, "over 20000 bytes"),
        (
            json_reply({"errcode": 400102, "errmsg": "robot stopped"}),
            PermanentError,
            "400102, refused: robot",
        ),
        ((200, {}, b"<html>portal</html>"), PermanentError, "without an errcode: <html>portal"),
        (json_reply({"errcode": "0"}), PermanentError, "without an errcode"),
        (json_reply({"message": "bad gateway"}, status=502), RetryableError, "HTTP 502"),
        (json_reply({"message": "no such robot"}, status=404), PermanentError, "HTTP 404"),
    ],
)
def test_every_answer_is_classified(reply: Reply, error: type[Exception] | None, fragment: str) -> None:
    with webhook_server(lambda _i, _r: reply) as server:
        (outcome,) = deliver(make_receiver(robot_url(server)), one())
    if error is None:
        assert outcome is None
        return
    assert isinstance(outcome, error)
    assert fragment in str(outcome)
    assert "access_token=<redacted>" in str(outcome)


HUGE = {
    "ascii": "x" * 1_000_000,
    "cjk": "告警" * 180_000,
    "escapes": '"\\\n' * 350_000,
    "invalid-utf8": (b"\xff\xfe\xc3(" * 250_000).decode(errors="replace"),
}


@pytest.mark.parametrize("msgtype", ["markdown", "text"])
@pytest.mark.parametrize("kind", list(HUGE))
def test_a_huge_message_is_cut_under_the_limit_keeping_keyword_and_mentions(msgtype: str, kind: str) -> None:
    with robot(secret=SECRET, keyword=KEYWORD) as (contract, server):
        receiver = make_receiver(
            robot_url(server), secret=SECRET, keyword=KEYWORD, msgtype=msgtype, at_mobiles=[MOBILE]
        )
        assert not receiver.fits(one(message=HUGE[kind]))
        assert deliver(receiver, one(message=HUGE[kind])) == [None]
    (received,) = server.accepted()
    assert MAX_BODY_BYTES - 16 <= len(received.body) <= MAX_BODY_BYTES
    text = shown(contract.messages[0])
    assert text.startswith(f"{KEYWORD}\n\n")
    assert text.endswith(f"{TRUNCATION_MARKER}\n\n@{MOBILE}")
    assert contract.messages[0]["at"]["atMobiles"] == [MOBILE]


@pytest.mark.parametrize("msgtype", ["markdown", "text"])
def test_event_text_cannot_mention_link_or_forge_lines(msgtype: str) -> None:
    hostile = one(message=HOSTILE, title=f"Evil: {HOSTILE[:60]}")
    with robot() as (contract, server):
        assert deliver(make_receiver(robot_url(server), msgtype=msgtype), hostile) == [None]
    (message,) = contract.messages
    assert "at" not in message
    text = shown(message)
    everything = text + message.get("markdown", {}).get("title", "")
    assert "@all" not in everything
    assert "@\u200ball" in text
    assert "\u2028" not in everything
    assert "\r" not in everything
    lines = text.split("\n")
    assert not [line for line in lines if "Fake heading" in line and "he said" not in line]
    assert not [line for line in lines if "fake line" in line and "he said" not in line]
    assert "http://evil" not in text
    if msgtype == "markdown":
        assert "<at" not in text
        assert "<font" not in text
        assert "](http" not in text
        assert "∗∗bold∗∗" in text  # look-alikes: DingTalk would show a backslash escape as typed
        assert "\\*" not in text
        assert "&lt;" not in text
        assert [line for line in lines if line.startswith("#")] == ["### 🔴 [FIRING] Crash loop shop/web"]
    else:
        assert 'he said "hi"' in text
        assert not [line for line in lines if line.startswith("# ")]


def test_text_from_invalid_utf8_is_delivered_as_replacement_characters() -> None:
    garbled = b"disk \xff\xfe full \xc3( on node".decode(errors="replace")
    with robot() as (contract, server):
        assert deliver(make_receiver(robot_url(server)), one(message=garbled)) == [None]
    assert "disk \ufffd\ufffd full \ufffd( on node" in shown(contract.messages[0])


@pytest.mark.parametrize("msgtype", ["markdown", "text"])
def test_digest_grows_only_while_it_fits(msgtype: str) -> None:
    receiver = make_receiver(f"http://127.0.0.1:9/robot/send?access_token={TOKEN}", msgtype=msgtype)
    incidents = [incident(n, message="Back-off restarting failed container " * 20) for n in range(400)]
    size = 2
    while receiver.fits(Notification(tuple(incidents[:size]))):
        size += 1
    largest = size - 1
    assert largest > 20
    with robot() as (contract, server):
        fitting, over = Notification(tuple(incidents[:largest])), Notification(tuple(incidents[:size]))
        assert deliver(make_receiver(robot_url(server), msgtype=msgtype), fitting, over) == [None, None]
    whole, cut = (shown(m) for m in contract.messages)
    assert TRUNCATION_MARKER not in whole
    assert all(f"web-{n}" in whole.replace("-", "-") for n in range(largest))
    assert cut.endswith(TRUNCATION_MARKER)
    assert all(len(r.body) <= MAX_BODY_BYTES for r in server.accepted())


@pytest.mark.parametrize(
    ("severity", "status", "floor", "mentioned"),
    [
        (Severity.CRITICAL, IncidentStatus.FIRING, Severity.CRITICAL, True),
        (Severity.WARNING, IncidentStatus.FIRING, Severity.CRITICAL, False),
        (Severity.CRITICAL, IncidentStatus.RESOLVED, Severity.CRITICAL, False),
        (Severity.WARNING, IncidentStatus.FIRING, Severity.WARNING, True),
        (Severity.INFO, IncidentStatus.FIRING, Severity.WARNING, False),
    ],
)
@pytest.mark.parametrize("msgtype", ["markdown", "text"])
def test_mentions_only_for_firing_incidents_at_or_above_the_floor(
    severity: Severity, status: IncidentStatus, floor: Severity, mentioned: bool, msgtype: str
) -> None:
    with robot() as (contract, server):
        receiver = make_receiver(
            robot_url(server),
            msgtype=msgtype,
            at_mobiles=[MOBILE],
            at_user_ids=[USER_ID],
            at_all=True,
            mention_min_severity=floor,
        )
        assert deliver(receiver, one(severity=severity, status=status)) == [None]
    (message,) = contract.messages
    if mentioned:
        assert message["at"] == {"atMobiles": [MOBILE], "atUserIds": [USER_ID], "isAtAll": True}
        assert shown(message).endswith(f"\n\n@{MOBILE} @{USER_ID}")
    else:
        assert "at" not in message
        assert MOBILE not in shown(message)
        assert USER_ID not in shown(message)


def test_a_digest_mentions_when_any_incident_qualifies() -> None:
    digest = Notification((incident(1, severity=Severity.INFO), incident(2, severity=Severity.CRITICAL)))
    with robot() as (contract, server):
        assert deliver(make_receiver(robot_url(server), at_mobiles=[MOBILE]), digest) == [None]
    assert contract.messages[0]["at"]["atMobiles"] == [MOBILE]


@pytest.mark.parametrize(
    ("language", "msgtype", "expected"),
    [
        (
            "en",
            "markdown",
            ["[FIRING] Crash loop shop/web", "**Cluster**: prod", "**Recent messages**", "16:05:00 +08:00"],
        ),
        (
            "zh",
            "markdown",
            [
                "[告警] 容器崩溃重启 shop/web",
                "**级别**：严重",
                "**集群**：prod",
                "**首次发生**：2026-11-27 16:00",
            ],
        ),
        (
            "en",
            "text",
            ["[FIRING · critical] Crash loop shop/web", "Cluster: prod", "Recent messages:", "(+3 more)"],
        ),
        (
            "zh",
            "text",
            [
                "[告警 · 严重] 容器崩溃重启",
                "集群：prod",
                "最近消息：",
                "最近发生：2026-11-27 16:05:00 +08:00",
            ],
        ),
    ],
)
def test_templates_read_in_english_and_chinese(language: Any, msgtype: str, expected: list[str]) -> None:
    renderer = Renderer(language=language, timezone="Asia/Shanghai")
    with robot() as (contract, server):
        assert deliver(make_receiver(robot_url(server), renderer, msgtype=msgtype), one()) == [None]
    text = shown(contract.messages[0])
    for fragment in expected:
        assert fragment in text


def test_digest_title_and_link() -> None:
    renderer = Renderer(
        language="zh", link_template="https://grafana.example/d/k8s?fp={{ incident.fingerprint }}"
    )
    recovered = incident(2, status=IncidentStatus.RESOLVED).model_copy(
        update={"resolved_by": ResolvedBy.RECOVERY}
    )
    quiet = incident(3, status=IncidentStatus.RESOLVED).model_copy(
        update={"resolved_by": ResolvedBy.QUIET, "quiet_seconds": 1800.0}
    )
    digest = Notification((incident(1), recovered, quiet))
    with robot() as (contract, server):
        assert deliver(make_receiver(robot_url(server), renderer), digest) == [None]
    markdown = contract.messages[0]["markdown"]
    assert markdown["title"] == "3 条事件：容器崩溃重启 shop/web …"
    assert "[详情](https://grafana.example/d/k8s?fp=0000000000000002)" in markdown["text"]
    assert "- ✅ **已恢复 · 严重** 容器崩溃重启 shop/web" in markdown["text"]
    assert "- 💤 **已静默 · 严重** 容器崩溃重启 shop/web" in markdown["text"]
    assert "30 分钟无新事件，未确认恢复" in markdown["text"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_no_secret_in_errors_target_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.handler.addFilter(SECRETS)  # what setup_logging installs on the real handler
    caplog.set_level(logging.DEBUG)

    def echo_token(_index: int, request: Request) -> Reply:
        token = request.query["access_token"][0]
        # The token straddles the cut at MAX_BODY_SHOWN: scrubbing after cutting would leak its head.
        return json_reply({"errcode": 300001, "errmsg": f"{'.' * 280}token {token} is not exist"})

    errors: list[DeliveryError | None] = []
    with robot(secret=SECRET) as (_contract, server):
        signed_wrong = make_receiver(robot_url(server), secret=SECRET + "x")
        errors += deliver(signed_wrong, one())
        targets = [signed_wrong.target]
    with webhook_server(echo_token) as server:
        echoed = make_receiver(robot_url(server), secret=SECRET)
        errors += deliver(echoed, one())
        targets.append(echoed.target)
    unreachable = make_receiver(
        f"http://127.0.0.1:{free_port()}/robot/send?access_token={TOKEN}", secret=SECRET
    )
    errors += deliver(unreachable, one())
    targets.append(unreachable.target)

    assert [type(e) for e in errors] == [PermanentError, PermanentError, RetryableError]
    assert "HTTP Request: POST <redacted>" in caplog.text
    for shown_somewhere in [*map(str, errors), *targets, caplog.text]:
        assert TOKEN[:8] not in shown_somewhere
        assert SECRET not in shown_somewhere


def test_config_wants_the_webhook_url_and_plain_mention_ids() -> None:
    with pytest.raises(ValidationError, match="access_token"):
        DingTalkConfig(name="d", url="https://oapi.dingtalk.com/robot/send")
    with pytest.raises(ValidationError, match="no spaces, no @"):
        DingTalkConfig(
            name="d", url=f"https://oapi.dingtalk.com/robot/send?access_token={TOKEN}", at_mobiles=["@all"]
        )
    config = DingTalkConfig(name="d", url=f"https://oapi.dingtalk.com/robot/send?access_token={TOKEN}")
    assert TOKEN not in repr(config)
    assert config.rate_limits[0].messages == 20
    assert config.rate_limits[0].per_seconds == 60


NOW_MS = 1_795_000_000_000


@given(
    secret=st.text(min_size=1, max_size=80),
    other=st.text(min_size=1, max_size=80),
    skew_ms=st.integers(min_value=-3_600_000, max_value=3_600_000),
)
def test_any_secret_signs_what_the_robot_accepts(secret: str, other: str, skew_ms: int) -> None:
    assume(other != secret)
    url = signed_url(f"https://oapi.dingtalk.com/robot/send?access_token={TOKEN}", secret, NOW_MS + skew_ms)
    query = parse_qs(urlsplit(url).query, keep_blank_values=True)
    assert query["access_token"] == [TOKEN]
    assert signature_problem(query, secret, now_ms=NOW_MS) is None
    assert signature_problem(query, other, now_ms=NOW_MS) == SIGN_NOT_MATCH


@given(secret=st.text(min_size=1, max_size=40), late_ms=st.integers(min_value=3_600_001, max_value=10**9))
def test_a_signature_older_than_an_hour_is_refused(secret: str, late_ms: int) -> None:
    url = signed_url(f"https://oapi.dingtalk.com/robot/send?access_token={TOKEN}", secret, NOW_MS - late_ms)
    query = parse_qs(urlsplit(url).query, keep_blank_values=True)
    assert signature_problem(query, secret, now_ms=NOW_MS) == INVALID_TIMESTAMP


@given(text=st.text(), room=st.integers(min_value=len(TRUNCATION_MARKER.encode()), max_value=300))
def test_cut_text_never_encodes_over_its_room(text: str, room: int) -> None:
    cut = truncate_json_text(text, room)
    size = len(orjson.dumps(cut)) - 2
    assert size <= room
    if len(orjson.dumps(text)) - 2 <= room:
        assert cut == text
    else:
        kept = cut.removesuffix(TRUNCATION_MARKER)
        assert cut.endswith(TRUNCATION_MARKER)
        assert text.startswith(kept)
        # As long as it can be: one more character would not fit.
        assert len(orjson.dumps(text[: len(kept) + 1] + TRUNCATION_MARKER)) - 2 > room
