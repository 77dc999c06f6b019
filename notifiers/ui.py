"""The notifier's web page: the incidents it has seen and what it decided on each, and the
silences, with forms to add or expire one. Server-rendered, no JavaScript.

Incident text is untrusted (any tenant can create Events): every template is
autoescaped, and the Content-Security-Policy lets the page run no script at all.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined

from notifiers.api import add_silence, expire_silence, silence_state
from notifiers.board import Board, Entry, Filters
from notifiers.silences import SilenceStore, parse_duration
from notifiers.templating import format_time
from runtime.http import Page, PageHandler
from schemas import Incident, Silence
from schemas.base import utc_now

HEADERS = (
    (
        "content-security-policy",
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'",
    ),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "same-origin"),
    ("cache-control", "no-store"),
)

DECISIONS: dict[str, tuple[str, str]] = {
    "due": ("sending", "info"),
    "delivered": ("delivered", "ok"),
    "silenced": ("silenced", "muted"),
    "inhibited": ("inhibited", "muted"),
    "dead-lettered": ("dead-lettered", "bad"),
    "repeat-interval": ("held: repeat interval", "warn"),
    "superseded": ("superseded by a later version", "quiet"),
    "not-routed": ("not routed here", "quiet"),
    "already-handled": ("already handled", "quiet"),
    "resolved-not-wanted": ("resolution not wanted", "quiet"),
    "quiet-not-wanted": ("quiet close not wanted", "quiet"),
    "not-material": ("held: not news for this route", "quiet"),
    "never-notified": ("resolution of an unsent incident", "quiet"),
}
"""Each decision's wording and colour on the page."""

STATE_ORDER = {"active": 0, "pending": 1, "expired": 2}
_FINGERPRINT = re.compile(r"^[0-9a-f]{8,64}$")
_SILENCE_ID = re.compile(r"^[0-9A-Za-z_-]{1,64}$")
MAX_FORM_FIELDS = 20


@dataclass(frozen=True, slots=True)
class SilenceForm:
    """What the add-silence form holds, as typed: shown again with the error when it is wrong."""

    matchers: str = ""
    duration: str = "2h"
    created_by: str = ""
    comment: str = ""

    def request(self) -> dict[str, object]:
        """The silences API's request; ValueError says what is wrong."""
        return {
            "matchers": [line.strip() for line in self.matchers.splitlines() if line.strip()],
            "created_by": self.created_by.strip(),
            "comment": self.comment.strip(),
            "duration_seconds": parse_duration(self.duration),
        }


def matchers_for(incident: Incident) -> str:
    """An incident's labels as equality matchers, one a line, values quoted as Alertmanager writes them."""
    return "\n".join(f'{name}="{_quoted(value)}"' for name, value in incident.labels.items())


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def board_pages(board: Board, store: SilenceStore, *, receiver: str, timezone: str = "UTC") -> PageHandler:
    """The page handler for :func:`runtime.http.serve_health`."""
    views = _Views(board, store, receiver=receiver, zone=ZoneInfo(timezone))

    def handle(method: str, target: str, body: bytes) -> Page:
        url = urlsplit(target)
        path = url.path.rstrip("/") or "/"
        query = _fields(url.query)
        if method == "GET":
            if path == "/":
                return views.incidents(query)
            if path.startswith("/incidents/"):
                return views.incident(path.removeprefix("/incidents/"))
            if path == "/silences":
                return views.silences(added=query.get("added", ""))
            if path == "/silences/new":
                return views.new_silence(query.get("incident", ""))
        if method == "POST":
            form = _fields(body.decode("utf-8", errors="replace"))
            if path == "/silences":
                return views.add_silence(form)
            if path.startswith("/silences/") and path.endswith("/expire"):
                return views.expire_silence(path.removeprefix("/silences/").removesuffix("/expire"))
        return views.not_found("No such page.")

    return handle


