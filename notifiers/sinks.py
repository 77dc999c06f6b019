"""kube-eventer ``--sink=`` URIs as receivers, so a migration can start from the flags in use.

A receiver entry ``{name: legacy, type: kube_eventer, sink: "dingtalk:https://…"}`` stands
for the receiver the URI names: its parameters become that receiver's settings, validated by
the receiver's own model, and its filters (level, namespaces, kinds, reason) become label
matchers that the notifier applies on top of the routing tree. A parameter kube-herald cannot
honour is an error that says what to use instead: a dropped filter would flood a group and a
dropped body template would change what a webhook receives. The URI carries tokens, so it is
a secret: errors name parameters and show URLs redacted, never as written.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import SplitResult, quote, unquote_plus, urlsplit, urlunsplit

import yaml
from kubernetes.client import CoreV1Api
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from notifiers.routing import kube_eventer_matchers
from runtime.config import ConfigError
from runtime.kube import KubeError, api_client
from runtime.redact import redact_url
from schemas.matchers import Matcher, MatchOp

KUBE_EVENTER = "kube_eventer"
"""The receiver type of an entry given as a kube-eventer sink URI."""

LINK_ADVICE = (
    "left out: kube-eventer used them only for Alibaba Cloud console links in markdown messages; "
    "notifier.link_template links every incident (e.g. to the cluster's console page)"
)
WECHAT_LABEL_ADVICE = (
    "left out: a wecom_app message has no place for it, and every kube-herald message names its "
    "cluster: set producer.clusters[].cluster to this label's value"
)
LEFT_OUT: dict[tuple[str, str], str] = {
    ("dingtalk", "cluster_id"): LINK_ADVICE,
    ("dingtalk", "region"): LINK_ADVICE,
    ("wechat", "label"): WECHAT_LABEL_ADVICE,
}
"""Parameters of kube-eventer's sinks that change nothing kube-herald sends: accepted, with a
note saying what stands in for them."""

_SHOWN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,39}$")


class SinkError(ValueError):
    """A sink URI kube-herald cannot stand in for; the message holds no secret."""


@dataclass(frozen=True)
class ConfigMapRef:
    """The ConfigMap whose ``content`` key holds a webhook sink's body template."""

    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class SinkSpec:
    """What a sink URI stands for: a receiver ``type``, its ``settings`` (without name and type;
    secrets as SecretStr) and the ``matchers`` an incident must pass to go there."""

    type: str
    settings: dict[str, Any]
    matchers: list[Matcher]
    parameters: dict[str, str] = field(default_factory=dict)
    """The sink parameter each setting came from, so errors name what the user wrote."""
    body_configmap: ConfigMapRef | None = None
    """Where kube-eventer read the body template from (``custom_body_configmap``): the
    template becomes the receiver's ``custom_body`` once read."""
    notes: list[str] = field(default_factory=list)
    """Parameters carried over with another meaning, or left out because the receiver does
    what they did anyway: said to the user, never an error."""

    def located(self, error: ConfigError, at: tuple[str | int, ...]) -> ConfigError:
        """``error`` (of the settings validated at ``at``) with settings named as sink parameters."""
        depth = len(at)

        def rename(path: tuple[str | int, ...]) -> tuple[str | int, ...]:
            if len(path) <= depth or path[:depth] != at:
                return path
            key = path[depth]
            return (*at, self.parameters.get(str(key), key), *path[depth + 1 :])

        return ConfigError([replace(issue, path=rename(issue.path)) for issue in error.issues])


