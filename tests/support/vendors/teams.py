"""The Teams Workflows webhook contract: Adaptive Cards in, 202 Accepted out.

``POST /workflows/<id>/triggers/manual/paths/invoke?api-version=…&sp=…&sv=…&sig=<key>``
with ``{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.
adaptive","content":<AdaptiveCard>}]}``. A wrong ``sig`` is 401, a message over 28 KB is 413,
more than four requests a second is 429 with ``Retry-After``. Workflows itself accepts a
malformed card and fails later inside the flow run, where the sender never hears of it; this
stand-in refuses one with 400 so our mistakes show up in tests instead of in silence.

:class:`TeamsConnector` is the retired Office 365 connector (``…/webhookb2/…``) that some
tenants still post to: it answers ``1``, and wraps every refusal (a removed channel, a
message over 28 KB, throttling) in an HTTP 200 text naming the status, which Microsoft
documents as deliberate (MicrosoftDocs/msteams-docs#1810, #7425).
"""

from __future__ import annotations

import math
import re
import threading
from collections import deque
from typing import Any

import orjson

from tests.support.vendors import SlidingWindow, json_reply
from tests.support.webhook_server import Reply, Request

MAX_BYTES = 28 * 1024
CARD = "application/vnd.microsoft.card.adaptive"
VERSIONS = {"1.0", "1.1", "1.2", "1.3", "1.4", "1.5"}
ELEMENTS = {"TextBlock", "FactSet", "Container", "ActionSet", "ColumnSet", "Column", "Image"}
AT = re.compile(r"<at>(.*?)</at>")


def _error(status: int, code: str, headers: dict[str, str] | None = None) -> Reply:
    return json_reply({"error": {"code": code, "message": code}}, status, headers)


def walk(elements: list[Any]) -> list[dict[str, Any]]:
    """Every element of a card body, containers' items included, in reading order."""
    found: list[dict[str, Any]] = []
    for element in elements:
        found.append(element)
        for key in ("items", "columns"):
            if isinstance(element, dict) and isinstance(element.get(key), list):
                found.extend(walk(element[key]))
    return found


def markdown_texts(card: dict[str, Any]) -> list[str]:
    """Every string Teams renders as markdown: TextBlocks and both sides of every fact."""
    texts: list[str] = []
    for element in walk(card["body"]):
        if element.get("type") == "TextBlock":
            texts.append(element["text"])
        elif element.get("type") == "FactSet":
            texts.extend(text for fact in element["facts"] for text in (fact["title"], fact["value"]))
    return texts


def mentions(card: dict[str, Any]) -> list[str]:
    """Who Teams notifies: entities whose ``<at>`` text appears in a TextBlock."""
    shown = " ".join(markdown_texts(card))
    return [
        entity["mentioned"]["id"]
        for entity in card.get("msteams", {}).get("entities", [])
        if entity.get("type") == "mention" and entity["text"] in shown
    ]


def _element_error(element: object) -> str | None:
    if not isinstance(element, dict) or element.get("type") not in ELEMENTS:
        return f"unknown element {element!r:.60}"
    kind = element["type"]
    if kind == "TextBlock" and not isinstance(element.get("text"), str):
        return "TextBlock without text"
    if kind == "FactSet":
        facts = element.get("facts")
        if not isinstance(facts, list) or not all(
            isinstance(f, dict) and isinstance(f.get("title"), str) and isinstance(f.get("value"), str)
            for f in facts
        ):
            return "FactSet facts must be {title, value} strings"
    if kind == "ActionSet":
        return _actions_error(element.get("actions"))
    return None


def _actions_error(actions: object) -> str | None:
    if not isinstance(actions, list):
        return "actions must be a list"
    for action in actions:
        if not isinstance(action, dict) or action.get("type") != "Action.OpenUrl":
            return "only Action.OpenUrl is expected"
        if not re.match(r"^https?://", str(action.get("url"))) or not isinstance(action.get("title"), str):
            return "Action.OpenUrl needs an http(s) url and a title"
    return None


