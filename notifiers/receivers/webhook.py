"""The generic webhook receiver: the user's method, URL, headers and JSON body template.

By default any 2xx answer is a delivery. Targets that answer HTTP 200 with a verdict in the
body (chat robots, API gateways) get an optional ``success`` condition: which 2xx statuses
count, and which value of a JSON field means delivered, which values mean retry later;
every other answer is permanent. :func:`check_answer` reads it, after ``post`` has
classified the non-2xx statuses as for every receiver.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

import httpx
import orjson
from annotated_types import Interval
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    model_validator,
)

from notifiers.errors import PermanentError, RetryableError
from notifiers.http import MAX_BODY_SHOWN, post, pretty_json, retry_after_seconds
from notifiers.kube_eventer_body import BodySource, CustomBody
from notifiers.notification import Notification
from notifiers.pacing import RateLimit
from notifiers.templating import Renderer
from runtime.log import register_secrets
from runtime.redact import redact_url, scrub, url_secrets


def _scalar(value: object) -> object:
    """One error for a value that is no JSON scalar, rather than one per member of the union."""
    if not isinstance(value, bool | int | float | str):
        raise ValueError("expected a number, a string, true or false")
    return value


JsonScalar = Annotated[StrictBool | StrictInt | StrictFloat | StrictStr, BeforeValidator(_scalar)]
"""A value of the answer's field as YAML writes it: 0, true and "ok" are three different values."""
SuccessStatus = Annotated[int, Interval(ge=200, le=299)]
DEFAULT_RETRY_AFTER_SECONDS = 60.0


class SuccessCondition(BaseModel):
    """What a 2xx answer must hold to count as delivered."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    status: tuple[SuccessStatus, ...] | None = Field(
        None,
        description="2xx statuses that count as success, e.g. [200]; another 2xx is a permanent "
        "failure. Unset: any 2xx. Non-2xx answers are classified as for every receiver "
        "(408, 429 and 5xx retried, other 4xx permanent).",
    )
    field: str | None = Field(
        None,
        pattern=r"^[^.\s]+(\.[^.\s]+)*$",
        description="Dotted path into the JSON answer whose value decides, e.g. errcode, ok or "
        "data.code (a number picks a list item). An answer that is not JSON or lacks the field "
        "is a permanent failure. Unset: the body is not read.",
    )
    equals: JsonScalar | None = Field(
        None,
        description='The value of `field` that means delivered: 0, true or "ok" (as in YAML: '
        '0, true and "0" differ). Required with `field`.',
    )
    retryable: tuple[JsonScalar, ...] = Field(
        (),
        description="Values of `field` that mean retry later, e.g. [45009, 45033, -1] or "
        '["rate_limited"]; every other value is a permanent failure.',
    )
    retry_after_seconds: float = Field(
        DEFAULT_RETRY_AFTER_SECONDS,
        gt=0,
        le=3600,
        description="The pause before retrying a `retryable` answer that has no Retry-After header.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> SuccessCondition:
        if self.status == ():
            raise ValueError("`status` lists no status: name the 2xx ones that count, or leave it out")
        if self.field is None:
            if self.equals is not None or self.retryable:
                raise ValueError("`equals` and `retryable` are values of `field`: set `field` too")
            if self.status is None:
                raise ValueError("set `status`, `field` (with `equals`) or both")
        elif self.equals is None:
            raise ValueError(f"set `equals` to the value of `{self.field}` that means delivered")
        elif any(same(value, self.equals) for value in self.retryable):
            raise ValueError("`retryable` must not hold the `equals` value")
        return self


def same(a: object, b: object) -> bool:
    """JSON equality: a boolean is never a number (Python has ``True == 1``), 1 and 1.0 are one."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


def lookup(data: object, path: str) -> tuple[bool, object]:
    """Whether ``path`` (dotted keys, digits indexing lists) is in ``data``, and its value."""
    for key in path.split("."):
        if isinstance(data, dict) and key in data:
            data = data[key]
        elif isinstance(data, list) and key.isascii() and key.isdigit() and int(key) < len(data):
            data = data[int(key)]
        else:
            return False, None
    return True, data


