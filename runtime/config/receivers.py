"""The keys every receiver entry has; each receiver type validates the rest with its own model."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from runtime.config.base import TimeZoneName
from schemas.categories import Language


class ReceiverEntry(BaseModel):
    """The keys every receiver has; the rest is validated by the receiver's own model."""

    model_config = ConfigDict(frozen=True, extra="allow")

    name: str = Field(
        pattern=r"^[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?$",
        description="Unique; picked by `herald notifier --receiver NAME` and by routes.",
    )
    type: str = Field(min_length=1, description="The receiver type, which decides the other keys.")
    # exclude: every type shares these, so they are not passed on to the type's own model.
    language: Language | None = Field(
        None,
        exclude=True,
        description="Language of this receiver's messages (en, zh); default notifier.language.",
    )
    timezone: TimeZoneName | None = Field(
        None,
        exclude=True,
        description="Time zone of this receiver's times, e.g. Europe/Berlin; default notifier.timezone.",
    )

    def settings(self) -> dict[str, Any]:
        """The keys the receiver type's own model validates: all but the locale every type shares."""
        return self.model_dump()
