"""One configuration file for every process, validated with errors that say where and what.

The file is YAML with ``${ENV}`` interpolation. Any secret setting (a ``SecretStr``)
``<name>`` can instead be given as ``<name>_file: /path`` (Alertmanager style, e.g. a
mounted Kubernetes Secret): the file is read when the section is validated, its trailing
newlines stripped. Unknown keys are errors, since a typo is the usual cause. Sections
that belong to one stage (a receiver's settings, say) are validated by that stage through
:meth:`HeraldConfig.validate_section`, which reports errors located in the same file.
"""

from __future__ import annotations

import difflib
import os
import re
import socket
import types
import zoneinfo
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from schemas.categories import Language
from schemas.incident import Change
from schemas.matchers import Matcher
from schemas.raw import CLUSTER_ID_PATTERN
from schemas.topics import Topics

ENV_CONFIG_PATH = "HERALD_CONFIG"
ENV_BOOTSTRAP = "HERALD_KAFKA_BOOTSTRAP"
ENV_TOPIC_PREFIX = "HERALD_TOPIC_PREFIX"
SECRET_FILE_SUFFIX = "_file"  # noqa: S105 (a key suffix, not a password)
"""``<name>_file: PATH`` gives the secret setting ``<name>`` the content of the file at PATH."""

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")

LoadMode = Literal["strict", "lenient", "check"]
"""How :func:`load_config` treats problems. ``strict``: any problem raises (the stages).
``lenient``: an unset ``${VAR}`` inside ``receivers`` stands for a placeholder and is raised
only by :meth:`HeraldConfig.require_secrets` for that receiver (commands that deliver nothing,
and a notifier, which needs its own receiver's variables only). ``check``: nothing but an
unreadable file or invalid YAML raises; every problem is kept in :attr:`HeraldConfig.problems`
and the sections without errors are loaded, so ``check-config`` can go on to the receivers."""
PLACEHOLDER_URL = "https://unset.invalid/?key=unset&access_token=unset"
"""What a receiver setting that is one unset ``${VAR}`` reads in lenient mode: a URL that every
receiver's URL check accepts and that is never contacted (``.invalid`` cannot resolve)."""
PLACEHOLDER = "unset"
"""What an unset ``${VAR}`` inside a longer receiver setting reads in lenient mode."""

ENV_INSTANCE_ID = ("POD_NAME", "HOSTNAME")
"""Where a replica's group instance id comes from, first set wins: ``POD_NAME`` from the
downward API, else ``HOSTNAME``, which Kubernetes sets to the pod's name (and Docker to the
container's id). Either names the same member again when its container restarts in its pod."""
INSTANCE_ID_PATTERN = r"^[A-Za-z0-9._-]{1,249}$"
"""What Kafka accepts as a ``group.instance.id`` (its rule for names)."""


def instance_id_from_env(env: Mapping[str, str] | None = None) -> str | None:
    """This replica's static group member id, from :data:`ENV_INSTANCE_ID`; None if unset."""
    env = os.environ if env is None else env
    for name in ENV_INSTANCE_ID:
        value = env.get(name, "").strip()
        if value:
            return value
    return None


S = TypeVar("S", bound=BaseModel)


class Settings(BaseModel):
    """Base of every config section: frozen, and strict about unknown keys."""

    model_config = ConfigDict(frozen=True, extra="forbid")


SASL_PROTOCOLS = ("SASL_PLAINTEXT", "SASL_SSL")
SSL_PROTOCOLS = ("SSL", "SASL_SSL")


class KafkaSettings(Settings):
    bootstrap_servers: str = Field("127.0.0.1:19092", description="Comma-separated host:port list.")
    topic_prefix: str = Field("herald.", pattern=r"^[A-Za-z0-9._-]*$", description="Prefix of every topic.")
    partitions: int = Field(6, ge=1, le=10_000, description="Partitions of the topics kube-herald creates.")
    replication_factor: int = Field(1, ge=1, description="Replication factor of created topics.")
    admin_timeout_seconds: float = Field(
        30.0,
        gt=0,
        description="How long herald silence and herald tail wait for a broker to answer before they "
        "stop with one line naming the address (herald topics: --timeout). The stages wait as long "
        "as it takes.",
    )
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="How to reach the brokers: the sasl_* and ssl_* keys apply accordingly."
    )
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = Field(
        None, description="Required with SASL_PLAINTEXT and SASL_SSL."
    )
    sasl_username: str | None = Field(None, description="Required with SASL_PLAINTEXT and SASL_SSL.")
    sasl_password: SecretStr | None = Field(None, description="Or sasl_password_file.")
    ssl_ca_location: str | None = Field(None, description="CA bundle file for SSL listeners.")
    ssl_certificate_location: str | None = Field(
        None, description="Client certificate (PEM) for brokers that require mutual TLS."
    )
    ssl_key_location: str | None = Field(None, description="The client certificate's private key (PEM).")
    ssl_key_password: SecretStr | None = Field(
        None, description="Passphrase of ssl_key_location, if encrypted. Or ssl_key_password_file."
    )
    ssl_check_hostname: bool = Field(
        True, description="Check that the broker's certificate names the host connected to."
    )

    @model_validator(mode="after")
    def _security_is_consistent(self) -> KafkaSettings:
        """Settings the chosen protocol ignores are mistakes; raised per key, so each is located."""
        protocol = self.security_protocol
        problems: list[tuple[str, str]] = []
        for key in ("sasl_mechanism", "sasl_username", "sasl_password"):
            value = getattr(self, key)
            if protocol in SASL_PROTOCOLS and value is None:
                problems.append((key, f"required with security_protocol {protocol}"))
            elif protocol not in SASL_PROTOCOLS and value is not None:
                problems.append((key, f"only used with security_protocol {' or '.join(SASL_PROTOCOLS)}"))
        if protocol not in SSL_PROTOCOLS:
            for key in (
                "ssl_ca_location",
                "ssl_certificate_location",
                "ssl_key_location",
                "ssl_key_password",
            ):
                if getattr(self, key) is not None:
                    problems.append((key, f"only used with security_protocol {' or '.join(SSL_PROTOCOLS)}"))
        elif (self.ssl_certificate_location is None) != (self.ssl_key_location is None):
            missing = "ssl_key_location" if self.ssl_key_location is None else "ssl_certificate_location"
            problems.append((missing, "a client certificate needs both ssl_certificate_location and its key"))
        elif self.ssl_key_password is not None and self.ssl_key_location is None:
            problems.append(("ssl_key_password", "set only with ssl_key_location"))
        if problems:
            raise ValidationError.from_exception_data(
                type(self).__name__,
                [
                    InitErrorDetails(
                        type=PydanticCustomError("kafka_security", message),
                        loc=(key,),
                        input=getattr(self, key),
                    )
                    for key, message in problems
                ],
            )
        return self

    @property
    def topics(self) -> Topics:
        return Topics(self.topic_prefix)

    def librdkafka(self) -> dict[str, str]:
        """The common librdkafka properties (confluent-kafka) for these settings."""
        conf = {"bootstrap.servers": self.bootstrap_servers, "security.protocol": self.security_protocol}
        if self.sasl_mechanism:
            conf["sasl.mechanism"] = self.sasl_mechanism
        if self.sasl_username is not None:
            conf["sasl.username"] = self.sasl_username
        if self.sasl_password is not None:
            conf["sasl.password"] = self.sasl_password.get_secret_value()
        if self.security_protocol in SSL_PROTOCOLS:
            if self.ssl_ca_location:
                conf["ssl.ca.location"] = self.ssl_ca_location
            if self.ssl_certificate_location:
                conf["ssl.certificate.location"] = self.ssl_certificate_location
            if self.ssl_key_location:
                conf["ssl.key.location"] = self.ssl_key_location
            if self.ssl_key_password is not None:
                conf["ssl.key.password"] = self.ssl_key_password.get_secret_value()
            conf["ssl.endpoint.identification.algorithm"] = "https" if self.ssl_check_hostname else "none"
        return conf