class KubeEventerEntry(BaseModel):
    """A receiver entry given as a kube-eventer sink URI (which is a secret: it carries tokens)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    type: Literal["kube_eventer"] = "kube_eventer"
    sink: SecretStr = Field(
        description="A kube-eventer --sink value: dingtalk:…, wechat:… or webhook:…; a secret (tokens)."
    )

    @model_validator(mode="before")
    @classmethod
    def _hide_sink(cls, data: Any) -> Any:
        """Wrap the URI before validation, so no error can quote it."""
        if isinstance(data, dict) and isinstance(data.get("sink"), str):
            return {**data, "sink": SecretStr(data["sink"])}
        return data

    custom_body_manifest: Path | None = Field(
        None,
        description="For a webhook sink with custom_body_configmap: a file holding that ConfigMap "
        "(YAML, e.g. from kubectl get -o yaml) or its content alone. Unset: the ConfigMap is read "
        "from the cluster (in-cluster, else kubeconfig and kube_context) when the notifier starts.",
    )
    kubeconfig: str | None = Field(None, description="Kubeconfig to read the ConfigMap with.")
    kube_context: str | None = Field(None, description="Its context (default: the current one).")

    @field_validator("sink")
    @classmethod
    def _parses(cls, sink: SecretStr) -> SecretStr:
        parse_sink(sink.get_secret_value())
        return sink

    @property
    def spec(self) -> SinkSpec:
        return parse_sink(self.sink.get_secret_value())

    def resolved(self, base: Path) -> SinkSpec:
        """The spec with its body template read (``custom_body_manifest`` is relative to ``base``)."""
        spec = self.spec
        if spec.body_configmap is None:
            return spec
        if self.custom_body_manifest is not None:
            path = (
                self.custom_body_manifest
                if self.custom_body_manifest.is_absolute()
                else base / self.custom_body_manifest
            )
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise SinkError(f"custom_body_manifest: cannot read {path}: {exc.strerror}") from None
            body = body_from_manifests(text, spec.body_configmap)
        else:
            body = read_configmap_body(
                spec.body_configmap, kubeconfig=self.kubeconfig, context=self.kube_context
            )
        return replace(spec, settings={**spec.settings, "custom_body": body})


def body_from_manifests(text: str, ref: ConfigMapRef) -> str:
    """The ``content`` of ConfigMap ``ref`` in YAML ``text`` (documents or a List), or ``text``
    itself when it holds no Kubernetes object (a template file)."""
    try:
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError:
        return text  # a template is rarely valid YAML
    objects = [item for d in documents if isinstance(d, dict) for item in (d.get("items") or [d])]
    kinds = [o for o in objects if isinstance(o, dict) and "kind" in o and "apiVersion" in o]
    if not kinds:
        return text
    for item in kinds:
        meta = item.get("metadata") or {}
        if item.get("kind") == "ConfigMap" and meta.get("name") == ref.name:
            if meta.get("namespace", ref.namespace) != ref.namespace:
                continue
            return _content_of(item.get("data"), ref)
    raise SinkError(f"custom_body_manifest: no ConfigMap {ref} in the file")


def read_configmap_body(
    ref: ConfigMapRef, *, kubeconfig: str | None = None, context: str | None = None
) -> str:
    """The ``content`` of ConfigMap ``ref`` read from the cluster: in-cluster when run in a pod,
    else from the kubeconfig, as kube-eventer read it (which fell back to its default body on
    any failure; a silent fallback would change every message, so here it is an error)."""
    where = f"cannot read ConfigMap {ref} (or give it as custom_body_manifest)"
    in_cluster = kubeconfig is None and context is None and bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
    try:
        core = CoreV1Api(api_client(in_cluster=in_cluster, kubeconfig=kubeconfig, context=context))
        found = core.read_namespaced_config_map(ref.name, ref.namespace)
    except ApiException as exc:
        raise SinkError(f"custom_body_configmap: {where}: HTTP {exc.status} {exc.reason}") from None
    except KubeError as exc:
        raise SinkError(f"custom_body_configmap: {where}: {exc}") from None
    except (ConfigException, OSError, ValueError) as exc:
        raise SinkError(f"custom_body_configmap: {where}: {type(exc).__name__}: {exc}") from None
    except Exception as exc:  # urllib3's errors: the cluster is unreachable
        raise SinkError(
            f"custom_body_configmap: {where}: the cluster is unreachable ({type(exc).__name__})"
        ) from None
    return _content_of(found.data, ref)


def _content_of(data: object, ref: ConfigMapRef) -> str:
    content = data.get("content") if isinstance(data, dict) else None
    if not isinstance(content, str) or not content.strip():
        raise SinkError(
            f"custom_body_configmap: ConfigMap {ref} has no data.content (kube-eventer reads that key)"
        )
    return content


@dataclass(frozen=True, slots=True)
class _Param:
    name: str
    value: str
    raw: str
    """As written, to pass on to a webhook's target unchanged."""


