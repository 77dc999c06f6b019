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

import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import orjson
from jinja2 import (
    ChoiceLoader,
    FileSystemLoader,
    PackageLoader,
    StrictUndefined,
    TemplateError,
    TemplateNotFound,
    TemplateSyntaxError,
    UndefinedError,
    nodes,
)
from jinja2.meta import find_referenced_templates
from jinja2.sandbox import ImmutableSandboxedEnvironment

from notifiers.errors import PermanentError
from notifiers.markup import Markup, Trusted, escape
from notifiers.notification import Notification
from schemas import Change, Incident, IncidentStatus, RelatedIncident, ResolvedBy, Severity
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


def local_time(value: datetime, zone: ZoneInfo) -> datetime:
    """``value`` in ``zone``; in UTC at the ends of the calendar, where the zone's offset would
    leave it (a tenant's Event may say year 9999: that must not stop a notifier)."""
    try:
        return value.astimezone(zone)
    except OverflowError:
        return value.astimezone(UTC)


def format_time(value: datetime, zone: ZoneInfo) -> str:
    """One format for every time a person reads: ``2026-12-06 08:12:07 +08:00``. An explicit
    offset, never a zone abbreviation (``CST`` is China and US Central alike)."""
    local = local_time(value, zone)
    offset = local.strftime("%z")
    return f"{local:%Y-%m-%d %H:%M:%S} {offset[:3]}:{offset[3:]}"


def format_moment(value: datetime, zone: ZoneInfo, *, reference: datetime) -> str:
    """``08:12`` inside a sentence, when it is the same day as ``reference`` (the message's
    full times carry the offset); the full format otherwise."""
    local, day = local_time(value, zone), local_time(reference, zone)
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


@dataclass(frozen=True, slots=True)
class TemplateRef:
    """A template a receiver renders: a file by name (``templates_dir``'s, else the packaged
    one), an inline template (its source), or ``notifier.link_template`` (its source)."""

    kind: Literal["file", "inline", "link"]
    text: str

    def __str__(self) -> str:
        return f"template {self.text!r}" if self.kind == "file" else f"{self.kind} template"


class BrokenTemplateError(PermanentError):
    """A template that failed to compile or render, located in it: a delivery dead-letters
    instead of crashing, and ``check-config`` reports it at the setting naming the template."""

    def __init__(self, template: TemplateRef, error: Exception, *, reason: str | None = None) -> None:
        self.template = template
        self.file, self.line = _template_location(error)
        self.undefined = isinstance(error, UndefinedError)
        if reason is None:
            reason = str(error) if isinstance(error, TemplateError) else f"{type(error).__name__}: {error}"
        self.reason = " ".join(reason.split())
        super().__init__(f"{template} failed{self.where}: {self.reason}")

    @property
    def where(self) -> str:
        """`` at line 3``, or `` at other.j2 line 3`` in a template this one includes."""
        if self.line is None:
            return ""
        own = self.template.kind != "file" or not self.file or self.file.endswith(self.template.text)
        return f" at line {self.line}" if own else f" at {Path(self.file or '').name} line {self.line}"


def _template_location(error: BaseException) -> tuple[str | None, int | None]:
    """The template file and line an error was raised at: Jinja gives a syntax error's, and
    rewrites a render error's traceback so that its innermost template frame is the line."""
    if isinstance(error, TemplateSyntaxError):
        return error.filename or error.name, error.lineno
    found: tuple[str | None, int | None] = (None, None)
    for frame, line in traceback.walk_tb(error.__traceback__):
        if "__jinja_exception__" in frame.f_globals:  # a frame jinja2.debug made for a template line
            found = (frame.f_code.co_filename, line)
    return found


_USES: ContextVar[dict[TemplateRef, bool] | None] = ContextVar("template_uses", default=None)