class ClusterSource(Settings):
    """One cluster to watch: its id and how to reach its API server."""

    cluster: str = Field(pattern=CLUSTER_ID_PATTERN, description="Cluster id carried by every event.")
    kubeconfig: Path | None = Field(
        None, description="kubeconfig file; default $KUBECONFIG or ~/.kube/config."
    )
    context: str | None = Field(None, description="kubeconfig context; default its current-context.")
    in_cluster: bool = Field(False, description="Use the pod's service account instead of a kubeconfig.")


class LeaderElectionSettings(Settings):
    """Lease-based leader election: one writer per cluster instead of active-active replicas.

    Semantics of client-go's leaderelection: the Lease lives in the watched cluster, a
    candidate takes it once its holder has not renewed it for ``lease_duration_seconds``.
    """

    enabled: bool = Field(
        False, description="Watch a cluster only while holding its Lease (off: every replica watches)."
    )
    lease_name: str = Field(
        "kube-herald-producer",
        pattern=r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$",
        description="Name of the coordination.k8s.io/v1 Lease, in each watched cluster.",
    )
    lease_namespace: str = Field(
        "kube-herald",
        pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$",
        description="Namespace of the Lease (the producer's RBAC must allow it there).",
    )
    lease_duration_seconds: int = Field(
        15, ge=1, description="A Lease not renewed this long may be taken: the failover time."
    )
    renew_deadline_seconds: float = Field(
        10.0,
        gt=0,
        description="A leader that could not renew for this long stops and exits; < lease_duration_seconds.",
    )
    retry_period_seconds: float = Field(
        2.0,
        gt=0,
        description="How often the leader renews and a standby tries to acquire; < renew_deadline_seconds.",
    )

    @model_validator(mode="after")
    def _timings_are_ordered(self) -> LeaderElectionSettings:
        """A leader must give up before others may take over, and try more than once before that."""
        if self.renew_deadline_seconds >= self.lease_duration_seconds:
            raise ValueError("renew_deadline_seconds must be less than lease_duration_seconds")
        if self.retry_period_seconds >= self.renew_deadline_seconds:
            raise ValueError("retry_period_seconds must be less than renew_deadline_seconds")
        return self


class ProducerSettings(Settings):
    cluster: str | None = Field(
        None,
        pattern=CLUSTER_ID_PATTERN,
        description="This cluster's id (shorthand for one entry in clusters).",
    )
    clusters: list[ClusterSource] = Field(
        default_factory=list,
        description="Several clusters watched by one process, one kubeconfig context each.",
    )
    producer_id: str = Field(
        default_factory=socket.gethostname, description="This replica's id; default the host name."
    )
    api: Literal["v1", "events.k8s.io/v1"] = Field("v1", description="Which Events API to watch.")
    namespace: str | None = Field(None, description="Watch one namespace only; default all.")
    field_selector: str | None = Field(None, description="e.g. type=Warning")
    label_selector: str | None = Field(None, description="Only Events with these labels, e.g. team=payments.")
    page_size: int = Field(500, ge=1, le=10_000, description="Items per page of the initial list.")
    watch_timeout_seconds: int = Field(300, ge=1, description="Server-side timeout of one watch request.")
    read_timeout_seconds: float = Field(
        90.0, gt=0, description="A watch silent this long (no event, no bookmark) is reconnected."
    )
    backoff_max_seconds: float = Field(30.0, gt=0, description="Cap of the reconnect backoff.")
    unhealthy_after_seconds: float = Field(
        120.0,
        gt=0,
        description="A watch failing (or a watch thread gone) this long fails /healthz, so the "
        "orchestrator restarts the process; /readyz fails at once.",
    )
    max_event_age_seconds: float | None = Field(
        None, gt=0, description="Skip events whose last occurrence is older than this (off by default)."
    )
    checkpoint_interval_seconds: float = Field(1.0, gt=0, description="How often the resume point is saved.")
    metrics_port: int | None = Field(
        None, ge=1, le=65535, description="/metrics, /healthz, /readyz; off if unset."
    )
    linger_ms: int = Field(20, ge=0, le=5000, description="librdkafka linger.ms: batching vs latency.")
    compression: Literal["none", "gzip", "snappy", "lz4", "zstd"] = Field(
        "zstd", description="Compression of the batches written to events.raw."
    )
    leader_election: LeaderElectionSettings = Field(
        LeaderElectionSettings(), description="Optional: one replica at a time watches each cluster."
    )

    @model_validator(mode="after")
    def _names_a_cluster(self) -> ProducerSettings:
        if self.cluster is None and not self.clusters:
            raise ValueError("set producer.cluster (or list producer.clusters)")
        return self

    def sources(self) -> list[ClusterSource]:
        """Every cluster this process watches."""
        if self.clusters:
            return list(self.clusters)
        assert self.cluster is not None
        return [ClusterSource(cluster=self.cluster)]

    @property
    def default_cluster(self) -> str:
        return self.cluster or self.clusters[0].cluster


