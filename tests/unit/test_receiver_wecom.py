"""The WeCom receivers over real HTTP against the vendor contracts in tests/support/vendors/wecom.py."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from notifiers.errors import DeliveryError, PermanentError, RetryableError
from notifiers.markup import TRUNCATION_MARKER, ZERO_WIDTH_SPACE, utf8_size
from notifiers.notification import Notification
from notifiers.pacing import Budget
from notifiers.receivers.wecom import WeComConfig, WeComReceiver, fit
from notifiers.receivers.wecom_app import WeComAppConfig, WeComAppReceiver
from notifiers.templating import Language, Renderer
from runtime.log import SECRETS
from runtime.redact import REDACTED
from schemas import Incident, IncidentStatus, ResolvedBy, SampleMessage, Severity
from tests.support.vendors.wecom import ROBOT_PATH, App, Robot, errcode
from tests.support.webhook_server import Reply, Request, WebhookServer, webhook_server

KEY = "693a91f6-7aaa-4bc4-97a0-0ec2f1fa5aaa"
CORP_ID = "ww0123456789abcdef"
CORP_SECRET = "Sx9-corp-secret-4f1e2d3c4b5a69788796a5b4c3d2e1f0"
AGENT_ID = 1000002
LINK = "https://grafana.example/d/events?fp={{ incident.fingerprint }}"
AT = datetime(2026, 11, 27, 8, tzinfo=UTC)

HOSTILE = [
    '<@alice> <@all> @all <at user_id="all"></at> <!channel>',
    '[ack](http://evil.example) <a href="https://evil.example">ack</a> https://evil.example/x',
    'he said "hi"\n}{ \\ \r\n### [RESOLVED]\n> all good\u2028<font color="info">ok</font>',
    "**bold** _it_ `code` ~~s~~ | table | &amp; &lt;b&gt;",
    b"bytes \xff\xfe from a bad \xc3\x28 decoder".decode(errors="replace"),
]


def incident(
    n: int = 1,
    *,
    message: str = "Back-off restarting failed container web",
    status: IncidentStatus = IncidentStatus.FIRING,
    severity: Severity = Severity.CRITICAL,
    everywhere: bool = False,
) -> Incident:
    """An incident; ``everywhere`` puts ``message`` into every event-derived field too."""
    field = message if everywhere else None
    return Incident(
        fingerprint=f"{n:016x}",
        version=1,
        status=status,
        severity=severity,
        category="crash-loop",
        title=field or f"BackOff: Pod/shop/web-{n}",
        cluster="prod",
        namespace=field or "shop",
        workload=field or "web",
        occurrences=3,
        first_seen=AT,
        last_seen=AT,
        objects=[field or f"Pod/shop/web-{n}"],
        objects_total=4,
        samples=[
            SampleMessage(reason=field or "BackOff", message=message, object=f"Pod/shop/web-{n}", at=AT)
        ],
        emitted_at=AT,
    )


def one(**kwargs: Any) -> Notification:
    return Notification((incident(**kwargs),))


def deliver(
    receiver: WeComReceiver | WeComAppReceiver, *notifications: Notification
) -> list[Exception | None]:
    """Send each notification in turn on one event loop; the outcome of each, then close."""

    async def run() -> list[Exception | None]:
        outcomes: list[Exception | None] = []
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


def robot(
    server: WebhookServer, *, key: str = KEY, renderer: Renderer | None = None, **config: Any
) -> WeComReceiver:
    url = f"{server.base_url}{ROBOT_PATH}?key={key}"
    return WeComReceiver(WeComConfig(name="ops", url=url, **config), renderer or Renderer())


def app(server: WebhookServer, *, renderer: Renderer | None = None, **config: Any) -> WeComAppReceiver:
    settings: dict[str, Any] = {
        "corp_id": CORP_ID,
        "corp_secret": CORP_SECRET,
        "agent_id": AGENT_ID,
        "to_user": ("alice", "bob"),
        "api_url": f"{server.base_url}/cgi-bin/",
        **config,
    }
    return WeComAppReceiver(WeComAppConfig(name="oncall", **settings), renderer or Renderer())


def content(message: dict[str, Any]) -> str:
    text = message[message["msgtype"]]["content"]
    assert isinstance(text, str)
    return text


def contract_app(**kwargs: Any) -> App:
    return App(corp_id=CORP_ID, corp_secret=CORP_SECRET, agent_id=AGENT_ID, **kwargs)


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every log record, through the secret filter production attaches to its handler."""
    for name in ("", "httpx", "httpcore"):
        caplog.set_level(logging.DEBUG, logger=name)
    caplog.handler.addFilter(SECRETS)
    yield caplog
    caplog.handler.removeFilter(SECRETS)


