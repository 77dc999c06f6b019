"""The Feishu / Lark custom bot receiver: an interactive card (or plain text) per notification.

Feishu answers HTTP 200 with its verdict in the body's ``code`` (``StatusCode`` in the older
answer shape), so the answer is read in one place, :func:`check_answer`. Signed bots carry
``timestamp`` and ``sign`` in the JSON body, and the whole body must stay within 20 KB.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, ClassVar, Literal

import httpx
import orjson
from pydantic import BaseModel, ConfigDict, Field, SecretStr, StringConstraints

from notifiers.errors import PermanentError, RetryableError
from notifiers.http import MAX_BODY_SHOWN, post, pretty_json, retry_after_seconds
from notifiers.markup import ZERO_WIDTH_SPACE, json_size, plain, truncate_json_text, truncate_utf8
from notifiers.notification import Notification
from notifiers.pacing import RateLimit
from notifiers.templating import Renderer
from runtime.log import register_secrets
from runtime.redact import redact_url, scrub, url_secrets
from schemas import IncidentStatus, Severity

MAX_BODY_BYTES = 20_000
"""Feishu's "20 KB" read as the smaller 20,000 bytes, so the body fits either reading."""
TITLE_MAX_BYTES = 200
RATE_LIMITED_RETRY_AFTER = 5.0
"""The pause after 11232 when no Retry-After comes with it: enough to clear the 5/s window,
while the delivery budget (100/min) paces the rest."""

CODE_OK = 0
CODE_RATE_LIMITED = 11232
REFUSALS: dict[int, str] = {
    19021: "bad signature or timestamp: check `secret` and this host's clock",
    19022: "this host's IP address is not allowed by the bot's security settings",
    19024: "the bot requires a keyword the message lacks: add it to the template",
    9499: "bad request",
}

COLOURS: dict[Severity, str] = {
    Severity.CRITICAL: "red",
    Severity.WARNING: "orange",
    Severity.INFO: "blue",
}
RESOLVED_COLOUR = "green"
QUIET_COLOUR = "grey"
"""Closed without proof of recovery: not the green of a recovery."""

OpenId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_\-]{1,64}$")]

_AT_TAG = re.compile(r"<(?=\s*/?\s*at\b)", re.IGNORECASE)


def sign(secret: str, timestamp: int) -> str:
    """Feishu's signature: HMAC-SHA256 keyed with ``"{timestamp}\\n{secret}"`` over an empty message."""
    key = f"{timestamp}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


def defuse_at_tags(text: str) -> str:
    """Feishu text messages turn ``<at user_id="all">`` into a mention: break any such tag."""
    return _AT_TAG.sub("<" + ZERO_WIDTH_SPACE, text)


