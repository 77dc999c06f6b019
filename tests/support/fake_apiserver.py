"""A fake kube-apiserver for core/v1 Events that speaks the real HTTP protocol.

The producer lists and watches Events with the official ``kubernetes`` client. Until a real
kube-apiserver runs in the tests, this server stands in for it: the client reaches it through a real
kubeconfig file, with no monkeypatching, so every byte goes through urllib3 exactly as in production.

What it models, because the producer's correctness depends on it:

* one global, monotonically increasing resourceVersion (etcd's revision), strings on the wire;
* a full change history, so a watch from rv X replays every change after X, then streams live ones;
* compaction: watches and continue tokens older than the compaction point answer 410 Expired
  (as a watch ERROR event, or as an HTTP 410 when ``expire_with_http_410`` is set);
* paged lists (``limit``/``continue``) served from one consistent snapshot;
* field selectors, bookmarks, ``timeoutSeconds`` and the events.k8s.io/v1 rendering of the same store;
* faults: injected HTTP errors, abruptly dropped watch connections and stalled watches;
* coordination.k8s.io/v1 Leases (get, list, create, update), for leader election: optimistic
  concurrency on metadata.resourceVersion (409 Conflict), 409 AlreadyExists, MicroTime checks.

The HTTP side is an aiohttp application running on its own event loop in a background thread; the
control API (``create_event``, ``drop_watches``...) is plain thread-safe Python for the test thread.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import bisect
import contextlib
import copy
import datetime as dt
import json
import re
import socket
import struct
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self

import yaml
from aiohttp import web

JsonObject = dict[str, Any]

CORE_API_VERSION: Final = "v1"
EVENTS_API_VERSION: Final = "events.k8s.io/v1"
COORDINATION_API_VERSION: Final = "coordination.k8s.io/v1"
LEASE_RESOURCE: Final = "leases.coordination.k8s.io"
_MICRO_TIME: Final = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}(Z|[+-]\d{2}:\d{2})$")
INITIAL_EVENTS_END_ANNOTATION: Final = "k8s.io/initial-events-end"
CONTINUE_TOO_OLD_MESSAGE: Final = (
    "The provided continue parameter is too old to display a consistent list result. You can start a "
    "new list without the continue parameter, or use the continue token in this response to retrieve "
    "the remainder of the results. Continuing with the provided token results in an inconsistent list "
    "- objects that were created, modified, or deleted between the time the first chunk was returned "
    "and now may show up in the list."
)

_STATUS_REASONS: Final[dict[int, str]] = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "AlreadyExists",
    410: "Expired",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}

# Field labels the real apiserver accepts for core/v1 Events, and where each one reads from.
_CORE_FIELD_PATHS: Final[dict[str, tuple[str, ...]]] = {
    "involvedObject.kind": ("involvedObject", "kind"),
    "involvedObject.namespace": ("involvedObject", "namespace"),
    "involvedObject.name": ("involvedObject", "name"),
    "involvedObject.uid": ("involvedObject", "uid"),
    "involvedObject.apiVersion": ("involvedObject", "apiVersion"),
    "involvedObject.resourceVersion": ("involvedObject", "resourceVersion"),
    "involvedObject.fieldPath": ("involvedObject", "fieldPath"),
    "reason": ("reason",),
    "reportingComponent": ("reportingComponent",),
    "source": ("source", "component"),
    "type": ("type",),
    "metadata.namespace": ("metadata", "namespace"),
    "metadata.name": ("metadata", "name"),
}

# events.k8s.io/v1 field labels, converted to the core labels above (as the apiserver does).
_EVENTS_FIELD_LABELS: Final[dict[str, str]] = {
    "regarding.kind": "involvedObject.kind",
    "regarding.namespace": "involvedObject.namespace",
    "regarding.name": "involvedObject.name",
    "regarding.uid": "involvedObject.uid",
    "regarding.apiVersion": "involvedObject.apiVersion",
    "regarding.resourceVersion": "involvedObject.resourceVersion",
    "regarding.fieldPath": "involvedObject.fieldPath",
    "reportingController": "reportingComponent",
    "reason": "reason",
    "type": "type",
    "metadata.namespace": "metadata.namespace",
    "metadata.name": "metadata.name",
}

_CLUSTER_SCOPED_KINDS: Final = frozenset({"Node", "Namespace", "PersistentVolume", "ClusterRole"})
_KIND_API_VERSIONS: Final[dict[str, str]] = {
    "Deployment": "apps/v1",
    "ReplicaSet": "apps/v1",
    "StatefulSet": "apps/v1",
    "DaemonSet": "apps/v1",
    "Job": "batch/v1",
    "CronJob": "batch/v1",
    "HorizontalPodAutoscaler": "autoscaling/v2",
}


# --------------------------------------------------------------------------------------------------
# Public records and helpers
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestRecord:
    """One HTTP request the fake answered: what the client asked and the status it got."""

    method: str
    path: str
    query: dict[str, str]
    status: int
    authorization: str | None
    """The Authorization header as received (the fake accepts any bearer token)."""

    @property
    def is_watch(self) -> bool:
        return _parse_bool(self.query.get("watch"))


def rfc3339(moment: dt.datetime | None = None) -> str:
    """A metav1.Time string (second precision, UTC, 'Z'), as the apiserver writes it."""
    moment = moment or dt.datetime.now(dt.UTC)
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc3339_micro(moment: dt.datetime | None = None) -> str:
    """A metav1.MicroTime string (microsecond precision), used by eventTime and series."""
    moment = moment or dt.datetime.now(dt.UTC)
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def make_event(
    index: int,
    *,
    namespace: str = "shop",
    name: str | None = None,
    reason: str = "BackOff",
    message: str | None = None,
    type: str = "Warning",
    kind: str = "Pod",
    component: str = "kubelet",
    host: str = "node-a",
    event_time: str | None = None,
) -> JsonObject:
    """A realistic core/v1 Event body, as a kubelet's recorder would POST it (no uid/rv yet).

    ``name`` is the involved object's name; the Event's own name is ``<name>.<16 hex digits>`` like
    the recorder's. ``eventTime`` stays null unless given, as for every event written through the
    legacy core/v1 recorder (which is most of them on real clusters).
    """
    object_name = name or f"web-7d9c8b6f5d-x{index:04d}"
    message = message or f"Back-off restarting failed container app in pod {object_name}"
    now = rfc3339()
    involved: JsonObject = {
        "kind": kind,
        "name": object_name,
        "uid": str(uuid.uuid4()),
        "apiVersion": _KIND_API_VERSIONS.get(kind, "v1"),
        "resourceVersion": str(5000 + index),
    }
    if kind not in _CLUSTER_SCOPED_KINDS:
        involved["namespace"] = namespace
    if kind == "Pod":
        involved["fieldPath"] = "spec.containers{app}"
    return {
        "kind": "Event",
        "apiVersion": CORE_API_VERSION,
        "metadata": {"name": f"{object_name}.{index:016x}", "namespace": namespace},
        "involvedObject": involved,
        "reason": reason,
        "message": message,
        "source": {"component": component, "host": host},
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
        "type": type,
        "eventTime": event_time,
        "reportingComponent": component,
        "reportingInstance": host,
    }


def to_events_v1(event: JsonObject) -> JsonObject:
    """Render a stored core/v1 Event as events.k8s.io/v1, field for field like the apiserver."""
    out: JsonObject = {
        "kind": "Event",
        "apiVersion": EVENTS_API_VERSION,
        "metadata": copy.deepcopy(event.get("metadata", {})),
        "eventTime": event.get("eventTime"),
    }
    renames = {
        "series": "series",
        "reportingComponent": "reportingController",
        "reportingInstance": "reportingInstance",
        "action": "action",
        "reason": "reason",
        "involvedObject": "regarding",
        "related": "related",
        "message": "note",
        "type": "type",
        "source": "deprecatedSource",
        "firstTimestamp": "deprecatedFirstTimestamp",
        "lastTimestamp": "deprecatedLastTimestamp",
        "count": "deprecatedCount",
    }
    for core_name, new_name in renames.items():
        value = event.get(core_name)
        if value not in (None, "", 0, {}):
            out[new_name] = copy.deepcopy(value)
    return out


def status_body(code: int, message: str, *, reason: str | None = None, **metadata: str) -> JsonObject:
    """A meta/v1 Status failure, the body of every apiserver error (and of watch ERROR events)."""
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": dict(metadata),
        "status": "Failure",
        "message": message,
        "reason": reason if reason is not None else _STATUS_REASONS.get(code, ""),
        "code": code,
    }


# --------------------------------------------------------------------------------------------------
# Internals
# --------------------------------------------------------------------------------------------------


class _StatusError(Exception):
    """Raised inside request handling; becomes an HTTP error response with a Status body."""

    def __init__(self, code: int, message: str, *, reason: str | None = None, **metadata: str) -> None:
        super().__init__(message)
        self.code = code
        self.body = status_body(code, message, reason=reason, **metadata)

    def response(self) -> web.Response:
        headers = {"Retry-After": "1"} if self.code == 429 else None
        return web.json_response(self.body, status=self.code, headers=headers)


@dataclass(frozen=True)
class _Change:
    """One write in etcd's history: the object after the change, and the one it replaced."""

    rv: int
    type: str
    key: str
    obj: JsonObject
    previous: JsonObject | None


