"""Every receiver, failing against a server that echoes what it was sent: no key, token,
signing secret or password in any exception, dead-letter reason, target, log line or preview.

The servers are real (HTTP and SMTP), the receivers are built from a config file as the
notifier builds them, and logs pass the same secret filter production installs.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from notifiers.errors import DeliveryError
from notifiers.notification import Notification
from notifiers.preview import sample_incident
from notifiers.receivers import REGISTRY
from notifiers.runner import build_receiver
from runtime.config import load_config
from runtime.log import SECRETS
from tests.support.vendors.smtp import SmtpServer, smtp_server
from tests.support.webhook_server import Reply, Request, webhook_server

KEY = "k3y0f-th3-r0b0t-5ecret"
TOKEN = "t0ken-from-gettoken-5ecret"
SIGNING = "SEC-signing-5ecret-value"
HEADER = "Bearer-h3ader-5ecret"
PASSWORD = "p4ssw0rd-5ecret"
SECRETS_SENT = (KEY, TOKEN, SIGNING, HEADER, PASSWORD)


def echo(_index: int, request: Request) -> Reply:
    """Answer every request with everything it carried: the worst a server can do."""
    if request.path.endswith("/gettoken"):
        return 200, {}, orjson.dumps({"errcode": 0, "access_token": TOKEN, "expires_in": 7200})
    echoed = f"{request.path}?{request.query} {request.headers} {request.body[:500]!r}"
    return 500, {"x-echo": echoed[:200]}, echoed.encode()


def entries(base: str, smtp_port: int) -> list[dict[str, Any]]:
    return [
        {
            "name": "webhook",
            "type": "webhook",
            "url": f"{base}/hook?key={KEY}",
            "headers": {"authorization": HEADER},
        },
        {"name": "wecom", "type": "wecom", "url": f"{base}/cgi-bin/webhook/send?key={KEY}"},
        {
            "name": "wecom-app",
            "type": "wecom_app",
            "api_url": f"{base}/cgi-bin",
            "corp_id": "ww0123456789",
            "corp_secret": KEY,
            "agent_id": 1000002,
            "to_user": ["zhangsan"],
        },
        {
            "name": "dingtalk",
            "type": "dingtalk",
            "url": f"{base}/robot/send?access_token={KEY}",
            "secret": SIGNING,
        },
        {"name": "feishu", "type": "feishu", "url": f"{base}/open-apis/bot/v2/hook/{KEY}", "secret": SIGNING},
        {"name": "slack", "type": "slack", "url": f"{base}/services/T0000/B0000/{KEY}"},
        {"name": "teams", "type": "teams", "url": f"{base}/workflows/run?sv=1.0&sig={KEY}"},
        {
            "name": "email",
            "type": "email",
            "smarthost": "127.0.0.1",
            "port": smtp_port,
            "security": "none",
            "username": "herald",
            "password": PASSWORD,
            "sender": "herald@example.com",
            "to": ["oncall@example.com"],
        },
        {
            "name": "legacy",
            "type": "kube_eventer",
            "sink": f"dingtalk:{base}/robot/send?access_token={KEY}&sign={SIGNING}&label=prod",
        },
    ]


@contextmanager
def captured_logs() -> Iterator[io.StringIO]:
    """Everything logged, through the production secret filter, at DEBUG."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(SECRETS)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def test_every_receiver_type_is_covered() -> None:
    assert set(REGISTRY) - {"console"} <= {entry["type"] for entry in entries("http://x", 1)}


@pytest.mark.parametrize("index", range(len(entries("http://x", 1))))
def test_no_secret_reaches_any_output(index: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with ExitStack() as stack:
        server = stack.enter_context(webhook_server(echo))
        smtp = stack.enter_context(smtp_server(SmtpServer(password="another-password", auth_reply=None)))
        entry = entries(server.base_url, smtp.port)[index]
        path = tmp_path / "herald.yaml"
        path.write_text(yaml.safe_dump({"kafka": {"bootstrap_servers": "127.0.0.1:1"}, "receivers": [entry]}))
        logs = stack.enter_context(captured_logs())
        receiver, _filters = build_receiver(load_config(path), entry["name"])
        notification = Notification((sample_incident(),))
        outputs = [receiver.target, receiver.preview(notification), repr(receiver)]
        with pytest.raises(DeliveryError) as failure:
            asyncio.run(receiver.send(notification))
        asyncio.run(receiver.aclose())
        outputs += [str(failure.value), f"permanent: {failure.value}", repr(failure.value)]
        outputs += [logs.getvalue(), *capsys.readouterr()]
        echoed = [r.reply.decode(errors="replace") for r in server.all()]
    assert echoed or smtp.accepted == [], "the request was made"
    if entry["type"] != "email":
        assert any(KEY in text or TOKEN in text for text in echoed), "the server did see the secret"
    everything = "\n".join(outputs)
    leaked = [secret for secret in SECRETS_SENT if secret in everything]
    assert not leaked, f"{entry['type']} leaked {leaked}"