RULE_FIELDS = Literal[
    "cluster",
    "namespace",
    "kind",
    "name",
    "workload",
    "node",
    "reason",
    "type",
    "message",
    "category",
    "severity",
]


class ClassificationRule(Settings):
    """A user rule applied after the built-in taxonomy; rules apply in order, ``drop`` stops."""

    match: dict[RULE_FIELDS, str] = Field(
        default_factory=dict, description="Fields that must equal these values."
    )
    match_re: dict[RULE_FIELDS, str] = Field(
        default_factory=dict, description="Fields that must match these regular expressions (whole value)."
    )
    severity: Literal["info", "warning", "critical"] | None = Field(
        None, description="Set the occurrence's severity (unset: keep the taxonomy's)."
    )
    category: str | None = Field(
        None, description="Set the occurrence's category (unset: keep the taxonomy's)."
    )
    labels: dict[str, str] = Field(default_factory=dict, description="Extra routing labels.")
    drop: bool = Field(False, description="Open no incident (the occurrence still reaches events.clean).")

    @field_validator("match_re")
    @classmethod
    def _compiles(cls, patterns: dict[str, str]) -> dict[str, str]:
        for name, pattern in patterns.items():
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{name}: not a valid regular expression: {exc}") from None
        return patterns


class InhibitRule(Settings):
    """While a firing incident matches ``source_matchers``, incidents matching ``target_matchers``
    whose ``equal`` labels all have the same non-empty values are marked inhibited (not sent)."""

    source_matchers: list[Matcher] = Field(
        min_length=1, description="A firing incident matching all of these inhibits the targets."
    )
    target_matchers: list[Matcher] = Field(
        min_length=1, description="Incidents matching all of these are inhibited while a source fires."
    )
    equal: list[str] = Field(
        default_factory=list,
        description="Labels that must have the same non-empty value in source and target.",
    )


DEFAULT_INHIBIT_RULES: tuple[InhibitRule, ...] = (
    # A node that is not ready explains the pod incidents on it.
    InhibitRule(
        source_matchers=[Matcher.model_validate("category=node-not-ready")],
        target_matchers=[Matcher.model_validate("kind!=Node")],
        equal=["cluster", "node"],
    ),
    # Pods the node lifecycle controller marks NotReady, whose node is not known yet (no
    # Scheduled or kubelet Event of theirs seen), are explained by any node of the cluster
    # that is not ready.
    InhibitRule(
        source_matchers=[
            Matcher.model_validate("category=node-not-ready"),
            Matcher.model_validate("kind=Node"),
        ],
        target_matchers=[
            Matcher.model_validate("category=node-not-ready"),
            Matcher.model_validate("kind!=Node"),
            Matcher.model_validate('node=""'),
        ],
        equal=["cluster"],
    ),
    # A namespace out of quota explains the other failed creations in it.
    InhibitRule(
        source_matchers=[Matcher.model_validate("category=quota")],
        target_matchers=[Matcher.model_validate("category=failed-create")],
        equal=["cluster", "namespace"],
    ),
)


