from __future__ import annotations

import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
import pytest
import yaml
from jinja2.exceptions import SecurityError

from notifiers.errors import PermanentError
from notifiers.notification import Notification
from notifiers.receivers.webhook import WebhookConfig, WebhookReceiver
from notifiers.templating import LABELS, Language, Renderer, format_duration, format_time
from schemas import Change, Incident, IncidentStatus, RelatedIncident, ResolvedBy, SampleMessage, Severity
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


def test_time_zone_setting_applies_to_rendered_times_with_an_explicit_offset() -> None:
    text = Renderer(timezone="Asia/Shanghai").render("text.j2", Notification((incident("x"),)))
    assert "2026-11-27 16:00:00 +08:00" in text
    chicago = Renderer(timezone="America/Chicago").render("text.j2", Notification((incident("x"),)))
    assert "2026-11-27 02:00:00 -06:00" in chicago
    assert "CST" not in text + chicago  # China Standard Time and US Central share the abbreviation


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
    assert orjson.loads(team.stdout)["markdown"]["content"] == "自定义 Crash loop payments/checkout CST"
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


def test_render_shows_every_receiver_in_both_languages_with_offsets(tmp_path: Path) -> None:
    """``herald render`` without --receiver renders each one; --language and --timezone override
    the receiver's own settings (which override ``notifier:``); --resolved quiet is not a recovery."""
    config = tmp_path / "herald.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "kafka": {"bootstrap_servers": "127.0.0.1:1"},
                "notifier": {"timezone": "Asia/Shanghai", "language": "zh"},
                "receivers": [
                    {
                        "name": "cn",
                        "type": "wecom",
                        "url": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k",
                    },
                    {
                        "name": "us",
                        "type": "slack",
                        "url": "https://hooks.slack.com/services/T0/B0/x",
                        "language": "en",
                        "timezone": "America/Chicago",
                    },
                    {"name": "log", "type": "console"},
                ],
            }
        )
    )

    def render(*args: str) -> str:
        done = subprocess.run(
            herald_command(config, "render", *args), capture_output=True, text=True, check=True, timeout=60
        )
        return done.stdout

    both = render()
    assert [line for line in both.splitlines() if line.startswith("── ")] == [
        "── cn (wecom) ──",
        "── us (slack) ──",
        "── log (console) ──",
    ]
    cn, us = both.split("── us (slack) ──")[0], both.split("── us (slack) ──")[1].split("── log")[0]
    assert "容器崩溃重启 payments/checkout" in cn
    assert "+08:00" in cn
    assert "Crash loop payments/checkout" in us
    assert re.search(r"-0[56]:00", us)
    english = render("--receiver", "cn", "--language", "en", "--timezone", "Europe/Berlin")
    assert "Crash loop payments/checkout" in english
    assert re.search(r"\+0[12]:00", english)
    quiet = render("--receiver", "log", "--resolved", "quiet")
    assert "[已静默]" in quiet
    assert "已恢复" not in quiet
    recovered = render("--receiver", "log", "--resolved", "--incidents", "3")
    assert recovered.count("[已恢复]") == 3
    assert all(name in recovered for name in ("容器崩溃重启", "镜像拉取失败", "节点未就绪 node-7"))


def test_times_carry_their_offset_in_every_season() -> None:
    zone = ZoneInfo("America/Chicago")
    assert format_time(datetime(2026, 7, 1, 12, tzinfo=UTC), zone) == "2026-07-01 07:00:00 -05:00"
    assert format_time(datetime(2026, 1, 1, 12, tzinfo=UTC), zone) == "2026-01-01 06:00:00 -06:00"
    assert (
        format_time(datetime(2026, 1, 1, 12, tzinfo=UTC), ZoneInfo("Asia/Kolkata"))
        == "2026-01-01 17:30:00 +05:30"
    )
    assert [format_duration(s, "en") for s in (40, 900, 5400, 7200)] == [
        "40 s",
        "15 min",
        "1 h 30 min",
        "2 h",
    ]
    assert [format_duration(s, "zh") for s in (40, 900, 5400)] == ["40 秒", "15 分钟", "1 小时 30 分钟"]


