"""Slack incoming webhooks: one Block Kit message per notification.

Slack shows ``blocks`` in the channel and uses ``text`` for push notifications and screen
readers, so both are sent. Every piece of human text comes from one template rendered per
``part`` with mrkdwn escaping; the only mention is the configured one, added here.

Slack's limits are in characters (Block Kit: header 150, section text 3000, field 2000,
50 blocks); they are counted as UTF-16 code units, never fewer than what Slack counts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import httpx
import orjson
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from notifiers.errors import PermanentError, RetryableError
from notifiers.http import MAX_BODY_SHOWN, post, pretty_json, retry_after_seconds
from notifiers.markup import TRUNCATION_MARKER, Clip, Markup
from notifiers.markup import slack as escape_mrkdwn
from notifiers.notification import Notification
from notifiers.pacing import RateLimit
from notifiers.templating import Renderer
from runtime.log import register_secrets
from runtime.redact import redact_url, scrub, url_secrets
from schemas import Incident, IncidentStatus, Severity

MAX_BLOCKS = 50
HEADER_CHARS = 150
SECTION_CHARS = 3000
FIELD_CHARS = 2000
CONTEXT_CHARS = 3000
BUTTON_CHARS = 75
URL_CHARS = 3000
FALLBACK_CHARS = 3000
"""Slack advises at most 4,000 characters of top-level ``text``; it only feeds notifications."""
MESSAGE_CHARS = 20_000
"""Our budget for all block text: half the 40,000 characters past which Slack cuts a message."""
MIN_BODY_CHARS = 300
"""What each incident keeps of its details when a message must be cut to the budget."""

RETRYABLE_ERRORS = frozenset(
    {"rate_limited", "ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
"""``error`` codes of a ``{"ok": false}`` answer that a later attempt can cure: Slack's rate
limit (spelled both ways) and its transient server errors. Every other code is permanent."""
RATE_LIMIT_PAUSE_SECONDS = 1.0
"""After a rate-limit answer without Retry-After: Slack's budget is about one message a second."""

_MENTION = r"<(?:!here|!channel|!everyone|@[UW][A-Z0-9]{2,}|!subteam\^S[A-Z0-9]{2,})>"
MENTION_PATTERN = re.compile(rf"{_MENTION}(?: {_MENTION})*")


class SlackConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    type: Literal["slack"] = "slack"
    url: SecretStr = Field(
        description="Incoming webhook URL (https://hooks.slack.com/services/T…/B…/…); a secret."
    )
    mention: str | None = Field(
        None,
        description="Who to notify, in Slack syntax: `<!here>`, `<!channel>`, `<@U0123ABC>` or "
        "`<!subteam^S0123ABC>`; several separated by one space.",
    )
    mention_min_severity: Severity = Field(
        Severity.CRITICAL, description="Mention only for firing incidents at or above this severity."
    )
    template: str = Field(
        "slack.mrkdwn.j2",
        description="Template of every text in the message, rendered once per `part` "
        "(header, fallback, body, seen); see the packaged file.",
    )
    timeout_seconds: float = Field(10.0, gt=0, le=120, description="Per HTTP request.")
    rate_limits: tuple[RateLimit, ...] = Field(
        (RateLimit(messages=1, per_seconds=1),),
        description="Slack allows about one message per second per webhook (short bursts are "
        "tolerated, then HTTP 429 with Retry-After).",
    )

    @field_validator("mention")
    @classmethod
    def _slack_mention(cls, value: str | None) -> str | None:
        if value is not None and not MENTION_PATTERN.fullmatch(value):
            raise ValueError(
                "expected Slack mention syntax such as <!here>, <@U0123ABC> or <!subteam^S0123ABC>"
            )
        return value


def slack_chars(text: str) -> int:
    """Length as UTF-16 code units: an emoji counts two, so we never undercount."""
    return len(text.encode("utf-16-le", errors="replace")) // 2


def truncate_chars(text: str, limit: int, marker: str = TRUNCATION_MARKER) -> str:
    """Cut ``text`` to at most ``limit`` UTF-16 code units, ending with ``marker``."""
    if slack_chars(text) <= limit:
        return text
    room = limit - slack_chars(marker)
    if room < 0:
        raise ValueError(f"a limit of {limit} characters cannot hold the truncation marker")
    cut = text.encode("utf-16-le", errors="replace")[: room * 2]
    return cut.decode("utf-16-le", errors="ignore") + marker