# The group robot ------------------------------------------------------------------------


def test_robot_markdown_payload_is_what_the_group_sees() -> None:
    contract = Robot(KEY)
    with webhook_server(contract) as server:
        receiver = robot(server, mentioned_list=("alice",), renderer=Renderer(link_template=LINK))
        assert deliver(receiver, one()) == [None]
        request = server.all()[0].request
    assert request.headers["content-type"] == "application/json"
    [message] = contract.messages
    assert set(message) == {"msgtype", "markdown"}
    assert message["msgtype"] == "markdown"
    text = content(message)
    assert text.startswith('### <font color="warning">[FIRING]</font> Crash loop shop/web\n')
    assert "> Cluster: prod\n" in text
    assert "> Objects: Pod/shop/web-1 (+3 more)" in text
    assert "BackOff Pod/shop/web-1: Back-off restarting failed container web" in text
    assert f"[Details](https://grafana.example/d/events?fp={1:016x})" in text
    assert text.endswith("\n<@alice>")


def test_robot_text_mentions_go_in_payload_fields_not_in_text() -> None:
    contract = Robot(KEY)
    with webhook_server(contract) as server:
        receiver = robot(
            server, msgtype="text", mentioned_list=("alice", "@all"), mentioned_mobile_list=("13800001111",)
        )
        assert deliver(receiver, one(message="@all please look")) == [None]
    [message] = contract.messages
    assert message["text"]["mentioned_list"] == ["alice", "@all"]
    assert message["text"]["mentioned_mobile_list"] == ["13800001111"]
    assert "@all" not in content(message)
    assert f"@{ZERO_WIDTH_SPACE}all please look" in content(message)


@pytest.mark.parametrize(
    ("status", "severity", "floor", "mentioned"),
    [
        (IncidentStatus.FIRING, Severity.CRITICAL, Severity.CRITICAL, True),
        (IncidentStatus.FIRING, Severity.WARNING, Severity.CRITICAL, False),
        (IncidentStatus.RESOLVED, Severity.CRITICAL, Severity.CRITICAL, False),
        (IncidentStatus.FIRING, Severity.WARNING, Severity.WARNING, True),
        (IncidentStatus.FIRING, Severity.INFO, Severity.WARNING, False),
    ],
)
@pytest.mark.parametrize("msgtype", ["markdown", "text"])
def test_mentions_only_for_firing_incidents_at_or_above_the_floor(
    msgtype: str, status: IncidentStatus, severity: Severity, floor: Severity, mentioned: bool
) -> None:
    contract = Robot(KEY)
    with webhook_server(contract) as server:
        receiver = robot(server, msgtype=msgtype, mentioned_list=("alice",), mention_min_severity=floor)
        assert deliver(receiver, one(status=status, severity=severity)) == [None]
    [message] = contract.messages
    if msgtype == "markdown":
        assert ("<@alice>" in content(message)) is mentioned
    else:
        assert ("mentioned_list" in message["text"]) is mentioned


def test_a_digest_mentions_when_any_of_its_incidents_is_due() -> None:
    contract = Robot(KEY)
    digest = Notification(
        (incident(1, severity=Severity.WARNING), incident(2, status=IncidentStatus.RESOLVED), incident(3))
    )
    with webhook_server(contract) as server:
        assert deliver(robot(server, mentioned_list=("alice",)), digest) == [None]
    assert content(contract.messages[0]).endswith("<@alice>")


def test_wrong_key_is_permanent_and_the_reason_names_no_secret() -> None:
    wrong = "0b1c2d3e-0000-4bc4-97a0-0ec2f1fa5bad"
    contract = Robot(KEY)
    with webhook_server(contract) as server:
        receiver = robot(server, key=wrong)
        [error] = deliver(receiver, one())
    assert isinstance(error, PermanentError)
    assert "errcode 93000 (invalid webhook key" in str(error)
    assert receiver.target in str(error)
    assert wrong not in str(error)
    assert wrong not in receiver.target
    assert contract.messages == []