def node_incident(**update: object) -> Incident:
    base = incident("Node node-7 status is now: NodeNotReady").model_copy(
        update={
            "category": "node-not-ready",
            "namespace": None,
            "workload": None,
            "node": "node-7",
            "labels": {"kind": "Node", "object_kind": "Node", "reason": "NodeNotReady", "node": "node-7"},
            "workloads": ["shop/web", "pay/api"],
        }
    )
    return base.model_copy(update=update)


@pytest.mark.parametrize("language", ["en", "zh"])
def test_a_node_is_named_as_the_node_never_as_an_empty_namespace(language: Language) -> None:
    renderer = Renderer(language=language)
    view = renderer.context(Notification((node_incident(),)))["incident"]
    facts = dict(renderer.facts(view))
    node, namespace = ("Node", "Namespace") if language == "en" else ("节点", "命名空间")
    assert facts[node] == "node-7"
    assert namespace not in facts
    assert "—" not in facts.values()
    text = renderer.render("text.j2", Notification((node_incident(),)))
    assert ("Node not ready node-7" if language == "en" else "节点未就绪 node-7") in text
    assert "shop/web, pay/api" in text


def test_a_pod_incident_names_its_node_when_known() -> None:
    pod = incident("x").model_copy(update={"node": "node-3", "labels": {"kind": "Deployment"}})
    renderer = Renderer()
    facts = renderer.facts(renderer.context(Notification((pod,)))["incident"])
    assert ("Node", "node-3") in facts
    assert ("Workload", "Deployment/web") in facts


@pytest.mark.parametrize(
    ("resolved_by", "en", "zh"),
    [
        (ResolvedBy.RECOVERY, "[RECOVERED]", "[已恢复]"),
        (ResolvedBy.QUIET, "[QUIET]", "[已静默]"),
        (None, "[CLOSED]", "[已关闭]"),  # a processor that did not say how: never worded as a recovery
    ],
)
def test_a_close_says_how_it_closed(resolved_by: ResolvedBy | None, en: str, zh: str) -> None:
    closed = incident("x").model_copy(
        update={"status": IncidentStatus.RESOLVED, "resolved_by": resolved_by, "quiet_seconds": 900.0}
    )
    english = Renderer(language="en").render("text.j2", Notification((closed,)))
    chinese = Renderer(language="zh").render("text.j2", Notification((closed,)))
    assert english.startswith(en)
    assert chinese.startswith(zh)
    if resolved_by is not ResolvedBy.RECOVERY:
        assert "RECOVERED" not in english
        assert "已恢复" not in chinese
    if resolved_by is ResolvedBy.QUIET:
        assert "no new events for 15 min; not confirmed as recovered" in english
        assert "15 分钟无新事件，未确认恢复" in chinese


def test_an_update_says_what_is_new() -> None:
    update = incident("x").model_copy(update={"changes": [Change.NEW_OBJECT, Change.SEVERITY]})
    assert "Update: new objects affected, severity raised" in Renderer().render(
        "text.j2", Notification((update,))
    )
    first = incident("x").model_copy(update={"changes": [Change.OPENED]})
    assert "Update" not in Renderer().render("text.j2", Notification((first,)))
    chinese = Renderer(language="zh").render("text.j2", Notification((update,)))
    assert "更新：新增受影响对象、级别升高" in chinese


def test_related_node_incident_is_named_in_the_receivers_language_and_zone() -> None:
    at = datetime(2026, 11, 27, 7, 55, tzinfo=UTC)
    related = RelatedIncident(fingerprint="ab" * 8, category="oom", reason="OOMKilling", node="node-3", at=at)
    crash = incident("x").model_copy(update={"related": [related]})
    english = Renderer(timezone="Asia/Shanghai").render("text.j2", Notification((crash,)))
    chinese = Renderer(language="zh", timezone="Asia/Shanghai").render("text.j2", Notification((crash,)))
    assert "on node-3, after OOMKilling (Out of memory) at 15:55" in english
    assert "位于 node-3，继 15:55 的 OOMKilling（内存溢出）之后" in chinese


def test_no_label_or_view_key_is_hidden_by_a_dict_method() -> None:
    """``t.update`` would be dict.update (which the sandbox refuses), not the label."""
    view = Renderer().context(Notification((incident("x"),)))["incident"]
    for key in (*LABELS["en"], *LABELS["zh"], *view):
        assert not hasattr({}, key), key
