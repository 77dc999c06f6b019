"""The generic webhook receiver: the user's method, URL, headers and JSON body template."""

from __future__ import annotations

from typing import ClassVar, Literal

import httpx
import orjson
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from notifiers.errors import PermanentError
from notifiers.http import post, pretty_json
from notifiers.notification import Notification
from notifiers.pacing import RateLimit
from notifiers.templating import Renderer
from runtime.log import register_secrets
from runtime.redact import redact_url, url_secrets


class WebhookConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    type: Literal["webhook"] = "webhook"
    url: SecretStr = Field(description="Target URL; treated as a secret (it often carries a token).")
    method: Literal["POST", "PUT", "PATCH"] = Field("POST", description="HTTP method of every delivery.")
    headers: dict[str, SecretStr] = Field(
        default_factory=dict, description="Extra request headers; their values are secrets (tokens)."
    )
    body_template: str = Field("webhook.json.j2", description="Template file rendering the JSON body.")
    text_template: str = Field(
        "text.j2", description="Template of the human-readable text offered to the body."
    )
    timeout_seconds: float = Field(10.0, gt=0, le=120, description="Per HTTP request.")
    rate_limits: tuple[RateLimit, ...] = Field(
        (), description="Limits of the target, e.g. [{messages: 1, per_seconds: 1}]; none by default."
    )


class WebhookReceiver:
    config_model: ClassVar[type[BaseModel]] = WebhookConfig
    type = "webhook"

    def __init__(self, config: BaseModel, renderer: Renderer) -> None:
        assert isinstance(config, WebhookConfig)
        self.name = config.name
        self._config = config
        self.rate_limits = config.rate_limits
        self._renderer = renderer
        self._url = config.url.get_secret_value()
        self._secrets = [*url_secrets(self._url), *(h.get_secret_value() for h in config.headers.values())]
        register_secrets(self._secrets)
        self._client = httpx.AsyncClient(timeout=config.timeout_seconds)

    @property
    def target(self) -> str:
        return redact_url(self._url)

    def preview(self, notification: Notification) -> str:
        return pretty_json(self.render(notification))

    def render(self, notification: Notification) -> bytes:
        text = self._renderer.render(self._config.text_template, notification)
        body = self._renderer.render(self._config.body_template, notification, text=text)
        try:
            return orjson.dumps(orjson.loads(body))
        except orjson.JSONDecodeError as exc:
            raise PermanentError(
                f"body template {self._config.body_template!r} did not render JSON: {exc}"
            ) from None

    def fits(self, notification: Notification) -> bool:
        return True

    async def send(self, notification: Notification) -> None:
        headers = {"content-type": "application/json"}
        headers.update({k: v.get_secret_value() for k, v in self._config.headers.items()})
        await post(
            self._client,
            method=self._config.method,
            url=self._url,
            content=self.render(notification),
            headers=headers,
            target=self.target,
            secrets=self._secrets,
        )

    async def aclose(self) -> None:
        await self._client.aclose()
