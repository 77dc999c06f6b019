"""The console receiver: prints rendered incidents, for the demo and for debugging."""

from __future__ import annotations

import sys
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from notifiers.notification import Notification
from notifiers.pacing import RateLimit
from notifiers.templating import Renderer

BANNER = "── herald alert "


class ConsoleConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    type: Literal["console"] = "console"
    template: str = Field("text.j2", description="Template file of the text printed to standard output.")


class ConsoleReceiver:
    config_model: ClassVar[type[BaseModel]] = ConsoleConfig
    type = "console"
    rate_limits: tuple[RateLimit, ...] = ()

    def __init__(self, config: BaseModel, renderer: Renderer) -> None:
        assert isinstance(config, ConsoleConfig)
        self.name = config.name
        self._config = config
        self._renderer = renderer

    @property
    def target(self) -> str:
        return "stdout"

    def fits(self, notification: Notification) -> bool:
        return True

    def preview(self, notification: Notification) -> str:
        return self._renderer.render(self._config.template, notification)

    async def send(self, notification: Notification) -> None:
        text = self._renderer.render(self._config.template, notification)
        fingerprints = ",".join(i.fingerprint[:12] for i in notification.incidents)
        sys.stdout.write(f"{BANNER}{fingerprints} ──\n{text.rstrip()}\n")
        sys.stdout.flush()

    async def aclose(self) -> None:
        return None
