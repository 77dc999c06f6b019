"""kube-eventer's custom webhook bodies: the user's Go template, filled in from an incident.

kube-eventer executed the ``content`` of a ConfigMap (``custom_body_configmap``) against
each core/v1 Event and POSTed the result. Here the same template is executed once per
incident update against an Event-shaped value built from the incident's latest occurrence,
with the incident's count and times in the receiver's zone (kube-eventer printed Go's
``time.Time`` in the container's ``TZ``). Values that land inside a JSON string are escaped
for it, where kube-eventer stripped ``"`` and broke the body on a newline or backslash.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

import orjson
from pydantic import AfterValidator

from notifiers.errors import PermanentError
from notifiers.gotemplate import GoTemplate, GoTemplateError, GoTime, parse
from notifiers.notification import Notification
from notifiers.templating import LABELS, Renderer, local_time, state_of
from schemas import Incident, Severity

GO_VARIABLES: dict[str, str] = {
    ".Type": "Warning; Normal for an incident of severity info.",
    ".Reason": "The reason of the incident's latest occurrence.",
    ".Message": "The message of the incident's latest occurrence.",
    ".Count": "Occurrences counted into the incident so far (kube-eventer: the Event's count).",
    ".FirstTimestamp": "When the incident's first occurrence happened, in the receiver's time zone, "
    "printed as Go prints a time (2026-12-06 13:04:05 +0800 CST); .Format takes a Go layout.",
    ".LastTimestamp": "When its latest occurrence happened, as .FirstTimestamp.",
    ".EventTime": "The same as .LastTimestamp.",
    ".InvolvedObject.Kind": "The kind of the latest occurrence's object (Pod, Node…).",
    ".InvolvedObject.Namespace": "Its namespace (empty for a cluster-scoped object).",
    ".InvolvedObject.Name": "Its name.",
    ".InvolvedObject.UID, .APIVersion, .ResourceVersion, .FieldPath": "Empty: not kept by incidents.",
    ".Source.Host": "The node the incident is on, when known.",
    ".Source.Component": "Empty: an incident does not keep it.",
    ".Namespace, .ObjectMeta.Namespace": "The Event's namespace: the object's, or default for a "
    "cluster-scoped one.",
    ".Name, .ObjectMeta.Name": "The object's name (an Event's own name starts with it).",
    ".ObjectMeta.Labels, .ObjectMeta.Annotations": "Empty maps.",
    ".ReportingController, .ReportingInstance, .Action": "Empty.",
    ".Herald.Status": "kube-herald's: firing, recovered, quiet or closed.",
    ".Herald.StatusText": "The status in the receiver's language (告警, 已恢复…).",
    ".Herald.Title": "The incident's title in the receiver's language.",
    ".Herald.Cluster, .Herald.Severity, .Herald.Category": "The incident's cluster, severity and category.",
    ".Herald.Objects": "The objects affected (Kind/namespace/name), a list.",
    ".Herald.Fingerprint, .Herald.Version": "The incident's identity and update number.",
}
"""What a custom body template reads, for docs/templates.md and ``herald render --list-vars``."""

EMPTY_OBJECT_FIELDS = ("UID", "APIVersion", "ResourceVersion", "FieldPath")


def compile_body(source: str) -> GoTemplate:
    """The template, or a ValueError that says where it is broken (for config validation)."""
    try:
        return parse(source, name="custom_body")
    except GoTemplateError as exc:
        raise ValueError(str(exc)) from None


def _compiles(source: str) -> str:
    compile_body(source)
    return source


BodySource = Annotated[str, AfterValidator(_compiles)]
"""A receiver's ``custom_body`` setting: refused when the configuration is read if it does not parse."""


