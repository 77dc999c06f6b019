"""What a receiver is asked to deliver: one incident update, or a digest of several."""

from __future__ import annotations

from dataclasses import dataclass

from schemas import Incident


@dataclass(frozen=True, slots=True)
class Notification:
    incidents: tuple[Incident, ...]

    @property
    def is_digest(self) -> bool:
        return len(self.incidents) > 1
