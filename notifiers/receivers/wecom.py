"""WeCom (企业微信) group robot: ``POST <webhook URL with ?key=…>`` with a JSON body.

Configured with the webhook URL exactly as WeCom shows it when the robot is added to a
group (the key is part of it, so the whole URL is a secret); private WeCom deployments
differ only by host, which the full URL covers. WeCom answers HTTP 200 with an
``errcode`` in the body: :func:`read_answer` and :func:`raise_for_errcode` read it, for this
receiver and for the application-message receiver (``wecom_app``), which shares the error
codes. A 2xx answer is a delivery only with ``errcode`` 0: rate limits (45009, 45033) and
"busy" (-1) are retried, 40058 (content over the byte limit as WeCom counts it) is sent again
at once cut shorter, and anything else, or an answer without an errcode, is permanent.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
    field_validator,
    model_validator,
)

from notifiers.errors import PermanentError, RetryableError
from notifiers.http import MAX_BODY_SHOWN, post, pretty_json
from notifiers.kube_eventer_body import BodySource, CustomBody
from notifiers.markup import TRUNCATION_MARKER, Markup, Trusted, truncate_utf8, utf8_size
from notifiers.notification import Notification
from notifiers.pacing import RateLimit
from notifiers.templating import Renderer
from runtime.log import register_secrets
from runtime.redact import redact_url, scrub, url_secrets
from schemas import IncidentStatus, Severity

MsgType = Literal["markdown", "markdown_v2", "text"]

LIMITS: dict[MsgType, int] = {"text": 2048, "markdown": 4096, "markdown_v2": 4096}
"""Bytes of UTF-8 ``content`` the robot accepts per msgtype (over it: errcode 40058)."""
BODY_LIMITS: dict[str, int] = {str(msgtype): limit for msgtype, limit in LIMITS.items()}
"""The same, for a msgtype read from a custom body."""

QUOTES = {False: Trusted("> "), True: Trusted("- ")}
"""What starts a field's line: a quote in markdown (one line each), a list item in markdown_v2,
whose parser would join the lines of one quote into a single paragraph."""

TOO_LONG = 40058
"""The robot's answer to content over its byte limit (or another invalid parameter)."""
MAX_CUTS = 2
"""How many times a message refused with 40058 is sent again, each time cut to half the bytes
of the refused content, before it is dead-lettered."""

RATE_LIMITED = frozenset({45009, 45033})
"""API calls over the frequency limit / over the concurrency limit."""
SYSTEM_BUSY = -1
RATE_LIMIT_PAUSE_SECONDS = 60.0
"""The robot's budget is 20 messages per minute: a full minute frees it."""

MEANINGS = {
    SYSTEM_BUSY: "WeCom is busy",
    40001: "invalid corp_secret",
    40013: "invalid corp_id",
    40014: "invalid access_token",
    40056: "invalid agent_id",
    40058: "invalid parameter (content over the byte limit?)",
    41001: "access_token missing",
    42001: "access_token expired",
    44004: "empty content",
    45002: "content over the byte limit",
    45009: "API frequency over the limit",
    45033: "API concurrency over the limit",
    48002: "the application may not call this API",
    60020: "this IP is not in the application's trusted IP list",
    81013: "every user, party and tag is invalid or out of the application's scope",
    82001: "every recipient is invalid",
    93000: "invalid webhook key: the robot was removed or the URL is wrong",
}
"""Shown with the code in the failure reason, so a dead letter says what to fix."""

UserId = Annotated[str, StringConstraints(pattern=r"^(@all|[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63})$")]
Mobile = Annotated[str, StringConstraints(pattern=r"^(@all|[0-9+-]{1,32})$")]


class WeComConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    type: Literal["wecom"] = "wecom"
    url: SecretStr = Field(
        description="The robot's webhook URL as WeCom shows it, https://qyapi.weixin.qq.com/cgi-bin/"
        "webhook/send?key=…; a secret (the key is the robot's only credential)."
    )
    msgtype: MsgType = Field(
        "markdown",
        description="markdown (4096 bytes, colours, mentions by userid), markdown_v2 (4096 bytes, "
        "lists and tables but no colours and no mentions) or text (2048 bytes).",
    )
    mentioned_list: tuple[UserId, ...] = Field(
        (), description="userids to mention ('@all' for everyone; text only); see mention_min_severity."
    )
    mentioned_mobile_list: tuple[Mobile, ...] = Field(
        (), description="Mobile numbers to mention (text only: markdown mentions by userid alone)."
    )
    mention_min_severity: Severity = Field(
        Severity.CRITICAL, description="Mention only for firing incidents at or above this severity."
    )
    markdown_template: str = Field(
        "wecom.md.j2", description="Template file for msgtype markdown and markdown_v2 (`v2` is true for v2)."
    )
    text_template: str = Field("wecom.text.j2", description="Template file for msgtype text.")
    custom_body: BodySource | None = Field(
        None,
        description="A kube-eventer body instead of msgtype and the templates: a Go text/template of "
        "the robot's JSON body, as a custom_body_configmap's content (docs/templates.md). Executed once "
        "per incident; the text (text.content, markdown.content) is cut to the robot's byte limit and a "
        "digest joins the incidents' texts.",
    )
    timeout_seconds: float = Field(10.0, gt=0, le=120, description="Per HTTP request.")
    rate_limits: tuple[RateLimit, ...] = Field(
        (RateLimit(messages=20, per_seconds=60),), description="WeCom allows 20 messages a minute per robot."
    )

    @field_validator("url")
    @classmethod
    def _has_key(cls, url: SecretStr) -> SecretStr:
        parts = urlsplit(url.get_secret_value())
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError("expected an http(s) URL")
        if not parse_qs(parts.query).get("key", [""])[0]:
            raise ValueError("expected the webhook URL with its ?key=… (copy it from the robot's settings)")
        return url

    @model_validator(mode="after")
    def _mentions_fit_msgtype(self) -> WeComConfig:
        if self.msgtype == "markdown" and (self.mentioned_mobile_list or "@all" in self.mentioned_list):
            raise ValueError(
                "markdown messages mention by userid only; use msgtype: text to mention '@all' or mobiles"
            )
        if self.msgtype == "markdown_v2" and (self.mentioned_list or self.mentioned_mobile_list):
            raise ValueError("markdown_v2 messages cannot mention; use msgtype markdown or text")
        return self