def lead(views: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    """The incident a card's header speaks for: the most severe firing one, else the first."""
    firing = [v for v in views if v["state"] == "firing"]
    return max(firing, key=lambda v: Severity(v["severity"]).rank) if firing else views[0]


def card_title(views: Sequence[Mapping[str, Any]], labels: Mapping[str, str]) -> str:
    """A short header: status and severity first, so the chat list preview says what matters."""
    first = lead(views)
    head = f"[{first['state_label']}] {first['severity_label']}"
    if len(views) == 1:
        text = f"{head} · {first['headline']}"
    else:
        text = f"{head} · {len(views)} {labels['digest']}"
        clusters = {v["cluster"] for v in views}
        if len(clusters) == 1:
            text += f" · {first['cluster']}"
    return truncate_utf8(plain(text), TITLE_MAX_BYTES)


def card_colour(views: Sequence[Mapping[str, Any]]) -> str:
    first = lead(views)
    if first["state"] == "firing":
        return COLOURS[Severity(first["severity"])]
    return RESOLVED_COLOUR if first["state"] == "recovered" else QUIET_COLOUR


def check_answer(response: httpx.Response, *, target: str, secrets: list[str]) -> None:
    """Read Feishu's verdict from a 2xx body: ``code`` (or ``StatusCode``) 0 is delivered."""
    try:
        answer = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        answer = None
    if not isinstance(answer, dict):
        shown = scrub(response.text, secrets)[:MAX_BODY_SHOWN]  # scrub first: a cut secret would not match
        raise PermanentError(f"{target} answered without a Feishu verdict: {shown}")
    code = answer.get("code", answer.get("StatusCode"))
    if type(code) is int and code == CODE_OK:  # not isinstance: JSON false is no code 0
        return
    message = scrub(str(answer.get("msg") or answer.get("StatusMessage") or ""), secrets)[:MAX_BODY_SHOWN]
    if code == CODE_RATE_LIMITED:
        pause = retry_after_seconds(response.headers.get("retry-after")) or RATE_LIMITED_RETRY_AFTER
        raise RetryableError(f"{target} is rate limited (code {code}): {message}", retry_after=pause)
    reason = REFUSALS.get(code, "unknown error") if type(code) is int else "no code in the answer"
    raise PermanentError(f"{target} refused the message: code {code} ({reason}): {message}")


class FeishuConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    type: Literal["feishu"] = "feishu"
    url: SecretStr = Field(
        description="https://open.feishu.cn/open-apis/bot/v2/hook/TOKEN (Lark: open.larksuite.com); "
        "a secret, since the token is in the path."
    )
    secret: SecretStr | None = Field(None, description="The bot's signature secret, when signing is on.")
    msgtype: Literal["interactive", "text"] = Field(
        "interactive", description="An interactive card (coloured header, lark_md body) or plain text."
    )
    card_template: str = Field(
        "feishu.card.md.j2", description="Template of the card's lark_md body (markup escaped as markdown)."
    )
    text_template: str = Field("feishu.text.j2", description="Template of the text message (plain text).")
    mention_user_ids: tuple[OpenId, ...] = Field(
        (),
        max_length=50,
        description="Open ids (ou_…) to mention on firing incidents at or above the threshold.",
    )
    mention_all: bool = Field(
        False, description="Mention everyone on those incidents (the bot needs the right)."
    )
    mention_min_severity: Severity = Field(
        Severity.CRITICAL, description="Mention only for firing incidents at or above this severity."
    )
    timeout_seconds: float = Field(10.0, gt=0, le=120, description="Per HTTP request.")
    rate_limits: tuple[RateLimit, ...] = Field(
        (RateLimit(messages=5, per_seconds=1), RateLimit(messages=100, per_seconds=60)),
        description="Feishu allows 5 messages a second and 100 a minute per bot.",
    )


class FeishuReceiver:
    config_model: ClassVar[type[BaseModel]] = FeishuConfig
    type = "feishu"

    def __init__(self, config: BaseModel, renderer: Renderer) -> None:
        assert isinstance(config, FeishuConfig)
        self.name = config.name
        self._config = config
        self.rate_limits = config.rate_limits
        self._renderer = renderer
        self._url = config.url.get_secret_value()
        self._secret = config.secret.get_secret_value() if config.secret else None
        self._secrets = [*url_secrets(self._url), *([self._secret] if self._secret else [])]
        register_secrets(self._secrets)
        self._client = httpx.AsyncClient(timeout=config.timeout_seconds)

    @property
    def target(self) -> str:
        return redact_url(self._url)

    def _text(self, notification: Notification) -> str:
        if self._config.msgtype == "interactive":
            return self._renderer.render(self._config.card_template, notification, markup="feishu").rstrip()
        # The template emits no <at> of its own; configured mentions are added after this.
        text = self._renderer.render(self._config.text_template, notification, markup="plain")
        return defuse_at_tags(text).rstrip()

    def _mentions(self, notification: Notification) -> list[str]:
        threshold = self._config.mention_min_severity.rank
        due = any(
            i.status is IncidentStatus.FIRING and i.severity.rank >= threshold for i in notification.incidents
        )
        if not due:
            return []
        return [*self._config.mention_user_ids, *(["all"] if self._config.mention_all else [])]

    def _card(self, notification: Notification, text: str, mentions: list[str]) -> dict[str, Any]:
        context = self._renderer.context(notification)
        elements: list[dict[str, Any]] = [{"tag": "div", "text": {"tag": "lark_md", "content": text}}]
        if mentions:
            tags = " ".join(f"<at id={open_id}></at>" for open_id in mentions)
            elements.append({"tag": "div", "text": {"tag": "lark_md", "content": tags}})
        link = context["incident"]["link"]
        if link and not notification.is_digest:
            button = {
                "tag": "button",
                "text": {"tag": "plain_text", "content": context["t"]["details"]},
                "type": "primary",
                "url": str(link),
            }
            elements.append({"tag": "action", "actions": [button]})
        return {
            "config": {"wide_screen_mode": True},
            "header": {
                "template": card_colour(context["incidents"]),
                "title": {"tag": "plain_text", "content": card_title(context["incidents"], context["t"])},
            },
            "elements": elements,
        }

    def _body(self, notification: Notification, text: str, *, timestamp: int) -> dict[str, Any]:
        mentions = self._mentions(notification)
        body: dict[str, Any] = {}
        if self._secret is not None:
            body = {"timestamp": str(timestamp), "sign": sign(self._secret, timestamp)}
        if self._config.msgtype == "text":
            tags = "".join(f'<at user_id="{open_id}"></at>' for open_id in mentions)
            body |= {"msg_type": "text", "content": {"text": f"{text}\n{tags}" if tags else text}}
        else:
            body |= {"msg_type": "interactive", "card": self._card(notification, text, mentions)}
        return body

    def fits(self, notification: Notification) -> bool:
        body = self._body(notification, self._text(notification), timestamp=int(time.time()))
        return len(orjson.dumps(body)) <= MAX_BODY_BYTES

    def preview(self, notification: Notification) -> str:
        return pretty_json(self.render(notification))

    def render(self, notification: Notification) -> bytes:
        """The JSON body; only the rendered text is cut (never the mentions) when it is too big."""
        timestamp = int(time.time())
        text = self._text(notification)
        body = orjson.dumps(self._body(notification, text, timestamp=timestamp))
        excess = len(body) - MAX_BODY_BYTES
        if excess > 0:
            text = truncate_json_text(text, json_size(text) - excess)
            body = orjson.dumps(self._body(notification, text, timestamp=timestamp))
        return body

    async def send(self, notification: Notification) -> None:
        response = await post(
            self._client,
            method="POST",
            url=self._url,
            content=self.render(notification),
            headers={"content-type": "application/json; charset=utf-8"},
            target=self.target,
            secrets=self._secrets,
        )
        check_answer(response, target=self.target, secrets=self._secrets)

    async def aclose(self) -> None:
        await self._client.aclose()
