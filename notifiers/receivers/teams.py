"""Microsoft Teams through a Workflows webhook: one Adaptive Card per notification.

Workflows ("When a Teams webhook request is received" → "Post card in a chat or channel")
posts the card it is given and answers 202 Accepted. Teams refuses messages over 28 KB,
so the card is measured as serialized JSON and the incidents' details are cut to fit.
Every TextBlock and fact is Adaptive Card markdown, so event text is escaped for it; the
only mention is the configured user, attached as an ``msteams`` mention entity.

Workflows signals errors by HTTP status only. The retired Office 365 connectors
(``…webhook.office.com/webhookb2/…``) answered ``1`` on success and HTTP 200 with
"Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error
429 with ContextId …" on failure (Microsoft documents the wrapping as deliberate,
MicrosoftDocs/msteams-docs#1810): such a text is read as the status it names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Literal

import httpx
import orjson
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from notifiers.errors import PermanentError, RetryableError
from notifiers.http import MAX_BODY_SHOWN, post, pretty_json
from notifiers.markup import DIALECTS, Clip, json_size, truncate_json_text
from notifiers.notification import Notification
from notifiers.pacing import RateLimit
from notifiers.templating import Renderer
from runtime.log import register_secrets
from runtime.redact import redact_url, scrub, url_secrets
from schemas import Incident, IncidentStatus, Severity

MAX_PAYLOAD_BYTES = 27_000
"""Teams refuses messages over 28 KB; the rest is room for what Workflows wraps around the card."""
TITLE_BYTES = 1024
FACT_BYTES = 512
MIN_BODY_BYTES = 400
"""What each incident keeps of its details (if it has that much) before a digest shows fewer
incidents instead."""
CARD_VERSION = "1.4"
MIN_SECRET_CHARS = 12
escape_markdown = DIALECTS["teams"].neutralise

CONNECTOR_FAILURE = re.compile(r"Microsoft Teams endpoint returned HTTP error (\d{3})")
"""How a connector words the status it wrapped in its 200 answer."""

COLORS = {Severity.CRITICAL: "Attention", Severity.WARNING: "Warning", Severity.INFO: "Accent"}
CLOSED_COLORS = {"recovered": "Good", "quiet": "Default", "closed": "Default"}
"""Green only for a recovery proven by an Event."""


class TeamsMention(BaseModel):
    """A user to notify: Teams resolves the UPN; the name is what the card shows."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    upn: str = Field(
        pattern=r"^[^\s@<>]+@[^\s@<>]+\.[^\s@<>]+$",
        description="User principal name (usually the sign-in e-mail), e.g. oncall@contoso.com.",
    )
    name: str = Field(
        min_length=1,
        max_length=100,
        pattern=r"^[^<>&\r\n]+$",
        description="Display name shown in the mention, e.g. On-call.",
    )


class TeamsConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    type: Literal["teams"] = "teams"
    url: SecretStr = Field(
        description="Workflows webhook URL (…/workflows/…/triggers/manual/paths/invoke?…&sig=…); "
        "the `sig` parameter is its key, so the URL is a secret."
    )
    mention: TeamsMention | None = Field(None, description="User to mention on urgent incidents.")
    mention_min_severity: Severity = Field(
        Severity.CRITICAL, description="Mention only for firing incidents at or above this severity."
    )
    template: str = Field(
        "teams.md.j2",
        description="Template of every text in the card, rendered once per `part` "
        "(summary, title, body); see the packaged file.",
    )
    timeout_seconds: float = Field(10.0, gt=0, le=120, description="Per HTTP request.")
    rate_limits: tuple[RateLimit, ...] = Field(
        (RateLimit(messages=4, per_seconds=1),),
        description="Teams throttles a webhook that sends more than four requests a second "
        "(HTTP 429); Workflows adds its own per-flow limits, far higher.",
    )


@dataclass(frozen=True, slots=True)
class _Entry:
    """One incident's texts, rendered and escaped, before they are fitted into the card."""

    title: str
    color: str
    facts: tuple[tuple[str, str], ...]
    body: str | None
    """The details TextBlock; None when the template rendered nothing."""
    link: str | None


def _text_block(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True, **style}


def raise_for_connector_text(response: httpx.Response, *, target: str, secrets: list[str]) -> None:
    """A 2xx answer whose text says Teams refused the message (a connector's way) fails as
    the status it names would: 408, 429 and 5xx retryable, other codes permanent. Any other
    2xx (Workflows' empty 202, a connector's ``1``) is a delivery."""
    found = CONNECTOR_FAILURE.search(response.text[:2000])
    if found is None:
        return
    status = int(found.group(1))
    shown = scrub(response.text, secrets)[:MAX_BODY_SHOWN]  # scrub first: a cut may split a secret
    message = f"{target} answered HTTP {response.status_code} wrapping HTTP {status}: {shown}"
    if status in {408, 429} or status >= 500:
        raise RetryableError(message)
    raise PermanentError(message)


