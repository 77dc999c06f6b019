"""Classify: validate, deduplicate, locate and publish each raw occurrence, and route it to its
incident's aggregation.

Occurrences arrive keyed by object (one occurrence id always lands in one partition), so
the ``seen`` table that recognises exact repeats, and the ``bindings`` table that remembers
each pod's node, are consulted without crossing workers. What a batch holds for one incident
travels on in as few grouped messages as fit.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from processors.core.incident import fingerprint, labels_of
from processors.core.recovery import Evidence, is_node_outage_echo, scheduled_node
from processors.core.rules import CompiledRule, apply_rules
from processors.core.validate import Processed, validate_and_classify
from processors.delivery.gaps import Record
from processors.delivery.outputs import OCCURRENCE_OVERHEAD, Cause, runs
from processors.metrics import CLEAN_PUBLISHED, DUPLICATES, LATENCY, RAW_CONSUMED, SEEN_EXPIRED, Children
from processors.stages.ports import Publish, Table
from processors.stages.quarantine import Quarantine
from processors.stages.remembered import Remembered
from schemas import CleanEvent, encode, encode_occurrences, occurrence_wire

STAGE = "processor.classify"
BINDING_BUCKET_SECONDS = 12 * 3600.0
"""A pod's node is remembered for one to two days after its last Event that named it."""
OCCURRENCES_PER_MESSAGE = 100
"""Most occurrences in one grouped message, however small: a bounded step of aggregation.
Their size is bounded too, by what the grouped topic takes (see processors.delivery.outputs)."""


def seen_key_of(occurrence_id: str) -> bytes:
    """The dedup table's key: 16 bytes whatever the id's length (cluster, uid, resourceVersion),
    which is what keeps a million ids in memory (the expiry queue) and on disk small."""
    return hashlib.blake2b(occurrence_id.encode(), digest_size=16).digest()


@dataclass(frozen=True, slots=True)
class Routed:
    """A classified occurrence on its way to aggregation."""

    key: bytes
    """Its incident's fingerprint: the grouped topic's key."""
    occurrence: dict[str, Any]
    """In wire form, its clean event as published (see schemas.group.occurrence_wire)."""
    size: int
    """Bytes it takes in a grouped message (at most)."""
    cause: Cause


@dataclass(frozen=True, slots=True)
class Policy:
    """What decides where an occurrence goes: the user's rules and grouping."""

    rules: tuple[CompiledRule, ...]
    evidence: Evidence
    group_by: tuple[str, ...]
    min_rank: int
    dedup_ttl_seconds: float


class Classifier:
    def __init__(
        self,
        *,
        seen: Table,
        bindings: Table,
        publish: Publish,
        quarantine: Quarantine,
        policy: Policy,
        clean_topic: str,
        grouped_topic: str,
        grouped_budget: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.seen = Remembered(seen, on_forgotten=SEEN_EXPIRED.inc)
        self.bindings = Remembered(bindings)
        self._publish = publish
        self._quarantine = quarantine
        self._policy = policy
        self._clean_topic = clean_topic
        self._grouped_topic = grouped_topic
        self._budget = grouped_budget
        self._clock = clock
        self._duplicates, self._published = Children(DUPLICATES), Children(CLEAN_PUBLISHED)
        self._latency = Children(LATENCY)

    async def classify(self, records: Iterable[Record]) -> None:
        """Classify a batch; its occurrences go on per incident in as few messages as fit."""
        for_incident: dict[bytes, list[Routed]] = {}
        for record in records:
            for routed in await self.one(record):
                for_incident.setdefault(routed.key, []).append(routed)
        for key, occurrences in for_incident.items():
            sizes = [o.size for o in occurrences]
            for run in runs(sizes, budget=self._budget, most=OCCURRENCES_PER_MESSAGE):
                chunk = occurrences[run]
                message = encode_occurrences([o.occurrence for o in chunk])
                await self._publish(self._grouped_topic, key, message, causes=[o.cause for o in chunk])

    async def one(self, record: Record) -> list[Routed]:
        """Validate, classify, deduplicate and publish one raw message; what goes on to
        aggregation: the occurrence for its incident, and as evidence for the incidents whose
        recovery it proves."""
        RAW_CONSUMED.inc()
        outcome = validate_and_classify(record.value)
        if not isinstance(outcome, Processed):
            await self._quarantine(record, "processor.validate", outcome.reason, outcome.error)
            return []
        clean, dropped = apply_rules(outcome.clean, self._policy.rules)
        if self._is_repeat(clean, record):
            self._duplicates(clean.cluster).inc()
            return []
        clean = self.locate(clean, record.partition, record.key)
        value = encode(clean)
        cause = Cause(record, STAGE, clean.occurrence_id)
        await self._publish(self._clean_topic, record.key, value, causes=[cause])
        self._published(clean.cluster).inc()
        self._latency(clean.cluster).observe(max(0.0, self._clock() - record.timestamp))
        return [] if dropped else self._route(clean, value, record, cause)

    def _is_repeat(self, clean: CleanEvent, record: Record) -> bool:
        """An exact repeat (a relist, a second producer replica) seen in this time bucket or the
        last; else it is remembered now.

        The same partition and offset is this worker's own replay after a crash: its outputs
        may not have been written, so it is processed again, and aggregation recognises what
        it already counted by the raw offset.
        """
        bucket = int(self._clock() // (self._policy.dedup_ttl_seconds / 2))
        key = seen_key_of(clean.occurrence_id)
        remembered = self.seen.get(key)
        here = [record.partition, record.offset]
        if remembered is not None and bucket - remembered[0] <= 1 and remembered[1:] != here:
            return True
        self.seen.put(key, bucket, record.partition, record.offset)
        return False

    def locate(self, clean: CleanEvent, partition: int, key: bytes | None) -> CleanEvent:
        """The pod's node: learned from this Event (kubelet's source.host, the scheduler's
        Scheduled), else as learned before. Events of the node controllers name none.

        Bindings are keyed like the raw topic (cluster/namespace/Pod/name), so every Event of
        one pod, and its binding, live in one partition: no lookup crosses workers.
        """
        if clean.kind != "Pod" or key is None:
            return clean
        node = clean.node or scheduled_node(clean)
        known = self.bindings.get(key)
        if node is None:
            return clean.model_copy(update={"node": known[2]}) if known else clean
        bucket = int(self._clock() // BINDING_BUCKET_SECONDS)
        if known is None or known[0] != bucket or known[2] != node:
            self.bindings.put(key, bucket, partition, node)
        return clean if clean.node == node else clean.model_copy(update={"node": node})

    def _route(self, clean: CleanEvent, encoded: bytes, record: Record, cause: Cause) -> list[Routed]:
        """The occurrence for its own incident (if severe enough, or a node outage's echo), and
        as evidence for each category whose recovery it proves."""
        policy = self._policy
        size = len(encoded) + OCCURRENCE_OVERHEAD

        def routed(labels: dict[str, str], **flags: bool) -> Routed:
            occurrence = occurrence_wire(
                encoded, source_partition=record.partition, source_offset=record.offset, **flags
            )
            return Routed(fingerprint(labels, policy.group_by).encode(), occurrence, size, cause)

        echo = is_node_outage_echo(clean)
        found = []
        if echo or clean.severity.rank >= policy.min_rank:
            found.append(routed(labels_of(clean, echo=echo), echo=echo))
        labels = labels_of(clean)
        for category in policy.evidence.categories_proven(clean.reason):
            found.append(routed(labels | {"category": category}, evidence=True))
        return found
