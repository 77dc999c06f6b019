"""The receiver registry: one module per receiver type, one line here per module.

A receiver implements :class:`Receiver`; its settings are a pydantic model validated
against its own section of the config file.
"""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel

from notifiers.notification import Notification
from notifiers.pacing import RateLimit
from notifiers.receivers import console, dingtalk, email, feishu, slack, teams, webhook, wecom, wecom_app
from notifiers.templating import Renderer


class Receiver(Protocol):
    name: str
    type: str
    rate_limits: tuple[RateLimit, ...]
    """The vendor's limits on this destination (configurable); empty means unlimited."""

    @property
    def target(self) -> str:
        """Where deliveries go, safe to log (secrets redacted)."""
        ...

    def fits(self, notification: Notification) -> bool:
        """True when the rendered message is within the vendor's byte limit untruncated:
        the runner grows a digest only while it fits, so every merged incident is shown."""
        ...

    def preview(self, notification: Notification) -> str:
        """What ``send`` would deliver, for ``herald render``; never contacts the target."""
        ...

    async def send(self, notification: Notification) -> None:
        """Deliver, or raise RetryableError / PermanentError."""
        ...

    async def aclose(self) -> None: ...


class ReceiverFactory(Protocol):
    config_model: type[BaseModel]

    def __call__(self, config: BaseModel, renderer: Renderer) -> Receiver: ...


REGISTRY: dict[str, ReceiverFactory] = {
    "console": console.ConsoleReceiver,
    "dingtalk": dingtalk.DingTalkReceiver,
    "email": email.EmailReceiver,
    "feishu": feishu.FeishuReceiver,
    "slack": slack.SlackReceiver,
    "teams": teams.TeamsReceiver,
    "webhook": webhook.WebhookReceiver,
    "wecom": wecom.WeComReceiver,
    "wecom_app": wecom_app.WeComAppReceiver,
}