@contextmanager
def recording() -> Iterator[dict[TemplateRef, bool]]:
    """Note every template rendered inside the block, and whether any rendering of it was for
    a digest: what ``check-config`` analyses. Outside such a block nothing is kept."""
    uses: dict[TemplateRef, bool] = {}
    token = _USES.set(uses)
    try:
        yield uses
    finally:
        _USES.reset(token)


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
        self._templates_dir = templates_dir
        self._zone = ZoneInfo(timezone)
        self._language: Language = language
        self._environments: dict[Markup, ImmutableSandboxedEnvironment] = {}
        self._link_ref = TemplateRef("link", link_template) if link_template else None
        try:
            self._link = self._environment("none").from_string(link_template) if link_template else None
        except TemplateError as exc:
            raise BrokenTemplateError(TemplateRef("link", link_template or ""), exc) from None

    @property
    def language(self) -> Language:
        return self._language

    @property
    def zone(self) -> ZoneInfo:
        return self._zone

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
        return format_time(value, self._zone) if fmt is None else local_time(value, self._zone).strftime(fmt)

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
        if self._link is None or self._link_ref is None:
            return None
        try:
            return Trusted(self._link.render(incident=incident))
        except Exception as exc:  # a template can raise anything: 1/0, a filter's bad argument
            raise BrokenTemplateError(self._link_ref, exc) from None

    def render(
        self, template: str, notification: Notification, *, markup: Markup = "none", **extra: Any
    ) -> str:
        """Render a named template, escaping every printed value for ``markup``; a broken
        template is a permanent failure (:class:`BrokenTemplateError`), not a crash."""
        return self._render(TemplateRef("file", template), notification, markup, extra)

    def render_string(
        self, source: str, notification: Notification, *, markup: Markup = "none", **extra: Any
    ) -> str:
        return self._render(TemplateRef("inline", source), notification, markup, extra)

    def _render(
        self, ref: TemplateRef, notification: Notification, markup: Markup, extra: Mapping[str, Any]
    ) -> str:
        uses = _USES.get()
        if uses is not None:
            uses[ref] = uses.get(ref, False) or notification.is_digest
        context = self.context(notification)
        env = self._environment(markup)
        try:
            compiled = env.get_template(ref.text) if ref.kind == "file" else env.from_string(ref.text)
            return compiled.render(**context, **extra)
        except TemplateNotFound as exc:
            where = f"in {self._templates_dir} nor " if self._templates_dir else ""
            raise BrokenTemplateError(
                ref, exc, reason=f"not found {where}among the packaged templates"
            ) from None
        except Exception as exc:  # a template can raise anything: 1/0, a filter's bad argument
            raise BrokenTemplateError(ref, exc) from None

    def origin(self, ref: TemplateRef) -> str:
        """Where a template comes from, for a reader: the user's file, or the packaged one."""
        if ref.kind != "file":
            return f"the {ref.kind} template"
        if self._templates_dir is not None and (self._templates_dir / ref.text).is_file():
            return str(self._templates_dir / ref.text)
        try:
            self._loader.get_source(self._environment("none"), ref.text)
        except TemplateNotFound:
            return f"template {ref.text}"
        return f"the packaged template {ref.text}"

    def first_incident_only(self, ref: TemplateRef) -> FirstRead | None:
        """Where ``ref`` (with the templates it includes, imports or extends) reads one fixed
        incident (``incident``, ``incidents[0]``), if it never uses ``incidents`` as a whole
        (a loop, a filter): rendered for a digest, it shows that one and drops the others.
        None when it does, reads no incident, or does not parse (rendering reports that)."""
        env = self._environment("none")
        pending, seen = [ref], {ref.text}
        reads: list[FirstRead] = []
        while pending:
            current = pending.pop()
            try:
                source = (
                    current.text if current.kind != "file" else self._loader.get_source(env, current.text)[0]
                )
                tree = env.parse(source)
            except TemplateError:
                return None
            fixed, whole = incident_reads(tree)
            if whole:
                return None
            shown = None if current == ref else current.text
            reads += [FirstRead(template=shown, line=line, expression=text) for line, text in fixed]
            for name in find_referenced_templates(tree):
                if name is not None and name not in seen:
                    seen.add(name)
                    pending.append(TemplateRef("file", name))
        return min(reads, key=lambda read: (read.template is not None, read.line), default=None)


