"""kube-eventer's custom bodies: the guides' exact template, filled in from an incident the way
kube-eventer filled it in from an Event, with values that cannot break the JSON."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from notifiers.errors import PermanentError
from notifiers.kube_eventer_body import CustomBody, compile_body
from notifiers.notification import Notification
from notifiers.templating import Renderer
from schemas import Incident, IncidentStatus, ResolvedBy, SampleMessage, Severity
from tests.support.kube_eventer import GUIDE_TEMPLATE

GUIDE_BODY = GUIDE_TEMPLATE
SEEN = datetime(2026, 12, 6, 5, 4, 5, tzinfo=UTC)


def text_content(body: dict[str, Any]) -> tuple[str, str] | None:
    return ("text", "content") if body.get("msgtype") == "text" else None


def incident(
    message: str = "Back-off restarting failed container web in pod web-1",
    *,
    status: IncidentStatus = IncidentStatus.FIRING,
    severity: Severity = Severity.WARNING,
    index: int = 1,
) -> Incident:
    return Incident(
        fingerprint=f"{index:016x}",
        version=3,
        status=status,
        severity=severity,
        category="crash-loop",
        title="Crash loop in shop/web",
        cluster="prod",
        namespace="shop",
        workload="web",
        labels={"kind": "Deployment", "object_kind": "Pod", "reason": "BackOff", "node": "node-7"},
        occurrences=42,
        first_seen=SEEN - timedelta(minutes=30),
        last_seen=SEEN,
        samples=[
            SampleMessage(
                reason="Pulled", message="old", object="Pod/shop/web-0", at=SEEN - timedelta(minutes=9)
            ),
            SampleMessage(reason="BackOff", message=message, object=f"Pod/shop/web-{index}", at=SEEN),
        ],
        emitted_at=SEEN,
        node="node-7",
        resolved_by=ResolvedBy.RECOVERY if status is IncidentStatus.RESOLVED else None,
    )


def body(source: str = GUIDE_BODY, *, zone: str = "Asia/Shanghai", language: str = "zh") -> CustomBody:
    return CustomBody(source, Renderer(timezone=zone, language=language))  # type: ignore[arg-type]


def test_the_guides_template_is_filled_in_from_the_latest_occurrence_in_the_configured_zone() -> None:
    rendered = body().body(incident())
    assert rendered["msgtype"] == "text"
    assert rendered["text"]["content"] == (
        "集群事件告警\n事件级别: Warning\n名称空间: shop\n事件类型: Pod\n事件对象: web-1\n事件原因: BackOff\n"
        "发生时间: 2026-12-06 13:04:05 +0800 CST\n"
        "详细信息: Back-off restarting failed container web in pod web-1"
    )


@pytest.mark.parametrize(
    "message",
    ['quoted "name" here', "back\\slash", "two\nlines\tand a tab", "\x1b[31mred\x07", "中文 \u2028 sep"],
)
def test_any_message_keeps_the_body_valid_json_and_arrives_as_written(message: str) -> None:
    rendered = body().body(incident(message))
    assert rendered["text"]["content"].endswith(f"详细信息: {message}")


def test_count_and_times_are_the_incidents_and_go_functions_work() -> None:
    source = (
        '{"msgtype":"text","text":{"content":"{{ .Count }}x since {{ .FirstTimestamp.Format "15:04" }} '
        '{{ printf "%-6s|" .Reason }} {{ if eq .Type "Warning" "Error" }}bad{{ end }} '
        'on {{ .Source.Host }}"}}'
    )
    rendered = body(source).body(incident())
    assert rendered["text"]["content"] == "42x since 12:34 BackOff| bad on node-7"


def test_a_number_outside_a_string_stays_a_number() -> None:
    rendered = body('{"count": {{ .Count }}, "reason": "{{ .Reason }}"}').body(incident())
    assert rendered == {"count": 42, "reason": "BackOff"}


def test_a_typo_is_refused_when_the_configuration_is_read() -> None:
    with pytest.raises(ValueError, match="custom_body:1"):
        compile_body('{"a": "{{ .Reason }"}')


def test_a_field_that_does_not_exist_fails_the_delivery_permanently_with_its_name() -> None:
    with pytest.raises(PermanentError, match="object_kind"):
        body('{"a": "{{ .object_kind }}"}').body(incident())


def test_a_template_that_is_not_json_fails_permanently() -> None:
    with pytest.raises(PermanentError, match="did not render JSON"):
        body("{{ .Reason }}: {{ .Message }}").body(incident())


def test_a_digest_joins_every_incidents_text_and_marks_a_closed_one() -> None:
    notification = Notification(
        (
            incident(index=1),
            incident("recovered now", status=IncidentStatus.RESOLVED, index=2),
        )
    )
    found = body().texts(notification, text_content)
    assert found is not None
    first, section, text = found
    assert first["msgtype"] == section == "text"
    one, two = text.split("\n\n")
    assert one.startswith("集群事件告警")
    assert "事件对象: web-1" in one
    assert two.startswith("【已恢复】集群事件告警")
    assert "事件对象: web-2" in two


def test_english_marks_a_closed_incident_in_english() -> None:
    closed = Notification((incident(status=IncidentStatus.RESOLVED),))
    found = body(language="en").texts(closed, text_content)
    assert found is not None
    assert found[2].startswith("[RECOVERED] 集群事件告警")


def test_a_body_without_that_text_has_none_to_join() -> None:
    source = '{"msgtype":"news","news":{"articles":[{"title":"{{ .Reason }}"}]}}'
    assert body(source).texts(Notification((incident(),)), text_content) is None


def test_severity_info_reads_as_a_normal_event() -> None:
    rendered = body('{"t": "{{ .Type }}"}').body(incident(severity=Severity.INFO))
    assert orjson.dumps(rendered) == b'{"t":"Normal"}'


@pytest.mark.parametrize(
    ("at", "zone"),
    [
        (datetime(9999, 12, 31, 23, tzinfo=UTC), "Asia/Shanghai"),
        (datetime(1, 1, 1, 1, tzinfo=UTC), "America/Los_Angeles"),
    ],
)
def test_a_time_the_zone_would_push_off_the_calendar_renders_in_utc(at: datetime, zone: str) -> None:
    """A tenant may write any timestamp: east (or west) of UTC, these leave the calendar."""
    extreme = incident().model_copy(update={"first_seen": at, "last_seen": at})
    rendered = body(zone=zone).body(extreme)
    assert f"发生时间: {at.year:04d}-{at:%m-%d %H:%M:%S} +0000 UTC\n" in rendered["text"]["content"]
