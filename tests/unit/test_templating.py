from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
import yaml
from jinja2.exceptions import SecurityError

from notifiers.errors import PermanentError
from notifiers.notification import Notification
from notifiers.receivers.webhook import WebhookConfig, WebhookReceiver
from notifiers.templating import Renderer
from schemas import Incident, IncidentStatus, SampleMessage, Severity
from tests.support.processes import herald_command

HOSTILE = 'he said "hi"\n}{ \\ <at user_id="all"></at> @all <!channel> [x](http://evil) \u2028 end'


def incident(message: str = HOSTILE) -> Incident:
    at = datetime(2026, 11, 27, 8, tzinfo=UTC)
    return Incident(
        fingerprint="0123456789abcdef",
        version=1,
        status=IncidentStatus.FIRING,
        severity=Severity.CRITICAL,
        category="crash-loop",
        title="BackOff: Pod/shop/web-1",
        cluster="prod",
        namespace="shop",
        workload="web",
        occurrences=3,
        first_seen=at,
        last_seen=at,
        samples=[SampleMessage(reason="BackOff", message=message, object="Pod/shop/web-1", at=at)],
        emitted_at=at,
    )


def test_webhook_body_is_valid_json_whatever_the_event_says() -> None:
    receiver = WebhookReceiver(WebhookConfig(name="w", url="http://127.0.0.1:1/x"), Renderer())
    body = orjson.loads(receiver.render(Notification((incident(),))))
    assert body["incidents"][0]["samples"][0]["message"] == HOSTILE
    assert HOSTILE in body["text"]


def test_time_zone_setting_applies_to_rendered_times() -> None:
    text = Renderer(timezone="Asia/Shanghai").render("text.j2", Notification((incident("x"),)))
    assert "2026-11-27 16:00:00 CST" in text


def test_templates_cannot_reach_python_internals() -> None:
    renderer = Renderer()
    with pytest.raises((SecurityError, PermanentError)):
        renderer.render_string(
            "{{ incident.__class__.__mro__[1].__subclasses__() }}", Notification((incident(),))
        )
    with pytest.raises((SecurityError, PermanentError)):
        renderer.render_string("{{ ''.__class__.__base__.__subclasses__() }}", Notification((incident(),)))


def test_broken_user_template_is_a_permanent_error() -> None:
    with pytest.raises(PermanentError, match="inline template failed"):
        Renderer().render_string("{{ nope.missing }}", Notification((incident(),)))


def test_render_command_previews_a_receiver_with_the_users_template_language_and_zone(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "wecom.md.j2").write_text(
        "自定义 {{ incident.title }} {{ incident.last_seen_at | localtime('%Z') }}"
    )
    config = tmp_path / "herald.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "kafka": {"bootstrap_servers": "127.0.0.1:1"},
                "notifier": {"templates_dir": str(templates), "timezone": "Asia/Shanghai", "language": "zh"},
                "receivers": [
                    {
                        "name": "team",
                        "type": "wecom",
                        "url": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k",
                    },
                    {
                        "name": "ops",
                        "type": "dingtalk",
                        "url": "https://oapi.dingtalk.com/robot/send?access_token=t",
                    },
                ],
            }
        )
    )
    team = subprocess.run(
        herald_command(config, "render", "--receiver", "team"),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert orjson.loads(team.stdout)["markdown"]["content"] == "自定义 BackOff: checkout CST"
    ops = subprocess.run(
        herald_command(config, "render", "--receiver", "ops", "--incidents", "3", "--resolved"),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    text = orjson.loads(ops.stdout)["markdown"]["text"]
    assert "3 条事件" in text
    assert text.count("已恢复") == 3
