"""Golden messages: what every receiver sends, in both languages, for the four updates an
on-call engineer reads (a firing crash loop on a known node after an OOM there, a digest of
three categories, a quiet close and a recovery close).

A change to a template or to the escaping shows up here as a diff a reviewer reads.
Regenerate after an intended change with ``HERALD_UPDATE_GOLDEN=1 pytest tests/unit/test_golden_messages.py``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from notifiers.notification import Notification
from notifiers.preview import scenarios
from notifiers.receivers.console import ConsoleConfig, ConsoleReceiver
from notifiers.receivers.dingtalk import DingTalkConfig, DingTalkReceiver
from notifiers.receivers.email import EmailConfig, EmailReceiver
from notifiers.receivers.feishu import FeishuConfig, FeishuReceiver
from notifiers.receivers.slack import SlackConfig, SlackReceiver
from notifiers.receivers.teams import TeamsConfig, TeamsReceiver
from notifiers.receivers.webhook import WebhookConfig, WebhookReceiver
from notifiers.receivers.wecom import WeComConfig, WeComReceiver
from notifiers.receivers.wecom_app import WeComAppConfig, WeComAppReceiver
from notifiers.templating import Renderer
from schemas.categories import Language

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("HERALD_UPDATE_GOLDEN") == "1"
NOW = datetime(2026, 12, 6, 0, 12, 7, tzinfo=UTC)
ZONES: dict[Language, str] = {"zh": "Asia/Shanghai", "en": "America/Chicago"}
"""Chicago for English: its "CST" is the abbreviation a bare zone name would confuse with China's."""

WECOM = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=golden-key"
DINGTALK = "https://oapi.dingtalk.com/robot/send?access_token=golden-token"
FEISHU = "https://open.feishu.cn/open-apis/bot/v2/hook/golden-token"
SLACK = "https://hooks.slack.com/services/T0/B0/golden"
TEAMS = "https://example.logic.azure.com/workflows/1/triggers/manual/paths/invoke?sig=golden-signature"
Variant = Callable[[Renderer], Any]

VARIANTS: dict[str, Variant] = {
    "wecom.markdown": lambda r: WeComReceiver(WeComConfig(name="g", url=WECOM), r),
    "wecom.markdown_v2": lambda r: WeComReceiver(WeComConfig(name="g", url=WECOM, msgtype="markdown_v2"), r),
    "wecom.text": lambda r: WeComReceiver(WeComConfig(name="g", url=WECOM, msgtype="text"), r),
    "wecom_app.text": lambda r: WeComAppReceiver(
        WeComAppConfig(name="g", corp_id="c", corp_secret="s", agent_id=1, to_user=("@all",)), r
    ),
    "wecom_app.markdown": lambda r: WeComAppReceiver(
        WeComAppConfig(
            name="g", corp_id="c", corp_secret="s", agent_id=1, to_user=("@all",), msgtype="markdown"
        ),
        r,
    ),
    "dingtalk.markdown": lambda r: DingTalkReceiver(DingTalkConfig(name="g", url=DINGTALK), r),
    "dingtalk.text": lambda r: DingTalkReceiver(DingTalkConfig(name="g", url=DINGTALK, msgtype="text"), r),
    "feishu.card": lambda r: FeishuReceiver(FeishuConfig(name="g", url=FEISHU), r),
    "feishu.text": lambda r: FeishuReceiver(FeishuConfig(name="g", url=FEISHU, msgtype="text"), r),
    "slack": lambda r: SlackReceiver(SlackConfig(name="g", url=SLACK), r),
    "teams": lambda r: TeamsReceiver(TeamsConfig(name="g", url=TEAMS), r),
    "email": lambda r: EmailReceiver(
        EmailConfig(
            name="g", smarthost="smtp.example", sender="herald@example.com", to=("oncall@example.com",)
        ),
        r,
    ),
    "webhook": lambda r: WebhookReceiver(WebhookConfig(name="g", url="https://hooks.example/x"), r),
    "console": lambda r: ConsoleReceiver(ConsoleConfig(name="g"), r),
}
_DATE = re.compile(r"(?m)^Date: .*$")


