"""Sandboxed Jinja2 rendering shared by every receiver.

Event text is untrusted (any tenant can create Events): templates run in Jinja's
sandbox, JSON bodies are built with ``tojson`` rather than pasted strings, and each
receiver escapes for its own markup. User templates in ``templates_dir`` override the
packaged defaults by file name.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from jinja2 import ChoiceLoader, FileSystemLoader, PackageLoader, StrictUndefined, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from notifiers.errors import PermanentError
from notifiers.notification import Notification


class Renderer:
    def __init__(self, *, timezone: str = "UTC", templates_dir: Path | None = None) -> None:
        loaders: list[Any] = [PackageLoader("notifiers", "templates")]
        if templates_dir is not None:
            loaders.insert(0, FileSystemLoader(str(templates_dir)))
        self._zone = ZoneInfo(timezone)
        self._env = ImmutableSandboxedEnvironment(
            loader=ChoiceLoader(loaders),
            autoescape=False,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._env.filters["localtime"] = self._localtime
        self._env.policies["json.dumps_function"] = lambda value, **_: orjson.dumps(value).decode()

    def _localtime(self, value: datetime, fmt: str = "%Y-%m-%d %H:%M:%S %Z") -> str:
        return value.astimezone(self._zone).strftime(fmt)

    def context(self, notification: Notification) -> dict[str, Any]:
        incidents = [incident.model_dump(mode="json") for incident in notification.incidents]
        for raw, incident in zip(incidents, notification.incidents, strict=True):
            raw["first_seen_at"] = incident.first_seen
            raw["last_seen_at"] = incident.last_seen
        return {"incidents": incidents, "incident": incidents[0], "digest": notification.is_digest}

    def render(self, template: str, notification: Notification, **extra: Any) -> str:
        """Render a named template; a broken template is a permanent failure, not a crash."""
        try:
            return self._env.get_template(template).render(**self.context(notification), **extra)
        except TemplateError as exc:
            raise PermanentError(f"template {template!r} failed: {exc}") from None

    def render_string(self, source: str, notification: Notification, **extra: Any) -> str:
        try:
            return self._env.from_string(source).render(**self.context(notification), **extra)
        except TemplateError as exc:
            raise PermanentError(f"inline template failed: {exc}") from None