class _Query:
    """A URI's query parameters, tracking which ones a sink has taken."""

    def __init__(self, query: str) -> None:
        self._params = [
            _Param(unquote_plus(name), unquote_plus(value), raw)
            for raw in query.split("&")
            if raw
            for name, _, value in [raw.partition("=")]
        ]
        self._taken: set[str] = set()

    @property
    def names(self) -> list[str]:
        return [p.name for p in self._params]

    def values(self, name: str) -> list[str]:
        self._taken.add(name)
        return [p.value for p in self._params if p.name == name]

    def one(self, name: str) -> str | None:
        values = self.values(name)
        if len(values) > 1:
            raise SinkError(f"{name} is given {len(values)} times; give it once")
        return values[0] if values else None

    def joined(self, name: str) -> str | None:
        """A comma list given once or several times, as one comma list."""
        values = self.values(name)
        return ",".join(values) if values else None

    def rest(self) -> list[_Param]:
        return [p for p in self._params if p.name not in self._taken]


def parse_sink(uri: str) -> SinkSpec:
    """What a kube-eventer ``--sink=`` value (the flag's prefix may be included) stands for."""
    text = uri.strip().removeprefix("--sink=")
    kind, colon, rest = text.partition(":")
    if not colon or not re.fullmatch(r"[a-z_]{1,20}", kind):
        raise SinkError(
            "expected <sink>:<url> as given to kube-eventer's --sink, "
            "e.g. dingtalk:https://oapi.dingtalk.com/robot/send?access_token=…"
        )
    parser = _PARSERS.get(kind)
    if parser is None:
        hint = f" (a webhook is written webhook:{kind}://…)" if kind in ("http", "https") else ""
        raise SinkError(
            f"kube-herald stands in for kube-eventer's {', '.join(_PARSERS)} sinks, not {kind!r}{hint}; "
            "for anything else configure a receiver of one of kube-herald's types"
        )
    try:
        parts = urlsplit(rest)
    except ValueError:
        raise SinkError(f"{kind}: not a valid URL after {kind}:") from None
    query = _Query(parts.query)
    by_advice: dict[str, list[str]] = {}
    for name in dict.fromkeys(query.names):
        if (kind, name) in LEFT_OUT:
            by_advice.setdefault(LEFT_OUT[(kind, name)], []).append(name)
            query.values(name)  # taken: not an unknown parameter
    spec = parser(parts, query)
    notes = [f"{', '.join(names)}: {advice}" for advice, names in by_advice.items()]
    return replace(spec, notes=[*spec.notes, *notes]) if notes else spec


def _dingtalk(parts: SplitResult, query: _Query) -> SinkSpec:
    endpoint = _endpoint(parts, "dingtalk")
    token = query.one("access_token")
    if not token:
        raise SinkError("dingtalk: the robot's Webhook URL needs its ?access_token=…")
    settings: dict[str, Any] = {
        "url": SecretStr(f"{endpoint}?access_token={quote(token, safe='')}"),
        # kube-eventer's default; markdown is one msg_type=markdown away.
        "msgtype": query.one("msg_type") or "text",
    }
    secret = query.one("sign")
    if secret:
        settings["secret"] = SecretStr(secret)
    labels = [label.strip() for label in query.values("label") if label.strip()]
    if labels:
        # kube-eventer writes each label atop every message; the keyword is put atop every
        # message too, and keeps passing the robot's keyword check where the label did.
        settings["keyword"] = " ".join(labels)
    matchers = _filters(query, default_level="Warning")
    excluded = [r.strip() for r in (query.joined("exclude_reasons") or "").split(",") if r.strip()]
    if excluded:
        pattern = "|".join(re.escape(reason) for reason in excluded)
        matchers.append(Matcher(name="reason", op=MatchOp.NOT_REGEX, value=pattern))
    _no_other_parameters(query, "dingtalk")
    return SinkSpec(
        "dingtalk", settings, matchers, {"secret": "sign", "keyword": "label", "msgtype": "msg_type"}
    )


