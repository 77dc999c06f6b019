"""The Faust app: the streaming glue around :mod:`processors.pipeline` and :mod:`processors.aggregate`.

Two agents, both stateful through changelog-backed tables:

1. ``classify`` consumes the raw topic (keyed by object, so one occurrence id always
   lands in one partition), quarantines what does not parse, drops exact repeats (the
   ``seen`` table), publishes clean events, and repartitions occurrences by incident
   fingerprint onto ``events.grouped``.
2. ``aggregate`` consumes ``events.grouped`` and keeps each incident's state in the
   ``incidents`` table, emitting updates to ``alerts`` when the timing rules say so.

Processing is at-least-once, made exact where it matters: a killed worker replays what it
had not committed, and aggregation recognises each replayed occurrence by its raw offset.
(Faust's exactly-once mode was tried: it is exact too, but its per-partition transactional
producers fall behind under a storm until a transaction times out and is fenced.)

A timer nominates due incidents by sending a tick through ``events.grouped``: Faust only
lets state change inside stream iteration, and that is also what keeps every change of an
incident ordered and recorded.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import faust
import faust.streams as faust_streams
import orjson

from processors import diagnostics
from processors.aggregate import (
    GROUP_LABELS,
    IncidentState,
    Timing,
    fingerprint,
    is_due,
    labels_of,
    observe,
    recover,
    tick,
)
from processors.credentials import broker_credentials
from processors.due import DueIndex
from processors.expiry import ExpiryQueue
from processors.gaps import PROBE_HEADER, OffsetGaps, Record, is_probe, probe_stalled, rewinding_consumer
from processors.inhibit import Inhibitor, inhibitor_feed
from processors.metrics import (
    CLEAN_PUBLISHED,
    DUPLICATES,
    GAP_PROBES,
    INCIDENT_UPDATES,
    INHIBITED,
    LATENCY,
    QUARANTINED,
    RAW_CONSUMED,
    READ_BACK,
    REDELIVERED,
    SEEN_EXPIRED,
)
from processors.outputs import (
    OCCURRENCE_OVERHEAD,
    OUTPUT_TOO_LARGE,
    Cause,
    Outputs,
    grouped_budget,
    runs,
)
from processors.pipeline import Processed, validate_and_classify
from processors.recovery import NODE_LEVEL_CATEGORIES, Evidence, is_node_outage_echo, scheduled_node
from processors.rules import apply_rules, compile_rules
from runtime.config import HeraldConfig
from runtime.kafka import topic_message_limit
from schemas import (
    CleanEvent,
    GroupedOccurrence,
    GroupInput,
    IncidentStatus,
    QuarantineRecord,
    RelatedIncident,
    SchemaError,
    Severity,
    decode_group_input,
    encode,
)

log = logging.getLogger(__name__)

CLASSIFY_BATCH = 500
"""Raw messages classified together; their occurrences travel to aggregation per incident."""
CLASSIFY_BATCH_SECONDS = 0.01
"""How long a batch waits to fill: the most latency batching adds."""
ROCKSDB_OPTIONS: dict[str, int] = {
    "write_buffer_size": 4 * 2**20,
    "max_write_buffer_number": 2,
    "block_cache_size": 8 * 2**20,
    "block_cache_compressed_size": 2 * 2**20,
}
"""Per table partition (each is its own RocksDB). Faust's defaults, 3 write buffers of 64 MB and
a 2 GB block cache per partition, took a worker past 700 MB at 365,000 seen ids; the dedup
table is written once per occurrence and read for keys that are mostly absent (the bloom
filters answer those), so small buffers cost little."""
Expire = Callable[[int, int], None]
"""(partition, current time bucket) -> forget what that partition has not written lately."""
BINDING_BUCKET_SECONDS = 12 * 3600.0
"""A pod's node is remembered for one to two days after its last Event that named it."""
OCCURRENCES_PER_MESSAGE = 100
"""Most occurrences in one grouped message, however small: a bounded step of aggregation.
Their size is bounded too, by what the grouped topic takes (see processors.outputs)."""