@dataclass(frozen=True, slots=True)
class _Entry:
    """One incident's texts, rendered and escaped, before they are fitted into blocks."""

    body: str
    seen: str
    link: str | None
    fields: tuple[str, ...]


def _text(text: str, kind: str = "mrkdwn") -> dict[str, Any]:
    """A text object. mrkdwn is ``verbatim``: Slack then links and mentions only what is
    written in ``<…>`` syntax (which escaped event text cannot contain), not bare domains,
    ``#channel`` names or ``@here``."""
    return (
        {"type": kind, "text": text, "verbatim": True} if kind == "mrkdwn" else {"type": kind, "text": text}
    )


def _block_chars(blocks: list[dict[str, Any]]) -> int:
    total = 0
    for block in blocks:
        texts = [block.get("text"), *block.get("fields", ()), *block.get("elements", ())]
        total += sum(slack_chars(text["text"]) for text in texts if text)
    return total


class SlackReceiver:
    config_model: ClassVar[type[BaseModel]] = SlackConfig
    type = "slack"

    def __init__(self, config: BaseModel, renderer: Renderer) -> None:
        assert isinstance(config, SlackConfig)
        self.name = config.name
        self.rate_limits = config.rate_limits
        self._config = config
        self._renderer = renderer
        self._url = config.url.get_secret_value()
        self._secrets = url_secrets(self._url)
        register_secrets(self._secrets)
        self._client = httpx.AsyncClient(timeout=config.timeout_seconds)

    @property
    def target(self) -> str:
        return redact_url(self._url)

    def fits(self, notification: Notification) -> bool:
        return self.message(notification)[1]

    async def send(self, notification: Notification) -> None:
        message, _ = self.message(notification)
        response = await post(
            self._client,
            method="POST",
            url=self._url,
            content=orjson.dumps(message),
            headers={"content-type": "application/json; charset=utf-8"},
            target=self.target,
            secrets=self._secrets,
        )
        self._read_answer(response)

    async def aclose(self) -> None:
        await self._client.aclose()

    def _read_answer(self, response: httpx.Response) -> None:
        """Slack's verdict in a 2xx answer (its HTTP errors, 429 with Retry-After, 400
        invalid_payload, 403, 404, 410, 5xx, were classified by ``post``).

        An incoming webhook answers plain ``ok``; the Web API and proxies in front of Slack
        answer JSON ``{"ok": true}`` or ``{"ok": false, "error": "…"}``: both successes count,
        and a false ``ok`` is retryable for the codes in :data:`RETRYABLE_ERRORS` (after
        Retry-After, or a second), permanent otherwise. Any other 2xx body (an HTML page from
        a proxy, an empty 204) is permanent: it proves no delivery, and retrying a message
        that may have arrived could post it twice."""
        text = response.text.strip()
        if text == "ok":
            return
        try:
            answer = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            answer = None
        shown = scrub(response.text, self._secrets)[:MAX_BODY_SHOWN]  # scrub first: a cut may split a secret
        if not isinstance(answer, dict) or not isinstance(answer.get("ok"), bool):
            raise PermanentError(f"{self.target} answered HTTP {response.status_code}: {shown!r}")
        if answer["ok"]:
            return
        error = answer.get("error")
        reason = f"{self.target} answered HTTP {response.status_code} with ok false: {shown}"
        if error in RETRYABLE_ERRORS:
            pause = retry_after_seconds(response.headers.get("retry-after"))
            if pause is None and error in {"rate_limited", "ratelimited"}:
                pause = RATE_LIMIT_PAUSE_SECONDS
            raise RetryableError(reason, retry_after=pause)
        raise PermanentError(reason)

    def preview(self, notification: Notification) -> str:
        return pretty_json(self.message(notification)[0])

    def message(self, notification: Notification) -> tuple[dict[str, Any], bool]:
        """The webhook payload, and whether it shows everything without truncation."""
        clip = Clip(truncate_chars)
        labels: dict[str, str] = self._renderer.context(notification)["t"]
        mention = self._mention(notification)
        digest = notification.is_digest
        header = " ".join(self._render(notification, "header", "plain", digest=digest).split())
        fallback = self._render(notification, "fallback", "slack", digest=digest).strip()
        if mention:
            fallback = f"{mention} {fallback}"
        entries = [self._entry(incident, labels, digest=digest) for incident in notification.incidents]

        head: list[dict[str, Any]] = [
            {"type": "header", "text": _text(clip(header, HEADER_CHARS), "plain_text")}
        ]
        if mention:
            head.append({"type": "section", "text": _text(mention)})
        per_entry = 3 if len(entries) == 1 else 2
        shown = entries
        if len(head) + per_entry * len(entries) > MAX_BLOCKS:
            shown = entries[: (MAX_BLOCKS - len(head) - 1) // per_entry]
            clip.lossless = False
        tail = []
        if hidden := len(entries) - len(shown):
            tail = [{"type": "context", "elements": [_text(f"+{hidden} {labels['more']}")]}]

        body_chars = SECTION_CHARS
        blocks = [
            *head,
            *self._incident_blocks(shown, body_chars=body_chars, details=labels["details"], clip=clip),
            *tail,
        ]
        total = _block_chars(blocks)
        if total > MESSAGE_CHARS:
            bodies = sum(min(slack_chars(entry.body), body_chars) for entry in shown)
            body_chars = max(MIN_BODY_CHARS, (MESSAGE_CHARS - total + bodies) // len(shown))
            blocks = [
                *head,
                *self._incident_blocks(shown, body_chars=body_chars, details=labels["details"], clip=clip),
                *tail,
            ]
            clip.lossless = False

        message = {
            "text": truncate_chars(fallback, FALLBACK_CHARS),
            "blocks": blocks,
            "unfurl_links": False,
            "unfurl_media": False,
        }
        return message, clip.lossless

    def _incident_blocks(
        self, entries: list[_Entry], *, body_chars: int, details: str, clip: Clip
    ) -> list[dict[str, Any]]:
        blocks: list[dict[str, Any]] = []
        for index, entry in enumerate(entries):
            button = self._button(entry.link, details, index, clip)
            if entry.fields:
                fields = [_text(clip(field, FIELD_CHARS)) for field in entry.fields]
                blocks.append({"type": "section", "fields": fields})
            if entry.body:
                section: dict[str, Any] = {"type": "section", "text": _text(clip(entry.body, body_chars))}
                if button:
                    section["accessory"] = button
                blocks.append(section)
            elif button and entry.fields:
                blocks[-1]["accessory"] = button
            if entry.seen:
                blocks.append({"type": "context", "elements": [_text(clip(entry.seen, CONTEXT_CHARS))]})
        return blocks

    def _button(self, link: str | None, label: str, index: int, clip: Clip) -> dict[str, Any] | None:
        if not link:
            return None
        if slack_chars(link) > URL_CHARS:
            clip.lossless = False
            return None
        return {
            "type": "button",
            "text": _text(clip(label, BUTTON_CHARS), "plain_text"),
            "url": link,
            "action_id": f"link-{index}",
        }

    def _entry(self, incident: Incident, labels: dict[str, str], *, digest: bool) -> _Entry:
        single = Notification((incident,))
        view = self._renderer.context(single)["incident"]
        fields: tuple[str, ...] = ()
        if not digest:
            fields = tuple(
                f"*{label}*\n{escape_mrkdwn(value)}" for label, value in self._renderer.facts(view)
            )
        return _Entry(
            body=self._render(single, "body", "slack", digest=digest).strip(),
            seen=self._render(single, "seen", "slack", digest=digest).strip(),
            link=view["link"],
            fields=fields,
        )

    def _render(self, notification: Notification, part: str, markup: Markup, *, digest: bool) -> str:
        return self._renderer.render(
            self._config.template, notification, markup=markup, part=part, compact=digest
        )

    def _mention(self, notification: Notification) -> str | None:
        floor = self._config.mention_min_severity.rank
        urgent = any(
            i.status is IncidentStatus.FIRING and i.severity.rank >= floor for i in notification.incidents
        )
        return self._config.mention if urgent else None