@dataclass
class _Fault:
    remaining: int
    status: int
    path_prefix: str | None


@dataclass(frozen=True)
class _Requirement:
    label: str  # a core/v1 field label
    value: str
    negate: bool

    def matches(self, event: JsonObject) -> bool:
        return (_field_value(event, self.label) == self.value) != self.negate


@dataclass(frozen=True)
class _Api:
    """One API group/version serving the Event store."""

    group_version: str
    render: Callable[[JsonObject], JsonObject]
    field_labels: dict[str, str]


_CORE_API: Final = _Api(CORE_API_VERSION, lambda obj: obj, {label: label for label in _CORE_FIELD_PATHS})
_EVENTS_API: Final = _Api(EVENTS_API_VERSION, to_events_v1, _EVENTS_FIELD_LABELS)


@dataclass(frozen=True)
class _Scope:
    """What a list or watch asked for: which API, which namespace, which field selector."""

    api: _Api
    namespace: str | None
    selector: tuple[_Requirement, ...]

    def matches(self, event: JsonObject | None) -> bool:
        if event is None:
            return False
        if self.namespace is not None and event["metadata"].get("namespace") != self.namespace:
            return False
        return all(req.matches(event) for req in self.selector)


@dataclass(eq=False)
class _Watcher:
    """An open watch connection, known to the event loop so faults can reach it."""

    wake: asyncio.Event
    transport: asyncio.Transport | None
    task: asyncio.Task[Any] | None
    dropped: bool = False


def _field_value(event: JsonObject, label: str) -> str:
    value: Any = event
    for part in _CORE_FIELD_PATHS[label]:
        value = value.get(part) if isinstance(value, dict) else None
    return "" if value is None else str(value)


def _parse_bool(text: str | None) -> bool:
    return (text or "").strip().lower() in {"1", "t", "true"}


