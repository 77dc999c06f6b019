"""The DingTalk custom robot's contract, as its documentation and users' error reports describe it.

``POST /robot/send?access_token=…[&timestamp=…&sign=…]`` with a JSON body; every answer is
HTTP 200 with ``{"errcode": N, "errmsg": "…"}``. The signature is checked independently of
the receiver's code (a shared helper would make the round-trip test prove nothing).
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

PATH = "/robot/send"
MAX_BODY_BYTES = 20_000
TIMESTAMP_WINDOW_MS = 3_600_000
# Codes as DingTalk sends them; the errmsg texts are the ones users report.
TOKEN_UNKNOWN = (300001, "token is not exist")
BAD_REQUEST = (40035, "缺少参数 json")
SENDING_TOO_FAST = (130101, "send too fast, exceed 20 times per minute")
SIGN_NOT_MATCH = (310000, "sign not match, more: [https://open.dingtalk.com/document/]")
INVALID_TIMESTAMP = (310000, "invalid timestamp, more: [https://open.dingtalk.com/document/]")
KEYWORD_MISSING = (310000, "keywords not in content, more: [https://open.dingtalk.com/document/]")
TOO_LONG = (460101, "message too long, exceed 20000 bytes")


def signature_problem(query: dict[str, list[str]], secret: str, *, now_ms: int) -> tuple[int, str] | None:
    """What DingTalk says about a request's ``timestamp`` and ``sign``, or None when they hold."""
    timestamp = query.get("timestamp", [""])[0]
    signature = query.get("sign", [""])[0]
    if not timestamp.isdigit() or abs(now_ms - int(timestamp)) > TIMESTAMP_WINDOW_MS:
        return INVALID_TIMESTAMP
    string_to_sign = f"{timestamp}\n{secret}".encode()
    expected = base64.b64encode(hmac.new(secret.encode(), string_to_sign, hashlib.sha256).digest())
    if not hmac.compare_digest(signature.encode(), expected):
        return SIGN_NOT_MATCH
    return None


def shape_problem(payload: Any) -> str | None:
    """Why a body is not a text or markdown message DingTalk would show, or None."""
    if not isinstance(payload, dict):
        return "body is not an object"
    msgtype = payload.get("msgtype")
    fields = {"text": ("content",), "markdown": ("title", "text")}.get(str(msgtype))
    if fields is None:
        return f"msgtype {msgtype!r} is not text or markdown"
    part = payload.get(msgtype)
    if not isinstance(part, dict) or not all(isinstance(part.get(f), str) and part[f] for f in fields):
        return f"{msgtype} needs non-empty strings {fields}"
    at = payload.get("at", {})
    if not isinstance(at, dict):
        return "at must be an object"
    for key in ("atMobiles", "atUserIds"):
        values = at.get(key, [])
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            return f"at.{key} must be a list of strings"
    if not isinstance(at.get("isAtAll", False), bool):
        return "at.isAtAll must be a boolean"
    return None


def shown_text(payload: dict[str, Any]) -> str:
    """What the group sees (the keyword check looks here)."""
    if payload["msgtype"] == "markdown":
        return f"{payload['markdown']['title']}\n{payload['markdown']['text']}"
    return str(payload["text"]["content"])


class DingTalkRobot:
    """One robot: its token, optional signing secret and keyword, 20 messages a minute, and a
    ten-minute throttle once that is exceeded. ``messages`` are the accepted payloads."""

    def __init__(
        self,
        *,
        access_token: str,
        secret: str | None = None,
        keyword: str | None = None,
        per_minute: int = 20,
        throttle_seconds: float = 600.0,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        """``max_body_bytes`` below the documented 20000 stands for a robot that counts the
        body its own way, so a test can make it answer 460101."""
        self.access_token = access_token
        self.max_body_bytes = max_body_bytes
        self.secret = secret
        self.keyword = keyword
        self.throttle_seconds = throttle_seconds
        self.messages: list[dict[str, Any]] = []
        self.refused: list[int] = []
        self._window = SlidingWindow(per_minute, 60.0)
        self._throttled_until = 0.0
        self._outage: list[int] = []
        self._lock = threading.Lock()

    def outage(self, *statuses: int) -> None:
        """Answer the next requests with these HTTP statuses (e.g. 503, 503, 429)."""
        with self._lock:
            self._outage.extend(statuses)

    def __call__(self, _index: int, request: Request) -> Reply:
        with self._lock:
            if self._outage:
                status = self._outage.pop(0)
                return json_reply(
                    {"message": "upstream unavailable"}, status=status, headers={"retry-after": "2"}
                )
            code = self._check(request)
            if code is not None:
                self.refused.append(code[0])
                return json_reply({"errcode": code[0], "errmsg": code[1]})
            self.messages.append(orjson.loads(request.body))
            return json_reply({"errcode": 0, "errmsg": "ok"})

    def _check(self, request: Request) -> tuple[int, str] | None:
        if request.method != "POST" or request.path != PATH:
            return BAD_REQUEST
        if request.query.get("access_token", [""])[0] != self.access_token:
            return TOKEN_UNKNOWN
        if self.secret is not None:
            problem = signature_problem(request.query, self.secret, now_ms=time.time_ns() // 1_000_000)
            if problem:
                return problem
        if len(request.body) > self.max_body_bytes:
            return TOO_LONG
        try:
            payload = orjson.loads(request.body)
        except orjson.JSONDecodeError:
            return BAD_REQUEST
        if shape_problem(payload):
            return BAD_REQUEST
        if self.keyword is not None and self.keyword not in shown_text(payload):
            return KEYWORD_MISSING
        now = time.monotonic()
        if now < self._throttled_until:
            return SENDING_TOO_FAST
        if not self._window.admit():
            self._throttled_until = now + self.throttle_seconds
            return SENDING_TOO_FAST
        return None
