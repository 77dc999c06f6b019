"""Slack's incoming-webhook contract, as Slack documents and enforces it.

``POST /services/T…/B…/<secret>`` with a JSON body holding ``text`` and/or Block Kit
``blocks``. Slack answers ``200 ok``; errors are HTTP statuses with a short code as the
body: 429 ``rate_limited`` with ``Retry-After`` (about one message per second), 400
``invalid_payload`` / ``invalid_blocks`` / ``no_text``, 403 ``action_prohibited``, 404
``no_service`` (unknown webhook) or ``channel_not_found``, 410 ``channel_is_archived``, 500
``rollup_error``. Block Kit limits are in characters, counted here as UTF-16 code units.

With ``answers="json"`` it answers as the Web API (``chat.postMessage``) and relays in front
of Slack do: HTTP 200 ``{"ok": true}``, every refusal HTTP 200 ``{"ok": false, "error":
code}``, only 429 and 5xx kept as statuses (with the same JSON body).
"""

from __future__ import annotations

import math
import re
import threading
from collections import deque
from typing import Any, Literal

import orjson

from tests.support.vendors import SlidingWindow, json_reply
from tests.support.webhook_server import Reply, Request

MAX_BLOCKS = 50
MAX_TEXT = 40_000
LIMITS = {"header": 150, "section": 3000, "field": 2000, "context": 3000, "button": 75, "url": 3000}
BLOCK_TYPES = {"header", "section", "context", "actions", "divider"}

PING = re.compile(
    r"<(?:!here|!channel|!everyone|@[UW][A-Z0-9]+|!subteam\^[A-Z0-9]+)[^>]*>|@(?:here|channel|everyone)\b"
)
LINK = re.compile(r"<(?:https?|mailto|ftp|tel):[^>]*>|\b(?:https?|ftp)://")


def chars(text: str) -> int:
    return len(text.encode("utf-16-le", errors="replace")) // 2


def mrkdwn_texts(message: dict[str, Any]) -> list[str]:
    """Every text Slack parses for mentions and links: ``text`` and the blocks' mrkdwn."""
    found = [message.get("text") or ""]
    for block in message.get("blocks", []):
        for obj in [block.get("text"), *block.get("fields", []), *block.get("elements", [])]:
            if isinstance(obj, dict) and obj.get("type") == "mrkdwn":
                found.append(obj["text"])
    return found


def pings(message: dict[str, Any]) -> list[str]:
    """The mentions Slack would notify people for."""
    return [m.group(0) for text in mrkdwn_texts(message) for m in PING.finditer(text)]


def links(message: dict[str, Any]) -> list[str]:
    """Clickable links in the text (buttons excluded: their URL is ours)."""
    return [m.group(0) for text in mrkdwn_texts(message) for m in LINK.finditer(text)]


def _text_error(obj: object, limit: int, kinds: tuple[str, ...] = ("mrkdwn", "plain_text")) -> str | None:
    if not isinstance(obj, dict) or obj.get("type") not in kinds or not isinstance(obj.get("text"), str):
        return "invalid_blocks"
    if not 1 <= chars(obj["text"]) <= limit:
        return "invalid_blocks"
    return None


def _button_error(button: object, action_ids: set[str]) -> str | None:
    if not isinstance(button, dict) or button.get("type") != "button":
        return "invalid_blocks"
    action_id = button.get("action_id", "")
    if action_id in action_ids or len(action_id) > 255:
        return "invalid_blocks"
    action_ids.add(action_id)
    url = button.get("url")
    if url is not None and not (isinstance(url, str) and 0 < chars(url) <= LIMITS["url"]):
        return "invalid_blocks"
    return _text_error(button.get("text"), LIMITS["button"], ("plain_text",))


