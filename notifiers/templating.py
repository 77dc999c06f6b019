"""Sandboxed Jinja2 rendering shared by every receiver.

Event text is untrusted (any tenant can create Events): templates run in Jinja's
sandbox, and every value a template prints is escaped for the receiver's markup by the
environment itself (``finalize``), so a user template cannot forget to. JSON bodies are
built from data: receivers render only the text and put it into a dict, and the generic
webhook's body template uses ``tojson`` with markup ``none``. User templates in
``templates_dir`` override the packaged defaults by file name.

Each receiver renders in its own language and time zone (``receivers[].language`` and
``timezone``, default ``notifier:``): the title is worked out again from the category and
the incident's fields (schemas/categories.py), since ``Incident.title`` is English, and
every time is written one way, with its UTC offset (``2026-12-06 08:12:07 +08:00``), since
a zone abbreviation such as ``CST`` names China and US Central alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from jinja2 import ChoiceLoader, FileSystemLoader, PackageLoader, StrictUndefined, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from notifiers.errors import PermanentError
from notifiers.markup import Markup, Trusted, escape
from notifiers.notification import Notification
from schemas import Change, Incident, IncidentStatus, RelatedIncident, ResolvedBy
from schemas.categories import Language, category_name, title

LABELS: dict[Language, dict[str, str]] = {
    "en": {
        "firing": "FIRING",
        "recovered": "RECOVERED",
        "quiet": "QUIET",
        "closed": "CLOSED",
        "resolved": "CLOSED",
        "info": "info",
        "warning": "warning",
        "error": "error",
        "critical": "critical",
        "cluster": "Cluster",
        "namespace": "Namespace",
        "node": "Node",
        "workload": "Workload",
        "workloads": "Affected workloads",
        "kind": "Kind",
        "reason": "Reason",
        "severity": "Severity",
        "category": "Category",
        "count": "Occurrences",
        "first_seen": "First seen",
        "last_seen": "Last seen",
        "objects": "Objects",
        "more": "more",
        "samples": "Recent messages",
        "message": "Message",
        "details": "Details",
        "digest": "incidents",
        "inhibited": "inhibited by",
        "related": "Related",
        "news": "Update",
        "recovery": "Recovered by",
        "closing": "Closed",
    },
    "zh": {
        "firing": "告警",
        "recovered": "已恢复",
        "quiet": "已静默",
        "closed": "已关闭",
        "resolved": "已关闭",
        "info": "提示",
        "warning": "警告",
        "error": "错误",
        "critical": "严重",
        "cluster": "集群",
        "namespace": "命名空间",
        "node": "节点",
        "workload": "工作负载",
        "workloads": "受影响的工作负载",
        "kind": "类型",
        "reason": "原因",
        "severity": "级别",
        "category": "类别",
        "count": "发生次数",
        "first_seen": "首次发生",
        "last_seen": "最近发生",
        "objects": "涉及对象",
        "more": "更多",
        "samples": "最近消息",
        "message": "消息",
        "details": "详情",
        "digest": "条事件",
        "inhibited": "被抑制于",
        "related": "关联",
        "news": "更新",
        "recovery": "恢复依据",
        "closing": "关闭",
    },
}
"""Words of the default templates; ``t`` in every template."""

CHANGES: dict[Language, dict[Change, str]] = {
    "en": {
        Change.NEW_OBJECT: "new objects affected",
        Change.SEVERITY: "severity raised",
        Change.NEW_REASON: "a new reason",
        Change.RECOVERED_OBJECTS: "some objects recovered",
        Change.RATE: "rate jumped",
        Change.REPEAT: "still failing (reminder)",
        Change.UNINHIBITED: "no longer inhibited",
    },
    "zh": {
        Change.NEW_OBJECT: "新增受影响对象",
        Change.SEVERITY: "级别升高",
        Change.NEW_REASON: "出现新原因",
        Change.RECOVERED_OBJECTS: "部分对象已恢复",
        Change.RATE: "频率陡增",
        Change.REPEAT: "仍在持续（定期提醒）",
        Change.UNINHIBITED: "不再被抑制",
    },
}
"""Why a firing update was sent, when it is not the first page (``opened``)."""

SEPARATORS: dict[Language, str] = {"en": ": ", "zh": "："}
LIST_SEPARATORS: dict[Language, str] = {"en": ", ", "zh": "、"}


def format_time(value: datetime, zone: ZoneInfo) -> str:
    """One format for every time a person reads: ``2026-12-06 08:12:07 +08:00``. An explicit
    offset, never a zone abbreviation (``CST`` is China and US Central alike)."""
    local = value.astimezone(zone)
    offset = local.strftime("%z")
    return f"{local:%Y-%m-%d %H:%M:%S} {offset[:3]}:{offset[3:]}"


def format_moment(value: datetime, zone: ZoneInfo, *, reference: datetime) -> str:
    """``08:12`` inside a sentence, when it is the same day as ``reference`` (the message's
    full times carry the offset); the full format otherwise."""
    local, day = value.astimezone(zone), reference.astimezone(zone)
    return f"{local:%H:%M}" if local.date() == day.date() else format_time(value, zone)


def format_duration(seconds: float, language: Language) -> str:
    """``15 min`` / ``15 分钟``, ``1 h 30 min`` / ``1 小时 30 分钟``, ``40 s`` / ``40 秒``."""
    units = {"en": ("h", "min", "s"), "zh": ("小时", "分钟", "秒")}[language]
    whole = max(0, round(seconds))
    if whole < 60:
        return f"{whole} {units[2]}"
    hours, minutes = divmod(whole // 60, 60)
    parts = ([f"{hours} {units[0]}"] if hours else []) + ([f"{minutes} {units[1]}"] if minutes else [])
    return " ".join(parts)


def state_of(incident: Incident) -> str:
    """``firing``; closed on evidence, ``recovered``; closed by silence, ``quiet``; closed by a
    processor that did not say how, ``closed`` (never worded as a recovery)."""
    if incident.status is IncidentStatus.FIRING:
        return "firing"
    if incident.resolved_by is ResolvedBy.RECOVERY:
        return "recovered"
    return "quiet" if incident.resolved_by is ResolvedBy.QUIET else "closed"


class Renderer:
    """Renders a receiver's templates in its language and time zone."""

    def __init__(
        self,
        *,
        timezone: str = "UTC",
        templates_dir: Path | None = None,
        language: Language = "en",
        link_template: str | None = None,
    ) -> None:
        loaders: list[Any] = [PackageLoader("notifiers", "templates")]
        if templates_dir is not None:
            loaders.insert(0, FileSystemLoader(str(templates_dir)))
        self._loader = ChoiceLoader(loaders)
        self._zone = ZoneInfo(timezone)
        self._language: Language = language
        self._environments: dict[Markup, ImmutableSandboxedEnvironment] = {}
        self._link = self._environment("none").from_string(link_template) if link_template else None

    @property
    def language(self) -> Language:
        return self._language

    @property
    def labels(self) -> Mapping[str, str]:
        return LABELS[self._language]

    def _environment(self, markup: Markup) -> ImmutableSandboxedEnvironment:
        env = self._environments.get(markup)
        if env is None:
            env = ImmutableSandboxedEnvironment(
                loader=self._loader,
                autoescape=False,
                undefined=StrictUndefined,
                trim_blocks=True,
                lstrip_blocks=True,
                finalize=lambda value: escape(value, markup),
            )
            env.filters["localtime"] = self._localtime
            env.policies["json.dumps_function"] = lambda value, **_: orjson.dumps(value).decode()
            self._environments[markup] = env
        return env

    def _localtime(self, value: datetime, fmt: str | None = None) -> str:
        """``2026-12-06 08:12:07 +08:00`` in the receiver's zone; ``fmt`` is strftime's."""
        return format_time(value, self._zone) if fmt is None else value.astimezone(self._zone).strftime(fmt)

    def context(self, notification: Notification) -> dict[str, Any]:
        """What every template sees: ``incidents`` (``incident`` is the first), ``digest``,
        ``t`` (labels in the receiver's language), ``lang``, ``sep`` (``": "`` or ``"："``) and
        ``colon`` (``":"`` or ``"："``).

        Each incident is its contract fields plus what a reader needs worked out, in the
        receiver's language and zone (see :meth:`view`); each sample also has ``seen_at``
        (a datetime, for the ``localtime`` filter) and ``time``."""
        incidents = [self.view(incident) for incident in notification.incidents]
        return {
            "incidents": incidents,
            "incident": incidents[0],
            "digest": notification.is_digest,
            "t": LABELS[self._language],
            "lang": self._language,
            "sep": Trusted(SEPARATORS[self._language]),
            "colon": Trusted(SEPARATORS[self._language].strip()),
        }

    def view(self, incident: Incident) -> dict[str, Any]:
        """One incident as templates print it. Beside the contract's fields (``title`` stays
        the processor's English title): ``headline`` (the title in this language), ``state``
        and ``state_label`` (firing, recovered, quiet or closed), ``severity_label``,
        ``category_name``, ``is_node`` and ``node_name``, ``kind``, ``workload_ref``
        (``Deployment/checkout``), ``reason``, ``first_seen_text``/``last_seen_text``,
        ``count_text``, ``latest`` (the newest sample), ``more`` (objects not listed),
        ``resolution`` (how a closed incident closed), ``related_texts``, ``changes_text``
        and ``link``."""
        language, t = self._language, LABELS[self._language]
        raw: dict[str, Any] = incident.model_dump(mode="json")
        labels = incident.labels
        kind = labels.get("kind") or None
        node = incident.node or labels.get("node") or None
        if kind == "Node" and not node:
            node = incident.workload or labels.get("workload") or None
        # A Node's own incident is about the node: it shows "Node: node-7", not a namespace.
        is_node = kind == "Node" or (not incident.namespace and not incident.workload and node is not None)
        state = state_of(incident)
        samples = sorted(zip(raw["samples"], incident.samples, strict=True), key=lambda pair: pair[1].at)
        for sample, model in samples:
            sample["seen_at"] = model.at
            sample["time"] = format_time(model.at, self._zone)
        raw["samples"] = [sample for sample, _ in samples]  # oldest first
        workload_ref = f"{kind}/{incident.workload}" if kind and incident.workload else incident.workload
        raw.update(
            headline=title(
                incident.category,
                namespace=incident.namespace,
                workload=incident.workload,
                node=node,
                kind=kind,
                language=language,
            ),
            category_name=category_name(incident.category, language),
            state=state,
            state_label=t[state],
            severity_label=t[incident.severity],
            is_node=is_node,
            node_name=node,
            kind=kind,
            workload_ref=None if is_node else workload_ref,
            # The label is empty once the occurrences' reasons differ: then list those sampled.
            reason=labels.get("reason")
            or ", ".join(dict.fromkeys(s.reason for s in incident.samples))
            or None,
            first_seen_at=incident.first_seen,
            last_seen_at=incident.last_seen,
            first_seen_text=format_time(incident.first_seen, self._zone),
            last_seen_text=format_time(incident.last_seen, self._zone),
            count_text=f"{incident.occurrences} 次" if language == "zh" else f"{incident.occurrences}×",
            latest=samples[-1][0] if samples else None,
            more=max(0, incident.objects_total - len(incident.objects)),
            resolution=self._resolution(incident, state),
            related_texts=[self._related(related, incident) for related in incident.related],
            changes_text=self._changes(incident),
        )
        raw["link"] = self._render_link(raw)
        return raw

    def facts(self, view: Mapping[str, Any]) -> list[tuple[str, str]]:
        """The label/value pairs a card shows as fields (Slack, Teams): severity, category,
        where (a node's incident names its node, never ``Namespace —``), reason and count.
        Values are raw: the caller escapes them for its markup."""
        t = LABELS[self._language]
        facts = [(t["severity"], view["severity_label"]), (t["category"], view["category_name"])]
        facts.append((t["cluster"], view["cluster"]))
        if view["is_node"]:
            facts.append((t["node"], view["node_name"]))
        else:
            if view["namespace"]:
                facts.append((t["namespace"], view["namespace"]))
            if view["workload_ref"]:
                facts.append((t["workload"], view["workload_ref"]))
            if view["node_name"]:
                facts.append((t["node"], view["node_name"]))
        if view["reason"]:
            facts.append((t["reason"], view["reason"]))
        facts.append((t["count"], str(view["occurrences"])))
        return facts

    def _resolution(self, incident: Incident, state: str) -> str | None:
        """How a closed incident closed, worded so quiet never reads as recovered."""
        zh = self._language == "zh"
        if state == "recovered" and incident.recovery is not None:
            proof = incident.recovery
            when = format_moment(proof.at, self._zone, reference=incident.emitted_at)
            if zh:
                return f"{when} {proof.reason}（{proof.object}）：{proof.message}"
            return f"{proof.reason} at {when} ({proof.object}): {proof.message}"
        if state == "recovered":
            return "恢复事件已确认" if zh else "a recovery event was seen"
        if state == "quiet":
            quiet = incident.quiet_seconds
            if quiet is None:
                quiet = (incident.emitted_at - incident.last_seen).total_seconds()
            span = format_duration(quiet, self._language)
            if zh:
                return f"{span}无新事件，未确认恢复"
            return f"no new events for {span}; not confirmed as recovered"
        if state == "closed":
            return "已关闭，未见恢复事件" if zh else "closed without a recovery event"
        return None

    def _related(self, related: RelatedIncident, incident: Incident) -> str:
        """``on node-3, after OOMKilling at 08:12`` / ``位于 node-3，继 08:12 的 OOMKilling 之后``."""
        when = format_moment(related.at, self._zone, reference=incident.emitted_at)
        name = category_name(related.category, self._language)
        if self._language == "zh":
            return f"位于 {related.node}，继 {when} 的 {related.reason}（{name}）之后"
        return f"on {related.node}, after {related.reason} ({name}) at {when}"

    def _changes(self, incident: Incident) -> str | None:
        """What is new in a firing update after the first page; None for the first and the last."""
        if incident.status is not IncidentStatus.FIRING:
            return None
        words = CHANGES[self._language]
        news = [words[change] for change in incident.changes if change in words]
        return LIST_SEPARATORS[self._language].join(news) or None

    def _render_link(self, incident: dict[str, Any]) -> Trusted | None:
        if self._link is None:
            return None
        try:
            return Trusted(self._link.render(incident=incident))
        except TemplateError as exc:
            raise PermanentError(f"link template failed: {exc}") from None

    def render(
        self, template: str, notification: Notification, *, markup: Markup = "none", **extra: Any
    ) -> str:
        """Render a named template, escaping every printed value for ``markup``; a broken
        template is a permanent failure, not a crash."""
        try:
            env = self._environment(markup)
            return env.get_template(template).render(**self.context(notification), **extra)
        except TemplateError as exc:
            raise PermanentError(f"template {template!r} failed: {exc}") from None

    def render_string(
        self, source: str, notification: Notification, *, markup: Markup = "none", **extra: Any
    ) -> str:
        try:
            env = self._environment(markup)
            return env.from_string(source).render(**self.context(notification), **extra)
        except TemplateError as exc:
            raise PermanentError(f"inline template failed: {exc}") from None
