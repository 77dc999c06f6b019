"""The DingTalk (钉钉) custom group robot: markdown or text messages, optionally signed.

The robot answers HTTP 200 with an ``errcode`` in the body, refuses bodies over 20000
bytes, throttles itself for ten minutes after more than 20 messages in a minute, and
with the keyword security setting drops every message that lacks the keyword. So the
body is measured as sent (JSON escapes included), the keyword and the configured
mentions are placed where truncation cannot cut them, and a throttled robot is
retried after a long pause.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any, ClassVar, Literal
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import orjson
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from notifiers.errors import PermanentError, RetryableError
from notifiers.http import MAX_BODY_SHOWN, post, pretty_json
from notifiers.markup import truncate_json_text, truncate_utf8
from notifiers.notification import Notification
from notifiers.pacing import RateLimit
from notifiers.templating import Renderer
from runtime.log import register_secrets
from runtime.redact import redact_url, scrub, url_secrets
from schemas import IncidentStatus, Severity

MAX_BODY_BYTES = 20_000
"""errcode 460101 above this; measured on the JSON body as sent."""
MAX_TITLE_BYTES = 200
"""Our cap, not DingTalk's: the title is the one-line preview of a push notification."""
THROTTLED_RETRY_SECONDS = 60.0
"""A 130101 robot stays throttled for up to ten minutes from a moment we do not know (another
sender may have tripped it): probing once a minute costs at most ten refused requests and
resumes within a minute of the end, inside the default ten-minute retry budget."""

SYSTEM_BUSY = -1
"""DingTalk's platform-wide "系统繁忙, retry later" (not listed for robots specifically)."""
SENDING_TOO_FAST = 130101
SECURITY_CHECK_FAILED = 310000
BODY_TOO_LARGE = 460101
HINTS = {
    SECURITY_CHECK_FAILED: "security check failed (keyword missing, bad signing secret, clock skew "
    "over one hour, or IP not allowed)",
    BODY_TOO_LARGE: f"message over {MAX_BODY_BYTES} bytes",
}

DEFAULT_TITLE = (
    "{% if digest %}{{ incidents | length }} {{ t.digest }}{{ sep }}{{ incident.headline }} …"
    "{% else %}[{{ incident.state_label }}] {{ incident.severity_label }} · {{ incident.headline }}"
    "{% endif %}"
)


class DingTalkConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    type: Literal["dingtalk"] = "dingtalk"
    url: SecretStr = Field(
        description="The robot's Webhook URL, https://oapi.dingtalk.com/robot/send?access_token=…"
    )
    secret: SecretStr | None = Field(
        None, description="Signing secret (SEC…) when the robot's security setting is 加签 (signature)."
    )
    keyword: str | None = Field(
        None,
        min_length=1,
        max_length=100,
        description="Custom keyword (自定义关键词) of the robot's security setting; put in every message.",
    )
    msgtype: Literal["markdown", "text"] = Field("markdown", description="DingTalk message type.")
    markdown_template: str = Field("dingtalk.md.j2", description="Template file of the markdown text.")
    text_template: str = Field("dingtalk.text.j2", description="Template file of the text message.")
    title_template: str = Field(
        DEFAULT_TITLE,
        description="Inline Jinja template of the markdown title, the preview in push notifications.",
    )
    at_mobiles: tuple[str, ...] = Field((), max_length=20, description="Mobile numbers to mention.")
    at_user_ids: tuple[str, ...] = Field((), max_length=20, description="DingTalk user ids to mention.")
    at_all: bool = Field(False, description="Mention everyone in the group (@所有人).")
    mention_min_severity: Severity = Field(
        Severity.CRITICAL, description="Mentions go only with firing incidents at or above this severity."
    )
    timeout_seconds: float = Field(10.0, gt=0, le=120, description="Per HTTP request.")
    rate_limits: tuple[RateLimit, ...] = Field(
        (RateLimit(messages=20, per_seconds=60),),
        description="20 messages a minute per robot; beyond it DingTalk throttles the robot for 10 minutes.",
    )

    @field_validator("url")
    @classmethod
    def _has_access_token(cls, url: SecretStr) -> SecretStr:
        if not parse_qs(urlsplit(url.get_secret_value()).query).get("access_token"):
            raise ValueError("expected the robot's Webhook URL, with ?access_token=… in it")
        return url

    @field_validator("at_mobiles", "at_user_ids")
    @classmethod
    def _mentionable(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        for value in values:
            if not value or any(c.isspace() or c == "@" for c in value) or len(value) > 64:
                raise ValueError(
                    f"{value!r} is not a mobile number or user id (1-64 characters, no spaces, no @)"
                )
        return values


def sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's request signature: base64 of HMAC-SHA256(secret, "<timestamp>\\n<secret>")."""
    string_to_sign = f"{timestamp_ms}\n{secret}".encode()
    return base64.b64encode(hmac.new(secret.encode(), string_to_sign, hashlib.sha256).digest()).decode()


def signed_url(url: str, secret: str, timestamp_ms: int) -> str:
    """The URL with ``timestamp`` and the percent-encoded ``sign``: an unencoded ``+`` in the
    base64 would reach DingTalk as a space and fail the check."""
    return f"{url}&timestamp={timestamp_ms}&sign={quote(sign(secret, timestamp_ms), safe='')}"


def _raise_for_answer(response: httpx.Response, *, target: str, secrets: list[str]) -> None:
    """Read the robot's ``{"errcode": N, "errmsg": "…"}`` (HTTP errors were raised already)."""
    try:
        answer = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        answer = None
    # type() rather than isinstance(): JSON false is no errcode 0.
    if not isinstance(answer, dict) or type(answer.get("errcode")) is not int:
        shown = scrub(response.text, secrets)[:MAX_BODY_SHOWN]  # scrub first: a cut secret would not match
        raise PermanentError(f"{target} answered without an errcode: {shown}")
    code = answer["errcode"]
    if code == 0:
        return
    errmsg = scrub(str(answer.get("errmsg", "")), secrets)[:MAX_BODY_SHOWN]
    if code == SENDING_TOO_FAST:
        raise RetryableError(
            f"{target}: errcode {code}, robot throttled: {errmsg}", retry_after=THROTTLED_RETRY_SECONDS
        )
    if code == SYSTEM_BUSY:
        raise RetryableError(f"{target}: errcode {code}, DingTalk busy: {errmsg}")
    hint = HINTS.get(code, "refused")
    raise PermanentError(f"{target}: errcode {code}, {hint}: {errmsg}")


class DingTalkReceiver:
    config_model: ClassVar[type[BaseModel]] = DingTalkConfig
    type = "dingtalk"

    def __init__(self, config: BaseModel, renderer: Renderer) -> None:
        assert isinstance(config, DingTalkConfig)
        self.name = config.name
        self.rate_limits = config.rate_limits
        self._config = config
        self._renderer = renderer
        self._url = config.url.get_secret_value()
        self._secret = config.secret.get_secret_value() if config.secret else None
        self._secrets = [*url_secrets(self._url), *([self._secret] if self._secret else [])]
        register_secrets(self._secrets)
        mentions = " ".join(f"@{who}" for who in (*config.at_mobiles, *config.at_user_ids))
        # DingTalk highlights a mention only when the text carries it too.
        self._mention_text = f"\n\n{mentions}" if mentions else ""
        self._at: dict[str, Any] = {
            "atMobiles": list(config.at_mobiles),
            "atUserIds": list(config.at_user_ids),
            "isAtAll": config.at_all,
        }
        self._client = httpx.AsyncClient(timeout=config.timeout_seconds)

    @property
    def target(self) -> str:
        return redact_url(self._url)

    def _mentions(self, notification: Notification) -> bool:
        config = self._config
        if not (config.at_mobiles or config.at_user_ids or config.at_all):
            return False
        floor = config.mention_min_severity.rank
        return any(
            i.status is IncidentStatus.FIRING and i.severity.rank >= floor for i in notification.incidents
        )

    def _render(self, notification: Notification) -> tuple[str, str, bool]:
        """Title (markdown only), message text (escaped, untruncated) and whether to mention."""
        config = self._config
        mention = self._mentions(notification)
        if config.msgtype == "text":
            text = self._renderer.render(config.text_template, notification, markup="plain")
            return "", text.strip(), mention
        text = self._renderer.render(config.markdown_template, notification, markup="dingtalk")
        title = self._renderer.render_string(config.title_template, notification, markup="plain")
        title = truncate_utf8(" ".join(title.split()), MAX_TITLE_BYTES, "…")
        if config.keyword and config.keyword not in title:
            title = f"{config.keyword} {title}"
        return title, text.strip(), mention

    def _encode(self, title: str, text: str, *, mention: bool) -> bytes:
        """The JSON body; the keyword heads the text unless the text already holds it."""
        keyword = self._config.keyword
        head = f"{keyword}\n\n" if keyword and keyword not in text else ""
        full = head + text + (self._mention_text if mention else "")
        payload: dict[str, Any]
        if self._config.msgtype == "markdown":
            payload = {"msgtype": "markdown", "markdown": {"title": title, "text": full}}
        else:
            payload = {"msgtype": "text", "text": {"content": full}}
        if mention:
            payload["at"] = self._at
        return orjson.dumps(payload)

    def fits(self, notification: Notification) -> bool:
        title, text, mention = self._render(notification)
        return len(self._encode(title, text, mention=mention)) <= MAX_BODY_BYTES

    def preview(self, notification: Notification) -> str:
        return pretty_json(self.render(notification))

    def render(self, notification: Notification) -> bytes:
        """The body to send, its text truncated when the whole would exceed the robot's limit."""
        title, text, mention = self._render(notification)
        body = self._encode(title, text, mention=mention)
        if len(body) <= MAX_BODY_BYTES:
            return body
        # Room left by everything but the text; an empty text lacks the keyword, so the
        # keyword's head is counted whether or not the cut text keeps it.
        room = MAX_BODY_BYTES - len(self._encode(title, "", mention=mention))
        return self._encode(title, truncate_json_text(text, room), mention=mention)

    async def send(self, notification: Notification) -> None:
        url = self._url
        if self._secret:
            url = signed_url(url, self._secret, time.time_ns() // 1_000_000)
        response = await post(
            self._client,
            method="POST",
            url=url,
            content=self.render(notification),
            headers={"content-type": "application/json"},
            target=self.target,
            secrets=self._secrets,
        )
        _raise_for_answer(response, target=self.target, secrets=self._secrets)

    async def aclose(self) -> None:
        await self._client.aclose()