def test_vendor_rate_limit_is_retryable_after_a_minute() -> None:
    contract = Robot(KEY, limit=2)
    with webhook_server(contract) as server:
        outcomes = deliver(robot(server), one(n=1), one(n=2), one(n=3))
    assert outcomes[:2] == [None, None]
    assert isinstance(outcomes[2], RetryableError)
    assert outcomes[2].retry_after == 60
    assert "errcode 45009" in str(outcomes[2])
    assert len(contract.messages) == 2


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_retryable_and_nothing_is_doubled(status: int) -> None:
    contract = Robot(KEY)
    contract.outage.start(1, status)
    with webhook_server(contract) as server:
        outcomes = deliver(robot(server), one(), one())
    assert isinstance(outcomes[0], RetryableError)
    assert f"HTTP {status}" in str(outcomes[0])
    assert outcomes[1] is None
    assert len(contract.messages) == 1


def test_unknown_errcode_is_permanent_with_code_and_message() -> None:
    def respond(_index: int, _request: Request) -> Reply:
        return errcode(12345, "something new")

    with webhook_server(respond) as server:
        [error] = deliver(robot(server), one())
    assert isinstance(error, PermanentError)
    assert "errcode 12345 (unknown errcode): something new" in str(error)


@pytest.mark.parametrize(("msgtype", "limit"), [("markdown", 4096), ("text", 2048)])
def test_one_megabyte_message_is_cut_under_the_limit_and_still_mentions(msgtype: str, limit: int) -> None:
    huge = ("事件 event " * 70_000)[:1_000_000]
    contract = Robot(KEY)
    with webhook_server(contract) as server:
        receiver = robot(server, msgtype=msgtype, mentioned_list=("alice",))
        assert not receiver.fits(one(message=huge))
        assert deliver(receiver, one(message=huge)) == [None]
    [message] = contract.messages
    text = content(message)
    assert limit - 4 <= utf8_size(text) <= limit  # a cut character may leave up to 3 bytes unused
    if msgtype == "markdown":
        assert text.endswith(f"{TRUNCATION_MARKER}\n<@alice>")
    else:
        assert text.endswith(TRUNCATION_MARKER)
        assert message["text"]["mentioned_list"] == ["alice"]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_event_text_cannot_mention_link_or_reshape_a_markdown_message(hostile: str) -> None:
    contract = Robot(KEY)
    with webhook_server(contract) as server:
        deliver(robot(server), one(message="benign", everywhere=True), one(message=hostile, everywhere=True))
    benign, crafted = (content(m) for m in contract.messages)
    assert crafted.count("\n") == benign.count("\n")  # no new lines, so no headings or quotes of its own
    assert crafted.count("<font") == benign.count("<font")
    # Mentions in WeCom markdown are <@userid> (a bare @all is text); no tag, link, emphasis or
    # code may form, and nothing is escaped with a backslash or an entity WeCom would show.
    for forbidden in (
        "<@",
        "<at",
        "<a ",
        '<font color="info">ok',
        "](http",
        "http://",
        "https://",
        "**bold**",
        "`code`",
    ):
        assert forbidden not in crafted
    for escaped in ("\\_", "\\*", "\\[", "\\`", "&lt;", "&gt;", "&amp;"):
        assert escaped not in crafted or escaped in hostile
    if '"hi"' in hostile:
        assert 'he said "hi"' in crafted  # quotes are text, and the JSON body stays valid
    if "\ufffd" in hostile:
        assert "\ufffd" in crafted


@pytest.mark.parametrize("hostile", HOSTILE)
def test_event_text_cannot_mention_in_a_text_message(hostile: str) -> None:
    contract = Robot(KEY)
    with webhook_server(contract) as server:
        assert deliver(robot(server, msgtype="text"), one(message=hostile, everywhere=True)) == [None]
    [message] = contract.messages
    assert set(message["text"]) == {"content"}  # no mentioned_list the event could have asked for
    for forbidden in ("<@a", "@all"):
        assert forbidden not in content(message)


def test_a_lone_surrogate_does_not_stop_delivery() -> None:
    contract = Robot(KEY)
    with webhook_server(contract) as server:
        assert deliver(robot(server), one(message="bad \udcff byte")) == [None]
    assert "bad ? byte" in content(contract.messages[0])