# --- What a template reads --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FirstRead:
    """A read of one fixed incident: ``incident`` at line 4 (of an included ``template``)."""

    template: str | None
    line: int
    expression: str


_FIXED_FILTERS = frozenset({"first", "last"})


def incident_reads(tree: nodes.Template) -> tuple[list[tuple[int, str]], bool]:
    """Where a parsed template reads one fixed incident (``incident``, ``incidents[0]``,
    ``incidents | first``), and whether it uses ``incidents`` any other way: a loop, a filter
    (``length``, ``map``…), an argument. A test of it (``{% if incidents %}``) is neither."""
    fixed: list[tuple[int, str]] = []
    whole = False
    for node, parent in _walk(tree, None):
        if not isinstance(node, nodes.Name) or node.ctx != "load":
            continue
        if node.name == "incident":
            fixed.append((node.lineno, "incident"))
        elif node.name != "incidents":
            continue
        elif isinstance(parent, nodes.Getitem) and parent.node is node and _is_index(parent.arg):
            fixed.append((node.lineno, f"incidents[{parent.arg.as_const()}]"))
        elif isinstance(parent, nodes.Filter) and parent.node is node and parent.name in _FIXED_FILTERS:
            fixed.append((node.lineno, f"incidents | {parent.name}"))
        elif not _is_truth_test(node, parent):
            whole = True
    return fixed, whole


def _walk(node: nodes.Node, parent: nodes.Node | None) -> Iterator[tuple[nodes.Node, nodes.Node | None]]:
    yield node, parent
    for child in node.iter_child_nodes():
        yield from _walk(child, node)


def _is_index(node: nodes.Node) -> bool:
    return isinstance(node, nodes.Const) and isinstance(node.value, int)


def _is_truth_test(node: nodes.Node, parent: nodes.Node | None) -> bool:
    if isinstance(parent, nodes.If | nodes.CondExpr):
        return parent.test is node
    return isinstance(parent, nodes.Not | nodes.Test)


# --- The variables every template sees: the one source of docs/templates.md and --list-vars ---


@dataclass(frozen=True, slots=True)
class Variable:
    """A name a template can use, with its type as a template sees it (JSON types: the
    incident's times are ISO 8601 strings, its ``*_at`` keys are datetimes for ``localtime``)."""

    name: str
    type: str
    description: str
    keys: tuple[Variable, ...] = ()
    """A mapping's keys, or each item's for a list."""
    receivers: tuple[str, ...] = ()
    """Only these receiver types' templates get it; every template when empty."""


def _one_of(values: Any) -> str:
    return "one of " + ", ".join(f"`{value}`" for value in values)


EVENT_KEYS = (
    Variable("reason", "string", "The Event's reason, e.g. `BackOff`."),
    Variable(
        "message", "string", "The Event's message: untrusted text, escaped for the markup when printed."
    ),
    Variable("object", "string", "The Event's object, `Kind/namespace/name` (`Node/name` for a node)."),
    Variable("at", "string", "When it happened, ISO 8601 in UTC."),
)
"""An Event quoted by an incident, as the contract has it (``recovery``)."""

SAMPLE_KEYS = (
    *EVENT_KEYS,
    Variable("seen_at", "datetime", "`at` as a datetime, for the `localtime` filter."),
    Variable("time", "string", "`at` in the receiver's zone with its offset, `2026-12-06 08:12:07 +08:00`."),
)

RELATED_KEYS = (
    Variable("fingerprint", "string", "The node incident's fingerprint."),
    Variable("category", "string", "Its category id, e.g. `oom`."),
    Variable("reason", "string", "Its reason, e.g. `OOMKilling`."),
    Variable("node", "string", "The node."),
    Variable("at", "string", "When it started, ISO 8601 in UTC."),
)

