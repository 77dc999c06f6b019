"""HTTP delivery shared by the webhook-style receivers: one place that reads a response."""

from __future__ import annotations

from email.utils import parsedate_to_datetime

import httpx
import orjson

from notifiers.errors import PermanentError, RetryableError
from runtime.redact import scrub
from schemas.base import utc_now

MAX_BODY_SHOWN = 300


def pretty_json(payload: object) -> str:
    """A JSON body as people read it (``herald render``)."""
    if isinstance(payload, bytes):
        payload = orjson.loads(payload)
    return orjson.dumps(payload, option=orjson.OPT_INDENT_2).decode()


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` as seconds, from either of its two forms (delta or HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - utc_now()).total_seconds())
    except (TypeError, ValueError):
        return None


def raise_for_response(response: httpx.Response, *, target: str, secrets: list[str]) -> None:
    """Turn an HTTP answer into success, RetryableError or PermanentError."""
    status = response.status_code
    if 200 <= status < 300:
        return
    body = scrub(response.text, secrets)[:MAX_BODY_SHOWN]  # scrub first: a cut may split a secret
    message = f"{target} answered HTTP {status}: {body}"
    if status in {408, 429} or status >= 500:
        raise RetryableError(message, retry_after=retry_after_seconds(response.headers.get("retry-after")))
    raise PermanentError(message)


async def post(
    client: httpx.AsyncClient,
    *,
    method: str,
    url: str,
    content: bytes,
    headers: dict[str, str],
    target: str,
    secrets: list[str],
) -> httpx.Response:
    """Send one request; transport failures are retryable and never echo the secret URL."""
    try:
        response = await client.request(method, url, content=content, headers=headers)
    except httpx.TimeoutException:
        raise RetryableError(f"{target}: timed out") from None
    except httpx.TransportError as exc:
        raise RetryableError(f"{target}: {type(exc).__name__}: {scrub(str(exc), secrets)}") from None
    raise_for_response(response, target=target, secrets=secrets)
    return response
