"""The processor's settings: classification rules, inhibit rules and their defaults."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from runtime.config.base import INSTANCE_ID_PATTERN, Settings, instance_id_from_env
from schemas.matchers import Matcher

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
