"""Redaction of secrets in URLs, for logs, errors, metrics and dead letters.

Chat robots put their key in the URL (WeCom ``?key=``, DingTalk ``?access_token=``,
Feishu and Slack in the path), so a URL is never shown as configured.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

REDACTED = "<redacted>"
_TOKENISH = re.compile(r"^[A-Za-z0-9_\-]{12,}$")


def redact_url(url: str) -> str:
    """Keep scheme, host and the shape of the path; hide query values and token-like path segments."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return REDACTED
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    path = "/".join(REDACTED if _TOKENISH.match(segment) else segment for segment in parts.path.split("/"))
    query = "&".join(
        f"{pair.split('=', 1)[0]}={REDACTED}" if "=" in pair else REDACTED
        for pair in parts.query.split("&")
        if pair
    )
    return urlunsplit((parts.scheme, host, path, query, ""))


def url_secrets(url: str) -> list[str]:
    """Every part of ``url`` that :func:`redact_url` hides, so free text can be scrubbed of it too."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return [url]
    found = [url]
    if parts.password:
        found.append(parts.password)
    found.extend(segment for segment in parts.path.split("/") if _TOKENISH.match(segment))
    for pair in parts.query.split("&"):
        value = pair.split("=", 1)[-1]
        if value:
            found.append(value)
    return found


def scrub(text: str, secrets: list[str]) -> str:
    """Remove every known secret value from free text (an exception message, a response body)."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text