class CustomBody:
    """A receiver's ``custom_body``: one JSON body per incident, in its language and zone."""

    def __init__(self, source: str, renderer: Renderer) -> None:
        self._template = compile_body(source)
        self._renderer = renderer

    def event(self, incident: Incident) -> dict[str, Any]:
        """The Event-shaped value the template sees (field names as Go's core/v1 Event)."""
        zone = self._renderer.zone

        def moment(value: datetime) -> GoTime:
            # metav1.Time, what kube-eventer printed, holds whole seconds.
            return GoTime(local_time(value, zone).replace(microsecond=0))

        latest = max(incident.samples, key=lambda sample: sample.at) if incident.samples else None
        kind, namespace, name = _object(latest.object if latest else (incident.objects or [""])[0])
        if not kind:
            kind = incident.labels.get("object_kind") or incident.labels.get("kind") or ""
        namespace = namespace or incident.namespace or ""
        view = self._renderer.view(incident)
        event_namespace = namespace or "default"
        meta = {
            "Name": name,
            "Namespace": event_namespace,
            "UID": "",
            "Labels": {},
            "Annotations": {},
            "CreationTimestamp": moment(incident.first_seen),
        }
        last = moment(incident.last_seen)
        return {
            **meta,
            "ObjectMeta": meta,
            "Type": "Normal" if incident.severity is Severity.INFO else "Warning",
            "Reason": latest.reason if latest else incident.labels.get("reason", ""),
            "Message": latest.message if latest else incident.title,
            "Count": incident.occurrences,
            "FirstTimestamp": moment(incident.first_seen),
            "LastTimestamp": last,
            "EventTime": last,
            "InvolvedObject": {
                "Kind": kind,
                "Namespace": namespace,
                "Name": name,
                **dict.fromkeys(EMPTY_OBJECT_FIELDS, ""),
            },
            "Source": {"Component": "", "Host": incident.node or incident.labels.get("node", "")},
            "ReportingController": "",
            "ReportingInstance": "",
            "Action": "",
            "Herald": {
                "Status": view["state"],
                "StatusText": view["state_label"],
                "Title": view["headline"],
                "Cluster": incident.cluster,
                "Severity": incident.severity.value,
                "Category": incident.category,
                "Objects": list(incident.objects),
                "Fingerprint": incident.fingerprint,
                "Version": incident.version,
            },
        }

    def body(self, incident: Incident) -> dict[str, Any]:
        """The template's JSON body for one incident; a template that fails or renders no JSON
        object is a permanent failure (retrying renders the same)."""
        try:
            text = self._template.execute(self.event(incident))
        except GoTemplateError as exc:
            raise PermanentError(f"custom_body failed: {exc}") from None
        try:
            body = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise PermanentError(f"custom_body did not render JSON: {exc}") from None
        if not isinstance(body, dict):
            raise PermanentError("custom_body did not render a JSON object")
        return body

    def status_line(self, incident: Incident) -> str:
        """What goes atop a closing update's text: the user's template predates resolution,
        and without it "recovered" would read as a new alert."""
        state = state_of(incident)
        if state == "firing":
            return ""
        label = LABELS[self._renderer.language][state]
        return f"【{label}】" if self._renderer.language == "zh" else f"[{label}] "

    def texts(self, notification: Notification, locate: Locate) -> tuple[dict[str, Any], str, str] | None:
        """The first incident's body, the section ``locate`` finds the text in (such as
        ``text`` for ``text.content``), and every incident's text there joined (a digest), each
        closing update marked; None when a body has no text where ``locate`` looks."""
        parts: list[str] = []
        first: tuple[dict[str, Any], str] | None = None
        for incident in notification.incidents:
            body = self.body(incident)
            where = locate(body)
            inner = body.get(where[0]) if where else None
            text = inner.get(where[1]) if where and isinstance(inner, dict) else None
            if where is None or not isinstance(text, str) or (first and where[0] != first[1]):
                return None
            first = first or (body, where[0])
            parts.append(self.status_line(incident) + text)
        return (first[0], first[1], "\n\n".join(parts)) if first else None


Locate = Callable[[dict[str, Any]], tuple[str, str] | None]
"""Where a vendor's body holds its text: (section, key), e.g. ("text", "content")."""


def _object(ref: str) -> tuple[str, str, str]:
    """``Kind/namespace/name`` or ``Kind/name`` as kind, namespace and name."""
    parts = ref.split("/")
    if len(parts) >= 3:
        return parts[0], parts[1], "/".join(parts[2:])
    if len(parts) == 2:
        return parts[0], "", parts[1]
    return "", "", ref
