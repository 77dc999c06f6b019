"""WeCom (企业微信) application messages: what kube-eventer's ``wechat:`` sink and
Alertmanager's ``wechat_configs`` send, to users, parties or tags rather than to a group.

Two calls: ``GET {api_url}/gettoken`` trades corp id and secret for an access token
(valid ``expires_in`` seconds, cached until shortly before), then ``POST
{api_url}/message/send?access_token=…``. A token WeCom calls expired or invalid is
refetched once and the message sent again. The secret and every token are secrets.
Answers are read as the robot's are (:func:`notifiers.receivers.wecom.read_answer`): only
errcode 0 is a delivery, 45009/45033/-1 are retried, an answer without an errcode is permanent.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import urlencode

import httpx
import orjson
from pydantic import BaseModel, ConfigDict, Field, SecretStr, StringConstraints, model_validator

from notifiers.errors import PermanentError, RetryableError
from notifiers.http import post, pretty_json
from notifiers.markup import Markup, utf8_size
from notifiers.notification import Notification
from notifiers.pacing import RateLimit
from notifiers.receivers.wecom import QUOTES, fit, raise_for_errcode, read_answer
from notifiers.templating import Renderer
from runtime.log import register_secrets
from runtime.redact import redact_url

AppMsgType = Literal["markdown", "text"]

LIMITS: dict[AppMsgType, int] = {"text": 2048, "markdown": 2048}
"""Bytes of UTF-8 ``content`` per application message (half the robot's markdown limit)."""

MARKUPS: dict[AppMsgType, Markup] = {"text": "plain", "markdown": "wecom"}
"""Application text renders ``<a href>`` tags: ``plain`` breaks tags (without entities, which
WeCom shows literally)."""

TOKEN_REJECTED = frozenset({40014, 42001})
"""Invalid / expired access_token: fetch a new one."""
TOKEN_MARGIN_SECONDS = 300.0
"""Refresh this long before WeCom's ``expires_in`` (7200 s), so a token never expires in flight."""
DEFAULT_TOKEN_SECONDS = 7200

Recipient = Annotated[str, StringConstraints(pattern=r"^[^|\s]+$")]


class WeComAppConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    type: Literal["wecom_app"] = "wecom_app"
    corp_id: str = Field(min_length=1, description="The company's CorpID (管理后台 → 我的企业).")
    corp_secret: SecretStr = Field(description="The application's Secret.")
    agent_id: int = Field(description="The application's AgentId.")
    to_user: tuple[Recipient, ...] = Field((), description="userids, or '@all' for everyone in scope.")
    to_party: tuple[Recipient, ...] = Field((), description="Department ids.")
    to_tag: tuple[Recipient, ...] = Field((), description="Tag ids.")
    msgtype: AppMsgType = Field(
        "text",
        description="text (also shown in WeChat through the WeCom plugin) or markdown (WeCom app only).",
    )
    api_url: str = Field("https://qyapi.weixin.qq.com/cgi-bin", description="API root (private deployments).")
    markdown_template: str = Field("wecom.md.j2", description="Template file for msgtype markdown.")
    text_template: str = Field("wecom.text.j2", description="Template file for msgtype text.")
    timeout_seconds: float = Field(10.0, gt=0, le=120, description="Per HTTP request.")
    rate_limits: tuple[RateLimit, ...] = Field(
        (RateLimit(messages=30, per_seconds=60),),
        description="WeCom silently drops an application's 31st message a minute to one member.",
    )

    @model_validator(mode="after")
    def _has_recipients(self) -> WeComAppConfig:
        if not (self.to_user or self.to_party or self.to_tag):
            raise ValueError("set at least one of to_user, to_party, to_tag (to_user: ['@all'] for everyone)")
        return self


class WeComAppReceiver:
    config_model: ClassVar[type[BaseModel]] = WeComAppConfig
    type = "wecom_app"

    def __init__(self, config: BaseModel, renderer: Renderer) -> None:
        assert isinstance(config, WeComAppConfig)
        self.name = config.name
        self.rate_limits = config.rate_limits
        self._config = config
        self._renderer = renderer
        self._api = config.api_url.rstrip("/")
        self._secrets = [config.corp_secret.get_secret_value()]
        register_secrets(self._secrets)
        self._token: str | None = None
        self._token_until = 0.0
        self._client = httpx.AsyncClient(timeout=config.timeout_seconds)

    @property
    def target(self) -> str:
        return f"{redact_url(self._api + '/message/send')} (agent {self._config.agent_id})"

    def _render(self, notification: Notification) -> str:
        config = self._config
        template = config.markdown_template if config.msgtype == "markdown" else config.text_template
        markup = MARKUPS[config.msgtype]
        return self._renderer.render(
            template, notification, markup=markup, v2=False, quote=QUOTES[False]
        ).strip()

    def fits(self, notification: Notification) -> bool:
        return utf8_size(self._render(notification)) <= LIMITS[self._config.msgtype]

    def preview(self, notification: Notification) -> str:
        return pretty_json(self.payload(notification))

    def payload(self, notification: Notification) -> dict[str, Any]:
        config = self._config
        body: dict[str, Any] = {
            "msgtype": config.msgtype,
            "agentid": config.agent_id,
            config.msgtype: {"content": fit(self._render(notification), LIMITS[config.msgtype])},
        }
        for field, recipients in (
            ("touser", config.to_user),
            ("toparty", config.to_party),
            ("totag", config.to_tag),
        ):
            if recipients:
                body[field] = "|".join(recipients)
        return body

    async def send(self, notification: Notification) -> None:
        content = orjson.dumps(self.payload(notification))
        if await self._deliver(content):
            return
        self._token = None  # refused: fetch a fresh one and send once more
        if not await self._deliver(content):
            self._token = None
            raise RetryableError(f"{self.target}: WeCom refused a freshly issued access_token")

    async def _deliver(self, content: bytes) -> bool:
        """Send once; False when WeCom refused the access token (nothing was delivered)."""
        token = await self._access_token()
        response = await post(
            self._client,
            method="POST",
            url=f"{self._api}/message/send?{urlencode({'access_token': token})}",
            content=content,
            headers={"content-type": "application/json"},
            target=self.target,
            secrets=self._secrets,
        )
        body = read_answer(response, target=self.target, secrets=self._secrets)
        if body["errcode"] in TOKEN_REJECTED:
            return False
        raise_for_errcode(body, target=self.target, secrets=self._secrets)
        return True

    async def _access_token(self) -> str:
        if self._token is not None and time.monotonic() < self._token_until:
            return self._token
        query = urlencode({"corpid": self._config.corp_id, "corpsecret": self._secrets[0]})
        url = f"{self._api}/gettoken?{query}"
        target = redact_url(url)
        response = await post(
            self._client, method="GET", url=url, content=b"", headers={}, target=target, secrets=self._secrets
        )
        body = read_answer(response, target=target, secrets=self._secrets)
        raise_for_errcode(body, target=target, secrets=self._secrets)
        token, expires_in = body.get("access_token"), body.get("expires_in", DEFAULT_TOKEN_SECONDS)
        if not isinstance(token, str) or not token:
            raise PermanentError(f"{target} answered without an access_token")
        register_secrets([token])
        self._secrets[1:] = [token]  # the corp secret, and only the live token (old ones expired)
        if not isinstance(expires_in, int):
            expires_in = DEFAULT_TOKEN_SECONDS
        self._token, self._token_until = token, time.monotonic() + expires_in - TOKEN_MARGIN_SECONDS
        return token

    async def aclose(self) -> None:
        await self._client.aclose()
