"""The notifier's web page: the incidents it has seen and what it decided on each, and the
silences, with forms to add or expire one. Server-rendered in the receiver's language (en,
zh), no JavaScript: the incidents list reloads itself with a ``<meta http-equiv=refresh>``.

Incident text is untrusted (any tenant can create Events): every template is
autoescaped, and the Content-Security-Policy lets the page run no script at all.

:func:`page_guard` is the optional authentication (a bearer token or basic auth) and the
read-only mode, for the pages and the silences API alike.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from collections.abc import Mapping, Sequence
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
from runtime.config import UiAuthSettings
from runtime.http import Guard, Page, PageHandler
from schemas import Incident, Silence
from schemas.base import utc_now
from schemas.categories import Language, category_name

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
"""Each decision's wording (in English) and colour on the page."""

DECISIONS_ZH: dict[str, str] = {
    "due": "发送中",
    "delivered": "已送达",
    "silenced": "已静默",
    "inhibited": "已抑制",
    "dead-lettered": "已转入死信",
    "repeat-interval": "暂缓：重复间隔内",
    "superseded": "已被更新的版本取代",
    "not-routed": "未路由到此处",
    "already-handled": "已处理过",
    "resolved-not-wanted": "不需要恢复通知",
    "quiet-not-wanted": "不需要静默关闭通知",
    "not-material": "暂缓：对此路由不算新消息",
    "never-notified": "未发送过的事件已恢复",
}