class ProcessorSettings(Settings):
    app_id: str = Field("herald-processor", description="Faust app id: the consumer group and table prefix.")
    store: str = Field("memory://", description="Table store: memory:// or rocksdb://.")
    data_dir: Path = Field(Path(".run/processor"), description="Where the worker keeps local table state.")
    web_port: int | None = Field(None, ge=1, le=65535, description="Faust web server port; off if unset.")
    metrics_port: int | None = Field(
        None, ge=1, le=65535, description="/metrics, /healthz, /readyz; off if unset."
    )
    dedup_ttl_seconds: float = Field(
        2 * 3600.0,
        gt=0,
        description="How long an occurrence id is remembered (Events live ~1 h).",
    )
    min_severity: Literal["info", "warning", "critical"] = Field(
        "warning", description="Occurrences below this severity reach events.clean but open no incident."
    )
    group_by: list[str] = Field(
        default_factory=lambda: ["cluster", "namespace", "workload", "category"],
        min_length=1,
        description="Labels whose values make an incident.",
    )
    group_wait_seconds: float = Field(30.0, ge=0, description="Wait before the first notification.")
    group_interval_seconds: float = Field(300.0, gt=0, description="At most one update this often.")
    repeat_interval_seconds: float = Field(4 * 3600.0, gt=0, description="Re-send an unchanged incident.")
    resolve_timeout_seconds: float = Field(
        900.0, gt=0, description="Close an incident after this long in silence, as quiet (not recovered)."
    )
    notify_on: list[Literal["new-object", "severity", "new-reason", "recovered-objects", "rate", "count"]] = (
        Field(
            ["new-object", "severity", "new-reason", "recovered-objects", "rate"],
            description="What makes a notified incident news again at group_interval; anything "
            "else waits for repeat_interval. The union of what any route's notify_on wants: count "
            "makes every count bump news.",
        )
    )
    evidence_timeout_seconds: float = Field(
        3600.0,
        gt=0,
        description="Incidents of a category an Event proves recovered (node-not-ready, quota, "
        "scheduling...) close as quiet only after this long without an occurrence: a NotReady node "
        "or a controller retrying every 17 minutes is silent, not over.",
    )
    rate_jump_factor: float = Field(
        5.0, gt=1, description="A rate this many times the rate at the last notification is news (rate)."
    )
    related_window_seconds: float = Field(
        600.0, ge=0, description="An incident starting this soon after a node-level one on its node names it."
    )
    recovery: dict[str, list[str]] = Field(
        default_factory=dict,
        description="More Event reasons that prove a category's incident recovered, e.g. "
        "{volume: [SuccessfulMountVolume]}; added to the built-in table (docs/architecture.md).",
    )
    tick_seconds: float = Field(1.0, gt=0, le=60, description="How often due incidents are looked for.")
    instance_id: str | None = Field(
        default_factory=instance_id_from_env,
        pattern=INSTANCE_ID_PATTERN,
        description="This worker's static group member id (group.instance.id): restarted under it "
        "within session_timeout_seconds, it takes its partitions back without a rebalance. Default "
        "$POD_NAME, else $HOSTNAME (stable for a StatefulSet's pods); `herald processor --instance-id` "
        "overrides; null: a dynamic member.",
    )
    session_timeout_seconds: float = Field(
        15.0,
        ge=10,
        le=90,
        description="A worker not heard from this long (killed, its node lost) has its partitions "
        "moved to the others; a static member stopped by SIGTERM waits this long too.",
    )
    gap_probe_seconds: float = Field(
        10.0,
        gt=0,
        le=600,
        description="How long an input partition may hold undelivered messages, delivering none, "
        "before the worker probes it for a hole the stream skipped.",
    )
    rules: list[ClassificationRule] = Field(default_factory=list, description="User classification rules.")
    inhibit_rules: list[InhibitRule] = Field(
        default_factory=lambda: list(DEFAULT_INHIBIT_RULES),
        description="Inhibition rules; the defaults cover node-not-ready and quota. [] turns it off.",
    )


def _time_zone(name: str) -> str:
    """An IANA zone name, checked now: a typo would otherwise fail every delivery."""
    if not is_time_zone(name):
        raise PydanticCustomError("time_zone", "{problem}", {"problem": time_zone_problem(name)})
    return name


def is_time_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


ZONE_MISTAKES = {
    **dict.fromkeys(
        ("asia/beijing", "asia/peking", "beijing", "peking", "china", "cst", "utc+8", "gmt+8", "+8"),
        "Asia/Shanghai",
    ),
    **dict.fromkeys(("asia/mumbai", "asia/new_delhi", "asia/delhi", "india", "ist"), "Asia/Kolkata"),
    **dict.fromkeys(("asia/osaka", "tokyo", "japan", "jst"), "Asia/Tokyo"),
    "pst": "America/Los_Angeles",
    "europe/frankfurt": "Europe/Berlin",
}
"""Names people write that are no IANA zone, lower-cased (with ``UTC+08:00`` as ``utc+8``) -> the
zone they mean. Asia/Chongqing, Asia/Harbin, PRC and Hongkong are valid, if old, and not here."""


@cache
def _zone_names() -> dict[str, str]:
    """Every available zone, lower-cased -> as spelt."""
    return {zone.lower(): zone for zone in zoneinfo.available_timezones()}


def time_zone_problem(name: str) -> str:
    """What is wrong with ``name``, not a zone: ``unknown time zone 'Asia/Beijing' (did you mean
    Asia/Shanghai?)``, the suggestion from :data:`ZONE_MISTAKES`, else the closest zone's name."""
    key = re.sub(r"^(utc|gmt)?([+-])0?(\d+)(:?00)?$", r"\1\2\3", "".join(name.lower().split()))
    zones = _zone_names()
    meant = ZONE_MISTAKES.get(key) or zones.get(key)
    if meant is None:
        close = difflib.get_close_matches(key, list(zones), n=1, cutoff=0.8)
        meant = zones[close[0]] if close else None
    if meant is None:
        return f"unknown time zone {name!r}: expected an IANA name such as Asia/Shanghai or UTC"
    return f"unknown time zone {name!r} (did you mean {meant}?)"


TimeZoneName = Annotated[str, AfterValidator(_time_zone)]


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


class AnalyticsSettings(Settings):
    """Where ``herald analytics`` writes the clean events: a PostgreSQL database.

    The defaults reach the database ``compose/postgres-local`` runs.
    """

    host: str = Field("127.0.0.1", min_length=1, description="PostgreSQL host name or address.")
    port: int = Field(15432, ge=1, le=65535, description="PostgreSQL port.")
    database: str = Field("herald", min_length=1, description="Database holding the herald_events table.")
    user: str = Field("herald", min_length=1, description="Role to connect as.")
    password: SecretStr | None = Field(None, description="The role's password. Or password_file.")
    sslmode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] = Field(
        "prefer", description="libpq sslmode."
    )
    batch_size: int = Field(500, ge=1, le=50_000, description="Clean events written per transaction.")
    group_id: str | None = Field(
        None, min_length=1, description="Kafka consumer group; default <topic_prefix>analytics.postgres."
    )
    metrics_port: int | None = Field(
        None, ge=1, le=65535, description="/metrics, /healthz, /readyz; off if unset."
    )

    def consumer_group(self, topic_prefix: str) -> str:
        return self.group_id or f"{topic_prefix}analytics.postgres"


