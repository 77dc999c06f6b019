"""No 2xx answer that carries a vendor's error code counts as a delivery.

Every receiver against the vendor's contract server in tests/support/vendors/ (real HTTP on
127.0.0.1): the vendor answers 2xx with its error code, ``send`` raises the class the vendor
means (with the pause it asks for), and the message never holds the secret, even when the
vendor echoes the request URL into its error text.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlencode

import orjson
import pytest
import yaml
from pydantic import BaseModel

from notifiers.errors import DeliveryError, PermanentError, RetryableError
from notifiers.markup import TRUNCATION_MARKER, utf8_size
from notifiers.notification import Notification
from notifiers.receivers import REGISTRY, Receiver
from notifiers.runner import build_receiver
from notifiers.templating import Renderer
from runtime.config import ConfigError, load_config
from runtime.redact import REDACTED
from schemas import Incident, IncidentStatus, SampleMessage, Severity
from tests.support.vendors.dingtalk import DingTalkRobot
from tests.support.vendors.feishu import FeishuBot
from tests.support.vendors.slack import SlackWebhook
from tests.support.vendors.teams import TeamsConnector, TeamsWorkflow
from tests.support.vendors.wecom import ROBOT_PATH, App, Robot
from tests.support.webhook_server import Reply, Request, Responder, WebhookServer, webhook_server

AT = datetime(2026, 11, 27, 8, tzinfo=UTC)
WECOM_KEY = "693a91f6-7aaa-4bc4-97a0-0ec2f1fa5aaa"
WRONG_KEY = "0b1c2d3e-0000-4bc4-97a0-0ec2f1fa5bad"
CORP_SECRET = "Sx9-corp-secret-4f1e2d3c4b5a69788796a5b4c3d2e1f0"
DINGTALK_TOKEN = "5f0c1d2e3a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f"
DINGTALK_SECRET = "SEC7a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6071829"
FEISHU_TOKEN = "2f3e4d5c-6b7a-8901-2345-6789abcdef01"
FEISHU_SECRET = "SEC-feishu-signing-s3cret"
SLACK_SECRET = "q8Zr2LxW9vNcT4hJ6mKp1sYd"
SLACK_PATH = f"/services/T0HERALD1/B0HERALD2/{SLACK_SECRET}"
TEAMS_SIG = "Xy7-Qm2Lp9Rt4Vn8Kc1Wz6Hb3Jd5Fg0SaE2uIoP4k"
TEAMS_PATH = "/workflows/3f2a9c7e5b1d4e8fa0c6b2d9e7f1a3c5/triggers/manual/paths/invoke"
TEAMS_QUERY = f"api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={TEAMS_SIG}"
CONNECTOR_PATH = "/webhookb2/7d3c9a51-0f4e-4b6a-9c2d-1e8f7a6b5c4d@contoso/IncomingWebhook/4f8e2d1c9b7a/x"
HEADER_TOKEN = "Bearer-h3ader-5ecret-token"
SECRETS = (
    WECOM_KEY,
    WRONG_KEY,
    CORP_SECRET,
    DINGTALK_TOKEN,
    DINGTALK_SECRET,
    FEISHU_TOKEN,
    FEISHU_SECRET,
    SLACK_SECRET,
    TEAMS_SIG,
    HEADER_TOKEN,
)

WECOM_TEXT_BODY = '{{ {"msgtype": "text", "text": {"content": text[:1500]}} | tojson }}'
SLACK_TEXT_BODY = '{{ {"text": text[:3000]} | tojson }}'
TEAMS_CARD_BODY = (
    '{{ {"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", '
    '"content": {"type": "AdaptiveCard", "version": "1.4", '
    '"body": [{"type": "TextBlock", "text": text[:2000]}]}}]} | tojson }}'
)


def incident(message: str = "Back-off restarting failed container web") -> Incident:
    return Incident(
        fingerprint="00000000000000a1",
        version=1,
        status=IncidentStatus.FIRING,
        severity=Severity.CRITICAL,
        category="crash-loop",
        title="BackOff: Pod/shop/web-1",
        cluster="prod",
        namespace="shop",
        workload="web",
        occurrences=3,
        first_seen=AT,
        last_seen=AT,
        objects=["Pod/shop/web-1"],
        objects_total=1,
        samples=[SampleMessage(reason="BackOff", message=message, object="Pod/shop/web-1", at=AT)],
        emitted_at=AT,
    )


def one(message: str = "Back-off restarting failed container web") -> Notification:
    return Notification((incident(message),))


def make(kind: str, renderer: Renderer | None = None, **settings: Any) -> Receiver:
    factory = REGISTRY[kind]
    config: BaseModel = factory.config_model.model_validate({"name": kind, "type": kind, **settings})
    return factory(config, renderer or Renderer())


def outcome(receiver: Receiver, *notifications: Notification) -> list[DeliveryError | None]:
    """Send each in turn on one event loop; what each send raised (None: delivered)."""

    async def run() -> list[DeliveryError | None]:
        found: list[DeliveryError | None] = []
        try:
            for notification in notifications:
                try:
                    await receiver.send(notification)
                    found.append(None)
                except DeliveryError as exc:
                    found.append(exc)
        finally:
            await receiver.aclose()
        return found

    return asyncio.run(run())


def leaky(respond: Responder) -> Responder:
    """The vendor's own answer, with the request's URL echoed into its error text, as vendors
    do in hints: a receiver that shows the answer must still never show a secret."""

    def answer(index: int, request: Request) -> Reply:
        status, headers, body = respond(index, request)
        echoed = f" (request {request.path}?{urlencode(request.query, doseq=True)})"
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            data = None
        if isinstance(data, dict):
            for key in ("errmsg", "msg"):
                if isinstance(data.get(key), str) and data.get("errcode", data.get("code")) not in (0, None):
                    data[key] += echoed
            return status, headers, orjson.dumps(data)
        if body.startswith(b"Webhook message delivery failed"):
            return status, headers, body + echoed.encode()
        return status, headers, body

    return answer


def assert_no_secret(error: DeliveryError | None) -> None:
    assert error is not None
    shown = f"{error} {error!r}"
    leaked = [secret for secret in SECRETS if secret in shown]
    assert not leaked, f"leaked {leaked} in {shown}"


@contextmanager
def serving(respond: Responder) -> Iterator[WebhookServer]:
    with webhook_server(leaky(respond)) as server:
        yield server


def wecom_url(server: WebhookServer, key: str = WECOM_KEY) -> str:
    return f"{server.base_url}{ROBOT_PATH}?key={key}"


def wecom_errcodes(server: WebhookServer) -> list[int]:
    return [orjson.loads(r.reply)["errcode"] for r in server.all()]


# WeCom group robot ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("script", "code", "pause"),
    [
        (None, 45009, 60.0),  # over the robot's 20 a minute
        ((45033, "api concurrent out of limit"), 45033, 60.0),
        ((-1, "system busy"), -1, None),
    ],
)
def test_wecom_rate_limit_and_busy_answers_are_retried_not_delivered(
    script: tuple[int, str] | None, code: int, pause: float | None
) -> None:
    robot = Robot(WECOM_KEY, limit=0 if script is None else 20)
    if script is not None:
        robot.answer_next(*script)
    with serving(robot) as server:
        [error] = outcome(make("wecom", url=wecom_url(server)), one())
    assert isinstance(error, RetryableError)
    assert error.retry_after == pause
    assert f"errcode {code}" in str(error)
    assert REDACTED in str(error)  # the echoed key, scrubbed
    assert_no_secret(error)
    assert robot.messages == []
    assert wecom_errcodes(server) == [code], "one request: a refusal is not resent at once"


def test_wecom_invalid_key_93000_is_permanent() -> None:
    robot = Robot(WECOM_KEY)
    with serving(robot) as server:
        [error] = outcome(make("wecom", url=wecom_url(server, WRONG_KEY)), one())
    assert type(error) is PermanentError
    assert "errcode 93000 (invalid webhook key" in str(error)
    assert_no_secret(error)
    assert robot.messages == []


@pytest.mark.parametrize(
    ("msgtype", "mentions", "lowered"),
    [("markdown", {"mentioned_list": ["alice"]}, 1500), ("text", {"mentioned_list": ["@all"]}, 900)],
)
def test_wecom_40058_is_sent_again_cut_until_the_robot_takes_it(
    msgtype: str, mentions: dict[str, Any], lowered: int
) -> None:
    robot = Robot(WECOM_KEY, limits={msgtype: lowered})  # WeCom counting its own way
    with serving(robot) as server:
        receiver = make("wecom", url=wecom_url(server), msgtype=msgtype, **mentions)
        [error] = outcome(receiver, one("告警 event " * 2000))
    assert error is None
    assert wecom_errcodes(server) == [40058, 40058, 0], "the full size, half of it, then a quarter"
    sizes = [utf8_size(orjson.loads(r.body)[msgtype]["content"]) for r in server.all()]
    assert sizes[1] <= sizes[0] // 2
    assert sizes[2] <= sizes[1] // 2
    [message] = robot.messages
    content = message[msgtype]["content"]
    assert utf8_size(content) <= lowered
    if msgtype == "markdown":
        assert content.endswith(f"{TRUNCATION_MARKER}\n<@alice>"), "cut visibly, the mention kept"
    else:
        assert content.endswith(TRUNCATION_MARKER)
        assert message["text"]["mentioned_list"] == ["@all"]


def test_wecom_40058_after_two_cuts_is_permanent_saying_the_length_was_refused() -> None:
    robot = Robot(WECOM_KEY, limits={"markdown": 300})
    with serving(robot) as server:
        [error] = outcome(make("wecom", url=wecom_url(server)), one("x" * 20_000))
    assert type(error) is PermanentError
    assert "refused the length" in str(error)
    assert "errcode 40058" in str(error)
    assert_no_secret(error)
    assert wecom_errcodes(server) == [40058, 40058, 40058]
    assert robot.messages == []


def test_wecom_a_short_message_refused_with_40058_is_not_resent_forever() -> None:
    """40058 is also WeCom's "invalid parameter": a message that is short already is cut at
    most twice, never below what can hold the truncation marker."""
    robot = Robot(WECOM_KEY, limits={"markdown": 5})
    with serving(robot) as server:
        [error] = outcome(make("wecom", url=wecom_url(server)), one())
    assert type(error) is PermanentError
    assert "refused the length" in str(error)
    assert 1 <= len(server.all()) <= 3


@pytest.mark.parametrize(
    "reply",
    [
        (200, {"content-type": "text/html"}, f"<html>proxy login for {WECOM_KEY}</html>".encode()),
        (200, {}, b""),
        (200, {"content-type": "application/json"}, b'{"errcode": false, "errmsg": "ok"}'),
        (200, {"content-type": "application/json"}, b'{"errmsg": "ok"}'),
    ],
)
def test_wecom_a_2xx_without_an_integer_errcode_is_not_a_delivery(reply: Reply) -> None:
    with webhook_server(lambda _i, _r: reply) as server:
        [error] = outcome(make("wecom", url=wecom_url(server)), one())
    assert type(error) is PermanentError
    assert_no_secret(error)


# WeCom application messages ------------------------------------------------------------


def wecom_app(server: WebhookServer) -> Receiver:
    return make(
        "wecom_app",
        corp_id="ww0123456789abcdef",
        corp_secret=CORP_SECRET,
        agent_id=1000002,
        to_user=["alice"],
        api_url=f"{server.base_url}/cgi-bin",
    )


def test_wecom_app_rate_limit_is_retried_and_an_expired_token_is_refreshed() -> None:
    app = App(corp_id="ww0123456789abcdef", corp_secret=CORP_SECRET, agent_id=1000002, api_limit=1)
    with serving(app) as server:
        receiver = wecom_app(server)
        results = outcome(receiver, one(), one())
    assert results[0] is None
    assert isinstance(results[1], RetryableError)
    assert results[1].retry_after == 60
    assert "errcode 45009" in str(results[1])
    assert_no_secret(results[1])
    assert len(app.messages) == 1

    app = App(corp_id="ww0123456789abcdef", corp_secret=CORP_SECRET, agent_id=1000002)
    with serving(app) as server:
        receiver = wecom_app(server)

        async def twice() -> None:
            await receiver.send(one())
            app.expire_tokens()  # 42001 on the next send: refresh, then deliver
            await receiver.send(one())
            await receiver.aclose()

        asyncio.run(twice())
    assert len(app.messages) == 2
    assert [r.request.path for r in server.all()].count("/cgi-bin/gettoken") == 2


# DingTalk custom robot -----------------------------------------------------------------


def dingtalk_url(server: WebhookServer) -> str:
    return f"{server.base_url}/robot/send?access_token={DINGTALK_TOKEN}"


@pytest.mark.parametrize(
    ("robot", "settings", "error", "pause", "shown"),
    [
        ({"per_minute": 0}, {}, RetryableError, 60.0, "errcode 130101, robot throttled"),
        ({"keyword": "集群告警"}, {}, PermanentError, None, "errcode 310000, security check failed"),
        ({"secret": DINGTALK_SECRET}, {"secret": "SEC-a-wrong-one"}, PermanentError, None, "errcode 310000"),
        ({"max_body_bytes": 500}, {}, PermanentError, None, "errcode 460101"),
    ],
)
def test_dingtalk_error_codes_in_a_200_are_never_a_delivery(
    robot: dict[str, Any],
    settings: dict[str, Any],
    error: type[DeliveryError],
    pause: float | None,
    shown: str,
) -> None:
    contract = DingTalkRobot(access_token=DINGTALK_TOKEN, **robot)
    with serving(contract) as server:
        [raised] = outcome(make("dingtalk", url=dingtalk_url(server), **settings), one())
    assert type(raised) is error
    assert raised.retry_after == pause if isinstance(raised, RetryableError) else pause is None
    assert shown in str(raised)
    assert_no_secret(raised)
    assert contract.messages == []


# Feishu / Lark custom bot --------------------------------------------------------------


@pytest.mark.parametrize(
    ("bot", "settings", "error", "shown"),
    [
        ({"per_second": 0}, {}, RetryableError, "code 11232"),
        ({"secret": FEISHU_SECRET}, {"secret": "a-wrong-signing-secret"}, PermanentError, "code 19021"),
        ({"keyword": "集群告警"}, {}, PermanentError, "code 19024"),
    ],
)
def test_feishu_error_codes_in_a_200_are_never_a_delivery(
    bot: dict[str, Any], settings: dict[str, Any], error: type[DeliveryError], shown: str
) -> None:
    contract = FeishuBot(FEISHU_TOKEN, **bot)
    with serving(contract) as server:
        url = f"{server.base_url}{contract.path}"
        [raised] = outcome(make("feishu", url=url, **settings), one())
    assert type(raised) is error
    if isinstance(raised, RetryableError):
        assert raised.retry_after == 5.0
    assert shown in str(raised)
    assert_no_secret(raised)
    assert contract.messages == []


@pytest.mark.parametrize(
    ("kind", "answer"),
    [
        ("wecom", {"errcode": False, "errmsg": "ok"}),
        ("dingtalk", {"errcode": False, "errmsg": "ok"}),
        ("feishu", {"code": False, "msg": "success"}),
        ("feishu", {"StatusCode": False}),
    ],
)
def test_json_false_is_not_a_zero_code(kind: str, answer: dict[str, Any]) -> None:
    with webhook_server(lambda _i, _r: (200, {}, orjson.dumps(answer))) as server:
        url = {
            "wecom": wecom_url(server),
            "dingtalk": dingtalk_url(server),
            "feishu": f"{server.base_url}/open-apis/bot/v2/hook/{FEISHU_TOKEN}",
        }[kind]
        [raised] = outcome(make(kind, url=url), one())
    assert type(raised) is PermanentError


# Slack ---------------------------------------------------------------------------------


@pytest.mark.parametrize("answers", ["text", "json"])
def test_slack_ok_and_json_ok_true_are_both_deliveries(answers: Literal["text", "json"]) -> None:
    contract = SlackWebhook(path=SLACK_PATH, messages=100, answers=answers)
    with serving(contract) as server:
        results = outcome(make("slack", url=f"{server.base_url}{SLACK_PATH}"), one(), one())
    assert results == [None, None]
    assert len(contract.messages) == 2
    assert [r.reply for r in server.all()] == ([b"ok"] * 2 if answers == "text" else [b'{"ok":true}'] * 2)


def test_slack_json_ok_false_is_permanent_and_rate_limits_are_retried() -> None:
    contract = SlackWebhook(path=SLACK_PATH, messages=100, answers="json")
    contract.fail(400, "invalid_payload")  # answered as HTTP 200 {"ok": false, ...}
    contract.fail(200, "ratelimited", retry_after=7)
    contract.fail(200, "rate_limited")
    with serving(contract) as server:
        results = outcome(make("slack", url=f"{server.base_url}{SLACK_PATH}"), one(), one(), one(), one())
    assert [r.status for r in server.all()] == [200, 200, 200, 200]
    invalid, limited, limited_bare, delivered = results
    assert type(invalid) is PermanentError
    assert "invalid_payload" in str(invalid)
    assert isinstance(limited, RetryableError)
    assert limited.retry_after == 7
    assert isinstance(limited_bare, RetryableError)
    assert limited_bare.retry_after == 1.0
    assert delivered is None
    assert len(contract.messages) == 1
    for error in (invalid, limited, limited_bare):
        assert_no_secret(error)


def test_slack_json_mode_keeps_429_as_a_status() -> None:
    contract = SlackWebhook(path=SLACK_PATH, answers="json")  # one a second
    with serving(contract) as server:
        results = outcome(make("slack", url=f"{server.base_url}{SLACK_PATH}"), one(), one())
    assert results[0] is None
    assert isinstance(results[1], RetryableError)
    assert results[1].retry_after == 1
    assert "HTTP 429" in str(results[1])


# Microsoft Teams -----------------------------------------------------------------------


def test_teams_workflows_202_is_a_delivery() -> None:
    contract = TeamsWorkflow(path=TEAMS_PATH, sig=TEAMS_SIG)
    with serving(contract) as server:
        [result] = outcome(make("teams", url=f"{server.base_url}{TEAMS_PATH}?{TEAMS_QUERY}"), one())
    assert result is None
    assert [r.status for r in server.all()] == [202]
    assert len(contract.cards) == 1


def test_teams_connector_200_wrapping_an_error_is_not_a_delivery() -> None:
    contract = TeamsConnector(path=CONNECTOR_PATH, messages=1)
    with serving(contract) as server:
        url = f"{server.base_url}{CONNECTOR_PATH}?sig={TEAMS_SIG}"
        ok, throttled = outcome(make("teams", url=url), one(), one())
        [removed] = outcome(make("teams", url=f"{server.base_url}/webhookb2/gone?sig={TEAMS_SIG}"), one())
    assert ok is None
    assert [r.status for r in server.all()] == [200, 200, 200]
    assert server.all()[0].reply == b"1"
    assert isinstance(throttled, RetryableError)
    assert "wrapping HTTP 429" in str(throttled)
    assert type(removed) is PermanentError
    assert "wrapping HTTP 400" in str(removed)
    for error in (throttled, removed):
        assert_no_secret(error)
    assert len(contract.cards) == 1


# Generic webhook -----------------------------------------------------------------------


def templates(tmp_path: Path, body: str) -> Renderer:
    (tmp_path / "body.json.j2").write_text(body)
    return Renderer(templates_dir=tmp_path)


WECOM_SUCCESS = {"status": [200], "field": "errcode", "equals": 0, "retryable": [45009, 45033, -1]}


def test_webhook_success_condition_reads_a_robots_errcode(tmp_path: Path) -> None:
    robot = Robot(WECOM_KEY, limit=1)
    renderer = templates(tmp_path, WECOM_TEXT_BODY)
    with serving(robot) as server:

        def hook(url: str, **success: Any) -> Receiver:
            return make(
                "webhook",
                renderer,
                url=url,
                body_template="body.json.j2",
                success={**WECOM_SUCCESS, **success},
            )

        delivered, limited = outcome(hook(wecom_url(server), retry_after_seconds=30), one(), one())
        [refused] = outcome(hook(wecom_url(server, WRONG_KEY)), one())
        # Without a condition the same refusal would count as delivered: why the setting exists.
        [unchecked] = outcome(
            make("webhook", renderer, url=wecom_url(server, WRONG_KEY), body_template="body.json.j2"), one()
        )
    assert delivered is None
    assert isinstance(limited, RetryableError)
    assert limited.retry_after == 30
    assert "errcode = 45009, retryable" in str(limited)
    assert type(refused) is PermanentError
    assert "errcode = 93000, not 0" in str(refused)
    assert unchecked is None
    assert len(robot.messages) == 1
    for error in (limited, refused):
        assert_no_secret(error)


def test_webhook_success_condition_reads_slacks_ok_true(tmp_path: Path) -> None:
    contract = SlackWebhook(path=SLACK_PATH, messages=100, answers="json")
    contract.fail(404, "channel_not_found")  # answered HTTP 200 {"ok": false, ...}
    success = {"field": "ok", "equals": True}
    with serving(contract) as server:
        receiver = make(
            "webhook",
            templates(tmp_path, SLACK_TEXT_BODY),
            url=f"{server.base_url}{SLACK_PATH}",
            body_template="body.json.j2",
            success=success,
        )
        gone, delivered = outcome(receiver, one(), one())
    assert [r.status for r in server.all()] == [200, 200]
    assert type(gone) is PermanentError
    assert "ok = false, not true" in str(gone)
    assert "channel_not_found" in str(gone)
    assert delivered is None
    assert len(contract.messages) == 1
    assert_no_secret(gone)


@pytest.mark.parametrize(("statuses", "delivered"), [([200], False), ([200, 202], True)])
def test_webhook_success_statuses(tmp_path: Path, statuses: list[int], delivered: bool) -> None:
    contract = TeamsWorkflow(path=TEAMS_PATH, sig=TEAMS_SIG)
    with serving(contract) as server:
        receiver = make(
            "webhook",
            templates(tmp_path, TEAMS_CARD_BODY),
            url=f"{server.base_url}{TEAMS_PATH}?{TEAMS_QUERY}",
            body_template="body.json.j2",
            success={"status": statuses},
        )
        [result] = outcome(receiver, one())
    assert [r.status for r in server.all()] == [202]
    if delivered:
        assert result is None
    else:
        assert type(result) is PermanentError
        assert "HTTP 202, not a success status (200)" in str(result)
        assert_no_secret(result)


@pytest.mark.parametrize(
    ("reply", "shown"),
    [
        ((200, {}, f"<html>log in again, {HEADER_TOKEN}</html>".encode()), "without JSON: <html>log in"),
        ((200, {}, orjson.dumps({"data": {"status": "ok"}, "key": WECOM_KEY})), "without `data.code`"),
        ((200, {}, orjson.dumps({"data": {"code": "0"}})), 'data.code = "0", not 0'),
        ((200, {}, orjson.dumps({"data": {"code": False}})), "data.code = false, not 0"),
        ((200, {"retry-after": "12"}, orjson.dumps({"data": {"code": 7}})), "data.code = 7, retryable"),
    ],
)
def test_webhook_answers_that_miss_the_condition(reply: Reply, shown: str) -> None:
    with webhook_server(lambda _i, _r: reply) as server:
        receiver = make(
            "webhook",
            url=f"{server.url}?key={WECOM_KEY}",
            headers={"authorization": HEADER_TOKEN},
            success={"field": "data.code", "equals": 0, "retryable": [7]},
        )
        [error] = outcome(receiver, one())
    assert isinstance(error, DeliveryError)
    assert shown in str(error)
    if "retryable" in shown:
        assert isinstance(error, RetryableError)
        assert error.retry_after == 12
    else:
        assert type(error) is PermanentError
    assert_no_secret(error)


def test_webhook_field_path_reaches_into_lists_and_1_equals_1_0() -> None:
    answer = orjson.dumps({"results": [{"status": 1.0}]})
    with webhook_server(lambda _i, _r: (200, {}, answer)) as server:
        receiver = make("webhook", url=server.url, success={"field": "results.0.status", "equals": 1})
        assert outcome(receiver, one()) == [None]


@pytest.mark.parametrize(
    ("success", "located", "expected"),
    [
        ({"field": "errcode"}, "receivers[0].success", "set `equals`"),
        ({"equals": 0}, "receivers[0].success", "set `field` too"),
        ({}, "receivers[0].success", "set `status`, `field`"),
        ({"status": [404]}, "receivers[0].success.status[0]", "less than or equal to 299 (got 404)"),
        ({"status": []}, "receivers[0].success", "`status` lists no status"),
        ({"field": "a..b", "equals": 0}, "receivers[0].success.field", "should match pattern"),
        ({"field": "ok", "equals": True, "retryable": [True]}, "receivers[0].success", "must not hold"),
        ({"field": "ok", "equals": {"a": 1}}, "receivers[0].success.equals", "expected a number, a string"),
        ({"field": "ok", "equals": 0, "retryable": [[1]]}, "receivers[0].success.retryable[0]", "expected"),
        ({"field": "ok", "equals": True, "retry": [1]}, "receivers[0].success.retry", "unknown key"),
    ],
)
def test_webhook_success_mistakes_are_located(
    tmp_path: Path, success: dict[str, Any], located: str, expected: str
) -> None:
    path = tmp_path / "herald.yaml"
    entry = {"name": "hook", "type": "webhook", "url": "https://example.com/h", "success": success}
    path.write_text(yaml.safe_dump({"kafka": {"bootstrap_servers": "127.0.0.1:1"}, "receivers": [entry]}))
    with pytest.raises(ConfigError) as caught:
        build_receiver(load_config(path, env={}), "hook")
    [issue] = caught.value.issues  # one located error per mistake, not one per union member
    assert f"herald.yaml:{issue.line}: {located}: " in str(issue)
    assert expected in str(issue)