def make_robot(server: WebhookServer) -> WeComReceiver:
    return robot(server, mentioned_list=("alice",))


def make_app(server: WebhookServer) -> WeComAppReceiver:
    return app(server, msgtype="markdown")


@pytest.mark.parametrize("make", [make_robot, make_app])
def test_a_digest_grows_only_while_it_fits_and_then_arrives_whole(make: Any) -> None:
    contract: Robot | App = Robot(KEY) if make is make_robot else contract_app()
    incidents = [incident(n, message=f"container {n} " + "x" * 120) for n in range(1, 200)]
    with webhook_server(contract) as server:
        receiver = make(server)
        size = 1
        while receiver.fits(Notification(tuple(incidents[: size + 1]))):
            size += 1
        assert 2 <= size < len(incidents) - 1
        fitting, over = Notification(tuple(incidents[:size])), Notification(tuple(incidents[: size + 1]))
        assert deliver(receiver, fitting, over) == [None, None]
    whole, cut = (content(m) for m in contract.messages)
    assert TRUNCATION_MARKER not in whole
    assert all(f"container {n} " in whole for n in range(1, size + 1))
    assert TRUNCATION_MARKER in cut


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", ["[FIRING]", "Crash loop shop/web", "> Severity: <font", ">critical<", "> Cluster: prod"]),
        ("zh", ["[告警]", "容器崩溃重启 shop/web", "> 级别：<font", ">严重<", "> 集群：prod", "(+3 更多)"]),
    ],
)
def test_templates_read_in_english_and_chinese(language: Language, expected: list[str]) -> None:
    contract = Robot(KEY)
    renderer = Renderer(language=language, timezone="Asia/Shanghai")
    closed = incident(2, status=IncidentStatus.RESOLVED, severity=Severity.WARNING)
    proof = SampleMessage(reason="Started", message="Started container web", object="Pod/shop/web-2", at=AT)
    recovered = closed.model_copy(update={"resolved_by": ResolvedBy.RECOVERY, "recovery": proof})
    quiet = closed.model_copy(update={"resolved_by": ResolvedBy.QUIET, "quiet_seconds": 900.0})
    with webhook_server(contract) as server:
        deliver(
            robot(server, renderer=renderer), one(), *(Notification((i,)) for i in (recovered, quiet, closed))
        )
    firing, *closings = (content(m) for m in contract.messages)
    for label in expected:
        assert label in firing
    assert "2026-11-27 16:00:00 +08:00" in firing
    assert "CST" not in firing
    words = {"en": ("RECOVERED", "QUIET", "CLOSED"), "zh": ("已恢复", "已静默", "已关闭")}[language]
    for text, word, colour in zip(closings, words, ("info", "comment", "comment"), strict=True):
        assert f'<font color="{colour}">[{word}]' in text
    assert words[0] not in closings[1] + closings[2]  # quiet, or a close without evidence, is no recovery
    assert "16:00 Started" in closings[0] if language == "zh" else "Started at 16:00" in closings[0]
    assert ("15 分钟无新事件" if language == "zh" else "no new events for 15 min") in closings[1]


def test_the_key_never_reaches_logs_errors_or_target(logs: pytest.LogCaptureFixture) -> None:
    def echo_key(index: int, request: Request) -> Reply:
        if index == 0:
            return errcode(0, "ok")
        return errcode(40058, f"bad request to {request.path}?key={request.query['key'][0]}")

    with webhook_server(echo_key) as server:
        receiver = robot(server)
        outcomes = deliver(receiver, one(), one())
    down = robot(WebhookServer(port=1))  # nothing listens: a transport error
    outcomes += deliver(down, one())
    assert outcomes[0] is None
    assert isinstance(outcomes[1], PermanentError)
    assert isinstance(outcomes[2], RetryableError)
    assert REDACTED in str(outcomes[1])
    assert "HTTP Request: POST" in logs.text  # httpx did log the URL, and it was scrubbed
    for shown in (logs.text, receiver.target, down.target, *map(str, outcomes)):
        assert KEY not in shown


