"""The settings every notifier shares, its web page's authentication, and the routing tree."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator

from runtime.config.base import INSTANCE_ID_PATTERN, Settings, TimeZoneName, instance_id_from_env
from schemas.categories import Language
from schemas.incident import Change
from schemas.matchers import Matcher


class UiAuthSettings(Settings):
    """Who may use the notifier's web page and silences API (/metrics and the probes stay open)."""

    bearer_token: SecretStr | None = Field(
        None, description="Accept `Authorization: Bearer <token>`. Or bearer_token_file (a mounted Secret)."
    )
    basic_username: str | None = Field(None, description="Accept HTTP basic auth as this user.")
    basic_password: SecretStr | None = Field(
        None, description="The basic auth password. Or basic_password_file (a mounted Secret)."
    )
    read_only: bool = Field(
        False, description="Show incidents and silences, but refuse to add or expire a silence (403)."
    )

    @model_validator(mode="after")
    def _basic_is_complete(self) -> UiAuthSettings:
        if (self.basic_username is None) != (self.basic_password is None):
            raise ValueError("basic auth needs both basic_username and basic_password")
        return self

    @property
    def required(self) -> bool:
        """Whether a request must carry credentials."""
        return self.bearer_token is not None or self.basic_password is not None


class NotifierSettings(Settings):
    retry_budget_seconds: float = Field(
        600.0,
        gt=0,
        description="How long one delivery may keep failing retryably before it is dead-lettered.",
    )
    timezone: TimeZoneName = Field(
        "UTC", description="Time zone of rendered times (shown with their UTC offset), e.g. Asia/Shanghai."
    )
    templates_dir: Path | None = Field(
        None, description="Directory of user templates that override defaults."
    )
    language: Language = Field("en", description="Language of the default templates (en, zh).")
    http_port: int | None = Field(
        None, ge=1, le=65535, description="Serve /metrics, /healthz, /readyz and the silences API here."
    )
    ui_auth: UiAuthSettings = Field(
        default_factory=UiAuthSettings,
        description="Authentication of the web page and silences API on http_port; open if unset.",
    )
    ui_refresh_seconds: int = Field(
        30, ge=0, le=3600, description="The incidents page reloads itself this often (0: never)."
    )
    link_template: str | None = Field(
        None,
        description="Jinja2 template of a link shown with every incident, e.g. "
        "'https://grafana.example/d/k8s?var-cluster={{ incident.cluster | urlencode }}'.",
    )
    instance_id: str | None = Field(
        default_factory=instance_id_from_env,
        pattern=INSTANCE_ID_PATTERN,
        description="This replica's static group member id (group.instance.id): restarted under it "
        "within session_timeout_seconds, it takes its partitions back without a rebalance. Default "
        "$POD_NAME, else $HOSTNAME; `herald notifier --instance-id` overrides; null: a dynamic member. "
        "Unique among one receiver's replicas.",
    )
    session_timeout_seconds: float = Field(
        30.0,
        ge=10,
        le=300,
        description="A replica not heard from this long (killed and not back, its node lost) has "
        "its partitions moved to the others. A replica stopped by SIGTERM leaves at once.",
    )


ALWAYS_NEWS = frozenset({Change.OPENED, Change.REPEAT, Change.RESOLVED})
"""Changes every route delivers: the first page, the repeat at repeat_interval and the
closing (the last two can be turned down by ``repeat_interval_seconds``, ``send_resolved``
and ``send_quiet``), so they are not for ``notify_on``."""
MATERIAL_CHANGES = tuple(change for change in Change if change not in ALWAYS_NEWS)
"""What a route's ``notify_on`` chooses from, and its default."""


_NOTIFY_ON = (
    f"Which changes of a notified incident are news for the route, of {', '.join(MATERIAL_CHANGES)}: "
    "an update with none of them is held (not-material). opened, repeat and resolved always pass."
)


def _material_only(changes: list[Change] | None) -> list[Change] | None:
    always = [change.value for change in changes or () if change in ALWAYS_NEWS]
    if always:
        raise ValueError(
            f"{', '.join(always)}: always delivered (turned down by repeat_interval_seconds, "
            f"send_resolved, send_quiet); notify_on takes {', '.join(MATERIAL_CHANGES)}"
        )
    return changes


class RouteSettings(Settings):
    """A node of the notifier's routing tree, with Alertmanager's semantics (notifiers/routing.py).

    ``receiver``, ``send_resolved``, ``send_quiet``, ``notify_on`` and
    ``repeat_interval_seconds`` left unset are inherited from the parent route.
    """

    receiver: str | None = Field(None, description="Receiver of the incidents this route matches.")
    matchers: list[Matcher] = Field(
        default_factory=list, description="All must match the incident's labels; none matches every one."
    )
    continue_: bool = Field(
        False, alias="continue", description="After matching, keep trying the following sibling routes."
    )
    routes: list[RouteSettings] = Field(default_factory=list, description="Child routes, tried in order.")
    send_resolved: bool | None = Field(None, description="Deliver resolved updates too.")
    send_quiet: bool | None = Field(
        None,
        description="Deliver quiet closes too (no new Event for resolve_timeout_seconds, no proof of "
        "recovery); send_resolved false drops them anyway.",
    )
    notify_on: list[Change] | None = Field(None, description=_NOTIFY_ON)
    repeat_interval_seconds: float | None = Field(
        None,
        ge=0,
        description="Deliver an unchanged firing incident again at most this often; 0 delivers every update.",
    )

    _notify_on_is_material = field_validator("notify_on")(_material_only)

    def named_receivers(self, path: tuple[str | int, ...]) -> Iterator[tuple[tuple[str | int, ...], str]]:
        """Every receiver this subtree names, with the key path of its ``receiver``."""
        if self.receiver is not None:
            yield (*path, "receiver"), self.receiver
        for index, child in enumerate(self.routes):
            yield from child.named_receivers((*path, "routes", index))


class RootRouteSettings(RouteSettings):
    """The root route matches every incident, and its receiver takes what no child route matches."""

    receiver: str = Field(description="Receiver of the incidents no child route matches.")
    send_resolved: bool = Field(True, description="Deliver resolved updates too.")
    send_quiet: bool = Field(
        True,
        description="Deliver quiet closes too (no new Event for resolve_timeout_seconds, no proof of "
        "recovery); send_resolved false drops them anyway.",
    )
    notify_on: list[Change] = Field(list(MATERIAL_CHANGES), description=_NOTIFY_ON)

    @field_validator("matchers", "continue_")
    @classmethod
    def _matches_everything(cls, value: list[Matcher] | bool) -> list[Matcher] | bool:
        if value:
            raise ValueError("the root route matches every incident: set this on a child route")
        return value