def card_error(message: object) -> str | None:
    """Why Teams would not show this message as a card, or None."""
    if not isinstance(message, dict) or message.get("type") != "message":
        return 'expected {"type": "message", ...}'
    attachments = message.get("attachments")
    if not isinstance(attachments, list) or not attachments:
        return "attachments must hold the card"
    for attachment in attachments:
        if not isinstance(attachment, dict) or attachment.get("contentType") != CARD:
            return f"contentType must be {CARD}"
        card = attachment.get("content")
        if not isinstance(card, dict) or card.get("type") != "AdaptiveCard":
            return "content must be an AdaptiveCard"
        if card.get("version") not in VERSIONS:
            return f"unsupported card version {card.get('version')!r}"
        if not isinstance(card.get("body"), list):
            return "card body must be a list"
        for element in walk(card["body"]):
            if error := _element_error(element):
                return error
        if "actions" in card and (error := _actions_error(card["actions"])):
            return error
        if error := _mentions_error(card):
            return error
    return None


def _mentions_error(card: dict[str, Any]) -> str | None:
    shown = " ".join(markdown_texts(card))
    for entity in card.get("msteams", {}).get("entities", []):
        mentioned = entity.get("mentioned", {})
        if entity.get("type") != "mention" or not AT.fullmatch(str(entity.get("text"))):
            return "a mention entity needs text <at>…</at>"
        if not (mentioned.get("id") and mentioned.get("name")) or entity["text"] not in shown:
            return "a mention needs an id, a name and its <at> text in the card"
    return None


class TeamsWorkflow:
    """One Workflows webhook; records the cards the channel would show."""

    def __init__(self, *, path: str, sig: str, per_seconds: float = 1.0, messages: int = 4) -> None:
        self.path = path
        self.sig = sig
        self.window = SlidingWindow(messages, per_seconds)
        self.cards: list[dict[str, Any]] = []
        self.sizes: list[int] = []
        self._failures: deque[tuple[int, dict[str, str]]] = deque()
        self._lock = threading.Lock()

    def fail(self, status: int, *, times: int = 1, retry_after: float | None = None) -> None:
        """Answer the next ``times`` authorized requests with ``status`` (an outage, throttling)."""
        headers = {"retry-after": str(retry_after)} if retry_after is not None else {}
        with self._lock:
            self._failures.extend([(status, headers)] * times)

    def __call__(self, _index: int, request: Request) -> Reply:
        if request.path != self.path:
            return _error(404, "WorkflowNotFound")
        if request.query.get("sig") != [self.sig] or not request.query.get("api-version"):
            return _error(401, "DirectApiInvalidAuthorizationSignature")
        if request.method != "POST":
            return _error(405, "MethodNotAllowed")
        with self._lock:
            failure = self._failures.popleft() if self._failures else None
        if failure:
            return _error(failure[0], "Failure", failure[1])
        if not self.window.admit():
            return _error(429, "TooManyRequests", {"retry-after": str(math.ceil(self.window.seconds))})
        if len(request.body) > MAX_BYTES:
            return _error(413, "RequestEntityTooLarge")
        if not request.headers.get("content-type", "").startswith("application/json"):
            return _error(415, "UnsupportedMediaType")
        try:
            message = orjson.loads(request.body)
        except orjson.JSONDecodeError:
            return _error(400, "InvalidRequestContent")
        if error := card_error(message):
            return json_reply({"error": {"code": "InvalidCard", "message": error}}, 400)
        with self._lock:
            self.cards.extend(a["content"] for a in message["attachments"])
            self.sizes.append(len(request.body))
        return 202, {}, b""


def connector_failure(status: int) -> Reply:
    """A connector's HTTP 200 that wraps the status Teams answered, word for word as reported."""
    text = (
        f"Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error "
        f"{status} with ContextId tcid=0,server=msgapi-production-weu-azsc5-1-17,cv=dGVzdA.0,MS-CV=dGVzdA.0.."
    )
    return 200, {"content-type": "text/plain; charset=utf-8"}, text.encode()


class TeamsConnector:
    """One Office 365 connector webhook; records the cards the channel would show."""

    def __init__(self, *, path: str, per_seconds: float = 1.0, messages: int = 4) -> None:
        self.path = path
        self.window = SlidingWindow(messages, per_seconds)
        self.cards: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def __call__(self, _index: int, request: Request) -> Reply:
        if request.method != "POST":
            return _error(405, "MethodNotAllowed")
        if request.path != self.path:
            return connector_failure(400)  # a removed channel, as reported in msteams-docs#400
        if not self.window.admit():
            return connector_failure(429)
        if len(request.body) > MAX_BYTES:
            return connector_failure(413)
        try:
            message = orjson.loads(request.body)
        except orjson.JSONDecodeError:
            return connector_failure(400)
        if card_error(message):
            return connector_failure(400)
        with self._lock:
            self.cards.extend(a["content"] for a in message["attachments"])
        return 200, {"content-type": "text/plain; charset=utf-8"}, b"1"