def _block_error(block: object, action_ids: set[str]) -> str | None:
    if not isinstance(block, dict) or block.get("type") not in BLOCK_TYPES:
        return "invalid_blocks"
    kind = block["type"]
    if kind == "header":
        return _text_error(block.get("text"), LIMITS["header"], ("plain_text",))
    if kind == "section":
        if "text" not in block and "fields" not in block:
            return "invalid_blocks"
        if "text" in block and (error := _text_error(block["text"], LIMITS["section"])):
            return error
        fields = block.get("fields", [None])
        if "fields" in block and not (isinstance(fields, list) and 1 <= len(fields) <= 10):
            return "invalid_blocks"
        for field in block.get("fields", []):
            if error := _text_error(field, LIMITS["field"]):
                return error
        return _button_error(block["accessory"], action_ids) if "accessory" in block else None
    if kind == "context":
        elements = block.get("elements")
        if not isinstance(elements, list) or not 1 <= len(elements) <= 10:
            return "invalid_blocks"
        return next((e for e in (_text_error(x, LIMITS["context"]) for x in elements) if e), None)
    if kind == "actions":
        elements = block.get("elements")
        if not isinstance(elements, list) or not 1 <= len(elements) <= 25:
            return "invalid_blocks"
        return next((e for e in (_button_error(x, action_ids) for x in elements) if e), None)
    return None


def payload_error(message: object) -> str | None:
    """The code Slack answers a malformed message with, or None when it is acceptable."""
    if not isinstance(message, dict):
        return "invalid_payload"
    text, blocks = message.get("text"), message.get("blocks")
    if text is not None and not isinstance(text, str):
        return "invalid_payload"
    if not text and not blocks:
        return "no_text"
    if text and chars(text) > MAX_TEXT:
        return "msg_too_long"
    if blocks is None:
        return None
    if not isinstance(blocks, list) or len(blocks) > MAX_BLOCKS:
        return "invalid_blocks"
    action_ids: set[str] = set()
    return next((e for e in (_block_error(b, action_ids) for b in blocks) if e), None)


class SlackWebhook:
    """One incoming webhook; records the messages a channel would show."""

    def __init__(
        self,
        *,
        path: str,
        per_seconds: float = 1.0,
        messages: int = 1,
        answers: Literal["text", "json"] = "text",
    ) -> None:
        self.path = path
        self.answers = answers
        self.window = SlidingWindow(messages, per_seconds)
        self.messages: list[dict[str, Any]] = []
        self._failures: deque[tuple[int, str, dict[str, str]]] = deque()
        self._lock = threading.Lock()

    def fail(self, status: int, code: str, *, times: int = 1, retry_after: float | None = None) -> None:
        """Answer the next ``times`` well-addressed requests with this error (an outage, an
        archived channel, a revoked app)."""
        headers = {"retry-after": str(retry_after)} if retry_after is not None else {}
        with self._lock:
            self._failures.extend([(status, code, headers)] * times)

    def __call__(self, _index: int, request: Request) -> Reply:
        if request.path != self.path:
            return self._reply(404, "no_service")
        if request.method != "POST":
            return self._reply(405, "invalid_method")
        with self._lock:
            failure = self._failures.popleft() if self._failures else None
        if failure:
            return self._reply(failure[0], failure[1], failure[2])
        if not self.window.admit():
            wait = max(1, math.ceil(self.window.seconds))
            return self._reply(429, "rate_limited", {"retry-after": str(wait)})
        if not request.headers.get("content-type", "").startswith("application/json"):
            return self._reply(400, "invalid_payload")
        try:
            message = orjson.loads(request.body)
        except orjson.JSONDecodeError:
            return self._reply(400, "invalid_payload")
        if error := payload_error(message):
            return self._reply(400, error)
        with self._lock:
            self.messages.append(message)
        return self._reply(200, "ok")

    def _reply(self, status: int, code: str, headers: dict[str, str] | None = None) -> Reply:
        if self.answers == "text":
            return _reply(status, code, headers)
        if code == "ok":
            return json_reply({"ok": True}, status, headers)
        if status < 500 and status != 429:
            status = 200  # the Web API's way: a refusal is an ok-false answer, not a status
        return json_reply({"ok": False, "error": code}, status, headers)


def _reply(status: int, body: str, headers: dict[str, str] | None = None) -> Reply:
    return status, {"content-type": "text/html", **(headers or {})}, body.encode()
