"""Logging setup shared by every process: readable lines, or JSON for log pipelines."""

from __future__ import annotations

import logging
import sys
from typing import Any

import orjson

from runtime.redact import scrub

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object a line; a call's ``extra=`` fields (``cluster``, ``incident``,
    ``receiver``) become top-level keys a log pipeline can index."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        payload.update({k: v for k, v in record.__dict__.items() if k not in _RESERVED})
        if record.exc_info:
            payload["exc"] = record.exc_text or self.formatException(record.exc_info)
        return orjson.dumps(payload, default=str).decode()


def escape_controls(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` with control and formatting characters (newlines, ANSI escapes, bidi
    overrides) written as escapes: a value from an Event, which any tenant can create, can
    then neither forge a log line nor hide one."""
    if text.isprintable():
        return text
    return "".join(
        char
        if char.isprintable() or char == " " or (keep_newlines and char == "\n")
        else char.encode("unicode_escape").decode("ascii")
        for char in text
    )


class TextFormatter(logging.Formatter):
    """One line per record: control characters in the message are escaped (a traceback,
    appended after it by the formatter, keeps its lines). A record logged with
    ``extra={"multiline": True}`` (a diagnostic dump of our own making) keeps its newlines."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        message = escape_controls(record.message, keep_newlines=getattr(record, "multiline", False))
        return self._style._fmt % {**record.__dict__, "message": message}


class SecretFilter(logging.Filter):
    """Last line of defence: scrub every registered secret from every log line.

    Code must not log secrets in the first place; this catches what a library logs on
    its own (HTTP clients log request URLs, and chat robots keep their key there).
    """

    def __init__(self) -> None:
        super().__init__()
        self.secrets: list[str] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            cleaned = scrub(message, self.secrets)
            if cleaned != message:
                record.msg, record.args = cleaned, None
            for key, value in list(record.__dict__.items()):
                if key not in _RESERVED and isinstance(value, str):
                    record.__dict__[key] = scrub(value, self.secrets)
            if record.exc_info and not record.exc_text:
                # Formatters reuse exc_text: an exception's message can hold a URL with its key.
                record.exc_text = scrub(_PLAIN.formatException(record.exc_info), self.secrets)
        return True


SECRETS = SecretFilter()
_PLAIN = logging.Formatter()


MIN_SECRET_LENGTH = 6
"""Shorter values are not credentials (``access_token=x`` in a test URL); scrubbing them would
mangle every log line that happens to contain those letters."""


def register_secrets(values: list[str]) -> None:
    """Add values that must never reach a log line."""
    SECRETS.secrets.extend(v for v in values if len(v) >= MIN_SECRET_LENGTH and v not in SECRETS.secrets)


def setup_logging(level: str = "INFO", *, json_lines: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(SECRETS)
    if json_lines:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # HTTP clients log each request URL at INFO; webhook URLs carry keys.
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
