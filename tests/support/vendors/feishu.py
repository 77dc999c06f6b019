"""A Feishu / Lark custom bot as its webhook checks a request.

``POST /open-apis/bot/v2/hook/<token>`` with a JSON body of at most 20 KB; a signed bot
wants ``timestamp`` (seconds, a string) and ``sign`` in the body, within an hour of its
clock; 5 messages a second and 100 a minute. Every verdict is HTTP 200 with a ``code``.
Codes not in the shared reference are marked (unconfirmed) where they are used.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time
from typing import Any

import orjson

from tests.support.vendors import SlidingWindow, json_reply
from tests.support.webhook_server import Reply, Request

HOOK_PREFIX = "/open-apis/bot/v2/hook/"
MAX_BODY_BYTES = 20_000
SIGNATURE_WINDOW_SECONDS = 3600
HEADER_COLOURS = {
    "blue", "wathet", "turquoise", "green", "yellow", "orange",
    "red", "carmine", "violet", "purple", "indigo", "grey",
}  # fmt: skip

OK = 0
BAD_REQUEST = 9499
TOKEN_INVALID = 19001  # (unconfirmed) the code for an unknown hook token
RATE_LIMITED = 11232
BAD_SIGNATURE = 19021
KEYWORD_MISSING = 19024


def signature_valid(secret: str, timestamp: object, sign: object, *, now: float) -> bool:
    """The bot's check: ``timestamp`` within an hour, and ``sign`` as Feishu computes it."""
    if not isinstance(timestamp, str) or not timestamp.isdigit() or not isinstance(sign, str):
        return False
    if abs(now - int(timestamp)) > SIGNATURE_WINDOW_SECONDS:
        return False
    key = f"{timestamp}\n{secret}".encode()
    expected = base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
    return hmac.compare_digest(expected, sign)


def shape_error(body: dict[str, Any]) -> str | None:
    """What is wrong with a text or interactive message, as far as the bot rejects it."""
    kind = body.get("msg_type")
    if kind == "text":
        content = body.get("content")
        if not isinstance(content, dict) or not isinstance(content.get("text"), str) or not content["text"]:
            return "text message without content.text"
        return None
    if kind == "interactive":
        return card_error(body.get("card"))
    return f"msg_type {kind!r} is not one this stand-in knows"


def card_error(card: object) -> str | None:
    if not isinstance(card, dict) or not isinstance(card.get("elements"), list) or not card["elements"]:
        return "card without elements"
    header = card.get("header")
    if header is not None:
        title = header.get("title") if isinstance(header, dict) else None
        if not isinstance(title, dict) or title.get("tag") != "plain_text" or not title.get("content"):
            return "card header without a plain_text title"
        if header.get("template", "blue") not in HEADER_COLOURS:
            return f"unknown header template {header.get('template')!r}"
    for element in card["elements"]:
        problem = element_error(element)
        if problem is not None:
            return problem
    return None


def element_error(element: object) -> str | None:
    tag = element.get("tag") if isinstance(element, dict) else None
    if tag == "div":
        assert isinstance(element, dict)
        text = element.get("text")
        if not isinstance(text, dict) or text.get("tag") not in {"plain_text", "lark_md"}:
            return "div without a plain_text or lark_md text"
        if not isinstance(text.get("content"), str):
            return "div text without content"
    elif tag == "action":
        assert isinstance(element, dict)
        for action in element.get("actions") or [None]:
            if not isinstance(action, dict) or action.get("tag") != "button":
                return "action that is not a button"
            if not str(action.get("url", "")).startswith(("https://", "http://")):
                return "button without an http(s) url"
    elif tag not in {"hr", "note", "markdown"}:
        return f"unknown card element {tag!r}"
    return None


def visible_text(body: dict[str, Any]) -> str:
    """Everything a member of the group reads in an accepted message, joined by newlines."""
    if body["msg_type"] == "text":
        return str(body["content"]["text"])
    card = body["card"]
    parts = [card.get("header", {}).get("title", {}).get("content", "")]
    for element in card["elements"]:
        if element["tag"] == "div":
            parts.append(element["text"]["content"])
        elif element["tag"] == "action":
            parts.extend(f"{a['text']['content']} -> {a['url']}" for a in element["actions"])
    return "\n".join(parts)


class FeishuBot:
    """One custom bot: a Responder that enforces the webhook contract and records what it
    accepted (decoded bodies in :attr:`messages`), so tests count what a user saw."""

    def __init__(
        self,
        token: str,
        *,
        secret: str | None = None,
        keyword: str | None = None,
        per_second: int = 5,
        per_minute: int = 100,
    ) -> None:
        self.token = token
        self.secret = secret
        self.keyword = keyword
        self.windows = (SlidingWindow(per_second, 1.0), SlidingWindow(per_minute, 60.0))
        self.messages: list[dict[str, Any]] = []
        self.refusals: list[int] = []
        self._outage: list[int] = []
        self._lock = threading.Lock()

    @property
    def path(self) -> str:
        return HOOK_PREFIX + self.token

    def fail_next(self, count: int, status: int = 503) -> None:
        """Simulate an outage: the next ``count`` requests get HTTP ``status``."""
        with self._lock:
            self._outage.extend([status] * count)

    def texts(self) -> list[str]:
        return [visible_text(body) for body in self.messages]

    def _refuse(self, code: int, msg: str) -> Reply:
        self.refusals.append(code)
        return json_reply({"code": code, "data": {}, "msg": msg})

    def __call__(self, _index: int, request: Request) -> Reply:
        with self._lock:
            if self._outage:
                return json_reply({"code": -1, "msg": "service unavailable"}, status=self._outage.pop(0))
        if request.path != self.path:
            return self._refuse(TOKEN_INVALID, "param invalid: incoming webhook access token invalid")
        if request.method != "POST" or "application/json" not in request.headers.get("content-type", ""):
            return self._refuse(BAD_REQUEST, "Bad Request")
        if len(request.body) > MAX_BODY_BYTES:
            return self._refuse(BAD_REQUEST, f"request body is {len(request.body)} bytes, over 20 KB")
        try:
            body = orjson.loads(request.body)
        except orjson.JSONDecodeError:
            return self._refuse(BAD_REQUEST, "Bad Request")
        if not isinstance(body, dict):
            return self._refuse(BAD_REQUEST, "Bad Request")
        if self.secret is not None and not signature_valid(
            self.secret, body.get("timestamp"), body.get("sign"), now=time.time()
        ):
            return self._refuse(
                BAD_SIGNATURE, "sign match fail or timestamp is not within one hour from current time"
            )
        admitted = [window.admit() for window in self.windows]  # every window counts the request
        if not all(admitted):
            return self._refuse(RATE_LIMITED, "too many request")
        problem = shape_error(body)
        if problem is not None:
            return self._refuse(BAD_REQUEST, f"Bad Request: {problem}")
        if self.keyword is not None and self.keyword not in visible_text(body):
            return self._refuse(KEYWORD_MISSING, "Key Words Not Found")
        self.messages.append(body)
        return json_reply({"code": OK, "data": {}, "msg": "success"})