def _wechat(parts: SplitResult, query: _Query) -> SinkSpec:
    if parts.netloc or parts.path:
        raise SinkError(
            "wechat: expected wechat:?corp_id=…&corp_secret=…&agent_id=… (kube-eventer's wechat sink "
            "always calls qyapi.weixin.qq.com; for another API root use a wecom_app receiver's api_url)"
        )
    settings: dict[str, Any] = {}
    for name in ("corp_id", "agent_id"):
        value = query.one(name)
        if value is not None:
            settings[name] = value
    secret = query.one("corp_secret")
    if secret is not None:
        settings["corp_secret"] = SecretStr(secret)
    users = [user.strip() for user in (query.joined("to_user") or "").split(",") if user.strip()]
    settings["to_user"] = users or ["@all"]  # kube-eventer's default: everyone in the app's scope
    matchers = _filters(query, default_level="Warning")
    _no_other_parameters(query, "wechat")
    return SinkSpec("wecom_app", settings, matchers)


def _webhook(parts: SplitResult, query: _Query) -> SinkSpec:
    endpoint = _endpoint(parts, "webhook")
    method = query.one("method")
    if method and method.upper() == "GET":
        raise SinkError(
            "method=GET is not supported: kube-herald sends the body with POST (the default when "
            "method is left out), PUT or PATCH"
        )
    headers: dict[str, SecretStr] = {}
    for header in query.values("header"):
        name, equals, value = header.partition("=")
        if not equals or not _SHOWN_NAME.match(name.strip()):
            raise SinkError(
                "header: expected header=<Name>=<value>, e.g. header=Content-Type=application/json"
            )
        headers[name.strip().lower()] = SecretStr(value)  # names are case-insensitive; ours are lower
    matchers = _filters(query, default_level=None, reason=True)
    body = _body_configmap(query)
    # The rest belong to the target (a robot's key=…), as kube-eventer sent the whole URL.
    rest = query.rest()
    target = "&".join(p.raw for p in rest)
    url = f"{endpoint}?{target}" if target else endpoint
    native = (
        "wecom"
        if _is_wecom_robot(parts, rest)
        else "dingtalk"
        if _is_dingtalk_robot(parts, rest) and body is None
        else None
    )
    if native is not None:
        robot = _native_robot(native, url, method=method, headers=headers)
        return replace(robot, matchers=matchers, body_configmap=body)
    settings: dict[str, Any] = {"url": SecretStr(url)}
    if method:
        settings["method"] = method.upper()
    if headers:
        settings["headers"] = headers
    notes = []
    if _is_dingtalk_robot(parts, rest):  # with the user's own body: a webhook that reads errcode
        settings |= {"success": DINGTALK_VERDICT, "rate_limits": [{"messages": 20, "per_seconds": 60}]}
        notes.append(
            "the URL is a DingTalk robot's and the body the ConfigMap's: a webhook receiver that reads "
            "the robot's errcode (130101 retried) and sends at most 20 a minute, one incident each"
        )
    return SinkSpec("webhook", settings, matchers, {"headers": "header"}, body_configmap=body, notes=notes)


DINGTALK_VERDICT = {"field": "errcode", "equals": 0, "retryable": [130101]}
"""A DingTalk robot's answer: errcode 0 delivered, 130101 (sending too fast) later, others never."""


