"""The Faust app: two agents and two timers wiring the stages to the topics.

1. ``classify`` consumes the raw topic (keyed by object, so one occurrence id always lands in
   one partition) through :class:`~processors.stages.classify.Classifier`: quarantine what
   does not parse, drop exact repeats, publish clean events, repartition occurrences by
   incident fingerprint onto ``events.grouped``.
2. ``aggregate`` consumes ``events.grouped`` through
   :class:`~processors.stages.aggregate.Aggregator`, which keeps each incident's state in the
   ``incidents`` table and emits its updates to ``alerts``.

A timer nominates due incidents (:mod:`processors.stages.ticks`), another probes quiet
partitions for holes (:mod:`processors.delivery.gaps`). Processing is at-least-once, made
exact where it matters: a killed worker replays what it had not committed, and aggregation
recognises each replayed occurrence by its raw offset. (Faust's exactly-once mode was tried:
it is exact too, but its per-partition transactional producers fall behind under a storm
until a transaction times out and is fenced.)

Everything Faust-specific beyond its public decorators is in :mod:`processors.faustkit`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import faust

from processors.core.incident import GROUP_LABELS, Timing
from processors.core.inhibit import Inhibitor
from processors.core.recovery import Evidence
from processors.core.rules import compile_rules
from processors.delivery.gaps import PROBE_HEADER, OffsetGaps, probe_stalled
from processors.delivery.outputs import Outputs, grouped_budget
from processors.faustkit import diagnostics, guard
from processors.faustkit.app import new_app, table
from processors.faustkit.producer import RawProducer, too_large
from processors.faustkit.stream import contiguous
from processors.faustkit.transport import track_gaps
from processors.metrics import GAP_PROBES
from processors.stages import aggregate, classify
from processors.stages.inhibitors import inhibitor_feed
from processors.stages.quarantine import Quarantine
from processors.stages.ticks import Ticks
from runtime.config import HeraldConfig
from runtime.kafka import topic_message_limit
from schemas import Severity

CLASSIFY_BATCH = 500
"""Raw messages classified together; their occurrences travel to aggregation per incident."""
CLASSIFY_BATCH_SECONDS = 0.05
"""How long a batch waits to fill: the most latency batching adds."""
AGGREGATE_BATCH = 500
"""Grouped messages aggregated together: one table read and write per incident per batch."""
AGGREGATE_BATCH_SECONDS = 0.05


@dataclass(frozen=True, slots=True)
class Stages:
    classifier: classify.Classifier
    aggregator: aggregate.Aggregator
    ticks: Ticks
    outputs: Outputs
    raw_gaps: OffsetGaps
    grouped_gaps: OffsetGaps


def create_app(config: HeraldConfig) -> faust.App:
    guard.check()
    app = new_app(config)
    stages = _stages(app, config)
    _agents(app, config, stages)
    _timers(app, config, stages)
    _inhibitor_feed(app, config, stages.aggregator)
    return app


def _stages(app: faust.App, config: HeraldConfig) -> Stages:
    kafka, settings, topics = config.kafka, config.processor, config.kafka.topics
    quarantine: Quarantine  # publishes through the outputs whose refusals it takes: bound late
    refused = lambda cause, error: quarantine.refused(cause, error)  # noqa: E731, PLW0108
    outputs = Outputs(RawProducer(app).send, refused, too_large=too_large)
    quarantine = Quarantine(outputs.publish, topics.invalid)
    classifier: classify.Classifier
    aggregator: aggregate.Aggregator

    async def reload_seen() -> None:
        classifier.seen.reload()

    async def reload_bindings() -> None:
        classifier.bindings.reload()

    async def reindex_incidents() -> None:
        aggregator.reindex()

    classifier = classify.Classifier(
        seen=table(app, "seen", partitions=kafka.partitions, on_recover=reload_seen),
        bindings=table(app, "bindings", partitions=kafka.partitions, on_recover=reload_bindings),
        publish=outputs.publish,
        quarantine=quarantine,
        policy=_classify_policy(config),
        clean_topic=topics.clean,
        grouped_topic=topics.grouped,
        grouped_budget=_grouped_budget(app, config),
    )
    aggregator = aggregate.Aggregator(
        incidents=table(app, "incidents", partitions=kafka.partitions, on_recover=reindex_incidents),
        publish=outputs.publish,
        quarantine=quarantine,
        inhibitor=Inhibitor(settings.inhibit_rules, related_window=settings.related_window_seconds),
        policy=_aggregate_policy(config),
        alerts_topic=topics.alerts,
        inhibitors_topic=topics.inhibitors,
    )
    ticks = Ticks(
        incidents=aggregator.incidents,
        due=aggregator.due,
        publish=outputs.publish,
        inhibitor=aggregator.inhibitor,
        timing=aggregator.policy.timing,
        grouped_topic=topics.grouped,
    )
    return Stages(
        classifier,
        aggregator,
        ticks,
        outputs,
        OffsetGaps(kafka, topics.raw),
        OffsetGaps(kafka, topics.grouped),
    )


def _timing(config: HeraldConfig) -> Timing:
    settings = config.processor
    return Timing(
        group_wait=settings.group_wait_seconds,
        group_interval=settings.group_interval_seconds,
        repeat_interval=settings.repeat_interval_seconds,
        resolve_timeout=settings.resolve_timeout_seconds,
        evidence_timeout=settings.evidence_timeout_seconds,
        news=frozenset(settings.notify_on),
        rate_jump_factor=settings.rate_jump_factor,
    )


def _classify_policy(config: HeraldConfig) -> classify.Policy:
    settings = config.processor
    return classify.Policy(
        rules=compile_rules(settings.rules),
        evidence=Evidence(settings.recovery),
        group_by=tuple(settings.group_by) or GROUP_LABELS,
        min_rank=Severity(settings.min_severity).rank,
        dedup_ttl_seconds=settings.dedup_ttl_seconds,
    )


def _aggregate_policy(config: HeraldConfig) -> aggregate.Policy:
    settings = config.processor
    return aggregate.Policy(
        timing=_timing(config),
        evidence=Evidence(settings.recovery),
        group_by=tuple(settings.group_by) or GROUP_LABELS,
        related_window=settings.related_window_seconds,
    )


def _grouped_budget(app: faust.App, config: HeraldConfig) -> int:
    """What one grouped message may hold, from what its topic takes as the broker says, not assumed."""
    grouped = config.kafka.topics.grouped
    limit = min(topic_message_limit(config.kafka, [grouped]), app.conf.producer_max_request_size)
    return grouped_budget(limit)


def _agents(app: faust.App, config: HeraldConfig, stages: Stages) -> None:
    topics = config.kafka.topics
    raw = app.topic(topics.raw, value_serializer="raw", key_serializer="raw")
    grouped = app.topic(topics.grouped, value_serializer="raw", key_serializer="raw")

    @app.agent(raw, name="classify")
    async def classify_occurrences(stream: Any) -> None:
        batches = contiguous(stream, stages.raw_gaps, size=CLASSIFY_BATCH, within=CLASSIFY_BATCH_SECONDS)
        async for records in batches:
            await stages.classifier.classify(records)

    @app.agent(grouped, name="aggregate")
    async def aggregate_incidents(stream: Any) -> None:
        batches = contiguous(
            stream, stages.grouped_gaps, size=AGGREGATE_BATCH, within=AGGREGATE_BATCH_SECONDS
        )
        async for records in batches:
            await stages.aggregator.aggregate(records)

    async def forget_positions(*_args: Any, **_kwargs: Any) -> None:
        stages.raw_gaps.reset()
        stages.grouped_gaps.reset()

    app.on_partitions_revoked.connect(forget_positions)
    track_gaps(app, {gaps.topic: gaps for gaps in (stages.raw_gaps, stages.grouped_gaps)})


def _timers(app: faust.App, config: HeraldConfig, stages: Stages) -> None:
    settings = config.processor
    trackers = {gaps.topic: gaps for gaps in (stages.raw_gaps, stages.grouped_gaps)}

    async def send_probe(topic: str, partition: int) -> None:
        await stages.outputs.publish(topic, None, b"", partition=partition, headers={PROBE_HEADER: b"1"})
        GAP_PROBES.labels(topic).inc()

    @app.timer(interval=settings.gap_probe_seconds / 2)  # type: ignore[untyped-decorator]
    async def probe_stalled_partitions() -> None:
        if not app.rebalancing:  # recovery keeps partitions paused: quiet is expected then
            await probe_stalled(app.consumer, trackers, settings.gap_probe_seconds, send_probe)

    @app.timer(interval=settings.tick_seconds)  # type: ignore[untyped-decorator]
    async def nominate_due_incidents() -> None:
        await stages.ticks.nominate(rebalancing=app.rebalancing)

    @app.task  # type: ignore[untyped-decorator]
    async def explain_on_sigusr1() -> None:
        diagnostics.install(app)


def _inhibitor_feed(app: faust.App, config: HeraldConfig, aggregator: aggregate.Aggregator) -> None:
    """Every worker's view of the firing node-level incidents, read from the inhibitors topic."""
    reader = inhibitor_feed(config.kafka, aggregator.inhibitor)

    @app.task  # type: ignore[untyped-decorator]
    async def start_inhibitor_feed() -> None:
        reader.start()

    async def stop_inhibitor_feed(_app: Any, /, *_args: Any, signal: Any, **_kwargs: Any) -> None:
        reader.stop()

    app.on_before_shutdown.connect(stop_inhibitor_feed)