WORDS: dict[Language, dict[str, str]] = {
    "en": {
        "incidents": "Incidents",
        "silences": "Silences",
        "new_silence": "New silence",
        "not_found": "Not found",
        "notifier": "notifier",
        "cluster": "Cluster",
        "namespace": "Namespace",
        "workload": "Workload",
        "category": "Category",
        "severity": "Severity",
        "status": "Status",
        "state": "State",
        "incident": "Incident",
        "cluster_namespace": "Cluster / namespace",
        "count": "Count",
        "occurrences": "Occurrences",
        "last_update": "Last update",
        "decision": "Decision",
        "first_seen": "First seen",
        "last_seen": "Last seen",
        "inhibited_by": "Inhibited by",
        "labels": "Labels",
        "objects": "Objects",
        "and_more": "and {n} more",
        "fingerprint": "Fingerprint",
        "recent_messages": "Recent messages",
        "at": "At",
        "reason": "Reason",
        "object": "Object",
        "message": "Message",
        "history": "History: every version this notifier saw, and what it decided",
        "version": "Version",
        "emitted": "Emitted",
        "decided": "Decided",
        "by_silence": "by silence",
        "silence_n": "silence {id}",
        "any": "any",
        "search": "Search",
        "search_hint": "title, cluster, namespace, workload, reason, node",
        "filter": "Filter",
        "clear": "Clear",
        "silence_this": "Silence this",
        "silence_this_link": "silence this",
        "no_match": "No incident matches these filters.",
        "no_incidents": "No incidents seen yet.",
        "shown": "{shown} of {total} shown",
        "refresh_on": "Refreshes every {n} s",
        "refresh_pause": "pause",
        "refresh_off": "Auto-refresh paused",
        "refresh_resume": "resume",
        "read_only": "Read-only: silences cannot be added or expired here.",
        "prefilled": "Prefilled with the grouping labels of",
        "prefilled_tail": ": add or remove matchers as needed.",
        "matchers": "Matchers",
        "matchers_hint": "One a line, as Alertmanager writes them:",
        "matchers_hint_tail": "An incident is silenced when every matcher matches its labels.",
        "duration": "Duration",
        "duration_hint": "e.g. 30m, 2h, 1d12h",
        "created_by": "Created by",
        "comment": "Comment",
        "add_silence": "Add silence",
        "cancel": "Cancel",
        "cannot_add": "The silence was not added: {error}",
        "added": "Silence {id} added: matching incidents are recorded as silenced, not sent.",
        "starts": "Starts",
        "ends": "Ends",
        "expire": "Expire",
        "no_silences": "No silences.",
        "back": "Back to the incidents.",
        "rendered": "Rendered {when} · this notifier's view since it started; the topics hold the truth.",
        "no_page": "No such page.",
        "no_incident": "This notifier has not seen that incident (or no longer holds it).",
        "no_silence": "No such silence.",
        "firing": "firing",
        "resolved": "resolved",
        "critical": "critical",
        "warning": "warning",
        "info": "info",
        "active": "active",
        "pending": "pending",
        "expired": "expired",
        "ago": "{amount} ago",
        "from_now": "in {amount}",
        "d": "{n}d",
        "h": "{n}h",
        "m": "{n}m",
        "s": "{n}s",
        "unauthorized": "Sign in to see this notifier's page.",
        "forbidden": "This page is read-only: silences cannot be added or expired here.",
    },
    "zh": {
        "incidents": "事件",
        "silences": "静默",
        "new_silence": "新建静默",
        "not_found": "未找到",
        "notifier": "通知器",
        "cluster": "集群",
        "namespace": "命名空间",
        "workload": "工作负载",
        "category": "类别",
        "severity": "级别",
        "status": "状态",
        "state": "状态",
        "incident": "事件",
        "cluster_namespace": "集群 / 命名空间",
        "count": "次数",
        "occurrences": "发生次数",
        "last_update": "最近更新",
        "decision": "处理结果",
        "first_seen": "首次发生",
        "last_seen": "最近发生",
        "inhibited_by": "被抑制于",
        "labels": "标签",
        "objects": "对象",
        "and_more": "等，另有 {n} 个",
        "fingerprint": "指纹",
        "recent_messages": "最近消息",
        "at": "时间",
        "reason": "原因",
        "object": "对象",
        "message": "消息",
        "history": "历史：此通知器收到的每个版本及其处理结果",
        "version": "版本",
        "emitted": "产生时间",
        "decided": "处理时间",
        "by_silence": "由静默",
        "silence_n": "静默 {id}",
        "any": "全部",
        "search": "搜索",
        "search_hint": "标题、集群、命名空间、工作负载、原因、节点",
        "filter": "筛选",
        "clear": "清除",
        "silence_this": "静默此事件",
        "silence_this_link": "静默",
        "no_match": "没有符合筛选条件的事件。",
        "no_incidents": "尚未收到任何事件。",
        "shown": "显示 {shown} / 共 {total} 个",
        "refresh_on": "每 {n} 秒自动刷新",
        "refresh_pause": "暂停",
        "refresh_off": "自动刷新已暂停",
        "refresh_resume": "恢复",
        "read_only": "只读：此处不能添加或使静默失效。",
        "prefilled": "已按分组标签预填自",
        "prefilled_tail": "：可按需增删匹配条件。",
        "matchers": "匹配条件",
        "matchers_hint": "每行一个，写法同 Alertmanager：",
        "matchers_hint_tail": "事件的标签满足全部条件时被静默。",
        "duration": "时长",
        "duration_hint": "例如 30m、2h、1d12h",
        "created_by": "创建人",
        "comment": "备注",
        "add_silence": "添加静默",
        "cancel": "取消",
        "cannot_add": "静默未添加：{error}",
        "added": "已添加静默 {id}：匹配的事件将记为已静默，不再发送。",
        "starts": "开始",
        "ends": "结束",
        "expire": "使失效",
        "no_silences": "没有静默。",
        "back": "返回事件列表。",
        "rendered": "生成于 {when} · 此通知器自启动以来的视图；以 Kafka 主题中的数据为准。",
        "no_page": "没有这个页面。",
        "no_incident": "此通知器没有见过该事件（或已不再保留）。",
        "no_silence": "没有这个静默。",
        "firing": "告警中",
        "resolved": "已恢复",
        "critical": "严重",
        "warning": "警告",
        "info": "提示",
        "active": "生效中",
        "pending": "未开始",
        "expired": "已失效",
        "ago": "{amount}前",
        "from_now": "{amount}后",
        "d": "{n} 天",
        "h": "{n} 小时",
        "m": "{n} 分钟",
        "s": "{n} 秒",
        "unauthorized": "请登录后查看此通知器的页面。",
        "forbidden": "此页面为只读：不能添加或使静默失效。",
    },
}
"""Every word of the page, per language."""