def _split_unescaped(text: str, separator: str) -> list[str]:
    """Split a selector on a separator not preceded by a backslash, keeping escapes for later."""
    parts: list[str] = []
    current: list[str] = []
    escaped = False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            current.append(char)
            escaped = True
        elif char == separator:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def _unescape(text: str) -> str:
    return text.replace("\\,", ",").replace("\\=", "=").replace("\\\\", "\\")


def _parse_field_selector(text: str, api: _Api) -> tuple[_Requirement, ...]:
    requirements: list[_Requirement] = []
    for raw_term in _split_unescaped(text, ","):
        term = raw_term.strip()
        if term:
            requirements.append(_parse_requirement(term, text, api))
    return tuple(requirements)


def _parse_requirement(term: str, selector: str, api: _Api) -> _Requirement:
    operator = next((op for op in ("!=", "==", "=") if op in term), None)
    if operator is None:
        raise _StatusError(400, f"invalid selector: '{selector}'; can't understand '{term}'")
    label, value = (part.strip() for part in term.split(operator, 1))
    if label not in api.field_labels:
        raise _StatusError(400, f"field label not supported: {label}")
    return _Requirement(api.field_labels[label], _unescape(value), negate=operator == "!=")


def _encode_continue(rv: int, start_after: str) -> str:
    payload = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": start_after}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def _decode_continue(token: str) -> tuple[int, str]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        payload = json.loads(raw)
        rv, start = payload["rv"], payload["start"]
        if payload.get("v") != "meta.k8s.io/v1" or not isinstance(rv, int) or not isinstance(start, str):
            raise ValueError(token)
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise _StatusError(400, f"continue key is not valid: {exc}") from exc
    return rv, start