@dataclass(frozen=True, slots=True)
class Routed:
    """A classified occurrence on its way to aggregation."""

    key: bytes
    """Its incident's fingerprint: the grouped topic's key."""
    occurrence: GroupedOccurrence
    size: int
    """Bytes it takes in a grouped message (at most)."""
    cause: Cause


@contextmanager
def current(event: Any) -> Iterator[None]:
    """Make ``event`` Faust's current event while a batch is worked through.

    A table write goes to the changelog partition of the event being processed (tables are
    co-partitioned with their stream), and Faust finds it in a context variable that
    ``take_events`` leaves unset. The variable is private to faust.streams; this is the
    one place that knows it.
    """
    token = faust_streams._current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        faust_streams._current_event.reset(token)


def seen_key_of(occurrence_id: str) -> bytes:
    """The dedup table's key: 16 bytes whatever the id's length (cluster, uid, resourceVersion),
    which is what keeps a million ids in memory (the expiry queue) and on disk small."""
    return hashlib.blake2b(occurrence_id.encode(), digest_size=16).digest()


def faust_broker_url(bootstrap_servers: str) -> str:
    return ";".join(f"kafka://{server.strip()}" for server in bootstrap_servers.split(",") if server.strip())


def create_app(config: HeraldConfig) -> faust.App:  # noqa: PLR0915 (agents close over topics and tables)
    kafka, settings = config.kafka, config.processor
    topics = kafka.topics
    timing = Timing(
        group_wait=settings.group_wait_seconds,
        group_interval=settings.group_interval_seconds,
        repeat_interval=settings.repeat_interval_seconds,
        resolve_timeout=settings.resolve_timeout_seconds,
        evidence_timeout=settings.evidence_timeout_seconds,
        news=frozenset(settings.notify_on),
        rate_jump_factor=settings.rate_jump_factor,
    )
    evidence = Evidence(settings.recovery)
    group_by = tuple(settings.group_by) or GROUP_LABELS
    min_rank = Severity(settings.min_severity).rank
    rules = compile_rules(settings.rules)
    app = faust.App(
        f"{kafka.topic_prefix}{settings.app_id}",
        broker=faust_broker_url(kafka.bootstrap_servers),
        broker_credentials=broker_credentials(kafka),
        store=settings.store,
        datadir=str(settings.data_dir),
        topic_partitions=kafka.partitions,
        topic_replication_factor=kafka.replication_factor,
        topic_allow_declare=True,
        producer_acks=-1,
        # Fuller batches, fewer produce requests: 50 ms instead of 10 took the bench worker
        # from about 2,900 to 3,300 events/s. Alerts wait out group_wait (seconds) anyway.
        producer_linger=0.05,
        producer_max_batch_size=1_000_000,
        processing_guarantee="at_least_once",  # exactness comes from the offsets below
        consumer_auto_offset_reset="earliest",
        # Each worker keeps a standby copy of another's tables, so a survivor takes over a dead
        # worker's partitions without restoring them first. (Standbys were off while a taken-over
        # partition could go unconsumed; processors.gaps closes that.)
        table_standby_replicas=1,
        # A static member (a StatefulSet pod's name): a worker restarted under its id within the
        # session timeout takes its partitions back without a rebalance; one not back by then
        # has them moved to the survivors. (aiokafka never leaves the group for a static member,
        # so a worker stopped by SIGTERM also holds its partitions until then.)
        consumer_group_instance_id=settings.instance_id,
        broker_session_timeout=settings.session_timeout_seconds,
        broker_heartbeat_interval=3.0,
        web_enabled=settings.web_port is not None,
        web_port=settings.web_port or 6066,
        web_host="127.0.0.1",
        key_serializer="raw",
        value_serializer="raw",
    )
    raw = app.topic(topics.raw, value_serializer="raw", key_serializer="raw")
    grouped = app.topic(topics.grouped, value_serializer="raw", key_serializer="raw")
    # What one grouped message may hold, from what its topic takes as the broker says, not assumed.
    grouped_limit = min(topic_message_limit(kafka, [topics.grouped]), app.conf.producer_max_request_size)
    budget = grouped_budget(grouped_limit)
    log.info("grouped messages take up to %d bytes of occurrences (%s)", budget, topics.grouped)
    window = settings.related_window_seconds
    inhibitor = Inhibitor(settings.inhibit_rules, related_window=window)
    inhibitors_reader = inhibitor_feed(kafka, inhibitor)

    def table(name: str, key_type: type) -> Any:
        """A changelog-backed table of bytes, co-partitioned with the stream that writes it."""
        options = dict(ROCKSDB_OPTIONS)  # each its own: Faust pops keys from the dict it is given
        return app.Table(
            name,
            default=None,
            partitions=kafka.partitions,
            key_type=key_type,
            value_type=bytes,
            options=options,
        )

    # digest of an occurrence id -> the time bucket it was last seen in. An id seen in this bucket
    # or the one before is a repeat. Faust's windowed tables anchor their windows at the first
    # timestamp they see (0 after a restart), so time is bucketed here explicitly.
    bucket_seconds = settings.dedup_ttl_seconds / 2
    seen = table("seen", bytes)
    expiry = ExpiryQueue()
    due = DueIndex(timing)
    # raw key of a pod (cluster/namespace/Pod/name) -> [time bucket, partition, its node], learned
    # from the scheduler's Scheduled and kubelet Events (source.host). Keyed like the raw topic,
    # so every Event of one pod, and its binding, live in one partition: no lookup crosses
    # workers. A pod whose Events stop is forgotten after a day or two.
    bindings = table("bindings", bytes)
    binding_expiry = ExpiryQueue()

    raw_gaps = OffsetGaps(kafka, topics.raw)
    grouped_gaps = OffsetGaps(kafka, topics.grouped)
    transport: Any = app.transport  # its consumer class is a ClassVar in Faust's stubs; set per app
    trackers = {topics.raw: raw_gaps, topics.grouped: grouped_gaps}
    transport.Consumer = rewinding_consumer(trackers)

    async def rebuild_indexes(*_args: Any, **_kwargs: Any) -> None:
        expiry.reset()
        binding_expiry.reset()
        due.reset()
        raw_gaps.reset()
        grouped_gaps.reset()

    app.on_partitions_revoked.connect(rebuild_indexes)

    def expirer(stored: Any, queue: ExpiryQueue, on_expired: Callable[[], None]) -> Expire:
        """Deletes a table's keys of a partition not written in this time bucket or the last
        (values are ``[bucket, partition, ...]``)."""

        def expire(partition: int, bucket: int) -> None:
            if not queue.loaded:
                queue.load(
                    (key, value[1], value[0])
                    for key, value in ((k, orjson.loads(v)) for k, v in stored.items() if v)
                )
            for key, remembered_bucket in queue.expired(partition, before=bucket - 1):
                value = stored.get(key)
                if value and orjson.loads(value)[0] == remembered_bucket:
                    del stored[key]
                    on_expired()

        return expire

    expire_seen = expirer(seen, expiry, SEEN_EXPIRED.inc)
    expire_bindings = expirer(bindings, binding_expiry, lambda: None)

    def locate(clean: CleanEvent, partition: int, key: bytes | None) -> CleanEvent:
        """The pod's node: learned from this Event (kubelet's source.host, the scheduler's
        Scheduled), else as learned before. Events of the node controllers name none."""
        if clean.kind != "Pod" or key is None:
            return clean
        node = clean.node or scheduled_node(clean)
        stored = bindings.get(key)
        known = orjson.loads(stored) if stored else None
        if node is None:
            return clean.model_copy(update={"node": known[2]}) if known else clean
        bucket = int(time.time() // BINDING_BUCKET_SECONDS)
        if known is None or known[0] != bucket or known[2] != node:
            bindings[key] = orjson.dumps([bucket, partition, node])
            binding_expiry.add(partition, bucket, key)
            expire_bindings(partition, bucket)
        return clean if clean.node == node else clean.model_copy(update={"node": node})

    incidents = table("incidents", bytes)

    producer: list[Any] = []  # Faust's, once started

    async def send(
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int | None,
        headers: Mapping[str, bytes] | None,
    ) -> asyncio.Future[Any]:
        """Straight to Faust's producer rather than through ``Topic.send``, whose channel, future
        and sensor bookkeeping for every message cost the worker a fifth of its CPU."""
        if not producer:
            producer.append(await app.maybe_start_producer())
        delivery: asyncio.Future[Any] = await producer[0].send(topic, key, value, partition, None, headers)
        return delivery

    async def quarantine_refused(cause: Cause, error: str) -> None:
        await quarantine(cause.record, cause.stage, OUTPUT_TOO_LARGE, error)

    publish = Outputs(send, quarantine_refused).publish

    async def without_gaps(gaps: OffsetGaps, message: Any) -> list[Record]:
        """This message, preceded by any the stream skipped before it, gap probes left out;
        nothing if this process was handed it already (see processors.gaps)."""
        if gaps.handed(message.partition, message.offset):
            REDELIVERED.labels(message.topic).inc()
            return []
        record = Record(
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            key=message.key,
            value=message.value,
            timestamp=message.timestamp,
            probe=is_probe(message.headers),
        )
        missing = gaps.skipped_before(record.partition, record.offset)
        records = [record]
        if missing:
            earlier = await gaps.read_back(record.partition, missing)
            READ_BACK.labels(record.topic).inc(len(earlier))
            records = [*earlier, record]
        return [r for r in records if not r.probe]

    async def quarantine(message: Record, stage: str, reason: str, error: str) -> None:
        QUARANTINED.labels(stage, reason).inc()
        log.warning(
            "quarantined %s[%d]@%d: %s: %s",
            message.topic,
            message.partition,
            message.offset,
            reason,
            error[:300],
        )
        record = QuarantineRecord.of(
            stage=stage,
            reason=reason,
            error=error,
            source_topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            payload=message.value,
        )
        key = f"{message.topic}/{message.partition}/{message.offset}".encode()
        await publish(topics.invalid, key, encode(record))

    @app.agent(raw, name="classify")
    async def classify_agent(stream: Any) -> None:
        # Batches: what the batch holds for one incident goes on in as few grouped messages as fit.
        async for events in stream.take_events(CLASSIFY_BATCH, within=CLASSIFY_BATCH_SECONDS):
            for_incident: dict[bytes, list[Routed]] = {}
            for event in events:
                with current(event):
                    for record in await without_gaps(raw_gaps, event.message):
                        for routed in await classify(record):
                            for_incident.setdefault(routed.key, []).append(routed)
            for key, occurrences in for_incident.items():
                sizes = [o.size for o in occurrences]
                for run in runs(sizes, budget=budget, most=OCCURRENCES_PER_MESSAGE):
                    chunk = occurrences[run]
                    message = GroupInput(occurrences=[o.occurrence for o in chunk])
                    await publish(topics.grouped, key, encode(message), causes=[o.cause for o in chunk])

    async def classify(message: Record) -> list[Routed]:
        """Validate, classify, deduplicate and publish one raw message; what goes on to
        aggregation: the occurrence for its incident, and as evidence for the incidents whose
        recovery it proves."""
        RAW_CONSUMED.inc()
        outcome = validate_and_classify(message.value)
        if not isinstance(outcome, Processed):
            await quarantine(message, "processor.validate", outcome.reason, outcome.error)
            return []
        clean, dropped = apply_rules(outcome.clean, rules)
        bucket = int(time.time() // bucket_seconds)
        here = [bucket, message.partition, message.offset]
        seen_key = seen_key_of(clean.occurrence_id)
        stored = seen.get(seen_key)
        remembered = orjson.loads(stored) if stored else None
        if remembered is not None and bucket - remembered[0] <= 1 and remembered[1:] != here[1:]:
            DUPLICATES.labels(clean.cluster).inc()
            return []  # an exact repeat: a relist or a second producer replica
        # (The same partition and offset is this worker's own replay after a crash: its
        # outputs may not have been written, so it is processed again; aggregation
        # recognises what it already counted by the raw offset.)
        seen[seen_key] = orjson.dumps(here)
        expiry.add(message.partition, bucket, seen_key)
        expire_seen(message.partition, bucket)
        clean = locate(clean, message.partition, message.key)
        value = encode(clean)
        cause = Cause(message, "processor.classify", clean.occurrence_id)
        await publish(topics.clean, message.key, value, causes=[cause])
        CLEAN_PUBLISHED.labels(clean.cluster).inc()
        LATENCY.labels(clean.cluster).observe(max(0.0, time.time() - message.timestamp))
        if dropped:
            return []
        size = len(value) + OCCURRENCE_OVERHEAD

        def routed(labels: dict[str, str], **flags: bool) -> Routed:
            occurrence = GroupedOccurrence(
                clean=clean, source_partition=message.partition, source_offset=message.offset, **flags
            )
            return Routed(fingerprint(labels, group_by).encode(), occurrence, size, cause)

        echo = is_node_outage_echo(clean)
        found = []
        if echo or clean.severity.rank >= min_rank:
            found.append(routed(labels_of(clean, echo=echo), echo=echo))
        labels = labels_of(clean)
        for category in evidence.categories_proven(clean.reason):
            found.append(routed(labels | {"category": category}, evidence=True))
        return found

    def related_of(labels: Mapping[str, str], first_seen: float) -> list[RelatedIncident]:
        """Node-level incidents this one started after: those already announced (every
        worker's view, through the inhibitors topic) and those of this worker still in their
        group_wait, which may come due in the same tick as this one."""
        found = inhibitor.related_to(labels, first_seen)
        node = labels.get("node")
        if not node or labels.get("kind") == "Node":
            return found
        known = {related.fingerprint for related in found}
        for category in NODE_LEVEL_CATEGORIES:
            node_labels = {
                "cluster": labels.get("cluster", ""),
                "namespace": "",
                "workload": node,
                "category": category,
            }
            key = fingerprint(node_labels, group_by)
            stored = incidents.get(key.encode()) if key not in known else None
            state = IncidentState.from_bytes(stored) if stored else None
            if state is None or state.status != IncidentStatus.FIRING.value:
                continue
            if -window / 10 <= first_seen - state.first_seen <= window:
                reason = state.labels.get("reason") or category
                at = datetime.fromtimestamp(state.first_seen, UTC)
                found.append(
                    RelatedIncident(fingerprint=key, category=category, reason=reason, node=node, at=at)
                )
        return sorted(found, key=lambda related: related.at)

    @app.agent(grouped, name="aggregate")
    async def aggregate_agent(stream: Any) -> None:
        async for event in stream.events():
            for record in await without_gaps(grouped_gaps, event.message):
                await aggregate(record)

    async def aggregate(message: Record) -> None:
        try:
            item = decode_group_input(message.value or b"")
        except SchemaError as exc:
            await quarantine(message, "processor.aggregate", exc.reason, exc.detail)
            return
        key = message.key
        if key is None:
            await quarantine(
                message, "processor.aggregate", "no-key", "an incident update needs its fingerprint key"
            )
            return
        stored = incidents.get(key)
        state = IncidentState.from_bytes(stored) if stored else None
        now = time.time()
        for occurrence in item.occurrences:
            partition, offset = occurrence.source_partition, occurrence.source_offset
            if state is not None and state.already_applied(partition, offset):
                continue  # replayed after a restart: already counted
            clean = occurrence.clean
            if occurrence.evidence:
                if state is not None:  # proof for an incident that is not open is no news
                    recover(state, clean, now=now, timing=timing)
                    state.mark_applied(partition, offset)
                continue
            state = observe(
                state,
                clean,
                now=now,
                timing=timing,
                group_by=group_by,
                echo=occurrence.echo,
                has_evidence=evidence.has_evidence(clean.category),
            )
            state.mark_applied(partition, offset)
        if state is None:
            return
        state, update = tick(
            state,
            now=now,
            timing=timing,
            inhibitor_of=inhibitor.inhibitor_of,
            related_of=related_of,
        )
        if state is None:
            incidents.pop(key, None)
            due.forget(key)
        else:
            incidents[key] = state.to_bytes()
            due.track(key, state)
        if update is None:
            return
        cause = Cause(message, "processor.aggregate", f"incident {update.fingerprint} v{update.version}")
        await publish(topics.alerts, key, encode(update), causes=[cause])
        INCIDENT_UPDATES.labels(update.cluster, update.status.value).inc()
        if update.inhibited_by:
            INHIBITED.labels(update.cluster).inc()
        log.info(
            "incident %s v%d %s%s: %d occurrences",
            update.fingerprint[:12],
            update.version,
            update.status.value,
            f", inhibited by {update.inhibited_by[:12]}" if update.inhibited_by else "",
            update.occurrences,
            extra={"cluster": update.cluster, "incident": update.fingerprint},
        )
        if inhibitor.tracks(update.labels, update.fingerprint):
            inhibitor.record(update)  # this worker's own view, at once; the others via the topic
            firing = update.status is IncidentStatus.FIRING
            await publish(topics.inhibitors, key, encode(update) if firing else None, causes=[cause])

    @app.task  # type: ignore[untyped-decorator]
    async def start_inhibitor_feed() -> None:
        inhibitors_reader.start()

    @app.task  # type: ignore[untyped-decorator]
    async def explain_on_sigusr1() -> None:
        diagnostics.install(app)

    async def stop_inhibitor_feed(_app: Any, /, *_args: Any, signal: Any, **_kwargs: Any) -> None:
        inhibitors_reader.stop()

    app.on_before_shutdown.connect(stop_inhibitor_feed)

    async def send_probe(topic: str, partition: int) -> None:
        await publish(topic, None, b"", partition=partition, headers={PROBE_HEADER: b"1"})
        GAP_PROBES.labels(topic).inc()

    @app.timer(interval=settings.gap_probe_seconds / 2)  # type: ignore[untyped-decorator]
    async def probe_stalled_partitions() -> None:
        if not app.rebalancing:  # recovery keeps partitions paused: quiet is expected then
            await probe_stalled(app.consumer, trackers, settings.gap_probe_seconds, send_probe)

    held: dict[str, float] = {}  # while the timer waits out a rebalance: since, last said

    @app.timer(interval=settings.tick_seconds)  # type: ignore[untyped-decorator]
    async def nominate_due_incidents() -> None:
        if app.rebalancing:
            # The table is being restored: the index is rebuilt once it is whole. A rebalance
            # that never ends would hold every due update back, so that is said once a minute.
            now = time.monotonic()
            held.setdefault("since", now)
            if now - held.setdefault("said", now) >= 60:
                log.warning(
                    "due updates held for %.0f s: the worker is still rebalancing", now - held["since"]
                )
                held["said"] = now
            return
        held.clear()
        if not due.loaded:
            due.load((key, IncidentState.from_bytes(stored)) for key, stored in incidents.items() if stored)
        now = time.time()
        for key in due.candidates(now):
            stored = incidents.get(key)
            if not stored:
                due.forget(key)  # its partition moved to another worker
                continue
            state = IncidentState.from_bytes(stored)
            if is_due(state, now=now, timing=timing, inhibitor_of=inhibitor.inhibitor_of):
                await publish(topics.grouped, key, encode(GroupInput(tick_at=now)))

    return app