HTML_LANG: dict[Language, str] = {"en": "en", "zh": "zh-CN"}
GROUP_BY = ("cluster", "namespace", "workload", "category")
"""The processor's default ``group_by``: the labels a "silence this" form starts from."""
COUNTED = ("status", "severity", "cluster")

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


def matchers_for(incident: Incident, group_by: Sequence[str] = GROUP_BY) -> str:
    """The incident's grouping labels that have a value, as equality matchers, one a line,
    values quoted as Alertmanager writes them: what makes this incident, not its latest
    Event's reason or node (a matcher on those would miss the incident's next update).
    Silences match labels, so a grouping field missing from them is left out."""
    lines = []
    for name in group_by:
        value = incident.labels.get(name)
        if value:
            lines.append(f'{name}="{_quoted(value)}"')
    return "\n".join(lines)


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def board_pages(
    board: Board,
    store: SilenceStore,
    *,
    receiver: str,
    timezone: str = "UTC",
    language: Language = "en",
    group_by: Sequence[str] = GROUP_BY,
    read_only: bool = False,
    refresh_seconds: int = 30,
) -> PageHandler:
    """The page handler for :func:`runtime.http.serve_health`."""
    views = _Views(
        board,
        store,
        receiver=receiver,
        zone=ZoneInfo(timezone),
        language=language,
        group_by=tuple(group_by),
        read_only=read_only,
        refresh_seconds=refresh_seconds,
    )

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
        if method == "POST" and read_only:
            return views.forbidden()
        if method == "POST":
            form = _fields(body.decode("utf-8", errors="replace"))
            if path == "/silences":
                return views.add_silence(form)
            if path.startswith("/silences/") and path.endswith("/expire"):
                return views.expire_silence(path.removeprefix("/silences/").removesuffix("/expire"))
        return views.not_found("no_page")

    return handle


def page_guard(auth: UiAuthSettings, *, language: Language = "en") -> Guard | None:
    """The pages' and silences API's gate, or None when neither a credential nor read-only is set.

    Credentials are compared in constant time; a refusal never says which part was wrong.
    """
    if not auth.required and not auth.read_only:
        return None
    words = WORDS[language]
    tokens = [f"Bearer {auth.bearer_token.get_secret_value()}".encode()] if auth.bearer_token else []
    if auth.basic_username is not None and auth.basic_password is not None:
        pair = f"{auth.basic_username}:{auth.basic_password.get_secret_value()}".encode()
        tokens.append(b"Basic " + base64.b64encode(pair))
    challenge = (
        'Basic realm="kube-herald", charset="UTF-8"' if auth.basic_password else 'Bearer realm="kube-herald"'
    )

    def admitted(header: str) -> bool:
        given = _normalized(header)
        found = False
        for token in tokens:  # every one compared, so the time taken says nothing
            found |= hmac.compare_digest(given, token)
        return found

    def guard(method: str, path: str, headers: Mapping[str, str]) -> Page | None:
        if tokens and not admitted(headers.get("authorization", "")):
            return _refusal(401, words["unauthorized"], ("www-authenticate", challenge))
        if auth.read_only and method not in ("GET", "HEAD"):
            return _refusal(403, words["forbidden"])
        return None

    return guard