INCIDENT_KEYS = (
    # The contract's fields (schemas/incident.py), as JSON.
    Variable("schema_", "string", "The contract's name, `herald.incident`."),
    Variable("v", "integer", "The contract's version, `1`."),
    Variable("fingerprint", "string", "The incident's id, the same in each of its updates."),
    Variable("version", "integer", "This update's number; each update of the incident has a higher one."),
    Variable("status", "string", f"The update's status: {_one_of(IncidentStatus)}."),
    Variable("severity", "string", _one_of(Severity) + " (see `severity_label`)."),
    Variable("category", "string", "The category id, e.g. `crash-loop` (see `category_name`)."),
    Variable("title", "string", "The processor's title, always English (see `headline`)."),
    Variable("cluster", "string", "The cluster id, from `producer.cluster`."),
    Variable("namespace", "string or none", "The namespace; none for a node's incident."),
    Variable("workload", "string or none", "The workload's name, e.g. `checkout` (see `workload_ref`)."),
    Variable(
        "labels",
        "map of string to string",
        "Routing labels: `cluster`, `namespace`, `workload`, `category`, `severity`, `kind` (the "
        "workload's kind), `object_kind` (the kind of the Events' object, e.g. `Pod`), `reason`, "
        '`node`, and your producer\'s labels; `""` once the occurrences disagree. '
        "Write `incident.labels.object_kind`, not `incident.object_kind`.",
    ),
    Variable("occurrences", "integer", "Occurrences counted into the incident so far."),
    Variable("first_seen", "string", "First occurrence, ISO 8601 in UTC (see `first_seen_text`)."),
    Variable("last_seen", "string", "Latest occurrence, ISO 8601 in UTC (see `last_seen_text`)."),
    Variable("objects", "list of string", "Objects affected, `Kind/namespace/name`, at most 20."),
    Variable("objects_total", "integer", "How many objects were affected, listed or not."),
    Variable("samples", "list of mapping", "The latest Events, oldest first.", keys=SAMPLE_KEYS),
    Variable("inhibited_by", "string or none", "The fingerprint of the incident inhibiting this one."),
    Variable("emitted_at", "string", "When the processor emitted this update, ISO 8601 in UTC."),
    Variable("node", "string or none", "The node, when every occurrence is on one (see `node_name`)."),
    Variable("changes", "list of string", "Why this update was emitted: " + _one_of(Change) + "."),
    Variable("resolved_by", "string or none", "On a close: " + _one_of(ResolvedBy) + " (see `resolution`)."),
    Variable("recovery", "mapping or none", "The Event that proved recovery, if one did.", keys=EVENT_KEYS),
    Variable("quiet_seconds", "number or none", "On a quiet close: how long no Event came."),
    Variable(
        "related", "list of mapping", "Node incidents this one started shortly after.", keys=RELATED_KEYS
    ),
    Variable("workloads", "list of string", "A node's incident: the workloads it affects, `namespace/name`."),
    # Worked out by Renderer.view, in the receiver's language and zone.
    Variable("headline", "string", "The title in the receiver's language."),
    Variable("category_name", "string", "The category's name in the receiver's language."),
    Variable(
        "state", "string", "`firing`, `recovered` (an Event proved it), `quiet` (no Event came) or `closed`."
    ),
    Variable("state_label", "string", "`state` in the receiver's language, e.g. `RECOVERED` / `已恢复`."),
    Variable("severity_label", "string", "`severity` in the receiver's language."),
    Variable("is_node", "boolean", "True for a node's own incident: show `node_name`, not a namespace."),
    Variable("node_name", "string or none", "The node it is about or on."),
    Variable("kind", "string or none", "The workload's kind, e.g. `Deployment` (`labels.kind`)."),
    Variable("workload_ref", "string or none", "`Deployment/checkout`; none for a node's incident."),
    Variable("reason", "string or none", "The reason, or the reasons sampled when they differ."),
    Variable("first_seen_at", "datetime", "`first_seen` as a datetime, for `localtime`."),
    Variable("last_seen_at", "datetime", "`last_seen` as a datetime, for `localtime`."),
    Variable("first_seen_text", "string", "`first_seen` in the receiver's zone, with its offset."),
    Variable("last_seen_text", "string", "`last_seen` in the receiver's zone, with its offset."),
    Variable("count_text", "string", "`occurrences` as written in the language: `47×` / `47 次`."),
    Variable("latest", "mapping or none", "The newest of `samples` (the same keys)."),
    Variable("more", "integer", "Affected objects not listed in `objects`."),
    Variable(
        "resolution", "string or none", "On a close, how it closed: quiet is never worded as recovered."
    ),
    Variable("related_texts", "list of string", "`related` as sentences: `on node-7, after OOMKilling …`."),
    Variable("changes_text", "string or none", "A firing update after the first: what is new, in words."),
    Variable("link", "string or none", "The incident's link from `notifier.link_template`; none without it."),
)
"""One incident as templates see it (:meth:`Renderer.view`)."""

