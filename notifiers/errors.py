"""The two ways a delivery fails, the whole of the receiver contract's error surface.

Messages must never contain a secret: receivers build them from redacted targets.
"""

from __future__ import annotations


class DeliveryError(Exception):
    """Base of delivery failures."""


class RetryableError(DeliveryError):
    """Try again later; ``retry_after`` (seconds) is the least the target asked us to wait."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(DeliveryError):
    """Retrying cannot help (bad key, bad signature, malformed payload): dead-letter it."""
