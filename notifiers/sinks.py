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

import re
from dataclasses import dataclass, field, replace
from typing import Any, Literal
from urllib.parse import SplitResult, quote, unquote_plus, urlsplit, urlunsplit

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
from runtime.redact import redact_url
from schemas.matchers import Matcher, MatchOp

KUBE_EVENTER = "kube_eventer"
"""The receiver type of an entry given as a kube-eventer sink URI."""

BODY_ADVICE = (
    "kube-herald does not read ConfigMaps; write the body as a Jinja template file in "
    "notifier.templates_dir (render values with |tojson) and configure a receiver of type webhook "
    "with url, method, headers and body_template: <file>, with this sink's filters as matchers on "
    "its route"
)
LINK_ADVICE = (
    "kube-eventer used cluster_id and region only for Alibaba Cloud console links in markdown messages; set "
    "notifier.link_template to link every incident (e.g. to your cluster's console page)"
)
WECHAT_LABEL_ADVICE = (
    "every kube-herald message names the incident's cluster, so set producer.cluster (for example to "
    "this label's value) and drop label; a wecom_app message has no other place for it"
)
UNSUPPORTED: dict[tuple[str, str], str] = {
    ("webhook", "custom_body_configmap"): BODY_ADVICE,
    ("webhook", "custom_body_configmap_namespace"): BODY_ADVICE,
    ("dingtalk", "cluster_id"): LINK_ADVICE,
    ("dingtalk", "region"): LINK_ADVICE,
    ("wechat", "label"): WECHAT_LABEL_ADVICE,
}
"""Parameters of kube-eventer's sinks that kube-herald cannot honour, with what to do instead."""

_SHOWN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,39}$")


class SinkError(ValueError):
    """A sink URI kube-herald cannot stand in for; the message holds no secret."""


@dataclass(frozen=True)
class SinkSpec:
    """What a sink URI stands for: a receiver ``type``, its ``settings`` (without name and type;
    secrets as SecretStr) and the ``matchers`` an incident must pass to go there."""

    type: str
    settings: dict[str, Any]
    matchers: list[Matcher]
    parameters: dict[str, str] = field(default_factory=dict)
    """The sink parameter each setting came from, so errors name what the user wrote."""

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

    @field_validator("sink")
    @classmethod
    def _parses(cls, sink: SecretStr) -> SecretStr:
        parse_sink(sink.get_secret_value())
        return sink

    @property
    def spec(self) -> SinkSpec:
        return parse_sink(self.sink.get_secret_value())


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
        if (kind, name) in UNSUPPORTED:
            by_advice.setdefault(UNSUPPORTED[(kind, name)], []).append(name)
    if by_advice:
        raise SinkError(
            "; ".join(f"{', '.join(names)}: not supported: {advice}" for advice, names in by_advice.items())
        )
    return parser(parts, query)


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
    settings: dict[str, Any] = {}
    method = query.one("method")
    if method and method.upper() == "GET":
        raise SinkError(
            "method=GET is not supported: kube-herald sends the body with POST (the default when "
            "method is left out), PUT or PATCH"
        )
    if method:
        settings["method"] = method.upper()
    headers: dict[str, SecretStr] = {}
    for header in query.values("header"):
        name, equals, value = header.partition("=")
        if not equals or not _SHOWN_NAME.match(name.strip()):
            raise SinkError(
                "header: expected header=<Name>=<value>, e.g. header=Content-Type=application/json"
            )
        headers[name.strip().lower()] = SecretStr(value)  # names are case-insensitive; ours are lower
    if headers:
        settings["headers"] = headers
    matchers = _filters(query, default_level=None, reason=True)
    # The rest belong to the target (a robot's key=…), as kube-eventer sent the whole URL.
    target = "&".join(p.raw for p in query.rest())
    settings["url"] = SecretStr(f"{endpoint}?{target}" if target else endpoint)
    return SinkSpec("webhook", settings, matchers, {"headers": "header"})


def _endpoint(parts: SplitResult, kind: str) -> str:
    if parts.scheme not in ("http", "https") or not parts.hostname:
        shown = redact_url(urlunsplit(parts))
        raise SinkError(f"{kind}: expected an http(s) URL with a host after {kind}: (got {shown!r})")
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _filters(query: _Query, *, default_level: str | None, reason: bool = False) -> list[Matcher]:
    """kube-eventer's filter parameters as matchers. Its chat sinks pass an event type at or above
    ``level`` (default Warning); its webhook sink filters only when ``level`` is given, and then
    passes exactly that type, so there ``Normal`` keeps incidents of severity info."""
    level = query.one("level")
    namespaces, kinds = query.joined("namespaces"), query.joined("kinds")
    reasons = query.joined("reason") if reason else None
    exact_normal = default_level is None and level == "Normal"
    try:
        matchers = kube_eventer_matchers(
            level=None if exact_normal else (default_level if level is None else level),
            namespaces=namespaces,
            kinds=kinds,
            reason=reasons,
        )
    except ValidationError as exc:
        raise SinkError(str(exc.errors()[0]["msg"]).removeprefix("Value error, ")) from None
    except ValueError as exc:
        raise SinkError(str(exc)) from None
    if exact_normal:
        matchers.insert(0, Matcher(name="severity", op=MatchOp.EQUAL, value="info"))
    return matchers


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