@pytest.mark.parametrize(
    "config",
    [
        {"url": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"},
        {"url": "qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k"},
        {"url": f"https://h/?key={KEY}", "mentioned_list": ["@all"]},
        {"url": f"https://h/?key={KEY}", "mentioned_mobile_list": ["13800001111"]},
        {"url": f"https://h/?key={KEY}", "mentioned_list": ["al ice>"], "msgtype": "text"},
    ],
)
def test_config_mistakes_are_refused_at_startup(config: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        WeComConfig(name="ops", **config)


@given(
    text=st.text(max_size=3000),
    keep=st.sampled_from(["", "\n<@alice>", "\n<@alice> <@bob.ops>"]),
    limit=st.integers(min_value=40, max_value=4096),
)
def test_fit_never_exceeds_the_limit_and_keeps_mentions_whole(text: str, keep: str, limit: int) -> None:
    fitted = fit(text, limit, keep=keep)
    assert utf8_size(fitted) <= limit
    assert fitted.endswith(keep)
    orjson.dumps(fitted)  # always serializable, whatever the input held
    if utf8_size(text + keep) <= limit and text == text.encode(errors="replace").decode():
        assert fitted == text + keep
    else:
        assert TRUNCATION_MARKER in fitted or "?" in fitted


# The application ------------------------------------------------------------------------


def test_app_fetches_a_token_once_and_sends_to_the_configured_recipients() -> None:
    contract = contract_app()
    with webhook_server(contract) as server:
        receiver = app(server, to_party=("2",), to_tag=("7",))
        assert deliver(receiver, one(n=1), one(n=2), one(n=3)) == [None, None, None]
        requests = [received.request for received in server.all()]
    assert [r.method for r in requests] == ["GET", "POST", "POST", "POST"]
    assert requests[0].path == "/cgi-bin/gettoken"
    message = contract.messages[0]
    assert {k: v for k, v in message.items() if k != "text"} == {
        "msgtype": "text",
        "agentid": AGENT_ID,
        "touser": "alice|bob",
        "toparty": "2",
        "totag": "7",
    }
    assert content(message).startswith("[FIRING] Crash loop shop/web\nSeverity: critical\n")
    assert len(contract.inbox["alice"]) == len(contract.inbox["party:2"]) == 3


def test_app_refreshes_an_expired_token_once_and_delivers_once() -> None:
    contract = contract_app()
    with webhook_server(contract) as server:

        async def run() -> None:
            receiver = app(server)
            try:
                await receiver.send(one(n=1))
                contract.expire_tokens()
                await receiver.send(one(n=2))
            finally:
                await receiver.aclose()

        asyncio.run(run())
        methods = [received.request.method for received in server.all()]
    assert methods == ["GET", "POST", "POST", "GET", "POST"]
    assert ["Pod/shop/web-1" in content(m) for m in contract.messages] == [True, False]
    assert ["Pod/shop/web-2" in content(m) for m in contract.messages] == [False, True]


def test_app_gives_up_for_now_when_even_a_fresh_token_is_refused() -> None:
    contract = contract_app(expires_in=0)  # every token is expired on arrival
    with webhook_server(contract) as server:
        [error] = deliver(app(server), one())
        methods = [received.request.method for received in server.all()]
    assert isinstance(error, RetryableError)
    assert methods == ["GET", "POST", "GET", "POST"]
    assert contract.messages == []


def test_app_wrong_secret_is_permanent_and_nothing_is_sent() -> None:
    contract = contract_app()
    with webhook_server(contract) as server:
        receiver = app(server, corp_secret="wrong-secret-0000000000")
        [error] = deliver(receiver, one())
        methods = [received.request.method for received in server.all()]
    assert isinstance(error, PermanentError)
    assert "errcode 40001 (invalid corp_secret)" in str(error)
    assert "wrong-secret-0000000000" not in str(error)
    assert methods == ["GET"]


def test_app_rate_limit_and_outage_are_retryable() -> None:
    contract = contract_app(api_limit=1)
    with webhook_server(contract) as server:
        receiver = app(server)

        async def run() -> list[Exception | None]:
            outcomes: list[Exception | None] = []
            try:
                for step in ("ok", "throttled", "outage"):
                    if step == "outage":
                        contract.outage.start(1, 502)
                    try:
                        await receiver.send(one())
                        outcomes.append(None)
                    except DeliveryError as exc:
                        outcomes.append(exc)
            finally:
                await receiver.aclose()
            return outcomes

        ok, throttled, outage = asyncio.run(run())
    assert ok is None
    assert isinstance(throttled, RetryableError)
    assert throttled.retry_after == 60
    assert isinstance(outage, RetryableError)
    assert "HTTP 502" in str(outage)
    assert len(contract.messages) == 1


@pytest.mark.parametrize("msgtype", ["text", "markdown"])
def test_app_one_megabyte_message_is_cut_under_2048_bytes(msgtype: str) -> None:
    contract = contract_app()
    with webhook_server(contract) as server:
        assert deliver(app(server, msgtype=msgtype), one(message="告警 " * 400_000)) == [None]
    text = content(contract.messages[0])
    assert 2048 - 4 <= utf8_size(text) <= 2048
    assert text.endswith(TRUNCATION_MARKER)


def test_app_text_cannot_carry_a_link_tag() -> None:
    contract = contract_app()
    with webhook_server(contract) as server:
        assert deliver(app(server), one(message=HOSTILE[1], everywhere=True)) == [None]
    text = content(contract.messages[0])
    assert "<a " not in text
    # The tag is broken by an invisible character, not entity-escaped: WeCom shows entities as typed.
    assert (
        f'<{ZERO_WIDTH_SPACE}a href="https{ZERO_WIDTH_SPACE}://evil.example">ack<{ZERO_WIDTH_SPACE}/a>'
        in text
    )
    assert "&lt;" not in text


def test_app_secret_and_token_never_reach_logs_errors_or_target(logs: pytest.LogCaptureFixture) -> None:
    contract = contract_app()
    with webhook_server(contract) as server:
        receiver = app(server)

        async def run() -> Exception | None:
            try:
                await receiver.send(one())
                contract.outage.start(1, 500)
                await receiver.send(one())
            except DeliveryError as exc:
                return exc
            finally:
                await receiver.aclose()
            return None

        error = asyncio.run(run())
    [token] = contract.tokens
    assert isinstance(error, RetryableError)
    posts = [r.request for r in server.all() if r.request.method == "POST"]
    assert [request.query["access_token"] for request in posts] == [[token], [token]]  # on the wire
    assert "HTTP Request: GET" in logs.text
    assert "HTTP Request: POST" in logs.text
    for shown in (logs.text, receiver.target, str(error)):
        assert CORP_SECRET not in shown
        assert token not in shown


def test_app_default_budget_never_meets_the_silent_per_member_drop() -> None:
    contract = contract_app(per_member=30)
    with webhook_server(contract) as server:
        receiver = app(server, to_user=("alice",))
        assert deliver(receiver, *(one(n=n) for n in range(31))) == [None] * 31
    assert contract.dropped == 1  # WeCom answered ok, and alice never saw it
    now = 0.0
    budget = Budget(receiver.rate_limits, clock=lambda: now)
    for _ in range(30):
        assert budget.wait_seconds() == 0
        budget.take()
    assert budget.wait_seconds() > 0  # the 31st waits: pacing, not WeCom, decides


def test_app_needs_a_recipient() -> None:
    with pytest.raises(ValidationError, match="to_user"):
        WeComAppConfig(name="oncall", corp_id=CORP_ID, corp_secret=CORP_SECRET, agent_id=AGENT_ID)


def test_robot_markdown_v2_has_no_colours_or_mentions() -> None:
    """markdown_v2 renders lists and tables but neither <font> nor <@userid>: the template says
    the status in bold instead, and a mention is a configuration error, not a silent no-op."""
    contract = Robot(KEY)
    with webhook_server(contract) as server:
        assert deliver(robot(server, msgtype="markdown_v2"), one(message=HOSTILE[2], everywhere=True)) == [
            None
        ]
    [message] = contract.messages
    assert set(message) == {"msgtype", "markdown_v2"}
    text = content(message)
    assert text.startswith("### **[FIRING]** ")
    assert "<font" not in text.replace(f"<{ZERO_WIDTH_SPACE}font", "")
    with pytest.raises(ValidationError, match="markdown_v2 messages cannot mention"):
        WeComConfig(
            name="ops",
            url=f"https://qyapi.weixin.qq.com{ROBOT_PATH}?key=k",
            msgtype="markdown_v2",
            mentioned_list=("alice",),
        )