def _normalized(header: str) -> bytes:
    """The Authorization header with its scheme spelled as we store it (schemes are case-insensitive),
    and a basic credential re-encoded, so ``basic  dXNl...`` compares equal."""
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer":
        return f"Bearer {value}".encode()
    if scheme.lower() == "basic":
        try:
            return b"Basic " + base64.b64encode(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            return b""
    return b""


def _refusal(status: int, message: str, *extra: tuple[str, str]) -> Page:
    return Page(status, (message + "\n").encode(), "text/plain; charset=utf-8", (*HEADERS, *extra))


def _fields(text: str) -> dict[str, str]:
    """The first value of each field of a query string or form body."""
    parsed = parse_qs(text, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
    return {name: values[0] for name, values in parsed.items()}


class _Views:
    def __init__(
        self,
        board: Board,
        store: SilenceStore,
        *,
        receiver: str,
        zone: ZoneInfo,
        language: Language,
        group_by: tuple[str, ...],
        read_only: bool,
        refresh_seconds: int,
    ) -> None:
        self._board = board
        self._store = store
        self._receiver = receiver
        self._zone = zone
        self._language: Language = language
        self._words = WORDS[language]
        self._group_by = group_by
        self._read_only = read_only
        self._refresh = refresh_seconds
        self._env = Environment(
            loader=PackageLoader("notifiers", "templates"),
            autoescape=True,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._env.filters["when"] = self._when
        self._env.filters["word"] = lambda value: self._words.get(value, value)
        self._env.filters["category"] = lambda value: category_name(value, self._language)
        self._env.globals["decision_of"] = self._decision
        self._env.globals["silence_matchers"] = silence_matchers

    def _decision(self, reason: str) -> tuple[str, str]:
        wording, tone = DECISIONS.get(reason, (reason, "quiet"))
        return (DECISIONS_ZH.get(reason, wording) if self._language == "zh" else wording), tone

    def incidents(self, query: Mapping[str, str]) -> Page:
        filters = Filters(
            cluster=query.get("cluster", ""),
            namespace=query.get("namespace", ""),
            severity=query.get("severity", ""),
            status=query.get("status", ""),
            text=query.get("q", "").strip()[:200],
        )
        entries = self._board.entries(filters)
        chosen = {name: value for name, value in _chosen(filters).items() if value}
        refresh = self._refresh if query.get("refresh") != "off" else 0

        def link(*, refresh: str | None = None, **changes: str) -> str:
            """This list with some filters changed (an empty value drops one), and auto-refresh
            paused (``refresh="off"``), resumed (``"on"``) or as it is (None)."""
            wanted = {**chosen, **changes}
            if (query.get("refresh") if refresh is None else refresh) == "off":
                wanted["refresh"] = "off"
            kept = {name: value for name, value in wanted.items() if value}
            return "/?" + urlencode(kept) if kept else "/"

        return self._page(
            "ui_incidents.html.j2",
            title=self._words["incidents"],
            section="incidents",
            entries=entries,
            total=self._board.size(),
            filters=filters,
            facets=self._board.facets(),
            counts=self._board.counts(COUNTED),
            filtered=bool(chosen),
            link=link,
            refresh=refresh,
            refresh_enabled=self._refresh > 0,
            silence_link=lambda entry: "/silences/new?" + urlencode({"incident": entry.incident.fingerprint}),
        )

    def incident(self, fingerprint: str) -> Page:
        entry = self._board.entry(fingerprint) if _FINGERPRINT.match(fingerprint) else None
        if entry is None:
            return self.not_found("no_incident")
        return self._page(
            "ui_incident.html.j2",
            title=entry.incident.title,
            section="incidents",
            entry=entry,
            history=list(reversed(entry.history)),
        )

    def silences(self, *, added: str = "") -> Page:
        now = utc_now()
        rows = [(silence, silence_state(silence)) for silence in self._store.book().values()]
        rows.sort(key=lambda row: row[0].updated_at, reverse=True)
        rows.sort(key=lambda row: STATE_ORDER[row[1]])
        return self._page(
            "ui_silences.html.j2",
            title=self._words["silences"],
            section="silences",
            rows=rows,
            added=added if _SILENCE_ID.match(added) else "",
            now=now,
        )

    def new_silence(self, fingerprint: str) -> Page:
        if self._read_only:
            return self.forbidden()
        entry = self._board.entry(fingerprint) if _FINGERPRINT.match(fingerprint) else None
        form = SilenceForm(matchers=matchers_for(entry.incident, self._group_by)) if entry else SilenceForm()
        return self._form(form, entry=entry)

    def add_silence(self, fields: Mapping[str, str]) -> Page:
        form = SilenceForm(
            matchers=fields.get("matchers", ""),
            duration=fields.get("duration", ""),
            created_by=fields.get("created_by", ""),
            comment=fields.get("comment", ""),
        )
        fingerprint = fields.get("incident", "")
        entry = self._board.entry(fingerprint) if _FINGERPRINT.match(fingerprint) else None
        try:
            silence = add_silence(self._store, form.request())
        except ValueError as exc:
            error = self._words["cannot_add"].format(error=exc)
            return self._form(form, entry=entry, error=error, status=400)
        return Page.redirect("/silences?" + urlencode({"added": silence.id}))

    def expire_silence(self, silence_id: str) -> Page:
        if not _SILENCE_ID.match(silence_id):
            return self.not_found("no_silence")
        try:
            expire_silence(self._store, silence_id)
        except KeyError:
            return self.not_found("no_silence")
        return Page.redirect("/silences#silence-" + quote(silence_id))

    def not_found(self, message: str) -> Page:
        return self._page(
            "ui_missing.html.j2",
            title=self._words["not_found"],
            section="",
            message=self._words[message],
            status=404,
        )

    def forbidden(self) -> Page:
        return self._page(
            "ui_missing.html.j2",
            title=self._words["read_only"],
            section="silences",
            message=self._words["forbidden"],
            status=403,
        )

    def _form(self, form: SilenceForm, *, entry: Entry | None, error: str = "", status: int = 200) -> Page:
        return self._page(
            "ui_silence_form.html.j2",
            title=self._words["new_silence"],
            section="silences",
            form=form,
            entry=entry,
            error=error,
            status=status,
        )

    def _page(self, template: str, *, status: int = 200, **context: Any) -> Page:
        context.setdefault("now", utc_now())
        active = sum(silence_state(s) == "active" for s in self._store.book().values())
        html = self._env.get_template(template).render(
            receiver=self._receiver,
            active_silences=active,
            t=self._words,
            lang=HTML_LANG[self._language],
            read_only=self._read_only,
            **context,
        )
        return Page(status, html.encode(), headers=HEADERS)

    def _when(self, value: datetime, now: datetime | None = None) -> str:
        """Local time, and how long ago (or from now) when ``now`` is given."""
        shown = format_time(value, self._zone)
        if now is None:
            return shown
        return f"{shown} ({relative((value - now).total_seconds(), self._language)})"


def _chosen(filters: Filters) -> dict[str, str]:
    """The filters as the list's GET parameters."""
    return {
        "q": filters.text,
        "cluster": filters.cluster,
        "namespace": filters.namespace,
        "severity": filters.severity,
        "status": filters.status,
    }


def relative(seconds: float, language: Language = "en") -> str:
    """``3m ago``, ``in 2h``; ``3 分钟前``, ``2 小时后``."""
    words = WORDS[language]
    span = abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if span >= size:
            amount = words[unit].format(n=int(span // size))
            break
    else:
        amount = words["s"].format(n=int(span))
    return (words["from_now"] if seconds > 0 else words["ago"]).format(amount=amount)


def silence_matchers(silence: Silence) -> list[str]:
    """A silence's matchers as people write them."""
    return [f'{m.name}{m.op.value}"{_quoted(m.value)}"' for m in silence.matchers]