class TeamsReceiver:
    config_model: ClassVar[type[BaseModel]] = TeamsConfig
    type = "teams"

    def __init__(self, config: BaseModel, renderer: Renderer) -> None:
        assert isinstance(config, TeamsConfig)
        self.name = config.name
        self.rate_limits = config.rate_limits
        self._config = config
        self._renderer = renderer
        self._url = config.url.get_secret_value()
        # The key is `sig`; short query values (api-version, sv=1.0) are not secrets, and
        # scrubbing them would garble every log line that happens to contain "1.0".
        self._secrets = [s for s in url_secrets(self._url) if len(s) >= MIN_SECRET_CHARS]
        register_secrets(self._secrets)
        self._client = httpx.AsyncClient(timeout=config.timeout_seconds)

    @property
    def target(self) -> str:
        return redact_url(self._url)

    def fits(self, notification: Notification) -> bool:
        return self.message(notification)[1]

    async def send(self, notification: Notification) -> None:
        """Workflows answers 202 once the flow has the card; 429 (throttled) and 5xx are
        retryable, any other 4xx (bad signature, flow deleted, 413) is permanent: ``post``
        reads all of it from the HTTP status, the only signal Workflows gives. A connector's
        200 that wraps an error is read by :func:`raise_for_connector_text`."""
        body, _ = self.message(notification)
        response = await post(
            self._client,
            method="POST",
            url=self._url,
            content=body,
            headers={"content-type": "application/json; charset=utf-8"},
            target=self.target,
            secrets=self._secrets,
        )
        raise_for_connector_text(response, target=self.target, secrets=self._secrets)

    async def aclose(self) -> None:
        await self._client.aclose()

    def preview(self, notification: Notification) -> str:
        return pretty_json(self.message(notification)[0])

    def message(self, notification: Notification) -> tuple[bytes, bool]:
        """The serialized payload, at most MAX_PAYLOAD_BYTES, and whether nothing was cut."""
        clip = Clip()
        labels: dict[str, str] = self._renderer.context(notification)["t"]
        digest = notification.is_digest
        summary = self._render(notification, "summary", digest=digest) if digest else ""
        entries = [
            self._entry(incident, labels, digest=digest, clip=clip) for incident in notification.incidents
        ]

        def serialize(shown: list[_Entry]) -> bytes:
            hidden = len(entries) - len(shown)
            more = f"+{hidden} {labels['more']}" if hidden else ""
            card = self._card(summary, self._mention(notification), shown, more, labels["details"])
            return orjson.dumps(card)

        payload = serialize(entries)
        if len(payload) <= MAX_PAYLOAD_BYTES:
            return payload, clip.lossless
        # Too big: details share what is left; a digest that leaves too little shows fewer incidents.
        shown = entries
        while True:
            bare = len(serialize([replace(e, body="" if e.body is not None else None) for e in shown]))
            least = sum(min(json_size(e.body or ""), MIN_BODY_BYTES) for e in shown)
            if bare + least <= MAX_PAYLOAD_BYTES or len(shown) == 1:
                break
            shown = shown[:-1]
        sizes = [json_size(e.body or "") for e in shown]
        budgets = self._share(MAX_PAYLOAD_BYTES - bare, sizes)
        fitted = [
            replace(e, body=truncate_json_text(e.body, budget)) if e.body and budget < size else e
            for e, size, budget in zip(shown, sizes, budgets, strict=True)
        ]
        return serialize(fitted), False

    @staticmethod
    def _share(room: int, sizes: list[int]) -> list[int]:
        """Split ``room`` so small details stay whole and the large ones get equal shares."""
        budgets = [0] * len(sizes)
        left = len(sizes)
        for index in sorted(range(len(sizes)), key=sizes.__getitem__):
            budgets[index] = min(sizes[index], room // left)
            room -= budgets[index]
            left -= 1
        return budgets

    def _card(
        self, summary: str, mention: str | None, entries: list[_Entry], more: str, details: str
    ) -> dict[str, Any]:
        body: list[dict[str, Any]] = []
        if summary:
            body.append(_text_block(summary, size="Large", weight="Bolder"))
        if mention:
            body.append(_text_block(mention))
        for index, entry in enumerate(entries):
            items: list[dict[str, Any]] = [
                _text_block(entry.title, size="Medium", weight="Bolder", color=entry.color),
                {"type": "FactSet", "facts": [{"title": t, "value": v} for t, v in entry.facts]},
            ]
            if entry.body is not None:
                items.append(_text_block(entry.body))
            if entry.link:
                action = {"type": "Action.OpenUrl", "title": details, "url": entry.link}
                items.append({"type": "ActionSet", "actions": [action]})
            body.append({"type": "Container", "separator": index > 0, "spacing": "Medium", "items": items})
        if more:
            body.append(_text_block(more, isSubtle=True))
        msteams: dict[str, Any] = {"width": "Full"}
        if mention and self._config.mention:
            who = self._config.mention
            msteams["entities"] = [
                {"type": "mention", "text": mention, "mentioned": {"id": who.upn, "name": who.name}}
            ]
        card = {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": CARD_VERSION,
            "msteams": msteams,
            "body": body,
        }
        return {
            "type": "message",
            "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "content": card}],
        }

    def _entry(self, incident: Incident, labels: dict[str, str], *, digest: bool, clip: Clip) -> _Entry:
        single = Notification((incident,))
        view = self._renderer.context(single)["incident"]
        state = view["state"]
        color = COLORS[incident.severity] if state == "firing" else CLOSED_COLORS[state]
        facts = [(name, clip(escape_markdown(v), FACT_BYTES)) for name, v in self._renderer.facts(view)]
        return _Entry(
            title=clip(self._render(single, "title", digest=digest).strip(), TITLE_BYTES),
            color=color,
            facts=tuple(facts),
            body=self._render(single, "body", digest=digest).strip() or None,
            link=view["link"],
        )

    def _render(self, notification: Notification, part: str, *, digest: bool) -> str:
        return self._renderer.render(
            self._config.template, notification, markup="teams", part=part, compact=digest
        )

    def _mention(self, notification: Notification) -> str | None:
        """``<at>name</at>``, for the entity of the same text, when an incident is urgent enough."""
        who = self._config.mention
        if who is None:
            return None
        floor = self._config.mention_min_severity.rank
        if any(
            i.status is IncidentStatus.FIRING and i.severity.rank >= floor for i in notification.incidents
        ):
            return f"<at>{who.name}</at>"
        return None
