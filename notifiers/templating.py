"""Sandboxed Jinja2 rendering shared by every receiver.

Event text is untrusted (any tenant can create Events): templates run in Jinja's
sandbox, and every value a template prints is escaped for the receiver's markup by the
environment itself (``finalize``), so a user template cannot forget to. JSON bodies are
built from data: receivers render only the text and put it into a dict, and the generic
webhook's body template uses ``tojson`` with markup ``none``. User templates in
``templates_dir`` override the packaged defaults by file name.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import orjson
from jinja2 import ChoiceLoader, FileSystemLoader, PackageLoader, StrictUndefined, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from notifiers.errors import PermanentError
from notifiers.markup import Markup, Trusted, escape
from notifiers.notification import Notification

Language = Literal["en", "zh"]

LABELS: dict[Language, dict[str, str]] = {
    "en": {
        "firing": "FIRING",
        "resolved": "RESOLVED",
        "info": "info",
        "warning": "warning",
        "error": "error",
        "critical": "critical",
        "cluster": "Cluster",
        "namespace": "Namespace",
        "workload": "Workload",
        "severity": "Severity",
        "category": "Category",
        "count": "Occurrences",
        "first_seen": "First seen",
        "last_seen": "Last seen",
        "objects": "Objects",
        "more": "more",
        "samples": "Recent messages",
        "details": "Details",
        "digest": "incidents",
        "inhibited": "inhibited by",
    },
    "zh": {
        "firing": "告警",
        "resolved": "已恢复",
        "info": "提示",
        "warning": "警告",
        "error": "错误",
        "critical": "严重",
        "cluster": "集群",
        "namespace": "命名空间",
        "workload": "工作负载",
        "severity": "级别",
        "category": "类别",
        "count": "发生次数",
        "first_seen": "首次发生",
        "last_seen": "最近发生",
        "objects": "涉及对象",
        "more": "更多",
        "samples": "最近消息",
        "details": "详情",
        "digest": "条事件",
        "inhibited": "被抑制于",
    },
}


class Renderer:
    def __init__(
        self,
        *,
        timezone: str = "UTC",
        templates_dir: Path | None = None,
        language: Language = "en",
        link_template: str | None = None,
    ) -> None:
        loaders: list[Any] = [PackageLoader("notifiers", "templates")]
        if templates_dir is not None:
            loaders.insert(0, FileSystemLoader(str(templates_dir)))
        self._loader = ChoiceLoader(loaders)
        self._zone = ZoneInfo(timezone)
        self._language: Language = language
        self._environments: dict[Markup, ImmutableSandboxedEnvironment] = {}
        self._link = self._environment("none").from_string(link_template) if link_template else None

    def _environment(self, markup: Markup) -> ImmutableSandboxedEnvironment:
        env = self._environments.get(markup)
        if env is None:
            env = ImmutableSandboxedEnvironment(
                loader=self._loader,
                autoescape=False,
                undefined=StrictUndefined,
                trim_blocks=True,
                lstrip_blocks=True,
                finalize=lambda value: escape(value, markup),
            )
            env.filters["localtime"] = self._localtime
            env.policies["json.dumps_function"] = lambda value, **_: orjson.dumps(value).decode()
            self._environments[markup] = env
        return env

    def _localtime(self, value: datetime, fmt: str = "%Y-%m-%d %H:%M:%S %Z") -> str:
        return value.astimezone(self._zone).strftime(fmt)

    def context(self, notification: Notification) -> dict[str, Any]:
        """What every template sees: ``incidents`` (``incident`` is the first), ``digest``,
        ``t`` (labels in the configured language) and ``lang``. Each incident also has
        ``first_seen_at``/``last_seen_at`` and each sample ``seen_at`` as datetimes for the
        ``localtime`` filter, and ``link`` when ``link_template`` is set."""
        incidents = [incident.model_dump(mode="json") for incident in notification.incidents]
        for raw, incident in zip(incidents, notification.incidents, strict=True):
            raw["first_seen_at"] = incident.first_seen
            raw["last_seen_at"] = incident.last_seen
            raw["link"] = self._render_link(raw)
            for sample, model in zip(raw["samples"], incident.samples, strict=True):
                sample["seen_at"] = model.at
        return {
            "incidents": incidents,
            "incident": incidents[0],
            "digest": notification.is_digest,
            "t": LABELS[self._language],
            "lang": self._language,
        }

    def _render_link(self, incident: dict[str, Any]) -> Trusted | None:
        if self._link is None:
            return None
        try:
            return Trusted(self._link.render(incident=incident))
        except TemplateError as exc:
            raise PermanentError(f"link template failed: {exc}") from None

    def render(
        self, template: str, notification: Notification, *, markup: Markup = "none", **extra: Any
    ) -> str:
        """Render a named template, escaping every printed value for ``markup``; a broken
        template is a permanent failure, not a crash."""
        try:
            env = self._environment(markup)
            return env.get_template(template).render(**self.context(notification), **extra)
        except TemplateError as exc:
            raise PermanentError(f"template {template!r} failed: {exc}") from None

    def render_string(
        self, source: str, notification: Notification, *, markup: Markup = "none", **extra: Any
    ) -> str:
        try:
            env = self._environment(markup)
            return env.from_string(source).render(**self.context(notification), **extra)
        except TemplateError as exc:
            raise PermanentError(f"inline template failed: {exc}") from None
