from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest
from jinja2.exceptions import SecurityError

from notifiers.errors import PermanentError
from notifiers.notification import Notification
from notifiers.receivers.webhook import WebhookConfig, WebhookReceiver
from notifiers.templating import Renderer
from schemas import Incident, IncidentStatus, SampleMessage, Severity

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