def answer(response: httpx.Response) -> dict[str, Any]:
    """The JSON object WeCom answered; empty when the body is not one."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return {}
    return body if isinstance(body, dict) else {}


class ContentTooLongError(PermanentError):
    """errcode 40058: permanent as it stands, but the robot may take the message cut shorter."""


def read_answer(response: httpx.Response, *, target: str, secrets: list[str]) -> dict[str, Any]:
    """The JSON object of a 2xx answer, which must carry an integer ``errcode``: anything else
    (an HTML page from a proxy, an empty body) is no proof of delivery and is permanent."""
    body = answer(response)
    if type(body.get("errcode")) is not int:  # not isinstance: JSON false is no errcode 0
        shown = scrub(response.text, secrets)[:MAX_BODY_SHOWN]  # scrub first: a cut may split a secret
        raise PermanentError(f"{target} answered HTTP {response.status_code} without an errcode: {shown}")
    return body


def raise_for_errcode(body: dict[str, Any], *, target: str, secrets: list[str]) -> None:
    """WeCom's verdict in a 2xx answer: ``errcode`` 0 is success, rate limits and "busy" are
    retryable, 40058 raises :class:`ContentTooLongError`, anything else (bad key, bad secret, bad
    payload, no errcode at all) is permanent."""
    code = body.get("errcode")
    if type(code) is int and code == 0:
        return
    meaning = MEANINGS.get(code, "unknown errcode") if type(code) is int else "malformed errcode"
    errmsg = scrub(str(body.get("errmsg", ""))[:MAX_BODY_SHOWN], secrets)
    reason = f"{target} answered errcode {code} ({meaning}): {errmsg}"
    if code in RATE_LIMITED:
        raise RetryableError(reason, retry_after=RATE_LIMIT_PAUSE_SECONDS)
    if code == SYSTEM_BUSY:
        raise RetryableError(reason)
    if code == TOO_LONG:
        raise ContentTooLongError(reason)
    raise PermanentError(reason)


def content_size(payload: dict[str, Any]) -> int:
    """UTF-8 bytes of the ``content`` a robot payload carries; 0 when it has none to cut."""
    section = payload.get(str(payload.get("msgtype")))
    content = section.get("content") if isinstance(section, dict) else None
    return utf8_size(content) if isinstance(content, str) else 0


def fit(text: str, limit: int, *, keep: str = "") -> str:
    """``text`` cut to ``limit`` UTF-8 bytes with a visible marker, then ``keep`` appended whole
    (mentions must survive truncation)."""
    # A lone surrogate (text decoded with surrogateescape) would make orjson refuse the body.
    text = text.encode(errors="replace").decode()
    return truncate_utf8(text, limit - utf8_size(keep)) + keep


class WeComReceiver:
    config_model: ClassVar[type[BaseModel]] = WeComConfig
    type = "wecom"

    def __init__(self, config: BaseModel, renderer: Renderer) -> None:
        assert isinstance(config, WeComConfig)
        self.name = config.name
        self.rate_limits = config.rate_limits
        self._config = config
        self._renderer = renderer
        self._limit = LIMITS[config.msgtype]
        self._body = CustomBody(config.custom_body, renderer) if config.custom_body else None
        self._url = config.url.get_secret_value()
        self._secrets = url_secrets(self._url)
        register_secrets(self._secrets)
        self._client = httpx.AsyncClient(timeout=config.timeout_seconds)

    @property
    def target(self) -> str:
        return redact_url(self._url)

    def _mention(self, notification: Notification) -> bool:
        floor = self._config.mention_min_severity.rank
        return any(
            incident.status is IncidentStatus.FIRING and incident.severity.rank >= floor
            for incident in notification.incidents
        )

    def _render(self, notification: Notification) -> tuple[str, str]:
        """The message text, and the configured mentions that go after it (markdown only)."""
        config = self._config
        if config.msgtype == "text":
            return self._renderer.render(config.text_template, notification, markup="plain").strip(), ""
        v2 = config.msgtype == "markdown_v2"
        markup: Markup = "wecom_v2" if v2 else "wecom"
        text = self._renderer.render(
            config.markdown_template, notification, markup=markup, v2=v2, quote=QUOTES[v2]
        ).strip()
        mentions = " ".join(f"<@{user}>" for user in config.mentioned_list)
        return text, (f"\n{mentions}" if mentions and self._mention(notification) else "")

    def fits(self, notification: Notification) -> bool:
        if self._body is not None:
            found = self._body.texts(notification, _robot_text)
            return found is not None and utf8_size(found[2]) <= BODY_LIMITS[found[1]]
        text, mentions = self._render(notification)
        return utf8_size(text + mentions) <= self._limit

    def preview(self, notification: Notification) -> str:
        return pretty_json(self.payload(notification))

    def payload(self, notification: Notification, limit: int | None = None) -> dict[str, Any]:
        """The robot's JSON body; ``content`` within ``limit`` bytes (the msgtype's by default)."""
        if self._body is not None:
            return self._custom_payload(self._body, notification, limit)
        text, mentions = self._render(notification)
        content = fit(text, self._limit if limit is None else limit, keep=mentions)
        if self._config.msgtype != "text":
            return {"msgtype": self._config.msgtype, self._config.msgtype: {"content": content}}
        body: dict[str, Any] = {"content": content}
        if self._mention(notification):
            if self._config.mentioned_list:
                body["mentioned_list"] = list(self._config.mentioned_list)
            if self._config.mentioned_mobile_list:
                body["mentioned_mobile_list"] = list(self._config.mentioned_mobile_list)
        return {"msgtype": "text", "text": body}

    def _custom_payload(
        self, custom: CustomBody, notification: Notification, limit: int | None
    ) -> dict[str, Any]:
        """The user's body with its text cut to the limit (a digest's texts joined), and the
        configured mentions added to a text message; a body with no text to cut (news, a
        template card) goes as rendered, and never in a digest (``fits`` says no)."""
        found = custom.texts(notification, _robot_text)
        if found is None:
            return custom.body(notification.incidents[0])
        body, msgtype, text = found
        section = {**body[msgtype], "content": fit(text, BODY_LIMITS[msgtype] if limit is None else limit)}
        if msgtype == "text" and self._mention(notification):
            for key in ("mentioned_list", "mentioned_mobile_list"):
                configured = list(getattr(self._config, key))
                if configured:
                    section[key] = list(dict.fromkeys([*section.get(key, []), *configured]))
        return {**body, msgtype: section}

    async def send(self, notification: Notification) -> None:
        """Deliver; a 40058 refusal is sent again at once, cut to half the refused content's
        bytes (with the truncation marker, mentions kept), at most :data:`MAX_CUTS` times."""
        payload, cuts = self.payload(notification), 0
        while True:
            try:
                await self._post(payload)
                return
            except ContentTooLongError as refused:
                sent = content_size(payload)
                cut = self._cut(notification, sent // 2) if cuts < MAX_CUTS else None
                if cut is None:
                    raise PermanentError(
                        f"the robot refused the length of the message even cut to {sent} bytes "
                        f"({cuts} cuts); last answer: {refused}"
                    ) from None
                payload, cuts = cut, cuts + 1

    def _cut(self, notification: Notification, limit: int) -> dict[str, Any] | None:
        """The payload with content cut to ``limit`` bytes; None when that cannot hold the
        mentions and the truncation marker."""
        mentions = "" if self._body is not None else self._render(notification)[1]
        if limit < utf8_size(mentions) + utf8_size(TRUNCATION_MARKER):
            return None
        return self.payload(notification, limit)

    async def _post(self, payload: dict[str, Any]) -> None:
        response = await post(
            self._client,
            method="POST",
            url=self._url,
            content=orjson.dumps(payload),
            headers={"content-type": "application/json"},
            target=self.target,
            secrets=self._secrets,
        )
        raise_for_errcode(
            read_answer(response, target=self.target, secrets=self._secrets),
            target=self.target,
            secrets=self._secrets,
        )

    async def aclose(self) -> None:
        await self._client.aclose()


def _robot_text(body: dict[str, Any]) -> tuple[str, str] | None:
    """Where a robot body holds the text that is cut and joined: ``<msgtype>.content``."""
    msgtype = body.get("msgtype")
    return (msgtype, "content") if isinstance(msgtype, str) and msgtype in BODY_LIMITS else None