class ReceiverEntry(BaseModel):
    """The keys every receiver has; the rest is validated by the receiver's own model."""

    model_config = ConfigDict(frozen=True, extra="allow")

    name: str = Field(
        pattern=r"^[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?$",
        description="Unique; picked by `herald notifier --receiver NAME` and by routes.",
    )
    type: str = Field(min_length=1, description="The receiver type, which decides the other keys.")
    # exclude: every type shares these, so they are not passed on to the type's own model.
    language: Language | None = Field(
        None,
        exclude=True,
        description="Language of this receiver's messages (en, zh); default notifier.language.",
    )
    timezone: TimeZoneName | None = Field(
        None,
        exclude=True,
        description="Time zone of this receiver's times, e.g. Europe/Berlin; default notifier.timezone.",
    )

    def settings(self) -> dict[str, Any]:
        """The keys the receiver type's own model validates: all but the locale every type shares."""
        return self.model_dump()


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


class LoggingSettings(Settings):
    format: Literal["text", "json"] = Field(
        "text", description="json: one JSON object a line, for log pipelines (as --log-format json)."
    )


class HeraldConfig(Settings):
    kafka: KafkaSettings = Field(KafkaSettings(), description="The broker and topics every process uses.")
    logging: LoggingSettings = Field(LoggingSettings(), description="How every process logs.")
    producer: ProducerSettings | None = Field(
        None, description="The clusters `herald producer` watches; needed by the producer only."
    )
    processor: ProcessorSettings = Field(
        ProcessorSettings(), description="`herald processor`: deduplication, classification, incidents."
    )
    notifier: NotifierSettings = Field(
        NotifierSettings(), description="Settings every `herald notifier` shares, whatever its receiver."
    )
    analytics: AnalyticsSettings = Field(
        AnalyticsSettings(), description="`herald analytics`: where the clean events are stored."
    )
    receivers: list[ReceiverEntry] = Field(
        default_factory=list, description="Where incidents are delivered, one notifier process each."
    )
    route: RootRouteSettings | None = Field(
        None,
        description="Which receivers get which incidents. Unset, every receiver gets every "
        "incident, as every kube-eventer sink gets every event.",
    )

    _source: _Source | None = None
    _unset: tuple[ConfigIssue, ...] = ()
    """Unset variables in receivers' settings, standing for placeholders (lenient and check modes)."""
    _problems: tuple[ConfigIssue, ...] = ()
    _unchecked: frozenset[int] = frozenset()

    @property
    def problems(self) -> list[ConfigIssue]:
        """Check mode: everything loading found wrong, in file order (empty in the other modes)."""
        return list(self._problems)

    @property
    def unchecked_receivers(self) -> frozenset[int]:
        """Check mode: indexes of receiver entries whose name or type is wrong (already in
        :attr:`problems`), which cannot be built to check the rest."""
        return self._unchecked

    def unset_secrets(self, name: str) -> list[ConfigIssue]:
        """The unset variables of receiver ``name``'s settings, which placeholders stand for."""
        index, _ = self.receiver(name)
        return [issue for issue in self._unset if issue.path[:2] == ("receivers", index)]

    def require_secrets(self, name: str) -> None:
        """Raise the unset variables of receiver ``name``'s settings: before it delivers."""
        missing = self.unset_secrets(name)
        if missing:
            raise ConfigError(missing)

    @model_validator(mode="after")
    def _receiver_names_unique(self) -> HeraldConfig:
        self.check_receiver_names()
        return self

    def check_receiver_names(self) -> None:
        """A name picks a receiver (``notifier --receiver``, routes): a second entry would be unreachable."""
        first: dict[str, int] = {}
        duplicates: list[InitErrorDetails] = []
        for index, entry in enumerate(self.receivers):
            if not entry.name:  # check mode: an entry whose name is wrong, reported already
                continue
            if entry.name in first:
                duplicates.append(
                    InitErrorDetails(
                        type=PydanticCustomError(
                            "duplicate_receiver",
                            "receivers[{first}] already has this name",
                            {"first": first[entry.name]},
                        ),
                        loc=("receivers", index, "name"),
                        input=entry.name,
                    )
                )
            first.setdefault(entry.name, index)
        if duplicates:
            raise ValidationError.from_exception_data(type(self).__name__, duplicates)

    @model_validator(mode="after")
    def _route_names_known_receivers(self) -> HeraldConfig:
        self.check_route_receivers()
        return self

    def check_route_receivers(self) -> None:
        """Raised as a ValidationError so each unknown name is located at its own key."""
        if self.route is None:
            return
        known = {entry.name for entry in self.receivers if entry.name}
        unknown = [
            InitErrorDetails(
                type=PydanticCustomError(
                    "unknown_receiver",
                    "must name one of the receivers: {known}{hint}",
                    {
                        "known": ", ".join(sorted(known)) or "none configured",
                        "hint": did_you_mean(name, sorted(known)),
                    },
                ),
                loc=path,
                input=name,
            )
            for path, name in self.route.named_receivers(("route",))
            if name not in known
        ]
        if unknown:
            raise ValidationError.from_exception_data(type(self).__name__, unknown)

    def receiver(self, name: str) -> tuple[int, ReceiverEntry]:
        for index, entry in enumerate(self.receivers):
            if entry.name == name:
                return index, entry
        known = ", ".join(r.name for r in self.receivers)
        raise self.error_at(
            ("receivers",),
            f"no receiver named {name!r} (" + (f"configured: {known})" if known else "none configured)"),
        )

    def locale(self, name: str) -> tuple[Language, str]:
        """The named receiver's language and time zone: its own, else ``notifier``'s."""
        _, entry = self.receiver(name)
        return entry.language or self.notifier.language, entry.timezone or self.notifier.timezone

    def validate_section(self, path: Sequence[str | int], model: type[S], data: Mapping[str, Any]) -> S:
        """Validate one section with a stage's own model, locating errors in this file.

        ``<name>_file`` keys of the model's secret settings are read here, since only the
        stage's model knows which of a receiver's keys are secrets.
        """
        source = self._source or _Source("<defaults>")
        return _validate(model, dict(data), source, tuple(path), deferred=self._unset)

    @property
    def source_file(self) -> str:
        return self._source.file if self._source else "<defaults>"

    @property
    def base_dir(self) -> Path:
        """What relative paths in the file are relative to: the file's directory."""
        return Path(self._source.file).parent if self._source else Path()

    def issue_at(self, path: tuple[str | int, ...], message: str) -> ConfigIssue:
        """A problem found after validation (a template that fails, a ConfigMap that cannot be
        read), located at ``path``."""
        line = self._source.line_of(path) if self._source else None
        return ConfigIssue(self.source_file, path, line, message)

    def error_at(self, path: tuple[str | int, ...], message: str) -> ConfigError:
        return ConfigError([self.issue_at(path, message)])