LABEL_KEYS = tuple(
    Variable(key, "string", f"{LABELS['en'][key]} / {LABELS['zh'][key]}") for key in LABELS["en"]
)

CONTEXT_VARIABLES = (
    Variable(
        "incidents",
        "list of mapping",
        "Every incident of the message, each with the keys of `incident`: one, or several in a "
        "digest. Loop over it, `{% for incident in incidents %}`, so that a digest shows them all.",
    ),
    Variable(
        "incident",
        "mapping",
        "The first of `incidents`: the whole message only when `digest` is false.",
        keys=INCIDENT_KEYS,
    ),
    Variable(
        "digest",
        "boolean",
        "True when the message carries several incidents (a receiver merges them at its rate_limits).",
    ),
    Variable(
        "t", "mapping", "The default templates' words in the receiver's language (en / zh).", keys=LABEL_KEYS
    ),
    Variable("lang", "string", "The receiver's language, `en` or `zh`."),
    Variable("sep", "string", 'A label\'s separator in the language, `": "` or `"："`.'),
    Variable("colon", "string", 'A colon in the language, `":"` or `"："`.'),
)
"""What :meth:`Renderer.context` gives every template."""

RECEIVER_VARIABLES = (
    Variable(
        "part",
        "string",
        "Which text is rendered: Slack `header`, `fallback`, `body`, `seen`; Teams `summary`, "
        "`title`, `body`. For the per-incident parts, `incidents` is that one incident.",
        receivers=("slack", "teams"),
    ),
    Variable(
        "compact", "boolean", "True when the incident is one of a digest's.", receivers=("slack", "teams")
    ),
    Variable("v2", "boolean", "True for WeCom markdown_v2 (no `<font>`).", receivers=("wecom", "wecom_app")),
    Variable(
        "quote",
        "string",
        'What starts a field\'s line: `"> "` for markdown, `"- "` for markdown_v2.',
        receivers=("wecom", "wecom_app"),
    ),
    Variable(
        "text",
        "string",
        "The rendered `text_template`, for the body template to include.",
        receivers=("webhook",),
    ),
)
"""What some receivers pass their templates beside the context."""

LINK_VARIABLES = (
    Variable(
        "incident",
        "mapping",
        "Each incident, with the keys of `incident` but `link` (rendered once per incident, digest or not).",
    ),
)
"""What ``notifier.link_template`` sees."""

FILTERS = (
    Variable(
        "localtime",
        "datetime → string",
        "A datetime (`*_at`, `seen_at`) in the receiver's zone, `2026-12-06 08:12:07 +08:00`; "
        "`localtime('%H:%M')` formats it with strftime.",
    ),
    Variable(
        "tojson",
        "any → JSON",
        "JSON of any value (orjson; non-ASCII kept): build JSON bodies with it, never by pasting strings.",
    ),
)
"""Filters beside Jinja's built-in ones (``truncate``, ``join``, ``urlencode``…)."""


def flatten(variables: tuple[Variable, ...], prefix: str = "") -> Iterator[tuple[str, Variable]]:
    """Each variable and nested key with its path: ``incident.samples[].time``."""
    for variable in variables:
        path = prefix + variable.name
        yield path, variable
        child = f"{path}[]." if variable.type.startswith("list") else f"{path}."
        yield from flatten(variable.keys, child)