def rendered(receiver: Any, notification: Notification) -> str:
    """What the receiver would send, as ``herald render`` shows it (the e-mail's Date aside),
    and under it each multi-line text of a JSON payload as the chat shows it, for the reader."""
    preview = _DATE.sub("Date: (when sent)", receiver.preview(notification))
    if not preview.startswith("{"):
        return preview
    texts: list[str] = []
    _collect(orjson.loads(preview), texts)
    shown = "".join(f"\n--- shown ---\n{text}\n" for text in texts if text.count("\n") >= 2)
    return preview + "\n" + shown


def golden_text(variant: str, language: Language) -> str:
    receiver = VARIANTS[variant](Renderer(language=language, timezone=ZONES[language]))
    sections = [f"=== {name} ===\n{rendered(receiver, n)}\n" for name, n in scenarios(NOW).items()]
    return "\n".join(sections)


@pytest.mark.parametrize("language", ["zh", "en"])
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_golden_message(variant: str, language: Language) -> None:
    path = GOLDEN / f"{variant}.{language}.txt"
    text = golden_text(variant, language)
    if UPDATE:
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"no golden file {path.name}: run with HERALD_UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8"), f"{path.name} differs (HERALD_UPDATE_GOLDEN=1 to accept)"


@pytest.mark.parametrize("language", ["zh", "en"])
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_golden_messages_read_as_the_issue_asks(variant: str, language: Language) -> None:
    """Titles per category in the language, times with an offset (never a bare zone name),
    quiet is not called recovered, and no escape a robot would show literally."""
    text = golden_text(variant, language)
    firing, digest, quiet, recovery = text.split("\n=== ")
    if language == "zh":
        assert "容器崩溃重启 payments/checkout" in firing
        assert "crash-loop" not in firing.replace('"crash-loop"', "")  # only the webhook's raw data keeps it
        assert all(name in digest for name in ("容器崩溃重启", "镜像拉取失败", "节点未就绪 node-7"))
        assert "已静默" in quiet
        assert "15 分钟无新事件" in quiet
        assert "已恢复" not in quiet
        assert "已恢复" in recovery
        assert "NodeReady" in recovery
        assert "继 07:59 的 OOMKilling" in firing
        assert "+08:00" in firing
    else:
        assert "Crash loop payments/checkout" in firing
        assert all(name in digest for name in ("Crash loop", "Image pull failing", "Node not ready node-7"))
        assert "QUIET" in quiet
        assert "no new events for 15 min" in quiet
        assert "RECOVERED" not in quiet
        assert "RECOVERED" in recovery
        assert "NodeReady at" in recovery
        assert "after OOMKilling (Out of memory) at 17:59" in firing
        assert "-06:00" in firing
    assert " CST" not in text
    assert "CST\n" not in text
    assert "Namespace —" not in text
    assert "命名空间 —" not in text
    if variant.split(".", maxsplit=1)[0] in {"wecom", "wecom_app", "dingtalk", "feishu", "teams"}:
        shown = _shown(text)
        assert "\\_" not in shown
        assert "\\[" not in shown
        assert "&lt;" not in shown
        assert "&amp;" not in shown


def _shown(text: str) -> str:
    """The JSON string values of a golden file, decoded: what the robot receives."""
    values: list[str] = []
    for block in re.findall(r"(?ms)^\{$.*?^\}$", text):
        _collect(orjson.loads(block), values)
    return "\n".join(values) or text


def _collect(value: object, into: list[str]) -> None:
    if isinstance(value, str):
        into.append(value)
    elif isinstance(value, dict):
        for item in value.values():
            _collect(item, into)
    elif isinstance(value, list):
        for item in value:
            _collect(item, into)