@dataclass(frozen=True)
class ConfigIssue:
    file: str
    path: tuple[str | int, ...]
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {_dotted(self.path) or '(top level)'}: {self.message}"


class ConfigError(Exception):
    """One or more problems in the configuration, each located by file, line and key path."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        super().__init__("\n".join(str(issue) for issue in issues))
        self.issues = issues


@dataclass
class _Source:
    file: str
    lines: dict[tuple[str | int, ...], int] = field(default_factory=dict)

    def line_of(self, path: tuple[str | int, ...]) -> int | None:
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return None


def load_config(
    path: str | Path | None = None, *, env: Mapping[str, str] | None = None, mode: LoadMode = "strict"
) -> HeraldConfig:
    """Load ``path`` (or $HERALD_CONFIG; or defaults), interpolate ``${ENV}`` and validate;
    ``mode`` says what a problem does (:data:`LoadMode`)."""
    environ = os.environ if env is None else env
    chosen = path or environ.get(ENV_CONFIG_PATH)
    unset: list[ConfigIssue] = []
    if chosen:
        source, data = _read(Path(chosen), environ, unset, placeholders=mode != "strict")
    else:
        source, data = _Source("<defaults>"), {}
    _apply_env_overrides(data, environ)
    deferred = tuple(issue for issue in unset if mode != "strict" and issue.path[:1] == ("receivers",))
    if mode == "check":
        config, problems, unchecked = _salvage(data, source, unset)
        config._problems, config._unchecked = tuple(problems), unchecked
    else:
        earlier = [issue for issue in unset if issue not in deferred]
        config = _validate(HeraldConfig, data, source, (), earlier, deferred=deferred)
    config._source, config._unset = source, deferred
    return config


def _validate(
    model: type[S],
    data: dict[str, Any],
    source: _Source,
    at: tuple[str | int, ...],
    earlier: Sequence[ConfigIssue] = (),
    *,
    deferred: Sequence[ConfigIssue] = (),
) -> S:
    """Read the model's ``*_file`` secrets, then validate; every problem found is reported at once.

    ``earlier`` problems (unset environment variables) are reported with the rest, and a key
    they already explain is not reported a second time for the empty value that stood in for it.
    ``deferred`` ones (unset variables standing for placeholders) are reported only in place of
    an error about their key.
    """
    files = _SecretFiles(source)
    data = files.resolve(model, data, at)
    explained = {issue.path for issue in [*earlier, *deferred]}
    try:
        validated = model.model_validate(data)
    except ValidationError as exc:
        every = _issues(exc, source, at, files, model)
        found = [issue for issue in every if issue.path not in explained]
        hit = {issue.path for issue in every}
        stand_ins = [issue for issue in deferred if issue.path in hit]
        raise ConfigError(_in_file_order([*earlier, *stand_ins, *files.issues, *found])) from None
    if earlier or files.issues:
        raise ConfigError(_in_file_order([*earlier, *files.issues]))
    return validated


CROSS_CHECKS = frozenset({"duplicate_receiver", "unknown_receiver"})
"""Errors of HeraldConfig's own validators, which run only once every section is valid."""


def _salvage(
    data: dict[str, Any], source: _Source, unset: list[ConfigIssue]
) -> tuple[HeraldConfig, list[ConfigIssue], frozenset[int]]:
    """Check mode: every problem of the file, and a config of the sections that have none.

    A section with an error is left at its defaults, and a receiver entry whose name or type
    is wrong is kept but marked unchecked, so the other entries keep their indexes; then the
    checks across sections (unique receiver names, routes naming receivers) run on what is left,
    which pydantic would skip after any error.
    """
    files = _SecretFiles(source)
    data = files.resolve(HeraldConfig, data, ())
    explained = {issue.path for issue in unset}
    problems = [*unset, *files.issues]
    try:
        return HeraldConfig.model_validate(data), _in_file_order(problems), frozenset()
    except ValidationError as exc:
        errors = [error for error in exc.errors(include_url=False) if error["type"] not in CROSS_CHECKS]
        problems += [
            issue for issue in _issues(exc, source, (), files, HeraldConfig) if issue.path not in explained
        ]
    broken = {error["loc"][0] for error in errors if error["loc"]}
    fields: dict[str, Any] = {}
    unchecked: set[int] = set()
    for name, info in HeraldConfig.model_fields.items():
        key = info.alias or name
        if key not in data or (key in broken and key != "receivers"):
            continue
        if key == "receivers" and isinstance(data[key], list):
            fields[name] = _entries(data[key], errors, unchecked)
            continue
        try:
            fields[name] = TypeAdapter[Any](info.annotation or Any).validate_python(data[key])
        except ValidationError:
            continue
    config = HeraldConfig.model_construct(**fields)
    for check in (config.check_receiver_names, config.check_route_receivers):
        try:
            check()
        except ValidationError as exc:
            problems += _issues(exc, source, (), files, HeraldConfig)
    unique = list({str(issue): issue for issue in problems}.values())
    return config, _in_file_order(unique), frozenset(unchecked)


