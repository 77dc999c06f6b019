"""WeCom (企业微信): the group robot's webhook and the application message API, checked the
way the service checks them, answering HTTP 200 with an ``errcode`` as it does."""

from __future__ import annotations

import secrets
import threading
import time
from collections import deque
from typing import Any

import orjson

from tests.support.vendors import SlidingWindow, json_reply
from tests.support.webhook_server import Reply, Request

ROBOT_PATH = "/cgi-bin/webhook/send"
ROBOT_LIMITS = {"text": 2048, "markdown": 4096, "markdown_v2": 4096}
APP_LIMITS = {"text": 2048, "markdown": 2048}


def errcode(code: int, message: str) -> Reply:
    return json_reply({"errcode": code, "errmsg": message})


def _content(body: Any, limits: dict[str, int], too_long: int) -> Reply | None:
    """The msgtype and content checks the robot and the application share; None when fine."""
    if not isinstance(body, dict) or body.get("msgtype") not in limits:
        return errcode(40008, "invalid message type")
    msgtype = body["msgtype"]
    section = body.get(msgtype)
    if not isinstance(section, dict) or not isinstance(section.get("content"), str):
        return errcode(40035, f"invalid parameter: {msgtype}.content")
    if not section["content"]:
        return errcode(44004, "empty content")
    if len(section["content"].encode()) > limits[msgtype]:
        return errcode(too_long, f"{msgtype}.content exceed max length {limits[msgtype]}")
    return None


class _Outage:
    """Answer the next ``requests`` requests with an HTTP error, as during an incident at WeCom."""

    def __init__(self) -> None:
        self.remaining = 0
        self.status = 503

    def start(self, requests: int, status: int = 503) -> None:
        self.remaining, self.status = requests, status

    def reply(self) -> Reply | None:
        if self.remaining <= 0:
            return None
        self.remaining -= 1
        return self.status, {"content-type": "text/html"}, b"<html>Service Unavailable</html>"


class Robot:
    """One group robot: its key, 20 messages a minute, text 2048 and markdown 4096 bytes.

    ``limits`` lowers the byte limit of some msgtypes: WeCom counts a robot's content its own
    way (reports of 40058 under the documented limit exist), and a smaller limit is how a
    test makes it refuse what the receiver thought would fit."""

    def __init__(
        self, key: str, *, limit: int = 20, seconds: float = 60.0, limits: dict[str, int] | None = None
    ) -> None:
        self.key = key
        self.window = SlidingWindow(limit, seconds)
        self.limits = {**ROBOT_LIMITS, **(limits or {})}
        self.outage = _Outage()
        self.messages: list[dict[str, Any]] = []
        """Accepted bodies, decoded: what the group saw."""
        self._scripted: deque[tuple[int, str]] = deque()
        self._lock = threading.Lock()

    def answer_next(self, code: int, message: str, *, times: int = 1) -> None:
        """Answer the next ``times`` otherwise acceptable messages HTTP 200 with this errcode,
        as WeCom does when it is busy (-1) or over its concurrency limit (45033)."""
        with self._lock:
            self._scripted.extend([(code, message)] * times)

    def __call__(self, _index: int, request: Request) -> Reply:
        if (failure := self.outage.reply()) is not None:
            return failure
        if request.method != "POST" or request.path != ROBOT_PATH:
            return 404, {}, b""
        if request.query.get("key") != [self.key]:
            return errcode(93000, "invalid webhook url, hint: [1708397705432012366598976]")
        try:
            body = orjson.loads(request.body)
        except orjson.JSONDecodeError:
            return errcode(40035, "invalid parameter: body is not JSON")
        if (problem := _content(body, self.limits, too_long=40058)) is not None:
            return problem
        for field in ("mentioned_list", "mentioned_mobile_list"):
            value = body[body["msgtype"]].get(field, [])
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                return errcode(40035, f"invalid parameter: {field}")
        with self._lock:
            scripted = self._scripted.popleft() if self._scripted else None
        if scripted is not None:
            return errcode(*scripted)
        if not self.window.admit():
            return errcode(45009, "api freq out of limit")
        self.messages.append(body)
        return errcode(0, "ok")


class App:
    """One WeCom application: ``gettoken`` with corp id and secret, then ``message/send``
    with the token. Like WeCom, it drops (answering ok) an application's messages to one
    member beyond ``per_member`` a minute, and answers 45009 beyond ``api_limit`` calls."""

    def __init__(
        self,
        *,
        corp_id: str,
        corp_secret: str,
        agent_id: int,
        expires_in: int = 7200,
        per_member: int = 30,
        api_limit: int = 1000,
        seconds: float = 60.0,
    ) -> None:
        self.corp_id, self.corp_secret, self.agent_id = corp_id, corp_secret, agent_id
        self.expires_in = expires_in
        self.per_member, self.seconds = per_member, seconds
        self.api_window = SlidingWindow(api_limit, seconds)
        self.outage = _Outage()
        self.tokens: dict[str, float] = {}
        """Issued access tokens and when each expires (monotonic)."""
        self.messages: list[dict[str, Any]] = []
        """Accepted bodies, decoded."""
        self.inbox: dict[str, list[dict[str, Any]]] = {}
        """What each recipient (userid, 'party:ID', 'tag:ID') actually got."""
        self.dropped = 0
        self._members: dict[str, SlidingWindow] = {}

    def expire_tokens(self) -> None:
        self.tokens = dict.fromkeys(self.tokens, 0.0)

    def __call__(self, _index: int, request: Request) -> Reply:
        if (failure := self.outage.reply()) is not None:
            return failure
        if request.method == "GET" and request.path == "/cgi-bin/gettoken":
            return self._gettoken(request)
        if request.method == "POST" and request.path == "/cgi-bin/message/send":
            return self._send(request)
        return 404, {}, b""

    def _gettoken(self, request: Request) -> Reply:
        if request.query.get("corpid") != [self.corp_id]:
            return errcode(40013, "invalid corpid")
        if request.query.get("corpsecret") != [self.corp_secret]:
            return errcode(40001, "invalid credential")
        token = secrets.token_urlsafe(48)
        self.tokens[token] = time.monotonic() + self.expires_in
        return json_reply(
            {"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": self.expires_in}
        )

    def _send(self, request: Request) -> Reply:
        token = request.query.get("access_token", [""])[0]
        if not token:
            return errcode(41001, "access_token missing")
        if token not in self.tokens:
            return errcode(40014, "invalid access_token")
        if time.monotonic() >= self.tokens[token]:
            return errcode(42001, "access_token expired")
        if not self.api_window.admit():
            return errcode(45009, "api freq out of limit")
        try:
            body = orjson.loads(request.body)
        except orjson.JSONDecodeError:
            return errcode(40035, "invalid parameter: body is not JSON")
        if not isinstance(body, dict) or body.get("agentid") != self.agent_id:
            return errcode(40056, "invalid agentid")
        if (problem := _content(body, APP_LIMITS, too_long=45002)) is not None:
            return problem
        recipients = [
            f"{prefix}{value}"
            for field, prefix in (("touser", ""), ("toparty", "party:"), ("totag", "tag:"))
            for value in str(body.get(field) or "").split("|")
            if value
        ]
        if not recipients:
            return errcode(40035, "invalid parameter: no touser, toparty or totag")
        self.messages.append(body)
        for recipient in recipients:
            window = self._members.setdefault(recipient, SlidingWindow(self.per_member, self.seconds))
            if window.admit():
                self.inbox.setdefault(recipient, []).append(body)
            else:
                self.dropped += 1
        return errcode(0, "ok")