def _fields(text: str) -> dict[str, str]:
    """The first value of each field of a query string or form body."""
    parsed = parse_qs(text, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
    return {name: values[0] for name, values in parsed.items()}


class _Views:
    def __init__(self, board: Board, store: SilenceStore, *, receiver: str, zone: ZoneInfo) -> None:
        self._board = board
        self._store = store
        self._receiver = receiver
        self._zone = zone
        self._env = Environment(
            loader=PackageLoader("notifiers", "templates"),
            autoescape=True,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._env.filters["when"] = self._when
        self._env.globals["decision_of"] = lambda reason: DECISIONS.get(reason, (reason, "quiet"))
        self._env.globals["silence_matchers"] = silence_matchers

    def incidents(self, query: Mapping[str, str]) -> Page:
        filters = Filters(
            cluster=query.get("cluster", ""),
            namespace=query.get("namespace", ""),
            severity=query.get("severity", ""),
            status=query.get("status", ""),
        )
        entries = self._board.entries(filters)
        return self._page(
            "ui_incidents.html.j2",
            title="Incidents",
            entries=entries,
            filters=filters,
            facets=self._board.facets(),
            filtered=any((filters.cluster, filters.namespace, filters.severity, filters.status)),
            silence_link=lambda entry: "/silences/new?" + urlencode({"incident": entry.incident.fingerprint}),
        )

    def incident(self, fingerprint: str) -> Page:
        entry = self._board.entry(fingerprint) if _FINGERPRINT.match(fingerprint) else None
        if entry is None:
            return self.not_found("This notifier has not seen that incident (or no longer holds it).")
        return self._page(
            "ui_incident.html.j2",
            title=entry.incident.title,
            entry=entry,
            history=list(reversed(entry.history)),
        )

    def silences(self, *, added: str = "") -> Page:
        now = utc_now()
        rows = [(silence, silence_state(silence)) for silence in self._store.book().values()]
        rows.sort(key=lambda row: row[0].updated_at, reverse=True)
        rows.sort(key=lambda row: STATE_ORDER[row[1]])
        return self._page("ui_silences.html.j2", title="Silences", rows=rows, added=added, now=now)

    def new_silence(self, fingerprint: str) -> Page:
        entry = self._board.entry(fingerprint) if _FINGERPRINT.match(fingerprint) else None
        form = SilenceForm(matchers=matchers_for(entry.incident)) if entry else SilenceForm()
        return self._form(form, entry=entry)

    def add_silence(self, fields: Mapping[str, str]) -> Page:
        form = SilenceForm(
            matchers=fields.get("matchers", ""),
            duration=fields.get("duration", ""),
            created_by=fields.get("created_by", ""),
            comment=fields.get("comment", ""),
        )
        entry = self._board.entry(fields.get("incident", "")) if fields.get("incident") else None
        try:
            silence = add_silence(self._store, form.request())
        except ValueError as exc:
            return self._form(form, entry=entry, error=str(exc), status=400)
        return Page.redirect("/silences?" + urlencode({"added": silence.id}))

    def expire_silence(self, silence_id: str) -> Page:
        if not _SILENCE_ID.match(silence_id):
            return self.not_found("No such silence.")
        try:
            expire_silence(self._store, silence_id)
        except KeyError:
            return self.not_found("No such silence.")
        return Page.redirect("/silences#silence-" + quote(silence_id))

    def not_found(self, message: str) -> Page:
        return self._page("ui_missing.html.j2", title="Not found", message=message, status=404)

    def _form(self, form: SilenceForm, *, entry: Entry | None, error: str = "", status: int = 200) -> Page:
        return self._page(
            "ui_silence_form.html.j2", title="New silence", form=form, entry=entry, error=error, status=status
        )

    def _page(self, template: str, *, status: int = 200, **context: Any) -> Page:
        context.setdefault("now", utc_now())
        active = sum(silence_state(s) == "active" for s in self._store.book().values())
        html = self._env.get_template(template).render(
            receiver=self._receiver, active_silences=active, **context
        )
        return Page(status, html.encode(), headers=HEADERS)

    def _when(self, value: datetime, now: datetime | None = None) -> str:
        """Local time, and how long ago (or from now) when ``now`` is given."""
        shown = format_time(value, self._zone)
        if now is None:
            return shown
        return f"{shown} ({_relative((value - now).total_seconds())})"


def _relative(seconds: float) -> str:
    span = abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if span >= size:
            amount = f"{int(span // size)}{unit}"
            break
    else:
        amount = f"{int(span)}s"
    return f"in {amount}" if seconds > 0 else f"{amount} ago"


def silence_matchers(silence: Silence) -> list[str]:
    """A silence's matchers as people write them."""
    return [f'{m.name}{m.op.value}"{_quoted(m.value)}"' for m in silence.matchers]