def _entries(items: list[Any], errors: list[Any], unchecked: set[int]) -> list[ReceiverEntry]:
    """The receiver entries, each at its index: one with errors in the keys every receiver has
    drops a wrong ``language`` or ``timezone``, and is kept unchecked if its name or type is wrong."""
    entries = []
    for index, item in enumerate(items):
        at = [error["loc"][2:3] for error in errors if error["loc"][:2] == ("receivers", index)]
        wrong = {loc[0] if loc else None for loc in at}
        entry = dict(item) if isinstance(item, dict) else {}
        for key in ("language", "timezone"):
            if key in wrong:
                entry.pop(key, None)
        if not isinstance(item, dict) or wrong & {None, "name", "type"}:
            unchecked.add(index)
            name = entry.get("name") if "name" not in wrong else None
            # An empty name is no receiver's: routes naming the wrong one are reported too.
            entries.append(ReceiverEntry.model_construct(name=name if isinstance(name, str) else "", type=""))
        else:
            entries.append(ReceiverEntry.model_validate(entry))
    return entries


def _in_file_order(issues: list[ConfigIssue]) -> list[ConfigIssue]:
    """Top to bottom, as the user reads the file; issues without a line last."""
    return sorted(issues, key=lambda issue: (issue.line is None, issue.line or 0))


