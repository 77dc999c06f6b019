"""The notifier's small HTTP API: list, add and expire silences (Alertmanager's shape).

GET    /api/silences          every silence, newest first, with its state
POST   /api/silences          {"matchers": ["namespace=shop"], "created_by": "...",
                               "comment": "...", "duration_seconds": 3600 | "ends_at": ...}
DELETE /api/silences/{id}     expire it now
"""

from __future__ import annotations

import logging

import orjson

from notifiers.silences import SilenceStore, parse_request
from runtime.http import ApiHandler
from schemas import Silence
from schemas.base import utc_now

log = logging.getLogger(__name__)

PREFIX = "/api/silences"


def silence_state(silence: Silence) -> str:
    now = utc_now()
    if silence.ends_at <= now:
        return "expired"
    return "active" if silence.starts_at <= now else "pending"


def describe(silence: Silence) -> dict[str, object]:
    return {**silence.model_dump(mode="json", by_alias=True), "state": silence_state(silence)}


def add_silence(store: SilenceStore, request: object) -> Silence:
    """Save a silence from untrusted input (JSON or the web form); ValueError says what is wrong."""
    silence = store.save(parse_request(request))
    log.info("silence %s added by %s: %s", silence.id, silence.created_by, silence.comment)
    return silence


def expire_silence(store: SilenceStore, silence_id: str) -> Silence:
    """End a silence now; KeyError if there is none by that id."""
    silence = store.expire(silence_id)
    log.info("silence %s expired", silence.id)
    return silence


def silence_api(store: SilenceStore) -> ApiHandler:
    def handle(method: str, path: str, body: bytes) -> tuple[int, object]:
        path = path.split("?", 1)[0].rstrip("/")
        if path == PREFIX and method == "GET":
            silences = sorted(store.book().values(), key=lambda s: s.updated_at, reverse=True)
            return 200, [describe(s) for s in silences]
        if path == PREFIX and method == "POST":
            try:
                silence = add_silence(store, orjson.loads(body))
            except (orjson.JSONDecodeError, ValueError) as exc:
                return 400, {"error": str(exc)}
            return 201, describe(silence)
        if path.startswith(PREFIX + "/") and method == "DELETE":
            silence_id = path.removeprefix(PREFIX + "/")
            try:
                silence = expire_silence(store, silence_id)
            except KeyError:
                return 404, {"error": f"no silence {silence_id!r}"}
            return 200, describe(silence)
        return 404, {"error": f"no route for {method} {path}"}

    return handle