def _parse_rv(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise _StatusError(400, f'resourceVersion: Invalid value: "{text}": must be a non-negative integer')
    return value


def _key(event: JsonObject) -> str:
    return f"{event['metadata']['namespace']}/{event['metadata']['name']}"


_LONE_SURROGATE: Final = re.compile("[\ud800-\udfff]")


def _as_go_decodes(value: Any) -> Any:
    """A deep copy of ``value`` with lone surrogates replaced by U+FFFD (keys too), as the API
    server's decoder stores them: its JSON output is always valid UTF-8."""
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_as_go_decodes(key): _as_go_decodes(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_as_go_decodes(item) for item in value]
    return value


def _without_type_meta(event: JsonObject) -> JsonObject:
    """List items carry no kind/apiVersion on the wire (Go omits the empty TypeMeta of items)."""
    return {k: v for k, v in event.items() if k not in ("kind", "apiVersion")}


# --------------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------------


class FakeApiServer:
    """An in-memory core/v1 Event store behind a real HTTP apiserver protocol, with fault switches.

    Use as a context manager; it listens on 127.0.0.1 on a free port. Every control method is
    thread-safe and may be called while clients are listing and watching.
    """

    def __init__(
        self,
        *,
        bookmark_interval: float = 1.0,
        initial_resource_version: int = 100,
        expire_with_http_410: bool = False,
    ) -> None:
        self.bookmark_interval = bookmark_interval
        self.expire_with_http_410 = expire_with_http_410
        """Answer expired watches with HTTP 410 instead of a 200 stream holding one ERROR event."""

        self._lock = threading.Lock()
        self._rv = initial_resource_version
        self._compacted = 0
        self._objects: dict[str, JsonObject] = {}
        self._leases: dict[str, JsonObject] = {}  # namespace/name -> Lease, outside the Event history
        self._history: list[_Change] = []
        self._faults: list[_Fault] = []
        self._requests: list[RequestRecord] = []
        self._internal_errors: list[str] = []
        self._stall_until = 0.0
        self._open_watch_count = 0
        self._closing = False

        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._watchers: set[_Watcher] = set()  # touched only on the event loop
        self._port = 0

    # ---- lifecycle --------------------------------------------------------------------------------

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Bind 127.0.0.1 and serve from a background thread with its own event loop.

        The first start picks a free port; a restart after ``stop()`` rebinds the same port and keeps
        the store, like an apiserver restart (written kubeconfigs stay valid).
        """
        if self._thread is not None:
            raise RuntimeError("FakeApiServer already started")
        with self._lock:
            self._closing = False
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(
            target=self._run_loop, args=(loop,), name="fake-apiserver", daemon=True
        )
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._astart(), loop).result(timeout=10)

    def stop(self) -> None:
        """End every watch cleanly, close the listener and join the loop thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        with self._lock:
            self._closing = True
        try:
            asyncio.run_coroutine_threadsafe(self._astop(), loop).result(timeout=10)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            self._loop = None
            self._thread = None

    @staticmethod
    def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _astart(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # handler_cancellation: a client hanging up ends its watch handler at once (open_watches).
        runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0)
        await runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self._port))
        self._port = sock.getsockname()[1]
        await web.SockSite(runner, sock).start()
        self._runner = runner

    async def _astop(self) -> None:
        self._wake_all()
        handlers = [w.task for w in self._watchers if w.task is not None]
        if handlers:
            await asyncio.wait(handlers, timeout=3.0)
        for watcher in list(self._watchers):
            if watcher.transport is not None:
                watcher.transport.abort()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    # ---- kubeconfig -------------------------------------------------------------------------------

    def write_kubeconfig(
        self,
        path: Path,
        *,
        context: str = "fake",
        namespace: str | None = None,
        token: str | None = None,
        make_current: bool = False,
    ) -> Path:
        """Write (or merge into) a real kubeconfig whose context ``context`` points at this server.

        Cluster, user and context entries are all named ``context``, so several servers or several
        contexts share one file. A new file's current-context is this context; an existing file
        keeps its current-context unless ``make_current``.
        """
        config: JsonObject = {}
        if path.exists():
            config = yaml.safe_load(path.read_text()) or {}
        config.setdefault("apiVersion", "v1")
        config.setdefault("kind", "Config")
        config.setdefault("preferences", {})

        def upsert(section: str, entry: JsonObject) -> None:
            entries = [e for e in config.get(section) or [] if e.get("name") != context]
            config[section] = [*entries, entry]

        upsert("clusters", {"name": context, "cluster": {"server": self.url}})
        upsert("users", {"name": context, "user": {"token": token or f"fake-token-{context}"}})
        context_body: JsonObject = {"cluster": context, "user": context}
        if namespace is not None:
            context_body["namespace"] = namespace
        upsert("contexts", {"name": context, "context": context_body})
        if make_current or not config.get("current-context"):
            config["current-context"] = context
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    # ---- store: writes ----------------------------------------------------------------------------

    def create_event(self, event: JsonObject) -> JsonObject:
        """Store a new Event (like POST): fills uid, rv, creationTimestamp, namespace; records ADDED.

        Any body is stored as given (unknown fields, wrong types, any size), except for what no
        real server could return: lone UTF-16 surrogates become U+FFFD, as Go's JSON decoder does.
        """
        obj = _as_go_decodes(event)
        obj.setdefault("kind", "Event")
        obj.setdefault("apiVersion", CORE_API_VERSION)
        meta = obj.setdefault("metadata", {})
        if not meta.get("namespace"):
            meta["namespace"] = (obj.get("involvedObject") or {}).get("namespace") or "default"
        if not meta.get("name"):
            raise ValueError("an Event needs metadata.name")
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", rfc3339())
        with self._lock:
            key = _key(obj)
            if key in self._objects:
                raise ValueError(f'events "{meta["name"]}" already exists in {meta["namespace"]}')
            stored = self._commit("ADDED", key, obj, previous=None)
        self._notify()
        return copy.deepcopy(stored)

    def patch_event(self, namespace: str, name: str, mutate: Callable[[JsonObject], None]) -> JsonObject:
        """Apply ``mutate`` to a copy of the stored Event, store it with a new rv; records MODIFIED."""
        with self._lock:
            key = f"{namespace}/{name}"
            previous = self._objects.get(key)
            if previous is None:
                raise KeyError(f'events "{name}" not found in {namespace}')
            obj = copy.deepcopy(previous)
            mutate(obj)
            obj["metadata"]["namespace"], obj["metadata"]["name"] = namespace, name
            stored = self._commit("MODIFIED", key, obj, previous=previous)
        self._notify()
        return copy.deepcopy(stored)

    def update_event(self, namespace: str, name: str, **changes: Any) -> JsonObject:
        """Replace top-level fields (``message=...``, ``count=...``); records MODIFIED."""

        def apply(obj: JsonObject) -> None:
            obj.update(copy.deepcopy(changes))

        return self.patch_event(namespace, name, apply)

    def bump(self, namespace: str, name: str, *, message: str | None = None) -> JsonObject:
        """One more occurrence, like the recorder's PATCH: count+1, new lastTimestamp (and message)."""

        def apply(obj: JsonObject) -> None:
            obj["count"] = int(obj.get("count") or 1) + 1
            obj["lastTimestamp"] = rfc3339()
            if message is not None:
                obj["message"] = message

        return self.patch_event(namespace, name, apply)

    def delete_event(self, namespace: str, name: str) -> JsonObject:
        """Remove an Event; records DELETED carrying the last state with the deletion's new rv."""
        with self._lock:
            key = f"{namespace}/{name}"
            previous = self._objects.get(key)
            if previous is None:
                raise KeyError(f'events "{name}" not found in {namespace}')
            stored = self._commit("DELETED", key, copy.deepcopy(previous), previous=previous)
        self._notify()
        return copy.deepcopy(stored)

    def _commit(
        self, change_type: str, key: str, obj: JsonObject, *, previous: JsonObject | None
    ) -> JsonObject:
        """Give ``obj`` the next rv and append the change to history (caller holds the lock)."""
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        if change_type == "DELETED":
            del self._objects[key]
        else:
            self._objects[key] = obj
        self._history.append(_Change(self._rv, change_type, key, obj, previous))
        return obj

    def compact(self, rv: int | None = None) -> int:
        """Forget history at or below ``rv`` (default: now); older watches/continues then get 410."""
        with self._lock:
            target = self._rv if rv is None else rv
            if target > self._rv:
                raise ValueError(f"cannot compact to {target}, beyond current revision {self._rv}")
            self._compacted = max(self._compacted, target)
            cut = bisect.bisect_right(self._history, self._compacted, key=lambda change: change.rv)
            del self._history[:cut]
            compacted = self._compacted
        self._notify()
        return compacted

    def put_lease(self, namespace: str, name: str, spec: JsonObject) -> JsonObject:
        """Create or overwrite a Lease unconditionally (another replica's write, as a test sees it)."""
        with self._lock:
            key = f"{namespace}/{name}"
            previous = self._leases.get(key)
            metadata = (
                copy.deepcopy(previous["metadata"]) if previous else self._new_metadata(namespace, name)
            )
            stored = self._store_lease(key, {"metadata": metadata, "spec": copy.deepcopy(spec)})
        return copy.deepcopy(stored)

    def _new_metadata(self, namespace: str, name: str) -> JsonObject:
        return {
            "name": name,
            "namespace": namespace,
            "uid": str(uuid.uuid4()),
            "creationTimestamp": rfc3339(),
        }

    def _store_lease(self, key: str, lease: JsonObject) -> JsonObject:
        """Give a Lease the next revision and keep it (caller holds the lock).

        Leases share etcd's revision with the Events, as on a real server, but stay out of the
        Event history: Event watches see the revision move only through bookmarks.
        """
        self._rv += 1
        stored = {
            "kind": "Lease",
            "apiVersion": COORDINATION_API_VERSION,
            **lease,
            "metadata": {**lease["metadata"], "resourceVersion": str(self._rv)},
        }
        self._leases[key] = stored
        return stored

    # ---- store: reads -----------------------------------------------------------------------------

    @property
    def current_resource_version(self) -> int:
        with self._lock:
            return self._rv

    @property
    def compacted_resource_version(self) -> int:
        with self._lock:
            return self._compacted

    def events(self) -> list[JsonObject]:
        """The current Events, in the apiserver's key order (namespace/name)."""
        with self._lock:
            return [copy.deepcopy(self._objects[key]) for key in sorted(self._objects)]

    def get_event(self, namespace: str, name: str) -> JsonObject:
        with self._lock:
            return copy.deepcopy(self._objects[f"{namespace}/{name}"])

    def lease(self, namespace: str, name: str) -> JsonObject | None:
        """The stored Lease, or None."""
        with self._lock:
            found = self._leases.get(f"{namespace}/{name}")
            return copy.deepcopy(found) if found is not None else None

    def lease_holder(self, namespace: str, name: str) -> str | None:
        """The Lease's holderIdentity ("" once released), or None while there is no Lease."""
        found = self.lease(namespace, name)
        return None if found is None else str((found.get("spec") or {}).get("holderIdentity") or "")

    def _state_at(self, rv: int) -> dict[str, JsonObject]:
        """The objects as they were at revision ``rv`` (>= compaction point; caller holds the lock)."""
        state = dict(self._objects)
        start = bisect.bisect_right(self._history, rv, key=lambda change: change.rv)
        for change in reversed(self._history[start:]):
            if change.previous is None:
                state.pop(change.key, None)
            else:
                state[change.key] = change.previous
        return state

    # ---- faults -----------------------------------------------------------------------------------

    def fail_next(self, n: int = 1, status: int = 500, path_prefix: str | None = None) -> None:
        """The next ``n`` requests (whose path starts with ``path_prefix``) answer ``status``."""
        with self._lock:
            self._faults.append(_Fault(n, status, path_prefix))

    def clear_faults(self) -> None:
        """Answer every request normally again."""
        with self._lock:
            self._faults = []

    def drop_watches(self, *, reset: bool = False) -> int:
        """Abruptly close every open watch (no terminating chunk); returns how many were dropped.

        ``reset`` sends a TCP RST (SO_LINGER 0) instead of a FIN, like a crashed load balancer.
        """
        loop = self._require_loop()
        return asyncio.run_coroutine_threadsafe(self._adrop(reset), loop).result(timeout=10)

    async def _adrop(self, reset: bool) -> int:
        dropped = 0
        for watcher in list(self._watchers):
            watcher.dropped = True
            transport = watcher.transport
            if transport is not None and not transport.is_closing():
                if reset:
                    sock = transport.get_extra_info("socket")
                    if sock is not None:
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                transport.abort()
                dropped += 1
            watcher.wake.set()
        return dropped

    def stall_watches(self, seconds: float) -> None:
        """Open and new watches send nothing at all (no bookmarks, no timeout close) for ``seconds``.

        Changes made meanwhile are delivered once the stall ends; ``stall_watches(0)`` ends it early.
        """
        with self._lock:
            self._stall_until = time.monotonic() + seconds
        self._notify()

    # ---- introspection ----------------------------------------------------------------------------

    @property
    def requests(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._requests)

    def watch_requests(self) -> list[RequestRecord]:
        return [r for r in self.requests if r.is_watch]

    @property
    def internal_errors(self) -> list[str]:
        """Unexpected exceptions inside the fake's handlers; tests may assert this stays empty."""
        with self._lock:
            return list(self._internal_errors)

    @property
    def open_watches(self) -> int:
        with self._lock:
            return self._open_watch_count

    # ---- HTTP -------------------------------------------------------------------------------------

    def _record(self, request: web.Request, status: int) -> None:
        record = RequestRecord(
            method=request.method,
            path=request.path,
            query=dict(request.query.items()),
            status=status,
            authorization=request.headers.get("Authorization"),
        )
        with self._lock:
            self._requests.append(record)

    def _take_fault(self, path: str) -> int | None:
        with self._lock:
            for fault in self._faults:
                if fault.remaining > 0 and (fault.path_prefix is None or path.startswith(fault.path_prefix)):
                    fault.remaining -= 1
                    self._faults = [f for f in self._faults if f.remaining > 0]
                    return fault.status
        return None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        try:
            injected = self._take_fault(request.path)
            if injected is not None:
                raise _StatusError(injected, f"fake apiserver: injected failure ({injected})")
            return await self._route(request)
        except _StatusError as err:
            self._record(request, err.code)
            return err.response()
        except Exception as exc:
            # A bug in the fake: keep it visible (aiohttp answers 500 and logs it) and assertable.
            with self._lock:
                self._internal_errors.append(f"{request.method} {request.path_qs}: {exc!r}")
            raise

    async def _route(self, request: web.Request) -> web.StreamResponse:
        parts = [p for p in request.path.split("/") if p]
        discovery = self._discovery(parts)
        if discovery is not None:
            self._require_get(request)
            self._record(request, 200)
            return web.json_response(discovery)

        if parts[:3] == ["apis", "coordination.k8s.io", "v1"]:
            return await self._leases_route(request, parts[3:])
        api: _Api | None = None
        rest: list[str] = []
        if parts[:2] == ["api", "v1"]:
            api, rest = _CORE_API, parts[2:]
        elif parts[:3] == ["apis", "events.k8s.io", "v1"]:
            api, rest = _EVENTS_API, parts[3:]
        namespace: str | None = None
        if len(rest) >= 3 and rest[0] == "namespaces":
            namespace, rest = rest[1], rest[2:]
        if api is None or not rest or rest[0] != "events" or len(rest) > 2:
            raise _StatusError(404, "the server could not find the requested resource")
        self._require_get(request)

        if len(rest) == 2:
            if namespace is None:
                raise _StatusError(404, "the server could not find the requested resource")
            return self._get_one(request, api, namespace, rest[1])
        query = dict(request.query.items())
        selector = _parse_field_selector(query.get("fieldSelector", ""), api)
        scope = _Scope(api, namespace, selector)
        if _parse_bool(query.get("watch")):
            return await self._watch(request, scope, query)
        self._record(request, 200)
        return web.json_response(self._list(scope, query))

    @staticmethod
    def _require_get(request: web.Request) -> None:
        if request.method != "GET":
            raise _StatusError(
                405, f"the server does not allow this method on the requested resource ({request.method})"
            )

    def _discovery(self, parts: list[str]) -> JsonObject | None:
        """/version and minimal discovery documents, enough for clients that probe the server."""
        events_resource = {
            "name": "events",
            "singularName": "event",
            "namespaced": True,
            "kind": "Event",
            "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
            "shortNames": ["ev"],
        }
        match parts:
            case ["version"]:
                return {
                    "major": "1",
                    "minor": "31",
                    "gitVersion": "v1.31.4-fake",
                    "gitCommit": "0" * 40,
                    "gitTreeState": "clean",
                    "buildDate": "2024-12-10T11:37:17Z",
                    "goVersion": "go1.22.9",
                    "compiler": "gc",
                    "platform": "linux/amd64",
                }
            case ["healthz"] | ["readyz"] | ["livez"]:
                return {"status": "ok"}
            case ["api"]:
                return {
                    "kind": "APIVersions",
                    "versions": ["v1"],
                    "serverAddressByClientCIDRs": [
                        {"clientCIDR": "0.0.0.0/0", "serverAddress": f"127.0.0.1:{self._port}"}
                    ],
                }
            case ["apis"]:
                groups = []
                for group_version in (EVENTS_API_VERSION, COORDINATION_API_VERSION):
                    version = {"groupVersion": group_version, "version": "v1"}
                    name = group_version.split("/")[0]
                    groups.append({"name": name, "versions": [version], "preferredVersion": version})
                return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}
            case ["apis", "coordination.k8s.io", "v1"]:
                lease_resource = {
                    "name": "leases",
                    "singularName": "lease",
                    "namespaced": True,
                    "kind": "Lease",
                    "verbs": ["create", "get", "list", "update"],
                }
                return {
                    "kind": "APIResourceList",
                    "apiVersion": "v1",
                    "groupVersion": COORDINATION_API_VERSION,
                    "resources": [lease_resource],
                }
            case ["api", "v1"] | ["apis", "events.k8s.io", "v1"]:
                group_version = "v1" if parts[0] == "api" else EVENTS_API_VERSION
                return {
                    "kind": "APIResourceList",
                    "apiVersion": "v1",
                    "groupVersion": group_version,
                    "resources": [events_resource],
                }
        return None

    # ---- leases -----------------------------------------------------------------------------------

    async def _leases_route(self, request: web.Request, rest: list[str]) -> web.Response:
        """/apis/coordination.k8s.io/v1/namespaces/{ns}/leases[/{name}]: GET, POST, PUT."""
        if len(rest) not in (3, 4) or rest[0] != "namespaces" or rest[2] != "leases":
            raise _StatusError(404, "the server could not find the requested resource")
        namespace, name = rest[1], rest[3] if len(rest) == 4 else None
        match request.method, name:
            case "GET", None:
                with self._lock:
                    items = [
                        _without_type_meta(copy.deepcopy(lease))
                        for key, lease in sorted(self._leases.items())
                        if key.startswith(f"{namespace}/")
                    ]
                    revision = self._rv
                body: JsonObject = {
                    "kind": "LeaseList",
                    "apiVersion": COORDINATION_API_VERSION,
                    "metadata": {"resourceVersion": str(revision)},
                    "items": items,
                }
                status = 200
            case "GET", str():
                found = self.lease(namespace, name)
                if found is None:
                    raise _StatusError(404, f'{LEASE_RESOURCE} "{name}" not found', reason="NotFound")
                body, status = found, 200
            case "POST", None:
                body, status = self._create_lease(namespace, await self._lease_body(request, namespace)), 201
            case "PUT", str():
                body, status = (
                    self._update_lease(namespace, name, await self._lease_body(request, namespace)),
                    200,
                )
            case _:
                raise _StatusError(
                    405, f"the server does not allow this method on the requested resource ({request.method})"
                )
        self._record(request, status)
        return web.json_response(body, status=status)

    @staticmethod
    async def _lease_body(request: web.Request, namespace: str) -> JsonObject:
        """A Lease as the apiserver's validation would accept it: named, in the URL's namespace,
        MicroTimes with microseconds, an integer duration."""
        try:
            body = await request.json()
        except ValueError as exc:
            raise _StatusError(400, f"the body of the request was in an unknown format: {exc}") from None
        if not isinstance(body, dict) or body.get("kind", "Lease") != "Lease":
            raise _StatusError(400, "expected a Lease")
        metadata = body.get("metadata")
        if not isinstance(metadata, dict) or not metadata.get("name"):
            raise _StatusError(
                422, "Lease.coordination.k8s.io is invalid: metadata.name: Required value", reason="Invalid"
            )
        if metadata.get("namespace", namespace) != namespace:
            raise _StatusError(
                400, "the namespace of the provided object does not match the namespace sent on the request"
            )
        spec = body.get("spec") or {}
        if not isinstance(spec, dict):
            raise _StatusError(400, "Lease.spec: expected an object")
        for field in ("acquireTime", "renewTime"):
            value = spec.get(field)
            if value is not None and not (isinstance(value, str) and _MICRO_TIME.match(value)):
                raise _StatusError(
                    400, f"Lease.spec.{field}: not a MicroTime (RFC 3339, microseconds): {value!r}"
                )
        duration = spec.get("leaseDurationSeconds")
        if duration is not None and (not isinstance(duration, int) or isinstance(duration, bool)):
            raise _StatusError(400, f"Lease.spec.leaseDurationSeconds: expected an integer: {duration!r}")
        return body

    def _create_lease(self, namespace: str, body: JsonObject) -> JsonObject:
        metadata = body["metadata"]
        name = metadata["name"]
        if metadata.get("resourceVersion"):
            raise _StatusError(500, "resourceVersion should not be set on objects to be created")
        with self._lock:
            key = f"{namespace}/{name}"
            if key in self._leases:
                raise _StatusError(409, f'{LEASE_RESOURCE} "{name}" already exists', reason="AlreadyExists")
            stored = self._store_lease(
                key, {"metadata": self._new_metadata(namespace, name), "spec": body.get("spec") or {}}
            )
            return copy.deepcopy(stored)

    def _update_lease(self, namespace: str, name: str, body: JsonObject) -> JsonObject:
        metadata = body["metadata"]
        if metadata["name"] != name:
            raise _StatusError(400, "the name of the object does not match the name on the URL")
        with self._lock:
            key = f"{namespace}/{name}"
            current = self._leases.get(key)
            if current is None:
                raise _StatusError(404, f'{LEASE_RESOURCE} "{name}" not found', reason="NotFound")
            asked = metadata.get("resourceVersion")
            if asked and asked != current["metadata"]["resourceVersion"]:
                raise _StatusError(
                    409,
                    f'Operation cannot be fulfilled on {LEASE_RESOURCE} "{name}": the object has been '
                    "modified; please apply your changes to the latest version and try again",
                    reason="Conflict",
                )
            stored = self._store_lease(key, {"metadata": current["metadata"], "spec": body.get("spec") or {}})
            return copy.deepcopy(stored)

    def _get_one(self, request: web.Request, api: _Api, namespace: str, name: str) -> web.Response:
        with self._lock:
            obj = self._objects.get(f"{namespace}/{name}")
        if obj is None:
            raise _StatusError(404, f'events "{name}" not found', reason="NotFound")
        self._record(request, 200)
        return web.json_response(api.render(obj))

    def _list(self, scope: _Scope, query: dict[str, str]) -> JsonObject:
        """One page of a list, from a consistent snapshot identified by its resourceVersion."""
        rv_text = query.get("resourceVersion", "")
        rv_match = query.get("resourceVersionMatch", "")
        token = query.get("continue", "")
        limit_text = query.get("limit", "")
        try:
            limit = int(limit_text) if limit_text else 0
        except ValueError:
            raise _StatusError(400, f'limit: Invalid value: "{limit_text}"') from None

        with self._lock:
            snapshot, start_after = self._list_snapshot(rv_text, rv_match, token)
            state = self._state_at(snapshot) if snapshot != self._rv else self._objects
            keys = sorted(k for k in state if k > start_after and scope.matches(state[k]))
            page = keys[:limit] if limit > 0 else keys
            items = [_without_type_meta(scope.api.render(state[k])) for k in page]

        metadata: JsonObject = {"resourceVersion": str(snapshot)}
        if len(page) < len(keys):
            metadata["continue"] = _encode_continue(snapshot, page[-1])
            if not scope.selector:
                metadata["remainingItemCount"] = len(keys) - len(page)
        return {
            "kind": "EventList",
            "apiVersion": scope.api.group_version,
            "metadata": metadata,
            "items": items,
        }

    def _list_snapshot(self, rv_text: str, rv_match: str, token: str) -> tuple[int, str]:
        """Which revision a list reads, and the key it resumes after (caller holds the lock)."""
        if token:
            if rv_text not in ("", "0"):
                raise _StatusError(400, "specifying resource version is not allowed when using continue")
            snapshot, start_after = _decode_continue(token)
            if snapshot == 0:  # an inconsistent continuation: latest state, from the next key
                return self._rv, start_after
            if snapshot < self._compacted:
                raise _StatusError(
                    410,
                    CONTINUE_TOO_OLD_MESSAGE,
                    reason="Expired",
                    **{"continue": _encode_continue(0, start_after)},
                )
            return snapshot, start_after
        if rv_text in ("", "0"):
            return self._rv, ""
        requested = _parse_rv(rv_text)
        if requested > self._rv:
            raise _StatusError(
                504, f"Too large resource version: {requested}, current: {self._rv}", reason="Timeout"
            )
        if rv_match != "Exact":
            return self._rv, ""
        if requested < self._compacted:
            raise _StatusError(
                410, f"too old resource version: {requested} ({self._compacted})", reason="Expired"
            )
        return requested, ""

    # ---- watch ------------------------------------------------------------------------------------

    async def _watch(self, request: web.Request, scope: _Scope, query: dict[str, str]) -> web.StreamResponse:
        """A chunked stream of JSON lines: replayed history, then live changes, bookmarks, errors."""
        timeout_text = query.get("timeoutSeconds", "")
        try:
            timeout = int(timeout_text) if timeout_text else 0
        except ValueError:
            raise _StatusError(400, f'timeoutSeconds: Invalid value: "{timeout_text}"') from None
        bookmarks = _parse_bool(query.get("allowWatchBookmarks"))
        rv_text = query.get("resourceVersion", "")
        send_initial_text = query.get("sendInitialEvents")
        send_initial = (
            _parse_bool(send_initial_text) if send_initial_text is not None else rv_text in ("", "0")
        )
        initial_end_bookmark = bookmarks and _parse_bool(send_initial_text)

        expired: str | None = None
        initial: list[JsonObject] = []
        with self._lock:
            if send_initial:
                initial = [self._objects[k] for k in sorted(self._objects) if scope.matches(self._objects[k])]
                cursor = self._rv
            else:
                cursor = _parse_rv(rv_text)
                if cursor > self._rv:
                    raise _StatusError(504, f"Too large resource version: {cursor}, current: {self._rv}")
                if cursor < self._compacted:
                    expired = f"too old resource version: {cursor} ({self._compacted})"
            http_410 = self.expire_with_http_410
        if expired is not None and http_410:
            raise _StatusError(410, expired, reason="Expired")

        self._record(request, 200)
        response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        watcher = _Watcher(wake=asyncio.Event(), transport=request.transport, task=asyncio.current_task())
        self._watchers.add(watcher)
        with self._lock:
            self._open_watch_count += 1
        try:
            await self._pump(
                response,
                watcher,
                scope,
                cursor=cursor,
                initial=initial,
                initial_end_bookmark=initial_end_bookmark,
                expired=expired,
                bookmarks=bookmarks,
                deadline=time.monotonic() + timeout if timeout > 0 else None,
            )
        except ConnectionError:
            pass  # the client went away mid-write; nothing left to tell it
        finally:
            self._watchers.discard(watcher)
            with self._lock:
                self._open_watch_count -= 1
        return response

    async def _pump(
        self,
        response: web.StreamResponse,
        watcher: _Watcher,
        scope: _Scope,
        *,
        cursor: int,
        initial: list[JsonObject],
        initial_end_bookmark: bool,
        expired: str | None,
        bookmarks: bool,
        deadline: float | None,
    ) -> None:
        async def send(event_type: str, obj: JsonObject) -> None:
            line = json.dumps({"type": event_type, "object": obj}, separators=(",", ":")) + "\n"
            await response.write(line.encode())  # one chunk per event, written straight to the socket

        def bookmark(rv: int, *, initial_end: bool = False) -> JsonObject:
            metadata: JsonObject = {"resourceVersion": str(rv)}
            if initial_end:
                metadata["annotations"] = {INITIAL_EVENTS_END_ANNOTATION: "true"}
            return {"kind": "Event", "apiVersion": scope.api.group_version, "metadata": metadata}

        pending_initial = True
        last_bookmark = time.monotonic()
        while True:
            watcher.wake.clear()
            with self._lock:
                closing, stall_until = self._closing, self._stall_until
            if closing or watcher.dropped:
                return
            now = time.monotonic()
            if now < stall_until:
                await self._wait(watcher, stall_until - now)
                continue
            if deadline is not None and now >= deadline:
                return
            if expired is not None:
                await send("ERROR", status_body(410, expired, reason="Expired"))
                return
            if pending_initial:
                pending_initial = False
                for obj in initial:
                    await send("ADDED", scope.api.render(obj))
                if initial_end_bookmark:
                    await send("BOOKMARK", bookmark(cursor, initial_end=True))

            expired, cursor, changes = self._changes_after(cursor, scope)
            if expired is not None:
                continue
            for event_type, obj in changes:
                await send(event_type, scope.api.render(obj))

            if bookmarks and now - last_bookmark >= self.bookmark_interval:
                await send("BOOKMARK", bookmark(cursor))
                last_bookmark = now
            waits = [deadline - now] if deadline is not None else []
            if bookmarks:
                waits.append(last_bookmark + self.bookmark_interval - now)
            await self._wait(watcher, min(waits) if waits else None)

    def _changes_after(
        self, cursor: int, scope: _Scope
    ) -> tuple[str | None, int, list[tuple[str, JsonObject]]]:
        """(expiry message, new cursor, visible changes) for a watcher that has seen up to ``cursor``."""
        with self._lock:
            if cursor < self._compacted:
                return f"too old resource version: {cursor} ({self._compacted})", cursor, []
            start = bisect.bisect_right(self._history, cursor, key=lambda change: change.rv)
            changes = self._history[start:]
            current = self._rv
        visible = [
            (t, change.obj) for change in changes if (t := self._visible_type(change, scope)) is not None
        ]
        return None, current, visible

    @staticmethod
    def _visible_type(change: _Change, scope: _Scope) -> str | None:
        """What a filtered watch sees: objects entering the selector are ADDED, leaving are DELETED."""
        was = scope.matches(change.previous)
        now = change.type != "DELETED" and scope.matches(change.obj)
        if change.type == "DELETED":
            return "DELETED" if was else None
        if was and now:
            return "MODIFIED"
        if now:
            return "ADDED"
        if was:
            return "DELETED"
        return None

    @staticmethod
    async def _wait(watcher: _Watcher, delay: float | None) -> None:
        """Sleep until woken by a write or a fault, or for ``delay`` seconds (None: no limit)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(None if delay is None else max(delay, 0.0)):
                await watcher.wake.wait()

    # ---- loop plumbing ----------------------------------------------------------------------------

    def _require_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("FakeApiServer is not running")
        return self._loop

    def _notify(self) -> None:
        """Wake every watch handler after a write (called from any thread)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop stopped between the check and the call
            loop.call_soon_threadsafe(self._wake_all)

    def _wake_all(self) -> None:
        for watcher in self._watchers:
            watcher.wake.set()