def did_you_mean(word: str, choices: Sequence[str]) -> str:
    """`` (did you mean X?)`` for the choice closest to a misspelt ``word``, else ``""``."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def _known_keys(model: type[BaseModel] | None, loc: Sequence[str | int]) -> list[str]:
    """The keys the section at ``loc`` (a key path below ``model``) accepts, ``*_file`` forms included."""
    for part in loc:
        if model is None:
            return []
        if isinstance(part, int):
            continue
        info = next((f for n, f in model.model_fields.items() if part in (n, f.alias)), None)
        model = _nested_model(info.annotation) if info is not None else None
    if model is None:
        return []
    keys = []
    for name, info in model.model_fields.items():
        key = info.alias or name
        keys.append(key)
        if _is_secret(info.annotation):
            keys.append(f"{key}{SECRET_FILE_SUFFIX}")
    return keys


@dataclass
class _SecretFiles:
    """Replaces ``<name>_file: PATH`` by ``<name>: <content of PATH>`` for each secret setting.

    Only settings typed ``SecretStr`` qualify, so a key that merely ends in ``_file`` (a
    receiver's ``ca_file``) keeps its meaning. A relative PATH is relative to the config
    file's directory. Problems name the ``_file`` key and the path, never the content;
    errors about a secret read from a file are located at the ``_file`` key.
    """

    source: _Source
    issues: list[ConfigIssue] = field(default_factory=list)
    renamed: dict[tuple[str | int, ...], tuple[str | int, ...]] = field(default_factory=dict)
    """The path of each setting read from a file -> the path of the ``_file`` key naming it."""
    failed: set[tuple[str | int, ...]] = field(default_factory=set)
    """Settings whose file could not be read: their own errors would only repeat that."""

    def resolve(self, model: type[BaseModel], data: Any, path: tuple[str | int, ...]) -> Any:
        if not isinstance(data, dict):
            return data
        out = dict(data)
        keys = {info.alias or name for name, info in model.model_fields.items()}
        for name, info in model.model_fields.items():
            key = info.alias or name
            file_key = f"{key}{SECRET_FILE_SUFFIX}"
            if file_key in out and file_key not in keys and _is_secret(info.annotation):
                self._read_into(out, key=key, file_key=file_key, path=path)
            nested = _nested_model(info.annotation)
            if nested is None or key not in out:
                continue
            value = out[key]
            if isinstance(value, list):
                out[key] = [self.resolve(nested, item, (*path, key, i)) for i, item in enumerate(value)]
            else:
                out[key] = self.resolve(nested, value, (*path, key))
        return out

    def _read_into(
        self, out: dict[str, Any], *, key: str, file_key: str, path: tuple[str | int, ...]
    ) -> None:
        at, file_at = (*path, key), (*path, file_key)
        named = out.pop(file_key)
        if key in out:
            self._problem(file_at, f"set either {key} or {file_key}, not both")
            return
        self.failed.add(at)
        if not isinstance(named, str) or not named.strip():
            self._problem(file_at, "expected the path of a file holding the secret")
            return
        secret_path = Path(named)
        if not secret_path.is_absolute() and self.source.file != "<defaults>":
            secret_path = Path(self.source.file).parent / secret_path
        try:
            text = secret_path.read_bytes().decode("utf-8").rstrip("\r\n")
        except OSError as exc:
            self._problem(file_at, f"cannot read {secret_path}: {exc.strerror or type(exc).__name__}")
            return
        except UnicodeDecodeError:
            self._problem(file_at, f"{secret_path} is not UTF-8 text")
            return
        if not text:
            self._problem(file_at, f"{secret_path} is empty")
            return
        self.failed.discard(at)
        self.renamed[at] = file_at
        out[key] = text

    def _problem(self, path: tuple[str | int, ...], message: str) -> None:
        self.issues.append(ConfigIssue(self.source.file, path, self.source.line_of(path), message))

    def origin(self, path: tuple[str | int, ...]) -> tuple[str | int, ...] | None:
        """The ``_file`` key path standing for ``path`` (or a setting holding it), if any."""
        for at, file_at in self.renamed.items():
            if path[: len(at)] == at:
                return (*file_at, *path[len(at) :])
        return None

    def masks(self, path: tuple[str | int, ...]) -> bool:
        """Errors about a setting whose file failed, or about the section holding it (``username``
        without ``password``), would only repeat that failure."""
        return any(path[: len(at)] == at or at[: len(path)] == path for at in self.failed)


def _is_secret(annotation: Any) -> bool:
    """``SecretStr`` or ``SecretStr | None``: a setting one file can hold."""
    if annotation is SecretStr:
        return True
    return get_origin(annotation) in (Union, types.UnionType) and SecretStr in get_args(annotation)


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    """The section model inside ``Model``, ``Model | None`` or ``list[Model]``, if any."""
    origin = get_origin(annotation)
    if origin is None:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            return annotation
        return None
    if origin in (Union, types.UnionType, list):
        for arg in get_args(annotation):
            found = _nested_model(arg)
            if found is not None:
                return found
    return None


def _read(
    path: Path, environ: Mapping[str, str], unset: list[ConfigIssue], *, placeholders: bool = False
) -> tuple[_Source, dict[str, Any]]:
    """Parse and interpolate ``path``; unset variables are collected in ``unset``, not raised,
    so they are reported together with every other mistake in the file. With ``placeholders``,
    one inside ``receivers`` reads :data:`PLACEHOLDER_URL` or :data:`PLACEHOLDER`, not empty."""
    source = _Source(str(path))
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([ConfigIssue(str(path), (), None, f"cannot read: {exc.strerror}")]) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise ConfigError([ConfigIssue(str(path), (), line, _yaml_problem(exc, text, line))]) from None
    if data is None:
        return source, {}
    if not isinstance(data, dict):
        raise ConfigError([ConfigIssue(str(path), (), 1, "expected a mapping at the top level")])
    _index_lines(node, (), source.lines)
    return source, _interpolate(data, (), environ, source, unset, placeholders=placeholders)


def _yaml_problem(exc: yaml.YAMLError, text: str, line: int | None) -> str:
    """PyYAML's problem in one line, with what the offending line holds (the file is known)."""
    problem = getattr(exc, "problem", None)
    if not problem:
        return f"not valid YAML: {exc}"
    message = f"not valid YAML: {problem}"
    context, context_mark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    if context and context_mark is not None and context_mark.line + 1 != line:
        message += f" ({context} at line {context_mark.line + 1})"
    elif context:
        message += f" ({context})"
    lines = text.splitlines()
    if line and line <= len(lines):
        message += f": {lines[line - 1].strip()!r}"
    return message


def _index_lines(
    node: yaml.Node | None, path: tuple[str | int, ...], lines: dict[tuple[str | int, ...], int]
) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            child = (*path, str(key_node.value))
            lines[child] = key_node.start_mark.line + 1
            _index_lines(value_node, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = (*path, index)
            lines[child] = item.start_mark.line + 1
            _index_lines(item, child, lines)


def _interpolate(
    value: Any,
    path: tuple[str | int, ...],
    environ: Mapping[str, str],
    source: _Source,
    missing: list[ConfigIssue],
    *,
    placeholders: bool = False,
) -> Any:
    if isinstance(value, dict):
        return {
            k: _interpolate(v, (*path, str(k)), environ, source, missing, placeholders=placeholders)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [
            _interpolate(v, (*path, i), environ, source, missing, placeholders=placeholders)
            for i, v in enumerate(value)
        ]
    if isinstance(value, str):
        stand_in = placeholders and path[:1] == ("receivers",)

        def substitute(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in environ:
                return environ[name]
            if default is not None:
                return default
            missing.append(
                ConfigIssue(
                    source.file, path, source.line_of(path), f"environment variable {name} is not set"
                )
            )
            if not stand_in:
                return ""
            return PLACEHOLDER_URL if match.group(0) == value.strip() else PLACEHOLDER

        return _ENV_REF.sub(substitute, value)
    return value


def _apply_env_overrides(data: dict[str, Any], environ: Mapping[str, str]) -> None:
    """Let the environment point every process at one broker and one prefix (tests, CI, compose)."""
    overrides = {ENV_BOOTSTRAP: "bootstrap_servers", ENV_TOPIC_PREFIX: "topic_prefix"}
    for variable, key in overrides.items():
        if variable in environ:
            kafka = data.setdefault("kafka", {})
            if isinstance(kafka, dict):
                kafka[key] = environ[variable]


def _issues(
    exc: ValidationError,
    source: _Source | None,
    prefix: tuple[str | int, ...],
    files: _SecretFiles | None = None,
    model: type[BaseModel] | None = None,
) -> list[ConfigIssue]:
    file = source.file if source else "<defaults>"
    issues = []
    for error in exc.errors(include_url=False):
        path = (*prefix, *error["loc"])
        message = error["msg"]
        from_file = files.origin(path) if files else None
        if files and files.masks(path):
            continue
        if from_file is not None:
            path = from_file
            if error["type"] != "kafka_security":  # about the setting, not what the file holds
                message = f"{message} (checked the content of the file)"
        elif error["type"] == "extra_forbidden":
            key = str(error["loc"][-1]) if error["loc"] else ""
            hint = did_you_mean(key, _known_keys(model, error["loc"][:-1]))
            message = f"unknown key{hint or ' (check its spelling)'}"
        elif error["type"] in ("float_parsing", "int_parsing") and _UNIT.fullmatch(str(error.get("input"))):
            number, unit = _UNIT.fullmatch(str(error["input"])).groups()  # type: ignore[union-attr]
            message = f"expected a number without a unit (got {error['input']!r}"
            if str(path[-1]).endswith("_seconds"):
                seconds = float(number) * _SECONDS[unit]
                message += f": write {seconds:g}, in seconds"
            message += ")"
        elif error["type"] == "missing":
            message = "required key is missing"
        elif error["type"] == "time_zone":
            pass  # the message names the zone and, if it can, the one meant
        elif "input" in error and not isinstance(error["input"], dict) and not _looks_secret(path):
            # A dict is a whole section, whose secrets the key path cannot tell apart.
            message = f"{message} (got {_brief(error['input'])})"
        line = source.line_of(path) if source else None
        issues.append(ConfigIssue(file, path, line, message))
    return issues


_UNIT = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*")
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def _looks_secret(path: tuple[str | int, ...]) -> bool:
    leaf = str(path[-1]).lower() if path else ""
    return any(word in leaf for word in ("secret", "password", "token", "key", "url", "header"))


def _brief(value: object, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _dotted(path: Sequence[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