def _body_configmap(query: _Query) -> ConfigMapRef | None:
    """kube-eventer's ``custom_body_configmap`` (namespace ``default`` unless given)."""
    name = query.one("custom_body_configmap")
    namespace = query.one("custom_body_configmap_namespace")
    if not name:
        if namespace:
            raise SinkError("custom_body_configmap_namespace is given without custom_body_configmap")
        return None
    for value in (name, namespace or "default"):
        if not _DNS_NAME.fullmatch(value):
            raise SinkError(
                "custom_body_configmap: expected a ConfigMap name and namespace as Kubernetes writes them"
            )
    return ConfigMapRef(namespace or "default", name)


def _is_wecom_robot(parts: SplitResult, rest: list[_Param]) -> bool:
    """A WeCom group robot's webhook (``…/cgi-bin/webhook/send?key=…``), on WeCom's host or a
    private deployment's."""
    return parts.path.rstrip("/") == "/cgi-bin/webhook/send" and any(
        p.name == "key" and p.value for p in rest
    )


def _is_dingtalk_robot(parts: SplitResult, rest: list[_Param]) -> bool:
    """A DingTalk custom robot's webhook (``…/robot/send?access_token=…``), on DingTalk's host or
    behind a proxy."""
    return parts.path.rstrip("/") == "/robot/send" and any(p.name == "access_token" and p.value for p in rest)


def _native_robot(kind: str, url: str, *, method: str | None, headers: dict[str, SecretStr]) -> SinkSpec:
    """A webhook sink whose URL is a chat robot's: that vendor's own receiver, which reads the
    robot's error codes, paces to its limit and cuts to its byte limits."""
    notes = [
        f"the URL is a {VENDOR_NAMES[kind]} robot's: kube-herald's {kind} receiver reads its error "
        "codes, paces to 20 messages a minute and cuts to its byte limits"
    ]
    if method and method.upper() != "POST":
        notes.append(f"method={method.upper()} left out: the robot takes POST")
    other = sorted(name for name in headers if name != "content-type")
    if other:
        notes.append(f"header {', '.join(other)} left out: the robot needs none")
    return SinkSpec(kind, {"url": SecretStr(url)}, [], notes=notes)


VENDOR_NAMES = {"wecom": "WeCom group", "dingtalk": "DingTalk"}
_DNS_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")


def _endpoint(parts: SplitResult, kind: str) -> str:
    if parts.scheme not in ("http", "https") or not parts.hostname:
        shown = redact_url(urlunsplit(parts))
        raise SinkError(f"{kind}: expected an http(s) URL with a host after {kind}: (got {shown!r})")
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _filters(query: _Query, *, default_level: str | None, reason: bool = False) -> list[Matcher]:
    """kube-eventer's filter parameters as matchers. Its chat sinks pass an event type at or above
    ``level`` (default Warning); its webhook sink filters only when ``level`` is given, and then
    the same way (``Normal`` passes Normal and Warning)."""
    level = query.one("level")
    try:
        return kube_eventer_matchers(
            level=default_level if level is None else level,
            namespaces=query.joined("namespaces"),
            kinds=query.joined("kinds"),
            reason=query.joined("reason") if reason else None,
        )
    except ValidationError as exc:
        raise SinkError(str(exc.errors()[0]["msg"]).removeprefix("Value error, ")) from None
    except ValueError as exc:
        raise SinkError(str(exc)) from None


def _no_other_parameters(query: _Query, kind: str) -> None:
    unknown = list(dict.fromkeys(p.name for p in query.rest()))
    if unknown:
        shown = ", ".join(name if _SHOWN_NAME.match(name) else "<redacted>" for name in unknown)
        known = ", ".join(sorted(_KNOWN[kind]))
        raise SinkError(f"{kind}: unknown parameter {shown} (kube-eventer's {kind} sink takes {known})")


_PARSERS = {"dingtalk": _dingtalk, "webhook": _webhook, "wechat": _wechat}
_KNOWN = {
    "dingtalk": {
        "access_token",
        "sign",
        "label",
        "msg_type",
        "level",
        "namespaces",
        "kinds",
        "exclude_reasons",
    },
    "wechat": {"corp_id", "corp_secret", "agent_id", "to_user", "level", "namespaces", "kinds"},
}