def check_answer(
    response: httpx.Response, success: SuccessCondition | None, *, target: str, secrets: list[str]
) -> None:
    """The user's success condition on a 2xx answer: return when it holds, else raise."""
    if success is None:
        return
    status = response.status_code
    shown = scrub(response.text, secrets)[:MAX_BODY_SHOWN]  # scrub first: a cut may split a secret
    if success.status is not None and status not in success.status:
        expected = ", ".join(map(str, success.status))
        raise PermanentError(f"{target} answered HTTP {status}, not a success status ({expected}): {shown}")
    if success.field is None:
        return
    try:
        found, value = lookup(orjson.loads(response.content), success.field)
    except orjson.JSONDecodeError:
        raise PermanentError(f"{target} answered HTTP {status} without JSON: {shown}") from None
    if not found:
        raise PermanentError(f"{target} answered HTTP {status} without `{success.field}`: {shown}")
    if same(value, success.equals):
        return
    got = scrub(orjson.dumps(value).decode(), secrets)[:MAX_BODY_SHOWN]
    verdict = f"{target} answered HTTP {status} with {success.field} = {got}"
    if any(same(value, retryable) for retryable in success.retryable):
        pause = retry_after_seconds(response.headers.get("retry-after"))
        raise RetryableError(
            f"{verdict}, retryable: {shown}",
            retry_after=success.retry_after_seconds if pause is None else pause,
        )
    wanted = orjson.dumps(success.equals).decode()
    raise PermanentError(f"{verdict}, not {wanted}: {shown}")


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
    custom_body: BodySource | None = Field(
        None,
        description="A kube-eventer body instead of body_template: a Go text/template of the JSON "
        "body, as a custom_body_configmap's content (docs/templates.md), executed for one incident per "
        "request (never a digest).",
    )
    text_template: str = Field(
        "text.j2", description="Template of the human-readable text offered to the body."
    )
    timeout_seconds: float = Field(10.0, gt=0, le=120, description="Per HTTP request.")
    rate_limits: tuple[RateLimit, ...] = Field(
        (), description="Limits of the target, e.g. [{messages: 1, per_seconds: 1}]; none by default."
    )
    success: SuccessCondition | None = Field(
        None,
        description="What a 2xx answer must hold to count as delivered, for targets that answer "
        "200 with an error in the body, e.g. {status: [200], field: errcode, equals: 0, "
        "retryable: [45009, 45033, -1]}. Unset: any 2xx is a delivery.",
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
        self._body = CustomBody(config.custom_body, renderer) if config.custom_body else None

    @property
    def target(self) -> str:
        return redact_url(self._url)

    def preview(self, notification: Notification) -> str:
        if self._body is not None and notification.is_digest:  # what the runner sends: one each
            return "\n".join(pretty_json(self._body.body(incident)) for incident in notification.incidents)
        return pretty_json(self.render(notification))

    def render(self, notification: Notification) -> bytes:
        if self._body is not None:
            if notification.is_digest:  # fits() keeps the runner from merging: never reached
                raise PermanentError("a custom_body renders one incident, not a digest")
            return orjson.dumps(self._body.body(notification.incidents[0]))
        text = self._renderer.render(self._config.text_template, notification)
        body = self._renderer.render(self._config.body_template, notification, text=text)
        try:
            return orjson.dumps(orjson.loads(body))
        except orjson.JSONDecodeError as exc:
            raise PermanentError(
                f"body template {self._config.body_template!r} did not render JSON: {exc}"
            ) from None

    def fits(self, notification: Notification) -> bool:
        """Any digest fits the default body (it lists every incident); a custom body, written
        for one Event, takes one incident per request."""
        return self._body is None

    async def send(self, notification: Notification) -> None:
        headers = {"content-type": "application/json"}
        headers.update({k: v.get_secret_value() for k, v in self._config.headers.items()})
        response = await post(
            self._client,
            method=self._config.method,
            url=self._url,
            content=self.render(notification),
            headers=headers,
            target=self.target,
            secrets=self._secrets,
        )
        check_answer(response, self._config.success, target=self.target, secrets=self._secrets)

    async def aclose(self) -> None:
        await self._client.aclose()
